//! Pool shards: the pool's slots split over Wasmtime engines of their own,
//! one per calling thread in turn, so that threads share no lock or
//! counter in Wasmtime (the pool's slot allocator, the type registry, the
//! reference counts of a module's code).

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shards after the first (shard 0 is the engine itself), and the
/// engine for code whose instances do not fit a pool slot.
pub(crate) struct Shards {
    /// Shard `k` is `extra[k - 1]`.
    extra: Box<[wasmtime::Engine]>,
    /// Configured as the shards, without the pool: made when a plugin
    /// first needs it.
    on_demand: OnceLock<wasmtime::Engine>,
}

impl Shards {
    pub(crate) fn new(extra: Vec<wasmtime::Engine>) -> Self {
        Self {
            extra: extra.into(),
            on_demand: OnceLock::new(),
        }
    }

    /// The on-demand engine, made by `make` the first time.
    pub(crate) fn on_demand(
        &self,
        make: impl FnOnce() -> wasmtime::Result<wasmtime::Engine>,
    ) -> wasmtime::Result<&wasmtime::Engine> {
        if let Some(engine) = self.on_demand.get() {
            return Ok(engine);
        }
        let made = make()?;
        Ok(self.on_demand.get_or_init(|| made))
    }

    /// Whether `engine` is the on-demand engine.
    pub(crate) fn is_on_demand(&self, engine: &wasmtime::Engine) -> bool {
        self.on_demand
            .get()
            .is_some_and(|e| wasmtime::Engine::same(e, engine))
    }

    /// The number of shards, the engine itself included.
    pub(crate) fn count(&self) -> usize {
        self.extra.len() + 1
    }

    /// Shard `k` (1 or more), if there is one.
    pub(crate) fn get(&self, k: usize) -> Option<&wasmtime::Engine> {
        self.extra.get(k.checked_sub(1)?)
    }

    /// Every shard after the first, and the on-demand engine once made:
    /// the engines whose epoch the ticker advances besides the first.
    pub(crate) fn all(&self) -> impl Iterator<Item = &wasmtime::Engine> {
        self.extra.iter().chain(self.on_demand.get())
    }
}

/// Fewest slots a shard is given: fewer shards rather than smaller ones,
/// so that an instance of several core instances (a component) fits.
pub(crate) const MIN_SHARD_SLOTS: u32 = 16;

/// The shards `asked` for comes to with `total` pool slots: at least
/// [`MIN_SHARD_SLOTS`] each (one shard when there are fewer).
pub(crate) fn count(asked: u32, total: u32) -> usize {
    usize::try_from(asked.min(total / MIN_SHARD_SLOTS).max(1)).unwrap_or(1)
}

/// Shard `k`'s part of `total` slots split over `count` shards: shard 0
/// also takes what does not divide evenly.
pub(crate) fn slots(total: u32, count: usize, k: usize) -> u32 {
    let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let each = total / count;
    if k == 0 {
        total - each * (count - 1)
    } else {
        each
    }
}

/// The shard this thread's instances come from first, out of `count`:
/// threads take the next one in turn when they first ask, so that (up to
/// `count`) threads calling at once use shards of their own.
pub(crate) fn of_this_thread(count: usize) -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static INDEX: Cell<usize> = const { Cell::new(usize::MAX) });
    if count <= 1 {
        return 0;
    }
    let index = INDEX.with(|i| {
        if i.get() == usize::MAX {
            i.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        i.get()
    });
    index % count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_take_shards_in_turn() {
        let mine = of_this_thread(2);
        assert_eq!(of_this_thread(2), mine, "a thread keeps its shard");
        assert_eq!(of_this_thread(1), 0);
        assert!(of_this_thread(3) < 3);
    }

    #[test]
    fn slots_are_split_and_add_up() {
        for (asked, total) in [
            (1, 1000),
            (2, 1000),
            (3, 1000),
            (8, 1000),
            (8, 5),
            (4, 40),
            (64, 63),
        ] {
            let n = count(asked, total);
            assert!((1..=asked as usize).contains(&n));
            let parts: Vec<u32> = (0..n).map(|k| slots(total, n, k)).collect();
            assert_eq!(parts.iter().sum::<u32>(), total, "{asked} of {total}");
            assert!(
                n == 1 || parts.iter().all(|&p| p >= MIN_SHARD_SLOTS),
                "{parts:?}"
            );
        }
        assert_eq!((count(8, 5), count(4, 40), count(8, 1000)), (1, 2, 8));
        assert_eq!((slots(1000, 3, 0), slots(1000, 3, 1)), (334, 333));
    }
}
