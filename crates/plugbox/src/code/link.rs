//! Linking a module against what plugbox provides (WASI preview 1 and the
//! embedder's host functions), with errors that name the missing or
//! mismatched import.

use crate::error::{Error, ErrorKind, Result};
use crate::load::is_wasi_module;
use crate::store::{HostFunctions, StoreState};
use crate::text::printable;
use crate::values::{extern_kind, format_func_type};
use wasmtime::{ExternType, ImportType, InstancePre, Linker, Module, Store};

/// Links `module`. WASI is the async flavour: every call of a WASI module
/// runs on the async path, where a deadline can end a pending host call.
pub(crate) fn link(
    module: &Module,
    uses_wasi: bool,
    host: &HostFunctions,
    plugin: &str,
) -> Result<InstancePre<StoreState>> {
    let mut linker: Linker<StoreState> = Linker::new(module.engine());
    host.define(&mut linker).map_err(|e| {
        Error::new(ErrorKind::Config, "invalid host function definitions")
            .with_source(e.into_boxed_dyn_error())
    })?;
    if uses_wasi {
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, StoreState::wasi_p1)
            .and_then(|_| {
                // WASI reserves statuses from 126 up and Wasmtime refuses
                // them; a command's status passes through as given.
                linker.allow_shadowing(true).func_wrap(
                    "wasi_snapshot_preview1",
                    "proc_exit",
                    |status: i32| -> wasmtime::Result<()> {
                        Err(wasmtime_wasi::I32Exit(status).into())
                    },
                )?;
                linker.allow_shadowing(false);
                super::symlink::guard_p1(&mut linker)
            })
            .map_err(|e| {
                Error::new(ErrorKind::Other, "cannot set up WASI")
                    .with_source(e.into_boxed_dyn_error())
            })?;
    }
    match linker.instantiate_pre(module) {
        Ok(pre) => Ok(pre),
        Err(err) => Err(explain(&linker, module, plugin, err)),
    }
}

/// Finds the import that made linking fail and says what is wrong with it.
fn explain(
    linker: &Linker<StoreState>,
    module: &Module,
    plugin: &str,
    err: wasmtime::Error,
) -> Error {
    let mut store = Store::new(module.engine(), StoreState::bare());
    for import in module.imports() {
        let (m, n) = (import.module().to_string(), import.name().to_string());
        // What the module named, shown safely (the kind keeps it exact).
        let shown = format!("{}::{}", printable(&m), printable(&n));
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
                let hint = if is_wasi_module(&m) {
                    "; plugbox provides WASI preview 1 functions only".to_string()
                } else {
                    "; plugbox provides WASI preview 1 (`wasi_snapshot_preview1`) and the host functions an embedder registers".to_string()
                };
                return link_err(format!(
                    "missing import `{shown}` ({}){hint}",
                    describe(&import)
                ));
            }
            Some(ext) => {
                let found = ext.ty(&store);
                if let (ExternType::Func(want), ExternType::Func(have)) = (import.ty(), &found)
                    && !have.matches(&want)
                {
                    return link_err(format!(
                        "import `{shown}` has the wrong type: the module expects {} but the host provides {}",
                        format_func_type(&want),
                        format_func_type(have)
                    ));
                }
                if std::mem::discriminant(&found) != std::mem::discriminant(&import.ty()) {
                    return link_err(format!(
                        "import `{shown}` has the wrong kind: the module expects a {} but the host provides a {}",
                        extern_kind(&import.ty()),
                        extern_kind(&found)
                    ));
                }
            }
        }
    }
    // Every import resolves to something of the right kind, so a non-function
    // import's type (limits, mutability, element type) must be what differs.
    match module
        .imports()
        .find(|i| !matches!(i.ty(), ExternType::Func(_)))
    {
        Some(import) => Error::new(
            ErrorKind::Link {
                module: import.module().to_string(),
                name: import.name().to_string(),
            },
            format!(
                "cannot link `{plugin}`: import `{}::{}` ({}) does not match what the host provides",
                printable(import.module()),
                printable(import.name()),
                describe(&import)
            ),
        ),
        None => Error::new(ErrorKind::Other, format!("cannot link `{plugin}`")),
    }
    .with_source(err.into_boxed_dyn_error())
}

fn describe(import: &ImportType<'_>) -> String {
    match import.ty() {
        ExternType::Func(f) => format!("a function {}", format_func_type(&f)),
        other => format!("a {}", extern_kind(&other)),
    }
}
