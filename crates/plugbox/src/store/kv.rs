//! A plugin's key-value store (`plugbox:plugin/kv`) and its log sink.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Receives what a `plugbox:plugin` component logs: `(level, message)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

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
