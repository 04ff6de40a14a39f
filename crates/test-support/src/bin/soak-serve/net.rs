//! Talking to the server: requests over a new connection, over a kept
//! HTTP/1.1 connection or over a shared HTTP/2 connection (hyper), and raw
//! bytes over TCP for what a well-behaved client would never send. Every
//! wait is bounded by [`PATIENCE`].

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest wait for anything the server should do much sooner: a
/// request without an answer by then has failed.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A response, read to its end.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `kind` of a JSON error body (`{"error":{"kind":…}}`), or "".
    pub fn kind(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["kind"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A request with a body.
pub fn request(method: &str, path: &str, body: impl Into<Bytes>) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(path)
        .body(Full::new(body.into()))
        .expect("a valid request")
}

async fn connect(addr: SocketAddr) -> Result<TokioIo<TcpStream>, String> {
    let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("cannot connect to {addr} within {PATIENCE:?}"))?
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    Ok(TokioIo::new(stream))
}

async fn read(response: http::Response<hyper::body::Incoming>) -> Result<Reply, String> {
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
        .to_bytes();
    Ok(Reply { status, body })
}

/// Sends `request` and reads the response, within [`PATIENCE`].
async fn exchange<F>(send: F) -> Result<Reply, String>
where
    F: std::future::Future<Output = Result<http::Response<hyper::body::Incoming>, hyper::Error>>,
{
    tokio::time::timeout(PATIENCE, async {
        read(send.await.map_err(|e| format!("request failed: {e}"))?).await
    })
    .await
    .map_err(|_| format!("no answer within {PATIENCE:?}"))?
}

fn with_host(addr: SocketAddr, request: &mut http::Request<Full<Bytes>>) {
    if !request.headers().contains_key(http::header::HOST) {
        let host = addr.to_string().parse().expect("a host header");
        request.headers_mut().insert(http::header::HOST, host);
    }
}

/// A kept HTTP/1.1 connection, opened again when the server closed it.
pub struct KeepAlive {
    addr: SocketAddr,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
    /// Connections opened so far.
    pub opened: u64,
}

impl KeepAlive {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            sender: None,
            opened: 0,
        }
    }

    pub async fn send(&mut self, mut request: http::Request<Full<Bytes>>) -> Result<Reply, String> {
        with_host(self.addr, &mut request);
        // A connection the server closed while it was quiet is opened
        // again; one that fails during a request fails that request.
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let io = connect(self.addr).await?;
            let (sender, conn) = http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
            tokio::spawn(conn);
            self.sender = Some(sender);
            self.opened += 1;
        }
        let sender = self.sender.as_mut().expect("a connection");
        let result = match tokio::time::timeout(PATIENCE, sender.ready()).await {
            Ok(Ok(())) => exchange(sender.send_request(request)).await,
            Ok(Err(e)) => Err(format!("connection not ready: {e}")),
            Err(_) => Err(format!("connection not ready within {PATIENCE:?}")),
        };
        if result.is_err() {
            self.sender = None;
        }
        result
    }
}

/// An HTTP/2 connection (prior knowledge) shared by several tasks.
#[derive(Clone)]
pub struct H2 {
    addr: SocketAddr,
    sender: http2::SendRequest<Full<Bytes>>,
}

impl H2 {
    pub async fn open(addr: SocketAddr) -> Result<Self, String> {
        let io = connect(addr).await?;
        let (sender, conn) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
        tokio::spawn(conn);
        Ok(Self { addr, sender })
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub async fn send(&mut self, mut request: http::Request<Full<Bytes>>) -> Result<Reply, String> {
        let uri = format!("http://{}{}", self.addr, request.uri());
        *request.uri_mut() = uri.parse().map_err(|e| format!("bad uri {uri}: {e}"))?;
        *request.version_mut() = http::Version::HTTP_2;
        match tokio::time::timeout(PATIENCE, self.sender.ready()).await {
            Ok(Ok(())) => exchange(self.sender.send_request(request)).await,
            Ok(Err(e)) => Err(format!("HTTP/2 connection not ready: {e}")),
            Err(_) => Err(format!("HTTP/2 connection not ready within {PATIENCE:?}")),
        }
    }
}

/// Sends `request` over a connection of its own, HTTP/1.1 or HTTP/2.
pub async fn fresh(
    addr: SocketAddr,
    version: http::Version,
    mut request: http::Request<Full<Bytes>>,
) -> Result<Reply, String> {
    if version == http::Version::HTTP_2 {
        return H2::open(addr).await?.send(request).await;
    }
    with_host(addr, &mut request);
    let io = connect(addr).await?;
    let (mut sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP/1.1 handshake: {e}"))?;
    tokio::spawn(conn);
    exchange(sender.send_request(request)).await
}

/// What came back on a raw connection before the server closed it.
pub struct Raw {
    /// The status of the HTTP/1.1 response, if one began.
    pub status: Option<u16>,
    pub text: String,
    /// The server closed the connection (or reset it) within
    /// [`PATIENCE`].
    pub closed: bool,
}

/// Writes `head`, then `trickle` one byte every `gap` (`None`: all at
/// once), while reading what the server sends until it closes the
/// connection; bounded by [`PATIENCE`].
pub async fn raw(addr: SocketAddr, head: Vec<u8>, trickle: Vec<u8>, gap: Option<Duration>) -> Raw {
    let stream = match connect(addr).await {
        Ok(io) => io.into_inner(),
        Err(e) => {
            return Raw {
                status: None,
                text: e,
                closed: false,
            };
        }
    };
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        // Write errors are the server closing: the reader sees it.
        if writer.write_all(&head).await.is_err() {
            return;
        }
        match gap {
            None => {
                let _ = writer.write_all(&trickle).await;
            }
            Some(gap) => {
                for byte in trickle {
                    if writer.write_all(&[byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(gap).await;
                }
            }
        }
        // Keep the connection open (half-closing it would end a head).
        tokio::time::sleep(PATIENCE).await;
    });
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if out.len() < 1 << 20 => out.extend_from_slice(&buf[..n]),
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    write.abort();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Raw {
        status,
        text,
        closed,
    }
}
