//! The server's own limits, and clients that try to take it down: body
//! and head caps, the request timeout, caps on requests and connections,
//! slowloris, endless bodies, malformed HTTP, many idle connections, and
//! graceful shutdown. Every test checks that a well-behaved client is
//! still served. No timing is asserted: a slow machine only makes the
//! tests wait longer (each wait is bounded).

use crate::serve::{Running, config, kind_of};
use crate::support::{engine, rust_component, wat};
use plugbox::serve::Server;
use plugbox::{Limits, PluginManager, PluginSpec, ServerConfig};
use plugbox_test_support::client::{get, post};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen much sooner.
const PATIENCE: Duration = Duration::from_secs(60);

/// `echo` (http-echo, mounted at `/`) and `adder` (add.wat).
fn server(config: ServerConfig) -> Running {
    let manager = PluginManager::new(&engine());
    manager
        .load(
            "echo",
            PluginSpec::new(rust_component("http_echo"))
                .limits(Limits::new().timeout(Duration::from_secs(120))),
        )
        .unwrap();
    manager
        .load("adder", PluginSpec::new(wat("add.wat")))
        .unwrap();
    let server = Server::new(manager, config)
        .unwrap()
        .mount("echo", "/")
        .unwrap();
    Running::start(server)
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection (or
/// resets it), bounded by [`PATIENCE`].
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither answered nor closed: {e}"),
        }
        assert!(start.elapsed() < PATIENCE, "the connection stayed open");
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of a raw HTTP/1.1 response, 0 if none arrived.
pub fn status_of(response: &str) -> u16 {
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A well-behaved client is served.
#[track_caller]
fn still_serves(addr: SocketAddr) {
    assert_eq!(get(addr, "/fine").text(), "/fine");
}

#[test]
fn bodies_and_heads_past_their_caps_are_refused() {
    let running = server(config().max_body(1024).max_header_size(2048));
    let addr = running.addr;
    // Declared too large: refused before the guest runs.
    let r = post(addr, "/v1/plugins/adder/add", &" ".repeat(2000));
    assert_eq!((r.status, kind_of(&r).as_str()), (413, "body_too_large"));
    let r = post(addr, "/body", &"x".repeat(2000));
    assert_eq!((r.status, kind_of(&r).as_str()), (413, "body_too_large"));
    // Chunked, no length: cut off at the cap while the guest reads it.
    let mut s = connect(addr);
    let chunk = format!("{:x}\r\n{}\r\n", 600, "y".repeat(600));
    let request = format!(
        "POST /body HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{chunk}{chunk}0\r\n\r\n"
    );
    s.write_all(request.as_bytes()).unwrap();
    let response = read_to_close(&mut s);
    assert_eq!(status_of(&response), 413, "{response}");
    // Within the cap.
    assert_eq!(
        post(addr, "/body", &"z".repeat(1000)).text(),
        "z".repeat(1000)
    );
    // A head over the cap: 431 (checked by plugbox under hyper's smallest
    // buffer, by hyper past it).
    for size in [3000, 20_000] {
        let request = http::Request::builder()
            .uri("/x")
            .header("x-big", "b".repeat(size))
            .body(String::new())
            .unwrap();
        let r = plugbox_test_support::client::send(addr, http::Version::HTTP_11, request);
        match r {
            Ok(r) => assert_eq!(r.status, 431, "{size}: {}", r.text()),
            Err(e) => panic!("{size}: {e}"),
        }
    }
    still_serves(addr);
}

#[test]
fn over_http2_a_head_past_the_cap_gets_a_complete_431() {
    // The default cap, 64 KiB: the cases a client meets.
    let running = server(config());
    let addr = running.addr;
    let big = |build: http::request::Builder| build.uri("/x").body(String::new()).unwrap();
    let cases = [
        // One large header: the header block needs CONTINUATION frames
        // past what HTTP/2 allowed for a 64 KiB list, which ended the
        // connection (curl: "Connection died, tried 5 times").
        (
            "one 70 KB header",
            big(http::Request::builder().header("x-big", "b".repeat(70_000))),
        ),
        // Many small ones: 64 KiB as HTTP/2 counts them, which hyper's h2
        // answered with a bare 431 and a stream reset.
        ("3000 headers", {
            let mut build = http::Request::builder();
            for i in 0..3000 {
                build = build.header(format!("x-h{i}"), "v");
            }
            big(build)
        }),
    ];
    for (what, request) in cases {
        // Every response is read to its end: a reset stream or connection
        // would fail it.
        let r = plugbox_test_support::client::send(addr, http::Version::HTTP_2, request)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(
            (r.status, kind_of(&r).as_str()),
            (431, "header_too_large"),
            "{what}: {}",
            r.text()
        );
        assert!(
            r.text().contains("max-header-size (64KiB)"),
            "{what}: {}",
            r.text()
        );
    }
    // A head within the cap is served over HTTP/2.
    let r = plugbox_test_support::client::send(
        addr,
        http::Version::HTTP_2,
        big(http::Request::builder().header("x-big", "b".repeat(30_000))),
    )
    .unwrap();
    assert_eq!((r.status, r.text()), (200, "/x".to_string()));
    still_serves(addr);
}

#[test]
fn malformed_requests_get_400_and_the_server_serves_on() {
    let running = server(config());
    for garbage in [
        "GARBAGE\r\n\r\n",
        "GET / HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n",
        "GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        "\u{1}\u{2}\u{3}\u{4}\r\n\r\n",
    ] {
        let mut s = connect(running.addr);
        s.write_all(garbage.as_bytes()).unwrap();
        let response = read_to_close(&mut s);
        assert_eq!(status_of(&response), 400, "{garbage:?}: {response}");
    }
    // A connection that closes halfway through a head.
    let mut s = connect(running.addr);
    s.write_all(b"GET /half HTTP/1.1\r\nho").unwrap();
    drop(s);
    still_serves(running.addr);
}

#[test]
fn a_slowloris_client_is_cut_off_and_others_are_served() {
    let running = server(config().header_read_timeout(Duration::from_millis(500)));
    let mut slow = connect(running.addr);
    slow.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    // One header byte at a time, for longer than the timeout allows.
    let writer = {
        let mut slow = slow.try_clone().unwrap();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < PATIENCE {
                if slow.write_all(b"x").is_err() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            false
        })
    };
    still_serves(running.addr);
    let answer = read_to_close(&mut slow);
    assert_eq!(answer, "", "no response to a head that never ended");
    assert!(writer.join().unwrap(), "the server closed the connection");
    still_serves(running.addr);
}

#[test]
fn an_endless_body_is_cut_off_at_max_body_or_the_request_timeout() {
    for (config, route, expected) in [
        (config().max_body(64 << 10), "/body", 413),
        (
            config()
                .max_body(None::<u64>)
                .request_timeout(Duration::from_millis(500)),
            "/v1/plugins/adder/add",
            408,
        ),
    ] {
        let running = server(config);
        let mut s = connect(running.addr);
        let head =
            format!("POST {route} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
        s.write_all(head.as_bytes()).unwrap();
        let writer = {
            let mut s = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let chunk = format!("{:x}\r\n{}\r\n", 1000, "e".repeat(1000));
                let start = Instant::now();
                // At most ~10 MiB per second, until the server stops
                // reading.
                while start.elapsed() < PATIENCE {
                    if s.write_all(chunk.as_bytes()).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        let response = read_to_close(&mut s);
        // The response may be lost to a reset when the server closes with
        // unread bytes; the metrics say what it answered.
        let status = status_of(&response);
        assert!(status == expected || status == 0, "{response}");
        drop(s);
        writer.join().unwrap();
        still_serves(running.addr);
        let metrics = get(running.addr, "/metrics").text();
        let counted = format!("status=\"{expected}\"}} 1");
        assert!(metrics.contains(&counted), "{counted} not in\n{metrics}");
    }
}

#[test]
fn a_request_past_the_request_timeout_gets_504() {
    let running = server(config().request_timeout(Duration::from_millis(300)));
    let r = get(running.addr, "/sleep/60000");
    assert_eq!((r.status, kind_of(&r).as_str()), (504, "request_timeout"));
    // A streamed response is cut off at the deadline too: the body ends
    // short (hyper closes the connection).
    still_serves(running.addr);
}

#[test]
fn past_max_concurrent_requests_a_request_gets_503() {
    let running = server(config().max_concurrent_requests(1));
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
    // Until the held request takes the only slot, others go through.
    let start = Instant::now();
    let refused = loop {
        let r = get(addr, "/fine");
        if r.status == 503 {
            break r;
        }
        assert!(start.elapsed() < PATIENCE, "never refused");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(kind_of(&refused), "server_busy");
    assert_eq!(refused.header("retry-after"), "1");
    assert_eq!(held.join().unwrap().text(), "slept 3000");
    still_serves(addr);
}

#[test]
fn many_idle_connections_do_not_lock_out_a_client() {
    // 2000 connections (fewer if the open-file limit is lower) against a
    // cap of 50, bounded for a shared CI machine; the mechanism does not
    // depend on the number: quiet connections give way to new ones.
    let running = server(
        config()
            .max_connections(50)
            .idle_timeout(Duration::from_secs(300))
            .header_read_timeout(Duration::from_secs(300)),
    );
    let mut idle = Vec::new();
    for i in 0..idle_connections(2000) {
        let mut s = TcpStream::connect(running.addr).unwrap();
        if i % 2 == 0 {
            // Half of them start a head and stop.
            let _ = s.write_all(b"GET / HTTP/1.1\r\n");
        }
        idle.push(s);
    }
    still_serves(running.addr);
    let metrics = get(running.addr, "/metrics").text();
    let open: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("plugbox_http_connections "))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(open <= 50, "{open} connections open");
    drop(idle);
    still_serves(running.addr);
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let running = server(config().idle_timeout(Duration::from_secs(1)));
    let mut s = connect(running.addr);
    s.write_all(b"GET /first HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    // The response, then the close once the connection has been idle.
    let response = read_to_close(&mut s);
    assert_eq!(status_of(&response), 200);
    assert!(response.contains("\r\n/first\r\n"), "{response}");
    still_serves(running.addr);
}

#[test]
fn shutdown_finishes_requests_in_flight_then_closes() {
    let running = server(config());
    let addr = running.addr;
    let in_flight = std::thread::spawn(move || get(addr, "/sleep/1500"));
    // The request is running once the metrics say so.
    let start = Instant::now();
    while !get(addr, "/metrics")
        .text()
        .contains("plugbox_in_flight{plugin=\"echo\"} 1")
    {
        assert!(start.elapsed() < PATIENCE);
        std::thread::sleep(Duration::from_millis(5));
    }
    running.stop().unwrap();
    let r = in_flight.join().unwrap();
    assert_eq!((r.status, r.text()), (200, "slept 1500".into()));
    assert!(TcpStream::connect(addr).is_err(), "no longer listening");
}

#[test]
fn shutdown_timeout_bounds_the_wait_for_requests_in_flight() {
    let running = server(config().shutdown_timeout(Duration::from_millis(200)));
    let addr = running.addr;
    let mut hanging = connect(addr);
    hanging
        .write_all(b"GET /hang HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    while !get(addr, "/metrics")
        .text()
        .contains("plugbox_in_flight{plugin=\"echo\"} 1")
    {
        assert!(start.elapsed() < PATIENCE);
        std::thread::sleep(Duration::from_millis(5));
    }
    running.stop().unwrap();
    // Its connection was closed without a response.
    assert_eq!(read_to_close(&mut hanging), "");
}

/// `wanted` connections, or as many as the open-file limit allows (raised
/// to its hard limit) with room for the server's own files in this
/// process.
fn idle_connections(wanted: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit`/`setrlimit` only read and write `limit`.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted.min(500);
        }
        let needed = (2 * wanted + 500).min(limit.rlim_max);
        if limit.rlim_cur < needed {
            limit.rlim_cur = needed;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        }
    }
    // Each connection is two files here (client and server side).
    wanted.min(limit.rlim_cur.saturating_sub(500) / 2)
}
