//! One file per subcommand; this enum only dispatches.

use anyhow::Result;
use clap::Subcommand;

mod bench;
mod call;
mod compile;
mod inspect;
mod new;
mod run;
mod serve;
mod validate;

#[derive(Subcommand, Debug)]
pub enum Command {
    Run(run::RunCommand),
    Call(call::CallCommand),
    Bench(bench::BenchCommand),
    Serve(serve::ServeCommand),
    Compile(compile::CompileCommand),
    Inspect(inspect::InspectCommand),
    Validate(validate::ValidateCommand),
    New(new::NewCommand),
}

impl Command {
    /// Runs the subcommand; returns the process exit code on success.
    pub fn execute(self) -> Result<u8> {
        match self {
            Self::Run(c) => c.execute(),
            Self::Call(c) => c.execute().map(|()| 0),
            Self::Bench(c) => c.execute().map(|()| 0),
            Self::Serve(c) => c.execute().map(|()| 0),
            Self::Compile(c) => c.execute().map(|()| 0),
            Self::Inspect(c) => c.execute().map(|()| 0),
            Self::Validate(c) => c.execute().map(|()| 0),
            Self::New(c) => c.execute().map(|()| 0),
        }
    }
}
