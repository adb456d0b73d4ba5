//! Log output: human text by default, JSON lines with `--log-format json`;
//! to stderr so that command output on stdout stays parseable, or to a file
//! (`keepup demo`, whose screen is the terminal's).

use std::io::IsTerminal;
use std::path::Path;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Installs the global subscriber writing to stderr. `KEEPUP_LOG` (or
/// `RUST_LOG`) overrides the level, e.g. `KEEPUP_LOG=keepup_monitor=debug`.
pub fn init(format: &crate::cli::LogFormat, verbose: u8) {
    // Colour codes only for a person at a terminal: under systemd stderr
    // goes to the journal, where they would show as raw escapes.
    install(
        format,
        verbose,
        std::io::stderr().is_terminal(),
        std::io::stderr,
    );
}

/// Installs the global subscriber appending to the file at `path`
/// (created owner-only if missing).
pub fn init_file(format: &crate::cli::LogFormat, verbose: u8, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    install(format, verbose, false, std::sync::Mutex::new(file));
    Ok(())
}

fn install<W>(format: &crate::cli::LogFormat, verbose: u8, ansi: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match format {
        crate::cli::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        crate::cli::LogFormat::Text => builder.try_init(),
    };
}
