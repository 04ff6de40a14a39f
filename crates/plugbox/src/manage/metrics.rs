//! Per-plugin metrics: calls, errors by kind, fuel, call duration
//! histogram, memory high-water mark, instances in flight, reloads.

mod label;

use crate::error::{Error, ErrorKind};
use crate::stats::CallStats;
pub(crate) use label::LabelValue;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the duration histogram buckets, in seconds (the last
/// bucket, `+Inf`, is implicit).
pub const DURATION_BUCKETS: [f64; 12] = [
    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
];

/// [`DURATION_BUCKETS`] in nanoseconds, for the hot path.
const BUCKET_NANOS: [u64; DURATION_BUCKETS.len()] = [
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// Live counters of one plugin (lock-free on the hot path, except errors;
/// a successful call touches three counters: its bucket, the total
/// duration, and the memory peak only when it rises). The number of calls
/// is the sum of the buckets.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    fuel: AtomicU64,
    duration_nanos: AtomicU64,
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    memory_peak: AtomicU64,
    in_flight: AtomicI64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// A point-in-time copy of a plugin's metrics.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Calls completed (successful or not).
    pub calls: u64,
    /// Failed calls by error kind (`trap.out_of_fuel`, `resource_limit`, ...).
    pub errors: BTreeMap<String, u64>,
    /// Fuel consumed by all calls (when metered).
    pub fuel_consumed: u64,
    /// Total wall time of all calls.
    pub total_duration: Duration,
    /// Call counts per duration bucket (cumulative counts are computed when
    /// rendering Prometheus text); bounds in [`DURATION_BUCKETS`], plus `+Inf`.
    pub duration_buckets: Vec<u64>,
    /// Largest linear memory any instance reached, in bytes.
    pub memory_peak: u64,
    /// Calls running now.
    pub in_flight: i64,
    /// Successful reloads.
    pub reloads: u64,
    /// Reloads refused (the old version kept serving).
    pub reload_failures: u64,
}

/// A stable, lowercase name for an error kind, used as a metrics label.
pub fn kind_label(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Trap(t) => format!("trap.{}", snake(&format!("{t:?}"))),
        ErrorKind::ResourceLimit(_) => "resource_limit".into(),
        ErrorKind::InvalidModule(_) => "invalid_module".into(),
        ErrorKind::Link { .. } => "link".into(),
        ErrorKind::ExportNotFound { .. } => "export_not_found".into(),
        ErrorKind::SignatureMismatch { .. } => "signature_mismatch".into(),
        ErrorKind::HostFunction { .. } => "host_function".into(),
        ErrorKind::Exit(_) => "exit".into(),
        ErrorKind::PluginNotFound(_) => "plugin_not_found".into(),
        ErrorKind::Precompiled(_) => "precompiled".into(),
        other => snake(&format!("{other:?}")),
    }
}

fn snake(debug: &str) -> String {
    let name = debug.split(['(', ' ', '{']).next().unwrap_or(debug);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Decrements the in-flight gauge when a call ends, however it ends.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn record<T>(
        &self,
        result: &Result<T, Error>,
        stats: Option<&CallStats>,
        elapsed: Duration,
    ) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.duration_nanos.fetch_add(nanos, Ordering::Relaxed);
        let bucket = BUCKET_NANOS
            .iter()
            .position(|b| nanos <= *b)
            .unwrap_or(BUCKET_NANOS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        if let Some(stats) = stats {
            if let Some(f) = stats.fuel_consumed {
                self.fuel.fetch_add(f, Ordering::Relaxed);
            }
            // A read first: the peak rarely rises, and a read-modify-write
            // on every call would be an atomic the others wait for.
            if stats.memory_peak > self.memory_peak.load(Ordering::Relaxed) {
                self.memory_peak
                    .fetch_max(stats.memory_peak, Ordering::Relaxed);
            }
        }
        if let Err(e) = result
            && let Ok(mut errors) = self.errors.lock()
        {
            *errors.entry(kind_label(e.kind())).or_default() += 1;
        }
    }

    pub(crate) fn reloaded(&self, ok: bool) {
        if ok {
            self.reloads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        // The buckets are read once: the number of calls is their sum, so
        // `_count` and the `+Inf` bucket always agree.
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        MetricsSnapshot {
            calls: buckets.iter().sum(),
            errors: self.errors.lock().map(|e| e.clone()).unwrap_or_default(),
            fuel_consumed: self.fuel.load(Ordering::Relaxed),
            total_duration: Duration::from_nanos(self.duration_nanos.load(Ordering::Relaxed)),
            duration_buckets: buckets,
            memory_peak: self.memory_peak.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            reload_failures: self.reload_failures.load(Ordering::Relaxed),
        }
    }
}

/// Renders snapshots of several plugins as Prometheus (OpenMetrics) text.
pub fn prometheus_text<'a>(
    plugins: impl IntoIterator<Item = (&'a str, &'a MetricsSnapshot)>,
) -> String {
    let snapshots: Vec<(String, MetricsSnapshot)> = plugins
        .into_iter()
        .map(|(n, m)| (n.to_string(), m.clone()))
        .collect();
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(SnapshotCollector::new(move || snapshots.clone())));
    let mut text = String::new();
    // Writing into a `String` cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
    text
}

type Snapshots = dyn Fn() -> Vec<(String, MetricsSnapshot)> + Send + Sync;

/// A Prometheus collector of per-plugin metrics, read afresh on every
/// scrape; register it in a [`prometheus_client`] registry next to your own
/// metrics (see [`PluginManager::metrics_collector`](crate::PluginManager::metrics_collector)).
pub struct SnapshotCollector {
    snapshots: Box<Snapshots>,
}

impl SnapshotCollector {
    /// A collector of what `snapshots` returns at scrape time.
    pub fn new(
        snapshots: impl Fn() -> Vec<(String, MetricsSnapshot)> + Send + Sync + 'static,
    ) -> Self {
        Self {
            snapshots: Box::new(snapshots),
        }
    }
}

impl std::fmt::Debug for SnapshotCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotCollector").finish_non_exhaustive()
    }
}

impl prometheus_client::collector::Collector for SnapshotCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>,
    ) -> std::fmt::Result {
        use prometheus_client::metrics::MetricType;
        let plugins = (self.snapshots)();
        // Only the manager's plugins are labels; their names are escaped.
        let label = |p: &str| vec![("plugin", LabelValue::from(p))];
        let mut family = |name: &str,
                          help: &str,
                          ty: MetricType,
                          rows: &mut dyn FnMut(
            &mut prometheus_client::encoding::MetricEncoder<'_>,
        ) -> std::fmt::Result|
         -> std::fmt::Result {
            let mut metric = encoder.encode_descriptor(name, help, None, ty)?;
            rows(&mut metric)
        };
        family(
            "plugbox_calls",
            "Calls completed.",
            MetricType::Counter,
            &mut |m| {
                for (p, s) in &plugins {
                    m.encode_family(&label(p))?
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                            &s.calls, None,
                        )?;
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_errors",
            "Failed calls by error kind.",
            MetricType::Counter,
            &mut |m| {
                for (p, s) in &plugins {
                    for (kind, n) in &s.errors {
                        let labels = vec![
                            ("plugin", LabelValue::from(p.as_str())),
                            ("kind", LabelValue::from(kind.as_str())),
                        ];
                        m.encode_family(&labels)?
                            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                                n, None,
                            )?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_fuel_consumed",
            "Fuel consumed.",
            MetricType::Counter,
            &mut |m| {
                for (p, s) in &plugins {
                    m.encode_family(&label(p))?
                        .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                            &s.fuel_consumed,
                            None,
                        )?;
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_call_duration_seconds",
            "Call wall time.",
            MetricType::Histogram,
            &mut |m| {
                for (p, s) in &plugins {
                    let mut cumulative = 0;
                    let buckets: Vec<(f64, u64)> = s
                        .duration_buckets
                        .iter()
                        .enumerate()
                        .map(|(i, n)| {
                            cumulative += n;
                            (
                                DURATION_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY),
                                cumulative,
                            )
                        })
                        .collect();
                    m.encode_family(&label(p))?
                        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                            s.total_duration.as_secs_f64(),
                            s.calls,
                            &buckets,
                            None,
                        )?;
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_memory_peak_bytes",
            "Largest linear memory reached.",
            MetricType::Gauge,
            &mut |m| {
                for (p, s) in &plugins {
                    m.encode_family(&label(p))?
                        .encode_gauge(&(s.memory_peak as i64))?;
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_in_flight",
            "Calls running now.",
            MetricType::Gauge,
            &mut |m| {
                for (p, s) in &plugins {
                    m.encode_family(&label(p))?.encode_gauge(&s.in_flight)?;
                }
                Ok(())
            },
        )?;
        family(
            "plugbox_reloads",
            "Reloads, by outcome.",
            MetricType::Counter,
            &mut |m| {
                for (p, s) in &plugins {
                    for (outcome, n) in [("ok", s.reloads), ("refused", s.reload_failures)] {
                        let labels = vec![
                            ("plugin", LabelValue::from(p.as_str())),
                            ("outcome", LabelValue::from(outcome)),
                        ];
                        m.encode_family(&labels)?
                            .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                                &n, None,
                            )?;
                    }
                }
                Ok(())
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrapKind;

    #[test]
    fn labels() {
        assert_eq!(
            kind_label(&ErrorKind::Trap(TrapKind::OutOfFuel)),
            "trap.out_of_fuel"
        );
        assert_eq!(kind_label(&ErrorKind::Busy), "busy");
        assert_eq!(kind_label(&ErrorKind::InvalidArgument), "invalid_argument");
    }

    #[test]
    fn buckets_in_nanoseconds_match_the_published_bounds() {
        for (secs, nanos) in DURATION_BUCKETS.iter().zip(BUCKET_NANOS) {
            assert_eq!((secs * 1e9).round() as u64, nanos);
        }
        let m = Metrics::default();
        let ok: Result<(), Error> = Ok(());
        for d in [10_000, 10_001, 6_000_000_000] {
            m.record(&ok, None, Duration::from_nanos(d));
        }
        let s = m.snapshot();
        assert_eq!(s.calls, 3);
        assert_eq!(s.duration_buckets[0], 1, "10 µs is in the first bucket");
        assert_eq!(s.duration_buckets[1], 1);
        assert_eq!(s.duration_buckets[DURATION_BUCKETS.len()], 1, "+Inf");
    }

    #[test]
    fn plugin_names_are_escaped_in_every_family() {
        let m = Metrics::default();
        let failed: Result<(), Error> = Err(Error::new(ErrorKind::Busy, "busy"));
        m.record(&failed, None, Duration::from_millis(1));
        let snapshot = m.snapshot();
        let name = "a\"} 1\nplugbox_injected_total 1\n# {\\";
        let text = prometheus_text([(name, &snapshot)]);
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("plugbox_injected_total")),
            "{text}"
        );
        let escaped = r#"plugin="a\"} 1\nplugbox_injected_total 1\n# {\\""#;
        for family in [
            "plugbox_calls_total{",
            "plugbox_errors_total{",
            "plugbox_reloads_total{",
        ] {
            assert!(
                text.lines()
                    .any(|l| l.starts_with(family) && l.contains(escaped)),
                "{family}: {text}"
            );
        }
    }
}
