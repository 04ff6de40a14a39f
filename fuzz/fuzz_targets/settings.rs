//! The `[server]` and `[kv]` tables: generated from their real keys, or
//! arbitrary text, parsed, checked, and the kv backend opened.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::LazyLock;

/// A scratch directory of this process for the embedded backend's file.
static SCRATCH: LazyLock<Option<PathBuf>> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("plugbox-fuzz-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok().map(|()| dir)
});

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    if let Ok(text) = plugbox_fuzz::settings::text(&mut Unstructured::new(data)) {
        plugbox_fuzz::settings::run(&text, SCRATCH.as_deref());
    }
});
