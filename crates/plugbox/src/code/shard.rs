//! A plugin on the engine's pool shards. An instance comes from the copy
//! of the plugin on its thread's shard (or, when that pool is full, on
//! another): the code loaded into the shard's engine, and its own copies
//! of what every store takes a reference to, so that threads on different
//! shards share no lock or reference count.

use super::{Code, Prepared};
use crate::engine::shards;
use crate::store::Wasi;
use std::sync::{Arc, OnceLock};

/// The copies of one plugin (with its limits and sandbox) on the pool
/// shards, each made when its shard first makes an instance of it.
pub(crate) struct ShardCopies {
    /// The code loaded into shard `k` (1 or more) is `code[k - 1]`; shared
    /// by the plugin's copies with other limits. `None`: it could not be
    /// loaded there (said once).
    code: Arc<[OnceLock<Option<Code>>]>,
    /// The plugin on shard `k` is `copies[k]`; `None`: the shard is
    /// unavailable and its calls run the plugin itself.
    copies: Box<[OnceLock<Option<Arc<Prepared>>>]>,
}

impl ShardCopies {
    /// Room for copies on `shards` shards (none when there is one).
    pub(super) fn new(shards: usize) -> Self {
        let shards = if shards > 1 { shards } else { 0 };
        Self {
            code: (1..shards.max(1)).map(|_| OnceLock::new()).collect(),
            copies: (0..shards).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Room for the copies of the same plugin with other limits: the
    /// code loaded into a shard is shared, the copies are their own.
    pub(super) fn sharing_code(&self) -> Self {
        Self {
            code: self.code.clone(),
            copies: (0..self.copies.len()).map(|_| OnceLock::new()).collect(),
        }
    }
}

impl Prepared {
    /// The shards this plugin's instances are spread over (1: there are
    /// no copies, its instances are its own).
    pub(crate) fn shard_count(&self) -> usize {
        self.shards.copies.len().max(1)
    }

    /// The shard this thread's instances come from first.
    pub(crate) fn shard_of_this_thread(&self) -> usize {
        shards::of_this_thread(self.shards.copies.len())
    }

    /// The plugin on shard `k`: its copy there (made on first use), or
    /// itself when the engine has one shard. `None`: the shard, or the
    /// plugin's code in it, is unavailable.
    pub(crate) fn on_shard(self: &Arc<Self>, k: usize) -> Option<&Arc<Self>> {
        if self.shards.copies.is_empty() {
            return (k == 0).then_some(self);
        }
        self.shards
            .copies
            .get(k)?
            .get_or_init(|| self.copy_on(k))
            .as_ref()
    }

    /// The plugin on shard `k`, if the shard can be had and one instance
    /// fits in its pool.
    fn copy_on(&self, k: usize) -> Option<Arc<Self>> {
        let engine = self.engine();
        let slots = u64::from(engine.shard_slots(k));
        let c = self.counts;
        let needs = [c.instances, c.memories, c.tables];
        if k > 0 && needs.iter().flatten().any(|&n| n > slots) {
            tracing::debug!(plugin = %self.name(), shard = k, slots, "an instance does not fit in this pool shard");
            return None;
        }
        let wasmtime = engine.shard(k)?;
        let code = match k.checked_sub(1) {
            None => self.code.clone(),
            Some(i) => self.shards.code[i]
                .get_or_init(|| {
                    let uses_wasi = self.template.wasi == Wasi::P1;
                    let host = &self.template.host;
                    self.code
                        .load_into(wasmtime, uses_wasi, host, self.name())
                        .inspect_err(|e| {
                            tracing::warn!(plugin = %self.name(), shard = k, error = %format!("{e:#}"), "cannot load a plugin into a pool shard; its instances come from the other shards");
                        })
                        .ok()
                })
                .clone()?,
        };
        let template = self.template.copy_on(wasmtime);
        Some(Arc::new(self.rebuild(template, code, ShardCopies::new(1))))
    }
}
