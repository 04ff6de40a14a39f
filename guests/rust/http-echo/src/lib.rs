//! A `wasi:http/proxy` component for the server's tests. It answers
//! every request with status 200, its path (and query) as the body, and
//! the headers `x-plugbox-guest: http-echo`, `x-method` and (when the
//! request has one) `x-echo`; some paths do something else:
//!
//! - `/body`: answers with the request body;
//! - `/count`: answers with how many requests this instance has handled
//!   (always 1 when every request gets a fresh instance);
//! - `/sleep/MS`: waits MS milliseconds (a WASI clock), then answers;
//! - `/spin`: loops forever;
//! - `/hang`: waits forever for a clock that never fires;
//! - `/alloc/MIB`: allocates and touches MIB MiB, then answers;
//! - `/panic`: panics;
//! - `/noresponse`: returns without a response;
//! - `/error`: answers with a `wasi:http` error code;
//! - `/big/KIB`: answers with KIB KiB of `x`;
//! - `/fetch?URL`: sends `GET URL` and answers with `STATUS BODY`, or with
//!   status 502 and `error: CODE` when the request fails (a denied host is
//!   such an error, not a failure of the component).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use wasip2::http::types::{
    ErrorCode, Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

struct Echo;

/// Requests this instance has handled.
static HANDLED: AtomicU32 = AtomicU32::new(0);

impl wasip2::exports::http::incoming_handler::Guest for Echo {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let handled = HANDLED.fetch_add(1, Ordering::Relaxed) + 1;
        let path = request.path_with_query().unwrap_or_default();
        let (route, arg) = split(&path);
        match route {
            "/body" => {
                let mut body = Vec::new();
                let ok = request
                    .consume()
                    .ok()
                    .and_then(|b| {
                        let mut stream = b.stream().ok()?;
                        stream.read_to_end(&mut body).ok()
                    })
                    .is_some();
                if ok {
                    respond(out, 200, &[], &body);
                } else {
                    respond(out, 500, &[], b"cannot read the request body");
                }
            }
            "/count" => respond(out, 200, &[], handled.to_string().as_bytes()),
            "/sleep" => {
                let ms: u64 = arg.parse().unwrap_or(0);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                respond(out, 200, &[], format!("slept {ms}").as_bytes());
            }
            "/spin" => spin(),
            "/hang" => {
                wasip2::clocks::monotonic_clock::subscribe_instant(u64::MAX).block();
                respond(out, 200, &[], b"the clock fired");
            }
            "/alloc" => {
                let mib: usize = arg.parse().unwrap_or(0);
                let block = vec![1u8; mib << 20];
                let sum: u64 = block.iter().step_by(4096).map(|b| u64::from(*b)).sum();
                respond(out, 200, &[], format!("touched {sum} pages").as_bytes());
            }
            "/panic" => panic!("asked to panic"),
            "/noresponse" => {}
            "/error" => {
                ResponseOutparam::set(out, Err(ErrorCode::InternalError(Some("asked to".into()))))
            }
            "/big" => {
                let kib: usize = arg.parse().unwrap_or(0);
                respond(out, 200, &[], &vec![b'x'; kib << 10]);
            }
            "/fetch" => match fetch(arg) {
                Ok((status, body)) => {
                    let mut text = format!("{status} ").into_bytes();
                    text.extend_from_slice(&body);
                    respond(out, 200, &[], &text);
                }
                Err(code) => respond(out, 502, &[], format!("error: {code:?}").as_bytes()),
            },
            _ => {
                let method = match request.method() {
                    Method::Get => "GET".to_string(),
                    Method::Post => "POST".to_string(),
                    Method::Put => "PUT".to_string(),
                    Method::Other(m) => m,
                    other => format!("{other:?}").to_uppercase(),
                };
                let mut extra = vec![("x-method".to_string(), method.into_bytes())];
                for value in request.headers().get("x-echo") {
                    extra.push(("x-echo".to_string(), value));
                }
                respond(out, 200, &extra, path.as_bytes());
            }
        }
    }
}

/// `/sleep/5` → (`/sleep`, `5`); `/fetch?URL` → (`/fetch`, `URL`).
fn split(path: &str) -> (&str, &str) {
    if let Some(rest) = path.strip_prefix("/fetch?") {
        return ("/fetch", rest);
    }
    let trimmed = path.split('?').next().unwrap_or(path);
    match trimmed[1.min(trimmed.len())..].split_once('/') {
        Some((head, arg)) => (&trimmed[..head.len() + 1], arg),
        None => (trimmed, ""),
    }
}

#[inline(never)]
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn respond(out: ResponseOutparam, status: u16, extra: &[(String, Vec<u8>)], body: &[u8]) {
    let mut headers = vec![
        ("content-type".to_string(), b"text/plain".to_vec()),
        ("x-plugbox-guest".to_string(), b"http-echo".to_vec()),
    ];
    headers.extend_from_slice(extra);
    let fields = Fields::from_list(&headers).expect("valid headers");
    let response = OutgoingResponse::new(fields);
    response.set_status_code(status).expect("valid status");
    let outgoing = response.body().expect("a response body");
    ResponseOutparam::set(out, Ok(response));
    {
        let mut stream = outgoing.write().expect("a body stream");
        // The client may have gone away: stop writing then.
        for chunk in body.chunks(4096) {
            if stream.write_all(chunk).is_err() {
                return;
            }
        }
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

/// `GET url` (http or https).
fn fetch(url: &str) -> Result<(u16, Vec<u8>), ErrorCode> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => (Scheme::Https, rest),
        Some((_, rest)) => (Scheme::Http, rest),
        None => (Scheme::Http, url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    request
        .set_authority(Some(authority))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
    let pending = wasip2::http::outgoing_handler::handle(request, None)?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or(ErrorCode::InternalError(Some("no response".into())))?
        .map_err(|()| ErrorCode::InternalError(Some("response taken twice".into())))??;
    let status = response.status();
    let mut body = Vec::new();
    if let Ok(incoming) = response.consume()
        && let Ok(mut stream) = incoming.stream()
    {
        let _ = stream.read_to_end(&mut body);
    }
    Ok((status, body))
}

wasip2::http::proxy::export!(Echo);
