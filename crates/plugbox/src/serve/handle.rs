//! One request: the server's own limits (shutdown, head size, requests in
//! flight, body size, request timeout), then the route, then the
//! bookkeeping (metrics, access log) once the response has been sent.

use super::body::{Body, BodyState, Tracked};
use super::conn::ConnState;
use super::routes::{self, Route};
use super::server::Shared;
use super::status::Failure;
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::time::Instant;

/// What is known of a request until its response is over; recorded when
/// dropped (by the response body, once sent or abandoned).
pub(super) struct RequestGuard {
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    start: Instant,
    method: http::Method,
    path: String,
    peer: SocketAddr,
    /// Which kind of handler answered (a metrics label).
    pub(super) handler: &'static str,
    /// The plugin that answered, if one did.
    pub(super) plugin: Option<String>,
    pub(super) status: StatusCode,
    /// Response body bytes sent.
    pub(super) sent: u64,
    /// Whether the whole response was sent.
    pub(super) complete: bool,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        let plugin = self.plugin.as_deref().unwrap_or("");
        self.shared
            .metrics
            .record(self.handler, plugin, self.status, elapsed);
        if self.shared.config.get_access_log() {
            tracing::info!(
                target: "plugbox::access",
                peer = %self.peer,
                method = %self.method,
                path = %self.path,
                status = self.status.as_u16(),
                bytes = self.sent,
                complete = self.complete,
                ms = format_args!("{:.3}", elapsed.as_secs_f64() * 1e3),
                "{} {} {}",
                self.method,
                self.path,
                self.status.as_u16(),
            );
        }
        self.conn.request_ended();
    }
}

/// Serves one request; failures are responses too.
pub(super) async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnState>,
    peer: SocketAddr,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    conn.request_started();
    let start = Instant::now();
    let deadline = shared.config.get_request_timeout().map(|t| start + t);
    let mut guard = RequestGuard {
        shared: shared.clone(),
        conn,
        start,
        method: request.method().clone(),
        path: request.uri().path().to_string(),
        peer,
        handler: "none",
        plugin: None,
        status: StatusCode::OK,
        sent: 0,
        complete: false,
        _permit: None,
    };
    let state = Arc::new(BodyState::default());
    let respond = respond(&shared, request, &mut guard, state.clone());
    let response = match deadline {
        None => respond.await,
        Some(at) => match tokio::time::timeout_at(at, respond).await {
            Ok(response) => response,
            // Still waiting for the client's body: the client is slow;
            // otherwise the handler is.
            Err(_) if !state.complete() => Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body did not arrive within request-timeout",
            )
            .response(),
            Err(_) => Failure::new(
                StatusCode::GATEWAY_TIMEOUT,
                "request_timeout",
                "no response within request-timeout",
            )
            .response(),
        },
    };
    guard.status = response.status();
    let (mut parts, body) = response.into_parts();
    if shared.is_shutting_down() {
        parts.headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    let body = Tracked::new(body, deadline, guard).boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

/// The response to a request, before the bookkeeping.
async fn respond(
    shared: &Arc<Shared>,
    request: Request<hyper::body::Incoming>,
    guard: &mut RequestGuard,
    state: Arc<BodyState>,
) -> Response<Body> {
    if shared.is_shutting_down() {
        return Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        )
        .response();
    }
    let max_head = shared.config.get_max_header_size();
    if head_size(&request) > max_head {
        return Failure::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_too_large",
            format!(
                "the request head is larger than max-header-size ({})",
                crate::units::format_size(max_head)
            ),
        )
        .response();
    }
    let Ok(permit) = shared.requests.clone().try_acquire_owned() else {
        return Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_busy",
            format!(
                "the server is handling max-concurrent-requests ({}) requests; try again",
                shared.config.get_max_concurrent_requests()
            ),
        )
        .response();
    };
    guard._permit = Some(permit);
    let max_body = shared.config.get_max_body();
    if let (Some(max), Some(length)) = (max_body, content_length(&request))
        && length > max
    {
        return Failure::body_too_large(max).response();
    }
    let route = routes::route(shared, request.method(), request.uri().path());
    guard.handler = route.handler();
    guard.plugin = route.plugin().map(str::to_string);
    let (parts, body) = request.into_parts();
    let body = super::body::Limited::new(body, max_body, state.clone());
    let request = Request::from_parts(parts, body);
    match route {
        Route::Failed(failure) => failure.response(),
        Route::Healthz => routes::healthz(),
        Route::Metrics => shared.metrics.response(shared),
        Route::List => super::api::list(shared),
        Route::Describe(name) => super::api::describe(shared, &name),
        Route::Call { plugin, func } => super::api::call(shared, &plugin, &func, request).await,
        Route::Mounted(plugin) => routes::proxy(shared, &plugin, request, &state).await,
    }
}

/// Bytes of the request line and headers: as sent over HTTP/1.1 (a
/// field's name, value, `: ` and CRLF), or as HTTP/2 counts a header list
/// (a field's name, value and 32 bytes, RFC 7541 §4.1), so that a head
/// within `max-header-size` is within HTTP/2's own cap too (see
/// `server::h2_header_list_size`).
fn head_size<B>(request: &Request<B>) -> u64 {
    let per_field = if request.version() == http::Version::HTTP_2 {
        32
    } else {
        4
    };
    let line = request.method().as_str().len() + request.uri().to_string().len() + 12;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + per_field)
        .sum();
    (line + headers) as u64
}

fn content_length<B>(request: &Request<B>) -> Option<u64> {
    request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}
