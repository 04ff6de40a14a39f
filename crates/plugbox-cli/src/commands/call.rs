//! `plugbox call`: call one export with arguments parsed by its signature.

use crate::flags::PluginFlags;
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

/// Call one exported function and print its results
#[derive(Parser, Debug)]
#[command(
    after_help = "Arguments are parsed by the export's signature. Core modules: integers \
(decimal or 0x hex) and floats (also nan, inf, -inf): plugbox call add.wat add 5 3. \
Components: one JSON value per parameter, functions named `greet` or `my:pkg/iface#greet`: \
plugbox call greeter.wasm greet '\"world\"'"
)]
pub struct CallCommand {
    /// The plugin (.wasm, .wat, or .cwasm with --allow-precompiled)
    #[arg(value_name = "PLUGIN")]
    file: PathBuf,

    /// The exported function to call
    #[arg(value_name = "FUNC")]
    func: String,

    /// Arguments for the function (put them after `--` if one starts with `-` and is not a number)
    #[arg(value_name = "ARGS", allow_negative_numbers = true)]
    args: Vec<String>,

    /// Print the results as a JSON array
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    flags: PluginFlags,
}

impl CallCommand {
    pub fn execute(self) -> Result<()> {
        let plugin = self.flags.load(&self.file)?;
        let results = self
            .flags
            .report(plugin.invoke_words(&self.func, &self.args))?;
        if self.json {
            let json: Vec<_> = results
                .iter()
                .map(plugbox::values::DynValue::to_json)
                .collect();
            crate::output::outln!("{}", serde_json::Value::Array(json))?;
        } else {
            for r in &results {
                crate::output::outln!("{r}")?;
            }
        }
        Ok(())
    }
}
