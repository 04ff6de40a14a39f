//! Normal clients: well-behaved requests to well-behaved plugins, over
//! kept HTTP/1.1 connections, a connection per request (HTTP/1.1 and
//! HTTP/2) and a shared HTTP/2 connection. Every one must be answered
//! with exactly the expected status and body, whatever the hostile
//! clients, the guests and the reloads are doing meanwhile.

use crate::net::{self, H2, KeepAlive, Reply, request};
use crate::tally::Class;
use crate::{Rng, SEQ, Soak, clip, record};
use bytes::Bytes;
use http_body_util::Full;
use std::sync::Arc;

/// What a normal request must get back.
enum Want {
    /// This status and this body, byte for byte.
    Exact(u16, String),
    /// 200 and `[G]`, G a generation of `counter` that served between
    /// `low` (read before sending) and `pending` (read after the answer).
    Counter { low: u64 },
}

/// One normal request: its case, the request, what must come back.
fn pick(soak: &Soak, rng: &mut Rng) -> (&'static str, http::Request<Full<Bytes>>, Want) {
    let api = |f: &str, body: String| request("POST", &format!("/v1/plugins/{f}"), body);
    match rng.below(20) {
        0..=7 => {
            let a = rng.below(2_000_000) as i32 - 1_000_000;
            let b = rng.below(2_000_000) as i32 - 1_000_000;
            let sum = a.wrapping_add(b);
            (
                "adder.add",
                api("adder/add", format!("[{a}, {b}]")),
                Want::Exact(200, format!("[{sum}]")),
            )
        }
        8 => {
            let a = (rng.draw() >> 2) as i64;
            let b = rng.below(1000) as i64;
            (
                "adder.add64",
                api("adder/add64", format!("[{a},{b}]")),
                Want::Exact(200, format!("[{}]", a + b)),
            )
        }
        9..=12 => (
            "counter.version",
            api("counter/version", String::new()),
            Want::Counter {
                low: soak.serving.load(SEQ),
            },
        ),
        13..=15 => {
            let path = format!(
                "/echo/{}/{}?q={}",
                rng.word(6),
                rng.word(3),
                rng.below(1000)
            );
            (
                "echo (wasi:http)",
                request("GET", &path, ""),
                Want::Exact(200, path),
            )
        }
        16 => (
            "hostile.ok",
            api("hostile/ok", "[]".into()),
            Want::Exact(200, "[7]".into()),
        ),
        17 => (
            "traps.ok",
            api("traps/ok", String::new()),
            Want::Exact(200, "[1]".into()),
        ),
        18 => (
            "healthz",
            request("GET", "/healthz", ""),
            Want::Exact(200, r#"{"status":"ok"}"#.into()),
        ),
        _ => (
            "swap (multi-value)",
            api("adder/swap", "[3, 4]".into()),
            Want::Exact(200, "[4,3]".into()),
        ),
    }
}

/// Checks and records one answer.
fn check(soak: &Soak, case: &'static str, want: &Want, answer: &Result<Reply, String>) {
    let outcome = match (want, answer) {
        (Want::Exact(status, body), Ok(r)) if r.status == *status && r.body == body.as_bytes() => {
            Ok(())
        }
        (Want::Exact(status, body), Ok(r)) => Err(format!(
            "expected {status} {}, got {} {}",
            clip(body),
            r.status,
            clip(&r.text())
        )),
        (Want::Counter { low }, Ok(r)) => {
            let high = soak.pending.load(SEQ);
            let generation = r
                .text()
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok());
            match generation {
                Some(g) if r.status == 200 && (*low..=high).contains(&g) => Ok(()),
                _ => Err(format!(
                    "expected 200 [G] with G in {low}..={high} (the generations serving meanwhile), got {} {}",
                    r.status,
                    clip(&r.text())
                )),
            }
        }
        (_, Err(e)) => Err(format!("no answer: {e}")),
    };
    let outcome = outcome.map_err(|e| {
        if case.starts_with("echo") && soak.echo_swapped.load(SEQ) {
            format!("{e} (while a version of `echo` that must be refused was on disk)")
        } else {
            e
        }
    });
    record(soak, Class::Normal, case, answer, outcome);
}

/// Requests over one kept HTTP/1.1 connection, back to back.
pub async fn keep_alive(soak: Arc<Soak>, salt: u64) {
    let mut rng = Rng::new(salt);
    let mut conn = KeepAlive::new(soak.addr);
    while soak.running() {
        let (case, request, want) = pick(&soak, &mut rng);
        let answer = conn.send(request).await;
        check(&soak, case, &want, &answer);
    }
}

/// Requests over a connection each, HTTP/1.1 and HTTP/2 in turn.
pub async fn fresh(soak: Arc<Soak>) {
    let mut rng = Rng::new(7);
    let mut n = 0u64;
    while soak.running() {
        n += 1;
        let version = if n.is_multiple_of(2) {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        let (case, request, want) = pick(&soak, &mut rng);
        let answer = net::fresh(soak.addr, version, request).await;
        check(&soak, case, &want, &answer);
    }
}

/// Two streams at a time over one HTTP/2 connection.
pub async fn h2(soak: Arc<Soak>) {
    let stream = |salt: u64, conn: H2| {
        let soak = soak.clone();
        async move {
            let mut rng = Rng::new(salt);
            let mut conn = conn;
            while soak.running() {
                if conn.is_closed() {
                    match H2::open(soak.addr).await {
                        Ok(c) => conn = c,
                        Err(e) => {
                            soak.tally.fail(Class::Normal, "HTTP/2 connection", e);
                            crate::pause(&soak, std::time::Duration::from_secs(1)).await;
                            continue;
                        }
                    }
                }
                let (case, request, want) = pick(&soak, &mut rng);
                let answer = conn.send(request).await;
                check(&soak, case, &want, &answer);
            }
        }
    };
    let conn = match H2::open(soak.addr).await {
        Ok(conn) => conn,
        Err(e) => return soak.tally.fail(Class::Normal, "HTTP/2 connection", e),
    };
    tokio::join!(stream(11, conn.clone()), stream(13, conn));
}
