//! The contract every backend keeps, and the values it speaks in.
//!
//! Every operation acts on one namespace (a plugin's keys) and is atomic
//! on its own: a write that would take the namespace past its [`Quota`]
//! changes nothing, and a batch write is all or nothing. Counters are
//! stored as decimal text (`"42"`), as Redis and `wasi:keyvalue` do.

use crate::error::{Error, ErrorKind, KvErrorKind, Result};
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

/// The future of a backend operation.
pub type KvFuture<T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'static>>;

/// What one namespace may hold; writes past it fail with
/// [`KvErrorKind::QuotaExceeded`] and change nothing. A write that does not
/// grow the namespace is always allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// Most bytes of keys and values together, if capped.
    pub max_total_size: Option<u64>,
    /// Most keys, if capped.
    pub max_keys: Option<u64>,
}

/// A page of keys and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// The keys of this page.
    pub keys: Vec<String>,
    /// Where the next page starts; `None` after the last one.
    pub cursor: Option<u64>,
}

/// How much a namespace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Keys.
    pub keys: u64,
    /// Bytes of keys and values together.
    pub bytes: u64,
}

/// A store of namespaced key-value pairs. Implemented by
/// [`MemoryBackend`](super::MemoryBackend),
/// [`EmbeddedBackend`](super::EmbeddedBackend) and
/// [`RedisBackend`](super::RedisBackend); an embedder may bring its own.
///
/// `deadline` is when the caller stops waiting: a backend that cannot
/// answer by then fails with [`KvErrorKind::Unavailable`] when it wrote
/// nothing, and with [`KvErrorKind::OutcomeUnknown`] when a write may
/// have been applied before the deadline; either way, a write must never
/// be applied after its deadline (the caller has been told it failed).
/// Keys and values reach a backend already checked against the size caps.
///
/// Listing: `cursor` is `None` for the first page and the previous page's
/// cursor after that. Every key present for the whole listing is returned
/// at least once (Redis may return one twice); `limit` bounds a page (for
/// Redis it is a hint).
pub trait KvBackend: Send + Sync + 'static {
    /// What it is, for messages: `memory`, `embedded `kv.sqlite3``, ...
    fn describe(&self) -> String;

    /// The values of `keys`, in order (`None` where absent).
    fn get_many(
        &self,
        ns: &str,
        keys: Vec<String>,
        deadline: Instant,
    ) -> KvFuture<Vec<Option<Vec<u8>>>>;

    /// Sets every pair (a later pair for the same key wins), all or none.
    fn set_many(
        &self,
        ns: &str,
        entries: Vec<(String, Vec<u8>)>,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<()>;

    /// Deletes the keys that exist; how many did.
    fn delete_many(&self, ns: &str, keys: Vec<String>, deadline: Instant) -> KvFuture<u64>;

    /// Whether `key` exists.
    fn exists(&self, ns: &str, key: String, deadline: Instant) -> KvFuture<bool>;

    /// One page of keys.
    fn list_keys(
        &self,
        ns: &str,
        cursor: Option<u64>,
        limit: u32,
        deadline: Instant,
    ) -> KvFuture<KeyPage>;

    /// Adds `delta` to the decimal integer at `key` (absent: 0); the new
    /// value.
    fn increment(
        &self,
        ns: &str,
        key: String,
        delta: i64,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<i64>;

    /// Sets `key` to `value` if its value is `expected` (`None`: absent);
    /// whether it did.
    fn compare_and_swap(
        &self,
        ns: &str,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        quota: Quota,
        deadline: Instant,
    ) -> KvFuture<bool>;

    /// How much the namespace holds.
    fn usage(&self, ns: &str, deadline: Instant) -> KvFuture<Usage>;
}

/// A key-value error of `kind`.
pub(crate) fn kv_error(kind: KvErrorKind, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Kv(kind), message)
}

/// The quota error for a write that would bring `ns` to `keys` keys or
/// `bytes` bytes, if it would pass `quota`.
pub(crate) fn over_quota(ns: &str, quota: Quota, grows: Usage, after: Usage) -> Option<Error> {
    if let Some(max) = quota.max_keys
        && grows.keys > 0
        && after.keys > max
    {
        return Some(kv_error(
            KvErrorKind::QuotaExceeded,
            format!("kv quota of {max} keys of `{ns}` exceeded"),
        ));
    }
    if let Some(max) = quota.max_total_size
        && grows.bytes > 0
        && after.bytes > max
    {
        return Some(kv_error(
            KvErrorKind::QuotaExceeded,
            format!("kv quota of {max} bytes of `{ns}` exceeded"),
        ));
    }
    None
}

/// Parses a stored counter: a decimal integer as Redis writes one (`-12`;
/// no sign on positives, no leading zeros, no spaces).
pub(crate) fn parse_counter(ns: &str, key: &str, value: &[u8]) -> Result<i64> {
    let text = std::str::from_utf8(value).ok();
    let canonical = text.filter(|t| {
        let digits = t.strip_prefix('-').unwrap_or(t);
        !digits.is_empty()
            && digits.len() <= 19
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
            && *t != "-0"
    });
    canonical.and_then(|t| t.parse().ok()).ok_or_else(|| {
        kv_error(
            KvErrorKind::Invalid,
            format!(
                "value of `{}` in `{ns}` is not a decimal integer",
                crate::text::printable(key)
            ),
        )
    })
}

/// `current + delta`, or the overflow error.
pub(crate) fn add_counter(ns: &str, key: &str, current: i64, delta: i64) -> Result<i64> {
    current.checked_add(delta).ok_or_else(|| {
        kv_error(
            KvErrorKind::Invalid,
            format!(
                "increment of `{}` in `{ns}` would overflow",
                crate::text::printable(key)
            ),
        )
    })
}
