//! State outlives what it should: a plugin's reload (every backend), its
//! host's restart (embedded, Redis); and a backend that fails costs the
//! guest a typed error within its deadline, never the host.

use super::kv_contract::{embedded, memory, redis};
use crate::support::{engine, rust_component};
use plugbox::{
    ErrorKind, KvBackendKind, KvConfig, KvErrorKind, Limits, Manifest, Plugin, PluginManager,
};
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

/// kvprobe on Redis `b`, with a call timeout and an operation timeout.
fn on_redis(url: &str, timeout: Duration, op: Duration) -> Plugin {
    Plugin::builder(&engine())
        .limits(Limits::new().timeout(timeout))
        .kv(KvConfig::new()
            .backend(KvBackendKind::Redis(url.into()))
            .op_timeout(op))
        .from_file(rust_component("kvprobe"))
        .unwrap()
}

#[test]
fn redis_down_is_a_typed_error_to_the_guest_and_calls_recover_when_it_is_back() {
    let mut b = redis();
    let server = b.redis.as_mut().unwrap();
    let p = on_redis(
        &server.url(),
        Duration::from_secs(10),
        Duration::from_secs(1),
    );
    assert_eq!(p.handle("set k before").unwrap(), Ok("ok".into()));
    server.stop();
    let start = Instant::now();
    let err = p.handle("set k during").unwrap().unwrap_err();
    assert!(err.starts_with("unavailable: "), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // The host keeps serving: other plugins, and this one's other paths.
    let greeter = Plugin::from_file(&engine(), rust_component("greeter")).unwrap();
    assert_eq!(greeter.handle("world").unwrap(), Ok("hello, world".into()));
    assert!(
        p.handle("get k")
            .unwrap()
            .unwrap_err()
            .starts_with("unavailable")
    );
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

#[test]
fn a_stuck_redis_is_a_typed_error_before_the_call_deadline() {
    let b = redis();
    let server = b.redis.as_ref().unwrap();
    // The operation timeout is longer than the call: the call's deadline
    // bounds the wait, with time left for the guest.
    let p = on_redis(
        &server.url(),
        Duration::from_millis(600),
        Duration::from_secs(30),
    );
    assert_eq!(p.handle("set k v").unwrap(), Ok("ok".into()));
    server.pause();
    let start = Instant::now();
    let reply = p.handle("get k");
    let took = start.elapsed();
    server.resume();
    let err = reply.unwrap().unwrap_err();
    assert!(err.starts_with("unavailable: "), "{err}");
    assert!(took >= Duration::from_millis(400), "{took:?}");
    // And a short operation timeout wins over a long call.
    let p = on_redis(
        &server.url(),
        Duration::from_secs(30),
        Duration::from_millis(200),
    );
    server.pause();
    let start = Instant::now();
    let reply = p.handle("incr n 1");
    let took = start.elapsed();
    server.resume();
    assert!(reply.unwrap().unwrap_err().starts_with("unavailable: "));
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Thawed, it answers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.handle("get k").unwrap() != Ok("v".into()) {
        assert!(Instant::now() < deadline, "never recovered");
        std::thread::sleep(Duration::from_millis(50));
    }
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
