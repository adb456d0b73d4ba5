//! `maintenance`: opens or ends a maintenance window on the plan's site (or
//! the step's target) through the store, as `keepup maintenance start` and
//! `stop` do, so the daemon mutes alerts for it (production goes into
//! maintenance during the return). Windows are marked with the plan's id in
//! their reason, so a re-run opens no second window and `end` ends only
//! the windows recovery runs opened.
//!
//! A drill skips it (journaled as done, saying so): the site is not in
//! maintenance while production runs, and muting its alerts would hide a
//! real outage during the drill.

use super::{Done, Failed, StepContext};
use keepup_config::recovery::{MaintenanceAction, MaintenanceStep};

/// The reason of the windows a run of `plan` opens.
pub fn reason(plan: &str) -> String {
    format!("disaster recovery plan {plan}")
}

/// Who the windows are created by.
const BY: &str = "keepup dr";

/// Runs a `maintenance` step.
pub fn run(step: &MaintenanceStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    if ctx.kind == keepup_store::DrRunKind::Drill {
        return Ok(Done {
            output: format!(
                "skipped in a drill: production keeps running, so {} is not put into maintenance (its alerts stay on)",
                step.target
            ),
        });
    }
    let now = ctx.clock.now_ms();
    let reason = reason(&ctx.plan.id);
    let store_failed = |e: keepup_store::StoreError| Failed::because(e.to_string());
    let ours: Vec<_> = ctx
        .store
        .maintenance_after(now)
        .map_err(store_failed)?
        .into_iter()
        .filter(|w| w.target == step.target && w.reason == reason && w.created_by == BY)
        .collect();
    match step.action {
        MaintenanceAction::Start(duration) => {
            if let Some(open) = ours.iter().find(|w| w.open_at(now)) {
                return Ok(Done {
                    output: format!(
                        "maintenance #{} on {} was already open",
                        open.id, step.target
                    ),
                });
            }
            let ends = now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
            let id = ctx
                .store
                .start_maintenance(&step.target, now, ends, &reason, BY)
                .map_err(store_failed)?;
            tracing::info!(plan = %ctx.plan.id, run = ctx.run, window = id, target = %step.target, "maintenance started");
            Ok(Done {
                output: format!(
                    "maintenance #{id} on {} until {}",
                    step.target,
                    keepup_model::format_rfc3339(ends)
                ),
            })
        }
        MaintenanceAction::End => {
            let mut ended = Vec::new();
            for w in &ours {
                if ctx
                    .store
                    .stop_maintenance(w.id, now)
                    .map_err(store_failed)?
                {
                    ended.push(format!("#{}", w.id));
                }
            }
            tracing::info!(plan = %ctx.plan.id, run = ctx.run, windows = ?ended, "maintenance ended");
            Ok(Done {
                output: if ended.is_empty() {
                    format!("no maintenance of this plan open on {}", step.target)
                } else {
                    format!("maintenance {} on {} ended", ended.join(", "), step.target)
                },
            })
        }
    }
}
