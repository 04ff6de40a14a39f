//! `plugbox run`: run a WASI command module.

use crate::flags::{EngineFlags, LimitFlags, WasiFlags, load_plugin};
use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;

/// Run a WASI command (its `_start`); the guest's exit status becomes plugbox's
#[derive(Parser, Debug)]
#[command(trailing_var_arg = true)]
pub struct RunCommand {
    /// The program (.wasm, .wat, or .cwasm with --allow-precompiled)
    #[arg(value_name = "PROGRAM")]
    file: PathBuf,

    /// Arguments passed to the guest (argv[1..])
    #[arg(value_name = "ARGS", allow_hyphen_values = true)]
    args: Vec<String>,

    /// Accept a precompiled .cwasm (native code: only if you trust it)
    #[arg(long)]
    allow_precompiled: bool,

    #[command(flatten)]
    engine: EngineFlags,

    #[command(flatten)]
    limits: LimitFlags,

    #[command(flatten)]
    wasi: WasiFlags,
}

impl RunCommand {
    pub fn execute(self) -> Result<u8> {
        let plugin = load_plugin(
            &self.file,
            &self.engine,
            &self.limits,
            &self.wasi,
            self.allow_precompiled,
        )?;
        let output = plugin.run(&self.args)?;
        self.limits.print_stats(&output.stats);
        Ok((output.exit_code & 0xff) as u8)
    }
}
