//! Shared fixtures: engines and the guests under `guests/`.

use plugbox::{Engine, EngineConfig, Plugin};

pub use plugbox_test_support::wat;

pub fn engine() -> Engine {
    Engine::new(&EngineConfig::default()).expect("default engine builds")
}

pub fn plugin(name: &str) -> Plugin {
    Plugin::from_file(&engine(), wat(name)).unwrap_or_else(|e| panic!("{name} loads: {e:#}"))
}

pub fn fuel_engine() -> Engine {
    Engine::new(&EngineConfig::default().consume_fuel(true)).expect("fuel engine builds")
}

pub use plugbox_test_support::{
    c_component, rust_component, rust_guest, sandbox_layout, thread_names,
};

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

/// The host side of `gate.wat`: its `wait` export blocks in the host until
/// the test calls [`Gate::open`], so a test knows a call holds its slot
/// without guessing how long a spin lasts on a loaded machine.
pub struct Gate {
    entered: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    open: std::sync::mpsc::Sender<()>,
}

impl Gate {
    /// The gate and the host functions `gate.wat` imports.
    pub fn new() -> (Self, plugbox::HostFunctions) {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (open, open_rx) = std::sync::mpsc::channel::<()>();
        let open_rx = std::sync::Mutex::new(open_rx);
        let entered_tx = std::sync::Mutex::new(entered_tx);
        let host = plugbox::HostFunctions::new().func("env", "gate", move |_c, (): ()| {
            entered_tx.lock().unwrap().send(()).ok();
            // Bounded so a failing test cannot hang the suite.
            open_rx
                .lock()
                .unwrap()
                .recv_timeout(std::time::Duration::from_secs(60))
                .map_err(|e| format!("the gate was never opened: {e}"))?;
            Ok(())
        });
        let gate = Gate {
            entered: std::sync::Mutex::new(entered),
            open,
        };
        (gate, host)
    }

    /// Waits until a call is inside the gate.
    pub fn entered(&self) {
        self.entered
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a call entered the gate");
    }

    /// Lets one waiting call through.
    pub fn open(&self) {
        self.open.send(()).unwrap();
    }
}
