//! Typed function handles: looked up and checked once, then called through
//! the same pipeline (limits, deadline, classification) as every call.

use crate::support::{engine, fuel_engine, plugin, wat};
use plugbox::{ErrorKind, Limits, Plugin, TrapKind};
use std::time::Duration;

#[test]
fn a_handle_calls_its_instance_and_keeps_its_state() {
    let mut inst = plugin("hostile.wat").instantiate().unwrap();
    let count = inst.func::<(), i32>("count").unwrap();
    let ok = inst.func::<(), i32>("ok").unwrap();
    assert_eq!(count.call(&mut inst, ()).unwrap(), 1);
    assert_eq!(ok.call(&mut inst, ()).unwrap(), 7);
    assert_eq!(count.clone().call(&mut inst, ()).unwrap(), 2);
    // By name and by handle reach the same instance.
    assert_eq!(inst.call::<(), i32>("count", ()).unwrap(), 3);
    assert!(format!("{count:?}").contains("count"));
}

#[test]
fn a_handle_of_another_instance_is_refused_by_name() {
    let p = plugin("hostile.wat");
    let mut a = p.instantiate().unwrap();
    let mut b = p.instantiate().unwrap();
    let count = a.func::<(), i32>("count").unwrap();
    let err = count.call(&mut b, ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidArgument);
    assert!(format!("{err:#}").contains("`count`"), "{err:#}");
    assert_eq!(
        count.call(&mut a, ()).unwrap(),
        1,
        "b's refusal left a alone"
    );
    assert_eq!(b.call::<(), i32>("count", ()).unwrap(), 1);
}

#[test]
fn a_handle_is_checked_once_when_made() {
    let mut inst = plugin("add.wat").instantiate().unwrap();
    let err = inst.func::<(i64, i64), i64>("add").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::SignatureMismatch { .. }),
        "{err:#}"
    );
    let err = inst.func::<(), ()>("nope").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ExportNotFound { .. }),
        "{err:#}"
    );
    let add = inst.func::<(i32, i32), i32>("add").unwrap();
    assert_eq!(add.call(&mut inst, (i32::MAX, 1)).unwrap(), i32::MIN);
}

#[test]
fn limits_hold_on_a_handle_call() {
    let p = Plugin::builder(&engine())
        .limits(Limits::new().timeout(Duration::from_millis(200)))
        .from_file(wat("hostile.wat"))
        .unwrap();
    let mut inst = p.instantiate().unwrap();
    let spin = inst.func::<(), ()>("spin").unwrap();
    let err = spin.call(&mut inst, ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout), "{err:#}");
    let deep = inst.func::<i32, i32>("deep").unwrap();
    let err = deep.call(&mut inst, 1_000_000).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::StackOverflow), "{err:#}");
    let fueled = Plugin::builder(&fuel_engine())
        .limits(Limits::new().fuel(1_000_000))
        .from_file(wat("hostile.wat"))
        .unwrap();
    let mut inst = fueled.instantiate().unwrap();
    let work = inst.func::<i64, i64>("work").unwrap();
    work.call(&mut inst, 10).unwrap();
    assert!(inst.stats().fuel_consumed.unwrap() > 0);
    let err = work.call(&mut inst, 1 << 40).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::OutOfFuel), "{err:#}");
}

#[test]
fn a_handle_calls_on_the_async_path() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut inst = plugin("hostile.wat").instantiate_async().await.unwrap();
        let count = inst.func::<(), i32>("count").unwrap();
        assert_eq!(count.call_async(&mut inst, ()).await.unwrap(), 1);
        assert_eq!(count.call_async(&mut inst, ()).await.unwrap(), 2);
    });
}
