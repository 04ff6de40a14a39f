;; Uses SIMD: rejected by an engine with `--disable simd`.
(module
  (func (export "splat") (param i32) (result i32)
    local.get 0 i32x4.splat i32x4.extract_lane 3))
