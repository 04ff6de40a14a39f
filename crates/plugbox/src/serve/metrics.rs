//! `/metrics`: the manager's per-plugin metrics and the server's own —
//! requests by handler, plugin and status, their latency, requests in
//! flight and open connections — as Prometheus (OpenMetrics) text.

use super::body::{Body, full};
use super::server::Shared;
use crate::manage::{DURATION_BUCKETS, PluginManager};
use http::{Response, StatusCode, header};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

/// The server's metrics and the registry they are rendered from.
pub(super) struct HttpMetrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    connections: Gauge,
}

fn histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

impl HttpMetrics {
    pub(super) fn new(manager: &PluginManager) -> Self {
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            histogram as fn() -> Histogram,
        );
        let in_flight = Gauge::default();
        let connections = Gauge::default();
        let mut registry = Registry::default();
        registry.register(
            "plugbox_http_requests",
            "HTTP requests answered, by handler, plugin and status",
            requests.clone(),
        );
        registry.register(
            "plugbox_http_request_duration_seconds",
            "Time from a request's head to the end of its response, by handler and plugin",
            latency.clone(),
        );
        registry.register(
            "plugbox_http_requests_in_flight",
            "HTTP requests being handled now",
            in_flight.clone(),
        );
        registry.register(
            "plugbox_http_connections",
            "Open HTTP connections",
            connections.clone(),
        );
        registry.register_collector(Box::new(manager.metrics_collector()));
        Self {
            registry,
            requests,
            latency,
            in_flight,
            connections,
        }
    }

    /// Counts one request, once its response is over.
    pub(super) fn record(
        &self,
        handler: &'static str,
        plugin: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let mut labels: Labels = vec![("handler", handler.to_string())];
        if !plugin.is_empty() {
            labels.push(("plugin", plugin.to_string()));
        }
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        labels.push(("status", status.as_u16().to_string()));
        self.requests.get_or_create(&labels).inc();
    }

    /// The `/metrics` response.
    pub(super) fn response(&self, shared: &Shared) -> Response<Body> {
        self.in_flight.set(shared.requests_in_flight() as i64);
        self.connections.set(shared.connections.count() as i64);
        let mut text = String::new();
        // Writing into a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        let mut response = Response::new(full(text));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        response
    }
}
