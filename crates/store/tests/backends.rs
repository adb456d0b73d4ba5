//! The store's operations that run on both backends, each test run on a
//! fresh SQLite file and in a fresh PostgreSQL database (the testkit's,
//! one server for this binary) through `on_both_backends!`: the same
//! suite, not two copies. An operation joins this list when its module
//! moves onto the SQL layer (issue 19).

mod support;

use keepup_model::CheckId;
use keepup_store::{MemoChange, SCHEMA_VERSION, Store, TokenScope};
use support::on_both_backends;

on_both_backends!(
    the_schema_is_at_this_builds_version,
    memos_are_written_replaced_listed_and_deleted,
    memos_are_deleted_by_key_range,
    maintenance_windows_start_cover_and_stop,
    tokens_work_until_expiry_or_revocation_and_record_their_use,
);

fn the_schema_is_at_this_builds_version(s: &Store) {
    assert_eq!(s.schema_version().expect("version"), SCHEMA_VERSION);
}

fn memos_are_written_replaced_listed_and_deleted(s: &Store) {
    assert_eq!(s.memo("k", "a").expect("read"), None);
    s.put_memo("k", "a", "1", 10).expect("put");
    s.write_memos(
        20,
        &[
            MemoChange::put("k", "b", "2".into()),
            MemoChange::put("k", "a", "3".into()),
            MemoChange::put("other", "a", "x".into()),
        ],
    )
    .expect("write");
    assert_eq!(
        s.memos("k").expect("list"),
        [("a".into(), "3".into()), ("b".into(), "2".into())]
    );
    s.write_memos(30, &[MemoChange::delete("k", "a")])
        .expect("delete");
    assert_eq!(s.memo("k", "a").expect("read"), None);
    assert_eq!(s.memo("other", "a").expect("read").as_deref(), Some("x"));
    // Text survives byte for byte (quotes, non-ASCII, a NUL-free JSON).
    let text = r#"{"note":"l'été \"chaud\"","n":1}"#;
    s.put_memo("k", "ü", text, 40).expect("put");
    assert_eq!(s.memo("k", "ü").expect("read").as_deref(), Some(text));
}

fn memos_are_deleted_by_key_range(s: &Store) {
    for day in ["2026-12-01", "2026-12-02", "2026-12-03"] {
        s.put_memo("daily", &format!("web@{day}"), "{}", 1)
            .expect("put");
    }
    assert_eq!(
        s.delete_memos_in("daily", "web@".."web@2026-12-03")
            .expect("delete"),
        2
    );
    let left: Vec<String> = s
        .memos("daily")
        .expect("list")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["web@2026-12-03"]);
}

fn maintenance_windows_start_cover_and_stop(s: &Store) {
    let id = s
        .start_maintenance("shop", 1_000, 3_600_000, "db upgrade", "alice")
        .expect("start");
    let w = &s.maintenance_after(2_000).expect("after")[0];
    assert!(w.covers(&CheckId::new("shop", "web"), |_| false));
    assert!(!w.covers(&CheckId::new("shopx", "web"), |_| true));
    assert!(w.open_at(2_000) && !w.open_at(3_600_000));
    assert_eq!(
        (w.reason.as_str(), w.created_by.as_str()),
        ("db upgrade", "alice")
    );
    assert!(s.stop_maintenance(id, 5_000).expect("stop"));
    assert!(
        !s.stop_maintenance(id, 6_000).expect("stop"),
        "already over"
    );
    assert_eq!(
        s.maintenance_window(id).expect("read").map(|w| w.ends_at),
        Some(5_000)
    );
    assert!(s.maintenance_window(id + 100).expect("read").is_none());
    assert!(s.maintenance_after(5_000).expect("after").is_empty());
    assert_eq!(s.maintenance_ended(5_000, 10).expect("ended")[0].id, id);
    assert!(s.maintenance_ended(4_999, 10).expect("ended").is_empty());
    let all = s.start_maintenance("*", 0, 10, "", "bob").expect("start");
    assert!(all > id, "numbered in order");
    assert!(
        s.maintenance_after(0)
            .expect("after")
            .iter()
            .any(|w| w.id == all && w.covers(&CheckId::new("x", "y"), |_| false))
    );
    let overlapping: Vec<i64> = s
        .maintenance_overlapping(0, 2_000)
        .expect("overlapping")
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(overlapping, [all, id]);
}

fn tokens_work_until_expiry_or_revocation_and_record_their_use(s: &Store) {
    assert!(
        s.create_token("ci", b"h1", TokenScope::Read, 10, None)
            .expect("create")
    );
    assert!(
        !s.create_token("ci", b"h2", TokenScope::Write, 10, None)
            .expect("create"),
        "the name is taken"
    );
    assert!(
        s.create_token("tmp", b"h3", TokenScope::Write, 10, Some(1_000))
            .expect("create")
    );
    assert_eq!(
        s.use_token(b"h1", 500).expect("use").map(|t| t.scope),
        Some(TokenScope::Read)
    );
    assert!(s.use_token(b"h2", 500).expect("use").is_none());
    assert!(s.use_token(b"h3", 999).expect("use").is_some());
    assert!(s.use_token(b"h3", 1_000).expect("use").is_none(), "expired");
    let listed = s.tokens().expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].name.as_str(), listed[0].last_used_at),
        ("ci", Some(500))
    );
    assert_eq!(
        (listed[1].expires_at, listed[1].created_at),
        (Some(1_000), 10)
    );
    assert!(s.revoke_token("ci").expect("revoke"));
    assert!(s.use_token(b"h1", 600).expect("use").is_none(), "revoked");
    assert!(!s.revoke_token("ci").expect("revoke"));
}
