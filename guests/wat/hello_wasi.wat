;; A WASI preview 1 command: prints "hello from wasi" and exits with the
;; number of arguments it was given (argv[0] excluded) when there are any.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wasi\n")
  (func (export "_start")
    ;; iovec at 0: ptr 16, len 16
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $args_sizes_get (i32.const 40) (i32.const 44)))
    (if (i32.gt_u (i32.load (i32.const 40)) (i32.const 1))
      (then (call $proc_exit (i32.sub (i32.load (i32.const 40)) (i32.const 1)))))))
