//! `verify`: runs the named checks (or every probed check of the site) with
//! the probes the monitor uses, round after round, until all are Up in one
//! round or the deadline passes. The first all-Up round of an activation or
//! a drill ends its RTO, measured from the run's start.
//!
//! In a drill the checks are aimed at the drill environment: every name
//! the plan's `dns` steps switch resolves to the drill's addresses for
//! these probes only (like `curl --resolve`: the Host header and TLS name
//! stay the shop's), so the drill's RTO is the time until the drill's
//! services answer as the shop would. The drill's own names were verified
//! at every authoritative server by its `dns` step. The loader refuses a
//! drill whose verified checks aim at anything else.

use super::{Done, Failed, StepContext};
use keepup_config::Check;
use keepup_config::recovery::VerifyStep;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_store::DrRunKind;
use std::time::Duration;

/// Runs a `verify` step.
pub fn run(step: &VerifyStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let checks = checks(step, ctx)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::because(format!("cannot start the probes' runtime: {e}")))?;
    let probe_ctx = probe_context(ctx);
    probe_ctx.resolve_hosts_as(&ctx.config.dns);
    let started = ctx.clock.now_ms();
    let deadline =
        started.saturating_add(i64::try_from(step.deadline.as_millis()).unwrap_or(i64::MAX));
    let mut rounds = 0u32;
    loop {
        rounds += 1;
        let outcomes: Vec<(&Check, Outcome)> = runtime.block_on(async {
            let mut out = Vec::with_capacity(checks.len());
            for c in &checks {
                let Some(spec) = c.probe() else { continue };
                out.push((
                    *c,
                    keepup_probe::run(spec, c.timeout, &probe_ctx.for_check(&c.id)).await,
                ));
            }
            out
        });
        let report: String = outcomes
            .iter()
            .map(|(c, o)| format!("{} {}: {}\n", c.id, o.status.as_str(), o.message))
            .collect();
        if outcomes.iter().all(|(_, o)| o.status == Status::Up) {
            let now = ctx.clock.now_ms();
            let mut output = format!(
                "all {} check(s) Up in round {rounds}\n{report}",
                outcomes.len()
            );
            if matches!(ctx.kind, DrRunKind::Activate | DrRunKind::Drill) {
                let rto = now.saturating_sub(ctx.run_started_at).max(0);
                let first = ctx
                    .store
                    .dr_run(ctx.run)
                    .ok()
                    .flatten()
                    .is_some_and(|r| r.rto_ms.is_none());
                if first {
                    ctx.store
                        .dr_figures(ctx.run, Some(rto), None)
                        .map_err(|e| Failed::because(e.to_string()))?;
                    output.push_str(&format!("RTO: {}\n", crate::engine::human_ms(rto)));
                }
            }
            return Ok(Done { output });
        }
        let now = ctx.clock.now_ms();
        if now >= deadline {
            let down: Vec<String> = outcomes
                .iter()
                .filter(|(_, o)| o.status != Status::Up)
                .map(|(c, _)| c.id.to_string())
                .collect();
            return Err(Failed {
                reason: format!(
                    "not all Up after {} ({rounds} rounds): {}",
                    humantime::format_duration(step.deadline),
                    down.join(", ")
                ),
                output: report,
                by_hand: Some(
                    down.iter()
                        .map(|id| format!("keepup check --check {id}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            });
        }
        let wait =
            Duration::from_millis(u64::try_from(deadline - now).unwrap_or(0)).min(step.interval);
        ctx.clock.sleep(wait);
    }
}

/// The probes' context: in a drill, the names the plan's `dns` steps
/// switch resolve to the drill environment's addresses.
fn probe_context(ctx: &StepContext<'_>) -> ProbeContext {
    if ctx.kind != DrRunKind::Drill {
        return ProbeContext::new();
    }
    let addresses = &ctx.environment().addresses;
    let mut builder = ProbeContext::builder();
    for step in &ctx.plan.activate {
        if let keepup_config::recovery::StepAction::Dns(d) = &step.action {
            for name in &d.names {
                builder = builder.resolve_override(name, addresses.iter().copied());
            }
        }
    }
    builder.build()
}

/// The checks a step verifies: the named ones, or every check of the site
/// that keepup probes (passive checks wait for pushes and cannot be run).
fn checks<'c>(step: &VerifyStep, ctx: &StepContext<'c>) -> Result<Vec<&'c Check>, Failed> {
    if step.checks.is_empty() {
        let site = ctx
            .config
            .sites
            .iter()
            .find(|s| s.id == ctx.plan.site)
            .ok_or_else(|| Failed::because(format!("no site {:?}", ctx.plan.site)))?;
        let all: Vec<&Check> = site
            .checks
            .iter()
            .map(|c| &**c)
            .filter(|c| c.probe().is_some())
            .collect();
        if all.is_empty() {
            return Err(Failed::because(format!(
                "site {:?} has no check keepup can run",
                site.id
            )));
        }
        return Ok(all);
    }
    step.checks
        .iter()
        .map(|id| {
            let c = ctx
                .config
                .find_check(id.as_str())
                .ok_or_else(|| Failed::because(format!("no check {id}")))?;
            if c.probe().is_none() {
                return Err(Failed::because(format!(
                    "{id} is a passive check: keepup cannot run it"
                )));
            }
            Ok(c)
        })
        .collect()
}
