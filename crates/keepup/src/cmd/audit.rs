//! `keepup audit [--since 7d] [--json]`: the audit log, oldest first.

use keepup_model::{Clock, SystemClock, format_rfc3339};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Entries printed at most (the newest).
const LIMIT: usize = 100_000;

/// `keepup audit`
pub fn run(path: &Path, since: Duration, json: bool) -> anyhow::Result<ExitCode> {
    let store = match super::incidents::open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let from = SystemClock
        .now_ms()
        .saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    let entries = store.audit_since(from, LIMIT)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        ["TIME", "WHO", "ACTION", "TARGET", "DETAIL"]
            .map(String::from)
            .to_vec(),
    ];
    for e in entries {
        let detail = e.detail_shown();
        rows.push(vec![
            format_rfc3339(e.at),
            e.actor,
            e.action,
            e.target,
            detail,
        ]);
    }
    print!("{}", super::status::render(&rows));
    Ok(ExitCode::SUCCESS)
}
