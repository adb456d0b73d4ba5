//! `keepup incidents`, `keepup ack`, `keepup resolve` and `keepup incident
//! update`: incidents from the store, and their public updates.

use super::status::render;
use anyhow::Context;
use keepup_model::text::{ago, duration_table};
use keepup_model::{Clock, SystemClock, format_rfc3339};
use keepup_store::{Incident, IncidentFilter, IncidentState, NewStatusUpdate, Store};
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn open_store(path: &Path) -> anyhow::Result<Result<Store, ExitCode>> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(Err(code)),
    };
    store_of(&config, path).map(Ok)
}

/// The store `config` names, which the daemon must have created.
fn store_of(config: &keepup_config::Config, path: &Path) -> anyhow::Result<Store> {
    if !config.store.path.exists() {
        anyhow::bail!(
            "no store at {} yet: start `keepup run -c {}` first",
            config.store.path.display(),
            path.display()
        );
    }
    Store::open(&config.store.path).context("cannot open the store")
}

/// `keepup incidents`
pub fn list(
    path: &Path,
    only_open: bool,
    limit: usize,
    json: bool,
    search: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now_ms();
    let mut incidents = match search.filter(|s| !s.trim().is_empty()) {
        // Matches newest first, through the store's search of notes and
        // messages.
        Some(text) => {
            let filter = IncidentFilter {
                state: if only_open {
                    IncidentState::Open
                } else {
                    IncidentState::Any
                },
                search: Some(text.trim().to_owned()),
                ..IncidentFilter::default()
            };
            store
                .incidents_before(&filter, None, limit)?
                .into_iter()
                .map(|(i, _)| i)
                .collect()
        }
        None => {
            let mut incidents = store.open_incidents()?;
            if !only_open {
                let recent = store.incidents(0, i64::MAX, limit)?;
                incidents.extend(recent.into_iter().filter(|i| i.resolved_at.is_some()));
            }
            incidents
        }
    };
    incidents.truncate(limit);
    if json {
        let rows: Vec<_> = incidents.iter().map(|i| to_json(i, now)).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if incidents.is_empty() {
        println!("no incidents");
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        [
            "#", "CHECK", "STATE", "OPENED", "DURATION", "ACK", "CAUSE", "MESSAGE",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for i in &incidents {
        rows.push(vec![
            i.id.to_string(),
            i.check.to_string(),
            if i.resolved_at.is_some() {
                "resolved".into()
            } else {
                format!("OPEN ({})", i.status.as_str())
            },
            ago(now, i.opened_at),
            duration_table(i.duration_ms(now)),
            i.acknowledged_by.clone().unwrap_or_else(|| "-".into()),
            i.cause
                .map(|c| format!("#{c}"))
                .unwrap_or_else(|| "-".into()),
            i.message.clone(),
        ]);
    }
    print!("{}", render(&rows));
    Ok(ExitCode::SUCCESS)
}

/// `keepup ack`
pub fn ack(path: &Path, id: i64, by: Option<String>) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let who = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    if store.acknowledge_incident(id, SystemClock.now_ms(), &who)? {
        println!("incident #{id} acknowledged by {who}");
        return Ok(ExitCode::SUCCESS);
    }
    match store.incident(id)? {
        None => eprintln!("keepup: no incident #{id}"),
        Some(i) if i.resolved_at.is_some() => {
            eprintln!("keepup: incident #{id} is already resolved")
        }
        Some(i) => eprintln!(
            "keepup: incident #{id} was already acknowledged by {} at {}",
            i.acknowledged_by.unwrap_or_default(),
            i.acknowledged_at.map(format_rfc3339).unwrap_or_default()
        ),
    }
    Ok(ExitCode::from(1))
}

/// `keepup resolve`: the resolution goes to the store (as `keepup ack`
/// does); the running daemon takes it over within seconds (its incident
/// engine holds the open incidents, announces the resolution and lets a
/// still failing check open a new incident), and a daemon started later
/// reads it from the store.
pub fn resolve(path: &Path, id: i64, note: &str, by: Option<String>) -> anyhow::Result<ExitCode> {
    let note = match keepup_store::resolution_note(note) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("keepup: --note {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let store = store_of(&config, path)?;
    let who = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    if !store.resolve_incident_by_hand(id, SystemClock.now_ms(), &who, &note)? {
        match store.incident(id)? {
            None => eprintln!("keepup: no incident #{id}"),
            Some(_) => eprintln!("keepup: incident #{id} is already resolved"),
        }
        return Ok(ExitCode::from(1));
    }
    keepup_web::auth::audit(
        &store,
        &super::users::cli_actor(),
        "incident.resolve",
        &format!("incident #{id}"),
        &note,
    );
    println!("incident #{id} resolved by {who}");
    println!("a running keepup announces it within a few seconds (it reads the store every 3 s)");
    Ok(ExitCode::SUCCESS)
}

/// `keepup incident update`
pub fn update(
    path: &Path,
    id: i64,
    status: &str,
    text: &str,
    by: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let who = by
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let update = match NewStatusUpdate::new(id, SystemClock.now_ms(), status, text, &who) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("keepup: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    match store.add_status_update(&update)? {
        Some(n) => {
            keepup_web::auth::audit(
                &store,
                &super::users::cli_actor(),
                "incident.public_update",
                &format!("incident #{id}"),
                status.trim(),
            );
            println!("update #{n} of incident #{id} posted ({})", status.trim());
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!("keepup: no incident #{id}");
            Ok(ExitCode::from(1))
        }
    }
}

fn to_json(i: &Incident, now: i64) -> serde_json::Value {
    serde_json::json!({
        "id": i.id,
        "check": i.check,
        "status": i.status,
        "opened_at": format_rfc3339(i.opened_at),
        "detected_at": format_rfc3339(i.detected_at),
        "acknowledged_at": i.acknowledged_at.map(format_rfc3339),
        "acknowledged_by": i.acknowledged_by,
        "resolved_at": i.resolved_at.map(format_rfc3339),
        "duration_s": i.duration_ms(now) / 1000,
        "cause": i.cause,
        "suppressed": i.suppressed,
        "message": i.message,
        "findings": i.findings,
    })
}
