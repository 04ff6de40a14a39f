//! [`Kv`]: a plugin's key-value store — a backend, the plugin's namespace
//! in it, its size caps and quotas, and how long an operation may wait.

use super::backend::{KeyPage, KvBackend, Quota, Usage, kv_error};
use crate::config::KvConfig;
use crate::error::{KvErrorKind, Result};
use crate::text::printable;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most keys in one batch operation.
pub const MAX_BATCH: usize = 1000;
/// Most keys in one page of a listing.
pub const MAX_PAGE: u32 = 1000;

/// A plugin's key-value store: what its `plugbox:plugin/kv` and
/// `wasi:keyvalue` imports reach, and what the host reads and writes
/// through [`Plugin::kv`](crate::Plugin::kv). Cheap to clone.
///
/// Every method has a synchronous form and an `_async` one (usable on any
/// executor); errors are [`ErrorKind::Kv`](crate::ErrorKind::Kv) with a
/// [`KvErrorKind`]. An operation waits for the backend at most the
/// configured `op-timeout`; called by a guest, it also ends before the
/// call's deadline, with time left for the guest to handle the error.
///
/// ```
/// # fn main() -> plugbox::Result<()> {
/// use plugbox::{Kv, KvConfig, MemoryBackend};
/// use std::sync::Arc;
/// let kv = Kv::new(Arc::new(MemoryBackend::new()), "greeter", &KvConfig::new())?;
/// kv.set("visits", "41")?;
/// assert_eq!(kv.increment("visits", 1)?, 42);
/// assert_eq!(kv.get("visits")?, Some(b"42".to_vec()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Kv {
    backend: Arc<dyn KvBackend>,
    namespace: Arc<str>,
    max_key: u64,
    max_value: u64,
    quota: Quota,
    op_timeout: Duration,
    /// The deadline of the guest call this handle serves, if any.
    call_deadline: Option<Instant>,
}

impl Kv {
    /// The store of namespace `namespace` in `backend`, with `config`'s
    /// caps, quotas and operation timeout (its backend and namespace
    /// settings are not used here).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) for invalid settings.
    pub fn new(backend: Arc<dyn KvBackend>, namespace: &str, config: &KvConfig) -> Result<Self> {
        config.check()?;
        Ok(Self {
            backend,
            namespace: namespace.into(),
            max_key: config.get_max_key_size(),
            max_value: config.get_max_value_size(),
            quota: Quota {
                max_total_size: config.get_max_total_size(),
                max_keys: config.get_max_keys(),
            },
            op_timeout: config.get_op_timeout(),
            call_deadline: None,
        })
    }

    /// An empty in-memory store with the default caps (for stores that
    /// never run a plugin's code).
    pub(crate) fn memory() -> Self {
        let config = KvConfig::new();
        Self {
            backend: Arc::new(super::memory::MemoryBackend::new()),
            namespace: "".into(),
            max_key: config.get_max_key_size(),
            max_value: config.get_max_value_size(),
            quota: Quota::default(),
            op_timeout: config.get_op_timeout(),
            call_deadline: None,
        }
    }

    /// The namespace (`TENANT/NAME`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn KvBackend> {
        &self.backend
    }

    /// The quotas writes are checked against.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// This store for a guest call ending at `deadline`.
    pub(crate) fn until(&self, deadline: Option<Instant>) -> Self {
        Self {
            call_deadline: deadline,
            ..self.clone()
        }
    }

    /// When the next operation stops waiting: after `op-timeout`, and before
    /// the call's deadline with a tenth of the time left to spare.
    fn deadline(&self) -> Instant {
        let now = Instant::now();
        let op = now.checked_add(self.op_timeout).unwrap_or(now);
        match self.call_deadline {
            Some(call) => op.min(now + call.saturating_duration_since(now).mul_f64(0.9)),
            None => op,
        }
    }

    fn check_key(&self, key: &str) -> Result<()> {
        if key.len() as u64 > self.max_key {
            return Err(kv_error(
                KvErrorKind::Invalid,
                format!(
                    "key `{}…` is {} bytes, more than the cap of {} (max-key-size)",
                    printable(&key[..key.floor_char_boundary(32)]),
                    key.len(),
                    self.max_key
                ),
            ));
        }
        Ok(())
    }

    fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        if value.len() as u64 > self.max_value {
            return Err(kv_error(
                KvErrorKind::Invalid,
                format!(
                    "value of `{}` is {} bytes, more than the cap of {} (max-value-size)",
                    printable(key),
                    value.len(),
                    self.max_value
                ),
            ));
        }
        Ok(())
    }

    fn check_batch(&self, len: usize) -> Result<()> {
        if len > MAX_BATCH {
            return Err(kv_error(
                KvErrorKind::Invalid,
                format!("a batch of {len} keys is more than the cap of {MAX_BATCH}"),
            ));
        }
        Ok(())
    }

    /// The value of `key`, if set.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Invalid`] for a key over the cap,
    /// [`KvErrorKind::Unavailable`] when the backend fails.
    pub async fn get_async(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let mut values = self
            .backend
            .get_many(&self.namespace, vec![key.to_string()], self.deadline())
            .await?;
        Ok(values.pop().flatten())
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Invalid`] for a key or value over its cap,
    /// [`KvErrorKind::QuotaExceeded`], [`KvErrorKind::Unavailable`]
    /// (nothing written), [`KvErrorKind::OutcomeUnknown`] (a Redis write
    /// whose answer never came: applied before its deadline or never).
    pub async fn set_async(&self, key: &str, value: impl Into<Vec<u8>>) -> Result<()> {
        let value = value.into();
        self.check_value(key, &value)?;
        self.backend
            .set_many(
                &self.namespace,
                vec![(key.to_string(), value)],
                self.quota,
                self.deadline(),
            )
            .await
    }

    /// Deletes `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// As [`get_async`](Self::get_async), and
    /// [`KvErrorKind::OutcomeUnknown`] as for [`set_async`](Self::set_async).
    pub async fn delete_async(&self, key: &str) -> Result<bool> {
        self.check_key(key)?;
        let n = self
            .backend
            .delete_many(&self.namespace, vec![key.to_string()], self.deadline())
            .await?;
        Ok(n > 0)
    }

    /// Whether `key` is set.
    ///
    /// # Errors
    ///
    /// As [`get_async`](Self::get_async).
    pub async fn exists_async(&self, key: &str) -> Result<bool> {
        self.check_key(key)?;
        self.backend
            .exists(&self.namespace, key.to_string(), self.deadline())
            .await
    }

    /// One page of at most `limit` keys (at most [`MAX_PAGE`]; 0 means
    /// 100), starting at `cursor` (`None`: the first page). Every key
    /// present during the whole listing comes at least once.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Unavailable`].
    pub async fn list_keys_async(&self, cursor: Option<u64>, limit: u32) -> Result<KeyPage> {
        let limit = if limit == 0 { 100 } else { limit.min(MAX_PAGE) };
        self.backend
            .list_keys(&self.namespace, cursor, limit, self.deadline())
            .await
    }

    /// Every key, sorted.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Unavailable`].
    pub async fn keys_async(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.list_keys_async(cursor, MAX_PAGE).await?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Adds `delta` to the decimal integer stored at `key` (0 when unset)
    /// and returns the sum, atomically.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Invalid`] when the value is not a decimal integer or
    /// the sum overflows, and as [`set_async`](Self::set_async).
    pub async fn increment_async(&self, key: &str, delta: i64) -> Result<i64> {
        self.check_key(key)?;
        self.backend
            .increment(
                &self.namespace,
                key.to_string(),
                delta,
                self.quota,
                self.deadline(),
            )
            .await
    }

    /// Sets `key` to `value` if its value is `expected` (`None`: if it is
    /// not set), atomically; whether it did.
    ///
    /// # Errors
    ///
    /// As [`set_async`](Self::set_async).
    pub async fn compare_and_swap_async(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: impl Into<Vec<u8>>,
    ) -> Result<bool> {
        let value = value.into();
        self.check_value(key, &value)?;
        self.backend
            .compare_and_swap(
                &self.namespace,
                key.to_string(),
                expected.map(<[u8]>::to_vec),
                value,
                self.quota,
                self.deadline(),
            )
            .await
    }

    /// The values of `keys` (at most [`MAX_BATCH`]), in order.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Invalid`] for too many keys, a key over the cap, or
    /// values adding up to more than the plugin's byte quota; and
    /// [`KvErrorKind::Unavailable`].
    pub async fn get_many_async(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        self.check_batch(keys.len())?;
        let mut unique: Vec<String> = Vec::with_capacity(keys.len());
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
        for key in keys {
            self.check_key(key)?;
            index.entry(key).or_insert_with(|| {
                unique.push(key.clone());
                unique.len() - 1
            });
        }
        let values = self
            .backend
            .get_many(&self.namespace, unique, self.deadline())
            .await?;
        let total: u64 = keys
            .iter()
            .filter_map(|k| values[index[k.as_str()]].as_ref())
            .map(|v| v.len() as u64)
            .sum();
        if let Some(max) = self.quota.max_total_size
            && total > max
        {
            return Err(kv_error(
                KvErrorKind::Invalid,
                format!(
                    "the values asked for add up to {total} bytes, more than the quota of {max}"
                ),
            ));
        }
        Ok(keys
            .iter()
            .map(|k| values[index[k.as_str()]].clone())
            .collect())
    }

    /// Sets every pair (at most [`MAX_BATCH`]; a later pair for the same key
    /// wins), all or none.
    ///
    /// # Errors
    ///
    /// As [`set_async`](Self::set_async), and [`KvErrorKind::Invalid`] for
    /// too many pairs.
    pub async fn set_many_async(&self, entries: Vec<(String, Vec<u8>)>) -> Result<()> {
        self.check_batch(entries.len())?;
        for (key, value) in &entries {
            self.check_value(key, value)?;
        }
        self.backend
            .set_many(&self.namespace, entries, self.quota, self.deadline())
            .await
    }

    /// Deletes the keys that exist (at most [`MAX_BATCH`]); how many did.
    ///
    /// # Errors
    ///
    /// As [`get_many_async`](Self::get_many_async), and
    /// [`KvErrorKind::OutcomeUnknown`] as for [`set_async`](Self::set_async).
    pub async fn delete_many_async(&self, keys: Vec<String>) -> Result<u64> {
        self.check_batch(keys.len())?;
        for key in &keys {
            self.check_key(key)?;
        }
        self.backend
            .delete_many(&self.namespace, keys, self.deadline())
            .await
    }

    /// How many keys and bytes the namespace holds.
    ///
    /// # Errors
    ///
    /// [`KvErrorKind::Unavailable`].
    pub async fn usage_async(&self) -> Result<Usage> {
        self.backend.usage(&self.namespace, self.deadline()).await
    }
}

impl std::fmt::Debug for Kv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kv")
            .field("backend", &self.backend.describe())
            .field("namespace", &self.namespace)
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}
