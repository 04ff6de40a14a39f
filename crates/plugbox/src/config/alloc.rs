//! The engine's allocation and caching settings: the instance pool and the
//! compile cache (part of [`EngineConfig`]).

use super::engine::EngineConfig;
use super::limits::DEFAULT_MAX_MEMORY;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Instances alive at once in the default pool (as `wasmtime serve`).
pub const DEFAULT_POOL_INSTANCES: u32 = 1000;
/// Bytes of a pooled memory or table reset in place when its instance is
/// dropped, rather than returned to the kernel: 64 KiB. As fast as 1 MiB
/// for a one-page module, and much faster for a guest whose memory is
/// larger, which 1 MiB made zero a megabyte per instance (see the
/// "plugbox serve" section of BENCHMARKS.md).
pub const DEFAULT_POOL_KEEP_RESIDENT: u64 = 64 << 10;
const DEFAULT_POOL_DECOMMIT_BATCH: u32 = 1;
const DEFAULT_POOL_WARM_SLOTS: u32 = 100;
/// Most pool shards an engine may have.
pub const MAX_POOL_SHARDS: u32 = 64;
/// Most pool shards by default, however many CPUs there are.
const DEFAULT_MAX_POOL_SHARDS: u32 = 8;

/// The default shard count: one per CPU, at most 8.
fn default_shards() -> u32 {
    static SHARDS: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *SHARDS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .min(DEFAULT_MAX_POOL_SHARDS)
    })
}

/// Default size of the compile cache: 1 GiB.
pub const DEFAULT_CACHE_MAX_SIZE: u64 = 1 << 30;

impl EngineConfig {
    /// Uses the pooling instance allocator: instance slots, memories,
    /// tables and async stacks are reserved up front and reused, with
    /// copy-on-write memory images, which makes instantiation a few
    /// microseconds. When the address space cannot be reserved (a low
    /// `ulimit -v`, say), the engine falls back to on-demand allocation
    /// and says so once ([`Engine::notice`](crate::Engine::notice)).
    /// Default: on.
    pub fn pooling(mut self, on: bool) -> Self {
        self.pooling = Some(on);
        self
    }

    /// Whether the pooling allocator is asked for.
    pub fn get_pooling(&self) -> bool {
        // Shared memories (the threads proposal) cannot be pooled.
        self.pooling
            .unwrap_or(self.get_feature(crate::config::WasmFeature::Threads) != Some(true))
    }

    /// Instances alive at once in the pool (and as many memories, tables
    /// and async stacks), split over the [pool shards](Self::pool_shards).
    /// A stateful instance holds its slot while it lives; when no shard an
    /// instance fits in has room, instantiation fails with
    /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) (a
    /// [`PluginManager`](crate::PluginManager) queues instead, up to the
    /// plugin's queue timeout). A plugin one instance of which needs more
    /// slots than the largest shard has is refused at load. Default: 1000.
    pub fn pool_instances(mut self, n: u32) -> Self {
        self.pool_instances = Some(n);
        self
    }

    /// The pool's instance slots.
    pub fn get_pool_instances(&self) -> u32 {
        self.pool_instances.unwrap_or(DEFAULT_POOL_INSTANCES)
    }

    /// Largest linear memory a pooled slot can hold; a plugin's
    /// `max-memory` may not exceed it, nor be `none` (a pooled memory
    /// cannot grow past its slot): such a plugin is refused at load with
    /// [`ErrorKind::Config`](crate::ErrorKind::Config). Default: the
    /// default memory limit, 256 MiB.
    pub fn pool_max_memory(mut self, bytes: u64) -> Self {
        self.pool_max_memory = Some(bytes);
        self
    }

    /// The pool's memory slot size.
    pub fn get_pool_max_memory(&self) -> u64 {
        self.pool_max_memory.unwrap_or(DEFAULT_MAX_MEMORY)
    }

    /// Bytes at the start of each pooled memory and table that are reset
    /// in place (`memset`) when an instance is dropped, instead of being
    /// returned to the kernel (`madvise`, which flushes other cores' TLBs).
    /// Default: 1 MiB.
    pub fn pool_keep_resident(mut self, bytes: u64) -> Self {
        self.pool_keep_resident = Some(bytes);
        self
    }

    /// The keep-resident size.
    pub fn get_pool_keep_resident(&self) -> u64 {
        self.pool_keep_resident
            .unwrap_or(DEFAULT_POOL_KEEP_RESIDENT)
    }

    /// Freed slots returned to the kernel together. Default: 1.
    pub fn pool_decommit_batch(mut self, n: u32) -> Self {
        self.pool_decommit_batch = Some(n);
        self
    }

    /// The decommit batch size.
    pub fn get_pool_decommit_batch(&self) -> u32 {
        self.pool_decommit_batch
            .unwrap_or(DEFAULT_POOL_DECOMMIT_BATCH)
    }

    /// Unused slots that stay warm (affine to the module that used them
    /// last, so its memory image need not be mapped again), split over the
    /// pool shards. Default: 100.
    pub fn pool_warm_slots(mut self, n: u32) -> Self {
        self.pool_warm_slots = Some(n);
        self
    }

    /// The warm slots kept.
    pub fn get_pool_warm_slots(&self) -> u32 {
        self.pool_warm_slots.unwrap_or(DEFAULT_POOL_WARM_SLOTS)
    }

    /// Pools (shards) that the pool's slots are split over. Each is a
    /// Wasmtime engine of its own, so threads making instances from
    /// different shards share no lock or counter in Wasmtime (its pool's
    /// slot allocator, its type registry, the module's reference counts),
    /// and their calls add up (BENCHMARKS.md, "Pool shards").
    ///
    /// Every shard is made with the engine, with `pool-instances /
    /// pool-shards` slots and as many of the warm slots (shard 0 takes
    /// what does not divide evenly), at least 16 slots each: fewer shards
    /// are made when there are too few slots. A thread takes the next
    /// shard when it first makes an instance, and its instances (stateless
    /// and stateful) come from that shard's pool or, when it is full, from
    /// the next shard with room, so `pool-instances` stays the bound on
    /// instances alive at once. A component makes one attempt, on the
    /// first shard with room for all of its core instances (a full pool
    /// can stop it part-way, after some of their start functions ran). A
    /// plugin's code is copied into a shard (memory for its code once more
    /// per shard) when an instance of it is first made there. When the
    /// shards' pools cannot be reserved, the engine makes one pool, and
    /// failing that allocates on demand. Without the pooling allocator
    /// there is one shard. Default: the number of CPUs, at most 8; the
    /// CLI's `run` and `call` use 1.
    pub fn pool_shards(mut self, n: u32) -> Self {
        self.pool_shards = Some(n);
        self
    }

    /// The number of shards asked for (see [`pool_shards`](Self::pool_shards)).
    pub fn get_pool_shards(&self) -> u32 {
        self.pool_shards.unwrap_or_else(default_shards)
    }

    /// Directory of plugbox's compile cache: a module compiled once is
    /// memory-mapped from there next time, keyed by its content, the
    /// engine's configuration and the Wasmtime version. Entries are written
    /// atomically and checked when read; a damaged one is discarded and
    /// compiled again. Default: no cache (the CLI uses a per-user
    /// directory). A relative path is made absolute against the current
    /// directory.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Turns the compile cache off (clears [`cache_dir`](Self::cache_dir)).
    pub fn no_cache(mut self) -> Self {
        self.cache_dir = None;
        self
    }

    /// The cache directory, if any.
    pub fn get_cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Most bytes the cache keeps; the least recently used entries go
    /// first. Default: 1 GiB.
    pub fn cache_max_size(mut self, bytes: u64) -> Self {
        self.cache_max_size = Some(bytes);
        self
    }

    /// The cache's size bound.
    pub fn get_cache_max_size(&self) -> u64 {
        self.cache_max_size.unwrap_or(DEFAULT_CACHE_MAX_SIZE)
    }

    /// Sizes the pool for an engine that runs plugins with `limits` (a
    /// one-plugin process such as the CLI): unless `pool-max-memory` was
    /// set, the pool's memory slots take the size of the memory limit, and
    /// unless `pooling` was set, a plugin without a memory limit is run
    /// without the pool (whose slots have a fixed size).
    pub fn fit_pool(mut self, limits: &super::Limits) -> Self {
        match limits.get_max_memory() {
            Some(bytes) if self.pool_max_memory.is_none() => {
                self.pool_max_memory = Some(bytes.max(DEFAULT_MAX_MEMORY));
            }
            None if self.pooling.is_none() && self.pool_max_memory.is_none() => {
                self.pooling = Some(false);
            }
            _ => {}
        }
        self
    }

    /// Unless `pool-instances` was set, sizes the pool to `n` instances:
    /// for a process that runs one plugin a few calls at a time (the CLI),
    /// whose pool need not reserve, and protect, a thousand slots.
    pub fn fit_pool_instances(mut self, n: u32) -> Self {
        if self.pool_instances.is_none() {
            self.pool_instances = Some(n);
        }
        self
    }

    /// Unless `pool-shards` was set, uses `n` shards: for a process that
    /// makes its calls on one thread (the CLI's `run` and `call`).
    pub fn fit_pool_shards(mut self, n: u32) -> Self {
        if self.pool_shards.is_none() {
            self.pool_shards = Some(n);
        }
        self
    }

    pub(super) fn check_alloc(&self) -> Result<()> {
        if self.get_pooling() && self.get_pool_instances() == 0 {
            return Err(Error::config(
                "invalid pool-instances `0`: need at least one instance",
            ));
        }
        if self.get_pooling() && self.get_pool_max_memory() < 64 << 10 {
            return Err(Error::config(format!(
                "invalid pool-max-memory `{}`: must hold at least one 64 KiB page",
                crate::units::format_size(self.get_pool_max_memory())
            )));
        }
        if self.get_pool_shards() == 0 {
            return Err(Error::config(
                "invalid pool-shards `0`: need at least one shard",
            ));
        }
        if self.get_pool_shards() > MAX_POOL_SHARDS {
            return Err(Error::config(format!(
                "invalid pool-shards `{}`: at most {MAX_POOL_SHARDS}",
                self.get_pool_shards()
            )));
        }
        if self.get_pool_decommit_batch() == 0 {
            return Err(Error::config(
                "invalid pool-decommit-batch `0`: must be at least 1",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limits;

    #[test]
    fn one_plugin_engines_fit_the_pool_unless_told_otherwise() {
        // Slots sized to the memory limit (never below the default).
        let big = EngineConfig::new().fit_pool(&Limits::new().max_memory(1u64 << 30));
        assert_eq!(big.get_pool_max_memory(), 1 << 30);
        assert!(big.get_pooling());
        let small = EngineConfig::new().fit_pool(&Limits::new().max_memory(1u64 << 20));
        assert_eq!(small.get_pool_max_memory(), DEFAULT_MAX_MEMORY);
        // No memory limit: no pool, unless pooling was asked for.
        let unbounded = Limits::new().max_memory(None);
        assert!(!EngineConfig::new().fit_pool(&unbounded).get_pooling());
        assert!(
            EngineConfig::new()
                .pooling(true)
                .fit_pool(&unbounded)
                .get_pooling()
        );
        // An explicit pool-instances wins over the fitted one.
        assert_eq!(
            EngineConfig::new()
                .fit_pool_instances(256)
                .get_pool_instances(),
            256
        );
        assert_eq!(
            EngineConfig::new()
                .pool_instances(3)
                .fit_pool_instances(256)
                .get_pool_instances(),
            3
        );
    }
}
