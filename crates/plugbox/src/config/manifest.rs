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
//! [plugins.greeter.limits]      # --fuel, --timeout, --max-memory, ...
//! timeout = "250ms"
//! max-memory = "64MiB"
//!
//! [plugins.greeter.sandbox]     # --dir, --ro-dir, --env, --inherit-env, ...
//! ro-dir = ["data::/data"]
//! env = { MODE = "fast" }
//!
//! [plugins.site]                # a wasi:http component, for plugbox serve
//! source = "plugins/site.wasm"
//! route = "/site"
//!
//! [plugins.site.sandbox]
//! allow-host = ["api.example.org"]   # outbound HTTP it may send
//!
//! [kv]                          # every plugin's state: --kv, --data-dir, --kv-*
//! backend = "embedded"          # or "memory", "redis://127.0.0.1:6379/0"
//! path = "state/kv.sqlite3"
//!
//! [plugins.greeter.kv]          # this plugin's overrides
//! max-keys = 1000
//!
//! [server]                      # plugbox serve: --addr, --max-body, ...
//! addr = "127.0.0.1:8080"
//! ```

use super::engine::EngineConfig;
use super::kv::KvConfig;
use super::server::ServerConfig;
use super::spec::PluginSpec;
use super::value::table;
use crate::error::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest manifest plugbox reads: 4 MiB.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// A parsed manifest. Relative paths in it (plugin sources, directory
/// grants, the cache directory) are relative to the manifest's directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Engine settings shared by all plugins.
    #[serde(default, deserialize_with = "table::de")]
    pub engine: EngineConfig,
    /// Plugins by name.
    #[serde(default, deserialize_with = "table::de_map")]
    pub plugins: BTreeMap<String, PluginSpec>,
    /// Key-value settings of every plugin (a plugin's own `kv` table
    /// overrides them).
    #[serde(default, deserialize_with = "table::de")]
    pub kv: KvConfig,
    /// The settings of `plugbox serve`.
    #[serde(default, deserialize_with = "table::de")]
    pub server: ServerConfig,
    /// Directory relative paths are resolved against.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

impl Manifest {
    /// Reads and parses a manifest file (at most 4 MiB, a regular file).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] if unreadable; [`ErrorKind::Config`] naming the
    /// line, the key and the problem for schema errors, and for a file that
    /// is too large or not UTF-8.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = crate::input::read_file(path, Some(MAX_MANIFEST_SIZE))
            .map_err(|e| e.for_config(&format!("manifest `{name}`")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::config(format!(
                "invalid manifest `{name}`: not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&text, &name, &base)
    }

    /// Parses manifest text; `name` is used in messages and `base_dir`
    /// resolves relative paths.
    ///
    /// # Errors
    ///
    /// As [`from_file`](Self::from_file).
    pub fn parse(text: &str, name: &str, base_dir: &Path) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let invalid = |at: String, why: &str| {
            Error::new(
                ErrorKind::Config,
                format!("invalid manifest `{name}`{at}: {}", why.trim()),
            )
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| invalid(location(text, e.span()), e.message()))?;
        let mut manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let plugin = plugin_of(e.path());
            let inner = e.into_inner();
            let mut at = location(text, inner.span());
            if let Some(plugin) = plugin {
                at.push_str(&format!(" (plugin `{plugin}`)"));
            }
            if path != "." && !path.is_empty() {
                at.push_str(&format!(", key `{path}`"));
            }
            invalid(at, inner.message())
        })?;
        manifest.base_dir = base_dir.to_path_buf();
        manifest.server.check().map_err(|e| {
            Error::config(format!(
                "invalid manifest `{name}`: [server]: {}",
                e.message()
            ))
        })?;
        if let Some(dir) = manifest.engine.get_cache_dir()
            && dir.is_relative()
        {
            let dir = base_dir.join(dir);
            manifest.engine = manifest.engine.cache_dir(dir);
        }
        manifest.kv.check().map_err(|e| {
            Error::config(format!("invalid manifest `{name}`: [kv]: {}", e.message()))
        })?;
        manifest.kv.resolve(base_dir);
        for (plugin, spec) in &mut manifest.plugins {
            if plugin.is_empty() {
                return Err(invalid(String::new(), "a plugin name is empty"));
            }
            check_plugin_name(plugin).map_err(|why| invalid(String::new(), &why))?;
            spec.check().map_err(|e| {
                Error::config(format!(
                    "invalid manifest `{name}`: plugin `{plugin}`: {}",
                    e.message()
                ))
            })?;
            spec.resolve(base_dir);
        }
        Ok(manifest)
    }

    /// The engine configuration, with fuel metering turned on when a plugin
    /// sets a fuel limit.
    pub fn engine_config(&self) -> EngineConfig {
        let fuel = self
            .plugins
            .values()
            .any(|p| p.get_limits().get_fuel().is_some());
        if fuel && !self.engine.get_consume_fuel() {
            self.engine.clone().consume_fuel(true)
        } else {
            self.engine.clone()
        }
    }

    /// A plugin's spec, its paths resolved against the manifest directory
    /// and the manifest's `[kv]` under its own.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PluginNotFound`] naming (some of) the plugins that do
    /// exist.
    pub fn plugin(&self, name: &str) -> Result<PluginSpec> {
        if let Some(spec) = self.plugins.get(name) {
            let kv = self.kv.clone().merge(spec.get_kv());
            return Ok(spec.clone().kv(kv));
        }
        Err({
            const SHOWN: usize = 10;
            let mut names: Vec<_> = self
                .plugins
                .keys()
                .take(SHOWN)
                .map(|k| format!("`{k}`"))
                .collect();
            if self.plugins.len() > SHOWN {
                names.push(format!("and {} more", self.plugins.len() - SHOWN));
            }
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
        })
    }
}

/// Refuses a plugin name with a control character (a newline, a tab,
/// ...): names go into URLs, log lines and metrics labels, where such a
/// character would be invisible or break the line.
pub(crate) fn check_plugin_name(name: &str) -> std::result::Result<(), String> {
    match name.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "plugin name `{}` contains a control character (U+{:04X})",
            name.escape_debug(),
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// ` at line L, column C` for a byte span of `text`.
fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let before = &text[..text.floor_char_boundary(span.start.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!(" at line {line}, column {column}")
}

/// The plugin named by a key path such as `plugins.greeter.limits.timeout`.
fn plugin_of(path: &serde_path_to_error::Path) -> Option<String> {
    let mut segments = path.iter();
    match (segments.next(), segments.next()) {
        (
            Some(serde_path_to_error::Segment::Map { key }),
            Some(serde_path_to_error::Segment::Map { key: plugin }),
        ) if key == "plugins" => Some(plugin.clone()),
        _ => None,
    }
}
