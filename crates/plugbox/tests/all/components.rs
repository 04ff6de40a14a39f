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

#[tokio::test]
async fn components_are_called_async() {
    let types = Plugin::from_file(&engine(), rust_component("types")).unwrap();
    assert_eq!(
        types
            .call_json_async(
                "plugbox:test/types#describe",
                &[
                    serde_json::json!({"x": 1, "y": 2, "label": "p"}),
                    serde_json::json!("green")
                ]
            )
            .await
            .unwrap()
            .len(),
        1
    );
    let sum: (u32,) = types
        .call_wit_async("plugbox:test/types#add", (2u32, 3u32))
        .await
        .unwrap();
    assert_eq!(sum, (5,));
    let echoed: (String,) = types
        .call_wit_async("plugbox:test/types#echo-string", ("hé".to_string(),))
        .await
        .unwrap();
    assert_eq!(echoed.0, "hé");
    // A typed call with the wrong types names both signatures.
    let err = types
        .call_wit_async::<(String,), (u32,)>("plugbox:test/types#add", ("x".into(),))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SignatureMismatch { found, .. } if found == "func(a: u32, b: u32) -> u32"),
        "{err:?}"
    );
    let greeter = Plugin::from_file(&engine(), rust_component("greeter")).unwrap();
    assert_eq!(
        greeter.handle_async("world").await.unwrap(),
        Ok("hello, world".to_string())
    );
    let mut inst = greeter.instantiate_async().await.unwrap();
    assert_eq!(
        inst.handle_async("async").await.unwrap(),
        Ok("hello, async".to_string())
    );
    // Typed calls of core modules point components elsewhere.
    let err = types.call_async::<(), ()>("count", ()).await.unwrap_err();
    assert!(format!("{err:#}").contains("call_wit"), "{err:#}");
}

#[test]
fn a_spinning_component_does_not_starve_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let spinner = Plugin::builder(&engine())
            .limits(Limits::new().timeout(Duration::from_secs(5)))
            .from_file(rust_component("misbehave"))
            .unwrap();
        let quick_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let spinning = {
            let quick_done = quick_done.clone();
            tokio::spawn(async move {
                let r = spinner.handle_async("spin").await;
                (r, quick_done.load(std::sync::atomic::Ordering::SeqCst))
            })
        };
        let quick = {
            let quick_done = quick_done.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                quick_done.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        quick.await.unwrap();
        let (result, quick_finished_first) = spinning.await.unwrap();
        assert!(
            quick_finished_first,
            "the quick task ran while the component spun"
        );
        assert_eq!(
            result.unwrap_err().kind(),
            &ErrorKind::Trap(TrapKind::Timeout)
        );
    });
}
