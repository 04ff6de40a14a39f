//! The manifest parser: arbitrary text → [`Manifest`] → every plugin's
//! spec and the engine configuration, checked as the CLI checks them.
//! Any `Err` is fine; a panic, an abort or a hang is a bug.

use plugbox::{Engine, Manifest};
use std::path::Path;

/// One fuzz case. Building the engine is optional: it is the slow part.
pub fn run(text: &str, build_engine: bool) {
    let base = Path::new("/nonexistent/plugbox-fuzz");
    let Ok(manifest) = Manifest::parse(text, "fuzz.toml", base) else {
        return;
    };
    for name in manifest.plugins.keys() {
        let spec = manifest
            .plugin(name)
            .expect("a plugin the manifest lists is found");
        let _ = format!("{spec:?}");
    }
    let _ = manifest.plugin("\u{0}not-a-plugin");
    let config = manifest.engine_config();
    if config.check().is_ok() && build_engine {
        let _ = Engine::new(&config);
    }
}
