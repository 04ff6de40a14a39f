//! Every manifest key takes effect through `plugbox call/run --manifest`,
//! and a flag of the same name overrides it. A last check makes sure no
//! key of the README's table of settings is missing here.

use crate::support::{rust_component, rust_guest, stderr, stdout, wat};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A directory with `plugbox.toml` (`{wat}`, `{p1}`, `{p2}` stand for the
/// guest directories) and `data/hello.txt`.
struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(body: &str) -> Self {
        let dir = plugbox_test_support::sandbox_layout();
        let text = body
            .replace("{wat}", &parent(&wat("add.wat")))
            .replace("{p1}", &parent(&rust_guest("probe")))
            .replace("{p2}", &parent(&rust_component("probe")));
        std::fs::write(dir.path().join("plugbox.toml"), text).unwrap();
        Self { dir }
    }

    /// `plugbox SUBCOMMAND --manifest plugbox.toml ARGS…`, run in another
    /// directory than the manifest's, with no stdin.
    fn plugbox(&self, subcommand: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .arg(subcommand)
            .arg("--manifest")
            .arg(self.dir.path().join("plugbox.toml"))
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .env_remove("PLUGBOX_LOG")
            .output()
            .expect("plugbox runs")
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }
}

fn parent(path: &str) -> String {
    Path::new(path).parent().unwrap().display().to_string()
}

#[track_caller]
fn expect(o: &Output, code: i32, out: &str, err: &str) {
    assert_eq!(o.status.code(), Some(code), "stderr: {}", stderr(o));
    assert!(stdout(o).contains(out), "stdout: {}", stdout(o));
    assert!(stderr(o).contains(err), "stderr: {}", stderr(o));
}

const HOSTILE: &str = "[plugins.h]\nsource = \"{wat}/hostile.wat\"\n";
const P1: &str = "[plugins.p]\nsource = \"{p1}/probe.wasm\"\n";
const P2: &str = "[plugins.p]\nsource = \"{p2}/probe.wasm\"\n";

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
    assert_eq!(keys, TESTED.iter().copied().collect());
}

#[test]
fn engine_settings() {
    let s = Setup::new(&format!("[engine]\ncompiler = \"winch\"\n{HOSTILE}"));
    expect(&s.plugbox("call", &["h", "ok"]), 2, "", "compiler `winch`");
    let s =
        Setup::new("[engine]\ndisable = [\"simd\"]\n[plugins.s]\nsource = \"{wat}/simd.wat\"\n");
    expect(
        &s.plugbox("call", &["s", "splat"]),
        3,
        "",
        "disabled in this engine",
    );
    // The flag of the same name overrides the manifest.
    expect(
        &s.plugbox("call", &["--enable", "simd", "s", "splat", "1"]),
        0,
        "",
        "",
    );
    let waits = "[plugins.w]\nsource = \"{wat}/atomic_wait.wat\"\n";
    let s = Setup::new(&format!("[engine]\nenable = [\"threads\"]\n{waits}"));
    expect(&s.plugbox("call", &["w", "wait_ms", "1"]), 0, "2\n", "");
    let s = Setup::new(&format!(
        "[engine]\npooling = true\npool-max-memory = \"1MiB\"\n{HOSTILE}"
    ));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "pool's slot size `1 MiB`",
    );
    let s = Setup::new(&format!(
        "[engine]\npooling = true\npool-instances = 0\n{HOSTILE}"
    ));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "pool-instances `0`",
    );
    let s = Setup::new(&format!("[engine]\ncache-dir = \"cache\"\n{HOSTILE}"));
    expect(&s.plugbox("call", &["h", "ok"]), 0, "7\n", "");
    assert!(s.path("cache").is_dir(), "relative to the manifest");
    let entries = |s: &Setup| {
        std::fs::read_dir(s.path("cache/plugbox-cache-3"))
            .unwrap()
            .count()
    };
    assert_eq!(entries(&s), 1);
    let s = Setup::new(&format!(
        "[engine]\ncache-dir = \"cache\"\ncache-max-size = \"1KiB\"\n{HOSTILE}"
    ));
    expect(&s.plugbox("call", &["h", "ok"]), 0, "7\n", "");
    assert_eq!(
        entries(&s),
        0,
        "an entry larger than the bound does not stay"
    );
    let s = Setup::new(&format!(
        "[engine]\npool-keep-resident = \"64KiB\"\npool-decommit-batch = 8\npool-warm-slots = 0\n{HOSTILE}"
    ));
    expect(&s.plugbox("call", &["h", "ok"]), 0, "7\n", "");
    let s = Setup::new(&format!("[engine]\npool-shards = 0\n{HOSTILE}"));
    expect(&s.plugbox("call", &["h", "ok"]), 2, "", "pool-shards `0`");
    expect(
        &s.plugbox("call", &["--pool-shards", "2", "h", "ok"]),
        0,
        "7\n",
        "",
    );
    let s = Setup::new(&format!("[engine]\npool-decommit-batch = 0\n{HOSTILE}"));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "pool-decommit-batch `0`",
    );
    let s = Setup::new(&format!("[engine]\nmax-module-size = 10\n{HOSTILE}"));
    expect(&s.plugbox("call", &["h", "ok"]), 3, "", "size cap of 10 B");
    for (key, found) in [
        ("max-functions = 2", "functions, more than the cap of 2"),
        (
            "max-function-size = 4",
            "bytes in one function, more than the cap of 4",
        ),
        (
            "max-locals = 0",
            "locals in one function, more than the cap of 0",
        ),
    ] {
        let s = Setup::new(&format!("[engine]\n{key}\n{HOSTILE}"));
        expect(&s.plugbox("call", &["h", "ok"]), 6, "", found);
    }
    let s = Setup::new(&format!("[engine]\nconsume-fuel = true\n{HOSTILE}"));
    expect(
        &s.plugbox("call", &["--stats", "h", "work", "10"]),
        0,
        "10\n",
        "fuel consumed: ",
    );
    let s = Setup::new(&format!("[engine]\nepoch-interruption = false\n{HOSTILE}"));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "epoch interruption",
    );
    expect(
        &s.plugbox("call", &["--default-timeout", "none", "h", "ok"]),
        0,
        "7\n",
        "",
    );
    let s = Setup::new(&format!("[engine]\nepoch-tick = \"1h\"\n{HOSTILE}"));
    expect(&s.plugbox("call", &["h", "ok"]), 2, "", "epoch-tick `1h`");
    let s = Setup::new(&format!(
        "[engine]\nepoch-tick = \"20ms\"\n{HOSTILE}[plugins.h.limits]\ntimeout = \"100ms\"\n"
    ));
    expect(
        &s.plugbox("call", &["h", "spin"]),
        6,
        "",
        "deadline exceeded",
    );
    let s = Setup::new(&format!("[engine]\nmax-stack = \"16KiB\"\n{HOSTILE}"));
    expect(
        &s.plugbox("call", &["h", "depth", "4000"]),
        6,
        "",
        "stack overflow",
    );
    expect(
        &s.plugbox("call", &["--max-stack", "512KiB", "h", "depth", "4000"]),
        0,
        "4000\n",
        "",
    );
    let s = Setup::new(&format!("[engine]\ndefault-timeout = \"200ms\"\n{HOSTILE}"));
    expect(
        &s.plugbox("call", &["h", "spin"]),
        6,
        "",
        "deadline exceeded",
    );
    // Not observable but for compile time: accepted, and invalid values refused.
    let s = Setup::new(&format!(
        "[engine]\nparallel-compilation = false\n{HOSTILE}"
    ));
    expect(&s.plugbox("call", &["h", "ok"]), 0, "7\n", "");
    let s = Setup::new(&format!(
        "[engine]\nparallel-compilation = \"maybe\"\n{HOSTILE}"
    ));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "parallel-compilation",
    );
}

#[test]
fn engine_opt_level_and_plugin_allow_precompiled() {
    let s = Setup::new("");
    let cwasm = s.path("add.cwasm");
    let o = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["compile", "--opt-level", "none", &wat("add.wat"), "-o"])
        .arg(&cwasm)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let plugin = "[plugins.a]\nsource = \"add.cwasm\"\n";
    let s2 = Setup { dir: s.dir };
    std::fs::write(s2.path("plugbox.toml"), plugin).unwrap();
    expect(
        &s2.plugbox("call", &["a", "add", "1", "2"]),
        3,
        "",
        "native code",
    );
    std::fs::write(
        s2.path("plugbox.toml"),
        format!("{plugin}allow-precompiled = true\n"),
    )
    .unwrap();
    expect(
        &s2.plugbox("call", &["a", "add", "1", "2"]),
        3,
        "",
        "different engine configuration",
    );
    std::fs::write(
        s2.path("plugbox.toml"),
        format!("[engine]\nopt-level = \"none\"\n{plugin}allow-precompiled = true\n"),
    )
    .unwrap();
    expect(&s2.plugbox("call", &["a", "add", "1", "2"]), 0, "3\n", "");
}

#[test]
fn plugin_settings() {
    let s = Setup::new(&format!("{HOSTILE}sha256 = \"{}\"\n", "0".repeat(64)));
    expect(&s.plugbox("call", &["h", "ok"]), 3, "", "pinned to 0000");
    let s = Setup::new(&format!(
        "{HOSTILE}mode = \"stateful\"\nmax-concurrency = 1\nqueue-timeout = \"50ms\"\n"
    ));
    // One call per process: the settings are accepted and the call runs.
    expect(&s.plugbox("call", &["h", "count"]), 0, "1\n", "");
    let s = Setup::new(&format!("{HOSTILE}max-concurrency = 0\n"));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "max-concurrency `0`",
    );
    let s = Setup::new(&format!("{HOSTILE}queue-timeout = \"soon\"\n"));
    expect(
        &s.plugbox("call", &["h", "ok"]),
        2,
        "",
        "invalid duration `soon`",
    );
    let s = Setup::new(&format!(
        "[plugins.g]\nsource = \"{}\"\nconfig = {{ greeting = \"hey\" }}\n",
        rust_component("greeter")
    ));
    expect(
        &s.plugbox("call", &["g", "handle", "\"world\""]),
        0,
        "hey, world",
        "",
    );
    expect(
        &s.plugbox(
            "call",
            &["--config", "greeting=yo", "g", "handle", "\"world\""],
        ),
        0,
        "yo, world",
        "",
    );
}

#[test]
fn limit_settings() {
    let with = |limits: &str| Setup::new(&format!("{HOSTILE}[plugins.h.limits]\n{limits}\n"));
    let s = with("fuel = 10000");
    expect(
        &s.plugbox("call", &["h", "spin"]),
        6,
        "",
        "all fuel consumed",
    );
    let s = with("timeout = \"100ms\"");
    expect(
        &s.plugbox("call", &["h", "spin"]),
        6,
        "",
        "deadline exceeded",
    );
    let s = with("max-memory = \"1MiB\"");
    expect(&s.plugbox("call", &["h", "memory_bomb"]), 0, "16\n", "");
    expect(
        &s.plugbox("call", &["--max-memory", "2MiB", "h", "memory_bomb"]),
        0,
        "32\n",
        "",
    );
    let s = with("max-table-elements = 100");
    expect(
        &s.plugbox("call", &["h", "table_bomb", "1000"]),
        0,
        "-1\n",
        "",
    );
    let s = with("max-instances = 0");
    expect(
        &s.plugbox("call", &["h", "ok"]),
        6,
        "",
        "too many instances",
    );
    let s = with("max-memory = \"1MiB\"\ntrap-on-grow-failure = true");
    expect(
        &s.plugbox("call", &["h", "grow", "100"]),
        6,
        "",
        "memory limit exceeded",
    );
    let s = with("fuel = 1000\nretry-attempts = 10\nretry-factor = 2\nretry-max-fuel = 4000");
    expect(
        &s.plugbox("call", &["h", "spin"]),
        6,
        "",
        "after 3 attempts",
    );
    let s = with("fuel = 1000\nretry-attempts = 8");
    expect(
        &s.plugbox("call", &["h", "work", "100000"]),
        0,
        "100000\n",
        "",
    );
    let s = Setup::new(&format!(
        "{P1}[plugins.p.limits]\nmax-output = 1000\n[plugins.p.sandbox]\nstdout = \"capture\"\n"
    ));
    expect(
        &s.plugbox("run", &["p", "flood", "5000"]),
        6,
        "",
        "stdout exceeded its capture cap",
    );
}

#[test]
fn sandbox_settings() {
    for probe in [P1, P2] {
        let with = |grants: &str| Setup::new(&format!("{probe}[plugins.p.sandbox]\n{grants}\n"));
        let s = with("dir = [\"data::/data\"]");
        expect(
            &s.plugbox("run", &["p", "write", "/data/new.txt", "x"]),
            0,
            "",
            "",
        );
        assert!(s.path("data/new.txt").exists(), "relative to the manifest");
        let s = with("ro-dir = [\"data::/data\"]");
        expect(
            &s.plugbox("run", &["p", "read", "/data/hello.txt"]),
            0,
            "hi there",
            "",
        );
        expect(
            &s.plugbox("run", &["p", "write", "/data/new.txt", "x"]),
            1,
            "",
            "denied",
        );
        // A flag's grant replaces the manifest's grant of the same guest
        // path (here: read-write over read-only).
        let flag = format!("{}::/data", s.path("data").display());
        expect(
            &s.plugbox("run", &["--dir", &flag, "p", "write", "/data/new.txt", "x"]),
            0,
            "",
            "",
        );
        assert!(s.path("data/new.txt").exists());
        let s = with("env = { MODE = \"fast\" }");
        expect(&s.plugbox("run", &["p", "env", "MODE"]), 0, "fast\n", "");
        expect(
            &s.plugbox("run", &["--env", "MODE=slow", "p", "env", "MODE"]),
            0,
            "slow\n",
            "",
        );
        let s = with("inherit-env = true");
        expect(&s.plugbox("run", &["p", "env", "PATH"]), 0, "/", "");
        let s = with("");
        expect(&s.plugbox("run", &["p", "env", "PATH"]), 1, "", "denied");
        let s = with("deterministic = true");
        expect(&s.plugbox("run", &["p", "clock"]), 0, "0\n", "");
        let s = with("stdin = \"data/hello.txt\"");
        expect(&s.plugbox("run", &["p", "stdin"]), 0, "hi there", "");
        let s = with("stdout = \"null\"\nstderr = \"null\"");
        let o = s.plugbox("run", &["p", "args", "a"]);
        assert_eq!((o.status.code(), o.stdout.len()), (Some(0), 0));
        let o = s.plugbox("run", &["p", "env", "NOPE"]);
        assert_eq!((o.status.code(), o.stderr.len()), (Some(1), 0));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let s = Setup::new(&format!("{P2}[plugins.p.sandbox]\nallow-network = true\n"));
    expect(&s.plugbox("run", &["p", "tcp", &addr]), 0, "", "");
    let s = Setup::new(P2);
    expect(&s.plugbox("run", &["p", "tcp", &addr]), 1, "", "");
}

#[test]
fn state_settings() {
    let probe = format!("[plugins.k]\nsource = \"{}\"\n", rust_component("kvprobe"));
    let call = |s: &Setup, flags: &[&str], input: &str| {
        let arg = format!("\"{input}\"");
        let mut args = flags.to_vec();
        args.extend_from_slice(&["k", "handle", &arg]);
        s.plugbox("call", &args)
    };
    // `data-dir` and `path` are relative to the manifest, and make the
    // store embedded; `--kv` overrides the backend.
    let s = Setup::new(&format!("[kv]\ndata-dir = \"state\"\n{probe}"));
    expect(&call(&s, &[], "incr n 1"), 0, r#"{"ok":"1"}"#, "");
    expect(&call(&s, &[], "incr n 1"), 0, r#"{"ok":"2"}"#, "");
    assert!(s.path("state/kv.sqlite3").is_file());
    expect(
        &call(&s, &["--kv", "memory"], "incr n 1"),
        0,
        r#"{"ok":"1"}"#,
        "",
    );
    let s = Setup::new(&format!("[kv]\npath = \"db/x.sqlite3\"\n{probe}"));
    expect(&call(&s, &[], "set a 1"), 0, r#"{"ok":"ok"}"#, "");
    assert!(s.path("db/x.sqlite3").is_file());
    let other = s.path("other.sqlite3").display().to_string();
    expect(
        &call(&s, &["--kv-path", &other], "get a"),
        0,
        r#"{"ok":"-"}"#,
        "",
    );
    expect(
        &call(
            &s,
            &["--data-dir", "/nonexistent/x", "--kv-path", &other],
            "get a",
        ),
        0,
        r#"{"ok":"-"}"#,
        "",
    );
    let db = plugbox_test_support::RedisDb::new();
    let s = Setup::new(&format!("[kv]\nbackend = \"{}\"\n{probe}", db.url()));
    expect(&call(&s, &[], "set a 1"), 0, r#"{"ok":"ok"}"#, "");
    expect(&call(&s, &[], "get a"), 0, r#"{"ok":"1"}"#, "");
    // Names: a tenant and a namespace make another store.
    expect(
        &call(&s, &["--kv-tenant", "acme"], "get a"),
        0,
        r#"{"ok":"-"}"#,
        "",
    );
    expect(
        &call(&s, &["--kv-namespace", "other"], "get a"),
        0,
        r#"{"ok":"-"}"#,
        "",
    );
    let s2 = Setup::new(&format!(
        "[kv]\nbackend = \"{}\"\n{probe}[plugins.k.kv]\nnamespace = \"k\"\ntenant = \"t\"\n",
        db.url()
    ));
    expect(&call(&s2, &[], "set a 2"), 0, r#"{"ok":"ok"}"#, "");
    expect(
        &call(&s, &["--kv-tenant", "t"], "get a"),
        0,
        r#"{"ok":"2"}"#,
        "",
    );
    // Caps and quotas, from the manifest and from flags.
    let with = |kv: &str| Setup::new(&format!("{probe}[plugins.k.kv]\n{kv}\n"));
    let s = with("max-key-size = 4");
    expect(&call(&s, &[], "set abcde v"), 0, r#"{"err":"invalid: "#, "");
    expect(
        &call(&s, &["--kv-max-key-size", "8"], "set abcde v"),
        0,
        r#"{"ok":"ok"}"#,
        "",
    );
    let s = with("max-value-size = 2");
    expect(&call(&s, &[], "set a 123"), 0, r#"{"err":"invalid: "#, "");
    let s = with("max-total-size = 10");
    expect(&call(&s, &[], "fill f 3"), 0, r#"{"ok":"2"}"#, "");
    expect(
        &call(&s, &["--kv-max-total-size", "20"], "fill f 3"),
        0,
        r#"{"ok":"4"}"#,
        "",
    );
    let s = with("max-keys = 2");
    expect(&call(&s, &[], "fill f 1"), 0, r#"{"ok":"2"}"#, "");
    expect(
        &call(&s, &["--kv-max-keys", "3"], "fill f 1"),
        0,
        r#"{"ok":"3"}"#,
        "",
    );
    // A stuck Redis: the guest's error comes after `op-timeout`, longer
    // than the default (1s) here. (A lower bound: a loaded machine only
    // makes the wait longer.)
    let server = plugbox_test_support::RedisServer::start();
    let s = Setup::new(&format!(
        "[kv]\nbackend = \"{}\"\nop-timeout = \"1500ms\"\n{probe}",
        server.url()
    ));
    expect(&call(&s, &[], "set a 1"), 0, r#"{"ok":"ok"}"#, "");
    server.pause();
    let start = std::time::Instant::now();
    let o = call(&s, &[], "get a");
    let waited = start.elapsed();
    server.resume();
    expect(&o, 0, r#"{"err":"unavailable: "#, "");
    assert!(
        waited >= std::time::Duration::from_millis(1500),
        "{waited:?}"
    );
    let s = with("op-timeout = \"0s\"");
    expect(&call(&s, &[], "get a"), 2, "", "op-timeout `0s`");
    let s = with("op-timeout = \"1ns\"");
    expect(
        &call(&s, &[], "get a"),
        2,
        "",
        "invalid op-timeout `1ns`: must be at least 10ms",
    );
}

#[test]
fn bare_numbers_out_of_range_name_the_value_and_the_bound() {
    let probe = format!("[plugins.k]\nsource = \"{}\"\n", rust_component("kvprobe"));
    let get = |kv: &str, flags: &[&str]| {
        let s = Setup::new(&format!("{probe}[plugins.k.kv]\n{kv}\n"));
        let mut args = flags.to_vec();
        args.extend_from_slice(&["k", "handle", "\"get a\""]);
        s.plugbox("call", &args)
    };
    let most = u64::MAX;
    for (kv, err) in [
        // Whole numbers too large for any count, not "must be whole".
        (
            "max-keys = 1e30",
            format!("invalid number `1e30`: too large (at most {most})"),
        ),
        (
            "max-keys = inf",
            format!("invalid number `inf`: too large (at most {most})"),
        ),
        (
            "max-keys = 18446744073709551616.0",
            format!("invalid number `1.8446744073709552e19`: too large (at most {most})"),
        ),
        ("max-keys = nan", "invalid value `nan`: not a number".into()),
        (
            "max-keys = -1.0",
            "invalid value `-1`: must not be negative".into(),
        ),
        (
            "max-keys = -3",
            "invalid value `-3`: must not be negative".into(),
        ),
        (
            "max-keys = 2.5",
            "invalid value `2.5`: a bare number must be whole".into(),
        ),
        (
            "max-total-size = 1e30",
            "invalid size `1e30`: too large (at most 1 EiB)".into(),
        ),
        (
            "max-total-size = 2e18",
            "invalid size `2000000000000000000`: too large (at most 1 EiB)".into(),
        ),
        (
            "op-timeout = -inf",
            "invalid value `-inf`: must not be negative".into(),
        ),
        (
            "op-timeout = 1e300",
            "invalid duration `1e300` (milliseconds): too long (at most 365 days)".into(),
        ),
    ] {
        expect(&get(kv, &[]), 2, "", &err);
    }
    // A whole float in range is the number it writes.
    expect(&get("max-keys = 1e3", &[]), 0, r#"{"ok":"-"}"#, "");
    expect(&get("op-timeout = 2e3", &[]), 0, r#"{"ok":"-"}"#, "");
    // The flag: digits past every count are too large, not "not whole".
    expect(
        &get("", &["--kv-max-keys", "99999999999999999999"]),
        2,
        "",
        &format!("invalid number `99999999999999999999`: too large (at most {most})"),
    );
}

#[test]
fn sandbox_allow_host() {
    let server = plugbox_test_support::HttpServer::start();
    let url = format!("http://{}/x", server.addr());
    let fetch = "[plugins.f]\nsource = \"{p2}/fetch.wasm\"\n";
    let s = Setup::new(fetch);
    expect(
        &s.plugbox("run", &["f", &url]),
        1,
        "error: ErrorCode::HttpRequestDenied",
        "",
    );
    assert_eq!(server.hits(), 0, "a denied request never leaves plugbox");
    let granted = Setup::new(&format!(
        "{fetch}[plugins.f.sandbox]\nallow-host = [\"{}\"]\n",
        server.addr()
    ));
    expect(
        &granted.plugbox("run", &["f", &url]),
        0,
        "200 upstream saw /x",
        "",
    );
    // The flag adds a grant to the manifest's.
    expect(
        &s.plugbox(
            "run",
            &["--allow-host", &server.addr().to_string(), "f", &url],
        ),
        0,
        "200 upstream saw /x",
        "",
    );
    // A wildcard never opens loopback.
    expect(
        &s.plugbox("run", &["--allow-host", "*", "f", &url]),
        1,
        "error: ErrorCode::DestinationIpProhibited",
        "",
    );
    expect(
        &s.plugbox("run", &["--allow-host", "http://x", "f", &url]),
        2,
        "",
        "invalid host `http://x`: give a host name, not a URL",
    );
}

/// `plugbox serve --manifest plugbox.toml ARGS` on a free port.
fn serve(s: &Setup, args: &[&str]) -> crate::serve::Serving {
    let manifest = s.path("plugbox.toml");
    let mut all = vec!["--manifest", manifest.to_str().unwrap()];
    all.extend_from_slice(args);
    crate::serve::Serving::start(&all)
}

const ECHO: &str = "[plugins.echo]\nsource = \"{p2}/http_echo.wasm\"\nroute = \"/\"\n";

#[test]
fn server_addr_and_plugin_route() {
    let s = Setup::new(
        "[server]\naddr = \"127.0.0.1:0\"\n[plugins.site]\nsource = \"{p2}/http_echo.wasm\"\nroute = \"/site\"\n[plugins.other]\nsource = \"{p2}/http_echo.wasm\"\n",
    );
    // No --addr flag: the manifest's address (not the default 8080).
    let manifest = s.path("plugbox.toml");
    let serving = crate::serve::Serving::spawn(&["--manifest", manifest.to_str().unwrap()]);
    assert_ne!(serving.addr.port(), 8080);
    let get = |p: &str| plugbox_test_support::client::get(serving.addr, p);
    assert_eq!(get("/site/a").text(), "/site/a");
    assert_eq!(get("/other/b").text(), "/other/b");
    let bad = Setup::new("[plugins.site]\nsource = \"{p2}/http_echo.wasm\"\nroute = \"site\"\n");
    expect(
        &bad.plugbox("serve", &["--addr", "127.0.0.1:0"]),
        2,
        "",
        "invalid route `site`: must start with `/`",
    );
}

#[test]
fn server_body_head_and_request_timeout() {
    use plugbox_test_support::client::{get, post, send};
    let s = Setup::new(&format!(
        "{ECHO}[server]\nmax-body = \"1KiB\"\nmax-header-size = \"2KiB\"\nrequest-timeout = \"300ms\"\n"
    ));
    let head = |size: usize| {
        http::Request::builder()
            .uri("/h")
            .header("x-big", "h".repeat(size))
            .body(String::new())
            .unwrap()
    };
    let serving = serve(&s, &[]);
    let addr = serving.addr;
    assert_eq!(post(addr, "/body", &"x".repeat(2000)).status, 413);
    assert_eq!(
        send(addr, http::Version::HTTP_11, head(3000))
            .unwrap()
            .status,
        431
    );
    assert_eq!(get(addr, "/sleep/60000").status, 504);
    drop(serving);
    // Flags override the manifest.
    let serving = serve(
        &s,
        &[
            "--max-body",
            "4KiB",
            "--max-header-size",
            "8KiB",
            "--request-timeout",
            "60s",
        ],
    );
    let addr = serving.addr;
    assert_eq!(post(addr, "/body", &"x".repeat(2000)).status, 200);
    assert_eq!(
        send(addr, http::Version::HTTP_11, head(3000))
            .unwrap()
            .status,
        200
    );
    assert_eq!(get(addr, "/sleep/400").text(), "slept 400");
}

#[test]
fn server_caps_on_requests_and_connections() {
    use crate::serve::{connect, read_to_close};
    use plugbox_test_support::client::get;
    use std::io::Write;
    let s = Setup::new(&format!("{ECHO}[server]\nmax-concurrent-requests = 1\n"));
    let serving = serve(&s, &[]);
    let addr = serving.addr;
    let held = std::thread::spawn(move || {
        loop {
            let r = get(addr, "/sleep/3000");
            if r.status != 503 {
                return r;
            }
        }
    });
    let start = std::time::Instant::now();
    while get(addr, "/x").status != 503 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never refused"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(held.join().unwrap().status, 200);
    drop(serving);
    let s = Setup::new(&format!("{ECHO}[server]\nmax-connections = 1\n"));
    let serving = serve(&s, &[]);
    let mut idle = connect(serving.addr);
    idle.write_all(b"GET /").unwrap();
    assert_eq!(get(serving.addr, "/x").text(), "/x");
    assert_eq!(read_to_close(&mut idle), "", "closed for the client");
}

#[test]
fn server_idle_header_read_and_shutdown_timeouts() {
    use crate::serve::{connect, read_to_close};
    use std::io::Write;
    let s = Setup::new(&format!(
        "{ECHO}[server]\nidle-timeout = \"1s\"\nheader-read-timeout = \"300ms\"\nshutdown-timeout = \"200ms\"\n"
    ));
    let serving = serve(&s, &[]);
    let mut idle = connect(serving.addr);
    idle.write_all(b"GET /a HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    assert!(read_to_close(&mut idle).starts_with("HTTP/1.1 200"));
    let mut slow = connect(serving.addr);
    slow.write_all(b"GET /a HTTP/1.1\r\nhost").unwrap();
    assert_eq!(read_to_close(&mut slow), "");
    let mut hanging = connect(serving.addr);
    hanging
        .write_all(b"GET /hang HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let start = std::time::Instant::now();
    while !plugbox_test_support::client::get(serving.addr, "/metrics")
        .text()
        .contains("plugbox_in_flight{plugin=\"echo\"} 1")
    {
        assert!(start.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The hanging request does not keep plugbox from exiting.
    let (code, stderr) = serving.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(read_to_close(&mut hanging), "");
}

#[test]
fn server_access_log_and_watch() {
    let s = Setup::new(&format!("{ECHO}[server]\naccess-log = true\n"));
    let serving = serve(&s, &[]);
    plugbox_test_support::client::get(serving.addr, "/seen");
    serving.wait_for("GET /seen 200");
    let (_, stderr) = serve(&s, &["--access-log=false"]).stop_with(libc::SIGTERM);
    assert!(!stderr.contains("plugbox::access"), "{stderr}");

    let s = Setup::new("[server]\nwatch = false\n[plugins.counter]\nsource = \"counter.wat\"\n");
    let source = s.path("counter.wat");
    std::fs::copy(wat("counter_v1.wat"), &source).unwrap();
    let replace = |from: &str| {
        let tmp = s.path("counter.tmp");
        std::fs::copy(wat(from), &tmp).unwrap();
        std::fs::rename(&tmp, &source).unwrap();
    };
    let serving = serve(&s, &[]);
    let version = |serving: &crate::serve::Serving| {
        plugbox_test_support::client::post(serving.addr, "/v1/plugins/counter/version", "[]").text()
    };
    replace("counter_v2.wat");
    assert_eq!(version(&serving), "[1]", "nothing watches the file");
    drop(serving);
    let serving = serve(&s, &["--watch"]);
    replace("counter_v1.wat");
    let start = std::time::Instant::now();
    while version(&serving) != "[1]" {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "never reloaded"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
