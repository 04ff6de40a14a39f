//! Plugin state across processes: it survives `plugbox` exiting (and being
//! killed mid-write), and processes sharing Redis see each other's writes.

use crate::serve::Serving;
use crate::support::{plugbox, rust_component, stderr, stdout};
use plugbox_test_support::client::post;
use plugbox_test_support::{RedisDb, RedisServer};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// `plugbox call FLAGS… kvprobe.wasm handle '"INPUT"'`: the guest's reply.
fn probe(flags: &[&str], input: &str) -> String {
    let probe = rust_component("kvprobe");
    let arg = serde_json::to_string(input).unwrap();
    let mut args = vec!["call"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[&probe, "handle", &arg]);
    let o = plugbox(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    stdout(&o).trim_end().to_string()
}

/// `plugbox run FLAGS… wasi-kv.wasm ARGS…`: its stdout.
fn wasi_kv(flags: &[&str], args: &[&str]) -> String {
    let guest = rust_component("wasi-kv");
    let mut all = vec!["run"];
    all.extend_from_slice(flags);
    all.push(&guest);
    all.extend_from_slice(args);
    let o = plugbox(&all);
    assert_eq!(o.status.code(), Some(0), "{all:?}: {}", stderr(&o));
    stdout(&o).trim_end().to_string()
}

#[test]
fn embedded_state_survives_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let flags = ["--data-dir", data.as_str()];
    assert_eq!(probe(&flags, "incr visits 1"), r#"{"ok":"1"}"#);
    assert_eq!(probe(&flags, "incr visits 1"), r#"{"ok":"2"}"#);
    assert!(dir.path().join("kv.sqlite3").is_file());
    // The namespace is the file's stem, however the file is named: a copy
    // elsewhere is the same plugin.
    let copy = dir.path().join("elsewhere/kvprobe.wasm");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(rust_component("kvprobe"), &copy).unwrap();
    let o = plugbox(&[
        "call",
        "--data-dir",
        &data,
        &copy.display().to_string(),
        "handle",
        "\"get visits\"",
    ]);
    assert_eq!(stdout(&o).trim_end(), r#"{"ok":"2"}"#, "{}", stderr(&o));
    // A wasi:keyvalue guest under another name has its own namespace...
    assert_eq!(wasi_kv(&flags, &["get", "visits"]), "-");
    // ... unless it is given the same one.
    let same = ["--data-dir", data.as_str(), "--kv-namespace", "kvprobe"];
    assert_eq!(wasi_kv(&same, &["incr", "visits", "1"]), "3");
    // Without a data directory, state is in memory: gone with the process.
    assert_eq!(probe(&["--kv", "memory"], "incr visits 1"), r#"{"ok":"1"}"#);
}

#[test]
fn the_embedded_store_survives_kill_9_during_writes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let guest = rust_component("wasi-kv");
    let mut last = 0u64;
    for round in 0..3 {
        // Increments forever, printing each value once it is committed.
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .args(["run", "--timeout", "none", "--data-dir", &data, &guest])
            .args(["count", "c", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("plugbox starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = 0u64;
        while printed < last + 200 {
            let line = lines.next().expect("a line").expect("utf-8");
            printed = line.parse().unwrap();
        }
        child.kill().unwrap(); // SIGKILL, mid-write
        child.wait().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("kv.sqlite3")).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "round {round}");
        drop(conn);
        let now: u64 = wasi_kv(&["--data-dir", &data], &["get", "c"])
            .parse()
            .unwrap();
        assert!(
            now >= printed,
            "round {round}: committed {printed}, found {now}"
        );
        last = now;
    }
}

#[test]
fn processes_sharing_redis_see_each_others_writes() {
    let db = RedisDb::new();
    let url = db.url();
    let flags = ["--kv", url.as_str(), "--kv-namespace", "shared"];
    let guest = rust_component("wasi-kv");
    // Two processes increment one counter at once.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .arg("run")
            .args(flags)
            .args([&guest, "count", "hits", "100"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("plugbox starts")
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert_eq!(wasi_kv(&flags, &["get", "hits"]), "200");
    // One writes, another (the plugin world's guest) reads, and back.
    assert_eq!(wasi_kv(&flags, &["set", "from-wasi", "1"]), "ok");
    assert_eq!(probe(&flags, "get from-wasi"), r#"{"ok":"1"}"#);
    assert_eq!(probe(&flags, "set from-probe 2"), r#"{"ok":"ok"}"#);
    assert_eq!(wasi_kv(&flags, &["get", "from-probe"]), "2");
}

#[test]
fn redis_down_is_an_error_of_the_guest_not_of_plugbox() {
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    let reply = probe(&["--kv", &url, "--kv-op-timeout", "200ms"], "set k v");
    assert!(reply.starts_with(r#"{"err":"unavailable: "#), "{reply}");
    let o = plugbox(&["run", "--kv", &url, &rust_component("wasi-kv"), "get", "k"]);
    assert_eq!(o.status.code(), Some(1), "the guest's own exit status");
    assert!(stderr(&o).contains("unavailable"), "{}", stderr(&o));
}

#[test]
fn a_kv_file_with_a_foreign_table_is_refused_at_open() {
    const PLUGBOX_KV_USAGE: &str = "`ns TEXT, bytes INTEGER, keys INTEGER`";
    let cases = [
        (
            "CREATE TABLE kv_usage (ns TEXT PRIMARY KEY, used INTEGER)",
            format!(
                "its table `kv_usage` is not plugbox's: it has the columns `ns TEXT, used INTEGER`, plugbox's has {PLUGBOX_KV_USAGE}"
            ),
        ),
        (
            // The right columns, but no key for the upserts to land on.
            "CREATE TABLE kv_usage (ns TEXT, bytes INTEGER, keys INTEGER)",
            "its table `kv_usage` is not plugbox's: it has no unique key on `ns`".to_string(),
        ),
        (
            "CREATE TABLE kv (id INTEGER PRIMARY KEY, body BLOB)",
            "its table `kv` is not plugbox's: it has the columns `id INTEGER, body BLOB`, plugbox's has `ns TEXT, key TEXT, value BLOB`".to_string(),
        ),
        (
            "CREATE VIEW kv AS SELECT 1 AS ns",
            "its `kv` is a view, not plugbox's table".to_string(),
        ),
    ];
    let probe = rust_component("kvprobe");
    let names = |file: &std::path::Path| -> Vec<String> {
        rusqlite::Connection::open(file)
            .unwrap()
            .prepare("SELECT name FROM sqlite_master ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (foreign, why) in cases {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kv.sqlite3");
        rusqlite::Connection::open(&file)
            .unwrap()
            .execute_batch(foreign)
            .unwrap();
        let before = names(&file);
        let data = dir.path().display().to_string();
        let o = plugbox(&[
            "call",
            "--data-dir",
            &data,
            &probe,
            "handle",
            "\"incr visits 1\"",
        ]);
        assert_eq!(o.status.code(), Some(7), "{foreign}: {}", stderr(&o));
        let expected = format!("cannot open the kv database `{}`: {why}", file.display());
        assert!(stderr(&o).contains(&expected), "{foreign}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{foreign}");
        // The file is left as it was: nothing of plugbox's added to it.
        assert_eq!(names(&file), before, "{foreign}");
    }
}

#[test]
fn a_write_redis_runs_after_its_deadline_changes_nothing_under_serve() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("plugbox.toml");
    let text = format!(
        "[kv]\nbackend = \"{}\"\nop-timeout = \"300ms\"\n[plugins.k]\nsource = \"{}\"\n",
        server.url(),
        rust_component("kvprobe")
    );
    std::fs::write(&manifest, text).unwrap();
    let s = Serving::start(&["--manifest", manifest.to_str().unwrap()]);
    let call = |input: &str| -> serde_json::Value {
        let body = serde_json::json!([input]).to_string();
        let r = post(s.addr, "/v1/plugins/k/handle", &body);
        assert_eq!(r.status, 200, "{input}: {}", r.text());
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()[0].clone()
    };
    assert_eq!(call("set warm 1"), serde_json::json!({"ok": "ok"}));
    server.pause();
    let failed: Vec<String> = (0..3)
        .map(|_| call("incr n 1")["err"].as_str().unwrap().to_string())
        .collect();
    server.resume();
    // Sent and unanswered, then not sent at all (the host reads Redis's
    // clock first after a failure, and Redis was frozen).
    assert!(failed[0].starts_with("outcome-unknown: "), "{failed:?}");
    assert!(
        failed[1..].iter().all(|e| e.starts_with("unavailable: ")),
        "{failed:?}"
    );
    // The increment Redis held ran after its deadline and changed nothing.
    assert_eq!(call("incr n 1"), serde_json::json!({"ok": "1"}));
}
