//! `plugbox serve`'s JSON API and `/metrics` against hostile clients:
//! names made up in URLs, label injection, huge and deep bodies, and what
//! a failed call tells the client.

use crate::serve::{Serving, json};
use crate::support::{assert_error, rust_component, wat};
use plugbox_test_support::client::{get, post};

/// A directory with `plugbox.toml` holding `manifest`, where `{add}` is
/// `add.wat`'s path and `{kvprobe}` the kvprobe component's.
fn manifest_dir(manifest: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = manifest
        .replace("{add}", &toml_path(&wat("add.wat")))
        .replace("{kvprobe}", &toml_path(&rust_component("kvprobe")));
    let path = dir.path().join("plugbox.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path.display().to_string())
}

/// A path as a TOML literal string's content.
fn toml_path(path: &str) -> String {
    assert!(!path.contains('\''), "{path}");
    path.to_string()
}

fn serve(manifest: &str) -> (tempfile::TempDir, Serving) {
    let (dir, path) = manifest_dir(manifest);
    let s = Serving::start(&["--manifest", &path]);
    (dir, s)
}

/// A name no plugin has: `n` letters from a counter.
fn made_up(i: usize, n: usize) -> String {
    let mut x = i as u64 ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect()
}

fn metrics(s: &Serving) -> String {
    let r = get(s.addr, "/metrics");
    assert_eq!(r.status, 200);
    r.text()
}

#[test]
fn names_in_urls_do_not_become_metrics_labels() {
    let (_dir, s) = serve("[plugins.adder]\nsource = '{add}'\n");
    assert_eq!(
        json(&post(s.addr, "/v1/plugins/adder/add", "[1, 2]")),
        serde_json::json!([3])
    );
    // Every kind of request an unknown name can make, once, and a scrape
    // (counted once it is over: the second one shows the first).
    assert_eq!(get(s.addr, "/v1/plugins/nope").status, 404);
    assert_eq!(post(s.addr, "/v1/plugins/nope/f", "[]").status, 404);
    metrics(&s);
    let before = metrics(&s);
    for i in 0..300 {
        let name = made_up(i, 2000);
        assert_eq!(get(s.addr, &format!("/v1/plugins/{name}")).status, 404);
        assert_eq!(
            post(s.addr, &format!("/v1/plugins/{name}/f"), "[]").status,
            404
        );
    }
    let after = metrics(&s);
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "{before}\n---\n{after}"
    );
    assert!(after.len() < 64 << 10, "{} bytes", after.len());
    assert!(!after.contains(&made_up(7, 2000)));
    let line = |text: &str, start: &str| {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` in {text}"))
            .to_string()
    };
    // Unknown names are counted under no plugin label.
    assert_eq!(
        line(
            &after,
            r#"plugbox_http_requests_total{handler="plugins",status="404"}"#
        ),
        r#"plugbox_http_requests_total{handler="plugins",status="404"} 301"#
    );
    assert_eq!(
        line(
            &after,
            r#"plugbox_http_requests_total{handler="call",status="404"}"#
        ),
        r#"plugbox_http_requests_total{handler="call",status="404"} 301"#
    );
    // A loaded plugin keeps its label.
    assert_eq!(
        line(
            &after,
            r#"plugbox_http_requests_total{handler="call",plugin="adder""#
        ),
        r#"plugbox_http_requests_total{handler="call",plugin="adder",status="200"} 1"#
    );
    assert_eq!(
        line(&after, "plugbox_calls_total{"),
        r#"plugbox_calls_total{plugin="adder"} 1"#
    );
}

#[test]
fn label_values_are_escaped() {
    let (_dir, s) = serve("[plugins.'a\"b\\c']\nsource = '{add}'\n");
    let injection = "/v1/plugins/x%22%7D%201%0Aplugbox_injected_total%2012345%0A%23%20%7B%22";
    assert_eq!(get(s.addr, injection).status, 404);
    let r = post(s.addr, "/v1/plugins/a%22b%5Cc/add", "[1, 2]");
    assert_eq!(json(&r), serde_json::json!([3]));
    let text = metrics(&s);
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("plugbox_injected_total")),
        "{text}"
    );
    for line in [
        r#"plugbox_calls_total{plugin="a\"b\\c"} 1"#,
        r#"plugbox_http_requests_total{handler="call",plugin="a\"b\\c",status="200"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in {text}");
    }
}

#[test]
fn plugin_names_with_control_characters_are_refused() {
    let (_dir, path) = manifest_dir("[plugins.\"a\\nb\"]\nsource = '{add}'\n");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .args(["serve", "--manifest", &path, "--addr", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("plugbox serve started with a newline in a plugin name");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_error(
        &child.wait_with_output().unwrap(),
        2,
        r"plugin name `a\nb` contains a control character (U+000A)",
    );
}

#[test]
fn call_bodies_are_checked_while_they_are_parsed() {
    let (_dir, s) =
        serve("[plugins.adder]\nsource = '{add}'\n[plugins.kvprobe]\nsource = '{kvprobe}'\n");
    let refused = |path: &str, body: &str| {
        let r = post(s.addr, path, body);
        assert_eq!(r.status, 400, "{}", r.text());
        let error = &json(&r)["error"];
        assert_eq!(error["kind"], "invalid_argument", "{error}");
        error["message"].as_str().unwrap().to_string()
    };
    // 8 MiB of arguments to a function of two.
    let many = format!("[{}1]", "1,".repeat(4 << 20));
    assert_eq!(
        refused("/v1/plugins/adder/add", &many),
        "`add` takes 2 arguments (i32, i32) -> i32 but at least 3 were given"
    );
    let deep = format!("[{}", "[".repeat(1 << 20));
    assert_eq!(
        refused("/v1/plugins/kvprobe/handle", &deep),
        "invalid argument `input` of `handle`: it nests arrays and objects deeper than 64 levels"
    );
    assert_eq!(
        refused(
            "/v1/plugins/adder/add",
            &format!("[{}]", "[1,".repeat(1000))
        ),
        "invalid argument 1 of `add` (i32): `[…]` is a JSON array, expected a number"
    );
    // The messages of the other bad bodies are as they were.
    assert_eq!(
        refused("/v1/plugins/adder/add", r#"{"a": 1}"#),
        "the body must be a JSON array of arguments, not an object"
    );
    assert_eq!(
        refused("/v1/plugins/adder/add", "[1, 2"),
        "the body is not valid JSON: EOF while parsing a list at line 1 column 5"
    );
    assert_eq!(
        refused("/v1/plugins/adder/add", "[1]"),
        "`add` takes 2 arguments (i32, i32) -> i32 but 1 was given"
    );
    // Nesting a component takes is fine.
    let r = post(s.addr, "/v1/plugins/kvprobe/handle", r#"["ping"]"#);
    assert_eq!(json(&r), serde_json::json!([{"ok": "pong"}]));
}

#[test]
fn internal_failures_keep_host_details_in_the_log() {
    let (_dir, s) = serve(
        "[plugins.remote]\nsource = '{kvprobe}'\n\
         [plugins.remote.kv]\nbackend = 'redis://127.0.0.1:1'\nop-timeout = '200ms'\n",
    );
    // The first version's functions have no error to return: their
    // failure fails the call.
    for op in ["legacy-get k", "legacy-del k", "legacy-keys"] {
        let body = serde_json::json!([op]).to_string();
        let r = post(s.addr, "/v1/plugins/remote/handle", &body);
        assert_eq!(r.status, 500, "{op}: {}", r.text());
        assert!(!r.text().contains("127.0.0.1:1"), "{op}: {}", r.text());
        let error = &json(&r)["error"];
        assert_eq!(error["kind"], "host_function", "{error}");
        assert_eq!(
            error["message"],
            "the call failed (host_function); the server's log has the details"
        );
    }
    s.wait_for("redis://127.0.0.1:1");
    assert!(
        s.stderr()
            .lines()
            .any(|l| l.contains("request failed") && l.contains("127.0.0.1:1")),
        "{}",
        s.stderr()
    );
}
