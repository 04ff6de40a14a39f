//! `PluginManager`: plugins by name, stateless or stateful, with
//! concurrency caps, atomic hot reload, metrics and async calls.

use super::metrics::{MetricsSnapshot, SnapshotCollector};
use super::slot::{Api, Entry, Slot, Version, lock, read, write};
use crate::call::Call;
use crate::call::drive::drive;
use crate::call::dynamic::Json;
use crate::call::kinds::{Handle, Typed, Wit};
use crate::call::{WitParams, WitResults};
use crate::config::{Manifest, Mode, PluginSpec};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::KvBackends;
use crate::plugin::Plugin;
use crate::store::HostFunctions;
use arc_swap::ArcSwap;
use serde_json::Value as JsonValue;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use wasmtime::{WasmParams, WasmResults};

/// Loads plugins by name and calls them; `Send + Sync`, cheap to clone,
/// shareable across threads and tokio tasks.
///
/// ```
/// # fn main() -> plugbox::Result<()> {
/// use plugbox::{Engine, EngineConfig, PluginManager, PluginSpec};
/// let dir = std::env::temp_dir().join(format!("plugbox-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("add.wat");
/// std::fs::write(&path, r#"(module (func (export "add") (param i32 i32) (result i32)
///     local.get 0 local.get 1 i32.add))"#).unwrap();
///
/// let manager = PluginManager::new(&Engine::new(&EngineConfig::default())?);
/// manager.load("adder", PluginSpec::new(&path))?;
/// assert_eq!(manager.call::<(i32, i32), i32>("adder", "add", (2, 3))?, 5);
/// assert_eq!(manager.metrics("adder")?.calls, 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PluginManager {
    pub(super) inner: Arc<ManagerInner>,
}

pub(super) struct ManagerInner {
    pub(super) engine: Engine,
    pub(super) host: RwLock<HostFunctions>,
    /// Read on every call without a lock; replaced whole by (serialised)
    /// loads, reloads and unloads.
    pub(super) slots: ArcSwap<BTreeMap<String, Entry>>,
    pub(super) slots_write: Mutex<()>,
    pub(super) watcher: Mutex<Option<notify::RecommendedWatcher>>,
    /// The key-value backends the plugins opened: a plugin's next version
    /// (a reload) finds its state in the same one, in memory too.
    pub(super) kv: KvBackends,
}

/// What [`PluginManager::list`] reports of a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin's name.
    pub name: String,
    /// Its source file.
    pub source: PathBuf,
    /// Stateless or stateful.
    pub mode: Mode,
    /// Version number, starting at 1 and increased by each reload.
    pub version: u64,
    /// SHA-256 of the bytes serving now.
    pub sha256: String,
    /// Exported functions.
    pub functions: Vec<String>,
    /// Whether it is a `wasi:http` component
    /// ([`Plugin::is_http_handler`]).
    pub http_handler: bool,
    /// Where `plugbox serve` mounts it, when its spec sets a route.
    pub route: Option<String>,
}

impl PluginManager {
    /// An empty manager on `engine`.
    pub fn new(engine: &Engine) -> Self {
        Self {
            inner: Arc::new(ManagerInner {
                engine: engine.clone(),
                host: RwLock::new(HostFunctions::new()),
                slots: ArcSwap::from_pointee(BTreeMap::new()),
                slots_write: Mutex::new(()),
                watcher: Mutex::new(None),
                kv: KvBackends::default(),
            }),
        }
    }

    /// Builds the engine of `manifest` and loads every plugin it declares.
    ///
    /// # Errors
    ///
    /// The first plugin that fails to load, named.
    pub fn from_manifest(manifest: &Manifest) -> Result<Self> {
        Self::from_manifest_with_host(manifest, HostFunctions::new())
    }

    /// As [`from_manifest`](Self::from_manifest), with host functions.
    ///
    /// # Errors
    ///
    /// As [`from_manifest`](Self::from_manifest).
    pub fn from_manifest_with_host(manifest: &Manifest, host: HostFunctions) -> Result<Self> {
        let engine = Engine::new(&manifest.engine_config())?;
        let manager = Self::new(&engine).with_host(host);
        for name in manifest.plugins.keys() {
            manager.load(name, manifest.plugin(name)?)?;
        }
        Ok(manager)
    }

    /// Sets the host functions offered to plugins loaded (or reloaded) from
    /// now on.
    #[must_use]
    pub fn with_host(self, host: HostFunctions) -> Self {
        *write(&self.inner.host) = host;
        self
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Loads `spec` under `name`. Relative paths in `spec` are relative to
    /// the current directory (a [`Manifest`] resolves them against its own
    /// directory first).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if the name is taken, empty or holds a control
    /// character, and the errors of [`Plugin::from_spec`] (invalid module,
    /// link errors, a sha256 mismatch, ...).
    pub fn load(&self, name: &str, spec: PluginSpec) -> Result<()> {
        let _span = tracing::info_span!("load", plugin = name).entered();
        if name.is_empty() {
            return Err(Error::config("a plugin name cannot be empty"));
        }
        crate::config::check_plugin_name(name).map_err(Error::config)?;
        if self.slot(name).is_ok() {
            return Err(Error::config(format!(
                "plugin `{name}` is already loaded; reload or unload it first"
            )));
        }
        let version = Arc::new(self.build(name, &spec, 1)?);
        let slot = Arc::new(Slot::new(name, spec));
        {
            let _serial = lock(&self.inner.slots_write);
            let mut slots = BTreeMap::clone(&self.inner.slots.load());
            if slots.contains_key(name) {
                return Err(Error::config(format!("plugin `{name}` is already loaded")));
            }
            slots.insert(name.to_string(), Entry { slot, version });
            self.inner.slots.store(Arc::new(slots));
        }
        self.rewatch();
        Ok(())
    }

    /// Reads, checks and compiles one version of a plugin.
    pub(super) fn build(&self, name: &str, spec: &PluginSpec, number: u64) -> Result<Version> {
        let host = read(&self.inner.host).clone();
        let plugin = Plugin::builder(&self.inner.engine)
            .name(name)
            .host(host)
            .kv_backends(self.inner.kv.clone())
            .load_spec(spec)
            .map_err(|e| e.context(format!("cannot load plugin `{name}`")))?;
        Ok(Version::new(plugin, spec, number))
    }

    /// Removes a plugin; calls in flight finish on it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn unload(&self, name: &str) -> Result<()> {
        {
            let _serial = lock(&self.inner.slots_write);
            let mut slots = BTreeMap::clone(&self.inner.slots.load());
            slots.remove(name).ok_or_else(|| not_found(name))?;
            self.inner.slots.store(Arc::new(slots));
        }
        self.rewatch();
        Ok(())
    }

    /// The plugins, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.inner
            .slots
            .load()
            .values()
            .map(|Entry { slot, version: v }| PluginInfo {
                name: slot.name.clone(),
                source: slot.spec.get_source().to_path_buf(),
                mode: slot.spec.get_mode(),
                version: v.number,
                sha256: v.plugin.sha256().to_string(),
                functions: v.plugin.functions(),
                http_handler: v.plugin.is_http_handler(),
                route: slot.spec.get_route().map(str::to_string),
            })
            .collect()
    }

    /// The version of `name` serving now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn plugin(&self, name: &str) -> Result<Plugin> {
        Ok(self.entry(name)?.version.plugin.clone())
    }

    /// A snapshot of `name`'s metrics.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn metrics(&self, name: &str) -> Result<MetricsSnapshot> {
        Ok(self.slot(name)?.metrics.snapshot())
    }

    fn snapshots(&self) -> Vec<(String, MetricsSnapshot)> {
        self.inner
            .slots
            .load()
            .values()
            .map(|e| (e.slot.name.clone(), e.slot.metrics.snapshot()))
            .collect()
    }

    /// Every plugin's metrics as Prometheus (OpenMetrics) text.
    pub fn prometheus(&self) -> String {
        let snapshots = self.snapshots();
        super::metrics::prometheus_text(snapshots.iter().map(|(n, m)| (n.as_str(), m)))
    }

    /// A Prometheus collector of this manager's per-plugin metrics, read
    /// at every scrape, to register next to other metrics in a
    /// [`prometheus_client`] registry.
    pub fn metrics_collector(&self) -> SnapshotCollector {
        let manager = self.clone();
        SnapshotCollector::new(move || manager.snapshots())
    }

    /// Plugin `name`'s slot and the version serving now.
    pub(super) fn entry(&self, name: &str) -> Result<Entry> {
        self.inner
            .slots
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    pub(super) fn slot(&self, name: &str) -> Result<Arc<Slot>> {
        self.entry(name).map(|e| e.slot)
    }

    /// Makes `version` the one serving `slot`'s plugin, unless the plugin
    /// was unloaded (or unloaded and loaded again) meanwhile.
    pub(super) fn publish(&self, slot: &Arc<Slot>, version: Version) -> Result<()> {
        let _serial = lock(&self.inner.slots_write);
        let mut slots = BTreeMap::clone(&self.inner.slots.load());
        let entry = slots
            .get_mut(&slot.name)
            .filter(|e| Arc::ptr_eq(&e.slot, slot))
            .ok_or_else(|| {
                not_found(&slot.name).context(format!(
                    "`{}` was unloaded while its new version was built; nothing was swapped in",
                    slot.name
                ))
            })?;
        entry.version = Arc::new(version);
        self.inner.slots.store(Arc::new(slots));
        Ok(())
    }

    /// Runs `call` on plugin `name` from synchronous code. The slot and
    /// version are borrowed from the map for the call (this thread holds
    /// the map until the call returns), rather than counted as more
    /// references.
    fn sync_call<C: Call>(&self, name: &str, call: &C) -> Result<C::Output> {
        let slots = self.inner.slots.load();
        let entry = slots.get(name).ok_or_else(|| not_found(name))?;
        drive(entry.slot.invoke(&entry.version, call, Api::Sync))
    }

    /// Runs `call` on plugin `name` on the async path.
    async fn async_call<C: Call>(&self, name: &str, call: &C) -> Result<C::Output> {
        let Entry { slot, version } = self.entry(name)?;
        slot.invoke(&version, call, Api::Async).await
    }

    /// Calls `func` of plugin `name` with typed parameters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`], [`ErrorKind::Busy`] when every slot
    /// stayed busy for the queue timeout, and the call's own errors.
    pub fn call<P, R>(&self, name: &str, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.sync_call(name, &Typed::<P, R>::new(func, params))
    }

    /// As [`call`](Self::call), on the async path: the guest yields at
    /// every epoch tick, so a long call never blocks other tasks.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<P, R>(&self, name: &str, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.async_call(name, &Typed::<P, R>::new(func, params))
            .await
    }

    /// Calls a component's `func` with typed parameters (see
    /// [`Plugin::call_wit`]).
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_wit<P: WitParams, R: WitResults>(
        &self,
        name: &str,
        func: &str,
        params: P,
    ) -> Result<R> {
        self.sync_call(name, &Wit::<P, R>::new(func, params))
    }

    /// As [`call_wit`](Self::call_wit), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_wit_async<P: WitParams, R: WitResults>(
        &self,
        name: &str,
        func: &str,
        params: P,
    ) -> Result<R> {
        self.async_call(name, &Wit::<P, R>::new(func, params)).await
    }

    /// Calls `func` of plugin `name` with JSON arguments.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), plus [`ErrorKind::InvalidArgument`].
    pub fn call_json(&self, name: &str, func: &str, args: &[JsonValue]) -> Result<Vec<JsonValue>> {
        self.sync_call(name, &Json { func, args })
    }

    /// As [`call_json`](Self::call_json), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call_json`](Self::call_json).
    pub async fn call_json_async(
        &self,
        name: &str,
        func: &str,
        args: &[JsonValue],
    ) -> Result<Vec<JsonValue>> {
        self.async_call(name, &Json { func, args }).await
    }

    /// Calls the `handle` export of the `plugbox:plugin` component `name`.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), and see [`Plugin::handle`].
    pub fn handle(&self, name: &str, input: &str) -> Result<std::result::Result<String, String>> {
        self.sync_call(name, &Handle { input })
    }

    /// As [`handle`](Self::handle), on the async path.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn handle_async(
        &self,
        name: &str,
        input: &str,
    ) -> Result<std::result::Result<String, String>> {
        self.async_call(name, &Handle { input }).await
    }
}

pub(super) fn not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::PluginNotFound(name.to_string()),
        format!("no plugin named `{name}` is loaded"),
    )
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager")
            .field(
                "plugins",
                &self.inner.slots.load().keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests;
