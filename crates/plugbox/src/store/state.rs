//! The data of every store: the limiter, the deadline and cancel state,
//! the WASI context, the host functions' state, the plugin's kv store and
//! log sink, and the captured output.

use super::Shared;
use super::http::HttpState;
use super::interrupt::Interrupt;
use super::limiter::Limiter;
use super::wasi::Captured;
use crate::config::Limits;
use crate::kv::Kv;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasmtime_wasi::p1::WasiP1Ctx;

/// The data of every plugbox store. Host functions reach it through
/// [`HostCaller`] and [`ComponentCaller`].
pub struct StoreState {
    pub(crate) limiter: Limiter,
    pub(crate) interrupt: Interrupt,
    /// Boxed, as is `p2`: a store's data is moved while the store is
    /// made, and a plugin has at most one of the two (core modules without
    /// WASI, neither).
    pub(super) wasi: Option<Box<WasiP1Ctx>>,
    pub(super) p2: Option<Box<P2Ctx>>,
    /// The plugin's name, config, kv store and log sink.
    pub(crate) shared: Arc<Shared>,
    pub(crate) host: Option<Box<dyn std::any::Any + Send>>,
    /// Captured stdout and stderr.
    pub(crate) captured: Captured,
}

/// WASI preview 2 state of a component's store, `wasi:http` included.
pub(super) struct P2Ctx {
    pub(super) ctx: wasmtime_wasi::WasiCtx,
    pub(super) table: wasmtime::component::ResourceTable,
    pub(super) http: HttpState,
}

impl StoreState {
    /// The name of the plugin this store runs.
    pub(crate) fn plugin_name(&self) -> &Arc<str> {
        &self.shared.name
    }

    /// A state with no limits and no WASI, for link-time type checks.
    pub(crate) fn bare() -> Self {
        Self {
            limiter: Limiter::new(&Limits::unlimited()),
            interrupt: Interrupt::default(),
            wasi: None,
            p2: None,
            shared: Arc::new(Shared {
                name: "".into(),
                config: BTreeMap::new(),
                kv: Kv::memory(),
                log_sink: None,
            }),
            host: None,
            captured: Captured::default(),
        }
    }

    /// The plugin's kv store for an operation of the running call: it stops
    /// waiting before the call's deadline.
    pub(crate) fn call_kv(&self) -> Kv {
        self.shared
            .kv
            .until(self.interrupt.deadline.map(|deadline| deadline.instant()))
    }

    pub(crate) fn wasi_p1(&mut self) -> &mut WasiP1Ctx {
        // Only modules that import WASI get the WASI functions linked, and
        // their stores always get a context (see `StoreTemplate::store`).
        self.wasi
            .as_mut()
            .expect("a store of a WASI module has a WASI context")
    }
}

impl StoreState {
    /// The `wasi:http` state and the resource table it shares with WASI.
    pub(super) fn p2_http(&mut self) -> (&mut HttpState, &mut wasmtime::component::ResourceTable) {
        // As for `WasiView`: every component's store has a preview 2
        // context, and only components are linked against wasi:http.
        let p2 = self
            .p2
            .as_mut()
            .expect("a component's store has a WASI preview 2 context");
        (&mut p2.http, &mut p2.table)
    }
}

impl wasmtime_wasi::WasiView for StoreState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        // Components are always linked against WASI preview 2, and their
        // stores always get a context (see `StoreTemplate::store`).
        let p2 = self
            .p2
            .as_mut()
            .expect("a component's store has a WASI preview 2 context");
        wasmtime_wasi::WasiCtxView {
            ctx: &mut p2.ctx,
            table: &mut p2.table,
        }
    }
}
