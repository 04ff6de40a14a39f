//! The baseline of `plugbox bench`: the same calls on raw Wasmtime, set up
//! as its documentation recommends for speed — a pooling engine with
//! default settings, the module linked once into an `InstancePre`, the
//! export resolved once to an index — and nothing plugbox adds (no limits,
//! deadline, metering or error classification).

use super::{Figures, Mode, Shape};
use anyhow::{Context, Result};
use plugbox::Plugin;
use std::path::Path;
use wasmtime::{Extern, Func, Store, Val};

/// The baseline's figures, or why there is none (`Ok(Err(why))`).
pub fn baseline(
    plugin: &Plugin,
    source: &Path,
    func: &str,
    words: &[String],
    shape: Shape,
) -> Result<Result<Figures, String>> {
    let wasm = plugbox::Wasm::from_file(plugin.engine(), source)?;
    if wasm.kind() != plugbox::WasmKind::Module {
        return Ok(Err(format!("the plugin is a {}", wasm.kind())));
    }
    let slots = u32::try_from(shape.threads * 2 + 2).unwrap_or(u32::MAX);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots);
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = wasmtime::Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("raw Wasmtime engine")?;
    let module = wasmtime::Module::new(&engine, wasm.bytes())
        .map_err(anyhow::Error::from)
        .context("raw Wasmtime compile")?;
    if module.imports().len() > 0 {
        return Ok(Err(format!(
            "the module has {} import(s), which raw Wasmtime would need a host for",
            module.imports().len()
        )));
    }
    let ty = plugin.func_type(func)?;
    let args = plugbox::values::parse_args(func, &ty, words)?;
    let results = || vec![Val::I32(0); ty.results().len()];
    let index = module
        .get_export_index(func)
        .with_context(|| format!("no export `{func}`"))?;
    let pre = wasmtime::Linker::new(&engine).instantiate_pre(&module)?;
    let instantiate = |store: &mut Store<()>| -> Result<Func> {
        let instance = pre.instantiate(&mut *store)?;
        instance
            .get_module_export(&mut *store, &index)
            .and_then(Extern::into_func)
            .with_context(|| format!("`{func}` is not a function"))
    };
    let figures = match shape.mode {
        Mode::Stateless => shape.measure(
            || Ok(results()),
            |out| {
                let mut store = Store::new(&engine, ());
                let f = instantiate(&mut store)?;
                f.call(&mut store, &args, out)?;
                Ok(())
            },
        ),
        Mode::Stateful => shape.measure(
            || {
                let mut store = Store::new(&engine, ());
                let f = instantiate(&mut store)?;
                Ok((store, f, results()))
            },
            |(store, f, out)| {
                f.call(&mut *store, &args, out)?;
                Ok(())
            },
        ),
    }?;
    Ok(Ok(figures))
}
