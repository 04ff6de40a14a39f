//! Per-call limits: each exceeded limit gives its precise error kind, and the
//! host serves the next call.

use crate::support::{engine, fuel_engine, thread_names, wat};
use plugbox::{Engine, EngineConfig, ErrorKind, FuelRetry, Limit, Limits, Plugin, TrapKind};
use std::time::{Duration, Instant};

fn hostile(engine: &Engine, limits: Limits) -> Plugin {
    Plugin::builder(engine)
        .limits(limits)
        .from_file(wat("hostile.wat"))
        .unwrap()
}

#[test]
fn defaults_have_a_timeout_and_a_memory_cap() {
    let l = Limits::default();
    assert_eq!(l.get_timeout(), Some(Duration::from_secs(30)));
    assert_eq!(l.get_max_memory(), Some(256 << 20));
    assert_eq!(l.get_fuel(), None);
}

#[test]
fn fuel_runs_out_and_consumption_is_reported() {
    let p = hostile(&fuel_engine(), Limits::new().fuel(10_000));
    let err = p.call::<(), ()>("spin", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::OutOfFuel));
    let failed = err
        .call_stats()
        .expect("a failed call reports what it used");
    assert_eq!((failed.fuel_consumed, failed.attempts), (Some(10_000), 1));
    let (_, stats) = p
        .invoke_values("work", &[plugbox::wasmtime::Val::I64(100)])
        .unwrap();
    let used = stats.fuel_consumed.expect("fuel is metered");
    assert!(used > 100 && used < 10_000, "{used}");
    // Same work, same fuel: metering is deterministic.
    let (_, again) = p
        .invoke_values("work", &[plugbox::wasmtime::Val::I64(100)])
        .unwrap();
    assert_eq!(again.fuel_consumed, Some(used));
}

#[test]
fn fuel_limit_needs_a_metering_engine() {
    let err = Plugin::builder(&engine())
        .limits(Limits::new().fuel(5))
        .from_file(wat("hostile.wat"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(format!("{err:#}").contains("consume_fuel"), "{err}");
}

#[test]
fn timeout_stops_an_infinite_loop() {
    let p = hostile(&engine(), Limits::new().timeout(Duration::from_millis(50)));
    let start = Instant::now();
    let err = p.call::<(), ()>("spin", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Timeout));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
}

/// A kept instance of a module that imports nothing starts its deadline at
/// the call's first epoch tick (no clock read for calls that end before
/// it): never early, also with a coarse tick, not late by more than about
/// a tick, and each call gets the whole timeout again.
#[test]
fn first_tick_deadlines_are_never_early_and_rearm_per_call() {
    for tick in [Duration::from_millis(2), Duration::from_millis(35)] {
        let engine = Engine::new(&EngineConfig::new().epoch_tick(tick)).unwrap();
        let timeout = Duration::from_millis(100);
        let p = hostile(&engine, Limits::new().timeout(timeout));
        let mut inst = p.instantiate().unwrap();
        let spin = inst.func::<(), ()>("spin").unwrap();
        for attempt in 0..2 {
            let start = Instant::now();
            let err = if attempt == 0 {
                inst.call::<(), ()>("spin", ()).unwrap_err()
            } else {
                spin.call(&mut inst, ()).unwrap_err()
            };
            let took = start.elapsed();
            assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
            assert!(took >= timeout, "tick {tick:?}: ended after {took:?}");
            // Generous for a shared machine; a deadline that drifted with
            // each tick's lateness or never fired would miss it.
            assert!(
                took < timeout * 2 + tick * 4 + Duration::from_secs(1),
                "tick {tick:?}: {took:?}"
            );
        }
        // Idle for longer than the timeout: the next call still has all of it.
        std::thread::sleep(timeout + timeout / 2);
        assert_eq!(inst.call::<(), i32>("ok", ()).unwrap(), 7);
        assert_eq!(inst.call::<i64, i64>("work", 1000).unwrap(), 1000);
    }
}

#[test]
fn timeouts_are_per_store_on_a_shared_engine() {
    let engine = engine();
    let short = hostile(&engine, Limits::new().timeout(Duration::from_millis(40)));
    let medium = hostile(&engine, Limits::new().timeout(Duration::from_millis(150)));
    let long = hostile(&engine, Limits::new().timeout(Duration::from_secs(60)));
    let spin = |p: Plugin| {
        std::thread::spawn(move || {
            let start = Instant::now();
            let err = p.call::<(), ()>("spin", ()).unwrap_err();
            (err.kind().clone(), start.elapsed())
        })
    };
    let a = spin(short.clone());
    let b = spin(medium.clone());
    // Long-running work that must finish although its neighbours time out.
    let c = std::thread::spawn(move || long.call::<i64, i64>("work", 300_000_000));
    let (ka, ta) = a.join().unwrap();
    let (kb, tb) = b.join().unwrap();
    assert_eq!(ka, ErrorKind::Trap(TrapKind::Timeout));
    assert_eq!(kb, ErrorKind::Trap(TrapKind::Timeout));
    assert!(ta >= Duration::from_millis(40), "{ta:?}");
    assert!(
        tb >= Duration::from_millis(150),
        "the medium call ended at {tb:?}, before its own deadline"
    );
    assert_eq!(c.join().unwrap().unwrap(), 300_000_000);
}

#[test]
fn ticker_thread_stops_when_the_engine_is_dropped() {
    let engine = Engine::new(&EngineConfig::default()).unwrap();
    let name = engine.ticker_thread_name();
    let p = hostile(&engine, Limits::new().timeout(Duration::from_secs(5)));
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
    // The thread names itself once it is scheduled: give it a moment.
    let start = Instant::now();
    while !thread_names().contains(&name) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ticker {name} runs"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(p);
    drop(engine);
    assert!(!thread_names().contains(&name), "ticker {name} is gone");
}

#[test]
fn cancel_handle_stops_a_call_from_another_thread() {
    let p = hostile(&engine(), Limits::new().timeout(Duration::from_secs(60)));
    let mut inst = p.instantiate().unwrap();
    let handle = inst.cancel_handle().unwrap();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        handle.cancel();
    });
    let start = Instant::now();
    let err = inst.call::<(), ()>("spin", ()).unwrap_err();
    canceller.join().unwrap();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Cancelled));
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "cancelled promptly, not by the timeout"
    );
    // The plugin itself keeps serving fresh instances.
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
}

#[test]
fn cancel_works_without_a_timeout() {
    let p = hostile(&engine(), Limits::new().timeout(None));
    let mut inst = p.instantiate().unwrap();
    let handle = inst.cancel_handle().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        handle.cancel();
    });
    let err = inst.call::<(), ()>("spin", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Cancelled));
}

#[test]
fn memory_growth_past_the_cap_returns_minus_one() {
    let p = hostile(&engine(), Limits::new().max_memory(1 << 20));
    assert_eq!(p.call::<i32, i32>("grow", 100).unwrap(), -1);
    // One page at a time, it stops at 16 pages (1 MiB).
    assert_eq!(p.call::<(), i32>("memory_bomb", ()).unwrap(), 16);
}

#[test]
fn memory_growth_past_the_cap_can_trap() {
    let p = hostile(
        &engine(),
        Limits::new().max_memory(1 << 20).trap_on_grow_failure(true),
    );
    let err = p.call::<i32, i32>("grow", 100).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ResourceLimit(Limit::Memory {
            requested: 101 * 65536,
            allowed: 1 << 20
        })
    );
    assert!(
        format!("{err:#}").contains("requested 6.3 MiB but at most 1 MiB"),
        "{err:#}"
    );
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
}

#[test]
fn table_growth_is_capped() {
    let p = hostile(&engine(), Limits::new().max_table_elements(100));
    assert_eq!(p.call::<i32, i32>("table_bomb", 1000).unwrap(), -1);
    assert_eq!(p.call::<i32, i32>("table_bomb", 50).unwrap(), 1);
    let p = hostile(
        &engine(),
        Limits::new()
            .max_table_elements(100)
            .trap_on_grow_failure(true),
    );
    let err = p.call::<i32, i32>("table_bomb", 1_000_000).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ResourceLimit(Limit::TableElements {
            requested: 1_000_001,
            allowed: 100
        })
    );
}

#[test]
fn instance_and_memory_counts_are_capped() {
    let p = hostile(&engine(), Limits::new().max_instances(0));
    let err = p.call::<(), i32>("ok", ()).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ResourceLimit(Limit::Count {
                what: "instances",
                allowed: 0
            })
        ),
        "{err:?}"
    );
    let p = Plugin::builder(&engine())
        .limits(Limits::new().max_instances(1))
        .from_file(wat("two_memories.wat"))
        .unwrap();
    let err = p.call::<(), i32>("ok", ()).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ResourceLimit(Limit::Count {
                what: "memories",
                allowed: 1
            })
        ),
        "{err:?}"
    );
}

#[test]
fn deep_recursion_overflows_the_configured_stack() {
    let engine = Engine::new(&EngineConfig::new().max_stack(64 << 10)).unwrap();
    let p = hostile(&engine, Limits::new());
    let err = p.call::<i32, i32>("deep", 0).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::StackOverflow));
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
}

#[test]
fn retry_escalates_fuel_until_the_call_fits() {
    let engine = fuel_engine();
    // ~700k fuel needed; 1000 -> 4000 -> ... -> 1_024_000 on the 6th attempt.
    let limits = Limits::new()
        .fuel(1_000)
        .retry(FuelRetry::new(8, 10_000_000));
    let p = hostile(&engine, limits);
    let (out, stats) = p
        .invoke_values("work", &[plugbox::wasmtime::Val::I64(100_000)])
        .unwrap();
    assert!(matches!(out[..], [plugbox::wasmtime::Val::I64(100_000)]));
    assert!(stats.attempts > 1, "{stats:?}");
    assert!(stats.fuel_consumed.unwrap() > 4_000);
}

#[test]
fn retry_is_bounded_by_attempts_and_ceiling() {
    let engine = fuel_engine();
    let p = hostile(
        &engine,
        Limits::new()
            .fuel(1_000)
            .retry(FuelRetry::new(3, 1_000_000_000)),
    );
    let err = p.call::<(), ()>("spin", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::OutOfFuel));
    assert!(format!("{err:#}").contains("after 3 attempts"), "{err}");
    // The ceiling stops escalation before the attempts run out.
    let p = hostile(
        &engine,
        Limits::new().fuel(1_000).retry(FuelRetry::new(50, 16_000)),
    );
    let err = p.call::<(), ()>("spin", ()).unwrap_err();
    assert!(
        format!("{err:#}").contains("after 3 attempts"),
        "1000, 4000, 16000: {err}"
    );
}

#[test]
fn invalid_retry_policy_is_a_config_error() {
    let bad = FuelRetry {
        max_attempts: 0,
        factor: 4,
        max_fuel: 10,
    };
    let err = Plugin::builder(&fuel_engine())
        .limits(Limits::new().fuel(1).retry(bad))
        .from_file(wat("hostile.wat"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
}
