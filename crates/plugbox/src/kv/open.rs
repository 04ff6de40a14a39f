//! Opening the backend a [`KvConfig`] names, once per host: plugins (and a
//! plugin's next versions) configured alike share one backend.

use super::backend::KvBackend;
use super::embedded::EmbeddedBackend;
use super::memory::MemoryBackend;
use super::redis::RedisBackend;
use crate::config::{KvBackendKind, KvConfig};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Opens the backend `config` names: a new in-memory store, the embedded
/// database file (created if needed), or a Redis client (connecting on
/// first use).
///
/// # Errors
///
/// [`ErrorKind::Config`](crate::ErrorKind::Config) for a bad Redis URL or
/// no data directory to put the embedded file in;
/// [`ErrorKind::Io`](crate::ErrorKind::Io) when the file cannot be opened.
pub fn open_backend(config: &KvConfig) -> Result<Arc<dyn KvBackend>> {
    KvBackends::default().open(config)
}

/// The backends one host (a [`PluginManager`](crate::PluginManager), a
/// builder) has opened, by what they are.
#[derive(Clone, Default)]
pub(crate) struct KvBackends {
    opened: Arc<Mutex<HashMap<String, Arc<dyn KvBackend>>>>,
}

impl KvBackends {
    /// The backend `config` names, opened the first time.
    pub(crate) fn open(&self, config: &KvConfig) -> Result<Arc<dyn KvBackend>> {
        let kind = config.get_backend();
        let id = match &kind {
            KvBackendKind::Memory => "memory".to_string(),
            KvBackendKind::Embedded => {
                let path = config.get_path().ok_or_else(|| {
                    Error::config(
                        "the embedded kv backend needs a place for its file: set data-dir or path (neither XDG_DATA_HOME nor HOME is set)",
                    )
                })?;
                let path = std::path::absolute(&path).unwrap_or(path);
                format!("embedded:{}", path.display())
            }
            KvBackendKind::Redis(url) => format!("redis:{url}"),
        };
        let mut opened = self
            .opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(backend) = opened.get(&id) {
            return Ok(backend.clone());
        }
        let backend: Arc<dyn KvBackend> = match kind {
            KvBackendKind::Memory => Arc::new(MemoryBackend::new()),
            KvBackendKind::Embedded => Arc::new(EmbeddedBackend::open(&id["embedded:".len()..])?),
            KvBackendKind::Redis(url) => Arc::new(RedisBackend::open(&url)?),
        };
        opened.insert(id, backend.clone());
        Ok(backend)
    }
}
