//! The plan engine on local repositories, checked with the standalone
//! Debian `restic`: backups of generated trees with excludes and of
//! command output, two targets, a failing target, retention, corruption
//! found by the check, a lost primary restored from the off-site copy,
//! restore tests and freshness.

mod support;

use std::path::Path;
use std::time::Duration;

use keepup_backup::{
    RestoreTo, RunOptions, SnapshotRef, freshness, list, restore, restore_test_files, run_plan_with,
};
use keepup_config::backup::ReadData;
use keepup_model::Status;
use keepup_model::codes;
use support::*;

/// A plan with a `paths` source over `src` and two targets `a` and
/// `b` (off-site), both initialised.
fn two_target_plan(fx: &Fixture, extra_sources: &str, extra: &str) -> keepup_config::BackupPlan {
    let src = fx.path("src");
    let a = fx.repo_dir("repo-a");
    let b = fx.repo_dir("repo-b");
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "files"
tags = ["shop", "files"]
hostname = "shop-prod"
{extra}
[[backup.source]]
kind = "paths"
paths = ["{src}"]
exclude = ["*.tmp", "{src}/cache"]
{extra_sources}
[[backup.target]]
id = "a"
repository = "{a}"

[[backup.target]]
id = "b"
repository = "{b}"
offsite = true
"#,
        src = src.display(),
        a = a.display(),
        b = b.display(),
    ));
    for t in ["a", "b"] {
        keepup_backup::init(&plan, t).expect("init");
    }
    plan
}

fn source_tree(fx: &Fixture) -> std::path::PathBuf {
    let src = fx.path("src");
    generate_tree(&src, 7, 120, 300_000);
    // Excluded: by name anywhere, and an anchored directory.
    std::fs::write(src.join("session.tmp"), b"excluded").unwrap();
    std::fs::create_dir_all(src.join("dir0-1")).unwrap();
    std::fs::write(src.join("dir0-1/upload.tmp"), b"excluded").unwrap();
    std::fs::create_dir_all(src.join("cache/img")).unwrap();
    std::fs::write(src.join("cache/img/thumb.jpg"), b"excluded").unwrap();
    src
}

/// The source as it should come back: without the excluded entries.
fn expected(src: &Path) -> std::collections::BTreeMap<String, String> {
    let mut d = digest(src);
    d.retain(|k, _| !k.ends_with(".tmp") && !k.starts_with("cache"));
    d
}

#[test]
fn a_tree_with_excludes_is_listed_checked_and_restored_by_restic() {
    let fx = Fixture::new();
    let src = source_tree(&fx);
    let plan = two_target_plan(&fx, "", "");
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.targets.len(), 2);
    let outcome = report.outcome();
    assert_eq!(outcome.status, Status::Up, "{outcome:?}");
    assert_eq!(outcome.message, "backup files stored on 2 of 2 targets");

    for (t, repo) in [("a", fx.path("repo-a")), ("b", fx.path("repo-b"))] {
        let tr = report.targets.iter().find(|r| r.target == t).unwrap();
        let id = tr.snapshot.clone().expect("a snapshot id");
        assert!(tr.files_total > 100 && tr.bytes_total > 1_000_000, "{tr:?}");

        let snaps = fx.restic_snapshots(&repo);
        assert_eq!(snaps.len(), 1, "one snapshot per target per run");
        let s = &snaps[0];
        assert_eq!(s["id"], id.as_str());
        assert_eq!(s["hostname"], "shop-prod");
        let tags: Vec<&str> = s["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        for want in ["keepup:files", "shop", "files"] {
            assert!(tags.contains(&want), "{tags:?}");
        }
        assert_eq!(s["paths"][0], src.to_str().unwrap());

        fx.restic_check(&repo);
        let out = fx.path(&format!("restored-{t}"));
        fx.restic_ok(
            &repo,
            &["restore", "latest", "--target", out.to_str().unwrap()],
        );
        let restored = out.join(src.strip_prefix("/").unwrap());
        assert_eq!(
            digest(&restored),
            expected(&src),
            "restic restore equals the source"
        );
    }

    // Our own listing agrees.
    let listed = list(&plan, "a").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(Some(listed[0].id.clone()), report.targets[0].snapshot);

    // An unchanged tree: the second run finds everything in its parent.
    let again = run_plan_with(&plan, None, &quick(), progress());
    assert!(again.ok(), "{again:#?}");
    for tr in &again.targets {
        assert_eq!((tr.files_new, tr.files_changed), (0, 0), "{tr:?}");
        assert_eq!(tr.bytes_added, 0, "{tr:?}");
    }
    assert_eq!(list(&plan, "b").unwrap().len(), 2);
}

#[test]
fn a_command_output_is_one_file_restored_byte_identical() {
    let fx = Fixture::new();
    let a = fx.repo_dir("repo");
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "shop-db"
allow_single_target = true
[[backup.source]]
kind = "command"
command = ["sh", "-c", "seq 1 100000"]
filename = "numbers.txt"
[[backup.target]]
id = "local"
repository = "{}"
"#,
        a.display()
    ));
    keepup_backup::init(&plan, "local").unwrap();
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(report.ok(), "{report:#?}");
    let tr = &report.targets[0];
    let expected: String = (1..=100_000).map(|n| format!("{n}\n")).collect();
    assert_eq!(tr.bytes_total, expected.len() as u64);
    assert_eq!(tr.files_total, 1);

    // restic sees one file of the right size and restores it exactly.
    fx.restic_check(&a);
    let ls = fx.restic_ok(&a, &["ls", "--long", "latest"]);
    assert!(ls.contains("/shop-db/numbers.txt"), "{ls}");
    assert!(
        ls.contains(&expected.len().to_string()),
        "the size is recorded: {ls}"
    );
    let dumped = fx.restic_ok(&a, &["dump", "latest", "/shop-db/numbers.txt"]);
    assert_eq!(dumped, expected);
    let out = fx.path("restored");
    fx.restic_ok(
        &a,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(out.join("shop-db/numbers.txt")).unwrap(),
        expected,
        "restic restore gives the command's output back"
    );

    // And keepup: one file to a writer, and the whole snapshot to a dir.
    let mut buf = Vec::new();
    let r = restore(
        &plan,
        "local",
        &SnapshotRef::Latest,
        RestoreTo::File {
            path: "/shop-db/numbers.txt".into(),
            writer: &mut buf,
        },
        progress(),
    )
    .unwrap();
    assert_eq!(r.bytes, expected.len() as u64);
    assert_eq!(buf, expected.as_bytes());
    let dir = fx.path("ours");
    restore(
        &plan,
        "local",
        &SnapshotRef::Latest,
        RestoreTo::Dir(dir.clone()),
        progress(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("shop-db/numbers.txt")).unwrap(),
        expected
    );

    // A second run stores the command output again (never "unchanged").
    let again = run_plan_with(&plan, None, &quick(), progress());
    assert!(again.ok(), "{again:#?}");
    assert_eq!(again.targets[0].files_total, 1);
    assert_eq!(fx.restic_snapshots(&a).len(), 2);
    fx.restic_check(&a);
}

#[test]
fn paths_and_commands_share_one_snapshot() {
    let fx = Fixture::new();
    let src = source_tree(&fx);
    let plan = two_target_plan(
        &fx,
        r#"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "printf 'redis dump\n'; head -c 3000000 /dev/zero"]
filename = "redis.rdb"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "echo config"]
filename = "app.conf"
"#,
        "",
    );
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(report.ok(), "{report:#?}");
    let repo = fx.path("repo-a");
    fx.restic_check(&repo);
    let snaps = fx.restic_snapshots(&repo);
    assert_eq!(snaps.len(), 1);
    let out = fx.path("restored");
    fx.restic_ok(
        &repo,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        digest(&out.join(src.strip_prefix("/").unwrap())),
        expected(&src)
    );
    let rdb = std::fs::read(out.join("files/redis.rdb")).unwrap();
    assert_eq!(rdb.len(), 11 + 3_000_000);
    assert!(rdb.starts_with(b"redis dump\n"));
    assert_eq!(
        std::fs::read(out.join("files/app.conf")).unwrap(),
        b"config\n"
    );
}

#[test]
fn a_missing_or_read_only_target_does_not_block_the_others() {
    let fx = Fixture::new();
    source_tree(&fx);
    let plan = two_target_plan(&fx, "", "");
    // The primary disk is "unmounted": its directory is gone.
    std::fs::remove_dir_all(fx.path("repo-a")).unwrap();
    let report = run_plan_with(&plan, None, &quick(), progress());
    assert!(!report.ok());
    let a = report.targets.iter().find(|t| t.target == "a").unwrap();
    let b = report.targets.iter().find(|t| t.target == "b").unwrap();
    let err = a.error.as_deref().unwrap();
    assert!(
        err.contains("target \"a\"") && err.contains("does not exist"),
        "{err}"
    );
    assert!(err.contains("is the disk mounted?"), "{err}");
    // Reported at once: a disk does not come back within the retry pauses.
    assert_eq!(a.attempts, 1, "a missing disk is not retried");
    assert!(b.error.is_none() && b.snapshot.is_some(), "{b:?}");
    let o = report.outcome();
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(o.message, "backup files stored on 1 of 2 targets");
    assert!(
        o.findings
            .iter()
            .any(|f| f.code == codes::BACKUP_TARGET_FAILED && f.text.contains("target a:")),
        "{o:?}"
    );
    fx.restic_check(&fx.path("repo-b"));

    // A read-only target (a read-only bind mount of the repository).
    let b_dir = fx.path("repo-b");
    let before = fx.restic_snapshots(&b_dir).len();
    let ro = ReadOnlyMount::new(&b_dir);
    let report = run_plan_with(&plan, Some("b"), &quick(), progress());
    let b = &report.targets[0];
    let err = b.error.as_deref().expect("a read-only target fails");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(report.outcome().status, Status::Down);
    drop(ro);
    assert_eq!(fx.restic_snapshots(&b_dir).len(), before, "nothing lost");
    fx.restic_check(&b_dir);
}

/// `path` remounted read-only in place, until dropped.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(path: &Path) -> Self {
        let run = |args: &[&str]| {
            let st = std::process::Command::new("mount")
                .args(args)
                .status()
                .unwrap();
            assert!(st.success(), "mount {args:?} (tests run as root)");
        };
        let p = path.to_str().unwrap();
        run(&["--bind", p, p]);
        run(&["-o", "remount,bind,ro", p]);
        Self(path.to_owned())
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn at(s: &str) -> jiff::Zoned {
    s.parse().unwrap()
}

#[test]
fn retention_keeps_what_the_rules_say() {
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 3, 10, 5_000);
    let plan = two_target_plan(
        &fx,
        "",
        "[backup.retention]\nkeep_last = 2\nkeep_daily = 3\nkeep_weekly = 2\n",
    );
    // Ten days, two runs a day (09:00 and 21:00), the source changing.
    let mut times = Vec::new();
    for day in 1..=10 {
        for hour in [9, 21] {
            times.push(format!(
                "2026-03-{day:02}T{hour:02}:00:00+01:00[Europe/Berlin]"
            ));
        }
    }
    for (i, t) in times.iter().enumerate() {
        std::fs::write(src.join("counter"), i.to_string()).unwrap();
        let opts = RunOptions {
            time: Some(at(t)),
            ..quick()
        };
        let r = run_plan_with(&plan, Some("a"), &opts, progress());
        assert!(r.ok(), "{r:#?}");
    }
    assert_eq!(list(&plan, "a").unwrap().len(), 20);
    let report = keepup_backup::retention::forget_and_prune_at(
        &plan,
        "a",
        &at("2026-03-10T22:00:00+01:00[Europe/Berlin]"),
    )
    .unwrap();
    let kept: Vec<String> = report.kept.iter().map(|s| s.time.clone()).collect();
    // keep_last 2: the 10th at 21:00 and 09:00; keep_daily 3: the last of
    // the 10th, 9th and 8th; keep_weekly 2: the last of this ISO week (the
    // 10th, a Tuesday) and of the week before (the 8th, a Sunday). The 1st
    // (a Sunday too) would be a third week.
    assert_eq!(
        kept,
        [
            "2026-03-08T21:00:00+01:00",
            "2026-03-09T21:00:00+01:00",
            "2026-03-10T09:00:00+01:00",
            "2026-03-10T21:00:00+01:00",
        ]
    );
    assert_eq!(report.removed.len(), 16);
    let repo = fx.path("repo-a");
    assert_eq!(fx.restic_snapshots(&repo).len(), 4);
    fx.restic_check(&repo);
    // The kept snapshots still restore.
    let out = fx.path("restored");
    fx.restic_ok(
        &repo,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(out.join(src.strip_prefix("/").unwrap()).join("counter")).unwrap(),
        "19"
    );
}

#[test]
fn corruption_in_a_pack_is_found_by_the_check_and_is_down() {
    let fx = Fixture::new();
    source_tree(&fx);
    let plan = two_target_plan(&fx, "", "");
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let now = jiff::Zoned::now();
    let clean = keepup_backup::check(&plan, "a", ReadData::All, &now, progress()).unwrap();
    assert!(clean.errors.is_empty(), "{clean:?}");
    assert_eq!(clean.outcome().status, Status::Up);

    // Flip bytes in the middle of the biggest pack.
    keepup_testkit::restic::damage_largest_pack(&fx.path("repo-a")).unwrap();

    let report = keepup_backup::check(&plan, "a", ReadData::All, &now, progress()).unwrap();
    assert!(
        !report.errors.is_empty(),
        "the flipped bytes are found: {report:?}"
    );
    let o = report.outcome();
    assert_eq!(o.status, Status::Down);
    assert!(
        o.findings
            .iter()
            .any(|f| f.code == codes::BACKUP_CHECK_FAILED),
        "{o:?}"
    );
    // restic agrees that the repository is damaged.
    assert!(
        !fx.restic(&fx.path("repo-a"), &["check", "--read-data"])
            .status
            .success()
    );
    // Restoring from the damaged target is a clear error, not a crash.
    let err = restore(
        &plan,
        "a",
        &SnapshotRef::Latest,
        RestoreTo::Dir(fx.path("restored-damaged")),
        progress(),
    )
    .expect_err("a damaged pack cannot restore");
    let text = err.to_string();
    assert!(
        text.contains("\"a\"") && text.contains("restore from another"),
        "{text}"
    );
    // The other target is untouched.
    let other =
        keepup_backup::check(&plan, "b", ReadData::Percent(100.0), &now, progress()).unwrap();
    assert_eq!(other.outcome().status, Status::Up, "{other:?}");
}

#[test]
fn after_losing_the_primary_everything_is_restored_from_the_offsite_copy() {
    let fx = Fixture::new();
    let src = source_tree(&fx);
    let plan = two_target_plan(&fx, "", "");
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let want = expected(&src);

    // The primary is gone, and so is the source.
    std::fs::remove_dir_all(fx.path("repo-a")).unwrap();
    std::fs::remove_dir_all(&src).unwrap();
    let now = jiff::Zoned::now();
    let err = freshness(&plan, "a", &now).unwrap_err();
    let o = keepup_backup::freshness::unavailable_outcome(&plan, "a", &err);
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_UNAVAILABLE);

    let out = fx.path("disaster");
    let r = restore(
        &plan,
        "b",
        &SnapshotRef::Latest,
        RestoreTo::Dir(out.clone()),
        progress(),
    )
    .unwrap();
    assert!(r.files > 100);
    assert_eq!(digest(&out.join(src.strip_prefix("/").unwrap())), want);
    assert_eq!(
        freshness(&plan, "b", &now).unwrap().outcome().status,
        Status::Up
    );
}

#[test]
fn the_restore_test_compares_with_recorded_content_and_the_source() {
    let fx = Fixture::new();
    let src = source_tree(&fx);
    let plan = two_target_plan(
        &fx,
        r#"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "seq 1 5000"]
filename = "dump.sql"
"#,
        "",
    );
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let r = restore_test_files(&plan, "a", 1000).unwrap();
    assert!(r.files_checked > 100, "{r:?}");
    assert!(
        r.compared_with_source > 50,
        "unchanged source files are compared: {r:?}"
    );
    assert!(r.mismatches.is_empty() && r.errors.is_empty(), "{r:?}");
    assert_eq!(r.outcome().status, Status::Up);

    // The source changes behind the backup's back without a trace in size
    // or mtime (bit rot, tampering): the restore test notices.
    let victim = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 100)
        .unwrap();
    let mtime = std::fs::metadata(&victim).unwrap().modified().unwrap();
    let mut data = std::fs::read(&victim).unwrap();
    data[0] ^= 1;
    std::fs::write(&victim, &data).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&victim)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let r = restore_test_files(&plan, "a", 100_000).unwrap();
    assert_eq!(r.mismatches.len(), 1, "{r:?}");
    assert!(r.mismatches[0].contains(victim.to_str().unwrap()), "{r:?}");
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_RESTORE_MISMATCH);
}

#[test]
fn freshness_is_measured_against_the_rpo() {
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 5, 5, 1000);
    let plan = two_target_plan(&fx, "", "rpo = \"2h\"");
    let t0 = at("2026-05-01T10:00:00+00:00[UTC]");
    let none = freshness(&plan, "a", &t0).unwrap();
    let o = none.outcome();
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_NO_SNAPSHOT);

    let opts = RunOptions {
        time: Some(t0.clone()),
        ..quick()
    };
    assert!(run_plan_with(&plan, None, &opts, progress()).ok());
    let f = freshness(&plan, "a", &at("2026-05-01T11:30:00+00:00[UTC]")).unwrap();
    assert_eq!(f.age, Some(Duration::from_secs(5400)));
    let up = f.outcome();
    assert_eq!(up.status, Status::Up, "{up:?}");
    assert_eq!(up.message, "backup files on a is fresh");
    let stale = freshness(&plan, "a", &at("2026-05-01T12:30:00+00:00[UTC]"))
        .unwrap()
        .outcome();
    assert_eq!(stale.status, Status::Down);
    assert_eq!(stale.message, "backup files on a is stale");
    assert_eq!(stale.findings[0].code, codes::BACKUP_STALE);
}

#[test]
fn alternating_plans_write_to_one_target_a_day() {
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 9, 5, 1000);
    let plan = two_target_plan(
        &fx,
        "",
        "alternate_targets = true\ntimezone = \"Europe/Berlin\"",
    );
    // 2026-01-02 is day 20455 since 1970-01-01: odd, the second target.
    for (when, due) in [
        ("2026-01-02T12:00:00+01:00[Europe/Berlin]", "b"),
        ("2026-01-03T12:00:00+01:00[Europe/Berlin]", "a"),
        // Just after midnight in Berlin, still the 3rd in UTC: the plan's
        // time zone decides the day.
        ("2026-01-04T00:30:00+01:00[Europe/Berlin]", "b"),
    ] {
        let opts = RunOptions {
            time: Some(at(when)),
            ..quick()
        };
        let r = run_plan_with(&plan, None, &opts, progress());
        assert!(r.ok(), "{r:#?}");
        assert_eq!(r.targets.len(), 1);
        assert_eq!(r.targets[0].target, due, "{when}");
        assert_eq!(r.not_due.len(), 1);
    }
    assert_eq!(list(&plan, "a").unwrap().len(), 1);
    assert_eq!(list(&plan, "b").unwrap().len(), 2);
    // Each target only gets every other run: its freshness allows for it.
    let f = freshness(&plan, "a", &at("2026-01-04T12:00:00+01:00[Europe/Berlin]")).unwrap();
    assert_eq!(f.limit, plan.rpo * 2);
}

/// Records what a progress display would get.
#[derive(Default)]
struct Recorder {
    begun: std::sync::Mutex<Vec<String>>,
    total: std::sync::atomic::AtomicU64,
    advanced: std::sync::atomic::AtomicU64,
    finished: std::sync::atomic::AtomicU64,
}

impl keepup_backup::Progress for Recorder {
    fn begin(&self, what: &str, _total: Option<u64>) {
        self.begun.lock().unwrap().push(what.to_owned());
    }
    fn set_total(&self, total: u64) {
        self.total.store(total, std::sync::atomic::Ordering::SeqCst);
    }
    fn advance(&self, bytes: u64) {
        self.advanced
            .fetch_add(bytes, std::sync::atomic::Ordering::SeqCst);
    }
    fn finish(&self) {
        self.finished
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn progress_reports_bytes_with_a_total() {
    use std::sync::atomic::Ordering::SeqCst;
    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 21, 40, 200_000);
    let plan = two_target_plan(&fx, "", "");
    let rec = std::sync::Arc::new(Recorder::default());
    let report = run_plan_with(&plan, Some("b"), &quick(), rec.clone());
    assert!(report.ok(), "{report:#?}");
    let bytes = report.targets[0].bytes_total;
    assert!(
        rec.begun
            .lock()
            .unwrap()
            .iter()
            .any(|w| w == "b: backing up"),
        "{:?}",
        rec.begun.lock().unwrap()
    );
    // The estimate also counts symlinks (their target's length).
    let total = rec.total.load(SeqCst);
    assert!(
        (bytes..bytes + 100).contains(&total),
        "the source was measured: {total} vs {bytes}"
    );
    assert_eq!(rec.advanced.load(SeqCst), bytes);
    assert!(rec.finished.load(SeqCst) >= 1);
}

/// `verify_uploads = false` is written into the repositories `init`
/// creates (rustic's `extra_verify`), the default leaves verification on,
/// and restic still reads, checks and restores such a repository.
#[test]
fn verify_uploads_is_stored_in_new_repositories() {
    use rustic_core::{Credentials, Repository, RepositoryBackends, RepositoryOptions};

    fn stored_extra_verify(repo: &Path) -> bool {
        let loc = keepup_backup::backend::Location::parse(repo.to_str().unwrap()).unwrap();
        let be = keepup_backup::backend::open_backend(&loc, &Default::default()).unwrap();
        let repo = Repository::new(
            &RepositoryOptions::default(),
            &RepositoryBackends::new(be, None),
        )
        .unwrap()
        .open(&Credentials::password("test repo password"))
        .unwrap();
        repo.config().extra_verify()
    }

    let fx = Fixture::new();
    let src = fx.path("src");
    generate_tree(&src, 11, 30, 400_000);
    let plan_text = |id: &str, extra: &str| {
        let repo = fx.repo_dir(&format!("repo-{id}"));
        format!(
            "[[backup]]\nid = \"{id}\"\nallow_single_target = true\n{extra}\n\
             [[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n\
             [[backup.target]]\nid = \"local\"\nrepository = \"{}\"\n",
            src.display(),
            repo.display()
        )
    };
    let checked = fx.plan(&plan_text("checked", ""));
    assert!(checked.verify_uploads, "verification is on by default");
    let fast = fx.plan(&plan_text("fast", "verify_uploads = false"));
    assert!(!fast.verify_uploads);
    for plan in [&checked, &fast] {
        keepup_backup::init(plan, "local").unwrap();
        let report = run_plan_with(plan, None, &quick(), progress());
        assert!(report.ok(), "{report:#?}");
    }
    assert!(stored_extra_verify(&fx.path("repo-checked")));
    assert!(!stored_extra_verify(&fx.path("repo-fast")));

    let repo = fx.path("repo-fast");
    fx.restic_check(&repo);
    let out = fx.path("restored-fast");
    fx.restic_ok(
        &repo,
        &["restore", "latest", "--target", out.to_str().unwrap()],
    );
    assert_eq!(
        digest(&out.join(src.strip_prefix("/").unwrap())),
        digest(&src)
    );
}
