//! `keepup backup ...` end to end: the built binary against a generated
//! configuration in a temporary directory, with two targets (a local
//! directory and an SFTP off-site target on a real OpenSSH server on
//! loopback), the Debian `restic` reading what keepup wrote, a disaster
//! (primary target and source gone) restored from the off-site copy,
//! retention, the error paths scripts depend on (exit codes, JSON on
//! failure, quiet), and a PostgreSQL dump restored into a new database.

use keepup_testkit::postgres::Postgres;
use keepup_testkit::restic;
use keepup_testkit::shopdata::ShopSize;
use keepup_testkit::sshd::Sshd;
use keepup_testkit::tree::{Entry, assert_same_tree, make_shop_tree, read_tree};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The environment variable the plans read the repository password from.
const PASSWORD_ENV: &str = "KEEPUP_E2E_REPO_PASSWORD";
/// The repository password (quotes and a space: quoting is exercised).
const PASSWORD: &str = "e2e repo pa'ss \"word\" 7f3c";
/// The environment variable of the database password.
const PG_PASSWORD_ENV: &str = "KEEPUP_E2E_PG_PASSWORD";

/// The content of the command source (stored as `/files/orders.csv`).
const ORDERS_CSV: &str = "id;customer;total\n1;Müller;19.99\n2;O'Brien;5.00\n3;\"quoted\";0\n";

// ---------------------------------------------------------------- helpers

/// A temporary directory with a source tree, a local target directory, an
/// SFTP server for the off-site target and the configuration naming them.
struct Setup {
    dir: tempfile::TempDir,
    sshd: Sshd,
    config: PathBuf,
}

impl Setup {
    /// Plan `files`: a `paths` source (`*.tmp` excluded) and a `command`
    /// source; targets `local` and `offsite` (SFTP); `keep_last = 2`.
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("keepup-backup-cli-")
            .tempdir()
            .expect("temp dir");
        let sshd = Sshd::start().expect("sshd starts (Debian openssh-server)");
        let s = Self {
            config: dir.path().join("keepup.toml"),
            dir,
            sshd,
        };
        make_shop_tree(&s.source()).unwrap();
        std::fs::write(s.path("orders.csv"), ORDERS_CSV).unwrap();
        std::fs::create_dir_all(s.primary()).unwrap();
        let config = format!(
            r#"
[[backup]]
id = "files"
password_env = "{PASSWORD_ENV}"
hostname = "shop-e2e"
tags = ["e2e"]

[[backup.source]]
kind = "paths"
paths = ["{source}"]
exclude = ["*.tmp"]

[[backup.source]]
kind = "command"
command = ["cat", "{orders}"]
filename = "orders.csv"

[[backup.target]]
id = "local"
repository = "{primary}"

[[backup.target]]
id = "offsite"
repository = "{offsite}"
offsite = true
ssh_identity_file = "{identity}"
ssh_known_hosts_file = "{known_hosts}"

[backup.retention]
keep_last = 2
"#,
            source = s.source().display(),
            orders = s.path("orders.csv").display(),
            primary = s.primary().display(),
            offsite = s.sshd.location("files"),
            identity = s.sshd.identity_file().display(),
            known_hosts = s.sshd.known_hosts_file().display(),
        );
        std::fs::write(&s.config, config).unwrap();
        s
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The backed-up tree.
    fn source(&self) -> PathBuf {
        self.path("shop")
    }

    /// The local target's repository.
    fn primary(&self) -> PathBuf {
        self.path("primary")
    }

    /// The off-site repository's directory on the SFTP server.
    fn offsite_dir(&self) -> PathBuf {
        self.sshd.storage_dir().join("files")
    }

    /// `keepup backup ARGS -c CONFIG` with the repository password in the
    /// environment.
    fn keepup(&self, args: &[&str]) -> Output {
        self.keepup_with(args, PASSWORD)
    }

    fn keepup_with(&self, args: &[&str], password: &str) -> Output {
        keepup()
            .arg("backup")
            .args(args)
            .arg("-c")
            .arg(&self.config)
            .env(PASSWORD_ENV, password)
            .output()
            .expect("keepup runs")
    }

    /// Like [`Setup::keepup`]; it must exit 0.
    fn keepup_ok(&self, args: &[&str]) -> Output {
        let o = self.keepup(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "keepup backup {args:?}\nstdout: {}\nstderr: {}",
            stdout(&o),
            stderr(&o)
        );
        o
    }

    /// The Debian `restic` on the local repository.
    fn restic_local(&self, args: &[&str]) -> String {
        restic(
            &self.primary().display().to_string(),
            &[],
            args,
            self.dir.path(),
        )
    }

    /// The Debian `restic` on the off-site repository, through the same
    /// sshd, identity and known_hosts.
    fn restic_offsite(&self, args: &[&str]) -> String {
        let repo = format!(
            "sftp:{}@127.0.0.1:{}",
            self.sshd.user(),
            self.offsite_dir().display()
        );
        let extra = [
            "-o".to_owned(),
            format!("sftp.command={}", self.sshd.sftp_command()),
        ];
        restic(&repo, &extra, args, self.dir.path())
    }

    /// `keepup backup init` then `run`: one snapshot per target; the run's
    /// JSON report.
    fn init_and_run(&self) -> serde_json::Value {
        let o = self.keepup_ok(&["init", "files"]);
        let out = stdout(&o);
        assert!(
            out.contains("ok   local        repository created"),
            "{out}"
        );
        assert!(
            out.contains("ok   offsite      repository created"),
            "{out}"
        );
        self.run_json()
    }

    /// `keepup backup run files --json`, which must succeed on both
    /// targets.
    fn run_json(&self) -> serde_json::Value {
        let o = self.keepup_ok(&["run", "files", "--json"]);
        let report: serde_json::Value =
            serde_json::from_slice(&o.stdout).expect("run --json is JSON");
        assert_eq!(report["plan"], "files");
        assert!(report["error"].is_null(), "{report}");
        let targets = report["targets"].as_array().unwrap();
        assert_eq!(targets.len(), 2, "{report}");
        assert_eq!(targets[0]["target"], "local");
        assert_eq!(targets[0]["offsite"], false);
        assert_eq!(targets[1]["target"], "offsite");
        assert_eq!(targets[1]["offsite"], true);
        for t in targets {
            assert!(t["error"].is_null(), "{t}");
            assert_eq!(t["snapshot"].as_str().unwrap().len(), 64, "{t}");
        }
        report
    }
}

fn keepup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG")
        .env_remove("KEEPUP_LOG")
        .env_remove("RUST_LOG")
        .env_remove("RESTIC_PASSWORD")
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("PGPASSWORD");
    c
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the Debian `restic` on `repo` with the repository password from a
/// file; `extra` are global options. Panics with its output if it fails.
fn restic(repo: &str, extra: &[String], args: &[&str], work: &Path) -> String {
    let pw = work.join("restic-password");
    std::fs::write(&pw, PASSWORD).unwrap();
    restic::run(restic::command(repo, &pw).args(extra).args(args)).unwrap_or_else(|e| panic!("{e}"))
}

/// The ids of `restic snapshots --json` output, sorted.
fn restic_ids(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("restic snapshots --json");
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The source tree as a restore must give it back: everything but the
/// excluded `*.tmp`.
fn expected_tree(source: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut t = read_tree(source).unwrap();
    assert!(t.remove(Path::new("upload.tmp")).is_some());
    t
}

/// The tree restored under `dir`.
fn restored_tree(dir: &Path, source: &Path) -> BTreeMap<PathBuf, Entry> {
    read_tree(&restored_source(dir, source)).unwrap()
}

/// Where a whole-snapshot restore under `dir` puts the source tree.
fn restored_source(dir: &Path, source: &Path) -> PathBuf {
    dir.join(source.strip_prefix("/").unwrap())
}

// ------------------------------------------------------------------ tests

/// init, run, list, check, restore through keepup, on a local and an SFTP
/// target; the Debian `restic` lists, checks and restores both.
#[test]
fn two_targets_back_up_list_check_and_restic_restores_them() {
    let s = Setup::new();
    let report = s.init_and_run();
    let snap_ids: Vec<String> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["snapshot"].as_str().unwrap().to_owned())
        .collect();
    // The first run stores every file as new.
    let local = &report["targets"][0];
    assert_eq!(local["files_new"], local["files_total"], "{local}");
    // 15 products, README, empty, the csv, the big file, the symlink and
    // orders.csv: the excluded .tmp is not among them.
    assert_eq!(local["files_total"], 21, "{local}");

    // list --json: both targets, one snapshot each, the ids of the run.
    let o = s.keepup_ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("list --json");
    let entries = list.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list}");
    for (entry, (target, id)) in entries
        .iter()
        .zip(["local", "offsite"].iter().zip(&snap_ids))
    {
        assert_eq!(entry["plan"], "files");
        assert_eq!(entry["target"], *target);
        let snaps = entry["snapshots"].as_array().unwrap();
        assert_eq!(snaps.len(), 1, "{entry}");
        assert_eq!(snaps[0]["id"], id.as_str());
        assert_eq!(snaps[0]["hostname"], "shop-e2e");
        let tags: Vec<&str> = snaps[0]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            tags.contains(&"keepup:files") && tags.contains(&"e2e"),
            "{tags:?}"
        );
    }
    // The human listing names both.
    let o = s.keepup_ok(&["list", "files"]);
    let out = stdout(&o);
    assert!(out.contains("files on local (1 snapshots)"), "{out}");
    assert!(out.contains("files on offsite (1 snapshots)"), "{out}");

    // check --read-data all: every pack of both repositories read.
    let o = s.keepup_ok(&["check", "files", "--read-data", "all"]);
    let out = stdout(&o);
    assert!(out.contains("ok   files on local: no errors"), "{out}");
    assert!(out.contains("ok   files on offsite: no errors"), "{out}");
    let o = s.keepup_ok(&["check", "--read-data", "all", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&o.stdout).expect("check --json");
    assert_eq!(checks.as_array().unwrap().len(), 2, "{checks}");
    for c in checks.as_array().unwrap() {
        assert_eq!(c["errors"].as_array().unwrap().len(), 0, "{c}");
    }

    // The Debian restic sees the same snapshots, checks every byte and
    // restores identical files from both repositories.
    let expected = expected_tree(&s.source());
    for (which, id) in ["local", "offsite"].iter().zip(&snap_ids) {
        let restic_on = |args: &[&str]| match *which {
            "local" => s.restic_local(args),
            _ => s.restic_offsite(args),
        };
        assert_eq!(
            restic_ids(&restic_on(&["snapshots", "--json"])),
            vec![id.clone()]
        );
        let check = restic_on(&["check", "--read-data"]);
        assert!(check.contains("no errors were found"), "{check}");
        let dest = s.path(&format!("restic-restore-{which}"));
        restic_on(&["restore", "latest", "--target", dest.to_str().unwrap()]);
        assert_same_tree(&expected, &restored_tree(&dest, &s.source()));
        assert_eq!(
            std::fs::read_to_string(dest.join("files/orders.csv")).unwrap(),
            ORDERS_CSV
        );
    }

    // keepup restore --to DIR: the source, and the command's output.
    let dest = s.path("restored");
    let o = s.keepup_ok(&["restore", "files", "--to", dest.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("from local"), "the first target: {err}");
    assert_same_tree(&expected, &restored_tree(&dest, &s.source()));
    assert_eq!(
        std::fs::read_to_string(dest.join("files/orders.csv")).unwrap(),
        ORDERS_CSV
    );
    // Nothing else at the top: the source's path and the plan's directory.
    let mut top: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    let first = s
        .source()
        .components()
        .nth(1)
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    let mut want = vec![first, "files".to_owned()];
    want.sort();
    assert_eq!(top, want);

    // restore --file: the command source's bytes on stdout, nothing else.
    let o = s.keepup_ok(&["restore", "files", "--file", "/files/orders.csv"]);
    assert_eq!(o.stdout, ORDERS_CSV.as_bytes());
    // A file of the paths source, by its absolute path, from the off-site
    // target and a snapshot named by its short id.
    let short = &snap_ids[1][..8];
    let file = s.source().join("media/2024/catalogue.bin");
    let o = s.keepup_ok(&[
        "restore",
        "files",
        "--target",
        "offsite",
        "--snapshot",
        short,
        "--file",
        file.to_str().unwrap(),
    ]);
    assert!(
        o.stdout == std::fs::read(&file).unwrap(),
        "catalogue.bin differs"
    );
    // A file the snapshot does not have: exit 1, said so.
    let o = s.keepup(&["restore", "files", "--file", "/files/nope.csv"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("/files/nope.csv"), "{}", stderr(&o));

    // The password was never printed.
    for out in [stdout(&o), stderr(&o)] {
        assert!(!out.contains(PASSWORD));
    }
}

/// The primary target and the source are lost: the off-site copy gives
/// everything back, asked for by name or found by `restore` on its own.
#[test]
fn disaster_the_offsite_copy_restores_everything() {
    let s = Setup::new();
    s.init_and_run();
    let expected = expected_tree(&s.source());
    std::fs::remove_dir_all(s.primary()).unwrap();
    std::fs::remove_dir_all(s.source()).unwrap();
    std::fs::remove_file(s.path("orders.csv")).unwrap();

    // The primary is gone: listing it fails, the off-site one answers.
    let o = s.keepup(&["list", "files", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on failure");
    assert!(
        list[0]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{list}"
    );
    assert_eq!(list[1]["snapshots"].as_array().unwrap().len(), 1, "{list}");

    let dest = s.path("from-offsite");
    let o = s.keepup_ok(&[
        "restore",
        "files",
        "--target",
        "offsite",
        "--to",
        dest.to_str().unwrap(),
    ]);
    assert!(stderr(&o).contains("from offsite"), "{}", stderr(&o));
    assert_same_tree(&expected, &restored_tree(&dest, &s.source()));
    assert_eq!(
        std::fs::read_to_string(dest.join("files/orders.csv")).unwrap(),
        ORDERS_CSV
    );

    // Without --target: the local target fails, the off-site one is used.
    let dest = s.path("fallthrough");
    let o = s.keepup_ok(&["restore", "files", "--to", dest.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("keepup: restore from local failed:"), "{err}");
    assert!(err.contains("from offsite"), "{err}");
    assert_same_tree(&expected, &restored_tree(&dest, &s.source()));
}

/// A damaged pack in the local repository: the restore from it fails with
/// one clear line (rustic's worker panic is caught, not dumped), and the
/// restore goes on from the off-site copy.
#[test]
fn a_damaged_pack_fails_over_to_the_offsite_copy_without_a_crash() {
    let s = Setup::new();
    s.init_and_run();
    let expected = expected_tree(&s.source());
    // The restore test on demand passes on both targets (local and SFTP).
    let o = s.keepup_ok(&["test", "files", "--sample", "1000", "--json"]);
    let tests: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for t in tests.as_array().unwrap() {
        assert!(t["files"]["files_checked"].as_u64().unwrap() >= 5, "{t}");
        assert!(
            t["files"]["compared_with_source"].as_u64().unwrap() >= 5,
            "{t}"
        );
        assert_eq!(t["files"]["mismatches"].as_array().unwrap().len(), 0, "{t}");
    }
    restic::damage_largest_pack(&s.primary()).unwrap();

    // Now the restore test fails on the local target only, naming a file.
    let o = s.keepup(&["test", "files", "--sample", "1000"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(
        err.contains("FAIL backup files on local: restore test failed"),
        "{err}"
    );
    assert!(err.contains("authentication code"), "{err}");
    assert!(
        out.contains("ok   backup files on offsite: restore test passed"),
        "{out}"
    );

    let dest = s.path("after-damage");
    let o = s.keepup_ok(&["restore", "files", "--to", dest.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(err.contains("keepup: restore from local failed:"), "{err}");
    assert!(err.contains("restore from another"), "{err}");
    assert!(err.contains("from offsite"), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE") && err.len() < 4000,
        "no panic dump: {err}"
    );
    assert_same_tree(&expected, &restored_tree(&dest, &s.source()));
}

/// `forget` applies `keep_last = 2` after four runs, on both targets, and
/// restic sees the same two snapshots.
#[test]
fn forget_keeps_the_last_two_and_restic_agrees() {
    let s = Setup::new();
    let mut runs = vec![s.init_and_run()];
    for i in 1..4 {
        std::fs::write(
            s.source().join(format!("new-{i}.txt")),
            format!("run {i}\n"),
        )
        .unwrap();
        runs.push(s.run_json());
    }
    let ids = |target: usize, from: usize| -> Vec<String> {
        let mut v: Vec<String> = runs[from..]
            .iter()
            .map(|r| {
                r["targets"][target]["snapshot"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        restic_ids(&s.restic_local(&["snapshots", "--json"])),
        ids(0, 0)
    );

    let o = s.keepup_ok(&["forget", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("forget --json");
    let entries = report.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{report}");
    for e in entries {
        assert_eq!(e["report"]["kept"].as_array().unwrap().len(), 2, "{e}");
        assert_eq!(e["report"]["removed"].as_array().unwrap().len(), 2, "{e}");
    }

    // keepup and restic agree: the last two runs' snapshots remain.
    let o = s.keepup_ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (t, entry) in list.as_array().unwrap().iter().enumerate() {
        let mut got: Vec<String> = entry["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        got.sort();
        assert_eq!(got, ids(t, 2), "{entry}");
    }
    assert_eq!(
        restic_ids(&s.restic_local(&["snapshots", "--json"])),
        ids(0, 2)
    );
    assert_eq!(
        restic_ids(&s.restic_offsite(&["snapshots", "--json"])),
        ids(1, 2)
    );
    // The pruned repositories are consistent.
    for check in [
        s.restic_local(&["check", "--read-data"]),
        s.restic_offsite(&["check", "--read-data"]),
    ] {
        assert!(check.contains("no errors were found"), "{check}");
    }
    // A second forget has nothing left to do.
    let o = s.keepup_ok(&["forget", "files"]);
    let out = stdout(&o);
    assert!(
        out.contains("ok   files on local: kept 2, forgot 0"),
        "{out}"
    );
    assert!(
        out.contains("ok   files on offsite: kept 2, forgot 0"),
        "{out}"
    );
}

/// What scripts rely on: exit codes, messages, JSON on failure, quiet.
#[test]
fn errors_exit_codes_json_and_quiet() {
    let s = Setup::new();

    // --quiet on success prints nothing at all.
    for args in [
        &["init", "files", "--quiet"][..],
        &["run", "files", "--quiet"],
        &["list", "--quiet"],
        &["check", "--quiet"],
        &["forget", "--quiet"],
    ] {
        let o = s.keepup_ok(args);
        assert_eq!(stdout(&o), "", "{args:?}");
        assert_eq!(stderr(&o), "", "{args:?}");
    }
    let o = s.keepup_ok(&[
        "restore",
        "files",
        "--quiet",
        "--to",
        s.path("q").to_str().unwrap(),
    ]);
    assert_eq!((stdout(&o).as_str(), stderr(&o).as_str()), ("", ""));

    // An unknown plan: exit 2, the known plans named.
    for args in [
        &["run", "nope"][..],
        &["list", "nope"],
        &["restore", "nope", "--to", "/tmp/x"],
    ] {
        let o = s.keepup(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("no backup plan \"nope\"") && err.contains("(plans: files)"),
            "{err}"
        );
    }
    // An unknown target: exit 2, the known targets named.
    let o = s.keepup(&["run", "files", "--target", "tape"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(targets: local, offsite)"),
        "{}",
        stderr(&o)
    );

    // A wrong password: exit 1, a clear message, no password printed.
    const WRONG: &str = "not-the-password-4711";
    for args in [
        &["list", "files"][..],
        &["run", "files"],
        &["check", "files"],
        &["restore", "files", "--to", s.path("w").to_str().unwrap()],
    ] {
        let o = s.keepup_with(args, WRONG);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let (out, err) = (stdout(&o), stderr(&o));
        assert!(err.contains("wrong repository password"), "{args:?}: {err}");
        assert!(err.contains("\"local\""), "{args:?}: {err}");
        for text in [&out, &err] {
            assert!(!text.contains(WRONG), "{args:?}: {text}");
            assert!(!text.contains(PASSWORD), "{args:?}: {text}");
        }
    }

    // --json on failure: still valid JSON on stdout, the error in it.
    let o = s.keepup_with(&["run", "files", "--json"], WRONG);
    assert_eq!(o.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).expect("run --json");
    for t in report["targets"].as_array().unwrap() {
        assert!(t["snapshot"].is_null(), "{t}");
        assert!(
            t["error"]
                .as_str()
                .unwrap()
                .contains("wrong repository password"),
            "{t}"
        );
    }
    for args in [
        &["list", "--json"][..],
        &["check", "--json"],
        &["forget", "--json"],
        &["init", "files", "--json"],
        &[
            "restore",
            "files",
            "--json",
            "--to",
            s.path("j").to_str().unwrap(),
        ],
    ] {
        let o = s.keepup_with(args, WRONG);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stdout(&o)));
        let errors: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["error"].as_str().unwrap())
            .collect();
        assert_eq!(errors.len(), 2, "{args:?}: {v}");
        for text in [stdout(&o), stderr(&o)] {
            assert!(!text.contains(WRONG) && !text.contains(PASSWORD), "{text}");
        }
    }

    // The right password still works: nothing was damaged.
    let o = s.keepup_ok(&["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for entry in list.as_array().unwrap() {
        assert_eq!(entry["snapshots"].as_array().unwrap().len(), 1, "{entry}");
    }
}

/// A `kind = "postgres"` source: the dump is backed up, then restored
/// into a new database with the password from PGPASSWORD, and every table
/// has its rows. A password in the URL is refused.
#[test]
fn a_postgres_dump_restores_into_a_new_database() {
    let pg = Postgres::start().expect("PostgreSQL starts (Debian postgresql)");
    let counts = pg
        .load_shop("shop", &ShopSize::tiny(), 11)
        .expect("shop data");
    let dir = tempfile::Builder::new()
        .prefix("keepup-backup-cli-pg-")
        .tempdir()
        .unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let config = dir.path().join("keepup.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[backup]]
id = "shop-db"
password_env = "{PASSWORD_ENV}"
allow_single_target = true

[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = {port}
user = "{user}"
dbname = "shop"
password_env = "{PG_PASSWORD_ENV}"

[[backup.target]]
id = "local"
repository = "{repo}"
"#,
            port = pg.port(),
            user = pg.user(),
            repo = repo.display(),
        ),
    )
    .unwrap();
    let run = |args: &[&str], pgpassword: Option<&str>| -> Output {
        let mut c = keepup();
        c.arg("backup")
            .args(args)
            .arg("-c")
            .arg(&config)
            .env(PASSWORD_ENV, PASSWORD)
            .env(PG_PASSWORD_ENV, pg.password());
        if let Some(p) = pgpassword {
            c.env("PGPASSWORD", p);
        }
        c.output().expect("keepup runs")
    };
    let ok = |args: &[&str], pgpassword: Option<&str>| -> Output {
        let o = run(args, pgpassword);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}\n{}\n{}",
            stdout(&o),
            stderr(&o)
        );
        o
    };
    ok(&["init", "shop-db"], None);
    let o = ok(&["run", "shop-db", "--json"], None);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(report["targets"][0]["snapshot"].is_string(), "{report}");
    // The dump is in the snapshot, under the plan's directory.
    let o = ok(&["restore", "shop-db", "--file", "/shop-db/shop.sql"], None);
    let dump = stdout(&o);
    assert!(dump.contains("COPY public.orders"), "a pg_dump SQL dump");

    // Into a new database on the same server, password from PGPASSWORD.
    let url = pg.url_for("newdb");
    let o = ok(
        &["restore", "shop-db", "--into-db", &url],
        Some(pg.password()),
    );
    let out = stdout(&o);
    assert!(
        out.contains("restored /shop-db/shop.sql from local into database newdb"),
        "{out}"
    );
    assert_eq!(pg.shop_counts("newdb").expect("restored counts"), counts);
    for text in [stdout(&o), stderr(&o)] {
        assert!(!text.contains(pg.password()), "{text}");
        assert!(!text.contains(PASSWORD), "{text}");
    }

    // The same with --json.
    let o = ok(
        &[
            "restore",
            "shop-db",
            "--json",
            "--into-db",
            &pg.url_for("newdb2"),
        ],
        Some(pg.password()),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["database"], "newdb2");
    assert_eq!(v["dump"], "/shop-db/shop.sql");
    assert_eq!(pg.shop_counts("newdb2").unwrap(), counts);

    // A password inside the URL is refused before anything is done, and
    // not echoed back.
    let secret = "url-s3cret-pw";
    let bad = format!(
        "postgres://{}:{secret}@127.0.0.1:{}/newdb3",
        pg.user(),
        pg.port()
    );
    let o = run(&["restore", "shop-db", "--into-db", &bad], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("put the password in PGPASSWORD"), "{err}");
    assert!(
        !err.contains(secret) && !stdout(&o).contains(secret),
        "{err}"
    );
    let exists = pg
        .psql("SELECT count(*) FROM pg_database WHERE datname = 'newdb3'")
        .unwrap();
    assert_eq!(exists.trim(), "0");

    // A wrong PGPASSWORD: exit 1, the server's refusal, no password shown.
    let o = run(
        &["restore", "shop-db", "--into-db", &pg.url_for("newdb4")],
        Some("wrong-pg-pw-99"),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    // The server's refusal is the cause shown, not the restore thread's
    // "Broken pipe" that follows from it.
    assert!(
        err.contains("keepup: restoring /shop-db/shop.sql from local failed"),
        "{err}"
    );
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    assert!(!err.contains("wrong-pg-pw-99"), "{err}");
    assert!(!err.contains(pg.password()), "{err}");
    let exists = pg
        .psql("SELECT count(*) FROM pg_database WHERE datname = 'newdb4'")
        .unwrap();
    assert_eq!(exists.trim(), "0");
}
