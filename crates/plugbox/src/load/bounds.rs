//! Caps on what a module may declare, checked before anything compiles it:
//! compilation costs time and memory per function and per byte of code
//! (a 6 MB module of a million empty functions took 5.5 GB and minutes),
//! so a module past the engine's caps is refused with the value and the cap.
//! With the pooling allocator, memories and tables must also fit the pool's
//! slots: one that cannot is refused here, naming the setting to change,
//! rather than by Wasmtime's compiler.

use crate::engine::{Engine, POOL_PER_MODULE};
use crate::error::{Error, ErrorKind, Limit, Result};
use wasmparser::{Parser, Payload, TypeRef};

/// Checks `bytes` (a module or a component, already classified as
/// WebAssembly) against the engine's `max-functions`, `max-function-size`
/// and `max-locals`. Malformed input is left to validation.
pub(crate) fn check_declared(engine: &Engine, name: &str, bytes: &[u8]) -> Result<()> {
    let config = engine.config();
    let caps = (
        config.get_max_functions(),
        config.get_max_function_size(),
        config.get_max_locals(),
    );
    let pool = engine.is_pooling().then(|| {
        (
            config.get_pool_max_memory(),
            crate::config::DEFAULT_MAX_TABLE_ELEMENTS,
        )
    });
    if caps == (None, None, None) && pool.is_none() {
        return Ok(());
    }
    let mut fit = PoolFit::default();
    let refuse = |what: &'static str, found: u64, allowed: u64| {
        let limit = Limit::Declared {
            what,
            found,
            allowed,
        };
        Err(Error::new(
            crate::error::ErrorKind::ResourceLimit(limit.clone()),
            format!("cannot compile `{name}`: {limit}"),
        ))
    };
    let mut functions: u64 = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(payload) = payload else {
            return Ok(());
        };
        match payload {
            Payload::Version { .. } => fit = PoolFit::default(),
            Payload::ImportSection(r) => {
                for import in r.into_imports().flatten() {
                    match import.ty {
                        TypeRef::Memory(m) => fit.memory(name, m, pool)?,
                        TypeRef::Table(t) => fit.table(name, t.initial, pool)?,
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(r) => {
                for m in r.into_iter().flatten() {
                    fit.memory(name, m, pool)?;
                }
            }
            Payload::TableSection(r) => {
                for t in r.into_iter().flatten() {
                    fit.table(name, t.ty.initial, pool)?;
                }
            }
            // Declared before any body: refuse a huge count at once.
            Payload::FunctionSection(r) => {
                functions += u64::from(r.count());
                if let Some(max) = caps.0
                    && functions > max
                {
                    return refuse("functions", functions, max);
                }
            }
            Payload::CodeSectionEntry(body) => {
                let size = (body.range().end - body.range().start) as u64;
                if let Some(max) = caps.1
                    && size > max
                {
                    return refuse("bytes in one function", size, max);
                }
                if let Some(max) = caps.2 {
                    let mut locals: u64 = 0;
                    let Ok(reader) = body.get_locals_reader() else {
                        return Ok(());
                    };
                    for entry in reader {
                        let Ok((count, _)) = entry else {
                            return Ok(());
                        };
                        locals = locals.saturating_add(count.into());
                    }
                    if locals > max {
                        return refuse("locals in one function", locals, max);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Memories and tables of one module so far, against the pool's slots.
#[derive(Default)]
struct PoolFit {
    memories: u32,
    tables: u32,
}

impl PoolFit {
    fn memory(
        &mut self,
        name: &str,
        m: wasmparser::MemoryType,
        pool: Option<(u64, u64)>,
    ) -> Result<()> {
        let Some((slot, _)) = pool else {
            return Ok(());
        };
        self.memories += 1;
        if m.shared {
            return Err(Error::config(format!(
                "cannot load `{name}`: it declares a shared memory, which the pooling allocator cannot hold; set pooling = false (--pooling=false)"
            )));
        }
        if self.memories > POOL_PER_MODULE {
            return Err(Error::limit(Limit::Count {
                what: "memories in one module of a pooled engine",
                allowed: POOL_PER_MODULE.into(),
            }));
        }
        let page = m.page_size_log2.map_or(65536u64, |l| 1u64 << l.min(63));
        let requested = m.initial.saturating_mul(page);
        if requested > slot {
            return Err(Error::new(
                ErrorKind::ResourceLimit(Limit::Memory {
                    requested,
                    allowed: slot,
                }),
                format!(
                    "cannot load `{name}`: its initial memory is too large: requested {} but at most {} is allowed, the size of the pool's memory slots (pool-max-memory)",
                    crate::units::format_bytes(requested),
                    crate::units::format_bytes(slot)
                ),
            ));
        }
        Ok(())
    }

    fn table(&mut self, name: &str, initial: u64, pool: Option<(u64, u64)>) -> Result<()> {
        let Some((_, elements)) = pool else {
            return Ok(());
        };
        self.tables += 1;
        if self.tables > POOL_PER_MODULE {
            return Err(Error::limit(Limit::Count {
                what: "tables in one module of a pooled engine",
                allowed: POOL_PER_MODULE.into(),
            }));
        }
        if initial > elements {
            return Err(Error::new(
                ErrorKind::ResourceLimit(Limit::TableElements {
                    requested: initial,
                    allowed: elements,
                }),
                format!(
                    "cannot load `{name}`: its initial table of {initial} elements does not fit the pool's slots of {elements}"
                ),
            ));
        }
        Ok(())
    }
}
