;; Calls host functions registered by the embedder (see the manager tests).
(module
  (import "env" "add_one" (func $add_one (param i32) (result i32)))
  (import "env" "tick" (func $tick (result i64)))
  (import "env" "fail" (func $fail))
  (import "env" "slow" (func $slow))
  (import "env" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello host")
  (func (export "plus_one") (param i32) (result i32) local.get 0 call $add_one)
  (func (export "tick_twice") (result i64) call $tick drop call $tick)
  (func (export "fail") call $fail)
  (func (export "slow_then_spin") call $slow (loop br 0))
  (func (export "log") (i32.const 0) (i32.const 10) call $log))
