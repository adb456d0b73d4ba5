//! `restore_files` and `restore_database` as steps: the configured step
//! becomes the parameters of [`crate::restore`]'s functions, and the
//! snapshot's age at the run's start is the run's measured RPO (the oldest
//! data restored counts, when several steps restore). With the plan's
//! `rpo_query`, the newest restored row counts instead when it is older
//! than the snapshot (the data stopped before the backup was taken).
//!
//! In a drill, files go under the drill environment's `files_root`
//! ([`drill_destination`]) and the dump into a scratch database
//! ([`drill_database`]) on the drill's database server: never where the
//! standby keeps its own.

use super::{Done, Failed, StepContext};
use crate::restore::{DatabaseRestore, FilesRestore, restore_database, restore_files};
use keepup_config::BackupPlan;
use keepup_config::recovery::{Environment, RestoreDatabaseStep, RestoreFilesStep};
use keepup_store::DrRunKind;
use std::path::{Path, PathBuf};

/// Where a drill restores a step's `to`: the same path under the drill
/// environment's `files_root` (`None` without one; the loader refuses
/// such a plan).
pub fn drill_destination(to: &Path, drill: &Environment) -> Option<PathBuf> {
    let root = drill.files_root.as_ref()?;
    let relative: PathBuf = to
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    Some(root.join(relative))
}

/// The scratch database a drill imports a step's dump into.
pub fn drill_database(database: &str) -> String {
    format!("{database}_drill")
}

/// The parameters of a `restore_database` step on the run's environment:
/// the step's own, or in a drill the scratch database on the drill's
/// server.
pub fn database_params<'c>(
    step: &RestoreDatabaseStep,
    plan: &'c BackupPlan,
    ctx: &StepContext<'_>,
) -> DatabaseRestore<'c> {
    let mut params = DatabaseRestore::from_step(step, plan, ctx.plan.rpo_query.as_deref());
    if ctx.kind == DrRunKind::Drill {
        let env = ctx.environment();
        params.database = drill_database(&step.database);
        if let Some(h) = &env.db_host {
            params.server.host = Some(h.clone());
        }
        if let Some(p) = env.db_port {
            params.server.port = Some(p);
        }
    }
    params
}

/// The backup plan a step restores from.
pub fn backup_plan<'c>(ctx: &StepContext<'c>, id: &str) -> Result<&'c BackupPlan, Failed> {
    ctx.config
        .backups
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| Failed::because(format!("no backup plan {id:?}")))
}

/// Records `snapshot_ms`'s age at the run's start as the RPO, unless an
/// older restore of the run already set a larger one.
fn record_rpo(ctx: &StepContext<'_>, snapshot_ms: i64) -> Result<i64, Failed> {
    let rpo = ctx.run_started_at.saturating_sub(snapshot_ms).max(0);
    let store_failed = |e: keepup_store::StoreError| Failed::because(e.to_string());
    let known = ctx
        .store
        .dr_run(ctx.run)
        .map_err(store_failed)?
        .and_then(|r| r.rpo_ms);
    if known.is_none_or(|k| rpo > k) {
        ctx.store
            .dr_figures(ctx.run, None, Some(rpo))
            .map_err(store_failed)?;
    }
    Ok(rpo)
}

/// Runs a `restore_files` step.
pub fn files(step: &RestoreFilesStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let plan = backup_plan(ctx, &step.backup)?;
    let mut params = FilesRestore::from_step(step, plan, ctx.environment()).ok_or_else(|| {
        Failed::because(format!(
            "no host {:?} in the {} environment",
            step.host.as_deref().unwrap_or_default(),
            ctx.target.name
        ))
    })?;
    if ctx.kind == DrRunKind::Drill {
        params.to = drill_destination(&step.to, ctx.environment()).ok_or_else(|| {
            Failed::because("the drill environment has no files_root to restore under")
        })?;
    }
    let done = restore_files(&params).map_err(|e| Failed::because(e.to_string()))?;
    let rpo = record_rpo(ctx, done.snapshot.time_ms)?;
    Ok(Done {
        output: format!(
            "restored {} files ({} bytes) into {} of snapshot {} ({}) from target {}; data age at activation {}",
            done.files,
            params.to.display(),
            done.bytes,
            done.snapshot.short_id,
            done.snapshot.time,
            done.target,
            crate::engine::human_ms(rpo)
        ),
    })
}

/// Runs a `restore_database` step.
pub fn database(step: &RestoreDatabaseStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let plan = backup_plan(ctx, &step.backup)?;
    let params = database_params(step, plan, ctx);
    let done = restore_database(&params).map_err(|e| Failed::because(e.to_string()))?;
    let mut data_ms = done.snapshot.time_ms;
    if let (Some(query), Some(value)) = (&ctx.plan.rpo_query, &done.rpo_value) {
        let newest = crate::rpo::parse_time(value).map_err(|why| {
            Failed::because(format!(
                "the plan's rpo_query `{query}` returned {value:?}, which is not a time: {why}"
            ))
        })?;
        data_ms = data_ms.min(newest);
    }
    let rpo = record_rpo(ctx, data_ms)?;
    let mut output = format!(
        "imported {} ({} bytes) of snapshot {} ({}) from target {} into {}; check query returned {} row(s); data age at activation {}",
        step.dump,
        done.bytes,
        done.snapshot.short_id,
        done.snapshot.time,
        done.target,
        params.database,
        done.check_rows,
        crate::engine::human_ms(rpo)
    );
    if let Some(v) = &done.rpo_value {
        output.push_str(&format!("; newest row: {v}"));
    }
    Ok(Done { output })
}
