//! Components: WASI preview 2 commands under the same sandbox and limits as
//! modules, and dynamic calls with JSON ↔ WIT values.

use crate::support::{engine, fuel_engine, rust_component, sandbox_layout};
use plugbox::{ErrorKind, Limit, Limits, Plugin, Sandbox, TrapKind};
use std::time::Duration;

fn probe(sandbox: Sandbox, limits: Limits) -> Plugin {
    Plugin::builder(&engine())
        .sandbox(sandbox)
        .limits(limits)
        .from_file(rust_component("probe"))
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn preview2_command_runs_with_args_env_and_exit_status() {
    let p = probe(Sandbox::new().env("MODE", "fast"), Limits::new());
    assert!(p.is_component());
    let out = p.run(&["args", "a", "b"]).unwrap();
    assert_eq!((out.exit_code, text(&out.stdout)), (0, "a b\n".into()));
    assert_eq!(text(&p.run(&["env", "MODE"]).unwrap().stdout), "fast\n");
    let out = p.run(&["env", "PATH"]).unwrap();
    assert_eq!(out.exit_code, 1, "not granted");
    assert_eq!(p.run(&["exit", "0"]).unwrap().exit_code, 0);
    // wasi:cli/exit carries success or failure: a non-zero status is 1.
    assert_eq!(p.run(&["exit", "7"]).unwrap().exit_code, 1);
}

#[test]
fn preview2_filesystem_is_deny_by_default() {
    let dir = sandbox_layout();
    let data = dir.path().join("data");
    let out = probe(Sandbox::new(), Limits::new())
        .run(&["read", "/etc/passwd"])
        .unwrap();
    assert_eq!(out.exit_code, 1);
    let p = probe(Sandbox::new().ro_dir(&data, "/data"), Limits::new());
    assert_eq!(
        text(&p.run(&["read", "/data/hello.txt"]).unwrap().stdout),
        "hi there"
    );
    assert_eq!(
        p.run(&["read", "/data/../secret.txt"]).unwrap().exit_code,
        1
    );
    assert_eq!(
        p.run(&["write", "/data/new.txt", "x"]).unwrap().exit_code,
        1
    );
    assert!(!data.join("new.txt").exists());
    let p = probe(Sandbox::new().rw_dir(&data, "/data"), Limits::new());
    assert_eq!(
        p.run(&["write", "/data/new.txt", "x"]).unwrap().exit_code,
        0
    );
    assert_eq!(std::fs::read_to_string(data.join("new.txt")).unwrap(), "x");
}

#[test]
fn network_is_denied_unless_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = probe(Sandbox::new(), Limits::new())
        .run(&["tcp", &addr])
        .unwrap();
    assert_eq!(out.exit_code, 1, "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).starts_with("denied:"),
        "{}",
        text(&out.stderr)
    );
    let out = probe(Sandbox::new().allow_network(true), Limits::new())
        .run(&["tcp", &addr])
        .unwrap();
    assert_eq!(out.exit_code, 0, "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("connected to 127.0.0.1:"));
}

#[test]
fn components_obey_the_same_limits() {
    let p = probe(
        Sandbox::new(),
        Limits::new().timeout(Duration::from_millis(50)),
    );
    assert_eq!(
        p.run(&["spin"]).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Timeout)
    );
    let p = Plugin::builder(&fuel_engine())
        .limits(Limits::new().fuel(2_000_000))
        .from_file(rust_component("probe"))
        .unwrap();
    assert_eq!(
        p.run(&["spin"]).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::OutOfFuel)
    );
    let p = probe(Sandbox::new(), Limits::new().max_memory(16 << 20));
    let err = p.run(&["alloc-bomb"]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ResourceLimit(Limit::Memory { .. })),
        "{err:?}"
    );
    let p = probe(Sandbox::new(), Limits::new().max_output(1000));
    let err = p.run(&["flood", "100000"]).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ResourceLimit(Limit::Output {
                stream: "stdout",
                ..
            })
        ),
        "{err:?}"
    );
    let p = probe(Sandbox::new(), Limits::new());
    assert_eq!(
        p.run(&["recurse", "100000000"]).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::StackOverflow)
    );
    assert_eq!(
        text(&p.run(&["args", "still", "fine"]).unwrap().stdout),
        "still fine\n"
    );
}
