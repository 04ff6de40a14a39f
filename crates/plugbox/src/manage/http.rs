//! HTTP requests for managed `wasi:http` components: through the same
//! permits, metrics and reloads as every managed call.

use super::manager::PluginManager;
use super::slot::Api;
use crate::call::http::{Http, HttpBody, respond};
use crate::error::Result;

impl PluginManager {
    /// Marks `name` as mounted at `route` by a server: from now on a
    /// reload checks each new version as the mount was checked
    /// (`Plugin::check_serves_http`) and refuses one that is not a
    /// `wasi:http` component, so the old version keeps serving the route.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`](crate::ErrorKind::PluginNotFound).
    #[cfg(feature = "serve")]
    pub(crate) fn mounted_at(&self, name: &str, route: &str) -> Result<()> {
        *super::slot::lock(&self.slot(name)?.http_route) = Some(route.to_string());
        Ok(())
    }

    /// Handles one HTTP request with the `wasi:http` component `name`
    /// (see [`Plugin::handle_http`](crate::Plugin::handle_http)): it waits
    /// for a permit under `max-concurrency` (failing with
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) after the queue
    /// timeout), holds it while the guest runs, response body included,
    /// and counts in the plugin's metrics. A reload never disturbs a
    /// request in flight.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`](crate::ErrorKind::PluginNotFound),
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy), and the errors of
    /// [`Plugin::handle_http`](crate::Plugin::handle_http).
    pub async fn handle_http<B>(
        &self,
        name: &str,
        request: http::Request<B>,
    ) -> Result<http::Response<HttpBody>>
    where
        B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let entry = self.entry(name)?;
        let (call, response) = Http::new(request);
        let pipeline = async move { entry.slot.invoke(&entry.version, &call, Api::Async).await };
        respond(name, pipeline, response).await
    }
}
