//! Test fixtures shared by both test suites (included with `#[path]`): the
//! Rust guests in `guests/rust`, built once per test binary, and a sandbox
//! directory layout.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// `guests/` in the repository.
pub fn guests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests")
}

/// The `.wasm` of a Rust guest built for wasm32-wasip1: a core module
/// (built on first use).
pub fn rust_guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| build("wasm32-wasip1"))
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(format!("{name}.wasm"))
}

/// The `.wasm` of a Rust guest built for wasm32-wasip2: a component
/// (built on first use).
#[allow(dead_code, reason = "not every test suite uses components")]
pub fn rust_component(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT
        .get_or_init(|| build("wasm32-wasip2"))
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(format!("{name}.wasm"))
}

fn build(target: &str) -> Result<PathBuf, String> {
    let root = guests_dir().join("rust");
    let target_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            target,
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .status()
        .map_err(|e| format!("cannot run cargo to build the Rust guests: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the Rust guests for {target} failed ({status}); is the target installed? \
             run `rustup target add {target}` (scripts/test.sh does)"
        ));
    }
    Ok(target_dir.join(target).join("release"))
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
