//! `keepup maintenance start|stop|list`.

use super::status::render;
use keepup_config::maintenance::Window;
use keepup_model::{Clock, MaintenanceScope, SystemClock, format_rfc3339};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// `keepup maintenance start TARGET|--tag T --for D` (`target` is the text
/// form of a [`MaintenanceScope`]; `--tag db` arrives as `tag:db`)
pub fn start(
    path: &Path,
    target: &str,
    duration: Duration,
    reason: &str,
) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    if !config.is_maintenance_target(target) {
        match MaintenanceScope::parse(target) {
            MaintenanceScope::Tag(tag) => eprintln!(
                "keepup: no check or site carries the tag {tag:?} (tags in use: {})",
                config.tags().join(", ")
            ),
            _ => eprintln!(
                "keepup: {target:?} is neither a check (site/check), a site, tag:NAME, nor `*`"
            ),
        }
        return Ok(ExitCode::from(1));
    }
    if duration.is_zero() {
        eprintln!("keepup: --for must be longer than zero");
        return Ok(ExitCode::from(1));
    }
    // Creating the store here lets a window be set before the daemon ever ran.
    let store = keepup_store::Store::open(&config.store.path)?;
    let now = SystemClock.now_ms();
    let end = now + duration.as_millis().min(i64::MAX as u128 / 2) as i64;
    let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let id = store.start_maintenance(target, now, end, reason, &who)?;
    println!(
        "maintenance #{id} on {} until {} (alerts muted; checks keep running)",
        MaintenanceScope::parse(target).describe(),
        format_rfc3339(end)
    );
    Ok(ExitCode::SUCCESS)
}

/// `keepup maintenance stop ID`
pub fn stop(path: &Path, id: i64) -> anyhow::Result<ExitCode> {
    let store = match super::incidents::open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if store.stop_maintenance(id, SystemClock.now_ms())? {
        println!("maintenance #{id} stopped");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("keepup: no open or upcoming maintenance #{id}");
        Ok(ExitCode::from(1))
    }
}

/// `keepup maintenance list`
pub fn list(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now_ms();
    let mut rows = vec![
        ["ID", "NAME", "COVERS", "STATE", "FROM", "UNTIL"]
            .map(String::from)
            .to_vec(),
    ];
    for m in &config.maintenance {
        let (state, window) = match m.open_at(now) {
            Some(w) => ("OPEN", Some(w)),
            None => (
                "next",
                m.occurrences(now, now + 366 * 86_400_000, 1)
                    .into_iter()
                    .next(),
            ),
        };
        let schedule = match &m.when {
            Window::Once { .. } => String::new(),
            Window::Recurring {
                cron,
                timezone_name,
                ..
            } => format!(" [{} {timezone_name}]", cron.as_str()),
        };
        rows.push(vec![
            m.id.clone(),
            format!("{}{schedule}", m.name),
            format!("{} check(s)", m.checks.len()),
            state.into(),
            window
                .map(|w| format_rfc3339(w.0))
                .unwrap_or_else(|| "-".into()),
            window
                .map(|w| format_rfc3339(w.1))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    if config.store.path.exists() {
        let store = keepup_store::Store::open(&config.store.path)?;
        for m in store.maintenance_after(now)? {
            rows.push(vec![
                format!("#{}", m.id),
                if m.reason.is_empty() {
                    format!("by {}", m.created_by)
                } else {
                    format!("{} (by {})", m.reason, m.created_by)
                },
                m.scope().describe(),
                if m.open_at(now) {
                    "OPEN".into()
                } else {
                    "next".into()
                },
                format_rfc3339(m.starts_at),
                format_rfc3339(m.ends_at),
            ]);
        }
    }
    if rows.len() == 1 {
        println!("no maintenance windows");
    } else {
        print!("{}", render(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
