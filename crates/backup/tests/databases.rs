//! Database dumps and restores against real PostgreSQL and MariaDB servers
//! (testkit), filled with generated shop data: dumps are streamed from
//! `pg_dump` / `mysqldump` into memory (no file), failures are reported as
//! failures, and passwords never show up in messages.

use std::io::Read;
use std::path::Path;

use keepup_backup::dump::{DbKind, DumpError, DumpFormat, DumpSource, DumpSpec};
use keepup_testkit::mariadb::MariaDb;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;

/// A file holding `password`, in `dir`.
fn password_file(dir: &Path, password: &str) -> std::path::PathBuf {
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
