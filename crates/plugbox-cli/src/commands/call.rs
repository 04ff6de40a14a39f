//! `plugbox call`: call one export with arguments parsed by its signature.

use crate::flags::PluginFlags;
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

/// Call one exported function and print its results
#[derive(Parser, Debug)]
#[command(
    after_help = "Arguments are parsed by the export's signature: integers (decimal or 0x hex), \
floats (also nan, inf, -inf). Example: plugbox call add.wat add 5 3"
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
        let ty = plugin.func_type(&self.func)?;
        let args = plugbox::values::parse_args(&self.func, &ty, &self.args)?;
        let (results, stats) = plugin.invoke_values(&self.func, &args)?;
        if self.json {
            let json: Vec<_> = results.iter().map(plugbox::values::value_to_json).collect();
            println!("{}", serde_json::Value::Array(json));
        } else {
            for r in &results {
                println!("{}", plugbox::values::format_value(r));
            }
        }
        self.flags.limits.print_stats(&stats);
        Ok(())
    }
}
