//! The in-memory backend: a map per namespace in this process, gone when
//! it exits. For tests and state that may be lost.

use super::backend::{
    KeyPage, KvBackend, KvFuture, Quota, Usage, add_counter, over_quota, parse_counter,
};
use crate::error::Result;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Keys and values in this process's memory. Cheap to clone (clones share
/// the data): pass one to several plugins, or to a plugin's next version,
/// to keep its state.
#[derive(Clone, Default)]
pub struct MemoryBackend {
    spaces: Arc<Mutex<HashMap<String, Space>>>,
}

/// One namespace. Each key keeps the sequence number of its insertion, so
/// a listing cursor survives inserts and deletes around it.
#[derive(Default)]
struct Space {
    entries: HashMap<String, (u64, Vec<u8>)>,
    order: BTreeMap<u64, String>,
    next: u64,
    bytes: u64,
}

impl Space {
    fn usage(&self) -> Usage {
        Usage {
            keys: self.entries.len() as u64,
            bytes: self.bytes,
        }
    }

    fn put(&mut self, key: String, value: Vec<u8>) {
        match self.entries.get_mut(&key) {
            Some((_, old)) => {
                self.bytes = self.bytes - old.len() as u64 + value.len() as u64;
                *old = value;
            }
            None => {
                self.next += 1;
                self.bytes += (key.len() + value.len()) as u64;
                self.order.insert(self.next, key.clone());
                self.entries.insert(key, (self.next, value));
            }
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some((seq, value)) => {
                self.order.remove(&seq);
                self.bytes -= (key.len() + value.len()) as u64;
                true
            }
            None => false,
        }
    }

    /// Checks that writing `entries` stays within `quota`.
    fn admit(&self, ns: &str, entries: &[(&str, usize)], quota: Quota) -> Result<()> {
        let mut sizes: HashMap<&str, Option<usize>> = HashMap::new();
        let (mut keys, mut bytes) = (0u64, 0i64);
        for &(key, len) in entries {
            let old = match sizes.get(key) {
                Some(old) => *old,
                None => self.entries.get(key).map(|(_, v)| v.len()),
            };
            match old {
                Some(old) => bytes += len as i64 - old as i64,
                None => {
                    keys += 1;
                    bytes += (key.len() + len) as i64;
                }
            }
            sizes.insert(key, Some(len));
        }
        let now = self.usage();
        let grows = Usage {
            keys,
            bytes: bytes.max(0) as u64,
        };
        let after = Usage {
            keys: now.keys + keys,
            bytes: (now.bytes as i64 + bytes).max(0) as u64,
        };
        match over_quota(ns, quota, grows, after) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn spaces(&self) -> MutexGuard<'_, HashMap<String, Space>> {
        self.spaces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on namespace `ns` (created empty if needed).
    fn with<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce(&mut Space) -> Result<T>,
    ) -> KvFuture<T> {
        let out = f(self.spaces().entry(ns.to_string()).or_default());
        Box::pin(std::future::ready(out))
    }
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryBackend")
    }
}

impl KvBackend for MemoryBackend {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn get_many(&self, ns: &str, keys: Vec<String>, _: Instant) -> KvFuture<Vec<Option<Vec<u8>>>> {
        self.with(ns, |space| {
            Ok(keys
                .iter()
                .map(|k| space.entries.get(k).map(|(_, v)| v.clone()))
                .collect())
        })
    }

    fn set_many(
        &self,
        ns: &str,
        entries: Vec<(String, Vec<u8>)>,
        quota: Quota,
        _: Instant,
    ) -> KvFuture<()> {
        let owned = ns.to_string();
        self.with(ns, move |space| {
            let sizes: Vec<(&str, usize)> =
                entries.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
            space.admit(&owned, &sizes, quota)?;
            for (key, value) in entries {
                space.put(key, value);
            }
            Ok(())
        })
    }

    fn delete_many(&self, ns: &str, keys: Vec<String>, _: Instant) -> KvFuture<u64> {
        self.with(ns, |space| {
            Ok(keys.iter().filter(|k| space.remove(k)).count() as u64)
        })
    }

    fn exists(&self, ns: &str, key: String, _: Instant) -> KvFuture<bool> {
        self.with(ns, |space| Ok(space.entries.contains_key(&key)))
    }

    fn list_keys(
        &self,
        ns: &str,
        cursor: Option<u64>,
        limit: u32,
        _: Instant,
    ) -> KvFuture<KeyPage> {
        self.with(ns, |space| {
            let start = cursor.unwrap_or(0).saturating_add(1);
            let mut page: Vec<(u64, String)> = space
                .order
                .range(start..)
                .take(limit as usize + 1)
                .map(|(seq, k)| (*seq, k.clone()))
                .collect();
            let more = page.len() > limit as usize;
            page.truncate(limit as usize);
            Ok(KeyPage {
                cursor: if more {
                    page.last().map(|(s, _)| *s)
                } else {
                    None
                },
                keys: page.into_iter().map(|(_, k)| k).collect(),
            })
        })
    }

    fn increment(
        &self,
        ns: &str,
        key: String,
        delta: i64,
        quota: Quota,
        _: Instant,
    ) -> KvFuture<i64> {
        let owned = ns.to_string();
        self.with(ns, move |space| {
            let current = match space.entries.get(&key) {
                Some((_, v)) => parse_counter(&owned, &key, v)?,
                None => 0,
            };
            let new = add_counter(&owned, &key, current, delta)?;
            let text = new.to_string().into_bytes();
            space.admit(&owned, &[(&key, text.len())], quota)?;
            space.put(key, text);
            Ok(new)
        })
    }

    fn compare_and_swap(
        &self,
        ns: &str,
        key: String,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
        quota: Quota,
        _: Instant,
    ) -> KvFuture<bool> {
        let owned = ns.to_string();
        self.with(ns, move |space| {
            let current = space.entries.get(&key).map(|(_, v)| v);
            if current != expected.as_ref() {
                return Ok(false);
            }
            space.admit(&owned, &[(&key, value.len())], quota)?;
            space.put(key, value);
            Ok(true)
        })
    }

    fn usage(&self, ns: &str, _: Instant) -> KvFuture<Usage> {
        self.with(ns, |space| Ok(space.usage()))
    }
}
