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
    match cmd::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("keepup: {e:#}");
            ExitCode::from(2)
        }
    }
}
