//! The fence that keeps a Redis write the guest was told failed from
//! being applied afterwards.
//!
//! A write is a Lua script sent to Redis; the host stops waiting for it at
//! the operation's deadline. Redis may still hold it (frozen, swapping,
//! the bytes still in a socket buffer) and run it whenever it gets to it —
//! long after the guest heard that the write failed, and perhaps retried
//! it. So every write carries the latest Redis time it may run at, and the
//! script compares it with Redis's own clock (`TIME`) before it changes
//! anything: once the host's deadline has passed, the write can no longer
//! happen.
//!
//! That latest time is in Redis's clock, never the host's: the host reads
//! Redis's clock (`TIME`, or the `now` every write answers with) and notes
//! its own monotonic instant *after* the answer came, so the reading is
//! at most Redis's time at that instant. The fence is that reading plus the
//! host's time left until the deadline, less 0.1% (twice the most NTP
//! slews a clock), so it falls at or before the deadline on Redis's clock
//! whatever the two machines' clocks say and however far the host's wall
//! clock is from Redis's. A reading is kept only while it is fresh, and
//! dropped after any failure (the connection may then go to a restarted
//! server): the next write reads `TIME` first. What the fence cannot cover
//! is Redis's clock being stepped back (not slewed) while a write is in
//! flight; a step back of `S` lets a late write through for up to `S`.
//!
//! A write whose answer never came is then settled by its deadline —
//! applied before it or never — but which of the two is unknown, so the
//! guest hears [`KvErrorKind::OutcomeUnknown`](crate::KvErrorKind), not
//! `Unavailable` (which says nothing was written).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Readings older than this are read again before the next write: the
/// fence then never leans on a long extrapolation.
const FRESH: Duration = Duration::from_secs(5);

/// How much faster Redis's clock may run than the host's: 1/1000.
const RATE_MARGIN: u32 = 1000;

/// Redis's clock, read at a host instant.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    /// The host's instant, taken once the answer holding the reading came.
    host: Instant,
    /// Redis's clock, in microseconds since the epoch.
    redis_us: i64,
}

impl Reading {
    /// The last Redis time (microseconds) a write whose host deadline is
    /// `deadline` may run at.
    pub(super) fn fence(self, deadline: Instant) -> i64 {
        let left = deadline.saturating_duration_since(self.host);
        let left = left - left / RATE_MARGIN;
        let left = i64::try_from(left.as_micros()).unwrap_or(i64::MAX);
        self.redis_us.saturating_add(left)
    }
}

/// The latest reading of one Redis server's clock.
#[derive(Debug, Default)]
pub(super) struct Clock {
    last: Mutex<Option<Reading>>,
}

impl Clock {
    fn last(&self) -> std::sync::MutexGuard<'_, Option<Reading>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latest reading, if it is fresh.
    pub(super) fn fresh(&self) -> Option<Reading> {
        self.last().filter(|r| r.host.elapsed() < FRESH)
    }

    /// Notes that Redis's clock said `redis_us` in an answer that came
    /// just now; the reading.
    pub(super) fn record(&self, redis_us: i64) -> Reading {
        let reading = Reading {
            host: Instant::now(),
            redis_us,
        };
        *self.last() = Some(reading);
        reading
    }

    /// Drops the reading: after a failure, the next write reads Redis's
    /// clock again.
    pub(super) fn forget(&self) {
        *self.last() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_is_the_reading_plus_the_time_left_less_the_margin() {
        let host = Instant::now();
        let reading = Reading {
            host,
            redis_us: 1_000_000,
        };
        assert_eq!(reading.fence(host + Duration::from_secs(1)), 1_999_000);
        // A deadline already past: the reading itself, which a script
        // running after it always finds passed.
        assert_eq!(reading.fence(host - Duration::from_secs(1)), 1_000_000);
        let late = Reading {
            host,
            redis_us: i64::MAX - 5,
        };
        assert_eq!(late.fence(host + Duration::from_secs(1)), i64::MAX);
    }
}
