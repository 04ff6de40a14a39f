//! Pool shards: instances made on several threads come from Wasmtime
//! engines of their own, one per thread in turn, and behave exactly as on
//! the engine's own pool — limits, deadlines, host functions, WASI,
//! components, the plugin world — with `pool-instances` split over the
//! shards and a full shard borrowing from the others.

use crate::support::{Gate, rust_component, rust_guest, wat};
use plugbox::{Engine, EngineConfig, ErrorKind, HostFunctions, Limits, Plugin, TrapKind};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Duration;

fn sharded(shards: u32) -> EngineConfig {
    EngineConfig::new().pooling(true).pool_shards(shards)
}

/// Starts `f` on a new thread on pool shard `k` of `engine`: threads take
/// shards in turn, so fresh threads are started until one is on `k`.
fn spawn_on_shard<'s, 'e: 's, T, F>(
    s: &'s Scope<'s, 'e>,
    engine: &'e Engine,
    k: usize,
    f: F,
) -> ScopedJoinHandle<'s, Option<T>>
where
    T: Send + 's,
    F: FnOnce() -> T + Send + Copy + 's,
{
    for _ in 0..256 {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = s.spawn(move || {
            let mine = engine.pool_shard_of_this_thread();
            tx.send(mine).unwrap();
            (mine == k).then(f)
        });
        if rx.recv().unwrap() == k {
            return thread;
        }
        assert!(thread.join().unwrap().is_none());
    }
    panic!("no new thread was given shard {k}");
}

/// Runs `f` on a thread on each of `engine`'s `shards` shards in turn.
fn on_every_shard<T: Send>(engine: &Engine, shards: usize, f: impl Fn() -> T + Sync) -> Vec<T> {
    let f = &f;
    std::thread::scope(|s| {
        (0..shards)
            .map(|k| {
                spawn_on_shard(s, engine, k, f)
                    .join()
                    .unwrap()
                    .expect("ran on its shard")
            })
            .collect()
    })
}

#[test]
fn stateless_calls_on_every_shard_behave_as_on_the_engine() {
    let engine = Engine::new(&sharded(3)).unwrap();
    assert_eq!(engine.pool_shards(), 3);
    let p = Plugin::builder(&engine)
        .limits(
            Limits::new()
                .max_memory(4 << 20)
                .timeout(Duration::from_millis(100)),
        )
        .from_file(wat("hostile.wat"))
        .unwrap();
    let calls = std::sync::atomic::AtomicU32::new(0);
    let calls = &*Box::leak(Box::new(calls));
    let host = HostFunctions::new().func("env", "gate", move |_c, (): ()| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    });
    let hosted = Plugin::builder(&engine)
        .host(host)
        .from_file(wat("gate.wat"))
        .unwrap();
    let results = on_every_shard(&engine, 3, || {
        let shard = engine.pool_shard_of_this_thread();
        // A fresh instance per call, the memory cap, the deadline (the
        // shard's epoch is ticked too) and a host function's linker.
        let counts = [(); 3].map(|()| p.call::<(), i32>("count", ()).unwrap());
        let pages = p.call::<(), i32>("memory_bomb", ()).unwrap();
        let spin = p.call::<(), ()>("spin", ()).unwrap_err();
        hosted.call::<(), ()>("wait", ()).unwrap();
        let ok = hosted.call::<(), i32>("ok", ()).unwrap();
        (shard, counts, pages, spin.trap_kind(), ok)
    });
    for (k, (shard, counts, pages, spin, ok)) in results.into_iter().enumerate() {
        assert_eq!(shard, k);
        assert_eq!(counts, [1, 1, 1], "shard {k}");
        assert_eq!(pages, 64, "4 MiB cap in pages, shard {k}");
        assert_eq!(spin, Some(TrapKind::Timeout), "shard {k}");
        assert_eq!(ok, 7, "shard {k}");
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 3);
    // A copy of the plugin with other limits runs on the shards too.
    let longer = p
        .with_limits(Limits::new().timeout(Duration::from_millis(20)))
        .unwrap();
    let kinds = on_every_shard(&engine, 3, || {
        longer.call::<(), ()>("spin", ()).unwrap_err().trap_kind()
    });
    assert_eq!(kinds, [Some(TrapKind::Timeout); 3]);
}

#[test]
fn fuel_wasi_and_components_on_every_shard() {
    let engine = Engine::new(&sharded(2).consume_fuel(true)).unwrap();
    let fuel = Plugin::builder(&engine)
        .limits(Limits::new().fuel(100_000))
        .from_file(wat("hostile.wat"))
        .unwrap();
    let p1 = Plugin::from_file(&engine, rust_guest("probe")).unwrap();
    let p2 = Plugin::from_file(&engine, rust_component("probe")).unwrap();
    let results = on_every_shard(&engine, 2, || {
        (
            fuel.call::<(), ()>("spin", ()).unwrap_err().trap_kind(),
            p1.run(&["sleep", "1"]).unwrap().stdout,
            p2.run(&["sleep", "1"]).unwrap().stdout,
        )
    });
    for (k, (spin, out1, out2)) in results.into_iter().enumerate() {
        assert_eq!(spin, Some(TrapKind::OutOfFuel), "shard {k}");
        assert_eq!(out1, b"slept 1 ms\n", "shard {k}");
        assert_eq!(out2, b"slept 1 ms\n", "shard {k}");
    }
}

/// Holds calls of `gate.wat`'s `wait` on threads of shard `k` until
/// `held` are in the gate, then checks that one more call or instance on
/// each shard is busy, and lets them through.
fn hold_on_shard(engine: &Engine, p: &Plugin, gate: &Gate, k: usize, held: usize) {
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..held)
            .map(|_| {
                let call = spawn_on_shard(s, engine, k, move || p.call::<(), ()>("wait", ()));
                gate.entered();
                call
            })
            .collect();
        for k in 0..engine.pool_shards() {
            let err = spawn_on_shard(s, engine, k, move || p.call::<(), i32>("ok", ()))
                .join()
                .unwrap()
                .unwrap()
                .unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Busy, "shard {k}: {err:#}");
            let err = spawn_on_shard(s, engine, k, move || p.instantiate().map(drop))
                .join()
                .unwrap()
                .unwrap()
                .unwrap_err();
            assert_eq!(err.kind(), &ErrorKind::Busy, "shard {k}: {err:#}");
        }
        for _ in 0..held {
            gate.open();
        }
        for call in calls {
            call.join().unwrap().unwrap().unwrap();
        }
    });
}

#[test]
fn pool_instances_is_split_over_the_shards_and_a_full_shard_borrows() {
    // 33 slots: shard 0 has 17, shard 1 has 16.
    let engine = Engine::new(&sharded(2).pool_instances(33)).unwrap();
    assert_eq!(engine.pool_shards(), 2);
    let (gate, host) = Gate::new();
    let p = Plugin::builder(&engine)
        .host(host)
        .from_file(wat("gate.wat"))
        .unwrap();
    // Shard 1's threads take its slots, then shard 0's; shard 0's threads
    // take theirs, then shard 1's. Never more than 33 in all.
    hold_on_shard(&engine, &p, &gate, 1, 33);
    hold_on_shard(&engine, &p, &gate, 0, 33);
    // A stateful instance borrows too: shard 1 full, it lives on shard 0.
    std::thread::scope(|s| {
        let calls: Vec<_> = (0..16)
            .map(|_| {
                let call = spawn_on_shard(s, &engine, 1, || p.call::<(), ()>("wait", ()));
                gate.entered();
                call
            })
            .collect();
        let placed = spawn_on_shard(s, &engine, 1, || {
            let inst = p.instantiate().unwrap();
            let placed = (
                engine.pool_shard_instances(0),
                engine.pool_shard_instances(1),
            );
            drop(inst);
            placed
        });
        assert_eq!(placed.join().unwrap().unwrap(), (1, 16));
        for _ in 0..16 {
            gate.open();
        }
        for call in calls {
            call.join().unwrap().unwrap().unwrap();
        }
    });
    let again = on_every_shard(&engine, 2, || p.call::<(), i32>("ok", ()).unwrap());
    assert_eq!(again, [7, 7]);
}

#[test]
fn stateful_instances_live_on_their_threads_shard() {
    let engine = Engine::new(&sharded(2)).unwrap();
    let p = Plugin::builder(&engine)
        .limits(Limits::new().timeout(Duration::from_millis(50)))
        .from_file(wat("hostile.wat"))
        .unwrap();
    let counts = on_every_shard(&engine, 2, || {
        let mut inst = p.instantiate().unwrap();
        // The kept instance's deadline holds on its shard too.
        let spin = inst.call::<(), ()>("spin", ()).unwrap_err();
        assert_eq!(spin.trap_kind(), Some(TrapKind::Timeout));
        let count = inst.func::<(), i32>("count").unwrap();
        let by_handle = [(); 3].map(|()| count.call(&mut inst, ()).unwrap());
        let by_name = inst.call::<(), i32>("count", ()).unwrap();
        let k = engine.pool_shard_of_this_thread();
        let placed = (
            engine.pool_shard_instances(k),
            engine.pool_shard_instances(1 - k),
        );
        (by_handle, by_name, placed)
    });
    assert_eq!(counts, [([1, 2, 3], 4, (1, 0)); 2]);
}

#[test]
fn components_calls_by_json_and_the_plugin_world_on_every_shard() {
    let engine = Engine::new(&sharded(3)).unwrap();
    let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = logs.clone();
    let greeter = Plugin::builder(&engine)
        .on_log(move |level, msg| sink.lock().unwrap().push(format!("{level}: {msg}")))
        .from_file(rust_component("greeter"))
        .unwrap();
    let transformer = Plugin::from_file(&engine, rust_component("transformer")).unwrap();
    let types = Plugin::from_file(&engine, rust_component("types")).unwrap();
    let results = on_every_shard(&engine, 3, || {
        let greeting = greeter.handle("world").unwrap().unwrap();
        // The key-value store is the plugin's, whichever shard runs it.
        let out = transformer.handle(r#"{"a": 1}"#).unwrap().unwrap();
        let seen = serde_json::from_str::<serde_json::Value>(&out).unwrap()["seen"].clone();
        let echo = types
            .call_json("plugbox:test/types#echo-string", &[serde_json::json!("hé")])
            .unwrap();
        (greeting, seen, echo)
    });
    for (k, (greeting, seen, echo)) in results.into_iter().enumerate() {
        assert_eq!(greeting, "hello, world", "shard {k}");
        assert_eq!(seen, k + 1, "shard {k}");
        assert_eq!(echo, [serde_json::json!("hé")], "shard {k}");
    }
    assert_eq!(logs.lock().unwrap().len(), 3);
}

#[test]
fn shards_keep_enough_slots_and_refuse_a_plugin_no_shard_can_hold() {
    // At least 16 slots a shard: 40 slots make 2 shards, not 8.
    let engine = Engine::new(&sharded(8).pool_instances(40)).unwrap();
    assert_eq!(engine.pool_shards(), 2);
    let engine = Engine::new(&sharded(8).pool_instances(15)).unwrap();
    assert_eq!(engine.pool_shards(), 1);
    // A component of several core instances cannot be held by 2 slots:
    // refused at load, saying what to change, not busy at every call.
    let engine = Engine::new(&sharded(1).pool_instances(2)).unwrap();
    let err = Plugin::from_file(&engine, rust_component("probe")).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    let msg = format!("{err:#}");
    assert!(
        msg.contains("core instances, more than the 2 slots of a pool shard"),
        "{msg}"
    );
    assert!(msg.contains("raise pool-instances"), "{msg}");
    // A module fits.
    let p = Plugin::from_file(&engine, wat("add.wat")).unwrap();
    assert_eq!(p.call::<(i32, i32), i32>("add", (2, 3)).unwrap(), 5);
}

#[test]
fn shards_need_the_pool_and_a_valid_count() {
    for bad in [0, plugbox::MAX_POOL_SHARDS + 1] {
        let err = Engine::new(&EngineConfig::new().pool_shards(bad)).unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Config);
        assert!(
            format!("{err:#}").contains(&format!("invalid pool-shards `{bad}`")),
            "{err:#}"
        );
    }
    // Without the pool there is one shard, whatever was asked.
    let engine = Engine::new(&EngineConfig::new().pooling(false).pool_shards(4)).unwrap();
    let p = Plugin::from_file(&engine, wat("add.wat")).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(engine.pool_shard_of_this_thread(), 0);
                assert_eq!(p.call::<(i32, i32), i32>("add", (2, 3)).unwrap(), 5);
            });
        }
    });
    assert_eq!(engine.pool_shards(), 1);
}

/// Set in the child process of
/// [`shards_whose_pools_cannot_be_reserved_fall_back_to_on_demand`].
const ADDRESS_LIMITED: &str = "PLUGBOX_TEST_ADDRESS_LIMITED";

#[test]
fn shards_whose_pools_cannot_be_reserved_fall_back_to_on_demand() {
    if std::env::var_os(ADDRESS_LIMITED).is_none() {
        // The address-space limit is process-wide: run this test alone in
        // a child process.
        let name = "shards::shards_whose_pools_cannot_be_reserved_fall_back_to_on_demand";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1", "--nocapture"])
            .env(ADDRESS_LIMITED, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
        return;
    }
    // Room for a few memories allocated on demand (4 GiB reserved each),
    // not for a pool of a thousand.
    limit_address_space(64 << 30);
    let engine = Engine::new(&sharded(2)).unwrap();
    assert!(!engine.is_pooling());
    assert!(engine.notice().unwrap().contains("allocated on demand"));
    assert_eq!(engine.pool_shards(), 1);
    let p = Plugin::from_file(&engine, wat("hostile.wat")).unwrap();
    let results = std::thread::scope(|s| {
        let calls: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    (
                        p.call::<(), i32>("ok", ()).unwrap(),
                        p.call::<(), i32>("count", ()).unwrap(),
                    )
                })
            })
            .collect();
        calls
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    assert_eq!(results, [(7, 1), (7, 1)]);
}

/// Limits this process's address space to what it maps now plus `room`.
fn limit_address_space(room: u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize in /proc/self/status");
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` and `setrlimit` only write and read `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_AS, &mut limit), 0);
        limit.rlim_cur = (kib * 1024 + room).min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_AS, &limit), 0);
    }
}
