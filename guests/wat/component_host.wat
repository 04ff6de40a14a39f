;; A component that imports host functions: a top-level `add-one` and
;; `double` from the `my:host/math` interface, and exports `plus` and
;; `quadruple` built on them.
(component
  (import "add-one" (func $add-one (param "x" u32) (result u32)))
  (import "my:host/math" (instance $math
    (export "double" (func (param "x" u32) (result u32)))))
  (alias export $math "double" (func $double))
  (core func $add-one-lowered (canon lower (func $add-one)))
  (core func $double-lowered (canon lower (func $double)))
  (core module $m
    (import "host" "add-one" (func $a (param i32) (result i32)))
    (import "host" "double" (func $d (param i32) (result i32)))
    (func (export "plus") (param i32) (result i32) local.get 0 call $a)
    (func (export "quadruple") (param i32) (result i32) local.get 0 call $d call $d)
    (func (export "loop") (loop br 0)))
  (core instance $i (instantiate $m
    (with "host" (instance
      (export "add-one" (func $add-one-lowered))
      (export "double" (func $double-lowered))))))
  (func (export "plus") (param "x" u32) (result u32) (canon lift (core func $i "plus")))
  (func (export "quadruple") (param "x" u32) (result u32) (canon lift (core func $i "quadruple"))))
