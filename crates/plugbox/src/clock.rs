//! The clock of deadlines. A deadline is set from the precise monotonic
//! clock, and checked on the kernel's coarse one, read in a few
//! nanoseconds without a system call (a precise read costs several times
//! more, and a deadline is checked far more often than it is set). The
//! coarse clock is the precise one as of the kernel's last timekeeping
//! update, never ahead of it, so a deadline never fires early; it fires
//! late by up to the coarse clock's lag (a kernel tick or two) plus one
//! epoch tick.
//!
//! Setting a deadline from the coarse clock instead is not safe: it lags
//! the precise one by more than its advertised resolution when ticks are
//! late (8 ms against a 4 ms resolution has been measured in a VM), and
//! a deadline set from it then fires that much early.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A point in time after which a call must stop: nanoseconds on the
/// monotonic timebase, set from the precise reading, checked on the
/// coarse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Deadline(u64);

impl Deadline {
    /// `timeout` from now, never earlier (`None` if it overflows).
    pub(crate) fn after(timeout: Duration) -> Option<Self> {
        Self::after_from(Stamp::now(), timeout)
    }

    /// `timeout` from `start` (`None` if it overflows).
    pub(crate) fn after_from(start: Stamp, timeout: Duration) -> Option<Self> {
        let nanos = u64::try_from(timeout.as_nanos()).ok()?;
        start.0.checked_add(nanos).map(Self)
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        now() >= self.0
    }

    /// The deadline as an `Instant` (for timers); reads the precise clock.
    pub(crate) fn instant(self) -> Instant {
        let left = Duration::from_nanos(self.0.saturating_sub(precise_now()));
        let now = Instant::now();
        now.checked_add(left).unwrap_or(now)
    }
}

/// A moment on the precise clock: the start of a call, from which both
/// its deadline and its duration are measured with one clock read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp(u64);

impl Stamp {
    pub(crate) fn now() -> Self {
        Self(precise_now())
    }

    pub(crate) fn elapsed(self) -> Duration {
        Duration::from_nanos(precise_now().saturating_sub(self.0))
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

/// Whether both kernel clocks can be read: deadlines are set on one and
/// checked on the other, so either both are used or neither (the
/// fallback's timebase is not theirs).
#[cfg(target_os = "linux")]
fn kernel_clocks() -> bool {
    static WORK: OnceLock<bool> = OnceLock::new();
    *WORK.get_or_init(|| {
        read(libc::CLOCK_MONOTONIC_COARSE).is_some() && read(libc::CLOCK_MONOTONIC).is_some()
    })
}

/// Nanoseconds on the coarse monotonic clock.
#[cfg(target_os = "linux")]
fn now() -> u64 {
    kernel_now(libc::CLOCK_MONOTONIC_COARSE)
}

/// Nanoseconds on the precise monotonic clock, of which the coarse one is
/// a lagging copy.
#[cfg(target_os = "linux")]
fn precise_now() -> u64 {
    kernel_now(libc::CLOCK_MONOTONIC)
}

/// `clock`, or the fallback when either kernel clock cannot be read.
#[cfg(target_os = "linux")]
fn kernel_now(clock: libc::clockid_t) -> u64 {
    kernel_clocks()
        .then(|| read(clock))
        .flatten()
        .unwrap_or_else(fallback_now)
}

#[cfg(not(target_os = "linux"))]
fn now() -> u64 {
    fallback_now()
}

#[cfg(not(target_os = "linux"))]
fn precise_now() -> u64 {
    fallback_now()
}

/// Elapsed nanoseconds since the first reading, from `Instant`.
fn fallback_now() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_never_early() {
        // Short deadlines many times over: each start falls at another
        // point between two of the coarse clock's updates.
        for _ in 0..50 {
            let start = Instant::now();
            let d = Deadline::after(Duration::from_millis(2)).unwrap();
            while !d.passed() {
                std::hint::spin_loop();
            }
            assert!(start.elapsed() >= Duration::from_millis(2));
        }
        let start = Instant::now();
        let d = Deadline::after(Duration::from_millis(20)).unwrap();
        assert!(d.instant() >= start + Duration::from_millis(20));
        while !d.passed() {
            std::thread::yield_now();
        }
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert!(Deadline::after(Duration::MAX).is_none());
        let far = Deadline::after(Duration::from_secs(3600)).unwrap();
        assert!(far.instant() > Instant::now() + Duration::from_secs(3599));
    }
}
