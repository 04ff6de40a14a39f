//! A blocking HTTP client for tests, on hyper: one connection per request,
//! HTTP/1.1 or HTTP/2 (prior knowledge), bounded by a minute so a broken
//! server fails the test instead of hanging it.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::time::Duration;

/// A response, read to its end.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub version: http::Version,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text, or "".
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime for the client")
}

/// Sends `request` to `addr` over a new connection with `version`
/// (`HTTP_11` or `HTTP_2`).
///
/// # Errors
///
/// A message when connecting, sending or reading fails, or after a minute.
pub fn send(
    addr: SocketAddr,
    version: http::Version,
    request: http::Request<String>,
) -> Result<Response, String> {
    runtime().block_on(async move {
        tokio::time::timeout(Duration::from_secs(60), send_async(addr, version, request))
            .await
            .map_err(|_| "no response within a minute".to_string())?
    })
}

/// As [`send`], from async code.
///
/// # Errors
///
/// As [`send`].
pub async fn send_async(
    addr: SocketAddr,
    version: http::Version,
    request: http::Request<String>,
) -> Result<Response, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (parts, body) = request.into_parts();
    let mut request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
    if !request.headers().contains_key(http::header::HOST) {
        request.headers_mut().insert(
            http::header::HOST,
            addr.to_string().parse().expect("a host header"),
        );
    }
    let response = if version == http::Version::HTTP_2 {
        // HTTP/2 needs the full URI.
        let uri = format!("http://{addr}{}", request.uri());
        *request.uri_mut() = uri.parse().map_err(|e| format!("bad uri {uri}: {e}"))?;
        *request.version_mut() = http::Version::HTTP_2;
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(request).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
        tokio::spawn(conn);
        sender.send_request(request).await
    }
    .map_err(|e| format!("request failed: {e}"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
        .to_bytes();
    Ok(Response {
        status: parts.status.as_u16(),
        version: parts.version,
        headers: parts.headers,
        body: body.to_vec(),
    })
}

fn request(method: &str, path: &str, body: &str) -> http::Request<String> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(body.to_string())
        .expect("a valid request")
}

/// `GET path` over HTTP/1.1; panics when there is no response.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    send(addr, http::Version::HTTP_11, request("GET", path, ""))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// `POST path` with `body` over HTTP/1.1; panics when there is no
/// response.
pub fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    send(addr, http::Version::HTTP_11, request("POST", path, body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// `GET path` over HTTP/2 (prior knowledge); panics when there is no
/// response.
pub fn get_h2(addr: SocketAddr, path: &str) -> Response {
    send(addr, http::Version::HTTP_2, request("GET", path, ""))
        .unwrap_or_else(|e| panic!("GET {path} over HTTP/2: {e}"))
}
