//! What plugbox's fuzz targets run, one module per target. The same
//! modules run as a bounded property test in the normal suite
//! (`crates/plugbox/tests/all/fuzzing.rs` includes them), so CI exercises
//! these paths on every change.

pub mod args;
pub mod call;
pub mod load;
pub mod manifest;
pub mod wit;
