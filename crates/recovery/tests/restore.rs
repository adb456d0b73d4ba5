//! The data steps against real components: files backed up by the real
//! backup path and restored onto a local directory and onto a private
//! `sshd` host (rsync over the system ssh), compared byte for byte and
//! mode for mode; PostgreSQL and MariaDB dumps backed up from a
//! "production" server and imported into a separate "standby" server,
//! proven by the check query, re-run to the same state, and refused with a
//! wrong password without the password in the message.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keepup_backup::dbrestore::RestoreTarget;
use keepup_backup::{NoProgress, SnapshotRef};
use keepup_config::backup::DatabaseKind;
use keepup_config::recovery::{Host, StepAction};
use keepup_config::{BackupPlan, Secret};
use keepup_recovery::restore::{
    DatabaseRestore, FilesRestore, RestoreError, restore_database, restore_files,
};
use keepup_testkit::mariadb::MariaDb;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;
use keepup_testkit::sshd::Sshd;

/// A plan from `[[backup]]` text, its repository initialised and one
/// backup run.
fn backed_up_plan(dir: &Path, sources: &str) -> BackupPlan {
    let password = dir.join("repo.pass");
    std::fs::write(&password, "repo password\n").unwrap();
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let config = dir.join("keepup.toml");
    std::fs::write(
        &config,
        format!(
            "[[backup]]\nid = \"shop\"\nallow_single_target = true\npassword_file = \"{}\"\n{sources}\n\
             [[backup.target]]\nid = \"local\"\nrepository = \"{}\"\n",
            password.display(),
            repo.display()
        ),
    )
    .unwrap();
    let plan = keepup_config::load(&config)
        .unwrap_or_else(|e| panic!("{e}"))
        .backups
        .remove(0);
    keepup_backup::init(&plan, "local").expect("init");
    let report = keepup_backup::run_plan(&plan, None, Arc::new(NoProgress));
    assert!(report.targets[0].error.is_none(), "{report:#?}");
    plan
}

/// A shop's files: nested directories, modes that differ from the
/// defaults, an empty file and a larger one.
fn shop_tree(root: &Path) {
    let write = |rel: &str, content: &[u8], mode: u32| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write("www/index.php", b"<?php echo 'shop';\n", 0o644);
    write("www/bin/cron.sh", b"#!/bin/sh\necho cron\n", 0o750);
    write("www/config/secrets.php", b"<?php $db = 'x';\n", 0o600);
    write("www/media/empty", b"", 0o640);
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write("www/media/big.bin", &big, 0o644);
    write("logs/access.log", b"GET /\n", 0o644);
    std::fs::set_permissions(
        root.join("www/config"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    std::fs::set_permissions(root.join("www"), std::fs::Permissions::from_mode(0o751)).unwrap();
}

/// Every entry under `root`: relative path → (mode, content for files).
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                out.insert(rel, (meta.mode() & 0o7777, None));
                walk(root, &path, out);
            } else {
                out.insert(
                    rel,
                    (meta.mode() & 0o7777, Some(std::fs::read(&path).unwrap())),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    out.insert(
        PathBuf::new(),
        (std::fs::metadata(root).unwrap().mode() & 0o7777, None),
    );
    walk(root, root, &mut out);
    out
}

/// The regular files under `root` and their bytes.
fn files_and_bytes(root: &Path) -> (u64, u64) {
    tree(root)
        .values()
        .filter_map(|(_, content)| content.as_ref())
        .fold((0, 0), |(n, b), c| (n + 1, b + c.len() as u64))
}

fn files_step<'a>(plan: &'a BackupPlan, paths: Vec<PathBuf>, to: &Path) -> FilesRestore<'a> {
    FilesRestore {
        plan,
        snapshot: SnapshotRef::Latest,
        paths,
        to: to.to_path_buf(),
        host: None,
        owner: None,
        staging_dir: None,
        copy_timeout: None,
    }
}

/// `to/<path>` of an absolute path.
fn under(to: &Path, path: &Path) -> PathBuf {
    to.join(path.strip_prefix("/").unwrap())
}

#[test]
fn files_are_restored_onto_a_local_directory_byte_for_byte_and_again_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prod");
    shop_tree(&src);
    let plan = backed_up_plan(
        dir.path(),
        &format!(
            "[[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n",
            src.display()
        ),
    );
    let www = src.join("www");
    let standby = dir.path().join("standby");
    let step = files_step(&plan, vec![www.clone()], &standby);

    let restored = restore_files(&step).expect("restore");
    assert_eq!(tree(&under(&standby, &www)), tree(&www));
    // Only the asked-for subset.
    assert!(!under(&standby, &src.join("logs")).exists());
    let (files, bytes) = files_and_bytes(&www);
    assert_eq!((restored.files, restored.bytes), (files, bytes));
    assert_eq!(restored.target, "local");
    assert!(!restored.snapshot.short_id.is_empty());

    // Damage the restored copy: a second run gives the same end state.
    let restored_big = under(&standby, &www.join("media/big.bin"));
    std::fs::write(&restored_big, b"half").unwrap();
    std::fs::set_permissions(&restored_big, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::remove_file(under(&standby, &www.join("bin/cron.sh"))).unwrap();
    restore_files(&step).expect("second restore");
    assert_eq!(tree(&under(&standby, &www)), tree(&www));

    // A single file of the snapshot, with an owner given.
    let one = dir.path().join("one");
    let secrets = www.join("config/secrets.php");
    let mut step = files_step(&plan, vec![secrets.clone()], &one);
    step.owner = Some("nobody".into());
    restore_files(&step).expect("one file");
    let copy = under(&one, &secrets);
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&secrets).unwrap()
    );
    let meta = std::fs::metadata(&copy).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), 65534, "owned by nobody");
}

#[test]
fn a_path_outside_the_snapshot_or_relative_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prod");
    shop_tree(&src);
    let plan = backed_up_plan(
        dir.path(),
        &format!(
            "[[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n",
            src.display()
        ),
    );
    let to = dir.path().join("standby");
    let missing = src.join("www/nope");
    let e = restore_files(&files_step(&plan, vec![missing.clone()], &to)).unwrap_err();
    assert!(matches!(e, RestoreError::NoTargetRestored { .. }), "{e}");
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );
    let e = restore_files(&files_step(&plan, vec!["www".into()], &to)).unwrap_err();
    assert_eq!(e.to_string(), "www: the path must be absolute");
    let e = restore_files(&files_step(&plan, vec![src.join("../etc")], &to)).unwrap_err();
    assert!(e.to_string().contains("must not contain `..`"), "{e}");
}

#[test]
fn files_are_restored_onto_a_host_over_ssh_byte_for_byte_and_again() {
    let sshd = Sshd::start().expect("sshd");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prod");
    shop_tree(&src);
    let plan = backed_up_plan(
        dir.path(),
        &format!(
            "[[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n",
            src.display()
        ),
    );
    let host = Host {
        name: "standby-web".into(),
        ssh: format!("{}@127.0.0.1", sshd.user()),
        ssh_port: Some(sshd.port()),
        ssh_identity_file: Some(sshd.identity_file()),
        ssh_known_hosts_file: Some(sshd.known_hosts_file()),
        ssh_args: Vec::new(),
    };
    // The "remote" directory: sshd runs on this machine.
    let remote = sshd.storage_dir().join("standby");
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let www = src.join("www");
    let mut step = files_step(&plan, vec![www.clone()], &remote);
    step.host = Some(&host);
    step.staging_dir = Some(staging.clone());

    let restored = restore_files(&step).expect("restore over ssh");
    assert_eq!((restored.files, restored.bytes), files_and_bytes(&www));
    assert_eq!(tree(&under(&remote, &www)), tree(&www));
    assert!(!under(&remote, &src.join("logs")).exists());
    // The staging copy is gone.
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);

    let restored_index = under(&remote, &www.join("index.php"));
    std::fs::write(&restored_index, b"defaced").unwrap();
    std::fs::set_permissions(&restored_index, std::fs::Permissions::from_mode(0o777)).unwrap();
    restore_files(&step).expect("second restore over ssh");
    assert_eq!(tree(&under(&remote, &www)), tree(&www));

    // An unknown host key is refused, never learnt.
    let other = dir.path().join("other_known_hosts");
    std::fs::write(&other, "").unwrap();
    let bad_host = Host {
        ssh_known_hosts_file: Some(other),
        ..host.clone()
    };
    step.host = Some(&bad_host);
    let e = restore_files(&step).unwrap_err();
    assert!(matches!(e, RestoreError::Program { .. }), "{e}");
    assert!(e.to_string().contains("standby-web"), "{e}");
}

#[test]
fn a_copy_onto_a_host_that_hangs_is_stopped_at_the_steps_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prod");
    shop_tree(&src);
    let plan = backed_up_plan(
        dir.path(),
        &format!(
            "[[backup.source]]\nkind = \"paths\"\npaths = [\"{}\"]\n",
            src.display()
        ),
    );
    // A "host" whose connection opens and then never speaks: ssh's
    // ConnectTimeout does not cover a proxy command, and rsync's I/O
    // timeout would wait two minutes per silence.
    let host = Host {
        name: "silent".into(),
        ssh: "nobody@127.0.0.1".into(),
        ssh_port: None,
        ssh_identity_file: None,
        ssh_known_hosts_file: None,
        ssh_args: vec!["-o".into(), "ProxyCommand=sleep 600".into()],
    };
    let mut step = files_step(&plan, vec![src.join("www")], &dir.path().join("remote"));
    step.host = Some(&host);
    step.staging_dir = Some(dir.path().to_path_buf());
    step.copy_timeout = Some(std::time::Duration::from_secs(2));
    let e = restore_files(&step).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RestoreError::Program { .. }), "{text}");
    assert!(
        text.contains("copying the restored files to silent") && text.contains("stopped after 2s"),
        "{text}"
    );
    // The default grows with the size: 10 minutes, plus a second a MiB.
    assert_eq!(
        keepup_recovery::restore::copy_deadline(3 * 1024 * 1024 * 1024),
        std::time::Duration::from_secs(600 + 3 * 1024)
    );
}

/// The standby's server as a restore target.
fn standby_target(kind: DatabaseKind, port: u16, user: &str, password: &str) -> RestoreTarget {
    RestoreTarget {
        host: Some("127.0.0.1".into()),
        port: Some(port),
        user: Some(user.into()),
        password: Some(Secret::new(password.to_owned())),
        ..RestoreTarget::new(kind)
    }
}

fn db_source(kind: &str, port: u16, user: &str, password_file: &Path) -> String {
    format!(
        "[[backup.source]]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         user = \"{user}\"\ndbname = \"shop\"\npassword_file = \"{}\"\n",
        password_file.display()
    )
}

fn db_step<'a>(plan: &'a BackupPlan, server: RestoreTarget) -> DatabaseRestore<'a> {
    DatabaseRestore {
        plan,
        snapshot: SnapshotRef::Latest,
        dump: "shop.sql".into(),
        server,
        database: "shop_standby".into(),
        check_query: "SELECT id FROM orders LIMIT 5".into(),
        rpo_query: Some("SELECT max(created_at) FROM orders".into()),
    }
}

#[test]
fn a_postgres_dump_is_imported_into_the_standby_server_again_and_a_wrong_password_is_refused() {
    let production = Postgres::start().expect("production postgres");
    let counts = production
        .load_shop("shop", &ShopSize::tiny(), 3)
        .expect("load");
    let standby = Postgres::start().expect("standby postgres");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pg.pass");
    std::fs::write(&pw, production.password()).unwrap();
    let plan = backed_up_plan(
        dir.path(),
        &db_source("postgres", production.port(), production.user(), &pw),
    );
    let server = standby_target(
        DatabaseKind::Postgres,
        standby.port(),
        standby.user(),
        standby.password(),
    );
    let step = db_step(&plan, server.clone());

    let restored = restore_database(&step).expect("import");
    assert_eq!(restored.check_rows, 5);
    assert!(restored.bytes > 0);
    let newest = production
        .psql_in("shop", "SELECT max(created_at) FROM orders")
        .unwrap();
    assert_eq!(restored.rpo_value.as_deref(), Some(newest.trim()));
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    // The standby's copy moved on (a new order): a re-run restores the
    // backup's state again, and holds a session open meanwhile.
    standby
        .psql_in(
            "shop_standby",
            "DELETE FROM order_items; DELETE FROM orders WHERE id > 10",
        )
        .unwrap();
    restore_database(&step).expect("second import");
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    let wrong = "wrong-pg-password-7c1";
    let step = db_step(
        &plan,
        standby_target(
            DatabaseKind::Postgres,
            standby.port(),
            standby.user(),
            wrong,
        ),
    );
    let e = restore_database(&step).unwrap_err().to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains(wrong), "{e}");
    // The failed attempt left the standby's database as it was.
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    // An import whose check finds nothing never replaces the standby's
    // database: an order taken on the standby is still there, and the
    // unproven copy is gone.
    standby
        .psql_in(
            "shop_standby",
            "INSERT INTO orders VALUES (777777, 1, 'standby', now(), 100)",
        )
        .unwrap();
    let mut failing = db_step(&plan, server.clone());
    failing.check_query = "SELECT id FROM orders WHERE id < 0".into();
    let e = restore_database(&failing).unwrap_err();
    assert!(matches!(e, RestoreError::NoRows { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("the copy was not put in place of shop_standby"),
        "{e}"
    );
    assert_eq!(
        standby
            .psql_in(
                "shop_standby",
                "SELECT count(*) FROM orders WHERE id = 777777"
            )
            .unwrap()
            .trim(),
        "1"
    );
    let left = standby
        .psql("SELECT datname FROM pg_database WHERE datname LIKE 'shop_standby_%'")
        .unwrap();
    assert_eq!(left.trim(), "", "no side database is left");
    // A proven import replaces it, also while a client holds a session.
    let mut session = std::process::Command::new("psql")
        .env("PGPASSWORD", standby.password())
        .args(["-h", "127.0.0.1", "-p", &standby.port().to_string()])
        .args([
            "-U",
            standby.user(),
            "-d",
            "shop_standby",
            "-X",
            "-c",
            "SELECT pg_sleep(60)",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    restore_database(&db_step(&plan, server)).expect("import over a held session");
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);
    let _ = session.kill();
    let _ = session.wait();
}

#[test]
fn a_mariadb_dump_is_imported_into_the_standby_server_again_and_a_wrong_password_is_refused() {
    let production = MariaDb::start().expect("production mariadb");
    let counts = production
        .load_shop("shop", &ShopSize::tiny(), 4)
        .expect("load");
    let standby = MariaDb::start().expect("standby mariadb");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("my.pass");
    std::fs::write(&pw, production.password()).unwrap();
    let plan = backed_up_plan(
        dir.path(),
        &db_source("mysql", production.port(), production.user(), &pw),
    );
    let step = db_step(
        &plan,
        standby_target(
            DatabaseKind::Mysql,
            standby.port(),
            standby.user(),
            standby.password(),
        ),
    );

    let restored = restore_database(&step).expect("import");
    assert_eq!(restored.check_rows, 5);
    let newest = production
        .sql_in("shop", "SELECT max(created_at) FROM orders")
        .unwrap();
    assert_eq!(restored.rpo_value.as_deref(), Some(newest.trim()));
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    standby
        .sql_in(
            "shop_standby",
            "DELETE FROM order_items; DELETE FROM orders WHERE id > 10",
        )
        .unwrap();
    restore_database(&step).expect("second import");
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    let wrong = "wrong-my-password-7c1";
    let step = db_step(
        &plan,
        standby_target(DatabaseKind::Mysql, standby.port(), standby.user(), wrong),
    );
    let e = restore_database(&step).unwrap_err().to_string();
    assert!(e.contains("Access denied"), "{e}");
    assert!(!e.contains(wrong), "{e}");
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);

    // A check that finds nothing leaves the standby's tables in place.
    standby
        .sql_in(
            "shop_standby",
            "INSERT INTO orders VALUES (777777, 1, 'standby', NOW(), 100)",
        )
        .unwrap();
    let server = standby_target(
        DatabaseKind::Mysql,
        standby.port(),
        standby.user(),
        standby.password(),
    );
    let mut failing = db_step(&plan, server.clone());
    failing.check_query = "SELECT id FROM orders WHERE id < 0".into();
    let e = restore_database(&failing).unwrap_err();
    assert!(matches!(e, RestoreError::NoRows { .. }), "{e}");
    assert_eq!(
        standby
            .sql_in(
                "shop_standby",
                "SELECT count(*) FROM orders WHERE id = 777777"
            )
            .unwrap()
            .trim(),
        "1"
    );
    let left = standby
        .sql_in("shop_standby", "SHOW DATABASES LIKE 'shop_standby\\_%'")
        .unwrap();
    assert_eq!(left.trim(), "", "no side database is left");
    // The proven dump (the shop's view and trigger too) is imported again
    // into the database itself, and the side copy is dropped.
    restore_database(&db_step(&plan, server)).expect("the second import");
    let left = standby
        .sql_in("shop_standby", "SHOW DATABASES LIKE 'shop_standby\\_%'")
        .unwrap();
    assert_eq!(left.trim(), "", "no side database is left");
    assert_eq!(standby.shop_counts("shop_standby").unwrap(), counts);
}

#[test]
fn an_unknown_dump_or_a_check_query_without_rows_fails_clearly() {
    let production = Postgres::start().expect("postgres");
    production
        .load_shop("shop", &ShopSize::tiny(), 5)
        .expect("load");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pg.pass");
    std::fs::write(&pw, production.password()).unwrap();
    let plan = backed_up_plan(
        dir.path(),
        &db_source("postgres", production.port(), production.user(), &pw),
    );
    let server = standby_target(
        DatabaseKind::Postgres,
        production.port(),
        production.user(),
        production.password(),
    );
    let mut step = db_step(&plan, server);
    step.dump = "other.sql".into();
    let e = restore_database(&step).unwrap_err();
    assert_eq!(
        e.to_string(),
        "backup plan \"shop\" has no database dump \"other.sql\""
    );
    step.dump = "shop.sql".into();
    step.check_query = "SELECT id FROM orders WHERE id < 0".into();
    let e = restore_database(&step).unwrap_err();
    assert!(matches!(e, RestoreError::NoRows { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("returned no rows in the imported copy of shop_standby"),
        "{e}"
    );
}

/// The steps as the configuration declares them: `from_step` makes the
/// functions' parameters, and the files step restores onto the standby.
#[test]
fn configured_steps_become_restores() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("prod");
    shop_tree(&src);
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(dir.path().join("repo.pass"), "repo password\n").unwrap();
    std::fs::write(dir.path().join("db.pass"), "standby-db-password\n").unwrap();
    let standby = dir.path().join("standby");
    let config = dir.path().join("keepup.toml");
    let d = dir.path().display();
    std::fs::write(
        &config,
        format!(
            r#"[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 8081

[[backup]]
id = "files"
allow_single_target = true
password_file = "{d}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{src}"]
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
user = "backup"
dbname = "shop"
[[backup.target]]
id = "local"
repository = "{repo}"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "4h"
rpo = "2h"
rpo_query = "SELECT max(created_at) FROM orders"
[recovery.standby]
addresses = ["127.0.0.20"]

[[recovery.activate]]
kind = "restore_files"
backup = "files"
paths = ["{src}/www"]
to = "{standby}"
timeout = "45m"

[[recovery.activate]]
kind = "restore_database"
backup = "files"
db_host = "127.0.0.21"
db_port = 5433
db_user = "shop"
database = "shop_standby"
password_file = "{d}/db.pass"
check_query = "SELECT 1 FROM orders LIMIT 1"
"#,
            src = src.display(),
            repo = repo.display(),
            standby = standby.display(),
        ),
    )
    .unwrap();
    let config = keepup_config::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let plan = &config.backups[0];
    let recovery = &config.recovery[0];
    // Only the files are backed up here: the dump's server is not running.
    let files_only = BackupPlan {
        sources: plan.sources[..1].to_vec(),
        ..plan.clone()
    };
    keepup_backup::init(&files_only, "local").expect("init");
    let report = keepup_backup::run_plan(&files_only, None, Arc::new(NoProgress));
    assert!(report.targets[0].error.is_none(), "{report:#?}");

    let StepAction::RestoreFiles(files) = &recovery.activate[0].action else {
        panic!("{:?}", recovery.activate[0]);
    };
    let step = FilesRestore::from_step(files, &files_only, &recovery.standby).expect("no host");
    assert_eq!(
        step.copy_timeout,
        Some(std::time::Duration::from_secs(45 * 60))
    );
    restore_files(&step).expect("restore");
    assert_eq!(
        tree(&under(&standby, &src.join("www"))),
        tree(&src.join("www"))
    );

    let StepAction::RestoreDatabase(database) = &recovery.activate[1].action else {
        panic!("{:?}", recovery.activate[1]);
    };
    let step = DatabaseRestore::from_step(database, plan, recovery.rpo_query.as_deref());
    assert_eq!(step.dump, "shop.sql");
    assert_eq!(step.database, "shop_standby");
    assert_eq!(
        step.server,
        RestoreTarget {
            host: Some("127.0.0.21".into()),
            ..standby_target(DatabaseKind::Postgres, 5433, "shop", "standby-db-password")
        }
    );
    assert_eq!(
        step.rpo_query.as_deref(),
        Some("SELECT max(created_at) FROM orders")
    );
}

/// A dump that names its database (`mysqldump --databases shop`, which the
/// config now refuses for a dump source: here backed up as a command's
/// output, restored as the plan's dump) is imported with `mysql --one-database`: its `USE shop` cannot
/// rewrite the standby's real `shop`, and the restore fails without
/// claiming the copy was good.
#[test]
fn a_dump_that_switches_databases_cannot_write_into_the_real_one() {
    let production = MariaDb::start().expect("production mariadb");
    production
        .load_shop("shop", &ShopSize::tiny(), 4)
        .expect("load");
    let standby = MariaDb::start().expect("standby mariadb");
    let standby_counts = standby
        .load_shop("shop", &ShopSize::tiny(), 9)
        .expect("load the standby");
    standby
        .sql_in(
            "shop",
            "INSERT INTO orders VALUES (777777, 1, 'standby', NOW(), 100)",
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("named.sql");
    let out = std::process::Command::new("mariadb-dump")
        .args([
            "--host=127.0.0.1",
            &format!("--port={}", production.port()),
            &format!("--user={}", production.user()),
            "--databases",
            "shop",
        ])
        .env("MYSQL_PWD", production.password())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("USE `shop`"));
    std::fs::write(&dump, &out.stdout).unwrap();
    let mut plan = backed_up_plan(
        dir.path(),
        &format!(
            "[[backup.source]]\nkind = \"command\"\ncommand = [\"cat\", \"{}\"]\nfilename = \"shop.sql\"\n",
            dump.display()
        ),
    );
    // The plan as it read before the load refused `--databases`.
    plan.sources = vec![keepup_config::backup::BackupSource::Database(
        keepup_config::backup::DatabaseSource {
            kind: DatabaseKind::Mysql,
            host: "127.0.0.1".into(),
            port: production.port(),
            user: production.user().into(),
            dbname: "shop".into(),
            password: None,
            args: vec!["--databases".into()],
            format: keepup_config::backup::DumpFormat::Plain,
            filename: "shop.sql".into(),
        },
    )];
    let mut step = db_step(
        &plan,
        standby_target(
            DatabaseKind::Mysql,
            standby.port(),
            standby.user(),
            standby.password(),
        ),
    );
    step.database = "shop_drill".into();
    let e = restore_database(&step).unwrap_err().to_string();
    assert!(e.contains("shop_drill"), "{e}");
    assert!(!e.contains("left as it was"), "{e}");
    assert_eq!(
        standby
            .sql_in("shop", "SELECT count(*) FROM orders WHERE id = 777777")
            .unwrap()
            .trim(),
        "1",
        "the standby's own shop database was not rewritten by the dump"
    );
    standby
        .sql_in("shop", "DELETE FROM orders WHERE id = 777777")
        .unwrap();
    assert_eq!(standby.shop_counts("shop").unwrap(), standby_counts);
}
