//! The `plugbox` command-line interface: run, call, serve, compile,
//! inspect and validate WebAssembly plugins under plugbox's limits and
//! sandbox.

use clap::Parser;
use std::process::ExitCode;

mod commands;
mod exit;
mod flags;
mod output;
mod progress;
#[cfg(test)]
mod settings_doc;

/// A sandboxed WebAssembly plugin host.
#[derive(Parser, Debug)]
#[command(name = "plugbox", version, about, long_about = None, propagate_version = true)]
#[command(after_help = exit::EXIT_CODES_HELP)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            // A bad value is one line naming it, like plugbox's own errors;
            // other usage errors keep clap's usage and tips.
            use clap::error::ErrorKind as Clap;
            if matches!(e.kind(), Clap::InvalidValue | Clap::ValueValidation) {
                let text = e.to_string();
                crate::output::note!("{}", text.lines().next().unwrap_or_default());
            } else {
                // Printing help or a usage error can only fail on a closed pipe.
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    init_tracing();
    let result = cli.command.execute();
    // What guests wrote to the inherited stdout and stderr is flushed by
    // then (their writes wait for it); after a failure (a guest stuck on a
    // full pipe past its deadline) plugbox does not wait for the reader.
    let grace = if result.is_ok() {
        std::time::Duration::from_secs(10)
    } else {
        std::time::Duration::ZERO
    };
    plugbox::flush_host_output(grace);
    match result {
        Ok(code) => ExitCode::from(code),
        // The reader of stdout went away (`| head`): end quietly, like
        // other command-line tools.
        Err(err)
            if err
                .chain()
                .filter_map(|c| c.downcast_ref::<output::OutputError>())
                .any(output::OutputError::is_broken_pipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            crate::output::note!("error: {}", exit::one_line(&err));
            ExitCode::from(exit::code_for(&err))
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // `plugbox serve --access-log` logs requests at info level under
    // `plugbox::access`; the server emits them only when asked.
    let filter = EnvFilter::try_from_env("PLUGBOX_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,plugbox::access=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
