//! The HTTP server, in process: wasi:http components over HTTP/1.1 and
//! HTTP/2, the JSON API and its statuses, /healthz and /metrics, routes,
//! and the server's own limits. Real sockets and a real HTTP client.

use crate::support::{engine, rust_component, wat};
use plugbox::serve::Server;
use plugbox::{Engine, EngineConfig, Limits, PluginManager, PluginSpec, ServerConfig};
use plugbox_test_support::client::{self, get, get_h2, post};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// A server running on its own runtime in a thread, on a loopback port;
/// shut down gracefully when dropped.
pub struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<plugbox::Result<()>>>,
}

impl Running {
    pub fn start(server: Server) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listening = server.bind().await?;
                addr_tx.send(listening.local_addr()).unwrap();
                listening
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
            })
        });
        let addr = addr_rx.recv().expect("the server binds");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Shuts down and waits until every connection is closed.
    pub fn stop(mut self) -> plugbox::Result<()> {
        self.stop.take().map(|s| s.send(()));
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `ServerConfig` on a free loopback port.
pub fn config() -> ServerConfig {
    ServerConfig::new().addr("127.0.0.1:0".parse().unwrap())
}

fn echo_manager(engine: &Engine, spec: PluginSpec) -> PluginManager {
    let manager = PluginManager::new(engine);
    manager.load("echo", spec).unwrap();
    manager
}

fn echo_spec() -> PluginSpec {
    PluginSpec::new(rust_component("http_echo"))
}

pub fn json_of(response: &client::Response) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

/// The error kind of a failed request's JSON body.
pub fn kind_of(response: &client::Response) -> String {
    json_of(response)["error"]["kind"]
        .as_str()
        .unwrap_or_else(|| panic!("no error kind: {}", response.text()))
        .to_string()
}

#[test]
fn a_wasi_http_component_is_served_over_http1_and_http2() {
    let manager = echo_manager(&engine(), echo_spec());
    let server = Server::new(manager, config())
        .unwrap()
        .mount("echo", "/")
        .unwrap();
    assert_eq!(server.routes(), [("/".to_string(), "echo".to_string())]);
    let running = Running::start(server);
    let request = http::Request::builder()
        .uri("/hello/world?x=1")
        .header("x-echo", "hi")
        .body(String::new())
        .unwrap();
    let r = client::send(running.addr, http::Version::HTTP_11, request).unwrap();
    assert_eq!((r.status, r.text()), (200, "/hello/world?x=1".into()));
    assert_eq!(r.header("x-plugbox-guest"), "http-echo");
    assert_eq!(r.header("x-echo"), "hi");
    let r = get_h2(running.addr, "/over/h2");
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!((r.status, r.text()), (200, "/over/h2".into()));
    let r = post(running.addr, "/body", "posted");
    assert_eq!((r.status, r.text()), (200, "posted".into()));
    // Each request in a fresh instance.
    for _ in 0..3 {
        assert_eq!(get(running.addr, "/count").text(), "1");
    }
    // The server's own paths stay the server's.
    assert_eq!(
        json_of(&get(running.addr, "/healthz")),
        json!({"status": "ok"})
    );
    running.stop().unwrap();
}

#[test]
fn a_guest_that_fails_gets_the_status_of_its_error() {
    let spec = echo_spec().limits(
        Limits::new()
            .timeout(Duration::from_millis(300))
            .max_memory(16 << 20),
    );
    let manager = echo_manager(&engine(), spec);
    let server = Server::new(manager, config()).unwrap();
    // Mounted at `/NAME` by default (the guest sees the whole path).
    assert_eq!(server.routes(), [("/echo".to_string(), "echo".to_string())]);
    let running = Running::start(server.mount("echo", "/").unwrap());
    let cases = [
        ("/spin", 504, "trap.timeout"),
        ("/hang", 504, "trap.timeout"),
        ("/alloc/64", 422, "resource_limit"),
        ("/panic", 500, "trap.unreachable"),
        ("/noresponse", 500, "other"),
    ];
    for (path, status, kind) in cases {
        let r = get(running.addr, path);
        assert_eq!((r.status, kind_of(&r).as_str()), (status, kind), "{path}");
    }
    assert_eq!(get(running.addr, "/fine").text(), "/fine");
}

#[test]
fn routes_pick_the_longest_prefix_and_conflicts_are_refused() {
    let manager = PluginManager::new(&engine());
    manager.load("a", echo_spec().route("/api")).unwrap();
    manager.load("b", echo_spec().route("/api/v2")).unwrap();
    manager
        .load("adder", PluginSpec::new(wat("add.wat")))
        .unwrap();
    let server = Server::new(manager.clone(), config()).unwrap();
    let running = Running::start(server);
    for (path, served) in [("/api/v2/x", true), ("/api/x", true), ("/apix", false)] {
        let r = get(running.addr, path);
        assert_eq!(r.status == 200, served, "{path}");
    }
    let listing = json_of(&get(running.addr, "/v1/plugins/b"));
    assert_eq!(listing["route"], "/api/v2");
    drop(running);

    let clash = PluginManager::new(&engine());
    clash.load("a", echo_spec().route("/same")).unwrap();
    clash.load("b", echo_spec().route("/same")).unwrap();
    let err = Server::new(clash, config()).unwrap_err();
    assert!(err.to_string().contains("both mounted at `/same`"), "{err}");

    let shadow = PluginManager::new(&engine());
    shadow.load("m", echo_spec().route("/metrics")).unwrap();
    let err = Server::new(shadow, config()).unwrap_err();
    assert!(
        err.to_string().contains("`/metrics` is the server's own"),
        "{err}"
    );

    let not_http = PluginManager::new(&engine());
    not_http
        .load("adder", PluginSpec::new(wat("add.wat")).route("/add"))
        .unwrap();
    let err = Server::new(not_http, config()).unwrap_err();
    assert!(
        err.to_string().contains("not a wasi:http component"),
        "{err}"
    );
    let err = Server::new(manager, config())
        .unwrap()
        .mount("adder", "/")
        .unwrap_err();
    assert!(
        matches!(err.kind(), plugbox::ErrorKind::ExportNotFound { .. }),
        "{err:#}"
    );
}

fn api_manager() -> PluginManager {
    let engine = Engine::new(&EngineConfig::new().consume_fuel(true)).unwrap();
    let manager = PluginManager::new(&engine);
    manager
        .load("adder", PluginSpec::new(wat("add.wat")))
        .unwrap();
    manager
        .load("greeter", PluginSpec::new(rust_component("greeter")))
        .unwrap();
    manager
        .load(
            "hostile",
            PluginSpec::new(wat("hostile.wat"))
                .limits(Limits::new().fuel(1_000_000).max_memory(1 << 20)),
        )
        .unwrap();
    manager
        .load(
            "slow",
            PluginSpec::new(wat("hostile.wat"))
                .limits(Limits::new().timeout(Duration::from_millis(200))),
        )
        .unwrap();
    manager
        .load("traps", PluginSpec::new(wat("traps.wat")))
        .unwrap();
    manager
}

#[test]
fn the_json_api_lists_plugins_and_calls_them() {
    let running = Running::start(Server::new(api_manager(), config()).unwrap());
    let listing = json_of(&get(running.addr, "/v1/plugins"));
    let plugins = listing["plugins"].as_array().unwrap();
    let names: Vec<&str> = plugins
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["adder", "greeter", "hostile", "slow", "traps"]);
    let adder = &plugins[0];
    assert_eq!(adder["kind"], "module");
    assert_eq!(adder["mode"], "stateless");
    assert_eq!(adder["http"], false);
    let add = adder["exports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "add")
        .unwrap();
    assert_eq!(add["signature"], "(i32, i32) -> i32");

    let r = post(running.addr, "/v1/plugins/adder/add", "[2, 3]");
    assert_eq!((r.status, json_of(&r)), (200, json!([5])));
    assert_eq!(r.header("content-type"), "application/json");
    // No body: no arguments.
    let r = post(running.addr, "/v1/plugins/adder/nothing", "");
    assert_eq!((r.status, json_of(&r)), (200, json!([])));
    let r = post(running.addr, "/v1/plugins/adder/answer", "");
    assert_eq!((r.status, kind_of(&r).as_str()), (404, "export_not_found"));
    assert_eq!(kind_of(&get(running.addr, "/elsewhere")), "not_found");

    // A component function, called with JSON values.
    let greeter = json_of(&get(running.addr, "/v1/plugins/greeter"));
    assert_eq!(greeter["kind"], "component");
    assert_eq!(
        greeter["exports"],
        json!([{"name": "handle", "signature": "func(input: string) -> result<string, string>"}])
    );
    let r = post(running.addr, "/v1/plugins/greeter/handle", r#"["world"]"#);
    assert_eq!(
        (r.status, json_of(&r)),
        (200, json!([{"ok": "hello, world"}]))
    );
}

#[test]
fn json_api_errors_carry_their_kind_and_status() {
    let config = config().max_body(64);
    let running = Running::start(Server::new(api_manager(), config).unwrap());
    let cases: [(&str, &str, u16, &str); 14] = [
        ("/v1/plugins/adder/add", "[1, ", 400, "invalid_argument"),
        (
            "/v1/plugins/adder/add",
            "{\"a\": 1}",
            400,
            "invalid_argument",
        ),
        ("/v1/plugins/adder/add", "[1]", 400, "invalid_argument"),
        (
            "/v1/plugins/adder/add",
            "[\"x\", 1]",
            400,
            "invalid_argument",
        ),
        ("/v1/plugins/nope/add", "[]", 404, "plugin_not_found"),
        ("/v1/plugins/adder/nope", "[]", 404, "export_not_found"),
        ("/v1/plugins/hostile/spin", "[]", 422, "trap.out_of_fuel"),
        ("/v1/plugins/hostile/memory_bomb", "[]", 200, ""),
        ("/v1/plugins/hostile/grow", "[100]", 200, ""),
        ("/v1/plugins/slow/spin", "[]", 504, "trap.timeout"),
        (
            "/v1/plugins/traps/unreachable",
            "[]",
            500,
            "trap.unreachable",
        ),
        (
            "/v1/plugins/traps/div_by_zero",
            "[0]",
            500,
            "trap.integer_division_by_zero",
        ),
        (
            "/v1/plugins/adder/add",
            &"[1,2]".repeat(20),
            413,
            "body_too_large",
        ),
        ("/v1/plugins/%zz/add", "[]", 400, "invalid_argument"),
    ];
    for (path, body, status, kind) in cases {
        let r = post(running.addr, path, body);
        assert_eq!(r.status, status, "{path} {body}: {}", r.text());
        if !kind.is_empty() {
            assert_eq!(kind_of(&r), kind, "{path} {body}");
            let message = json_of(&r)["error"]["message"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(!message.is_empty());
        }
    }
    // Refused growth is an answer (-1), not a failure: the memory cap holds.
    let r = post(running.addr, "/v1/plugins/hostile/grow", "[100]");
    assert_eq!(json_of(&r), json!([-1]));
    let r = get(running.addr, "/v1/plugins/adder/add");
    assert_eq!(
        (r.status, kind_of(&r).as_str()),
        (405, "method_not_allowed")
    );
    let r = post(running.addr, "/healthz", "");
    assert_eq!(r.status, 405);
    let r = get(running.addr, "/v1/plugins/nope");
    assert_eq!((r.status, kind_of(&r).as_str()), (404, "plugin_not_found"));
}

#[test]
fn healthz_and_metrics() {
    let running = Running::start(Server::new(api_manager(), config()).unwrap());
    assert_eq!(get(running.addr, "/healthz").status, 200);
    assert_eq!(
        post(running.addr, "/v1/plugins/adder/add", "[1, 2]").status,
        200
    );
    assert_eq!(
        post(running.addr, "/v1/plugins/traps/unreachable", "[]").status,
        500
    );
    let r = get(running.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .starts_with("application/openmetrics-text")
    );
    let text = r.text();
    for line in [
        "plugbox_calls_total{plugin=\"adder\"} 1",
        "plugbox_errors_total{plugin=\"traps\",kind=\"trap.unreachable\"} 1",
        "plugbox_http_requests_total{handler=\"call\",plugin=\"adder\",status=\"200\"} 1",
        "plugbox_http_requests_total{handler=\"call\",plugin=\"traps\",status=\"500\"} 1",
        "plugbox_http_requests_total{handler=\"healthz\",status=\"200\"} 1",
        "plugbox_http_request_duration_seconds_count{handler=\"call\",plugin=\"adder\"} 1",
        "plugbox_http_request_duration_seconds_bucket{le=\"+Inf\",handler=\"call\",plugin=\"adder\"} 1",
        // The scrape itself.
        "plugbox_http_requests_in_flight 1",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // This connection at least (the client's earlier ones may not be
    // closed on the server's side yet).
    let open: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("plugbox_http_connections "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no connections gauge in:\n{text}"));
    assert!(open >= 1, "{text}");
}
