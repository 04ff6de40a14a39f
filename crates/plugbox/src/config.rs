//! The configuration schema: one set of structs filled from a manifest
//! (`plugbox.toml`, through serde) and from the command line (through clap,
//! with the `cli` feature), with one name per setting everywhere. Each
//! struct is also the library's builder: every setter states its default,
//! and a setting left unset takes the default when it is read.
//!
//! Layers merge with `merge`: a later layer's set values win (flags over the
//! manifest), list values add up (grants from both).

mod alloc;
mod engine;
mod features;
mod hosts;
mod kv;
mod limits;
mod manifest;
mod sandbox;
mod server;
mod spec;
pub(crate) mod value;

pub use alloc::{
    DEFAULT_CACHE_MAX_SIZE, DEFAULT_POOL_INSTANCES, DEFAULT_POOL_KEEP_RESIDENT, MAX_POOL_SHARDS,
};
pub use engine::{Compiler, DEFAULT_MAX_MODULE_SIZE, EngineConfig, OptLevel};
pub use features::WasmFeature;
pub use hosts::HostPattern;
pub(crate) use hosts::{is_public, parse_ip};
pub(crate) use kv::redact;
pub use kv::{
    DEFAULT_KV_MAX_KEY_SIZE, DEFAULT_KV_MAX_KEYS, DEFAULT_KV_MAX_TOTAL_SIZE,
    DEFAULT_KV_MAX_VALUE_SIZE, DEFAULT_KV_OP_TIMEOUT, EMBEDDED_FILE, KvBackendKind, KvConfig,
    MIN_KV_OP_TIMEOUT,
};
pub use limits::{
    DEFAULT_MAX_INSTANCES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_OUTPUT, DEFAULT_MAX_TABLE_ELEMENTS,
    DEFAULT_TIMEOUT, FuelRetry, Limits,
};
pub use manifest::Manifest;
pub(crate) use manifest::check_plugin_name;
pub use sandbox::{DirGrant, Sandbox, Stdin, Stdio};
pub use server::{
    DEFAULT_ADDR, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY,
    DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_HEADER_SIZE,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, MIN_HEADER_READ_TIMEOUT, MIN_IDLE_TIMEOUT,
    MIN_REQUEST_TIMEOUT, ServerConfig,
};
#[cfg(feature = "serve")]
pub(crate) use spec::check_route;
pub use spec::{DEFAULT_QUEUE_TIMEOUT, Mode, PluginSpec};
