;; Two memories (multi-memory): refused by a cap of one memory per store.
(module
  (memory 1)
  (memory 1)
  (func (export "ok") (result i32) i32.const 1))
