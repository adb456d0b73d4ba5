//! Database dumps and restores against real PostgreSQL and MariaDB servers
//! (testkit), filled with generated shop data: dumps are streamed from
//! `pg_dump` / `mysqldump` into memory (no file), failures are reported as
//! failures, and passwords never show up in messages.

use std::io::Read;
use std::path::Path;

use keepup_backup::dbrestore::{
    self, RestoreError, RestoreOptions, RestoreTarget, SCRATCH_PREFIX, Validation,
};
use keepup_backup::dump::{DbKind, DumpError, DumpFormat, DumpSource, DumpSpec};
use keepup_testkit::mariadb::MariaDb;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::{ShopCounts, ShopSize};

/// A file holding `password`, in `dir`.
fn password_file(dir: &Path, password: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).expect("password directory");
    let path = dir.join("password");
    std::fs::write(&path, format!("{password}\n")).expect("write password file");
    path
}

fn pg_spec(pg: &Postgres, db: &str, password_file: &Path) -> DumpSpec {
    let mut spec = DumpSpec::new(DbKind::Postgres, db);
    spec.host = Some(pg.host().to_string());
    spec.port = Some(pg.port());
    spec.user = Some(pg.user().to_owned());
    spec.password_file = Some(password_file.to_path_buf());
    spec
}

fn mariadb_spec(db: &MariaDb, name: &str, password_file: &Path) -> DumpSpec {
    let mut spec = DumpSpec::new(DbKind::Mysql, name);
    spec.host = Some(db.host().to_string());
    spec.port = Some(db.port());
    spec.user = Some(db.user().to_owned());
    spec.password_file = Some(password_file.to_path_buf());
    spec
}

/// Runs the dump to its end into memory; returns the bytes and the verdict.
fn dump_all(spec: &DumpSpec) -> (Vec<u8>, Result<u64, DumpError>) {
    let mut source = DumpSource::spawn(spec).expect("spawn dump");
    let mut out = Vec::new();
    source.read_to_end(&mut out).expect("read dump");
    let verdict = source.finish().map(|r| r.bytes);
    (out, verdict)
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

#[test]
fn postgres_dumps_stream_in_both_formats() {
    let pg = Postgres::start().expect("start postgres");
    pg.load_shop("shop", &ShopSize::tiny(), 2).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = pg_spec(&pg, "shop", &password_file(dir.path(), pg.password()));
    let (plain, verdict) = dump_all(&spec);
    assert_eq!(verdict.expect("plain dump"), plain.len() as u64);
    assert!(contains(&plain, "COPY public.order_items"));
    assert!(contains(&plain, "O'Brien") || contains(&plain, "Müller"));
    assert!(contains(&plain, "CREATE TRIGGER products_stock_check"));

    spec.format = DumpFormat::Custom;
    let (custom, verdict) = dump_all(&spec);
    assert_eq!(verdict.expect("custom dump"), custom.len() as u64);
    assert!(custom.starts_with(b"PGDMP"));
}

#[test]
fn mariadb_dump_streams() {
    let db = MariaDb::start().expect("start mariadb");
    db.load_shop("shop", &ShopSize::tiny(), 2).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = mariadb_spec(&db, "shop", &password_file(dir.path(), db.password()));
    let (dump, verdict) = dump_all(&spec);
    assert_eq!(verdict.expect("dump"), dump.len() as u64);
    assert!(contains(&dump, "INSERT INTO `order_items` VALUES"));
    assert!(contains(&dump, "products_stock_check"));
    assert!(contains(&dump, "-- Dump completed"));
}

/// A wrong password fails with the server's refusal in the message, and
/// the message never contains the password.
#[test]
fn wrong_password_fails_clearly_without_leaking_it() {
    const WRONG: &str = "wr0ng-Passw0rd-xyz";
    let pg = Postgres::start().expect("start postgres");
    let db = MariaDb::start().expect("start mariadb");
    db.create_database("shop").expect("create");
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = password_file(dir.path(), WRONG);
    for (spec, refusal) in [
        (
            pg_spec(&pg, "postgres", &wrong),
            "password authentication failed",
        ),
        (mariadb_spec(&db, "shop", &wrong), "Access denied"),
    ] {
        let (out, verdict) = dump_all(&spec);
        assert!(out.is_empty());
        let err = verdict.expect_err("a wrong password must fail");
        let msg = err.to_string();
        eprintln!("{msg}");
        assert!(matches!(err, DumpError::Failed { .. }), "{msg}");
        assert!(msg.contains(refusal), "{msg}");
        assert!(!msg.contains(WRONG), "{msg}");
        assert!(!format!("{err:?}").contains(WRONG), "{err:?}");
    }
}

/// Reads the first bytes of a dump, lets `interrupt` break it, reads on to
/// EOF (which must come) and returns the verdict.
fn interrupted(spec: &DumpSpec, interrupt: impl FnOnce(&mut DumpSource)) -> DumpError {
    let mut source = DumpSource::spawn(spec).expect("spawn dump");
    let mut first = [0u8; 1024];
    source.read_exact(&mut first).expect("first bytes");
    interrupt(&mut source);
    let mut rest = Vec::new();
    // An error while reading is a failure too; the verdict must say so.
    let _ = source.read_to_end(&mut rest);
    source
        .finish()
        .expect_err("an interrupted dump must be reported as failed")
}

#[test]
fn postgres_killed_halfway_is_reported_failed() {
    let mut pg = Postgres::start().expect("start postgres");
    // Large enough that pg_dump is still at work, blocked on its full
    // pipe, after the first kilobyte has been read.
    pg.load_shop("shop", &ShopSize::small(), 3).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = pg_spec(&pg, "shop", &password_file(dir.path(), pg.password()));

    let err = interrupted(&spec, |source| source.kill());
    assert!(matches!(err, DumpError::Failed { .. }), "{err}");
    assert!(err.to_string().contains("signal: 9"), "{err}");

    let err = interrupted(&spec, |_| pg.kill());
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DumpError::Failed { .. }), "{msg}");
    assert!(msg.contains("exit status"), "{msg}");
    assert!(msg.contains(&spec.describe()), "{msg}");
}

#[test]
fn mariadb_killed_halfway_is_reported_failed() {
    let mut db = MariaDb::start().expect("start mariadb");
    db.load_shop("shop", &ShopSize::small(), 3).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = mariadb_spec(&db, "shop", &password_file(dir.path(), db.password()));

    let err = interrupted(&spec, |source| source.kill());
    assert!(matches!(err, DumpError::Failed { .. }), "{err}");

    let err = interrupted(&spec, |_| db.kill());
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DumpError::Failed { .. }), "{msg}");
    assert!(msg.contains("exit status"), "{msg}");
}

/// A consumer that stops reading (the backup was aborted) gets a failure,
/// and the dump program does not linger.
#[test]
fn a_dump_not_read_to_its_end_is_not_good() {
    let pg = Postgres::start().expect("start postgres");
    pg.load_shop("shop", &ShopSize::small(), 4).expect("load");
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = pg_spec(&pg, "shop", &password_file(dir.path(), pg.password()));
    let mut source = DumpSource::spawn(&spec).expect("spawn");
    let mut first = [0u8; 1024];
    source.read_exact(&mut first).expect("first bytes");
    let err = source.finish().expect_err("not read to its end");
    assert!(matches!(err, DumpError::NotReadToEnd { .. }), "{err}");
}

fn pg_target(pg: &Postgres, password_file: &Path) -> RestoreTarget {
    let mut t = RestoreTarget::new(DbKind::Postgres);
    t.host = Some(pg.host().to_string());
    t.port = Some(pg.port());
    t.user = Some(pg.user().to_owned());
    t.password_file = Some(password_file.to_path_buf());
    t
}

fn mariadb_target(db: &MariaDb, password_file: &Path) -> RestoreTarget {
    let mut t = RestoreTarget::new(DbKind::Mysql);
    t.host = Some(db.host().to_string());
    t.port = Some(db.port());
    t.user = Some(db.user().to_owned());
    t.password_file = Some(password_file.to_path_buf());
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
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), pg.password());
    let mut spec = pg_spec(&pg, "shop", &pw);
    let target = pg_target(&pg, &pw);
    for format in [DumpFormat::Plain, DumpFormat::Custom] {
        spec.format = format;
        let (dump, verdict) = dump_all(&spec);
        verdict.expect("dump");
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
    let (dump, verdict) = dump_all(&{
        let mut s = spec.clone();
        s.format = DumpFormat::Plain;
        s
    });
    verdict.expect("dump");
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
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), db.password());
    let (dump, verdict) = dump_all(&mariadb_spec(&db, "shop", &pw));
    verdict.expect("dump");
    let target = mariadb_target(&db, &pw);
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
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), pg.password());
    let (dump, verdict) = dump_all(&pg_spec(&pg, "shop", &pw));
    verdict.expect("dump");
    let target = pg_target(&pg, &pw);

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
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = password_file(dir.path(), db.password());
    let (dump, verdict) = dump_all(&mariadb_spec(&db, "shop", &pw));
    verdict.expect("dump");
    let target = mariadb_target(&db, &pw);

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
    let dir = tempfile::tempdir().expect("tempdir");
    let pg_pw = password_file(&dir.path().join("pg"), pg.password());
    let (pg_dump, verdict) = dump_all(&pg_spec(&pg, "shop", &pg_pw));
    verdict.expect("dump");
    let my_pw_dir = dir.path().join("my");
    let my_pw = password_file(&my_pw_dir, db.password());
    let (my_dump, verdict) = dump_all(&mariadb_spec(&db, "shop", &my_pw));
    verdict.expect("dump");

    let (mut target, name) = RestoreTarget::from_url(&pg.url_for("shop_restored")).expect("url");
    target.password_file = Some(pg_pw.clone());
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
    target.password_file = Some(my_pw.clone());
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
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = password_file(dir.path(), WRONG);
    for target in [pg_target(&pg, &wrong), mariadb_target(&db, &wrong)] {
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
