//! `plugbox compile`: ahead-of-time compilation to a checked `.cwasm`.

use anyhow::{Context, Result};
use clap::Parser;
use plugbox::EngineConfig;
use plugbox::Wasm;
use plugbox::units::format_bytes;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// Precompile a module or component to native code (.cwasm)
#[derive(Parser, Debug)]
#[command(
    after_help = "The .cwasm only loads in an engine with the same Wasmtime version and \
compilation flags: pass the same engine flags to `run` and `call` (and `--consume-fuel` here when \
they use `--fuel` or `--stats`, which turn fuel metering on)."
)]
pub struct CompileCommand {
    /// The module or component to compile (.wasm or .wat)
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// Output path [default: FILE with the extension .cwasm]
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    #[command(flatten)]
    engine: EngineConfig,
}

impl CompileCommand {
    pub fn execute(self) -> Result<()> {
        let engine = crate::flags::engine(&self.engine)?;
        let wasm = Wasm::from_file(&engine, &self.file)?;
        let output = self
            .output
            .clone()
            .unwrap_or_else(|| self.file.with_extension("cwasm"));
        let size = wasm.bytes().len() as u64;
        let chatty = std::io::stderr().is_terminal() && size > 1 << 20;
        if chatty {
            crate::output::note!(
                "compiling `{}` ({}) ...",
                self.file.display(),
                format_bytes(size)
            );
        }
        let start = Instant::now();
        let bytes = plugbox::precompile(&engine, &wasm)?;
        std::fs::write(&output, &bytes)
            .with_context(|| format!("cannot write `{}`", output.display()))?;
        crate::output::note!(
            "compiled `{}` ({} {}) to `{}` ({}) in {:.2?}",
            self.file.display(),
            format_bytes(size),
            wasm.kind(),
            output.display(),
            format_bytes(bytes.len() as u64),
            start.elapsed()
        );
        Ok(())
    }
}
