//! The store's resource limiter: memory and table caps with the peak and
//! the last refusal recorded, so errors can say "requested vs allowed".

use crate::config::Limits;
use crate::error::Limit;

/// The error a limiter raises when growth is refused with
/// `trap_on_grow_failure`; classified into [`ErrorKind::ResourceLimit`](crate::ErrorKind::ResourceLimit).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub(crate) struct LimitExceeded(pub(crate) Limit);

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
            max_memory: limits.get_max_memory(),
            max_table: limits.get_max_table_elements(),
            max_instances: limits
                .get_max_instances()
                .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            trap: limits.get_trap_on_grow_failure(),
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
