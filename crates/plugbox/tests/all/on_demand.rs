//! Code too large for a pool slot (Wasmtime's state of one instance over
//! 1 MiB): found out from the binary before compiling, its instances
//! allocated on demand on a pooled engine, stateless and stateful, under
//! the same limits, its compiled code cached like any other.

use crate::support::wat;
use plugbox::{
    Engine, EngineConfig, Limits, Mode, OptLevel, Plugin, PluginManager, PluginSpec, TrapKind,
};
use std::time::Duration;

#[test]
fn a_module_too_large_for_a_pool_slot_runs_on_demand_stateless_and_stateful() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig::new()
        .opt_level(OptLevel::None)
        .cache_dir(dir.path().join("cache"));
    let engine = Engine::new(&config).unwrap();
    assert!(engine.is_pooling());
    let source = dir.path().join("many.wat");
    std::fs::write(&source, plugbox_test_support::many_functions_wat(40_000)).unwrap();
    let p = Plugin::from_file(&engine, &source).unwrap();
    assert!(
        !p.is_pooled(),
        "1.28 MB of instance state does not fit a slot"
    );
    // Stateless: a fresh instance each call.
    assert_eq!(p.call::<(), i32>("f39999", ()).unwrap(), 39999);
    assert_eq!(p.call::<(), i32>("count", ()).unwrap(), 1);
    assert_eq!(p.call::<(), i32>("count", ()).unwrap(), 1);
    // Stateful: one instance whose state persists.
    let mut kept = p.instantiate().unwrap();
    assert_eq!(kept.call::<(), i32>("count", ()).unwrap(), 1);
    assert_eq!(kept.call::<(), i32>("count", ()).unwrap(), 2);
    // Deadlines hold on the on-demand engine (its epoch ticks too).
    let short = p
        .with_limits(Limits::new().timeout(Duration::from_millis(100)))
        .unwrap();
    assert!(!short.is_pooled());
    let err = short.call::<(), ()>("spin", ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
    // The manager's plugins, loaded from the cache the first load wrote.
    let entries = || {
        std::fs::read_dir(engine.cache_dir().unwrap())
            .unwrap()
            .count()
    };
    assert_eq!(entries(), 1);
    let m = PluginManager::new(&engine);
    m.load("fresh", PluginSpec::new(&source)).unwrap();
    m.load("kept", PluginSpec::new(&source).mode(Mode::Stateful))
        .unwrap();
    assert_eq!(entries(), 1, "loaded from the cache");
    for _ in 0..2 {
        assert_eq!(m.call::<(), i32>("fresh", "count", ()).unwrap(), 1);
    }
    assert_eq!(m.call::<(), i32>("kept", "count", ()).unwrap(), 1);
    assert_eq!(m.call::<(), i32>("kept", "count", ()).unwrap(), 2);
    assert_eq!(m.call::<(), i32>("kept", "f7", ()).unwrap(), 7);
    // A module that fits stays in the pool, on the same engine.
    let small = Plugin::from_file(&engine, wat("hostile.wat")).unwrap();
    assert!(small.is_pooled());
    assert_eq!(small.call::<(), i32>("ok", ()).unwrap(), 7);
}

#[test]
fn a_module_that_fits_a_slot_is_pooled_and_without_a_pool_nothing_is() {
    // 2 000 functions: 64 KB of instance state, well within a slot.
    let text = plugbox_test_support::many_functions_wat(2_000);
    let config = EngineConfig::new().opt_level(OptLevel::None);
    let pooled = Engine::new(&config).unwrap();
    let p = Plugin::from_bytes(&pooled, &text).unwrap();
    assert!(p.is_pooled());
    assert_eq!(p.call::<(), i32>("f1999", ()).unwrap(), 1999);
    let unpooled = Engine::new(&config.pooling(false)).unwrap();
    let p = Plugin::from_bytes(&unpooled, &text).unwrap();
    assert!(!p.is_pooled());
    assert_eq!(p.call::<(), i32>("count", ()).unwrap(), 1);
}
