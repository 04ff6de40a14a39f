//! How a plugin is loaded: [`PluginBuilder`], and the one way from a
//! [`PluginSpec`] to a [`Plugin`] that the CLI and the manager share.

use super::loaded::Plugin;
use crate::code::{Prepared, Settings};
use crate::config::{KvConfig, Limits, PluginSpec, Sandbox};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::{KvBackend, KvBackends};
use crate::load::Wasm;
use crate::store::HostFunctions;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Configures how a plugin is loaded: limits, sandbox, host functions,
/// trust in precompiled code, name.
///
/// ```
/// # fn main() -> plugbox::Result<()> {
/// use plugbox::{Engine, EngineConfig, Limits, Plugin};
/// let engine = Engine::new(&EngineConfig::default())?;
/// let plugin = Plugin::builder(&engine)
///     .name("adder")
///     .limits(Limits::new().max_memory(1 << 20))
///     .from_bytes(r#"(module (func (export "add") (param i32 i32) (result i32)
///                     local.get 0 local.get 1 i32.add))"#)?;
/// assert_eq!(plugin.call::<(i32, i32), i32>("add", (5, 3))?, 8);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PluginBuilder {
    engine: Engine,
    settings: Settings,
}

impl std::fmt::Debug for PluginBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("PluginBuilder")
            .field("name", &s.name)
            .field("limits", &s.limits)
            .field("sandbox", &s.sandbox)
            .field("allow_precompiled", &s.allow_precompiled)
            .field("host", &s.host)
            .finish_non_exhaustive()
    }
}

impl PluginBuilder {
    pub(super) fn new(engine: &Engine) -> Self {
        Self {
            engine: engine.clone(),
            settings: Settings::default(),
        }
    }

    /// Takes the limits, grants, configuration and trust of `spec` (its
    /// source is read by [`load_spec`](Self::load_spec)).
    pub fn spec(mut self, spec: &PluginSpec) -> Self {
        self.settings.limits = spec.get_limits().clone();
        self.settings.sandbox = spec.get_sandbox().clone();
        self.settings.config = spec.get_config();
        self.settings.allow_precompiled = spec.get_allow_precompiled();
        self.settings.kv = spec.get_kv().clone();
        self
    }

    /// Reads `spec`'s source, checks its `sha256` pin, and builds the plugin
    /// with `spec`'s settings: the one way from a manifest entry (or the
    /// CLI's flags) to a plugin.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Sha256Mismatch`] when the pin does not match, and the
    /// errors of [`from_file`](Self::from_file).
    pub fn load_spec(self, spec: &PluginSpec) -> Result<Plugin> {
        spec.check()?;
        let wasm = Wasm::from_file(&self.engine, spec.get_source())?;
        if let Some(want) = spec.get_sha256()
            && !want.eq_ignore_ascii_case(wasm.sha256())
        {
            return Err(Error::new(
                ErrorKind::Sha256Mismatch {
                    expected: want.to_ascii_lowercase(),
                    found: wasm.sha256().to_string(),
                },
                format!(
                    "sha256 of `{}` is {}, but it is pinned to {want}",
                    spec.get_source().display(),
                    wasm.sha256()
                ),
            ));
        }
        self.spec(spec).build(wasm)
    }

    /// Where the plugin's key-value state lives (what a component reaches
    /// through `plugbox:plugin/kv` and `wasi:keyvalue`), its namespace and
    /// quotas. Default: [`KvConfig::default`], a new in-memory store.
    pub fn kv(mut self, kv: KvConfig) -> Self {
        self.settings.kv = kv;
        self
    }

    /// The backend the plugin's state lives in, instead of the one its
    /// [`kv`](Self::kv) settings name (their namespace and quotas still
    /// apply). Default: opened from those settings. Pass the same
    /// [`MemoryBackend`](crate::MemoryBackend) to several plugins, or to a
    /// plugin's next version, to keep in-memory state.
    pub fn kv_backend(mut self, backend: Arc<dyn KvBackend>) -> Self {
        self.settings.kv_backend = Some(backend);
        self
    }

    /// Keeps the backends the plugin opens in `backends` (a manager's).
    pub(crate) fn kv_backends(mut self, backends: KvBackends) -> Self {
        self.settings.kv_backends = Some(backends);
        self
    }

    /// Also sends what a `plugbox:plugin` component logs to `sink`
    /// (messages always go to `tracing`). Default: none.
    pub fn on_log(mut self, sink: impl Fn(&str, &str) + Send + Sync + 'static) -> Self {
        self.settings.log_sink = Some(Arc::new(sink));
        self
    }

    /// Host functions the plugin may import. Default: none (only WASI).
    pub fn host(mut self, host: HostFunctions) -> Self {
        self.settings.host = host;
        self
    }

    /// Read-only configuration values, visible to host functions through
    /// [`HostCaller::config`](crate::HostCaller::config) and to components
    /// through `plugbox:plugin/config`. Default: empty.
    pub fn config(mut self, config: BTreeMap<String, String>) -> Self {
        self.settings.config = config;
        self
    }

    /// The name used in messages and metrics. Default: the file path, or
    /// `<bytes>` / `<stream>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.settings.name = Some(name.into());
        self
    }

    /// Limits applied to every call. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Capabilities granted to the guest. Default: nothing
    /// ([`Sandbox::default`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.settings.sandbox = sandbox;
        self
    }

    /// Accepts precompiled (`.cwasm`) artifacts from anywhere. They are
    /// native code, so only enable this for artifacts you produced or trust.
    /// Default: off.
    pub fn allow_precompiled(mut self, allow: bool) -> Self {
        self.settings.allow_precompiled = allow;
        self
    }

    /// Loads a plugin from a file (`.wasm`, `.wat` or `.cwasm`).
    ///
    /// # Errors
    ///
    /// See [`build`](Self::build), plus [`ErrorKind::Io`].
    pub fn from_file(self, path: impl AsRef<Path>) -> Result<Plugin> {
        let wasm = Wasm::from_file(&self.engine, path)?;
        self.build(wasm)
    }

    /// Loads a plugin from bytes (binary or text).
    ///
    /// # Errors
    ///
    /// See [`build`](Self::build).
    pub fn from_bytes(self, bytes: impl AsRef<[u8]>) -> Result<Plugin> {
        let wasm = Wasm::from_slice(&self.engine, bytes.as_ref())?;
        self.build(wasm)
    }

    /// Loads a plugin from a stream, enforcing the size cap while reading.
    ///
    /// # Errors
    ///
    /// See [`build`](Self::build), plus [`ErrorKind::Io`].
    pub fn from_reader(self, reader: impl Read) -> Result<Plugin> {
        let wasm = Wasm::from_reader(&self.engine, reader)?;
        self.build(wasm)
    }

    /// Compiles and links already-read bytes.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`], [`ErrorKind::Compile`],
    /// [`ErrorKind::Precompiled`], [`ErrorKind::Link`] (naming the missing
    /// import), or [`ErrorKind::Config`] for limits the engine cannot
    /// enforce or a sandbox grant that does not exist.
    pub fn build(self, wasm: Wasm) -> Result<Plugin> {
        let prepared = Prepared::new(&self.engine, self.settings, &wasm)?;
        // After compiling: a cache hit takes it from its entry, a miss
        // computes it for the entry.
        let sha256 = wasm.sha256().to_string();
        Ok(Plugin::from_prepared(Arc::new(prepared), sha256.into()))
    }
}

impl Plugin {
    /// Starts configuring a plugin for `engine`.
    pub fn builder(engine: &Engine) -> PluginBuilder {
        PluginBuilder::new(engine)
    }

    /// Loads a plugin from a file with default limits and an empty sandbox.
    ///
    /// # Errors
    ///
    /// See [`PluginBuilder::build`].
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Self> {
        Self::builder(engine).from_file(path)
    }

    /// Loads a plugin from bytes with default limits and an empty sandbox.
    ///
    /// # Errors
    ///
    /// See [`PluginBuilder::build`].
    pub fn from_bytes(engine: &Engine, bytes: impl AsRef<[u8]>) -> Result<Self> {
        Self::builder(engine).from_bytes(bytes)
    }

    /// Loads the plugin a [`PluginSpec`] describes (a manifest entry, or
    /// the CLI's flags), named `name`, offering it `host`.
    ///
    /// # Errors
    ///
    /// See [`PluginBuilder::load_spec`].
    pub fn from_spec(
        engine: &Engine,
        name: &str,
        spec: &PluginSpec,
        host: HostFunctions,
    ) -> Result<Self> {
        Self::builder(engine).name(name).host(host).load_spec(spec)
    }
}
