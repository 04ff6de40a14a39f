;; Atomic waits on a shared memory (needs the `threads` proposal): nothing
;; in a plugbox store ever notifies them, so a matching wait only ends by
;; its own timeout — or the call's deadline.
(module
  (memory (export "memory") 1 1 shared)
  ;; Waits forever (timeout -1).
  (func (export "wait") (result i32)
    (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const -1)))
  (func (export "wait64") (result i32)
    (memory.atomic.wait64 offset=8 (i32.const 0) (i64.const 0) (i64.const -1)))
  ;; Waits for N ms: returns 2 (timed out).
  (func (export "wait_ms") (param i64) (result i32)
    (memory.atomic.wait32 (i32.const 0) (i32.const 0)
      (i64.mul (local.get 0) (i64.const 1000000))))
  ;; The value differs: returns 1 at once.
  (func (export "not_equal") (result i32)
    (i32.atomic.store (i32.const 4) (i32.const 5))
    (memory.atomic.wait32 (i32.const 4) (i32.const 0) (i64.const -1))))
