;; Writes one word in each of its four 64 KiB memory pages and reads one
;; back: a stateless call whose instance dirties memory across 256 KiB (a
;; host page in each wasm page), for measuring the pool's memory reset
;; (`pool-keep-resident`) in `scripts/bench.sh`.
(module
  (memory (export "memory") 4)
  (func (export "touch") (param i32) (result i32)
    (i32.store (i32.const 0) (local.get 0))
    (i32.store (i32.const 65536) (local.get 0))
    (i32.store (i32.const 131072) (local.get 0))
    (i32.store (i32.const 196608) (local.get 0))
    (i32.load (i32.const 196608))))
