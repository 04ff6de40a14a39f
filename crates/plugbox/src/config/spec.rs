//! One plugin's settings (`[plugins.NAME]` in a manifest, the plugin flags
//! of `run` and `call`).

use super::kv::KvConfig;
use super::limits::Limits;
use super::sandbox::Sandbox;
use super::value::{check_duration, merge_fields, serde_units};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a call waits for a free slot by default: 1 s.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(1);

/// How a managed plugin's calls get instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every call gets a fresh instance: nothing leaks between calls (the
    /// default).
    #[default]
    Stateless,
    /// One long-lived instance whose memory persists; calls are serialised.
    Stateful,
}

/// One plugin: its source, how it is called, its limits and its grants.
///
/// A manifest's `[plugins.NAME]` table, and the flags of `plugbox run` /
/// `plugbox call` (same names; flags override the manifest).
/// [`Plugin::from_spec`](crate::Plugin::from_spec) builds a plugin from it;
/// [`PluginManager::load`](crate::PluginManager::load) takes one.
///
/// ```
/// use plugbox::{Limits, Mode, PluginSpec};
/// use std::time::Duration;
/// let spec = PluginSpec::new("plugins/greeter.wasm")
///     .mode(Mode::Stateful)
///     .limits(Limits::new().timeout(Duration::from_millis(250)));
/// assert_eq!(spec.get_mode(), Mode::Stateful);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Plugin"))]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginSpec {
    /// The `.wasm`/`.wat`/`.cwasm` file (relative to the manifest).
    #[cfg_attr(feature = "cli", arg(skip))]
    source: PathBuf,

    /// Refuse the source unless its SHA-256 is this (64 hex digits) [default: none]
    #[cfg_attr(feature = "cli", arg(long, value_name = "HEX"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,

    /// Instances: a fresh one per call, or one kept across calls [default: stateless]
    #[cfg_attr(feature = "cli", arg(long, value_name = "MODE"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,

    /// Calls running at once; more wait for `queue-timeout`, then fail as busy [default: unlimited]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_concurrency: Option<u32>,

    /// How long a call waits for a free slot [default: 1s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    queue_timeout: Option<Duration>,

    /// Accept a precompiled .cwasm (native code: only if you trust it) [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    allow_precompiled: Option<bool>,

    /// A read-only configuration value for the plugin: KEY=VALUE (repeatable)
    #[cfg_attr(feature = "cli", arg(long = "config", value_name = "KEY=VALUE", value_parser = super::value::parse_key_value))]
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_units::de_pairs",
        serialize_with = "serde_units::ser_pairs"
    )]
    config: Vec<(String, String)>,

    /// Where `plugbox serve` mounts a `wasi:http` component: a path prefix.
    #[cfg_attr(feature = "cli", arg(skip))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    route: Option<String>,

    #[cfg_attr(feature = "cli", command(flatten))]
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "super::value::table::de"
    )]
    limits: Limits,

    #[cfg_attr(feature = "cli", command(flatten))]
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "super::value::table::de"
    )]
    sandbox: Sandbox,

    #[cfg_attr(feature = "cli", command(flatten))]
    #[serde(
        default,
        skip_serializing_if = "is_default",
        deserialize_with = "super::value::table::de"
    )]
    kv: KvConfig,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl PluginSpec {
    /// A stateless plugin from `source` with default limits and no grants.
    pub fn new(source: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            ..Self::default()
        }
    }

    /// `self` with the settings `over` sets (flags over a manifest); the
    /// source stays `self`'s.
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        merge_fields!(base, over;
            set: sha256, mode, max_concurrency, queue_timeout, allow_precompiled, route;
            lists: config);
        self.limits = self.limits.merge(&over.limits);
        self.sandbox = self.sandbox.merge(&over.sandbox);
        self.kv = self.kv.merge(&over.kv);
        self
    }

    /// Makes relative paths (the source, grants, the kv files) relative to
    /// `base`.
    pub(crate) fn resolve(&mut self, base: &Path) {
        self.source = base.join(&self.source);
        self.sandbox.resolve(base);
        self.kv.resolve(base);
    }

    /// The source file.
    pub fn get_source(&self) -> &Path {
        &self.source
    }

    /// Sets the source file.
    pub fn source(mut self, source: impl Into<PathBuf>) -> Self {
        self.source = source.into();
        self
    }

    /// Sets the mode. Default: [`Mode::Stateless`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The mode.
    pub fn get_mode(&self) -> Mode {
        self.mode.unwrap_or_default()
    }

    /// Sets the limits. Default: [`Limits::default`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits.
    pub fn get_limits(&self) -> &Limits {
        &self.limits
    }

    /// Sets the grants. Default: nothing granted.
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
        self
    }

    /// The grants.
    pub fn get_sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Sets where the plugin's key-value state lives and its quotas.
    /// Default: [`KvConfig::default`] (in memory).
    pub fn kv(mut self, kv: KvConfig) -> Self {
        self.kv = kv;
        self
    }

    /// The key-value settings.
    pub fn get_kv(&self) -> &KvConfig {
        &self.kv
    }

    /// Caps concurrent calls (stateless mode; a stateful plugin runs one
    /// call at a time). Default: unlimited.
    pub fn max_concurrency(mut self, n: impl Into<Option<u32>>) -> Self {
        self.max_concurrency = n.into();
        self
    }

    /// How long a call waits for a free slot before it fails with
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy). Default: 1 s.
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = Some(timeout);
        self
    }

    /// The concurrency cap.
    pub fn get_max_concurrency(&self) -> Option<u32> {
        self.max_concurrency
    }

    /// The queue timeout in force.
    pub fn get_queue_timeout(&self) -> Duration {
        self.queue_timeout.unwrap_or(DEFAULT_QUEUE_TIMEOUT)
    }

    /// Pins the source's SHA-256 (hex, either case). Default: no pin.
    pub fn sha256(mut self, hex: impl Into<String>) -> Self {
        self.sha256 = Some(hex.into());
        self
    }

    /// The pinned SHA-256.
    pub fn get_sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// Accepts a precompiled artifact as source. Default: false.
    pub fn allow_precompiled(mut self, on: bool) -> Self {
        self.allow_precompiled = Some(on);
        self
    }

    /// Whether a precompiled artifact is accepted.
    pub fn get_allow_precompiled(&self) -> bool {
        self.allow_precompiled.unwrap_or(false)
    }

    /// Sets configuration values (replacing any). Default: none.
    pub fn config(mut self, config: BTreeMap<String, String>) -> Self {
        self.config = config.into_iter().collect();
        self
    }

    /// The configuration values (a later entry for a key wins).
    pub fn get_config(&self) -> BTreeMap<String, String> {
        self.config.iter().cloned().collect()
    }

    /// Sets where `plugbox serve` mounts the plugin when it is a
    /// `wasi:http` component: a path prefix such as `/api` (matched on
    /// whole segments; the guest sees the full path). Default: `/NAME`
    /// for a manifest entry, `/` for the one file of `plugbox serve FILE`.
    pub fn route(mut self, prefix: impl Into<String>) -> Self {
        self.route = Some(prefix.into());
        self
    }

    /// The route, when one is set.
    pub fn get_route(&self) -> Option<&str> {
        self.route.as_deref()
    }

    /// Checks the values, without touching the file system (the source and
    /// the granted directories are checked when the plugin is built).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting.
    pub fn check(&self) -> Result<()> {
        if let Some(hash) = &self.sha256
            && (hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()))
        {
            return Err(Error::config(format!(
                "invalid sha256 `{hash}`: must be 64 hex digits"
            )));
        }
        if self.max_concurrency == Some(0) {
            return Err(Error::config(
                "invalid max-concurrency `0`: must be at least 1",
            ));
        }
        if let Some(route) = &self.route {
            check_route(route)?;
        }
        check_duration("queue-timeout", self.get_queue_timeout())?;
        self.kv.check()
    }
}

/// A route is an absolute path prefix: `/`, or `/` and segments of URL
/// path characters, without a query, a fragment, `.` or `..` segments, or
/// a trailing `/`.
pub(crate) fn check_route(route: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::config(format!("invalid route `{route}`: {why}")));
    if !route.starts_with('/') {
        return bad("must start with `/`");
    }
    if route == "/" {
        return Ok(());
    }
    if route.ends_with('/') {
        return bad("must not end with `/` (write `/api`, it matches `/api/...` too)");
    }
    for segment in route[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return bad("empty, `.` and `..` segments are not allowed");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&b))
        {
            return bad("only URL path characters are allowed (no `?`, `#` or spaces)");
        }
    }
    Ok(())
}
