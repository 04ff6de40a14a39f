//! `wasi:http` in a component's store: the context Wasmtime's
//! implementation needs, and the hooks that send a guest's outgoing
//! requests through the plugin's outbound grants (`allow-host`).

mod outbound;

use super::state::StoreState;
use crate::config::HostPattern;
use std::sync::Arc;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// The `wasi:http` state of one store.
pub(crate) struct HttpState {
    ctx: WasiHttpCtx,
    hooks: outbound::Outbound,
}

impl HttpState {
    /// A context whose outgoing requests may reach `allowed` hosts only.
    pub(crate) fn new(plugin: Arc<str>, allowed: Arc<[HostPattern]>) -> Self {
        Self {
            ctx: WasiHttpCtx::new(),
            hooks: outbound::Outbound::new(plugin, allowed),
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        let (http, table) = self.p2_http();
        WasiHttpCtxView {
            ctx: &mut http.ctx,
            table,
            hooks: &mut http.hooks,
        }
    }
}
