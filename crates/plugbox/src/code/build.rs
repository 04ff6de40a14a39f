//! Linked code for a Wasmtime engine: made when a plugin is loaded, and
//! again for each pool shard its instances are made in.

use super::exports::ModuleExports;
use super::{Code, component, link};
use crate::error::{Error, ErrorKind, Result};
use crate::store::HostFunctions;
use wasmtime_wasi_http::p2::bindings::ProxyIndices;

impl Code {
    /// The Wasmtime engine the code is loaded into: the engine's pool
    /// shard, or its on-demand engine.
    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        match self {
            Self::Module { module, .. } => module.engine(),
            Self::Component { component, .. } => component.engine(),
        }
    }

    /// Links a compiled module (with WASI preview 1 when it `uses_wasi`)
    /// in the module's engine.
    pub(super) fn module(
        module: wasmtime::Module,
        uses_wasi: bool,
        host: &HostFunctions,
        plugin: &str,
    ) -> Result<Self> {
        let pre = link::link(&module, uses_wasi, host, plugin)?;
        let exports = ModuleExports::of(&module);
        Ok(Self::Module {
            module,
            pre,
            exports,
        })
    }

    /// Links a compiled component in the component's engine and resolves
    /// its function exports (and its `wasi:http` handler) once.
    pub(super) fn component(
        component: wasmtime::component::Component,
        host: &HostFunctions,
        plugin: &str,
    ) -> Result<Self> {
        let pre = component::link(&component, host, plugin)?;
        let exports = component::functions(&component)
            .into_iter()
            .filter_map(|f| {
                let index = component::export_index(&component, &f)?;
                let ty = component::func_type(&component, &f)?;
                Some((f, (index, ty)))
            })
            .collect();
        let proxy = ProxyIndices::new(&pre).ok();
        Ok(Self::Component {
            component,
            pre,
            exports,
            proxy,
        })
    }

    /// The same code loaded into `engine` (a pool shard, configured as the
    /// engine that compiled it) and linked there: the compiled artifact is
    /// copied, not compiled again.
    pub(super) fn load_into(
        &self,
        engine: &wasmtime::Engine,
        uses_wasi: bool,
        host: &HostFunctions,
        plugin: &str,
    ) -> Result<Self> {
        let copy_failed = |e: wasmtime::Error| {
            Error::new(
                ErrorKind::Other,
                format!("cannot copy the code of `{plugin}` to a pool shard"),
            )
            .with_source(e.into_boxed_dyn_error())
        };
        match self {
            Self::Module { module, .. } => {
                let image = module.serialize().map_err(copy_failed)?;
                // SAFETY: `image` is what `serialize` just made of code
                // this process compiled (or loaded after checking it) for
                // an engine with the same configuration as `engine`.
                let copy = unsafe { wasmtime::Module::deserialize(engine, &image) }
                    .map_err(copy_failed)?;
                Self::module(copy, uses_wasi, host, plugin)
            }
            Self::Component { component, .. } => {
                let image = component.serialize().map_err(copy_failed)?;
                // SAFETY: as for modules above.
                let copy = unsafe { wasmtime::component::Component::deserialize(engine, &image) }
                    .map_err(copy_failed)?;
                Self::component(copy, host, plugin)
            }
        }
    }
}
