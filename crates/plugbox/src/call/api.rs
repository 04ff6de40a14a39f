//! The public call methods of [`Instance`]: each names a call kind and
//! hands it to the one pipeline, synchronously or not.

use super::callable::Call;
use super::drive::drive;
use super::dynamic::Json;
use super::instance::{Instance, check_sync};
use super::kinds::{Handle, Typed, Values, Wit, WitParams, WitResults};
use crate::code::How;
use crate::error::Result;
use serde_json::Value as JsonValue;
use wasmtime::{Val, WasmParams, WasmResults};

impl Instance {
    /// Runs `call` through the pipeline from synchronous code.
    pub(crate) fn sync_call<C: Call>(&mut self, call: &C) -> Result<C::Output> {
        check_sync(self.prepared())?;
        let how = self.prepared().sync_how();
        drive(self.invoke(call, how))
    }

    /// Calls `func` with typed parameters.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound),
    /// [`ErrorKind::SignatureMismatch`](crate::ErrorKind::SignatureMismatch)
    /// (expected vs found), [`ErrorKind::Trap`](crate::ErrorKind::Trap),
    /// [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit),
    /// [`ErrorKind::CallMode`](crate::ErrorKind::CallMode).
    pub fn call<P, R>(&mut self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.sync_call(&Typed::<P, R>::new(func, params))
    }

    /// Calls `func` with typed parameters without blocking the async
    /// executor: the guest yields at every epoch tick.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<P, R>(&mut self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.invoke(&Typed::<P, R>::new(func, params), How::Async)
            .await
    }

    /// Calls a component's `func` (`greet` or `my:pkg/iface#greet`) with
    /// typed parameters: tuples of Rust types with a component-model
    /// mapping, `(String,)` in, `(String,)` out.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_wit<P: WitParams, R: WitResults>(&mut self, func: &str, params: P) -> Result<R> {
        self.sync_call(&Wit::<P, R>::new(func, params))
    }

    /// As [`call_wit`](Self::call_wit), without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_wit_async<P: WitParams, R: WitResults>(
        &mut self,
        func: &str,
        params: P,
    ) -> Result<R> {
        self.invoke(&Wit::<P, R>::new(func, params), How::Async)
            .await
    }

    /// Calls `func` with dynamic values, checked against its signature.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), plus
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for wrong arity or types.
    pub fn call_values(&mut self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.sync_call(&Values { func, args })
    }

    /// Calls `func` with dynamic values without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn call_values_async(&mut self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.invoke(&Values { func, args }, How::Async).await
    }

    /// Calls `func` with command-line style arguments parsed by its
    /// signature.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn call_strs(&mut self, func: &str, args: &[impl AsRef<str>]) -> Result<Vec<Val>> {
        let ty = self.prepared().func_type(func)?;
        let vals = crate::values::parse_args(func, &ty, args)?;
        self.call_values(func, &vals)
    }

    /// Calls `func` with JSON arguments, returning JSON results: numbers
    /// (or numeric strings) for a core module, any WIT value for a
    /// component (see [`wit_values`](crate::wit_values)).
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn call_json(&mut self, func: &str, args: &[JsonValue]) -> Result<Vec<JsonValue>> {
        self.sync_call(&Json { func, args })
    }

    /// Calls `func` with JSON arguments without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn call_json_async(
        &mut self,
        func: &str,
        args: &[JsonValue],
    ) -> Result<Vec<JsonValue>> {
        self.invoke(&Json { func, args }, How::Async).await
    }

    /// Calls the `handle` export of a `plugbox:plugin` component through
    /// typed bindings: `Ok(Ok(output))`, `Ok(Err(message))` when the plugin
    /// reports an error, `Err` when the call fails.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SignatureMismatch`](crate::ErrorKind::SignatureMismatch)
    /// when the plugin does not export
    /// `handle: func(input: string) -> result<string, string>`, and the
    /// errors of a call.
    pub fn handle(&mut self, input: &str) -> Result<std::result::Result<String, String>> {
        self.sync_call(&Handle { input })
    }

    /// As [`handle`](Self::handle), without blocking the async executor.
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle).
    pub async fn handle_async(
        &mut self,
        input: &str,
    ) -> Result<std::result::Result<String, String>> {
        self.invoke(&Handle { input }, How::Async).await
    }
}
