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
