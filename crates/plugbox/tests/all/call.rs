//! Calling core-module exports: typed, dynamic, JSON, instances.

use crate::support::plugin;
use plugbox::ErrorKind;
use plugbox::values::{format_value, parse_args};
use plugbox::wasmtime::Val;
use serde_json::json;

#[test]
fn typed_calls() {
    let p = plugin("add.wat");
    assert_eq!(p.call::<(i32, i32), i32>("add", (5, 3)).unwrap(), 8);
    assert_eq!(
        p.call::<(i64, i64), i64>("add64", (1 << 40, 1)).unwrap(),
        (1 << 40) + 1
    );
    assert_eq!(p.call::<(f32, f32), f32>("mulf", (1.5, 2.0)).unwrap(), 3.0);
    assert_eq!(
        p.call::<(i32, i64), (i64, i32)>("swap", (1, 2)).unwrap(),
        (2, 1)
    );
    p.call::<(), ()>("nothing", ()).unwrap();
}

#[test]
fn dynamic_calls_from_strings_and_json() {
    let p = plugin("add.wat");
    let ty = p.func_type("add").unwrap();
    let args = parse_args("add", &ty, &["5", "3"]).unwrap();
    let out = p.call_values("add", &args).unwrap();
    assert_eq!(out.iter().map(format_value).collect::<Vec<_>>(), ["8"]);
    assert_eq!(
        p.call_json("add", &[json!(5), json!("-3")]).unwrap(),
        vec![json!(2)]
    );
    assert_eq!(
        p.call_json("swap", &[json!(1), json!("0x10")]).unwrap(),
        vec![json!(16), json!(1)]
    );
    assert_eq!(
        p.call_json("divf", &[json!(1), json!(0)]).unwrap(),
        vec![json!("inf")]
    );
    assert_eq!(
        p.call_json("divf", &[json!(7.5), json!(2.5)]).unwrap(),
        vec![json!(3.0)]
    );
}

#[test]
fn bad_arguments_are_clear_errors() {
    let p = plugin("add.wat");
    let err = p.call_json("add", &[json!(1)]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidArgument);
    assert!(
        format!("{err:#}").contains("takes 2 arguments (i32, i32) -> i32 but 1 was given"),
        "{err}"
    );

    let err = p.call_json("add", &[json!("abc"), json!(1)]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidArgument);
    assert!(
        format!("{err:#}").contains("argument 1 of `add` (i32): `\"abc\"` is not a number"),
        "{err}"
    );

    let err = p
        .call_json("add", &[json!(1u64 << 40), json!(1)])
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("`1099511627776` is out of range"),
        "{err}"
    );

    let err = p.call_json("add", &[json!([1]), json!(1)]).unwrap_err();
    assert!(format!("{err:#}").contains("is a JSON array"), "{err}");

    let err = p
        .call_values("add", &[Val::I64(1), Val::I32(1)])
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidArgument);
    assert!(
        format!("{err:#}").contains("must be i32 but a i64"),
        "{err}"
    );
}

#[test]
fn stateful_instance_keeps_state_and_stateless_calls_do_not() {
    let p = plugin("hostile.wat");
    let mut inst = p.instantiate().unwrap();
    assert_eq!(inst.call::<(), i32>("count", ()).unwrap(), 1);
    assert_eq!(inst.call::<(), i32>("count", ()).unwrap(), 2);
    let third = inst.call_strs("count", &[] as &[&str]).unwrap();
    assert!(matches!(third[..], [Val::I32(3)]));
    assert_eq!(p.call::<(), i32>("count", ()).unwrap(), 1);
    assert_eq!(p.call::<(), i32>("count", ()).unwrap(), 1);
}

#[test]
fn plugins_are_shared_across_threads() {
    let p = plugin("add.wat");
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let p = p.clone();
            std::thread::spawn(move || p.call::<(i32, i32), i32>("add", (i, 1)).unwrap())
        })
        .collect();
    let sums: Vec<i32> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(sums, [1, 2, 3, 4]);
}

#[test]
fn copies_share_the_export_table_whichever_looks_first() {
    let p = plugbox::Plugin::from_bytes(
        &crate::support::engine(),
        r#"(module (memory (export "mem") 1)
            (func (export "one") (result i32) i32.const 1)
            (func (export "two") (result i32) i32.const 2))"#,
    )
    .unwrap();
    // Copied before any lookup by name; the copy looks first.
    let limits = plugbox::Limits::new().timeout(std::time::Duration::from_secs(60));
    let copy = p.with_limits(limits).unwrap();
    assert_eq!(copy.call::<(), i32>("two", ()).unwrap(), 2);
    assert_eq!(p.call::<(), i32>("one", ()).unwrap(), 1);
    let mut inst = p.instantiate().unwrap();
    assert_eq!(inst.call::<(), i32>("two", ()).unwrap(), 2);
    for plugin in [&p, &copy] {
        let err = plugin.call::<(), i32>("mem", ()).unwrap_err();
        assert!(format!("{err:#}").contains("is a memory"), "{err:#}");
        let err = plugin.call::<(), i32>("three", ()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::ExportNotFound { .. }),
            "{err:#}"
        );
    }
}
