//! Database dumps and restores against real PostgreSQL and MariaDB servers
//! (testkit), filled with generated shop data. Dumps are made the way
//! production makes them: `run_plan` streams `pg_dump` / `mysqldump` into
//! the repository (no file) and records a snapshot only for a complete
//! dump; a `pg_dump` killed mid-stream fails the run. The restore tests
//! load dumps read back from the repository; failures are reported as
//! failures, clients have deadlines, and passwords never show up in
//! messages.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keepup_backup::dbrestore::{
    self, RestoreError, RestoreOptions, RestoreTarget, SCRATCH_PREFIX, Validation,
};
use keepup_backup::list;
use keepup_config::Secret;
use keepup_config::backup::{DatabaseKind, DumpFormat};
use keepup_testkit::mariadb::MariaDb;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::{ShopCounts, ShopSize};
use support::*;

/// A file holding `password`, in `dir`.
fn password_file(dir: &Path, password: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("password directory");
    let path = dir.join("password");
    std::fs::write(&path, format!("{password}\n")).expect("write password file");
    path
}

/// A `[[backup.source]]` of a database on 127.0.0.1:`port`.
fn db_source(
    kind: &str,
    port: u16,
    user: &str,
    dbname: &str,
    password_file: &Path,
    extra: &str,
) -> String {
    format!(
        "[[backup.source]]\nkind = \"{kind}\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         user = \"{user}\"\ndbname = \"{dbname}\"\npassword_file = \"{}\"\n{extra}\n",
        password_file.display()
    )
}

/// A plan `db` with `sources` and one initialised local target.
fn db_plan(fx: &Fixture, sources: &str) -> keepup_config::BackupPlan {
    let repo = fx.repo_dir("repo");
    let plan = fx.plan(&format!(
        "[[backup]]\nid = \"db\"\nallow_single_target = true\n{sources}\n\
         [[backup.target]]\nid = \"local\"\nrepository = \"{}\"\n",
        repo.display()
    ));
    if !repo.join("config").exists() {
        keepup_backup::init(&plan, "local").expect("init");
    }
    plan
}

/// Backs up one database source and returns the dump as stored.
fn dump_via_plan(fx: &Fixture, source: &str, filename: &str) -> Vec<u8> {
    let plan = db_plan(fx, source);
    if let Some(e) = run_one_target(&plan) {
        panic!("the dump failed: {e}");
    }
    stored_stream(&plan, filename)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn postgres_starts_and_loads_shop_data() {
    let pg = Postgres::start().expect("start postgres");
    let counts = pg.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    assert_eq!(counts.orders, 300);
    assert_eq!(pg.shop_counts("shop").expect("counts"), counts);
    assert_eq!(pg.psql("SELECT 1 + 1").expect("psql").trim(), "2");
}

#[test]
fn mariadb_starts_and_loads_shop_data() {
    let db = MariaDb::start().expect("start mariadb");
    let counts = db.load_shop("shop", &ShopSize::tiny(), 1).expect("load");
    assert_eq!(counts.orders, 300);
    assert_eq!(db.shop_counts("shop").expect("counts"), counts);
    assert_eq!(db.sql("SELECT 1 + 1;").expect("sql").trim(), "2");
}

/// One run, both formats: each dump is a file of the snapshot.
#[test]
fn postgres_dumps_are_backed_up_in_both_formats() {
    let pg = Postgres::start().expect("start postgres");
    pg.load_shop("shop", &ShopSize::tiny(), 2).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("pg"), pg.password());
    let sources = db_source("postgres", pg.port(), pg.user(), "shop", &pw, "")
        + &db_source(
            "postgres",
            pg.port(),
            pg.user(),
            "shop",
            &pw,
            "format = \"custom\"\nfilename = \"shop.dump\"",
        );
    let plan = db_plan(&fx, &sources);
    assert_eq!(run_one_target(&plan), None);
    let plain = stored_stream(&plan, "shop.sql");
    assert!(contains(&plain, "COPY public.order_items"));
    assert!(contains(&plain, "O'Brien") || contains(&plain, "Müller"));
    assert!(contains(&plain, "CREATE TRIGGER products_stock_check"));
    assert!(contains(&plain, "-- PostgreSQL database dump complete"));
    assert!(stored_stream(&plan, "shop.dump").starts_with(b"PGDMP"));
}

/// mysqldump, also with `--skip-comments` (no completion line to check:
/// its exit status decides).
#[test]
fn mariadb_dumps_are_backed_up() {
    let db = MariaDb::start().expect("start mariadb");
    db.load_shop("shop", &ShopSize::tiny(), 2).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("my"), db.password());
    let sources = db_source("mysql", db.port(), db.user(), "shop", &pw, "")
        + &db_source(
            "mysql",
            db.port(),
            db.user(),
            "shop",
            &pw,
            "args = [\"--skip-comments\"]\nfilename = \"quiet.sql\"",
        );
    let plan = db_plan(&fx, &sources);
    assert_eq!(run_one_target(&plan), None);
    let dump = stored_stream(&plan, "shop.sql");
    assert!(contains(&dump, "INSERT INTO `order_items` VALUES"));
    assert!(contains(&dump, "products_stock_check"));
    assert!(contains(&dump, "-- Dump completed"));
    let quiet = stored_stream(&plan, "quiet.sql");
    assert!(contains(&quiet, "INSERT INTO `order_items` VALUES"));
    assert!(!contains(&quiet, "-- Dump completed"));
    // It loads with `--into-db` too: no completion line is demanded of a
    // dump made without one.
    let url = format!(
        "mysql://{}:{}@127.0.0.1:{}/quiet_copy",
        db.user(),
        db.password(),
        db.port()
    );
    keepup_backup::dbtest::restore_dump_into(
        &plan,
        "local",
        &keepup_backup::SnapshotRef::Latest,
        "/db/quiet.sql",
        &url,
    )
    .expect("the quiet dump loads");
    let rows = db
        .sql_in("quiet_copy", "SELECT COUNT(*) FROM order_items")
        .unwrap();
    assert!(rows.trim().parse::<u64>().unwrap() > 0, "{rows}");
}

/// A wrong password fails the run with the server's refusal in the
/// message, records no snapshot, and the message never contains the
/// password.
#[test]
fn wrong_password_fails_the_run_clearly_without_leaking_it() {
    const WRONG: &str = "wr0ng-Passw0rd-xyz";
    let pg = Postgres::start().expect("start postgres");
    let db = MariaDb::start().expect("start mariadb");
    db.create_database("shop").expect("create");
    let fx = Fixture::new();
    let wrong = password_file(&fx.path("pw"), WRONG);
    for (source, refusal) in [
        (
            db_source("postgres", pg.port(), pg.user(), "postgres", &wrong, ""),
            "password authentication failed",
        ),
        (
            db_source("mysql", db.port(), db.user(), "shop", &wrong, ""),
            "Access denied",
        ),
    ] {
        let plan = db_plan(&fx, &source);
        let err = run_one_target(&plan).expect("a wrong password must fail the run");
        eprintln!("{err}");
        assert!(err.contains(refusal), "{err}");
        assert!(err.contains("no snapshot was recorded"), "{err}");
        assert!(!err.contains(WRONG), "{err}");
        assert!(list(&plan, "local").expect("list").is_empty());
    }
}

/// A TCP relay to `upstream` that passes at most `limit` bytes from the
/// server to the client, then stops relaying (the connection stays open):
/// a dump program reading from it is stuck mid-stream.
struct Relay {
    port: u16,
    relayed: Arc<AtomicU64>,
}

impl Relay {
    fn start(upstream: u16, limit: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let relayed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&relayed);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone())
                else {
                    return;
                };
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                });
                let counter = Arc::clone(&counter);
                let (mut s_read, mut c_write) = (server, client);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    loop {
                        let done = counter.load(Ordering::SeqCst);
                        let room = limit.saturating_sub(done).min(buf.len() as u64) as usize;
                        if room == 0 {
                            // Stuck: hold both ends open, relay nothing.
                            std::thread::park();
                            continue;
                        }
                        match s_read.read(&mut buf[..room]) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => {
                                if c_write.write_all(&buf[..n]).is_err() {
                                    return;
                                }
                                counter.fetch_add(n as u64, Ordering::SeqCst);
                            }
                        }
                    }
                });
            }
        });
        Self { port, relayed }
    }

    fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::SeqCst)
    }
}

/// The pid of the `pg_dump` connected to `port`, if one runs.
fn pg_dump_pid(port: u16) -> Option<i32> {
    let wanted = format!("--port={port}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_dump = args.first()?.ends_with(b"pg_dump");
        (is_dump && args.contains(&wanted.as_bytes())).then_some(pid)
    })
}

/// `pg_dump` killed while it streams: the run fails, names the signal, and
/// records no snapshot; the earlier snapshot stays the latest.
#[test]
fn pg_dump_killed_mid_stream_fails_the_run() {
    let pg = Postgres::start().expect("start postgres");
    pg.load_shop("shop", &ShopSize::small(), 3).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("pg"), pg.password());

    // Through a relay without a limit: the whole dump, and its size.
    let open = Relay::start(pg.port(), u64::MAX);
    let plan = db_plan(
        &fx,
        &db_source("postgres", open.port, pg.user(), "shop", &pw, ""),
    );
    assert_eq!(run_one_target(&plan), None);
    let whole = open.relayed();
    let first = list(&plan, "local").expect("list");
    assert_eq!(first.len(), 1);

    // Half of the server's answer, then silence: pg_dump is mid-stream.
    let stuck = Relay::start(pg.port(), whole / 2);
    let plan = db_plan(
        &fx,
        &db_source("postgres", stuck.port, pg.user(), "shop", &pw, ""),
    );
    let runner = std::thread::spawn(move || {
        let e = run_one_target(&plan);
        (plan, e)
    });
    let pid = loop {
        if stuck.relayed() >= whole / 2
            && let Some(pid) = pg_dump_pid(stuck.port)
        {
            break pid;
        }
        assert!(
            !runner.is_finished(),
            "the run ended before pg_dump was stuck"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // SAFETY: kill(2) on the pg_dump this test found.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let (plan, err) = runner.join().expect("run thread");
    let err = err.expect("a killed dump must fail the run");
    eprintln!("{err}");
    assert!(err.contains("shop.sql"), "{err}");
    assert!(err.contains("killed by signal 9"), "{err}");
    assert!(err.contains("no snapshot was recorded"), "{err}");
    let after = list(&plan, "local").expect("list");
    assert_eq!(after.len(), 1, "no snapshot for the killed dump");
    assert_eq!(after[0].id, first[0].id);
}

fn pg_target(pg: &Postgres) -> RestoreTarget {
    let mut t = RestoreTarget::new(DatabaseKind::Postgres);
    t.host = Some(pg.host().to_string());
    t.port = Some(pg.port());
    t.user = Some(pg.user().to_owned());
    t.password = Some(Secret::new(pg.password().to_owned()));
    t
}

fn mariadb_target(db: &MariaDb) -> RestoreTarget {
    let mut t = RestoreTarget::new(DatabaseKind::Mysql);
    t.host = Some(db.host().to_string());
    t.port = Some(db.port());
    t.user = Some(db.user().to_owned());
    t.password = Some(Secret::new(db.password().to_owned()));
    t
}

/// Every table must have at least the rows the source had.
fn validations(counts: &ShopCounts) -> RestoreOptions {
    RestoreOptions {
        validations: counts
            .tables()
            .iter()
            .map(|(table, n)| Validation::row_count(table, *n as i64))
            .collect(),
        ..RestoreOptions::default()
    }
}

fn assert_counts_equal(report: &dbrestore::RestoreReport, counts: &ShopCounts) {
    let values: Vec<i64> = report.validations.iter().map(|v| v.value).collect();
    let expected: Vec<i64> = counts.tables().iter().map(|(_, n)| *n as i64).collect();
    assert_eq!(values, expected);
}

fn pg_scratch_databases(pg: &Postgres) -> String {
    pg.psql(&format!(
        "SELECT string_agg(datname, ',') FROM pg_database WHERE datname LIKE '{SCRATCH_PREFIX}%'"
    ))
    .expect("list databases")
    .trim()
    .to_owned()
}

fn mariadb_scratch_databases(db: &MariaDb) -> String {
    db.sql(&format!(
        "SELECT COALESCE(GROUP_CONCAT(schema_name), '') FROM information_schema.schemata \
         WHERE schema_name LIKE '{}%';",
        SCRATCH_PREFIX.replace('_', "\\_")
    ))
    .expect("list databases")
    .trim()
    .to_owned()
}

/// The dump cut just before the first occurrence of `needle`.
fn cut_before(dump: &[u8], needle: &str) -> Vec<u8> {
    let at = dump
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle:?} not in the dump"));
    dump[..at].to_vec()
}

/// Generated data → streamed dump (plain and custom) → scratch database →
/// validation queries find the source's row counts → scratch dropped.
#[test]
fn postgres_dump_restores_into_a_scratch_database() {
    let pg = Postgres::start().expect("start postgres");
    let counts = pg.load_shop("shop", &ShopSize::tiny(), 5).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("pg"), pg.password());
    let plain = db_source("postgres", pg.port(), pg.user(), "shop", &pw, "");
    let custom = db_source(
        "postgres",
        pg.port(),
        pg.user(),
        "shop",
        &pw,
        "format = \"custom\"\nfilename = \"shop.dump\"",
    );
    let plan = db_plan(&fx, &(plain + &custom));
    assert_eq!(run_one_target(&plan), None);
    let target = pg_target(&pg);
    for (format, file) in [
        (DumpFormat::Plain, "shop.sql"),
        (DumpFormat::Custom, "shop.dump"),
    ] {
        let dump = stored_stream(&plan, file);
        let options = RestoreOptions {
            format,
            ..validations(&counts)
        };
        let report = dbrestore::restore_test(&target, &mut dump.as_slice(), &options)
            .unwrap_or_else(|e| panic!("{format:?} restore: {e}"));
        assert_counts_equal(&report, &counts);
        assert!(report.database.starts_with(SCRATCH_PREFIX));
        assert!(!report.kept);
        assert_eq!(report.bytes, dump.len() as u64);
        assert_eq!(
            pg_scratch_databases(&pg),
            "",
            "scratch database left behind"
        );
    }

    // Kept on request, with the data in it.
    let dump = stored_stream(&plan, "shop.sql");
    let options = RestoreOptions {
        keep: true,
        ..validations(&counts)
    };
    let report = dbrestore::restore_test(&target, &mut dump.as_slice(), &options).expect("restore");
    assert!(report.kept);
    assert_eq!(pg.shop_counts(&report.database).expect("counts"), counts);
}

#[test]
fn mariadb_dump_restores_into_a_scratch_database() {
    let db = MariaDb::start().expect("start mariadb");
    let counts = db.load_shop("shop", &ShopSize::tiny(), 5).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("my"), db.password());
    let dump = dump_via_plan(
        &fx,
        &db_source("mysql", db.port(), db.user(), "shop", &pw, ""),
        "shop.sql",
    );
    let target = mariadb_target(&db);
    let report = dbrestore::restore_test(&target, &mut dump.as_slice(), &validations(&counts))
        .expect("restore");
    assert_counts_equal(&report, &counts);
    assert!(!report.kept);
    assert_eq!(
        mariadb_scratch_databases(&db),
        "",
        "scratch database left behind"
    );

    let options = RestoreOptions {
        keep: true,
        ..validations(&counts)
    };
    let report = dbrestore::restore_test(&target, &mut dump.as_slice(), &options).expect("restore");
    assert_eq!(db.shop_counts(&report.database).expect("counts"), counts);
}

/// A dump cut short restores what it has, and the validation says it is
/// not enough; a dump cut just before its completion line is incomplete;
/// something that is not a dump does not restore. No scratch database
/// survives any of it.
#[test]
fn postgres_truncated_dump_fails_the_restore_test() {
    let pg = Postgres::start().expect("start postgres");
    let counts = pg.load_shop("shop", &ShopSize::tiny(), 6).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("pg"), pg.password());
    let dump = dump_via_plan(
        &fx,
        &db_source("postgres", pg.port(), pg.user(), "shop", &pw, ""),
        "shop.sql",
    );
    let target = pg_target(&pg);

    // In the middle of the order_items rows.
    let start = cut_before(&dump, "COPY public.order_items").len();
    let end = start + cut_before(&dump[start..], "\\.\n").len();
    let middle = start
        + dump[start..(start + end) / 2]
            .iter()
            .rposition(|&b| b == b'\n')
            .expect("a line in the rows")
        + 1;
    let truncated = &dump[..middle];
    let err = dbrestore::restore_test(&target, &mut &truncated[..], &validations(&counts))
        .expect_err("a truncated dump must fail");
    eprintln!("{err}");
    match &err {
        RestoreError::Validation { results, .. } => {
            let items = &results[3];
            assert!(items.query.contains("order_items"));
            assert!(items.value < counts.order_items as i64, "{err}");
            // pg_dump dumps tables by name: customers came whole.
            assert!(results[0].passed(), "{err}");
        }
        other => panic!("expected a validation failure, got {other}"),
    }

    let truncated = cut_before(&dump, "-- PostgreSQL database dump complete");
    let err = dbrestore::restore_test(&target, &mut truncated.as_slice(), &validations(&counts))
        .expect_err("a dump without its end must fail");
    assert!(matches!(err, RestoreError::Incomplete { .. }), "{err}");

    let err = dbrestore::restore_test(
        &target,
        &mut &b"this is not a dump;\n"[..],
        &validations(&counts),
    )
    .expect_err("garbage must fail");
    assert!(matches!(err, RestoreError::Restore { .. }), "{err}");
    assert!(err.to_string().contains("syntax error"), "{err}");

    assert_eq!(
        pg_scratch_databases(&pg),
        "",
        "scratch database left behind"
    );
}

#[test]
fn mariadb_truncated_dump_fails_the_restore_test() {
    let db = MariaDb::start().expect("start mariadb");
    let counts = db.load_shop("shop", &ShopSize::tiny(), 6).expect("load");
    let fx = Fixture::new();
    let pw = password_file(&fx.path("my"), db.password());
    let dump = dump_via_plan(
        &fx,
        &db_source("mysql", db.port(), db.user(), "shop", &pw, ""),
        "shop.sql",
    );
    let target = mariadb_target(&db);

    // Every table exists, the products' rows are missing.
    let truncated = cut_before(&dump, "INSERT INTO `products`");
    let err = dbrestore::restore_test(&target, &mut truncated.as_slice(), &validations(&counts))
        .expect_err("a truncated dump must fail");
    eprintln!("{err}");
    match &err {
        RestoreError::Validation { results, .. } => {
            assert!(results[1].query.contains("products"));
            assert_eq!(results[1].value, 0);
        }
        other => panic!("expected a validation failure, got {other}"),
    }

    let truncated = cut_before(&dump, "-- Dump completed");
    let err = dbrestore::restore_test(&target, &mut truncated.as_slice(), &validations(&counts))
        .expect_err("a dump without its end must fail");
    assert!(matches!(err, RestoreError::Incomplete { .. }), "{err}");
    assert_eq!(
        mariadb_scratch_databases(&db),
        "",
        "scratch database left behind"
    );
}

/// `restore --into-db URL`: a named database, created when missing, the
/// password from a file (never in the URL here).
#[test]
fn restore_into_a_named_database_from_a_url() {
    let pg = Postgres::start().expect("start postgres");
    let db = MariaDb::start().expect("start mariadb");
    let pg_counts = pg.load_shop("shop", &ShopSize::tiny(), 7).expect("load");
    let my_counts = db.load_shop("shop", &ShopSize::tiny(), 8).expect("load");
    let pg_fx = Fixture::new();
    let pg_pw = password_file(&pg_fx.path("pg"), pg.password());
    let pg_dump = dump_via_plan(
        &pg_fx,
        &db_source("postgres", pg.port(), pg.user(), "shop", &pg_pw, ""),
        "shop.sql",
    );
    let my_fx = Fixture::new();
    let my_pw = password_file(&my_fx.path("my"), db.password());
    let my_dump = dump_via_plan(
        &my_fx,
        &db_source("mysql", db.port(), db.user(), "shop", &my_pw, ""),
        "shop.sql",
    );

    let (mut target, name) = RestoreTarget::from_url(&pg.url_for("shop_restored")).expect("url");
    target.password = Some(Secret::new(pg.password().to_owned()));
    let report = dbrestore::restore_into(
        &target,
        &name,
        &mut pg_dump.as_slice(),
        &validations(&pg_counts),
    )
    .expect("restore into");
    assert!(report.kept);
    assert_eq!(report.database, "shop_restored");
    assert_eq!(pg.shop_counts("shop_restored").expect("counts"), pg_counts);
    // Into a database that now has the tables: the first clash fails it.
    let err = dbrestore::restore_into(
        &target,
        &name,
        &mut pg_dump.as_slice(),
        &RestoreOptions::default(),
    )
    .expect_err("tables exist already");
    assert!(err.to_string().contains("already exists"), "{err}");

    let (mut target, name) = RestoreTarget::from_url(&db.url_for("shop_restored")).expect("url");
    target.password = Some(Secret::new(db.password().to_owned()));
    let report = dbrestore::restore_into(
        &target,
        &name,
        &mut my_dump.as_slice(),
        &validations(&my_counts),
    )
    .expect("restore into");
    assert_eq!(report.database, "shop_restored");
    assert_eq!(db.shop_counts("shop_restored").expect("counts"), my_counts);
}

/// A wrong password at restore time: the server's refusal, never the
/// password.
#[test]
fn restore_with_a_wrong_password_fails_clearly() {
    const WRONG: &str = "wr0ng-Passw0rd-xyz";
    let pg = Postgres::start().expect("start postgres");
    let db = MariaDb::start().expect("start mariadb");
    let wrong = |mut t: RestoreTarget| {
        t.password = Some(Secret::new(WRONG.to_owned()));
        t
    };
    for target in [wrong(pg_target(&pg)), wrong(mariadb_target(&db))] {
        let err = dbrestore::restore_test(&target, &mut &b""[..], &RestoreOptions::default())
            .expect_err("a wrong password must fail");
        let msg = err.to_string();
        eprintln!("{msg}");
        assert!(matches!(err, RestoreError::Sql { .. }), "{msg}");
        assert!(
            msg.contains("password authentication failed") || msg.contains("Access denied"),
            "{msg}"
        );
        assert!(!msg.contains(WRONG), "{msg}");
    }
    // In a URL the password is a Secret: not in Debug output either.
    let url = format!("postgres://keepup:{WRONG}@127.0.0.1:{}/x", pg.port());
    let (target, _) = RestoreTarget::from_url(&url).expect("url");
    assert!(!format!("{target:?}").contains(WRONG));
    let err = dbrestore::restore_test(&target, &mut &b""[..], &RestoreOptions::default())
        .expect_err("a wrong password must fail");
    assert!(!err.to_string().contains(WRONG), "{err}");
}

/// A client past its deadline is killed and the restore says so: a
/// validation query that never returns, a MySQL "server" that accepts
/// connections and never answers (also bounded by the connect timeout).
#[test]
fn restore_clients_have_deadlines() {
    let pg = Postgres::start().expect("start postgres");
    let options = RestoreOptions {
        validations: vec![Validation::new("SELECT count(*) FROM pg_sleep(3600)", 0)],
        // Long enough for CREATE DATABASE and the restore on a busy machine.
        timeout: Duration::from_secs(10),
        ..RestoreOptions::default()
    };
    let dump = b"CREATE TABLE t (x int);\n--\n-- PostgreSQL database dump complete\n--\n";
    let err = dbrestore::restore_test(&pg_target(&pg), &mut &dump[..], &options)
        .expect_err("a query that never returns must fail");
    eprintln!("{err}");
    assert!(matches!(err, RestoreError::TimedOut { .. }), "{err}");
    assert!(err.to_string().contains("pg_sleep(3600)"), "{err}");
    assert!(
        err.to_string().contains("did not finish within 10s"),
        "{err}"
    );
    // The scratch database was dropped all the same.
    assert_eq!(pg_scratch_databases(&pg), "");

    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    std::thread::spawn(move || {
        // Accepts and holds the connections, never says a word.
        let mut open = Vec::new();
        for c in silent.incoming() {
            open.push(c);
        }
    });
    let mut target = RestoreTarget::new(DatabaseKind::Mysql);
    target.host = Some("127.0.0.1".into());
    target.port = Some(port);
    target.user = Some("keepup".into());
    target.connect_timeout = Duration::from_secs(2);
    let options = RestoreOptions {
        timeout: Duration::from_secs(20),
        ..RestoreOptions::default()
    };
    let err = dbrestore::restore_test(&target, &mut &b""[..], &options)
        .expect_err("a silent server must fail");
    eprintln!("{err}");
    // The client's own connect timeout ended it, before the deadline.
    assert!(matches!(err, RestoreError::Sql { .. }), "{err}");
    assert!(err.to_string().contains("creating database"), "{err}");
}
