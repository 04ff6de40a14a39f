//! Components: linking against WASI preview 2, finding exported functions
//! by name (`greet` or `my:pkg/iface#greet`), and listing them.

use crate::error::{Error, ErrorKind, Result};
use crate::store::{HostFunctions, StoreState};
use crate::text::printable;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, InstancePre, Linker};

/// The module name [`ErrorKind::Link`] uses for a component's top-level
/// function imports (those outside any interface).
pub const ROOT_IMPORT: &str = "root";

/// Links a component against what plugbox provides to components — WASI
/// preview 2 (the async flavour: every component call runs on the async
/// path) with `wasi:http` (outgoing requests only where the sandbox
/// allows), the `plugbox:plugin` host API, `wasi:keyvalue` and the
/// embedder's component host functions — naming the import that cannot
/// be satisfied.
pub(crate) fn link(
    component: &Component,
    host: &HostFunctions,
    plugin: &str,
) -> Result<InstancePre<StoreState>> {
    let mut linker: Linker<StoreState> = Linker::new(component.engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)
        .and_then(|()| super::symlink::guard_p2(&mut linker))
        .and_then(|()| wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker))
        .and_then(|()| crate::store::world::add_to_linker(&mut linker))
        .and_then(|()| crate::store::keyvalue::add_to_linker(&mut linker))
        .and_then(|()| host.define_component(&mut linker))
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                "cannot set up WASI preview 2, wasi:http and the plugbox:plugin host API",
            )
            .with_source(e.into_boxed_dyn_error())
        })?;
    linker
        .instantiate_pre(component)
        .map_err(|err| explain(component, host, plugin, err))
}

/// Names the first import plugbox does not provide: the interface and the
/// function in it, or (for top-level function imports) [`ROOT_IMPORT`] and
/// the function.
fn explain(
    component: &Component,
    host: &HostFunctions,
    plugin: &str,
    err: wasmtime::Error,
) -> Error {
    let wt = component.engine();
    let provided = |name: &str| {
        provides_wasi(name)
            || name.starts_with("plugbox:plugin/")
            || host.provides_component_import(name)
    };
    let missing = component
        .component_type()
        .imports(wt)
        .find(|(name, _)| !provided(name))
        .map(|(name, item)| match item.ty {
            ComponentItem::ComponentInstance(inst) => {
                let first = inst
                    .exports(wt)
                    .find(|(_, i)| matches!(i.ty, ComponentItem::ComponentFunc(_)))
                    .or_else(|| inst.exports(wt).next())
                    .map_or_else(|| name.to_string(), |(f, _)| f.to_string());
                (name.to_string(), first)
            }
            _ => (ROOT_IMPORT.to_string(), name.to_string()),
        });
    match missing {
        Some((module, name)) => {
            let (m, n) = (printable(&module), printable(&name));
            let what = if module == ROOT_IMPORT {
                format!("`{n}`")
            } else {
                format!("`{m}` (it calls `{n}`)")
            };
            Error::new(
                ErrorKind::Link { module, name },
                format!(
                    "cannot link `{plugin}`: missing import {what}; plugbox provides WASI preview 2 (`wasi:cli`, `wasi:clocks`, `wasi:filesystem`, `wasi:io`, `wasi:random`, `wasi:sockets`, `wasi:http` at 0.2.x), its host API (`plugbox:plugin/*`) and the embedder's component host functions to components"
                ),
            )
        }
        None => Error::new(ErrorKind::Other, format!("cannot link `{plugin}`"))
            .with_source(err.into_boxed_dyn_error()),
    }
}

/// Whether `name` is a WASI preview 2 interface plugbox links:
/// `wasi:{cli,clocks,filesystem,io,random,sockets,http}/…@0.2.x` (not
/// `wasi:keyvalue`, ... nor other versions).
fn provides_wasi(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("wasi:") else {
        return false;
    };
    let package = rest.split('/').next().unwrap_or_default();
    let version = rest.rsplit_once('@').map(|(_, v)| v);
    matches!(
        package,
        "cli" | "clocks" | "filesystem" | "io" | "random" | "sockets" | "http"
    ) && version.is_some_and(|v| v.starts_with("0.2."))
}

/// Every exported function: top-level ones by name, those of exported
/// interfaces as `interface#function`.
pub(crate) fn functions(component: &Component) -> Vec<String> {
    let ty = component.component_type();
    let mut out = Vec::new();
    for (name, export) in ty.exports(component.engine()) {
        match export.ty {
            ComponentItem::ComponentFunc(_) => out.push(name.to_string()),
            ComponentItem::ComponentInstance(inst) => {
                for (fname, item) in inst.exports(component.engine()) {
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
pub(crate) fn func_type(component: &Component, name: &str) -> Option<ComponentFunc> {
    let (iface, func) = split(name);
    let parent = match iface {
        Some(iface) => Some(component.get_export(None, iface)?.1),
        None => None,
    };
    match component.get_export(parent.as_ref(), func)?.0 {
        ComponentItem::ComponentFunc(f) => Some(f),
        _ => None,
    }
}

/// The export index of a function, resolved once per compiled component.
pub(crate) fn export_index(
    component: &Component,
    name: &str,
) -> Option<wasmtime::component::ComponentExportIndex> {
    let (iface, func) = split(name);
    let parent = match iface {
        Some(iface) => Some(component.get_export_index(None, iface)?),
        None => None,
    };
    component.get_export_index(parent.as_ref(), func)
}

/// The name of the exported `wasi:cli/run` interface of a command
/// component, if it has one.
pub(crate) fn cli_run(component: &Component) -> Option<String> {
    component
        .component_type()
        .exports(component.engine())
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

/// How many core instances instantiating this component creates, counted
/// from its binary: every `instantiate` of a core module, nested components
/// included (each counted once).
pub(crate) fn core_instances(bytes: &[u8]) -> u64 {
    let mut count = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        let Ok(wasmparser::Payload::InstanceSection(reader)) = payload else {
            continue;
        };
        count += reader
            .into_iter()
            .filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. })))
            .count() as u64;
    }
    count
}
