//! The shared engine: one Wasmtime `Engine` per host, plus the ticker thread
//! that drives wall-clock deadlines.

use crate::config::{EngineConfig, OptLevel, WasmFeature};
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
    /// [`ErrorKind::Config`](crate::ErrorKind::Config) when a setting is out
    /// of range or the combination is invalid (e.g. relaxed SIMD without
    /// SIMD), or [`ErrorKind::Io`](crate::ErrorKind::Io) when the cache
    /// directory cannot be created.
    pub fn new(config: &EngineConfig) -> Result<Self> {
        config.check()?;
        let wt_config = wasmtime_config(config)?;
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

/// Builds the Wasmtime configuration (after [`EngineConfig::check`]).
fn wasmtime_config(config: &EngineConfig) -> Result<wasmtime::Config> {
    let mut c = wasmtime::Config::new();
    c.cranelift_opt_level(match config.get_opt_level() {
        OptLevel::None => wasmtime::OptLevel::None,
        OptLevel::Speed => wasmtime::OptLevel::Speed,
        OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
    });
    c.strategy(wasmtime::Strategy::Cranelift);
    // Disabling SIMD implies disabling relaxed SIMD unless the user asked
    // for the (invalid) combination explicitly.
    if config.get_feature(WasmFeature::Simd) == Some(false)
        && config.get_feature(WasmFeature::RelaxedSimd).is_none()
    {
        apply_feature(&mut c, WasmFeature::RelaxedSimd, false);
    }
    // The GC proposal stays off unless asked for: it brings its own heap,
    // whose failures Wasmtime 48.0.8 handles by aborting (fixed later).
    if config.get_feature(WasmFeature::Gc).is_none() {
        apply_feature(&mut c, WasmFeature::Gc, false);
    }
    for feature in WasmFeature::ALL {
        if let Some(on) = config.get_feature(feature) {
            apply_feature(&mut c, feature, on);
        }
    }
    c.consume_fuel(config.get_consume_fuel());
    c.epoch_interruption(config.get_epoch_interruption());
    let stack = usize::try_from(config.get_max_stack()).unwrap_or(usize::MAX);
    c.max_wasm_stack(stack);
    // Calls on the async path run on a fiber stack that must hold the wasm
    // stack plus the host's frames: 1 MiB more, at least Wasmtime's 2 MiB.
    c.async_stack_size(stack.saturating_add(1 << 20).max(2 << 20));
    c.parallel_compilation(config.get_parallel_compilation());
    if config.get_pooling() {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        let n = config.get_pool_instances();
        pool.total_core_instances(n)
            .total_component_instances(n)
            .total_memories(n)
            .total_tables(n)
            .total_stacks(n)
            .max_memory_size(usize::try_from(config.get_pool_max_memory()).unwrap_or(usize::MAX))
            .max_unused_warm_slots(n.min(100));
        c.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    if let Some(dir) = config.get_cache_dir() {
        let dir = std::path::absolute(dir)
            .map_err(|e| Error::io(format!("invalid cache directory `{}`", dir.display()), e))?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::io(
                format!("cannot create cache directory `{}`", dir.display()),
                e,
            )
        })?;
        let mut cache_config = wasmtime::CacheConfig::new();
        cache_config.with_directory(&dir);
        let cache = wasmtime::Cache::new(cache_config).map_err(|e| {
            Error::config(format!("cannot use cache directory `{}`", dir.display()))
                .with_source(e.into_boxed_dyn_error())
        })?;
        c.cache(Some(cache));
    }
    Ok(c)
}

fn apply_feature(config: &mut wasmtime::Config, feature: WasmFeature, on: bool) {
    match feature {
        WasmFeature::Simd => config.wasm_simd(on),
        WasmFeature::RelaxedSimd => config.wasm_relaxed_simd(on),
        WasmFeature::Threads => config.wasm_threads(on).shared_memory(on),
        WasmFeature::MultiMemory => config.wasm_multi_memory(on),
        WasmFeature::Memory64 => config.wasm_memory64(on),
        WasmFeature::ReferenceTypes => config.wasm_reference_types(on),
        WasmFeature::BulkMemory => config.wasm_bulk_memory(on),
        WasmFeature::MultiValue => config.wasm_multi_value(on),
        WasmFeature::TailCall => config.wasm_tail_call(on),
        WasmFeature::ExtendedConst => config.wasm_extended_const(on),
        WasmFeature::FunctionReferences => config.wasm_function_references(on),
        WasmFeature::Gc => config.wasm_gc(on),
        WasmFeature::Exceptions => config.wasm_exceptions(on),
        WasmFeature::WideArithmetic => config.wasm_wide_arithmetic(on),
        WasmFeature::ComponentModel => config.wasm_component_model(on),
    };
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
