//! Managing plugins by name: load, unload, hot reload, stateless or
//! stateful calls under concurrency caps, and metrics.

mod http;
mod manager;
pub(crate) mod metrics;
mod reload;
mod slot;
mod turn;

pub use manager::{PluginInfo, PluginManager};
pub use metrics::{
    DURATION_BUCKETS, MetricsSnapshot, SnapshotCollector, kind_label, prometheus_text,
};
