;; Guests that attack the host's limits.
(module
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (global $calls (mut i32) (i32.const 0))
  ;; infinite loop: stopped by fuel or by the timeout
  (func (export "spin") (loop $l br $l))
  ;; grows memory one page at a time until refused; returns pages reached
  (func (export "memory_bomb") (result i32)
    (block $done
      (loop $grow
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        (br $grow)))
    memory.size)
  ;; asks for N pages at once; returns memory.grow's answer
  (func (export "grow") (param i32) (result i32)
    local.get 0 memory.grow)
  ;; grows the table by N elements; returns table.grow's answer
  (func (export "table_bomb") (param i32) (result i32)
    ref.null func local.get 0 table.grow $t)
  (func $deep (export "deep") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add call $deep)
  ;; recurses N levels deep, then returns N: fits a default stack for
  ;; N = 4000, not a 16 KiB one
  (func $depth (export "depth") (param i32) (result i32)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (i32.add (i32.const 1) (call $depth (i32.sub (local.get 0) (i32.const 1)))))))
  (func (export "count") (result i32)
    global.get $calls i32.const 1 i32.add global.set $calls global.get $calls)
  ;; counts down from N: CPU-bound work that finishes
  (func (export "work") (param i64) (result i64)
    (local $n i64)
    (local.set $n (local.get 0))
    (block $done
      (loop $l
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $l)))
    local.get 0)
  (func (export "ok") (result i32) i32.const 7))
