//! `restore_files` and `restore_database` as steps: the configured step
//! becomes the parameters of [`crate::restore`]'s functions, and the
//! snapshot's age at the run's start is the run's measured RPO (the oldest
//! data restored counts, when several steps restore).

use super::{Done, Failed, StepContext};
use crate::restore::{DatabaseRestore, FilesRestore, restore_database, restore_files};
use keepup_config::BackupPlan;
use keepup_config::recovery::{RestoreDatabaseStep, RestoreFilesStep};

fn backup_plan<'c>(ctx: &StepContext<'c>, id: &str) -> Result<&'c BackupPlan, Failed> {
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
    let params = FilesRestore::from_step(step, plan, ctx.environment()).ok_or_else(|| {
        Failed::because(format!(
            "no host {:?} in the {} environment",
            step.host.as_deref().unwrap_or_default(),
            ctx.target.name
        ))
    })?;
    let done = restore_files(&params).map_err(|e| Failed::because(e.to_string()))?;
    let rpo = record_rpo(ctx, done.snapshot.time_ms)?;
    Ok(Done {
        output: format!(
            "restored {} files ({} bytes) of snapshot {} ({}) from target {}; data age at activation {}",
            done.files,
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
    let params = DatabaseRestore::from_step(step, plan, ctx.plan.rpo_query.as_deref());
    let done = restore_database(&params).map_err(|e| Failed::because(e.to_string()))?;
    let rpo = record_rpo(ctx, done.snapshot.time_ms)?;
    let mut output = format!(
        "imported {} ({} bytes) of snapshot {} ({}) from target {} into {}; check query returned {} row(s); data age at activation {}",
        step.dump,
        done.bytes,
        done.snapshot.short_id,
        done.snapshot.time,
        done.target,
        step.database,
        done.check_rows,
        crate::engine::human_ms(rpo)
    );
    if let Some(v) = &done.rpo_value {
        output.push_str(&format!("; newest row: {v}"));
    }
    Ok(Done { output })
}
