//! Deadlines and cancellation of one store: what the epoch callback checks
//! while wasm runs, and what a call's future waits on while a host call is
//! pending.

use crate::clock::Deadline;
use crate::error::TrapKind;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cancels a running call from another thread or task.
///
/// Obtain one from [`Instance::cancel_handle`](crate::Instance::cancel_handle)
/// before the call; [`cancel`](Self::cancel) makes the call (and every later
/// call on that instance) fail with [`TrapKind::Cancelled`] within about one
/// epoch tick — also while the guest waits in a host call (a sleep, a
/// blocking read, an async host function). Cheap to clone; `Send + Sync`.
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelHandle {
    /// A fresh, un-cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.inner.flag.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }

    /// Completes once [`cancel`](Self::cancel) has been called.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Per-store interruption state, read by the epoch callback.
#[derive(Debug, Default)]
pub(crate) struct Interrupt {
    pub(crate) deadline: Option<Deadline>,
    /// A timeout whose deadline starts at the first epoch tick of the call
    /// (a call that runs only wasm code, with no cancel handle: nothing
    /// but the epoch reads its deadline, and most such calls end first).
    pub(crate) from_first_tick: Option<std::time::Duration>,
    pub(crate) cancel: Option<CancelHandle>,
    /// Why the last call was stopped, if it was.
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
        if self.deadline.is_some_and(Deadline::passed) {
            self.reason = Some(TrapKind::Timeout);
            return true;
        }
        false
    }

    /// Decides what the guest does at an epoch tick.
    pub(crate) fn on_tick(&mut self) -> wasmtime::UpdateDeadline {
        if let Some(timeout) = self.from_first_tick.take() {
            // The call started before this tick: never early.
            self.deadline = Deadline::after(timeout);
        }
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
