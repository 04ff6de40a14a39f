//! Shared fixtures: engines and the guests under `guests/`.

use plugbox::{Engine, EngineConfig, Plugin};
use std::path::PathBuf;

/// Path of a WAT guest in `guests/wat/`.
pub fn wat(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../guests/wat")
        .join(name)
}

pub fn engine() -> Engine {
    Engine::new(&EngineConfig::default()).expect("default engine builds")
}

pub fn plugin(name: &str) -> Plugin {
    Plugin::from_file(&engine(), wat(name)).unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

pub fn fuel_engine() -> Engine {
    Engine::new(&EngineConfig::default().consume_fuel(true)).expect("fuel engine builds")
}

#[path = "../../../../guests/test_support.rs"]
mod test_support;
pub use test_support::{rust_component, rust_guest, sandbox_layout};

/// Names of this process's threads.
pub fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|rd| {
            rd.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A C guest from `guests/c/NAME.c`, compiled with clang for wasm32 and
/// turned into a `plugbox:plugin` component with the world's WIT embedded
/// (what `wasm-tools component embed` + `component new` do), built once.
pub fn c_component(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out_dir = root.join("target/guests/c");
    let out = out_dir.join(format!("{name}.wasm"));
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|b| b == name) {
        return out;
    }
    std::fs::create_dir_all(&out_dir).expect("create target/guests/c");
    let core = out_dir.join(format!("{name}.core.wasm"));
    let clang = ["clang-19", "clang"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("clang is installed (scripts/test.sh installs clang-19 and lld-19)");
    let status = std::process::Command::new(clang)
        .args([
            "--target=wasm32",
            "-nostdlib",
            "-O2",
            "-Wl,--no-entry",
            "-o",
        ])
        .arg(&core)
        .arg(root.join(format!("guests/c/{name}.c")))
        .status()
        .expect("clang runs");
    assert!(status.success(), "compiling guests/c/{name}.c failed");
    let mut module = std::fs::read(&core).expect("read the core module");
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_file(root.join("crates/plugbox/wit/plugin.wit"))
        .expect("the plugin WIT parses");
    let world = resolve
        .select_world(&[pkg], Some("plugin"))
        .expect("the plugin world");
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .expect("embed the WIT");
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("the C module is a valid plugbox:plugin component");
    std::fs::write(&out, component).expect("write the component");
    built.push(name.to_string());
    out
}

/// A manager with `hostile.wat` loaded twice: `fresh` (stateless) and
/// `kept` (stateful).
pub fn fresh_and_kept() -> plugbox::PluginManager {
    let m = plugbox::PluginManager::new(&engine());
    m.load("fresh", plugbox::PluginSpec::new(wat("hostile.wat")))
        .unwrap();
    m.load(
        "kept",
        plugbox::PluginSpec::new(wat("hostile.wat")).mode(plugbox::Mode::Stateful),
    )
    .unwrap();
    m
}
