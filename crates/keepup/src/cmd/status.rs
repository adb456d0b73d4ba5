//! `keepup status`: the current state of every check, read from the store
//! (works whether or not the daemon is running).

use anyhow::Context;
use keepup_model::format_rfc3339;
use keepup_model::text::ago;
use keepup_store::Store;
use std::path::Path;
use std::process::ExitCode;

pub fn run(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
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
