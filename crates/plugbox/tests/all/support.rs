//! Shared fixtures: engines and the guests under `guests/`.

use plugbox::{Engine, EngineConfig, Plugin};

pub use plugbox_test_support::wat;

pub fn engine() -> Engine {
    Engine::new(&EngineConfig::default()).expect("default engine builds")
}

pub fn plugin(name: &str) -> Plugin {
    Plugin::from_file(&engine(), wat(name)).unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

pub fn fuel_engine() -> Engine {
    Engine::new(&EngineConfig::default().consume_fuel(true)).expect("fuel engine builds")
}

pub use plugbox_test_support::{
    c_component, rust_component, rust_guest, sandbox_layout, thread_names,
};

/// A manager with `hostile.wat` loaded twice: `fresh` (stateless) and
/// `kept` (stateful).
pub fn fresh_and_kept() -> plugbox::PluginManager {
    let m = plugbox::PluginManager::new(&engine());
    m.load("fresh", plugbox::PluginSpec::new(wat("hostile.wat")))
        .unwrap();
    m.load(
        "kept",
        plugbox::PluginSpec::new(wat("hostile.wat")).mode(plugbox::Mode::Stateful),
    )
    .unwrap();
    m
}
