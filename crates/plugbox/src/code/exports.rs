//! A module's function exports by name, for calls by name, and the
//! errors of a call that names no such function.

use crate::error::{Error, ErrorKind};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// A module's function exports by name, with their index and type:
/// built on the first lookup by name (a module of thousands of exports
/// does not pay for the table when loaded, only when first called by
/// name), then shared by every copy of the plugin.
#[derive(Clone)]
pub(crate) struct ModuleExports {
    module: wasmtime::Module,
    table: Arc<OnceLock<ExportTable>>,
}

type ExportTable = HashMap<String, (wasmtime::ModuleExport, wasmtime::FuncType)>;

impl ModuleExports {
    pub(crate) fn of(module: &wasmtime::Module) -> Self {
        Self {
            module: module.clone(),
            table: Arc::default(),
        }
    }

    /// The function export `name`: its index and type.
    pub(crate) fn get(&self, name: &str) -> Option<&(wasmtime::ModuleExport, wasmtime::FuncType)> {
        let module = &self.module;
        self.table
            .get_or_init(|| {
                module
                    .exports()
                    .filter_map(|e| match e.ty() {
                        wasmtime::ExternType::Func(ty) => {
                            let index = module.get_export_index(e.name())?;
                            Some((e.name().to_string(), (index, ty)))
                        }
                        _ => None,
                    })
                    .collect()
            })
            .get(name)
    }
}

pub(crate) fn component_needs_json(plugin: &str) -> Error {
    Error::new(
        ErrorKind::SignatureMismatch {
            expected: "a core module".into(),
            found: "a component".into(),
        },
        format!(
            "`{plugin}` is a component: call it with component types (call_wit) or JSON values (call_json)"
        ),
    )
}

/// Export-not-found naming (some of) the functions that do exist.
pub(crate) fn export_not_found(plugin: &str, func: &str, funcs: &[String]) -> Error {
    const SHOWN: usize = 20;
    let hint = if funcs.is_empty() {
        "it exports no functions".to_string()
    } else {
        let mut names: Vec<String> = funcs
            .iter()
            .take(SHOWN)
            .map(|f| format!("`{}`", crate::text::printable(f)))
            .collect();
        if funcs.len() > SHOWN {
            names.push(format!("and {} more", funcs.len() - SHOWN));
        }
        format!("it exports: {}", names.join(", "))
    };
    Error::new(
        ErrorKind::ExportNotFound {
            name: func.to_string(),
        },
        format!(
            "no function `{}` exported by `{plugin}` ({hint})",
            crate::text::printable(func)
        ),
    )
}
