//! Typed handles: an export of a kept instance looked up and type-checked
//! once, then called through the same pipeline with nothing left to
//! resolve — the fast path of repeated calls.

use super::callable::{Call, Target};
use super::instance::Instance;
use super::kinds::{run_typed, typed_func};
use crate::code::How;
use crate::error::{Error, ErrorKind, Result};
use crate::store::StoreState;
use std::marker::PhantomData;
use std::sync::Arc;
use wasmtime::{Store, WasmParams, WasmResults};

/// A typed handle to a function of one [`Instance`], from
/// [`Instance::func`]: calls skip the lookup by name and the type check.
///
/// A handle belongs to the instance that made it; calling it with another
/// is an [`ErrorKind::InvalidArgument`] error. Handle calls run under the
/// same limits, deadline and classification as every call, but do not
/// time themselves: [`Instance::stats`] keeps fuel and memory but a zero
/// duration for them.
///
/// ```
/// # fn main() -> plugbox::Result<()> {
/// let engine = plugbox::Engine::new(&plugbox::EngineConfig::new())?;
/// let plugin = plugbox::Plugin::from_bytes(&engine, r#"(module
///     (func (export "add") (param i32 i32) (result i32)
///         local.get 0 local.get 1 i32.add))"#)?;
/// let mut instance = plugin.instantiate()?;
/// let add = instance.func::<(i32, i32), i32>("add")?;
/// assert_eq!(add.call(&mut instance, (5, 3))?, 8);
/// # Ok(())
/// # }
/// ```
pub struct FuncHandle<P, R> {
    func: wasmtime::TypedFunc<P, R>,
    instance: u64,
    name: Arc<str>,
    types: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for FuncHandle<P, R> {
    fn clone(&self) -> Self {
        Self {
            func: self.func.clone(),
            instance: self.instance,
            name: self.name.clone(),
            types: PhantomData,
        }
    }
}

impl<P, R> std::fmt::Debug for FuncHandle<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuncHandle")
            .field("func", &self.name)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// A typed handle to the exported function `name`, checked against
    /// `P -> R` once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`], [`ErrorKind::SignatureMismatch`]
    /// (expected vs found); components are called with
    /// [`call_wit`](Self::call_wit).
    pub fn func<P, R>(&mut self, name: &str) -> Result<FuncHandle<P, R>>
    where
        P: WasmParams,
        R: WasmResults,
    {
        let func = typed_func::<P, R>(
            &mut Target {
                prepared: &self.prepared,
                store: &mut self.store,
                live: &self.live,
            },
            name,
        )?;
        Ok(FuncHandle {
            func,
            instance: self.id(),
            name: name.into(),
            types: PhantomData,
        })
    }
}

impl<P, R> FuncHandle<P, R>
where
    P: WasmParams + Clone + Send + Sync,
    R: WasmResults + Send + Sync,
{
    /// Calls the function on `instance`, the one that made this handle.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for another instance's handle, and
    /// the errors of [`Instance::call`] once the function runs.
    #[inline]
    pub fn call(&self, instance: &mut Instance, params: P) -> Result<R> {
        self.check(instance)?;
        if instance.runs_now() {
            return instance.invoke_now(&self.name, |store| self.func.call(store, params));
        }
        instance.sync_call(&Bound {
            handle: self,
            params,
        })
    }

    /// As [`call`](Self::call), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async(&self, instance: &mut Instance, params: P) -> Result<R> {
        self.check(instance)?;
        instance
            .invoke(
                &Bound {
                    handle: self,
                    params,
                },
                How::Async,
            )
            .await
    }

    #[inline]
    fn check(&self, instance: &Instance) -> Result<()> {
        if instance.known_id() == self.instance {
            return Ok(());
        }
        Err(self.foreign(instance))
    }

    #[cold]
    fn foreign(&self, instance: &Instance) -> Error {
        Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "the handle of `{}` belongs to another instance of `{}`: make one with `func` on this instance",
                self.name,
                instance.plugin_name()
            ),
        )
    }
}

/// A handle call: nothing to resolve.
struct Bound<'a, P, R> {
    handle: &'a FuncHandle<P, R>,
    params: P,
}

impl<P, R> Call for Bound<'_, P, R>
where
    P: WasmParams + Clone + Send + Sync,
    R: WasmResults + Send + Sync,
{
    // Nothing: the handle's function is called by reference (a clone
    // would take and drop a reference on its registered type every call).
    type Ready = ();
    type Output = R;
    const TIMED: bool = false;

    fn export(&self) -> &str {
        &self.handle.name
    }

    fn ready(&self, _: &mut Target<'_>) -> Result<()> {
        Ok(())
    }

    async fn run(&self, (): (), store: &mut Store<StoreState>, how: How) -> wasmtime::Result<R> {
        run_typed(&self.handle.func, store, self.params.clone(), how).await
    }
}
