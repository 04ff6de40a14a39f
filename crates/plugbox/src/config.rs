//! Engine configuration: one serde struct that is also the builder.
//!
//! Every setter states its default. The same struct is filled from a
//! manifest's `[engine]` table and from the CLI's engine flags.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// Default cap on the size of a module read from any source: 64 MiB.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 64 << 20;

/// How hard Cranelift optimises generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptLevel {
    /// No optimisation: fastest compilation.
    None,
    /// Optimise for speed (the default).
    #[default]
    Speed,
    /// Optimise for speed and code size.
    SpeedAndSize,
}

/// Which compiler turns wasm into native code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Cranelift, the optimising compiler (the default).
    #[default]
    Cranelift,
    /// Winch, the baseline compiler; only when plugbox is built with the
    /// `winch` feature.
    Winch,
}

/// A WebAssembly proposal that can be switched on or off.
///
/// Unset features keep Wasmtime 48's defaults: the WebAssembly 3.0 set is
/// on (SIMD, relaxed SIMD, threads, multi-memory, memory64, reference types,
/// tail calls, typed function references, GC, exceptions) plus the component
/// model; wide arithmetic is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WasmFeature {
    /// 128-bit SIMD.
    Simd,
    /// Relaxed SIMD (switched off with `simd` unless set explicitly).
    RelaxedSimd,
    /// Threads and shared memories.
    Threads,
    /// Several memories per module.
    MultiMemory,
    /// 64-bit memories.
    Memory64,
    /// Reference types.
    ReferenceTypes,
    /// Bulk memory operations.
    BulkMemory,
    /// Multi-value returns.
    MultiValue,
    /// Tail calls.
    TailCall,
    /// Extended constant expressions.
    ExtendedConst,
    /// Typed function references.
    FunctionReferences,
    /// Garbage collection.
    Gc,
    /// Exception handling.
    Exceptions,
    /// 128-bit wide arithmetic.
    WideArithmetic,
    /// The component model.
    ComponentModel,
}

impl WasmFeature {
    /// Every feature, in a stable order.
    pub const ALL: [WasmFeature; 15] = [
        Self::Simd,
        Self::RelaxedSimd,
        Self::Threads,
        Self::MultiMemory,
        Self::Memory64,
        Self::ReferenceTypes,
        Self::BulkMemory,
        Self::MultiValue,
        Self::TailCall,
        Self::ExtendedConst,
        Self::FunctionReferences,
        Self::Gc,
        Self::Exceptions,
        Self::WideArithmetic,
        Self::ComponentModel,
    ];

    /// The feature's kebab-case name (`relaxed-simd`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Simd => "simd",
            Self::RelaxedSimd => "relaxed-simd",
            Self::Threads => "threads",
            Self::MultiMemory => "multi-memory",
            Self::Memory64 => "memory64",
            Self::ReferenceTypes => "reference-types",
            Self::BulkMemory => "bulk-memory",
            Self::MultiValue => "multi-value",
            Self::TailCall => "tail-call",
            Self::ExtendedConst => "extended-const",
            Self::FunctionReferences => "function-references",
            Self::Gc => "gc",
            Self::Exceptions => "exceptions",
            Self::WideArithmetic => "wide-arithmetic",
            Self::ComponentModel => "component-model",
        }
    }

    fn apply(self, config: &mut wasmtime::Config, on: bool) {
        match self {
            Self::Simd => config.wasm_simd(on),
            Self::RelaxedSimd => config.wasm_relaxed_simd(on),
            Self::Threads => config.wasm_threads(on).shared_memory(on),
            Self::MultiMemory => config.wasm_multi_memory(on),
            Self::Memory64 => config.wasm_memory64(on),
            Self::ReferenceTypes => config.wasm_reference_types(on),
            Self::BulkMemory => config.wasm_bulk_memory(on),
            Self::MultiValue => config.wasm_multi_value(on),
            Self::TailCall => config.wasm_tail_call(on),
            Self::ExtendedConst => config.wasm_extended_const(on),
            Self::FunctionReferences => config.wasm_function_references(on),
            Self::Gc => config.wasm_gc(on),
            Self::Exceptions => config.wasm_exceptions(on),
            Self::WideArithmetic => config.wasm_wide_arithmetic(on),
            Self::ComponentModel => config.wasm_component_model(on),
        };
    }
}

impl fmt::Display for WasmFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WasmFeature {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
                format!("unknown wasm feature `{s}` (known: {})", names.join(", "))
            })
    }
}

/// Engine-wide settings: compiler, features, memory allocation, caching and
/// the machinery behind per-call limits.
///
/// Build it with the setters (each states its default) or deserialize it from
/// TOML/JSON; unknown fields are rejected.
///
/// ```
/// use plugbox::{EngineConfig, OptLevel, WasmFeature};
/// let config = EngineConfig::new()
///     .opt_level(OptLevel::SpeedAndSize)
///     .feature(WasmFeature::Simd, false)
///     .pooling(true);
/// assert_eq!(config.get_opt_level(), OptLevel::SpeedAndSize);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct EngineConfig {
    opt_level: OptLevel,
    strategy: Strategy,
    features: BTreeMap<WasmFeature, bool>,
    pooling: bool,
    pool_instances: u32,
    #[serde(with = "crate::units::serde_units::size")]
    pool_max_memory: Option<u64>,
    cache_dir: Option<PathBuf>,
    #[serde(with = "crate::units::serde_units::size")]
    max_module_size: Option<u64>,
    consume_fuel: bool,
    epoch_interruption: bool,
    #[serde(with = "crate::units::serde_units::duration")]
    epoch_tick: Option<Duration>,
    #[serde(with = "crate::units::serde_units::size")]
    max_wasm_stack: Option<u64>,
    parallel_compilation: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            opt_level: OptLevel::Speed,
            strategy: Strategy::Cranelift,
            features: BTreeMap::new(),
            pooling: false,
            pool_instances: 100,
            pool_max_memory: None,
            cache_dir: None,
            max_module_size: Some(DEFAULT_MAX_MODULE_SIZE),
            consume_fuel: false,
            epoch_interruption: true,
            epoch_tick: Some(Duration::from_millis(2)),
            max_wasm_stack: Some(512 << 10),
            parallel_compilation: true,
        }
    }
}

impl EngineConfig {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cranelift optimisation level. Default: [`OptLevel::Speed`].
    pub fn opt_level(mut self, level: OptLevel) -> Self {
        self.opt_level = level;
        self
    }

    /// The configured optimisation level.
    pub fn get_opt_level(&self) -> OptLevel {
        self.opt_level
    }

    /// Compiler. Default: [`Strategy::Cranelift`].
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Turns one proposal on or off. Default: Wasmtime's defaults, listed on
    /// [`WasmFeature`]. A module using a disabled proposal is rejected with
    /// [`InvalidReason::FeatureDisabled`](crate::InvalidReason::FeatureDisabled).
    pub fn feature(mut self, feature: WasmFeature, enabled: bool) -> Self {
        self.features.insert(feature, enabled);
        self
    }

    /// Whether `feature` was set explicitly, and to what.
    pub fn get_feature(&self, feature: WasmFeature) -> Option<bool> {
        self.features.get(&feature).copied()
    }

    /// Uses the pooling instance allocator: instance slots, memories and
    /// tables are reserved up front and reused, with copy-on-write memory
    /// images, which makes stateless instantiation a few microseconds.
    /// Default: off (on-demand allocation).
    pub fn pooling(mut self, on: bool) -> Self {
        self.pooling = on;
        self
    }

    /// Whether the pooling allocator is on.
    pub fn get_pooling(&self) -> bool {
        self.pooling
    }

    /// Number of instance slots in the pool (instances alive at once across
    /// the engine). Default: 100. Only with [`pooling`](Self::pooling).
    pub fn pool_instances(mut self, n: u32) -> Self {
        self.pool_instances = n;
        self
    }

    /// Largest linear memory a pooled slot can hold. Default: 256 MiB.
    /// Only with [`pooling`](Self::pooling).
    pub fn pool_max_memory(mut self, bytes: u64) -> Self {
        self.pool_max_memory = Some(bytes);
        self
    }

    /// Directory of the on-disk compilation cache, keyed by Wasmtime
    /// version, engine configuration and module hash. Default: no cache.
    /// A relative path is made absolute against the current directory.
    /// Precompiled artifacts inside this directory are trusted.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The cache directory, if any.
    pub fn get_cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Largest module accepted from any source, enforced while reading.
    /// Default: 64 MiB ([`DEFAULT_MAX_MODULE_SIZE`]). `None` removes the cap.
    pub fn max_module_size(mut self, bytes: Option<u64>) -> Self {
        self.max_module_size = bytes;
        self
    }

    /// The module size cap.
    pub fn get_max_module_size(&self) -> Option<u64> {
        self.max_module_size
    }

    /// Instruments code with fuel metering so that calls can have an
    /// instruction budget and report fuel consumed. Costs roughly twice what
    /// epoch interruption costs. Default: off.
    pub fn consume_fuel(mut self, on: bool) -> Self {
        self.consume_fuel = on;
        self
    }

    /// Whether fuel metering is on.
    pub fn get_consume_fuel(&self) -> bool {
        self.consume_fuel
    }

    /// Epoch interruption, the machinery behind wall-clock timeouts and
    /// cancellation. Default: on. With it off, timeouts and
    /// [`CancelHandle`](crate::CancelHandle)s are refused as a config error.
    pub fn epoch_interruption(mut self, on: bool) -> Self {
        self.epoch_interruption = on;
        self
    }

    /// Whether epoch interruption is on.
    pub fn get_epoch_interruption(&self) -> bool {
        self.epoch_interruption
    }

    /// How often the engine's ticker thread advances the epoch: the
    /// resolution of timeouts and the latency of cancellation. Default: 2 ms.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = Some(tick);
        self
    }

    /// The epoch tick.
    pub fn get_epoch_tick(&self) -> Duration {
        self.epoch_tick.unwrap_or(Duration::from_millis(2))
    }

    /// Maximum wasm stack per call; deeper recursion traps with
    /// [`TrapKind::StackOverflow`](crate::TrapKind::StackOverflow).
    /// Default: 512 KiB.
    pub fn max_wasm_stack(mut self, bytes: u64) -> Self {
        self.max_wasm_stack = Some(bytes);
        self
    }

    /// The wasm stack cap.
    pub fn get_max_wasm_stack(&self) -> u64 {
        self.max_wasm_stack.unwrap_or(512 << 10)
    }

    /// Compiles functions on several threads. Default: on.
    pub fn parallel_compilation(mut self, on: bool) -> Self {
        self.parallel_compilation = on;
        self
    }

    pub(crate) fn pool_memory(&self) -> u64 {
        self.pool_max_memory
            .unwrap_or(crate::limits::DEFAULT_MAX_MEMORY)
    }

    /// Builds the Wasmtime configuration. Checks what the user typed before
    /// anything expensive is made.
    pub(crate) fn to_wasmtime(&self) -> Result<wasmtime::Config> {
        let mut c = wasmtime::Config::new();
        c.cranelift_opt_level(match self.opt_level {
            OptLevel::None => wasmtime::OptLevel::None,
            OptLevel::Speed => wasmtime::OptLevel::Speed,
            OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
        });
        match self.strategy {
            Strategy::Cranelift => {
                c.strategy(wasmtime::Strategy::Cranelift);
            }
            Strategy::Winch => {
                return Err(Error::config(
                    "compiler strategy `winch` is not available: plugbox was built without Winch",
                ));
            }
        }
        // Disabling SIMD implies disabling relaxed SIMD unless the user
        // asked for the (invalid) combination explicitly.
        if self.features.get(&WasmFeature::Simd) == Some(&false)
            && !self.features.contains_key(&WasmFeature::RelaxedSimd)
        {
            WasmFeature::RelaxedSimd.apply(&mut c, false);
        }
        for (feature, on) in &self.features {
            feature.apply(&mut c, *on);
        }
        c.consume_fuel(self.consume_fuel);
        c.epoch_interruption(self.epoch_interruption);
        let stack = self.get_max_wasm_stack();
        if stack == 0 || stack > 256 << 20 {
            return Err(Error::config(format!(
                "invalid wasm stack size `{stack}`: must be between 1 byte and 256 MiB"
            )));
        }
        c.max_wasm_stack(stack as usize);
        c.parallel_compilation(self.parallel_compilation);
        if self.get_epoch_tick().is_zero() {
            return Err(Error::config("invalid epoch tick `0ms`: must be positive"));
        }
        if self.pooling {
            if self.pool_instances == 0 {
                return Err(Error::config(
                    "invalid pool size `0`: need at least one instance",
                ));
            }
            let mut pool = wasmtime::PoolingAllocationConfig::new();
            let n = self.pool_instances;
            pool.total_core_instances(n)
                .total_component_instances(n)
                .total_memories(n)
                .total_tables(n)
                .max_memory_size(self.pool_memory() as usize)
                .max_unused_warm_slots(n.min(100));
            c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        }
        if let Some(dir) = &self.cache_dir {
            let dir = std::path::absolute(dir).map_err(|e| {
                Error::io(format!("invalid cache directory `{}`", dir.display()), e)
            })?;
            std::fs::create_dir_all(&dir).map_err(|e| {
                Error::io(
                    format!("cannot create cache directory `{}`", dir.display()),
                    e,
                )
            })?;
            let mut cache_config = wasmtime::CacheConfig::new();
            cache_config.with_directory(&dir);
            let cache = wasmtime::Cache::new(cache_config).map_err(|e| {
                Error::config(format!("cannot use cache directory `{}`", dir.display()))
                    .with_source(e.into_boxed_dyn_error())
            })?;
            c.cache(Some(cache));
        }
        Ok(c)
    }
}
