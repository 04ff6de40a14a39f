//! One named plugin in a manager: its slot (spec and metrics) and the
//! version serving now, kept side by side in the manager's map, and the
//! wrapper every managed call goes through — wait for a permit
//! (fairly, up to the queue timeout), count the call in flight, run it
//! statelessly or on the stateful instance, record its metrics.

use super::metrics::Metrics;
use super::turn::{Turn, TurnGuard};
use crate::call::drive::in_runtime;
use crate::call::{Call, Instance, check_sync, retry};
use crate::code::How;
use crate::config::{Mode, PluginSpec};
use crate::error::{Error, ErrorKind, Result};
use crate::plugin::Plugin;
use crate::stats::CallStats;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Instrument;

/// One named plugin: its spec and its metrics (the version serving now is
/// kept beside it, in the manager's map: see [`Entry`]).
pub(crate) struct Slot {
    pub(crate) name: String,
    pub(crate) spec: PluginSpec,
    pub(crate) metrics: Metrics,
    pub(crate) last_reload_error: Mutex<Option<String>>,
    /// Serialises reloads of this plugin.
    pub(crate) reloading: Mutex<()>,
    /// Where a server mounts the plugin, once one does: every new version
    /// must then serve HTTP there, or its reload is refused.
    pub(crate) http_route: Mutex<Option<String>>,
}

/// A plugin in the manager's map: its slot and the version serving now,
/// read together by one lock-free load of the map. A reload publishes a
/// new map with the new version.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) slot: Arc<Slot>,
    pub(crate) version: Arc<Version>,
}

/// A loaded version of a plugin. Calls in flight keep their version alive,
/// so a reload never disturbs them.
pub(crate) struct Version {
    pub(crate) plugin: Plugin,
    pub(crate) number: u64,
    permits: Option<Semaphore>,
    stateful: Option<Stateful>,
    queue_timeout: Duration,
}

/// Which API a call came from: the synchronous one runs plugins whose host
/// calls cannot block on Wasmtime's sync path.
#[derive(Clone, Copy)]
pub(crate) enum Api {
    Sync,
    Async,
}

impl Version {
    pub(crate) fn new(plugin: Plugin, spec: &PluginSpec, number: u64) -> Self {
        Self {
            plugin,
            number,
            permits: spec
                .get_max_concurrency()
                .map(|n| Semaphore::new(n as usize)),
            stateful: (spec.get_mode() == Mode::Stateful).then(Stateful::default),
            queue_timeout: spec.get_queue_timeout(),
        }
    }

    /// A permit to run, waiting fairly for one until the queue deadline.
    async fn permit(
        &self,
        name: &str,
        until: &QueueDeadline,
    ) -> Result<Option<SemaphorePermit<'_>>> {
        let Some(sem) = &self.permits else {
            return Ok(None);
        };
        if let Ok(permit) = sem.try_acquire() {
            return Ok(Some(permit));
        }
        // The timer is made inside the runtime: the future runs lazily.
        let wait = async { tokio::time::timeout_at(until.at().into(), sem.acquire()).await };
        // Boxed, as every wait: the future of a call that does not wait
        // should stay small.
        match Box::pin(in_runtime(wait)).await? {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(busy(name, self.queue_timeout)),
        }
    }
}

impl Slot {
    pub(crate) fn new(name: &str, spec: PluginSpec) -> Self {
        Self {
            name: name.to_string(),
            spec,
            metrics: Metrics::default(),
            last_reload_error: Mutex::new(None),
            reloading: Mutex::new(()),
            http_route: Mutex::new(None),
        }
    }

    /// The wrapper of every managed call, on `version` (which the caller
    /// holds for the call: a synchronous call borrows it from the map it
    /// loaded; an async one, which may move between threads and wait for
    /// long, holds a reference of its own).
    pub(crate) async fn invoke<C: Call>(
        &self,
        version: &Version,
        call: &C,
        api: Api,
    ) -> Result<C::Output> {
        let how = match api {
            Api::Sync => {
                check_sync(version.plugin.prepared())?;
                version.plugin.prepared().sync_how()
            }
            Api::Async => How::Async,
        };
        let span = tracing::debug_span!(
            "call",
            plugin = %self.name,
            func = call.export(),
            version = version.number
        );
        // Wrapped only when a subscriber wants the span: the wrapper moves
        // the whole call future (built in place, where it is awaited).
        let result = if span.is_disabled() {
            self.run_queued(version, call, how).await
        } else {
            self.run_queued(version, call, how).instrument(span).await
        };
        // The call's own duration (no clock read here); a call refused
        // before it ran waited its queue timeout.
        let stats = match &result {
            Ok((_, stats)) => Some(*stats),
            Err(e) => e.call_stats(),
        };
        let took = match (&stats, &result) {
            (Some(s), _) => s.duration,
            (None, Err(e)) if e.kind() == &ErrorKind::Busy => version.queue_timeout,
            (None, _) => Duration::ZERO,
        };
        self.metrics.record(&result, stats.as_ref(), took);
        result.map(|(out, _)| out)
    }

    /// A call after its bookkeeping: wait for a permit (and, stateful, the
    /// instance), run it, and wait for a pool slot when the pool is full.
    async fn run_queued<C: Call>(
        &self,
        version: &Version,
        call: &C,
        how: How,
    ) -> Result<(C::Output, CallStats)> {
        // One queue deadline for both waits: the permit, then (stateful)
        // the instance; the clock is read only if a wait is needed.
        let until = QueueDeadline::new(version.queue_timeout);
        let _permit = version.permit(&self.name, &until).await?;
        loop {
            let attempt = match &version.stateful {
                Some(stateful) => {
                    let held = stateful
                        .lock(&self.name, &until, version.queue_timeout)
                        .await?;
                    // Counted once it runs, not while it queues.
                    let _in_flight = self.metrics.start();
                    Stateful::invoke(held, &version.plugin, call, how).await
                }
                None => {
                    let _in_flight = self.metrics.start();
                    retry::stateless(version.plugin.prepared(), call, how, true).await
                }
            };
            // Every slot of the engine's instance pool is taken: wait
            // for one like for any other slot, up to the queue timeout.
            match attempt {
                Err(e) if e.kind() == &ErrorKind::Busy && Instant::now() < until.at() => {
                    // The timer is made inside the runtime (lazily).
                    Box::pin(in_runtime(async { tokio::time::sleep(POOL_POLL).await })).await?;
                }
                Err(e) if e.kind() == &ErrorKind::Busy => {
                    return Err(busy(&self.name, version.queue_timeout));
                }
                other => return other,
            }
        }
    }
}

/// The one instance of a stateful plugin, used by one call at a time;
/// callers queue fairly. If a call is abandoned (an async task dropped
/// mid-call), its instance is discarded and the next call starts a fresh
/// one.
#[derive(Default)]
struct Stateful {
    instance: Turn<Option<Instance>>,
}

impl Stateful {
    /// The instance slot, waiting fairly for it until `until`.
    async fn lock(
        &self,
        name: &str,
        until: &QueueDeadline,
        queue_timeout: Duration,
    ) -> Result<TurnGuard<'_, Option<Instance>>> {
        if let Some(guard) = self.instance.try_lock() {
            return Ok(guard);
        }
        let wait = async { tokio::time::timeout_at(until.at().into(), self.instance.lock()).await };
        Box::pin(in_runtime(wait))
            .await?
            .map_err(|_| busy(name, queue_timeout))
    }

    async fn invoke<C: Call>(
        mut slot: TurnGuard<'_, Option<Instance>>,
        plugin: &Plugin,
        call: &C,
        how: How,
    ) -> Result<(C::Output, CallStats)> {
        // Called in place; if this future is dropped mid-call, the guard
        // drops the half-run instance.
        let running = Running(&mut slot);
        let instance = match &mut *running.0 {
            Some(instance) => {
                // The call's own timeout.
                instance.unpin_deadline();
                instance
            }
            empty => {
                let prepared = plugin.prepared();
                prepared.ready_here();
                // One deadline for this call, instantiation included.
                let deadline = prepared.deadline();
                let fuel = prepared.limits().get_fuel();
                let mut instance =
                    Box::pin(Instance::fresh(prepared, &[], fuel, how, deadline)).await?;
                instance.pin_deadline(deadline);
                empty.insert(instance)
            }
        };
        let result = instance.invoke(call, how).await;
        let stats = instance.stats();
        // A component instance that trapped cannot be entered again: the
        // next call starts a fresh one.
        let keep = !instance.is_poisoned();
        running.finish(keep);
        result.map(|out| (out, stats))
    }
}

/// The stateful instance during a call: a call that does not finish (its
/// future dropped mid-call) leaves no half-run instance behind, and the
/// next call starts a fresh one.
struct Running<'a>(&'a mut Option<Instance>);

impl Running<'_> {
    /// The call finished: keep the instance for the next one, or not.
    fn finish(self, keep: bool) {
        if keep {
            std::mem::forget(self);
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0 = None;
    }
}

/// How often a call waiting for a slot of the instance pool looks again
/// (the pool has no way to say that a slot came free).
const POOL_POLL: Duration = Duration::from_millis(1);

/// When a queued call gives up: fixed at the first wait.
struct QueueDeadline {
    timeout: Duration,
    at: std::sync::OnceLock<Instant>,
}

impl QueueDeadline {
    fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            at: std::sync::OnceLock::new(),
        }
    }

    fn at(&self) -> Instant {
        *self.at.get_or_init(|| {
            let now = Instant::now();
            now.checked_add(self.timeout).unwrap_or(now)
        })
    }
}

pub(crate) fn busy(name: &str, waited: Duration) -> Error {
    Error::new(
        ErrorKind::Busy,
        format!(
            "plugin `{name}` is busy: no free slot within the queue timeout of {}",
            crate::units::format_duration(waited)
        ),
    )
}

/// Lock helpers that survive poisoning: a panicking embedder thread must
/// not take the manager down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}
