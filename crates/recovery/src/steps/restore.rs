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

/// The first symbolic link on the way from `root` down to `dest` (`root`
/// itself not counted, `dest` counted): the kernel follows a link in any
/// component, so a link under the drill's root (restored by an earlier
/// step, or left by a failed cleanup) would lead a restore or a removal
/// outside it. `Ok(None)` when there is none (the walk stops at the first
/// component that does not exist yet).
pub fn symlink_between(root: &Path, dest: &Path) -> std::io::Result<Option<PathBuf>> {
    let Ok(below) = dest.strip_prefix(root) else {
        return Err(std::io::Error::other(format!(
            "{} is not under {}",
            dest.display(),
            root.display()
        )));
    };
    let mut at = root.to_path_buf();
    for part in below.components() {
        at.push(part);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Ok(Some(at)),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// A POSIX shell script run as `sh -c SCRIPT sh ROOT DEST` on a drill's
/// host: exits 3 naming the first symbolic link from ROOT (not counted)
/// down to DEST, as [`symlink_between`] does here; `then` runs after the
/// check (`"$2"` is DEST).
pub fn remote_symlink_check(then: &str) -> String {
    format!(
        r#"p=$2; while [ "$p" != "$1" ] && [ "$p" != / ]; do if [ -L "$p" ]; then echo "$p is a symbolic link under the drill's files_root: refused (it could lead outside it)" >&2; exit 3; fi; p=$(dirname -- "$p"); done; {then}"#
    )
}

pub use keepup_config::recovery::drill_database;

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
        no_link_on_the_way(step, &params.to, ctx)?;
    }
    let done = restore_files(&params).map_err(|e| Failed::because(e.to_string()))?;
    let rpo = record_rpo(ctx, done.snapshot.time_ms)?;
    Ok(Done {
        output: format!(
            "restored {} files ({} bytes) into {} of snapshot {} ({}) from target {}; data age at activation {}",
            done.files,
            done.bytes,
            params.to.display(),
            done.snapshot.short_id,
            done.snapshot.time,
            done.target,
            crate::engine::human_ms(rpo)
        ),
    })
}

/// Refuses a drill's restore into `dest` when a symbolic link lies between
/// the drill's `files_root` and it (here, or on the step's host).
fn no_link_on_the_way(
    step: &RestoreFilesStep,
    dest: &Path,
    ctx: &StepContext<'_>,
) -> Result<(), Failed> {
    let Some(root) = &ctx.environment().files_root else {
        return Ok(());
    };
    if let Some(host) = &step.host {
        let check = keepup_config::recovery::CommandStep {
            run: vec![
                "sh".into(),
                "-c".into(),
                remote_symlink_check("exit 0"),
                "sh".into(),
                root.display().to_string(),
                dest.display().to_string(),
            ],
            host: Some(host.clone()),
            timeout: std::time::Duration::from_secs(60),
            expect_exit: 0,
            drill: keepup_config::recovery::DrillCommand::Run,
        };
        return super::command::run(&check, ctx)
            .map(|_| ())
            .map_err(|f| Failed {
                reason: format!("not restoring into {}: {}", dest.display(), f.reason),
                ..f
            });
    }
    match symlink_between(root, dest) {
        Ok(None) => Ok(()),
        Ok(Some(link)) => Err(Failed::because(format!(
            "not restoring into {}: {} is a symbolic link under the drill's files_root (it could lead outside it); remove it",
            dest.display(),
            link.display()
        ))),
        Err(e) => Err(Failed::because(format!(
            "not restoring into {}: {e}",
            dest.display()
        ))),
    }
}

/// How a drill's `restore_database` step that found its scratch database
/// already there begins its output; the cleanup then leaves that database
/// alone.
pub const SCRATCH_EXISTS: &str = "the scratch database already exists";

/// Whether database `name` exists on `server` (asked of the server's own
/// catalogue).
fn database_exists(
    server: &keepup_backup::dbrestore::RestoreTarget,
    name: &str,
    timeout: std::time::Duration,
) -> Result<bool, String> {
    let literal = name.replace('\'', "''");
    let (catalogue, sql) = match server.kind {
        keepup_config::backup::DatabaseKind::Postgres => (
            "postgres",
            format!("SELECT 1 FROM pg_database WHERE datname = '{literal}'"),
        ),
        keepup_config::backup::DatabaseKind::Mysql => (
            "information_schema",
            format!("SELECT 1 FROM SCHEMATA WHERE SCHEMA_NAME = '{literal}'"),
        ),
    };
    keepup_backup::dbrestore::query_rows(server, catalogue, &sql, timeout)
        .map(|rows| !rows.is_empty())
        .map_err(|e| e.to_string())
}

/// Whether this run's journal says the drill's step `index` found its
/// scratch database already there (or never ran): then it is not the
/// drill's to drop.
pub fn scratch_not_ours(ctx: &StepContext<'_>, index: usize) -> Result<bool, Failed> {
    let steps = ctx
        .store
        .dr_steps(ctx.run)
        .map_err(|e| Failed::because(e.to_string()))?;
    Ok(steps
        .iter()
        .find(|s| s.index == index)
        .is_none_or(|s| s.output.starts_with(SCRATCH_EXISTS)))
}

/// Runs a `restore_database` step (`index` in its list).
pub fn database(
    step: &RestoreDatabaseStep,
    index: usize,
    ctx: &StepContext<'_>,
) -> Result<Done, Failed> {
    let plan = backup_plan(ctx, &step.backup)?;
    let params = database_params(step, plan, ctx);
    // A drill replaces and then drops its scratch database: one that is
    // there before the drill's first attempt (a staging copy, or what a
    // failed cleanup left) is not the drill's to replace. A resumed
    // attempt finds its own.
    if ctx.kind == DrRunKind::Drill {
        let first_attempt = ctx
            .store
            .dr_steps(ctx.run)
            .map_err(|e| Failed::because(e.to_string()))?
            .iter()
            .find(|s| s.index == index)
            .is_none_or(|s| s.attempts <= 1);
        let exists = database_exists(&params.server, &params.database, plan.command_timeout)
            .map_err(|why| {
                Failed::because(format!(
                    "cannot tell whether the scratch database {} exists: {why}",
                    params.database
                ))
            })?;
        if first_attempt && exists {
            return Err(Failed::because(format!(
                "{SCRATCH_EXISTS}: {} on {}, and this drill did not create it; drop or rename it (the drill leaves it alone), then drill again",
                params.database,
                params.server.describe()
            )));
        }
    }
    let done = restore_database(&params).map_err(|e| Failed::because(e.to_string()))?;
    let mut data_ms = Some(done.snapshot.time_ms);
    let mut unmeasured = None;
    if let (Some(query), Some(value)) = (&ctx.plan.rpo_query, &done.rpo_value) {
        match crate::rpo::parse_time(value) {
            Ok(newest) => data_ms = data_ms.map(|d| d.min(newest)),
            Err(why) => {
                let said = format!(
                    "the plan's rpo_query `{query}` returned {value:?}, which is not a time: {why}"
                );
                // The database is in place by now: an activation or a
                // return goes on without the figure rather than stopping
                // before DNS. A drill is the place to find out.
                if ctx.kind == DrRunKind::Drill {
                    return Err(Failed::because(said));
                }
                tracing::warn!(plan = %ctx.plan.id, run = ctx.run, "RPO not measured: the rpo_query did not give a time");
                data_ms = None;
                unmeasured = Some(said);
            }
        }
    }
    let age = match data_ms {
        Some(ms) => crate::engine::human_ms(record_rpo(ctx, ms)?),
        None => "not measured".to_string(),
    };
    let mut output = format!(
        "imported {} ({} bytes) of snapshot {} ({}) from target {} into {}; check query returned {} row(s); data age at activation {age}",
        step.dump,
        done.bytes,
        done.snapshot.short_id,
        done.snapshot.time,
        done.target,
        params.database,
        done.check_rows,
    );
    if let Some(said) = unmeasured {
        output.push_str(&format!("; RPO not measured: {said}"));
    }
    if let Some(v) = &done.rpo_value {
        output.push_str(&format!("; newest row: {v}"));
    }
    Ok(Done { output })
}
