//! The store of one instance and everything in it: the resource limiter,
//! the deadline and cancel state, the WASI context built from the sandbox,
//! the host functions' state, and the host APIs of components: the
//! `plugbox:plugin` world and `wasi:keyvalue`.

mod host_fn;
mod http;
mod interrupt;
pub(crate) mod keyvalue;
mod limiter;
pub(crate) mod state;
mod stdio;
mod wasi;
pub(crate) mod world;

pub(crate) use host_fn::HostFnFailed;
pub use host_fn::{
    ComponentCaller, ComponentParams, ComponentResults, HostCaller, HostFunctions, HostParams,
    HostResults, HostValue,
};
pub use interrupt::CancelHandle;
pub(crate) use interrupt::Interrupt;
pub(crate) use limiter::{LimitExceeded, Limiter};
use state::P2Ctx;
pub use state::StoreState;
pub use stdio::flush_host_output;
pub(crate) use wasi::Captured;
pub use world::LogSink;

use crate::config::{HostPattern, Limits, Sandbox};
use crate::engine::Engine;
use crate::error::Result;
use crate::kv::Kv;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime::Store;

/// Which WASI a plugin's stores get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wasi {
    /// None: the module imports no WASI.
    None,
    /// Preview 1, for core modules that import it.
    P1,
    /// Preview 2, for components.
    P2,
}

/// Everything a plugin's stores are made from, shared by all of them.
#[derive(Clone)]
pub(crate) struct StoreTemplate {
    pub(crate) engine: Engine,
    /// The Wasmtime engine the stores live in: the engine's own, or one
    /// of its pool shards.
    pub(crate) wasmtime: wasmtime::Engine,
    pub(crate) name: Arc<str>,
    pub(crate) limits: Limits,
    pub(crate) sandbox: Sandbox,
    /// What the guest reads on stdin, when it is fixed bytes.
    pub(crate) stdin: Option<Arc<[u8]>>,
    pub(crate) wasi: Wasi,
    pub(crate) host: HostFunctions,
    /// What host calls read, shared by every store (one reference to
    /// count per store, not one per part).
    pub(crate) shared: Arc<Shared>,
    /// Where outbound HTTP may go: the sandbox's `allow-host` grants.
    pub(crate) allowed_hosts: Arc<[HostPattern]>,
}

/// The parts of a store's data that every store of a plugin shares with
/// the host calls of its guest.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    pub(crate) config: BTreeMap<String, String>,
    pub(crate) kv: Kv,
    pub(crate) log_sink: Option<LogSink>,
}

impl StoreTemplate {
    /// The same template for stores in `wasmtime` (a pool shard), with
    /// its own copies of what every store takes a reference to: threads
    /// on different shards then count no reference in common.
    pub(crate) fn copy_on(&self, wasmtime: &wasmtime::Engine) -> Self {
        let name: Arc<str> = Arc::from(&*self.name);
        Self {
            wasmtime: wasmtime.clone(),
            name: name.clone(),
            shared: Arc::new(Shared {
                name,
                ..Shared::clone(&self.shared)
            }),
            allowed_hosts: self.allowed_hosts.iter().cloned().collect(),
            ..self.clone()
        }
    }

    /// A new store with its limiter, epoch callback and WASI context;
    /// `args` are argv\[1..\] (argv\[0\] is the plugin's name).
    pub(crate) fn store(&self, args: &[String]) -> Result<Store<StoreState>> {
        let (mut wasi, mut p2, mut captured) = (None, None, Captured::default());
        if self.wasi != Wasi::None {
            let mut argv = Vec::with_capacity(args.len() + 1);
            argv.push(self.name.to_string());
            argv.extend_from_slice(args);
            let (mut builder, pipes) = wasi::builder(
                &self.sandbox,
                &argv,
                self.limits.get_max_output(),
                self.stdin.as_ref(),
            )?;
            captured = pipes;
            if self.wasi == Wasi::P1 {
                wasi = Some(Box::new(builder.build_p1()));
            } else {
                p2 = Some(Box::new(P2Ctx {
                    ctx: builder.build(),
                    table: wasmtime::component::ResourceTable::new(),
                    http: http::HttpState::new(self.name.clone(), self.allowed_hosts.clone()),
                }));
            }
        }
        let state = StoreState {
            limiter: Limiter::new(&self.limits),
            interrupt: Interrupt::default(),
            wasi,
            p2,
            shared: self.shared.clone(),
            host: self.host.make_state(),
            captured,
        };
        let mut store = Store::new(&self.wasmtime, state);
        store.limiter(|s| &mut s.limiter);
        if self.engine.config().get_epoch_interruption() {
            store.epoch_deadline_callback(|mut ctx| Ok(ctx.data_mut().interrupt.on_tick()));
        }
        Ok(store)
    }
}
