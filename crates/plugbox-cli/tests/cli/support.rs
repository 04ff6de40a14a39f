//! Running the binary and locating guests.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub fn wat(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/wat")
        .join(name)
        .display()
        .to_string()
}

/// Runs `plugbox` with `args` and no stdin.
pub fn plugbox(args: &[&str]) -> Output {
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

/// Asserts the exit code and that stderr is one `error: ...` line
/// containing `needle`.
#[track_caller]
pub fn assert_error(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}
