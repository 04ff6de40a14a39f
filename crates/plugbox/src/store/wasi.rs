//! The WASI context of one store, built only from a [`Sandbox`]'s explicit
//! grants, and the captured output pipes.

use super::stdio::HostOutput;
use crate::config::{Sandbox, Stdin, Stdio};
use crate::error::{Error, ErrorKind, Result};
use std::time::Duration;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Builds a WASI context for one store. `args` become argv (argv\[0\]
/// first); `stdin` is the content of a `Stdin::File` (read once when the
/// plugin was built).
pub(crate) fn builder(
    sandbox: &Sandbox,
    args: &[String],
    max_output: Option<u64>,
    stdin: Option<&std::sync::Arc<[u8]>>,
) -> Result<(WasiCtxBuilder, Captured)> {
    let mut b = WasiCtxBuilder::new();
    b.args(args);
    if sandbox.get_inherit_env() {
        b.inherit_env();
    }
    for (k, v) in sandbox.get_env() {
        b.env(k, v);
    }
    match (sandbox.get_stdin(), stdin) {
        // The host's stdin is read by one worker thread; a guest blocked
        // on it waits asynchronously, so its deadline still ends the call.
        (Stdin::Inherit, _) => {
            b.inherit_stdin();
        }
        (_, Some(bytes)) => {
            b.stdin(MemoryInputPipe::new(bytes.to_vec()));
        }
        (Stdin::Null | Stdin::File(_), None) => {}
    }
    // One byte over the cap tells "filled exactly" from "overflowed".
    let cap = max_output.map_or(usize::MAX, |c| {
        usize::try_from(c.saturating_add(1)).unwrap_or(usize::MAX)
    });
    let mut captured = Captured {
        max: max_output,
        ..Captured::default()
    };
    match sandbox.get_stdout() {
        Stdio::Capture => {
            let pipe = MemoryOutputPipe::new(cap);
            b.stdout(pipe.clone());
            captured.stdout = Some(pipe);
        }
        Stdio::Inherit => {
            b.stdout(HostOutput::stdout());
        }
        Stdio::Null => {}
    }
    match sandbox.get_stderr() {
        Stdio::Capture => {
            let pipe = MemoryOutputPipe::new(cap);
            b.stderr(pipe.clone());
            captured.stderr = Some(pipe);
        }
        Stdio::Inherit => {
            b.stderr(HostOutput::stderr());
        }
        Stdio::Null => {}
    }
    for d in sandbox.get_dirs() {
        let perms = if d.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&d.host, d.guest_path(), perms)
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot grant directory `{}`", d.host.display()),
                )
                .with_source(e.into_boxed_dyn_error())
            })?;
    }
    if sandbox.get_allow_network() {
        b.inherit_network()
            .allow_tcp(true)
            .allow_udp(true)
            .allow_ip_name_lookup(true);
    }
    if sandbox.get_deterministic() {
        b.wall_clock(FixedClock)
            .monotonic_clock(StepClock::default());
        b.secure_random(wasmtime_wasi::Deterministic::new(vec![
            0x5a, 0xa5, 0x3c, 0xc3,
        ]));
        b.insecure_random(wasmtime_wasi::Deterministic::new(vec![0x42, 0x24]));
        b.insecure_random_seed(0);
    }
    Ok((b, captured))
}

/// Captured output pipes of one store.
#[derive(Clone, Default)]
pub(crate) struct Captured {
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
    max: Option<u64>,
}

impl Captured {
    /// The stream that went over its cap, if any.
    #[inline]
    pub(crate) fn overflow(&self) -> Option<(&'static str, u64)> {
        match self.max {
            None => None,
            Some(max) => self.overflow_of(max),
        }
    }

    fn overflow_of(&self, max: u64) -> Option<(&'static str, u64)> {
        let over = |p: &Option<MemoryOutputPipe>| {
            p.as_ref().is_some_and(|p| p.contents().len() as u64 > max)
        };
        if over(&self.stdout) {
            Some(("stdout", max))
        } else if over(&self.stderr) {
            Some(("stderr", max))
        } else {
            None
        }
    }

    fn take(pipe: &Option<MemoryOutputPipe>, max: Option<u64>) -> Vec<u8> {
        let mut bytes = pipe
            .as_ref()
            .map(|p| p.contents().to_vec())
            .unwrap_or_default();
        if let Some(max) = max {
            bytes.truncate(usize::try_from(max).unwrap_or(usize::MAX));
        }
        bytes
    }

    pub(crate) fn stdout(&self) -> Vec<u8> {
        Self::take(&self.stdout, self.max)
    }

    pub(crate) fn stderr(&self) -> Vec<u8> {
        Self::take(&self.stderr, self.max)
    }
}

struct FixedClock;

impl wasmtime_wasi::HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

#[derive(Default)]
struct StepClock(std::sync::atomic::AtomicU64);

impl wasmtime_wasi::HostMonotonicClock for StepClock {
    fn resolution(&self) -> u64 {
        1_000
    }
    fn now(&self) -> u64 {
        self.0
            .fetch_add(1_000, std::sync::atomic::Ordering::Relaxed)
    }
}
