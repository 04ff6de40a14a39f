//! Every WIT type round-trips through a component call as JSON, and type
//! errors say which parameter, the WIT type expected and the JSON found.
//! The guest is `guests/rust/types` (WIT in `guests/wit/types.wit`).

use crate::support::{engine, rust_component};
use plugbox::{ErrorKind, Limits, Plugin, TrapKind};
use serde_json::{Value, json};
use std::time::Duration;

const IFACE: &str = "plugbox:test/types";

fn types() -> Plugin {
    Plugin::builder(&engine())
        .limits(Limits::new().timeout(Duration::from_millis(200)))
        .from_file(rust_component("types"))
        .unwrap()
}

fn call(p: &Plugin, func: &str, args: &[Value]) -> plugbox::Result<Vec<Value>> {
    p.call_json(&format!("{IFACE}#{func}"), args)
}

#[track_caller]
fn echo(p: &Plugin, func: &str, v: Value) {
    assert_eq!(
        call(p, func, std::slice::from_ref(&v)).unwrap(),
        [v],
        "{func}"
    );
}

#[test]
fn every_wit_type_round_trips() {
    let p = types();
    echo(&p, "echo-bool", json!(true));
    echo(&p, "echo-u8", json!(255));
    echo(&p, "echo-s8", json!(-128));
    echo(&p, "echo-u16", json!(65535));
    echo(&p, "echo-s16", json!(-32768));
    echo(&p, "echo-u32", json!(4_294_967_295u32));
    echo(&p, "echo-s32", json!(-2_147_483_648i32));
    echo(&p, "echo-u64", json!(u64::MAX));
    echo(&p, "echo-s64", json!(i64::MIN));
    echo(&p, "echo-f32", json!(1.5));
    echo(&p, "echo-f64", json!(-0.125));
    echo(&p, "echo-f64", json!("inf"));
    echo(&p, "echo-char", json!("λ"));
    echo(&p, "echo-string", json!("hello, wörld"));
    echo(&p, "echo-list", json!([1, 2, 3]));
    echo(&p, "echo-list", json!([]));
    echo(&p, "echo-nested", json!([["a"], [], ["b", "c"]]));
    echo(&p, "echo-record", json!({"x": 1, "y": -2, "label": "p"}));
    echo(&p, "echo-tuple", json!(["t", 7]));
    echo(&p, "echo-enum", json!("green"));
    echo(&p, "echo-variant", json!({"circle": 2.5}));
    echo(
        &p,
        "echo-variant",
        json!({"rect": {"x": 0, "y": 1, "label": "r"}}),
    );
    echo(&p, "echo-variant", json!("empty"));
    echo(&p, "echo-option", json!(null));
    echo(&p, "echo-option", json!("some"));
    echo(&p, "echo-result", json!({"ok": 3}));
    echo(&p, "echo-result", json!({"err": "bad"}));
    echo(&p, "echo-flags", json!(["read", "exec"]));
    echo(&p, "echo-flags", json!([]));
}

#[test]
fn top_level_functions_and_several_parameters() {
    let p = types();
    assert_eq!(
        p.call_json("greet", &[json!("world")]).unwrap(),
        [json!("hello, world")]
    );
    assert_eq!(
        call(&p, "add", &[json!(2), json!(40)]).unwrap(),
        [json!(42)]
    );
    let out = call(
        &p,
        "describe",
        &[json!({"x": 1, "y": 2, "label": "a"}), json!("red")],
    )
    .unwrap();
    let text = out[0].as_str().unwrap();
    assert!(
        text.contains("red") && text.contains('1') && text.contains('2') && text.contains('a'),
        "{text}"
    );
    assert_eq!(
        call(&p, "fail", &[json!("nope")]).unwrap(),
        [json!({"err": "nope"})]
    );
    assert!(p.functions().contains(&format!("{IFACE}#echo-record")));
    assert!(p.functions().contains(&"greet".to_string()));
    assert_eq!(
        p.signature("greet").unwrap(),
        "func(name: string) -> string"
    );
}

#[track_caller]
fn bad(p: &Plugin, func: &str, args: &[Value], needle: &str) {
    let err = call(p, func, args).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidArgument, "{func}: {err:#}");
    let msg = format!("{err:#}");
    assert!(
        msg.contains(needle),
        "{func}: expected `{needle}` in: {msg}"
    );
}

#[test]
fn type_errors_name_the_parameter_the_type_and_the_json() {
    let p = types();
    bad(
        &p,
        "echo-u8",
        &[json!(300)],
        "argument `v` of `plugbox:test/types#echo-u8`: 300 is out of range for u8",
    );
    bad(&p, "echo-u8", &[json!(-1)], "out of range for u8");
    bad(
        &p,
        "echo-u32",
        &[json!(1.5)],
        "expected u32, found non-integer JSON number `1.5`",
    );
    bad(
        &p,
        "echo-bool",
        &[json!("yes")],
        "expected bool, found JSON string `\"yes\"`",
    );
    bad(
        &p,
        "echo-char",
        &[json!("ab")],
        "expected char (a one-character string)",
    );
    bad(
        &p,
        "echo-string",
        &[json!(5)],
        "expected string, found JSON number `5`",
    );
    bad(
        &p,
        "echo-list",
        &[json!([1, "x"])],
        "element 1: expected u32",
    );
    bad(
        &p,
        "echo-record",
        &[json!({"x": 1, "y": 2})],
        "missing field `label`",
    );
    bad(
        &p,
        "echo-record",
        &[json!({"x": 1, "y": 2, "label": "a", "z": 0})],
        "unknown field `z`",
    );
    bad(
        &p,
        "echo-record",
        &[json!({"x": "1", "y": 2, "label": "a"})],
        "field `x`: expected s32",
    );
    bad(&p, "echo-tuple", &[json!(["a"])], "an array of 2");
    bad(&p, "echo-enum", &[json!("purple")], "unknown case `purple`");
    bad(
        &p,
        "echo-variant",
        &[json!({"square": 1})],
        "unknown case `square`",
    );
    bad(
        &p,
        "echo-variant",
        &[json!("circle")],
        "case `circle` needs a f64 payload",
    );
    bad(
        &p,
        "echo-result",
        &[json!({"maybe": 1})],
        "expected key `ok` or `err`",
    );
    bad(&p, "echo-flags", &[json!(["fly"])], "unknown flag `fly`");
    bad(&p, "add", &[json!(1)], "takes 2 arguments");
    let err = call(&p, "nope", &[]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ExportNotFound {
            name: format!("{IFACE}#nope")
        }
    );
    assert!(format!("{err:#}").contains("#echo-u8"), "{err:#}");
}

#[test]
fn components_are_stateless_per_call_and_limited() {
    let p = types();
    assert_eq!(call(&p, "count", &[]).unwrap(), [json!(1)]);
    assert_eq!(
        call(&p, "count", &[]).unwrap(),
        [json!(1)],
        "a fresh instance per call"
    );
    let mut inst = p.instantiate().unwrap();
    inst.call_json(&format!("{IFACE}#count"), &[]).unwrap();
    assert_eq!(
        inst.call_json(&format!("{IFACE}#count"), &[]).unwrap(),
        [json!(2)]
    );
    let err = call(&p, "spin", &[]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Timeout));
    let small = p.with_limits(Limits::new().max_memory(8 << 20)).unwrap();
    let err = call(&small, "grow", &[json!(64)]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ResourceLimit(_)), "{err:?}");
    // Cancel from another thread.
    let mut inst = p
        .with_limits(Limits::new().timeout(None))
        .unwrap()
        .instantiate()
        .unwrap();
    let handle = inst.cancel_handle().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        handle.cancel();
    });
    let err = inst.call_json(&format!("{IFACE}#spin"), &[]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Cancelled));
}
