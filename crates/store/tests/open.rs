//! Opening files: creation, reopening, and refusing what is not ours.

use std::path::Path;

use keepup_model::{CheckId, Outcome, Status};
use keepup_store::{ResultRecord, SCHEMA_VERSION, Store, StoreError};

fn record_one(store: &Store, at: i64) {
    store
        .record(&[ResultRecord {
            check: CheckId("s/web".into()),
            at,
            outcome: Outcome::new(Status::Up, "ok"),
            backfill: false,
        }])
        .unwrap();
}

#[test]
fn open_creates_the_directory_and_reopens_with_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/keepup.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    record_one(&store, 1_000);
    drop(store);
    assert!(path.is_file());
    let store = Store::open(&path).unwrap();
    let latest = store.latest().unwrap();
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].at, 1_000);
    // WAL mode is on for file databases.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_garbage_file_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("store {}: ", path.display())),
        "{msg}"
    );
    assert!(msg.contains("not a database"), "{msg}");
    // Left untouched.
    assert_eq!(std::fs::read(&path).unwrap(), garbage);

    // A short text file too.
    let text = dir.path().join("notes.txt");
    std::fs::write(
        &text,
        "hello, this is not sqlite at all, but long enough to have a header\n",
    )
    .unwrap();
    let msg = Store::open(&text).unwrap_err().to_string();
    assert!(msg.contains("not a database"), "{msg}");
}

#[test]
fn a_directory_where_the_file_should_be_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("store {}: open", dir.path().display())),
        "{err}"
    );
}

fn set_pragma(path: &Path, name: &str, value: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, name, value).unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    drop(Store::open(&path).unwrap());
    set_pragma(&path, "user_version", i64::from(SCHEMA_VERSION) + 1);
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("newer") && msg.contains(&path.display().to_string()),
        "{msg}"
    );
}

#[test]
fn another_applications_database_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE bookmarks (url TEXT); INSERT INTO bookmarks VALUES ('x');",
        )
        .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::NotKeepup { objects: 1, .. }),
        "{err:?}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .unwrap();
    assert_eq!(tables, 1, "nothing was created");
}

#[test]
fn an_empty_file_is_migrated_from_version_zero() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    record_one(&store, 5);
    assert_eq!(store.latest().unwrap().len(), 1);
}

#[test]
fn two_handles_on_one_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    record_one(&a, 10);
    assert_eq!(b.latest().unwrap()[0].at, 10);
    // Clones share the connection and work from other threads.
    let c = a.clone();
    std::thread::spawn(move || record_one(&c, 20))
        .join()
        .unwrap();
    assert_eq!(b.latest().unwrap()[0].at, 20);
}

#[test]
fn a_damaged_keepup_database_gives_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    {
        let store = Store::open(&path).unwrap();
        for at in 0..2000 {
            record_one(&store, at * 60_000);
        }
    }
    // Keep the header page, scribble over everything else.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 8192,
        "expected several pages, got {}",
        bytes.len()
    );
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i.wrapping_mul(31) ^ 0x5a) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let check = CheckId("s/web".into());
    let outcome = Store::open(&path).and_then(|s| {
        s.latest()?;
        s.results(&check, 0, i64::MAX, 10)?;
        s.compact(i64::MAX / 2, &keepup_store::Retention::default())
    });
    let err = outcome.expect_err("a scribbled-over database cannot read back cleanly");
    assert!(
        err.to_string()
            .starts_with(&format!("store {}: ", path.display())),
        "{err}"
    );
}

#[test]
fn a_read_only_handle_follows_the_writer_and_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let writer = Store::open(&path).unwrap();
    record_one(&writer, 10);
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.latest().unwrap()[0].at, 10);
    record_one(&writer, 20);
    assert_eq!(reader.latest().unwrap()[0].at, 20, "sees later commits");
    let err = reader
        .record(&[ResultRecord {
            check: CheckId("s/web".into()),
            at: 30,
            outcome: Outcome::new(Status::Down, "no"),
            backfill: false,
        }])
        .unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
    assert_eq!(writer.latest().unwrap()[0].at, 20);
}

#[test]
fn a_read_only_handle_creates_nothing_and_refuses_other_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let err = Store::open_read_only(&missing).unwrap_err();
    assert!(err.to_string().contains("missing.db"), "{err}");
    assert!(!missing.exists(), "nothing was created");

    let path = dir.path().join("keepup.db");
    drop(Store::open(&path).unwrap());
    set_pragma(&path, "user_version", i64::from(SCHEMA_VERSION) - 1);
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooOld { .. }), "{err:?}");
    assert!(err.to_string().contains("keepup run"), "{err}");
    set_pragma(&path, "user_version", i64::from(SCHEMA_VERSION) + 1);
    let err = Store::open_read_only(&path).unwrap_err();
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");
}
