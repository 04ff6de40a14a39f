//! Host functions: typed Rust closures (sync or async) that plugins import,
//! with access to per-plugin host state and the guest's memory.
//!
//! A host function's error reaches the caller as
//! [`ErrorKind::HostFunction`](crate::ErrorKind::HostFunction) naming the
//! function, with the function's own error as the source. A host function
//! cannot outlive the call's deadline: an async one is dropped when the
//! deadline passes (or the call is cancelled); a sync one that returns
//! after it ends the call with the corresponding trap.

mod callers;
mod types;

pub use callers::{ComponentCaller, HostCaller};
pub use types::{ComponentParams, ComponentResults, HostParams, HostResults, HostValue};

use crate::error::BoxError;
use crate::store::state::StoreState;
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use wasmtime::{FuncType, Linker, Val, ValType};

/// The error a failing host function raises inside Wasmtime; classified
/// into [`ErrorKind::HostFunction`](crate::ErrorKind::HostFunction).
#[derive(Debug, thiserror::Error)]
#[error("host function `{name}` failed")]
pub(crate) struct HostFnFailed {
    pub(crate) name: String,
    #[source]
    pub(crate) source: BoxError,
}

type SyncFn = dyn Fn(&mut HostCaller<'_>, &[Val], &mut [Val]) -> Result<(), BoxError> + Send + Sync;
type AsyncFn = dyn for<'a> Fn(
        HostCaller<'a>,
        Vec<Val>,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Val>, BoxError>> + Send + 'a>>
    + Send
    + Sync;

enum Body {
    Sync(Arc<SyncFn>),
    Async(Arc<AsyncFn>),
}

struct HostDef {
    module: String,
    name: String,
    params: Vec<ValType>,
    results: Vec<ValType>,
    body: Body,
}

type StateFactory = dyn Fn() -> Box<dyn Any + Send> + Send + Sync;
type ComponentDef =
    dyn Fn(&mut wasmtime::component::Linker<StoreState>) -> wasmtime::Result<()> + Send + Sync;

/// A component import a host function satisfies: `(interface, function)`,
/// with an empty interface for top-level function imports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ComponentImport {
    interface: String,
    name: String,
    is_async: bool,
}

/// A set of host functions plugins may import, plus the factory of the
/// per-instance host state they share. Cheap to clone.
///
/// ```
/// use plugbox::HostFunctions;
/// let host = HostFunctions::new()
///     .state(|| 0u64)
///     .func("env", "add_one", |_caller, (x,): (i32,)| Ok(x + 1))
///     .func("env", "tick", |caller, (): ()| {
///         *caller.state::<u64>().ok_or("no state")? += 1;
///         Ok(())
///     });
/// assert_eq!(host.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct HostFunctions {
    defs: Vec<Arc<HostDef>>,
    component_defs: Vec<(ComponentImport, Arc<ComponentDef>)>,
    state: Option<Arc<StateFactory>>,
}

impl std::fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.defs
                    .iter()
                    .map(|d| format!("{}::{}", d.module, d.name)),
            )
            .finish()
    }
}

impl HostFunctions {
    /// No host functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of functions (for modules and for components).
    pub fn len(&self) -> usize {
        self.defs.len() + self.component_defs.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes a fresh host state for every instance (reachable from host
    /// functions through [`HostCaller::state`]). Default: none.
    pub fn state<T: Any + Send>(mut self, make: impl Fn() -> T + Send + Sync + 'static) -> Self {
        self.state = Some(Arc::new(move || Box::new(make()) as Box<dyn Any + Send>));
        self
    }

    /// Registers a synchronous host function `module::name`.
    pub fn func<P, R, F>(mut self, module: &str, name: &str, f: F) -> Self
    where
        P: HostParams,
        R: HostResults,
        F: Fn(&mut HostCaller<'_>, P) -> Result<R, BoxError> + Send + Sync + 'static,
    {
        let body: Arc<SyncFn> = Arc::new(move |caller, args, out| {
            f(caller, P::from_vals(args))?.store(out);
            Ok(())
        });
        self.defs.push(Arc::new(HostDef {
            module: module.into(),
            name: name.into(),
            params: P::types(),
            results: R::types(),
            body: Body::Sync(body),
        }));
        self
    }

    /// Registers a host function for components: `name` in the imported
    /// `interface` (`"my:host/math"`), or a top-level function import when
    /// `interface` is empty. Parameters and results are Rust types with a
    /// component-model mapping (`u32`, `String`, `Vec<T>`, tuples, ...),
    /// given as tuples: `(u32,)` in, `(u32,)` out.
    pub fn component_func<P, R, F>(self, interface: &str, name: &str, f: F) -> Self
    where
        P: ComponentParams,
        R: ComponentResults,
        F: Fn(&mut ComponentCaller<'_>, P) -> Result<R, BoxError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.component_def(interface, name, false, move |mut instance, at, full| {
            let f = f.clone();
            instance.func_wrap(
                at,
                move |mut store: wasmtime::StoreContextMut<'_, StoreState>, params: P| {
                    let mut caller = ComponentCaller {
                        state: store.data_mut(),
                    };
                    let result = f(&mut caller, params).map_err(|source| failed(&full, source))?;
                    if store.data_mut().interrupt.expired() {
                        return Err(wasmtime::Error::new(wasmtime::Trap::Interrupt));
                    }
                    Ok(result)
                },
            )
        })
    }

    /// Registers an asynchronous host function for components (see
    /// [`component_func`](Self::component_func) for the naming and the
    /// types, [`func_async`](Self::func_async) for how it runs): the
    /// call's deadline and cancel handle drop its future.
    pub fn component_func_async<P, R, F>(self, interface: &str, name: &str, f: F) -> Self
    where
        P: ComponentParams,
        R: ComponentResults,
        F: for<'a> Fn(
                ComponentCaller<'a>,
                P,
            )
                -> Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send + 'a>>
            + Send
            + Sync
            + 'static,
    {
        let f = Arc::new(f);
        self.component_def(interface, name, true, move |mut instance, at, full| {
            let f = f.clone();
            instance.func_wrap_async(
                at,
                move |mut store: wasmtime::StoreContextMut<'_, StoreState>, params: P| {
                    let (f, full) = (f.clone(), full.clone());
                    Box::new(async move {
                        let caller = ComponentCaller {
                            state: store.data_mut(),
                        };
                        f(caller, params)
                            .await
                            .map_err(|source| failed(&full, source))
                    })
                },
            )
        })
    }

    /// Adds a component definition: `define` receives the linker instance
    /// of `interface` (or the root), the function's name and its full name
    /// for errors.
    fn component_def(
        mut self,
        interface: &str,
        name: &str,
        is_async: bool,
        define: impl Fn(
            wasmtime::component::LinkerInstance<'_, StoreState>,
            &str,
            String,
        ) -> wasmtime::Result<()>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        let import = ComponentImport {
            interface: interface.to_string(),
            name: name.to_string(),
            is_async,
        };
        let full = if interface.is_empty() {
            name.to_string()
        } else {
            format!("{interface}#{name}")
        };
        let at = import.clone();
        let def: Arc<ComponentDef> = Arc::new(move |linker| {
            let instance = if at.interface.is_empty() {
                linker.root()
            } else {
                linker.instance(&at.interface)?
            };
            define(instance, &at.name, full.clone())
        });
        self.component_defs.push((import, def));
        self
    }

    /// Whether a component import named `name` (an interface or a
    /// top-level function) is provided by these host functions.
    pub(crate) fn provides_component_import(&self, name: &str) -> bool {
        self.component_defs
            .iter()
            .any(|(i, _)| i.interface == name || (i.interface.is_empty() && i.name == name))
    }

    /// Whether the component import `name` (an interface or a top-level
    /// function) is satisfied by an async host function.
    pub(crate) fn is_async_component_import(&self, name: &str) -> bool {
        self.component_defs.iter().any(|(i, _)| {
            i.is_async && (i.interface == name || (i.interface.is_empty() && i.name == name))
        })
    }

    /// Defines the component host functions in `linker`.
    pub(crate) fn define_component(
        &self,
        linker: &mut wasmtime::component::Linker<StoreState>,
    ) -> wasmtime::Result<()> {
        self.component_defs
            .iter()
            .try_for_each(|(_, def)| def(linker))
    }

    /// Registers an asynchronous host function `module::name`. It runs on
    /// plugbox's runtime while the guest waits; the call's deadline and
    /// cancel handle drop it. Plugins that import one are best called with
    /// the `*_async` methods; their synchronous methods block the calling
    /// thread and are refused (as [`ErrorKind::CallMode`](crate::ErrorKind::CallMode))
    /// on a thread that drives a current-thread tokio runtime.
    pub fn func_async<P, R, F>(mut self, module: &str, name: &str, f: F) -> Self
    where
        P: HostParams,
        R: HostResults,
        F: for<'a> Fn(
                HostCaller<'a>,
                P,
            )
                -> Pin<Box<dyn Future<Output = Result<R, BoxError>> + Send + 'a>>
            + Send
            + Sync
            + 'static,
    {
        let n = R::types().len();
        let body: Arc<AsyncFn> = Arc::new(move |caller, args| {
            let fut = f(caller, P::from_vals(&args));
            Box::pin(async move {
                let r = fut.await?;
                let mut out = vec![Val::I32(0); n];
                r.store(&mut out);
                Ok(out)
            })
        });
        self.defs.push(Arc::new(HostDef {
            module: module.into(),
            name: name.into(),
            params: P::types(),
            results: R::types(),
            body: Body::Async(body),
        }));
        self
    }

    pub(crate) fn make_state(&self) -> Option<Box<dyn Any + Send>> {
        self.state.as_ref().map(|f| f())
    }

    /// Whether `module::name` is an async host function.
    pub(crate) fn is_async(&self, module: &str, name: &str) -> bool {
        self.defs
            .iter()
            .any(|d| d.module == module && d.name == name && matches!(d.body, Body::Async(_)))
    }

    /// Defines every function in `linker`, wrapped so that errors name the
    /// function and deadlines hold across host calls.
    pub(crate) fn define(&self, linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
        for def in &self.defs {
            let ty = FuncType::new(linker.engine(), def.params.clone(), def.results.clone());
            let full = format!("{}::{}", def.module, def.name);
            match &def.body {
                Body::Sync(f) => {
                    let f = f.clone();
                    linker.func_new(&def.module, &def.name, ty, move |caller, args, out| {
                        let mut hc = HostCaller { caller };
                        let r = f(&mut hc, args, out);
                        finish(hc, r, &full)
                    })?;
                }
                Body::Async(f) => {
                    let f = f.clone();
                    linker.func_new_async(
                        &def.module,
                        &def.name,
                        ty,
                        move |caller, args, out| {
                            let f = f.clone();
                            let full = full.clone();
                            Box::new(async move {
                                // The call's future is bounded by its deadline:
                                // past it, this future is dropped mid-await.
                                let vals = f(HostCaller { caller }, args.to_vec())
                                    .await
                                    .map_err(|source| failed(&full, source))?;
                                out.clone_from_slice(&vals);
                                Ok(())
                            })
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// The error of a failed host function, naming it.
fn failed(name: &str, source: BoxError) -> wasmtime::Error {
    wasmtime::Error::new(HostFnFailed {
        name: name.to_string(),
        source,
    })
}

/// Ends a sync host call: names the function in its error, and stops the
/// guest at once if its deadline passed or it was cancelled meanwhile.
fn finish(
    mut hc: HostCaller<'_>,
    result: Result<(), BoxError>,
    name: &str,
) -> wasmtime::Result<()> {
    if let Err(source) = result {
        return Err(failed(name, source));
    }
    if hc.caller.data_mut().interrupt.expired() {
        return Err(wasmtime::Error::new(wasmtime::Trap::Interrupt));
    }
    Ok(())
}
