//! Builds the command for `wasm32-wasip2` and runs it with `plugbox run`.
//! Needs `plugbox` on `PATH` (or `PLUGBOX=/path/to/plugbox`). Run with
//! `cargo test`.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Once;

fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the component once, as the README's build step does, and returns
/// its path.
fn program() -> PathBuf {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .current_dir(project_dir())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --target wasm32-wasip2 failed");
    });
    project_dir().join(format!("target/wasm32-wasip2/release/{}.wasm", env!("CARGO_PKG_NAME")))
}

/// `plugbox run --stdin=null <program> ARGS`.
fn run(args: &[&str]) -> Output {
    let plugbox = std::env::var("PLUGBOX").unwrap_or_else(|_| "plugbox".into());
    Command::new(&plugbox)
        .args(["run", "--stdin=null"])
        .arg(program())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{plugbox}` (put it on PATH or set PLUGBOX): {e}"))
}

#[test]
fn greets_its_argument() {
    let out = run(&["world"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, world\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn nobody_to_greet_fails() {
    let out = run(&[]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "nobody to greet\n");
    assert_eq!(out.status.code(), Some(1));
}
