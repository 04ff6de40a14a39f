//! The Wasmtime configuration an [`EngineConfig`] stands for: compiler,
//! features, limits and the pooling allocator of each shard.

use super::{POOL_INSTANCE_SIZE, POOL_PER_MODULE, shards};
use crate::config::{EngineConfig, OptLevel, WasmFeature};
use crate::error::Result;

/// The features Wasmtime 48 enables that plugbox leaves off unless a
/// configuration enables them (SECURITY.md, "Pinned Wasmtime").
pub(crate) const DEFAULT_OFF: [WasmFeature; 3] = [
    WasmFeature::Gc,
    WasmFeature::Exceptions,
    WasmFeature::ComponentModelAsync,
];

/// Builds the Wasmtime configuration (after [`EngineConfig::check`]).
/// One pooling engine per shard, the pool's slots and warm slots split
/// over them; when the shards' pools cannot all be reserved, one pool of
/// every slot.
pub(super) fn pools(
    config: &EngineConfig,
) -> std::result::Result<Vec<wasmtime::Engine>, wasmtime::Error> {
    let make = |n: usize| {
        (0..n)
            .map(|k| {
                let pool = Pool {
                    slots: shards::slots(config.get_pool_instances(), n, k),
                    warm: shards::slots(config.get_pool_warm_slots(), n, k),
                };
                let c = wasmtime_config(config, Some(pool)).map_err(wasmtime::Error::new)?;
                wasmtime::Engine::new(&c)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
    };
    let n = shards::count(config.get_pool_shards(), config.get_pool_instances());
    match make(n) {
        Err(e) if n > 1 => {
            tracing::warn!(shards = n, error = %format!("{e:#}"), "pool shards unavailable; one pool");
            make(1)
        }
        made => made,
    }
}

/// A pool's size: its slots and the unused slots it keeps warm.
#[derive(Clone, Copy)]
pub(super) struct Pool {
    slots: u32,
    warm: u32,
}

/// `pool`: the pool's size, or `None` for on-demand allocation.
pub(super) fn wasmtime_config(
    config: &EngineConfig,
    pool: Option<Pool>,
) -> Result<wasmtime::Config> {
    let mut c = wasmtime::Config::new();
    c.cranelift_opt_level(match config.get_opt_level() {
        OptLevel::None => wasmtime::OptLevel::None,
        OptLevel::Speed => wasmtime::OptLevel::Speed,
        OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
    });
    c.strategy(wasmtime::Strategy::Cranelift);
    // Disabling SIMD implies disabling relaxed SIMD unless the user asked
    // for the (invalid) combination explicitly.
    if config.get_feature(WasmFeature::Simd) == Some(false)
        && config.get_feature(WasmFeature::RelaxedSimd).is_none()
    {
        apply_feature(&mut c, WasmFeature::RelaxedSimd, false);
    }
    // Off unless asked for, because Wasmtime 48.0.8 can abort or panic on
    // hostile guests using them (fixed in 48.0.9): the GC proposal and
    // exception handling allocate in the GC heap, whose failures abort; the
    // async ABI has a panic on cancelling a stream copy.
    for feature in DEFAULT_OFF {
        if config.get_feature(feature).is_none() {
            apply_feature(&mut c, feature, false);
        }
    }
    for feature in WasmFeature::ALL {
        if let Some(on) = config.get_feature(feature) {
            apply_feature(&mut c, feature, on);
        }
    }
    c.consume_fuel(config.get_consume_fuel());
    c.epoch_interruption(config.get_epoch_interruption());
    let stack = usize::try_from(config.get_max_stack()).unwrap_or(usize::MAX);
    c.max_wasm_stack(stack);
    // Calls on the async path run on a fiber stack that must hold the wasm
    // stack plus the host's frames: 1 MiB more, at least Wasmtime's 2 MiB.
    c.async_stack_size(stack.saturating_add(1 << 20).max(2 << 20));
    c.parallel_compilation(config.get_parallel_compilation());
    if let Some(pool) = pool {
        c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool_config(
            config, pool,
        )));
    }
    Ok(c)
}

/// The pool: `pool.slots` slots of everything, memories as large as
/// `pool-max-memory`, tables as large as the default table limit, and room
/// for modules and components with several memories and tables.
fn pool_config(config: &EngineConfig, size: Pool) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    let n = size.slots;
    let resident = usize::try_from(config.get_pool_keep_resident()).unwrap_or(usize::MAX);
    pool.total_core_instances(n)
        .total_component_instances(n)
        .total_memories(n)
        .total_tables(n)
        .total_stacks(n)
        .max_memory_size(usize::try_from(config.get_pool_max_memory()).unwrap_or(usize::MAX))
        .max_core_instance_size(POOL_INSTANCE_SIZE as usize)
        .max_component_instance_size(POOL_INSTANCE_SIZE as usize)
        .max_memories_per_module(POOL_PER_MODULE)
        .max_tables_per_module(POOL_PER_MODULE)
        .table_elements(crate::config::DEFAULT_MAX_TABLE_ELEMENTS as usize)
        .linear_memory_keep_resident(resident)
        .table_keep_resident(resident)
        .decommit_batch_size(config.get_pool_decommit_batch() as usize)
        .max_unused_warm_slots(size.warm.min(n));
    pool
}

fn apply_feature(config: &mut wasmtime::Config, feature: WasmFeature, on: bool) {
    match feature {
        WasmFeature::Simd => config.wasm_simd(on),
        WasmFeature::RelaxedSimd => config.wasm_relaxed_simd(on),
        WasmFeature::Threads => config.wasm_threads(on).shared_memory(on),
        WasmFeature::MultiMemory => config.wasm_multi_memory(on),
        WasmFeature::Memory64 => config.wasm_memory64(on),
        WasmFeature::ReferenceTypes => config.wasm_reference_types(on),
        WasmFeature::BulkMemory => config.wasm_bulk_memory(on),
        WasmFeature::MultiValue => config.wasm_multi_value(on),
        WasmFeature::TailCall => config.wasm_tail_call(on),
        WasmFeature::ExtendedConst => config.wasm_extended_const(on),
        WasmFeature::FunctionReferences => config.wasm_function_references(on),
        WasmFeature::Gc => config.wasm_gc(on),
        WasmFeature::Exceptions => config.wasm_exceptions(on),
        WasmFeature::WideArithmetic => config.wasm_wide_arithmetic(on),
        WasmFeature::ComponentModel => config.wasm_component_model(on),
        WasmFeature::ComponentModelAsync => config
            .concurrency_support(on)
            .wasm_component_model_async(on),
    };
}
