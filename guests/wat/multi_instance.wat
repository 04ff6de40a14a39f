;; A component with two core instances: refused by `--max-instances 1`.
(component
  (core module $a (func (export "f")))
  (core instance $i1 (instantiate $a))
  (core instance $i2 (instantiate $a)))
