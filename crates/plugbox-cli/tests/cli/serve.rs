//! `plugbox serve` as a user runs it: a real process on a free loopback
//! port, real HTTP requests, signals to reload and to stop.

use crate::support::{assert_error, plugbox, rust_component, wat};
use plugbox_test_support::client::{get, get_h2, post};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen much sooner.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running `plugbox serve`, stopped (SIGTERM) when dropped.
pub struct Serving {
    child: Option<Child>,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serving {
    /// Starts `plugbox serve ARGS --addr 127.0.0.1:0` and waits for its
    /// banner: `Serving HTTP on http://ADDR/`, the routes, the JSON API.
    pub fn start(args: &[&str]) -> Self {
        let mut all = args.to_vec();
        all.extend(["--addr", "127.0.0.1:0"]);
        Self::spawn(&all)
    }

    /// Starts `plugbox serve ARGS` (which must pick a free port) and waits
    /// for its banner.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[])
    }

    /// As [`spawn`](Self::spawn), with variables set in plugbox's
    /// environment.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
            .arg("serve")
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env_remove("PLUGBOX_LOG")
            .spawn()
            .expect("plugbox serve starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let reader = {
            let lines = BufReader::new(child.stderr.take().unwrap());
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut addr = None;
                for line in lines.lines() {
                    let Ok(line) = line else { return };
                    if let Some(rest) = line.strip_prefix("Serving HTTP on http://") {
                        addr = rest.trim_end_matches('/').parse::<SocketAddr>().ok();
                    }
                    {
                        let mut all = stderr.lock().unwrap();
                        all.push_str(&line);
                        all.push('\n');
                    }
                    // The last line of the banner.
                    if line.contains(" -> JSON API (") {
                        let _ = addr_tx.send(addr);
                    }
                }
                let _ = addr_tx.send(None);
            })
        };
        let addr = addr_rx.recv_timeout(PATIENCE).ok().flatten();
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("plugbox serve did not start: {}", stderr.lock().unwrap());
        };
        Self {
            child: Some(child),
            addr,
            stderr,
            reader: Some(reader),
        }
    }

    /// plugbox's resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.as_ref().unwrap().id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        // SAFETY: `kill` on our own child's pid has no memory effects.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "cannot signal plugbox");
    }

    /// What plugbox wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_for(&self, needle: &str) {
        let start = Instant::now();
        while !self.stderr().contains(needle) {
            assert!(
                start.elapsed() < PATIENCE,
                "`{needle}` never came: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` and waits for the exit: its code and all of stderr.
    pub fn stop_with(mut self, signal: i32) -> (Option<i32>, String) {
        self.signal(signal);
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("plugbox serve did not stop: {}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.reader.take().unwrap().join().unwrap();
        (status.code(), self.stderr())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > PATIENCE {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.wait();
        }
    }
}

pub fn json(r: &plugbox_test_support::client::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()))
}

#[test]
fn serves_a_wasi_http_component_and_stops_on_sigterm() {
    let echo = rust_component("http_echo");
    let s = Serving::start(&[&echo]);
    assert!(
        s.stderr().contains("  / -> `http_echo` (wasi:http)"),
        "{}",
        s.stderr()
    );
    let request = http::Request::builder()
        .uri("/some/path?q=1")
        .header("x-echo", "from the test")
        .body(String::new())
        .unwrap();
    let r = plugbox_test_support::client::send(s.addr, http::Version::HTTP_11, request).unwrap();
    assert_eq!((r.status, r.text()), (200, "/some/path?q=1".into()));
    assert_eq!(r.header("x-echo"), "from the test");
    assert_eq!(r.header("x-plugbox-guest"), "http-echo");
    let r = get_h2(s.addr, "/h2");
    assert_eq!((r.version, r.text()), (http::Version::HTTP_2, "/h2".into()));
    assert_eq!(get(s.addr, "/healthz").status, 200);
    let listing = json(&get(s.addr, "/v1/plugins"));
    assert_eq!(listing["plugins"][0]["name"], "http_echo");
    assert_eq!(listing["plugins"][0]["http"], true);
    let (code, stderr) = s.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("server stopped"), "{stderr}");
}

#[test]
fn sigint_lets_requests_in_flight_finish_then_exits_0() {
    let echo = rust_component("http_echo");
    let s = Serving::start(&[&echo]);
    let addr = s.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/sleep/1500"));
    let start = Instant::now();
    while !get(addr, "/metrics")
        .text()
        .contains("plugbox_in_flight{plugin=\"http_echo\"} 1")
    {
        assert!(start.elapsed() < PATIENCE);
        std::thread::sleep(Duration::from_millis(5));
    }
    let (code, stderr) = s.stop_with(libc::SIGINT);
    assert_eq!(code, Some(0), "{stderr}");
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.text()), (200, "slept 1500".into()));
    assert!(stderr.contains("shutting down"), "{stderr}");
}

fn manifest_dir(body: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = body
        .replace("{wat}", &parent(&wat("add.wat")))
        .replace("{p2}", &parent(&rust_component("http_echo")));
    std::fs::write(dir.path().join("plugbox.toml"), text).unwrap();
    dir
}

fn parent(path: &str) -> String {
    std::path::Path::new(path)
        .parent()
        .unwrap()
        .display()
        .to_string()
}

const MANIFEST: &str = r#"
[server]
max-body = "1KiB"

[plugins.adder]
source = "{wat}/add.wat"

[plugins.greeter]
source = "{p2}/greeter.wasm"

[plugins.site]
source = "{p2}/http_echo.wasm"
route = "/site"
"#;

#[test]
fn serves_a_manifest_as_a_json_api_with_its_components_mounted() {
    let dir = manifest_dir(MANIFEST);
    let manifest = dir.path().join("plugbox.toml");
    let s = Serving::start(&["--manifest", manifest.to_str().unwrap()]);
    assert!(
        s.stderr().contains("  /site -> `site` (wasi:http)"),
        "{}",
        s.stderr()
    );
    assert!(
        s.stderr().contains("JSON API (3 plugins)"),
        "{}",
        s.stderr()
    );
    let r = post(s.addr, "/v1/plugins/adder/add", "[20, 22]");
    assert_eq!(json(&r), serde_json::json!([42]));
    let r = post(s.addr, "/v1/plugins/greeter/handle", r#"["you"]"#);
    assert_eq!(json(&r), serde_json::json!([{"ok": "hello, you"}]));
    assert_eq!(get(s.addr, "/site/page").text(), "/site/page");
    assert_eq!(get(s.addr, "/other").status, 404);
    // The manifest's [server] table applies.
    let r = post(s.addr, "/v1/plugins/adder/add", &" ".repeat(2000));
    assert_eq!(r.status, 413);
    let names: Vec<String> = json(&get(s.addr, "/v1/plugins"))["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["adder", "greeter", "site"]);
    drop(s);
    // A flag overrides it; a component and a manifest can be served
    // together.
    let echo = rust_component("http_echo");
    let s = Serving::start(&[
        &echo,
        "--manifest",
        manifest.to_str().unwrap(),
        "--max-body",
        "4KiB",
    ]);
    let r = post(
        s.addr,
        "/v1/plugins/adder/add",
        &format!("[1, 2]{}", " ".repeat(2000)),
    );
    assert_eq!(json(&r), serde_json::json!([3]));
    assert_eq!(get(s.addr, "/anything").text(), "/anything");
    assert_eq!(get(s.addr, "/site/x").text(), "/site/x");
}

#[test]
fn outbound_requests_need_allow_host() {
    let upstream = plugbox_test_support::HttpServer::start();
    let echo = rust_component("http_echo");
    let url = format!("/fetch?http://{}/inner", upstream.addr());
    let closed = Serving::start(&[&echo]);
    let r = get(closed.addr, &url);
    assert_eq!(
        (r.status, r.text()),
        (502, "error: ErrorCode::HttpRequestDenied".into())
    );
    assert_eq!(upstream.hits(), 0);
    drop(closed);
    let grant = upstream.addr().to_string();
    let open = Serving::start(&[&echo, "--allow-host", &grant]);
    let r = get(open.addr, &url);
    assert_eq!(
        (r.status, r.text()),
        (200, "200 upstream saw /inner".into())
    );
    assert_eq!(upstream.hits(), 1);
}

#[test]
fn bad_invocations_are_refused_naming_the_value() {
    let o = plugbox(&["serve"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(crate::support::stderr(&o).contains("COMPONENT"));
    let o = plugbox(&["serve", "missing.wasm", "--addr", "127.0.0.1:0"]);
    assert_error(&o, 7, "missing.wasm");
    let add = wat("add.wat");
    let o = plugbox(&["serve", &add, "--addr", "127.0.0.1:0"]);
    assert_error(&o, 2, "does not export `wasi:http/incoming-handler`");
    let echo = rust_component("http_echo");
    let o = plugbox(&["serve", &echo, "--addr", "localhost:80"]);
    assert_error(&o, 2, "invalid value 'localhost:80' for '--addr <ADDR>'");
    let o = plugbox(&["serve", &echo, "--max-connections", "0"]);
    assert_error(&o, 2, "invalid max-connections `0`");
    let o = plugbox(&["serve", &echo, "--request-timeout", "soon"]);
    assert_error(&o, 2, "soon");
    // An address in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = plugbox(&["serve", &echo, "--addr", &addr]);
    assert_error(&o, 7, &format!("cannot listen on `{addr}`"));
}

#[test]
fn access_log_writes_one_line_per_request() {
    let echo = rust_component("http_echo");
    let quiet = Serving::start(&[&echo]);
    get(quiet.addr, "/unlogged");
    let (_, stderr) = quiet.stop_with(libc::SIGTERM);
    assert!(!stderr.contains("/unlogged"), "{stderr}");
    let logged = Serving::start(&[&echo, "--access-log"]);
    get(logged.addr, "/logged");
    logged.wait_for("GET /logged 200");
    let line = logged
        .stderr()
        .lines()
        .find(|l| l.contains("GET /logged 200"))
        .unwrap()
        .to_string();
    assert!(line.contains("plugbox::access"), "{line}");
    assert!(line.contains("status=200"), "{line}");
}

/// Requests `POST /v1/plugins/counter/version` in a loop until `stop`,
/// returning every answer.
fn hammer(addr: SocketAddr, stop: Arc<std::sync::atomic::AtomicBool>) -> Vec<(u16, String)> {
    let mut answers = Vec::new();
    let start = Instant::now();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) && start.elapsed() < PATIENCE {
        let r = post(addr, "/v1/plugins/counter/version", "[]");
        answers.push((r.status, r.text()));
    }
    answers
}

/// Replaces `path` atomically (write beside it, rename over it).
fn replace(path: &std::path::Path, from: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn plugins_reload_under_load_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("counter.wat");
    std::fs::copy(wat("counter_v1.wat"), &source).unwrap();
    let manifest = dir.path().join("plugbox.toml");
    std::fs::write(&manifest, "[plugins.counter]\nsource = \"counter.wat\"\n").unwrap();

    // A file change, picked up by the watcher.
    let s = Serving::start(&["--manifest", manifest.to_str().unwrap()]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (addr, stop) = (s.addr, stop.clone());
        std::thread::spawn(move || hammer(addr, stop))
    };
    assert_eq!(
        json(&post(s.addr, "/v1/plugins/counter/version", "[]")),
        serde_json::json!([1])
    );
    replace(&source, &wat("counter_v2.wat"));
    let start = Instant::now();
    while json(&post(s.addr, "/v1/plugins/counter/version", "[]")) != serde_json::json!([2]) {
        assert!(start.elapsed() < PATIENCE, "never reloaded: {}", s.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answers = load.join().unwrap();
    assert!(answers.len() > 1);
    for (status, body) in &answers {
        assert!(
            *status == 200 && (body == "[1]" || body == "[2]"),
            "{status} {body}"
        );
    }
    drop(s);

    // SIGHUP, with the watcher off.
    let s = Serving::start(&["--manifest", manifest.to_str().unwrap(), "--watch=false"]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (addr, stop) = (s.addr, stop.clone());
        std::thread::spawn(move || hammer(addr, stop))
    };
    replace(&source, &wat("counter_v1.wat"));
    // Nothing watches the file: still version 2.
    assert_eq!(
        json(&post(s.addr, "/v1/plugins/counter/version", "[]")),
        serde_json::json!([2])
    );
    s.signal(libc::SIGHUP);
    s.wait_for("reloaded `counter`");
    assert_eq!(
        json(&post(s.addr, "/v1/plugins/counter/version", "[]")),
        serde_json::json!([1])
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for (status, body) in load.join().unwrap() {
        assert!(
            status == 200 && (body == "[1]" || body == "[2]"),
            "{status} {body}"
        );
    }
    // A broken new version is refused; the old one keeps serving.
    std::fs::write(
        &source,
        "(module (func (export \"version\") (result i32) oops))",
    )
    .unwrap();
    s.signal(libc::SIGHUP);
    s.wait_for("reload of `counter` refused");
    assert_eq!(
        json(&post(s.addr, "/v1/plugins/counter/version", "[]")),
        serde_json::json!([1])
    );
    let (code, _) = s.stop_with(libc::SIGTERM);
    assert_eq!(code, Some(0));
}

/// A raw connection to `addr`, reads bounded by [`PATIENCE`].
pub fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// What the server sends until it closes the connection.
pub fn read_to_close(stream: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs `plugbox serve ARGS`, which must refuse to start: its output. A
/// `plugbox serve` that serves instead is stopped after [`PATIENCE`] and
/// fails the test.
fn serve_refused(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_plugbox"))
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("PLUGBOX_LOG")
        .spawn()
        .expect("plugbox serve starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "plugbox serve {args:?} served instead of refusing: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

/// Writes `manifest` to a new directory's `plugbox.toml`, `{p2}` standing
/// for the directory of the component guests.
fn manifest_of(manifest: &str) -> (tempfile::TempDir, String) {
    let dir = manifest_dir(manifest);
    let path = dir.path().join("plugbox.toml").display().to_string();
    (dir, path)
}

#[test]
fn a_reload_that_is_not_a_wasi_http_component_is_refused_and_the_route_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("site.wasm");
    std::fs::copy(rust_component("http_echo"), &source).unwrap();
    let manifest = dir.path().join("plugbox.toml");
    std::fs::write(
        &manifest,
        "[plugins.site]\nsource = \"site.wasm\"\nroute = \"/site\"\n\n[plugins.page]\nsource = \"page.wasm\"\n",
    )
    .unwrap();
    let page = dir.path().join("page.wasm");
    std::fs::copy(rust_component("http_echo"), &page).unwrap();
    let s = Serving::start(&["--manifest", manifest.to_str().unwrap()]);
    assert_eq!(get(s.addr, "/site/a").text(), "/site/a");
    assert_eq!(get(s.addr, "/page/a").text(), "/page/a");
    let refused = |s: &Serving| s.stderr().matches("reload refused").count();
    // A component, but not a wasi:http one; then a core module. Start-up
    // refuses both at a route; so does the watcher's reload.
    let not_http = [
        format!("{}/greeter.wasm", parent(&rust_component("http_echo"))),
        wat("add.wat"),
    ];
    for file in &not_http {
        // One change may be seen more than once: at least one refusal.
        let before = refused(&s);
        replace(&source, file);
        let start = Instant::now();
        while refused(&s) == before {
            assert!(start.elapsed() < PATIENCE, "never refused: {}", s.stderr());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            s.stderr().contains(
                "cannot serve plugin `site` at `/site`: it is not a wasi:http component (it does not export `wasi:http/incoming-handler`)"
            ),
            "{}",
            s.stderr()
        );
        let r = get(s.addr, "/site/b");
        assert_eq!((r.status, r.text()), (200, "/site/b".into()));
        assert_eq!(json(&get(s.addr, "/v1/plugins/site"))["version"], 1);
    }
    // The same for a route derived from the plugin's name, and on SIGHUP.
    replace(&page, &wat("add.wat"));
    s.wait_for("cannot serve plugin `page` at `/page`");
    s.signal(libc::SIGHUP);
    s.wait_for("error: reload of `page` refused; version 1 keeps serving: cannot serve plugin `page` at `/page`");
    assert_eq!(get(s.addr, "/page/c").text(), "/page/c");
    assert_eq!(get(s.addr, "/site/c").text(), "/site/c");
    assert_eq!(json(&get(s.addr, "/v1/plugins/page"))["version"], 1);
}

#[test]
fn a_route_derived_from_a_plugin_name_is_checked_like_an_explicit_one() {
    for (name, route, why) in [
        ("a b", "/a b", "only URL path characters are allowed"),
        ("..", "/..", "empty, `.` and `..` segments are not allowed"),
        ("a?b", "/a?b", "only URL path characters are allowed"),
        ("healthz", "/healthz", "`/healthz` is the server's own"),
    ] {
        let (_dir, manifest) = manifest_of(&format!(
            "[plugins.\"{name}\"]\nsource = \"{{p2}}/http_echo.wasm\"\n"
        ));
        let o = serve_refused(&["--manifest", &manifest, "--addr", "127.0.0.1:0"]);
        assert_error(
            &o,
            2,
            &format!(
                "cannot mount plugin `{name}` at `{route}` (the route derived from its name; set an explicit `route`): invalid route `{route}`"
            ),
        );
        assert!(crate::support::stderr(&o).contains(why), "{name}: {o:?}");
    }
    // With an explicit route, the same plugin serves.
    let (_dir, manifest) =
        manifest_of("[plugins.\"a b\"]\nsource = \"{p2}/http_echo.wasm\"\nroute = \"/ab\"\n");
    let s = Serving::start(&["--manifest", &manifest]);
    assert_eq!(get(s.addr, "/ab/x").text(), "/ab/x");
}

#[test]
fn server_timeouts_below_their_bounds_are_refused_from_flags_and_manifest() {
    let echo = rust_component("http_echo");
    for (key, tiny, bound) in [
        ("idle-timeout", "1ns", "1s"),
        ("idle-timeout", "500ms", "1s"),
        ("header-read-timeout", "1ns", "100ms"),
        ("request-timeout", "1ns", "100ms"),
    ] {
        let expected = format!("invalid {key} `{tiny}`: must be at least {bound}");
        let flag = format!("--{key}");
        let o = serve_refused(&[&echo, "--addr", "127.0.0.1:0", &flag, tiny]);
        assert_error(&o, 2, &expected);
        let (_dir, manifest) = manifest_of(&format!("[server]\n{key} = \"{tiny}\"\n"));
        let o = serve_refused(&[&echo, "--manifest", &manifest, "--addr", "127.0.0.1:0"]);
        assert_error(&o, 2, &format!("[server]: {expected}"));
    }
    // At the bounds, plugbox serves.
    let s = Serving::start(&[
        &echo,
        "--idle-timeout",
        "1s",
        "--header-read-timeout",
        "100ms",
        "--request-timeout",
        "100ms",
    ]);
    assert_eq!(get(s.addr, "/x").text(), "/x");
}

#[test]
fn an_array_of_tables_for_server_is_named() {
    let echo = rust_component("http_echo");
    let (_dir, manifest) = manifest_of("[[server]]\naddr = \"127.0.0.1:0\"\n");
    let o = serve_refused(&[&echo, "--manifest", &manifest, "--addr", "127.0.0.1:0"]);
    assert_error(
        &o,
        2,
        "key `server`: must be a table (one `[...]` header), not an array of tables (`[[...]]`)",
    );
}

/// A chunked `POST /body` whose body ends with `trailers` trailer fields.
fn with_trailers(trailers: usize) -> Vec<u8> {
    let mut request = b"POST /body HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\n".to_vec();
    for i in 0..trailers {
        request.extend(format!("x-trailer-{i}: {i}\r\n").as_bytes());
    }
    request.extend(b"\r\n");
    request
}

#[test]
fn a_body_with_too_many_trailers_gets_400_without_a_host_backtrace() {
    use std::io::Write;
    let echo = rust_component("http_echo");
    let s = Serving::spawn_with_env(
        &[&echo, "--addr", "127.0.0.1:0"],
        &[("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")],
    );
    // A body with a few trailers is read; the instance pool and the code
    // paths are warm after it.
    for _ in 0..3 {
        let mut ok = connect(s.addr);
        ok.write_all(&with_trailers(3)).unwrap();
        let answer = read_to_close(&mut ok);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("hello"), "{answer}");
    }
    let before = s.rss_kib();
    // Past hyper's 100 fields: the body cannot be read. The guest sees a
    // stream error and reads its text; that text carries no host
    // backtrace, so nothing loads plugbox's debug information (which
    // took 220 MB and 0.3 s per process).
    for _ in 0..3 {
        let mut hostile = connect(s.addr);
        hostile.write_all(&with_trailers(200)).unwrap();
        let answer = read_to_close(&mut hostile);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains(r#""kind":"invalid_argument""#), "{answer}");
        assert!(answer.contains("trailers"), "{answer}");
    }
    let grown = s.rss_kib().saturating_sub(before);
    assert!(grown < 16 << 10, "RSS grew by {grown} KiB");
    assert_eq!(get(s.addr, "/x").text(), "/x");
}
