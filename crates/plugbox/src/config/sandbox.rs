//! The WASI grants (`[plugins.NAME.sandbox]` in a manifest, the sandbox
//! flags). Nothing is granted by default: no directories, no environment
//! variables, no stdin, no network, no outbound HTTP; stdout and stderr are captured (up to a
//! cap) rather than inherited.

use super::hosts::HostPattern;
use super::value::{merge_fields, serde_units};
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A directory made visible to the guest: `HOST[::GUEST][:ro]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the guest sees it (default: the host path as given).
    pub guest: Option<String>,
    /// Read-only when `true`. `dir` grants are read-write unless they end
    /// in `:ro`; `ro-dir` grants are always read-only.
    pub read_only: bool,
}

impl DirGrant {
    /// A read-write grant of `host`, seen by the guest as `guest`.
    pub fn new(host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            guest: Some(guest.into()),
            read_only: false,
        }
    }

    /// Parses the CLI form `HOST[::GUEST]`, with `:ro` / `:rw` suffixes.
    ///
    /// # Errors
    ///
    /// A message naming the grant when a part is empty.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (body, read_only) = match spec.strip_suffix(":ro") {
            Some(body) => (body, true),
            None => (spec.strip_suffix(":rw").unwrap_or(spec), false),
        };
        let (host, guest) = match body.split_once("::") {
            Some((h, g)) => (h, Some(g.to_string())),
            None => (body, None),
        };
        if host.is_empty() || guest.as_deref() == Some("") {
            return Err(format!(
                "invalid directory grant `{spec}`: expected HOST, HOST::GUEST, or either with `:ro`"
            ));
        }
        Ok(Self {
            host: host.into(),
            guest,
            read_only,
        })
    }

    /// Where the guest sees the directory.
    pub fn guest_path(&self) -> String {
        self.guest
            .clone()
            .unwrap_or_else(|| self.host.display().to_string())
    }
}

impl FromStr for DirGrant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

impl fmt::Display for DirGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.host.display())?;
        if let Some(g) = &self.guest {
            write!(f, "::{g}")?;
        }
        if self.read_only {
            f.write_str(":ro")?;
        }
        Ok(())
    }
}

impl Serialize for DirGrant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DirGrant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Where a guest's standard output or error goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Stdio {
    /// Captured in memory up to the `max-output` limit (the library's
    /// default); readable after the call.
    #[default]
    Capture,
    /// Shares the host process's stream (the CLI's default). Writes never
    /// block the call past its deadline, even into a full pipe.
    Inherit,
    /// Discarded.
    Null,
}

/// What a guest reads on standard input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    /// Nothing: reads see end of file (the library's default).
    #[default]
    Null,
    /// The host process's stdin (the CLI's default for `run`). A read
    /// blocked on it still ends at the call's deadline.
    Inherit,
    /// The contents of a regular file, read when the plugin is built.
    File(PathBuf),
}

impl FromStr for Stdin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "null" => Self::Null,
            "inherit" => Self::Inherit,
            "" => return Err("invalid stdin ``: use `null`, `inherit` or a file path".into()),
            path => Self::File(path.into()),
        })
    }
}

impl fmt::Display for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Inherit => f.write_str("inherit"),
            Self::File(p) => write!(f, "{}", p.display()),
        }
    }
}

impl Serialize for Stdin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Stdin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The capabilities a plugin is granted. Empty by default: deny by default.
///
/// ```
/// use plugbox::Sandbox;
/// let sandbox = Sandbox::new().ro_dir("/srv/data", "/data").env("MODE", "fast");
/// assert_eq!(sandbox.get_env().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Sandbox"))]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Sandbox {
    /// Grant a directory read-write: HOST[::GUEST], `:ro` for read-only (repeatable)
    #[cfg_attr(feature = "cli", arg(long, value_name = "HOST[::GUEST]"))]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dir: Vec<DirGrant>,

    /// Grant a directory read-only: HOST[::GUEST] (repeatable)
    #[cfg_attr(feature = "cli", arg(long, value_name = "HOST[::GUEST]"))]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ro_dir: Vec<DirGrant>,

    /// Set an environment variable for the guest: KEY=VALUE (repeatable)
    #[cfg_attr(feature = "cli", arg(long, value_name = "KEY=VALUE", value_parser = super::value::parse_key_value))]
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_units::de_pairs",
        serialize_with = "serde_units::ser_pairs"
    )]
    env: Vec<(String, String)>,

    /// Pass the host's whole environment to the guest [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    inherit_env: Option<bool>,

    /// Allow TCP, UDP and name lookups (components only) [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_network: Option<bool>,

    /// Allow outbound HTTP (wasi:http) to a host: NAME, *.DOMAIN or *, optionally :PORT; loopback and private addresses only for an exact NAME or IP (repeatable)
    #[cfg_attr(feature = "cli", arg(long, value_name = "HOST"))]
    #[serde(skip_serializing_if = "Vec::is_empty", alias = "allowed-hosts")]
    allow_host: Vec<HostPattern>,

    /// Deterministic clocks and random numbers [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    deterministic: Option<bool>,

    /// The guest's stdin: null, inherit, or a file [default: null; CLI: inherit]
    #[cfg_attr(feature = "cli", arg(long, value_name = "null|inherit|FILE"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    stdin: Option<Stdin>,

    /// Where the guest's stdout goes [default: capture; CLI: inherit]
    #[cfg_attr(feature = "cli", arg(long, value_name = "capture|inherit|null"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<Stdio>,

    /// Where the guest's stderr goes [default: capture; CLI: inherit]
    #[cfg_attr(feature = "cli", arg(long, value_name = "capture|inherit|null"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<Stdio>,

    /// Bytes given as stdin by the embedder (not part of the schema).
    #[cfg_attr(feature = "cli", arg(skip))]
    #[serde(skip)]
    stdin_bytes: Option<std::sync::Arc<[u8]>>,
}

impl Sandbox {
    /// Nothing granted.
    pub fn new() -> Self {
        Self::default()
    }

    /// `self` with the grants `over` adds and the settings it sets. A
    /// directory `over` grants at a guest path replaces one `self` granted
    /// there (flags over a manifest); an environment variable `over` sets
    /// wins.
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        let replaced: Vec<String> = over
            .dir
            .iter()
            .chain(&over.ro_dir)
            .map(DirGrant::guest_path)
            .collect();
        base.dir.retain(|d| !replaced.contains(&d.guest_path()));
        base.ro_dir.retain(|d| !replaced.contains(&d.guest_path()));
        merge_fields!(base, over;
            set: inherit_env, allow_network, deterministic, stdin, stdout, stderr, stdin_bytes;
            lists: dir, ro_dir, env, allow_host);
        self
    }

    /// Makes relative host paths (directory grants, a stdin file) relative
    /// to `base` instead of the current directory.
    pub(crate) fn resolve(&mut self, base: &Path) {
        for d in self.dir.iter_mut().chain(self.ro_dir.iter_mut()) {
            if d.guest.is_none() {
                d.guest = Some(d.host.display().to_string());
            }
            d.host = base.join(&d.host);
        }
        if let Some(Stdin::File(path)) = &mut self.stdin {
            *path = base.join(&*path);
        }
    }

    /// Grants a directory (read-only or read-write as the grant says).
    /// Default: no directories.
    pub fn dir(mut self, grant: DirGrant) -> Self {
        self.dir.push(grant);
        self
    }

    /// Grants `host` read-only, visible to the guest as `guest`.
    pub fn ro_dir(self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dir(DirGrant {
            read_only: true,
            ..DirGrant::new(host, guest)
        })
    }

    /// Grants `host` read-write, visible to the guest as `guest`.
    pub fn rw_dir(self, host: impl Into<PathBuf>, guest: impl Into<String>) -> Self {
        self.dir(DirGrant::new(host, guest))
    }

    /// Every granted directory, with its permission.
    pub fn get_dirs(&self) -> Vec<DirGrant> {
        let ro = self.ro_dir.iter().map(|d| DirGrant {
            read_only: true,
            ..d.clone()
        });
        self.dir.iter().cloned().chain(ro).collect()
    }

    /// Sets one environment variable. Default: an empty environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// The granted environment (a later entry for a key wins).
    pub fn get_env(&self) -> std::collections::BTreeMap<String, String> {
        self.env.iter().cloned().collect()
    }

    /// Passes the host's whole environment (explicit `env` entries win).
    /// Default: off.
    pub fn inherit_env(mut self, on: bool) -> Self {
        self.inherit_env = Some(on);
        self
    }

    /// Whether the host environment is passed.
    pub fn get_inherit_env(&self) -> bool {
        self.inherit_env.unwrap_or(false)
    }

    /// Bytes the guest reads on stdin. Default: empty stdin.
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin_bytes = Some(bytes.into().into());
        self
    }

    /// What the guest reads on stdin. Default: [`Stdin::Null`].
    pub fn stdin(mut self, stdin: Stdin) -> Self {
        self.stdin = Some(stdin);
        self
    }

    /// The stdin setting.
    pub fn get_stdin(&self) -> Stdin {
        self.stdin.clone().unwrap_or_default()
    }

    pub(crate) fn get_stdin_bytes(&self) -> Option<&std::sync::Arc<[u8]>> {
        self.stdin_bytes.as_ref()
    }

    /// Where stdout goes. Default: [`Stdio::Capture`].
    pub fn stdout(mut self, stdio: Stdio) -> Self {
        self.stdout = Some(stdio);
        self
    }

    /// The stdout setting.
    pub fn get_stdout(&self) -> Stdio {
        self.stdout.unwrap_or_default()
    }

    /// Where stderr goes. Default: [`Stdio::Capture`].
    pub fn stderr(mut self, stdio: Stdio) -> Self {
        self.stderr = Some(stdio);
        self
    }

    /// The stderr setting.
    pub fn get_stderr(&self) -> Stdio {
        self.stderr.unwrap_or_default()
    }

    /// Allows TCP, UDP and name lookups (WASI preview 2 components only).
    /// Default: off.
    pub fn allow_network(mut self, on: bool) -> Self {
        self.allow_network = Some(on);
        self
    }

    /// Whether the network is allowed.
    pub fn get_allow_network(&self) -> bool {
        self.allow_network.unwrap_or(false)
    }

    /// Lets a `wasi:http` guest send requests to hosts matching `host`
    /// (repeatable). Default: no host, every outgoing request is denied
    /// (the guest sees `HTTP-request-denied`). A wildcard grant (`*`,
    /// `*.example.org`) reaches public addresses only; loopback and private
    /// addresses need a grant naming the host or the address exactly.
    pub fn allow_host(mut self, host: HostPattern) -> Self {
        if !self.allow_host.contains(&host) {
            self.allow_host.push(host);
        }
        self
    }

    /// The hosts outbound HTTP may reach.
    pub fn get_allowed_hosts(&self) -> &[HostPattern] {
        &self.allow_host
    }

    /// Makes clocks and random numbers deterministic: the wall clock reads
    /// the Unix epoch, the monotonic clock advances 1 µs per read, and
    /// random bytes are a fixed sequence. Default: off.
    pub fn deterministic(mut self, on: bool) -> Self {
        self.deterministic = Some(on);
        self
    }

    /// Whether clocks and random numbers are deterministic.
    pub fn get_deterministic(&self) -> bool {
        self.deterministic.unwrap_or(false)
    }

    /// Checks the grants without building anything: directories must exist
    /// and environment names must be valid.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) for a directory that cannot
    /// be read, [`ErrorKind::Config`](crate::ErrorKind::Config) otherwise.
    pub fn check(&self) -> Result<()> {
        for d in self.get_dirs() {
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
        for (key, _) in &self.env {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(Error::config(format!(
                    "invalid environment variable name `{key}`"
                )));
            }
        }
        Ok(())
    }
}
