//! A plugin on the engine's pool shards. An instance comes from the copy
//! of the plugin on its thread's shard (or, when that pool is full, on
//! another): the code loaded into the shard's engine, and its own copies
//! of what every store takes a reference to, so that threads on different
//! shards share no lock or reference count.

use super::{Code, Prepared};
use crate::config::WasmFeature;
use crate::engine::{Engine, shards};
use crate::error::{Error, Result};
use crate::store::Wasi;
use std::sync::{Arc, OnceLock};

/// The copies of one plugin (with its limits and sandbox) on the pool
/// shards, each made when its shard first makes an instance of it.
pub(crate) struct ShardCopies {
    /// The code loaded into shard `k` (1 or more) is `code[k - 1]`; shared
    /// by the plugin's copies with other limits. `None`: it could not be
    /// loaded there (said once).
    code: Arc<[OnceLock<Option<Code>>]>,
    /// The plugin on shard `k` is `copies[k]`; `None`: an instance does
    /// not fit in the shard's pool, or the code could not be loaded there,
    /// and the shard is passed over.
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

    /// Whether an instantiation of `code` refused by a full shard may try
    /// another: only a core module's, whose slots are all taken before its
    /// start function runs. A component's core instances are made and
    /// started one after another (and a GC heap can be taken while a
    /// start function runs), so a full pool can stop them part-way, after
    /// some start function ran, which must not run twice.
    pub(super) fn may_borrow(engine: &Engine, code: &Code) -> bool {
        let features = engine.config();
        matches!(code, Code::Module { .. })
            && [WasmFeature::Gc, WasmFeature::Exceptions]
                .iter()
                .all(|f| features.get_feature(*f) != Some(true))
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

    /// Makes this thread's copy of the plugin, the first time: done
    /// before a call's clock starts, so that copying the code does not
    /// count against its deadline.
    pub(crate) fn ready_here(self: &Arc<Self>) {
        let _ = self.on_shard(self.shard_of_this_thread());
    }

    /// Whether an instantiation refused by a full shard may try another
    /// (decided once, at load; see [`ShardCopies::may_borrow`]).
    pub(crate) fn may_borrow(&self) -> bool {
        self.borrows
    }

    /// Whether shard `k`'s pool has room for a whole instance now (as far
    /// as what one needs is known).
    pub(crate) fn has_room_on(self: &Arc<Self>, k: usize) -> bool {
        let c = self.counts;
        self.on_shard(k).is_some()
            && self.engine().shard_has_room(
                k,
                c.instances.unwrap_or(1),
                c.memories.unwrap_or(0),
                c.tables.unwrap_or(0),
            )
    }

    /// The plugin on shard `k`, if one instance fits in its pool and the
    /// code can be loaded there.
    fn copy_on(&self, k: usize) -> Option<Arc<Self>> {
        let engine = self.engine();
        if k > 0 && !self.counts.fit(u64::from(engine.shard_slots(k))) {
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

    /// Refuses a plugin one instance of which needs more slots than the
    /// largest pool shard has: it could never be instantiated.
    pub(super) fn check_fits_a_shard(&self) -> Result<()> {
        let engine = self.engine();
        if !engine.is_pooling() || self.on_demand() {
            return Ok(());
        }
        let slots = engine.shard_slots(0);
        if self.counts.fit(u64::from(slots)) {
            return Ok(());
        }
        let c = self.counts;
        let needs = [
            ("core instances", c.instances),
            ("memories", c.memories),
            ("tables", c.tables),
        ]
        .into_iter()
        .filter_map(|(what, n)| {
            n.filter(|&n| n > u64::from(slots))
                .map(|n| format!("{n} {what}"))
        })
        .collect::<Vec<_>>()
        .join(" and ");
        Err(Error::config(format!(
            "an instance of `{}` needs {needs}, more than the {slots} slots of a pool shard (pool-instances = {}, pool-shards = {}): raise pool-instances or lower pool-shards",
            self.name(),
            engine.config().get_pool_instances(),
            engine.shard_count(),
        )))
    }
}
