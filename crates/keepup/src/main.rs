//! keepup: keeps online shops up 24×7 and proves it.
//!
//! This binary is the command line and the wiring between the library
//! crates; it holds no monitoring logic of its own. See the README for the
//! architecture.

mod cli;
mod cmd;
mod logging;

use clap::Parser;
use std::process::ExitCode;

// The daemon allocates many small, short-lived strings per result and per
// notification; mimalloc keeps that path cheaper than glibc's malloc (see
// the alerting figures in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(&cli.log_format, cli.verbose);
    quiet_dependency_panics();
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keepup: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A panic inside a dependency (rustic_core's restorer unwraps read and
/// decrypt failures in its worker threads) is caught by the crate that
/// called it and reported as a clear error; the default hook would first
/// print kilobytes of debug output with a backtrace. Such panics are logged
/// as one bounded line instead. keepup's own panics keep the default hook:
/// they are bugs and want every detail.
fn quiet_dependency_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location();
        if !location.is_some_and(|l| l.file().contains("/.cargo/registry/")) {
            return default(info);
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        let first_line: String = message
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let at = location
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::warn!(at = %at, "a library thread failed: {first_line}");
    }));
}
