//! Hostile clients: names the server has never heard of (long, and made
//! to inject lines into `/metrics`), huge and deeply nested JSON, bodies
//! past `max-body`, heads too large or with too many fields, too many
//! trailers, garbage, HTTP/2 as well as HTTP/1.1, and slowloris clients
//! that trickle a head or a body a byte at a time. Each must get its
//! 4xx (or be cut off) and none may take the server down.

use crate::net::{self, Raw, Reply, request};
use crate::tally::{Class, status_key};
use crate::{Rng, Soak, expect_error, pause, record};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A plugin name that, written unescaped as a label value, would add the
/// line `plugbox_injected_total 12345` to `/metrics` (issue 21, item 2).
pub const INJECTED: &str = "x%22%7D%201%0Aplugbox_injected_total%2012345%0A%23%20%7B%22";

/// The start of every unknown plugin name the hostile clients send, so
/// that the report can tell them in `/metrics` from a fixed label value
/// the server may give unknown names.
pub const UNKNOWN_PREFIX: &str = "nosuch-";

/// The JSON API's call path of `adder.add`.
const ADD: &str = "/v1/plugins/adder/add";

/// The body of the largest request under the manifest's `max-body`
/// (1 MiB): `[1,1,…,1]`, 512 Ki arguments to a function of two.
fn huge_array() -> String {
    let n = (1 << 20) / 2 - 1;
    let mut body = String::with_capacity(1 << 20);
    body.push('[');
    for i in 0..n {
        body.push_str(if i == 0 { "1" } else { ",1" });
    }
    body.push(']');
    body
}

/// Records a hostile request answered over HTTP (hyper's client).
fn answered(
    soak: &Soak,
    case: &'static str,
    answer: &Result<Reply, String>,
    status: u16,
    kind: &str,
) {
    record(
        soak,
        Class::Hostile,
        case,
        answer,
        expect_error(answer, status, kind),
    );
}

/// Records a raw exchange: `statuses` are the answers accepted, `None`
/// standing for "closed without an answer".
fn raw_answered(soak: &Soak, case: &'static str, raw: &Raw, statuses: &[Option<u16>]) {
    let outcome = if !raw.closed {
        Err(format!(
            "the connection was neither answered and closed nor closed within {:?}",
            net::PATIENCE
        ))
    } else if statuses.contains(&raw.status) {
        Ok(())
    } else {
        Err(format!(
            "expected one of {statuses:?} (None: closed without an answer), got {:?}: {}",
            raw.status,
            crate::clip(&raw.text)
        ))
    };
    soak.tally.record(
        Class::Hostile,
        case,
        status_key(raw.status, raw.closed),
        outcome,
    );
}

/// A POST head of `ADD` with `fields` and `connection: close`.
fn head(fields: &str) -> Vec<u8> {
    format!("POST {ADD} HTTP/1.1\r\nhost: soak\r\n{fields}connection: close\r\n\r\n").into_bytes()
}

/// The hostile cases, one after another, until the run ends.
pub async fn run(soak: Arc<Soak>) {
    let mut rng = Rng::new(3);
    let huge = huge_array();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut last_long_name = Instant::now() - Duration::from_secs(10);
    let addr = soak.addr;
    let h1 = http::Version::HTTP_11;
    let h2 = http::Version::HTTP_2;
    while soak.running() {
        // Unknown names: a short one on every round, over both protocols;
        // a 4 KiB one at most once a second (each unknown name that
        // becomes a label value costs /metrics about as much as a
        // plugin, issue 21 item 1: this bounds what a failing run
        // costs).
        let name = format!("{UNKNOWN_PREFIX}{}", rng.word(24));
        let path = format!("/v1/plugins/{name}/run");
        let a = net::fresh(addr, h1, request("POST", &path, "[]")).await;
        answered(&soak, "unknown plugin name", &a, 404, "plugin_not_found");
        let a = net::fresh(addr, h2, request("POST", &path, "[]")).await;
        answered(
            &soak,
            "unknown plugin name (HTTP/2)",
            &a,
            404,
            "plugin_not_found",
        );
        if last_long_name.elapsed() >= Duration::from_secs(1) {
            last_long_name = Instant::now();
            let path = format!("/v1/plugins/{UNKNOWN_PREFIX}{}", rng.word(4089));
            let a = net::fresh(addr, h1, request("GET", &path, "")).await;
            answered(&soak, "4 KiB plugin name", &a, 404, "plugin_not_found");
        }
        let a = net::fresh(
            addr,
            h1,
            request("POST", &format!("/v1/plugins/{INJECTED}/f"), "[]"),
        )
        .await;
        answered(
            &soak,
            "name injecting a metrics line",
            &a,
            404,
            "plugin_not_found",
        );
        let path = format!("/v1/plugins/adder/{}", rng.word(12));
        let a = net::fresh(addr, h2, request("POST", &path, "[]")).await;
        answered(&soak, "unknown function", &a, 404, "export_not_found");
        let a = net::fresh(addr, h1, request("POST", "/v1/plugins/adder/%ZZ", "[]")).await;
        answered(&soak, "bad percent-encoding", &a, 400, "invalid_argument");
        let a = net::fresh(addr, h1, request("GET", ADD, "")).await;
        answered(&soak, "wrong method", &a, 405, "method_not_allowed");

        // Bodies.
        let a = net::fresh(addr, h1, request("POST", ADD, huge.clone())).await;
        answered(&soak, "1 MiB argument array", &a, 400, "invalid_argument");
        let a = net::fresh(addr, h2, request("POST", ADD, deep.clone())).await;
        answered(
            &soak,
            "JSON nested 100 000 deep",
            &a,
            400,
            "invalid_argument",
        );
        let a = net::fresh(addr, h1, request("POST", ADD, r#"{"a": 1}"#)).await;
        answered(&soak, "not a JSON array", &a, 400, "invalid_argument");
        let r = net::raw(
            addr,
            head("content-length: 4194304\r\n"),
            vec![b'1'; 64 << 10],
            None,
        )
        .await;
        raw_answered(&soak, "body over max-body (declared)", &r, &[Some(413)]);
        let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "2".repeat(64 << 10));
        let r = net::raw(
            addr,
            head("transfer-encoding: chunked\r\n"),
            chunk.repeat(32).into_bytes(),
            None,
        )
        .await;
        // Past the cap the server answers 413 and closes; a response
        // written while the client still sends may be lost to a reset.
        raw_answered(
            &soak,
            "body over max-body (chunked)",
            &r,
            &[Some(413), None],
        );

        // Heads and trailers.
        let big = format!("x-big: {}\r\n", "b".repeat(70_000));
        let r = net::raw(addr, head(&big), Vec::new(), None).await;
        raw_answered(&soak, "head over max-header-size", &r, &[Some(431)]);
        let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
        let r = net::raw(addr, head(&many), Vec::new(), None).await;
        raw_answered(&soak, "200 header fields", &r, &[Some(431)]);
        let trailers: String = (0..2000).map(|i| format!("x-t{i}: v\r\n")).collect();
        let body = format!("5\r\n[1,2]\r\n0\r\n{trailers}\r\n");
        let r = net::raw(
            addr,
            head("transfer-encoding: chunked\r\n"),
            body.into_bytes(),
            None,
        )
        .await;
        raw_answered(&soak, "2000 trailer fields", &r, &[Some(400)]);
        let a = net::fresh(addr, h2, {
            let mut r = request("GET", "/v1/plugins", "");
            r.headers_mut()
                .insert("x-big", "b".repeat(70_000).parse().expect("a header value"));
            r
        })
        .await;
        // hyper's HTTP/2 server answers this one itself: 431, no body.
        let outcome = match &a {
            Ok(r) if r.status == 431 => Ok(()),
            Ok(r) => Err(format!(
                "expected 431, got {} {}",
                r.status,
                crate::clip(&r.text())
            )),
            Err(e) => Err(format!("expected 431, got no answer: {e}")),
        };
        record(
            &soak,
            Class::Hostile,
            "head over max-header-size (HTTP/2)",
            &a,
            outcome,
        );
        let r = net::raw(
            addr,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n".to_vec(),
            Vec::new(),
            None,
        )
        .await;
        raw_answered(&soak, "garbage (a TLS hello)", &r, &[Some(400)]);
        pause(&soak, Duration::from_millis(50)).await;
    }
}

/// Heads trickled a byte every 100 ms: the server must close the
/// connection at `header-read-timeout` (2 s) without an answer.
pub async fn slowloris_head(soak: Arc<Soak>) {
    while soak.running() {
        let start = b"GET /v1/plugins HTTP/1.1\r\nhost: soak\r\n".to_vec();
        let rest = format!("x-slow: {}\r\n\r\n", "s".repeat(300)).into_bytes();
        let r = net::raw(soak.addr, start, rest, Some(Duration::from_millis(100))).await;
        raw_answered(&soak, "slowloris head", &r, &[None]);
    }
}

/// Bodies trickled a byte every 100 ms: the server must answer 408 at
/// `request-timeout` (5 s).
pub async fn slowloris_body(soak: Arc<Soak>) {
    while soak.running() {
        let r = net::raw(
            soak.addr,
            head("content-length: 1000\r\n"),
            vec![b' '; 1000],
            Some(Duration::from_millis(100)),
        )
        .await;
        raw_answered(&soak, "slowloris body", &r, &[Some(408)]);
    }
}
