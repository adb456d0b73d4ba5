//! `notify`: the "ticket": a message through the plan's channels, queued in
//! the store's outbox like every other notification (the daemon delivers
//! it, with retries and fallbacks), carrying the run's figures so far. The
//! dedup key names the run and the step, so a step run again after a crash
//! queues nothing twice.
//!
//! A drill sends its messages too (the channels are part of what a drill
//! proves), marked: the title starts with `DRILL:` and the text says that
//! production and the standby were not touched.

use super::{Done, Failed, StepContext};
use keepup_config::recovery::NotifyStep;
use keepup_model::Severity;
use keepup_notify::{Event, Notification};
use keepup_store::Outgoing;

/// Runs a `notify` step (step number `index` of its list).
pub fn run(step: &NotifyStep, index: usize, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let now = ctx.clock.now_ms();
    let dedup_key = format!("dr/{}/run-{}/step-{index}", ctx.plan.id, ctx.run);
    let store_failed = |e: keepup_store::StoreError| Failed::because(e.to_string());
    let run = ctx
        .store
        .dr_run(ctx.run)
        .map_err(store_failed)?
        .ok_or_else(|| Failed::because(format!("run {} is not in the journal", ctx.run)))?;
    let drill = ctx.kind == keepup_store::DrRunKind::Drill;
    let mut text = String::new();
    if drill {
        text.push_str(
            "This is a drill: it ran against the drill environment; production and the standby were not touched.\n",
        );
    }
    text.push_str(&format!(
        "Recovery plan {} ({}), run {} ({}), started {} by {}.\n",
        ctx.plan.id,
        ctx.plan.name,
        ctx.run,
        ctx.kind.as_str(),
        keepup_model::format_rfc3339(run.started_at),
        run.started_by
    ));
    let elapsed = now.saturating_sub(run.started_at).max(0);
    text.push_str(&format!("Elapsed: {}.\n", crate::engine::human_ms(elapsed)));
    if let Some(rto) = run.rto_ms {
        text.push_str(&format!(
            "Measured RTO: {} (target {}).\n",
            crate::engine::human_ms(rto),
            humantime::format_duration(ctx.plan.rto)
        ));
    }
    if let Some(rpo) = run.rpo_ms {
        text.push_str(&format!(
            "Measured RPO: {} (target {}).\n",
            crate::engine::human_ms(rpo),
            humantime::format_duration(ctx.plan.rpo)
        ));
    }
    let already: std::collections::HashSet<String> = ctx
        .store
        .notified_channels(&dedup_key)
        .map_err(store_failed)?
        .into_iter()
        .collect();
    let mut items = Vec::new();
    for channel in &step.channels {
        if already.contains(channel) {
            continue;
        }
        let message = Notification {
            id: format!("{dedup_key}-{channel}"),
            dedup_key: dedup_key.clone(),
            event: Event::Recovery,
            severity: Severity::Warning,
            title: if drill {
                format!("{}: DRILL: {}", ctx.plan.site, step.message)
            } else {
                format!("{}: {}", ctx.plan.site, step.message)
            },
            text: text.clone(),
            site: ctx.plan.site.clone(),
            checks: Vec::new(),
            started_at: Some(run.started_at),
            resolved_at: None,
            duration_s: None,
            ack_url: None,
            cause: None,
            runbook: Vec::new(),
            page_url: None,
            past_resolutions: Vec::new(),
            attachments: Vec::new(),
        };
        let payload = serde_json::to_string(&message)
            .map_err(|e| Failed::because(format!("cannot encode the notification: {e}")))?;
        items.push(Outgoing {
            dedup_key: dedup_key.clone(),
            channel: channel.clone(),
            incident: None,
            payload,
            not_before: now,
        });
    }
    ctx.store.enqueue(now, &items).map_err(store_failed)?;
    tracing::info!(plan = %ctx.plan.id, run = ctx.run, channels = ?step.channels, queued = items.len(), "recovery notification queued");
    Ok(Done {
        output: format!(
            "{:?} queued for {} ({} already queued)\n{text}",
            step.message,
            step.channels.join(", "),
            already.len()
        ),
    })
}
