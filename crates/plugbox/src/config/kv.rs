//! Where plugins keep their key-value state, and how much of it (`[kv]` and
//! `[plugins.NAME.kv]` in a manifest, the state flags `--kv`, `--data-dir`,
//! `--kv-*`).

use super::value::{OrNone, check_duration, merge_fields, serde_units};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The shortest `op-timeout`: a Redis round trip on a loaded host takes
/// milliseconds, and every write first reads Redis's clock for its fence,
/// so below this every operation would end `unavailable` before Redis could
/// answer.
pub const MIN_KV_OP_TIMEOUT: Duration = Duration::from_millis(10);

/// Default cap on a key: 256 bytes.
pub const DEFAULT_KV_MAX_KEY_SIZE: u64 = 256;
/// Default cap on a value: 1 MiB.
pub const DEFAULT_KV_MAX_VALUE_SIZE: u64 = 1 << 20;
/// Default quota of a plugin's keys and values together: 16 MiB.
pub const DEFAULT_KV_MAX_TOTAL_SIZE: u64 = 16 << 20;
/// Default quota of a plugin's keys: 100 000.
pub const DEFAULT_KV_MAX_KEYS: u64 = 100_000;
/// Default longest wait for the backend in one operation: 1 s.
pub const DEFAULT_KV_OP_TIMEOUT: Duration = Duration::from_secs(1);
/// The embedded store's file name in the data directory.
pub const EMBEDDED_FILE: &str = "kv.sqlite3";
const MAX_KEY_SIZE_LIMIT: u64 = 64 << 10;
const MAX_VALUE_SIZE_LIMIT: u64 = 512 << 20;
const MAX_NAME_LEN: usize = 128;

/// Which store holds the plugins' state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvBackendKind {
    /// In this process's memory: gone when it exits (tests, caches).
    Memory,
    /// An embedded SQLite database file: survives reloads, restarts and
    /// crashes; one machine (processes on it may share the file).
    Embedded,
    /// A Redis server, `redis://[:PASSWORD@]HOST[:PORT][/DB]`: shared by
    /// every process and machine that points at it.
    Redis(String),
}

impl std::str::FromStr for KvBackendKind {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.trim() {
            "memory" => Ok(Self::Memory),
            "embedded" => Ok(Self::Embedded),
            url if url.starts_with("redis://") && url.len() > "redis://".len() => {
                Ok(Self::Redis(url.to_string()))
            }
            url if url.starts_with("rediss://") => Err(format!(
                "invalid kv backend `{}`: TLS (`rediss://`) is not built into plugbox; use `redis://` on a trusted network",
                redact(url)
            )),
            other => Err(format!(
                "invalid kv backend `{}`: expected `memory`, `embedded` or `redis://HOST:PORT/DB`",
                redact(other)
            )),
        }
    }
}

impl std::fmt::Display for KvBackendKind {
    /// The backend as written, except a Redis password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Embedded => f.write_str("embedded"),
            Self::Redis(url) => f.write_str(&redact(url)),
        }
    }
}

impl Serialize for KvBackendKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Redis(url) => s.serialize_str(url),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for KvBackendKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `url` without the password of its user information.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{path}"),
        None => url.to_string(),
    }
}

/// The key-value state of a plugin: which backend, which namespace, and
/// the quotas every write is checked against.
///
/// A manifest's `[kv]` table applies to every plugin; a plugin's
/// `[plugins.NAME.kv]` overrides it key by key; the flags override both.
/// A plugin's keys live in its namespace — its name, or `namespace`, after
/// `tenant/` when a tenant is set — so plugins never see each other's keys.
///
/// ```
/// use plugbox::{KvBackendKind, KvConfig};
/// let kv = KvConfig::new().backend(KvBackendKind::Embedded).data_dir("/var/lib/plugbox").max_keys(1000);
/// assert_eq!(kv.get_path().unwrap(), std::path::Path::new("/var/lib/plugbox/kv.sqlite3"));
/// assert_eq!(KvConfig::new().get_backend(), KvBackendKind::Memory);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "State"))]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct KvConfig {
    /// Where plugins keep their key-value state: memory, embedded (a SQLite file) or redis://HOST:PORT/DB [default: memory; embedded when path or data-dir is set]
    #[cfg_attr(feature = "cli", arg(long = "kv", value_name = "memory|embedded|URL", value_parser = super::value::parse_from_str::<KvBackendKind>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    backend: Option<KvBackendKind>,

    /// Directory of persistent state, relative to the manifest [default: $XDG_DATA_HOME/plugbox]
    #[cfg_attr(feature = "cli", arg(long = "data-dir", value_name = "DIR"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,

    /// The embedded database file, relative to the manifest [default: DATA-DIR/kv.sqlite3]
    #[cfg_attr(feature = "cli", arg(long = "kv-path", value_name = "FILE"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,

    /// Prefix of every plugin's namespace (TENANT/NAMESPACE), to share a backend between tenants [default: none]
    #[cfg_attr(feature = "cli", arg(long = "kv-tenant", value_name = "NAME"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,

    /// The plugin's namespace: plugins with the same one share their keys [default: the plugin's name; CLI: the file's stem]
    #[cfg_attr(feature = "cli", arg(long = "kv-namespace", value_name = "NAME"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,

    /// Largest key, at most 64KiB [default: 256B]
    #[cfg_attr(feature = "cli", arg(long = "kv-max-key-size", value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    max_key_size: Option<u64>,

    /// Largest value, at most 512MiB [default: 1MiB]
    #[cfg_attr(feature = "cli", arg(long = "kv-max-value-size", value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    max_value_size: Option<u64>,

    /// Quota of one plugin's keys and values together, or `none` [default: 16MiB]
    #[cfg_attr(feature = "cli", arg(long = "kv-max-total-size", value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_total_size: Option<OrNone<u64>>,

    /// Quota of one plugin's keys, or `none` [default: 100000]
    #[cfg_attr(feature = "cli", arg(long = "kv-max-keys", value_name = "N", value_parser = super::value::parse_count_or_none))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_count_or_none",
        serialize_with = "serde_units::ser_count_or_none"
    )]
    max_keys: Option<OrNone<u64>>,

    /// Longest wait for the backend in one operation, and never past the call's deadline, at least 10ms [default: 1s]
    #[cfg_attr(feature = "cli", arg(long = "kv-op-timeout", value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    op_timeout: Option<Duration>,
}

impl KvConfig {
    /// The defaults: in memory, the plugin's name as namespace, 256 B keys,
    /// 1 MiB values, 16 MiB and 100 000 keys per plugin, 1 s per operation.
    pub fn new() -> Self {
        Self::default()
    }

    /// `self` with the settings `over` sets (a plugin's table over `[kv]`,
    /// flags over a manifest).
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        merge_fields!(base, over;
            set: backend, data_dir, path, tenant, namespace, max_key_size, max_value_size,
                 max_total_size, max_keys, op_timeout;
            lists: );
        self
    }

    /// Makes relative paths (the data directory, the database file)
    /// relative to `base`.
    pub(crate) fn resolve(&mut self, base: &Path) {
        for path in [&mut self.data_dir, &mut self.path].into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    /// The backend. Default: [`KvBackendKind::Memory`], or
    /// [`KvBackendKind::Embedded`] when a [`path`](Self::path) or a
    /// [`data_dir`](Self::data_dir) is set.
    pub fn backend(mut self, backend: KvBackendKind) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The backend in force.
    pub fn get_backend(&self) -> KvBackendKind {
        match &self.backend {
            Some(b) => b.clone(),
            None if self.path.is_some() || self.data_dir.is_some() => KvBackendKind::Embedded,
            None => KvBackendKind::Memory,
        }
    }

    /// The directory of persistent state. Default: `$XDG_DATA_HOME/plugbox`,
    /// or `~/.local/share/plugbox`.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The data directory in force, if one is set or the environment names
    /// a home.
    pub fn get_data_dir(&self) -> Option<PathBuf> {
        self.data_dir.clone().or_else(default_data_dir)
    }

    /// The embedded database file. Default: `kv.sqlite3` in the
    /// [data directory](Self::data_dir).
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The embedded database file in force.
    pub fn get_path(&self) -> Option<PathBuf> {
        self.path
            .clone()
            .or_else(|| Some(self.get_data_dir()?.join(EMBEDDED_FILE)))
    }

    /// A prefix of every plugin's namespace, so tenants sharing a backend
    /// never see each other's keys. Default: none.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The tenant.
    pub fn get_tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// The plugin's namespace. Default: the plugin's name.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The namespace set, if any.
    pub fn get_namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The full namespace of plugin `plugin`: `TENANT/NAMESPACE`.
    pub fn namespace_of(&self, plugin: &str) -> String {
        let own = self.namespace.as_deref().unwrap_or(plugin);
        match &self.tenant {
            Some(tenant) => format!("{tenant}/{own}"),
            None => own.to_string(),
        }
    }

    /// Largest key, in bytes. Default: 256 B.
    pub fn max_key_size(mut self, bytes: u64) -> Self {
        self.max_key_size = Some(bytes);
        self
    }

    /// The key size cap.
    pub fn get_max_key_size(&self) -> u64 {
        self.max_key_size.unwrap_or(DEFAULT_KV_MAX_KEY_SIZE)
    }

    /// Largest value, in bytes. Default: 1 MiB.
    pub fn max_value_size(mut self, bytes: u64) -> Self {
        self.max_value_size = Some(bytes);
        self
    }

    /// The value size cap.
    pub fn get_max_value_size(&self) -> u64 {
        self.max_value_size.unwrap_or(DEFAULT_KV_MAX_VALUE_SIZE)
    }

    /// Quota of one plugin's keys and values together, in bytes. Default:
    /// 16 MiB. `None` removes it.
    pub fn max_total_size(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_total_size = Some(OrNone(bytes.into()));
        self
    }

    /// The byte quota.
    pub fn get_max_total_size(&self) -> Option<u64> {
        self.max_total_size
            .map_or(Some(DEFAULT_KV_MAX_TOTAL_SIZE), |m| m.0)
    }

    /// Quota of one plugin's keys. Default: 100 000. `None` removes it.
    pub fn max_keys(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_keys = Some(OrNone(n.into()));
        self
    }

    /// The key count quota.
    pub fn get_max_keys(&self) -> Option<u64> {
        self.max_keys.map_or(Some(DEFAULT_KV_MAX_KEYS), |m| m.0)
    }

    /// Longest wait for the backend in one operation; a guest's operation
    /// also ends before its call's deadline, so the guest gets the error
    /// with time left to handle it. Default: 1 s; at least
    /// [`MIN_KV_OP_TIMEOUT`] (10 ms).
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = Some(timeout);
        self
    }

    /// The operation timeout.
    pub fn get_op_timeout(&self) -> Duration {
        self.op_timeout.unwrap_or(DEFAULT_KV_OP_TIMEOUT)
    }

    /// Checks the values, without touching the file system or the network.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting.
    pub fn check(&self) -> Result<()> {
        let key = self.get_max_key_size();
        if key == 0 || key > MAX_KEY_SIZE_LIMIT {
            return Err(Error::config(format!(
                "invalid max-key-size `{}`: must be between 1 byte and 64 KiB",
                crate::units::format_size(key)
            )));
        }
        let value = self.get_max_value_size();
        if value == 0 || value > MAX_VALUE_SIZE_LIMIT {
            return Err(Error::config(format!(
                "invalid max-value-size `{}`: must be between 1 byte and 512 MiB",
                crate::units::format_size(value)
            )));
        }
        let timeout = self.get_op_timeout();
        check_duration("op-timeout", timeout)?;
        if timeout < MIN_KV_OP_TIMEOUT {
            return Err(Error::config(format!(
                "invalid op-timeout `{}`: must be at least {}",
                crate::units::format_duration(timeout),
                crate::units::format_duration(MIN_KV_OP_TIMEOUT)
            )));
        }
        if let Some(tenant) = &self.tenant {
            check_name("tenant", tenant)?;
            if tenant.contains('/') {
                return Err(Error::config(format!(
                    "invalid tenant `{}`: must not contain `/`",
                    crate::text::printable(tenant)
                )));
            }
        }
        if let Some(namespace) = &self.namespace {
            check_name("namespace", namespace)?;
        }
        if self.path.is_some() && matches!(&self.backend, Some(b) if *b != KvBackendKind::Embedded)
        {
            return Err(Error::config(format!(
                "kv path `{}` is only for the embedded backend, and the backend is `{}`",
                self.path.as_deref().unwrap_or(Path::new("")).display(),
                self.get_backend()
            )));
        }
        Ok(())
    }
}

/// Checks a namespace part: 1 to 128 bytes, no control characters, no
/// braces (Redis hash tags).
fn check_name(what: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name.chars().any(|c| c.is_control() || c == '{' || c == '}');
    if bad {
        return Err(Error::config(format!(
            "invalid kv {what} `{}`: must be 1 to {MAX_NAME_LEN} bytes with no control characters or braces",
            crate::text::printable(name)
        )));
    }
    Ok(())
}

/// `$XDG_DATA_HOME/plugbox`, or `$HOME/.local/share/plugbox` (on Windows
/// `%LOCALAPPDATA%\plugbox`).
fn default_data_dir() -> Option<PathBuf> {
    let absolute = |var: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if cfg!(windows) {
        return absolute("LOCALAPPDATA").map(|d| d.join("plugbox"));
    }
    absolute("XDG_DATA_HOME")
        .map(|d| d.join("plugbox"))
        .or_else(|| absolute("HOME").map(|h| h.join(".local/share/plugbox")))
}
