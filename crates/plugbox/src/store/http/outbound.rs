//! A guest's outgoing HTTP requests: denied unless a grant allows the
//! host, and sent only to the addresses the grant allows.
//!
//! The host is checked against the plugin's `allow-host` grants, then
//! resolved once; the connection goes to the addresses checked, never to
//! a second lookup of the name (so a name that resolves differently the
//! second time cannot reach a private address). A wildcard grant reaches
//! public addresses only; a grant naming the host exactly reaches what it
//! resolves to. A refused request is a `wasi:http` error code for the
//! guest (`HTTP-request-denied`, `destination-IP-prohibited`), never a
//! failure of the call.

use crate::config::{HostPattern, is_public, parse_ip};
use http::uri::Scheme;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// How long connecting (name lookup, TCP, TLS) may take when the guest
/// gives no `connect-timeout`; the call's deadline bounds it as well.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The hooks of one store: its plugin's outbound grants.
pub(super) struct Outbound {
    plugin: Arc<str>,
    allowed: Arc<[HostPattern]>,
}

impl Outbound {
    pub(super) fn new(plugin: Arc<str>, allowed: Arc<[HostPattern]>) -> Self {
        Self { plugin, allowed }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type Sent = Result<(http::Response<WasiBody>, IoFuture), Error>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_errors: IoFuture,
    ) -> Box<dyn Future<Output = Sent> + Send> {
        let plugin = self.plugin.clone();
        let allowed = self.allowed.clone();
        Box::new(async move {
            let connect_timeout = options
                .and_then(|o| o.connect_timeout)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
            let target = Target::of(request.uri())?;
            let addrs = match target.check(&allowed, connect_timeout).await {
                Ok(addrs) => addrs,
                Err(e) => {
                    tracing::info!(plugin = %plugin, host = %target.host, port = target.port, reason = %e, "outbound HTTP request refused");
                    return Err(e);
                }
            };
            tracing::debug!(plugin = %plugin, host = %target.host, port = target.port, "outbound HTTP request");
            let response = send(&target, &addrs, request, options, connect_timeout).await?;
            let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

/// Where a request goes.
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

impl Target {
    fn of(uri: &http::Uri) -> Result<Self, Error> {
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self {
            host: authority.host().to_string(),
            port,
            tls,
        })
    }

    /// The addresses the grants allow this request to reach.
    async fn check(
        &self,
        allowed: &[HostPattern],
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, Error> {
        let grants: Vec<&HostPattern> = allowed
            .iter()
            .filter(|p| p.matches(&self.host, self.port))
            .collect();
        if grants.is_empty() {
            return Err(Error::HttpRequestDenied);
        }
        let exact = grants.iter().any(|g| g.is_exact());
        let resolved: Vec<SocketAddr> = match parse_ip(&self.host) {
            Some(ip) => vec![SocketAddr::new(ip, self.port)],
            None => {
                let lookup = tokio::net::lookup_host((self.host.as_str(), self.port));
                match tokio::time::timeout(timeout, lookup).await {
                    Err(_) => return Err(Error::DnsTimeout),
                    Ok(Err(e)) => {
                        return Err(Error::DnsError {
                            rcode: Some(e.to_string()),
                            info_code: None,
                        });
                    }
                    Ok(Ok(addrs)) => addrs.collect(),
                }
            }
        };
        if resolved.is_empty() {
            return Err(Error::DestinationNotFound);
        }
        let addrs: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| exact || is_public(a.ip()))
            .collect();
        if addrs.is_empty() {
            return Err(Error::DestinationIpProhibited);
        }
        Ok(addrs)
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Connects to the checked addresses and sends the request over HTTP/1.1
/// (TLS for `https`, verified against the Web PKI roots).
async fn send(
    target: &Target,
    addrs: &[SocketAddr],
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    connect_timeout: Duration,
) -> Result<http::Response<hyper::body::Incoming>, Error> {
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addrs)
            .await
            .map_err(Error::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if target.tls {
            let name = match parse_ip(&target.host) {
                Some(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
                None => rustls::pki_types::ServerName::try_from(target.host.clone())
                    .map_err(|_| Error::HttpRequestUriInvalid)?,
            };
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, tcp)
                .await
                .map_err(Error::Tls)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        Ok::<_, Error>((sender, conn))
    };
    let (mut sender, conn) = tokio::time::timeout(connect_timeout, connect)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    // The connection lives as long as the response body (it ends when the
    // guest drops the response or its store goes away).
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "outbound HTTP connection ended with an error");
        }
    });
    // Over a direct connection the request line carries the path only.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let first_byte = options
        .and_then(|o| o.first_byte_timeout)
        .unwrap_or(Duration::MAX);
    match tokio::time::timeout(first_byte, sender.send_request(request)).await {
        Ok(response) => Ok(response?),
        Err(_) => Err(Error::ConnectionReadTimeout),
    }
}

/// The TLS client configuration, built once: ring, the Web PKI roots.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| Arc::new(b.with_root_certificates(roots).with_no_client_auth()))
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::InternalError(Some(format!("cannot set up TLS: {e}"))))
}
