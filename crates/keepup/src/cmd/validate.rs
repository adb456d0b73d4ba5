//! `keepup validate`: every problem, or a one-line summary of what is
//! configured.

use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    match super::load_config(path) {
        Err(code) => Ok(code),
        Ok(config) => {
            let checks = config.checks().count();
            println!(
                "{}: OK ({} site(s), {} check(s), {} backup plan(s){})",
                path.display(),
                config.sites.len(),
                checks,
                config.backups.len(),
                match config.warnings.len() {
                    0 => String::new(),
                    n => format!(", {n} warning(s)"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
