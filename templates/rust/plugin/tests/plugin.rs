//! Builds the plugin for `wasm32-wasip2` and calls it through plugbox, as a
//! host would. Needs `plugbox` on `PATH` (or `PLUGBOX=/path/to/plugbox`).
//! Run with `cargo test`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the component once, as the README's build step does, and returns
/// its path.
fn plugin() -> String {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .current_dir(project_dir())
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --target wasm32-wasip2 failed");
    });
    let file = format!("{}.wasm", env!("CARGO_PKG_NAME").replace('-', "_"));
    let path = project_dir().join("target/wasm32-wasip2/release").join(file);
    path.display().to_string()
}

/// Runs `plugbox ARGS` in the project directory; its stdout.
fn plugbox(args: &[&str]) -> String {
    let plugbox = std::env::var("PLUGBOX").unwrap_or_else(|_| "plugbox".into());
    let out = Command::new(&plugbox)
        .current_dir(project_dir())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{plugbox}` (put it on PATH or set PLUGBOX): {e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("plugbox prints UTF-8")
}

#[test]
fn handle_greets_its_input() {
    let out = plugbox(&["call", &plugin(), "handle", "\"world\""]);
    assert_eq!(out, "{\"ok\":\"hello, world\"}\n");
}

#[test]
fn empty_input_is_an_error() {
    let out = plugbox(&["call", &plugin(), "handle", "\"\""]);
    assert_eq!(out, "{\"err\":\"nobody to greet\"}\n");
}

#[test]
fn greeting_comes_from_the_manifest_config() {
    plugin();
    let out = plugbox(&["call", "--manifest", "plugbox.toml", "{{name}}", "handle", "\"world\""]);
    assert_eq!(out, "{\"ok\":\"hey, world\"}\n");
}
