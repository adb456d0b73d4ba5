//! keepup: keeps online shops up 24×7 and proves it.
//!
//! This binary is the command line and the wiring between the library
//! crates; it holds no monitoring logic of its own. See the README for the
//! architecture.

// First: its `print!` and `println!` are the ones every module below uses.
#[macro_use]
mod output;
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

/// mimalloc's `purge_delay` option: its place in mimalloc's option enum
/// (the same in its v2 and v3), for which libmimalloc-sys names no constant.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc return freed pages to the system at once instead of after
/// its delay (1 s in mimalloc v3). In a mass outage thousands of probes
/// waiting on stalled targets free their connection buffers in waves, and
/// with the delay those pages stay resident while the next wave allocates
/// new ones: the peak RSS of `keepup bench outage` is the README's figure.
/// A `MIMALLOC_PURGE_DELAY` set in the environment is left as set.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option, before any other thread runs;
        // mimalloc reads it at its next purge.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

/// Turns transparent huge pages off for this process. mimalloc asks for
/// them on its arenas, and a small heap then sits in whole 2 MiB pages:
/// `keepup agent` was 17.8 MB resident with them and 13.4 MB without
/// (its target is 20 MB, on the host it watches). The kernel's switch
/// rather than mimalloc's option, because it also holds on hosts whose
/// THP mode is `always` and before mimalloc's first arena; the daemon's
/// heap is small pages too. `MIMALLOC_ALLOW_THP` set in the environment
/// is left to mimalloc.
fn no_transparent_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: sets one flag of this process; no pointers involved.
        // An older kernel without it answers EINVAL: nothing to do.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

fn main() -> ExitCode {
    no_transparent_huge_pages();
    return_freed_memory_promptly();
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
