//! The calls of a [`Plugin`]: stateless, each in a fresh instance, through
//! the one pipeline (and its retry policy), synchronously or not.

use super::loaded::Plugin;
use crate::call::drive::drive;
use crate::call::dynamic::{Json, Words};
use crate::call::kinds::{Command, Handle, Typed, Values, Wit};
use crate::call::{Call, Instance, RunOutput, check_sync, retry};
use crate::call::{WitParams, WitResults};
use crate::code::How;
use crate::error::Result;
use crate::stats::CallStats;
use crate::values::DynValue;
use serde_json::Value as JsonValue;
use wasmtime::{Val, WasmParams, WasmResults};

impl Plugin {
    /// A fresh instance whose state persists across its calls.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Trap`](crate::ErrorKind::Trap) if the start function
    /// traps, [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit)
    /// if the initial memory or tables exceed the limits,
    /// [`ErrorKind::Instantiate`](crate::ErrorKind::Instantiate) otherwise.
    pub fn instantiate(&self) -> Result<Instance> {
        self.check_sync()?;
        let how = self.prepared().sync_how();
        let prepared = self.prepared();
        prepared.ready_here();
        drive(Instance::fresh(
            prepared,
            &[],
            self.limits().get_fuel(),
            how,
            prepared.deadline(),
        ))
    }

    /// As [`instantiate`](Self::instantiate), for async use: the start
    /// function does not block the executor.
    ///
    /// # Errors
    ///
    /// As [`instantiate`](Self::instantiate).
    pub async fn instantiate_async(&self) -> Result<Instance> {
        let prepared = self.prepared();
        prepared.ready_here();
        Instance::fresh(
            prepared,
            &[],
            self.limits().get_fuel(),
            How::Async,
            prepared.deadline(),
        )
        .await
    }

    fn check_sync(&self) -> Result<()> {
        check_sync(self.prepared())
    }

    /// Runs `call` statelessly from synchronous code; `timed`: whether
    /// the caller uses the success's duration (an untimed call skips a
    /// clock read).
    fn stateless<C: Call>(&self, call: &C, timed: bool) -> Result<(C::Output, CallStats)> {
        self.check_sync()?;
        drive(retry::stateless(
            self.prepared(),
            call,
            self.prepared().sync_how(),
            timed,
        ))
    }

    /// Runs `call` statelessly on the async path; `timed` as in
    /// [`stateless`](Self::stateless).
    async fn stateless_async<C: Call>(
        &self,
        call: &C,
        timed: bool,
    ) -> Result<(C::Output, CallStats)> {
        retry::stateless(self.prepared(), call, How::Async, timed).await
    }

    /// Calls `func` with typed parameters in a fresh instance.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SignatureMismatch`](crate::ErrorKind::SignatureMismatch)
    /// if `P`/`R` do not match the export, [`ErrorKind::Trap`](crate::ErrorKind::Trap)
    /// or [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit) when
    /// the guest fails, and the errors of [`instantiate`](Self::instantiate).
    pub fn call<P, R>(&self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.stateless(&Typed::<P, R>::new(func, params), false)
            .map(|(r, _)| r)
    }

    /// Calls `func` in a fresh instance without blocking the async
    /// executor: the guest yields at every epoch tick, and a host call it
    /// waits in ends at the deadline.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async<P, R>(&self, func: &str, params: P) -> Result<R>
    where
        P: WasmParams + Clone + Send + Sync,
        R: WasmResults + Send + Sync,
    {
        self.stateless_async(&Typed::<P, R>::new(func, params), false)
            .await
            .map(|(r, _)| r)
    }

    /// Calls a component's `func` (`greet` or `my:pkg/iface#greet`) with
    /// typed parameters in a fresh instance: tuples of Rust types with a
    /// component-model mapping, `(String,)` in, `(String,)` out.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub fn call_wit<P: WitParams, R: WitResults>(&self, func: &str, params: P) -> Result<R> {
        self.stateless(&Wit::<P, R>::new(func, params), false)
            .map(|(r, _)| r)
    }

    /// As [`call_wit`](Self::call_wit), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_wit_async<P: WitParams, R: WitResults>(
        &self,
        func: &str,
        params: P,
    ) -> Result<R> {
        self.stateless_async(&Wit::<P, R>::new(func, params), false)
            .await
            .map(|(r, _)| r)
    }

    /// Calls `func` with dynamic values in a fresh instance.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call), with
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument)
    /// for values of the wrong type or number.
    pub fn call_values(&self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.stateless(&Values { func, args }, false)
            .map(|(r, _)| r)
    }

    /// Calls `func` with dynamic values and reports what the call used.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn invoke_values(&self, func: &str, args: &[Val]) -> Result<(Vec<Val>, CallStats)> {
        self.stateless(&Values { func, args }, true)
    }

    /// As [`call_values`](Self::call_values), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn call_values_async(&self, func: &str, args: &[Val]) -> Result<Vec<Val>> {
        self.stateless_async(&Values { func, args }, false)
            .await
            .map(|(r, _)| r)
    }

    /// As [`invoke_values`](Self::invoke_values), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub async fn invoke_values_async(
        &self,
        func: &str,
        args: &[Val],
    ) -> Result<(Vec<Val>, CallStats)> {
        self.stateless_async(&Values { func, args }, true).await
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
    pub fn call_json(&self, func: &str, args: &[JsonValue]) -> Result<Vec<JsonValue>> {
        self.stateless(&Json { func, args }, false).map(|(r, _)| r)
    }

    /// As [`call_json`](Self::call_json), reporting what the call used.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn invoke_json(
        &self,
        func: &str,
        args: &[JsonValue],
    ) -> Result<(Vec<JsonValue>, CallStats)> {
        self.stateless(&Json { func, args }, true)
    }

    /// As [`call_json`](Self::call_json), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call_json`](Self::call_json).
    pub async fn call_json_async(&self, func: &str, args: &[JsonValue]) -> Result<Vec<JsonValue>> {
        self.stateless_async(&Json { func, args }, false)
            .await
            .map(|(r, _)| r)
    }

    /// As [`invoke_json`](Self::invoke_json), on the async path.
    ///
    /// # Errors
    ///
    /// As [`call_json`](Self::call_json).
    pub async fn invoke_json_async(
        &self,
        func: &str,
        args: &[JsonValue],
    ) -> Result<(Vec<JsonValue>, CallStats)> {
        self.stateless_async(&Json { func, args }, true).await
    }

    /// Calls `func` with command-line words parsed by its signature —
    /// numbers for a core module (see [`values::parse_args`](crate::values::parse_args)),
    /// one JSON value per parameter for a component — and reports what the
    /// call used. What `plugbox call` does.
    ///
    /// # Errors
    ///
    /// As [`call_values`](Self::call_values).
    pub fn invoke_words(
        &self,
        func: &str,
        words: &[impl AsRef<str> + Sync],
    ) -> Result<(Vec<DynValue>, CallStats)> {
        self.stateless(&Words { func, words }, true)
    }

    /// Calls the `handle` export of a `plugbox:plugin` component in a fresh
    /// instance, through typed bindings: `Ok(Ok(output))`, `Ok(Err(message))`
    /// when the plugin reports an error, `Err` when the call fails.
    ///
    /// # Errors
    ///
    /// See [`Instance::handle`].
    pub fn handle(&self, input: &str) -> Result<std::result::Result<String, String>> {
        self.stateless(&Handle { input }, false).map(|(r, _)| r)
    }

    /// As [`handle`](Self::handle), on the async path.
    ///
    /// # Errors
    ///
    /// See [`Instance::handle`].
    pub async fn handle_async(&self, input: &str) -> Result<std::result::Result<String, String>> {
        self.stateless_async(&Handle { input }, false)
            .await
            .map(|(r, _)| r)
    }

    /// Runs the plugin as a WASI command (a module's `_start` or a
    /// component's `wasi:cli/run`) with `args` (argv\[1..\]; argv\[0\] is
    /// the plugin name).
    ///
    /// A `proc_exit(n)` is not an error: it is [`RunOutput::exit_code`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::ExportNotFound`](crate::ErrorKind::ExportNotFound)
    /// without `_start`, traps and limits as for calls, and
    /// [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit) with
    /// [`Limit::Output`](crate::Limit::Output) when captured output exceeds
    /// its cap.
    pub fn run(&self, args: &[impl AsRef<str>]) -> Result<RunOutput> {
        self.check_sync()?;
        drive(self.run_with(args, self.prepared().sync_how()))
    }

    /// As [`run`](Self::run), on the async path.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_async(&self, args: &[impl AsRef<str>]) -> Result<RunOutput> {
        self.run_with(args, How::Async).await
    }

    async fn run_with(&self, args: &[impl AsRef<str>], how: How) -> Result<RunOutput> {
        let command = Command {
            args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        };
        let (ran, stats) = retry::stateless(self.prepared(), &command, how, true).await?;
        Ok(RunOutput {
            exit_code: ran.exit_code,
            stdout: ran.stdout,
            stderr: ran.stderr,
            stats,
        })
    }
}
