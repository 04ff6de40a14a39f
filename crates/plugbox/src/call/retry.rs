//! The stateless path and its one retry policy: every attempt runs in a
//! fresh instance; an attempt that ran out of fuel is retried with more
//! fuel when the limits carry a [`FuelRetry`](crate::FuelRetry).

use super::callable::Call;
use super::instance::Instance;
use crate::clock::Stamp;
use crate::code::{How, Prepared};
use crate::config::FuelRetry;
use crate::error::{Error, Result, TrapKind};
use crate::stats::CallStats;
use std::sync::Arc;

/// Runs `call` in fresh instances of `prepared` until an attempt succeeds,
/// fails for a reason other than fuel, or the policy says stop. A call
/// not `timed` reports no duration when it succeeds (one clock read
/// fewer, for callers that drop the stats). The instances come from this
/// thread's pool shard, or another when it is full.
pub(crate) async fn stateless<C: Call>(
    prepared: &Arc<Prepared>,
    call: &C,
    how: How,
    timed: bool,
) -> Result<(C::Output, CallStats)> {
    // This thread's copy of the plugin is made (the first time) before
    // the call's time starts.
    prepared.ready_here();
    // One clock read for the call's duration and its deadline, which
    // covers instantiation and every attempt.
    let start = Stamp::now();
    let deadline = prepared.deadline_from(start);
    let policy = prepared.limits().get_retry().filter(|_| call.retryable());
    let mut fuel = prepared.limits().get_fuel();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let attempt = match Instance::fresh(prepared, call.args(), fuel, how, deadline).await {
            Ok(mut inst) => {
                inst.pin_deadline(deadline);
                inst.untimed();
                let result = inst.invoke(call, how).await;
                let duration = if timed {
                    start.elapsed()
                } else {
                    std::time::Duration::ZERO
                };
                inst.set_attempts(attempts, duration);
                result.map(|out| (out, inst.stats()))
            }
            Err(e) => Err(e),
        };
        if let Some(more) = next_fuel(policy, &attempt, attempts, fuel) {
            tracing::debug!(plugin = %prepared.name(), attempts, next = more, "out of fuel; retrying with more");
            fuel = Some(more);
            continue;
        }
        return attempt.map_err(|e| {
            let stats = CallStats {
                attempts,
                duration: start.elapsed(),
                ..e.call_stats().unwrap_or_default()
            };
            with_attempts(e, attempts).with_stats(stats)
        });
    }
}

/// The fuel for the next attempt, if the policy says to retry.
fn next_fuel<T>(
    policy: Option<FuelRetry>,
    result: &Result<T>,
    attempts: u32,
    fuel: Option<u64>,
) -> Option<u64> {
    let policy = policy?;
    let err = result.as_ref().err()?;
    if err.trap_kind() != Some(TrapKind::OutOfFuel) || attempts >= policy.max_attempts {
        return None;
    }
    let current = fuel?;
    if current >= policy.max_fuel {
        return None;
    }
    Some(current.saturating_mul(policy.factor).min(policy.max_fuel))
}

fn with_attempts(err: Error, attempts: u32) -> Error {
    if attempts > 1 {
        err.context(format!(
            "failed after {attempts} attempts with escalating fuel"
        ))
    } else {
        err
    }
}
