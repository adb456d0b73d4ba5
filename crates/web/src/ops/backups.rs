//! `/backups`: per plan, its schedule and RPO, each target's newest
//! snapshot and age against the RPO (from the freshness check's evidence),
//! the latest backup run, integrity check and restore test (the plan's
//! backup checks, as the monitor holds them), their findings, and the run
//! log (the run check's recorded results).
//!
//! Repository locations are not shown: a URL may name internal hosts or
//! carry credentials; the target's id, kind and whether it is off-site
//! say enough here.

use super::{blocking, now_ms, when};
use crate::auth::Viewer;
use crate::ui::{self, Section, state_class};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use keepup_config::BackupJob;
use keepup_config::backup::BackupPlan;
use keepup_model::text::{duration_table, duration_words};
use keepup_model::{CheckId, Status, Timestamp};
use keepup_monitor::Monitor;
use keepup_monitor::backup::freshness_targets;
use keepup_monitor::recorder::CurrentState;
use keepup_store::ResultRecord;
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Results of a plan's run check listed in its log.
const LOG_ROWS: usize = 20;
/// How far back the run log looks (raw results are kept less long).
const LOG_SPAN_MS: i64 = 90 * 86_400_000;

const JOBS: [(BackupJob, &str); 4] = [
    (BackupJob::Run, "Backup run"),
    (BackupJob::Freshness, "Freshness"),
    (BackupJob::Verify, "Integrity check"),
    (BackupJob::RestoreTest, "Restore test"),
];

/// `GET /backups`
pub(super) async fn page(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
) -> Result<Response, Response> {
    let config = monitor.config();
    let now = now_ms();
    let runs: Vec<CheckId> = config
        .backups
        .iter()
        .map(|p| keepup_config::backup_check_id(p, BackupJob::Run))
        .collect();
    let store = monitor.store().clone();
    let logs = blocking(move || {
        let mut logs = HashMap::new();
        for id in runs {
            let rows = store.results(&id, now - LOG_SPAN_MS, now + 1, LOG_ROWS)?;
            logs.insert(id, rows);
        }
        Ok(logs)
    })
    .await?;
    let current = monitor.current();
    let body = html! {
        h1 { "Backups" }
        @if config.backups.is_empty() {
            p.muted { "No backup plans are configured." }
        }
        @for plan in &config.backups {
            (plan_section(plan, &config, &current, &logs, now))
        }
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Backups, "Backups", body),
    ))
}

fn plan_section(
    plan: &BackupPlan,
    config: &keepup_config::Config,
    current: &HashMap<CheckId, CurrentState>,
    logs: &HashMap<CheckId, Vec<ResultRecord>>,
    now: Timestamp,
) -> Markup {
    let check = |job| keepup_config::backup_check_id(plan, job);
    let jobs: Vec<(&str, CheckId)> = JOBS
        .iter()
        .map(|(job, label)| (*label, check(*job)))
        .filter(|(_, id)| config.find_check(id.as_str()).is_some_and(|c| c.id == *id))
        .collect();
    let fresh = current.get(&check(BackupJob::Freshness));
    let per_target = fresh
        .map(|s| freshness_targets(&s.outcome))
        .unwrap_or_default();
    let target_facts = |target: &str| per_target.iter().find(|t| t.target == target);
    let log = logs.get(&check(BackupJob::Run));
    html! {
        section.plan aria-labelledby={"plan-" (plan.id)} {
            h2 #{"plan-" (plan.id)} { (plan.name) @if plan.name != plan.id { " " span.muted { "(" (plan.id) ")" } } }
            dl.facts {
                dt { "Schedule" }
                dd { @match &plan.schedule { Some(s) => code { (s.cron.as_str()) }, None => "on demand only" } }
                dt { "RPO" } dd { (duration_words(plan.rpo)) }
            }
            h3 { "Targets" }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Target" } th scope="col" { "Kind" } th scope="col" { "Newest snapshot" }
                    th scope="col" { "Taken" } th scope="col" { "Age" } th scope="col" { "Allowed" } th scope="col" { "Freshness" }
                } }
                tbody { @for t in &plan.targets {
                    @let facts = target_facts(&t.id);
                    @let status = facts.map_or(Status::Unknown, |f| f.status).as_str();
                    tr {
                        th scope="row" { (t.id) @if t.offsite { " " span.badge { "off-site" } } }
                        td { (t.repository.kind()) }
                        td { @match facts.and_then(|f| f.last_snapshot.as_deref()) { Some(s) => code { (s) }, None => "–" } }
                        td { (facts.and_then(|f| f.snapshot_time.as_deref()).unwrap_or("–")) }
                        td { (seconds(facts.and_then(|f| f.age_seconds))) }
                        td { (seconds(facts.map(|f| f.limit_seconds))) }
                        td { span.badge.(status) { (if fresh.is_some() { status } else { "not checked yet" }) } }
                    }
                } }
            } }
            h3 { "Latest results" }
            div.table-wrap { table {
                thead { tr {
                    th scope="col" { "Job" } th scope="col" { "State" } th scope="col" { "Since" }
                    th scope="col" { "Last run" } th scope="col" { "Result" }
                } }
                tbody { @for (label, id) in &jobs {
                    tr {
                        th scope="row" { (label) }
                        @match current.get(id) {
                            Some(s) => {
                                td { span.badge.(state_class(s.outcome.status)) { (s.outcome.status.as_str()) } }
                                td { (when(now, s.since)) }
                                td { (when(now, s.at)) }
                                td.wrap {
                                    (s.outcome.message)
                                    @if !s.outcome.findings.is_empty() {
                                        ul.findings { @for f in &s.outcome.findings {
                                            li { span.(severity_class(f.severity)) { (f.severity.as_str()) } " " (f.text) }
                                        } }
                                    }
                                }
                            }
                            None => {
                                td { span.badge.unknown { "unknown" } }
                                td colspan="3" { span.muted { "not run yet" } }
                            }
                        }
                    }
                } }
            } }
            h3 { "Run log" }
            @match log.filter(|l| !l.is_empty()) {
                None => p.muted { "No run recorded yet." },
                Some(rows) => div.table-wrap { table {
                    thead { tr {
                        th scope="col" { "Started" } th scope="col" { "Result" }
                        th scope="col" class="num" { "Took" } th scope="col" { "Message" }
                    } }
                    tbody { @for r in rows {
                        tr {
                            td { (when(now, r.at)) }
                            td { span.badge.(state_class(r.outcome.status)) { (r.outcome.status.as_str()) } }
                            td.num { (duration_table(r.outcome.latency_ms as i64)) }
                            td.wrap { (r.outcome.message) }
                        }
                    } }
                } },
            }
        }
    }
}

/// A number of seconds from the evidence, as words.
fn seconds(v: Option<u64>) -> String {
    v.map(|s| duration_words(Duration::from_secs(s)))
        .unwrap_or_else(|| "–".into())
}

fn severity_class(s: keepup_model::Severity) -> &'static str {
    match s {
        keepup_model::Severity::Info => "muted",
        keepup_model::Severity::Warning => "degraded",
        keepup_model::Severity::Critical => "down",
    }
}
