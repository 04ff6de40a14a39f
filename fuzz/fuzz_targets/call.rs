//! Dynamic calls: wasm-smith modules and the `types` component, called
//! with generated JSON under small limits.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use plugbox::Engine;
use plugbox_fuzz::call::{self, Components};
use std::path::PathBuf;
use std::sync::LazyLock;

static ENGINE: LazyLock<Engine> = LazyLock::new(call::engine);

/// `target/guests/.../types.wasm`, built by `build-guests`; component
/// cases are skipped when it is missing.
static TYPES: LazyLock<Option<Components>> = LazyLock::new(|| {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/guests/wasm32-wasip2/release/types.wasm");
    if !path.exists() {
        eprintln!(
            "call: {} is not built; fuzzing modules only",
            path.display()
        );
        return None;
    }
    Some(Components::load(&ENGINE, &path))
});

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    let mut u = Unstructured::new(data);
    let _ = match (u.ratio(1, 4), TYPES.as_ref()) {
        (Ok(true), Some(types)) => types.call(&mut u).map(drop),
        _ => call::module(&ENGINE, &mut u).map(drop),
    };
});
