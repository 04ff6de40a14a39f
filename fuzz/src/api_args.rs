//! The JSON API's argument parser (`POST /v1/plugins/NAME/FUNC`):
//! arbitrary bytes as the request body, parsed against the parameters of
//! a function chosen by the first byte — a core module's (none, two
//! `i32`, four of mixed types) or one of the `types` component's. Any
//! `Err` is fine; a panic, an abort, a hang or memory past libFuzzer's
//! `-rss_limit_mb` is a bug.

use plugbox::{Engine, Plugin};
use std::path::Path;

/// Core functions of every arity the parser treats differently.
const MODULE: &str = r#"(module
  (func (export "none"))
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add)
  (func (export "mixed") (param i32 i64 f32 f64)))"#;

/// Plugins and the functions whose parameters a body is checked against.
pub struct Signatures {
    functions: Vec<(Plugin, String)>,
}

impl Signatures {
    /// The core module above, and the component at `types` when given.
    ///
    /// # Panics
    ///
    /// When one does not load: they are fixed, known-good guests.
    pub fn load(engine: &Engine, types: Option<&Path>) -> Self {
        let mut plugins = vec![Plugin::from_bytes(engine, MODULE).expect("the module loads")];
        if let Some(path) = types {
            plugins.push(
                Plugin::from_file(engine, path)
                    .unwrap_or_else(|e| panic!("{} loads: {e:#}", path.display())),
            );
        }
        let functions = plugins
            .iter()
            .flat_map(|p| p.functions().into_iter().map(|f| (p.clone(), f)))
            .collect();
        Self { functions }
    }

    /// One fuzz case: the first byte picks the function, the rest is the
    /// body. Returns the arguments parsed, if the body was accepted.
    pub fn run(&self, data: &[u8]) -> Option<Vec<serde_json::Value>> {
        let (&pick, body) = data.split_first()?;
        let (plugin, func) = &self.functions[usize::from(pick) % self.functions.len()];
        let parsed = plugin.parse_json_args(func, body);
        if let Err(e) = &parsed {
            // Every refusal is a message, never a panic while rendering it.
            let _ = format!("{e:#}");
        }
        parsed.ok()
    }

    /// A case for the function named `func` (for seeds and tests).
    pub fn case(&self, func: &str, body: &[u8]) -> Vec<u8> {
        let at = self
            .functions
            .iter()
            .position(|(_, f)| f == func)
            .unwrap_or_else(|| panic!("no function `{func}`"));
        let mut data = vec![at as u8];
        data.extend_from_slice(body);
        data
    }
}
