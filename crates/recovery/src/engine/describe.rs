//! `keepup dr plan PLAN`: every step of a run and what it would do, read
//! from the configuration alone: nothing is changed, nothing is contacted.
//! For a drill, what each step does in the drill environment, then the
//! cleanup.

use super::steps_of;
use crate::steps::command;
use crate::steps::restore::{drill_database, drill_destination};
use keepup_config::recovery::{DrillCommand, MaintenanceAction, StepAction};
use keepup_config::{Config, RecoveryPlan};
use keepup_store::DrRunKind;
use std::fmt::Write;

/// The dry run of a run of `kind`, one paragraph per step.
pub fn describe(config: &Config, plan: &RecoveryPlan, kind: DrRunKind) -> Result<String, String> {
    let (steps, target) = steps_of(plan, kind)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan {} ({}), site {}: {} ({} steps) onto the {} environment. Targets: RTO {}, RPO {}.",
        plan.id,
        plan.name,
        plan.site,
        kind.as_str(),
        steps.len(),
        target.name,
        humantime::format_duration(plan.rto),
        humantime::format_duration(plan.rpo)
    );
    let drill = kind == DrRunKind::Drill;
    for (i, step) in steps.iter().enumerate() {
        let what = match &step.action {
            StepAction::Maintenance(_) if drill => {
                "skipped in a drill (production keeps its alerts)".to_string()
            }
            StepAction::Confirm(c) if drill => {
                format!("passes without asking {:?} in a drill", c.prompt)
            }
            StepAction::Command(c) if drill && c.drill == DrillCommand::Skip => {
                command::skipped_in_drill(c).output
            }
            StepAction::Command(c) => {
                let host = c.host.as_deref().and_then(|h| target.environment.host(h));
                format!(
                    "runs {} (timeout {}, expects exit {})",
                    command::shell_line(&command::argv(c, host)),
                    humantime::format_duration(c.timeout),
                    c.expect_exit
                )
            }
            StepAction::Maintenance(m) => match m.action {
                MaintenanceAction::Start(d) => format!(
                    "starts a maintenance window on {} for {} (alerts muted)",
                    m.target,
                    humantime::format_duration(d)
                ),
                MaintenanceAction::End => format!(
                    "ends the maintenance windows this plan opened on {}",
                    m.target
                ),
            },
            StepAction::Verify(v) => {
                let checks = if v.checks.is_empty() {
                    format!("every check of site {}", plan.site)
                } else {
                    v.checks
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let aimed = if drill {
                    format!(
                        " with the switched names resolved to the drill's {}",
                        target
                            .environment
                            .addresses
                            .iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                } else {
                    String::new()
                };
                format!(
                    "runs {checks}{aimed} every {} until all are Up, for at most {}",
                    humantime::format_duration(v.interval),
                    humantime::format_duration(v.deadline)
                )
            }
            StepAction::Notify(n) => format!(
                "sends {}{:?} with the run's figures to {}",
                if drill { "DRILL: " } else { "" },
                n.message,
                n.channels.join(", ")
            ),
            StepAction::Confirm(c) => format!("asks {:?} and waits for yes", c.prompt),
            StepAction::RestoreFiles(r) => format!(
                "restores {} of backup plan {}'s {} snapshot into {}{}{}{}",
                if r.paths.is_empty() {
                    "everything".to_string()
                } else {
                    r.paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                r.backup,
                r.snapshot.as_deref().unwrap_or("latest"),
                if drill {
                    drill_destination(&r.to, target.environment)
                        .unwrap_or_else(|| r.to.clone())
                        .display()
                        .to_string()
                } else {
                    r.to.display().to_string()
                },
                if drill {
                    " (the drill's files_root)"
                } else {
                    ""
                },
                r.host
                    .as_deref()
                    .map(|h| format!(" on host {h}"))
                    .unwrap_or_default(),
                r.owner
                    .as_deref()
                    .map(|o| format!(", owned by {o}"))
                    .unwrap_or_default()
            ),
            StepAction::RestoreDatabase(d) => {
                let (database, host, port) = if drill {
                    (
                        drill_database(&d.database),
                        target.environment.db_host.as_deref().unwrap_or(&d.db_host),
                        target.environment.db_port.unwrap_or(d.db_port),
                    )
                } else {
                    (d.database.clone(), d.db_host.as_str(), d.db_port)
                };
                format!(
                    "imports {} of backup plan {} into {} database {database} at {host}:{port} as {}, then checks that {:?} returns rows",
                    d.dump,
                    d.backup,
                    d.kind.as_str(),
                    d.db_user,
                    d.check_query
                )
            }
            StepAction::Dns(d) => {
                let names = if target.environment.dns_names.is_empty() {
                    &d.names
                } else {
                    &target.environment.dns_names
                };
                let records = match &d.cname {
                    Some(c) if !drill => format!("a CNAME to {c}"),
                    _ => target
                        .environment
                        .addresses
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                format!(
                    "updates zone {} at {} (TSIG key {}): {} -> {records}, TTL {}{}; then waits until every authoritative server serves it",
                    d.zone,
                    d.server,
                    d.key,
                    names.join(", "),
                    d.ttl,
                    d.lower_ttl_first
                        .map(|t| format!(
                            ", after lowering the TTL to {t} s and waiting out the old one"
                        ))
                        .unwrap_or_default()
                )
            }
        };
        let note = match crate::steps::unavailable(&step.action) {
            Some(why) => format!(" [{why}]"),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "{:>2}. {} ({}): {what}{note}",
            i + 1,
            step.name,
            step.action.kind()
        );
    }
    if drill {
        for (k, (name, _)) in super::cleanup_plan(plan).iter().enumerate() {
            let _ = writeln!(out, "{:>2}. {name}", steps.len() + k + 1);
        }
    }
    let _ = config;
    Ok(out)
}
