//! The WASI sandbox: a context built only from explicit grants.
//!
//! Nothing is granted by default: no directories, no environment variables,
//! no stdin, no network; stdout and stderr are captured (up to a cap) rather
//! than inherited. Every capability is an explicit entry here.

use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// A directory made visible to the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (default: the host path as given).
    #[serde(default)]
    pub guest: Option<String>,
    /// Read-only unless `false`.
    #[serde(default = "yes")]
    pub read_only: bool,
}

fn yes() -> bool {
    true
}

impl DirGrant {
    /// Parses the CLI form `HOST[::GUEST]`.
    pub fn parse(spec: &str, read_only: bool) -> Result<Self, String> {
        let (host, guest) = match spec.split_once("::") {
            Some((h, g)) => (h, Some(g.to_string())),
            None => (spec, None),
        };
        if host.is_empty() || guest.as_deref() == Some("") {
            return Err(format!(
                "invalid directory grant `{spec}`: expected HOST or HOST::GUEST"
            ));
        }
        Ok(Self {
            host: host.into(),
            guest,
            read_only,
        })
    }

    fn guest_path(&self) -> String {
        self.guest
            .clone()
            .unwrap_or_else(|| self.host.display().to_string())
    }
}

/// Where a guest's standard stream goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stdio {
    /// Captured in memory up to [`Limits::max_output`](crate::Limits::max_output)
    /// (default for stdout and stderr); readable after the call.
    #[default]
    Capture,
    /// Shares the host process's stream.
    Inherit,
    /// Discarded.
    Null,
}

/// The capabilities a plugin is granted. Empty by default: deny by default.
///
/// ```
/// use plugbox::Sandbox;
/// let sandbox = Sandbox::new().ro_dir("/srv/data", "/data").env("MODE", "fast");
/// assert_eq!(sandbox.get_env().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Sandbox {
    dirs: Vec<DirGrant>,
    env: BTreeMap<String, String>,
    inherit_env: bool,
    #[serde(skip)]
    stdin: Option<Vec<u8>>,
    inherit_stdin: bool,
    stdout: Stdio,
    stderr: Stdio,
    network: bool,
    deterministic: bool,
}

impl Sandbox {
    /// Nothing granted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Grants a directory, read-only or read-write. Default: no directories.
    pub fn dir(mut self, grant: DirGrant) -> Self {
        self.dirs.push(grant);
        self
    }

    /// Grants `host` read-only, visible to the guest as `guest`.
    pub fn ro_dir(self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dir(DirGrant {
            host: host.into(),
            guest: Some(guest.into()),
            read_only: true,
        })
    }

    /// Grants `host` read-write, visible to the guest as `guest`.
    pub fn rw_dir(self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dir(DirGrant {
            host: host.into(),
            guest: Some(guest.into()),
            read_only: false,
        })
    }

    /// The granted directories.
    pub fn get_dirs(&self) -> &[DirGrant] {
        &self.dirs
    }

    /// Sets one environment variable. Default: an empty environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// The granted environment.
    pub fn get_env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// Passes the host's whole environment (explicit `env` entries win).
    /// Default: off.
    pub fn inherit_env(mut self, on: bool) -> Self {
        self.inherit_env = on;
        self
    }

    /// Bytes the guest reads on stdin. Default: empty stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Shares the host's stdin. Default: off.
    pub fn inherit_stdin(mut self, on: bool) -> Self {
        self.inherit_stdin = on;
        self
    }

    /// Where stdout goes. Default: [`Stdio::Capture`].
    pub fn stdout(mut self, stdio: Stdio) -> Self {
        self.stdout = stdio;
        self
    }

    /// Where stderr goes. Default: [`Stdio::Capture`].
    pub fn stderr(mut self, stdio: Stdio) -> Self {
        self.stderr = stdio;
        self
    }

    /// Allows TCP, UDP and name lookups (WASI preview 2 components only).
    /// Default: off.
    pub fn network(mut self, on: bool) -> Self {
        self.network = on;
        self
    }

    /// Makes clocks and random numbers deterministic: the wall clock reads
    /// the Unix epoch, the monotonic clock advances 1 µs per read, and
    /// random bytes are a fixed sequence. Default: off.
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = on;
        self
    }

    /// Checks the grants without building anything: directories must exist.
    pub(crate) fn check(&self) -> Result<()> {
        for d in &self.dirs {
            match std::fs::metadata(&d.host) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("cannot grant `{}`: not a directory", d.host.display()),
                    ));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot grant directory `{}`", d.host.display()),
                        e,
                    ));
                }
            }
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(Error::config(format!(
                    "invalid environment variable name `{key}`"
                )));
            }
        }
        Ok(())
    }

    /// Builds a WASI context for one store. `args` become argv (argv\[0\]
    /// first).
    pub(crate) fn build(
        &self,
        args: &[String],
        max_output: Option<u64>,
    ) -> Result<(WasiCtxBuilder, Captured)> {
        let mut b = WasiCtxBuilder::new();
        b.args(args);
        if self.inherit_env {
            b.inherit_env();
        }
        for (k, v) in &self.env {
            b.env(k, v);
        }
        if self.inherit_stdin {
            b.inherit_stdin();
        } else if let Some(bytes) = &self.stdin {
            b.stdin(MemoryInputPipe::new(bytes.clone()));
        }
        // One byte over the cap tells "filled exactly" from "overflowed".
        let cap = max_output.map_or(usize::MAX, |c| {
            usize::try_from(c.saturating_add(1)).unwrap_or(usize::MAX)
        });
        let mut captured = Captured {
            max: max_output,
            ..Captured::default()
        };
        match self.stdout {
            Stdio::Capture => {
                let pipe = MemoryOutputPipe::new(cap);
                b.stdout(pipe.clone());
                captured.stdout = Some(pipe);
            }
            Stdio::Inherit => {
                b.inherit_stdout();
            }
            Stdio::Null => {}
        }
        match self.stderr {
            Stdio::Capture => {
                let pipe = MemoryOutputPipe::new(cap);
                b.stderr(pipe.clone());
                captured.stderr = Some(pipe);
            }
            Stdio::Inherit => {
                b.inherit_stderr();
            }
            Stdio::Null => {}
        }
        for d in &self.dirs {
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
        if self.network {
            b.inherit_network()
                .allow_tcp(true)
                .allow_udp(true)
                .allow_ip_name_lookup(true);
        }
        if self.deterministic {
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
}

/// Captured output pipes of one store.
#[derive(Clone, Default)]
pub(crate) struct Captured {
    pub(crate) stdout: Option<MemoryOutputPipe>,
    pub(crate) stderr: Option<MemoryOutputPipe>,
    pub(crate) max: Option<u64>,
}

impl Captured {
    /// The stream that went over its cap, if any.
    pub(crate) fn overflow(&self) -> Option<(&'static str, u64)> {
        let max = self.max?;
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
