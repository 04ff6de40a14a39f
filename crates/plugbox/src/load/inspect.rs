//! What a module or component contains, read without compiling it: imports,
//! exports with signatures, memories, tables, custom sections and the WASI
//! interfaces it needs.

use super::kind::WasmKind;
use super::source::Wasm;
use crate::error::{Error, ErrorKind, InvalidReason, Result};
use serde::Serialize;
use wasmparser::{self, CompositeInnerType, ExternalKind, FuncType, Parser, Payload, TypeRef};

/// The contents of a module or component.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Inspection {
    /// Module, component or precompiled.
    pub kind: WasmKind,
    /// Size of the binary in bytes.
    pub size: u64,
    /// Imports in declaration order.
    pub imports: Vec<Import>,
    /// Exports in declaration order.
    pub exports: Vec<Export>,
    /// Memories, imported ones first.
    pub memories: Vec<Memory>,
    /// Tables, imported ones first.
    pub tables: Vec<Table>,
    /// Custom sections (name, producers, debug info, ...).
    pub custom_sections: Vec<CustomSection>,
    /// WASI interfaces imported (`wasi_snapshot_preview1`, `wasi:cli/stdout@0.2.0`, ...).
    pub wasi: Vec<String>,
    /// For components: the WIT of the component's world (its imports and
    /// exports), as decoded from the binary.
    pub wit: Option<String>,
}

impl Serialize for WasmKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// One import.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Import {
    /// Module name (components: empty).
    pub module: String,
    /// Field name (components: the import name).
    pub name: String,
    /// `func`, `memory`, `table`, `global`, `tag`, or a component kind.
    pub kind: String,
    /// The type: a signature for functions, limits for memories.
    pub ty: String,
}

/// One export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// `func`, `memory`, `table`, `global`, `tag`, or a component kind.
    pub kind: String,
    /// The type: a signature for functions, limits for memories.
    pub ty: String,
}

/// A linear memory.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Memory {
    /// Whether it is imported.
    pub imported: bool,
    /// Initial size in 64 KiB pages.
    pub min_pages: u64,
    /// Maximum size in pages, if declared.
    pub max_pages: Option<u64>,
    /// 64-bit addressing.
    pub memory64: bool,
    /// Shared between threads.
    pub shared: bool,
}

/// A table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Table {
    /// Whether it is imported.
    pub imported: bool,
    /// Element type (`funcref`, ...).
    pub element: String,
    /// Initial number of elements.
    pub min: u64,
    /// Maximum elements, if declared.
    pub max: Option<u64>,
}

/// A custom section.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CustomSection {
    /// Section name.
    pub name: String,
    /// Payload size in bytes.
    pub size: u64,
}

impl Wasm {
    /// Lists what the binary contains, without compiling it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidModule`] when the binary cannot be parsed.
    pub fn inspect(&self) -> Result<Inspection> {
        let mut out = Inspection {
            kind: self.kind(),
            size: self.bytes().len() as u64,
            imports: Vec::new(),
            exports: Vec::new(),
            memories: Vec::new(),
            tables: Vec::new(),
            custom_sections: Vec::new(),
            wasi: Vec::new(),
            wit: None,
        };
        match self.kind() {
            WasmKind::Module => inspect_module(self.bytes(), &mut out),
            WasmKind::Component => inspect_component(self.bytes(), &mut out),
            WasmKind::PrecompiledModule | WasmKind::PrecompiledComponent => Ok(()),
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidModule(InvalidReason::Malformed {
                    offset: Some(e.offset()),
                }),
                format!(
                    "invalid module `{}`: {} (at offset {:#x})",
                    self.name(),
                    e.message(),
                    e.offset()
                ),
            )
        })?;
        out.wasi.dedup();
        if self.kind() == WasmKind::Component {
            out.wit = Some(component_wit(self.bytes()).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidModule(InvalidReason::Malformed { offset: None }),
                    format!("cannot decode the WIT of `{}`", self.name()),
                )
                .with_source(e.to_string())
            })?);
        }
        Ok(out)
    }
}

/// The WIT text of a component's world.
fn component_wit(bytes: &[u8]) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let decoded = wit_parser::decoding::decode(bytes)?;
    let mut printer = wit_component::WitPrinter::default();
    printer.print(decoded.resolve(), decoded.package(), &[])?;
    Ok(printer.output.to_string())
}

fn sig(ty: &FuncType) -> String {
    let p: Vec<String> = ty.params().iter().map(ToString::to_string).collect();
    let r: Vec<String> = ty.results().iter().map(ToString::to_string).collect();
    let r = if r.len() == 1 {
        r[0].clone()
    } else {
        format!("({})", r.join(", "))
    };
    format!("({}) -> {r}", p.join(", "))
}

fn limits_text(min: u64, max: Option<u64>, unit: &str) -> String {
    match max {
        Some(max) => format!("{min}..{max} {unit}"),
        None => format!("{min}.. {unit}"),
    }
}

fn memory_info(m: &wasmparser::MemoryType, imported: bool) -> Memory {
    Memory {
        imported,
        min_pages: m.initial,
        max_pages: m.maximum,
        memory64: m.memory64,
        shared: m.shared,
    }
}

fn memory_text(m: &Memory) -> String {
    let mut s = limits_text(m.min_pages, m.max_pages, "pages");
    if m.memory64 {
        s.push_str(", 64-bit");
    }
    if m.shared {
        s.push_str(", shared");
    }
    s
}

fn table_info(t: &wasmparser::TableType, imported: bool) -> Table {
    Table {
        imported,
        element: t.element_type.to_string(),
        min: t.initial,
        max: t.maximum,
    }
}

fn inspect_module(bytes: &[u8], out: &mut Inspection) -> wasmparser::Result<()> {
    // Function types by type index (None for non-function types).
    let mut types: Vec<Option<FuncType>> = Vec::new();
    // Type index of each function, imported ones first.
    let mut funcs: Vec<u32> = Vec::new();
    let mut globals: Vec<String> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match &sub.composite_type.inner {
                            CompositeInnerType::Func(f) => Some(f.clone()),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let (kind, ty) = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            funcs.push(t);
                            ("func", func_text(&types, t))
                        }
                        TypeRef::Memory(m) => {
                            let info = memory_info(&m, true);
                            let text = memory_text(&info);
                            out.memories.push(info);
                            ("memory", text)
                        }
                        TypeRef::Table(t) => {
                            out.tables.push(table_info(&t, true));
                            (
                                "table",
                                limits_text(t.initial, t.maximum, &t.element_type.to_string()),
                            )
                        }
                        TypeRef::Global(g) => {
                            let text = global_text(&g);
                            globals.push(text.clone());
                            ("global", text)
                        }
                        TypeRef::Tag(_) => ("tag", String::new()),
                    };
                    if is_wasi_module(import.module) {
                        out.wasi.push(import.module.to_string());
                    }
                    out.imports.push(Import {
                        module: import.module.into(),
                        name: import.name.into(),
                        kind: kind.into(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    funcs.push(t?);
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    out.memories.push(memory_info(&m?, false));
                }
            }
            Payload::TableSection(reader) => {
                for t in reader {
                    out.tables.push(table_info(&t?.ty, false));
                }
            }
            Payload::GlobalSection(reader) => {
                for g in reader {
                    globals.push(global_text(&g?.ty));
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    let i = export.index as usize;
                    let (kind, ty) = match export.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => (
                            "func",
                            funcs
                                .get(i)
                                .map_or_else(|| "?".into(), |t| func_text(&types, *t)),
                        ),
                        ExternalKind::Memory => (
                            "memory",
                            out.memories.get(i).map(memory_text).unwrap_or_default(),
                        ),
                        ExternalKind::Table => (
                            "table",
                            out.tables
                                .get(i)
                                .map(|t| limits_text(t.min, t.max, &t.element))
                                .unwrap_or_default(),
                        ),
                        ExternalKind::Global => {
                            ("global", globals.get(i).cloned().unwrap_or_default())
                        }
                        ExternalKind::Tag => ("tag", String::new()),
                    };
                    out.exports.push(Export {
                        name: export.name.into(),
                        kind: kind.into(),
                        ty,
                    });
                }
            }
            Payload::CustomSection(reader) => out.custom_sections.push(CustomSection {
                name: reader.name().into(),
                size: reader.data().len() as u64,
            }),
            _ => {}
        }
    }
    Ok(())
}

fn func_text(types: &[Option<FuncType>], index: u32) -> String {
    match types.get(index as usize) {
        Some(Some(f)) => sig(f),
        _ => format!("type {index}"),
    }
}

fn global_text(g: &wasmparser::GlobalType) -> String {
    if g.mutable {
        format!("mut {}", g.content_type)
    } else {
        g.content_type.to_string()
    }
}

fn inspect_component(bytes: &[u8], out: &mut Inspection) -> wasmparser::Result<()> {
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import?;
                    let name = import.name.name.to_string();
                    if name.starts_with("wasi:") {
                        out.wasi.push(name.clone());
                    }
                    out.imports.push(Import {
                        module: String::new(),
                        name,
                        kind: component_kind(&import.ty).into(),
                        ty: String::new(),
                    });
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export?;
                    out.exports.push(Export {
                        name: export.name.name.to_string(),
                        kind: format!("{:?}", export.kind).to_lowercase(),
                        ty: String::new(),
                    });
                }
            }
            Payload::CustomSection(reader) if depth == 0 => {
                out.custom_sections.push(CustomSection {
                    name: reader.name().into(),
                    size: reader.data().len() as u64,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

fn component_kind(ty: &wasmparser::ComponentTypeRef) -> &'static str {
    use wasmparser::ComponentTypeRef as C;
    match ty {
        C::Module(_) => "module",
        C::Func(_) => "func",
        C::Value(_) => "value",
        C::Type(_) => "type",
        C::Instance(_) => "instance",
        C::Component(_) => "component",
    }
}

/// Whether a core import module name is WASI preview 1.
pub(crate) fn is_wasi_module(module: &str) -> bool {
    matches!(module, "wasi_snapshot_preview1" | "wasi_unstable")
}
