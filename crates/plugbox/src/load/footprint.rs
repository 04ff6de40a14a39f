//! The bytes of Wasmtime's own state an instance needs (its `VMContext`:
//! imports, tables, memories, globals and a reference for each function
//! that can escape), read from the binary before anything compiles it.
//!
//! The pooling allocator refuses a module whose instance state is larger
//! than its slots' (`max_core_instance_size`, 1 MiB), and it does so only
//! once the module is compiled: a module of 40 000 exported functions
//! compiled for 15 s and was then refused. Counting what the layout
//! depends on lets the engine put such a module on its on-demand engine
//! before compiling. The layout itself is Wasmtime's (`VMOffsets`); the
//! counts err on the large side where Wasmtime's depend on its lowering
//! (a start-up function, data segments kept at run time).

use wasmparser::{
    ConstExpr, ElementItems, ExternalKind, Operator, Parser, Payload, TableInit, TypeRef,
};
use wasmtime_environ::{HostPtr, VMOffsets, VMOffsetsFields};

/// The instance state of a module or component, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Footprint {
    /// The largest `VMContext` of one core module.
    pub(crate) largest: u64,
    /// The sum over every core module (once each): a component's
    /// instance needs at least this much.
    pub(crate) total: u64,
}

impl Footprint {
    /// Whether an instance of this code fits a slot holding `slot` bytes
    /// of instance state.
    pub(crate) fn fits(self, slot: u64) -> bool {
        self.largest.saturating_add(INSTANCE_OVERHEAD) <= slot
            && self.total.saturating_add(INSTANCE_OVERHEAD) <= slot
    }
}

/// Most of Wasmtime's bookkeeping in an instance besides its `VMContext`
/// (the `Instance` struct in front of it, a few hundred bytes): a module
/// whose `VMContext` and this fit in a slot fits (a unit test holds
/// Wasmtime to it).
pub(crate) const INSTANCE_OVERHEAD: u64 = 4 << 10;

/// A count past which the layout is not worked out: the module is far
/// too large for any slot, and Wasmtime's `u32` offsets could overflow.
const HUGE: u64 = 1 << 24;

/// The instance state of `bytes` (a module, or the core modules of a
/// component). Malformed input counts what was read before the error;
/// validation reports it.
pub(crate) fn of(bytes: &[u8]) -> Footprint {
    let mut footprint = Footprint::default();
    // The module being read (components nest modules; their own
    // sections are not counted).
    let mut stack: Vec<Option<Counts>> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            break;
        };
        if let Payload::Version { encoding, .. } = &payload {
            stack.push((*encoding == wasmparser::Encoding::Module).then(Counts::default));
            continue;
        }
        if let Payload::End(_) = payload {
            if let Some(Some(counts)) = stack.pop() {
                let size = counts.vmctx_size();
                footprint.largest = footprint.largest.max(size);
                footprint.total = footprint.total.saturating_add(size);
            }
            continue;
        }
        if let Some(Some(counts)) = stack.last_mut() {
            counts.read(payload);
        }
    }
    footprint
}

/// What one module's `VMContext` layout depends on.
#[derive(Default)]
struct Counts {
    imported_functions: u64,
    imported_tables: u64,
    imported_memories: u64,
    imported_globals: u64,
    imported_tags: u64,
    defined_tables: u64,
    defined_memories: u64,
    owned_memories: u64,
    defined_globals: u64,
    defined_tags: u64,
    /// Defined functions that can escape (exported, in an element
    /// segment, referenced by `ref.func` in a constant expression); every
    /// imported function can.
    escaped: std::collections::HashSet<u32>,
    data_segments: u64,
}

impl Counts {
    fn read(&mut self, payload: Payload<'_>) {
        match payload {
            Payload::ImportSection(r) => {
                for import in r.into_imports().flatten() {
                    match import.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => self.imported_functions += 1,
                        TypeRef::Table(_) => self.imported_tables += 1,
                        TypeRef::Memory(_) => self.imported_memories += 1,
                        TypeRef::Global(_) => self.imported_globals += 1,
                        TypeRef::Tag(_) => self.imported_tags += 1,
                    }
                }
            }
            Payload::TableSection(r) => {
                for table in r.into_iter().flatten() {
                    self.defined_tables += 1;
                    if let TableInit::Expr(e) = table.init {
                        self.escape_in(&e);
                    }
                }
            }
            Payload::MemorySection(r) => {
                for memory in r.into_iter().flatten() {
                    self.defined_memories += 1;
                    self.owned_memories += u64::from(!memory.shared);
                }
            }
            Payload::GlobalSection(r) => {
                for global in r.into_iter().flatten() {
                    self.defined_globals += 1;
                    self.escape_in(&global.init_expr);
                }
            }
            Payload::TagSection(r) => self.defined_tags += u64::from(r.count()),
            Payload::ExportSection(r) => {
                for export in r.into_iter().flatten() {
                    if matches!(export.kind, ExternalKind::Func | ExternalKind::FuncExact) {
                        self.escaped.insert(export.index);
                    }
                }
            }
            Payload::ElementSection(r) => {
                for element in r.into_iter().flatten() {
                    match element.items {
                        ElementItems::Functions(funcs) => {
                            self.escaped.extend(funcs.into_iter().flatten())
                        }
                        ElementItems::Expressions(_, exprs) => {
                            for e in exprs.into_iter().flatten() {
                                self.escape_in(&e);
                            }
                        }
                    }
                }
            }
            Payload::DataSection(r) => self.data_segments += u64::from(r.count()),
            _ => {}
        }
    }

    /// Flags the functions a constant expression takes a reference to.
    fn escape_in(&mut self, expr: &ConstExpr<'_>) {
        for op in expr.get_operators_reader() {
            match op {
                Ok(Operator::RefFunc { function_index }) => {
                    self.escaped.insert(function_index);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }

    /// Bytes of the `VMContext`, as Wasmtime lays it out (or a rough,
    /// far too large figure for a module with millions of entries).
    fn vmctx_size(&self) -> u64 {
        let imported = self.imported_functions;
        let escaped = imported
            + self
                .escaped
                .iter()
                .filter(|&&f| u64::from(f) >= imported)
                .count() as u64;
        // At most one run-time data entry per data segment and per memory
        // image; a start-up function assumed.
        let runtime_data = self.data_segments + self.defined_memories;
        let counts = [
            imported,
            self.imported_tables,
            self.imported_memories,
            self.imported_globals,
            self.imported_tags,
            self.defined_tables,
            self.defined_memories,
            self.owned_memories,
            self.defined_globals,
            self.defined_tags,
            escaped,
            runtime_data,
        ];
        let entries = counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        if entries > HUGE {
            // No entry is larger than 64 bytes.
            return entries.saturating_mul(64);
        }
        let n = |c: u64| u32::try_from(c).unwrap_or(u32::MAX);
        let offsets: VMOffsets<HostPtr> = VMOffsetsFields {
            ptr: HostPtr,
            num_imported_functions: n(imported),
            num_imported_tables: n(self.imported_tables),
            num_imported_memories: n(self.imported_memories),
            num_imported_globals: n(self.imported_globals),
            num_imported_tags: n(self.imported_tags),
            num_defined_tables: n(self.defined_tables),
            num_defined_memories: n(self.defined_memories),
            num_owned_memories: n(self.owned_memories),
            num_defined_globals: n(self.defined_globals),
            num_defined_tags: n(self.defined_tags),
            num_escaped_funcs: n(escaped),
            num_runtime_data: n(runtime_data),
            has_startup_func: true,
        }
        .into();
        u64::from(offsets.size_of_vmctx())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(text: &str) -> Vec<u8> {
        let buf = wast::parser::ParseBuffer::new(text).unwrap();
        let mut wat: wast::Wat<'_> = wast::parser::parse(&buf).unwrap();
        wat.encode().unwrap()
    }

    /// Whether Wasmtime's pool takes `bytes` with slots of `size` bytes of
    /// instance state.
    fn pool_takes(bytes: &[u8], size: u64) -> std::result::Result<(), String> {
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(1)
            .total_memories(2)
            .total_tables(4)
            .total_stacks(1)
            .max_memories_per_module(2)
            .max_tables_per_module(4)
            .max_memory_size(1 << 20)
            .max_core_instance_size(usize::try_from(size).unwrap());
        let mut config = wasmtime::Config::new();
        config.allocation_strategy(pool);
        let engine = wasmtime::Engine::new(&config).unwrap();
        wasmtime::Module::new(&engine, bytes)
            .map(drop)
            .map_err(|e| format!("{e:#}"))
    }

    /// Every kind of entry the layout counts, and functions that escape
    /// each way a function can.
    fn module(functions: usize) -> String {
        let mut text = String::from(
            r#"(module
              (import "env" "f" (func $imported (param i32)))
              (import "env" "g" (global i32))
              (import "env" "t" (table 1 funcref))
              (import "env" "m" (memory 1))
              (memory 1)
              (table $t 2 funcref)
              (table $u 2 funcref (ref.func $a))
              (global (mut i32) (i32.const 0))
              (global funcref (ref.func $b))
              (elem (table $t) (i32.const 0) func $c)
              (elem funcref (ref.func $d))
              (elem declare func $e)
              (data (i32.const 0) "x")
              (data "passive")
              (func $a) (func $b) (func $c) (func $d) (func $e (export "e"))
              (func $hidden)
            "#,
        );
        for i in 0..functions {
            text.push_str(&format!(
                "(func (export \"f{i}\") (result i32) i32.const {i})\n"
            ));
        }
        text.push(')');
        text
    }

    #[test]
    fn the_pool_takes_what_fits_with_the_overhead_and_refuses_a_little_less() {
        for functions in [0, 10, 1000] {
            let bytes = binary(&module(functions));
            let f = of(&bytes);
            assert_eq!(f.largest, f.total);
            // Each exported function adds a 32-byte reference.
            pool_takes(&bytes, f.largest + INSTANCE_OVERHEAD).unwrap();
            let err = pool_takes(&bytes, f.largest - 64).unwrap_err();
            assert!(err.contains("instance size does not fit"), "{err}");
        }
        let (small, large) = (of(&binary(&module(10))), of(&binary(&module(1010))));
        assert_eq!(large.largest - small.largest, 1000 * 32);
    }

    #[test]
    fn a_component_counts_its_core_modules() {
        let one = of(&binary(&module(100))).largest;
        let text = format!(
            "(component (core module {}) (core module {}))",
            &module(100)["(module".len()..module(100).len() - 1],
            &module(200)["(module".len()..module(200).len() - 1]
        );
        let f = of(&binary(&text));
        assert_eq!(f.largest, one + 100 * 32);
        assert_eq!(f.total, 2 * one + 100 * 32);
    }

    #[test]
    fn malformed_or_huge_input_is_no_panic() {
        assert_eq!(
            of(b"\0asm\x01\0\0\0\x02\xff\xff\xff\xff\x0f"),
            Footprint::default()
        );
        let mut counts = Counts {
            imported_functions: HUGE,
            ..Counts::default()
        };
        assert!(counts.vmctx_size() >= HUGE * 32);
        counts.imported_functions = u64::MAX / 2;
        assert_eq!(counts.vmctx_size(), u64::MAX);
    }
}
