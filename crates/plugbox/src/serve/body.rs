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

/// What became of a request's body: read to its end, or cut off for
/// being larger than `max-body`.
#[derive(Debug, Default)]
pub(super) struct BodyState {
    complete: AtomicBool,
    too_large: AtomicBool,
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
            Self::Hyper(e) => write!(f, "cannot read the request body: {e}"),
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
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(BodyError::Hyper(e)))),
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

/// Empty data frames skipped, at most this many per poll.
const EMPTY_FRAMES_PER_POLL: usize = 64;

/// The body's next frame that is not empty data. An empty data frame
/// carries nothing, and over HTTP/2 each one queues in the connection
/// without bound while the client does not read (GHSA-f8mm-ggr3-89wh,
/// fixed after Wasmtime 48.0.8): a guest writing empty chunks to its
/// response body would grow the server's memory. After
/// `EMPTY_FRAMES_PER_POLL` of them the task yields, so a guest that keeps
/// writing them cannot hold the executor.
fn poll_nonempty<B>(
    body: &mut B,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, B::Error>>>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    for _ in 0..EMPTY_FRAMES_PER_POLL {
        match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
            other => return other,
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
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
        match poll_nonempty(&mut this.inner, cx) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `empty` empty data frames, then `b"data"`, then the end.
    struct EmptyThenData {
        empty: usize,
        sent: bool,
    }

    impl http_body::Body for EmptyThenData {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.empty > 0 {
                self.empty -= 1;
                return Poll::Ready(Some(Ok(Frame::data(Bytes::new()))));
            }
            if self.sent {
                return Poll::Ready(None);
            }
            self.sent = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"data")))))
        }
    }

    #[tokio::test]
    async fn empty_data_frames_never_reach_the_connection() {
        let mut body = EmptyThenData {
            empty: 100_000,
            sent: false,
        };
        let mut frames = Vec::new();
        let mut pendings = 0;
        loop {
            let next = std::future::poll_fn(|cx| match poll_nonempty(&mut body, cx) {
                Poll::Pending => Poll::Ready(None),
                Poll::Ready(frame) => Poll::Ready(Some(frame)),
            })
            .await;
            match next {
                None => pendings += 1,
                Some(None) => break,
                Some(Some(frame)) => frames.push(frame.unwrap().into_data().unwrap()),
            }
        }
        assert_eq!(frames, [Bytes::from_static(b"data")]);
        // The poll gave the executor back every EMPTY_FRAMES_PER_POLL frames.
        assert_eq!(pendings, 100_000 / EMPTY_FRAMES_PER_POLL);
    }
}
