//! Every manifest key takes effect when a `PluginManager` loads the
//! manifest: one check per key, and a check that no key of the README's
//! table of settings (itself tested against the schema) is missing here.

use crate::support::{Gate, rust_component, rust_guest, wat};
use plugbox::{
    ErrorKind, InvalidReason, Limit, Manifest, PluginManager, PrecompiledReason, TrapKind,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `body` as `plugbox.toml` in a fresh directory (with a `data/`
/// directory holding `hello.txt`); [`load`] loads it. `{wat}`, `{p1}` and `{p2}`
/// stand for the WAT guests, the wasip1 and the wasip2 Rust guests.
fn write(body: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = plugbox_test_support::sandbox_layout();
    let wat_dir = wat("add.wat").parent().unwrap().display().to_string();
    let p1 = rust_guest("probe").parent().unwrap().display().to_string();
    let p2 = rust_component("probe")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let text = body
        .replace("{wat}", &wat_dir)
        .replace("{p1}", &p1)
        .replace("{p2}", &p2);
    let path = dir.path().join("plugbox.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn load(body: &str) -> (tempfile::TempDir, plugbox::Result<PluginManager>) {
    let (dir, path) = write(body);
    let manager = Manifest::from_file(&path).and_then(|m| PluginManager::from_manifest(&m));
    (dir, manager)
}

fn ok(body: &str) -> (tempfile::TempDir, PluginManager) {
    let (dir, m) = load(body);
    (dir, m.unwrap_or_else(|e| panic!("{body}\n{e:#}")))
}

#[track_caller]
fn refused(body: &str) -> plugbox::Error {
    let (_dir, m) = load(body);
    m.expect_err(body)
}

const HOSTILE: &str = "[plugins.h]\nsource = \"{wat}/hostile.wat\"\n";

fn run(m: &PluginManager, name: &str, args: &[&str]) -> plugbox::RunOutput {
    m.plugin(name).unwrap().run(args).unwrap()
}

/// Keys this file tests; checked against the README's table.
const TESTED: &[&str] = &[
    "opt-level",
    "compiler",
    "enable",
    "disable",
    "pooling",
    "pool-instances",
    "pool-max-memory",
    "pool-keep-resident",
    "pool-decommit-batch",
    "pool-warm-slots",
    "pool-shards",
    "cache-max-size",
    "cache-dir",
    "max-module-size",
    "max-functions",
    "max-function-size",
    "max-locals",
    "consume-fuel",
    "epoch-interruption",
    "epoch-tick",
    "max-stack",
    "default-timeout",
    "parallel-compilation",
    "source",
    "route",
    "sha256",
    "mode",
    "max-concurrency",
    "queue-timeout",
    "allow-precompiled",
    "config",
    "fuel",
    "timeout",
    "max-memory",
    "max-table-elements",
    "max-instances",
    "trap-on-grow-failure",
    "max-output",
    "retry-attempts",
    "retry-factor",
    "retry-max-fuel",
    "dir",
    "ro-dir",
    "env",
    "inherit-env",
    "allow-network",
    "allow-host",
    "deterministic",
    "stdin",
    "stdout",
    "stderr",
    "backend",
    "data-dir",
    "path",
    "tenant",
    "namespace",
    "max-key-size",
    "max-value-size",
    "max-total-size",
    "max-keys",
    "op-timeout",
    "addr",
    "max-body",
    "max-header-size",
    "request-timeout",
    "max-concurrent-requests",
    "max-connections",
    "idle-timeout",
    "header-read-timeout",
    "shutdown-timeout",
    "access-log",
    "watch",
];

#[test]
fn every_setting_of_the_readme_is_tested_here() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let table = &readme[readme.find("<!-- settings:begin -->").unwrap()
        ..readme.find("<!-- settings:end -->").unwrap()];
    let keys: BTreeSet<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    let tested: BTreeSet<&str> = TESTED.iter().copied().collect();
    assert_eq!(keys, tested);
}

#[test]
fn engine_opt_level_compiler_and_features() {
    // An artifact compiled at opt-level `none` only loads in such an engine.
    let dir = tempfile::tempdir().unwrap();
    let engine =
        plugbox::Engine::new(&plugbox::EngineConfig::new().opt_level(plugbox::OptLevel::None))
            .unwrap();
    let wasm = plugbox::Wasm::from_file(&engine, wat("add.wat")).unwrap();
    let cwasm = dir.path().join("add.cwasm");
    std::fs::write(&cwasm, plugbox::precompile(&engine, &wasm).unwrap()).unwrap();
    let plugin = format!(
        "[plugins.a]\nsource = \"{}\"\nallow-precompiled = true\n",
        cwasm.display()
    );
    let (_d, m) = ok(&format!("[engine]\nopt-level = \"none\"\n{plugin}"));
    assert_eq!(m.call::<(i32, i32), i32>("a", "add", (1, 2)).unwrap(), 3);
    let err = refused(&plugin);
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::Incompatible)
    );
    let err = refused(&format!("[engine]\ncompiler = \"winch\"\n{HOSTILE}"));
    assert!(format!("{err:#}").contains("compiler `winch`"), "{err:#}");
    let simd = "[plugins.s]\nsource = \"{wat}/simd.wat\"\n";
    let err = refused(&format!("[engine]\ndisable = [\"simd\"]\n{simd}"));
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidModule(InvalidReason::FeatureDisabled { .. })
    ));
    let waits = "[plugins.w]\nsource = \"{wat}/atomic_wait.wat\"\n";
    let (_d, m) = ok(&format!("[engine]\nenable = [\"threads\"]\n{waits}"));
    assert_eq!(m.call::<i64, i32>("w", "wait_ms", 1).unwrap(), 2);
    // Without `threads` the engine pools instances, which cannot hold a
    // shared memory: refused at load, saying what to change.
    let err = refused(waits);
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(format!("{err:#}").contains("pooling = false"), "{err:#}");
}

#[test]
fn engine_pooling() {
    let two = "[plugins.a]\nsource = \"{wat}/hostile.wat\"\nmode = \"stateful\"\n\
               [plugins.b]\nsource = \"{wat}/hostile.wat\"\nmode = \"stateful\"\n";
    let (_d, m) = ok(&format!(
        "[engine]\npooling = true\npool-instances = 1\n{two}"
    ));
    assert_eq!(m.call::<(), i32>("a", "ok", ()).unwrap(), 7);
    // `a` keeps the only slot.
    let err = m.call::<(), i32>("b", "ok", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Busy, "{err:#}");
    // The reuse settings change speed, not behaviour.
    let (_d, m) = ok(&format!(
        "[engine]\npool-keep-resident = \"64KiB\"\npool-decommit-batch = 8\npool-warm-slots = 0\n{HOSTILE}"
    ));
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
    // The pool is split over two shards; the manager's calls, stateless
    // and stateful, work on both.
    let (_d, m) = ok(&format!(
        "[engine]\npooling = true\npool-shards = 2\n{HOSTILE}\
         [plugins.k]\nsource = \"{{wat}}/hostile.wat\"\nmode = \"stateful\"\n"
    ));
    assert_eq!(m.engine().pool_shards(), 2);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
                assert_eq!(m.call::<(), i32>("k", "ok", ()).unwrap(), 7);
            });
        }
    });
    let counts: BTreeSet<i32> = (0..3)
        .map(|_| m.call::<(), i32>("k", "count", ()).unwrap())
        .collect();
    assert_eq!(counts.len(), 3, "the stateful plugin keeps its state");
    let err = refused(&format!("[engine]\npool-shards = 0\n{HOSTILE}"));
    assert!(format!("{err:#}").contains("pool-shards `0`"), "{err:#}");
    let err = refused(&format!("[engine]\npool-decommit-batch = 0\n{HOSTILE}"));
    assert!(
        format!("{err:#}").contains("pool-decommit-batch `0`"),
        "{err:#}"
    );
    let err = refused(&format!(
        "[engine]\npooling = true\npool-max-memory = \"1MiB\"\n{HOSTILE}"
    ));
    assert!(
        format!("{err:#}").contains("larger than the pool's slot size `1 MiB`"),
        "{err:#}"
    );
}

#[test]
fn engine_cache_dir_and_max_module_size() {
    let (dir, m) = ok(&format!("[engine]\ncache-dir = \"cache\"\n{HOSTILE}"));
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
    let cache = dir.path().join("cache");
    assert!(cache.is_dir(), "relative to the manifest");
    let entries = |dir: &Path| {
        std::fs::read_dir(dir.join("plugbox-cache-3"))
            .unwrap()
            .count()
    };
    assert_eq!(entries(&cache), 1);
    // An entry larger than the bound does not stay.
    let (dir, m) = ok(&format!(
        "[engine]\ncache-dir = \"cache\"\ncache-max-size = \"1KiB\"\n{HOSTILE}"
    ));
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
    assert_eq!(entries(&dir.path().join("cache")), 0);
    let err = refused(&format!("[engine]\nmax-module-size = 10\n{HOSTILE}"));
    assert!(matches!(
        err.kind(),
        ErrorKind::InvalidModule(InvalidReason::TooLarge { limit: 10, .. })
    ));
}

#[test]
fn engine_caps_on_what_a_module_declares() {
    for (key, what) in [
        ("max-functions = 2", "functions"),
        ("max-function-size = 4", "bytes in one function"),
        ("max-locals = 0", "locals in one function"),
    ] {
        let err = refused(&format!("[engine]\n{key}\n{HOSTILE}"));
        assert!(
            matches!(err.kind(), ErrorKind::ResourceLimit(Limit::Declared { what: w, .. }) if *w == what),
            "{key}: {err:#}"
        );
    }
    let (_d, m) = ok(&format!(
        "[engine]\nmax-functions = \"none\"\nmax-function-size = \"none\"\nmax-locals = \"none\"\n{HOSTILE}"
    ));
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
}

#[test]
fn engine_fuel_epochs_and_stack() {
    let (_d, m) = ok(&format!("[engine]\nconsume-fuel = true\n{HOSTILE}"));
    m.call::<i64, i64>("h", "work", 100).unwrap();
    assert!(m.metrics("h").unwrap().fuel_consumed > 100);
    let err = refused(&format!("[engine]\nepoch-interruption = false\n{HOSTILE}"));
    assert!(format!("{err:#}").contains("epoch interruption"), "{err:#}");
    let (_d, m) = ok(&format!(
        "[engine]\nepoch-interruption = false\ndefault-timeout = \"none\"\n{HOSTILE}"
    ));
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
    let err = refused(&format!("[engine]\nepoch-tick = \"1h\"\n{HOSTILE}"));
    assert!(format!("{err:#}").contains("epoch-tick `1h`"), "{err:#}");
    let (_d, m) = ok(&format!(
        "[engine]\nepoch-tick = \"20ms\"\n{HOSTILE}[plugins.h.limits]\ntimeout = \"100ms\"\n"
    ));
    assert_eq!(
        m.engine().config().get_epoch_tick(),
        Duration::from_millis(20)
    );
    let err = m.call::<(), ()>("h", "spin", ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout));
    let (_d, m) = ok(&format!("[engine]\nmax-stack = \"16KiB\"\n{HOSTILE}"));
    let err = m.call::<i32, i32>("h", "depth", 4000).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::StackOverflow));
    let (_d, m) = ok(HOSTILE);
    assert_eq!(m.call::<i32, i32>("h", "depth", 4000).unwrap(), 4000);
    // Compiling on one thread or several is not observable but for time.
    let (_d, m) = ok(&format!(
        "[engine]\nparallel-compilation = false\n{HOSTILE}"
    ));
    assert!(!m.engine().config().get_parallel_compilation());
}

#[test]
fn engine_default_timeout() {
    let (_d, m) = ok(&format!("[engine]\ndefault-timeout = \"200ms\"\n{HOSTILE}"));
    let start = Instant::now();
    let err = m.call::<(), ()>("h", "spin", ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::Timeout));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn plugin_source_sha256_mode_and_concurrency() {
    // `source` is relative to the manifest.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wat("add.wat"), dir.path().join("add.wat")).unwrap();
    std::fs::write(
        dir.path().join("plugbox.toml"),
        "[plugins.a]\nsource = \"add.wat\"\n",
    )
    .unwrap();
    let m = PluginManager::from_manifest(
        &Manifest::from_file(dir.path().join("plugbox.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(m.call::<(i32, i32), i32>("a", "add", (2, 2)).unwrap(), 4);
    let err = refused(&format!("{HOSTILE}sha256 = \"{}\"\n", "0".repeat(64)));
    assert!(matches!(err.kind(), ErrorKind::Sha256Mismatch { .. }));
    let (_d, m) = ok(&format!("{HOSTILE}mode = \"stateful\"\n"));
    m.call::<(), i32>("h", "count", ()).unwrap();
    assert_eq!(m.call::<(), i32>("h", "count", ()).unwrap(), 2);
    // max-concurrency and queue-timeout: a call held in the host keeps
    // the only slot; the next one gives up at its queue timeout.
    let (gate, host) = Gate::new();
    let (_d, path) = write(
        "[plugins.h]\nsource = \"{wat}/gate.wat\"\nmax-concurrency = 1\nqueue-timeout = \"20ms\"\n",
    );
    let m =
        PluginManager::from_manifest_with_host(&Manifest::from_file(&path).unwrap(), host).unwrap();
    let holder = {
        let m = m.clone();
        std::thread::spawn(move || m.call::<(), ()>("h", "wait", ()))
    };
    gate.entered();
    let err = m.call::<(), i32>("h", "ok", ()).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Busy);
    assert!(
        format!("{err:#}").contains("queue timeout of 20ms"),
        "{err:#}"
    );
    gate.open();
    holder.join().unwrap().unwrap();
    assert_eq!(m.call::<(), i32>("h", "ok", ()).unwrap(), 7);
}

#[test]
fn plugin_allow_precompiled_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let engine = plugbox::Engine::new(&plugbox::EngineConfig::new()).unwrap();
    let wasm = plugbox::Wasm::from_file(&engine, wat("add.wat")).unwrap();
    let cwasm = dir.path().join("add.cwasm");
    std::fs::write(&cwasm, plugbox::precompile(&engine, &wasm).unwrap()).unwrap();
    let plugin = format!("[plugins.a]\nsource = \"{}\"\n", cwasm.display());
    let err = refused(&plugin);
    assert_eq!(
        err.kind(),
        &ErrorKind::Precompiled(PrecompiledReason::NotTrusted)
    );
    let (_d, m) = ok(&format!("{plugin}allow-precompiled = true\n"));
    assert_eq!(m.call::<(i32, i32), i32>("a", "add", (1, 1)).unwrap(), 2);
    let greeter = format!(
        "[plugins.g]\nsource = \"{}\"\nconfig = {{ greeting = \"hey\" }}\n",
        rust_component("greeter").display()
    );
    let (_d, m) = ok(&greeter);
    assert_eq!(m.handle("g", "world").unwrap(), Ok("hey, world".into()));
}

#[test]
fn limits() {
    let with = |limits: &str| ok(&format!("{HOSTILE}[plugins.h.limits]\n{limits}\n"));
    let (_d, m) = with("fuel = 10000");
    let err = m.call::<(), ()>("h", "spin", ()).unwrap_err();
    assert_eq!(err.trap_kind(), Some(TrapKind::OutOfFuel));
    let (_d, m) = with("timeout = \"100ms\"");
    assert_eq!(
        m.call::<(), ()>("h", "spin", ()).unwrap_err().trap_kind(),
        Some(TrapKind::Timeout)
    );
    let (_d, m) = with("max-memory = \"1MiB\"");
    assert_eq!(m.call::<(), i32>("h", "memory_bomb", ()).unwrap(), 16);
    let (_d, m) = with("max-table-elements = 100");
    assert_eq!(m.call::<i32, i32>("h", "table_bomb", 1000).unwrap(), -1);
    let (_d, m) = with("max-instances = 0");
    assert!(matches!(
        m.call::<(), i32>("h", "ok", ()).unwrap_err().kind(),
        ErrorKind::ResourceLimit(Limit::Count { allowed: 0, .. })
    ));
    let (_d, m) = with("max-memory = \"1MiB\"\ntrap-on-grow-failure = true");
    assert!(matches!(
        m.call::<i32, i32>("h", "grow", 100).unwrap_err().kind(),
        ErrorKind::ResourceLimit(Limit::Memory { .. })
    ));
    // Retries: 1000 fuel, x2 each time, capped at 4000: three attempts.
    let (_d, m) = with("fuel = 1000\nretry-attempts = 10\nretry-factor = 2\nretry-max-fuel = 4000");
    let err = m.call::<(), ()>("h", "spin", ()).unwrap_err();
    assert!(format!("{err:#}").contains("after 3 attempts"), "{err:#}");
    let (_d, m) = with("fuel = 1000\nretry-attempts = 8");
    assert_eq!(m.call::<i64, i64>("h", "work", 100_000).unwrap(), 100_000);
    let probe = "[plugins.p]\nsource = \"{p1}/probe.wasm\"\n";
    let (_d, m) = ok(&format!("{probe}[plugins.p.limits]\nmax-output = 1000\n"));
    let err = m.plugin("p").unwrap().run(&["flood", "5000"]).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::ResourceLimit(Limit::Output {
            stream: "stdout",
            allowed: 1000
        })
    );
}

#[test]
fn sandbox_files_env_and_clocks() {
    for probe in ["{p1}/probe.wasm", "{p2}/probe.wasm"] {
        let with = |grants: &str| {
            ok(&format!(
                "[plugins.p]\nsource = \"{probe}\"\n[plugins.p.sandbox]\n{grants}\n"
            ))
        };
        let (dir, m) = with("dir = [\"data::/data\"]");
        assert_eq!(run(&m, "p", &["write", "/data/new.txt", "x"]).exit_code, 0);
        assert!(
            dir.path().join("data/new.txt").exists(),
            "relative to the manifest"
        );
        let (dir, m) = with("ro-dir = [\"data::/data\"]");
        assert_eq!(
            run(&m, "p", &["read", "/data/hello.txt"]).stdout,
            b"hi there"
        );
        assert_eq!(run(&m, "p", &["write", "/data/new.txt", "x"]).exit_code, 1);
        assert!(!dir.path().join("data/new.txt").exists());
        let (_d, m) = with("env = { MODE = \"fast\" }");
        assert_eq!(run(&m, "p", &["env", "MODE"]).stdout, b"fast\n");
        let (_d, m) = with("inherit-env = true");
        assert_eq!(run(&m, "p", &["env", "PATH"]).exit_code, 0);
        let (_d, m) = with("");
        assert_eq!(run(&m, "p", &["env", "PATH"]).exit_code, 1);
        let (_d, m) = with("deterministic = true");
        assert_eq!(run(&m, "p", &["clock"]).stdout, b"0\n");
        let (_d, m) = with("stdin = \"data/hello.txt\"");
        assert_eq!(run(&m, "p", &["stdin"]).stdout, b"hi there");
        let (_d, m) = with("stdout = \"null\"\nstderr = \"null\"");
        let out = run(&m, "p", &["args", "a"]);
        assert_eq!((out.exit_code, out.stdout.len()), (0, 0));
        let out = run(&m, "p", &["env", "NOPE"]);
        assert_eq!((out.exit_code, out.stderr.len()), (1, 0));
    }
}

#[test]
fn sandbox_allow_network() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let probe = "[plugins.p]\nsource = \"{p2}/probe.wasm\"\n";
    let (_d, m) = ok(probe);
    assert_eq!(
        run(&m, "p", &["tcp", &addr]).exit_code,
        1,
        "denied by default"
    );
    let (_d, m) = ok(&format!(
        "{probe}[plugins.p.sandbox]\nallow-network = true\n"
    ));
    assert_eq!(run(&m, "p", &["tcp", &addr]).exit_code, 0);
}

#[test]
fn kv_backend_and_where_it_keeps_its_file() {
    let probe = format!(
        "[plugins.k]\nsource = \"{}\"\n",
        rust_component("kvprobe").display()
    );
    let set = |m: &PluginManager| assert_eq!(m.handle("k", "set a 1").unwrap(), Ok("ok".into()));
    // `data-dir` (relative to the manifest) makes the store embedded.
    let (dir, m) = ok(&format!("[kv]\ndata-dir = \"state\"\n{probe}"));
    set(&m);
    assert!(dir.path().join("state/kv.sqlite3").is_file());
    let (dir, m) = ok(&format!("[kv]\npath = \"db/x.sqlite3\"\n{probe}"));
    set(&m);
    assert!(dir.path().join("db/x.sqlite3").is_file());
    // `backend` wins: in memory, nothing is written.
    let (dir, m) = ok(&format!(
        "[kv]\nbackend = \"memory\"\ndata-dir = \"state\"\n{probe}"
    ));
    set(&m);
    assert!(!dir.path().join("state").exists());
    let db = plugbox_test_support::RedisDb::new();
    let redis = format!("[kv]\nbackend = \"{}\"\n{probe}", db.url());
    let (_d, m) = ok(&redis);
    set(&m);
    let (_d, m) = ok(&redis);
    assert_eq!(m.handle("k", "get a").unwrap(), Ok("1".into()), "in redis");
    let err = refused(&format!("[kv]\nbackend = \"mongodb://x\"\n{probe}"));
    assert!(
        format!("{err:#}").contains("invalid kv backend `mongodb://x`"),
        "{err:#}"
    );
}

#[test]
fn kv_names_caps_quotas_and_timeout() {
    let probe = format!(
        "[plugins.k]\nsource = \"{}\"\n",
        rust_component("kvprobe").display()
    );
    let with = |kv: &str| ok(&format!("{probe}[plugins.k.kv]\n{kv}\n"));
    let (_d, m) = ok(&format!(
        "[kv]\ntenant = \"acme\"\n{probe}[plugins.k.kv]\nnamespace = \"n\"\n"
    ));
    assert_eq!(m.plugin("k").unwrap().kv().namespace(), "acme/n");
    let invalid = |m: &PluginManager, input: &str| {
        let err = m.handle("k", input).unwrap().unwrap_err();
        assert!(err.starts_with("invalid: "), "{input}: {err}");
    };
    let (_d, m) = with("max-key-size = 4");
    invalid(&m, "set abcde v");
    let (_d, m) = with("max-value-size = 2");
    invalid(&m, "set a 123");
    let (_d, m) = with("max-total-size = 10");
    assert_eq!(
        m.handle("k", "fill f 3").unwrap(),
        Ok("2".into()),
        "5 bytes each"
    );
    let (_d, m) = with("max-keys = 2");
    assert_eq!(m.handle("k", "fill f 1").unwrap(), Ok("2".into()));
    // A stuck Redis: the guest's error comes after `op-timeout`, longer
    // than the default (1s) here. (A lower bound: a loaded machine only
    // makes the wait longer.)
    let server = plugbox_test_support::RedisServer::start();
    let (_d, m) = with(&format!(
        "backend = \"{}\"\nop-timeout = \"1500ms\"",
        server.url()
    ));
    assert_eq!(m.handle("k", "set a 1").unwrap(), Ok("ok".into()));
    server.pause();
    let start = Instant::now();
    let reply = m.handle("k", "get a");
    let waited = start.elapsed();
    server.resume();
    assert!(reply.unwrap().unwrap_err().starts_with("unavailable"));
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    let err = refused(&format!("{probe}[plugins.k.kv]\nop-timeout = \"0s\"\n"));
    assert!(format!("{err:#}").contains("op-timeout `0s`"), "{err:#}");
}

#[test]
fn sandbox_allow_host() {
    let server = plugbox_test_support::HttpServer::start();
    let url = format!("http://{}/x", server.addr());
    let fetch = "[plugins.f]\nsource = \"{p2}/fetch.wasm\"\n";
    let (_d, m) = ok(fetch);
    let out = run(&m, "f", &[&url]);
    assert_eq!(out.exit_code, 1, "denied by default");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "error: ErrorCode::HttpRequestDenied\n"
    );
    assert_eq!(server.hits(), 0);
    let (_d, m) = ok(&format!(
        "{fetch}[plugins.f.sandbox]\nallow-host = [\"{}\"]\n",
        server.addr()
    ));
    let out = run(&m, "f", &[&url]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 upstream saw /x\n"
    );
    assert_eq!(server.hits(), 1);
    // The alias of the wording, and a wildcard: loopback stays
    // closed to it.
    let (_d, m) = ok(&format!(
        "{fetch}[plugins.f.sandbox]\nallowed-hosts = [\"*\"]\n"
    ));
    let out = run(&m, "f", &[&url]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "error: ErrorCode::DestinationIpProhibited\n"
    );
    let err = refused(&format!(
        "{fetch}[plugins.f.sandbox]\nallow-host = [\"http://example.org\"]\n"
    ));
    assert_eq!(err.kind(), &ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("invalid host `http://example.org`"),
        "{err}"
    );
}

/// The manifest's plugins served with its `[server]` table (which must
/// set `addr = "127.0.0.1:0"`).
fn serve(body: &str) -> (tempfile::TempDir, crate::serve::Running) {
    let (dir, running, _) = serve_with_manager(body);
    (dir, running)
}

fn serve_with_manager(body: &str) -> (tempfile::TempDir, crate::serve::Running, PluginManager) {
    let (dir, path) = write(body);
    let manifest = Manifest::from_file(&path).unwrap();
    let manager = PluginManager::from_manifest(&manifest).unwrap();
    let server = plugbox::serve::Server::new(manager.clone(), manifest.server.clone()).unwrap();
    (dir, crate::serve::Running::start(server), manager)
}

const ECHO: &str = "[plugins.echo]\nsource = \"{p2}/http_echo.wasm\"\nroute = \"/\"\n";
const LOCAL: &str = "[server]\naddr = \"127.0.0.1:0\"\n";

#[test]
fn server_addr_and_plugin_route() {
    let (_d, running) = serve(&format!(
        "{LOCAL}[plugins.site]\nsource = \"{{p2}}/http_echo.wasm\"\nroute = \"/site\"\n[plugins.other]\nsource = \"{{p2}}/http_echo.wasm\"\n"
    ));
    assert!(running.addr.ip().is_loopback() && running.addr.port() != 0);
    let get = |p: &str| plugbox_test_support::client::get(running.addr, p);
    assert_eq!(get("/site/page").text(), "/site/page");
    // Without a route: `/NAME`.
    assert_eq!(get("/other/x").text(), "/other/x");
    assert_eq!(get("/elsewhere").status, 404);
}

#[test]
fn server_body_head_and_request_limits() {
    use plugbox_test_support::client::{get, post, send};
    let (_d, running) = serve(&format!(
        "{ECHO}[server]\naddr = \"127.0.0.1:0\"\nmax-body = \"1KiB\"\nmax-header-size = \"2KiB\"\nrequest-timeout = \"300ms\"\n"
    ));
    assert_eq!(post(running.addr, "/body", &"x".repeat(2000)).status, 413);
    assert_eq!(post(running.addr, "/body", &"x".repeat(1000)).status, 200);
    let big_head = http::Request::builder()
        .uri("/x")
        .header("x-big", "h".repeat(3000))
        .body(String::new())
        .unwrap();
    let r = send(running.addr, http::Version::HTTP_11, big_head).unwrap();
    assert_eq!(r.status, 431);
    assert_eq!(get(running.addr, "/sleep/60000").status, 504);
    assert_eq!(get(running.addr, "/x").status, 200);
}

#[test]
fn server_caps_on_requests_and_connections() {
    use crate::serve_limits::{connect, read_to_close, status_of};
    use plugbox_test_support::client::get;
    use std::io::Write;
    let (_d, running) = serve(&format!("{ECHO}{LOCAL}max-concurrent-requests = 1\n"));
    let addr = running.addr;
    // Held until it gets the slot (the loop below may hold it a moment).
    let held = std::thread::spawn(move || {
        loop {
            let r = get(addr, "/sleep/3000");
            if r.status != 503 {
                return r;
            }
        }
    });
    let start = Instant::now();
    while get(addr, "/x").status != 503 {
        assert!(start.elapsed() < Duration::from_secs(60), "never refused");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(held.join().unwrap().status, 200);
    drop(running);

    let (_d, running, manager) = serve_with_manager(&format!("{ECHO}{LOCAL}max-connections = 1\n"));
    let addr = running.addr;
    // A connection without a request gives way to a client...
    let mut idle = connect(addr);
    idle.write_all(b"GET /").unwrap();
    assert_eq!(get(addr, "/x").status, 200);
    assert_eq!(read_to_close(&mut idle), "", "closed for the client");
    // ... one with a request in flight does not: the client waits for it.
    let mut busy = connect(addr);
    busy.write_all(b"GET /sleep/500 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    while manager.metrics("echo").unwrap().in_flight == 0 {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(get(addr, "/x").text(), "/x");
    assert_eq!(status_of(&read_to_close(&mut busy)), 200);
}

#[test]
fn server_idle_header_read_and_shutdown_timeouts() {
    use crate::serve_limits::{connect, read_to_close, status_of};
    use std::io::Write;
    let (_d, running) = serve(&format!(
        "{ECHO}{LOCAL}idle-timeout = \"1s\"\nheader-read-timeout = \"300ms\"\nshutdown-timeout = \"200ms\"\n"
    ));
    let mut idle = connect(running.addr);
    idle.write_all(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert_eq!(
        status_of(&read_to_close(&mut idle)),
        200,
        "answered, then closed"
    );
    let mut slow = connect(running.addr);
    slow.write_all(b"GET /a HTTP/1.1\r\nhost").unwrap();
    assert_eq!(read_to_close(&mut slow), "", "closed without an answer");
    let mut hanging = connect(running.addr);
    hanging
        .write_all(b"GET /hang HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    while !plugbox_test_support::client::get(running.addr, "/metrics")
        .text()
        .contains("plugbox_in_flight{plugin=\"echo\"} 1")
    {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    // Returns although the request hangs: shutdown-timeout bounds it.
    running.stop().unwrap();
    assert_eq!(read_to_close(&mut hanging), "");
}

/// Collects the messages of `plugbox::access` events.
#[derive(Clone, Default)]
struct AccessLog(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for AccessLog {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "plugbox::access"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = String::new();
        event.record(&mut Message(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Serves one request with `access-log` set to `on` on a single-threaded
/// runtime (so the subscriber sees every event) and returns the log.
fn access_log(on: bool) -> Vec<String> {
    let (_d, path) = write(&format!("{ECHO}{LOCAL}access-log = {on}\n"));
    let manifest = Manifest::from_file(&path).unwrap();
    let manager = PluginManager::from_manifest(&manifest).unwrap();
    let server = plugbox::serve::Server::new(manager, manifest.server.clone()).unwrap();
    let log = AccessLog::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(log.clone(), || {
        runtime.block_on(async {
            let listening = server.bind().await.unwrap();
            let addr = listening.local_addr();
            let (done, finished) = tokio::sync::oneshot::channel();
            let client = tokio::task::spawn_blocking(move || {
                let r = plugbox_test_support::client::get(addr, "/logged");
                let _ = done.send(());
                r.status
            });
            listening
                .run(async {
                    let _ = finished.await;
                })
                .await
                .unwrap();
            assert_eq!(client.await.unwrap(), 200);
        });
    });
    log.0.lock().unwrap().clone()
}

#[test]
fn server_access_log() {
    assert_eq!(access_log(false), Vec::<String>::new());
    let lines = access_log(true);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("message=GET /logged 200"), "{lines:?}");
    assert!(lines[0].contains("status=200"), "{lines:?}");
}

#[test]
fn server_watch() {
    let body = |watch: bool| {
        format!("{LOCAL}watch = {watch}\n[plugins.counter]\nsource = \"counter.wat\"\n")
    };
    for watch in [true, false] {
        let (dir, path) = write(&body(watch));
        let source = dir.path().join("counter.wat");
        std::fs::copy(wat("counter_v1.wat"), &source).unwrap();
        let manifest = Manifest::from_file(&path).unwrap();
        let manager = PluginManager::from_manifest(&manifest).unwrap();
        let server = plugbox::serve::Server::new(manager, manifest.server.clone()).unwrap();
        let running = crate::serve::Running::start(server);
        let version = || {
            plugbox_test_support::client::post(running.addr, "/v1/plugins/counter/version", "[]")
                .text()
        };
        assert_eq!(version(), "[1]");
        let tmp = dir.path().join("counter.tmp");
        std::fs::copy(wat("counter_v2.wat"), &tmp).unwrap();
        std::fs::rename(&tmp, &source).unwrap();
        if watch {
            let start = Instant::now();
            while version() != "[2]" {
                assert!(start.elapsed() < Duration::from_secs(60), "never reloaded");
                std::thread::sleep(Duration::from_millis(10));
            }
        } else {
            // Nothing watches the file.
            assert_eq!(version(), "[1]");
        }
    }
}
