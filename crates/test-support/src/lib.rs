//! Fixtures shared by plugbox's test suites.
//!
//! The test guests are built once, before any test binary runs, by
//! `cargo run -p plugbox-test-support --bin build-guests` (a step of
//! `scripts/test.sh`); these functions only find the results, and fail
//! with the command to run when a guest is missing.

use std::path::PathBuf;

mod redis;
pub use redis::{RedisDb, RedisServer};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `guests/` in the repository.
pub fn guests_dir() -> PathBuf {
    repo_root().join("guests")
}

/// Where `build-guests` puts what it builds.
pub fn built_dir() -> PathBuf {
    repo_root().join("target/guests")
}

/// Path of a WAT guest in `guests/wat/`.
pub fn wat(name: &str) -> PathBuf {
    guests_dir().join("wat").join(name)
}

fn built(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "test guest `{}` is not built: run `cargo run -p plugbox-test-support --bin build-guests` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The `.wasm` of a Rust guest built for wasm32-wasip1: a core module.
pub fn rust_guest(name: &str) -> PathBuf {
    built(built_dir().join(format!("wasm32-wasip1/release/{name}.wasm")))
}

/// The `.wasm` of a Rust guest built for wasm32-wasip2: a component.
pub fn rust_component(name: &str) -> PathBuf {
    built(built_dir().join(format!("wasm32-wasip2/release/{name}.wasm")))
}

/// A C guest from `guests/c/NAME.c`, built as a `plugbox:plugin` component.
pub fn c_component(name: &str) -> PathBuf {
    built(built_dir().join(format!("c/{name}.wasm")))
}

/// A temporary tree with a granted-to-be directory `data/` holding
/// `hello.txt` ("hi there"), next to `secret.txt` ("top secret") that must
/// stay out of reach.
pub fn sandbox_layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("data")).expect("create data/");
    std::fs::write(dir.path().join("data/hello.txt"), "hi there").expect("write hello.txt");
    std::fs::write(dir.path().join("secret.txt"), "top secret").expect("write secret.txt");
    dir
}

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|rd| {
            rd.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}
