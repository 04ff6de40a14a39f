;; Calls an async host function.
(module
  (import "env" "fetch" (func $fetch (param i32) (result i32)))
  (func (export "fetch_twice") (param i32) (result i32)
    local.get 0 call $fetch call $fetch))
