//! `fetch URL`: sends `GET URL` through `wasi:http/outgoing-handler` and
//! prints `STATUS BODY`; when the host refuses or the request fails, prints
//! `error: CODE` and exits with status 1. Built for wasm32-wasip2 (a
//! command component); the wasip1 build is not used.

use std::io::{Read, Write};
use wasip2::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};

fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: fetch URL");
        std::process::exit(2);
    };
    match get(&url) {
        Ok((status, body)) => {
            let mut out = std::io::stdout();
            let _ = write!(out, "{status} ");
            let _ = out.write_all(&body);
            let _ = writeln!(out);
        }
        Err(code) => {
            println!("error: {code:?}");
            std::process::exit(1);
        }
    }
}

fn get(url: &str) -> Result<(u16, Vec<u8>), ErrorCode> {
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
    let invalid = |()| ErrorCode::HttpRequestUriInvalid;
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    request.set_authority(Some(authority)).map_err(invalid)?;
    request.set_path_with_query(Some(path)).map_err(invalid)?;
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
