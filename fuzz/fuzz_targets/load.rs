//! Loader: bytes → validate → inspect.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugbox::{Engine, EngineConfig};
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::new(&EngineConfig::default()).expect("default engine builds"));

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    plugbox_fuzz::load::run(&ENGINE, data);
});
