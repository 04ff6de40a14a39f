//! Per-call limits (`[plugins.NAME.limits]` in a manifest, the limit flags).

use super::value::{OrNone, check_duration, merge_fields, serde_units};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default cap on a plugin's linear memory: 256 MiB.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;
/// Default wall-clock timeout per call: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on table elements: 100 000.
pub const DEFAULT_MAX_TABLE_ELEMENTS: u64 = 100_000;
/// Default cap on instances (and on memories and tables) per store: 100.
pub const DEFAULT_MAX_INSTANCES: u64 = 100;
/// Default cap on captured stdout and stderr, each: 1 MiB.
pub const DEFAULT_MAX_OUTPUT: u64 = 1 << 20;
const DEFAULT_RETRY_FACTOR: u64 = 4;

/// Limits applied to every call of a plugin.
///
/// A timeout and a memory cap are on by default; set them to `None`
/// (`"none"` in a manifest or on the command line) to switch them off.
/// Sizes accept units (`"64MiB"`), durations `"250ms"`.
///
/// ```
/// use plugbox::Limits;
/// use std::time::Duration;
/// let limits = Limits::new().fuel(1_000_000).timeout(Duration::from_millis(250)).max_memory(64 << 20);
/// assert_eq!(limits.get_fuel(), Some(1_000_000));
/// assert_eq!(Limits::new().get_timeout(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[cfg_attr(feature = "cli", command(next_help_heading = "Limits"))]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Limits {
    /// Instruction budget (fuel) per call; turns on fuel metering [default: none]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    fuel: Option<u64>,

    /// Wall-clock timeout per call, host calls included, or `none` [default: 30s]
    #[cfg_attr(feature = "cli", arg(long, value_name = "DURATION", value_parser = super::value::parse_or_none::<Duration>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, Duration>",
        serialize_with = "serde_units::ser_or_none::<_, Duration>"
    )]
    timeout: Option<OrNone<Duration>>,

    /// Linear memory cap, or `none`, which a pooled engine refuses (`run` and `call` leave the pool out for it unless `pooling` or `pool-max-memory` is set) [default: 256MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_memory: Option<OrNone<u64>>,

    /// Table element cap, or `none` [default: 100000]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", value_parser = super::value::parse_count_or_none))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_count_or_none",
        serialize_with = "serde_units::ser_count_or_none"
    )]
    max_table_elements: Option<OrNone<u64>>,

    /// Cap on instances, memories and tables per store, or `none` [default: 100]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N", value_parser = super::value::parse_count_or_none))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_count_or_none",
        serialize_with = "serde_units::ser_count_or_none"
    )]
    max_instances: Option<OrNone<u64>>,

    /// Trap when memory or table growth is refused, instead of returning -1 [default: false]
    #[cfg_attr(
        feature = "cli",
        arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    trap_on_grow_failure: Option<bool>,

    /// Cap on captured stdout and stderr, each, or `none` [default: 1MiB]
    #[cfg_attr(feature = "cli", arg(long, value_name = "SIZE", value_parser = super::value::parse_or_none::<u64>))]
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "serde_units::de_or_none::<_, u64>",
        serialize_with = "serde_units::ser_or_none::<_, u64>"
    )]
    max_output: Option<OrNone<u64>>,

    /// Attempts for an out-of-fuel call, each with more fuel; needs `fuel` [default: 1]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_attempts: Option<u32>,

    /// Fuel multiplier between attempts, at least 2 [default: 4]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_factor: Option<u64>,

    /// Ceiling on one attempt's fuel when retrying [default: none]
    #[cfg_attr(feature = "cli", arg(long, value_name = "N"))]
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_max_fuel: Option<u64>,
}

/// Retry a call that ran out of fuel with a larger budget.
///
/// Attempt *n + 1* gets `factor` times the fuel of attempt *n*, capped at
/// `max_fuel`; at most `max_attempts` attempts are made in all. Only calls on
/// fresh instances are retried (a stateful instance may have been left
/// half-updated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuelRetry {
    /// Total attempts, the first included. Must be at least 1.
    pub max_attempts: u32,
    /// Multiplier applied to the fuel budget after each out-of-fuel attempt.
    /// Must be at least 2.
    pub factor: u64,
    /// Ceiling on one attempt's fuel.
    pub max_fuel: u64,
}

impl FuelRetry {
    /// `max_attempts` attempts, fuel ×4 each time, up to `max_fuel`.
    pub fn new(max_attempts: u32, max_fuel: u64) -> Self {
        Self {
            max_attempts,
            factor: DEFAULT_RETRY_FACTOR,
            max_fuel,
        }
    }
}

impl Limits {
    /// The defaults: 30 s timeout, 256 MiB memory, 100 000 table elements,
    /// 100 instances, 1 MiB of captured output per stream, no fuel budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// No limits at all (no timeout, no caps). For trusted code and
    /// benchmarks, on an engine without the pooling allocator (whose
    /// memory slots are a cap of their own; see [`max_memory`](Self::max_memory)).
    pub fn unlimited() -> Self {
        Self::new()
            .timeout(None)
            .max_memory(None)
            .max_table_elements(None)
            .max_instances(None)
            .max_output(None)
    }

    /// `self` with the settings `over` sets (flags over a manifest).
    #[must_use]
    pub fn merge(mut self, over: &Self) -> Self {
        let base = &mut self;
        merge_fields!(base, over;
            set: fuel, timeout, max_memory, max_table_elements, max_instances,
                 trap_on_grow_failure, max_output, retry_attempts, retry_factor, retry_max_fuel;
            lists: );
        self
    }

    /// Instruction budget per call. Default: none. Needs an engine with
    /// [`EngineConfig::consume_fuel`](crate::EngineConfig::consume_fuel).
    pub fn fuel(mut self, fuel: impl Into<Option<u64>>) -> Self {
        self.fuel = fuel.into();
        self
    }

    /// The fuel budget.
    pub fn get_fuel(&self) -> Option<u64> {
        self.fuel
    }

    /// Wall-clock deadline per call, covering host calls (WASI sleeps,
    /// blocking reads and writes, async host functions) as well as wasm
    /// code. Default: 30 s ([`DEFAULT_TIMEOUT`]). At most 365 days.
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = Some(OrNone(timeout.into()));
        self
    }

    /// The timeout: the one set, or [`DEFAULT_TIMEOUT`] (a plugin built
    /// on an engine with another
    /// [`default_timeout`](crate::EngineConfig::default_timeout) gets that).
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout.map_or(Some(DEFAULT_TIMEOUT), |t| t.0)
    }

    /// These limits with an unset timeout taken from `engine`'s default.
    pub(crate) fn with_engine_defaults(mut self, engine: &super::engine::EngineConfig) -> Self {
        if self.timeout.is_none() {
            self.timeout = Some(OrNone(engine.get_default_timeout()));
        }
        self
    }

    /// Cap on each linear memory, in bytes, or `None` for no cap. Default:
    /// 256 MiB ([`DEFAULT_MAX_MEMORY`]). With the pooling allocator it may
    /// not exceed the pool's slot size
    /// ([`EngineConfig::pool_max_memory`](crate::EngineConfig::pool_max_memory)),
    /// and `None` is refused: a pooled memory cannot grow past its slot.
    pub fn max_memory(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_memory = Some(OrNone(bytes.into()));
        self
    }

    /// The memory cap.
    pub fn get_max_memory(&self) -> Option<u64> {
        self.max_memory.map_or(Some(DEFAULT_MAX_MEMORY), |m| m.0)
    }

    /// Cap on each table's elements. Default: 100 000.
    pub fn max_table_elements(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_table_elements = Some(OrNone(n.into()));
        self
    }

    /// The table element cap.
    pub fn get_max_table_elements(&self) -> Option<u64> {
        self.max_table_elements
            .map_or(Some(DEFAULT_MAX_TABLE_ELEMENTS), |m| m.0)
    }

    /// Cap on instances, memories and tables created in one store (one
    /// call's worth for stateless plugins). Default: 100.
    pub fn max_instances(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_instances = Some(OrNone(n.into()));
        self
    }

    /// The instance cap.
    pub fn get_max_instances(&self) -> Option<u64> {
        self.max_instances
            .map_or(Some(DEFAULT_MAX_INSTANCES), |m| m.0)
    }

    /// When growth past a cap is refused: `false` (default) makes
    /// `memory.grow`/`table.grow` return -1 as the wasm spec says; `true`
    /// traps the call with [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit).
    pub fn trap_on_grow_failure(mut self, on: bool) -> Self {
        self.trap_on_grow_failure = Some(on);
        self
    }

    /// Whether refused growth traps.
    pub fn get_trap_on_grow_failure(&self) -> bool {
        self.trap_on_grow_failure.unwrap_or(false)
    }

    /// Cap on captured stdout and on captured stderr, each. Default: 1 MiB.
    /// Output past it fails the call with
    /// [`Limit::Output`](crate::Limit::Output).
    pub fn max_output(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_output = Some(OrNone(bytes.into()));
        self
    }

    /// The output cap.
    pub fn get_max_output(&self) -> Option<u64> {
        self.max_output.map_or(Some(DEFAULT_MAX_OUTPUT), |m| m.0)
    }

    /// Retry out-of-fuel calls with escalating fuel. Default: off.
    pub fn retry(mut self, retry: impl Into<Option<FuelRetry>>) -> Self {
        let retry = retry.into();
        self.retry_attempts = retry.map(|r| r.max_attempts);
        self.retry_factor = retry.map(|r| r.factor);
        self.retry_max_fuel = retry.map(|r| r.max_fuel);
        self
    }

    /// The retry policy: on when more than one attempt is allowed.
    pub fn get_retry(&self) -> Option<FuelRetry> {
        let attempts = self.retry_attempts?;
        Some(FuelRetry {
            max_attempts: attempts,
            factor: self.retry_factor.unwrap_or(DEFAULT_RETRY_FACTOR),
            max_fuel: self.retry_max_fuel.unwrap_or(u64::MAX),
        })
    }

    /// Checks the limits against the engine they will run on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) naming the setting.
    pub fn check(&self, engine: &super::engine::EngineConfig) -> Result<()> {
        if self.fuel.is_some() && !engine.get_consume_fuel() {
            return Err(Error::config(
                "a fuel limit needs an engine with fuel metering (consume-fuel, `EngineConfig::consume_fuel`)",
            ));
        }
        if let Some(timeout) = self.get_timeout() {
            check_duration("timeout", timeout)?;
            if timeout.is_zero() {
                return Err(Error::config(
                    "invalid timeout `0s`: must be more than zero (`none` for no timeout)",
                ));
            }
            if !engine.get_epoch_interruption() {
                return Err(Error::config(
                    "a timeout needs an engine with epoch interruption (epoch-interruption, EngineConfig::epoch_interruption)",
                ));
            }
        }
        if let Some(r) = self.get_retry() {
            if r.max_attempts == 0 || r.factor < 2 {
                return Err(Error::config(format!(
                    "invalid fuel retry policy: retry-attempts `{}` must be at least 1 and retry-factor `{}` at least 2",
                    r.max_attempts, r.factor
                )));
            }
            if self.fuel.is_none() {
                return Err(Error::config(
                    "a fuel retry policy (retry-attempts) needs a fuel limit to escalate",
                ));
            }
        } else if self.retry_factor.is_some() || self.retry_max_fuel.is_some() {
            return Err(Error::config(
                "retry-factor and retry-max-fuel need retry-attempts",
            ));
        }
        // A pooled memory cannot grow past its slot: a larger limit, or
        // none, would be a promise the pool breaks silently.
        let slot = engine.get_pool_max_memory();
        if engine.get_pooling() && self.get_max_memory().is_none_or(|mem| mem > slot) {
            let slot = crate::units::format_bytes(slot);
            let (limit, fix) = match self.get_max_memory() {
                Some(mem) => (
                    crate::units::format_bytes(mem),
                    "lower max-memory or raise pool-max-memory",
                ),
                None => (
                    "none".to_string(),
                    "set max-memory to at most the slot size",
                ),
            };
            return Err(Error::config(format!(
                "memory limit `{limit}` (max-memory) is larger than the pool's slot size `{slot}` (pool-max-memory): {fix}, or set pooling = false (--pooling=false) to allocate memories on demand"
            )));
        }
        Ok(())
    }
}
