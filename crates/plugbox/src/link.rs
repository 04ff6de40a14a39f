//! Linking a module against what plugbox provides (WASI preview 1), with
//! errors that name the missing or mismatched import.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::host_fn::HostFunctions;
use crate::instance::StoreState;
use crate::values::format_func_type;
use wasmtime::{ExternType, ImportType, InstancePre, Linker, Module, Store};

pub(crate) fn link(
    engine: &Engine,
    module: &Module,
    uses_wasi: bool,
    host: &HostFunctions,
    plugin: &str,
    async_wasi: bool,
) -> Result<InstancePre<StoreState>> {
    let mut linker: Linker<StoreState> = Linker::new(engine.wasmtime());
    host.define(&mut linker).map_err(|e| {
        Error::new(ErrorKind::Config, "invalid host function definitions")
            .with_source(e.into_boxed_dyn_error())
    })?;
    if uses_wasi {
        let get = wasi_of;
        // The sync flavour blocks on its own runtime, which must not happen
        // inside an async executor: async calls get the async flavour.
        if async_wasi {
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, get)
        } else {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, get)
        }
        .map_err(|e| {
            Error::new(ErrorKind::Other, "cannot set up WASI").with_source(e.into_boxed_dyn_error())
        })?;
    }
    match linker.instantiate_pre(module) {
        Ok(pre) => Ok(pre),
        Err(err) => Err(explain(engine, &linker, module, plugin, err)),
    }
}

/// Finds the import that made linking fail and says what is wrong with it.
fn explain(
    engine: &Engine,
    linker: &Linker<StoreState>,
    module: &Module,
    plugin: &str,
    err: wasmtime::Error,
) -> Error {
    let mut store = Store::new(engine.wasmtime(), StoreState::bare());
    for import in module.imports() {
        let (m, n) = (import.module().to_string(), import.name().to_string());
        let link_err = |what: String| {
            Error::new(
                ErrorKind::Link {
                    module: m.clone(),
                    name: n.clone(),
                },
                format!("cannot link `{plugin}`: {what}"),
            )
        };
        match linker.get_by_import(&mut store, &import) {
            None => {
                let hint = if crate::plugin::is_wasi_module(&m) {
                    "; plugbox provides WASI preview 1 functions only".to_string()
                } else {
                    "; plugbox provides WASI preview 1 (`wasi_snapshot_preview1`) and the host functions an embedder registers".to_string()
                };
                return link_err(format!(
                    "missing import `{m}::{n}` ({}){hint}",
                    describe(&import)
                ));
            }
            Some(ext) => {
                let found = ext.ty(&store);
                if let (ExternType::Func(want), ExternType::Func(have)) = (import.ty(), &found)
                    && !have.matches(&want)
                {
                    return link_err(format!(
                        "import `{m}::{n}` has the wrong type: the module expects {} but the host provides {}",
                        format_func_type(&want),
                        format_func_type(have)
                    ));
                }
                if std::mem::discriminant(&found) != std::mem::discriminant(&import.ty()) {
                    return link_err(format!(
                        "import `{m}::{n}` has the wrong kind: the module expects a {} but the host provides a {}",
                        crate::plugin::extern_kind(&import.ty()),
                        crate::plugin::extern_kind(&found)
                    ));
                }
            }
        }
    }
    Error::new(
        ErrorKind::Link {
            module: String::new(),
            name: String::new(),
        },
        format!("cannot link `{plugin}`"),
    )
    .with_source(err.into_boxed_dyn_error())
}

fn describe(import: &ImportType<'_>) -> String {
    match import.ty() {
        ExternType::Func(f) => format!("a function {}", format_func_type(&f)),
        other => format!("a {}", crate::plugin::extern_kind(&other)),
    }
}

fn wasi_of(s: &mut StoreState) -> &mut wasmtime_wasi::p1::WasiP1Ctx {
    s.wasi_ctx()
}
