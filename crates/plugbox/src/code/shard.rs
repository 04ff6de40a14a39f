//! A plugin on the engine's pool shards. A stateless call runs the copy
//! of the plugin on its thread's shard: the code loaded into the shard's
//! engine, and its own copies of what every store takes a reference to,
//! so that threads on different shards share no lock or reference count.

use super::{Code, Prepared};
use crate::engine::shards;
use std::sync::{Arc, OnceLock};

/// The copies of one plugin (with its limits and sandbox) on the pool
/// shards, each made at the first stateless call on its shard.
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
    /// The plugin as a stateless call on this thread runs it: its copy on
    /// the thread's shard, or itself when the engine has one shard or the
    /// thread's shard is unavailable.
    #[inline]
    pub(crate) fn on_this_thread(self: &Arc<Self>) -> &Arc<Self> {
        let copies = &self.shards.copies;
        if copies.is_empty() {
            return self;
        }
        let k = shards::of_this_thread(copies.len());
        copies[k]
            .get_or_init(|| self.copy_on(k))
            .as_ref()
            .unwrap_or(self)
    }

    /// Whether this is the plugin itself on its engine's own pool (not a
    /// copy on another shard), where a full pool is final.
    pub(crate) fn on_own_pool(&self) -> bool {
        wasmtime::Engine::same(&self.template.wasmtime, self.engine().wasmtime())
    }

    /// The plugin on shard `k`, if the shard and the code in it can be
    /// had.
    fn copy_on(&self, k: usize) -> Option<Arc<Self>> {
        let engine = self.engine().shard(k)?;
        let code = match k.checked_sub(1) {
            None => self.code.clone(),
            Some(i) => self.shards.code[i]
                .get_or_init(|| {
                    let _span = tracing::debug_span!("shard", plugin = %self.name(), shard = k)
                        .entered();
                    self.code
                        .load_into(engine, &self.template.host, self.name())
                        .inspect_err(|e| {
                            tracing::warn!(error = %format!("{e:#}"), "calls on this shard use the engine's own pool");
                        })
                        .ok()
                })
                .clone()?,
        };
        Some(Arc::new(Self {
            template: self.template.copy_on(engine),
            code,
            blocking: self.blocking,
            async_host: self.async_host,
            wasm_only: self.wasm_only,
            epoch_timeout: self.epoch_timeout,
            counts: self.counts,
            shards: ShardCopies::new(1),
        }))
    }
}
