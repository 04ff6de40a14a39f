//! The shared engine: a Wasmtime `Engine` (and, with the pooling
//! allocator, one more per pool shard in use), plus the ticker thread that
//! drives wall-clock deadlines.

use crate::config::EngineConfig;
use crate::error::{Error, Result};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) mod cache;
mod setup;
pub(crate) mod shards;

pub(crate) use setup::DEFAULT_OFF;
use setup::{pools, wasmtime_config};

use shards::Shards;

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
    pooling: bool,
    notice: Option<String>,
    cache: Option<cache::Cache>,
    fingerprint: u64,
    /// The pool shards after the engine itself (shared with the ticker,
    /// which advances their epochs too).
    shards: Arc<Shards>,
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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a setting is out
    /// of range or the combination is invalid (e.g. relaxed SIMD without
    /// SIMD), or [`ErrorKind::Io`](crate::ErrorKind::Io) when the cache
    /// directory cannot be created.
    ///
    /// Making an engine also turns off, for the whole process, the host
    /// backtrace Wasmtime captures in each of its errors when
    /// `RUST_BACKTRACE` is set: guests read such errors
    /// (`wasi:io/error.to-debug-string` of a failed stream, such as a request
    /// body a client broke), and printing one loaded the host's debug
    /// information (hundreds of MB, a third of a second) on a request any
    /// client can send, and showed the guest the host's stack. plugbox's
    /// errors are typed and carry guest backtraces of their own; panics
    /// still print theirs.
    pub fn new(config: &EngineConfig) -> Result<Self> {
        config.check()?;
        wasmtime::error::disable_backtrace();
        let invalid = |e: wasmtime::Error| {
            Error::config("invalid engine configuration").with_source(e.into_boxed_dyn_error())
        };
        let mut pooling = config.get_pooling();
        let mut notice = None;
        let (wasmtime, extra) = match pooling.then(|| pools(config)) {
            Some(Ok(mut pools)) => {
                let first = pools.remove(0);
                (first, pools)
            }
            // The pool reserves its address space up front; where that is
            // refused, allocate on demand, as `wasmtime serve` does.
            Some(Err(pool_error)) => {
                let why = format!("{pool_error:#}");
                let engine =
                    wasmtime::Engine::new(&wasmtime_config(config, None)?).map_err(invalid)?;
                tracing::info!(error = %why, "pooling allocator unavailable; allocating on demand");
                notice = Some(format!(
                    "the pooling allocator could not reserve its address space ({why}); instances are allocated on demand"
                ));
                pooling = false;
                (engine, Vec::new())
            }
            None => (
                wasmtime::Engine::new(&wasmtime_config(config, None)?).map_err(invalid)?,
                Vec::new(),
            ),
        };
        let fingerprint = fingerprint(&wasmtime);
        let cache = match config.get_cache_dir() {
            Some(dir) => Some(cache::Cache::open(
                dir,
                config.get_cache_max_size(),
                fingerprint,
            )?),
            None => None,
        };
        Ok(Self {
            inner: Arc::new(EngineInner {
                id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                wasmtime,
                config: config.clone(),
                ticker: OnceLock::new(),
                pooling,
                notice,
                cache,
                fingerprint,
                shards: Arc::new(Shards::new(extra)),
            }),
        })
    }

    /// Whether instances come from the pooling allocator (asked for, and
    /// its address space could be reserved).
    pub fn is_pooling(&self) -> bool {
        self.inner.pooling
    }

    /// A one-line notice about how the engine differs from what was asked
    /// for (the pooling allocator fell back to on-demand allocation), if
    /// it does.
    pub fn notice(&self) -> Option<&str> {
        self.inner.notice.as_deref()
    }

    /// What native code compiled by this engine depends on: Wasmtime's
    /// version and its hash of every setting that changes generated code.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.inner.fingerprint
    }

    /// The directory the compile cache keeps its entries in (inside the
    /// configured `cache-dir`), if there is a cache.
    pub fn cache_dir(&self) -> Option<&std::path::Path> {
        self.inner.cache.as_ref().map(cache::Cache::dir)
    }

    /// The compile cache, when the configuration names a directory.
    pub(crate) fn cache(&self) -> Option<&cache::Cache> {
        self.inner.cache.as_ref()
    }

    /// The configuration this engine was built from.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The underlying Wasmtime engine, for embedders who need raw access:
    /// pool shard 0. Instances may also come from the other pool shards'
    /// engines (see [`EngineConfig::pool_shards`]), which this one's pool
    /// metrics and epoch do not cover.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.wasmtime
    }

    /// The engine for code one instance of which does not fit a pool
    /// slot (its instance state is larger than [`POOL_INSTANCE_SIZE`]):
    /// configured as the pool shards, so the same compiled code loads
    /// into it, but allocating instances on demand. Made the first time a
    /// plugin needs it; without the pooling allocator, the engine itself.
    pub(crate) fn on_demand(&self) -> wasmtime::Result<&wasmtime::Engine> {
        if !self.inner.pooling {
            return Ok(&self.inner.wasmtime);
        }
        self.inner.shards.on_demand(|| {
            let config = wasmtime_config(&self.inner.config, None).map_err(wasmtime::Error::new)?;
            let engine = wasmtime::Engine::new(&config)?;
            tracing::info!("on-demand engine made for code too large for a pool slot");
            Ok(engine)
        })
    }

    /// Whether code loaded into `engine` runs without the pool although
    /// this engine has one.
    pub(crate) fn is_on_demand(&self, engine: &wasmtime::Engine) -> bool {
        self.inner.pooling && self.inner.shards.is_on_demand(engine)
    }

    /// The most instance state a pool slot holds, in bytes (none without
    /// the pooling allocator).
    pub(crate) fn slot_instance_size(&self) -> Option<u64> {
        self.inner.pooling.then_some(POOL_INSTANCE_SIZE)
    }

    /// The number of pool shards instances are spread over (1 without the
    /// pooling allocator).
    pub(crate) fn shard_count(&self) -> usize {
        self.inner.shards.count()
    }

    /// The slots of pool shard `k`'s pool: its part of `pool-instances`.
    pub(crate) fn shard_slots(&self, k: usize) -> u32 {
        shards::slots(
            self.inner.config.get_pool_instances(),
            self.shard_count(),
            k,
        )
    }

    /// Pool shard `k` (0: this engine's own Wasmtime engine), if there is
    /// one.
    pub(crate) fn shard(&self, k: usize) -> Option<&wasmtime::Engine> {
        match k {
            0 => Some(&self.inner.wasmtime),
            _ => self.inner.shards.get(k),
        }
    }

    /// Whether pool shard `k` has room for an instance that needs
    /// `instances` core instances, `memories` memories and `tables`
    /// tables (0 for what is not known).
    pub(crate) fn shard_has_room(
        &self,
        k: usize,
        instances: u64,
        memories: u64,
        tables: u64,
    ) -> bool {
        let Some(m) = self
            .shard(k)
            .and_then(wasmtime::Engine::pooling_allocator_metrics)
        else {
            return false;
        };
        let slots = u64::from(self.shard_slots(k));
        let free = |used: u64| slots.saturating_sub(used);
        free(m.core_instances()) >= instances.max(1)
            && free(m.memories() as u64) >= memories
            && free(m.tables() as u64) >= tables
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
            let shards = self.inner.shards.clone();
            let tick = self.inner.config.get_epoch_tick();
            let thread = std::thread::Builder::new()
                .name(self.ticker_thread_name())
                .spawn(move || tick_loop(&weak, &shards, &rx, tick))
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

    /// The pool shards instances are spread over. For tests and
    /// diagnostics.
    #[doc(hidden)]
    pub fn pool_shards(&self) -> usize {
        self.shard_count()
    }

    /// The core instances alive in pool shard `k`. For tests and
    /// diagnostics.
    #[doc(hidden)]
    pub fn pool_shard_instances(&self, k: usize) -> u64 {
        self.shard(k)
            .and_then(wasmtime::Engine::pooling_allocator_metrics)
            .map_or(0, |m| m.core_instances())
    }

    /// The pool shard this thread's instances come from first. For tests and
    /// diagnostics.
    #[doc(hidden)]
    pub fn pool_shard_of_this_thread(&self) -> usize {
        shards::of_this_thread(self.shard_count())
    }

    /// Whether two handles refer to the same engine.
    pub fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Memories and tables one module may have in a pooled engine.
pub(crate) const POOL_PER_MODULE: u32 = 16;

/// Wasmtime's state of one instance that a pool slot holds (its
/// `max_core_instance_size` and `max_component_instance_size`, the
/// default of both): 1 MiB, some 30 000 exported functions. Pooled or
/// not, an instance's state is allocated when it is made, so the pool
/// reserves nothing for it; the bound caps what the pool's instances
/// hold together (1 GiB for the 1000 default slots). Code that needs more
/// runs on the [on-demand engine](Engine::on_demand) instead.
pub(crate) const POOL_INSTANCE_SIZE: u64 = 1 << 20;

/// The Wasmtime version plugbox is built against (pinned in `Cargo.toml`).
pub const WASMTIME_VERSION: &str = "48.0.8";

/// XXH3 of Wasmtime's compatibility hash and version: stable for a given
/// Wasmtime and configuration (unlike `DefaultHasher`, which may change
/// between Rust releases).
fn fingerprint(engine: &wasmtime::Engine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    h.write(WASMTIME_VERSION.as_bytes());
    h.finish()
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn tick_loop(
    weak: &wasmtime::EngineWeak,
    shards: &Shards,
    stop: &mpsc::Receiver<()>,
    tick: Duration,
) {
    loop {
        match stop.recv_timeout(tick) {
            Err(mpsc::RecvTimeoutError::Timeout) => match weak.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    shards.all().for_each(wasmtime::Engine::increment_epoch);
                }
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
