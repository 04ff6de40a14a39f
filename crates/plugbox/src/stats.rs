//! What one call used.

use std::time::Duration;

/// Usage of one call, reported by the library and by `plugbox --stats`;
/// failed calls carry theirs in [`Error::call_stats`](crate::Error::call_stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// Fuel consumed by the last attempt, when fuel metering is on and the
    /// call was not interrupted by its deadline or a cancel (Wasmtime does
    /// not record the fuel of interrupted code).
    pub fuel_consumed: Option<u64>,
    /// Wall-clock time of the call (all attempts, instantiation included
    /// for stateless calls).
    pub duration: Duration,
    /// Largest linear memory size reached, in bytes.
    pub memory_peak: u64,
    /// Attempts made (more than 1 only with a [`FuelRetry`](crate::FuelRetry)
    /// policy).
    pub attempts: u32,
}
