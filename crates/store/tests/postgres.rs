//! The PostgreSQL store's foundation against a real PostgreSQL (the
//! testkit's private server on 127.0.0.1, one per test binary, a fresh
//! database per test): the schema is created with the tables and columns
//! an SQLite store has, a second start leaves it alone, a newer version
//! or another application's database is refused, and a server that cannot
//! be reached or refuses the login is a clear error naming the server,
//! never the password. TLS goes through rustls against a `ca_file`.

mod support;

use std::collections::BTreeMap;

use keepup_store::{PostgresTarget, SCHEMA_VERSION, Store, StoreError};
use keepup_testkit::postgres::Postgres;
use support::{fresh_database, server};

/// Opens the store and says its schema version, as the tests before the
/// store ran on PostgreSQL did.
fn migrate_postgres(target: &PostgresTarget) -> Result<u32, StoreError> {
    Store::open_postgres(target)?.schema_version()
}

/// Table → column → type, as SQLite's `pragma_table_info` says it and
/// translated to the PostgreSQL type the store maps it to.
fn sqlite_columns() -> BTreeMap<String, BTreeMap<String, String>> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("keepup.db");
    drop(Store::open(&path).expect("SQLite store"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    let mut stmt = conn
        .prepare(
            "SELECT m.name, p.name, p.type FROM sqlite_schema m, pragma_table_info(m.name) p
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .expect("prepare");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .expect("query");
    for row in rows {
        let (table, column, ty) = row.expect("row");
        let pg = match ty.as_str() {
            "INTEGER" => "bigint",
            "TEXT" => "text",
            "BLOB" => "bytea",
            "REAL" => "double precision",
            other => panic!("{table}.{column}: SQLite type {other} has no PostgreSQL mapping"),
        };
        out.entry(table).or_default().insert(column, pg.to_owned());
    }
    out
}

fn postgres_columns(pg: &Postgres, db: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let text = pg
        .psql_in(
            db,
            "SELECT table_name, column_name, data_type FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> 'keepup_schema'",
        )
        .expect("psql");
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split('|');
        let (Some(t), Some(c), Some(ty)) = (parts.next(), parts.next(), parts.next()) else {
            panic!("psql line {line:?}");
        };
        out.entry(t.to_owned())
            .or_default()
            .insert(c.to_owned(), ty.to_owned());
    }
    out
}

#[test]
fn a_fresh_database_gets_the_tables_and_columns_an_sqlite_store_has() {
    let pg = server();
    let (db, target) = fresh_database(pg);
    assert_eq!(migrate_postgres(&target).expect("migrated"), SCHEMA_VERSION);
    let sqlite = sqlite_columns();
    assert!(sqlite.contains_key("result") && sqlite.contains_key("outbox"));
    assert_eq!(postgres_columns(pg, &db), sqlite);
    let version = pg
        .psql_in(&db, "SELECT application, version FROM keepup_schema")
        .expect("psql");
    assert_eq!(version.trim(), format!("1801807216|{SCHEMA_VERSION}"));
    // Indexes came along too, partial ones included.
    let indexes = pg
        .psql_in(
            &db,
            "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
        )
        .expect("psql");
    for name in [
        "incident_open",
        "outbox_due",
        "content_by_hash",
        "audit_by_source",
    ] {
        assert!(
            indexes.lines().any(|l| l == name),
            "{name} missing:\n{indexes}"
        );
    }
    // Ids are numbered by the database, as SQLite's rowids are.
    let id = pg
        .psql_in(
            &db,
            "INSERT INTO checks (key, site, name, kind) VALUES ('s/c', 's', 'c', 'http') RETURNING id",
        )
        .expect("insert");
    assert_eq!(id.trim(), "1");
}

#[test]
fn a_second_start_leaves_the_schema_alone_and_a_newer_one_is_refused() {
    let pg = server();
    let (db, target) = fresh_database(pg);
    migrate_postgres(&target).expect("first");
    pg.psql_in(
        &db,
        "INSERT INTO memo (kind, key, value, updated_at) VALUES ('k', 'x', 'kept', 1)",
    )
    .expect("insert");
    assert_eq!(migrate_postgres(&target).expect("second"), SCHEMA_VERSION);
    let kept = pg.psql_in(&db, "SELECT value FROM memo").expect("psql");
    assert_eq!(kept.trim(), "kept");

    pg.psql_in(
        &db,
        &format!("UPDATE keepup_schema SET version = {}", SCHEMA_VERSION + 1),
    )
    .expect("update");
    let err = migrate_postgres(&target).expect_err("newer refused");
    assert!(
        matches!(err, StoreError::TooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "store postgres://{}@127.0.0.1:{}/{db}: schema version {} is newer",
            pg.user(),
            pg.port(),
            SCHEMA_VERSION + 1
        )),
        "{text}"
    );
    assert!(!text.contains(pg.password()), "{text}");
}

#[test]
fn another_applications_database_is_left_untouched() {
    let pg = server();
    let (db, target) = fresh_database(pg);
    pg.psql_in(&db, "CREATE TABLE orders (id BIGINT PRIMARY KEY)")
        .expect("table");
    let err = migrate_postgres(&target).expect_err("refused");
    assert!(
        matches!(err, StoreError::NotKeepup { objects: 1, .. }),
        "{err}"
    );
    let tables = pg
        .psql_in(
            &db,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .expect("psql");
    assert_eq!(tables.trim(), "orders");
}

#[test]
fn an_unreachable_server_or_a_refused_login_names_the_server_not_the_password() {
    let pg = server();
    let (_, mut target) = fresh_database(pg);
    target.password = Some("wrong Sh0p pa'ss".into());
    let err = migrate_postgres(&target).expect_err("login refused");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("store {}: open: ", target.shown()))
            && text.contains("password authentication failed")
            && text.contains("SQLSTATE 28P01"),
        "{text}"
    );
    assert!(
        !text.contains("wrong Sh0p") && !text.contains(pg.password()),
        "{text}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    target.port = port;
    target.password = Some(pg.password().to_owned());
    let err = migrate_postgres(&target).expect_err("nothing listens");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("store postgres://{}@127.0.0.1:{port}/", pg.user()))
            && text.contains("open: cannot connect"),
        "{text}"
    );
    assert!(!text.contains(pg.password()), "{text}");
}

#[test]
fn tls_is_verified_against_the_ca_file() {
    use keepup_testkit::pki::{CertAuthority, validity};
    let ca = CertAuthority::new("keepup store test CA").expect("CA");
    let issued = ca.issue(&["localhost"], validity::current()).expect("leaf");
    let pg = Postgres::start_with_tls(&issued).expect("PostgreSQL with TLS");
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.root_pem()).expect("ca file");
    pg.create_database("tls").expect("db");
    let mut target = PostgresTarget {
        host: "localhost".into(),
        port: pg.port(),
        user: pg.user().to_owned(),
        database: "tls".into(),
        password: Some(pg.password().to_owned()),
        tls: true,
        ca_file: Some(ca_file),
    };
    assert_eq!(migrate_postgres(&target).expect("over TLS"), SCHEMA_VERSION);
    // Another CA's certificate is refused before the password goes.
    let other = CertAuthority::new("someone else").expect("CA");
    let other_file = dir.path().join("other.pem");
    std::fs::write(&other_file, other.root_pem()).expect("file");
    target.ca_file = Some(other_file);
    let err = migrate_postgres(&target).expect_err("untrusted");
    let text = err.to_string();
    assert!(
        text.contains("open: ") && text.contains("certificate"),
        "{text}"
    );
}

#[test]
fn an_operation_not_on_postgres_yet_says_so_and_changes_nothing() {
    use keepup_model::{CheckId, Outcome, Status};
    let pg = server();
    let (db, target) = fresh_database(pg);
    let store = Store::open_postgres(&target).expect("open");
    let err = store
        .record(&[keepup_store::ResultRecord {
            check: CheckId::new("shop", "web"),
            at: 60_000,
            outcome: Outcome::new(Status::Up, "HTTP 200"),
            backfill: false,
        }])
        .expect_err("record is SQLite only so far");
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "store {}: record: not yet supported: `record` runs on SQLite only so far (issue 19)",
            target.shown()
        )
    );
    let rows = pg
        .psql_in(&db, "SELECT count(*) FROM result")
        .expect("psql");
    assert_eq!(rows.trim(), "0");
    // Memos do run there.
    store.put_memo("k", "a", "1", 5).expect("memo");
    assert_eq!(store.memo("k", "a").expect("read").as_deref(), Some("1"));
}

/// After the server restarts (its own here: the shared one stays up) the
/// store opens its session again: reads and write transactions work
/// without restarting keepup.
#[test]
fn the_session_is_opened_again_after_the_server_restarts() {
    use keepup_store::AuditEntry;
    let mut pg = Postgres::start().expect("PostgreSQL starts");
    let (_, target) = fresh_database(&pg);
    let store = Store::open_postgres(&target).expect("open");
    store
        .audit(&AuditEntry::new(1_000, "admin", "login", "ui", "before"))
        .expect("written");
    pg.restart().expect("restarted");
    let entries = store.audit_since(0, 10).expect("read after the restart");
    assert_eq!(entries.len(), 1);
    // A write transaction (advisory lock and all) on the new session.
    assert!(
        store
            .audit_repeated(
                &AuditEntry::new(2_000, "admin", "login", "ui", "after"),
                "10.0.0.1",
                60_000
            )
            .expect("written after the restart")
    );
    assert_eq!(store.audit_since(0, 10).expect("read").len(), 2);
    assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
}
