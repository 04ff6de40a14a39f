//! The kinds of call. Each says only what differs: how to find and check
//! what it calls (before any guest code runs), and the Wasmtime call
//! itself, sync or async. Everything else — limits, deadline, stats,
//! classification, retries, metrics — is the shared pipeline's.
//! The dynamic calls (JSON values, command-line words) are in `dynamic`.

use super::callable::{Call, Target};
use crate::code::{Code, How, Live, export_not_found};
use crate::error::{Error, ErrorKind, Result};
use crate::stats::CallStats;
use crate::store::StoreState;
use crate::values::{format_func_type, val_type_name};
use wasmtime::component::Val as WitVal;
use wasmtime::{Store, Val, WasmParams, WasmResults};

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

/// A typed call: parameters `P`, results `R`, of a core module's export
/// (`K` = [`Core`]) or a component's (`K` = [`Component`]).
pub(crate) struct TypedCall<'a, P, R, K> {
    pub(crate) func: &'a str,
    pub(crate) params: P,
    results: std::marker::PhantomData<fn() -> (R, K)>,
}

impl<'a, P, R, K> TypedCall<'a, P, R, K> {
    pub(crate) fn new(func: &'a str, params: P) -> Self {
        Self {
            func,
            params,
            results: std::marker::PhantomData,
        }
    }
}

/// Marks a typed call of a core module's export.
pub(crate) enum Core {}
/// Marks a typed call of a component's export.
pub(crate) enum Component {}

/// A typed call of a core module's export.
pub(crate) type Typed<'a, P, R> = TypedCall<'a, P, R, Core>;
/// A typed call of a component's export (`greet` or `iface#greet`).
pub(crate) type Wit<'a, P, R> = TypedCall<'a, P, R, Component>;

/// Parameters of a typed component call: a tuple of Rust types with a
/// component-model mapping (`(u32,)`, `(String, Vec<u8>)`, ...).
pub trait WitParams:
    wasmtime::component::ComponentNamedList + wasmtime::component::Lower + Clone + Send + Sync + 'static
{
}

impl<T> WitParams for T where
    T: wasmtime::component::ComponentNamedList
        + wasmtime::component::Lower
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Results of a typed component call: a tuple (`(String,)`).
pub trait WitResults:
    wasmtime::component::ComponentNamedList + wasmtime::component::Lift + Send + Sync + 'static
{
}

impl<T> WitResults for T where
    T: wasmtime::component::ComponentNamedList + wasmtime::component::Lift + Send + Sync + 'static
{
}

/// A call with dynamic values, checked against the export's signature.
pub(crate) struct Values<'a> {
    pub(crate) func: &'a str,
    pub(crate) args: &'a [Val],
}

/// The `handle` export of a `plugbox:plugin` component, through typed
/// bindings.
pub(crate) struct Handle<'a> {
    pub(crate) input: &'a str,
}

/// A WASI command: a module's `_start` or a component's `wasi:cli/run`.
pub(crate) struct Command {
    pub(crate) args: Vec<String>,
}

/// A resolved command.
pub(crate) enum CommandReady {
    Start(wasmtime::TypedFunc<(), ()>),
    Run(wasmtime::component::Func),
}

impl<P, R> Call for Typed<'_, P, R>
where
    P: WasmParams + Clone + Send + Sync,
    R: WasmResults + Send + Sync,
{
    type Ready = wasmtime::TypedFunc<P, R>;
    type Output = R;

    fn export(&self) -> &str {
        self.func
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        typed_func(inst, self.func)
    }

    async fn run(
        &self,
        f: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<R> {
        run_typed(&f, store, self.params.clone(), how).await
    }
}

/// A core module's export `name`, checked against `P -> R`.
pub(super) fn typed_func<P: WasmParams, R: WasmResults>(
    inst: &mut Target<'_>,
    name: &str,
) -> Result<wasmtime::TypedFunc<P, R>> {
    let (f, ty) = module_func(inst, name)?;
    f.typed::<P, R>(&*inst.store)
        .map_err(|_| mismatch::<P, R>(name, format_func_type(ty)))
}

/// Wasmtime's typed call, sync or async.
pub(super) async fn run_typed<P: WasmParams + Sync, R: WasmResults + Sync>(
    f: &wasmtime::TypedFunc<P, R>,
    store: &mut Store<StoreState>,
    params: P,
    how: How,
) -> wasmtime::Result<R> {
    match how {
        How::Sync => f.call(store, params),
        How::Async => Box::pin(f.call_async(store, params)).await,
    }
}

impl<P: WitParams, R: WitResults> Call for Wit<'_, P, R> {
    type Ready = wasmtime::component::TypedFunc<P, R>;
    type Output = R;

    fn export(&self) -> &str {
        self.func
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        let (f, ty) = component_func(inst, self.func)?;
        f.typed::<P, R>(&*inst.store).map_err(|e| {
            mismatch::<P, R>(self.func, crate::code::component::format_func(ty))
                .with_source(e.into_boxed_dyn_error())
        })
    }

    async fn run(
        &self,
        f: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<R> {
        let params = self.params.clone();
        match how {
            How::Sync => f.call(store, params),
            How::Async => Box::pin(f.call_async(store, params)).await,
        }
    }
}

impl Call for Values<'_> {
    type Ready = (wasmtime::Func, Vec<Val>);
    type Output = Vec<Val>;

    fn export(&self) -> &str {
        self.func
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        let (f, ty) = module_func(inst, self.func)?;
        let params: Vec<_> = ty.params().collect();
        if params.len() != self.args.len() {
            return Err(Error::invalid_argument(format!(
                "`{}` takes {} argument{} {} but {} {} given",
                self.func,
                params.len(),
                if params.len() == 1 { "" } else { "s" },
                format_func_type(ty),
                self.args.len(),
                if self.args.len() == 1 { "was" } else { "were" }
            )));
        }
        for (i, (want, got)) in params.iter().zip(self.args).enumerate() {
            if !got.matches_ty(&*inst.store, want).unwrap_or(false) {
                return Err(Error::invalid_argument(format!(
                    "argument {} of `{}` must be {} but a {} was given",
                    i + 1,
                    self.func,
                    crate::values::format_val_type(want),
                    val_type_name(got)
                )));
            }
        }
        Ok((f, vec![Val::I32(0); ty.results().len()]))
    }

    async fn run(
        &self,
        (f, mut results): Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<Vec<Val>> {
        match how {
            How::Sync => f.call(store, self.args, &mut results)?,
            How::Async => Box::pin(f.call_async(store, self.args, &mut results)).await?,
        }
        Ok(results)
    }
}

impl Call for Handle<'_> {
    type Ready = crate::store::world::bindings::Plugin;
    type Output = std::result::Result<String, String>;

    fn export(&self) -> &str {
        "handle"
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        let name = inst.prepared.name().to_string();
        let Live::Component(instance) = inst.live else {
            return Err(not_a_plugin_world(&name, "it is a core module"));
        };
        crate::store::world::bindings::Plugin::new(&mut *inst.store, instance)
            .map_err(|e| not_a_plugin_world(&name, &format!("{e:#}")))
    }

    async fn run(
        &self,
        world: Self::Ready,
        store: &mut Store<StoreState>,
        _how: How,
    ) -> wasmtime::Result<Self::Output> {
        // Components always take the async path (they import WASI).
        world.call_handle(store, self.input).await
    }
}

/// What a command produced: its exit status and captured output.
pub(crate) struct Ran {
    pub(crate) exit_code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Call for Command {
    type Ready = CommandReady;
    type Output = Ran;

    fn export(&self) -> &str {
        "_start"
    }

    fn args(&self) -> &[String] {
        &self.args
    }

    fn ready(&self, inst: &mut Target<'_>) -> Result<Self::Ready> {
        let name = inst.prepared.name().to_string();
        if let Live::Component(_) = *inst.live {
            let Code::Component { component, .. } = &inst.prepared.code else {
                return Err(not_a_command(&name, "`wasi:cli/run`"));
            };
            let run = crate::code::component::cli_run(component)
                .ok_or_else(|| not_a_command(&name, "`wasi:cli/run`"))?;
            let (f, _) = component_func(inst, &run)?;
            return Ok(CommandReady::Run(f));
        }
        let (f, ty) =
            module_func(inst, "_start").map_err(|_| not_a_command(&name, "a `_start` function"))?;
        f.typed::<(), ()>(&*inst.store)
            .map(CommandReady::Start)
            .map_err(|_| {
                Error::new(
                    ErrorKind::SignatureMismatch {
                        expected: "() -> ()".into(),
                        found: format_func_type(ty),
                    },
                    "`_start` must take no arguments and return nothing",
                )
            })
    }

    async fn run(
        &self,
        ready: Self::Ready,
        store: &mut Store<StoreState>,
        how: How,
    ) -> wasmtime::Result<Ran> {
        let result = match ready {
            CommandReady::Start(f) => match how {
                How::Sync => f.call(&mut *store, ()).map(|()| 0),
                How::Async => f.call_async(&mut *store, ()).await.map(|()| 0),
            },
            CommandReady::Run(f) => {
                let mut results = [WitVal::Bool(false)];
                f.call_async(&mut *store, &[], &mut results)
                    .await
                    .map(|()| match &results[0] {
                        WitVal::Result(Err(_)) => 1,
                        _ => 0,
                    })
            }
        };
        // `proc_exit(n)` is how a command ends, not a failure.
        let exit_code = result.or_else(|e| match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(e),
        })?;
        let captured = &store.data().captured;
        Ok(Ran {
            exit_code,
            stdout: captured.stdout(),
            stderr: captured.stderr(),
        })
    }
}

/// A core module's exported function and its type, by the index resolved
/// at the plugin's first lookup by name.
pub(super) fn module_func<'a>(
    inst: &mut Target<'a>,
    name: &str,
) -> Result<(wasmtime::Func, &'a wasmtime::FuncType)> {
    let Target {
        prepared,
        store,
        live,
    } = inst;
    if let (Code::Module { exports, .. }, Live::Module(instance)) = (&prepared.code, *live)
        && let Some((index, ty)) = exports.get(name)
        && let Some(wasmtime::Extern::Func(f)) = instance.get_module_export(&mut *store, index)
    {
        return Ok((f, ty));
    }
    // Not a function export of a module: say what it is instead.
    Err(match prepared.func_type(name) {
        Err(e) => e,
        Ok(_) => export_not_found(prepared.name(), name, &prepared.functions()),
    })
}

/// A component's exported function and its type.
pub(super) fn component_func<'a>(
    inst: &mut Target<'a>,
    name: &str,
) -> Result<(
    wasmtime::component::Func,
    &'a wasmtime::component::types::ComponentFunc,
)> {
    let Target {
        prepared,
        store,
        live,
    } = inst;
    if let (Code::Component { exports, .. }, Live::Component(instance)) = (&prepared.code, *live)
        && let Some((index, ty)) = exports.get(name)
        && let Some(f) = instance.get_func(&mut *store, index)
    {
        return Ok((f, ty));
    }
    Err(export_not_found(
        prepared.name(),
        name,
        &prepared.functions(),
    ))
}

/// A typed call whose Rust types `P -> R` are not the export's `found`.
fn mismatch<P, R>(func: &str, found: String) -> Error {
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
}

fn not_a_plugin_world(plugin: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::SignatureMismatch {
            expected: "handle: func(input: string) -> result<string, string>".into(),
            found: why.to_string(),
        },
        format!("`{plugin}` does not implement the plugbox:plugin world: {why}"),
    )
}

fn not_a_command(plugin: &str, missing: &str) -> Error {
    Error::new(
        ErrorKind::ExportNotFound {
            name: missing.trim_matches('`').to_string(),
        },
        format!("`{plugin}` is not a WASI command (it does not export {missing})"),
    )
}
