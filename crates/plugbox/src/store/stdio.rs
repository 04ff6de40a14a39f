//! The host's stdout and stderr as guest output streams that never block a
//! call: guest writes go into a bounded buffer that one writer thread per
//! stream drains into the real file descriptor. When the reader of a pipe
//! stops reading, the buffer fills and the guest waits *asynchronously* for
//! space, so the call's deadline (or a cancel) still ends it — Wasmtime's
//! own inherited streams write synchronously and would block the call's
//! thread inside the host call.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Bytes a guest may have queued for one host stream.
const CAPACITY: usize = 64 << 10;

/// The host's stdout or stderr, shared by every guest that inherits it.
#[derive(Clone)]
pub(crate) struct HostOutput {
    shared: Arc<Shared>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fd {
    Stdout,
    Stderr,
    #[cfg(test)]
    Other,
}

struct Shared {
    state: Mutex<State>,
    /// The terminal check of the real stream (`false` for other sinks).
    terminal: bool,
    /// Wakes the writer thread when bytes arrive.
    data: Condvar,
}

#[derive(Default)]
struct State {
    queued: Vec<u8>,
    /// Bytes the writer thread took and is writing now.
    in_flight: usize,
    /// The first write error; every later operation reports it.
    failed: Option<std::io::ErrorKind>,
    /// Tasks waiting for space or for the buffer to drain.
    waiters: Vec<Waker>,
}

static STDOUT: OnceLock<HostOutput> = OnceLock::new();
static STDERR: OnceLock<HostOutput> = OnceLock::new();

impl HostOutput {
    pub(crate) fn stdout() -> Self {
        STDOUT
            .get_or_init(|| {
                let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
                Self::start(Fd::Stdout, terminal, Box::new(std::io::stdout()))
            })
            .clone()
    }

    pub(crate) fn stderr() -> Self {
        STDERR
            .get_or_init(|| {
                let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
                Self::start(Fd::Stderr, terminal, Box::new(std::io::stderr()))
            })
            .clone()
    }

    fn start(fd: Fd, terminal: bool, mut sink: Box<dyn Write + Send>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            terminal,
            data: Condvar::new(),
        });
        let writer = shared.clone();
        let name = match fd {
            Fd::Stdout => "plugbox-stdout",
            Fd::Stderr => "plugbox-stderr",
            #[cfg(test)]
            Fd::Other => "plugbox-test-out",
        };
        // The thread lives as long as the process; it only ever waits for
        // data or on the file descriptor.
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || writer.drain_forever(&mut *sink));
        if let Err(e) = spawned
            && let Ok(mut state) = shared.state.lock()
        {
            state.failed = Some(e.kind());
        }
        Self { shared }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn drain_forever(&self, sink: &mut dyn Write) {
        loop {
            let chunk = {
                let mut state = self.lock();
                while state.queued.is_empty() {
                    state = self
                        .data
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                let chunk = std::mem::take(&mut state.queued);
                state.in_flight = chunk.len();
                chunk
            };
            let result = sink.write_all(&chunk).and_then(|()| sink.flush());
            let waiters = {
                let mut state = self.lock();
                state.in_flight = 0;
                if let Err(e) = result {
                    state.failed.get_or_insert(e.kind());
                }
                std::mem::take(&mut state.waiters)
            };
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// Queues `bytes`, up to the space left (or all of them with
    /// `overshoot`); returns how many were taken.
    fn push(&self, bytes: &[u8], overshoot: bool) -> Result<usize, std::io::ErrorKind> {
        let mut state = self.lock();
        if let Some(kind) = state.failed {
            return Err(kind);
        }
        let room = CAPACITY.saturating_sub(state.queued.len());
        let n = if overshoot {
            bytes.len()
        } else {
            bytes.len().min(room)
        };
        state.queued.extend_from_slice(&bytes[..n]);
        drop(state);
        if n > 0 {
            self.data.notify_one();
        }
        Ok(n)
    }

    /// Ready when `done` holds for the state (or a write failed); otherwise
    /// registers the task to be woken after the next drain.
    fn poll_until(&self, cx: &mut Context<'_>, done: impl Fn(&State) -> bool) -> Poll<()> {
        let mut state = self.lock();
        if state.failed.is_some() || done(&state) {
            return Poll::Ready(());
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn has_space(state: &State) -> bool {
        state.queued.len() < CAPACITY
    }

    fn drained(state: &State) -> bool {
        state.queued.is_empty() && state.in_flight == 0
    }
}

impl IsTerminal for HostOutput {
    fn is_terminal(&self) -> bool {
        self.shared.terminal
    }
}

impl StdoutStream for HostOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(GuestOutput {
            shared: self.shared.clone(),
            flushing: false,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(GuestOutput {
            shared: self.shared.clone(),
            flushing: false,
        })
    }
}

/// One guest handle on a host stream.
struct GuestOutput {
    shared: Arc<Shared>,
    /// A flush was requested and has not been seen complete yet.
    flushing: bool,
}

fn failed(kind: std::io::ErrorKind) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::new(std::io::Error::from(kind)))
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        // Several guests share the buffer and each got its permit from
        // `check_write`: take the whole write even if another one filled the
        // buffer in between. A permit is at most the capacity, so the buffer
        // stays bounded by a capacity per writing guest.
        if bytes.len() > CAPACITY {
            return Err(StreamError::trap(
                "write exceeds the permit given by check-write",
            ));
        }
        self.shared.push(&bytes, true).map_err(failed)?;
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.flushing = true;
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let state = self.shared.lock();
        if let Some(kind) = state.failed {
            return Err(failed(kind));
        }
        if self.flushing {
            if !Shared::drained(&state) {
                return Ok(0);
            }
            self.flushing = false;
        }
        Ok(CAPACITY.saturating_sub(state.queued.len()))
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {
        let flushing = self.flushing;
        let shared = self.shared.clone();
        std::future::poll_fn(|cx| {
            shared.poll_until(cx, |s| {
                if flushing {
                    Shared::drained(s)
                } else {
                    Shared::has_space(s)
                }
            })
        })
        .await;
    }
}

impl tokio::io::AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        loop {
            match self.shared.push(buf, false) {
                Err(kind) => return Poll::Ready(Err(kind.into())),
                Ok(0) if !buf.is_empty() => {
                    std::task::ready!(self.shared.poll_until(cx, Shared::has_space));
                }
                Ok(n) => return Poll::Ready(Ok(n)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.shared.poll_until(cx, Shared::drained));
        match self.shared.lock().failed {
            Some(kind) => Poll::Ready(Err(kind.into())),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Waits (up to `timeout`) until everything guests wrote to the host's
/// stdout and stderr has reached the file descriptors. The CLI calls this
/// before it exits.
pub fn flush_host_output(timeout: std::time::Duration) -> bool {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let deadline = std::time::Instant::now() + timeout;
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    for out in [STDOUT.get(), STDERR.get()].into_iter().flatten() {
        while out.shared.poll_until(&mut cx, Shared::drained).is_pending() {
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[tokio::test]
    async fn a_full_pipe_makes_the_guest_wait_without_blocking_the_thread() {
        let (mut reader, writer) = std::io::pipe().unwrap();
        let out = HostOutput::start(Fd::Other, false, Box::new(writer));
        let mut stream = out.p2_stream();
        // Nobody reads: the pipe fills, then plugbox's buffer.
        let mut written = 0;
        let start = std::time::Instant::now();
        loop {
            let n = stream.check_write().unwrap();
            if n == 0 {
                // Full, or the writer thread has not taken the last chunk.
                if tokio::time::timeout(Duration::from_millis(200), stream.ready())
                    .await
                    .is_err()
                {
                    break;
                }
                continue;
            }
            stream.write(bytes::Bytes::from(vec![b'x'; n])).unwrap();
            written += n;
            assert!(start.elapsed() < Duration::from_secs(20), "never filled");
        }
        assert!(written >= CAPACITY, "{written}");
        // Waiting for space is a future: the caller's deadline can drop it.
        assert!(
            tokio::time::timeout(Duration::from_millis(100), stream.ready())
                .await
                .is_err()
        );
        // Once the reader drains the pipe, every byte arrives, in order.
        let reading = std::thread::spawn(move || {
            let mut all = vec![0u8; written];
            reader.read_exact(&mut all).map(|()| all)
        });
        stream.flush().unwrap();
        tokio::time::timeout(Duration::from_secs(20), stream.ready())
            .await
            .expect("the flush completes once the reader drains");
        let all = reading.join().unwrap().unwrap();
        assert!(all.iter().all(|b| *b == b'x'));
        assert_eq!(stream.check_write().unwrap(), CAPACITY);
    }

    /// A sink whose first write waits until the test lets it go.
    struct Gate(std::sync::mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Wasmtime 48.0.8's `AsyncWriteStream` queues each empty write while
    /// its writer is busy (GHSA-5m8g-xhq4-4h93); this stream must not.
    #[tokio::test]
    async fn empty_writes_while_the_writer_is_stuck_add_nothing() {
        let (open, gate) = std::sync::mpsc::channel();
        let sunk = Arc::new(Mutex::new(Vec::new()));
        let out = HostOutput::start(Fd::Other, false, Box::new(Gate(gate, sunk.clone())));
        let mut stream = out.p2_stream();
        stream.write(bytes::Bytes::from_static(b"a")).unwrap();
        // The writer thread takes the byte and waits at the gate.
        while out.shared.lock().in_flight == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        stream
            .write(bytes::Bytes::from(vec![b'b'; CAPACITY]))
            .unwrap();
        let (len, capacity) = {
            let state = out.shared.lock();
            (state.queued.len(), state.queued.capacity())
        };
        assert_eq!(len, CAPACITY);
        for _ in 0..1_000_000 {
            stream.write(bytes::Bytes::new()).unwrap();
        }
        {
            let state = out.shared.lock();
            assert_eq!(state.queued.len(), len);
            assert_eq!(state.queued.capacity(), capacity);
            assert!(state.waiters.is_empty());
        }
        // Everything arrives once the writer moves on.
        drop(open);
        stream.flush().unwrap();
        tokio::time::timeout(Duration::from_secs(20), stream.ready())
            .await
            .expect("the flush completes");
        assert_eq!(sunk.lock().unwrap().len(), 1 + CAPACITY);
    }
}
