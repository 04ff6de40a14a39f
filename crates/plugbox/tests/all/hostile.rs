//! Hostile guests, WAT and compiled: each is stopped with its exact error
//! kind, and the host serves a normal call right after.

use crate::support::{engine, fuel_engine, plugin, rust_guest, wat};
use plugbox::{Engine, EngineConfig, ErrorKind, Limit, Limits, Plugin, TrapKind};
use std::time::Duration;

fn probe(limits: Limits, engine: &Engine) -> Plugin {
    Plugin::builder(engine)
        .limits(limits)
        .from_file(rust_guest("probe"))
        .unwrap()
}

fn still_serves(p: &Plugin) {
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 7);
}

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let p = Plugin::builder(&fuel_engine())
        .limits(Limits::new().fuel(1_000_000))
        .from_file(wat("hostile.wat"))
        .unwrap();
    assert_eq!(
        p.call::<(), ()>("spin", ()).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::OutOfFuel)
    );
    still_serves(&p);
}

#[test]
fn infinite_loop_is_stopped_by_timeout() {
    let p = Plugin::builder(&engine())
        .limits(Limits::new().timeout(Duration::from_millis(30)))
        .from_file(wat("hostile.wat"))
        .unwrap();
    assert_eq!(
        p.call::<(), ()>("spin", ()).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Timeout)
    );
    still_serves(&p);
}

#[test]
fn memory_bomb_stops_at_the_default_cap() {
    let p = plugin("hostile.wat");
    assert_eq!(
        p.call::<(), i32>("memory_bomb", ()).unwrap(),
        4096,
        "256 MiB in pages"
    );
    still_serves(&p);
}

#[test]
fn table_bomb_is_refused() {
    let p = plugin("hostile.wat");
    assert_eq!(p.call::<i32, i32>("table_bomb", 100_000_000).unwrap(), -1);
    still_serves(&p);
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    let p = plugin("hostile.wat");
    assert_eq!(
        p.call::<i32, i32>("deep", 0).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::StackOverflow)
    );
    still_serves(&p);
}

#[test]
fn huge_initial_memory_is_refused() {
    let huge = ErrorKind::ResourceLimit(Limit::Memory {
        requested: 8192 * 65536,
        allowed: 256 << 20,
    });
    // Pooled (the default): it cannot fit a slot, refused at load.
    let err = Plugin::from_file(&engine(), wat("huge_data.wat")).unwrap_err();
    assert_eq!(err.kind(), &huge, "{err:#}");
    assert!(format!("{err:#}").contains("pool-max-memory"), "{err:#}");
    // Allocated on demand: refused by the limit at instantiation.
    let on_demand = Engine::new(&EngineConfig::new().pooling(false)).unwrap();
    let p = Plugin::from_file(&on_demand, wat("huge_data.wat")).unwrap();
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap_err().kind(), &huge);
    let roomy = p.with_limits(Limits::new().max_memory(1 << 30)).unwrap();
    assert_eq!(roomy.call::<(), i32>("ok", ()).unwrap(), 1);
    // A pool with larger slots takes it, under a larger limit.
    let big_slots = Engine::new(&EngineConfig::new().pool_max_memory(1 << 30)).unwrap();
    let p = Plugin::builder(&big_slots)
        .limits(Limits::new().max_memory(1 << 30))
        .from_file(wat("huge_data.wat"))
        .unwrap();
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 1);
}

#[test]
fn compiled_alloc_bomb_hits_the_memory_limit() {
    let p = probe(Limits::new().max_memory(32 << 20), &engine());
    let err = p.run(&["alloc-bomb"]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ResourceLimit(Limit::Memory { allowed, .. }) if *allowed == 32 << 20),
        "{err:?}"
    );
    assert_eq!(p.run(&["args", "ok"]).unwrap().stdout, b"ok\n");
}

#[test]
fn compiled_deep_recursion_overflows_the_stack() {
    let p = probe(Limits::new(), &engine());
    let err = p.run(&["recurse", "100000000"]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Trap(TrapKind::StackOverflow),
        "{err:?}"
    );
    assert_eq!(p.run(&["recurse", "100"]).unwrap().stdout, b"100\n");
}

#[test]
fn compiled_spin_is_stopped_by_timeout_and_fuel() {
    let p = probe(Limits::new().timeout(Duration::from_millis(50)), &engine());
    assert_eq!(
        p.run(&["spin"]).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Timeout)
    );
    let p = probe(Limits::new().fuel(5_000_000), &fuel_engine());
    assert_eq!(
        p.run(&["spin"]).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::OutOfFuel)
    );
    assert_eq!(p.run(&["exit", "3"]).unwrap().exit_code, 3);
}

#[test]
fn compiled_panic_is_a_trap() {
    let p = probe(Limits::new(), &engine());
    let err = p.run(&["panic"]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Trap(TrapKind::Unreachable),
        "{err:?}"
    );
}

#[test]
fn traps_in_start_unreachable_and_divide_by_zero() {
    let err = plugin("start_trap.wat")
        .call::<(), i32>("ok", ())
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Unreachable));
    let p = plugin("traps.wat");
    assert_eq!(
        p.call::<(), ()>("unreachable", ()).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::Unreachable)
    );
    assert_eq!(
        p.call::<i32, i32>("div_by_zero", 0).unwrap_err().kind(),
        &ErrorKind::Trap(TrapKind::IntegerDivisionByZero)
    );
    assert_eq!(p.call::<(), i32>("ok", ()).unwrap(), 1);
}
