//! Log output: human text by default, JSON lines with `--log-format json`;
//! always to stderr so that command output on stdout stays parseable.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `KEEPUP_LOG` (or `RUST_LOG`) overrides
/// the level, e.g. `KEEPUP_LOG=keepup_monitor=debug`.
pub fn init(format: &crate::cli::LogFormat, verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("KEEPUP_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    // Colour codes only for a person at a terminal: under systemd stderr
    // goes to the journal, where they would show as raw escapes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        crate::cli::LogFormat::Text => builder.try_init(),
    };
}
