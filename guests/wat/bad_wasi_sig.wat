;; Imports a WASI function with the wrong signature.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i64)))
  (func (export "_start")))
