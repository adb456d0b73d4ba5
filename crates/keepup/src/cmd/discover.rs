//! `keepup discover DOMAIN`: runs the exploration of
//! [`keepup_probe::discover`] and writes the starter configuration to a
//! file or standard output.

use anyhow::{Context, bail};
use keepup_probe::discover::{Options, discover};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Runs `keepup discover`; `output` is where to write (stdout if none),
/// `force` allows overwriting it.
pub fn run(options: Options, output: Option<PathBuf>, force: bool) -> anyhow::Result<ExitCode> {
    if let Some(out) = &output
        && out.exists()
        && !force
    {
        bail!(
            "{} exists: choose another file or pass --force to overwrite it",
            out.display()
        );
    }
    // The text must load where it is written (relative paths anchor there).
    let base = output
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let text = super::runtime()?.block_on(discover(&options, &base.join("keepup.toml")))?;
    match &output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote {} ({} checks); check it with: keepup validate -c {}",
                path.display(),
                text.matches("[[site.check]]").count(),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
