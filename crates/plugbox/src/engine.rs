//! The shared engine: one Wasmtime `Engine` per host, plus the ticker thread
//! that drives wall-clock deadlines.

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// A compilation and execution environment shared by every plugin loaded
/// into it. Cheap to clone (an `Arc`); `Send + Sync`.
///
/// Create one per host and load all plugins into it: modules are compiled
/// once and shared across threads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    id: u64,
    wasmtime: wasmtime::Engine,
    config: EngineConfig,
    ticker: OnceLock<Ticker>,
}

/// Advances the engine's epoch every tick until the engine is dropped.
struct Ticker {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once; it then exits.
        if let Ok(mut stop) = self.stop.lock() {
            stop.take();
        }
        if let Ok(mut thread) = self.thread.lock()
            && let Some(t) = thread.take()
        {
            let _ = t.join();
        }
    }
}

impl Engine {
    /// Builds an engine from `config`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when the combination
    /// of settings is invalid (e.g. relaxed SIMD without SIMD), or
    /// [`ErrorKind::Io`](crate::ErrorKind::Io) when the cache directory
    /// cannot be created.
    pub fn new(config: &EngineConfig) -> Result<Self> {
        let wt_config = config.to_wasmtime()?;
        let wasmtime = wasmtime::Engine::new(&wt_config).map_err(|e| {
            Error::config("invalid engine configuration").with_source(e.into_boxed_dyn_error())
        })?;
        Ok(Self {
            inner: Arc::new(EngineInner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                wasmtime,
                config: config.clone(),
                ticker: OnceLock::new(),
            }),
        })
    }

    /// The configuration this engine was built from.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The underlying Wasmtime engine, for embedders who need raw access.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// Starts the epoch ticker if it is not running yet. Called when a store
    /// with a deadline or a cancel handle is about to run.
    pub(crate) fn ensure_ticker(&self) {
        if !self.inner.config.get_epoch_interruption() {
            return;
        }
        self.inner.ticker.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = self.inner.wasmtime.weak();
            let tick = self.inner.config.get_epoch_tick();
            let thread = std::thread::Builder::new()
                .name(self.ticker_thread_name())
                .spawn(move || tick_loop(&weak, &rx, tick))
                .ok();
            Ticker {
                stop: Mutex::new(Some(tx)),
                thread: Mutex::new(thread),
            }
        });
    }

    /// The name of this engine's epoch ticker thread (`pbx-tick-N`), for
    /// tests and diagnostics. The thread exists only while the engine lives
    /// and some store has needed a deadline or a cancel handle.
    #[doc(hidden)]
    pub fn ticker_thread_name(&self) -> String {
        format!("pbx-tick-{}", self.inner.id)
    }

    /// Whether two handles refer to the same engine.
    pub fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn tick_loop(weak: &wasmtime::EngineWeak, stop: &mpsc::Receiver<()>, tick: Duration) {
    loop {
        match stop.recv_timeout(tick) {
            Err(mpsc::RecvTimeoutError::Timeout) => match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            },
            // The engine was dropped (sender gone) or asked us to stop.
            _ => return,
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
