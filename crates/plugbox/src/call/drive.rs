//! Running calls: plugbox's own small tokio runtime (timers, WASI's
//! background I/O, async host functions), the deadline that bounds a call's
//! future, and the driver that turns the async pipeline into the
//! synchronous API.

use crate::error::{Error, ErrorKind, Result, TrapKind};
use crate::store::CancelHandle;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

type Runtime = std::result::Result<tokio::runtime::Runtime, String>;

fn start(name: &str, workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

fn handle(runtime: &'static Runtime) -> Result<&'static tokio::runtime::Handle> {
    runtime
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("cannot start plugbox's async runtime: {e}"),
            )
        })
}

/// plugbox's runtime: two worker threads plus tokio's blocking pool. Calls
/// on the async path enter it while they are polled, whatever executor
/// polls them, so their timers, WASI's background work and the tasks async
/// host functions spawn never depend on the caller's runtime (or on the
/// caller having one).
fn runtime() -> Result<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    handle(RUNTIME.get_or_init(|| start("plugbox-io", 2)))
}

/// The clock of deadlines: a runtime of its own that runs no task, only
/// its timer, so no embedder code (an async host function's blocking task,
/// say) can hold back the deadline of any call.
fn clock() -> Result<&'static tokio::runtime::Handle> {
    static CLOCK: OnceLock<Runtime> = OnceLock::new();
    handle(CLOCK.get_or_init(|| start("plugbox-clock", 1)))
}

/// Polls `fut` inside plugbox's runtime. Tokio timers must be made inside
/// `fut` (an `async` block): one made before has no runtime and panics.
pub(crate) async fn in_runtime<F: Future>(fut: F) -> Result<F::Output> {
    let handle = runtime()?;
    let mut fut = std::pin::pin!(fut);
    Ok(std::future::poll_fn(|cx| {
        let _entered = handle.enter();
        fut.as_mut().poll(cx)
    })
    .await)
}

/// Spawns `fut` on the caller's tokio runtime, or on plugbox's when the
/// caller has none.
pub(crate) fn spawn<F>(fut: F) -> Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.spawn(fut)),
        Err(_) => Ok(runtime()?.spawn(fut)),
    }
}

/// Why a bounded future was stopped.
pub(crate) enum Stopped {
    Deadline,
    Cancelled,
}

impl Stopped {
    pub(crate) fn trap_kind(&self) -> TrapKind {
        match self {
            Self::Deadline => TrapKind::Timeout,
            Self::Cancelled => TrapKind::Cancelled,
        }
    }
}

/// Runs `fut` until it completes, the deadline passes or the call is
/// cancelled, whichever is first. Dropping `fut` ends a host call it is
/// waiting in (Wasmtime unwinds the guest's stack). Must be polled inside
/// plugbox's runtime ([`in_runtime`]). (Should the clock fail to start, the
/// epoch deadline still stops wasm code.)
pub(crate) async fn bounded<F: Future>(
    fut: F,
    deadline: Option<Instant>,
    cancel: Option<CancelHandle>,
) -> std::result::Result<F::Output, Stopped> {
    // Made under the clock's runtime: its timer fires it, whatever is
    // running on plugbox's other runtime.
    let timer = match (deadline, clock()) {
        (Some(d), Ok(clock)) => {
            let _entered = clock.enter();
            Some(tokio::time::sleep_until(d.into()))
        }
        _ => None,
    };
    let sleep = async {
        match timer {
            Some(timer) => timer.await,
            None => std::future::pending().await,
        }
    };
    let cancelled = async {
        match &cancel {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        out = fut => Ok(out),
        () = cancelled => Err(Stopped::Cancelled),
        () = sleep => Err(Stopped::Deadline),
    }
}

/// Wakes the thread that drives a future.
struct ThreadWaker {
    thread: std::thread::Thread,
    woken: std::sync::atomic::AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::Release);
        self.thread.unpark();
    }
}

/// Runs `fut` to completion on this thread: the synchronous API. A future
/// that never waits (a call whose host calls cannot block) completes in its
/// first poll, with no allocation and no runtime. Inlined, so the future is
/// built where it is polled rather than copied into this frame.
#[inline(always)]
pub(crate) fn drive<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return out;
    }
    drive_waiting(fut)
}

/// The rest of [`drive`], for a future that waits: park until woken.
#[inline(never)]
fn drive_waiting<F: Future>(mut fut: std::pin::Pin<&mut F>) -> F::Output {
    // Futures register the waker of their latest poll, so polling again
    // with a real waker loses nothing.
    let waker = Arc::new(ThreadWaker {
        thread: std::thread::current(),
        woken: std::sync::atomic::AtomicBool::new(false),
    });
    let as_waker = Waker::from(waker.clone());
    let mut cx = Context::from_waker(&as_waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        // Our own flag, not the thread's park token: a nested `drive` on
        // this thread cannot swallow our wake-up.
        while !waker
            .woken
            .swap(false, std::sync::atomic::Ordering::Acquire)
        {
            std::thread::park();
        }
    }
}

/// Whether this thread drives a current-thread tokio runtime, where
/// blocking in a synchronous call would stall that runtime's own tasks.
pub(crate) fn on_current_thread_runtime() -> bool {
    tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
}
