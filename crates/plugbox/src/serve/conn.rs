//! Connections: the cap on open connections, and the watchdog that closes
//! a connection idle past `idle-timeout` or slow to send a request's head
//! past `header-read-timeout`.
//!
//! A connection is *quiet* when no request of it is in flight. A quiet
//! connection that receives a byte has started a request head, which must
//! be complete (the request dispatched) within the header-read timeout;
//! one that receives nothing is closed after the idle timeout. At the
//! connection cap, a new connection takes the place of the connection
//! quiet the longest, so clients that open connections and send nothing
//! (or send a head byte by byte) cannot lock others out; when every
//! connection has a request in flight, the new one waits for a close.

use super::server::Shared;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

/// The open connections, up to the cap.
pub(super) struct Connections {
    max: usize,
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    room: Arc<Room>,
}

/// How a connection waiting at the cap learns that one closed or went
/// quiet (without a lock on every request when none waits).
#[derive(Default)]
struct Room {
    waiting: AtomicUsize,
    changed: Notify,
}

impl Room {
    fn changed(&self) {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.changed.notify_waiters();
        }
    }
}

impl Connections {
    pub(super) fn new(max: u32) -> Arc<Self> {
        Arc::new(Self {
            max: max as usize,
            epoch: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            room: Arc::new(Room::default()),
        })
    }

    /// Open connections.
    pub(super) fn count(&self) -> usize {
        lock(&self.open).len()
    }

    /// Room for one more connection: at the cap, the connection quiet the
    /// longest is told to close; with none quiet, waits until one closes
    /// or goes quiet.
    pub(super) async fn admit(self: &Arc<Self>) -> Admitted {
        self.room.waiting.fetch_add(1, Ordering::Relaxed);
        let admitted = loop {
            let changed = self.room.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            {
                let mut open = lock(&self.open);
                if open.len() < self.max {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let state = Arc::new(ConnState::new(self.epoch, self.room.clone()));
                    open.insert(id, state.clone());
                    break Admitted {
                        id,
                        state,
                        connections: self.clone(),
                    };
                }
                let victim = open
                    .values()
                    .filter(|c| c.busy.load(Ordering::Relaxed) == 0 && !c.evicted())
                    .min_by_key(|c| c.quiet_since());
                if let Some(victim) = victim {
                    tracing::debug!("connection cap reached: closing the connection quiet longest");
                    victim.evict();
                }
            }
            changed.await;
        };
        self.room.waiting.fetch_sub(1, Ordering::Relaxed);
        admitted
    }
}

/// A connection's place among the open ones, given back when dropped.
pub(super) struct Admitted {
    id: u64,
    pub(super) state: Arc<ConnState>,
    connections: Arc<Connections>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        lock(&self.connections.open).remove(&self.id);
        self.connections.room.changed();
    }
}

/// What the watchdog of one connection watches. Times are nanoseconds
/// since the registry's epoch.
pub(super) struct ConnState {
    epoch: Instant,
    /// Requests in flight (dispatched, response not yet sent).
    busy: AtomicUsize,
    /// When the connection last became quiet.
    quiet_since: AtomicU64,
    /// When the first byte of a request head arrived on a quiet
    /// connection; 0 when none is being read.
    head_started: AtomicU64,
    evicted: AtomicBool,
    /// Wakes the watchdog when the connection is evicted.
    evict: Notify,
    /// The registry's: told when the connection goes quiet.
    room: Arc<Room>,
}

impl ConnState {
    fn new(epoch: Instant, room: Arc<Room>) -> Self {
        let state = Self {
            epoch,
            busy: AtomicUsize::new(0),
            quiet_since: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            room,
        };
        state.quiet_since.store(state.now(), Ordering::Relaxed);
        state
    }

    fn now(&self) -> u64 {
        // At least 1: 0 means "no head started".
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    fn at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn quiet_since(&self) -> u64 {
        let head = self.head_started.load(Ordering::Relaxed);
        if head != 0 {
            head
        } else {
            self.quiet_since.load(Ordering::Relaxed)
        }
    }

    fn evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
        self.evict.notify_one();
    }

    /// A request was dispatched: its head is complete.
    pub(super) fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
    }

    /// A request's response is over.
    pub(super) fn request_ended(&self) {
        if self.busy.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.quiet_since.store(self.now(), Ordering::Relaxed);
            // A connection waiting for room may take this one's place.
            self.room.changed();
        }
    }

    /// Bytes arrived.
    fn bytes_read(&self) {
        if self.busy.load(Ordering::Relaxed) == 0 && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    /// When the connection must close, and why; none while busy.
    fn deadline(&self, idle: Duration, head: Duration) -> Option<(Instant, &'static str)> {
        if self.busy.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let started = self.head_started.load(Ordering::Relaxed);
        Some(if started != 0 {
            (self.at(started) + head, "header-read-timeout")
        } else {
            (
                self.at(self.quiet_since.load(Ordering::Relaxed)) + idle,
                "idle-timeout",
            )
        })
    }
}

/// The TCP stream, telling the watchdog when bytes arrive.
pub(super) struct Watched {
    inner: tokio::net::TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serves one connection until it ends, the watchdog closes it, or a
/// shutdown (`stop`) asks it to finish its requests in flight and close.
pub(super) async fn serve(
    shared: Arc<Shared>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    admitted: Admitted,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let state = admitted.state.clone();
    let io = hyper_util::rt::TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let service = {
        let (shared, state) = (shared.clone(), state.clone());
        hyper::service::service_fn(move |request| {
            super::handle::handle(shared.clone(), state.clone(), peer, request)
        })
    };
    let conn = shared.http.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let idle = shared.config.get_idle_timeout();
    let head = shared.config.get_header_read_timeout();
    // Requests do not wake the watchdog: it looks at the connection at
    // least this often, which keeps every deadline exact (no deadline is
    // less than one period away from the moment it starts).
    let period = idle.min(head);
    let mut finishing = false;
    loop {
        let now = Instant::now();
        let wake = match state.deadline(idle, head) {
            Some((at, why)) if at <= now => {
                tracing::debug!(%peer, reason = why, "closing the connection");
                break;
            }
            Some((at, _)) => at.min(now + period),
            None => now + period,
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !finishing => {
                conn.as_mut().graceful_shutdown();
                finishing = true;
            }
            () = state.evict.notified() => {
                if state.busy.load(Ordering::Relaxed) == 0 {
                    break;
                }
                if !finishing {
                    conn.as_mut().graceful_shutdown();
                    finishing = true;
                }
            }
            () = tokio::time::sleep_until(wake) => {}
        }
    }
    drop(admitted);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
