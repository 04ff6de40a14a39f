//! The one place Wasmtime's errors become plugbox's: exits, host function
//! failures, refused growth, traps (a plugbox deadline or cancel told apart
//! from Wasmtime's own interrupts), pool exhaustion — by type, never by
//! message text.

use crate::error::{BoxError, Error, ErrorKind, Limit, TrapKind, wasmtime_source};
use crate::store::{HostFnFailed, LimitExceeded};
use crate::text::printable;
use std::fmt::Write as _;

/// What the store knew when the guest stopped.
pub(crate) struct Context {
    /// Why the epoch callback or the deadline stopped the guest, if they did.
    pub(crate) interrupt: Option<TrapKind>,
    /// A memory or table growth the limiter refused during the call.
    pub(crate) denied: Option<Limit>,
    /// A captured stream that went over its cap: (stream, cap).
    pub(crate) overflow: Option<(&'static str, u64)>,
}

/// Classifies an error from guest code (a call or a start function). The
/// message says what happened; callers add which call it was as context.
pub(crate) fn classify(err: wasmtime::Error, cx: Context) -> Error {
    let mut error = classify_kind(err, cx.interrupt);
    if let Some((stream, allowed)) = cx.overflow {
        error = Error::limit(Limit::Output { stream, allowed }).with_source(error);
    } else if let (ErrorKind::Trap(kind), Some(limit)) = (error.kind(), cx.denied)
        && !kind.is_limit()
    {
        // A guest that traps after being refused memory or table growth
        // failed because of the limit: report the limit, keep the trap.
        error = Error::limit(limit).with_source(error);
    }
    error
}

fn classify_kind(err: wasmtime::Error, interrupt: Option<TrapKind>) -> Error {
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        let code = exit.0;
        return Error::new(
            ErrorKind::Exit(code),
            format!("guest exited with status {code}"),
        );
    }
    let err = match err.downcast::<HostFnFailed>() {
        Ok(failed) => {
            let HostFnFailed { name, source } = failed;
            return Error::new(
                ErrorKind::HostFunction { name: name.clone() },
                format!("host function `{name}` failed"),
            )
            .with_source(source);
        }
        Err(err) => err,
    };
    if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
        return Error::limit(limit.0.clone());
    }
    let backtrace = err
        .downcast_ref::<wasmtime::WasmBacktrace>()
        .map(format_backtrace);
    if let Some(trap) = err.downcast_ref::<wasmtime::Trap>() {
        let mut kind = TrapKind::from_trap(*trap);
        if kind == TrapKind::Interrupt {
            kind = interrupt.unwrap_or(TrapKind::Interrupt);
        }
        return Error::new(ErrorKind::Trap(kind), format!("wasm trap: {kind}"))
            .with_backtrace(backtrace);
    }
    // Dropped mid-host-call by the deadline or a cancel: Wasmtime unwinds
    // the guest with its own error, but the reason is ours.
    if let Some(kind) = interrupt {
        return Error::new(ErrorKind::Trap(kind), format!("wasm trap: {kind}"))
            .with_backtrace(backtrace);
    }
    if err.downcast_ref::<wasmtime::ThrownException>().is_some() {
        let kind = TrapKind::UncaughtException;
        return Error::new(ErrorKind::Trap(kind), format!("wasm trap: {kind}"))
            .with_backtrace(backtrace);
    }
    // An error raised while guest code was on the stack, by none of
    // plugbox's own host calls: WASI or Wasmtime refusing the guest's
    // arguments (a bad pointer, too much data for one host call).
    if backtrace.is_some() {
        let kind = TrapKind::BadHostCall;
        let why: BoxError = err.root_cause().to_string().into();
        return Error::new(ErrorKind::Trap(kind), format!("wasm trap: {kind}"))
            .with_source(why)
            .with_backtrace(backtrace);
    }
    Error::new(ErrorKind::Other, "guest call failed")
        .with_source(wasmtime_source(err))
        .with_backtrace(backtrace)
}

/// Classifies an instantiation failure of plugin `name`.
pub(crate) fn instantiate_error(name: &str, err: wasmtime::Error, cx: Context) -> Error {
    if let Some(limit) = cx.denied {
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
        .with_source(wasmtime_source(err));
    }
    let guest_failed = err.downcast_ref::<wasmtime::Trap>().is_some()
        || err.downcast_ref::<wasmtime_wasi::I32Exit>().is_some()
        || err.downcast_ref::<HostFnFailed>().is_some()
        || cx.interrupt.is_some();
    if guest_failed {
        // A trap with no wasm frame happened before any guest code ran:
        // while its data or element segments were copied in.
        let ran_code = err
            .downcast_ref::<wasmtime::WasmBacktrace>()
            .is_some_and(|bt| !bt.frames().is_empty());
        let what = if ran_code || cx.interrupt.is_some() {
            "its start function failed"
        } else {
            "its data or element segments do not fit its memories and tables"
        };
        return classify(err, cx).context(format!("cannot instantiate `{name}`: {what}"));
    }
    Error::new(
        ErrorKind::Instantiate,
        format!("cannot instantiate `{name}`"),
    )
    .with_source(wasmtime_source(err))
}

fn format_backtrace(bt: &wasmtime::WasmBacktrace) -> String {
    let mut out = String::new();
    for (i, frame) in bt.frames().iter().enumerate() {
        // Names from the module's name section: the module controls them.
        let name = printable(frame.func_name().unwrap_or("<unnamed>"));
        let module = printable(frame.module().name().unwrap_or("<module>"));
        let _ = write!(out, "{i:>4}: {module}!{name} (func {})", frame.func_index());
        if let Some(off) = frame.module_offset() {
            let _ = write!(out, " @ {off:#x}");
        }
        out.push('\n');
    }
    out
}
