//! The clock of deadlines: the kernel's coarse monotonic clock, read in a
//! few nanoseconds without a system call (a precise `Instant::now()` costs
//! several times more, more than a whole call into wasm). Its resolution
//! (a few milliseconds) is below the epoch tick that checks deadlines
//! anyway, and a deadline adds one resolution so it never fires early.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point in time after which a call must stop: nanoseconds on the coarse
/// monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline(u64);

impl Deadline {
    /// `timeout` from now, never earlier (`None` if it overflows).
    pub(crate) fn after(timeout: Duration) -> Option<Self> {
        let nanos = u64::try_from(timeout.as_nanos()).ok()?;
        now()
            .checked_add(nanos)?
            .checked_add(resolution())
            .map(Self)
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        now() >= self.0
    }

    /// The deadline as an `Instant` (for timers); reads the precise clock.
    pub(crate) fn instant(self) -> Instant {
        let left = Duration::from_nanos(self.0.saturating_sub(now()));
        let now = Instant::now();
        now.checked_add(left).unwrap_or(now)
    }
}

#[cfg(target_os = "linux")]
fn read(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    let secs = u64::try_from(ts.tv_sec).ok()?;
    let nanos = u64::try_from(ts.tv_nsec).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Nanoseconds on the coarse monotonic clock.
#[cfg(target_os = "linux")]
fn now() -> u64 {
    read(libc::CLOCK_MONOTONIC_COARSE).unwrap_or_else(fallback_now)
}

#[cfg(not(target_os = "linux"))]
fn now() -> u64 {
    fallback_now()
}

/// Elapsed nanoseconds since the first reading, from `Instant`.
fn fallback_now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// How far the coarse clock may lag the precise one.
fn resolution() -> u64 {
    static RESOLUTION: OnceLock<u64> = OnceLock::new();
    *RESOLUTION.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid, writable timespec.
            if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } == 0 {
                let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
                let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
                return secs.saturating_mul(1_000_000_000).saturating_add(nanos);
            }
        }
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_never_early() {
        let start = Instant::now();
        let d = Deadline::after(Duration::from_millis(20)).unwrap();
        while !d.passed() {
            std::thread::yield_now();
        }
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(Deadline::after(Duration::MAX).is_none());
        let far = Deadline::after(Duration::from_secs(3600)).unwrap();
        assert!(far.instant() > Instant::now() + Duration::from_secs(3599));
    }
}
