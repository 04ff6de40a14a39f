//! The loader: bytes (binary, text, precompiled-looking, or garbage) →
//! [`Wasm`] → validation → inspection. Any `Err` is fine; a panic, an abort
//! or a hang is a bug.

use plugbox::{Engine, Wasm};

/// One fuzz case.
pub fn run(engine: &Engine, bytes: &[u8]) {
    let Ok(wasm) = Wasm::from_bytes(engine, bytes) else {
        return;
    };
    let _ = (wasm.kind(), wasm.sha256(), wasm.is_text());
    let valid = wasm.validate(engine).is_ok();
    match wasm.inspect() {
        // Inspection of an invalid module may fail; of a valid one, it
        // describes what validation accepted.
        Ok(inspection) => drop(format!("{inspection:?}")),
        Err(e) => assert!(
            !valid || wasm.kind().is_precompiled(),
            "a valid {} cannot be inspected: {e:#}",
            wasm.kind().name()
        ),
    }
}
