//! The dynamic call path: `wasm-smith` modules compiled and called with
//! generated JSON arguments and command-line words, stateless and on a
//! kept instance; and a component (the `types` test guest, one function
//! per WIT type) called with JSON shaped by each parameter's type.
//!
//! Every call runs under small limits (fuel, a timeout, memory and table
//! caps), so none can run away. Any `Err` is fine; only a panic, an abort
//! or a hang is a bug.

use arbitrary::{Result, Unstructured};
use plugbox::wasmtime::component::types::ComponentItem;
use plugbox::wasmtime::component::{Component, Type};
use plugbox::{Engine, EngineConfig, Limits, Plugin, Wasm};
use std::path::Path;
use std::time::Duration;

/// Functions called per module, at most.
const MAX_CALLS: usize = 6;

/// An engine with fuel metering, which [`limits`] needs.
pub fn engine() -> Engine {
    Engine::new(&EngineConfig::default().consume_fuel(true)).expect("fuel engine builds")
}

/// The limits of every fuzzed call: it ends within a fraction of a second
/// and a few MiB, whatever the guest does.
pub fn limits() -> Limits {
    Limits::new()
        .fuel(200_000)
        .timeout(Duration::from_millis(500))
        .max_memory(4 << 20)
        .max_table_elements(10_000)
        .max_instances(10)
        .max_output(64 << 10)
}

/// A `wasm-smith` configuration chosen by the input, kept small and free of
/// imports (plugbox would only offer WASI for them).
fn smith_config(u: &mut Unstructured<'_>) -> Result<wasm_smith::Config> {
    let mut config: wasm_smith::Config = u.arbitrary()?;
    config.max_imports = 0;
    config.max_funcs = config.max_funcs.min(12);
    config.max_types = config.max_types.min(20);
    config.max_globals = config.max_globals.min(10);
    config.max_exports = config.max_exports.min(20);
    config.max_instructions = config.max_instructions.min(200);
    config.max_element_segments = config.max_element_segments.min(4);
    config.max_elements = config.max_elements.min(50);
    config.max_data_segments = config.max_data_segments.min(4);
    config.max_memories = config.max_memories.min(2);
    config.max_tables = config.max_tables.min(2);
    config.max_memory32_bytes = config.max_memory32_bytes.min(8 << 20);
    config.max_memory64_bytes = config.max_memory64_bytes.min(8 << 20);
    config.max_table_elements = config.max_table_elements.min(20_000);
    config.max_type_size = config.max_type_size.min(100);
    config.export_everything = true;
    config.generate_custom_sections = u.arbitrary()?;
    // Proposals plugbox leaves off by default (GC and exceptions, which
    // allocate in Wasmtime's GC heap, see SECURITY.md): the module would
    // only be refused by validation.
    config.gc_enabled = false;
    config.exceptions_enabled = false;
    config.custom_page_sizes_enabled = false;
    config.wide_arithmetic_enabled = false;
    config.shared_everything_threads_enabled = false;
    Ok(config)
}

/// How far fuzz cases got, for the property test to check that they
/// reach the paths under test.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reached {
    /// Modules compiled into a plugin.
    pub compiled: usize,
    /// Calls made.
    pub calls: usize,
    /// Calls that returned results.
    pub returned: usize,
}

impl Reached {
    fn call<T, E>(&mut self, result: std::result::Result<T, E>) {
        self.calls += 1;
        self.returned += usize::from(result.is_ok());
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Self) {
        self.compiled += other.compiled;
        self.calls += other.calls;
        self.returned += other.returned;
    }
}

/// One fuzz case on a generated core module.
pub fn module(engine: &Engine, u: &mut Unstructured<'_>) -> Result<Reached> {
    let mut reached = Reached::default();
    let config = smith_config(u)?;
    let bytes = wasm_smith::Module::new(config, u)?.to_bytes();
    let wasm = Wasm::from_bytes(engine, bytes).expect("wasm-smith writes a module binary");
    let _ = wasm.inspect();
    if wasm.validate(engine).is_err() {
        return Ok(reached);
    }
    let Ok(plugin) = Plugin::builder(engine).limits(limits()).build(wasm) else {
        return Ok(reached);
    };
    reached.compiled += 1;
    let functions = plugin.functions();
    for func in functions.iter().take(MAX_CALLS) {
        let _ = plugin.signature(func);
        let Ok(ty) = plugin.func_type(func) else {
            continue;
        };
        let mut args = ty
            .params()
            .map(|t| super::args::core_arg(u, &t))
            .collect::<Result<Vec<_>>>()?;
        if u.ratio(1, 16)? {
            // A wrong number of arguments.
            if args.pop().is_none() {
                args.push(serde_json::json!(0));
            }
        }
        if u.ratio(1, 8)? {
            let words: Vec<String> = args
                .iter()
                .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_string))
                .collect();
            reached.call(plugin.invoke_words(func, &words));
        } else {
            reached.call(plugin.call_json(func, &args));
        }
    }
    // The same functions on one kept instance: state (memory, globals,
    // tables) carries over from call to call, traps included.
    if u.arbitrary()?
        && let Ok(mut instance) = plugin.instantiate()
    {
        for _ in 0..u.int_in_range(0..=MAX_CALLS)? {
            if functions.is_empty() {
                break;
            }
            let func = &functions[u.choose_index(functions.len())?];
            let Ok(ty) = plugin.func_type(func) else {
                continue;
            };
            let args = ty
                .params()
                .map(|t| super::args::core_arg(u, &t))
                .collect::<Result<Vec<_>>>()?;
            reached.call(instance.call_json(func, &args));
        }
    }
    Ok(reached)
}

/// A loaded component with each exported function's parameter types.
pub struct Components {
    plugin: Plugin,
    functions: Vec<(String, Vec<Type>)>,
}

/// The component functions whose calls stay quick whatever the
/// arguments: not `spin` (it runs to the timeout every time).
fn callable(name: &str) -> bool {
    !name.ends_with("#spin")
}

impl Components {
    /// Loads the component at `path` under [`limits`].
    ///
    /// # Panics
    ///
    /// When it does not load: it is a fixed, known-good guest.
    pub fn load(engine: &Engine, path: &Path) -> Self {
        let plugin = Plugin::builder(engine)
            .limits(limits())
            .from_file(path)
            .unwrap_or_else(|e| panic!("{} loads: {e:#}", path.display()));
        let component = Component::from_file(engine.wasmtime(), path).expect("component compiles");
        let mut functions = Vec::new();
        for name in plugin.functions().into_iter().filter(|n| callable(n)) {
            if let Some(params) = params_of(engine, &component, &name) {
                functions.push((name, params));
            }
        }
        assert!(
            !functions.is_empty(),
            "{} exports functions",
            path.display()
        );
        Self { plugin, functions }
    }

    /// One fuzz case: a function, JSON arguments by its types, a call.
    pub fn call(&self, u: &mut Unstructured<'_>) -> Result<Reached> {
        let mut reached = Reached::default();
        let (func, params) = &self.functions[u.choose_index(self.functions.len())?];
        let mut args = params
            .iter()
            .map(|t| super::args::wit_arg(u, t))
            .collect::<Result<Vec<_>>>()?;
        if u.ratio(1, 16)? {
            args.push(serde_json::Value::Null);
        }
        if u.ratio(1, 8)? {
            let words: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            reached.call(self.plugin.invoke_words(func, &words));
        } else {
            reached.call(self.plugin.call_json(func, &args));
        }
        Ok(reached)
    }
}

/// Parameter types of `name` (`f` or `iface#f`) in `component`.
fn params_of(engine: &Engine, component: &Component, name: &str) -> Option<Vec<Type>> {
    let wt = engine.wasmtime();
    let ty = component.component_type();
    let item = match name.split_once('#') {
        Some((iface, func)) => match ty.get_export(wt, iface)?.ty {
            ComponentItem::ComponentInstance(instance) => instance.get_export(wt, func)?.ty,
            _ => return None,
        },
        None => ty.get_export(wt, name)?.ty,
    };
    match item {
        ComponentItem::ComponentFunc(f) => Some(f.params().map(|(_, t)| t).collect()),
        _ => None,
    }
}
