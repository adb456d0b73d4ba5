//! Bad input for the plan engine: a wrong password, a dump command that
//! fails half way or is killed, a command that does not exist, a source
//! path that vanished, an uninitialised or unknown target, a backup killed
//! with SIGKILL, a full disk. Each must give a clear error, record no
//! snapshot as good, lose no earlier snapshot and leave a repository that
//! the standalone `restic check` accepts.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keepup_backup::{BackupError, list, run_plan_with};
use keepup_model::Status;
use keepup_model::codes;
use keepup_testkit::disk::Tmpfs;
use support::*;

/// A plan over `src` (paths) plus the given sources, one target `local`
/// (initialised) at `repo`.
fn plan_with(fx: &Fixture, repo: &Path, sources: &str) -> keepup_config::BackupPlan {
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "shop"
allow_single_target = true
[[backup.source]]
kind = "paths"
paths = ["{src}"]
{sources}
[[backup.target]]
id = "local"
repository = "{repo}"
"#,
        src = fx.path("src").display(),
        repo = repo.display(),
    ));
    if !repo.join("config").exists() {
        keepup_backup::init(&plan, "local").expect("init");
    }
    plan
}

fn small_source(fx: &Fixture) {
    generate_tree(&fx.path("src"), 11, 20, 20_000);
}

/// A first, good snapshot; returns its id.
fn first_snapshot(plan: &keepup_config::BackupPlan) -> String {
    let r = run_plan_with(plan, None, &quick(), progress());
    assert!(r.ok(), "{r:#?}");
    r.targets[0].snapshot.clone().unwrap()
}

/// The earlier snapshot is still there and nothing else is.
fn only(fx: &Fixture, repo: &Path, plan: &keepup_config::BackupPlan, id: &str) {
    let listed = list(plan, "local").unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    let snaps = fx.restic_snapshots(repo);
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["id"], id);
}

#[test]
fn a_wrong_password_is_a_clear_error_and_touches_nothing() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let plan = plan_with(&fx, &repo, "");
    let id = first_snapshot(&plan);

    let wrong = fx.path("wrong.pass");
    std::fs::write(&wrong, "Tr0ub4dor&3").unwrap();
    let mut bad = plan.clone();
    bad.targets[0].password = keepup_config::Secret::new("Tr0ub4dor&3".into());
    let r = run_plan_with(&bad, None, &quick(), progress());
    let err = r.targets[0].error.as_deref().unwrap();
    assert!(err.contains("wrong repository password"), "{err}");
    assert!(
        !err.contains("Tr0ub4dor"),
        "the password never shows: {err}"
    );
    assert_eq!(r.targets[0].attempts, 1, "a wrong password is not retried");
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert!(!format!("{o:?}").contains("Tr0ub4dor"));
    assert!(matches!(
        keepup_backup::list(&bad, "local"),
        Err(BackupError::WrongPassword { .. })
    ));
    only(&fx, &repo, &plan, &id);
    fx.restic_check(&repo);
}

#[test]
fn a_dump_failing_half_way_records_no_snapshot() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let good = plan_with(&fx, &repo, "");
    let id = first_snapshot(&good);

    // It writes part of its output, complains and exits 3.
    let plan = plan_with(
        &fx,
        &repo,
        r#"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "head -c 2000000 /dev/urandom; echo 'pg_dump: error: connection lost' >&2; exit 3"]
filename = "shop.sql"
"#,
    );
    let r = run_plan_with(&plan, None, &quick(), progress());
    let t = &r.targets[0];
    assert!(t.snapshot.is_none(), "{t:?}");
    let err = t.error.as_deref().unwrap();
    eprintln!("failing dump: {err}");
    assert!(
        err.starts_with("shop.sql: the command exited with status 3"),
        "{err}"
    );
    assert!(
        err.contains("pg_dump: error: connection lost"),
        "stderr is shown: {err}"
    );
    assert!(err.contains("no snapshot was recorded"), "{err}");
    assert_eq!(t.attempts, 1, "a failing command is not retried");
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert!(
        o.findings
            .iter()
            .any(|f| f.code == codes::BACKUP_TARGET_FAILED)
    );

    only(&fx, &repo, &good, &id);
    fx.restic_check(&repo);
    // And the next good run works.
    let ok = run_plan_with(&good, None, &quick(), progress());
    assert!(ok.ok(), "{ok:#?}");
    fx.restic_check(&repo);
}

#[test]
fn a_dump_killed_midway_records_no_snapshot() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let good = plan_with(&fx, &repo, "");
    let id = first_snapshot(&good);
    let plan = plan_with(
        &fx,
        &repo,
        r#"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "seq 1 300000; kill -9 $$"]
filename = "dump.sql"
"#,
    );
    let r = run_plan_with(&plan, None, &quick(), progress());
    let err = r.targets[0].error.as_deref().unwrap();
    assert!(
        err.contains("dump.sql: the command was killed by signal 9"),
        "{err}"
    );
    only(&fx, &repo, &good, &id);
    fx.restic_check(&repo);
}

#[test]
fn a_hung_dump_is_stopped_by_the_command_timeout() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let good = plan_with(&fx, &repo, "");
    let id = first_snapshot(&good);
    // One keeps writing nothing with stdout open; the other closes stdout
    // and leaves a grandchild holding stderr: both would block forever.
    for script in [
        "echo part; sleep 600",
        "echo part; exec >&-; sleep 600 & wait",
    ] {
        let mut plan = plan_with(
            &fx,
            &repo,
            &format!(
                r#"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "{script}"]
filename = "dump.sql"
"#
            ),
        );
        plan.command_timeout = Duration::from_secs(2);
        let started = Instant::now();
        let r = run_plan_with(&plan, None, &quick(), progress());
        let err = r.targets[0].error.as_deref().unwrap();
        assert!(
            err.contains("ran longer than the plan's command_timeout (2s)"),
            "{script}: {err}"
        );
        assert!(r.targets[0].snapshot.is_none());
        // Not a timed assertion on speed: only that it did not hang for
        // the command's 600 s.
        assert!(started.elapsed() < Duration::from_secs(300), "{script}");
        only(&fx, &repo, &good, &id);
    }
    fx.restic_check(&repo);
}

#[test]
fn a_command_that_cannot_start_is_reported() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let good = plan_with(&fx, &repo, "");
    let id = first_snapshot(&good);
    let plan = plan_with(
        &fx,
        &repo,
        r#"
[[backup.source]]
kind = "command"
command = ["/nonexistent/pg_dump", "shop"]
filename = "shop.sql"
"#,
    );
    let r = run_plan_with(&plan, None, &quick(), progress());
    let err = r.targets[0].error.as_deref().unwrap();
    assert!(
        err.contains("shop.sql: the command could not be started"),
        "{err}"
    );
    assert!(err.contains("/nonexistent/pg_dump"), "{err}");
    only(&fx, &repo, &good, &id);
    fx.restic_check(&repo);
}

#[test]
fn a_vanished_source_path_is_a_clear_error() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let plan = plan_with(&fx, &repo, "");
    let id = first_snapshot(&plan);
    std::fs::rename(fx.path("src"), fx.path("src-moved")).unwrap();
    let r = run_plan_with(&plan, None, &quick(), progress());
    let err = r.targets[0].error.as_deref().unwrap();
    assert_eq!(
        err,
        format!(
            "source path {} does not exist (moved, unmounted or deleted?)",
            fx.path("src").display()
        )
    );
    assert_eq!(r.targets[0].attempts, 1);
    only(&fx, &repo, &plan, &id);
    fx.restic_check(&repo);
}

#[test]
fn an_uninitialised_or_unknown_target_is_named() {
    let fx = Fixture::new();
    small_source(&fx);
    let empty = fx.repo_dir("empty");
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "shop"
allow_single_target = true
[[backup.source]]
kind = "paths"
paths = ["{}"]
[[backup.target]]
id = "new-disk"
repository = "{}"
"#,
        fx.path("src").display(),
        empty.display()
    ));
    let r = run_plan_with(&plan, None, &quick(), progress());
    let err = r.targets[0].error.as_deref().unwrap();
    assert!(
        err.contains("target \"new-disk\": no restic repository at")
            && err.contains("keepup backup init"),
        "{err}"
    );
    let r = run_plan_with(&plan, Some("usb"), &quick(), progress());
    assert_eq!(
        r.error.as_deref(),
        Some("plan \"shop\" has no target \"usb\"")
    );
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_FAILED);
    // init refuses to overwrite an existing repository.
    keepup_backup::init(&plan, "new-disk").unwrap();
    let again = keepup_backup::init(&plan, "new-disk").unwrap_err();
    assert!(
        again.to_string().contains("there already is a repository"),
        "{again}"
    );
}

/// Runs the plan in `KEEPUP_TEST_SIGKILL_CONFIG` when started by
/// [`a_backup_killed_with_sigkill_is_followed_by_a_good_run`]; does
/// nothing otherwise.
#[test]
fn child_backup_for_sigkill() {
    let Ok(config) = std::env::var("KEEPUP_TEST_SIGKILL_CONFIG") else {
        return;
    };
    let config = keepup_config::load(Path::new(&config)).unwrap();
    let plan = &config.backups[0];
    let _ = run_plan_with(plan, None, &quick(), progress());
    // Not killed in time: the parent notices by the exit status.
}

#[test]
fn a_backup_killed_with_sigkill_is_followed_by_a_good_run() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let plan = plan_with(&fx, &repo, "");
    let id = first_snapshot(&plan);
    // A big tree for the run that gets killed.
    let big = fx.path("src/big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..24 {
        urandom_file(&big.join(format!("blob-{i}")), 5 << 20);
    }
    let packs_before = pack_files(&repo).len();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_backup_for_sigkill",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KEEPUP_TEST_SIGKILL_CONFIG", fx.path("keepup.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has written data, i.e. in the middle of the backup.
    let deadline = Instant::now() + Duration::from_secs(120);
    while pack_files(&repo).len() < packs_before + 1 && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "the backup was killed midway: {status:?}"
    );
    assert!(
        pack_files(&repo).len() > packs_before,
        "it had written data"
    );

    // The interrupted run left no snapshot; the repository is sound.
    only(&fx, &repo, &plan, &id);
    fx.restic_check(&repo);
    // A new run succeeds and keeps the earlier snapshot.
    let r = run_plan_with(&plan, None, &quick(), progress());
    assert!(r.ok(), "{r:#?}");
    let ids: Vec<String> = list(&plan, "local")
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], id);
    fx.restic_check(&repo);
    let out = fx.path("restored");
    fx.restic_ok(
        &repo,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        digest(&out.join(big.strip_prefix("/").unwrap())),
        digest(&big)
    );
}

#[test]
fn a_full_disk_is_a_clear_error_and_loses_nothing() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.path("repo");
    let _disk = Tmpfs::mount(&repo, "8m");
    let plan = plan_with(&fx, &repo, "");
    let id = first_snapshot(&plan);
    // 30 MB of incompressible data do not fit.
    let big = fx.path("src/big");
    std::fs::create_dir_all(&big).unwrap();
    for i in 0..6 {
        urandom_file(&big.join(format!("blob-{i}")), 5 << 20);
    }
    let r = run_plan_with(&plan, None, &quick(), progress());
    let t = &r.targets[0];
    assert!(t.snapshot.is_none(), "{t:?}");
    let err = t.error.as_deref().unwrap();
    eprintln!("full disk: {err}");
    assert!(
        err.contains("No space left on device") || err.contains("os error 28"),
        "{err}"
    );
    assert_eq!(r.outcome().status, Status::Down);

    // Nothing lost; restic (without a lock: the disk is full) agrees.
    let listed = list(&plan, "local").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    fx.restic_ok(&repo, &["check", "--no-lock", "--read-data"]);
    let out = fx.path("restored");
    fx.restic_ok(
        &repo,
        &[
            "restore",
            "latest",
            "--no-lock",
            "--target",
            out.to_str().unwrap(),
        ],
    );
}

/// A file bind-mounted from `/proc/1/mem`: listed as a regular file, but
/// opening it is refused even to root.
struct UnreadableFile(PathBuf);

impl UnreadableFile {
    fn at(path: &Path) -> Self {
        std::fs::write(path, b"").unwrap();
        let st = std::process::Command::new("mount")
            .args(["--bind", "/proc/1/mem"])
            .arg(path)
            .status()
            .unwrap();
        assert!(st.success(), "bind mount (tests run as root)");
        Self(path.to_owned())
    }
}

impl Drop for UnreadableFile {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_unreadable_file_makes_the_snapshot_incomplete_not_silently_good() {
    let fx = Fixture::new();
    small_source(&fx);
    let repo = fx.repo_dir("repo");
    let plan = plan_with(&fx, &repo, "");
    let victim = fx.path("src/customers.csv");
    let _mount = UnreadableFile::at(&victim);
    let r = run_plan_with(&plan, None, &quick(), progress());
    let t = &r.targets[0];
    assert!(
        t.error.is_none() && t.snapshot.is_some(),
        "the rest is backed up: {t:?}"
    );
    assert_eq!(t.skipped.len(), 1, "{t:?}");
    assert!(t.skipped[0].contains(victim.to_str().unwrap()), "{t:?}");
    let o = r.outcome();
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    let f = o
        .findings
        .iter()
        .find(|f| f.code == codes::BACKUP_SOURCE_INCOMPLETE)
        .unwrap();
    assert!(
        f.text
            .contains("could not read 1 entry, missing from the snapshot"),
        "{f:?}"
    );
    fx.restic_check(&repo);
}
