//! `plugbox run` and its WASI grants: deny by default.

use crate::support::{
    assert_error, plugbox, plugbox_with_stdin, rust_guest, sandbox_layout as layout, stderr, stdout,
};

#[test]
fn directories_are_granted_explicitly() {
    let dir = layout();
    let data = dir.path().join("data");
    let ro = format!("{}::/data", data.display());
    let probe = rust_guest("probe");

    let o = plugbox(&["run", &probe, "read", "/data/hello.txt"]);
    assert_eq!(o.status.code(), Some(1), "nothing granted: {}", stderr(&o));
    assert!(stderr(&o).starts_with("denied:"));

    let o = plugbox(&["run", "--ro-dir", &ro, &probe, "read", "/data/hello.txt"]);
    assert_eq!(stdout(&o), "hi there");
    assert_eq!(o.status.code(), Some(0));

    let o = plugbox(&[
        "run",
        "--ro-dir",
        &ro,
        &probe,
        "read",
        "/data/../secret.txt",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stdout(&o).contains("secret"));

    let o = plugbox(&["run", "--ro-dir", &ro, &probe, "write", "/data/x.txt", "no"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!data.join("x.txt").exists());

    let o = plugbox(&["run", "--dir", &ro, &probe, "write", "/data/x.txt", "yes"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(data.join("x.txt")).unwrap(), "yes");

    let ro_suffix = format!("{}::/data:ro", data.display());
    let o = plugbox(&[
        "run",
        "--dir",
        &ro_suffix,
        &probe,
        "write",
        "/data/y.txt",
        "no",
    ]);
    assert_eq!(o.status.code(), Some(1));

    let o = plugbox(&["run", "--ro-dir", "/does/not/exist::/x", &probe, "args"]);
    assert_error(&o, 7, "cannot grant directory `/does/not/exist`");
    let o = plugbox(&["run", "--dir", "::/x", &probe, "args"]);
    assert_error(&o, 2, "invalid directory grant `::/x`");
}

#[test]
fn environment_is_granted_explicitly() {
    let probe = rust_guest("probe");
    let o = plugbox(&["run", &probe, "env", "PATH"]);
    assert_eq!(o.status.code(), Some(1));
    let o = plugbox(&["run", "--env", "MODE=fast", &probe, "env", "MODE"]);
    assert_eq!(stdout(&o), "fast\n");
    let o = plugbox(&["run", "--inherit-env", &probe, "env", "PATH"]);
    assert_eq!(o.status.code(), Some(0));
    let o = plugbox(&["run", "--env", "NOEQUALS", &probe, "env", "X"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected KEY=VALUE"), "{}", stderr(&o));
}

#[test]
fn stdio_is_inherited_and_exit_codes_pass_through() {
    let probe = rust_guest("probe");
    let o = plugbox_with_stdin(&["run", &probe, "stdin"], b"piped in");
    assert_eq!(stdout(&o), "piped in");
    let o = plugbox(&["run", &probe, "exit", "42"]);
    assert_eq!(o.status.code(), Some(42));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    let o = plugbox(&["run", &probe, "args", "-v", "--flag", "x"]);
    assert_eq!(stdout(&o), "-v --flag x\n");
    let o = plugbox(&["run", &probe, "panic"]);
    assert_error(&o, 5, "wasm trap: `unreachable` executed");
}
