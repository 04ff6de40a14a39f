//! A loaded plugin: validated, compiled and pre-linked code, plus the limits
//! and sandbox every call runs under.

use crate::compile::{self, Code};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result, TrapKind};
use crate::host_fn::HostFunctions;
use crate::instance::{Instance, RunOutput, StoreState};
use crate::limits::{CallStats, Limits};
use crate::sandbox::Sandbox;
use crate::source::Wasm;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::{FuncType, Val, WasmParams, WasmResults};

/// A compiled, linked plugin. Cheap to clone (an `Arc`) and `Send + Sync`:
/// share one across threads and call it concurrently. Each call on a
/// `Plugin` runs in a fresh instance (stateless); use
/// [`instantiate`](Self::instantiate) for an instance whose state persists.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

pub(crate) struct PluginInner {
    pub(crate) engine: Engine,
    pub(crate) name: String,
    pub(crate) linked: Linked,
    pub(crate) limits: Limits,
    pub(crate) sandbox: Sandbox,
    pub(crate) uses_wasi: bool,
    pub(crate) name_arc: Arc<str>,
    pub(crate) config: Arc<BTreeMap<String, String>>,
    pub(crate) host: HostFunctions,
    pub(crate) uses_async: bool,
    pub(crate) kv: crate::world::KvStore,
    pub(crate) log_sink: Option<LogSink>,
}

/// Receives what a `plugbox:plugin` component logs: `(level, message)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Configures how a plugin is loaded: limits, sandbox, trust in
/// precompiled code, name.
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
    name: Option<String>,
    limits: Limits,
    sandbox: Sandbox,
    allow_precompiled: bool,
    host: HostFunctions,
    config: BTreeMap<String, String>,
    kv: crate::world::KvStore,
    log_sink: Option<LogSink>,
}

impl std::fmt::Debug for PluginBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginBuilder")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field("sandbox", &self.sandbox)
            .field("allow_precompiled", &self.allow_precompiled)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl PluginBuilder {
    /// The key-value store a `plugbox:plugin` component sees through its
    /// `kv` import. Default: a new, empty store. Pass the same store to
    /// keep data across reloads.
    pub fn kv(mut self, kv: crate::world::KvStore) -> Self {
        self.kv = kv;
        self
    }

    /// Also sends what a `plugbox:plugin` component logs to `sink`
    /// (messages always go to `tracing`). Default: none.
    pub fn on_log(mut self, sink: impl Fn(&str, &str) + Send + Sync + 'static) -> Self {
        self.log_sink = Some(Arc::new(sink));
        self
    }

    /// Host functions the plugin may import. Default: none (only WASI).
    pub fn host(mut self, host: HostFunctions) -> Self {
        self.host = host;
        self
    }

    /// Read-only configuration values, visible to host functions through
    /// [`HostCaller::config`](crate::HostCaller::config). Default: empty.
    pub fn config(mut self, config: BTreeMap<String, String>) -> Self {
        self.config = config;
        self
    }

    /// The name used in messages and metrics. Default: the file path, or
    /// `<bytes>` / `<stream>`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Limits applied to every call. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Capabilities granted to the guest. Default: nothing
    /// ([`Sandbox::default`]).
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// Accepts precompiled (`.cwasm`) artifacts from anywhere. They are
    /// native code, so only enable this for artifacts you produced or trust.
    /// Artifacts inside the engine's cache directory are always accepted.
    /// Default: off.
    pub fn allow_precompiled(mut self, allow: bool) -> Self {
        self.allow_precompiled = allow;
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
        let wasm = Wasm::from_bytes(&self.engine, bytes.as_ref())?;
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
        let name = self.name.clone().unwrap_or_else(|| wasm.name().to_string());
        let _span = tracing::info_span!("load", plugin = %name).entered();
        self.limits.check(self.engine.config())?;
        self.sandbox.check()?;
        let (linked, uses_wasi, uses_async) =
            match compile::compile(&self.engine, &wasm, self.allow_precompiled)? {
                Code::Module(module) => {
                    let uses_wasi = module.imports().any(|i| is_wasi_module(i.module()));
                    let uses_async = module
                        .imports()
                        .any(|i| self.host.is_async(i.module(), i.name()));
                    let link = |async_wasi| {
                        crate::link::link(
                            &self.engine,
                            &module,
                            uses_wasi,
                            &self.host,
                            &name,
                            async_wasi,
                        )
                    };
                    let pre = link(false)?;
                    let async_pre = if uses_wasi { Some(link(true)?) } else { None };
                    (
                        Linked::Module {
                            module,
                            pre,
                            async_pre,
                        },
                        uses_wasi,
                        uses_async,
                    )
                }
                Code::Component(component) => {
                    let pre = crate::component::link(&self.engine, &component, &self.host, &name)?;
                    (Linked::Component { component, pre }, true, false)
                }
            };
        Ok(Plugin {
            inner: Arc::new(PluginInner {
                engine: self.engine,
                linked,
                limits: self.limits,
                sandbox: self.sandbox,
                uses_wasi,
                name_arc: name.as_str().into(),
                config: Arc::new(self.config),
                host: self.host,
                uses_async,
                name,
                kv: self.kv,
                log_sink: self.log_sink,
            }),
        })
    }
}

pub(crate) fn is_wasi_module(module: &str) -> bool {
    matches!(module, "wasi_snapshot_preview1" | "wasi_unstable")
}

impl Plugin {
    /// Starts configuring a plugin for `engine`.
    pub fn builder(engine: &Engine) -> PluginBuilder {
        PluginBuilder {
            engine: engine.clone(),
            name: None,
            limits: Limits::default(),
            sandbox: Sandbox::default(),
            allow_precompiled: false,
            host: HostFunctions::default(),
            config: BTreeMap::new(),
            kv: crate::world::KvStore::default(),
            log_sink: None,
        }
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

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The engine it was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The granted capabilities.
    pub fn sandbox(&self) -> &Sandbox {
        &self.inner.sandbox
    }

    /// Whether the plugin imports WASI.
    pub fn uses_wasi(&self) -> bool {
        self.inner.uses_wasi
    }

    /// A copy of this plugin (sharing the compiled code) with other limits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the engine cannot enforce them.
    pub fn with_limits(&self, limits: Limits) -> Result<Self> {
        limits.check(self.inner.engine.config())?;
        Ok(self.rebuild(|p| p.limits = limits))
    }

    /// A copy of this plugin (sharing the compiled code) with another
    /// sandbox.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] or [`ErrorKind::Io`] when a grant is invalid.
    pub fn with_sandbox(&self, sandbox: Sandbox) -> Result<Self> {
        sandbox.check()?;
        Ok(self.rebuild(|p| p.sandbox = sandbox))
    }

    fn rebuild(&self, f: impl FnOnce(&mut PluginInner)) -> Self {
        let i = &self.inner;
        let mut inner = PluginInner {
            engine: i.engine.clone(),
            name: i.name.clone(),
            linked: i.linked.clone(),
            limits: i.limits.clone(),
            sandbox: i.sandbox.clone(),
            uses_wasi: i.uses_wasi,
            name_arc: i.name_arc.clone(),
            config: i.config.clone(),
            host: i.host.clone(),
            uses_async: i.uses_async,
            kv: i.kv.clone(),
            log_sink: i.log_sink.clone(),
        };
        f(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The type of an exported function.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`] when there is no such function export.
    pub fn func_type(&self, func: &str) -> Result<FuncType> {
        let module = match &self.inner.linked {
            Linked::Module { module, .. } => module,
            Linked::Component { .. } => return Err(component_needs_json(self)),
        };
        match module.get_export(func) {
            Some(wasmtime::ExternType::Func(ty)) => Ok(ty),
            Some(other) => Err(Error::new(
                ErrorKind::ExportNotFound {
                    name: func.to_string(),
                },
                format!(
                    "export `{func}` of `{}` is a {}, not a function",
                    self.name(),
                    extern_kind(&other)
                ),
            )),
            None => Err(export_not_found(self, func)),
        }
    }

    /// Names of the exported functions, in export order.
    pub fn functions(&self) -> Vec<String> {
        match &self.inner.linked {
            Linked::Module { module, .. } => module
                .exports()
                .filter(|e| matches!(e.ty(), wasmtime::ExternType::Func(_)))
                .map(|e| e.name().to_string())
                .collect(),
            Linked::Component { component, .. } => {
                crate::component::functions(&self.inner.engine, component)
            }
        }
    }

    /// Whether the plugin is a component (called with JSON values) rather
    /// than a core module.
    pub fn is_component(&self) -> bool {
        matches!(self.inner.linked, Linked::Component { .. })
    }

    /// The WIT signature of a component's exported function
    /// (`func(name: string) -> string`), or the core signature of a
    /// module's.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`] when there is no such function.
    pub fn signature(&self, func: &str) -> Result<String> {
        match &self.inner.linked {
            Linked::Module { .. } => self
                .func_type(func)
                .map(|t| crate::values::format_func_type(&t)),
            Linked::Component { component, .. } => {
                crate::component::func_type(&self.inner.engine, component, func)
                    .map(|t| crate::component::format_func(&t))
                    .ok_or_else(|| export_not_found(self, func))
            }
        }
    }

    /// A fresh instance whose state persists across its calls.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Trap`] if the start function traps, [`ErrorKind::ResourceLimit`]
    /// if the initial memory or tables exceed the limits,
    /// [`ErrorKind::Instantiate`] otherwise.
    pub fn instantiate(&self) -> Result<Instance> {
        Instance::new(self.clone(), &[])
    }

    pub(crate) fn inner(&self) -> &PluginInner {
        &self.inner
    }

    /// Calls `func` with typed parameters in a fresh instance.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SignatureMismatch`] if `P`/`R` do not match the export,
    /// [`ErrorKind::Trap`] or [`ErrorKind::ResourceLimit`] when the guest
    /// fails, and the errors of [`instantiate`](Self::instantiate).
    pub fn call<P: WasmParams + Clone + Sync, R: WasmResults>(
        &self,
        func: &str,
        params: P,
    ) -> Result<R> {
        self.with_retry(|inst| inst.call::<P, R>(func, params.clone()))
            .map(|(r, _)| r)
    }

    /// Calls `func` with dynamic values in a fresh instance.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), with [`ErrorKind::InvalidArgument`] for
    /// values of the wrong type or number.
    pub fn call_values(&self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.invoke_values(func, args).map(|(r, _)| r)
    }

    /// Calls `func` with dynamic values and reports what the call used.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn invoke_values(&self, func: &str, args: &[Val]) -> Result<(Vec<Val>, CallStats)> {
        self.with_retry(|inst| inst.call_values(func, args))
    }

    /// Calls `func` with arguments given as JSON and returns the results as
    /// JSON: numbers (or numeric strings) for core modules, any WIT value
    /// for components (see [`wit_values`](crate::wit_values) for the
    /// mapping). Component functions are named `greet` or
    /// `my:pkg/iface#greet`.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn call_json(
        &self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        self.invoke_json(func, args).map(|(r, _)| r)
    }

    /// As [`call_json`](Self::call_json), reporting what the call used.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn invoke_json(
        &self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<(Vec<serde_json::Value>, CallStats)> {
        self.with_retry(|inst| inst.call_json(func, args))
    }

    /// A fresh instance for async use (required when the plugin imports
    /// async host functions).
    ///
    /// # Errors
    ///
    /// As [`instantiate`](Self::instantiate).
    pub async fn instantiate_async(&self) -> Result<Instance> {
        Instance::new_async(self.clone(), &[], self.inner.limits.get_fuel()).await
    }

    /// Calls `func` in a fresh instance without blocking the async
    /// executor: the guest yields at every epoch tick, so a long call never
    /// starves other tasks.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<P, R>(&self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        let mut fuel = self.inner.limits.get_fuel();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut inst = Instance::new_async(self.clone(), &[], fuel).await?;
            let result = inst.call_async::<P, R>(func, params.clone()).await;
            match self.retry_fuel(&result, attempts, fuel) {
                Some(more) => fuel = Some(more),
                None => return result.map_err(|e| attempts_context(e, attempts)),
            }
        }
    }

    /// Calls `func` with JSON arguments in a fresh instance, asynchronously.
    ///
    /// # Errors
    ///
    /// As [`call_json`](Self::call_json).
    pub async fn call_json_async(
        &self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<(Vec<serde_json::Value>, CallStats)> {
        let start = Instant::now();
        let mut fuel = self.inner.limits.get_fuel();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut inst = Instance::new_async(self.clone(), &[], fuel).await?;
            let result = inst.call_json_async(func, args).await;
            match self.retry_fuel(&result, attempts, fuel) {
                Some(more) => fuel = Some(more),
                None => {
                    let out = result.map_err(|e| attempts_context(e, attempts))?;
                    let mut stats = inst.stats();
                    stats.attempts = attempts;
                    stats.duration = start.elapsed();
                    return Ok((out, stats));
                }
            }
        }
    }

    /// Calls the `handle` export of a `plugbox:plugin` component in a fresh
    /// instance, through typed bindings: `Ok(Ok(output))`, `Ok(Err(message))`
    /// when the plugin reports an error, `Err` when the call fails.
    ///
    /// # Errors
    ///
    /// See [`Instance::handle`].
    pub fn handle(&self, input: &str) -> Result<std::result::Result<String, String>> {
        self.with_retry(|inst| inst.handle(input)).map(|(r, _)| r)
    }

    /// The key-value store of this plugin (`plugbox:plugin/kv`).
    pub fn kv(&self) -> &crate::world::KvStore {
        &self.inner.kv
    }

    /// Runs the plugin as a WASI command (its `_start` export) with `args`
    /// (argv\[1..\]; argv\[0\] is the plugin name).
    ///
    /// A `proc_exit(n)` is not an error: it is [`RunOutput::exit_code`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`] without `_start`, traps and limits as
    /// for calls, and [`ErrorKind::ResourceLimit`] with
    /// [`Limit::Output`](crate::Limit::Output) when captured output exceeds
    /// its cap.
    pub fn run(&self, args: &[impl AsRef<str>]) -> Result<RunOutput> {
        let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
        let (mut out, stats) = self.with_retry_args(&args, Instance::run_start)?;
        out.stats = stats;
        Ok(out)
    }

    /// Runs `f` on fresh instances, retrying with escalating fuel when the
    /// limits carry a [`FuelRetry`](crate::FuelRetry) policy.
    pub(crate) fn with_retry<T: Send>(
        &self,
        f: impl FnMut(&mut Instance) -> Result<T> + Send,
    ) -> Result<(T, CallStats)> {
        self.with_retry_args(&[], f)
    }

    /// As [`with_retry`](Self::with_retry), with WASI arguments.
    fn with_retry_args<T: Send>(
        &self,
        args: &[String],
        f: impl FnMut(&mut Instance) -> Result<T> + Send,
    ) -> Result<(T, CallStats)> {
        crate::instance::off_runtime(self.inner.uses_wasi, || self.retry_loop(args, f))
    }

    fn retry_loop<T>(
        &self,
        args: &[String],
        mut f: impl FnMut(&mut Instance) -> Result<T>,
    ) -> Result<(T, CallStats)> {
        let start = Instant::now();
        let mut attempts = 0;
        let mut fuel = self.inner.limits.get_fuel();
        loop {
            attempts += 1;
            let mut inst = Instance::new_with_fuel(self.clone(), args, fuel)?;
            let result = f(&mut inst);
            match self.retry_fuel(&result, attempts, fuel) {
                Some(more) => fuel = Some(more),
                None => {
                    let mut stats = inst.stats();
                    stats.attempts = attempts;
                    stats.duration = start.elapsed();
                    let value =
                        result.map_err(|e| attempts_context(e, attempts).with_stats(stats))?;
                    return Ok((value, stats));
                }
            }
        }
    }

    /// The fuel for the next attempt, if the policy says to retry.
    fn retry_fuel<T>(&self, result: &Result<T>, attempts: u32, fuel: Option<u64>) -> Option<u64> {
        let policy = self.inner.limits.get_retry()?;
        let err = result.as_ref().err()?;
        if err.trap_kind() != Some(TrapKind::OutOfFuel) || attempts >= policy.max_attempts {
            return None;
        }
        let current = fuel?;
        if current >= policy.max_fuel {
            return None;
        }
        let next = current.saturating_mul(policy.factor).min(policy.max_fuel);
        tracing::debug!(plugin = %self.name(), attempts, next, "out of fuel; retrying with more");
        Some(next)
    }
}

fn attempts_context(err: Error, attempts: u32) -> Error {
    if attempts > 1 {
        err.context(format!(
            "failed after {attempts} attempts with escalating fuel"
        ))
    } else {
        err
    }
}

/// The compiled, pre-linked code of a plugin.
#[derive(Clone)]
pub(crate) enum Linked {
    Module {
        module: wasmtime::Module,
        pre: wasmtime::InstancePre<StoreState>,
        /// Linked with async WASI, for async calls of WASI modules.
        async_pre: Option<wasmtime::InstancePre<StoreState>>,
    },
    Component {
        component: wasmtime::component::Component,
        pre: wasmtime::component::InstancePre<StoreState>,
    },
}

pub(crate) fn component_needs_json(plugin: &Plugin) -> Error {
    Error::new(
        ErrorKind::SignatureMismatch {
            expected: "a core module".into(),
            found: "a component".into(),
        },
        format!(
            "`{}` is a component: call it with JSON values (call_json)",
            plugin.name()
        ),
    )
}

pub(crate) fn export_not_found(plugin: &Plugin, func: &str) -> Error {
    let funcs = plugin.functions();
    let hint = if funcs.is_empty() {
        "it exports no functions".to_string()
    } else {
        format!(
            "it exports: {}",
            funcs
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Error::new(
        ErrorKind::ExportNotFound {
            name: func.to_string(),
        },
        format!(
            "no function `{func}` exported by `{}` ({hint})",
            plugin.name()
        ),
    )
}

pub(crate) fn extern_kind(ty: &wasmtime::ExternType) -> &'static str {
    match ty {
        wasmtime::ExternType::Func(_) => "function",
        wasmtime::ExternType::Global(_) => "global",
        wasmtime::ExternType::Table(_) => "table",
        wasmtime::ExternType::Memory(_) => "memory",
        wasmtime::ExternType::Tag(_) => "tag",
    }
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .finish_non_exhaustive()
    }
}
