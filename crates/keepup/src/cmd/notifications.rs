//! `keepup notifications` (the outbox) and `keepup notify test CHANNEL`.

use super::status::render;
use keepup_model::text::ago;
use keepup_model::{Clock, SystemClock, format_rfc3339};
use std::path::Path;
use std::process::ExitCode;

/// `keepup notifications`
pub fn list(path: &Path, limit: usize, json: bool) -> anyhow::Result<ExitCode> {
    let store = match super::incidents::open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let rows = store.outbox(limit)?;
    let now = SystemClock.now_ms();
    if json {
        let doc: Vec<_> = rows
            .iter()
            .map(|r| {
                let event = serde_json::from_str::<serde_json::Value>(&r.payload).ok().and_then(|v| v["event"].as_str().map(str::to_owned));
                serde_json::json!({
                    "id": r.id, "created_at": format_rfc3339(r.created_at), "channel": r.channel,
                    "incident": r.incident, "event": event, "state": r.state.as_str(), "attempts": r.attempts,
                    "next_attempt_at": format_rfc3339(r.next_attempt_at), "last_error": r.last_error,
                    "sent_at": r.sent_at.map(format_rfc3339), "provider_id": r.provider_id,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no notifications");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![
        [
            "#",
            "QUEUED",
            "CHANNEL",
            "INCIDENT",
            "EVENT",
            "STATE",
            "ATTEMPTS",
            "LAST ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in rows {
        let event = serde_json::from_str::<serde_json::Value>(&r.payload)
            .ok()
            .and_then(|v| v["event"].as_str().map(str::to_owned))
            .unwrap_or_default();
        table.push(vec![
            r.id.to_string(),
            ago(now, r.created_at),
            r.channel,
            r.incident
                .map(|i| format!("#{i}"))
                .unwrap_or_else(|| "-".into()),
            event,
            r.state.as_str().into(),
            r.attempts.to_string(),
            r.last_error.unwrap_or_default(),
        ]);
    }
    print!("{}", render(&table));
    Ok(ExitCode::SUCCESS)
}

/// `keepup notify test CHANNEL`
pub fn test(path: &Path, channel: &str) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let result = super::runtime()?.block_on(keepup_notify::send_test(
        &config,
        channel,
        &keepup_notify::HttpClientContext::new(),
    ));
    match result {
        Ok(d) => {
            println!(
                "test notification delivered through {channel}{}",
                d.provider_id
                    .map(|p| format!(" (provider id {p})"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(keepup_notify::TestFailure::NoSuchChannel { known }) => {
            eprintln!(
                "keepup: no channel {channel:?} (channels: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("keepup: {channel}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
