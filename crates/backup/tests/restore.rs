//! Whole-snapshot restores by keepup's own restorer (contents) and
//! rustic_core (metadata), checked against the source on everything a
//! restored shop needs: contents of small, empty, shared and multi-blob
//! files, directories, symbolic and hard links, permissions and times; a
//! destination with a planted link; the streamed restore test on a damaged
//! repository.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use keepup_backup::{RestoreTo, SnapshotRef, restore, restore_test_files, run_plan_with};
use keepup_model::Status;
use keepup_model::codes;
use support::*;

fn plan(fx: &Fixture, src: &Path) -> keepup_config::BackupPlan {
    let repo = fx.repo_dir("repo");
    let plan = fx.plan(&format!(
        r#"[[backup]]
id = "files"
[[backup.source]]
kind = "paths"
paths = ["{src}"]
[[backup.target]]
id = "local"
repository = "{repo}"
"#,
        src = src.display(),
        repo = repo.display(),
    ));
    keepup_backup::init(&plan, "local").expect("init");
    plan
}

/// The plan's latest snapshot on its one target, restored under `dir`.
fn restore_latest(
    plan: &keepup_config::BackupPlan,
    dir: &Path,
) -> Result<keepup_backup::RestoreReport, keepup_backup::BackupError> {
    restore(
        plan,
        "local",
        &SnapshotRef::Latest,
        RestoreTo::Dir(dir.to_path_buf()),
        progress(),
    )
}

/// A tree with what a shop's files hold, and metadata worth keeping.
fn shop_tree(fx: &Fixture) -> std::path::PathBuf {
    let src = fx.path("src");
    generate_tree(&src, 11, 200, 200_000);
    // Several blobs (the chunker cuts at 512 KiB..8 MiB) and a copy of it:
    // shared blobs are read once and written twice.
    urandom_file(&src.join("media.bin"), 12 << 20);
    std::fs::copy(src.join("media.bin"), src.join("media-copy.bin")).unwrap();
    std::fs::write(src.join("empty"), b"").unwrap();
    std::fs::create_dir_all(src.join("var/empty-dir")).unwrap();
    std::fs::write(src.join("var/secret.php"), b"<?php $key = 1;").unwrap();
    std::fs::set_permissions(
        src.join("var/secret.php"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(src.join("bin-run.sh"), b"#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(
        src.join("bin-run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::hard_link(src.join("bin-run.sh"), src.join("var/run-link.sh")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", src.join("dangling")).unwrap();
    // Times in the past, so that "now" cannot pass for them.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for f in ["empty", "var/secret.php", "media.bin"] {
        std::fs::File::options()
            .write(true)
            .open(src.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    src
}

/// Relative path → (mode, mtime in seconds; for files also length and
/// link count), besides the content digest.
fn metadata(root: &Path) -> BTreeMap<String, String> {
    digest(root)
        .into_keys()
        .map(|rel| {
            let m = std::fs::symlink_metadata(root.join(&rel)).unwrap();
            let times = if m.file_type().is_symlink() {
                String::new()
            } else {
                format!(" mtime={}", m.mtime())
            };
            let kind = if m.is_file() {
                format!(" len={} links={}", m.len(), m.nlink())
            } else {
                String::new()
            };
            (rel, format!("mode={:o}{times}{kind}", m.mode() & 0o7777))
        })
        .collect()
}

#[test]
fn a_restore_brings_back_contents_links_modes_and_times() {
    let fx = Fixture::new();
    let src = shop_tree(&fx);
    let plan = plan(&fx, &src);
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let want_content = digest(&src);
    let want_meta = metadata(&src);

    let out = fx.path("restored");
    let r = restore_latest(&plan, &out).expect("restore");
    assert!(r.files > 200, "{r:?}");
    let restored = out.join(src.strip_prefix("/").unwrap());
    assert_eq!(digest(&restored), want_content);
    assert_eq!(metadata(&restored), want_meta);
    let a = std::fs::metadata(restored.join("bin-run.sh")).unwrap();
    let b = std::fs::metadata(restored.join("var/run-link.sh")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard links stay one file");

    // Restoring again over the first restore changes nothing.
    restore_latest(&plan, &out).expect("restore over a restore");
    assert_eq!(digest(&restored), want_content);
    assert_eq!(metadata(&restored), want_meta);
}

/// A link planted where a restored file or directory goes (a compromised
/// server, an old restore) is replaced, never written through.
#[test]
fn a_restore_replaces_a_planted_link_instead_of_writing_through_it() {
    let fx = Fixture::new();
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("config.php"), b"restored content").unwrap();
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/app.ini"), b"[app]").unwrap();
    let plan = plan(&fx, &src);
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());

    let outside = fx.path("outside.txt");
    std::fs::write(&outside, b"must stay").unwrap();
    let outside_dir = fx.path("outside-dir");
    std::fs::create_dir_all(&outside_dir).unwrap();
    let out = fx.path("restored");
    let restored = out.join(src.strip_prefix("/").unwrap());
    std::fs::create_dir_all(&restored).unwrap();
    std::os::unix::fs::symlink(&outside, restored.join("config.php")).unwrap();
    // A link in place of a directory on the way to a file, too.
    std::os::unix::fs::symlink(&outside_dir, restored.join("etc")).unwrap();

    restore_latest(&plan, &out).expect("restore");
    assert_eq!(std::fs::read(&outside).unwrap(), b"must stay");
    let m = std::fs::symlink_metadata(restored.join("config.php")).unwrap();
    assert!(m.is_file(), "{m:?}");
    assert_eq!(
        std::fs::read(restored.join("config.php")).unwrap(),
        b"restored content"
    );
    assert_eq!(std::fs::read_dir(&outside_dir).unwrap().count(), 0);
    assert!(
        std::fs::symlink_metadata(restored.join("etc"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        std::fs::read(restored.join("etc/app.ini")).unwrap(),
        b"[app]"
    );
}

/// The restore test streams from the repository: a damaged pack is a
/// failed restore test naming the file, and the whole restore refuses with
/// the advice to use another target.
#[test]
fn a_damaged_pack_fails_the_restore_test_and_the_restore() {
    let fx = Fixture::new();
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    urandom_file(&src.join("big.bin"), 3 << 20);
    let plan = plan(&fx, &src);
    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    let clean = restore_test_files(&plan, "local", 10).unwrap();
    assert_eq!(clean.files_checked, 1, "{clean:?}");
    assert_eq!(clean.compared_with_source, 1, "{clean:?}");
    assert_eq!(clean.outcome().status, Status::Up);

    keepup_testkit::restic::damage_largest_pack(&fx.path("repo")).unwrap();

    let r = restore_test_files(&plan, "local", 10).unwrap();
    assert_eq!(r.files_checked, 0, "{r:?}");
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert!(
        r.errors[0].contains("big.bin") && r.errors[0].contains("authentication code"),
        "{r:?}"
    );
    let o = r.outcome();
    assert_eq!(o.status, Status::Down);
    assert_eq!(o.findings[0].code, codes::BACKUP_RESTORE_FAILED);

    let err = restore_latest(&plan, &fx.path("restored"))
        .expect_err("a damaged pack does not restore")
        .to_string();
    assert!(
        err.contains("\"local\"") && err.contains("restore from another one"),
        "{err}"
    );
}

/// A new repository has one key, of restic's scrypt cost (64 MiB rather
/// than rustic_core's 128 MiB, which every restore paid before reading a
/// byte), that restic and keepup open with the password and nothing else.
#[test]
fn a_new_repository_has_one_key_of_restics_cost_that_both_open() {
    let fx = Fixture::new();
    let src = fx.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"a").unwrap();
    let plan = plan(&fx, &src);
    let keys: Vec<_> = std::fs::read_dir(fx.path("repo/keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys[0]).unwrap()).unwrap();
    assert_eq!(key["kdf"], "scrypt");
    assert_eq!(key["N"], 65536, "{key}");
    assert_eq!(key["r"], 8, "{key}");
    assert_eq!(key["p"], 1, "{key}");
    // The file's name is its SHA-256, as restic requires.
    assert_eq!(
        keys[0].file_name().unwrap().to_str().unwrap(),
        sha256_file(&keys[0])
    );

    assert!(run_plan_with(&plan, None, &quick(), progress()).ok());
    assert_eq!(fx.restic_snapshots(&fx.path("repo")).len(), 1);
    fx.restic_check(&fx.path("repo"));
    let wrong = fx.path("wrong.pass");
    std::fs::write(&wrong, "not the password\n").unwrap();
    let out = restic(&fx.path("repo"), &wrong, &["snapshots"]);
    assert!(!out.status.success(), "restic refuses a wrong password");
}
