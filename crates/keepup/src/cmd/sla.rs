//! `keepup sla`: the figures of the configured contracts over a period,
//! from the store (also while a daemon writes to it; nothing is written).
//! The accounting is `keepup_sla`'s over the input
//! `keepup_monitor::sla::account_window` reads (shared with the daemon's
//! SLA checks and reports, and the dashboard's SLA pages).

use anyhow::Context;
use keepup_config::Config;
use keepup_config::contract::Contract;
use keepup_model::{Clock, SystemClock};
use keepup_sla::{Bound, Figures, Window};
use keepup_store::Store;
use std::path::Path;
use std::process::ExitCode;

/// Which period to account.
pub enum PeriodArg {
    /// The period running now.
    Current,
    /// The period containing this month (`2026-10`).
    Month(String),
    /// From, to (exclusive).
    Range(Bound, Bound),
}

/// How to print the figures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A table (and with `--explain`, every figure's intervals).
    Table,
    /// JSON, intervals included.
    Json,
    /// CSV, one row per contract.
    Csv,
}

/// `keepup sla`
pub fn run(
    path: &Path,
    contract: Option<&str>,
    site: Option<&str>,
    period: &PeriodArg,
    format: Format,
    explain: bool,
) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let chosen = choose(&config, path, contract, site)?;
    let store = open_store(&config, path)?;
    let now = SystemClock.now_ms();
    let mut all = Vec::new();
    for c in chosen {
        let window = match period {
            PeriodArg::Current => Window::period_at(c, now),
            PeriodArg::Month(m) => Window::for_month(c, m),
            PeriodArg::Range(from, to) => Window::range(c, *from, *to),
        }
        .with_context(|| format!("contract {}", c.id))?;
        let (_, figures) = keepup_monitor::sla::account_window(&store, &config, c, &window, now)
            .with_context(|| format!("contract {}", c.id))?;
        all.push(figures);
    }
    print(&all, format, explain)?;
    Ok(ExitCode::SUCCESS)
}

/// The contracts `--contract` and `--site` pick, or an error listing the
/// configured ones.
pub(super) fn choose<'a>(
    config: &'a Config,
    path: &Path,
    contract: Option<&str>,
    site: Option<&str>,
) -> anyhow::Result<Vec<&'a Contract>> {
    let chosen: Vec<&Contract> = config
        .contracts
        .iter()
        .filter(|c| contract.is_none_or(|id| c.id == id))
        .filter(|c| site.is_none_or(|s| c.site == s))
        .collect();
    if chosen.is_empty() {
        let known: Vec<&str> = config.contracts.iter().map(|c| c.id.as_str()).collect();
        anyhow::bail!(
            "{}: no contract matches{}{} (configured: {})",
            path.display(),
            contract
                .map(|c| format!(" --contract {c}"))
                .unwrap_or_default(),
            site.map(|s| format!(" --site {s}")).unwrap_or_default(),
            if known.is_empty() {
                "none; see the README's SLA section for [[contract]]".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(chosen)
}

/// The daemon's store, read-only.
pub(super) fn open_store(config: &Config, path: &Path) -> anyhow::Result<Store> {
    if !config.store.path.exists() {
        anyhow::bail!(
            "no store at {} yet: start `keepup run -c {}` first",
            config.store.path.display(),
            path.display()
        );
    }
    Store::open_read_only(&config.store.path).context("cannot open the store")
}

fn print(all: &[Figures], format: Format, explain: bool) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(all)?),
        Format::Csv => print!("{}", keepup_sla::csv(all)),
        Format::Table => {
            print!("{}", keepup_sla::table(all));
            if explain {
                for f in all {
                    println!();
                    print!("{}", f.explain());
                }
            }
        }
    }
    Ok(())
}
