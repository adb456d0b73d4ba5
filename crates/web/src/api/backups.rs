//! Backup plans, their targets and how their jobs last went; a plan's runs.
//!
//! A plan's jobs report on checks (`backup-<plan>`, `-fresh`, `-verify`,
//! `-restore`), so what the API shows is those checks' latest outcomes:
//! the freshness check's evidence names each target's newest snapshot and
//! its age, and a plan's runs are its run check's results. Repository
//! locations are not shown: they may carry credentials.

use super::checks::{ResultPage, result_page};
use super::error::ApiError;
use super::{FindingView, StatusName, rfc3339};
use crate::auth::ApiRead;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepup_config::BackupJob;
use keepup_config::backup::BackupPlan;
use keepup_monitor::Monitor;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// A backup plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The site its checks count for.
    pub site: String,
    /// The age above which a target's newest snapshot is stale, in seconds.
    pub rpo_s: u64,
    /// Where its snapshots go.
    pub targets: Vec<TargetView>,
    /// How each of its jobs last went.
    pub jobs: Vec<JobView>,
}

/// A target repository of a plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    /// Its id in the plan.
    pub id: String,
    /// The kind of storage: `local`, `sftp`, `rest`, `s3`, ...
    pub kind: String,
    /// Whether it is off-site.
    pub offsite: bool,
}

/// The last outcome of one of a plan's jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// `run`, `freshness`, `verify` or `restore-test`.
    pub job: String,
    /// The check it reports on (`site/check`).
    pub check: String,
    /// Its status (`unknown` until it first ran).
    pub status: StatusName,
    /// When it last ran.
    pub at: Option<String>,
    /// What it said.
    pub message: Option<String>,
    /// Its findings.
    pub findings: Vec<FindingView>,
    /// Its evidence: for freshness, each target's newest snapshot and age.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// The backup plans.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanList {
    /// Every configured plan.
    pub items: Vec<PlanView>,
}

fn storage_kind(location: &keepup_config::backup::Location) -> &'static str {
    use keepup_config::backup::Location;
    match location {
        Location::Local { .. } => "local",
        Location::Sftp { .. } => "sftp",
        Location::Rest { .. } => "rest",
        Location::S3 { .. } => "s3",
    }
}

const JOBS: [(BackupJob, &str); 4] = [
    (BackupJob::Run, "run"),
    (BackupJob::Freshness, "freshness"),
    (BackupJob::Verify, "verify"),
    (BackupJob::RestoreTest, "restore-test"),
];

fn plan_view(
    plan: &BackupPlan,
    current: &std::collections::HashMap<
        keepup_model::CheckId,
        keepup_monitor::recorder::CurrentState,
    >,
    config: &keepup_config::Config,
) -> PlanView {
    let jobs = JOBS
        .iter()
        .map(|(job, name)| (keepup_config::backup_check_id(plan, *job), *name))
        // Jobs the plan does not have (no verify, no restore test) have no check.
        .filter(|(id, _)| config.checks().any(|c| c.id == *id))
        .map(|(id, name)| {
            let state = current.get(&id);
            JobView {
                job: name.to_owned(),
                check: id.to_string(),
                status: state
                    .map_or(keepup_model::Status::Unknown, |s| s.outcome.status)
                    .into(),
                at: state.map(|s| rfc3339(s.at)),
                message: state.map(|s| s.outcome.message.clone()),
                findings: state
                    .map(|s| s.outcome.findings.iter().map(FindingView::from).collect())
                    .unwrap_or_default(),
                evidence: state
                    .and_then(|s| serde_json::to_value(&s.outcome.evidence).ok())
                    .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
            }
        })
        .collect();
    PlanView {
        id: plan.id.clone(),
        name: plan.name.clone(),
        site: keepup_config::backup_check_id(plan, BackupJob::Run)
            .as_str()
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        rpo_s: plan.rpo.as_secs(),
        targets: plan
            .targets
            .iter()
            .map(|t| TargetView {
                id: t.id.clone(),
                kind: storage_kind(&t.repository).to_owned(),
                offsite: t.offsite,
            })
            .collect(),
        jobs,
    }
}

/// The backup plans, their targets and how their jobs last went.
#[utoipa::path(get, path = "/api/v1/backups", tag = "backups",
    responses((status = 200, description = "The plans", body = PlanList)),
    security(("bearer" = [])))]
pub async fn plans(_: ApiRead, State(m): State<Arc<Monitor>>) -> Result<Json<PlanList>, ApiError> {
    let config = m.config();
    let current = m.current();
    Ok(Json(PlanList {
        items: config
            .backups
            .iter()
            .map(|p| plan_view(p, &current, &config))
            .collect(),
    }))
}

/// A plan's backup runs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/backups/{plan}/runs", tag = "backups",
    params(("plan" = String, Path, description = "The plan id"), super::checks::ResultQuery),
    responses(
        (status = 200, description = "A page of runs", body = ResultPage),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody),
        (status = 404, description = "No such plan", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn runs(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    Path(plan): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResultPage>, ApiError> {
    let config = m.config();
    let Some(p) = config.backups.iter().find(|p| p.id == plan) else {
        return Err(ApiError::not_found(format!("no backup plan {plan:?}")));
    };
    let check = keepup_config::backup_check_id(p, BackupJob::Run);
    result_page(&m, check, raw.as_deref()).await.map(Json)
}
