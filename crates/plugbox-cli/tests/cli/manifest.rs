//! `--manifest plugbox.toml NAME`: the manifest's limits and grants apply,
//! flags override them, and manifest errors are usage errors.

use crate::support::{assert_error, plugbox, rust_guest, stderr, stdout};
use std::path::{Path, PathBuf};

fn example() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/plugbox.toml")
        .display()
        .to_string()
}

fn write(dir: &Path, text: &str) -> String {
    let path = dir.join("plugbox.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn manifest_plugins_are_called_by_name_with_their_limits() {
    let m = example();
    let o = plugbox(&["call", "--manifest", &m, "adder", "add", "5", "3"]);
    assert_eq!(stdout(&o), "8\n", "{}", stderr(&o));
    // The manifest's 1 MiB memory cap applies...
    let o = plugbox(&["call", "--manifest", &m, "hostile", "grow", "100"]);
    assert_eq!(stdout(&o), "-1\n", "{}", stderr(&o));
    // ...and a flag overrides it.
    let o = plugbox(&[
        "call",
        "--manifest",
        &m,
        "--max-memory",
        "64MiB",
        "hostile",
        "grow",
        "100",
    ]);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
    // The manifest's fuel budget stops the spin (fuel metering turned on by it).
    let o = plugbox(&["call", "--manifest", &m, "hostile", "spin"]);
    assert_error(&o, 6, "all fuel consumed");
    let o = plugbox(&[
        "call",
        "--manifest",
        &m,
        "--fuel",
        "1000000000000",
        "--timeout",
        "50ms",
        "hostile",
        "spin",
    ]);
    assert_error(&o, 6, "deadline exceeded");
    let o = plugbox(&["run", "--manifest", &m, "hello"]);
    assert_eq!(stdout(&o), "hello from wasi\n", "{}", stderr(&o));
}

#[test]
fn manifest_grants_apply_to_run() {
    let dir = crate::support::sandbox_layout();
    let probe = rust_guest("probe");
    let text = format!(
        "[plugins.probe]\nsource = \"{probe}\"\n[plugins.probe.sandbox]\nro-dir = [\"data::/data\"]\nenv = {{ MODE = \"fast\" }}\n"
    );
    let m = write(dir.path(), &text);
    let o = plugbox(&["run", "--manifest", &m, "probe", "read", "/data/hello.txt"]);
    assert_eq!(stdout(&o), "hi there", "{}", stderr(&o));
    let o = plugbox(&["run", "--manifest", &m, "probe", "write", "/data/x", "y"]);
    assert_eq!(o.status.code(), Some(1), "read-only grant");
    let o = plugbox(&["run", "--manifest", &m, "probe", "env", "MODE"]);
    assert_eq!(stdout(&o), "fast\n");
    let o = plugbox(&[
        "run",
        "--manifest",
        &m,
        "--env",
        "EXTRA=1",
        "probe",
        "env",
        "EXTRA",
    ]);
    assert_eq!(stdout(&o), "1\n", "flags add grants");
}

#[test]
fn manifest_errors() {
    let dir = tempfile::tempdir().unwrap();
    let m = write(dir.path(), "[plugins.a]\nsource = \"a.wasm\"\nlimts = {}\n");
    let o = plugbox(&["call", "--manifest", &m, "a", "f"]);
    assert_error(&o, 2, "line 3");
    assert!(
        stderr(&o).contains("plugin `a`") && stderr(&o).contains("unknown field `limts`"),
        "{}",
        stderr(&o)
    );

    let o = plugbox(&["call", "--manifest", &example(), "nope", "f"]);
    assert_error(&o, 2, "no plugin `nope` in the manifest");

    let add = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../guests/wat/add.wat");
    let text = format!(
        "[plugins.a]\nsource = \"{}\"\nsha256 = \"{}\"\n",
        add.display(),
        "ab".repeat(32)
    );
    let m = write(dir.path(), &text);
    let o = plugbox(&["call", "--manifest", &m, "a", "add", "1", "2"]);
    assert_error(&o, 3, "but it is pinned to abab");

    let o = plugbox(&["call", "--manifest", "/nonexistent/plugbox.toml", "a", "f"]);
    assert_error(&o, 7, "cannot read manifest");
}
