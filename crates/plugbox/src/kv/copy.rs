//! Copying a plugin's state from one store to another: the step of moving
//! it between backends (from the embedded file to Redis, say).

use super::handle::{Kv, MAX_BATCH};
use super::runtime::block_on;
use crate::error::Result;
use std::collections::HashSet;

impl Kv {
    /// Copies every key of this store, with its value, into `to` (a store
    /// of another backend, say), a page of at most [`MAX_BATCH`] keys at a
    /// time; how many keys it copied. Keys of `to` that this store lacks
    /// are kept; a key written or deleted here during the copy may or may
    /// not be copied, so stop the writers first. The writes count against
    /// `to`'s caps and quotas: a page they refuse ends the copy with that
    /// error, the pages before it written.
    ///
    /// # Errors
    ///
    /// As [`get_many_async`](Self::get_many_async) on this store and
    /// [`set_many_async`](Self::set_many_async) on `to`.
    pub async fn copy_to_async(&self, to: &Kv) -> Result<u64> {
        let mut copied: HashSet<String> = HashSet::new();
        let mut cursor = None;
        loop {
            let page = self.list_keys_async(cursor, MAX_BATCH as u32).await?;
            // A Redis listing may return a key twice.
            let keys: Vec<String> = page
                .keys
                .into_iter()
                .filter(|k| !copied.contains(k))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let values = self.get_many_async(&keys).await?;
            let entries: Vec<(String, Vec<u8>)> = keys
                .into_iter()
                .zip(values)
                .filter_map(|(k, v)| Some((k, v?)))
                .collect();
            copied.extend(entries.iter().map(|(k, _)| k.clone()));
            if !entries.is_empty() {
                to.set_many_async(entries).await?;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(copied.len() as u64),
            }
        }
    }

    /// [`copy_to_async`](Self::copy_to_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`copy_to_async`](Self::copy_to_async).
    pub fn copy_to(&self, to: &Kv) -> Result<u64> {
        block_on(self.copy_to_async(to))
    }
}
