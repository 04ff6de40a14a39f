//! Caps on what a module may declare, checked before anything compiles it:
//! compilation costs time and memory per function and per byte of code
//! (a 6 MB module of a million empty functions took 5.5 GB and minutes),
//! so a module past the engine's caps is refused with the value and the cap.

use crate::config::EngineConfig;
use crate::error::{Error, Limit, Result};
use wasmparser::{Parser, Payload};

/// Checks `bytes` (a module or a component, already classified as
/// WebAssembly) against the engine's `max-functions`, `max-function-size`
/// and `max-locals`. Malformed input is left to validation.
pub(crate) fn check_declared(config: &EngineConfig, name: &str, bytes: &[u8]) -> Result<()> {
    let caps = (
        config.get_max_functions(),
        config.get_max_function_size(),
        config.get_max_locals(),
    );
    if caps == (None, None, None) {
        return Ok(());
    }
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
