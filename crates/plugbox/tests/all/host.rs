//! Host functions: typed closures, per-instance state, errors that name the
//! function, limits that hold across host calls, async host functions.

use crate::support::{engine, wat};
use plugbox::{ErrorKind, HostFunctions, Limits, Plugin, PluginManager, PluginSpec, TrapKind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn host(log: Arc<Mutex<Vec<String>>>) -> HostFunctions {
    HostFunctions::new()
        .state(|| 0i64)
        .func("env", "add_one", |_c, (x,): (i32,)| Ok(x + 1))
        .func("env", "tick", |c, (): ()| {
            let n = c.state::<i64>().ok_or("no state")?;
            *n += 1;
            Ok(*n)
        })
        .func(
            "env",
            "fail",
            |_c, (): ()| -> Result<(), plugbox::BoxError> { Err("the database is down".into()) },
        )
        .func("env", "slow", |_c, (): ()| {
            std::thread::sleep(Duration::from_millis(150));
            Ok(())
        })
        .func("env", "log", move |c, (ptr, len): (i32, i32)| {
            let text = c.read_string(ptr as u32, len as u32)?;
            log.lock().unwrap().push(format!("{}: {text}", c.plugin()));
            Ok(())
        })
}

fn plugin(limits: Limits) -> (Plugin, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let p = Plugin::builder(&engine())
        .name("hosted")
        .host(host(log.clone()))
        .limits(limits)
        .from_file(wat("host_sync.wat"))
        .unwrap();
    (p, log)
}

#[test]
fn typed_host_functions_with_state_and_memory() {
    let (p, log) = plugin(Limits::new());
    assert_eq!(p.call::<i32, i32>("plus_one", 41).unwrap(), 42);
    // State is per instance: each stateless call starts from zero.
    assert_eq!(p.call::<(), i64>("tick_twice", ()).unwrap(), 2);
    assert_eq!(p.call::<(), i64>("tick_twice", ()).unwrap(), 2);
    let mut inst = p.instantiate().unwrap();
    inst.call::<(), i64>("tick_twice", ()).unwrap();
    assert_eq!(inst.call::<(), i64>("tick_twice", ()).unwrap(), 4);
    p.call::<(), ()>("log", ()).unwrap();
    assert_eq!(log.lock().unwrap().as_slice(), ["hosted: hello host"]);
}

#[test]
fn host_function_error_names_the_function() {
    let (p, _) = plugin(Limits::new());
    let err = p.call::<(), ()>("fail", ()).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::HostFunction {
            name: "env::fail".into()
        }
    );
    assert!(
        format!("{err:#}").contains("host function `env::fail` failed: the database is down"),
        "{err:#}"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("replica {0} is down")]
struct ReplicaDown(u32);

#[test]
fn host_function_errors_stay_downcastable() {
    let host = HostFunctions::new().func(
        "env",
        "fail",
        |_c, (): ()| -> Result<(), plugbox::BoxError> { Err(Box::new(ReplicaDown(3))) },
    );
    let p = Plugin::builder(&engine())
        .host(
            host.func("env", "add_one", |_c, (x,): (i32,)| Ok(x))
                .func("env", "tick", |_c, (): ()| Ok(0i64))
                .func("env", "slow", |_c, (): ()| Ok(()))
                .func("env", "log", |_c, (_p, _l): (i32, i32)| Ok(())),
        )
        .from_file(wat("host_sync.wat"))
        .unwrap();
    let err = p.call::<(), ()>("fail", ()).unwrap_err();
    let down = err
        .find_source::<ReplicaDown>()
        .expect("the host's own error is a source");
    assert_eq!(down.0, 3);
    assert!(
        format!("{err:#}").ends_with("host function `env::fail` failed: replica 3 is down"),
        "{err:#}"
    );
}

#[test]
fn host_functions_cannot_outlive_the_deadline() {
    let (p, _) = plugin(Limits::new().timeout(Duration::from_millis(50)));
    let err = p.call::<(), ()>("slow_then_spin", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Timeout));
}

#[test]
fn missing_host_function_is_a_link_error() {
    let err = Plugin::from_file(&engine(), wat("host_sync.wat")).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Link { module, .. } if module == "env"),
        "{err:?}"
    );
    let wrong = HostFunctions::new().func("env", "add_one", |_c, (x,): (i64,)| Ok(x));
    let err = Plugin::builder(&engine())
        .host(wrong)
        .from_file(wat("host_sync.wat"))
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("expects (i32) -> i32 but the host provides (i64) -> i64"),
        "{err:#}"
    );
}

fn async_host() -> HostFunctions {
    HostFunctions::new().func_async("env", "fetch", |_c, (x,): (i32,)| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if x < 0 {
                Err("negative id".into())
            } else {
                Ok(x * 10)
            }
        })
    })
}

#[tokio::test]
async fn async_host_functions_need_async_calls() {
    let p = Plugin::builder(&engine())
        .host(async_host())
        .from_file(wat("host_async.wat"))
        .unwrap();
    assert_eq!(
        p.call_async::<i32, i32>("fetch_twice", 2).await.unwrap(),
        200
    );
    let err = p
        .call_async::<i32, i32>("fetch_twice", -1)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::HostFunction {
            name: "env::fetch".into()
        }
    );
    // A synchronous call would stall this current-thread runtime, which the
    // host function may need: refused as a call made the wrong way.
    let err = p.call::<i32, i32>("fetch_twice", 2).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::CallMode);
    assert!(format!("{err:#}").contains("*_async"), "{err:#}");
}

#[test]
fn async_host_functions_serve_sync_calls_off_a_runtime() {
    let p = Plugin::builder(&engine())
        .host(async_host())
        .from_file(wat("host_async.wat"))
        .unwrap();
    assert_eq!(p.call::<i32, i32>("fetch_twice", 2).unwrap(), 200);
    let mut inst = p.instantiate().unwrap();
    assert_eq!(inst.call::<i32, i32>("fetch_twice", 3).unwrap(), 300);
}

#[tokio::test]
async fn manager_passes_host_functions_and_async_calls() {
    let m = PluginManager::new(&engine()).with_host(async_host());
    m.load("a", PluginSpec::new(wat("host_async.wat"))).unwrap();
    let out = m
        .call_json_async("a", "fetch_twice", &[serde_json::json!(3)])
        .await
        .unwrap();
    assert_eq!(out, [serde_json::json!(300)]);
}

fn component_host(fail_double: bool) -> HostFunctions {
    HostFunctions::new()
        .state(|| 0u32)
        .component_func("", "add-one", |c, (x,): (u32,)| {
            *c.state::<u32>().ok_or("no state")? += 1;
            Ok((x + 1,))
        })
        .component_func("my:host/math", "double", move |_c, (x,): (u32,)| {
            if fail_double {
                Err("doubling is down".into())
            } else {
                Ok((x * 2,))
            }
        })
}

#[test]
fn components_import_typed_host_functions() {
    let p = Plugin::builder(&engine())
        .host(component_host(false))
        .from_file(wat("component_host.wat"))
        .unwrap();
    assert_eq!(
        p.call_json("plus", &[serde_json::json!(41)]).unwrap(),
        [serde_json::json!(42)]
    );
    assert_eq!(
        p.call_json("quadruple", &[serde_json::json!(3)]).unwrap(),
        [serde_json::json!(12)]
    );
    let err = Plugin::builder(&engine())
        .host(component_host(true))
        .from_file(wat("component_host.wat"))
        .unwrap();
    let err = err
        .call_json("quadruple", &[serde_json::json!(3)])
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::HostFunction {
            name: "my:host/math#double".into()
        }
    );
    assert!(format!("{err:#}").contains("doubling is down"), "{err:#}");
}

fn async_component_host() -> HostFunctions {
    HostFunctions::new()
        .state(|| 0u32)
        .component_func("", "add-one", |_c, (x,): (u32,)| Ok((x + 1,)))
        .component_func_async("my:host/math", "double", |mut c, (x,): (u32,)| {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                *c.state::<u32>().ok_or("no state")? += 1;
                if x > 1000 {
                    return Err("too big to double".into());
                }
                Ok((x * 2,))
            })
        })
}

#[tokio::test]
async fn components_import_async_host_functions() {
    let p = Plugin::builder(&engine())
        .host(async_component_host())
        .from_file(wat("component_host.wat"))
        .unwrap();
    assert_eq!(
        p.call_wit_async::<(u32,), (u32,)>("quadruple", (3,))
            .await
            .unwrap(),
        (12,)
    );
    let err = p
        .call_json_async("quadruple", &[serde_json::json!(5000)])
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::HostFunction {
            name: "my:host/math#double".into()
        }
    );
    assert!(format!("{err:#}").contains("too big to double"), "{err:#}");
    // From a plain thread, the synchronous API drives it too.
    let sync = std::thread::spawn(move || p.call_wit::<(u32,), (u32,)>("quadruple", (4,)))
        .join()
        .unwrap();
    assert_eq!(sync.unwrap(), (16,));
}

#[test]
fn component_missing_host_function_is_a_link_error() {
    let only_one = HostFunctions::new().component_func("", "add-one", |_c, (x,): (u32,)| Ok((x,)));
    let err = Plugin::builder(&engine())
        .host(only_one)
        .from_file(wat("component_host.wat"))
        .unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Link {
            module: "my:host/math".into(),
            name: "double".into()
        }
    );
    let err = Plugin::from_file(&engine(), wat("component_host.wat")).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Link { .. }), "{err:?}");
}
