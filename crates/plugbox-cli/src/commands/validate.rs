//! `plugbox validate`: check a module without compiling it.

use anyhow::Result;
use clap::Parser;
use plugbox::EngineConfig;
use plugbox::Wasm;
use std::path::PathBuf;

/// Validate a module or component against the engine's features; prints `ok`
#[derive(Parser, Debug)]
pub struct ValidateCommand {
    /// The file to validate (.wasm, .wat or .cwasm)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    #[command(flatten)]
    engine: EngineConfig,
}

impl ValidateCommand {
    pub fn execute(self) -> Result<()> {
        let engine = crate::flags::engine(&self.engine)?;
        let wasm = Wasm::from_file(&engine, &self.file)?;
        wasm.validate(&engine)?;
        crate::output::outln!("ok")?;
        Ok(())
    }
}
