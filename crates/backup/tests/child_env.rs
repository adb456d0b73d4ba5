//! What keepup's children see of its environment: nothing secret. The
//! test puts distinct sentinel secrets into keepup's environment (the
//! repository password, a REST password, S3 keys, this plan's and another
//! plan's database passwords), then reads `/proc/<pid>/environ` of a
//! running backup command, a running dump program, `ssh` and `psql`.
//!
//! It changes the process environment (`set_var`), so it is the only test
//! of this binary: no other thread reads the environment meanwhile.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use keepup_backup::backend::{Location, TargetOptions, open_backend};
use keepup_backup::dbrestore::{self, RestoreOptions, RestoreTarget};
use keepup_backup::run_plan_with;
use keepup_config::Secret;
use keepup_config::backup::DatabaseKind;
use support::*;

/// (variable, value) put into keepup's environment; no child may see any
/// value except where it is its own password.
const SENTINELS: &[(&str, &str)] = &[
    ("KEEPUP_T_REPO_PW", "sentinel-repo-pw-11"),
    ("KEEPUP_T_REST_PW", "sentinel-rest-pw-22"),
    ("AWS_ACCESS_KEY_ID", "sentinel-aws-key-33"),
    ("AWS_SECRET_ACCESS_KEY", "sentinel-aws-secret-44"),
    ("AWS_SESSION_TOKEN", "sentinel-aws-token-55"),
    ("KEEPUP_T_OTHER_DB_PW", "sentinel-other-db-66"),
    ("KEEPUP_T_OWN_DB_PW", "sentinel-own-db-77"),
];

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Waits for the pid a child of `run` wrote to `file`, reads its
/// environment, lets it go on (creates `go`).
fn environ_of_waiting_child<T>(run: &JoinHandle<T>, file: &Path, go: &Path) -> String {
    let pid = loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse::<u32>()
        {
            break pid;
        }
        assert!(
            !run.is_finished(),
            "the run ended before {file:?} was written"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read environ");
    std::fs::write(go, b"").expect("go");
    String::from_utf8_lossy(&environ).replace('\0', "\n")
}

/// `environ` holds no sentinel except `own` (variable=value) and has PATH.
fn assert_clean(who: &str, environ: &str, own: Option<&str>) {
    assert!(
        environ.lines().any(|l| l.starts_with("PATH=")),
        "{who}: {environ}"
    );
    for (name, value) in SENTINELS {
        if own.is_some_and(|o| o.ends_with(value)) {
            assert!(environ.lines().any(|l| Some(l) == own), "{who}: {environ}");
            assert_eq!(environ.matches(value).count(), 1, "{who}: {environ}");
        } else {
            assert!(!environ.contains(value), "{who} sees {name}: {environ}");
        }
    }
}

#[test]
fn children_see_no_secret_of_keepup() {
    let fx = Fixture::new();
    let bin = fx.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // SAFETY: the only test of this binary, before it starts any thread.
    unsafe {
        for (name, value) in SENTINELS {
            std::env::set_var(name, value);
        }
        std::env::set_var("PATH", &path);
        std::env::set_var("SSH_AUTH_SOCK", "/nonexistent/agent.sock");
    }
    let dir = fx.path("sync");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    // The dump program: waits, then writes a complete (tiny) dump.
    script(
        &bin.join("pg_dump"),
        &format!(
            "echo $$ > {d}/dump.pid\nwhile [ ! -e {d}/go-dump ]; do sleep 0.05; done\n\
             printf 'SELECT 1;\\n--\\n-- PostgreSQL database dump complete\\n--\\n'"
        ),
    );
    // ssh and psql: record their environment and fail.
    for name in ["ssh", "psql"] {
        script(
            &bin.join(name),
            &format!("cat /proc/$$/environ > {d}/{name}.environ\nexit 1"),
        );
    }
    let repo = fx.repo_dir("repo");
    let config = format!(
        r#"[[backup]]
id = "shop"
allow_single_target = true
password_env = "KEEPUP_T_REPO_PW"
[[backup.source]]
kind = "command"
command = ["sh", "-c", "echo $$ > {d}/cmd.pid; while [ ! -e {d}/go-cmd ]; do sleep 0.05; done; echo done"]
filename = "cmd.txt"
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = 1
user = "backup"
dbname = "shop"
password_env = "KEEPUP_T_OWN_DB_PW"
[[backup.target]]
id = "local"
repository = "{repo}"

[[backup]]
id = "other"
allow_single_target = true
password_env = "KEEPUP_T_REPO_PW"
[[backup.source]]
kind = "mysql"
host = "127.0.0.1"
user = "backup"
dbname = "blog"
password_env = "KEEPUP_T_OTHER_DB_PW"
[[backup.target]]
id = "rest"
repository = "rest:http://keepup@127.0.0.1:1/repo/"
rest_password_env = "KEEPUP_T_REST_PW"
"#,
        repo = repo.display()
    );
    let config_path = fx.path("keepup.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut loaded = keepup_config::load(&config_path).unwrap_or_else(|p| panic!("{p}"));
    let plan = loaded.backups.remove(0);
    keepup_backup::init(&plan, "local").expect("init");

    let runner = std::thread::spawn(move || run_plan_with(&plan, None, &quick(), progress()));
    let command = environ_of_waiting_child(&runner, &dir.join("cmd.pid"), &dir.join("go-cmd"));
    assert_clean("the backup command", &command, None);
    let dump = environ_of_waiting_child(&runner, &dir.join("dump.pid"), &dir.join("go-dump"));
    assert_clean("pg_dump", &dump, Some("PGPASSWORD=sentinel-own-db-77"));
    let report = runner.join().expect("run");
    assert!(report.ok(), "{report:#?}");

    // ssh for an SFTP target: the agent socket, nothing secret.
    let loc = Location::parse("sftp:backup@127.0.0.1:/srv/repo").unwrap();
    let be = open_backend(&loc, &TargetOptions::default()).unwrap();
    assert!(be.list(rustic_core::FileType::Snapshot).is_err());
    let ssh = std::fs::read_to_string(dir.join("ssh.environ"))
        .unwrap()
        .replace('\0', "\n");
    assert_clean("ssh", &ssh, None);
    assert!(
        ssh.contains("SSH_AUTH_SOCK=/nonexistent/agent.sock"),
        "{ssh}"
    );

    // psql of a restore test: its own password only.
    let mut target = RestoreTarget::new(DatabaseKind::Postgres);
    target.password = Some(Secret::new("scratch-pw".into()));
    target.bin_dir = Some(PathBuf::from(&bin));
    assert!(dbrestore::restore_test(&target, &mut &b""[..], &RestoreOptions::default()).is_err());
    let psql = std::fs::read_to_string(dir.join("psql.environ"))
        .unwrap()
        .replace('\0', "\n");
    assert_clean("psql", &psql, None);
    assert!(psql.lines().any(|l| l == "PGPASSWORD=scratch-pw"), "{psql}");
}
