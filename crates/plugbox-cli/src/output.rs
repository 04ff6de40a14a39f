//! Writing to the terminal without panicking: `println!` panics when
//! stdout is a closed pipe (`plugbox inspect x | head -1`) or a full disk
//! (`> /dev/full`). Results go through [`outln!`], which returns the write
//! error; notes go to stderr through [`note!`], which ignores one (there is
//! nowhere left to report it).

use std::io::Write;

/// Writing plugbox's results to stdout failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to stdout")]
pub struct OutputError(#[source] pub std::io::Error);

impl OutputError {
    /// The reader went away: end quietly, as `head` expects.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes formatted text to stdout and flushes it.
pub fn write_out(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(OutputError)
}

/// Writes raw bytes (a guest's captured output) to stdout.
pub fn out_bytes(bytes: &[u8]) -> Result<(), OutputError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(OutputError)
}

/// Writes raw bytes to stderr, ignoring a failure.
pub fn err_bytes(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write_all(bytes);
}

/// Writes formatted text to stderr, ignoring a failure.
pub fn write_note(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` for results: `outln!("{x}")?`.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` for results.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::write_note(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {note, out, outln};
