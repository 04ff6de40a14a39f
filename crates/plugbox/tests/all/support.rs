//! Shared fixtures: engines and the guests under `guests/`.

use plugbox::{Engine, EngineConfig, Plugin};
use std::path::PathBuf;

/// Path of a WAT guest in `guests/wat/`.
pub fn wat(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/wat")
        .join(name)
}

pub fn engine() -> Engine {
    Engine::new(&EngineConfig::default()).expect("default engine builds")
}

pub fn plugin(name: &str) -> Plugin {
    Plugin::from_file(&engine(), wat(name)).unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

pub fn fuel_engine() -> Engine {
    Engine::new(&EngineConfig::default().consume_fuel(true)).expect("fuel engine builds")
}

#[path = "../../../../guests/test_support.rs"]
mod test_support;
pub use test_support::{rust_component, rust_guest, sandbox_layout};

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|rd| {
            rd.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}
