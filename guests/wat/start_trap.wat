;; A module whose start function traps.
(module
  (func $start unreachable)
  (start $start)
  (func (export "ok") (result i32) i32.const 1))
