//! What plugbox's fuzz targets run, one module per target. The same
//! modules run as a bounded property test in the normal suite
//! (`crates/plugbox/tests/all/fuzzing.rs` includes them), so CI exercises
//! these paths on every change.

pub mod api_args;
pub mod args;
pub mod call;
pub mod load;
pub mod manifest;
pub mod settings;
pub mod wit;

/// Writes `data` to the file named by `PLUGBOX_FUZZ_SAVE_INPUT`, if set,
/// before a target runs it: a stack overflow kills the process before
/// libFuzzer can save the input (no alternate signal stack), and this
/// keeps the last input for a reproducer.
pub fn remember(data: &[u8]) {
    use std::sync::OnceLock;
    static PATH: OnceLock<Option<std::path::PathBuf>> = OnceLock::new();
    if let Some(path) =
        PATH.get_or_init(|| std::env::var_os("PLUGBOX_FUZZ_SAVE_INPUT").map(Into::into))
    {
        let _ = std::fs::write(path, data);
    }
}
