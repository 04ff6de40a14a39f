//! `/metrics`: the manager's per-plugin metrics and the server's own —
//! requests by handler, plugin and status, their latency, requests in
//! flight and open connections — as Prometheus (OpenMetrics) text.
//!
//! Only plugins that are loaded become `plugin` label values: a request
//! naming any other plugin is counted without the label, so what clients
//! put in URLs cannot add series. The series of a plugin that is unloaded
//! are dropped at the next scrape.

use super::body::{Body, full};
use super::server::Shared;
use crate::manage::metrics::LabelValue;
use crate::manage::{DURATION_BUCKETS, PluginManager};
use http::{Response, StatusCode, header};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

type Labels = Vec<(&'static str, LabelValue)>;

/// The server's metrics and the registry they are rendered from.
pub(super) struct HttpMetrics {
    registry: Registry,
    manager: PluginManager,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    /// The label sets of each plugin's series in `requests` and `latency`,
    /// to drop them once the plugin is unloaded. Series are created (and
    /// recorded here) and dropped only under this lock.
    labelled: Mutex<BTreeMap<String, BTreeSet<Labels>>>,
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
            manager: manager.clone(),
            requests,
            latency,
            labelled: Mutex::default(),
            in_flight,
            connections,
        }
    }

    /// Counts one request, once its response is over. `plugin` is the
    /// name the request asked for: a label only if it is loaded.
    pub(super) fn record(
        &self,
        handler: &'static str,
        plugin: &str,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let plugin = Some(plugin).filter(|p| !p.is_empty() && self.manager.plugin(p).is_ok());
        let mut labels: Labels = vec![("handler", LabelValue::from(handler))];
        if let Some(plugin) = plugin {
            labels.push(("plugin", LabelValue::from(plugin)));
        }
        let seconds = elapsed.as_secs_f64();
        self.count(&self.latency, plugin, &labels, |h| h.observe(seconds));
        labels.push(("status", LabelValue(status.as_u16().to_string())));
        self.count(&self.requests, plugin, &labels, |c| {
            c.inc();
        });
    }

    /// Updates the series of `labels` in `family`, creating it (under the
    /// lock of `labelled`, and recording it there if it names a plugin)
    /// when it is new.
    fn count<M, C>(
        &self,
        family: &Family<Labels, M, C>,
        plugin: Option<&str>,
        labels: &Labels,
        update: impl FnOnce(&M),
    ) where
        C: prometheus_client::metrics::family::MetricConstructor<M>,
    {
        if let Some(series) = family.get(labels) {
            return update(&series);
        }
        let mut labelled = self.labelled.lock().unwrap_or_else(PoisonError::into_inner);
        update(&family.get_or_create(labels));
        if let Some(plugin) = plugin {
            labelled
                .entry(plugin.to_string())
                .or_default()
                .insert(labels.clone());
        }
    }

    /// Every metric as OpenMetrics text.
    fn text(&self) -> String {
        self.forget_unloaded();
        let mut text = String::new();
        // Writing into a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Drops the series of plugins that are no longer loaded.
    fn forget_unloaded(&self) {
        let mut labelled = self.labelled.lock().unwrap_or_else(PoisonError::into_inner);
        labelled.retain(|plugin, sets| {
            if self.manager.plugin(plugin).is_ok() {
                return true;
            }
            for labels in sets.iter() {
                self.requests.remove(labels);
                self.latency.remove(labels);
            }
            false
        });
    }

    /// The `/metrics` response.
    pub(super) fn response(&self, shared: &Shared) -> Response<Body> {
        self.in_flight.set(shared.requests_in_flight() as i64);
        self.connections.set(shared.connections.count() as i64);
        let mut response = Response::new(full(self.text()));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, EngineConfig, PluginSpec};

    #[test]
    fn only_loaded_plugins_are_labels_and_unloaded_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wat");
        std::fs::write(&path, r#"(module (func (export "f")))"#).unwrap();
        let manager = PluginManager::new(&Engine::new(&EngineConfig::new()).unwrap());
        manager.load(r#"a"b\c"#, PluginSpec::new(&path)).unwrap();
        let metrics = HttpMetrics::new(&manager);
        let ms = Duration::from_millis(1);
        metrics.record("call", r#"a"b\c"#, StatusCode::OK, ms);
        for i in 0..100 {
            let name = format!("unknown-{i}\"}} 1\nplugbox_injected_total 1\n# {{\"");
            metrics.record("call", &name, StatusCode::NOT_FOUND, ms);
        }
        let text = metrics.text();
        assert!(!text.contains("unknown-"), "{text}");
        assert!(!text.contains("injected"), "{text}");
        let loaded =
            r#"plugbox_http_requests_total{handler="call",plugin="a\"b\\c",status="200"} 1"#;
        assert!(text.lines().any(|l| l == loaded), "{text}");
        let unknown = r#"plugbox_http_requests_total{handler="call",status="404"} 100"#;
        assert!(text.lines().any(|l| l == unknown), "{text}");
        manager.unload(r#"a"b\c"#).unwrap();
        let text = metrics.text();
        assert!(!text.contains("plugin="), "{text}");
        assert!(text.lines().any(|l| l == unknown), "{text}");
    }
}
