//! The `plugbox:plugin` world (`wit/plugin.wit`): the host API plugins may
//! import (log, config, kv) and typed bindings for the `handle` export.

use super::kv::DEFAULT_KV_QUOTA;
use super::state::StoreState;

/// The generated bindings; referred to as `bindings::…` only, so the
/// world's generated `Plugin` type never meets [`crate::Plugin`].
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/plugin.wit",
        world: "plugin",
        exports: { default: async },
    });
}

use bindings::plugbox::plugin::{config, kv, log};

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
