//! `keepup report`: the monthly SLA report of each chosen contract, written
//! as `<contract>-<period>.html`, `.csv` and `.json` into a directory:
//! built from the store by `keepup_monitor::reports::build` (the code the
//! daemon keeps and mails reports with; figures as `keepup sla`'s), or, with
//! `--from-store`, the report the daemon kept when the period closed.
//! `--list` lists the kept reports. Read-only.

use super::sla::{choose, open_store};
use anyhow::Context;
use keepup_model::{Clock, SystemClock, format_rfc3339};
use keepup_monitor::reports;
use keepup_sla::Window;
use keepup_store::ReportFiles;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What `keepup report` was asked.
pub struct ReportArgs<'a> {
    /// Only this contract.
    pub contract: Option<&'a str>,
    /// The period containing this month (default: the running one).
    pub month: Option<&'a str>,
    /// Where to write.
    pub out: &'a Path,
    /// Write the kept report instead of building one.
    pub from_store: bool,
    /// List the kept reports.
    pub list: bool,
}

/// `keepup report`
pub fn run(path: &Path, args: &ReportArgs<'_>) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = open_store(&config, path)?;
    if args.list {
        return list(&store, args.contract);
    }
    let chosen = choose(&config, path, args.contract, None)?;
    std::fs::create_dir_all(args.out)
        .with_context(|| format!("cannot create the directory {}", args.out.display()))?;
    let now = SystemClock.now_ms();
    for c in chosen {
        let window = match args.month {
            Some(m) => Window::for_month(c, m),
            None => Window::period_at(c, now),
        }
        .with_context(|| format!("contract {}", c.id))?;
        let files = if args.from_store {
            match store
                .kept_report(&c.id, &window.label)
                .context("cannot read the kept report")?
            {
                Some((_, files)) => files,
                None => anyhow::bail!(
                    "no report of contract {} for {} is kept (`keepup report --list` lists those that are)",
                    c.id,
                    window.label
                ),
            }
        } else {
            let report = reports::build(&store, &config, c, &window, now)
                .with_context(|| format!("contract {}", c.id))?;
            reports::render(&report).with_context(|| format!("contract {}", c.id))?
        };
        for written in write_files(&c.id, &window.label, &files, args.out)? {
            println!("{}", written.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the three files; returns their paths.
fn write_files(
    contract: &str,
    period: &str,
    files: &ReportFiles,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (ext, data) in [
        ("html", &files.html),
        ("csv", &files.csv),
        ("json", &files.json),
    ] {
        let file = out.join(reports::file_name(contract, period, ext));
        std::fs::write(&file, data).with_context(|| format!("cannot write {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// `keepup report --list`: one line per kept report.
fn list(store: &keepup_store::Store, contract: Option<&str>) -> anyhow::Result<ExitCode> {
    let kept = store
        .kept_reports()
        .context("cannot list the kept reports")?;
    println!("contract\tperiod\tfrom\tto\tgenerated\tstored bytes");
    for k in kept
        .iter()
        .filter(|k| contract.is_none_or(|c| k.contract == c))
    {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            k.contract,
            k.period,
            format_rfc3339(k.from),
            format_rfc3339(k.to),
            format_rfc3339(k.generated_at),
            k.stored_bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}
