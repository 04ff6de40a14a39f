//! Bounded atomic waits. `memory.atomic.wait32/64` on a shared memory parks
//! the calling thread inside Wasmtime until another thread notifies it or
//! its own timeout passes; nothing else wakes it, so a deadline or a cancel
//! could not end such a call. A plugbox store runs on one thread and no
//! host code notifies guests, so a wait whose value matches can only time
//! out: waiting in slices of at most 10 ms and looping is the same wait,
//! and the loop's back edge is where Wasmtime checks the epoch — where the
//! call's deadline and cancellation stop it.
//!
//! Modules that declare a shared memory (only possible with the `threads`
//! proposal enabled) are rewritten before compilation: every wait on a
//! shared memory becomes a call to an appended function that does the
//! sliced wait. Appended types and functions come after all existing ones,
//! so no existing index changes.

use std::borrow::Cow;
use std::collections::BTreeMap;
use wasm_encoder::reencode::{Reencode, utils};
use wasm_encoder::{BlockType, Instruction, MemArg, ValType};
use wasmparser::{Operator, Parser, Payload, TypeRef};

/// Longest single wait, in nanoseconds, between two deadline checks.
const SLICE_NANOS: i64 = 10_000_000;

/// One distinct wait instruction: width (32 or 64), memory and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Wait {
    wide: bool,
    memory: u32,
    offset: u64,
}

/// What the pre-pass learns of a module.
#[derive(Default)]
struct Scan {
    types: u32,
    funcs: u32,
    /// Per memory index: (shared, 64-bit).
    memories: Vec<(bool, bool)>,
    waits: Vec<Wait>,
}

/// Returns `bytes` with every wait on a shared memory bounded, or the
/// bytes unchanged when the module has none. The input is valid (it was
/// validated before).
pub(crate) fn bound_waits(bytes: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let scan = scan(bytes).map_err(|e| e.to_string())?;
    let waits: Vec<Wait> = scan
        .waits
        .iter()
        .copied()
        .filter(|w| scan.memories.get(w.memory as usize).is_some_and(|m| m.0))
        .collect();
    if waits.is_empty() {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut shims = BTreeMap::new();
    let mut signatures = BTreeMap::new();
    for (i, wait) in waits.iter().enumerate() {
        let memory64 = scan.memories[wait.memory as usize].1;
        let next_type = scan.types + signatures.len() as u32;
        signatures.entry((memory64, wait.wide)).or_insert(next_type);
        shims.insert(*wait, scan.funcs + i as u32);
    }
    let mut rewriter = Rewriter {
        scan: &scan,
        shims,
        signatures,
    };
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, Parser::new(0), bytes)
        .map_err(|e| e.to_string())?;
    Ok(Cow::Owned(module.finish()))
}

fn scan(bytes: &[u8]) -> wasmparser::Result<Scan> {
    let mut scan = Scan::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::TypeSection(r) => {
                for group in r {
                    scan.types += group?.types().len() as u32;
                }
            }
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    match import?.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => scan.funcs += 1,
                        TypeRef::Memory(m) => scan.memories.push((m.shared, m.memory64)),
                        _ => {}
                    }
                }
            }
            Payload::FunctionSection(r) => scan.funcs += r.count(),
            Payload::MemorySection(r) => {
                for m in r {
                    let m = m?;
                    scan.memories.push((m.shared, m.memory64));
                }
            }
            // Memories are declared before the code: without a shared one
            // there is nothing to rewrite, and no need to read the code.
            Payload::CodeSectionStart { .. } if !scan.memories.iter().any(|m| m.0) => break,
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if let Some(wait) = as_wait(&ops.read()?) {
                        scan.waits.push(wait);
                    }
                }
            }
            _ => {}
        }
    }
    scan.waits.sort();
    scan.waits.dedup();
    Ok(scan)
}

fn as_wait(op: &Operator<'_>) -> Option<Wait> {
    let (wide, arg) = match op {
        Operator::MemoryAtomicWait32 { memarg } => (false, memarg),
        Operator::MemoryAtomicWait64 { memarg } => (true, memarg),
        _ => return None,
    };
    Some(Wait {
        wide,
        memory: arg.memory,
        offset: arg.offset,
    })
}

struct Rewriter<'a> {
    scan: &'a Scan,
    /// The appended function replacing each distinct wait.
    shims: BTreeMap<Wait, u32>,
    /// The appended type of each shim signature: (64-bit memory, wait64).
    signatures: BTreeMap<(bool, bool), u32>,
}

impl Rewriter<'_> {
    fn signature(&self, wait: &Wait) -> u32 {
        let memory64 = self.scan.memories[wait.memory as usize].1;
        self.signatures[&(memory64, wait.wide)]
    }

    /// `(addr, expected, timeout_ns) -> result`, waiting in slices.
    fn shim(wait: &Wait) -> wasm_encoder::Function {
        use Instruction as I;
        let (addr, expected, timeout, slice, result) = (0, 1, 2, 3, 4);
        let memarg = MemArg {
            offset: wait.offset,
            align: if wait.wide { 3 } else { 2 },
            memory_index: wait.memory,
        };
        let mut f = wasm_encoder::Function::new([(1, ValType::I64), (1, ValType::I32)]);
        let body = [
            I::Loop(BlockType::Empty),
            // slice = min(timeout, 10ms), or 10ms for a negative (infinite) timeout
            I::I64Const(SLICE_NANOS),
            I::LocalSet(slice),
            I::LocalGet(timeout),
            I::I64Const(0),
            I::I64GeS,
            I::If(BlockType::Empty),
            I::LocalGet(timeout),
            I::LocalGet(slice),
            I::I64LtS,
            I::If(BlockType::Empty),
            I::LocalGet(timeout),
            I::LocalSet(slice),
            I::End,
            I::End,
            I::LocalGet(addr),
            I::LocalGet(expected),
            I::LocalGet(slice),
            if wait.wide {
                I::MemoryAtomicWait64(memarg)
            } else {
                I::MemoryAtomicWait32(memarg)
            },
            // 0 (woken) and 1 (not equal) end the wait; 2 (timed out) is
            // only final once the whole timeout is used up.
            I::LocalTee(result),
            I::I32Const(2),
            I::I32Ne,
            I::If(BlockType::Empty),
            I::LocalGet(result),
            I::Return,
            I::End,
            I::LocalGet(timeout),
            I::I64Const(0),
            I::I64GeS,
            I::If(BlockType::Empty),
            I::LocalGet(timeout),
            I::LocalGet(slice),
            I::I64Sub,
            I::LocalTee(timeout),
            I::I64Const(0),
            I::I64LeS,
            I::If(BlockType::Empty),
            I::I32Const(2),
            I::Return,
            I::End,
            I::End,
            // The back edge: Wasmtime checks the epoch (the deadline) here.
            I::Br(0),
            I::End,
            I::Unreachable,
            I::End,
        ];
        for i in &body {
            f.instruction(i);
        }
        f
    }
}

impl Reencode for Rewriter<'_> {
    type Error = std::convert::Infallible;

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_type_section(self, types, section)?;
        for (memory64, wide) in self.signatures.keys() {
            let addr = if *memory64 {
                ValType::I64
            } else {
                ValType::I32
            };
            let expected = if *wide { ValType::I64 } else { ValType::I32 };
            types
                .ty()
                .function([addr, expected, ValType::I64], [ValType::I32]);
        }
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_function_section(self, functions, section)?;
        let waits: Vec<Wait> = self.shims.keys().copied().collect();
        for wait in &waits {
            functions.function(self.signature(wait));
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), wasm_encoder::reencode::Error<Self::Error>> {
        utils::parse_code_section(self, code, section)?;
        for wait in self.shims.keys() {
            code.function(&Self::shim(wait));
        }
        Ok(())
    }

    fn parse_instruction<'a>(
        &mut self,
        reader: &mut wasmparser::OperatorsReader<'a>,
    ) -> Result<Instruction<'a>, wasm_encoder::reencode::Error<Self::Error>> {
        let op = reader.read()?;
        match as_wait(&op).and_then(|w| self.shims.get(&w)) {
            Some(shim) => Ok(Instruction::Call(*shim)),
            None => self.instruction(op),
        }
    }
}
