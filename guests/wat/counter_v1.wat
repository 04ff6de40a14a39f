(module
  (func (export "version") (result i32) i32.const 1)
  (func (export "slow_version") (param i64) (result i32)
    (local $n i64)
    (local.set $n (local.get 0))
    (block $done (loop $l
      (br_if $done (i64.eqz (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br $l)))
    i32.const 1))
