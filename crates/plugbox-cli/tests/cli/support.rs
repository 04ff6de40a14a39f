//! Running the binary and locating guests.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

pub fn wat(name: &str) -> String {
    plugbox_test_support::wat(name).display().to_string()
}

/// Runs `plugbox` with `args` (text or paths) and no stdin.
pub fn plugbox<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(args)
        .stdin(Stdio::null())
        .env_remove("PLUGBOX_LOG")
        .output()
        .expect("plugbox runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code and that plugbox's error is one `error: ...` line
/// containing `needle` (the last line of stderr: a guest with inherited
/// stderr may have written before it).
#[track_caller]
pub fn assert_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    let last = err.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{err}");
    assert!(last.contains(needle), "expected `{needle}` in: {err}");
}

pub use plugbox_test_support::sandbox_layout;

/// Path of a compiled Rust guest (core module), as a string for the
/// command line.
pub fn rust_guest(name: &str) -> String {
    plugbox_test_support::rust_guest(name).display().to_string()
}

/// Path of a Rust guest built as a component, as a string.
pub fn rust_component(name: &str) -> String {
    plugbox_test_support::rust_component(name)
        .display()
        .to_string()
}

/// Runs `plugbox` with `args`, feeding `input` on stdin.
pub fn plugbox_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plugbox starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("stdin accepts input");
    child.wait_with_output().expect("plugbox finishes")
}
