//! JSON ↔ WIT conversion on generated component types.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use plugbox::{Engine, EngineConfig};
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> =
    LazyLock::new(|| Engine::new(&EngineConfig::default()).expect("default engine builds"));

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    let _ = plugbox_fuzz::wit::run(&ENGINE, &mut Unstructured::new(data));
});
