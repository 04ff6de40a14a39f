//! Hostile and broken input never panics, hangs or lies: closed and full
//! outputs, inputs that block or never end, absurd settings, names that
//! try to rewrite the terminal, and guest statuses that try to pass for
//! plugbox's own exit codes.

use crate::support::{assert_error, plugbox, stderr, stdout, wat};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `plugbox`, failing the test (instead of hanging it) when it does
/// not finish within 30 s.
fn finishes(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("plugbox {args:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A module with `n` exports: its `inspect` output is larger than a pipe.
fn many_exports(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::from("(module\n");
    for i in 0..n {
        text += &format!("(func (export \"export_number_{i}\") (result i32) i32.const {i})\n");
    }
    text += ")";
    write(dir, "many.wat", text)
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_exit_7() {
    let dir = tempfile::tempdir().unwrap();
    let many = many_exports(dir.path(), 10_000);
    // `plugbox inspect many.wat | head -1`
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["inspect", s(&many)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("module"), "{first}");
    // The reader is gone (dropped above); plugbox has more to write.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "no panic, no message");
    // `plugbox validate add.wat > /dev/full`
    let out = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["validate", &wat("add.wat")])
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_error(&out, 7, "cannot write to stdout");
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn inputs_that_block_or_never_end_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let o = finishes(&["validate", s(&fifo)]);
    assert_error(&o, 7, "not a regular file");
    assert!(stderr(&o).contains(s(&fifo)), "{}", stderr(&o));
    let o = finishes(&["call", "--manifest", s(&fifo), "p", "f"]);
    assert_error(&o, 7, "not a regular file");
    let o = finishes(&["run", "--stdin", s(&fifo), &wat("hello_wasi.wat")]);
    assert_error(&o, 7, "not a regular file");
    // An endless manifest: refused before reading a byte.
    let o = finishes(&["call", "--manifest", "/dev/zero", "p", "f"]);
    assert_error(
        &o,
        7,
        "cannot read manifest `/dev/zero`: not a regular file",
    );
    // A huge regular manifest: refused at the cap.
    let big = dir.path().join("big.toml");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let o = finishes(&["call", "--manifest", s(&big), "p", "f"]);
    assert_error(&o, 2, "is larger than 4 MiB (at least 10737418240 bytes)");
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(body.len(), out);
    out.extend_from_slice(body);
}

/// A module of `n` empty functions, as bytes (WAT would take long to
/// parse).
fn empty_functions(n: usize) -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut out);
    let mut funcs = Vec::new();
    leb(n, &mut funcs);
    funcs.resize(funcs.len() + n, 0);
    section(3, &funcs, &mut out);
    let mut code = Vec::new();
    leb(n, &mut code);
    for _ in 0..n {
        code.extend_from_slice(&[2, 0, 0x0b]);
    }
    section(10, &code, &mut out);
    out
}

#[test]
fn compilation_is_bounded_by_default() {
    // A million empty functions (4 MB) used to take gigabytes and minutes
    // to compile; the default cap refuses it before compiling.
    let dir = tempfile::tempdir().unwrap();
    let million = write(dir.path(), "million.wasm", empty_functions(1_000_000));
    let o = finishes(&["call", s(&million), "f"]);
    assert_error(
        &o,
        6,
        "declares 1000000 functions, more than the cap of 50000",
    );
    // Under the cap it loads (and the missing export is the only error).
    let some = write(dir.path(), "some.wasm", empty_functions(1000));
    let o = finishes(&["call", s(&some), "f"]);
    assert_error(&o, 2, "no function `f`");
}

#[test]
fn malformed_manifests_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "latin1.toml", b"\xff\xfe[engine]\n");
    let o = plugbox(&["call", "--manifest", s(&m), "p", "f"]);
    assert_error(&o, 2, "not UTF-8 text (invalid byte at offset 0)");
    let m = write(
        dir.path(),
        "dup.toml",
        "[plugins.a]\nsource = \"a.wat\"\n[plugins.a]\nsource = \"b.wat\"\n",
    );
    let o = plugbox(&["call", "--manifest", s(&m), "a", "f"]);
    assert_error(&o, 2, "at line 3");
    assert!(stderr(&o).contains("duplicate key"), "{}", stderr(&o));
    let m = write(
        dir.path(),
        "neg.toml",
        "[plugins.a]\nsource = \"a.wat\"\n[plugins.a.limits]\ntimeout = \"-1s\"\n",
    );
    let o = plugbox(&["call", "--manifest", s(&m), "a", "f"]);
    assert_error(
        &o,
        2,
        "key `plugins.a.limits.timeout`: invalid duration `-1s`",
    );
    assert!(!stderr(&o).contains("untagged"), "{}", stderr(&o));
    // Not-found lists stay short, whatever the manifest declares.
    let mut many = String::new();
    for i in 0..10_000 {
        many += &format!("[plugins.plugin_{i}]\nsource = \"x.wat\"\n");
    }
    let m = write(dir.path(), "many.toml", many);
    let o = plugbox(&["call", "--manifest", s(&m), "nope", "f"]);
    assert_error(&o, 2, "and 9990 more");
    assert!(stderr(&o).len() < 1000, "{}", stderr(&o).len());
}

#[test]
fn absurd_durations_are_usage_errors_naming_the_value() {
    let add = wat("add.wat");
    let o = plugbox(&[
        "call",
        "--timeout",
        "10000000000000000000s",
        &add,
        "add",
        "1",
        "2",
    ]);
    assert_error(&o, 2, "invalid duration `10000000000000000000s`: too long");
    let o = plugbox(&["call", "--epoch-tick", "1h", &add, "add", "1", "2"]);
    assert_error(&o, 2, "invalid epoch-tick `1h`");
    let dir = tempfile::tempdir().unwrap();
    let m = write(
        dir.path(),
        "p.toml",
        format!("[engine]\nepoch-tick = \"1h\"\n[plugins.a]\nsource = \"{add}\"\n"),
    );
    let o = plugbox(&["call", "--manifest", s(&m), "a", "add", "1", "2"]);
    assert_error(&o, 2, "invalid epoch-tick `1h`");
    let m = write(
        dir.path(),
        "q.toml",
        format!(
            "[plugins.a]\nsource = \"{add}\"\n[plugins.a.limits]\ntimeout = \"99999999999d\"\n"
        ),
    );
    let o = plugbox(&["call", "--manifest", s(&m), "a", "add", "1", "2"]);
    assert_error(&o, 2, "invalid duration `99999999999d`");
}

#[test]
fn module_controlled_names_are_escaped_in_human_output() {
    let dir = tempfile::tempdir().unwrap();
    let evil = write(
        dir.path(),
        "evil.wat",
        r#"(module
            (import "evil\1b[2J\0d\0a" "x\00y" (func))
            (func (export "f\1b]0;pwned\07") (result i32) i32.const 1)
            (@custom "name\1b[31m" "data"))"#,
    );
    let o = plugbox(&["inspect", s(&evil)]);
    let text = stdout(&o);
    assert!(!text.contains('\x1b') && !text.contains('\0'), "{text:?}");
    assert!(text.contains(r"evil\u{1b}[2J\u{d}\u{a}::x\u{0}y"), "{text}");
    assert!(text.contains(r"f\u{1b}]0;pwned\u{7}"), "{text}");
    assert!(text.contains(r"name\u{1b}[31m"), "{text}");
    // JSON stays exact.
    let o = plugbox(&["inspect", "--json", s(&evil)]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["imports"][0]["module"], "evil\x1b[2J\r\n");
    assert_eq!(json["exports"][0]["name"], "f\x1b]0;pwned\x07");
    // Errors too: a link error and an export-not-found list.
    let o = plugbox(&["call", s(&evil), "f"]);
    assert_error(&o, 4, r"evil\u{1b}[2J\u{d}\u{a}::x\u{0}y");
    assert!(!stderr(&o).contains('\x1b'));
    let named = write(
        dir.path(),
        "named.wat",
        r#"(module (func (export "f\1b]0;pwned\07") (result i32) i32.const 1))"#,
    );
    let o = plugbox(&["call", s(&named), "nope"]);
    assert_error(&o, 2, r"f\u{1b}]0;pwned\u{7}");
    assert!(!stderr(&o).contains('\x1b'));
    // A UTF-8 byte-order mark before WAT text is fine.
    let bom = write(
        dir.path(),
        "bom.wat",
        b"\xef\xbb\xbf(module (func (export \"f\") (result i32) i32.const 1))",
    );
    let o = plugbox(&["call", s(&bom), "f"]);
    assert_eq!((o.status.code(), stdout(&o)), (Some(0), "1\n".into()));
}

const EXITS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (tag $t)
  (func (export "throw") (throw $t))
  (func (export "bad_args") (result i32)
    (call $fd_write (i32.const 1) (i32.const 65530) (i32.const 100) (i32.const 0)))
  (func (export "quit") (param i32) (call $exit (local.get 0)))
  (func (export "_start") (call $exit (i32.const 255))))"#;

#[test]
fn guest_statuses_never_pass_for_plugbox_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let exits = write(dir.path(), "exits.wat", EXITS);
    let e = s(&exits);
    // `call`: a guest exit is exit 8, whatever its status; the status is
    // in the message.
    for status in ["4", "0", "2"] {
        let o = plugbox(&["call", "--enable", "exceptions", e, "quit", status]);
        assert_error(&o, 8, &format!("guest exited with status {status}"));
    }
    // `run`: the status passes through, 255 included, with no message.
    let o = plugbox(&["run", "--enable", "exceptions", e]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(255), String::new()));
    // An uncaught exception and a host call with invalid arguments are
    // traps (5), not "other" (1).
    let o = plugbox(&["call", "--enable", "exceptions", e, "throw"]);
    assert_error(&o, 5, "uncaught wasm exception");
    let o = plugbox(&["call", "--enable", "exceptions", e, "bad_args"]);
    assert_error(&o, 5, "invalid host call");
    // The table is in --help.
    let help = stdout(&plugbox(&["--help"]));
    assert!(help.contains("8    `call`: the guest exited"), "{help}");
}

#[test]
fn default_off_features_are_named_and_can_be_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let stream = write(dir.path(), "stream.wat", "(component (type (stream u8)))");
    let exits = write(dir.path(), "exits.wat", EXITS);
    // Refused by default, with the flag that enables each.
    let o = plugbox(&["validate", s(&stream)]);
    assert_error(
        &o,
        3,
        "it needs `component-model-async` (`--enable component-model-async`",
    );
    let o = plugbox(&["validate", s(&exits)]);
    assert_error(&o, 3, "it needs `exceptions` (`--enable exceptions`");
    // Enabled, they validate; turning the component model off as well
    // refuses the component without a configuration error.
    let o = plugbox(&["validate", "--enable", "component-model-async", s(&stream)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = plugbox(&["validate", "--enable", "exceptions", s(&exits)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = plugbox(&[
        "validate",
        "--enable",
        "component-model-async",
        "--disable",
        "component-model",
        s(&stream),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn engine_and_module_errors_name_their_values() {
    // A stack size above the default async stack: the async stack grows
    // to fit, so it works.
    let o = plugbox(&[
        "call",
        "--max-stack",
        "4MiB",
        &wat("hostile.wat"),
        "depth",
        "1000",
    ]);
    assert_eq!(
        (o.status.code(), stdout(&o)),
        (Some(0), "1000\n".into()),
        "{}",
        stderr(&o)
    );
    let o = plugbox(&[
        "call",
        "--max-stack",
        "1GiB",
        &wat("add.wat"),
        "add",
        "1",
        "2",
    ]);
    assert_error(&o, 2, "max-stack");
    let dir = tempfile::tempdir().unwrap();
    let seg = write(
        dir.path(),
        "seg.wat",
        r#"(module (memory 1) (data (i32.const 65535) "ab") (func (export "f") (result i32) i32.const 1))"#,
    );
    let o = plugbox(&["call", s(&seg), "f"]);
    assert_error(&o, 5, "its data or element segments do not fit");
    assert!(!stderr(&o).contains("start function"), "{}", stderr(&o));
    let refs = write(
        dir.path(),
        "refs.wat",
        r#"(module (func (export "f") (param funcref externref) (result i32) i32.const 1))"#,
    );
    let o = plugbox(&["inspect", s(&refs)]);
    assert!(
        stdout(&o).contains("f func (funcref, externref) -> i32"),
        "{}",
        stdout(&o)
    );
    let o = plugbox(&["call", s(&refs), "f", "1", "2"]);
    assert_error(&o, 2, "reference types are not supported as arguments");
    assert!(!stderr(&o).contains("VMSharedTypeIndex"), "{}", stderr(&o));
    // A declared memory above the cap fails before any allocation.
    let big = write(
        dir.path(),
        "big.wat",
        r#"(module (memory 5000) (func (export "f") (result i32) i32.const 1))"#,
    );
    let o = plugbox(&["call", s(&big), "f"]);
    assert_error(&o, 6, "requested 312.5 MiB but at most 256 MiB is allowed");
}
