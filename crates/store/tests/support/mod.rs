//! Shared by the store's PostgreSQL tests: the one server of a test binary
//! (the testkit's PostgreSQL on 127.0.0.1, started on first use, stopped
//! by its watchdog when the binary ends) and a fresh database per test.

// Each test binary uses a part of this module.
#![allow(dead_code, unused_imports, unused_macros)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use keepup_store::{PostgresTarget, Store};
use keepup_testkit::postgres::Postgres;

/// The test binary's PostgreSQL server.
pub fn server() -> &'static Postgres {
    static SERVER: OnceLock<Postgres> = OnceLock::new();
    SERVER.get_or_init(|| Postgres::start().expect("PostgreSQL starts"))
}

/// A fresh database on the shared server, and the target that reaches it.
pub fn fresh_database(pg: &Postgres) -> (String, PostgresTarget) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let db = format!("store_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    pg.create_database(&db).expect("database created");
    let target = PostgresTarget {
        host: pg.host().to_string(),
        port: pg.port(),
        user: pg.user().to_owned(),
        database: db.clone(),
        password: Some(pg.password().to_owned()),
        tls: false,
        ca_file: None,
    };
    (db, target)
}

/// A store in a fresh PostgreSQL database.
pub fn postgres_store() -> Store {
    let (_, target) = fresh_database(server());
    Store::open_postgres(&target).expect("PostgreSQL store")
}

/// A store in a fresh SQLite file (kept while the returned directory is).
pub fn sqlite_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("dir");
    let store = Store::open(&dir.path().join("keepup.db")).expect("SQLite store");
    (dir, store)
}

/// Runs each named `fn(&Store)` as two tests, `sqlite::NAME` on a fresh
/// SQLite file and `postgres::NAME` in a fresh PostgreSQL database: one
/// suite for both backends, not two copies.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let (_dir, store) = crate::support::sqlite_store();
                    super::$name(&store);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    let store = crate::support::postgres_store();
                    super::$name(&store);
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
