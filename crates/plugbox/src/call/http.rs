//! A `wasi:http` request handled by a component's
//! `wasi:http/incoming-handler` export. The request and its response
//! outparam are made in the call's store, and the guest's `handle` runs
//! through the pipeline like any call (fuel, deadline, memory, stats,
//! classification; never retried: the request is consumed). The caller
//! gets the response as soon as the guest sets it; its body streams while
//! the guest runs on, still under the call's deadline.

use super::callable::{Call, Target};
use crate::code::{How, Live};
use crate::error::{Error, ErrorKind, Result};
use crate::store::StoreState;
use http_body_util::BodyExt;
use std::sync::Mutex;
use wasmtime::Store;
use wasmtime::component::Resource;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::{HyperIncomingBody, HyperOutgoingBody};
use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostResponseOutparam};

/// The body of a response from a `wasi:http` component.
pub type HttpBody = HyperOutgoingBody;

/// Where the guest's response (or the error code it answered with) goes.
pub(crate) type ResponseSender =
    tokio::sync::oneshot::Sender<std::result::Result<http::Response<HttpBody>, ErrorCode>>;
type ResponseReceiver =
    tokio::sync::oneshot::Receiver<std::result::Result<http::Response<HttpBody>, ErrorCode>>;

/// The name calls of the incoming handler are reported under.
pub(crate) const HANDLER: &str = "wasi:http/incoming-handler#handle";

/// One request for a component's incoming handler.
pub(crate) struct Http {
    /// Taken by the one attempt that runs.
    parts: Mutex<Option<(http::Request<HyperIncomingBody>, ResponseSender)>>,
}

impl Http {
    /// The call and the receiver of its response.
    pub(crate) fn new<B>(request: http::Request<B>) -> (Self, ResponseReceiver)
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let request = request.map(|body| body.map_err(Into::into).boxed_unsync());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let call = Self {
            parts: Mutex::new(Some((request, tx))),
        };
        (call, rx)
    }
}

pub(crate) struct HttpReady {
    proxy: Proxy,
    request: Resource<HostIncomingRequest>,
    out: Resource<HostResponseOutparam>,
}

impl Call for Http {
    type Ready = HttpReady;
    type Output = ();

    fn export(&self) -> &str {
        HANDLER
    }

    fn retryable(&self) -> bool {
        false
    }

    fn ready(&self, target: &mut Target<'_>) -> Result<Self::Ready> {
        let name = target.prepared.name();
        let (Live::Component(instance), Some(indices)) = (target.live, target.prepared.proxy())
        else {
            return Err(not_a_handler(name));
        };
        let proxy = indices
            .load(&mut *target.store, instance)
            .map_err(|e| not_a_handler(name).with_source(e.into_boxed_dyn_error()))?;
        let (request, tx) = self
            .parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .ok_or_else(|| Error::new(ErrorKind::Other, "the HTTP request was already handled"))?;
        let mut http = target.store.data_mut().http();
        let request = http
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| {
                Error::new(ErrorKind::InvalidArgument, "invalid HTTP request")
                    .with_source(e.into_boxed_dyn_error())
            })?;
        let out = http.new_response_outparam(tx).map_err(|e| {
            Error::new(
                ErrorKind::Other,
                "cannot pass the HTTP request to the guest",
            )
            .with_source(e.into_boxed_dyn_error())
        })?;
        Ok(HttpReady {
            proxy,
            request,
            out,
        })
    }

    async fn run(
        &self,
        ready: Self::Ready,
        store: &mut Store<StoreState>,
        _how: How,
    ) -> wasmtime::Result<Self::Output> {
        // Components always take the async path.
        ready
            .proxy
            .wasi_http_incoming_handler()
            .call_handle(store, ready.request, ready.out)
            .await
    }
}

fn not_a_handler(plugin: &str) -> Error {
    Error::new(
        ErrorKind::ExportNotFound {
            name: "wasi:http/incoming-handler".into(),
        },
        format!(
            "`{plugin}` does not export `wasi:http/incoming-handler` (it is not a wasi:http/proxy component)"
        ),
    )
}

/// Aborts the task running a request if the caller stops waiting for its
/// response; once the response is there, the task runs on to stream the
/// body.
struct AbortOnDrop(Option<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// Runs `pipeline` (the pipeline of an [`Http`] call) in a task of its own
/// (on the caller's tokio runtime, or plugbox's) and waits for the guest's
/// response.
pub(crate) async fn respond<F>(
    plugin: &str,
    pipeline: F,
    response: ResponseReceiver,
) -> Result<http::Response<HttpBody>>
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    let task = super::drive::spawn(pipeline)?;
    let mut guard = AbortOnDrop(Some(task.abort_handle()));
    match response.await {
        Ok(Ok(response)) => {
            guard.0 = None;
            Ok(response.map(|body| NonEmpty(body).boxed_unsync()))
        }
        Ok(Err(code)) => {
            guard.0 = None;
            Err(Error::new(
                ErrorKind::Other,
                format!("`{plugin}` answered the HTTP request with the error `{code:?}`"),
            ))
        }
        // The guest's store is gone without a response: the call failed,
        // or the guest returned without setting one.
        Err(_) => match task.await {
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(Error::new(
                ErrorKind::Other,
                format!("`{plugin}` returned without setting a response"),
            )),
            Err(e) => Err(Error::new(
                ErrorKind::Other,
                format!("the task handling a request of `{plugin}` failed"),
            )
            .with_source(e)),
        },
    }
}

/// Empty data frames skipped, at most this many per poll.
const EMPTY_FRAMES_PER_POLL: usize = 64;

/// A response body without its empty data frames. An empty data frame
/// carries nothing, and over HTTP/2 each one queues in the connection
/// without bound while the client does not read (GHSA-f8mm-ggr3-89wh,
/// fixed after Wasmtime 48.0.8): a guest writing empty chunks would grow
/// the server's memory. Every body `handle_http` returns is one of these.
struct NonEmpty(HttpBody);

impl http_body::Body for NonEmpty {
    type Data = bytes::Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, Self::Error>>>
    {
        poll_nonempty(&mut self.0, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

/// The body's next frame that is not empty data. After
/// `EMPTY_FRAMES_PER_POLL` of them the task yields, so a guest that keeps
/// writing them cannot hold the executor.
fn poll_nonempty<B>(
    body: &mut B,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<Option<std::result::Result<http_body::Frame<bytes::Bytes>, B::Error>>>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    use std::task::Poll;
    for _ in 0..EMPTY_FRAMES_PER_POLL {
        match std::pin::Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame)))
                if frame.data_ref().is_some_and(bytes::Bytes::is_empty) => {}
            other => return other,
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Frame;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// Frames in order: `empty` empty data frames, then `b"data"`, then
    /// `empty` more, then trailers (if `trailers`), then the end.
    struct Frames(std::collections::VecDeque<Frame<bytes::Bytes>>);

    impl Frames {
        fn new(empty: usize, trailers: bool) -> Self {
            let mut frames = std::collections::VecDeque::new();
            frames.extend((0..empty).map(|_| Frame::data(bytes::Bytes::new())));
            frames.push_back(Frame::data(bytes::Bytes::from_static(b"data")));
            frames.extend((0..empty).map(|_| Frame::data(bytes::Bytes::new())));
            if trailers {
                let mut map = http::HeaderMap::new();
                map.insert("x-done", http::HeaderValue::from_static("1"));
                frames.push_back(Frame::trailers(map));
            }
            Self(frames)
        }
    }

    impl http_body::Body for Frames {
        type Data = bytes::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<std::result::Result<Frame<bytes::Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    /// Every frame `poll_nonempty` gives, and how often it yielded.
    async fn drain(mut body: Frames) -> (Vec<Frame<bytes::Bytes>>, usize) {
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
                Some(None) => return (frames, pendings),
                Some(Some(frame)) => frames.push(frame.unwrap()),
            }
        }
    }

    #[tokio::test]
    async fn empty_data_frames_never_reach_the_connection() {
        let (frames, pendings) = drain(Frames::new(50_000, false)).await;
        let data: Vec<_> = frames.into_iter().map(|f| f.into_data().unwrap()).collect();
        assert_eq!(data, [bytes::Bytes::from_static(b"data")]);
        // The executor got the thread back every EMPTY_FRAMES_PER_POLL
        // empty frames (100,000 of them here, before and after the data).
        assert_eq!(pendings, 50_000 / EMPTY_FRAMES_PER_POLL * 2);
    }

    #[tokio::test]
    async fn trailers_after_empty_frames_still_arrive() {
        let (frames, _) = drain(Frames::new(100, true)).await;
        assert_eq!(frames.len(), 2, "the data and the trailers");
        assert_eq!(frames[0].data_ref().unwrap().as_ref(), b"data");
        assert_eq!(frames[1].trailers_ref().unwrap()["x-done"], "1");
    }
}
