//! Compiled, pre-linked code and everything a plugin's stores are made
//! from. Modules and components are told apart here, once: [`Code`] is one
//! or the other, and every later step asks it rather than the bytes.

mod atomic_wait;
mod build;
mod compile;
pub(crate) mod component;
mod exports;
mod link;
mod shard;
mod symlink;

pub use compile::precompile;

use crate::clock::{Deadline, Stamp};
use crate::config::KvConfig;
use crate::config::{Limits, Sandbox, Stdin};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::kv::{Kv, KvBackend, KvBackends};
use crate::load::{Wasm, is_wasi_module};
use crate::store::{HostFunctions, LogSink, Shared, StoreState, StoreTemplate, Wasi};
use compile::Compiled;
use exports::ModuleExports;
pub(crate) use exports::{component_needs_json, export_not_found};
use shard::ShardCopies;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::Store;
use wasmtime::component::types::ComponentFunc;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

/// The largest stdin file plugbox reads for a guest: 64 MiB.
pub const MAX_STDIN_SIZE: u64 = 64 << 20;

/// How one call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// Wasmtime's synchronous API: for code whose host calls cannot block.
    Sync,
    /// Wasmtime's async API on a fiber, its future bounded by the deadline
    /// (so a pending host call ends with it) and yielding at every epoch
    /// tick.
    Async,
}

/// The compiled code of a plugin, linked against what plugbox provides.
pub(crate) enum Code {
    Module {
        module: wasmtime::Module,
        pre: wasmtime::InstancePre<StoreState>,
        /// Function exports, resolved at the first lookup by name, then
        /// kept: no lookup by name per call.
        exports: ModuleExports,
    },
    Component {
        component: wasmtime::component::Component,
        pre: wasmtime::component::InstancePre<StoreState>,
        /// Function exports (`f` and `iface#f`), resolved once.
        exports: BTreeMap<String, (wasmtime::component::ComponentExportIndex, ComponentFunc)>,
        /// The `wasi:http/incoming-handler` export, resolved once, when the
        /// component has one.
        proxy: Option<ProxyIndices>,
    },
}

/// A live instance in a store.
pub(crate) enum Live {
    Module(wasmtime::Instance),
    Component(wasmtime::component::Instance),
}

/// What a plugin is built from besides its code: the builder's settings.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    pub(crate) name: Option<String>,
    pub(crate) limits: Limits,
    pub(crate) sandbox: Sandbox,
    pub(crate) allow_precompiled: bool,
    pub(crate) host: HostFunctions,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) kv: KvConfig,
    /// The backend the plugin's state lives in; opened from `kv` when
    /// unset.
    pub(crate) kv_backend: Option<Arc<dyn KvBackend>>,
    /// Where backends opened from `kv` are kept (a manager's, so that a
    /// plugin's next version finds its state).
    pub(crate) kv_backends: Option<KvBackends>,
    pub(crate) log_sink: Option<LogSink>,
}

/// A compiled, linked and configured plugin: ready to instantiate.
pub(crate) struct Prepared {
    pub(crate) template: StoreTemplate,
    pub(crate) code: Code,
    /// Calls of the synchronous API take the async path: the plugin has
    /// host calls that can block (WASI, async host functions).
    pub(crate) blocking: bool,
    /// The plugin imports async host functions.
    pub(crate) async_host: bool,
    /// Calls run only wasm code: a module that imports no function.
    wasm_only: bool,
    /// An instantiation refused by a full pool shard may try another (see
    /// [`ShardCopies::may_borrow`]).
    borrows: bool,
    /// The call timeout, for plugins whose calls run only wasm code: the
    /// epoch alone can end them, so a synchronous call starts its deadline
    /// at the first epoch tick (see [`Self::epoch_timeout`]).
    epoch_timeout: Option<std::time::Duration>,
    /// Instances, memories and tables one instantiation creates, when known.
    counts: Counts,
    /// This plugin on the engine's pool shards, where its instances come
    /// from.
    shards: ShardCopies,
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    instances: Option<u64>,
    memories: Option<u64>,
    tables: Option<u64>,
}

impl Counts {
    /// Whether an instance fits in a pool of `slots` slots (as far as
    /// what it needs is known).
    fn fit(self, slots: u64) -> bool {
        [self.instances, self.memories, self.tables]
            .into_iter()
            .flatten()
            .all(|n| n <= slots)
    }
}

impl Prepared {
    /// Validates, compiles and links `wasm` with `settings`.
    pub(crate) fn new(engine: &Engine, settings: Settings, wasm: &Wasm) -> Result<Self> {
        let name: Arc<str> = settings
            .name
            .clone()
            .unwrap_or_else(|| wasm.name().to_string())
            .into();
        let _span = tracing::info_span!("load", plugin = %name).entered();
        let mut settings = settings;
        settings.limits = settings.limits.with_engine_defaults(engine.config());
        settings.limits.check(engine.config())?;
        settings.sandbox.check()?;
        let stdin = stdin_bytes(&settings.sandbox)?;
        let kv = open_kv(&settings, &name)?;
        let host = &settings.host;
        let (code, wasi, async_host, counts, wasm_only) =
            match compile::compile(engine, wasm, settings.allow_precompiled)? {
                Compiled::Module(module) => {
                    let wasm_only = !module
                        .imports()
                        .any(|i| matches!(i.ty(), wasmtime::ExternType::Func(_)));
                    let uses_wasi = module.imports().any(|i| is_wasi_module(i.module()));
                    let async_host = module
                        .imports()
                        .any(|i| host.is_async(i.module(), i.name()));
                    let r = module.resources_required();
                    let counts = Counts {
                        instances: Some(1),
                        memories: Some(r.num_memories.into()),
                        tables: Some(r.num_tables.into()),
                    };
                    let wasi = if uses_wasi { Wasi::P1 } else { Wasi::None };
                    let code = Code::module(module, uses_wasi, host, &name)?;
                    (code, wasi, async_host, counts, wasm_only)
                }
                Compiled::Component(component) => {
                    let wt = component.engine().clone();
                    let r = component.resources_required();
                    let counts = Counts {
                        instances: (!wasm.kind().is_precompiled())
                            .then(|| component::core_instances(wasm.bytes())),
                        memories: r.as_ref().map(|r| r.num_memories.into()),
                        tables: r.as_ref().map(|r| r.num_tables.into()),
                    };
                    let async_host = component
                        .component_type()
                        .imports(&wt)
                        .any(|(name, _)| host.is_async_component_import(name));
                    let code = Code::component(component, host, &name)?;
                    (code, Wasi::P2, async_host, counts, false)
                }
            };
        let shared = Arc::new(Shared {
            name: name.clone(),
            config: settings.config,
            kv,
            log_sink: settings.log_sink,
        });
        // The Wasmtime engine the code was loaded into: the pool's, or the
        // on-demand one for code too large for a pool slot.
        let wasmtime = code.engine().clone();
        let on_demand = engine.is_on_demand(&wasmtime);
        if on_demand {
            tracing::info!(plugin = %name, "an instance's state is larger than a pool slot holds; instances are allocated on demand");
        }
        let template = StoreTemplate {
            engine: engine.clone(),
            wasmtime,
            name,
            allowed_hosts: settings.sandbox.get_allowed_hosts().into(),
            limits: settings.limits,
            sandbox: settings.sandbox,
            stdin,
            wasi,
            host: settings.host,
            shared,
        };
        let prepared = Self {
            blocking: wasi != Wasi::None || async_host,
            async_host,
            wasm_only,
            borrows: ShardCopies::may_borrow(engine, &code),
            epoch_timeout: epoch_timeout(engine, &template.limits, wasm_only),
            template,
            code,
            counts,
            // Its instances come from one engine, not from the shards.
            shards: ShardCopies::new(if on_demand { 1 } else { engine.shard_count() }),
        };
        prepared.check_fits_a_shard()?;
        Ok(prepared)
    }

    /// A copy sharing the compiled code, with other limits or grants.
    pub(crate) fn with(&self, limits: Limits, sandbox: Sandbox) -> Result<Self> {
        let limits = limits.with_engine_defaults(self.template.engine.config());
        limits.check(self.template.engine.config())?;
        sandbox.check()?;
        let stdin = stdin_bytes(&sandbox)?;
        let template = StoreTemplate {
            allowed_hosts: sandbox.get_allowed_hosts().into(),
            limits,
            sandbox,
            stdin,
            ..self.template.clone()
        };
        Ok(self.rebuild(template, self.code.clone(), self.shards.sharing_code()))
    }

    /// This plugin with another store template, code or shard copies.
    fn rebuild(&self, template: StoreTemplate, code: Code, shards: ShardCopies) -> Self {
        Self {
            epoch_timeout: epoch_timeout(&template.engine, &template.limits, self.wasm_only),
            template,
            code,
            blocking: self.blocking,
            async_host: self.async_host,
            wasm_only: self.wasm_only,
            borrows: self.borrows,
            counts: self.counts,
            shards,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.template.name
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.template.engine
    }

    /// Whether this plugin's instances are allocated on demand although
    /// the engine has a pool: one does not fit a pool slot.
    pub(crate) fn on_demand(&self) -> bool {
        self.engine().is_on_demand(&self.template.wasmtime)
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.template.limits
    }

    /// The deadline of a call starting now.
    pub(crate) fn deadline(&self) -> Option<Deadline> {
        self.limits().get_timeout().and_then(Deadline::after)
    }

    /// The deadline of a call that started at `start`.
    pub(crate) fn deadline_from(&self, start: Stamp) -> Option<Deadline> {
        let timeout = self.limits().get_timeout()?;
        Deadline::after_from(start, timeout)
    }

    /// The timeout where the epoch alone enforces it: the plugin runs
    /// only wasm code, which checks the epoch, and no host code that would
    /// read a deadline on the clock. `None`: use
    /// [`deadline`](Self::deadline) (or there is no timeout).
    pub(crate) fn epoch_timeout(&self) -> Option<std::time::Duration> {
        self.epoch_timeout
    }

    /// How the synchronous API runs this plugin's calls.
    pub(crate) fn sync_how(&self) -> How {
        if self.blocking { How::Async } else { How::Sync }
    }

    /// Refuses an instantiation that would create more instances, memories
    /// or tables than the limits allow, before Wasmtime tries.
    pub(crate) fn check_counts(&self) -> Result<()> {
        let Some(allowed) = self.template.limits.get_max_instances() else {
            return Ok(());
        };
        let c = self.counts;
        for (what, needed) in [
            ("instances", c.instances),
            ("memories", c.memories),
            ("tables", c.tables),
        ] {
            if needed.is_some_and(|n| n > allowed) {
                return Err(Error::new(
                    ErrorKind::ResourceLimit(Limit::Count { what, allowed }),
                    format!(
                        "cannot instantiate `{}`: too many {what} (at most {allowed})",
                        self.name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Instantiates into `store` (the start function runs under the call's
    /// limits, armed by the caller).
    pub(crate) async fn instantiate(
        &self,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<Live> {
        match (&self.code, how) {
            (Code::Module { pre, .. }, How::Sync) => pre.instantiate(store).map(Live::Module),
            // The async arms are boxed: their futures are large, and the
            // sync path should not carry (and move) them on every call.
            (Code::Module { pre, .. }, How::Async) => Box::pin(pre.instantiate_async(store))
                .await
                .map(Live::Module),
            (Code::Component { pre, .. }, How::Sync) => pre.instantiate(store).map(Live::Component),
            (Code::Component { pre, .. }, How::Async) => Box::pin(pre.instantiate_async(store))
                .await
                .map(Live::Component),
        }
    }

    /// The type of a core module's exported function.
    pub(crate) fn func_type(&self, func: &str) -> Result<wasmtime::FuncType> {
        match &self.code {
            Code::Module {
                exports, module, ..
            } => match exports.get(func) {
                Some((_, ty)) => Ok(ty.clone()),
                None => Err(match module.get_export(func) {
                    Some(other) => Error::new(
                        ErrorKind::ExportNotFound {
                            name: func.to_string(),
                        },
                        format!(
                            "export `{func}` of `{}` is a {}, not a function",
                            self.name(),
                            crate::values::extern_kind(&other)
                        ),
                    ),
                    None => export_not_found(self.name(), func, &self.functions()),
                }),
            },
            Code::Component { .. } => Err(component_needs_json(self.name())),
        }
    }

    /// The signature of an exported function: WIT for a component
    /// (`func(name: string) -> string`), core types for a module.
    pub(crate) fn signature(&self, func: &str) -> Result<String> {
        match &self.code {
            Code::Module { .. } => self
                .func_type(func)
                .map(|t| crate::values::format_func_type(&t)),
            Code::Component { exports, .. } => exports
                .get(func)
                .map(|(_, ty)| component::format_func(ty))
                .ok_or_else(|| export_not_found(self.name(), func, &self.functions())),
        }
    }

    /// The resolved `wasi:http/incoming-handler` export of a component
    /// that has one.
    pub(crate) fn proxy(&self) -> Option<&ProxyIndices> {
        match &self.code {
            Code::Component { proxy, .. } => proxy.as_ref(),
            Code::Module { .. } => None,
        }
    }

    /// Names of the exported functions, in export order.
    pub(crate) fn functions(&self) -> Vec<String> {
        match &self.code {
            Code::Module { module, .. } => module
                .exports()
                .filter(|e| matches!(e.ty(), wasmtime::ExternType::Func(_)))
                .map(|e| e.name().to_string())
                .collect(),
            Code::Component { component, .. } => component::functions(component),
        }
    }
}

impl Clone for Code {
    fn clone(&self) -> Self {
        match self {
            Self::Module {
                module,
                pre,
                exports,
            } => Self::Module {
                module: module.clone(),
                pre: pre.clone(),
                exports: exports.clone(),
            },
            Self::Component {
                component,
                pre,
                exports,
                proxy,
            } => Self::Component {
                component: component.clone(),
                pre: pre.clone(),
                exports: exports.clone(),
                proxy: proxy.clone(),
            },
        }
    }
}

/// The plugin's key-value store: its backend (given, or opened from the
/// settings) and its namespace (the plugin's name unless set).
fn open_kv(settings: &Settings, name: &str) -> Result<Kv> {
    settings.kv.check()?;
    let backend = match &settings.kv_backend {
        Some(backend) => backend.clone(),
        None => settings
            .kv_backends
            .clone()
            .unwrap_or_default()
            .open(&settings.kv)?,
    };
    Kv::new(backend, &settings.kv.namespace_of(name), &settings.kv)
}

/// The fixed bytes a guest reads on stdin: a file (read once, capped, a
/// regular file only) or bytes the embedder gave.
fn stdin_bytes(sandbox: &Sandbox) -> Result<Option<Arc<[u8]>>> {
    if let Some(bytes) = sandbox.get_stdin_bytes() {
        return Ok(Some(bytes.clone()));
    }
    match sandbox.get_stdin() {
        Stdin::File(path) => {
            let bytes = crate::input::read_file(&path, Some(MAX_STDIN_SIZE))
                .map_err(|e| e.for_config(&format!("stdin file `{}`", path.display())))?;
            Ok(Some(bytes.into()))
        }
        Stdin::Null | Stdin::Inherit => Ok(None),
    }
}

/// `limits`' timeout, for plugins whose calls run only wasm code (`None`
/// otherwise, with no timeout, or without epoch interruption).
///
/// Such a call needs no deadline until the first epoch tick after it
/// starts: most calls end before it and never read the clock. At that
/// tick the deadline is set `timeout` from then — never early, since the
/// call started before the tick, and at most about a tick late — and
/// checked on the clock at every later tick, as every other deadline is.
fn epoch_timeout(engine: &Engine, limits: &Limits, wasm_only: bool) -> Option<std::time::Duration> {
    (wasm_only && engine.config().get_epoch_interruption())
        .then(|| limits.get_timeout())
        .flatten()
}
