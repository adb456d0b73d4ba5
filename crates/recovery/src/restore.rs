//! The data steps of a recovery: `restore_files` puts paths of a backup
//! plan's snapshot onto the standby (a local directory, or a host over
//! SSH), `restore_database` imports a plan's dump into a database of the
//! standby and proves it with a query. Both return what the run reports:
//! the snapshot's time (the RPO) and what was restored.
//!
//! Both are built on `keepup-backup`: its repository opening, snapshot
//! selection, bounded restorer and dump streaming. A plan's targets are
//! tried in their configured order; the first that restores is used, so a
//! lost target (the production site's own disk) does not stop a recovery.
//!
//! Re-running either gives the same end state, which is what a resumed run
//! relies on: files are overwritten in place (files the snapshot does not
//! have are left alone), and a database is replaced by a fresh import.
//! The import goes into a side database (`<database>_keepup_new`) first;
//! the check query and the RPO query run there, and only then does it
//! take the database's place, so a dump that fails half way or a check
//! that finds nothing leaves the standby's database as it was. PostgreSQL
//! renames it into place ([`dbrestore::swap_in`]); MariaDB, which cannot
//! rename a database nor move views and triggers to another, imports the
//! proven dump again into the database and drops the side copy after.
//!
//! Onto a host, the files are restored into a local staging directory
//! first and then copied with `rsync` over the system `ssh` (as the SFTP
//! backup target uses it): the restorer's memory stays bounded whatever
//! the size, rsync keeps modes, owners (numeric ids, when it runs as root
//! on the host), times and hard links, a re-run only sends what differs,
//! a stalled connection fails after [`RSYNC_IO_TIMEOUT`], and the whole copy
//! is stopped at the step's `timeout` (by default [`copy_deadline`] of the
//! restored size). The cost is local disk for the staging copy (see
//! [`FilesRestore::staging_dir`]).

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use keepup_backup::dbrestore::{self, RestoreTarget};
use keepup_backup::snapshots::SnapshotInfo;
use keepup_backup::{NoProgress, RestoreTo, SnapshotRef};
use keepup_config::BackupPlan;
use keepup_config::backup::{BackupSource, DatabaseKind};
use keepup_config::recovery::{Environment, Host, RestoreDatabaseStep, RestoreFilesStep};
use serde::Serialize;

/// rsync gives up when no data moves for this long.
pub const RSYNC_IO_TIMEOUT: Duration = Duration::from_secs(120);
/// The part of the default copy deadline that does not depend on size.
pub const COPY_DEADLINE_BASE: Duration = Duration::from_secs(600);
/// The slowest rate the default copy deadline allows for (1 MiB/s, a
/// poor WAN link): beyond it a copy is taken for hung.
pub const COPY_DEADLINE_RATE: u64 = 1024 * 1024;
/// How long `ssh` may take to connect.
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How much of a client's error output a message keeps (its end).
const STDERR_TAIL: usize = 4 * 1024;

/// A `restore_files` step.
#[derive(Debug, Clone)]
pub struct FilesRestore<'a> {
    /// The backup plan restored from.
    pub plan: &'a BackupPlan,
    /// Which snapshot.
    pub snapshot: SnapshotRef,
    /// Paths of the snapshot (absolute, as backed up); empty: all of it.
    pub paths: Vec<PathBuf>,
    /// The directory the paths go under, as `to/<path>` (`to = "/"`
    /// puts them back where they were).
    pub to: PathBuf,
    /// Onto this host over SSH; `None`: this machine.
    pub host: Option<&'a Host>,
    /// `user[:group]` given to everything restored; `None`: the owners
    /// the snapshot recorded (set only when running as root).
    pub owner: Option<String>,
    /// Where the staging copy of a restore onto a host goes; `None`: the
    /// system's temporary directory.
    pub staging_dir: Option<PathBuf>,
    /// How long the copy onto the host (and `chown`) may take in all;
    /// `None`: [`copy_deadline`] of the restored size.
    pub copy_timeout: Option<Duration>,
}

impl<'a> FilesRestore<'a> {
    /// The configured step `step` of a plan run on `environment` (whose
    /// host the step names), restoring from `plan` (the backup plan the
    /// step names: `step.backup`). `None` when the host is not the
    /// environment's (the configuration's loader rejects such a plan).
    pub fn from_step(
        step: &RestoreFilesStep,
        plan: &'a BackupPlan,
        environment: &'a Environment,
    ) -> Option<Self> {
        let host = match &step.host {
            Some(name) => Some(environment.host(name)?),
            None => None,
        };
        Some(Self {
            plan,
            snapshot: snapshot_ref(step.snapshot.as_deref()),
            paths: step.paths.clone(),
            to: step.to.clone(),
            host,
            owner: step.owner.clone(),
            staging_dir: None,
            copy_timeout: step.timeout,
        })
    }
}

/// What `restore_files` did.
#[derive(Debug, Clone, Serialize)]
pub struct FilesRestored {
    /// The target restored from.
    pub target: String,
    /// The snapshot; its time is the restored data's age (RPO).
    pub snapshot: SnapshotInfo,
    /// Regular files restored.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// A `restore_database` step.
#[derive(Debug, Clone)]
pub struct DatabaseRestore<'a> {
    /// The backup plan holding the dump.
    pub plan: &'a BackupPlan,
    /// Which snapshot.
    pub snapshot: SnapshotRef,
    /// The dump's file name (its database source's `filename`).
    pub dump: String,
    /// The standby's server; the password reaches the client through its
    /// environment, never its command line.
    pub server: RestoreTarget,
    /// The database, replaced by the import once the check query passed.
    pub database: String,
    /// Must return at least one row after the import.
    pub check_query: String,
    /// Its first row's first value is returned as the newest restored
    /// data (e.g. `SELECT max(created_at) FROM orders`).
    pub rpo_query: Option<String>,
}

impl<'a> DatabaseRestore<'a> {
    /// The configured step `step`, restoring from `plan` (the backup plan
    /// it names: `step.backup`), the recovery plan's `rpo_query` run after
    /// the check.
    pub fn from_step(
        step: &RestoreDatabaseStep,
        plan: &'a BackupPlan,
        rpo_query: Option<&str>,
    ) -> Self {
        Self {
            plan,
            snapshot: SnapshotRef::Latest,
            dump: step.dump.clone(),
            server: RestoreTarget {
                host: Some(step.db_host.clone()),
                port: Some(step.db_port),
                user: Some(step.db_user.clone()),
                password: step.password.clone(),
                ..RestoreTarget::new(step.kind)
            },
            database: step.database.clone(),
            check_query: step.check_query.clone(),
            rpo_query: rpo_query.map(str::to_owned),
        }
    }
}

/// What `restore_database` did.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseRestored {
    /// The target restored from.
    pub target: String,
    /// The snapshot the dump came from (its time: the RPO).
    pub snapshot: SnapshotInfo,
    /// Bytes of dump imported.
    pub bytes: u64,
    /// Rows the check query returned.
    pub check_rows: usize,
    /// The RPO query's value, as the database printed it.
    pub rpo_value: Option<String>,
}

/// Why a data step failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A path of the step cannot be restored.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// The plan has no database source with this file name.
    #[error("backup plan {plan:?} has no database dump {dump:?}")]
    NoDump {
        /// The plan.
        plan: String,
        /// The file name asked for.
        dump: String,
    },
    /// No target of the plan restored.
    #[error("backup plan {plan:?} could not be restored from any target: {}", .errors.join("; "))]
    NoTargetRestored {
        /// The plan.
        plan: String,
        /// Each target's error, `target: error`.
        errors: Vec<String>,
    },
    /// A program (`chown`, `rsync`) could not run or failed.
    #[error("{what} failed: {reason}")]
    Program {
        /// What was attempted.
        what: String,
        /// Its exit status and the end of its error output.
        reason: String,
    },
    /// The staging directory could not be made.
    #[error("creating a staging directory in {dir}: {source}")]
    Staging {
        /// Where.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// A query after the import failed.
    #[error("{0}")]
    Query(#[from] dbrestore::RestoreError),
    /// MariaDB/MySQL: the import into the database itself failed after
    /// the same dump passed the checks beside it.
    #[error(
        "importing into {database} failed after the same dump passed the checks in {side}, which keeps that checked copy: {reason}"
    )]
    AfterProof {
        /// The database.
        database: String,
        /// The side database holding the checked copy.
        side: String,
        /// Why.
        reason: String,
    },
    /// The check query returned nothing.
    #[error(
        "check query `{query}` returned no rows in the imported copy of {database}: the dump holds no such rows, or wrote them elsewhere; the copy was not put in place of {database}"
    )]
    NoRows {
        /// The query.
        query: String,
        /// The database.
        database: String,
    },
}

/// Restores the step's paths of the plan's snapshot onto the standby.
pub fn restore_files(step: &FilesRestore<'_>) -> Result<FilesRestored, RestoreError> {
    let to = checked_path(&step.to)?;
    let paths = step
        .paths
        .iter()
        .map(|p| checked_path(p))
        .collect::<Result<Vec<String>, _>>()?;
    match step.host {
        None => {
            let restored = from_first_target(step.plan, |target| {
                restore_paths(step, target, Path::new(&to), &paths)
            })?;
            if let Some(owner) = &step.owner {
                let limit = step
                    .copy_timeout
                    .unwrap_or_else(|| copy_deadline(restored.bytes));
                chown_local(owner, Path::new(&to), &paths, limit)?;
            }
            Ok(restored)
        }
        Some(host) => {
            let parent = step.staging_dir.clone().unwrap_or_else(std::env::temp_dir);
            let staging = tempfile::Builder::new()
                .prefix("keepup-dr-staging-")
                .tempdir_in(&parent)
                .map_err(|source| RestoreError::Staging {
                    dir: parent.display().to_string(),
                    source,
                })?;
            let restored = from_first_target(step.plan, |target| {
                restore_paths(step, target, staging.path(), &paths)
            })?;
            let limit = step
                .copy_timeout
                .unwrap_or_else(|| copy_deadline(restored.bytes));
            rsync_to_host(
                host,
                staging.path(),
                &paths,
                &to,
                step.owner.as_deref(),
                limit,
            )?;
            Ok(restored)
        }
    }
}

/// Imports the step's dump into a fresh database on the standby, runs the
/// check query (it must return rows) and the RPO query.
pub fn restore_database(step: &DatabaseRestore<'_>) -> Result<DatabaseRestored, RestoreError> {
    let has_dump = step
        .plan
        .sources
        .iter()
        .any(|s| matches!(s, BackupSource::Database(db) if db.filename == step.dump));
    if !has_dump {
        return Err(RestoreError::NoDump {
            plan: step.plan.id.clone(),
            dump: step.dump.clone(),
        });
    }
    let dump_path = format!("/{}/{}", step.plan.id, step.dump);
    // The standby's database keeps serving until the new copy is proven:
    // the dump goes beside it, the queries run there, and only then does
    // it take the database's place.
    let side = dbrestore::side_name(&step.database)?;
    let (target, (imported, snapshot)) = first_target(step.plan, |target| {
        keepup_backup::dbtest::import_dump_beside(
            step.plan,
            target,
            &step.snapshot,
            &dump_path,
            &step.server,
            &step.database,
        )
    })?;
    let timeout = step.plan.command_timeout;
    let checked = check_imported(step, &side, timeout);
    let (rows, rpo_value) = match checked {
        Ok(v) => v,
        Err(e) => {
            if let Err(dropped) = dbrestore::drop_database(&step.server, &side, timeout) {
                tracing::warn!(database = %side, error = %dropped, "the unproven import was not dropped");
            }
            return Err(e);
        }
    };
    match step.server.kind {
        DatabaseKind::Postgres => dbrestore::swap_in(&step.server, &step.database, timeout)?,
        DatabaseKind::Mysql => {
            // No RENAME DATABASE, and views and triggers cannot move to
            // another database: the proven dump (the same snapshot, from
            // the same target) is imported again into the database itself,
            // and the checked copy is dropped only once that passed too.
            keepup_backup::dbtest::replace_with_dump(
                step.plan,
                &target,
                &SnapshotRef::Id(snapshot.id.clone()),
                &dump_path,
                &step.server,
                &step.database,
            )
            .map_err(|reason| RestoreError::AfterProof {
                database: step.database.clone(),
                side: side.clone(),
                reason,
            })
            .and_then(|_| check_imported(step, &step.database, timeout))?;
            dbrestore::drop_database(&step.server, &side, timeout)?;
        }
    }
    tracing::info!(
        plan = %step.plan.id,
        target = %target,
        snapshot = %snapshot.short_id,
        database = %step.database,
        bytes = imported.bytes,
        "database restored"
    );
    Ok(DatabaseRestored {
        target,
        snapshot,
        bytes: imported.bytes,
        check_rows: rows,
        rpo_value,
    })
}

/// The check query's rows (there must be some) and the RPO query's first
/// value, asked of the imported copy in `database`.
fn check_imported(
    step: &DatabaseRestore<'_>,
    database: &str,
    timeout: Duration,
) -> Result<(usize, Option<String>), RestoreError> {
    let rows = dbrestore::query_rows(&step.server, database, &step.check_query, timeout)?;
    if rows.is_empty() {
        return Err(RestoreError::NoRows {
            query: step.check_query.clone(),
            database: step.database.clone(),
        });
    }
    let rpo_value = match &step.rpo_query {
        Some(q) => dbrestore::query_rows(&step.server, database, q, timeout)?
            .into_iter()
            .next()
            .map(|row| row.split('\t').next().unwrap_or_default().trim().to_owned()),
        None => None,
    };
    Ok((rows.len(), rpo_value))
}

/// A configured snapshot id, or the latest.
fn snapshot_ref(id: Option<&str>) -> SnapshotRef {
    id.map_or(SnapshotRef::Latest, |id| SnapshotRef::Id(id.to_owned()))
}

/// `path` as restorable text: absolute, no `..`, UTF-8 (snapshot paths
/// are looked up as text).
fn checked_path(path: &Path) -> Result<String, RestoreError> {
    let bad = |reason| RestoreError::BadPath {
        path: path.display().to_string(),
        reason,
    };
    if !path.is_absolute() {
        return Err(bad("the path must be absolute"));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(bad("the path must not contain `..`"));
    }
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| bad("the path is not UTF-8"))
}

/// The paths (all when empty) of the step's snapshot on `target` under
/// `dir`.
fn restore_paths(
    step: &FilesRestore<'_>,
    target: &str,
    dir: &Path,
    paths: &[String],
) -> Result<FilesRestored, String> {
    let to = if paths.is_empty() {
        RestoreTo::Dir(dir.to_path_buf())
    } else {
        RestoreTo::Paths {
            dir: dir.to_path_buf(),
            paths: paths.to_vec(),
        }
    };
    let report =
        keepup_backup::restore(step.plan, target, &step.snapshot, to, Arc::new(NoProgress))
            .map_err(|e| e.to_string())?;
    tracing::info!(
        plan = %step.plan.id,
        target = %target,
        snapshot = %report.snapshot.short_id,
        files = report.files,
        bytes = report.bytes,
        "files restored"
    );
    Ok(FilesRestored {
        target: target.to_owned(),
        snapshot: report.snapshot,
        files: report.files,
        bytes: report.bytes,
    })
}

/// `restore(target)` on the plan's targets in order, until one succeeds.
fn from_first_target<T>(
    plan: &BackupPlan,
    restore: impl FnMut(&str) -> Result<T, String>,
) -> Result<T, RestoreError> {
    first_target(plan, restore).map(|(_, v)| v)
}

/// Like [`from_first_target`], with the target that succeeded.
fn first_target<T>(
    plan: &BackupPlan,
    mut restore: impl FnMut(&str) -> Result<T, String>,
) -> Result<(String, T), RestoreError> {
    let mut errors = Vec::new();
    for target in &plan.targets {
        match restore(&target.id) {
            Ok(v) => return Ok((target.id.clone(), v)),
            Err(e) => {
                tracing::warn!(plan = %plan.id, target = %target.id, error = %e, "restore failed, trying the next target");
                errors.push(format!("{}: {e}", target.id));
            }
        }
    }
    Err(RestoreError::NoTargetRestored {
        plan: plan.id.clone(),
        errors,
    })
}

/// The default deadline of copying (or `chown`ing) `bytes` restored
/// bytes: [`COPY_DEADLINE_BASE`] plus the time at [`COPY_DEADLINE_RATE`].
/// rsync's own `--timeout` only catches a connection where nothing moves;
/// this also ends one that trickles or a remote side that hangs.
pub fn copy_deadline(bytes: u64) -> Duration {
    COPY_DEADLINE_BASE.saturating_add(Duration::from_secs(bytes / COPY_DEADLINE_RATE))
}

/// `chown -R` of the restored paths under `to` (all of `to` when none).
fn chown_local(
    owner: &str,
    to: &Path,
    paths: &[String],
    limit: Duration,
) -> Result<(), RestoreError> {
    let mut cmd = keepup_backup::child::command("chown", &[]);
    cmd.args(["-R", "--no-dereference", "--", owner]);
    if paths.is_empty() {
        cmd.arg(to);
    } else {
        cmd.args(paths.iter().map(|p| to.join(p.trim_start_matches('/'))));
    }
    run(
        cmd,
        &format!("setting the owner {owner} under {}", to.display()),
        limit,
    )
}

/// Copies `paths` (all when none) of `staging` to `to` on `host`.
fn rsync_to_host(
    host: &Host,
    staging: &Path,
    paths: &[String],
    to: &str,
    owner: Option<&str>,
    limit: Duration,
) -> Result<(), RestoreError> {
    let argv = rsync_argv(host, staging, paths, to, owner);
    let mut cmd = keepup_backup::child::command(&argv[0], &["SSH_AUTH_SOCK"]);
    cmd.args(&argv[1..]);
    run(
        cmd,
        &format!(
            "copying the restored files to {}:{to} with rsync",
            host.name
        ),
        limit,
    )
}

/// The `rsync` command that copies `paths` (absolute, as backed up; all
/// when none) restored under `staging` to `to` on `host`: what the step
/// runs, and what the Recovery Plan document prints.
pub fn rsync_argv(
    host: &Host,
    staging: &Path,
    paths: &[String],
    to: &str,
    owner: Option<&str>,
) -> Vec<String> {
    let mut ssh = vec!["ssh".to_owned()];
    ssh.extend(keepup_backup::backend::ssh_options(
        host.ssh_port,
        host.ssh_identity_file.as_deref(),
        host.ssh_known_hosts_file.as_deref(),
        SSH_CONNECT_TIMEOUT,
    ));
    ssh.extend(host.ssh_args.iter().cloned());
    // -s: the remote path is not parsed by the remote shell; -R: each
    // source keeps its path after the `/./` marker.
    // --mkpath: `to` may be several directories deep that do not exist
    // yet on the host (a drill's `<files_root>/<to>`).
    let mut argv: Vec<String> = vec![
        "rsync".into(),
        "-aHsR".into(),
        "--numeric-ids".into(),
        "--mkpath".into(),
        format!("--timeout={}", RSYNC_IO_TIMEOUT.as_secs()),
        "-e".into(),
        shell_words(&ssh),
    ];
    if let Some(owner) = owner {
        argv.push(format!("--chown={owner}"));
    }
    argv.push("--".into());
    if paths.is_empty() {
        argv.push(staging.join("./").display().to_string());
    } else {
        for p in paths {
            argv.push(
                staging
                    .join(".")
                    .join(p.trim_start_matches('/'))
                    .display()
                    .to_string(),
            );
        }
    }
    let destination = match host.ssh.rsplit_once('@') {
        Some((user, h)) if h.contains(':') => format!("{user}@[{h}]"),
        None if host.ssh.contains(':') => format!("[{}]", host.ssh),
        _ => host.ssh.clone(),
    };
    argv.push(format!("{destination}:{}/", to.trim_end_matches('/')));
    argv
}

/// `words` as one command line for rsync's `-e` (rsync splits it like a
/// shell: single quotes keep spaces).
fn shell_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd`, in a process group of its own killed after `limit`; fails
/// with its status and the end of its error output.
fn run(mut cmd: std::process::Command, what: &str, limit: Duration) -> Result<(), RestoreError> {
    let failed = |reason: String| RestoreError::Program {
        what: what.to_owned(),
        reason,
    };
    let mut child = keepup_backup::child::own_group(&mut cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start {:?}: {e}", cmd.get_program())))?;
    let deadline = keepup_backup::child::Deadline::start(child.id(), limit);
    let mut stderr = Vec::new();
    if let Some(mut err) = child.stderr.take() {
        // Keeps the end: the cause is usually the last line.
        let mut buf = [0u8; 8192];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            stderr.extend_from_slice(&buf[..n]);
            if stderr.len() > 2 * STDERR_TAIL {
                stderr.drain(..stderr.len() - STDERR_TAIL);
            }
        }
    }
    let status = child.wait().map_err(|e| failed(e.to_string()))?;
    let tail = &stderr[stderr.len().saturating_sub(STDERR_TAIL)..];
    if deadline.passed() {
        return Err(failed(format!(
            "stopped after {} (the step's `timeout`): {}",
            humantime::format_duration(limit),
            String::from_utf8_lossy(tail).trim()
        )));
    }
    if status.success() {
        return Ok(());
    }
    Err(failed(format!(
        "{status}: {}",
        String::from_utf8_lossy(tail).trim()
    )))
}
