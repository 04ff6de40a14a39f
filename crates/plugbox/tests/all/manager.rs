//! PluginManager: names, modes, concurrency caps, reload, metrics.

use crate::support::{Gate, engine, fuel_engine, wat};
use plugbox::{ErrorKind, Limits, Mode, PluginManager, PluginSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn copy_to(dir: &Path, fixture: &str, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(wat(fixture), &path).unwrap();
    path
}

#[test]
fn manager_is_send_sync_and_shareable() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<PluginManager>();
}

#[test]
fn load_list_call_unload() {
    let m = PluginManager::new(&engine());
    m.load("adder", PluginSpec::new(wat("add.wat"))).unwrap();
    m.load("hostile", PluginSpec::new(wat("hostile.wat")))
        .unwrap();
    let names: Vec<_> = m.list().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["adder", "hostile"]);
    assert_eq!(
        m.call::<(i32, i32), i32>("adder", "add", (5, 3)).unwrap(),
        8
    );
    assert_eq!(
        m.call_json(
            "adder",
            "add",
            &[serde_json::json!(1), serde_json::json!(2)]
        )
        .unwrap(),
        [serde_json::json!(3)]
    );
    let info = &m.list()[0];
    assert_eq!(
        (info.version, info.mode, info.sha256.len()),
        (1, Mode::Stateless, 64)
    );
    assert!(info.functions.contains(&"add".to_string()));

    let err = m
        .load("adder", PluginSpec::new(wat("add.wat")))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    m.unload("adder").unwrap();
    let err = m
        .call::<(i32, i32), i32>("adder", "add", (1, 1))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PluginNotFound("adder".into()));
    assert_eq!(
        m.unload("adder").unwrap_err().kind(),
        &ErrorKind::PluginNotFound("adder".into())
    );
}

#[test]
fn stateless_calls_share_nothing_and_stateful_calls_keep_state() {
    let m = crate::support::fresh_and_kept();
    for _ in 0..3 {
        assert_eq!(m.call::<(), i32>("fresh", "count", ()).unwrap(), 1);
    }
    let counts: Vec<i32> = (0..3)
        .map(|_| m.call::<(), i32>("kept", "count", ()).unwrap())
        .collect();
    assert_eq!(counts, [1, 2, 3]);
    // Concurrent calls on the stateful plugin are serialised: no count is lost.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                (0..25).for_each(|_| {
                    m.call::<(), i32>("kept", "count", ()).unwrap();
                })
            })
        })
        .collect();
    handles.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(m.call::<(), i32>("kept", "count", ()).unwrap(), 104);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stateful_call_dropped_mid_call_leaves_no_half_run_instance() {
    let m = crate::support::fresh_and_kept();
    for expected in [1, 2] {
        let n = m.call_async::<(), i32>("kept", "count", ()).await.unwrap();
        assert_eq!(n, expected);
    }
    // The guest spins until its future is dropped (the default timeout is
    // far longer than this wait).
    let spin = m.call_async::<(), ()>("kept", "spin", ());
    let dropped = tokio::time::timeout(Duration::from_millis(100), spin).await;
    assert!(dropped.is_err(), "the spin ended on its own: {dropped:?}");
    assert_eq!(m.metrics("kept").unwrap().in_flight, 0);
    // The instance the spin was running in is gone: the count starts over.
    let n = m.call_async::<(), i32>("kept", "count", ()).await.unwrap();
    assert_eq!(n, 1, "the next call got a fresh instance");
    assert_eq!(m.call::<(), i32>("kept", "count", ()).unwrap(), 2);
}

#[test]
fn a_full_plugin_waits_then_reports_busy() {
    // A stateful plugin's callers also wait for its one instance without
    // a concurrency cap.
    for (mode, cap) in [
        (Mode::Stateless, Some(1)),
        (Mode::Stateful, Some(1)),
        (Mode::Stateful, None),
    ] {
        let (gate, host) = Gate::new();
        let m = PluginManager::new(&engine()).with_host(host);
        let mut spec = PluginSpec::new(wat("gate.wat"))
            .mode(mode)
            .queue_timeout(Duration::from_millis(50));
        if let Some(cap) = cap {
            spec = spec.max_concurrency(cap);
        }
        m.load("one", spec).unwrap();
        let holder = {
            let m = m.clone();
            std::thread::spawn(move || m.call::<(), ()>("one", "wait", ()))
        };
        // The first call holds the only slot until the gate opens.
        gate.entered();
        assert_eq!(m.metrics("one").unwrap().in_flight, 1);
        let start = Instant::now();
        let err = m.call::<(), i32>("one", "ok", ()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Busy, "{mode:?} {cap:?}: {err:#}");
        assert!(
            format!("{err:#}").contains("queue timeout of 50ms"),
            "{err:#}"
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
        gate.open();
        holder.join().unwrap().unwrap();
        assert_eq!(
            m.call::<(), i32>("one", "ok", ()).unwrap(),
            7,
            "{mode:?} {cap:?}: free again"
        );
        assert_eq!(m.metrics("one").unwrap().in_flight, 0);
    }
}

/// A stateful plugin's kept instance gives every call its own timeout.
#[test]
fn a_stateful_instance_gets_a_fresh_timeout_per_call() {
    let m = PluginManager::new(&engine());
    let spec = PluginSpec::new(wat("hostile.wat"))
        .mode(Mode::Stateful)
        .limits(Limits::new().timeout(Duration::from_millis(60)));
    m.load("h", spec).unwrap();
    assert_eq!(m.call::<(), i32>("h", "count", ()).unwrap(), 1);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(
        m.call::<(), i32>("h", "count", ()).unwrap(),
        2,
        "not timed out at once"
    );
    let start = Instant::now();
    let err = m.call::<(), ()>("h", "spin", ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(plugbox::TrapKind::Timeout), "{err:#}");
    assert!(start.elapsed() >= Duration::from_millis(60));
    assert_eq!(
        m.call::<(), i32>("h", "count", ()).unwrap(),
        3,
        "state kept"
    );
}

#[test]
fn sha256_pin_is_enforced() {
    let bytes = std::fs::read(wat("add.wat")).unwrap();
    let good: String = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let m = PluginManager::new(&engine());
    m.load(
        "ok",
        PluginSpec::new(wat("add.wat")).sha256(good.to_uppercase()),
    )
    .unwrap();
    let bad = "0".repeat(64);
    let err = m
        .load("bad", PluginSpec::new(wat("add.wat")).sha256(bad.clone()))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Sha256Mismatch {
            expected: bad.clone(),
            found: good.clone()
        }
    );
    let msg = format!("{err:#}");
    assert!(msg.contains(&good) && msg.contains(&bad), "{msg}");
}

#[test]
fn reload_swaps_atomically_and_refuses_broken_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "counter_v1.wat", "counter.wat");
    let m = PluginManager::new(&engine());
    m.load("c", PluginSpec::new(&path)).unwrap();
    assert_eq!(m.call::<(), i32>("c", "version", ()).unwrap(), 1);
    assert!(!m.reload("c").unwrap(), "unchanged file: nothing to do");

    std::fs::copy(wat("counter_v2.wat"), &path).unwrap();
    assert!(m.reload("c").unwrap());
    assert_eq!(m.call::<(), i32>("c", "version", ()).unwrap(), 2);
    assert_eq!(m.list()[0].version, 2);

    std::fs::write(
        &path,
        "(module (func (export \"version\") (result i32) i64.const 3))",
    )
    .unwrap();
    let err = m.reload("c").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidModule(_)), "{err:?}");
    assert!(
        format!("{err:#}").contains("version 2 keeps serving"),
        "{err:#}"
    );
    assert_eq!(m.call::<(), i32>("c", "version", ()).unwrap(), 2);
    assert!(
        m.last_reload_error("c")
            .unwrap()
            .unwrap()
            .contains("type mismatch")
    );
    let metrics = m.metrics("c").unwrap();
    assert_eq!((metrics.reloads, metrics.reload_failures), (1, 1));

    std::fs::remove_file(&path).unwrap();
    assert_eq!(m.reload("c").unwrap_err().kind(), &ErrorKind::Io);
    assert_eq!(m.call::<(), i32>("c", "version", ()).unwrap(), 2);
}

#[test]
fn calls_in_flight_finish_on_the_old_version_during_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "counter_v1.wat", "counter.wat");
    let m = PluginManager::new(&engine());
    m.load("c", PluginSpec::new(&path)).unwrap();
    // A long call starts on version 1...
    let slow = {
        let m = m.clone();
        std::thread::spawn(move || m.call::<i64, i32>("c", "slow_version", 400_000_000))
    };
    let start = Instant::now();
    while m.metrics("c").unwrap().in_flight == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(1));
    }
    // ... while reloads flip versions under a hammer of concurrent calls.
    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..3)
        .map(|_| {
            let (m, stop) = (m.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    seen.push(
                        m.call::<(), i32>("c", "version", ())
                            .expect("no call fails during reloads"),
                    );
                }
                seen
            })
        })
        .collect();
    for i in 0..10 {
        let fixture = if i % 2 == 0 {
            "counter_v2.wat"
        } else {
            "counter_v1.wat"
        };
        std::fs::copy(wat(fixture), &path).unwrap();
        m.reload("c").unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Relaxed);
    for h in hammers {
        assert!(h.join().unwrap().iter().all(|v| *v == 1 || *v == 2));
    }
    assert_eq!(
        slow.join().unwrap().unwrap(),
        1,
        "the in-flight call finished on version 1"
    );
    assert_eq!(m.list()[0].version, 11);
}

#[test]
fn file_changes_are_picked_up_when_watching() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_to(dir.path(), "counter_v1.wat", "counter.wat");
    let m = PluginManager::new(&engine());
    m.load("c", PluginSpec::new(&path)).unwrap();
    m.watch().unwrap();
    std::fs::write(&path, std::fs::read(wat("counter_v2.wat")).unwrap()).unwrap();
    let start = Instant::now();
    while m.call::<(), i32>("c", "version", ()).unwrap() != 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the watcher reloaded the plugin"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A broken write is refused and reported; version 2 keeps serving.
    std::fs::write(&path, b"\x7fELF garbage").unwrap();
    let start = Instant::now();
    while m.metrics("c").unwrap().reload_failures == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the broken version was seen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(m.call::<(), i32>("c", "version", ()).unwrap(), 2);
    assert!(m.last_reload_error("c").unwrap().unwrap().contains("ELF"));
}

#[test]
fn metrics_count_calls_errors_fuel_time_and_memory() {
    let m = PluginManager::new(&fuel_engine());
    m.load(
        "h",
        PluginSpec::new(wat("hostile.wat")).limits(Limits::new().fuel(1_000_000)),
    )
    .unwrap();
    m.call::<i64, i64>("h", "work", 10).unwrap();
    m.call::<(), i32>("h", "memory_bomb", ()).unwrap();
    let _ = m.call::<(), ()>("h", "spin", ());
    let _ = m.call::<(), ()>("h", "nope", ());
    let s = m.metrics("h").unwrap();
    assert_eq!(s.calls, 4);
    assert_eq!(s.errors.get("trap.out_of_fuel"), Some(&1));
    assert_eq!(s.errors.get("export_not_found"), Some(&1));
    assert!(
        s.fuel_consumed >= 1_000_000,
        "failed calls count their fuel too: {}",
        s.fuel_consumed
    );
    assert!(
        s.memory_peak >= 64 << 20,
        "memory_bomb grew memory: {}",
        s.memory_peak
    );
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.duration_buckets.iter().sum::<u64>(), 4);
    let text = m.prometheus();
    assert!(
        text.contains("plugbox_calls_total{plugin=\"h\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("plugbox_errors_total{plugin=\"h\",kind=\"trap.out_of_fuel\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("plugbox_call_duration_seconds_count{plugin=\"h\"} 4"),
        "{text}"
    );
}
