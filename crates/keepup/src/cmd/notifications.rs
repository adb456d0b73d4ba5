//! `keepup notifications` (the outbox) and `keepup notify test CHANNEL`.

use super::status::render;
use keepup_model::text::ago;
use keepup_model::{Clock, SystemClock, format_rfc3339};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

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
    let Some(spec) = config.channels.iter().find(|c| c.id == channel) else {
        let ids: Vec<&str> = config.channels.iter().map(|c| c.id.as_str()).collect();
        eprintln!(
            "keepup: no channel {channel:?} (channels: {})",
            if ids.is_empty() {
                "none".into()
            } else {
                ids.join(", ")
            }
        );
        return Ok(ExitCode::from(1));
    };
    let site = config
        .sites
        .first()
        .map(|s| s.id.clone())
        .unwrap_or_else(|| "keepup".into());
    let timeout = spec.timeout + Duration::from_secs(1);
    let result = super::runtime()?.block_on(async {
        let ch = keepup_notify::build(spec, &keepup_notify::HttpClientContext::new());
        tokio::time::timeout(timeout, ch.send(&keepup_notify::test_notification(&site))).await
    });
    match result {
        Ok(Ok(d)) => {
            println!(
                "test notification delivered through {channel}{}",
                d.provider_id
                    .map(|p| format!(" (provider id {p})"))
                    .unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => {
            eprintln!(
                "keepup: {channel}: {}{}",
                e.message,
                if e.retryable {
                    " (temporary; try again)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::from(1))
        }
        Err(_) => {
            eprintln!("keepup: {channel}: no answer within {}s", timeout.as_secs());
            Ok(ExitCode::from(1))
        }
    }
}
