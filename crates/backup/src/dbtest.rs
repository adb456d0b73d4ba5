//! The database half of a restore test: the plan's latest dump is streamed
//! out of the repository (never staged on disk) into a scratch database on
//! the configured server, a validation query is run, and the scratch
//! database is dropped. It proves what matters at 3 a.m.: that the dump
//! loads and holds the data, not only that its bytes are intact.

use std::io::Write;
use std::sync::Arc;

use keepup_config::BackupPlan;
use keepup_config::backup::{BackupSource, DatabaseKind, DatabaseSource, DumpFormat};
use keepup_model::{Finding, Outcome, Severity, Status};
use serde::Serialize;

use crate::NoProgress;
use crate::dbrestore::{self, RestoreOptions, RestoreTarget, Validation};
use crate::restore::{RestoreTo, SnapshotRef, restore};
use crate::snapshots::SnapshotInfo;
use keepup_model::codes;

/// What a database restore test did.
#[derive(Debug, Clone, Serialize)]
pub struct DbRestoreTestReport {
    /// The plan.
    pub plan: String,
    /// The target the dump came from.
    pub target: String,
    /// The dump's path in the snapshot.
    pub dump: String,
    /// Bytes of dump restored.
    pub bytes: u64,
    /// The validation query and its result, if one is configured.
    pub validation: Option<(String, i64, i64)>,
    /// Seconds spent.
    pub seconds: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl DbRestoreTestReport {
    /// Up when the dump restored and the query returned enough; Down
    /// otherwise.
    pub fn outcome(&self) -> Outcome {
        match &self.error {
            None => Outcome::new(
                Status::Up,
                format!(
                    "backup {}: {} restores on {}",
                    self.plan, self.dump, self.target
                ),
            ),
            Some(e) => {
                let mut o = Outcome::new(
                    Status::Down,
                    format!(
                        "backup {}: {} does not restore from {}",
                        self.plan, self.dump, self.target
                    ),
                );
                o.push(Finding::new(
                    codes::BACKUP_RESTORE_FAILED,
                    Severity::Critical,
                    e.clone(),
                ));
                o
            }
        }
    }
}

/// The dump a restore test loads: its file name and format. `None` when
/// the plan has no database source of the scratch server's kind (or the
/// configured `dump` is not one).
fn chosen_dump(plan: &BackupPlan, kind: DatabaseKind) -> Option<&DatabaseSource> {
    let wanted = plan.restore_test.as_ref()?.dump.as_deref();
    plan.sources.iter().find_map(|s| match s {
        BackupSource::Database(db)
            if db.kind == kind && wanted.is_none_or(|w| w == db.filename) =>
        {
            Some(db)
        }
        _ => None,
    })
}

/// The restore test of the plan's dump on `target`, if the plan has
/// `[backup.restore_test.database]`; `None` otherwise.
pub fn restore_test_database(plan: &BackupPlan, target: &str) -> Option<DbRestoreTestReport> {
    let test = plan.restore_test.as_ref()?;
    let scratch = test.database.as_ref()?;
    let started = std::time::Instant::now();
    let mut report = DbRestoreTestReport {
        plan: plan.id.clone(),
        target: target.to_owned(),
        dump: String::new(),
        bytes: 0,
        validation: None,
        seconds: 0.0,
        error: None,
    };
    let Some(source) = chosen_dump(plan, scratch.kind) else {
        report.error = Some(format!(
            "the plan has no {} dump to restore",
            scratch.kind.as_str()
        ));
        return Some(report);
    };
    report.dump = format!("/{}/{}", plan.id, source.filename);
    let server = RestoreTarget {
        host: Some(scratch.host.clone()),
        port: Some(scratch.port),
        user: Some(scratch.user.clone()),
        password: scratch.password.clone(),
        maintenance_db: scratch.dbname.clone(),
        ..RestoreTarget::new(scratch.kind)
    };
    let options = RestoreOptions {
        format: source.format,
        validations: test
            .query
            .as_ref()
            .map(|q| vec![Validation::new(q.clone(), test.min_rows)])
            .unwrap_or_default(),
        keep: false,
        // mysqldump --skip-comments writes no completion line.
        require_complete: crate::dump::dump_completion_line(source).is_some(),
        // A restore may take as long as the dump was allowed to.
        timeout: plan.command_timeout,
    };
    match stream_into(plan, target, &report.dump, |dump| {
        dbrestore::restore_test(&server, dump, &options)
    }) {
        Ok(r) => {
            report.bytes = r.bytes;
            report.validation = r
                .validations
                .first()
                .map(|v| (v.query.clone(), v.value, v.min));
        }
        Err(e) => report.error = Some(e),
    }
    report.seconds = started.elapsed().as_secs_f64();
    Some(report)
}

/// Restores the plan's dump `dump_path` (latest snapshot on `target`) into
/// database `database` of the server at `url` (`postgres://...` or
/// `mysql://...`), creating it if needed: `keepup backup restore
/// --into-db`.
pub fn restore_dump_into(
    plan: &BackupPlan,
    target: &str,
    snapshot: &SnapshotRef,
    dump_path: &str,
    url: &str,
) -> Result<dbrestore::RestoreReport, String> {
    let (server, database) = RestoreTarget::from_url(url).map_err(|e| e.to_string())?;
    let options = dump_options(plan, dump_path);
    stream_from(plan, target, snapshot, dump_path, |dump| {
        dbrestore::restore_into(&server, &database, dump, &options)
    })
    .map(|(report, _)| report)
}

/// Restores the plan's dump `dump_path` of `snapshot` on `target` into
/// the side database of `database` on `server`
/// ([`dbrestore::import_beside`]; `database` is not touched): the first
/// half of a disaster recovery's import, which [`dbrestore::swap_in`]
/// ends. Returns the import and the snapshot it came from.
pub fn import_dump_beside(
    plan: &BackupPlan,
    target: &str,
    snapshot: &SnapshotRef,
    dump_path: &str,
    server: &RestoreTarget,
    database: &str,
) -> Result<(dbrestore::RestoreReport, SnapshotInfo), String> {
    let options = dump_options(plan, dump_path);
    stream_from(plan, target, snapshot, dump_path, |dump| {
        dbrestore::import_beside(server, database, dump, &options)
    })
}

/// Restores the dump into a fresh `database` itself, dropping what was
/// there ([`dbrestore::replace_database`]): on MariaDB/MySQL the second
/// import of a replacement whose first, beside it, passed the checks.
pub fn replace_with_dump(
    plan: &BackupPlan,
    target: &str,
    snapshot: &SnapshotRef,
    dump_path: &str,
    server: &RestoreTarget,
    database: &str,
) -> Result<(dbrestore::RestoreReport, SnapshotInfo), String> {
    let options = dump_options(plan, dump_path);
    stream_from(plan, target, snapshot, dump_path, |dump| {
        dbrestore::replace_database(server, database, dump, &options)
    })
}

/// How the dump at `dump_path` restores: its source's format and whether
/// it ends with a completion line.
fn dump_options(plan: &BackupPlan, dump_path: &str) -> RestoreOptions {
    let source = plan.sources.iter().find_map(|s| match s {
        BackupSource::Database(db) if dump_path.ends_with(&format!("/{}", db.filename)) => Some(db),
        _ => None,
    });
    RestoreOptions {
        format: source.map_or(DumpFormat::Plain, |db| db.format),
        // A dump made without its completion line (mysqldump
        // --skip-comments) is judged by its exit status at backup time.
        require_complete: source.is_none_or(|db| crate::dump::dump_completion_line(db).is_some()),
        timeout: plan.command_timeout,
        ..RestoreOptions::default()
    }
}

/// The database dumps a plan stores, as their paths in its snapshots.
pub fn dump_paths(plan: &BackupPlan) -> Vec<String> {
    plan.sources
        .iter()
        .filter_map(|s| match s {
            BackupSource::Database(db) => Some(format!("/{}/{}", plan.id, db.filename)),
            _ => None,
        })
        .collect()
}

fn stream_into<T>(
    plan: &BackupPlan,
    target: &str,
    path: &str,
    load: impl FnOnce(&mut dyn std::io::Read) -> Result<T, dbrestore::RestoreError>,
) -> Result<T, String> {
    stream_from(plan, target, &SnapshotRef::Latest, path, load).map(|(v, _)| v)
}

/// Runs `load` on a pipe that a second thread fills with file `path` of
/// the snapshot: the dump flows from the repository into the database
/// client without touching the disk. Returns `load`'s result and the
/// snapshot the file came from.
fn stream_from<T>(
    plan: &BackupPlan,
    target: &str,
    snapshot: &SnapshotRef,
    path: &str,
    load: impl FnOnce(&mut dyn std::io::Read) -> Result<T, dbrestore::RestoreError>,
) -> Result<(T, SnapshotInfo), String> {
    let (mut reader, writer) = std::io::pipe().map_err(|e| format!("cannot create a pipe: {e}"))?;
    std::thread::scope(|scope| {
        let feeder = scope.spawn(move || {
            let mut writer = writer;
            let r = restore(
                plan,
                target,
                snapshot,
                RestoreTo::File {
                    path: path.to_owned(),
                    writer: &mut writer,
                },
                Arc::new(NoProgress),
            );
            let _ = writer.flush();
            // Dropping the writer ends the reader's stream.
            drop(writer);
            r
        });
        let loaded = load(&mut reader);
        // A loader that stopped early leaves the feeder blocked on a full
        // pipe: closing the read end lets it fail and finish.
        drop(reader);
        let fed = feeder
            .join()
            .map_err(|_| "the restore thread panicked".to_owned())?;
        match (fed, loaded) {
            // When the database client fails (wrong password, bad SQL),
            // the feeder only sees the pipe close: the client's error is
            // the cause.
            (Err(e), Err(l)) if is_broken_pipe(&e.to_string()) => Err(l.to_string()),
            // Otherwise the repository's error is (the client then only
            // saw a dump cut short).
            (Err(e), _) => Err(format!("reading {path} from {target}: {e}")),
            (Ok(_), Err(e)) => Err(e.to_string()),
            (Ok(fed), Ok(v)) => Ok((v, fed.snapshot)),
        }
    })
}

/// Whether an error text is a write into a closed pipe (EPIPE).
fn is_broken_pipe(text: &str) -> bool {
    text.contains("os error 32") || text.contains("Broken pipe") || text.contains("broken pipe")
}
