//! Exit codes and one-line error rendering.

use plugbox::ErrorKind;

/// Success.
pub const OK: u8 = 0;
/// An error that fits no other class.
pub const OTHER: u8 = 1;
/// Bad flags or arguments: unknown export, wrong arity, unparsable values,
/// invalid configuration.
pub const USAGE: u8 = 2;
/// The module is invalid or was rejected (malformed, too large, disabled
/// feature, compile failure, refused precompiled artifact).
pub const INVALID: u8 = 3;
/// Linking or instantiation failed (missing or mismatched import).
pub const LINK: u8 = 4;
/// The guest trapped.
pub const TRAP: u8 = 5;
/// A limit was exceeded (fuel, timeout, cancellation, memory, table,
/// instances, stack, output, busy).
pub const LIMIT: u8 = 6;
/// An I/O error outside the guest (including writing plugbox's output).
pub const IO: u8 = 7;
/// `call`: the guest exited (`proc_exit`) instead of returning; its status
/// is in the message, never the exit code, so it cannot pass for one of
/// plugbox's own codes.
pub const GUEST_EXIT: u8 = 8;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success; `run`: the guest's own exit status passes through (0 to 255)
  1    other error
  2    usage error: bad flags or call arguments, unknown export, bad config
  3    invalid or rejected module (malformed, too large, disabled feature, refused .cwasm)
  4    link or instantiation error (missing or mismatched import)
  5    the guest trapped (or called the host with invalid arguments)
  6    a limit was exceeded (fuel, timeout, cancel, memory, table, stack, output, size)
  7    I/O error outside the guest
  8    `call`: the guest exited (proc_exit) instead of returning; the status is printed
A closed stdout (`plugbox ... | head`) ends plugbox quietly with 0.";

/// The exit code for an error: plugbox's kind decides, anything else is
/// an I/O error if it is one, and `OTHER` otherwise.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<crate::output::OutputError>().is_some() {
            return IO;
        }
        if let Some(e) = cause.downcast_ref::<plugbox::Error>() {
            return code_for_kind(e.kind());
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return IO;
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return USAGE;
        }
    }
    OTHER
}

pub fn code_for_kind(kind: &ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidModule(_)
        | ErrorKind::Compile
        | ErrorKind::Precompiled(_)
        | ErrorKind::Sha256Mismatch { .. } => INVALID,
        ErrorKind::Link { .. } | ErrorKind::Instantiate => LINK,
        ErrorKind::Trap(t) if t.is_limit() => LIMIT,
        ErrorKind::Trap(_) => TRAP,
        ErrorKind::ResourceLimit(_) | ErrorKind::Busy => LIMIT,
        ErrorKind::Exit(_) => GUEST_EXIT,
        ErrorKind::Io => IO,
        ErrorKind::InvalidArgument
        | ErrorKind::ExportNotFound { .. }
        | ErrorKind::SignatureMismatch { .. }
        | ErrorKind::PluginNotFound(_)
        | ErrorKind::CallMode
        | ErrorKind::Config => USAGE,
        _ => OTHER,
    }
}

/// A usage error found by the CLI itself (after clap).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The error and its causes on one line, without repeating a cause that
/// is already part of the previous message.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string().replace('\n', " ");
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
