//! `plugbox call`: call one export with arguments parsed by its signature.

use crate::exit::UsageError;
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
    /// Components take and return JSON: one JSON value per parameter.
    fn call_component(&self, plugin: &plugbox::Plugin) -> Result<()> {
        let args = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                serde_json::from_str(a).map_err(|e| {
                    UsageError(format!(
                        "argument {} of `{}` is not valid JSON (`{a}`: {e}); strings need quotes, e.g. '\"world\"'",
                        i + 1,
                        self.func
                    ))
                })
            })
            .collect::<Result<Vec<serde_json::Value>, UsageError>>()?;
        let results = self
            .flags
            .limits
            .report(plugin.invoke_json(&self.func, &args))?;
        if self.json {
            println!("{}", serde_json::Value::Array(results));
        } else {
            for r in &results {
                println!("{r}");
            }
        }
        Ok(())
    }

    pub fn execute(self) -> Result<()> {
        let plugin = self.flags.load(&self.file)?;
        if plugin.is_component() {
            return self.call_component(&plugin);
        }
        let ty = plugin.func_type(&self.func)?;
        let args = plugbox::values::parse_args(&self.func, &ty, &self.args)?;
        let results = self
            .flags
            .limits
            .report(plugin.invoke_values(&self.func, &args))?;
        if self.json {
            let json: Vec<_> = results.iter().map(plugbox::values::value_to_json).collect();
            println!("{}", serde_json::Value::Array(json));
        } else {
            for r in &results {
                println!("{}", plugbox::values::format_value(r));
            }
        }
        Ok(())
    }
}
