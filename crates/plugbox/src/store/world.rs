//! The `plugbox:plugin` world (`wit/plugin.wit`): the host API plugins may
//! import (log, config, kv) and typed bindings for the `handle` export.

use super::host_fn::HostFnFailed;
use super::state::StoreState;
use crate::error::{Error, ErrorKind, KvErrorKind};
use std::sync::Arc;

/// Receives what a `plugbox:plugin` component logs: `(level, message)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The generated bindings; referred to as `bindings::…` only, so the
/// world's generated `Plugin` type never meets [`crate::Plugin`].
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/plugin.wit",
        world: "plugin",
        imports: { "plugbox:plugin/kv": async | trappable },
        exports: { default: async },
    });
}

use bindings::plugbox::plugin::{config, kv, log};

impl log::Host for StoreState {
    fn log(&mut self, level: log::Level, message: String) {
        let plugin = &**self.plugin_name();
        match level {
            log::Level::Trace => tracing::trace!(plugin, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
        if let Some(sink) = &self.shared.log_sink {
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
        self.shared.config.get(&key).cloned()
    }

    fn keys(&mut self) -> Vec<String> {
        self.shared.config.keys().cloned().collect()
    }
}

/// What the guest learns of a failure: its kind, and for quota and
/// invalid-input errors what was wrong; an unconfirmed write is told apart
/// from a failed one. A backend's failure is logged here
/// in full; the guest is not told the host's paths or addresses.
pub(crate) fn guest_message(plugin: &str, e: &Error) -> (KvErrorKind, String) {
    match e.kind() {
        ErrorKind::Kv(kind @ (KvErrorKind::QuotaExceeded | KvErrorKind::Invalid)) => {
            (*kind, e.message().to_string())
        }
        ErrorKind::Kv(KvErrorKind::OutcomeUnknown) => {
            tracing::warn!(plugin, error = %format!("{e:#}"), "key-value write unconfirmed");
            (
                KvErrorKind::OutcomeUnknown,
                "the key-value store did not confirm the write: it was applied before the \
                 operation's deadline or never will be; read the key to know"
                    .into(),
            )
        }
        _ => {
            tracing::warn!(plugin, error = %format!("{e:#}"), "key-value backend failed");
            (
                KvErrorKind::Unavailable,
                "the key-value store is unavailable (it failed or did not answer in time)".into(),
            )
        }
    }
}

fn to_wit(plugin: &str, e: &Error) -> kv::Error {
    match guest_message(plugin, e) {
        (KvErrorKind::QuotaExceeded, m) => kv::Error::QuotaExceeded(m),
        (KvErrorKind::Invalid, m) => kv::Error::Invalid(m),
        (KvErrorKind::OutcomeUnknown, m) => kv::Error::OutcomeUnknown(m),
        (_, m) => kv::Error::Unavailable(m),
    }
}

/// A failure of a first-version function, which has no error to return:
/// it fails the call, as a host function error naming the function.
fn trap(function: &str, e: Error) -> wasmtime::Error {
    wasmtime::Error::new(HostFnFailed {
        name: format!("plugbox:plugin/kv#{function}"),
        source: Box::new(e),
    })
}

type KvResult<T> = wasmtime::Result<Result<T, kv::Error>>;

impl kv::Host for StoreState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let kv = self.call_kv();
        kv.get_async(&key).await.map_err(|e| trap("get", e))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let kv = self.call_kv();
        let out = kv.set_async(&key, value).await;
        Ok(out.map_err(|e| guest_message(self.plugin_name(), &e).1))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        let kv = self.call_kv();
        kv.delete_async(&key).await.map_err(|e| trap("delete", e))
    }

    async fn keys(&mut self) -> wasmtime::Result<Vec<String>> {
        let kv = self.call_kv();
        kv.keys_async().await.map_err(|e| trap("keys", e))
    }

    async fn try_get(&mut self, key: String) -> KvResult<Option<Vec<u8>>> {
        let kv = self.call_kv();
        Ok(kv
            .get_async(&key)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn try_set(&mut self, key: String, value: Vec<u8>) -> KvResult<()> {
        let kv = self.call_kv();
        Ok(kv
            .set_async(&key, value)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn try_delete(&mut self, key: String) -> KvResult<bool> {
        let kv = self.call_kv();
        Ok(kv
            .delete_async(&key)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn exists(&mut self, key: String) -> KvResult<bool> {
        let kv = self.call_kv();
        Ok(kv
            .exists_async(&key)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn list_keys(&mut self, cursor: Option<u64>, limit: u32) -> KvResult<kv::KeyPage> {
        let kv = self.call_kv();
        Ok(kv
            .list_keys_async(cursor, limit)
            .await
            .map(|p| kv::KeyPage {
                keys: p.keys,
                cursor: p.cursor,
            })
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn increment(&mut self, key: String, delta: i64) -> KvResult<i64> {
        let kv = self.call_kv();
        Ok(kv
            .increment_async(&key, delta)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> KvResult<bool> {
        let kv = self.call_kv();
        let out = kv
            .compare_and_swap_async(&key, expected.as_deref(), value)
            .await;
        Ok(out.map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn get_many(&mut self, keys: Vec<String>) -> KvResult<Vec<Option<Vec<u8>>>> {
        let kv = self.call_kv();
        Ok(kv
            .get_many_async(&keys)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn set_many(&mut self, entries: Vec<(String, Vec<u8>)>) -> KvResult<()> {
        let kv = self.call_kv();
        Ok(kv
            .set_many_async(entries)
            .await
            .map_err(|e| to_wit(self.plugin_name(), &e)))
    }

    async fn delete_many(&mut self, keys: Vec<String>) -> KvResult<u32> {
        let kv = self.call_kv();
        let out = kv.delete_many_async(keys).await;
        Ok(out
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| to_wit(self.plugin_name(), &e)))
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
