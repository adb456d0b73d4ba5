//! `keepup status`: the current state of every check, read from the store
//! (works whether or not the daemon is running); with `--watch`, the live
//! view of [`super::live`], redrawn until Ctrl-C.

use super::live;
use super::screen::{self, Screen, Tick, Ticker};
use anyhow::Context;
use keepup_model::format_rfc3339;
use keepup_model::text::ago;
use keepup_model::{Clock, SystemClock};
use keepup_store::Store;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(path: &Path, json: bool, watch: Option<Duration>) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if !config.store.path.exists() {
        anyhow::bail!(
            "no store at {} yet: start `keepup run -c {}` first",
            config.store.path.display(),
            path.display()
        );
    }
    if let Some(interval) = watch {
        return self::watch(path, &config, interval);
    }
    let store = Store::open(&config.store.path).with_context(|| "cannot open the store")?;
    let latest = store.latest()?;
    let now = keepup_model::Clock::now_ms(&keepup_model::SystemClock);
    if json {
        let rows: Vec<_> = latest
            .iter()
            .map(|l| {
                serde_json::json!({
                    "check": l.meta.id, "kind": l.meta.kind, "name": l.meta.name,
                    "status": l.outcome.status, "since": format_rfc3339(l.since),
                    "last_run": format_rfc3339(l.at), "latency_ms": l.outcome.latency_ms,
                    "message": l.outcome.message, "findings": l.outcome.findings,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![
        [
            "CHECK", "KIND", "STATUS", "SINCE", "LAST RUN", "LATENCY", "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for l in &latest {
        let configured = config.find_check(l.meta.id.as_str()).is_some();
        table.push(vec![
            if configured {
                l.meta.id.to_string()
            } else {
                format!("{} (removed)", l.meta.id)
            },
            l.meta.kind.clone(),
            l.outcome.status.as_str().to_uppercase(),
            ago(now, l.since),
            ago(now, l.at),
            format!("{:.0} ms", l.outcome.latency_ms),
            l.outcome.message.clone(),
        ]);
    }
    for c in config.checks() {
        if !latest.iter().any(|l| l.meta.id == c.id) {
            table.push(vec![
                c.id.to_string(),
                c.spec.kind().into(),
                "PENDING".into(),
                "-".into(),
                "never".into(),
                "-".into(),
                "not run yet".into(),
            ]);
        }
    }
    print!("{}", render(&table));
    Ok(ExitCode::SUCCESS)
}

/// `keepup status --watch`: on a terminal one screen redrawn in place;
/// otherwise the same view as plain text, appended every interval.
fn watch(
    path: &Path,
    config: &keepup_config::Config,
    interval: Duration,
) -> anyhow::Result<ExitCode> {
    if interval < Duration::from_millis(100) {
        anyhow::bail!(
            "--interval {}: must be at least 100ms",
            humantime::format_duration(interval)
        );
    }
    let store = Store::open_read_only(&config.store.path).context("cannot open the store")?;
    let colour = live::colour_from_env();
    let sites = config.sites.len();
    let checks = config.checks().count();
    let frame = |size: live::Size, colour: bool| {
        let now = SystemClock.now_ms();
        let mut snapshot = live::snapshot_or_problem(config, &store, now);
        snapshot.title = format!(
            "keepup status · {} · {checks} checks in {sites} site(s), as the daemon recorded them",
            live::clock(now)
        );
        snapshot.details.splice(
            0..0,
            [
                ("config", path.display().to_string()),
                ("store", config.store.path.display().to_string()),
            ],
        );
        snapshot.hint = format!(
            "q or Ctrl-C quits · redrawn every {}",
            humantime::format_duration(interval)
        );
        live::render(&snapshot, size, colour)
    };
    let tty = std::io::stdout().is_terminal();
    super::runtime()?.block_on(async {
        let mut ticker = Ticker::new(interval, None)?;
        if tty {
            let mut screen = Screen::enter()?;
            loop {
                let size = screen::size();
                screen.draw(&frame(size, colour), size)?;
                if ticker.next().await == Tick::Stop {
                    break;
                }
            }
        } else {
            loop {
                // No colour in a pipe, and a blank line between reports.
                println!("{}\n", frame(live::Size::UNLIMITED, false).join("\n"));
                if ticker.next().await == Tick::Stop {
                    break;
                }
            }
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Left-aligned columns separated by two spaces; the last column unpadded.
pub fn render(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    out
}
