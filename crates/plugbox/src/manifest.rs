//! The `plugbox.toml` manifest: the engine and the plugins a host serves,
//! with the same names as the CLI flags.
//!
//! ```toml
//! [engine]
//! opt-level = "speed"
//!
//! [plugins.greeter]
//! source = "plugins/greeter.wasm"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! mode = "stateless"            # or "stateful"
//! max-concurrency = 8
//! queue-timeout = "1s"
//! config = { greeting = "hello" }
//!
//! [plugins.greeter.limits]      # like --fuel, --timeout, --max-memory, ...
//! timeout = "250ms"
//! max-memory = "64MiB"
//!
//! [plugins.greeter.sandbox]     # like --dir, --ro-dir, --env, --inherit-env
//! ro-dir = ["data::/data"]
//! env = { MODE = "fast" }
//! ```

use crate::config::EngineConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::sandbox::{DirGrant, Sandbox};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a managed plugin's calls get instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every call gets a fresh instance: nothing leaks between calls (the
    /// default).
    #[default]
    Stateless,
    /// One long-lived instance whose memory persists; calls are serialised.
    Stateful,
}

/// Grants in the CLI's vocabulary: `dir`, `ro-dir`, `env`, `inherit-env`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Grants {
    /// Read-write directories, `HOST[::GUEST]`.
    pub dir: Vec<String>,
    /// Read-only directories, `HOST[::GUEST]`.
    pub ro_dir: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Pass the host's environment.
    pub inherit_env: bool,
    /// Deterministic clocks and random numbers.
    pub deterministic: bool,
    /// Allow TCP, UDP and name lookups (components only).
    pub network: bool,
}

impl Grants {
    /// The sandbox these grants describe; relative host paths are resolved
    /// against `base`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] for a malformed directory grant.
    pub fn to_sandbox(&self, base: &Path) -> Result<Sandbox> {
        let mut s = Sandbox::new()
            .inherit_env(self.inherit_env)
            .deterministic(self.deterministic);
        let grants = self
            .dir
            .iter()
            .map(|d| (d, false))
            .chain(self.ro_dir.iter().map(|d| (d, true)));
        for (spec, read_only) in grants {
            let mut grant = DirGrant::parse(spec, read_only).map_err(Error::config)?;
            if grant.guest.is_none() {
                grant.guest = Some(grant.host.display().to_string());
            }
            grant.host = base.join(&grant.host);
            s = s.dir(grant);
        }
        for (k, v) in &self.env {
            s = s.env(k, v);
        }
        Ok(s)
    }
}

/// One plugin of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSpec {
    /// The `.wasm`/`.wat`/`.cwasm` file (relative to the manifest).
    pub source: PathBuf,
    /// Expected SHA-256 of the source file (hex); a mismatch is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Stateless (default) or stateful.
    #[serde(default)]
    pub mode: Mode,
    /// Per-call limits.
    #[serde(default)]
    pub limits: Limits,
    /// WASI grants.
    #[serde(default)]
    pub sandbox: Grants,
    /// Read-only configuration values for host functions.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Calls running at once; more wait up to `queue-timeout`, then fail
    /// with [`ErrorKind::Busy`]. Default: unlimited.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// How long a call waits for a free slot. Default: 1 s.
    #[serde(default, with = "crate::units::serde_units::duration")]
    pub queue_timeout: Option<Duration>,
    /// Accept a precompiled artifact as source. Default: false.
    #[serde(default)]
    pub allow_precompiled: bool,
}

impl PluginSpec {
    /// A stateless plugin from `source` with default limits and no grants.
    pub fn new(source: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            sha256: None,
            mode: Mode::Stateless,
            limits: Limits::default(),
            sandbox: Grants::default(),
            config: BTreeMap::new(),
            max_concurrency: None,
            queue_timeout: None,
            allow_precompiled: false,
        }
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Sets the limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the grants.
    pub fn sandbox(mut self, grants: Grants) -> Self {
        self.sandbox = grants;
        self
    }

    /// Caps concurrent calls and sets how long extra calls wait.
    pub fn max_concurrency(mut self, n: u32, queue_timeout: Duration) -> Self {
        self.max_concurrency = Some(n);
        self.queue_timeout = Some(queue_timeout);
        self
    }

    /// Pins the source's SHA-256 (hex).
    pub fn sha256(mut self, hex: impl Into<String>) -> Self {
        self.sha256 = Some(hex.into());
        self
    }

    /// Sets configuration values.
    pub fn config(mut self, config: BTreeMap<String, String>) -> Self {
        self.config = config;
        self
    }

    /// Checks a loaded source against the `sha256` pin.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`] naming both hashes on a mismatch.
    pub fn check_pin(&self, name: &str, wasm: &crate::Wasm) -> Result<()> {
        match &self.sha256 {
            Some(want) if !want.eq_ignore_ascii_case(wasm.sha256()) => Err(Error::new(
                ErrorKind::InvalidModule(crate::InvalidReason::Malformed { offset: None }),
                format!(
                    "plugin `{name}`: sha256 of `{}` is {}, but the manifest pins {want}",
                    self.source.display(),
                    wasm.sha256()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The queue timeout in force.
    pub fn get_queue_timeout(&self) -> Duration {
        self.queue_timeout.unwrap_or(Duration::from_secs(1))
    }
}

/// A parsed manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Engine settings shared by all plugins.
    #[serde(default)]
    pub engine: EngineConfig,
    /// Plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginSpec>,
    /// Directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Manifest {
    /// Reads and parses a manifest file.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if unreadable; [`ErrorKind::Config`] naming the
    /// line, the plugin and the field for schema errors.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("cannot read manifest `{}`", path.display()), e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &path.display().to_string(), &base)
    }

    /// Parses manifest text; `name` is used in messages and `base_dir`
    /// resolves relative paths.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn parse(text: &str, name: &str, base_dir: &Path) -> Result<Self> {
        let mut manifest: Manifest = toml::from_str(text).map_err(|e| {
            let mut at = String::new();
            if let Some(span) = e.span() {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, str::len) + 1;
                at = format!(" at line {line}, column {col}");
                if let Some(plugin) = plugin_at(before) {
                    at.push_str(&format!(" (plugin `{plugin}`)"));
                }
            }
            Error::new(
                ErrorKind::Config,
                format!("invalid manifest `{name}`{at}: {}", e.message().trim()),
            )
        })?;
        manifest.base_dir = base_dir.to_path_buf();
        for (plugin, spec) in &manifest.plugins {
            if let Some(hash) = &spec.sha256
                && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(Error::config(format!(
                    "invalid manifest `{name}`: plugin `{plugin}`: field `sha256` must be 64 hex digits, found `{hash}`"
                )));
            }
            if spec.max_concurrency == Some(0) {
                return Err(Error::config(format!(
                    "invalid manifest `{name}`: plugin `{plugin}`: field `max-concurrency` must be at least 1"
                )));
            }
        }
        Ok(manifest)
    }

    /// The engine configuration, with fuel metering turned on when a plugin
    /// sets a fuel limit.
    pub fn engine_config(&self) -> EngineConfig {
        let fuel = self.plugins.values().any(|p| p.limits.get_fuel().is_some());
        if fuel {
            self.engine.clone().consume_fuel(true)
        } else {
            self.engine.clone()
        }
    }

    /// A plugin's spec with paths resolved against the manifest directory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`] naming the plugins that do exist.
    pub fn plugin(&self, name: &str) -> Result<PluginSpec> {
        let spec = self.plugins.get(name).ok_or_else(|| {
            let names: Vec<_> = self.plugins.keys().map(|k| format!("`{k}`")).collect();
            Error::new(
                ErrorKind::PluginNotFound(name.to_string()),
                format!(
                    "no plugin `{name}` in the manifest (it declares {})",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        })?;
        let mut spec = spec.clone();
        spec.source = self.base_dir.join(&spec.source);
        Ok(spec)
    }
}

/// The `[plugins.NAME...]` table that text ending at `before` is inside.
fn plugin_at(before: &str) -> Option<String> {
    before.lines().rev().find_map(|line| {
        let line = line.trim();
        let inner = line.strip_prefix('[')?.trim_start_matches('[');
        let rest = inner.strip_prefix("plugins.")?;
        let name: String = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.split('"').next()?.to_string()
        } else {
            rest.split(['.', ']']).next()?.trim().to_string()
        };
        Some(name)
    })
}
