//! Async execution: a long guest call never blocks the executor.

use crate::support::{engine, wat};
use plugbox::{ErrorKind, Limits, PluginManager, PluginSpec, TrapKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[test]
fn spinning_guest_does_not_starve_a_current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let m = PluginManager::new(&engine());
        m.load(
            "h",
            PluginSpec::new(wat("hostile.wat"))
                .limits(Limits::new().timeout(Duration::from_millis(800))),
        )
        .unwrap();
        let quick_done = Arc::new(AtomicBool::new(false));
        let spinning = {
            let (m, quick_done) = (m.clone(), quick_done.clone());
            tokio::spawn(async move {
                let r = m.call_json_async("h", "spin", &[]).await;
                (r, quick_done.load(Ordering::SeqCst))
            })
        };
        let quick = {
            let quick_done = quick_done.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                quick_done.store(true, Ordering::SeqCst);
            })
        };
        quick.await.unwrap();
        let (result, quick_finished_first) = spinning.await.unwrap();
        assert!(
            quick_finished_first,
            "the quick task completed while the guest was spinning"
        );
        assert_eq!(
            result.unwrap_err().kind(),
            &ErrorKind::Trap(TrapKind::Timeout)
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_in_both_modes() {
    let m = crate::support::fresh_and_kept();
    for _ in 0..2 {
        assert_eq!(
            m.call_json_async("fresh", "count", &[]).await.unwrap(),
            [serde_json::json!(1)]
        );
    }
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let m = m.clone();
        tasks.push(tokio::spawn(async move {
            m.call_json_async("kept", "count", &[]).await.unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        m.call_json_async("kept", "count", &[]).await.unwrap(),
        [serde_json::json!(9)]
    );
    assert_eq!(m.metrics("kept").unwrap().calls, 9);
}

#[tokio::test]
async fn wasi_modules_run_async_on_a_current_thread_runtime() {
    let p = plugbox::Plugin::from_file(&engine(), wat("hello_wasi.wat")).unwrap();
    let out = p.call_json_async("_start", &[]).await.unwrap();
    assert!(out.is_empty());
}

#[tokio::test]
async fn sync_wasi_calls_inside_a_runtime_never_panic() {
    let p = plugbox::Plugin::from_file(&engine(), wat("hello_wasi.wat")).unwrap();
    // WASI runs on plugbox's own runtime, so synchronous calls work on a
    // runtime thread too: stateless ones...
    assert_eq!(p.run(&[] as &[&str]).unwrap().stdout, b"hello from wasi\n");
    assert!(p.call_json("_start", &[]).unwrap().is_empty());
    // ... and those of a stateful instance.
    let mut inst = p.instantiate().unwrap();
    assert!(inst.call_json("_start", &[]).unwrap().is_empty());
    assert_eq!(inst.stdout(), b"hello from wasi\n");
}

#[tokio::test]
async fn every_call_style_has_an_async_twin() {
    use plugbox::Plugin;
    use plugbox::wasmtime::Val;
    let p = Plugin::from_file(&engine(), wat("add.wat")).unwrap();
    assert_eq!(
        p.call_async::<(i32, i32), i32>("add", (5, 3))
            .await
            .unwrap(),
        8
    );
    let out = p
        .call_values_async("add", &[Val::I32(5), Val::I32(3)])
        .await
        .unwrap();
    assert_eq!(out[0].i32(), Some(8));
    let (out, stats) = p
        .invoke_values_async("add", &[Val::I32(1), Val::I32(2)])
        .await
        .unwrap();
    assert_eq!((out[0].i32(), stats.attempts), (Some(3), 1));
    let out = p
        .call_json_async("add", &[serde_json::json!(2), serde_json::json!(2)])
        .await
        .unwrap();
    assert_eq!(out, [serde_json::json!(4)]);
    let mut inst = p.instantiate_async().await.unwrap();
    let out = inst
        .call_values_async("add", &[Val::I32(5), Val::I32(3)])
        .await
        .unwrap();
    assert_eq!(out[0].i32(), Some(8));
}
