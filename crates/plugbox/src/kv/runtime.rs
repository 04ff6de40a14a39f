//! Where backends do their I/O: a runtime of their own (one worker thread
//! for Redis connections, a small blocking pool for SQLite), so that a
//! [`Kv`](super::Kv) works from any thread and any executor.

use super::backend::kv_error;
use crate::error::{KvErrorKind, Result};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

/// Blocking threads for SQLite: writers take turns on the database anyway.
const BLOCKING_THREADS: usize = 8;

fn handle() -> Result<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .max_blocking_threads(BLOCKING_THREADS)
                .thread_name("plugbox-kv")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| {
            kv_error(
                KvErrorKind::Unavailable,
                format!("cannot start the key-value runtime: {e}"),
            )
        })
}

/// Runs `fut` on the key-value runtime.
pub(crate) async fn spawn<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = handle()?.spawn(fut);
    task.await.map_err(failed)
}

/// Runs `f` on the key-value runtime's blocking pool.
pub(crate) async fn blocking<F, T>(f: F) -> Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = handle()?.spawn_blocking(f);
    task.await.map_err(failed)
}

/// Enters the key-value runtime (for clients that spawn their tasks when
/// they are made).
pub(crate) fn enter() -> Result<tokio::runtime::EnterGuard<'static>> {
    Ok(handle()?.enter())
}

fn failed(e: tokio::task::JoinError) -> crate::error::Error {
    kv_error(
        KvErrorKind::Unavailable,
        format!("the key-value backend's task failed: {e}"),
    )
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Waits for `fut` on this thread: the synchronous methods of
/// [`Kv`](super::Kv). The work itself runs on the key-value runtime, so
/// this never needs (or blocks) a runtime of the caller's.
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // A spurious unpark only costs another poll.
        std::thread::park();
    }
}
