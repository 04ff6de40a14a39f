//! Request and response bodies: the request body under `max-body`, and
//! the response body that ends its request's bookkeeping when it is sent
//! (or dropped) and stops at the request's deadline.

use super::handle::RequestGuard;
use crate::error::BoxError;
use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// The body of every response the server sends.
pub(super) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A complete body.
pub(super) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// What became of a request's body: read to its end, cut off for being
/// larger than `max-body`, or failed (malformed, or cut off by the
/// client).
#[derive(Debug, Default)]
pub(super) struct BodyState {
    complete: AtomicBool,
    too_large: AtomicBool,
    failed: std::sync::OnceLock<String>,
}

impl BodyState {
    /// Whether the whole body has arrived.
    pub(super) fn complete(&self) -> bool {
        self.complete.load(Ordering::Relaxed)
    }

    /// Whether the body went past `max-body`.
    pub(super) fn too_large(&self) -> bool {
        self.too_large.load(Ordering::Relaxed)
    }

    /// Why the body could not be read, when it could not (too many
    /// trailers, a broken chunk, a connection closed mid-body).
    pub(super) fn failed(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }
}

/// Why a request body stopped.
#[derive(Debug)]
pub(super) enum BodyError {
    /// Past `max-body` (the cap).
    TooLarge(u64),
    /// The connection failed.
    Hyper(hyper::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge(max) => write!(
                f,
                "the request body is larger than max-body ({})",
                crate::units::format_size(*max)
            ),
            Self::Hyper(e) => {
                write!(f, "cannot read the request body: {e}")?;
                // hyper's message is its kind's ("error reading a body
                // from connection"); the cause says what was wrong.
                match std::error::Error::source(e) {
                    Some(cause) => write!(f, ": {cause}"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for BodyError {}

impl From<BodyError> for wasmtime_wasi_http::Error {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(max) => Self::HttpRequestBodySize(Some(max)),
            BodyError::Hyper(e) => Self::Hyper(e),
        }
    }
}

/// A request body that fails once more than `max` bytes arrived.
pub(super) struct Limited {
    inner: hyper::body::Incoming,
    max: Option<u64>,
    read: u64,
    state: Arc<BodyState>,
}

impl Limited {
    pub(super) fn new(
        inner: hyper::body::Incoming,
        max: Option<u64>,
        state: Arc<BodyState>,
    ) -> Self {
        if inner.is_end_stream() {
            state.complete.store(true, Ordering::Relaxed);
        }
        Self {
            inner,
            max,
            read: 0,
            state,
        }
    }

    /// The whole body, up to the cap.
    pub(super) async fn collect(self) -> Result<Bytes, BodyError> {
        BodyExt::collect(self).await.map(|c| c.to_bytes())
    }
}

impl http_body::Body for Limited {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                this.state.complete.store(true, Ordering::Relaxed);
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                let e = BodyError::Hyper(e);
                let _ = this.state.failed.set(e.to_string());
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.read = this.read.saturating_add(data.len() as u64);
            if let Some(max) = this.max
                && this.read > max
            {
                this.state.too_large.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(BodyError::TooLarge(max))));
            }
        }
        if this.inner.is_end_stream() {
            this.state.complete.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that holds its request's guard (the permit and the
/// bookkeeping) until it is sent or dropped, and fails once `deadline`
/// passes (the connection is then closed).
pub(super) struct Tracked {
    inner: Body,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    guard: Option<RequestGuard>,
}

impl Tracked {
    pub(super) fn new(
        inner: Body,
        deadline: Option<tokio::time::Instant>,
        mut guard: RequestGuard,
    ) -> Self {
        // An empty body may never be polled.
        guard.complete = inner.is_end_stream();
        Self {
            inner,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep_until(d))),
            guard: Some(guard),
        }
    }

    /// The response is over: its guard records it (`complete` or not).
    fn end(&mut self, complete: bool) {
        if let Some(mut guard) = self.guard.take() {
            guard.complete = complete;
        }
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        // A guest's body comes without empty data frames already
        // (`call::http`); plugbox's own bodies have none.
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.end(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(guard)) = (frame.data_ref(), this.guard.as_mut()) {
                    guard.sent += data.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.end(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.end(false);
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => {
                if let Some(deadline) = &mut this.deadline
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    this.end(false);
                    return Poll::Ready(Some(Err(
                        "the response took longer than request-timeout".into()
                    )));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
