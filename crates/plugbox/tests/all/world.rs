//! The plugbox:plugin world: plugins written with the Rust SDK
//! (guests/rust/plugbox-sdk) import log, config and kv from the host, and
//! the host calls their `handle` export through typed bindings.

use crate::support::{engine, rust_component, wat};
use plugbox::{ErrorKind, Limit, Limits, Plugin, PluginManager, PluginSpec, TrapKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A builder whose plugin's log lines are collected as `level: message`.
fn logged() -> (plugbox::PluginBuilder, Arc<Mutex<Vec<String>>>) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let sink = logs.clone();
    let builder = Plugin::builder(&engine())
        .on_log(move |level, msg| sink.lock().unwrap().push(format!("{level}: {msg}")));
    (builder, logs)
}

fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn greeter_uses_config_and_logs() {
    let (builder, logs) = logged();
    let p = builder
        .config(config(&[("greeting", "hi")]))
        .from_file(rust_component("greeter"))
        .unwrap();
    assert_eq!(p.handle("world").unwrap(), Ok("hi, world".to_string()));
    assert_eq!(p.handle("").unwrap(), Err("nobody to greet".to_string()));
    assert_eq!(logs.lock().unwrap().as_slice(), ["info: greeting world"]);
    let plain = Plugin::from_file(&engine(), rust_component("greeter")).unwrap();
    assert_eq!(
        plain.handle("world").unwrap(),
        Ok("hello, world".to_string())
    );
    // The same export through the dynamic JSON path.
    assert_eq!(
        plain
            .call_json("handle", &[serde_json::json!("x")])
            .unwrap(),
        [serde_json::json!({"ok": "hello, x"})]
    );
}

#[test]
fn transformer_keeps_state_in_its_kv_store_across_stateless_calls() {
    let p = Plugin::builder(&engine())
        .config(config(&[("prefix", "in_")]))
        .from_file(rust_component("transformer"))
        .unwrap();
    let out: serde_json::Value =
        serde_json::from_str(&p.handle(r#"{"a": 1}"#).unwrap().unwrap()).unwrap();
    assert_eq!(out, serde_json::json!({"in_a": 1, "seen": 1}));
    let out: serde_json::Value =
        serde_json::from_str(&p.handle(r#"{"b": true}"#).unwrap().unwrap()).unwrap();
    assert_eq!(out["seen"], 2);
    assert_eq!(p.kv().get("seen").unwrap(), Some(b"2".to_vec()));
    assert!(
        p.handle("[1]")
            .unwrap()
            .unwrap_err()
            .contains("must be a JSON object")
    );
    assert!(p.handle("{oops").unwrap().unwrap_err().contains("not JSON"));
}

#[test]
fn misbehaving_plugin_is_contained() {
    // The spin needs a short deadline; the other calls a generous one, so a
    // loaded machine does not turn their own failures into timeouts.
    let spinner = Plugin::builder(&engine())
        .limits(Limits::new().timeout(Duration::from_millis(100)))
        .from_file(rust_component("misbehave"))
        .unwrap();
    assert_eq!(
        spinner.handle("spin").unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Timeout)
    );
    let p = Plugin::builder(&engine())
        .limits(
            Limits::new()
                .timeout(Duration::from_secs(30))
                .max_memory(32 << 20),
        )
        .from_file(rust_component("misbehave"))
        .unwrap();
    let err = p.handle("alloc").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ResourceLimit(Limit::Memory { .. })),
        "{err:?}"
    );
    assert_eq!(
        p.handle("panic").unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Unreachable)
    );
    assert_eq!(
        p.handle("recurse").unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::StackOverflow)
    );
    let quota = p.handle("flood-kv").unwrap().unwrap_err();
    assert!(quota.contains("kv quota of 16777216 bytes"), "{quota}");
    assert_eq!(p.handle("fine").unwrap(), Ok("fine".to_string()));
}

#[test]
fn handle_needs_the_plugin_world() {
    for path in [rust_component("types"), wat("add.wat")] {
        let err = Plugin::from_file(&engine(), &path)
            .unwrap()
            .handle("x")
            .unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::SignatureMismatch { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn manager_serves_sdk_plugins_with_manifest_config() {
    let m = PluginManager::new(&engine());
    let spec = PluginSpec::new(rust_component("greeter")).config(config(&[("greeting", "howdy")]));
    m.load("greeter", spec).unwrap();
    let out = m
        .call_json("greeter", "handle", &[serde_json::json!("pardner")])
        .unwrap();
    assert_eq!(out, [serde_json::json!({"ok": "howdy, pardner"})]);
}

#[test]
fn a_c_guest_implements_the_same_world() {
    let (builder, logs) = logged();
    let p = builder
        .config(config(&[("greeting", "bonjour")]))
        .from_file(crate::support::c_component("greeter"))
        .unwrap();
    assert!(p.is_component());
    assert_eq!(p.handle("monde").unwrap(), Ok("bonjour, monde".to_string()));
    assert_eq!(
        p.handle("").unwrap(),
        Err("nobody to greet (from C)".to_string())
    );
    assert_eq!(logs.lock().unwrap().as_slice(), ["info: greeting from C"]);
    let plain = Plugin::from_file(&engine(), crate::support::c_component("greeter")).unwrap();
    assert_eq!(
        plain.handle("world").unwrap(),
        Ok("hello, world".to_string())
    );
}
