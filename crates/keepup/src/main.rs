//! keepup: keeps online shops up 24×7 and proves it.
//!
//! This binary is the command line and the wiring between the library
//! crates; it holds no monitoring logic of its own. See the README for the
//! architecture.

mod cli;
mod cmd;
mod logging;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

// The daemon allocates many small, short-lived strings per result and per
// notification; mimalloc keeps that path cheaper than glibc's malloc (see
// the alerting figures in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let matches = cli::Cli::command().get_matches();
    let cli = match cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli::remember_config_source(&matches);
    // The demo logs to a file in its directory, which it creates first.
    if !matches!(cli.command, cli::Command::Demo { .. }) {
        logging::init(&cli.log_format, cli.verbose);
    }
    quiet_dependency_panics();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keepup: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// rustic_core's restorer unwraps read and decrypt failures in its worker
/// threads; `keepup_backup` catches that panic and reports a clear error,
/// but the default hook would first print kilobytes of debug output with a
/// backtrace. Panics located in rustic_core's source are therefore logged
/// as one bounded line; every other panic keeps the default hook.
fn quiet_dependency_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let Some(at) = info.location().filter(|l| l.file().contains("rustic_core")) else {
            return default(info);
        };
        let text = keepup_backup::restore::panic_text(info.payload());
        tracing::warn!(at = %format!("{}:{}", at.file(), at.line()), "rustic_core failed: {text}");
    }));
}
