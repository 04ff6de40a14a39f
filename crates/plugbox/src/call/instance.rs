//! An instance of a plugin — one store and the live instance in it — and
//! the pipeline every call goes through: resolve, arm the limits, run the
//! guest bounded by its deadline, record what it used, classify.

use super::arming::{Arming, Until, arm};
use super::callable::{Call, Target};
use super::classify::{self, Context};
use super::drive::{Stopped, bounded, in_runtime};
use crate::clock::{Deadline, Stamp};
use crate::code::{How, Live, Prepared};
use crate::error::{Error, ErrorKind, Limit, Result};
use crate::stats::CallStats;
use crate::store::{CancelHandle, StoreState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tracing::Instrument;
use wasmtime::Store;

/// A live instance of a plugin whose state (memory, globals) persists
/// across calls. Calls are serialised by `&mut self`.
///
/// Get one from [`Plugin::instantiate`](crate::Plugin::instantiate); the
/// call methods are in [`Instance`]'s other `impl` blocks.
pub struct Instance {
    pub(super) prepared: Arc<Prepared>,
    pub(super) store: Store<StoreState>,
    pub(super) live: Live,
    /// Tells this instance from every other (typed handles check it);
    /// 0 until the first handle asks (see [`Self::id`]).
    id: u64,
    fuel_budget: Option<u64>,
    /// What every call arms, read once from the plugin and engine.
    arming: Arming,
    stats: CallStats,
    /// The deadline every call of this instance shares (the stateless
    /// path's: one deadline for all attempts), or each call its own.
    pinned_deadline: Option<Option<Deadline>>,
    /// A component instance that trapped cannot be entered again.
    poisoned: bool,
    /// Whether calls time themselves (the stateless path times the whole
    /// call, instantiation included, instead).
    timed: bool,
}

impl Instance {
    /// A new instance of `plugin` from this thread's pool shard or, when
    /// that pool is full, from the next shard with room: instantiation is
    /// busy only when no shard an instance fits in has room. A component
    /// (see [`Prepared::may_borrow`]) makes one attempt, on the first
    /// shard in turn with room for all of it. Arguments as
    /// [`new`](Self::new).
    pub(crate) async fn fresh(
        plugin: &Arc<Prepared>,
        args: &[String],
        fuel: Option<u64>,
        how: How,
        deadline: Option<Deadline>,
    ) -> Result<Self> {
        let (n, first) = (plugin.shard_count(), plugin.shard_of_this_thread());
        let order = (0..n).map(|i| (first + i) % n);
        if !plugin.may_borrow() {
            let k = order
                .clone()
                .find(|&k| plugin.has_room_on(k))
                .or_else(|| order.clone().find(|&k| plugin.on_shard(k).is_some()));
            let copy = k.and_then(|k| plugin.on_shard(k)).unwrap_or(plugin);
            return Self::new(copy.clone(), args, fuel, how, deadline).await;
        }
        let mut busy = None;
        for k in order {
            let Some(copy) = plugin.on_shard(k) else {
                continue;
            };
            match Self::new(copy.clone(), args, fuel, how, deadline).await {
                Err(e) if e.kind() == &ErrorKind::Busy => busy = Some(e),
                made => return made,
            }
        }
        match busy {
            Some(e) => Err(e),
            // Shard 0 is never passed over: unreachable, but harmless.
            None => Self::new(plugin.clone(), args, fuel, how, deadline).await,
        }
    }

    /// Creates the store and instantiates, running the start function under
    /// the call's limits. `args` are a WASI command's argv\[1..\].
    /// `deadline` bounds the start function (`None`: no deadline).
    async fn new(
        prepared: Arc<Prepared>,
        args: &[String],
        fuel: Option<u64>,
        how: How,
        deadline: Option<Deadline>,
    ) -> Result<Self> {
        prepared.check_counts()?;
        let mut store = prepared.template.store(args)?;
        let span = tracing::debug_span!("instantiate", plugin = prepared.name());
        let arming = Arming::of(&prepared);
        arm(
            &mut store,
            &prepared,
            arming,
            fuel,
            how,
            Until::At(deadline),
            &mut None,
        );
        let (deadline, cancel) = limits_of(&store);
        let instantiate = prepared.instantiate(&mut store, how).instrument(span);
        let live = match how {
            How::Sync => instantiate.await,
            How::Async => {
                let outcome = Box::pin(in_runtime(bounded(instantiate, deadline, cancel))).await?;
                stopped(&mut store, outcome)
            }
        };
        match live {
            Ok(live) => Ok(Self {
                prepared,
                store,
                live,
                id: 0,
                fuel_budget: fuel,
                arming,
                stats: CallStats::default(),
                pinned_deadline: None,
                poisoned: false,
                timed: true,
            }),
            Err(e) => {
                let cx = context(&mut store);
                Err(classify::instantiate_error(prepared.name(), e, cx))
            }
        }
    }

    /// This instance's identity, drawn when a typed handle first needs it:
    /// the counter is shared by every thread, and most instances (all
    /// stateless ones) never make a handle.
    pub(super) fn id(&mut self) -> u64 {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        if self.id == 0 {
            self.id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        }
        self.id
    }

    /// The identity of this instance if a handle was ever made (0: none
    /// was, so no handle can be this instance's).
    pub(super) fn known_id(&self) -> u64 {
        self.id
    }

    /// Makes every later call of this instance end by `deadline`.
    pub(crate) fn pin_deadline(&mut self, deadline: Option<Deadline>) {
        self.pinned_deadline = Some(deadline);
    }

    /// Gives every later call its own deadline again.
    pub(crate) fn unpin_deadline(&mut self) {
        self.pinned_deadline = None;
    }

    /// Leaves timing to the caller.
    pub(crate) fn untimed(&mut self) {
        self.timed = false;
    }

    /// Whether the instance can no longer be called (a component that
    /// trapped).
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The one pipeline of every call: check the instance, resolve the
    /// call, arm the limits, run the guest bounded by its deadline, record
    /// what it used, classify.
    pub(crate) async fn invoke<C: Call>(&mut self, call: &C, how: How) -> Result<C::Output> {
        self.usable()?;
        let ready = call.ready(&mut Target {
            prepared: &self.prepared,
            store: &mut self.store,
            live: &self.live,
        })?;
        let mut start = None;
        self.arm(how, &mut start);
        // Timing costs a precise clock read more (two where the deadline
        // took none): typed handles skip it.
        let start = (C::TIMED && self.timed).then(|| *start.get_or_insert_with(Stamp::now));
        let result = match how {
            // A cancel that came before the call: no guest code runs.
            _ if cancelled(&mut self.store) => Err(wasmtime::Error::new(wasmtime::Trap::Interrupt)),
            How::Sync => call.run(ready, &mut self.store, how).await,
            How::Async => {
                let (deadline, cancel) = limits_of(&self.store);
                // Boxed: the sync path should not carry (and move) this
                // future's state on every call.
                let outcome = Box::pin(in_runtime(bounded(
                    call.run(ready, &mut self.store, how),
                    deadline,
                    cancel,
                )))
                .await?;
                stopped(&mut self.store, outcome)
            }
        };
        self.conclude(result, start, call.export())
    }

    /// The same pipeline for a call with nothing to resolve that Wasmtime
    /// runs synchronously (a typed handle's, when the plugin's calls take
    /// the sync path): the same steps, without a future to drive.
    #[inline]
    pub(crate) fn invoke_now<R>(
        &mut self,
        export: &str,
        run: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<R>,
    ) -> Result<R> {
        self.usable()?;
        self.arm(How::Sync, &mut None);
        let result = if cancelled(&mut self.store) {
            Err(wasmtime::Error::new(wasmtime::Trap::Interrupt))
        } else {
            run(&mut self.store)
        };
        self.conclude(result, None, export)
    }

    /// Whether this instance's calls take the synchronous path with no
    /// check left to make (see [`check_sync`]).
    #[inline]
    pub(crate) fn runs_now(&self) -> bool {
        self.arming.now
    }

    /// Refuses a call of an instance that cannot be entered again.
    #[inline]
    fn usable(&self) -> Result<()> {
        if self.poisoned {
            return Err(self.poisoned_error());
        }
        Ok(())
    }

    #[cold]
    fn poisoned_error(&self) -> Error {
        Error::new(
            ErrorKind::Poisoned,
            format!(
                "the instance of `{}` cannot be called again: a component instance that trapped stays unusable; instantiate a new one",
                self.prepared.name()
            ),
        )
    }

    /// Arms fuel and the deadline of the next call.
    #[inline]
    fn arm(&mut self, how: How, start: &mut Option<Stamp>) {
        let until = self.pinned_deadline.map_or(Until::Timeout, Until::At);
        arm(
            &mut self.store,
            &self.prepared,
            self.arming,
            self.fuel_budget,
            how,
            until,
            start,
        );
    }

    /// Records what the call used and classifies how it ended.
    #[inline]
    fn conclude<T>(
        &mut self,
        result: wasmtime::Result<T>,
        start: Option<Stamp>,
        export: &str,
    ) -> Result<T> {
        self.finish(start);
        match result {
            Ok(out) => match self.store.data().captured.overflow() {
                None => Ok(out),
                // Output past the cap fails even a call that returned.
                Some((stream, allowed)) => {
                    Err(self.failed(Error::limit(Limit::Output { stream, allowed }), export))
                }
            },
            Err(e) => {
                if matches!(self.live, Live::Component(_)) {
                    self.poisoned = true;
                }
                let failure = classify::classify(e, context(&mut self.store));
                Err(self.failed(failure, export))
            }
        }
    }

    #[cold]
    fn failed(&self, failure: Error, export: &str) -> Error {
        failure
            .context(format!(
                "call to `{}` in `{}` failed",
                export,
                self.prepared.name()
            ))
            .with_stats(self.stats)
    }

    #[inline]
    fn finish(&mut self, start: Option<Stamp>) {
        let duration = start.map(Stamp::elapsed).unwrap_or_default();
        // `get_fuel` fails (building an error) when metering is off: ask
        // the engine instead of the store on the success path.
        // Wasmtime does not store the fuel counter when it interrupts wasm
        // code at an epoch check, so after a deadline or a cancel the
        // figure would be too low: none is given.
        let interrupted = self.store.data().interrupt.reason.is_some();
        let fuel_consumed = if self.arming.fuel && !interrupted {
            self.store
                .get_fuel()
                .ok()
                .map(|left| self.fuel_budget.unwrap_or(u64::MAX) - left)
        } else {
            None
        };
        self.stats = CallStats {
            fuel_consumed,
            duration,
            memory_peak: self.store.data().limiter.memory_peak,
            attempts: 1,
        };
    }

    /// The name of the plugin this is an instance of.
    pub fn plugin_name(&self) -> &str {
        self.prepared.name()
    }

    /// A handle that cancels this instance's running or future calls from
    /// any thread: they fail with [`TrapKind::Cancelled`](crate::TrapKind::Cancelled),
    /// also while waiting in a host call.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the engine runs without epoch
    /// interruption: nothing could stop running wasm code.
    pub fn cancel_handle(&mut self) -> Result<CancelHandle> {
        let engine = self.prepared.engine();
        if !engine.config().get_epoch_interruption() {
            return Err(Error::config(
                "a cancel handle needs an engine with epoch interruption (epoch-interruption, `EngineConfig::epoch_interruption`)",
            ));
        }
        engine.ensure_ticker();
        Ok(self
            .store
            .data_mut()
            .interrupt
            .cancel
            .get_or_insert_with(CancelHandle::new)
            .clone())
    }

    /// Usage of the last call (fuel, time, memory high-water mark).
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    pub(crate) fn set_attempts(&mut self, attempts: u32, duration: std::time::Duration) {
        self.stats.attempts = attempts;
        self.stats.duration = duration;
    }

    /// Captured stdout so far (up to the output cap).
    pub fn stdout(&self) -> Vec<u8> {
        self.store.data().captured.stdout()
    }

    /// Captured stderr so far (up to the output cap).
    pub fn stderr(&self) -> Vec<u8> {
        self.store.data().captured.stderr()
    }

    /// A checked error of this instance's plugin (lookups, arguments).
    pub(crate) fn prepared(&self) -> &Prepared {
        &self.prepared
    }
}

/// The outcome of a bounded guest future: a stop (its future already
/// dropped) is recorded in the store and reported as Wasmtime's interrupt
/// trap, which the classifier then names by its reason.
fn stopped<T>(
    store: &mut Store<StoreState>,
    outcome: std::result::Result<wasmtime::Result<T>, Stopped>,
) -> wasmtime::Result<T> {
    outcome.unwrap_or_else(|stop| {
        store.data_mut().interrupt.reason = Some(stop.trap_kind());
        Err(wasmtime::Error::new(wasmtime::Trap::Interrupt))
    })
}

/// The deadline and cancel handle armed for the next call.
fn limits_of(store: &Store<StoreState>) -> (Option<Instant>, Option<CancelHandle>) {
    let i = &store.data().interrupt;
    (i.deadline.map(Deadline::instant), i.cancel.clone())
}

/// What the store knew when the guest stopped.
fn context(store: &mut Store<StoreState>) -> Context {
    let data = store.data_mut();
    Context {
        interrupt: data.interrupt.reason.take(),
        denied: data.limiter.denied.take(),
        overflow: data.captured.overflow(),
    }
}

/// Whether the instance's cancel handle has fired (recording it as the
/// reason the call stops).
#[inline]
fn cancelled(store: &mut Store<StoreState>) -> bool {
    let interrupt = &mut store.data_mut().interrupt;
    let fired = interrupt
        .cancel
        .as_ref()
        .is_some_and(CancelHandle::is_cancelled);
    if fired {
        interrupt.reason = Some(crate::error::TrapKind::Cancelled);
    }
    fired
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("plugin", &self.prepared.name())
            .finish_non_exhaustive()
    }
}

/// Refuses a synchronous call that would stall the caller's runtime: a
/// plugin with async host functions, from a thread that drives a
/// current-thread tokio runtime (see [`ErrorKind::CallMode`]).
pub(crate) fn check_sync(prepared: &Prepared) -> Result<()> {
    if prepared.async_host && super::drive::on_current_thread_runtime() {
        return Err(Error::new(
            ErrorKind::CallMode,
            format!(
                "`{}` imports async host functions and this thread drives a current-thread tokio runtime, which a synchronous call would stall: call it with the `*_async` methods",
                prepared.name()
            ),
        ));
    }
    Ok(())
}
