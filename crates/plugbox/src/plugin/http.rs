//! Serving HTTP with a `wasi:http` component: every request in a fresh
//! instance, under the plugin's limits.

use super::loaded::Plugin;
use crate::call::http::{Http, HttpBody, respond};
use crate::call::retry;
use crate::code::How;
use crate::error::{Error, ErrorKind, Result};

impl Plugin {
    /// Whether the plugin is a `wasi:http` component: it exports
    /// `wasi:http/incoming-handler` (the `wasi:http/proxy` world), so
    /// [`handle_http`](Self::handle_http) can serve requests with it.
    pub fn is_http_handler(&self) -> bool {
        self.prepared().proxy().is_some()
    }

    /// Checks that the plugin can be served over HTTP at `route`: that it
    /// is a `wasi:http` component. The one check of a mount, made when a
    /// server mounts the plugin and again for every new version a reload
    /// would swap in while it is mounted, so a reload refuses what
    /// start-up refuses.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`] naming the plugin and the route.
    pub(crate) fn check_serves_http(&self, route: &str) -> Result<()> {
        if self.is_http_handler() {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::ExportNotFound {
                name: "wasi:http/incoming-handler".into(),
            },
            format!(
                "cannot serve plugin `{}` at `{route}`: it is not a wasi:http component (it does not export `wasi:http/incoming-handler`)",
                self.name()
            ),
        ))
    }

    /// Handles one HTTP request with the component's
    /// `wasi:http/incoming-handler`, in a fresh instance from the
    /// pre-linked component, under the plugin's limits: the deadline and
    /// fuel cover the whole run of the guest, also while its response body
    /// streams. Returns once the guest sets its response; the body then
    /// streams while the guest runs on. The guest runs in a task of its
    /// own (on the caller's tokio runtime, or on plugbox's), aborted if
    /// this future is dropped before the response is there.
    ///
    /// Outgoing requests of the guest reach only the hosts its sandbox
    /// allows ([`Sandbox::allow_host`](crate::Sandbox::allow_host)); any
    /// other gets the `wasi:http` error `HTTP-request-denied`.
    ///
    /// # Errors
    ///
    /// The errors of a call — [`ErrorKind::Trap`](crate::ErrorKind::Trap)
    /// (a timeout, out of fuel, a guest panic, ...),
    /// [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit) —
    /// when the guest fails before responding;
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound) when
    /// the plugin is not a `wasi:http` component;
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for a request the guest cannot be given (no authority and no
    /// `Host` header); [`ErrorKind::Other`](crate::ErrorKind::Other) when
    /// the guest answers with an error code or returns without a response.
    pub async fn handle_http<B>(
        &self,
        request: http::Request<B>,
    ) -> Result<http::Response<HttpBody>>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let (call, response) = Http::new(request);
        let prepared = self.prepared().clone();
        let pipeline = async move {
            retry::stateless(&prepared, &call, How::Async, false)
                .await
                .map(|((), _stats)| ())
        };
        respond(self.name(), pipeline, response).await
    }
}
