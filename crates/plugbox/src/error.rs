//! The typed error every plugbox operation returns, and the classification of
//! Wasmtime's errors into it.
//!
//! Callers match on [`Error::kind`], never on message text. Messages are
//! lowercase, name the offending value in backticks, and carry their cause
//! chain through [`std::error::Error::source`].

use std::fmt;

/// A boxed error used as the cause of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with plugbox's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The error type of every fallible plugbox operation.
///
/// It carries a machine-readable [`ErrorKind`], a human message, an optional
/// cause, and — for traps — the guest's backtrace.
pub struct Error {
    // Boxed: errors stay one pointer wide on every `Result` they travel in.
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
    backtrace: Option<String>,
    stats: Option<crate::limits::CallStats>,
}

/// What went wrong, for callers to match on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a module or component this engine accepts.
    InvalidModule(InvalidReason),
    /// Cranelift (or Winch) failed to compile a valid module.
    Compile,
    /// An import could not be satisfied (missing, or of the wrong type).
    Link {
        /// The import's module (or, for components, its interface) name.
        module: String,
        /// The import's field name (empty for component interface imports).
        name: String,
    },
    /// Instantiation failed for a reason other than a trap in the start
    /// function (for example the instance pool is exhausted).
    Instantiate,
    /// The requested export does not exist or is not a function.
    ExportNotFound {
        /// The export name that was asked for.
        name: String,
    },
    /// The caller's idea of a function's type does not match the export.
    SignatureMismatch {
        /// What the caller supplied or asked for.
        expected: String,
        /// What the plugin actually exports.
        found: String,
    },
    /// An argument given to a dynamic call could not be converted to the
    /// parameter's type (wrong arity, out of range, unparsable).
    InvalidArgument,
    /// The guest trapped.
    Trap(TrapKind),
    /// A resource limit was hit.
    ResourceLimit(Limit),
    /// A host function failed (its own error is the source).
    HostFunction {
        /// `module::name` of the host function.
        name: String,
    },
    /// A WASI program exited with a non-zero status through `proc_exit`.
    Exit(i32),
    /// No plugin of this name is loaded.
    PluginNotFound(String),
    /// Every instance slot of a plugin was busy for longer than the queue
    /// timeout.
    Busy,
    /// The configuration (engine, limits, sandbox, manifest) is invalid.
    Config,
    /// An I/O error outside the guest (reading a module, a preopen, ...).
    Io,
    /// A precompiled artifact was refused.
    Precompiled(PrecompiledReason),
    /// An error that fits no other kind.
    Other,
}

/// Why a module or component was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidReason {
    /// Zero bytes.
    Empty,
    /// The input ended before the module did.
    Truncated {
        /// Offset where more bytes were expected.
        offset: usize,
    },
    /// The first four bytes are not `\0asm`.
    BadMagic,
    /// The magic is right but the version is not one plugbox understands.
    UnsupportedVersion(u32),
    /// Larger than the configured size cap.
    TooLarge {
        /// Bytes seen (at least this many; reading stops past the cap).
        size: u64,
        /// The cap.
        limit: u64,
    },
    /// WebAssembly text that does not parse.
    Text {
        /// 1-based line of the error, when known.
        line: Option<usize>,
        /// 1-based column of the error, when known.
        column: Option<usize>,
    },
    /// Structurally or type-invalid binary.
    Malformed {
        /// Byte offset of the problem.
        offset: Option<usize>,
    },
    /// Valid WebAssembly using a proposal that this engine has disabled.
    FeatureDisabled {
        /// Byte offset of the first use.
        offset: Option<usize>,
    },
}

/// Why a precompiled (`.cwasm`) artifact was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrecompiledReason {
    /// Loading precompiled code was not allowed (it is native code).
    NotTrusted,
    /// The artifact's checksum does not match its content.
    Corrupt,
    /// Produced by another Wasmtime version or an incompatible engine
    /// configuration.
    Incompatible,
}

/// How a guest trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// The call's fuel budget ran out.
    OutOfFuel,
    /// The call's wall-clock deadline passed.
    Timeout,
    /// The call was cancelled through a `CancelHandle`.
    Cancelled,
    /// The engine interrupted the guest for a reason other than a plugbox
    /// deadline or cancellation.
    Interrupt,
    /// Out-of-bounds linear memory access.
    MemoryOutOfBounds,
    /// Misaligned atomic access.
    HeapMisaligned,
    /// The wasm stack was exhausted (deep recursion).
    StackOverflow,
    /// An `unreachable` instruction was executed.
    Unreachable,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow (e.g. `i32.div_s` of `INT_MIN` by `-1`).
    IntegerOverflow,
    /// A float-to-int conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// `call_indirect` through an uninitialised table slot.
    IndirectCallToNull,
    /// `call_indirect` with a mismatched signature.
    BadSignature,
    /// Out-of-bounds table access.
    TableOutOfBounds,
    /// A null reference was dereferenced.
    NullReference,
    /// An allocation exceeded an implementation limit.
    AllocationTooLarge,
    /// Any other trap code.
    Other,
}

/// Which limit was hit, and by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Limit {
    /// Linear memory growth beyond the cap.
    Memory {
        /// Bytes the guest asked for (total size after growth).
        requested: u64,
        /// Bytes allowed.
        allowed: u64,
    },
    /// Table growth beyond the cap.
    TableElements {
        /// Elements asked for (total after growth).
        requested: u64,
        /// Elements allowed.
        allowed: u64,
    },
    /// More instances, memories or tables than allowed.
    Count {
        /// What was counted: `instances`, `memories` or `tables`.
        what: &'static str,
        /// The cap.
        allowed: u64,
    },
    /// Captured output (stdout or stderr) exceeded its cap.
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The cap in bytes.
        allowed: u64,
    },
    /// A limit Wasmtime reported without details.
    Other,
}

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: None,
                backtrace: None,
                stats: None,
            }),
        }
    }

    /// Attaches a cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_backtrace(mut self, backtrace: Option<String>) -> Self {
        self.inner.backtrace = backtrace;
        self
    }

    /// Wraps this error in another layer of context, keeping its kind.
    #[must_use]
    pub fn context(self, message: impl Into<String>) -> Self {
        let (kind, stats) = (self.inner.kind.clone(), self.inner.stats);
        Self {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: Some(Box::new(self)),
                backtrace: None,
                stats,
            }),
        }
    }

    pub(crate) fn with_stats(mut self, stats: crate::limits::CallStats) -> Self {
        self.inner.stats = Some(stats);
        self
    }

    /// What a failed call used before it failed (fuel, time, memory peak,
    /// attempts), when the error comes from a call.
    pub fn call_stats(&self) -> Option<crate::limits::CallStats> {
        self.inner.stats
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The trap kind, if this is a trap.
    pub fn trap_kind(&self) -> Option<TrapKind> {
        match self.inner.kind {
            ErrorKind::Trap(t) => Some(t),
            _ => None,
        }
    }

    /// The guest's backtrace (one frame per line), when the error is a trap.
    pub fn guest_backtrace(&self) -> Option<&str> {
        if let Some(bt) = &self.inner.backtrace {
            return Some(bt);
        }
        self.inner
            .source
            .as_ref()
            .and_then(|s| s.downcast_ref::<Error>())
            .and_then(Error::guest_backtrace)
    }

    /// This layer's message, without causes.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    pub(crate) fn io(message: impl Into<String>, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, message).with_source(err)
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if f.alternate() {
            let mut source = std::error::Error::source(self);
            while let Some(s) = source {
                write!(f, ": {s}")?;
                source = s.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:#} ({:?})", self.inner.kind)?;
        if let Some(bt) = &self.inner.backtrace {
            write!(f, "\n{bt}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl TrapKind {
    pub(crate) fn from_trap(trap: wasmtime::Trap) -> Self {
        use wasmtime::Trap as T;
        match trap {
            T::OutOfFuel => Self::OutOfFuel,
            T::Interrupt => Self::Interrupt,
            T::MemoryOutOfBounds => Self::MemoryOutOfBounds,
            T::HeapMisaligned => Self::HeapMisaligned,
            T::StackOverflow => Self::StackOverflow,
            T::UnreachableCodeReached => Self::Unreachable,
            T::IntegerDivisionByZero => Self::IntegerDivisionByZero,
            T::IntegerOverflow => Self::IntegerOverflow,
            T::BadConversionToInteger => Self::BadConversionToInteger,
            T::IndirectCallToNull => Self::IndirectCallToNull,
            T::BadSignature => Self::BadSignature,
            T::TableOutOfBounds => Self::TableOutOfBounds,
            T::NullReference => Self::NullReference,
            T::AllocationTooLarge => Self::AllocationTooLarge,
            _ => Self::Other,
        }
    }

    /// True for the kinds that mean "a limit was enforced" rather than "the
    /// guest is buggy": fuel, timeout, cancellation, stack overflow.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            Self::OutOfFuel | Self::Timeout | Self::Cancelled | Self::StackOverflow
        )
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OutOfFuel => "all fuel consumed",
            Self::Timeout => "deadline exceeded",
            Self::Cancelled => "call cancelled",
            Self::Interrupt => "interrupted",
            Self::MemoryOutOfBounds => "out of bounds memory access",
            Self::HeapMisaligned => "unaligned atomic access",
            Self::StackOverflow => "wasm stack overflow",
            Self::Unreachable => "`unreachable` executed",
            Self::IntegerDivisionByZero => "integer divide by zero",
            Self::IntegerOverflow => "integer overflow",
            Self::BadConversionToInteger => "invalid conversion to integer",
            Self::IndirectCallToNull => "indirect call to null",
            Self::BadSignature => "indirect call signature mismatch",
            Self::TableOutOfBounds => "out of bounds table access",
            Self::NullReference => "null reference",
            Self::AllocationTooLarge => "allocation too large",
            Self::Other => "trap",
        })
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory { requested, allowed } => write!(
                f,
                "memory limit exceeded: requested {} but at most {} is allowed",
                crate::units::format_bytes(*requested),
                crate::units::format_bytes(*allowed)
            ),
            Self::TableElements { requested, allowed } => write!(
                f,
                "table limit exceeded: requested {requested} elements but at most {allowed} are allowed"
            ),
            Self::Count { what, allowed } => {
                write!(f, "too many {what}: at most {allowed} allowed")
            }
            Self::Output { stream, allowed } => write!(
                f,
                "{stream} exceeded its capture cap of {}",
                crate::units::format_bytes(*allowed)
            ),
            Self::Other => f.write_str("resource limit exceeded"),
        }
    }
}

/// Turns a `wasmtime::Error` into a boxed std error, keeping its chain as text.
pub(crate) fn wasmtime_source(err: wasmtime::Error) -> BoxError {
    err.into_boxed_dyn_error()
}

/// Classifies an error from a call into a guest. `interrupt` says why the
/// store's epoch callback stopped the guest, if it did. The message says
/// what happened; callers add which call it was as context.
pub(crate) fn classify_call_error(err: wasmtime::Error, interrupt: Option<TrapKind>) -> Error {
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        let code = exit.0;
        return Error::new(
            ErrorKind::Exit(code),
            format!("guest exited with status {code}"),
        );
    }
    if let Some(failed) = err.downcast_ref::<crate::host_fn::HostFnFailed>() {
        return Error::new(
            ErrorKind::HostFunction {
                name: failed.name.clone(),
            },
            format!("host function `{}` failed: {}", failed.name, failed.source),
        );
    }
    if let Some(limit) = err.downcast_ref::<crate::limits::LimitExceeded>() {
        return Error::new(
            ErrorKind::ResourceLimit(limit.0.clone()),
            limit.0.to_string(),
        );
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
    Error::new(ErrorKind::Other, "guest call failed")
        .with_source(wasmtime_source(err))
        .with_backtrace(backtrace)
}

fn format_backtrace(bt: &wasmtime::WasmBacktrace) -> String {
    let mut out = String::new();
    for (i, frame) in bt.frames().iter().enumerate() {
        use fmt::Write;
        let name = frame.func_name().unwrap_or("<unnamed>");
        let module = frame.module().name().unwrap_or("<module>");
        let _ = write!(out, "{i:>4}: {module}!{name} (func {})", frame.func_index());
        if let Some(off) = frame.module_offset() {
            let _ = write!(out, " @ {off:#x}");
        }
        out.push('\n');
    }
    out
}
