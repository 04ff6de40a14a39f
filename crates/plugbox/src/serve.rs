//! The HTTP server of `plugbox serve` (cargo feature `serve`): it serves
//! `wasi:http/proxy` components (each request in a fresh instance) and
//! the plugins of a [`PluginManager`](crate::PluginManager) as a JSON API,
//! over HTTP/1.1 and HTTP/2, with `/healthz` and `/metrics`.
//!
//! Every request a plugin handles goes through the manager — its permits,
//! metrics and hot reload — and so through the one call pipeline, under
//! the plugin's limits. The server adds its own limits on top
//! ([`ServerConfig`](crate::ServerConfig)): request body and head size,
//! a per-request timeout, caps on requests and connections in flight,
//! idle and header-read timeouts; and it shuts down gracefully.
//!
//! Paths:
//! - `GET /healthz`: `{"status":"ok"}` while serving;
//! - `GET /metrics`: Prometheus (OpenMetrics) text: every plugin's
//!   metrics and the server's requests by status, latency and open
//!   connections;
//! - `GET /v1/plugins` and `GET /v1/plugins/{name}`: the plugins, their
//!   exports and signatures;
//! - `POST /v1/plugins/{name}/{func}` with a JSON array of arguments: the
//!   JSON array of results;
//! - anything else: the `wasi:http` component mounted at the longest
//!   matching route, or `404`.
//!
//! Failures are JSON, `{"error": {"kind": ..., "message": ...}}`, with
//! the status [`status_for`] gives the error's kind.

mod api;
mod body;
mod conn;
mod handle;
mod metrics;
mod routes;
mod server;
mod status;

pub use server::{Listening, Remounter, Server};
pub use status::status_for;
