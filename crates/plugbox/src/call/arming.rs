//! Arming a call: the fuel and the deadline set before guest code runs.

use crate::clock::{Deadline, Stamp};
use crate::code::{How, Prepared};
use crate::store::StoreState;
use wasmtime::Store;

/// When a call must end.
#[derive(Clone, Copy)]
pub(super) enum Until {
    /// By this deadline (`None`: never).
    At(Option<Deadline>),
    /// The plugin's timeout from the call's start.
    Timeout,
}

/// What arming a call of a plugin involves, read once per instance (the
/// engine's settings are a few pointers away from the instance).
#[derive(Clone, Copy)]
pub(super) struct Arming {
    pub(super) fuel: bool,
    pub(super) epoch: bool,
    pub(super) epoch_timeout: Option<std::time::Duration>,
    /// Calls of the synchronous API run synchronously: no host call can
    /// block (so none is async either, and [`check_sync`](super::instance::check_sync) has nothing to
    /// refuse).
    pub(super) now: bool,
}

impl Arming {
    pub(super) fn of(prepared: &Prepared) -> Self {
        let config = prepared.engine().config();
        let epoch_timeout = prepared.epoch_timeout();
        if epoch_timeout.is_some() {
            // Deadlines that start at a tick need the ticker running.
            prepared.engine().ensure_ticker();
        }
        Self {
            fuel: config.get_consume_fuel(),
            epoch: config.get_epoch_interruption(),
            epoch_timeout,
            now: prepared.sync_how() == How::Sync,
        }
    }
}

/// Sets fuel and the deadline before guest code runs.
///
/// A deadline is checked at every epoch tick. Where only the epoch can
/// end the call (wasm code alone, synchronously, nothing to cancel it), the
/// deadline starts at the call's first tick instead: a call that ends
/// before it (most do) never reads the clock. Otherwise the deadline
/// counts from `start`, read now if the caller has not yet (and then
/// kept for the call's duration: one clock read for both).
#[inline]
pub(super) fn arm(
    store: &mut Store<StoreState>,
    prepared: &Prepared,
    arming: Arming,
    fuel: Option<u64>,
    how: How,
    until: Until,
    start: &mut Option<Stamp>,
) {
    if arming.fuel {
        // Setting fuel cannot fail when fuel metering is on.
        let _ = store.set_fuel(fuel.unwrap_or(u64::MAX));
    }
    if arming.epoch {
        let interrupt = &mut store.data_mut().interrupt;
        interrupt.reason = None;
        interrupt.yield_async = how == How::Async;
        let from_tick = match until {
            Until::Timeout if how == How::Sync && interrupt.cancel.is_none() => {
                arming.epoch_timeout
            }
            _ => None,
        };
        if let Some(timeout) = from_tick {
            // The ticker runs (`Arming::of`).
            interrupt.from_first_tick = Some(timeout);
            interrupt.deadline = None;
            store.set_epoch_deadline(1);
            return;
        }
        interrupt.from_first_tick = None;
        interrupt.deadline = match until {
            Until::At(deadline) => deadline,
            Until::Timeout => prepared.deadline_from(*start.get_or_insert_with(Stamp::now)),
        };
        if interrupt.deadline.is_some() || interrupt.cancel.is_some() || interrupt.yield_async {
            prepared.engine().ensure_ticker();
            store.set_epoch_deadline(1);
        } else {
            store.set_epoch_deadline(u64::MAX / 2);
        }
    }
}
