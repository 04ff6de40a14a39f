//! `PluginManager`: plugins by name, stateless or stateful, with
//! concurrency caps, atomic hot reload, metrics and async calls.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host_fn::HostFunctions;
use crate::instance::Instance;
use crate::limits::CallStats;
use crate::manifest::{Manifest, Mode, PluginSpec};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::plugin::Plugin;
use crate::source::Wasm;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
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
    inner: Arc<ManagerInner>,
}

struct ManagerInner {
    engine: Engine,
    host: RwLock<HostFunctions>,
    slots: RwLock<BTreeMap<String, Arc<Slot>>>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

/// One named plugin: its spec, the version serving now, and its metrics.
struct Slot {
    name: String,
    spec: PluginSpec,
    current: RwLock<Arc<Version>>,
    metrics: Metrics,
    last_reload_error: Mutex<Option<String>>,
    /// Serialises reloads of this plugin.
    reloading: Mutex<()>,
}

/// A loaded version of a plugin. Calls in flight keep their version alive,
/// so a reload never disturbs them.
struct Version {
    plugin: Plugin,
    sha256: String,
    number: u64,
    permits: Option<Arc<tokio::sync::Semaphore>>,
    stateful: Option<Stateful>,
    queue_timeout: Duration,
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
}

impl PluginManager {
    /// An empty manager on `engine`.
    pub fn new(engine: &Engine) -> Self {
        Self {
            inner: Arc::new(ManagerInner {
                engine: engine.clone(),
                host: RwLock::new(HostFunctions::new()),
                slots: RwLock::new(BTreeMap::new()),
                watcher: Mutex::new(None),
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
        if let Ok(mut h) = self.inner.host.write() {
            *h = host;
        }
        self
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Loads `spec` under `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] if the name is taken, the errors of loading
    /// (invalid module, link errors, ...), and a sha256 mismatch.
    pub fn load(&self, name: &str, spec: PluginSpec) -> Result<()> {
        let _span = tracing::info_span!("load", plugin = name).entered();
        if self.slot(name).is_ok() {
            return Err(Error::config(format!(
                "plugin `{name}` is already loaded; reload or unload it first"
            )));
        }
        let version = self.build(name, &spec, 1)?;
        let slot = Arc::new(Slot {
            name: name.to_string(),
            spec,
            current: RwLock::new(Arc::new(version)),
            metrics: Metrics::default(),
            last_reload_error: Mutex::new(None),
            reloading: Mutex::new(()),
        });
        let mut slots = write(&self.inner.slots);
        if slots.contains_key(name) {
            return Err(Error::config(format!("plugin `{name}` is already loaded")));
        }
        slots.insert(name.to_string(), slot);
        drop(slots);
        self.rewatch();
        Ok(())
    }

    /// Removes a plugin; calls in flight finish on it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn unload(&self, name: &str) -> Result<()> {
        write(&self.inner.slots)
            .remove(name)
            .ok_or_else(|| not_found(name))?;
        self.rewatch();
        Ok(())
    }

    /// Re-reads a plugin's source and swaps it in atomically: calls in
    /// flight finish on the old version, new calls use the new one. A new
    /// version that fails to validate, compile or link is refused and the
    /// old one keeps serving. Returns whether anything changed (an
    /// unchanged file is not reloaded).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`], or why the new version was refused.
    pub fn reload(&self, name: &str) -> Result<bool> {
        let slot = self.slot(name)?;
        let _serial = slot
            .reloading
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _span = tracing::info_span!("reload", plugin = name).entered();
        let old = read(&slot.current).clone();
        let outcome = match std::fs::read(&slot.spec.source) {
            Ok(bytes) if crate::source::sha256_hex(&bytes) == old.sha256 => return Ok(false),
            Ok(_) | Err(_) => self.build(name, &slot.spec, old.number + 1),
        };
        match outcome {
            Ok(version) => {
                *slot
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(version);
                slot.metrics.reloaded(true);
                *lock(&slot.last_reload_error) = None;
                tracing::info!(plugin = name, version = old.number + 1, "reloaded");
                Ok(true)
            }
            Err(e) => {
                slot.metrics.reloaded(false);
                *lock(&slot.last_reload_error) = Some(format!("{e:#}"));
                tracing::error!(plugin = name, error = %format!("{e:#}"), "reload refused; the old version keeps serving");
                Err(e.context(format!(
                    "reload of `{name}` refused; version {} keeps serving",
                    old.number
                )))
            }
        }
    }

    /// Why the last reload of `name` was refused, if it was.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn last_reload_error(&self, name: &str) -> Result<Option<String>> {
        Ok(lock(&self.slot(name)?.last_reload_error).clone())
    }

    /// The plugins, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        read(&self.inner.slots)
            .values()
            .map(|slot| {
                let v = read(&slot.current).clone();
                PluginInfo {
                    name: slot.name.clone(),
                    source: slot.spec.source.clone(),
                    mode: slot.spec.mode,
                    version: v.number,
                    sha256: v.sha256.clone(),
                    functions: v.plugin.functions(),
                }
            })
            .collect()
    }

    /// The version of `name` serving now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn plugin(&self, name: &str) -> Result<Plugin> {
        Ok(read(&self.slot(name)?.current).plugin.clone())
    }

    /// A snapshot of `name`'s metrics.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`].
    pub fn metrics(&self, name: &str) -> Result<MetricsSnapshot> {
        Ok(self.slot(name)?.metrics.snapshot())
    }

    /// Every plugin's metrics as Prometheus text.
    pub fn prometheus(&self) -> String {
        let snaps: Vec<(String, MetricsSnapshot)> = read(&self.inner.slots)
            .values()
            .map(|s| (s.name.clone(), s.metrics.snapshot()))
            .collect();
        crate::metrics::prometheus_text(snaps.iter().map(|(n, m)| (n.as_str(), m)))
    }

    /// Calls `func` of plugin `name` with typed parameters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`], [`ErrorKind::Busy`] when every slot
    /// stayed busy for the queue timeout, and the call's own errors.
    pub fn call<P, R>(&self, name: &str, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Sync,
        R: WasmResults,
    {
        self.with_version(name, func, |v| match &v.stateful {
            Some(st) => {
                let mut checkout = st.checkout_sync(&v.plugin, v.queue_timeout())?;
                let inst = checkout.get()?;
                let r = inst.call::<P, R>(func, params)?;
                Ok((r, inst.stats()))
            }
            None => v
                .plugin
                .with_retry(|i| i.call::<P, R>(func, params.clone())),
        })
    }

    /// Calls `func` of plugin `name` with JSON arguments.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), plus [`ErrorKind::InvalidArgument`].
    pub fn call_json(
        &self,
        name: &str,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        self.with_version(name, func, |v| match &v.stateful {
            Some(st) => {
                let mut checkout = st.checkout_sync(&v.plugin, v.queue_timeout())?;
                let inst = checkout.get()?;
                let r = inst.call_json(func, args)?;
                Ok((r, inst.stats()))
            }
            None => v.plugin.invoke_json(func, args),
        })
    }

    /// Calls `func` of plugin `name` with JSON arguments on the async
    /// executor; the guest yields at every epoch tick, so a long call never
    /// blocks other tasks.
    ///
    /// # Errors
    ///
    /// As [`call_json`](Self::call_json).
    pub async fn call_json_async(
        &self,
        name: &str,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        let slot = self.slot(name)?;
        let version = read(&slot.current).clone();
        let _inflight = slot.metrics.start();
        let start = Instant::now();
        let result: Result<(Vec<serde_json::Value>, CallStats)> = async {
            let _permit = match &version.permits {
                Some(sem) => Some(acquire_async(sem, version.queue_timeout(), name).await?),
                None => None,
            };
            match &version.stateful {
                Some(st) => {
                    let mut checkout = st
                        .checkout_async(&version.plugin, version.queue_timeout())
                        .await?;
                    let inst = checkout.get_async().await?;
                    let r = inst.call_json_async(func, args).await?;
                    Ok((r, inst.stats()))
                }
                None => version.plugin.call_json_async(func, args).await,
            }
        }
        .await;
        slot.metrics
            .record(&result, call_stats(&result).as_ref(), start.elapsed());
        result.map(|(r, _)| r)
    }

    fn with_version<T: Send>(
        &self,
        name: &str,
        func: &str,
        f: impl FnOnce(&Version) -> Result<(T, CallStats)> + Send,
    ) -> Result<T> {
        let slot = self.slot(name)?;
        let version = read(&slot.current).clone();
        let _span =
            tracing::debug_span!("call", plugin = name, func, version = version.number).entered();
        let _inflight = slot.metrics.start();
        let start = Instant::now();
        let wasi = version.plugin.uses_wasi();
        let result = match &version.permits {
            Some(sem) => acquire_sync(sem, version.queue_timeout(), name)
                .and_then(|_permit| crate::instance::off_runtime(wasi, || f(&version))),
            None => crate::instance::off_runtime(wasi, || f(&version)),
        };
        slot.metrics
            .record(&result, call_stats(&result).as_ref(), start.elapsed());
        result.map(|(r, _)| r)
    }

    fn slot(&self, name: &str) -> Result<Arc<Slot>> {
        read(&self.inner.slots)
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// Reads, checks and compiles one version of a plugin.
    fn build(&self, name: &str, spec: &PluginSpec, number: u64) -> Result<Version> {
        let engine = &self.inner.engine;
        let wasm = Wasm::from_file(engine, &spec.source)
            .map_err(|e| e.context(format!("cannot load plugin `{name}`")))?;
        spec.check_pin(name, &wasm)?;
        let sha256 = wasm.sha256().to_string();
        let sandbox = spec
            .sandbox
            .to_sandbox(Path::new(""))
            .map_err(|e| e.context(format!("plugin `{name}`")))?;
        let host = self
            .inner
            .host
            .read()
            .map(|h| h.clone())
            .unwrap_or_default();
        let plugin = Plugin::builder(engine)
            .name(name)
            .limits(spec.limits.clone())
            .sandbox(sandbox)
            .host(host)
            .config(spec.config.clone())
            .allow_precompiled(spec.allow_precompiled)
            .build(wasm)
            .map_err(|e| e.context(format!("cannot load plugin `{name}`")))?;
        let permits = spec
            .max_concurrency
            .map(|n| Arc::new(tokio::sync::Semaphore::new(n as usize)));
        let stateful = (spec.mode == Mode::Stateful).then(Stateful::default);
        Ok(Version {
            plugin,
            sha256,
            number,
            permits,
            stateful,
            queue_timeout: spec.get_queue_timeout(),
        })
    }

    /// Watches every plugin's source file and reloads it when it changes.
    /// A refused reload is logged, counted and kept for
    /// [`last_reload_error`](Self::last_reload_error).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the platform watcher cannot start.
    pub fn watch(&self) -> Result<()> {
        let weak: Weak<ManagerInner> = Arc::downgrade(&self.inner);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if !(event.kind.is_modify() || event.kind.is_create()) {
                return;
            }
            let Some(inner) = weak.upgrade() else { return };
            let manager = PluginManager { inner };
            // Let the writer finish before reading.
            std::thread::sleep(Duration::from_millis(50));
            for info in manager.list() {
                let source = std::fs::canonicalize(&info.source).unwrap_or(info.source.clone());
                let hit = event
                    .paths
                    .iter()
                    .any(|p| std::fs::canonicalize(p).unwrap_or(p.clone()) == source);
                if hit {
                    let _ = manager.reload(&info.name);
                }
            }
        })
        .map_err(|e| Error::new(ErrorKind::Io, "cannot start the file watcher").with_source(e))?;
        *lock(&self.inner.watcher) = Some(watcher);
        self.rewatch();
        Ok(())
    }

    /// Points the watcher (if on) at the directories of the current plugins.
    fn rewatch(&self) {
        use notify::Watcher;
        let dirs: std::collections::BTreeSet<PathBuf> = read(&self.inner.slots)
            .values()
            .filter_map(|s| {
                let abs = std::path::absolute(&s.spec.source).ok()?;
                abs.parent().map(Path::to_path_buf)
            })
            .collect();
        let mut guard = lock(&self.inner.watcher);
        if let Some(w) = guard.as_mut() {
            for dir in dirs {
                if let Err(e) = w.watch(&dir, notify::RecursiveMode::NonRecursive) {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot watch plugin directory");
                }
            }
        }
    }
}

impl Version {
    fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }
}

/// The one instance of a stateful plugin, checked out by one call at a
/// time. If a call is abandoned (an async task dropped mid-call), the
/// instance is discarded and the next call starts a fresh one.
#[derive(Default)]
struct Stateful {
    slot: Mutex<StatefulSlot>,
    freed: Condvar,
}

#[derive(Default)]
enum StatefulSlot {
    /// Not created yet, or discarded.
    #[default]
    Empty,
    Idle(Box<Instance>),
    Busy,
}

/// A checked-out stateful instance; returned to the slot on drop.
struct Checkout<'a> {
    owner: &'a Stateful,
    plugin: Plugin,
    instance: Option<Box<Instance>>,
}

impl Checkout<'_> {
    fn get(&mut self) -> Result<&mut Instance> {
        if self.instance.is_none() {
            self.instance = Some(Box::new(self.plugin.instantiate()?));
        }
        Ok(self
            .instance
            .as_deref_mut()
            .expect("instance was just created"))
    }

    async fn get_async(&mut self) -> Result<&mut Instance> {
        if self.instance.is_none() {
            self.instance = Some(Box::new(self.plugin.instantiate_async().await?));
        }
        Ok(self
            .instance
            .as_deref_mut()
            .expect("instance was just created"))
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let mut slot = lock(&self.owner.slot);
        *slot = match self.instance.take() {
            Some(i) => StatefulSlot::Idle(i),
            None => StatefulSlot::Empty,
        };
        self.owner.freed.notify_one();
    }
}

impl Stateful {
    fn try_take(slot: &mut StatefulSlot) -> Option<Option<Box<Instance>>> {
        match std::mem::replace(slot, StatefulSlot::Busy) {
            StatefulSlot::Busy => None,
            StatefulSlot::Empty => Some(None),
            StatefulSlot::Idle(i) => Some(Some(i)),
        }
    }

    fn checkout_sync(&self, plugin: &Plugin, timeout: Duration) -> Result<Checkout<'_>> {
        let deadline = Instant::now() + timeout;
        let mut slot = lock(&self.slot);
        loop {
            if let Some(instance) = Self::try_take(&mut slot) {
                return Ok(Checkout {
                    owner: self,
                    plugin: plugin.clone(),
                    instance,
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(busy(plugin.name(), timeout));
            }
            slot = self
                .freed
                .wait_timeout(slot, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    async fn checkout_async(&self, plugin: &Plugin, timeout: Duration) -> Result<Checkout<'_>> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(instance) = Self::try_take(&mut lock(&self.slot)) {
                return Ok(Checkout {
                    owner: self,
                    plugin: plugin.clone(),
                    instance,
                });
            }
            if Instant::now() >= deadline {
                return Err(busy(plugin.name(), timeout));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }
}

fn busy(name: &str, waited: Duration) -> Error {
    Error::new(
        ErrorKind::Busy,
        format!("plugin `{name}` is busy: no free instance within the queue timeout of {waited:?}"),
    )
}

fn acquire_sync<'a>(
    sem: &'a tokio::sync::Semaphore,
    timeout: Duration,
    name: &str,
) -> Result<tokio::sync::SemaphorePermit<'a>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(20);
    loop {
        match sem.try_acquire() {
            Ok(permit) => return Ok(permit),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(busy(name, timeout)),
            Err(tokio::sync::TryAcquireError::NoPermits) => {}
        }
        if Instant::now() >= deadline {
            return Err(busy(name, timeout));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

async fn acquire_async<'a>(
    sem: &'a tokio::sync::Semaphore,
    timeout: Duration,
    name: &str,
) -> Result<tokio::sync::SemaphorePermit<'a>> {
    match tokio::time::timeout(timeout, sem.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(busy(name, timeout)),
    }
}

/// What a call used, whether it succeeded or not.
fn call_stats<T>(result: &Result<(T, CallStats)>) -> Option<CallStats> {
    match result {
        Ok((_, stats)) => Some(*stats),
        Err(e) => e.call_stats(),
    }
}

fn not_found(name: &str) -> Error {
    Error::new(
        ErrorKind::PluginNotFound(name.to_string()),
        format!("no plugin named `{name}` is loaded"),
    )
}

/// Lock helpers that survive poisoning: a panicking embedder thread must
/// not take the manager down with it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl std::fmt::Debug for PluginManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginManager")
            .field(
                "plugins",
                &read(&self.inner.slots).keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}
