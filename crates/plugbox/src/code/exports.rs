//! A module's function exports by name, for calls by name.

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
