//! `wasi:http` components: a request runs through the call pipeline in a
//! fresh instance, under the plugin's limits; outbound requests reach only
//! the hosts the sandbox grants, and a refused one is a WASI error code
//! for the guest, not a failure of the call.

use crate::support::{engine, fuel_engine, rust_component};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use plugbox::{
    Engine, ErrorKind, HostPattern, Limit, Limits, Plugin, PluginManager, PluginSpec, Sandbox,
    TrapKind,
};
use std::time::Duration;

fn echo(engine: &Engine, limits: Limits, sandbox: Sandbox) -> Plugin {
    Plugin::builder(engine)
        .limits(limits)
        .sandbox(sandbox)
        .from_file(rust_component("http_echo"))
        .expect("http-echo loads")
}

fn request(method: &str, path: &str, body: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "plugbox.test")
        .header("x-echo", "hi")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// Status, `x-echo` header and body of the guest's response.
async fn send(plugin: &Plugin, method: &str, path: &str) -> plugbox::Result<(u16, String)> {
    let response = plugin.handle_http(request(method, path, "")).await?;
    Ok(read(response).await)
}

async fn read(response: http::Response<plugbox::HttpBody>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_gets_the_guests_response() {
    let plugin = echo(&engine(), Limits::new(), Sandbox::new());
    assert!(plugin.is_http_handler());
    let response = plugin
        .handle_http(request("GET", "/hello/world?x=1", ""))
        .await
        .unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers["x-plugbox-guest"], "http-echo");
    assert_eq!(headers["x-echo"], "hi");
    assert_eq!(headers["x-method"], "GET");
    assert_eq!(read(response).await, (200, "/hello/world?x=1".into()));
    let response = plugin
        .handle_http(request("POST", "/body", "a request body"))
        .await
        .unwrap();
    assert_eq!(read(response).await, (200, "a request body".into()));
    // A large response streams through.
    let (status, body) = send(&plugin, "GET", "/big/300").await.unwrap();
    assert_eq!((status, body.len()), (200, 300 << 10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_runs_in_a_fresh_instance() {
    let plugin = echo(&engine(), Limits::new(), Sandbox::new());
    for _ in 0..3 {
        assert_eq!(
            send(&plugin, "GET", "/count").await.unwrap(),
            (200, "1".into())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_run_under_the_plugins_limits() {
    let timed = echo(
        &engine(),
        Limits::new().timeout(Duration::from_millis(200)),
        Sandbox::new(),
    );
    for path in ["/spin", "/hang"] {
        let err = send(&timed, "GET", path).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Timeout), "{path}");
        assert!(
            format!("{err:#}").contains("wasi:http/incoming-handler#handle"),
            "{err:#}"
        );
    }
    // The timeout covers the request; a short one finishes well within.
    assert_eq!(
        send(&timed, "GET", "/sleep/1").await.unwrap(),
        (200, "slept 1".into())
    );

    let fueled = echo(
        &fuel_engine(),
        Limits::new().fuel(5_000_000),
        Sandbox::new(),
    );
    let err = send(&fueled, "GET", "/spin").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::OutOfFuel));
    assert_eq!(send(&fueled, "GET", "/x").await.unwrap().0, 200);

    let small = echo(
        &engine(),
        Limits::new().max_memory(16 << 20),
        Sandbox::new(),
    );
    let err = send(&small, "GET", "/alloc/64").await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ResourceLimit(Limit::Memory { allowed, .. }) if *allowed == 16 << 20),
        "{err:#}"
    );
    assert_eq!(send(&small, "GET", "/alloc/1").await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_that_fail_to_answer_are_errors() {
    let plugin = echo(&engine(), Limits::new(), Sandbox::new());
    let err = send(&plugin, "GET", "/panic").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Trap(_)), "{err:#}");
    let err = send(&plugin, "GET", "/noresponse").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Other);
    assert!(
        format!("{err:#}").contains("returned without setting a response"),
        "{err:#}"
    );
    let err = send(&plugin, "GET", "/error").await.unwrap_err();
    assert!(format!("{err:#}").contains("InternalError"), "{err:#}");
    // Other plugins serve on.
    assert_eq!(send(&plugin, "GET", "/ok").await.unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_without_an_incoming_handler_is_refused() {
    let greeter = Plugin::from_file(&engine(), rust_component("greeter")).unwrap();
    assert!(!greeter.is_http_handler());
    let err = greeter
        .handle_http(request("GET", "/", ""))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ExportNotFound { name } if name == "wasi:http/incoming-handler"),
        "{err:#}"
    );
    let core = crate::support::plugin("add.wat");
    assert!(!core.is_http_handler());
}

fn grants(hosts: &[&str]) -> Sandbox {
    hosts.iter().fold(Sandbox::new(), |s, h| {
        s.allow_host(HostPattern::parse(h).unwrap())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_reach_only_granted_hosts() {
    let up = plugbox_test_support::HttpServer::start();
    let port = up.addr().port();
    let fetch = |host: &str| format!("/fetch?http://{host}:{port}/inner");
    let engine = engine();

    // Denied by default: a WASI error code in the guest, which answers.
    let closed = echo(&engine, Limits::new(), Sandbox::new());
    assert_eq!(
        send(&closed, "GET", &fetch("127.0.0.1")).await.unwrap(),
        (502, "error: ErrorCode::HttpRequestDenied".into())
    );

    // A grant naming the address (and port) exactly opens it.
    let exact = echo(
        &engine,
        Limits::new(),
        grants(&[&format!("127.0.0.1:{port}")]),
    );
    assert_eq!(
        send(&exact, "GET", &fetch("127.0.0.1")).await.unwrap(),
        (200, "200 upstream saw /inner".into())
    );
    // ... for that port only.
    let other_port = format!("/fetch?http://127.0.0.1:{}/inner", port.wrapping_add(1));
    assert_eq!(
        send(&exact, "GET", &other_port).await.unwrap(),
        (502, "error: ErrorCode::HttpRequestDenied".into())
    );

    // A name given exactly reaches what it resolves to, loopback included.
    let named = echo(&engine, Limits::new(), grants(&["localhost"]));
    assert_eq!(
        send(&named, "GET", &fetch("localhost")).await.unwrap(),
        (200, "200 upstream saw /inner".into())
    );

    // Wildcards reach public addresses only: loopback stays closed.
    let any = echo(&engine, Limits::new(), grants(&["*"]));
    assert_eq!(
        send(&any, "GET", &fetch("127.0.0.1")).await.unwrap(),
        (502, "error: ErrorCode::DestinationIpProhibited".into())
    );
    assert_eq!(
        send(&any, "GET", &fetch("localhost")).await.unwrap(),
        (502, "error: ErrorCode::DestinationIpProhibited".into())
    );
    let sub = echo(&engine, Limits::new(), grants(&["*.example.org"]));
    assert_eq!(
        send(&sub, "GET", &fetch("127.0.0.1")).await.unwrap(),
        (502, "error: ErrorCode::HttpRequestDenied".into())
    );
    assert_eq!(up.hits(), 2, "refused requests never reach the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_requests_count_in_metrics_and_wait_for_a_permit() {
    let manager = PluginManager::new(&engine());
    manager
        .load(
            "site",
            PluginSpec::new(rust_component("http_echo"))
                .max_concurrency(1)
                .queue_timeout(Duration::from_millis(20))
                .limits(Limits::new().timeout(Duration::from_secs(60))),
        )
        .unwrap();
    let info = &manager.list()[0];
    assert!(info.http_handler);
    let response = manager
        .handle_http("site", request("GET", "/a", ""))
        .await
        .unwrap();
    assert_eq!(read(response).await, (200, "/a".into()));
    // The call is recorded when the guest returns, just after its body.
    while manager.metrics("site").unwrap().calls == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let metrics = manager.metrics("site").unwrap();
    assert_eq!((metrics.calls, metrics.in_flight), (1, 0));

    // One request holds the only permit while it hangs; the next one is
    // refused as busy once the queue timeout passes.
    let held = tokio::spawn({
        let manager = manager.clone();
        async move {
            manager
                .handle_http("site", request("GET", "/hang", ""))
                .await
        }
    });
    while manager.metrics("site").unwrap().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let err = manager
        .handle_http("site", request("GET", "/b", ""))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Busy);
    held.abort();
    let _ = held.await;
    let err = manager
        .handle_http("nope", request("GET", "/", ""))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::PluginNotFound(n) if n == "nope"));
}
