//! `plugbox run`: run a WASI command (a module's `_start` or a
//! component's `wasi:cli/run`).

use crate::flags::PluginFlags;
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

/// Run a WASI command (its `_start`); the guest's exit status becomes plugbox's
#[derive(Parser, Debug)]
// No `--version` of its own: `plugbox run prog.wasm --version` asks the
// program (`plugbox --version` is plugbox's).
#[command(trailing_var_arg = true, disable_version_flag = true)]
pub struct RunCommand {
    /// The program (.wasm, .wat, or .cwasm with --allow-precompiled)
    #[arg(value_name = "PROGRAM")]
    file: PathBuf,

    /// Arguments passed to the guest (argv[1..])
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    args: Vec<String>,

    #[command(flatten)]
    flags: PluginFlags,
}

impl RunCommand {
    pub fn execute(self) -> Result<u8> {
        let plugin = self.flags.load(&self.file)?;
        let output = self.flags.report(plugin.run(&self.args).map(|out| {
            let stats = out.stats;
            (out, stats)
        }))?;
        // With `--stdout capture` / `--stderr capture` the run's output,
        // bounded by `--max-output`, is written once the run is over.
        crate::output::out_bytes(&output.stdout)?;
        crate::output::err_bytes(&output.stderr);
        Ok((output.exit_code & 0xff) as u8)
    }
}
