//! The manifest parser, and the engine a parsed manifest configures.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    plugbox_fuzz::remember(data);
    if let Ok(text) = std::str::from_utf8(data) {
        plugbox_fuzz::manifest::run(text, true);
    }
});
