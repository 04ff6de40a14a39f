;; A WASI guest that waits in host calls: sleeps (poll_oneoff on a clock),
;; reads stdin, floods stdout. `_start` sleeps for an hour.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; One clock subscription at 0 (48 bytes): userdata @0, tag @8 (0: clock),
  ;; clock id @16 (1: monotonic), timeout @24 (ns), precision @32, flags @40
  ;; (0: relative). The event lands at 64, the event count at 128.
  (func $sleep (export "sleep") (param $ns i64) (result i32)
    (i64.store (i32.const 0) (i64.const 0))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (local.get $ns))
    (i64.store (i32.const 32) (i64.const 0))
    (i32.store16 (i32.const 40) (i32.const 0))
    (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
  (func (export "_start")
    (drop (call $sleep (i64.const 3600000000000))))
  ;; Reads up to 4 KiB of stdin; returns the bytes read.
  (func (export "read_stdin") (result i32)
    (i32.store (i32.const 256) (i32.const 1024))
    (i32.store (i32.const 260) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 300)))
    (i32.load (i32.const 300)))
  ;; Writes 64 KiB of `x` to stdout, forever.
  (func (export "flood_stdout")
    (memory.fill (i32.const 1024) (i32.const 120) (i32.const 65536))
    (i32.store (i32.const 256) (i32.const 1024))
    (i32.store (i32.const 260) (i32.const 65536))
    (loop $again
      (drop (call $fd_write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 300)))
      (br $again))))
