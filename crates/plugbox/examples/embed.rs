//! Embedding plugbox: load a plugin, call it typed and dynamically, keep
//! state in an instance, and watch limits stop a hostile call.
//!
//! Run with `cargo run -p plugbox --example embed`.

use plugbox::{Engine, EngineConfig, ErrorKind, Limits, Plugin, TrapKind};
use std::time::Duration;

const PLUGIN: &str = r#"
(module
  (global $n (mut i32) (i32.const 0))
  (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "count") (result i32)
    global.get $n i32.const 1 i32.add global.set $n global.get $n)
  (func (export "spin") (loop br 0)))
"#;

fn main() -> plugbox::Result<()> {
    // One engine per host, with fuel metering so calls can have a budget.
    let engine = Engine::new(&EngineConfig::new().consume_fuel(true))?;
    let plugin = Plugin::builder(&engine)
        .name("example")
        .limits(
            Limits::new()
                .timeout(Duration::from_millis(200))
                .fuel(1_000_000),
        )
        .from_bytes(PLUGIN)?;

    // Typed call, in a fresh instance.
    println!(
        "add(5, 3) = {}",
        plugin.call::<(i32, i32), i32>("add", (5, 3))?
    );

    // Dynamic call from JSON, as a CLI or an RPC layer would make it.
    let out = plugin.call_json("add", &[serde_json::json!(40), serde_json::json!("2")])?;
    println!("add(40, \"2\") = {out:?}");

    // Stateful instance: the global survives between calls.
    let mut instance = plugin.instantiate()?;
    instance.call::<(), i32>("count", ())?;
    println!(
        "count after two calls = {}",
        instance.call::<(), i32>("count", ())?
    );
    println!(
        "fuel used by that call = {:?}",
        instance.stats().fuel_consumed
    );

    // A hostile call is stopped with a typed error.
    match plugin.call::<(), ()>("spin", ()) {
        Err(e) if e.kind() == &ErrorKind::Trap(TrapKind::OutOfFuel) => {
            println!("spin stopped: {e:#}")
        }
        Err(e) => println!("spin failed otherwise: {e:#}"),
        Ok(()) => unreachable!("spin never returns"),
    }
    Ok(())
}
