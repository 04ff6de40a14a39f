//! Components: linking against WASI preview 2, finding exported functions
//! by name (`greet` or `my:pkg/iface#greet`), and listing them.

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::instance::StoreState;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, InstancePre, Linker};

/// Links a component against what plugbox provides to components — WASI
/// preview 2, the `plugbox:plugin` host API and the embedder's component
/// host functions — naming the import that cannot be satisfied.
pub(crate) fn link(
    engine: &Engine,
    component: &Component,
    host: &crate::host_fn::HostFunctions,
    plugin: &str,
) -> Result<InstancePre<StoreState>> {
    let mut linker: Linker<StoreState> = Linker::new(engine.wasmtime());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .and_then(|()| crate::world::add_to_linker(&mut linker))
        .and_then(|()| host.define_component(&mut linker))
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                "cannot set up WASI preview 2 and the plugbox:plugin host API",
            )
            .with_source(e.into_boxed_dyn_error())
        })?;
    linker.instantiate_pre(component).map_err(|err| {
        let ty = component.component_type();
        let missing = ty
            .imports(engine.wasmtime())
            .map(|(name, _)| name)
            .find(|name| {
                !name.starts_with("wasi:") && !name.starts_with("plugbox:plugin/") && !host.provides_component_import(name)
            })
            .map(str::to_string);
        match missing {
            Some(name) => Error::new(
                ErrorKind::Link { module: name.clone(), name: String::new() },
                format!(
                    "cannot link `{plugin}`: missing import `{name}`; plugbox provides WASI preview 2 (`wasi:*`) and its host API (`plugbox:plugin/*`) to components"
                ),
            ),
            None => Error::new(ErrorKind::Link { module: String::new(), name: String::new() }, format!("cannot link `{plugin}`"))
                .with_source(err.into_boxed_dyn_error()),
        }
    })
}

/// Every exported function: top-level ones by name, those of exported
/// interfaces as `interface#function`.
pub(crate) fn functions(engine: &Engine, component: &Component) -> Vec<String> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (name, export) in ty.exports(engine.wasmtime()) {
        match export.ty {
            ComponentItem::ComponentFunc(_) => out.push(name.to_string()),
            ComponentItem::ComponentInstance(inst) => {
                for (fname, item) in inst.exports(engine.wasmtime()) {
                    if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                        out.push(format!("{name}#{fname}"));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Splits `iface#func` (or a bare `func`).
fn split(name: &str) -> (Option<&str>, &str) {
    match name.rsplit_once('#') {
        Some((iface, func)) => (Some(iface), func),
        None => (None, name),
    }
}

/// The type of an exported function, without instantiating.
pub(crate) fn func_type(
    engine: &Engine,
    component: &Component,
    name: &str,
) -> Option<ComponentFunc> {
    let (iface, func) = split(name);
    let parent = match iface {
        Some(iface) => Some(component.get_export(None, iface)?.1),
        None => None,
    };
    match component.get_export(parent.as_ref(), func)?.0 {
        ComponentItem::ComponentFunc(f) => Some(f),
        _ => {
            let _ = engine;
            None
        }
    }
}

/// Finds an exported function in a live instance.
pub(crate) fn lookup(
    store: &mut wasmtime::Store<StoreState>,
    instance: &wasmtime::component::Instance,
    name: &str,
) -> Option<wasmtime::component::Func> {
    let (iface, func) = split(name);
    let parent = match iface {
        Some(iface) => Some(instance.get_export_index(&mut *store, None, iface)?),
        None => None,
    };
    let index = instance.get_export_index(&mut *store, parent.as_ref(), func)?;
    instance.get_func(&mut *store, index)
}

/// The name of the exported `wasi:cli/run` interface of a command
/// component, if it has one.
pub(crate) fn cli_run(engine: &Engine, component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(engine.wasmtime())
        .map(|(name, _)| name)
        .find(|name| name.starts_with("wasi:cli/run@"))
        .map(|iface| format!("{iface}#run"))
}

/// Formats a component function type as `func(name: string) -> string`.
pub(crate) fn format_func(ty: &ComponentFunc) -> String {
    let params: Vec<String> = ty
        .params()
        .map(|(n, t)| format!("{n}: {}", crate::wit_values::wit_type_name(&t)))
        .collect();
    let results: Vec<String> = ty
        .results()
        .map(|t| crate::wit_values::wit_type_name(&t))
        .collect();
    match results.len() {
        0 => format!("func({})", params.join(", ")),
        1 => format!("func({}) -> {}", params.join(", "), results[0]),
        _ => format!("func({}) -> ({})", params.join(", "), results.join(", ")),
    }
}
