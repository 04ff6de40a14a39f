//! The lock of a stateful plugin's one instance. Taking it and giving it
//! back uncontended is one atomic operation each (tokio's mutex also takes
//! an inner lock on every release); callers that must wait line up and are
//! served in the order they came, each giving up at its own deadline.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Held (bit 0).
const HELD: usize = 1;
/// One caller waiting (the count is kept above bit 0).
const WAITER: usize = 2;

/// A fair async lock around `T`, for one holder at a time.
pub(crate) struct Turn<T> {
    /// [`HELD`], plus [`WAITER`] per caller waiting.
    state: AtomicUsize,
    /// Where waiting callers line up; the first in line waits on `freed`.
    line: tokio::sync::Mutex<()>,
    /// Signalled when the lock is given back while callers wait.
    freed: tokio::sync::Notify,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is only reached through a `TurnGuard`, and the `HELD`
// bit (set with acquire ordering, cleared with release ordering) admits
// one guard at a time: the lock hands `T` between threads, as a mutex does.
unsafe impl<T: Send> Send for Turn<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Turn<T> {}

impl<T: Default> Default for Turn<T> {
    fn default() -> Self {
        Self {
            state: AtomicUsize::new(0),
            line: tokio::sync::Mutex::new(()),
            freed: tokio::sync::Notify::new(),
            value: UnsafeCell::new(T::default()),
        }
    }
}

impl<T> Turn<T> {
    /// The lock, if it is free and nobody waits for it (so a caller never
    /// overtakes one in line).
    pub(crate) fn try_lock(&self) -> Option<TurnGuard<'_, T>> {
        self.state
            .compare_exchange(0, HELD, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| TurnGuard::new(self))
    }

    /// The lock, after those who came first. Dropping the future gives up
    /// the place in line.
    pub(crate) async fn lock(&self) -> TurnGuard<'_, T> {
        if let Some(guard) = self.try_lock() {
            return guard;
        }
        self.state.fetch_add(WAITER, Ordering::Relaxed);
        let waiting = Waiting(self);
        let _first = self.line.lock().await;
        loop {
            // Registered before looking, so a release between the look and
            // the wait is not missed.
            let freed = self.freed.notified();
            let mut freed = std::pin::pin!(freed);
            freed.as_mut().enable();
            if self.state.fetch_or(HELD, Ordering::Acquire) & HELD == 0 {
                drop(waiting);
                return TurnGuard::new(self);
            }
            freed.await;
        }
    }
}

/// A caller in line: counted until it holds the lock or gives up.
struct Waiting<'a, T>(&'a Turn<T>);

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        self.0.state.fetch_sub(WAITER, Ordering::Relaxed);
    }
}

/// The lock held: access to `T` until dropped.
pub(crate) struct TurnGuard<'a, T> {
    turn: &'a Turn<T>,
    /// `Send` and `Sync` as a `&mut T` is: sharing the guard shares `T`.
    _holds: std::marker::PhantomData<&'a mut T>,
}

impl<'a, T> TurnGuard<'a, T> {
    fn new(turn: &'a Turn<T>) -> Self {
        Self {
            turn,
            _holds: std::marker::PhantomData,
        }
    }
}

impl<T> Deref for TurnGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock (see `Turn`'s `Send`/`Sync`).
        unsafe { &*self.turn.value.get() }
    }
}

impl<T> DerefMut for TurnGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock, and `&mut self` makes the
        // reference unique.
        unsafe { &mut *self.turn.value.get() }
    }
}

impl<T> Drop for TurnGuard<'_, T> {
    fn drop(&mut self) {
        // This guard holds the lock: clearing HELD is subtracting it.
        let before = self.turn.state.fetch_sub(HELD, Ordering::Release);
        if before >= WAITER {
            self.turn.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn callers_are_served_in_the_order_they_came() {
        // One thread: nothing runs between two statements of the test.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let turn = Arc::new(Turn::<Vec<usize>>::default());
            let first = turn.try_lock().unwrap();
            assert!(turn.try_lock().is_none(), "held: no second holder");
            let mut tasks = Vec::new();
            for i in 0..8 {
                let t = turn.clone();
                tasks.push(tokio::spawn(async move {
                    let mut g = t.lock().await;
                    g.push(i);
                    tokio::task::yield_now().await;
                }));
                // Let it get in line before the next one comes.
                tokio::task::yield_now().await;
            }
            assert_eq!(turn.state.load(Ordering::Relaxed), HELD + 8 * WAITER);
            drop(first);
            assert!(
                turn.try_lock().is_none(),
                "a newcomer does not overtake those in line"
            );
            for t in tasks {
                t.await.unwrap();
            }
            let g = turn.try_lock().expect("free once everyone is served");
            assert_eq!(
                *g,
                (0..8).collect::<Vec<_>>(),
                "served in the order they came"
            );
        });
    }

    #[test]
    fn a_caller_that_gives_up_leaves_the_line() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let turn = Turn::<u32>::default();
            let held = turn.try_lock().unwrap();
            let gave_up = tokio::time::timeout(Duration::from_millis(20), turn.lock()).await;
            assert!(gave_up.is_err());
            assert_eq!(
                turn.state.load(Ordering::Relaxed),
                HELD,
                "no waiter left counted"
            );
            drop(held);
            let mut g = turn.try_lock().expect("free, nobody waiting");
            *g += 1;
            drop(g);
            assert_eq!(*turn.lock().await, 1);
        });
    }

    #[test]
    fn a_woken_caller_that_is_gone_passes_its_turn_on() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let turn = Arc::new(Turn::<u32>::default());
            let held = turn.try_lock().unwrap();
            let first = tokio::spawn({
                let t = turn.clone();
                async move { *t.lock().await += 1 }
            });
            tokio::task::yield_now().await;
            let second = tokio::spawn({
                let t = turn.clone();
                async move { *t.lock().await += 10 }
            });
            tokio::task::yield_now().await;
            // The release wakes the first in line; it is aborted before it
            // runs again.
            drop(held);
            first.abort();
            assert!(first.await.unwrap_err().is_cancelled());
            tokio::time::timeout(Duration::from_secs(10), second)
                .await
                .expect("the second caller gets the lock")
                .unwrap();
            assert_eq!(*turn.try_lock().expect("free again"), 10);
            assert_eq!(turn.state.load(Ordering::Relaxed), 0);
        });
    }

    #[test]
    fn many_threads_never_hold_it_together() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let turn = Arc::new(Turn::<(u64, bool)>::default());
        rt.block_on(async {
            let tasks: Vec<_> = (0..16)
                .map(|_| {
                    let t = turn.clone();
                    tokio::spawn(async move {
                        for _ in 0..500 {
                            let mut g = t.lock().await;
                            assert!(!g.1, "two holders at once");
                            g.1 = true;
                            g.0 += 1;
                            tokio::task::yield_now().await;
                            g.1 = false;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        assert_eq!(turn.try_lock().unwrap().0, 16 * 500);
    }
}
