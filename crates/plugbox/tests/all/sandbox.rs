//! The WASI sandbox, proven with a real compiled guest (`guests/rust/probe`):
//! nothing is reachable unless granted.

use crate::support::{engine, rust_component, rust_guest, sandbox_layout as layout};
use plugbox::{ErrorKind, Limit, Limits, Plugin, RunOutput, Sandbox};
use std::path::Path;

fn probe(sandbox: Sandbox) -> Plugin {
    Plugin::builder(&engine())
        .sandbox(sandbox)
        .from_file(rust_guest("probe"))
        .unwrap()
}

fn run(sandbox: Sandbox, args: &[&str]) -> RunOutput {
    probe(sandbox).run(args).unwrap()
}

fn stderr(out: &RunOutput) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn data(dir: &Path) -> std::path::PathBuf {
    dir.join("data")
}

#[test]
fn nothing_is_granted_by_default() {
    let out = run(Sandbox::new(), &["read", "/etc/passwd"]);
    assert_eq!(out.exit_code, 1);
    assert!(stderr(&out).starts_with("denied:"), "{}", stderr(&out));
    let out = run(Sandbox::new(), &["env-count"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    let out = run(Sandbox::new(), &["list", "."]);
    assert_eq!(out.exit_code, 1, "no current directory either");
}

#[test]
fn granted_directory_is_readable() {
    let dir = layout();
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["read", "/data/hello.txt"],
    );
    assert_eq!(out.exit_code, 0, "{}", stderr(&out));
    assert_eq!(out.stdout, b"hi there");
}

#[test]
fn dotdot_escape_is_denied() {
    let dir = layout();
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["read", "/data/../secret.txt"],
    );
    assert_eq!(out.exit_code, 1);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["read", "/data/../../../../etc/passwd"],
    );
    assert_eq!(out.exit_code, 1);
}

#[test]
fn absolute_host_path_is_denied() {
    let dir = layout();
    let secret = dir.path().join("secret.txt");
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["read", secret.to_str().unwrap()],
    );
    assert_eq!(out.exit_code, 1, "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn symlink_out_of_a_preopen_is_denied() {
    let dir = layout();
    std::os::unix::fs::symlink(
        dir.path().join("secret.txt"),
        data(dir.path()).join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", data(dir.path()).join("etc")).unwrap();
    let sandbox = Sandbox::new().ro_dir(data(dir.path()), "/data");
    let out = run(sandbox.clone(), &["read", "/data/link.txt"]);
    assert_eq!(out.exit_code, 1);
    assert!(out.stdout.is_empty());
    let out = run(sandbox, &["read", "/data/etc/passwd"]);
    assert_eq!(out.exit_code, 1);
}

/// A guest may not leave a link on the host that points out of its grant
/// (the host's own programs would follow it); links inside stay allowed.
#[test]
fn symlinks_created_by_a_guest_stay_inside_the_grant() {
    for guest in [rust_guest("probe"), rust_component("probe")] {
        let dir = layout();
        let plugin = Plugin::builder(&engine())
            .sandbox(Sandbox::new().rw_dir(data(dir.path()), "/data"))
            .from_file(&guest)
            .unwrap();
        for target in ["/etc/passwd", "../secret.txt", "sub/../../secret.txt", ".."] {
            let out = plugin.run(&["symlink", target, "/data/out"]).unwrap();
            assert_eq!(out.exit_code, 1, "{guest:?} {target}: {}", stderr(&out));
            assert!(stderr(&out).starts_with("denied:"), "{}", stderr(&out));
            assert!(
                std::fs::symlink_metadata(data(dir.path()).join("out")).is_err(),
                "{guest:?}: no link to {target} was made"
            );
        }
        let out = plugin.run(&["symlink", "hello.txt", "/data/in"]).unwrap();
        assert_eq!(out.exit_code, 0, "{guest:?}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_link(data(dir.path()).join("in")).unwrap(),
            Path::new("hello.txt")
        );
        let out = plugin.run(&["read", "/data/in"]).unwrap();
        assert_eq!(out.exit_code, 0, "{guest:?}: {}", stderr(&out));
        // Wasmtime's own errors still come through (the link exists).
        let out = plugin.run(&["symlink", "hello.txt", "/data/in"]).unwrap();
        assert_eq!(out.exit_code, 1);
        assert!(stderr(&out).contains("AlreadyExists"), "{}", stderr(&out));
    }
}

#[test]
fn read_only_directory_refuses_writes() {
    let dir = layout();
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["write", "/data/new.txt", "x"],
    );
    assert_eq!(out.exit_code, 1);
    assert!(stderr(&out).starts_with("denied:"), "{}", stderr(&out));
    assert!(!data(dir.path()).join("new.txt").exists());
    let out = run(
        Sandbox::new().ro_dir(data(dir.path()), "/data"),
        &["write", "/data/hello.txt", "x"],
    );
    assert_eq!(out.exit_code, 1);
    assert_eq!(
        std::fs::read_to_string(data(dir.path()).join("hello.txt")).unwrap(),
        "hi there"
    );
}

#[test]
fn read_write_directory_accepts_writes() {
    let dir = layout();
    let out = run(
        Sandbox::new().rw_dir(data(dir.path()), "/data"),
        &["write", "/data/new.txt", "written"],
    );
    assert_eq!(out.exit_code, 0, "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(data(dir.path()).join("new.txt")).unwrap(),
        "written"
    );
}

#[test]
fn only_granted_env_vars_are_visible() {
    // SAFETY-free: the test reads a variable the host process surely has.
    assert!(std::env::var("PATH").is_ok());
    let out = run(Sandbox::new().env("MODE", "fast"), &["env", "PATH"]);
    assert_eq!(out.exit_code, 1, "PATH was not granted");
    let out = run(Sandbox::new().env("MODE", "fast"), &["env", "MODE"]);
    assert_eq!(out.stdout, b"fast\n");
    let out = run(Sandbox::new().inherit_env(true), &["env", "PATH"]);
    assert_eq!(out.exit_code, 0, "inherited on request");
}

#[test]
fn stdin_args_and_exit_code() {
    let out = run(Sandbox::new().stdin_bytes("from the host"), &["stdin"]);
    assert_eq!(out.stdout, b"from the host");
    let out = run(Sandbox::new(), &["args", "a", "b c"]);
    assert_eq!(out.stdout, b"a b c\n");
    let out = run(Sandbox::new(), &["exit", "42"]);
    assert_eq!(out.exit_code, 42);
}

#[test]
fn output_flood_past_the_capture_cap_is_a_limit_error() {
    let p = Plugin::builder(&engine())
        .limits(Limits::new().max_output(64 << 10))
        .from_file(rust_guest("probe"))
        .unwrap();
    let err = p.run(&["flood", "10000000"]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ResourceLimit(Limit::Output {
            stream: "stdout",
            allowed: 64 << 10
        })
    );
    // Exactly the cap is fine.
    let out = p.run(&["flood", "65536"]).unwrap();
    assert_eq!(out.stdout.len(), 65536);
}

#[test]
fn granting_a_missing_directory_is_an_error() {
    let err = Plugin::builder(&engine())
        .sandbox(Sandbox::new().ro_dir("/definitely/not/here", "/x"))
        .from_file(rust_guest("probe"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Io);
    assert!(
        format!("{err:#}").contains("`/definitely/not/here`"),
        "{err}"
    );
}

#[test]
fn deterministic_clocks_and_random() {
    let sandbox = Sandbox::new().deterministic(true);
    let a = probe(sandbox.clone()).run(&["args", "x"]).unwrap();
    let b = probe(sandbox).run(&["args", "x"]).unwrap();
    assert_eq!(
        a,
        RunOutput {
            stats: a.stats,
            ..b
        }
    );
}
