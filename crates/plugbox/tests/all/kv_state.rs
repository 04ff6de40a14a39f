//! State outlives what it should: a plugin's reload (every backend), its
//! host's restart (embedded, Redis), a move from one backend to another;
//! and a backend that fails costs the guest a typed error within its
//! deadline, never the host.

use super::kv_contract::{embedded, memory, redis};
use crate::support::{engine, rust_component};
use plugbox::{
    ErrorKind, Kv, KvBackendKind, KvConfig, KvErrorKind, Limits, Manifest, Plugin, PluginManager,
};
use plugbox_test_support::{RedisDb, RedisServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A manager serving kvprobe (a copy, so it can be changed) as `p` with
/// `kv`.
fn manager(dir: &std::path::Path, kv: &str) -> PluginManager {
    let source = dir.join("kvprobe.wasm");
    if !source.exists() {
        std::fs::copy(rust_component("kvprobe"), &source).unwrap();
    }
    let text = format!("[kv]\n{kv}\n[plugins.p]\nsource = \"kvprobe.wasm\"\n");
    std::fs::write(dir.join("plugbox.toml"), text).unwrap();
    PluginManager::from_manifest(&Manifest::from_file(dir.join("plugbox.toml")).unwrap()).unwrap()
}

/// Changes the plugin's bytes (a custom section at the end) so that a
/// reload loads a new version.
fn touch(dir: &std::path::Path, n: u8) {
    let path = dir.join("kvprobe.wasm");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0, 3, 1, b'v', n]);
    std::fs::write(&path, bytes).unwrap();
}

#[test]
fn state_survives_a_reload_on_every_backend() {
    for b in [memory(), embedded(), redis()] {
        let dir = tempfile::tempdir().unwrap();
        let kv = match &b.config.get_backend() {
            KvBackendKind::Memory => "backend = \"memory\"".to_string(),
            KvBackendKind::Embedded => {
                format!("path = \"{}\"", b.config.get_path().unwrap().display())
            }
            KvBackendKind::Redis(url) => format!("backend = \"{url}\""),
        };
        let m = manager(dir.path(), &kv);
        assert_eq!(
            m.handle("p", "incr visits 1").unwrap(),
            Ok("1".into()),
            "{}",
            b.name
        );
        touch(dir.path(), 1);
        assert!(m.reload("p").unwrap(), "{}: a new version", b.name);
        assert_eq!(m.list()[0].version, 2);
        assert_eq!(
            m.handle("p", "incr visits 1").unwrap(),
            Ok("2".into()),
            "{}",
            b.name
        );
    }
}

#[test]
fn state_survives_a_restart_with_embedded_and_redis() {
    for b in [embedded(), redis()] {
        let dir = tempfile::tempdir().unwrap();
        let kv = match &b.config.get_backend() {
            KvBackendKind::Redis(url) => format!("backend = \"{url}\""),
            _ => format!("path = \"{}\"", b.config.get_path().unwrap().display()),
        };
        let first = manager(dir.path(), &kv);
        assert_eq!(
            first.handle("p", "set greeting hi").unwrap(),
            Ok("ok".into())
        );
        drop(first);
        let second = manager(dir.path(), &kv);
        assert_eq!(
            second.handle("p", "get greeting").unwrap(),
            Ok("hi".into()),
            "{}",
            b.name
        );
        // The host sees the same state.
        let kv = second.plugin("p").unwrap().kv().clone();
        assert_eq!(kv.namespace(), "p");
        assert_eq!(kv.get("greeting").unwrap(), Some(b"hi".to_vec()));
    }
}

#[test]
fn tenants_and_namespaces_keep_plugins_apart() {
    let b = embedded();
    let path = b.config.get_path().unwrap();
    let load = |kv: KvConfig| {
        Plugin::builder(&engine())
            .name("p")
            .kv(kv.path(&path))
            .from_file(rust_component("kvprobe"))
            .unwrap()
    };
    let acme = load(KvConfig::new().tenant("acme"));
    let other = load(KvConfig::new().tenant("other"));
    let renamed = load(KvConfig::new().tenant("acme").namespace("q"));
    assert_eq!(acme.handle("set k acme").unwrap(), Ok("ok".into()));
    assert_eq!(other.handle("get k").unwrap(), Ok("-".into()));
    assert_eq!(renamed.handle("get k").unwrap(), Ok("-".into()));
    assert_eq!(
        load(KvConfig::new().tenant("acme"))
            .handle("get k")
            .unwrap(),
        Ok("acme".into())
    );
    assert_eq!(acme.kv().namespace(), "acme/p");
    assert_eq!(renamed.kv().namespace(), "acme/q");
}

/// kvprobe on the Redis at `url`, with a call timeout and an operation
/// timeout.
fn on_redis(url: &str, timeout: Option<Duration>, op: Duration) -> Plugin {
    Plugin::builder(&engine())
        .limits(Limits::new().timeout(timeout))
        .kv(KvConfig::new()
            .backend(KvBackendKind::Redis(url.into()))
            .op_timeout(op))
        .from_file(rust_component("kvprobe"))
        .unwrap()
}

/// Whether a guest's reply is kvprobe's typed "unavailable" error: the
/// guest got `error::unavailable` and returned it, so the kv wait ended
/// before the call's deadline (else the call would have been stopped, as a
/// timeout trap, and `handle` would have failed).
fn unavailable(reply: &plugbox::Result<Result<String, String>>) -> bool {
    matches!(reply, Ok(Err(e)) if e.starts_with("unavailable: "))
}

#[test]
fn redis_down_is_a_typed_error_to_the_guest_and_calls_recover_when_it_is_back() {
    let mut server = RedisServer::start();
    let p = on_redis(
        &server.url(),
        Some(Duration::from_secs(10)),
        Duration::from_secs(1),
    );
    assert_eq!(p.handle("set k before").unwrap(), Ok("ok".into()));
    server.stop();
    // The first write went to a connection that had just died: whether
    // Redis got it cannot be known (here it died with it)...
    let reply = p.handle("set k during");
    assert!(
        matches!(&reply, Ok(Err(e)) if e.starts_with("outcome-unknown: ")),
        "{reply:?}"
    );
    // ... the next finds Redis down before sending anything.
    let reply = p.handle("set k during");
    assert!(unavailable(&reply), "{reply:?}");
    // The host keeps serving: other plugins, and this one's other paths.
    let greeter = Plugin::from_file(&engine(), rust_component("greeter")).unwrap();
    assert_eq!(greeter.handle("world").unwrap(), Ok("hello, world".into()));
    let reply = p.handle("get k");
    assert!(unavailable(&reply), "{reply:?}");
    // The first version's `get` has no error to return: the call fails,
    // typed, naming the function, with the backend's error inside.
    let err = p.handle("legacy-get k").unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::HostFunction {
            name: "plugbox:plugin/kv#get".into()
        }
    );
    let mut source = std::error::Error::source(&err);
    let mut inner = None;
    while let Some(s) = source {
        match s.downcast_ref::<plugbox::Error>() {
            Some(e) if matches!(e.kind(), ErrorKind::Kv(_)) => inner = Some(e.kind().clone()),
            _ => {}
        }
        source = s.source();
    }
    assert_eq!(
        inner,
        Some(ErrorKind::Kv(KvErrorKind::Unavailable)),
        "{err:#}"
    );
    // The host's own view fails the same typed way.
    assert_eq!(
        p.kv().get("k").unwrap_err().kind(),
        &ErrorKind::Kv(KvErrorKind::Unavailable)
    );

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match p.handle("set k after").unwrap() {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(p.handle("get k").unwrap(), Ok("after".into()));
}

/// What a call made while Redis comes and goes came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    Unavailable,
    Unknown,
}

#[test]
fn redis_stopped_and_restarted_under_calls_costs_only_typed_errors() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[kv]\nbackend = \"{}\"\nop-timeout = \"500ms\"\n\
         [plugins.p]\nsource = \"{}\"\n[plugins.p.limits]\ntimeout = \"10s\"\n\
         [plugins.g]\nsource = \"{}\"\n",
        server.url(),
        rust_component("kvprobe").display(),
        rust_component("greeter").display()
    );
    std::fs::write(dir.path().join("plugbox.toml"), manifest).unwrap();
    let m = PluginManager::from_manifest(
        &Manifest::from_file(dir.path().join("plugbox.toml")).unwrap(),
    )
    .unwrap();
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        // Three callers increment one counter without pause, through the
        // stop and the restart: every call either succeeds or gives the
        // guest its typed error; none fails the call or the host.
        for _ in 0..3 {
            let (tx, m, stop) = (tx.clone(), &m, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = m.handle("p", "incr hits 1");
                    let outcome = match &reply {
                        Ok(Ok(_)) => Outcome::Done,
                        _ if unavailable(&reply) => Outcome::Unavailable,
                        Ok(Err(e)) if e.starts_with("outcome-unknown: ") => Outcome::Unknown,
                        _ => panic!("neither a result nor a typed kv error: {reply:?}"),
                    };
                    if tx.send(outcome).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let wait_for = |want: Outcome| loop {
            let got = rx
                .recv_timeout(Duration::from_secs(120))
                .expect("the callers keep calling");
            if got == want {
                break;
            }
        };
        wait_for(Outcome::Done);
        server.stop();
        wait_for(Outcome::Unavailable);
        // The host keeps serving its other plugins meanwhile.
        assert_eq!(m.handle("g", "world").unwrap(), Ok("hello, world".into()));
        server.restart();
        wait_for(Outcome::Done);
        stop.store(true, Ordering::Relaxed);
        rx.iter().for_each(drop);
    });
    // The restarted server started empty: the counter it holds was written
    // by calls made after the restart.
    let hits = m.handle("p", "get hits").unwrap().unwrap();
    assert!(hits.parse::<u64>().unwrap() >= 1, "{hits}");
    let kv = m.plugin("p").unwrap().kv().clone();
    assert_eq!(kv.get("hits").unwrap(), Some(hits.into_bytes()));
}

#[test]
fn a_stuck_redis_is_a_typed_error_before_the_call_deadline() {
    let server = RedisServer::start();
    // The operation timeout is longer than the call: the call's deadline
    // bounds the wait, with time left for the guest to return its error.
    let p = on_redis(
        &server.url(),
        Some(Duration::from_secs(3)),
        Duration::from_secs(3600),
    );
    assert_eq!(p.handle("set k v").unwrap(), Ok("ok".into()));
    server.pause();
    let reply = p.handle("get k");
    server.resume();
    assert!(unavailable(&reply), "{reply:?}");
    // With no call deadline at all, the operation timeout alone ends the
    // wait.
    let p = on_redis(&server.url(), None, Duration::from_millis(200));
    server.pause();
    let reply = p.handle("incr n 1");
    server.resume();
    assert!(unavailable(&reply), "{reply:?}");
    // Thawed, it answers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.handle("get k").unwrap() != Ok("v".into()) {
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_write_redis_gets_after_its_deadline_is_never_applied() {
    let server = RedisServer::start();
    let p = on_redis(&server.url(), None, Duration::from_millis(300));
    // A long-running host: connected, with a recent reading of Redis's
    // clock from its last write.
    assert_eq!(p.handle("set warm 1").unwrap(), Ok("ok".into()));
    server.pause();
    let failed: Vec<String> = (0..3)
        .map(|_| p.handle("incr n 1").unwrap().unwrap_err())
        .collect();
    server.resume();
    // The first increment was sent and its answer never came: applied
    // before its deadline or never, which the guest cannot know.
    assert!(failed[0].starts_with("outcome-unknown: "), "{failed:?}");
    // After a failure the host reads Redis's clock before the next write,
    // and that read got no answer: those increments were never sent.
    for e in &failed[1..] {
        assert!(e.starts_with("unavailable: "), "{failed:?}");
    }
    // Thawed, Redis runs the increment it held, finds its deadline
    // passed, and changes nothing: one good increment makes 1, not 2.
    assert_eq!(p.handle("incr n 1").unwrap(), Ok("1".into()));
    assert_eq!(p.handle("get n").unwrap(), Ok("1".into()));
    // Every kind of write is fenced; the host's own calls are told the same.
    let kv = p.kv().clone();
    server.pause();
    let set = kv.set("n", "100").unwrap_err();
    let delete = kv.delete("n").unwrap_err();
    server.resume();
    assert_eq!(
        set.kind(),
        &ErrorKind::Kv(KvErrorKind::OutcomeUnknown),
        "{set:#}"
    );
    assert!(
        format!("{set:#}").contains("it was applied before then or never will be"),
        "{set:#}"
    );
    assert_eq!(
        delete.kind(),
        &ErrorKind::Kv(KvErrorKind::Unavailable),
        "{delete:#}"
    );
    assert_eq!(kv.get("n").unwrap(), Some(b"1".to_vec()));
    // A read leaves the host without a reading of Redis's clock (the last
    // write failed): a write now reads it, and carries the next one's.
    kv.set("warm", "2").unwrap();
    server.pause();
    let casw = kv.compare_and_swap("n", Some(b"1"), "7").unwrap_err();
    server.resume();
    assert_eq!(
        casw.kind(),
        &ErrorKind::Kv(KvErrorKind::OutcomeUnknown),
        "{casw:#}"
    );
    assert_eq!(kv.get("n").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        kv.set_many(vec![("m".into(), b"2".to_vec())])
            .map_err(|e| e.to_string()),
        Ok(())
    );
    server.pause();
    let many = kv.set_many(vec![("m".into(), b"3".to_vec())]).unwrap_err();
    server.resume();
    assert_eq!(
        many.kind(),
        &ErrorKind::Kv(KvErrorKind::OutcomeUnknown),
        "{many:#}"
    );
    assert_eq!(kv.get("m").unwrap(), Some(b"2".to_vec()));
    assert_eq!(kv.usage().unwrap().keys, 3, "warm, n and m");
}

#[test]
fn moving_from_embedded_to_redis_keeps_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let open = |config: &KvConfig, ns: &str| {
        Kv::new(plugbox::kv::open_backend(config).unwrap(), ns, config).unwrap()
    };
    let embedded = KvConfig::new().path(dir.path().join("kv.sqlite3"));
    let from = open(&embedded, "acme/p");
    let numbers: Vec<u32> = (0..2500).collect();
    for chunk in numbers.chunks(500) {
        let entries = chunk
            .iter()
            .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
            .collect();
        from.set_many(entries).unwrap();
    }
    from.increment("visits", 41).unwrap();
    let db = RedisDb::new();
    let redis = KvConfig::new().backend(KvBackendKind::Redis(db.url()));
    let to = open(&redis, "acme/p");
    assert_eq!(from.copy_to(&to).unwrap(), 2501, "pages of 1000 keys");
    assert_eq!(to.usage().unwrap(), from.usage().unwrap());
    assert_eq!(to.keys().unwrap(), from.keys().unwrap());
    assert_eq!(to.get("k1234").unwrap(), Some(b"v1234".to_vec()));
    // The plugin, pointed at Redis, carries on where it left off.
    let m = manager(
        dir.path(),
        &format!("backend = \"{}\"\ntenant = \"acme\"", db.url()),
    );
    assert_eq!(m.handle("p", "incr visits 1").unwrap(), Ok("42".into()));
    // A store without room for it all refuses the copy, typed.
    let small = open(&KvConfig::new().max_keys(10), "acme/p");
    assert_eq!(
        from.copy_to(&small).unwrap_err().kind(),
        &ErrorKind::Kv(KvErrorKind::QuotaExceeded)
    );
}

#[test]
fn a_missing_data_directory_or_bad_url_is_refused_at_load() {
    let err = Plugin::builder(&engine())
        .kv(KvConfig::new().backend(KvBackendKind::Redis("redis://:secret@[nope".into())))
        .from_file(rust_component("kvprobe"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(!format!("{err:#}").contains("secret"), "{err:#}");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "not a database, just text that is long enough").unwrap();
    let err = Plugin::builder(&engine())
        .kv(KvConfig::new().path(file.path()))
        .from_file(rust_component("kvprobe"))
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Io, "{err:#}");
}
