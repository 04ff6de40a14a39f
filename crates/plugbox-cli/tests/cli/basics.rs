//! call, validate, inspect, compile, run: the happy paths and the bad ones.

use crate::support::{assert_error, plugbox, stderr, stdout, wat};

#[test]
fn call_prints_results() {
    let o = plugbox(&["call", &wat("add.wat"), "add", "5", "3"]);
    assert_eq!(stdout(&o), "8\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
    let o = plugbox(&["call", &wat("add.wat"), "add", "-5", "3", "--json"]);
    assert_eq!(stdout(&o), "[-2]\n");
    let o = plugbox(&["call", "--json", &wat("add.wat"), "swap", "1", "2"]);
    assert_eq!(stdout(&o), "[2,1]\n");
    let o = plugbox(&["call", &wat("add.wat"), "mulf", "1.5", "2"]);
    assert_eq!(stdout(&o), "3\n");
    let o = plugbox(&["call", &wat("add.wat"), "nothing"]);
    assert_eq!(stdout(&o), "");
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn call_rejects_bad_arguments_with_usage_code() {
    let o = plugbox(&["call", &wat("add.wat"), "add", "5"]);
    assert_error(
        &o,
        2,
        "`add` takes 2 arguments (i32, i32) -> i32 but 1 was given",
    );
    let o = plugbox(&["call", &wat("add.wat"), "add", "abc", "1"]);
    assert_error(&o, 2, "argument 1 of `add` (i32): `abc` is not a number");
    let o = plugbox(&["call", &wat("add.wat"), "add", "1099511627776", "1"]);
    assert_error(&o, 2, "`1099511627776` is out of range");
    let o = plugbox(&["call", &wat("add.wat"), "sub", "1", "1"]);
    assert_error(&o, 2, "no function `sub` exported");
}

#[test]
fn exit_codes_are_distinct() {
    // usage
    let o = plugbox(&["call", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    // invalid module
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("a.wasm");
    std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0junk").unwrap();
    let o = plugbox(&["call", elf.to_str().unwrap(), "f"]);
    assert_error(&o, 3, "this looks like an ELF executable");
    // link
    let o = plugbox(&["call", &wat("needs_import.wat"), "ok"]);
    assert_error(&o, 4, "missing import `env::host_log`");
    // trap
    let o = plugbox(&["call", &wat("traps.wat"), "div_by_zero", "0"]);
    assert_error(&o, 5, "integer divide by zero");
    // limit: stack overflow
    let o = plugbox(&["call", &wat("traps.wat"), "recurse", "0"]);
    assert_error(&o, 6, "stack overflow");
    // I/O
    let o = plugbox(&["call", "/nonexistent/plugin.wasm", "f"]);
    assert_error(&o, 7, "cannot read `/nonexistent/plugin.wasm`");
}

#[test]
fn help_and_version_exit_zero() {
    let o = plugbox(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Exit codes:"));
    let o = plugbox(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let o = plugbox(&["call", "--help"]);
    assert!(stdout(&o).contains("--max-memory"));
}

#[test]
fn validate_prints_ok_or_the_error() {
    let o = plugbox(&["validate", &wat("add.wat")]);
    assert_eq!(stdout(&o), "ok\n");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.wat");
    std::fs::write(&bad, "(module\n  (func\n    i32.nope))").unwrap();
    let o = plugbox(&["validate", bad.to_str().unwrap()]);
    assert_error(&o, 3, "text format error at 3:5");
    let empty = dir.path().join("empty.wasm");
    std::fs::write(&empty, b"").unwrap();
    let o = plugbox(&["validate", empty.to_str().unwrap()]);
    assert_error(&o, 3, "empty file");
    let o = plugbox(&["validate", "--disable", "simd", &wat("simd.wat")]);
    assert_error(&o, 3, "disabled in this engine");
    let o = plugbox(&["validate", "--disable", "nonsense", &wat("simd.wat")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown wasm feature `nonsense`"),
        "{}",
        stderr(&o)
    );
    let o = plugbox(&["validate", "--max-module-size", "10", &wat("add.wat")]);
    assert_error(&o, 3, "larger than the size cap of 10 B");
}

#[test]
fn inspect_shows_signatures_and_limits() {
    let o = plugbox(&["inspect", &wat("add.wat")]);
    let out = stdout(&o);
    assert!(out.contains(": module,"), "{out}");
    assert!(out.contains("add func (i32, i32) -> i32"), "{out}");
    assert!(out.contains("swap func (i32, i64) -> (i64, i32)"), "{out}");
    assert!(
        out.contains("min 1 pages (64 KiB), max 16 pages (1 MiB)"),
        "{out}"
    );
    assert!(out.contains("answer global i32"), "{out}");
    assert!(out.contains("custom sections"), "{out}");
    let o = plugbox(&["inspect", &wat("hello_wasi.wat"), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["kind"], "module");
    assert_eq!(json["wasi"], serde_json::json!(["wasi_snapshot_preview1"]));
    assert_eq!(json["imports"][0]["name"], "fd_write");
    assert_eq!(json["imports"][0]["ty"], "(i32, i32, i32, i32) -> i32");
    let o = plugbox(&["inspect", &wat("multi_instance.wat")]);
    assert!(stdout(&o).contains(": component,"), "{}", stdout(&o));
}

#[test]
fn compile_then_call_precompiled() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("add.cwasm");
    let o = plugbox(&["compile", &wat("add.wat"), "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("compiled"), "{}", stderr(&o));
    let o = plugbox(&["call", out.to_str().unwrap(), "add", "5", "3"]);
    assert_error(&o, 3, "--allow-precompiled");
    let o = plugbox(&[
        "call",
        "--allow-precompiled",
        out.to_str().unwrap(),
        "add",
        "5",
        "3",
    ]);
    assert_eq!(stdout(&o), "8\n", "{}", stderr(&o));
    // Another engine configuration.
    let o = plugbox(&[
        "call",
        "--allow-precompiled",
        "--opt-level",
        "none",
        out.to_str().unwrap(),
        "add",
        "5",
        "3",
    ]);
    assert_error(&o, 3, "different engine configuration");
    // A flipped byte.
    let mut bytes = std::fs::read(&out).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x80;
    std::fs::write(&out, bytes).unwrap();
    let o = plugbox(&[
        "call",
        "--allow-precompiled",
        out.to_str().unwrap(),
        "add",
        "5",
        "3",
    ]);
    assert_error(&o, 3, "checksum mismatch");
    let o = plugbox(&["validate", out.to_str().unwrap()]);
    assert_error(&o, 3, "checksum mismatch");
}

#[test]
fn run_passes_the_guest_exit_code_through() {
    let o = plugbox(&["run", &wat("hello_wasi.wat")]);
    assert_eq!(stdout(&o), "hello from wasi\n", "{}", stderr(&o));
    assert_eq!(o.status.code(), Some(0));
    let o = plugbox(&["run", &wat("hello_wasi.wat"), "a", "b", "c"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = plugbox(&["run", &wat("add.wat")]);
    assert_error(&o, 2, "not a WASI command");
    // Captured output is written once the run is over, within its cap.
    let o = plugbox(&["run", "--stdout", "capture", &wat("hello_wasi.wat")]);
    assert_eq!(stdout(&o), "hello from wasi\n", "{}", stderr(&o));
    let o = plugbox(&[
        "run",
        "--stdout",
        "capture",
        "--max-output",
        "3",
        &wat("hello_wasi.wat"),
    ]);
    assert_error(&o, 6, "stdout exceeded its capture cap of 3 B");
    assert_eq!(stdout(&o), "");
}
