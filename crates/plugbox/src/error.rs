//! The typed error every plugbox operation returns.
//!
//! Callers match on [`Error::kind`], never on message text. Messages are
//! lowercase, name the offending value in backticks, and carry their cause
//! chain through [`std::error::Error::source`]. Turning Wasmtime's errors
//! into these kinds happens in one place, `call::classify`.

use crate::stats::CallStats;
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
    stats: Option<CallStats>,
}

/// What went wrong, for callers to match on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not a module or component this engine accepts.
    InvalidModule(InvalidReason),
    /// The source's SHA-256 is not the one it was pinned to.
    Sha256Mismatch {
        /// The pinned digest (hex).
        expected: String,
        /// The digest of the bytes read (hex).
        found: String,
    },
    /// Cranelift (or Winch) failed to compile a valid module.
    Compile,
    /// An import could not be satisfied (missing, or of the wrong type).
    Link {
        /// The import's module name; for a component, the imported
        /// interface (`root` for a top-level function import).
        module: String,
        /// The import's field name; for a component, the first function of
        /// the interface (or the top-level function's name).
        name: String,
    },
    /// Instantiation failed for a reason other than a trap in the start
    /// function or a limit.
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
    /// The plugin was called the wrong way: a synchronous call of a plugin
    /// with async host functions from a thread that drives a current-thread
    /// tokio runtime (blocking it would stall those functions). Use the
    /// `*_async` methods there.
    CallMode,
    /// A component instance that trapped (or was stopped) before was
    /// called again; it cannot be entered any more. Instantiate a new one.
    Poisoned,
    /// The configuration (engine, limits, sandbox, manifest) is invalid.
    Config,
    /// An I/O error outside the guest (reading a module, a preopen, ...).
    Io,
    /// A precompiled artifact was refused.
    Precompiled(PrecompiledReason),
    /// A key-value operation failed (the plugin's state: `[kv]`).
    Kv(KvErrorKind),
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

/// Why a key-value operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KvErrorKind {
    /// The backend is unreachable, failed, or did not answer in time; the
    /// same operation may succeed later.
    Unavailable,
    /// The write would take the plugin past its quota of keys or bytes.
    QuotaExceeded,
    /// A key or value is too large, a batch too long, or a value is not
    /// what the operation needs (`increment` of a value that is not a
    /// decimal integer, an overflow).
    Invalid,
    /// A write was sent but its answer never came (the backend stalled,
    /// or the connection broke): it was applied before the operation's
    /// deadline or it never will be, and which is not known. Read the key
    /// to find out before retrying a write that is not idempotent (an
    /// `increment`). Only Redis writes end this way; `Unavailable` means
    /// nothing was written.
    OutcomeUnknown,
}

/// How a guest trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum TrapKind {
    /// The call's fuel budget ran out.
    #[error("all fuel consumed")]
    OutOfFuel,
    /// The call's wall-clock deadline passed.
    #[error("deadline exceeded")]
    Timeout,
    /// The call was cancelled through a `CancelHandle`.
    #[error("call cancelled")]
    Cancelled,
    /// The engine interrupted the guest for a reason other than a plugbox
    /// deadline or cancellation.
    #[error("interrupted")]
    Interrupt,
    /// Out-of-bounds linear memory access.
    #[error("out of bounds memory access")]
    MemoryOutOfBounds,
    /// Misaligned atomic access.
    #[error("unaligned atomic access")]
    HeapMisaligned,
    /// The wasm stack was exhausted (deep recursion).
    #[error("wasm stack overflow")]
    StackOverflow,
    /// An `unreachable` instruction was executed.
    #[error("`unreachable` executed")]
    Unreachable,
    /// Integer division by zero.
    #[error("integer divide by zero")]
    IntegerDivisionByZero,
    /// Integer overflow (e.g. `i32.div_s` of `INT_MIN` by `-1`).
    #[error("integer overflow")]
    IntegerOverflow,
    /// A float-to-int conversion of NaN or an out-of-range value.
    #[error("invalid conversion to integer")]
    BadConversionToInteger,
    /// `call_indirect` through an uninitialised table slot.
    #[error("indirect call to null")]
    IndirectCallToNull,
    /// `call_indirect` with a mismatched signature.
    #[error("indirect call signature mismatch")]
    BadSignature,
    /// Out-of-bounds table access.
    #[error("out of bounds table access")]
    TableOutOfBounds,
    /// A null reference was dereferenced.
    #[error("null reference")]
    NullReference,
    /// An allocation exceeded an implementation limit.
    #[error("allocation too large")]
    AllocationTooLarge,
    /// A wasm exception was thrown and nothing caught it.
    #[error("uncaught wasm exception")]
    UncaughtException,
    /// The guest called the host with arguments the host refused: an
    /// invalid pointer or length, a bad resource handle, or more data in
    /// one call than the host accepts.
    #[error("invalid host call")]
    BadHostCall,
    /// Any other trap code.
    #[error("trap")]
    Other,
}

/// Which limit was hit, and by how much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// Linear memory growth beyond the cap.
    #[error(
        "memory limit exceeded: requested {} but at most {} is allowed",
        crate::units::format_bytes(*requested),
        crate::units::format_bytes(*allowed)
    )]
    Memory {
        /// Bytes the guest asked for (total size after growth).
        requested: u64,
        /// Bytes allowed.
        allowed: u64,
    },
    /// Table growth beyond the cap.
    #[error(
        "table limit exceeded: requested {requested} elements but at most {allowed} are allowed"
    )]
    TableElements {
        /// Elements asked for (total after growth).
        requested: u64,
        /// Elements allowed.
        allowed: u64,
    },
    /// More instances, memories or tables than allowed.
    #[error("too many {what}: at most {allowed} allowed")]
    Count {
        /// What was counted: `instances`, `memories` or `tables`.
        what: &'static str,
        /// The cap.
        allowed: u64,
    },
    /// Captured output (stdout or stderr) exceeded its cap.
    #[error("{stream} exceeded its capture cap of {}", crate::units::format_bytes(*allowed))]
    Output {
        /// `stdout` or `stderr`.
        stream: &'static str,
        /// The cap in bytes.
        allowed: u64,
    },
    /// The module declares more than the engine compiles: functions, a
    /// function's size, or a function's locals (`max-functions`,
    /// `max-function-size`, `max-locals`).
    #[error("the module declares {found} {what}, more than the cap of {allowed}")]
    Declared {
        /// `functions`, `bytes in one function` or `locals in one function`.
        what: &'static str,
        /// What the module declares.
        found: u64,
        /// The cap.
        allowed: u64,
    },
    /// A limit Wasmtime reported without details.
    #[error("resource limit exceeded")]
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

    pub(crate) fn with_stats(mut self, stats: CallStats) -> Self {
        self.inner.stats = Some(stats);
        self
    }

    /// What a failed call used before it failed (fuel, time, memory peak,
    /// attempts), when the error comes from a call.
    pub fn call_stats(&self) -> Option<CallStats> {
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

    /// Looks through the cause chain for an error of type `E` (for example
    /// the error a host function returned).
    pub fn find_source<E: std::error::Error + 'static>(&self) -> Option<&E> {
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            if let Some(e) = s.downcast_ref::<E>() {
                return Some(e);
            }
            source = s.source();
        }
        None
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

    pub(crate) fn limit(limit: Limit) -> Self {
        let message = limit.to_string();
        Self::new(ErrorKind::ResourceLimit(limit), message)
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

/// Turns a `wasmtime::Error` into a boxed std error, keeping its chain.
pub(crate) fn wasmtime_source(err: wasmtime::Error) -> BoxError {
    err.into_boxed_dyn_error()
}
