//! An instance of a plugin: one Wasmtime store with its limits, deadline,
//! cancel flag and WASI context, and the call paths into it.

use crate::error::{Error, ErrorKind, Limit, Result, classify_call_error};
use crate::limits::{CallStats, CancelHandle, Interrupt, Limiter};
use crate::plugin::{Linked, Plugin, export_not_found};
use crate::sandbox::Captured;
use std::time::Instant;
use wasmtime::{Store, Val, WasmParams, WasmResults};
use wasmtime_wasi::p1::WasiP1Ctx;

/// The data of every plugbox store.
pub struct StoreState {
    pub(crate) limiter: Limiter,
    pub(crate) interrupt: Interrupt,
    pub(crate) wasi: Option<WasiP1Ctx>,
    pub(crate) p2: Option<P2Ctx>,
    pub(crate) plugin_name: std::sync::Arc<str>,
    pub(crate) config: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    pub(crate) host: Option<Box<dyn std::any::Any + Send>>,
    pub(crate) kv: crate::world::KvStore,
    pub(crate) log_sink: Option<crate::plugin::LogSink>,
}

impl StoreState {
    /// A state with no limits and no WASI, for link-time type checks.
    pub(crate) fn bare() -> Self {
        Self {
            limiter: Limiter::new(&crate::Limits::unlimited()),
            interrupt: Interrupt::default(),
            wasi: None,
            p2: None,
            plugin_name: "".into(),
            config: Default::default(),
            host: None,
            kv: Default::default(),
            log_sink: None,
        }
    }

    pub(crate) fn wasi_ctx(&mut self) -> &mut WasiP1Ctx {
        // Only modules that import WASI get the WASI functions linked, and
        // their stores always get a context (see `Instance::new_with_fuel`).
        self.wasi
            .as_mut()
            .expect("a store of a WASI module has a WASI context")
    }
}

/// WASI preview 2 state of a component's store.
pub(crate) struct P2Ctx {
    ctx: wasmtime_wasi::WasiCtx,
    table: wasmtime::component::ResourceTable,
}

impl wasmtime_wasi::WasiView for StoreState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        // Components are always linked against WASI preview 2, and their
        // stores always get a context (see `Instance::store`).
        let p2 = self
            .p2
            .as_mut()
            .expect("a component's store has a WASI preview 2 context");
        wasmtime_wasi::WasiCtxView {
            ctx: &mut p2.ctx,
            table: &mut p2.table,
        }
    }
}

/// The live instance in a store.
enum Live {
    Module(wasmtime::Instance),
    Component(wasmtime::component::Instance),
}

/// What a WASI command run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// The guest's exit status: 0 when `_start` returned, `n` after
    /// `proc_exit(n)`.
    pub exit_code: i32,
    /// Captured stdout (empty when inherited or discarded).
    pub stdout: Vec<u8>,
    /// Captured stderr (empty when inherited or discarded).
    pub stderr: Vec<u8>,
    /// What the run used.
    pub stats: CallStats,
}

/// A live instance of a plugin whose state (memory, globals) persists
/// across calls. Calls are serialised by `&mut self`.
pub struct Instance {
    plugin: Plugin,
    store: Store<StoreState>,
    instance: Live,
    captured: Captured,
    fuel_budget: Option<u64>,
    stats: CallStats,
}

impl Instance {
    pub(crate) fn new(plugin: Plugin, args: &[String]) -> Result<Self> {
        let fuel = plugin.limits().get_fuel();
        Self::new_with_fuel(plugin, args, fuel)
    }

    pub(crate) fn new_with_fuel(
        plugin: Plugin,
        args: &[String],
        fuel: Option<u64>,
    ) -> Result<Self> {
        sync_allowed(&plugin)?;
        let _span = tracing::debug_span!("instantiate", plugin = plugin.name()).entered();
        let (mut store, captured) = Self::store(&plugin, args, fuel, false)?;
        let start = Instant::now();
        let instance = match &plugin.inner().linked {
            Linked::Module { pre, .. } => pre.instantiate(&mut store).map(Live::Module),
            Linked::Component { pre, .. } => pre.instantiate(&mut store).map(Live::Component),
        };
        Self::finish_new(plugin, store, captured, fuel, start, instance)
    }

    pub(crate) async fn new_async(
        plugin: Plugin,
        args: &[String],
        fuel: Option<u64>,
    ) -> Result<Self> {
        let (mut store, captured) = Self::store(&plugin, args, fuel, true)?;
        let start = Instant::now();
        let span = tracing::debug_span!("instantiate", plugin = plugin.name());
        let instance = match &plugin.inner().linked {
            Linked::Module { pre, async_pre, .. } => {
                let pre = async_pre.as_ref().unwrap_or(pre);
                tracing::Instrument::instrument(pre.instantiate_async(&mut store), span)
                    .await
                    .map(Live::Module)
            }
            Linked::Component { .. } => {
                return Err(Error::config(format!(
                    "`{}` is a component: async calls of components are not supported yet; use the synchronous methods",
                    plugin.name()
                )));
            }
        };
        Self::finish_new(plugin, store, captured, fuel, start, instance)
    }

    /// A new store for `plugin`, armed for instantiation (the start function
    /// runs under the same fuel and deadline as a call).
    fn store(
        plugin: &Plugin,
        args: &[String],
        fuel: Option<u64>,
        yield_async: bool,
    ) -> Result<(Store<StoreState>, Captured)> {
        let inner = plugin.inner();
        let engine = &inner.engine;
        let limits = &inner.limits;
        let (mut wasi, mut p2, mut captured) = (None, None, Captured::default());
        if inner.uses_wasi {
            let mut argv = vec![inner.name.clone()];
            argv.extend_from_slice(args);
            let (mut builder, pipes) = inner.sandbox.build(&argv, limits.get_max_output())?;
            captured = pipes;
            match inner.linked {
                Linked::Module { .. } => wasi = Some(builder.build_p1()),
                Linked::Component { .. } => {
                    p2 = Some(P2Ctx {
                        ctx: builder.build(),
                        table: wasmtime::component::ResourceTable::new(),
                    });
                }
            }
        }
        let state = StoreState {
            limiter: Limiter::new(limits),
            interrupt: Interrupt {
                yield_async,
                ..Interrupt::default()
            },
            wasi,
            p2,
            plugin_name: inner.name_arc.clone(),
            config: inner.config.clone(),
            host: inner.host.make_state(),
            kv: inner.kv.clone(),
            log_sink: inner.log_sink.clone(),
        };
        let mut store = Store::new(engine.wasmtime(), state);
        store.limiter(|s| &mut s.limiter);
        if engine.config().get_epoch_interruption() {
            store.epoch_deadline_callback(|mut ctx| Ok(ctx.data_mut().interrupt.on_tick()));
        }
        arm(&mut store, plugin, fuel);
        Ok((store, captured))
    }

    fn finish_new(
        plugin: Plugin,
        mut store: Store<StoreState>,
        captured: Captured,
        fuel: Option<u64>,
        start: Instant,
        instance: wasmtime::Result<Live>,
    ) -> Result<Self> {
        let stats = CallStats {
            duration: start.elapsed(),
            ..CallStats::default()
        };
        match instance {
            Ok(instance) => Ok(Self {
                plugin,
                store,
                instance,
                captured,
                fuel_budget: fuel,
                stats,
            }),
            Err(e) => Err(instantiate_error(&plugin, &mut store, e)),
        }
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// A handle that cancels this instance's running or future calls from
    /// any thread: they fail with [`TrapKind::Cancelled`].
    pub fn cancel_handle(&mut self) -> CancelHandle {
        let handle = self
            .store
            .data_mut()
            .interrupt
            .cancel
            .get_or_insert_with(CancelHandle::new)
            .clone();
        self.plugin.engine().ensure_ticker();
        handle
    }

    /// Usage of the last call (fuel, time, memory high-water mark).
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    /// Captured stdout so far (up to the output cap).
    pub fn stdout(&self) -> Vec<u8> {
        self.captured.stdout()
    }

    /// Captured stderr so far (up to the output cap).
    pub fn stderr(&self) -> Vec<u8> {
        self.captured.stderr()
    }

    fn func(&mut self, name: &str) -> Result<wasmtime::Func> {
        let instance = match &self.instance {
            Live::Module(i) => i,
            Live::Component(_) => return Err(crate::plugin::component_needs_json(&self.plugin)),
        };
        match instance.get_export(&mut self.store, name) {
            Some(wasmtime::Extern::Func(f)) => Ok(f),
            Some(_) | None => Err(match self.plugin.func_type(name) {
                Err(e) => e,
                Ok(_) => export_not_found(&self.plugin, name),
            }),
        }
    }

    /// Calls `func` with typed parameters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`], [`ErrorKind::SignatureMismatch`]
    /// (expected vs found), [`ErrorKind::Trap`], [`ErrorKind::ResourceLimit`].
    pub fn call<P: WasmParams, R: WasmResults>(&mut self, func: &str, params: P) -> Result<R> {
        self.check_sync()?;
        let f = self.func(func)?;
        let typed = self.typed::<P, R>(&f, func)?;
        self.begin();
        let start = Instant::now();
        let result = typed.call(&mut self.store, params);
        self.finish(start);
        result.map_err(|e| self.call_error(e, func))
    }

    /// Calls `func` with typed parameters without blocking the async
    /// executor: the guest yields at every epoch tick.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<P, R>(&mut self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        let f = self.func(func)?;
        let typed = self.typed::<P, R>(&f, func)?;
        self.begin_async();
        let start = Instant::now();
        let result = typed.call_async(&mut self.store, params).await;
        self.finish(start);
        result.map_err(|e| self.call_error(e, func))
    }

    /// Calls `func` with dynamic values without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn call_values_async(&mut self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        let (f, mut results) = self.checked(func, args)?;
        self.begin_async();
        let start = Instant::now();
        let result = f.call_async(&mut self.store, args, &mut results).await;
        self.finish(start);
        result.map_err(|e| self.call_error(e, func))?;
        Ok(results)
    }

    /// Calls `func` with JSON arguments without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn call_json_async(
        &mut self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        if let Live::Component(_) = self.instance {
            return Err(Error::config(
                "async calls of components are not supported yet; use call_json",
            ));
        }
        let ty = self.plugin.func_type(func)?;
        let vals = crate::values::json_args(func, &ty, args)?;
        let results = self.call_values_async(func, &vals).await?;
        Ok(results.iter().map(crate::values::value_to_json).collect())
    }

    fn typed<P: WasmParams, R: WasmResults>(
        &self,
        f: &wasmtime::Func,
        func: &str,
    ) -> Result<wasmtime::TypedFunc<P, R>> {
        f.typed::<P, R>(&self.store).map_err(|_| {
            let found = crate::values::format_func_type(&f.ty(&self.store));
            let expected = format!(
                "{} -> {}",
                std::any::type_name::<P>(),
                std::any::type_name::<R>()
            );
            Error::new(
                ErrorKind::SignatureMismatch {
                    expected: expected.clone(),
                    found: found.clone(),
                },
                format!("signature mismatch for `{func}`: called as {expected} but it is {found}"),
            )
        })
    }

    /// Looks up `func` and checks `args` against its signature; returns the
    /// function and room for its results.
    fn checked(&mut self, func: &str, args: &[Val]) -> Result<(wasmtime::Func, Vec<Val>)> {
        let f = self.func(func)?;
        let ty = f.ty(&self.store);
        let params: Vec<_> = ty.params().collect();
        if params.len() != args.len() {
            return Err(Error::invalid_argument(format!(
                "`{func}` takes {} arguments {} but {} were given",
                params.len(),
                crate::values::format_func_type(&ty),
                args.len()
            )));
        }
        for (i, (want, got)) in params.iter().zip(args).enumerate() {
            if !got.matches_ty(&self.store, want).unwrap_or(false) {
                return Err(Error::invalid_argument(format!(
                    "argument {} of `{func}` must be {want} but a {} was given",
                    i + 1,
                    val_type_name(got)
                )));
            }
        }
        Ok((f, vec![Val::I32(0); ty.results().len()]))
    }

    /// Calls `func` with dynamic values, checked against its signature.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), plus [`ErrorKind::InvalidArgument`] for
    /// wrong arity or types.
    pub fn call_values(&mut self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.check_sync()?;
        let (f, mut results) = self.checked(func, args)?;
        self.begin();
        let start = Instant::now();
        let result = f.call(&mut self.store, args, &mut results);
        self.finish(start);
        result.map_err(|e| self.call_error(e, func))?;
        Ok(results)
    }

    /// Calls `func` with command-line style arguments parsed by its
    /// signature, returning the results as JSON values.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn call_strs(&mut self, func: &str, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        let ty = self.plugin.func_type(func)?;
        let vals = crate::values::parse_args(func, &ty, args)?;
        self.call_values(func, &vals)
    }

    /// Calls `func` with JSON arguments, returning JSON results.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn call_json(
        &mut self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        if let Live::Component(_) = self.instance {
            return self.call_component_json(func, args);
        }
        let ty = self.plugin.func_type(func)?;
        let vals = crate::values::json_args(func, &ty, args)?;
        let results = self.call_values(func, &vals)?;
        Ok(results.iter().map(crate::values::value_to_json).collect())
    }

    fn component_func(&mut self, name: &str) -> Result<wasmtime::component::Func> {
        let Live::Component(instance) = &self.instance else {
            return Err(export_not_found(&self.plugin, name));
        };
        crate::component::lookup(&mut self.store, instance, name)
            .ok_or_else(|| export_not_found(&self.plugin, name))
    }

    /// Calls the `handle` export of a `plugbox:plugin` component through
    /// typed bindings.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SignatureMismatch`] when the plugin does not export
    /// `handle: func(input: string) -> result<string, string>`, and the
    /// errors of a call.
    pub fn handle(&mut self, input: &str) -> Result<std::result::Result<String, String>> {
        self.check_sync()?;
        let Live::Component(instance) = &self.instance else {
            return Err(not_a_plugin_world(&self.plugin, "it is a core module"));
        };
        let world = crate::world::Plugin::new(&mut self.store, instance)
            .map_err(|e| not_a_plugin_world(&self.plugin, &format!("{e:#}")))?;
        self.begin();
        let start = Instant::now();
        let result = world.call_handle(&mut self.store, input);
        self.finish(start);
        result.map_err(|e| self.call_error(e, "handle"))
    }

    /// A component call with JSON arguments converted by the WIT types.
    fn call_component_json(
        &mut self,
        func: &str,
        args: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>> {
        self.check_sync()?;
        let f = self.component_func(func)?;
        let ty = f.ty(&self.store);
        let params: Vec<(String, wasmtime::component::Type)> =
            ty.params().map(|(n, t)| (n.to_string(), t)).collect();
        if params.len() != args.len() {
            return Err(Error::invalid_argument(format!(
                "`{func}` takes {} argument{} ({}) but {} {} given",
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                crate::component::format_func(&ty),
                args.len(),
                if args.len() == 1 { "was" } else { "were" }
            )));
        }
        let vals = params
            .iter()
            .zip(args)
            .map(|((name, t), a)| {
                crate::wit_values::json_to_val(a, t).map_err(|why| {
                    Error::invalid_argument(format!("invalid argument `{name}` of `{func}`: {why}"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut results = vec![wasmtime::component::Val::Bool(false); ty.results().len()];
        self.begin();
        let start = Instant::now();
        let result = f.call(&mut self.store, &vals, &mut results);
        self.finish(start);
        result.map_err(|e| self.call_error(e, func))?;
        Ok(results.iter().map(crate::wit_values::val_to_json).collect())
    }

    fn check_sync(&self) -> Result<()> {
        sync_allowed(&self.plugin)
    }

    /// Runs `_start` as a WASI command.
    pub(crate) fn run_start(&mut self) -> Result<RunOutput> {
        self.check_sync()?;
        if let Live::Component(_) = self.instance {
            return self.run_command_component();
        }
        let f = self.func("_start").map_err(|e| {
            e.context(format!(
                "`{}` is not a WASI command (no `_start` export)",
                self.plugin.name()
            ))
        })?;
        let typed = f.typed::<(), ()>(&self.store).map_err(|_| {
            Error::new(
                ErrorKind::SignatureMismatch {
                    expected: "() -> ()".into(),
                    found: crate::values::format_func_type(&f.ty(&self.store)),
                },
                "`_start` must take no arguments and return nothing",
            )
        })?;
        self.begin();
        let start = Instant::now();
        let result = typed.call(&mut self.store, ());
        self.finish(start);
        let exit_code = match result {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(self.call_error(e, "_start")),
            },
        };
        self.run_output(exit_code)
    }

    /// Runs a `wasi:cli/command` component's `wasi:cli/run#run`.
    fn run_command_component(&mut self) -> Result<RunOutput> {
        let Linked::Component { component, .. } = &self.plugin.inner().linked else {
            return Err(export_not_found(&self.plugin, "wasi:cli/run#run"));
        };
        let run = crate::component::cli_run(self.plugin.engine(), component).ok_or_else(|| {
            export_not_found(&self.plugin, "wasi:cli/run#run").context(format!(
                "`{}` is not a WASI command (it does not export `wasi:cli/run`)",
                self.plugin.name()
            ))
        })?;
        let f = self.component_func(&run)?;
        let mut results =
            vec![wasmtime::component::Val::Bool(false); f.ty(&self.store).results().len()];
        self.begin();
        let start = Instant::now();
        let result = f.call(&mut self.store, &[], &mut results);
        self.finish(start);
        let exit_code = match result {
            Ok(()) => match results.first() {
                Some(wasmtime::component::Val::Result(Err(_))) => 1,
                _ => 0,
            },
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(exit) => exit.0,
                None => return Err(self.call_error(e, &run)),
            },
        };
        self.run_output(exit_code)
    }

    fn run_output(&mut self, exit_code: i32) -> Result<RunOutput> {
        if let Some((stream, allowed)) = self.captured.overflow() {
            return Err(output_overflow(stream, allowed));
        }
        Ok(RunOutput {
            exit_code,
            stdout: self.stdout(),
            stderr: self.stderr(),
            stats: self.stats,
        })
    }

    /// Arms fuel and the deadline for the next synchronous call.
    fn begin(&mut self) {
        self.store.data_mut().interrupt.yield_async = false;
        arm(&mut self.store, &self.plugin, self.fuel_budget);
    }

    /// Arms fuel and the deadline for the next async call, which yields to
    /// the executor at every epoch tick.
    fn begin_async(&mut self) {
        self.store.data_mut().interrupt.yield_async = true;
        arm(&mut self.store, &self.plugin, self.fuel_budget);
    }

    fn finish(&mut self, start: Instant) {
        let duration = start.elapsed();
        let fuel_consumed = match (
            self.plugin.engine().config().get_consume_fuel(),
            self.store.get_fuel(),
        ) {
            (true, Ok(left)) => Some(self.fuel_budget.unwrap_or(u64::MAX) - left),
            _ => None,
        };
        let memory_peak = self.store.data().limiter.memory_peak;
        self.stats = CallStats {
            fuel_consumed,
            duration,
            memory_peak,
            attempts: 1,
        };
    }

    fn call_error(&mut self, err: wasmtime::Error, func: &str) -> Error {
        let reason = self.store.data_mut().interrupt.reason.take();
        let denied = self.store.data_mut().limiter.denied.take();
        let mut err = classify_call_error(err, reason);
        if let Some((stream, allowed)) = self.captured.overflow() {
            err = output_overflow(stream, allowed).with_source(err);
        } else if let (ErrorKind::Trap(kind), Some(limit)) = (err.kind(), denied)
            && !kind.is_limit()
        {
            // A guest that traps after being refused memory or table growth
            // failed because of the limit: report the limit, keep the trap.
            err = Error::new(ErrorKind::ResourceLimit(limit.clone()), limit.to_string())
                .with_source(err);
        }
        err.context(format!(
            "call to `{func}` in `{}` failed",
            self.plugin.name()
        ))
        .with_stats(self.stats)
    }
}

/// Whether a synchronous call of `plugin` is possible here: not with async
/// host functions, and not for WASI plugins on a thread inside a tokio
/// runtime (the synchronous WASI implementation blocks on a runtime, which
/// panics inside another one; the stateless `Plugin` methods move such
/// calls to a helper thread instead, see [`off_runtime`]).
fn sync_allowed(plugin: &Plugin) -> Result<()> {
    let inner = plugin.inner();
    if inner.uses_async {
        return Err(Error::config(format!(
            "`{}` imports async host functions: call it with the `*_async` methods",
            plugin.name()
        )));
    }
    if inner.uses_wasi && tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::config(format!(
            "`{}` uses WASI and this thread runs a tokio runtime: call it with the `*_async` methods, the stateless `Plugin` methods, or from a plain thread",
            plugin.name()
        )));
    }
    Ok(())
}

/// Runs `f` here, or — when `wasi` is set and this thread is inside a tokio
/// runtime — on a scoped helper thread outside it, where synchronous WASI
/// can block safely.
pub(crate) fn off_runtime<T: Send>(wasi: bool, f: impl FnOnce() -> T + Send) -> T {
    if wasi && tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(f).join())
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    } else {
        f()
    }
}

fn not_a_plugin_world(plugin: &Plugin, why: &str) -> Error {
    Error::new(
        ErrorKind::SignatureMismatch {
            expected: "handle: func(input: string) -> result<string, string>".into(),
            found: why.to_string(),
        },
        format!(
            "`{}` does not implement the plugbox:plugin world: {why}",
            plugin.name()
        ),
    )
}

fn output_overflow(stream: &'static str, allowed: u64) -> Error {
    let limit = Limit::Output { stream, allowed };
    Error::new(ErrorKind::ResourceLimit(limit.clone()), limit.to_string())
}

fn val_type_name(v: &Val) -> &'static str {
    match v {
        Val::I32(_) => "i32",
        Val::I64(_) => "i64",
        Val::F32(_) => "f32",
        Val::F64(_) => "f64",
        Val::V128(_) => "v128",
        _ => "reference",
    }
}

/// Sets fuel and the epoch deadline before guest code runs.
fn arm(store: &mut Store<StoreState>, plugin: &Plugin, fuel: Option<u64>) {
    let engine = plugin.engine();
    let config = engine.config();
    if config.get_consume_fuel() {
        // Setting fuel cannot fail when fuel metering is on.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
    }
    if config.get_epoch_interruption() {
        let timeout = plugin.limits().get_timeout();
        let interrupt = &mut store.data_mut().interrupt;
        interrupt.reason = None;
        interrupt.deadline = timeout.map(|t| Instant::now() + t);
        if interrupt.deadline.is_some() || interrupt.cancel.is_some() || interrupt.yield_async {
            engine.ensure_ticker();
            store.set_epoch_deadline(1);
        } else {
            store.set_epoch_deadline(u64::MAX / 2);
        }
    }
}

fn instantiate_error(
    plugin: &Plugin,
    store: &mut Store<StoreState>,
    err: wasmtime::Error,
) -> Error {
    let name = plugin.name();
    if let Some(limit) = store.data_mut().limiter.denied.take() {
        return Error::new(
            ErrorKind::ResourceLimit(limit.clone()),
            format!("cannot instantiate `{name}`: {limit}"),
        );
    }
    if err
        .downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return Error::new(
            ErrorKind::Busy,
            format!("cannot instantiate `{name}`: every pooled instance slot is in use"),
        )
        .with_source(err.into_boxed_dyn_error());
    }
    if err.downcast_ref::<wasmtime::Trap>().is_some()
        || err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
    {
        let reason = store.data_mut().interrupt.reason.take();
        return classify_call_error(err, reason).context(format!(
            "cannot instantiate `{name}`: its start function failed"
        ));
    }
    let text = format!("{err:#}");
    if text.contains("count too high") {
        let what = ["memories", "tables"]
            .into_iter()
            .find(|w| text.contains(&w[..5]))
            .unwrap_or("instances");
        let allowed = plugin.limits().get_max_instances().unwrap_or(u64::MAX);
        return Error::new(
            ErrorKind::ResourceLimit(Limit::Count { what, allowed }),
            format!("cannot instantiate `{name}`: too many {what} (at most {allowed})"),
        )
        .with_source(err.into_boxed_dyn_error());
    }
    Error::new(
        ErrorKind::Instantiate,
        format!("cannot instantiate `{name}`"),
    )
    .with_source(err.into_boxed_dyn_error())
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.plugin.name())
            .finish_non_exhaustive()
    }
}
