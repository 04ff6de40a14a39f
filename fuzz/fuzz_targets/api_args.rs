//! The JSON API's argument parser: arbitrary request bodies against core
//! and component signatures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use plugbox::{Engine, EngineConfig};
use plugbox_fuzz::api_args::Signatures;
use std::path::PathBuf;
use std::sync::LazyLock;

/// The core module, and `target/guests/.../types.wasm` (built by
/// `build-guests`) when it is there.
static SIGNATURES: LazyLock<Signatures> = LazyLock::new(|| {
    let engine = Engine::new(&EngineConfig::default()).expect("the engine builds");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests/wasm32-wasip2/release/types.wasm");
    if !path.exists() {
        eprintln!(
            "api_args: {} is not built; core signatures only",
            path.display()
        );
    }
    Signatures::load(&engine, path.exists().then_some(path.as_path()))
});

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    let _ = SIGNATURES.run(data);
});
