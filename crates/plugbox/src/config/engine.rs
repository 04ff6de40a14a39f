//! Engine settings: compiler, proposals, allocation, caching, and the
//! machinery behind limits (`[engine]` in a manifest, the engine flags).

use super::features::WasmFeature;
use super::value::{OrNone, check_duration, merge_fields, serde_units};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Default cap on the size of a module read from any source: 64 MiB.
pub const DEFAULT_MAX_MODULE_SIZE: u64 = 64 << 20;
const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(2);
const DEFAULT_MAX_STACK: u64 = 512 << 10;
/// The shortest and longest epoch tick: the tick is the resolution of every
/// deadline, so a long one would make timeouts meaningless.
const EPOCH_TICK_RANGE: (Duration, Duration) =
    (Duration::from_micros(100), Duration::from_millis(100));
const MAX_STACK_LIMIT: u64 = 256 << 20;
/// Caps on what a module may declare, from real programs: CPython for WASI
/// (componentize-py) has 13 365 functions, the largest 427 KB with 271
/// locals; SpiderMonkey (componentize-js) 12 716 functions; ripgrep 5 796.
const DEFAULT_MAX_FUNCTIONS: u64 = 50_000;
const DEFAULT_MAX_FUNCTION_SIZE: u64 = 2 << 20;
const DEFAULT_MAX_LOCALS: u64 = 10_000;

/// How hard Cranelift optimises generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Compiler {
    /// Cranelift, the optimising compiler (the default).
    #[default]
    Cranelift,
    /// Winch, the baseline compiler; only when plugbox is built with the
    /// `winch` feature.
    Winch,
}

/// Engine-wide settings: compiler, proposals, memory allocation, caching
/// and the machinery behind per-call limits.
///
/// The `[engine]` table of a manifest and the engine flags of the CLI
/// (same names). Build it with the setters (each states its default) or
/// deserialize it; unknown fields are rejected.
///
/// ```
/// use plugbox::{EngineConfig, OptLevel, WasmFeature};
/// let config = EngineConfig::new()
///     .opt_level(OptLevel::SpeedAndSize)
///     .feature(WasmFeature::Simd, false)
///     .pooling(true);
/// assert_eq!(config.get_opt_level(), OptLevel::SpeedAndSize);
/// assert_eq!(config.get_feature(WasmFeature::Simd), Some(false));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Engine"))]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct EngineConfig {
    /// Cranelift optimisation level [default: speed]
    #[cfg_attr(feature = "cli", arg(long, value_name = "LEVEL"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    opt_level: Option<OptLevel>,

    /// Compiler: cranelift, or winch when plugbox is built with it [default: cranelift]
    #[cfg_attr(feature = "cli", arg(long, value_name = "COMPILER"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    compiler: Option<Compiler>,

    /// Enable a WebAssembly proposal (repeatable): simd, relaxed-simd, threads, multi-memory, memory64, reference-types, bulk-memory, multi-value, tail-call, extended-const, function-references, gc, exceptions, wide-arithmetic, component-model, component-model-async [default: Wasmtime 48's set but gc, exceptions and component-model-async]
    #[cfg_attr(feature = "cli", arg(long, value_name = "FEATURE", value_parser = super::value::parse_feature))]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    enable: Vec<WasmFeature>,

    /// Disable a WebAssembly proposal (repeatable)
    #[cfg_attr(feature = "cli", arg(long, value_name = "FEATURE", value_parser = super::value::parse_feature))]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    disable: Vec<WasmFeature>,

    /// Pooling instance allocator with copy-on-write memory images; falls back to on-demand allocation when its address space cannot be reserved [default: true]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pooling: Option<bool>,

    /// Instances (and memories, tables, async stacks) alive at once in the pool; `run` and `call` of the CLI use 256 unless set [default: 1000]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pool_instances: Option<u32>,

    /// Largest linear memory of a pooled slot; a plugin's max-memory may not exceed it, nor be `none` [default: 256MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    pub(super) pool_max_memory: Option<u64>,

    /// Bytes of each pooled memory and table reset in place rather than returned to the kernel [default: 64KiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    pub(super) pool_keep_resident: Option<u64>,

    /// Freed pool slots returned to the kernel in one batch [default: 1]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pool_decommit_batch: Option<u32>,

    /// Unused slots kept warm for the modules that used them last [default: 100]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pool_warm_slots: Option<u32>,

    /// Pools (Wasmtime engines) the pool's slots are split over, one per calling thread in turn, each of at least 16 slots, so that threads do not contend in Wasmtime; `run` and `call` of the CLI use 1 unless set [default: the number of CPUs, at most 8]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) pool_shards: Option<u32>,

    /// Compile cache directory [default: none; CLI: the per-user cache]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DIR"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cache_dir: Option<PathBuf>,

    /// Size of the compile cache, least recently used entries evicted first [default: 1GiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    pub(super) cache_max_size: Option<u64>,

    /// Largest module accepted, enforced while reading, or `none` [default: 64MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_module_size: Option<OrNone<u64>>,

    /// Most functions a module (or component) may define, or `none` [default: 50000]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", value_parser = super::value::parse_count_or_none))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_count_or_none",
        serialize_with = "serde_units::ser_count_or_none"
    )]
    max_functions: Option<OrNone<u64>>,

    /// Largest body of one function, or `none` [default: 2MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_function_size: Option<OrNone<u64>>,

    /// Most locals one function may declare, or `none` [default: 10000]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", value_parser = super::value::parse_count_or_none))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_count_or_none",
        serialize_with = "serde_units::ser_count_or_none"
    )]
    max_locals: Option<OrNone<u64>>,

    /// Fuel metering (needed by `fuel` limits; on when a plugin sets one) [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    consume_fuel: Option<bool>,

    /// Epoch interruption, behind timeouts and cancellation [default: true]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch_interruption: Option<bool>,

    /// Resolution of deadlines, 100us to 100ms [default: 2ms]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_unit::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, Duration>",
        serialize_with = "serde_units::ser_opt::<_, Duration>"
    )]
    epoch_tick: Option<Duration>,

    /// Maximum wasm stack; deeper recursion is a stack overflow [default: 512KiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_unit::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_opt::<_, u64>",
        serialize_with = "serde_units::ser_opt::<_, u64>"
    )]
    max_stack: Option<u64>,

    /// Timeout of plugins that set none of their own, or `none` [default: 30s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_or_none::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, Duration>",
        serialize_with = "serde_units::ser_or_none::<_, Duration>"
    )]
    default_timeout: Option<OrNone<Duration>>,

    /// Compile functions on several threads [default: true]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_compilation: Option<bool>,
}

impl EngineConfig {
    /// The default configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// `self` with the settings `over` sets (flags over a manifest).
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        merge_fields!(base, over;
            set: opt_level, compiler, pooling, pool_instances, pool_max_memory, pool_keep_resident,
                 pool_decommit_batch, pool_warm_slots, pool_shards, cache_dir, cache_max_size,
                 max_module_size, max_functions, max_function_size, max_locals, consume_fuel, epoch_interruption, epoch_tick, max_stack,
                 default_timeout, parallel_compilation;
            lists: );
        for f in &over.enable {
            self = self.feature(*f, true);
        }
        for f in &over.disable {
            self = self.feature(*f, false);
        }
        self
    }

    /// Cranelift optimisation level. Default: [`OptLevel::Speed`].
    pub fn opt_level(mut self, level: OptLevel) -> Self {
        self.opt_level = Some(level);
        self
    }

    /// The optimisation level in force.
    pub fn get_opt_level(&self) -> OptLevel {
        self.opt_level.unwrap_or_default()
    }

    /// Compiler. Default: [`Compiler::Cranelift`].
    pub fn compiler(mut self, compiler: Compiler) -> Self {
        self.compiler = Some(compiler);
        self
    }

    /// The compiler in force.
    pub fn get_compiler(&self) -> Compiler {
        self.compiler.unwrap_or_default()
    }

    /// Turns one proposal on or off. Default: Wasmtime's defaults, listed on
    /// [`WasmFeature`]. A module using a disabled proposal is rejected with
    /// [`InvalidReason::FeatureDisabled`](crate::InvalidReason::FeatureDisabled).
    pub fn feature(mut self, feature: WasmFeature, enabled: bool) -> Self {
        self.enable.retain(|f| *f != feature);
        self.disable.retain(|f| *f != feature);
        if enabled {
            self.enable.push(feature);
        } else {
            self.disable.push(feature);
        }
        self
    }

    /// Whether `feature` was set explicitly, and to what.
    pub fn get_feature(&self, feature: WasmFeature) -> Option<bool> {
        if self.disable.contains(&feature) {
            Some(false)
        } else if self.enable.contains(&feature) {
            Some(true)
        } else {
            None
        }
    }

    /// Largest module accepted from any source, enforced while reading.
    /// Default: 64 MiB ([`DEFAULT_MAX_MODULE_SIZE`]). `None` removes the cap.
    pub fn max_module_size(mut self, bytes: Option<u64>) -> Self {
        self.max_module_size = Some(OrNone(bytes));
        self
    }

    /// The module size cap.
    pub fn get_max_module_size(&self) -> Option<u64> {
        self.max_module_size
            .map_or(Some(DEFAULT_MAX_MODULE_SIZE), |c| c.0)
    }

    /// Most functions a module (all modules of a component together) may
    /// define; more is refused before compiling, as
    /// [`Limit::Declared`](crate::Limit::Declared). Default: 50 000.
    /// `None` removes the cap.
    pub fn max_functions(mut self, n: Option<u64>) -> Self {
        self.max_functions = Some(OrNone(n));
        self
    }

    /// The function count cap.
    pub fn get_max_functions(&self) -> Option<u64> {
        self.max_functions
            .map_or(Some(DEFAULT_MAX_FUNCTIONS), |c| c.0)
    }

    /// Largest function body, in bytes. Default: 2 MiB. `None` removes the
    /// cap.
    pub fn max_function_size(mut self, bytes: Option<u64>) -> Self {
        self.max_function_size = Some(OrNone(bytes));
        self
    }

    /// The function size cap.
    pub fn get_max_function_size(&self) -> Option<u64> {
        self.max_function_size
            .map_or(Some(DEFAULT_MAX_FUNCTION_SIZE), |c| c.0)
    }

    /// Most locals one function may declare. Default: 10 000. `None` leaves
    /// WebAssembly's own bound (50 000).
    pub fn max_locals(mut self, n: Option<u64>) -> Self {
        self.max_locals = Some(OrNone(n));
        self
    }

    /// The locals cap.
    pub fn get_max_locals(&self) -> Option<u64> {
        self.max_locals.map_or(Some(DEFAULT_MAX_LOCALS), |c| c.0)
    }

    /// Instruments code with fuel metering so that calls can have an
    /// instruction budget and report fuel consumed. Costs roughly twice what
    /// epoch interruption costs. Default: off.
    pub fn consume_fuel(mut self, on: bool) -> Self {
        self.consume_fuel = Some(on);
        self
    }

    /// Whether fuel metering is on.
    pub fn get_consume_fuel(&self) -> bool {
        self.consume_fuel.unwrap_or(false)
    }

    /// Epoch interruption, the machinery behind wall-clock timeouts and
    /// cancellation. Default: on. With it off, timeouts and
    /// [`CancelHandle`](crate::CancelHandle)s are refused as a config error.
    pub fn epoch_interruption(mut self, on: bool) -> Self {
        self.epoch_interruption = Some(on);
        self
    }

    /// Whether epoch interruption is on.
    pub fn get_epoch_interruption(&self) -> bool {
        self.epoch_interruption.unwrap_or(true)
    }

    /// How often the engine's ticker thread advances the epoch: the
    /// resolution of timeouts and the latency of cancellation, between
    /// 100 µs and 100 ms. Default: 2 ms.
    pub fn epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = Some(tick);
        self
    }

    /// The epoch tick.
    pub fn get_epoch_tick(&self) -> Duration {
        self.epoch_tick.unwrap_or(DEFAULT_EPOCH_TICK)
    }

    /// Maximum wasm stack per call; deeper recursion traps with
    /// [`TrapKind::StackOverflow`](crate::TrapKind::StackOverflow).
    /// Between 1 byte and 256 MiB. Default: 512 KiB.
    pub fn max_stack(mut self, bytes: u64) -> Self {
        self.max_stack = Some(bytes);
        self
    }

    /// The wasm stack cap.
    pub fn get_max_stack(&self) -> u64 {
        self.max_stack.unwrap_or(DEFAULT_MAX_STACK)
    }

    /// The timeout of plugins whose limits set none (a plugin's own
    /// `timeout`, even `none`, wins). Default: 30 s
    /// ([`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT)). At most 365 days.
    pub fn default_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.default_timeout = Some(OrNone(timeout.into()));
        self
    }

    /// The default timeout.
    pub fn get_default_timeout(&self) -> Option<Duration> {
        self.default_timeout
            .map_or(Some(super::limits::DEFAULT_TIMEOUT), |t| t.0)
    }

    /// Compiles functions on several threads. Default: on.
    pub fn parallel_compilation(mut self, on: bool) -> Self {
        self.parallel_compilation = Some(on);
        self
    }

    /// Whether compilation runs on several threads.
    pub fn get_parallel_compilation(&self) -> bool {
        self.parallel_compilation.unwrap_or(true)
    }

    /// Checks the values without building anything.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting
    /// and its value.
    pub fn check(&self) -> Result<()> {
        if self.get_compiler() == Compiler::Winch {
            return Err(Error::config(
                "compiler `winch` is not available: plugbox was built without Winch",
            ));
        }
        let stack = self.get_max_stack();
        if stack == 0 || stack > MAX_STACK_LIMIT {
            return Err(Error::config(format!(
                "invalid max-stack `{}`: must be between 1 byte and 256 MiB",
                crate::units::format_size(stack)
            )));
        }
        let tick = self.get_epoch_tick();
        let (min, max) = EPOCH_TICK_RANGE;
        if tick < min || tick > max {
            return Err(Error::config(format!(
                "invalid epoch-tick `{}`: must be between 100us and 100ms (it is the resolution of every timeout)",
                crate::units::format_duration(tick)
            )));
        }
        check_duration("epoch-tick", tick)?;
        if let Some(t) = self.get_default_timeout() {
            check_duration("default-timeout", t)?;
            if t.is_zero() {
                return Err(Error::config(
                    "invalid default-timeout `0s`: must be more than zero (`none` for no timeout)",
                ));
            }
        }
        self.check_alloc()
    }
}
