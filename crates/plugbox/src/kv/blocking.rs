//! The synchronous forms of [`Kv`]'s operations: each waits on the calling
//! thread for its `_async` twin, on the store's own runtime (so they work
//! from any thread, inside an async executor too).

use super::backend::{KeyPage, Usage};
use super::handle::Kv;
use super::runtime::block_on;
use crate::error::Result;

impl Kv {
    /// [`get_async`](Self::get_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`get_async`](Self::get_async).
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        block_on(self.get_async(key))
    }

    /// [`set_async`](Self::set_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`set_async`](Self::set_async).
    pub fn set(&self, key: &str, value: impl Into<Vec<u8>>) -> Result<()> {
        block_on(self.set_async(key, value))
    }

    /// [`delete_async`](Self::delete_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`delete_async`](Self::delete_async).
    pub fn delete(&self, key: &str) -> Result<bool> {
        block_on(self.delete_async(key))
    }

    /// [`exists_async`](Self::exists_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`exists_async`](Self::exists_async).
    pub fn exists(&self, key: &str) -> Result<bool> {
        block_on(self.exists_async(key))
    }

    /// [`list_keys_async`](Self::list_keys_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`list_keys_async`](Self::list_keys_async).
    pub fn list_keys(&self, cursor: Option<u64>, limit: u32) -> Result<KeyPage> {
        block_on(self.list_keys_async(cursor, limit))
    }

    /// [`keys_async`](Self::keys_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`keys_async`](Self::keys_async).
    pub fn keys(&self) -> Result<Vec<String>> {
        block_on(self.keys_async())
    }

    /// [`increment_async`](Self::increment_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`increment_async`](Self::increment_async).
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        block_on(self.increment_async(key, delta))
    }

    /// [`compare_and_swap_async`](Self::compare_and_swap_async), waiting on
    /// this thread.
    ///
    /// # Errors
    ///
    /// As [`compare_and_swap_async`](Self::compare_and_swap_async).
    pub fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: impl Into<Vec<u8>>,
    ) -> Result<bool> {
        block_on(self.compare_and_swap_async(key, expected, value))
    }

    /// [`get_many_async`](Self::get_many_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`get_many_async`](Self::get_many_async).
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>> {
        block_on(self.get_many_async(keys))
    }

    /// [`set_many_async`](Self::set_many_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`set_many_async`](Self::set_many_async).
    pub fn set_many(&self, entries: Vec<(String, Vec<u8>)>) -> Result<()> {
        block_on(self.set_many_async(entries))
    }

    /// [`delete_many_async`](Self::delete_many_async), waiting on this
    /// thread.
    ///
    /// # Errors
    ///
    /// As [`delete_many_async`](Self::delete_many_async).
    pub fn delete_many(&self, keys: Vec<String>) -> Result<u64> {
        block_on(self.delete_many_async(keys))
    }

    /// [`usage_async`](Self::usage_async), waiting on this thread.
    ///
    /// # Errors
    ///
    /// As [`usage_async`](Self::usage_async).
    pub fn usage(&self) -> Result<Usage> {
        block_on(self.usage_async())
    }
}
