//! plugbox: a sandboxed WebAssembly plugin host built on Wasmtime.
//!
//! Hand it untrusted `.wasm` (or `.wat`): it validates the bytes, compiles
//! them once, runs calls in fresh instances under hard limits (fuel,
//! wall-clock timeouts that cover host calls too, memory, tables, stack),
//! sandboxes WASI (nothing is granted unless asked), and reports every
//! failure as a typed [`Error`].
//!
//! ```
//! use plugbox::{Engine, EngineConfig, ErrorKind, Limits, Plugin, TrapKind};
//! use std::time::Duration;
//!
//! # fn main() -> plugbox::Result<()> {
//! let engine = Engine::new(&EngineConfig::default())?;
//! let plugin = Plugin::builder(&engine)
//!     .limits(Limits::new().timeout(Duration::from_millis(100)))
//!     .from_bytes(r#"(module
//!         (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
//!         (func (export "spin") (loop br 0)))"#)?;
//!
//! assert_eq!(plugin.call::<(i32, i32), i32>("add", (5, 3))?, 8);
//!
//! let err = plugin.call::<(), ()>("spin", ()).unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::Trap(TrapKind::Timeout));
//! # Ok(())
//! # }
//! ```
//!
//! The layers, each importing only those below it:
//! - `serve` (cargo feature `serve`): the HTTP server of `plugbox serve`
//!   — `wasi:http` components and a JSON API over a [`PluginManager`].
//! - `manage`: [`PluginManager`] — plugins by name, stateless or stateful,
//!   concurrency caps, hot reload, metrics.
//! - `plugin`: [`Plugin`] / [`PluginBuilder`] — a loaded plugin and its
//!   stateless calls.
//! - `call`: the one call pipeline and [`Instance`], a live instance whose
//!   state persists; the synchronous API drives the async one.
//! - `code` and `store`: compiled, pre-linked code; a store's limits,
//!   deadline, sandbox and host functions.
//! - [`kv`]: plugins' key-value state — the [`KvBackend`] contract, its
//!   memory, embedded (SQLite) and Redis backends, and a plugin's [`Kv`].
//! - `load`, `engine`, `config`: [`Wasm`] bytes read under the size cap and
//!   validated; the shared [`Engine`]; the configuration schema shared by
//!   the manifest and the CLI ([`EngineConfig`], [`Limits`], [`Sandbox`],
//!   [`PluginSpec`], [`Manifest`]).
//! - `error`: [`Error`] and its [`ErrorKind`]s.

#![deny(missing_docs)]

mod call;
mod clock;
mod code;
mod config;
mod engine;
mod error;
mod input;
pub mod kv;
mod load;
mod manage;
mod plugin;
#[cfg(feature = "serve")]
pub mod serve;
mod stats;
mod store;
pub mod text;
pub mod units;
pub mod values;
pub mod wit_values;

pub use call::{FuncHandle, HttpBody, Instance, RunOutput, WitParams, WitResults};
pub use code::component::ROOT_IMPORT;
pub use code::{MAX_STDIN_SIZE, precompile};
pub use config::{
    Compiler, DEFAULT_ADDR, DEFAULT_CACHE_MAX_SIZE, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_KV_MAX_KEY_SIZE, DEFAULT_KV_MAX_KEYS, DEFAULT_KV_MAX_TOTAL_SIZE,
    DEFAULT_KV_MAX_VALUE_SIZE, DEFAULT_KV_OP_TIMEOUT, DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_MODULE_SIZE, DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_POOL_INSTANCES, DEFAULT_POOL_KEEP_RESIDENT,
    DEFAULT_QUEUE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_TIMEOUT,
    DirGrant, EMBEDDED_FILE, EngineConfig, FuelRetry, HostPattern, KvBackendKind, KvConfig, Limits,
    MAX_POOL_SHARDS, MIN_HEADER_READ_TIMEOUT, MIN_IDLE_TIMEOUT, MIN_KV_OP_TIMEOUT,
    MIN_REQUEST_TIMEOUT, Manifest, Mode, OptLevel, PluginSpec, Sandbox, ServerConfig, Stdin, Stdio,
    WasmFeature,
};
pub use engine::{Engine, WASMTIME_VERSION};
pub use error::{
    BoxError, Error, ErrorKind, InvalidReason, KvErrorKind, Limit, PrecompiledReason, Result,
    TrapKind,
};
pub use kv::{EmbeddedBackend, Kv, KvBackend, MemoryBackend, RedisBackend};
pub use load::{
    CustomSection, Export, Import, Inspection, Memory, Table, Wasm, WasmKind,
    seal as seal_precompiled,
};
pub use manage::{
    DURATION_BUCKETS, MetricsSnapshot, PluginInfo, PluginManager, SnapshotCollector, kind_label,
    prometheus_text,
};
pub use plugin::{Plugin, PluginBuilder};
pub use stats::CallStats;
pub use store::{
    CancelHandle, ComponentCaller, ComponentParams, ComponentResults, HostCaller, HostFunctions,
    HostParams, HostResults, HostValue, LogSink, StoreState, flush_host_output,
};
pub use wasmtime;
pub use wasmtime_wasi_http;
