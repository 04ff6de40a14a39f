//! Per-call limits: fuel, wall-clock deadlines, cancellation, memory, table
//! and instance caps, and the escalating-fuel retry policy.

use crate::error::{Error, Limit, Result, TrapKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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

/// Limits applied to every call of a plugin.
///
/// A timeout and a memory cap are on by default; set them to `None` to
/// disable them explicitly. In configuration files `"none"` disables a limit;
/// sizes accept units (`"64MiB"`) and durations `"250ms"`.
///
/// ```
/// use plugbox::Limits;
/// use std::time::Duration;
/// let limits = Limits::new().fuel(1_000_000).timeout(Duration::from_millis(250)).max_memory(64 << 20);
/// assert_eq!(limits.get_fuel(), Some(1_000_000));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Limits {
    fuel: Option<u64>,
    #[serde(with = "crate::units::serde_units::duration")]
    timeout: Option<Duration>,
    #[serde(with = "crate::units::serde_units::size")]
    max_memory: Option<u64>,
    max_table_elements: Option<u64>,
    max_instances: Option<u64>,
    trap_on_grow_failure: bool,
    #[serde(with = "crate::units::serde_units::size")]
    max_output: Option<u64>,
    retry: Option<FuelRetry>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: None,
            timeout: Some(DEFAULT_TIMEOUT),
            max_memory: Some(DEFAULT_MAX_MEMORY),
            max_table_elements: Some(DEFAULT_MAX_TABLE_ELEMENTS),
            max_instances: Some(DEFAULT_MAX_INSTANCES),
            trap_on_grow_failure: false,
            max_output: Some(DEFAULT_MAX_OUTPUT),
            retry: None,
        }
    }
}

/// Retry a call that ran out of fuel with a larger budget.
///
/// Attempt *n + 1* gets `factor` times the fuel of attempt *n*, capped at
/// `max_fuel`; at most `max_attempts` attempts are made in all. Only calls on
/// fresh instances are retried (a stateful instance may have been left
/// half-updated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
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
            factor: 4,
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
    /// benchmarks.
    pub fn unlimited() -> Self {
        Self {
            fuel: None,
            timeout: None,
            max_memory: None,
            max_table_elements: None,
            max_instances: None,
            trap_on_grow_failure: false,
            max_output: None,
            retry: None,
        }
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

    /// Wall-clock deadline per call. Default: 30 s ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// The timeout.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Cap on each linear memory, in bytes. Default: 256 MiB
    /// ([`DEFAULT_MAX_MEMORY`]).
    pub fn max_memory(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_memory = bytes.into();
        self
    }

    /// The memory cap.
    pub fn get_max_memory(&self) -> Option<u64> {
        self.max_memory
    }

    /// Cap on each table's elements. Default: 100 000.
    pub fn max_table_elements(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_table_elements = n.into();
        self
    }

    /// The instance cap.
    pub fn get_max_instances(&self) -> Option<u64> {
        self.max_instances
    }

    /// Cap on instances, memories and tables created in one store (one
    /// call's worth for stateless plugins). Default: 100.
    pub fn max_instances(mut self, n: impl Into<Option<u64>>) -> Self {
        self.max_instances = n.into();
        self
    }

    /// When growth past a cap is refused: `false` (default) makes
    /// `memory.grow`/`table.grow` return -1 as the wasm spec says; `true`
    /// traps the call with [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit).
    pub fn trap_on_grow_failure(mut self, on: bool) -> Self {
        self.trap_on_grow_failure = on;
        self
    }

    /// Cap on captured stdout and on captured stderr, each. Default: 1 MiB.
    /// Output past it fails the call with [`Limit::Output`].
    pub fn max_output(mut self, bytes: impl Into<Option<u64>>) -> Self {
        self.max_output = bytes.into();
        self
    }

    /// The output cap.
    pub fn get_max_output(&self) -> Option<u64> {
        self.max_output
    }

    /// Retry out-of-fuel calls with escalating fuel. Default: off.
    pub fn retry(mut self, retry: impl Into<Option<FuelRetry>>) -> Self {
        self.retry = retry.into();
        self
    }

    /// The retry policy.
    pub fn get_retry(&self) -> Option<FuelRetry> {
        self.retry
    }

    /// Checks the limits against the engine they will run on.
    pub(crate) fn check(&self, engine: &crate::EngineConfig) -> Result<()> {
        if self.fuel.is_some() && !engine.get_consume_fuel() {
            return Err(Error::config(
                "a fuel limit needs an engine with fuel metering (EngineConfig::consume_fuel)",
            ));
        }
        if self.timeout.is_some() && !engine.get_epoch_interruption() {
            return Err(Error::config(
                "a timeout needs an engine with epoch interruption (EngineConfig::epoch_interruption)",
            ));
        }
        if let Some(r) = &self.retry {
            if r.max_attempts == 0 || r.factor < 2 {
                return Err(Error::config(format!(
                    "invalid fuel retry policy: max-attempts `{}` must be at least 1 and factor `{}` at least 2",
                    r.max_attempts, r.factor
                )));
            }
            if self.fuel.is_none() {
                return Err(Error::config(
                    "a fuel retry policy needs a fuel limit to escalate",
                ));
            }
        }
        if let (Some(mem), true) = (self.max_memory, engine.get_pooling())
            && mem > engine.pool_memory()
        {
            {
                return Err(Error::config(format!(
                    "memory limit `{}` is larger than the pool's slot size `{}`",
                    crate::units::format_bytes(mem),
                    crate::units::format_bytes(engine.pool_memory())
                )));
            }
        }
        Ok(())
    }
}

/// The error a limiter raises when growth is refused with
/// `trap_on_grow_failure`; classified into [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit).
#[derive(Debug, Clone)]
pub(crate) struct LimitExceeded(pub(crate) Limit);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for LimitExceeded {}

/// The store's resource limiter: enforces the caps and records the peak and
/// the last refusal so errors can say "requested vs allowed".
#[derive(Debug)]
pub(crate) struct Limiter {
    max_memory: Option<u64>,
    max_table: Option<u64>,
    max_instances: usize,
    trap: bool,
    pub(crate) memory_peak: u64,
    pub(crate) denied: Option<Limit>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            max_memory: limits.max_memory,
            max_table: limits.max_table_elements,
            max_instances: limits.max_instances.map_or(usize::MAX, |n| n as usize),
            trap: limits.trap_on_grow_failure,
            memory_peak: 0,
            denied: None,
        }
    }

    fn refuse(&mut self, limit: Limit, initial: bool) -> wasmtime::Result<bool> {
        self.denied = Some(limit.clone());
        if self.trap && !initial {
            Err(wasmtime::Error::new(LimitExceeded(limit)))
        } else {
            Ok(false)
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        match self.max_memory {
            Some(max) if desired > max => self.refuse(
                Limit::Memory {
                    requested: desired,
                    allowed: max,
                },
                current == 0,
            ),
            _ => {
                self.memory_peak = self.memory_peak.max(desired);
                Ok(true)
            }
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let desired = desired as u64;
        match self.max_table {
            Some(max) if desired > max => self.refuse(
                Limit::TableElements {
                    requested: desired,
                    allowed: max,
                },
                current == 0,
            ),
            _ => Ok(true),
        }
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn memories(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_instances
    }
}

/// Cancels a running call from another thread or task.
///
/// Obtain one from [`Instance::cancel_handle`](crate::Instance::cancel_handle)
/// before the call; [`cancel`](Self::cancel) makes the call (and every later
/// call on that instance) fail with [`TrapKind::Cancelled`] within about one
/// epoch tick. Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    flag: Arc<AtomicBool>,
}

impl CancelHandle {
    /// A fresh, un-cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::Release);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// Per-store interruption state read by the epoch callback.
#[derive(Debug, Default)]
pub(crate) struct Interrupt {
    pub(crate) deadline: Option<Instant>,
    pub(crate) cancel: Option<CancelHandle>,
    pub(crate) reason: Option<TrapKind>,
    /// Yield to the async executor on each tick instead of continuing.
    pub(crate) yield_async: bool,
}

impl Interrupt {
    /// Whether the call must stop now (records why).
    pub(crate) fn expired(&mut self) -> bool {
        if self.cancel.as_ref().is_some_and(CancelHandle::is_cancelled) {
            self.reason = Some(TrapKind::Cancelled);
            return true;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.reason = Some(TrapKind::Timeout);
            return true;
        }
        false
    }

    /// Decides what the guest does at an epoch tick.
    pub(crate) fn on_tick(&mut self) -> wasmtime::UpdateDeadline {
        if self.expired() {
            return wasmtime::UpdateDeadline::Interrupt;
        }
        if self.yield_async {
            wasmtime::UpdateDeadline::Yield(1)
        } else {
            wasmtime::UpdateDeadline::Continue(1)
        }
    }
}

/// Usage of one call, reported by the library and by `plugbox --stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Fuel consumed by the last attempt, when fuel metering is on.
    pub fuel_consumed: Option<u64>,
    /// Wall-clock time of the call (all attempts).
    pub duration: Duration,
    /// Largest linear memory size reached, in bytes.
    pub memory_peak: u64,
    /// Attempts made (more than 1 only with a [`FuelRetry`] policy).
    pub attempts: u32,
}
