;; A call that holds its slot until the test opens the gate (see
;; `support::Gate`): concurrency tests that do not depend on timing.
(module
  (import "env" "gate" (func $gate))
  (func (export "wait") call $gate)
  (func (export "ok") (result i32) i32.const 7))
