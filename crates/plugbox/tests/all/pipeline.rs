//! The one call pipeline at its edges: one deadline for every retry, cancels
//! that come before the call, component instances that trapped, settings
//! that cannot work, and a deadline clock no embedder code can hold back.

use crate::support::{engine, fuel_engine, rust_component, wat};
use plugbox::{
    Engine, EngineConfig, ErrorKind, FuelRetry, HostFunctions, Limits, Mode, Plugin, PluginManager,
    PluginSpec, TrapKind,
};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(300);
/// Scheduling slack on a loaded machine.
const SLACK: Duration = Duration::from_millis(1500);

#[test]
fn retries_share_one_deadline() {
    // Each attempt runs out of fuel and the next gets twice as much: 40
    // attempts of a spin would take hours, each with its own deadline.
    let p = Plugin::builder(&fuel_engine())
        .limits(
            Limits::new()
                .timeout(DEADLINE)
                .fuel(1_000_000)
                .retry(FuelRetry {
                    max_attempts: 40,
                    factor: 2,
                    max_fuel: u64::MAX,
                }),
        )
        .from_file(wat("hostile.wat"))
        .unwrap();
    let start = Instant::now();
    let err = p.call::<(), ()>("spin", ()).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
    assert!(took < DEADLINE + SLACK, "all attempts took {took:?}");
    let stats = err.call_stats().unwrap();
    assert!(stats.attempts > 1, "retried before the deadline: {stats:?}");
    assert!(stats.duration < DEADLINE + SLACK, "{stats:?}");
}

#[test]
fn a_cancel_before_the_call_runs_no_guest_code() {
    let p = Plugin::from_file(&engine(), wat("hostile.wat")).unwrap();
    let mut inst = p.instantiate().unwrap();
    assert_eq!(inst.call::<(), i32>("count", ()).unwrap(), 1);
    inst.cancel_handle().unwrap().cancel();
    for _ in 0..2 {
        let err = inst.call::<(), i32>("count", ()).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Cancelled));
    }
}

#[test]
fn a_cancel_handle_needs_epoch_interruption() {
    let engine = Engine::new(&EngineConfig::new().epoch_interruption(false)).unwrap();
    let p = Plugin::builder(&engine)
        .limits(Limits::new().timeout(None))
        .from_file(wat("add.wat"))
        .unwrap();
    let err = p.instantiate().unwrap().cancel_handle().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("epoch interruption"), "{err}");
}

#[test]
fn a_component_that_trapped_is_not_called_again() {
    let p = Plugin::from_file(&engine(), rust_component("misbehave")).unwrap();
    let mut inst = p.instantiate().unwrap();
    assert_eq!(inst.handle("fine").unwrap(), Ok("fine".to_string()));
    let err = inst.handle("panic").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Unreachable));
    let err = inst.handle("fine").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Poisoned, "{err:#}");
    assert!(err.to_string().contains("misbehave"), "{err}");
    // The manager replaces a stateful instance that trapped.
    let m = PluginManager::new(&engine());
    m.load(
        "m",
        PluginSpec::new(rust_component("misbehave")).mode(Mode::Stateful),
    )
    .unwrap();
    assert_eq!(m.handle("m", "fine").unwrap(), Ok("fine".to_string()));
    let err = m.handle("m", "panic").unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Unreachable));
    assert_eq!(m.handle("m", "fine").unwrap(), Ok("fine".to_string()));
}

#[test]
fn a_zero_timeout_is_refused_naming_the_value() {
    let err = Plugin::builder(&engine())
        .limits(Limits::new().timeout(Duration::ZERO))
        .from_file(wat("add.wat"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("timeout `0s`"), "{err}");
    let err = Engine::new(&EngineConfig::new().default_timeout(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(err.to_string().contains("default-timeout `0s`"), "{err}");
}

#[test]
fn a_component_importing_unprovided_wasi_gets_a_link_error() {
    // plugbox links WASI preview 2 (cli, clocks, filesystem, io, random,
    // sockets, http); other WASI packages are missing imports, named.
    let component = r#"(component
        (import "wasi:nn/graph@0.2.0" (instance
            (export "load" (func))))
    )"#;
    let err = Plugin::from_bytes(&engine(), component.as_bytes())
        .and_then(|p| p.instantiate().map(drop))
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Link { .. }), "{err:#}");
    assert!(err.to_string().contains("wasi:nn/graph@0.2.0"), "{err}");
    // A wasi:http import of the wrong type is refused, naming it.
    let component = r#"(component
        (import "wasi:http/outgoing-handler@0.2.6" (instance
            (export "handle" (func))))
    )"#;
    let err = Plugin::from_bytes(&engine(), component.as_bytes())
        .and_then(|p| p.instantiate().map(drop))
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("wasi:http/outgoing-handler@0.2.6"), "{msg}");
    assert!(msg.contains("wrong type"), "{msg}");
}

#[test]
fn no_embedder_task_holds_back_a_deadline() {
    // The host function fills plugbox's I/O workers with tasks that block
    // their threads, then never answers: the deadline still fires, on time.
    let host = HostFunctions::new().func_async("env", "fetch", |_c, (_x,): (i32,)| {
        for _ in 0..4 {
            tokio::spawn(async { std::thread::sleep(Duration::from_secs(4)) });
        }
        Box::pin(async { std::future::pending::<Result<i32, plugbox::BoxError>>().await })
    });
    let p = Plugin::builder(&engine())
        .host(host)
        .limits(Limits::new().timeout(DEADLINE))
        .from_file(wat("host_async.wat"))
        .unwrap();
    let start = Instant::now();
    let err = p.call::<i32, i32>("fetch_twice", 1).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
    assert!(start.elapsed() < DEADLINE + SLACK, "{:?}", start.elapsed());
}

/// A stateless call's duration and its deadline start from one clock
/// reading: the reported duration covers the call, and a timed-out call
/// reports at least its timeout.
#[test]
fn stateless_stats_measure_the_whole_call() {
    let p = Plugin::builder(&engine())
        .limits(Limits::new().timeout(DEADLINE))
        .from_file(wat("hostile.wat"))
        .unwrap();
    let start = Instant::now();
    let (out, stats) = p
        .invoke_values("work", &[wasmtime::Val::I64(1_000_000)])
        .unwrap();
    let took = start.elapsed();
    assert!(out[0].unwrap_i64() > 0);
    assert!(stats.duration > Duration::ZERO, "{stats:?}");
    assert!(stats.duration <= took, "{stats:?} against {took:?}");
    let err = p.invoke_values("spin", &[]).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
    let stats = err.call_stats().unwrap();
    assert!(stats.duration >= DEADLINE, "{stats:?}");
    assert!(stats.duration < DEADLINE + SLACK, "{stats:?}");
}
