//! The `plugbox:plugin` world (`wit/plugin.wit`): the host API plugins may
//! import (log, config, kv) and typed bindings for the `handle` export.

use crate::instance::StoreState;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

wasmtime::component::bindgen!({
    path: "wit/plugin.wit",
    world: "plugin",
});

use self::plugbox::plugin::{config, kv, log};

/// Default quota of a plugin's key-value store: 1 MiB of keys and values.
pub const DEFAULT_KV_QUOTA: usize = 1 << 20;

/// A plugin's key-value store, shared by all its instances.
#[derive(Debug, Clone, Default)]
pub struct KvStore {
    inner: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl KvStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A value, if set.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().get(key).cloned()
    }

    /// Sets a value, refusing to grow past `quota` bytes of keys and values.
    ///
    /// # Errors
    ///
    /// A message naming the key and the quota.
    pub fn set(&self, key: &str, value: Vec<u8>, quota: usize) -> Result<(), String> {
        let mut map = self.lock();
        let used: usize = map
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if used + key.len() + value.len() > quota {
            return Err(format!("kv quota of {quota} bytes exceeded by key `{key}`"));
        }
        map.insert(key.to_string(), value);
        Ok(())
    }

    /// Removes a value; whether it existed.
    pub fn delete(&self, key: &str) -> bool {
        self.lock().remove(key).is_some()
    }

    /// All keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl log::Host for StoreState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &*self.plugin_name;
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        if let Some(sink) = &self.log_sink {
            sink(level_name(level), &message);
        }
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Trace => "trace",
        log::Level::Debug => "debug",
        log::Level::Info => "info",
        log::Level::Warn => "warn",
        log::Level::Error => "error",
    }
}

impl config::Host for StoreState {
    fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).cloned()
    }

    fn keys(&mut self) -> Vec<String> {
        self.config.keys().cloned().collect()
    }
}

impl kv::Host for StoreState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.kv.get(&key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        self.kv.set(&key, value, DEFAULT_KV_QUOTA)
    }

    fn delete(&mut self, key: String) -> bool {
        self.kv.delete(&key)
    }

    fn keys(&mut self) -> Vec<String> {
        self.kv.keys()
    }
}

/// Adds the host API to a component linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<StoreState>,
) -> wasmtime::Result<()> {
    log::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(linker, |s| s)?;
    config::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(linker, |s| s)?;
    kv::add_to_linker::<StoreState, wasmtime::component::HasSelf<StoreState>>(linker, |s| s)?;
    Ok(())
}
