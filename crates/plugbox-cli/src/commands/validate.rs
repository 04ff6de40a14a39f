//! `plugbox validate`: check a module without compiling it.

use crate::flags::EngineFlags;
use anyhow::Result;
use clap::Parser;
use plugbox::Wasm;
use std::path::PathBuf;

/// Validate a module or component against the engine's features; prints `ok`
#[derive(Parser, Debug)]
pub struct ValidateCommand {
    /// The file to validate (.wasm, .wat or .cwasm)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    #[command(flatten)]
    engine: EngineFlags,
}

impl ValidateCommand {
    pub fn execute(self) -> Result<()> {
        let engine = self.engine.engine(false)?;
        let wasm = Wasm::from_file(&engine, &self.file)?;
        wasm.validate(&engine)?;
        println!("ok");
        Ok(())
    }
}
