//! plugbox: a sandboxed WebAssembly plugin host built on Wasmtime.
//!
//! Hand it untrusted `.wasm` (or `.wat`): it validates the bytes, compiles
//! them once, runs calls in fresh instances under hard limits (fuel,
//! wall-clock timeouts, memory, tables, stack), sandboxes WASI (nothing is
//! granted unless asked), and reports every failure as a typed [`Error`].
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
//! The pieces:
//! - [`EngineConfig`] / [`Engine`]: compiler, features, pooling, cache; one
//!   engine per host.
//! - [`Wasm`]: bytes read under the size cap, classified and validated;
//!   [`Wasm::inspect`] lists imports and exports without compiling.
//! - [`Plugin`] / [`PluginBuilder`]: compiled and pre-linked code with its
//!   [`Limits`] and [`Sandbox`]; stateless calls.
//! - [`Instance`]: a live instance whose state persists across calls, with a
//!   [`CancelHandle`].
//! - [`precompile`]: ahead-of-time compilation to checked `.cwasm` files.

#![deny(missing_docs)]

mod aot;
mod compile;
mod component;
mod config;
mod engine;
mod error;
mod host_fn;
mod inspect;
mod instance;
mod limits;
mod link;
mod manager;
mod manifest;
mod metrics;
mod plugin;
mod sandbox;
mod source;
pub mod units;
pub mod values;
pub mod wit_values;
mod world;

pub use aot::{WASMTIME_VERSION, precompile, seal as seal_precompiled};
pub use config::{DEFAULT_MAX_MODULE_SIZE, EngineConfig, OptLevel, Strategy, WasmFeature};
pub use engine::Engine;
pub use error::{
    BoxError, Error, ErrorKind, InvalidReason, Limit, PrecompiledReason, Result, TrapKind,
};
pub use host_fn::{ComponentCaller, HostCaller, HostFunctions, HostParams, HostResults, HostValue};
pub use inspect::{CustomSection, Export, Import, Inspection, Memory, Table};
pub use instance::{Instance, RunOutput, StoreState};
pub use limits::{
    CallStats, CancelHandle, DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_OUTPUT,
    DEFAULT_MAX_TABLE_ELEMENTS, DEFAULT_TIMEOUT, FuelRetry, Limits,
};
pub use manager::{PluginInfo, PluginManager};
pub use manifest::{Grants, Manifest, Mode, PluginSpec};
pub use metrics::{DURATION_BUCKETS, MetricsSnapshot, kind_label, prometheus_text};
pub use plugin::{LogSink, Plugin, PluginBuilder};
pub use sandbox::{DirGrant, Sandbox, Stdio};
pub use source::{Wasm, WasmKind};
pub use wasmtime;
pub use world::{DEFAULT_KV_QUOTA, KvStore};
