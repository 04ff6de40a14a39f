;; Initial memory of 8192 pages (512 MiB): over the default memory cap.
(module
  (memory 8192)
  (data (i32.const 0x1fffff00) "end of a huge data segment")
  (func (export "ok") (result i32) i32.const 1))
