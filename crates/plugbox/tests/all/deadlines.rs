//! Deadlines bound the whole call, host calls included: WASI sleeps and
//! `poll_oneoff`, blocking stdin reads, atomic waits, async host functions
//! — through the synchronous and the async API, stateless and stateful,
//! with WAT and with Rust wasip1 and wasip2 guests. A cancel ends them too.
//!
//! The bounds are generous (machines are shared): each test shows the call
//! ends at its deadline instead of when the guest would have finished.

use crate::support::{engine, rust_component, rust_guest, wat};
use plugbox::{
    Engine, EngineConfig, ErrorKind, HostFunctions, Limits, Plugin, PluginManager, PluginSpec,
    Sandbox, Stdin, TrapKind, WasmFeature,
};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_millis(300);
/// Scheduling slack on a loaded machine; a stuck call would take seconds
/// to hours.
const SLACK: Duration = Duration::from_millis(1500);
const TEN_SECONDS_NS: i64 = 10_000_000_000;

fn blocking(limits: Limits) -> Plugin {
    Plugin::builder(&engine())
        .limits(limits)
        .from_file(wat("blocking.wat"))
        .unwrap()
}

/// Runs `f`, asserts it failed with `kind` no earlier than `at` and not
/// much later.
#[track_caller]
fn ends_at<T: std::fmt::Debug>(
    at: Duration,
    kind: TrapKind,
    f: impl FnOnce() -> plugbox::Result<T>,
) {
    let start = Instant::now();
    let err = f().unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), &ErrorKind::Trap(kind), "{err:#}");
    assert!(took >= at, "ended after {took:?}, before {at:?}");
    assert!(took < at + SLACK, "ended after {took:?}, long after {at:?}");
}

#[test]
fn a_wasi_sleep_ends_at_the_deadline() {
    let p = blocking(Limits::new().timeout(DEADLINE));
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<i64, i32>("sleep", TEN_SECONDS_NS)
    });
    // A stateful instance, and it keeps serving after the timeout.
    let mut inst = p.instantiate().unwrap();
    ends_at(DEADLINE, TrapKind::Timeout, || {
        inst.call::<i64, i32>("sleep", TEN_SECONDS_NS)
    });
    assert_eq!(inst.call::<i64, i32>("sleep", 1_000).unwrap(), 0);
    // A WASI command whose `_start` sleeps for an hour.
    ends_at(DEADLINE, TrapKind::Timeout, || p.run(&[] as &[&str]));
}

#[tokio::test]
async fn a_wasi_sleep_ends_at_the_deadline_on_the_async_path() {
    let p = blocking(Limits::new().timeout(DEADLINE));
    let start = Instant::now();
    let err = p
        .call_async::<i64, i32>("sleep", TEN_SECONDS_NS)
        .await
        .unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout));
    assert!(start.elapsed() < DEADLINE + SLACK, "{:?}", start.elapsed());
    let m = PluginManager::new(&engine());
    m.load(
        "b",
        PluginSpec::new(wat("blocking.wat")).limits(Limits::new().timeout(DEADLINE)),
    )
    .unwrap();
    let start = Instant::now();
    let err = m
        .call_json_async("b", "sleep", &[serde_json::json!(TEN_SECONDS_NS)])
        .await
        .unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout));
    assert!(start.elapsed() < DEADLINE + SLACK, "{:?}", start.elapsed());
}

#[test]
fn rust_guests_sleeping_in_std_end_at_the_deadline() {
    for probe in [rust_guest("probe"), rust_component("probe")] {
        let p = Plugin::builder(&engine())
            .limits(Limits::new().timeout(DEADLINE))
            .from_file(&probe)
            .unwrap();
        ends_at(DEADLINE, TrapKind::Timeout, || p.run(&["sleep", "10000"]));
        // A short sleep finishes normally.
        assert_eq!(p.run(&["sleep", "1"]).unwrap().stdout, b"slept 1 ms\n");
    }
}

#[test]
fn the_default_timeout_holds_in_host_calls_too() {
    // The engine's default timeout (30 s unless configured) applies to a
    // plugin that sets none: configured short here rather than waited for.
    let engine = Engine::new(&EngineConfig::new().default_timeout(DEADLINE)).unwrap();
    let p = Plugin::from_file(&engine, wat("blocking.wat")).unwrap();
    assert_eq!(p.limits().get_timeout(), Some(DEADLINE));
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<i64, i32>("sleep", TEN_SECONDS_NS)
    });
    // A plugin's own timeout wins over the engine's default.
    let own = Plugin::builder(&engine)
        .limits(Limits::new().timeout(Duration::from_secs(60)))
        .from_file(wat("blocking.wat"))
        .unwrap();
    assert_eq!(own.limits().get_timeout(), Some(Duration::from_secs(60)));
    assert_eq!(
        Plugin::from_file(&crate::support::engine(), wat("blocking.wat"))
            .unwrap()
            .limits()
            .get_timeout(),
        Some(plugbox::DEFAULT_TIMEOUT)
    );
}

#[test]
fn a_cancel_ends_a_host_call() {
    let long = Limits::new().timeout(Duration::from_secs(60));
    // A WASI sleep.
    let mut inst = blocking(long.clone()).instantiate().unwrap();
    let canceller = cancel_after(DEADLINE, inst.cancel_handle().unwrap());
    ends_at(DEADLINE, TrapKind::Cancelled, || {
        inst.call::<i64, i32>("sleep", TEN_SECONDS_NS)
    });
    canceller.join().unwrap();
    // An atomic wait.
    let threads = Engine::new(&EngineConfig::new().feature(WasmFeature::Threads, true)).unwrap();
    let p = Plugin::builder(&threads)
        .limits(long.clone())
        .from_file(wat("atomic_wait.wat"))
        .unwrap();
    let mut inst = p.instantiate().unwrap();
    let canceller = cancel_after(DEADLINE, inst.cancel_handle().unwrap());
    ends_at(DEADLINE, TrapKind::Cancelled, || {
        inst.call::<(), i32>("wait", ())
    });
    canceller.join().unwrap();
    // An async host function that never answers.
    let p = Plugin::builder(&engine())
        .host(never_answers())
        .limits(long)
        .from_file(wat("host_async.wat"))
        .unwrap();
    let mut inst = p.instantiate().unwrap();
    let canceller = cancel_after(DEADLINE, inst.cancel_handle().unwrap());
    ends_at(DEADLINE, TrapKind::Cancelled, || {
        inst.call::<i32, i32>("fetch_twice", 1)
    });
    canceller.join().unwrap();
}

#[test]
fn an_atomic_wait_ends_at_the_deadline() {
    let engine = Engine::new(&EngineConfig::new().feature(WasmFeature::Threads, true)).unwrap();
    let p = Plugin::builder(&engine)
        .limits(Limits::new().timeout(DEADLINE))
        .from_file(wat("atomic_wait.wat"))
        .unwrap();
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<(), i32>("wait", ())
    });
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<(), i32>("wait64", ())
    });
    // Bounded waits keep their meaning: a finite wait times out (2), a
    // mismatched value returns at once (1).
    let start = Instant::now();
    assert_eq!(p.call::<i64, i32>("wait_ms", 50).unwrap(), 2);
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(p.call::<(), i32>("not_equal", ()).unwrap(), 1);
    // The same holds for an artifact compiled ahead of time.
    let wasm = plugbox::Wasm::from_file(&engine, wat("atomic_wait.wat")).unwrap();
    let cwasm = plugbox::precompile(&engine, &wasm).unwrap();
    let p = Plugin::builder(&engine)
        .allow_precompiled(true)
        .limits(Limits::new().timeout(DEADLINE))
        .from_bytes(cwasm)
        .unwrap();
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<(), i32>("wait", ())
    });
}

fn never_answers() -> HostFunctions {
    HostFunctions::new().func_async("env", "fetch", |_c, (_x,): (i32,)| {
        Box::pin(async { std::future::pending::<Result<i32, plugbox::BoxError>>().await })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_host_function_ends_at_the_deadline() {
    let p = Plugin::builder(&engine())
        .host(never_answers())
        .limits(Limits::new().timeout(DEADLINE))
        .from_file(wat("host_async.wat"))
        .unwrap();
    let start = Instant::now();
    let err = p
        .call_async::<i32, i32>("fetch_twice", 1)
        .await
        .unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout));
    assert!(start.elapsed() < DEADLINE + SLACK, "{:?}", start.elapsed());
    // From synchronous code on a thread of its own, too.
    let sync = std::thread::spawn(move || {
        let start = Instant::now();
        let err = p.call::<i32, i32>("fetch_twice", 1).unwrap_err();
        (err.trap_kind(), start.elapsed())
    })
    .join()
    .unwrap();
    assert_eq!(sync.0, Some(TrapKind::Timeout));
    assert!(sync.1 < DEADLINE + SLACK, "{:?}", sync.1);
}

#[test]
fn an_async_component_host_function_ends_at_the_deadline_or_a_cancel() {
    let host = HostFunctions::new()
        .component_func("", "add-one", |_c, (x,): (u32,)| Ok((x + 1,)))
        .component_func_async("my:host/math", "double", |_c, (_x,): (u32,)| {
            Box::pin(async { std::future::pending::<Result<(u32,), plugbox::BoxError>>().await })
        });
    let p = Plugin::builder(&engine())
        .host(host)
        .limits(Limits::new().timeout(DEADLINE))
        .from_file(wat("component_host.wat"))
        .unwrap();
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call_wit::<(u32,), (u32,)>("quadruple", (1,))
    });
    let p = p
        .with_limits(Limits::new().timeout(Duration::from_secs(60)))
        .unwrap();
    let mut inst = p.instantiate().unwrap();
    let canceller = cancel_after(DEADLINE, inst.cancel_handle().unwrap());
    ends_at(DEADLINE, TrapKind::Cancelled, || {
        inst.call_wit::<(u32,), (u32,)>("quadruple", (1,))
    });
    canceller.join().unwrap();
}

/// Cancels through `handle` after `delay`, from another thread.
fn cancel_after(delay: Duration, handle: plugbox::CancelHandle) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        handle.cancel();
    })
}

#[test]
fn a_blocked_stdin_read_ends_at_the_deadline() {
    // This test binary's stdin becomes a pipe nobody writes to (no other
    // test reads stdin).
    let mut fds = [0; 2];
    // SAFETY: plain POSIX calls on descriptors this test owns; fd 0 is
    // replaced for the rest of the process, which only this test uses.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        assert_eq!(libc::dup2(fds[0], 0), 0);
    }
    let p = blocking(Limits::new().timeout(DEADLINE));
    let p = p
        .with_sandbox(Sandbox::new().stdin(Stdin::Inherit))
        .unwrap();
    ends_at(DEADLINE, TrapKind::Timeout, || {
        p.call::<(), i32>("read_stdin", ())
    });
    for probe in [rust_guest("probe"), rust_component("probe")] {
        let p = Plugin::builder(&engine())
            .limits(Limits::new().timeout(DEADLINE))
            .sandbox(Sandbox::new().stdin(Stdin::Inherit))
            .from_file(&probe)
            .unwrap();
        ends_at(DEADLINE, TrapKind::Timeout, || p.run(&["stdin"]));
    }
    // A cancel ends the read too.
    let p = blocking(Limits::new().timeout(Duration::from_secs(60)))
        .with_sandbox(Sandbox::new().stdin(Stdin::Inherit))
        .unwrap();
    let mut inst = p.instantiate().unwrap();
    let canceller = cancel_after(DEADLINE, inst.cancel_handle().unwrap());
    ends_at(DEADLINE, TrapKind::Cancelled, || {
        inst.call::<(), i32>("read_stdin", ())
    });
    canceller.join().unwrap();
    // Keep the write end open until here: the reads above must block.
    // SAFETY: closing a descriptor this test opened.
    unsafe {
        libc::close(fds[1]);
    }
}
