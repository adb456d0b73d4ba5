//! The store's operations that run on both backends, each test run on a
//! fresh SQLite file and in a fresh PostgreSQL database (the testkit's,
//! one server for this binary) through `on_both_backends!`: the same
//! suite, not two copies. An operation joins this list when its module
//! moves onto the SQL layer (issue 19).

mod support;

use keepup_model::CheckId;
use keepup_store::{AuditEntry, MemoChange, SCHEMA_VERSION, Store, TokenScope};
use support::on_both_backends;

on_both_backends!(
    the_schema_is_at_this_builds_version,
    memos_are_written_replaced_listed_and_deleted,
    memos_are_deleted_by_key_range,
    maintenance_windows_start_cover_and_stop,
    tokens_work_until_expiry_or_revocation_and_record_their_use,
    entries_read_back_in_time_order_from_a_point_on,
    repeats_from_one_source_within_the_window_are_one_entry,
    guesses_from_ever_new_networks_stop_adding_entries_past_the_limit,
    an_entry_still_repeating_is_read_from_a_point_after_it_began,
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

// The audit log (20 below is `audit::MAX_SOURCES`).

fn entry(at: i64, action: &str) -> AuditEntry {
    AuditEntry::new(at, "cli:ann", action, "bob", "")
}

fn entries_read_back_in_time_order_from_a_point_on(s: &Store) {
    for (at, action) in [(10, "user.add"), (30, "user.remove"), (20, "user.passwd")] {
        s.audit(&entry(at, action)).unwrap();
    }
    let read: Vec<_> = s
        .audit_since(15, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(read, ["user.passwd", "user.remove"]);
    assert_eq!(s.audit_since(0, 1).unwrap(), [entry(30, "user.remove")]);
}

fn repeats_from_one_source_within_the_window_are_one_entry(s: &Store) {
    let failure = |at, target: &str, detail: &str| {
        AuditEntry::new(at, "anonymous", "login.failure", target, detail)
    };
    // A guess a second for two windows of 100 s from one network.
    let mut written = 0;
    for at in 0..200 {
        let e = failure(at * 1000, "ann", &format!("from 192.0.2.{}", at % 7));
        written += usize::from(s.audit_repeated(&e, "192.0.2.0/24", 100_000).unwrap());
    }
    assert_eq!(written, 2);
    // Another source, another target: entries of their own.
    assert!(
        s.audit_repeated(&failure(5_000, "ann", "x"), "198.51.100.0/24", 100_000)
            .unwrap()
    );
    assert!(
        s.audit_repeated(&failure(5_000, "bob", "x"), "192.0.2.0/24", 100_000)
            .unwrap()
    );
    let read = s.audit_since(0, 100).unwrap();
    let ann: Vec<_> = read
        .iter()
        .filter(|e| e.target == "ann" && e.detail.starts_with("from 192.0.2."))
        .map(|e| (e.at, e.repeats, e.last_at))
        .collect();
    assert_eq!(ann, [(0, 100, Some(99_000)), (100_000, 100, Some(199_000))]);
    let first = read.iter().find(|e| e.at == 0).unwrap();
    assert_eq!(
        first.detail_shown(),
        "from 192.0.2.1 (100 times, the last at 1970-01-01T00:01:39Z)"
    );
    // Plain entries are never counted together.
    s.audit(&entry(1, "user.add")).unwrap();
    s.audit(&entry(1, "user.add")).unwrap();
    assert_eq!(s.audit_since(0, 100).unwrap().len(), 6);
}

fn guesses_from_ever_new_networks_stop_adding_entries_past_the_limit(s: &Store) {
    let mut written = 0;
    for i in 0..200 {
        let e = AuditEntry::new(
            1000 + i,
            "anonymous",
            "login.failure",
            "ann",
            &format!("from 10.{i}.0.1"),
        );
        let source = format!("10.{i}.0.0/24");
        written += usize::from(s.audit_repeated(&e, &source, 600_000).unwrap());
    }
    let read = s.audit_since(0, 1000).unwrap();
    assert_eq!(read.len(), 20 + 1, "{read:#?}");
    assert_eq!(written, read.len());
    assert_eq!(read.iter().map(|e| e.repeats).sum::<u32>(), 200);
    let many = read.last().unwrap();
    assert_eq!(many.repeats, 200 - 20);
    assert_eq!(
        many.detail,
        "from more than 20 networks; the latest from 10.199.0.1"
    );
    // A source already kept apart still counts on its own entry, and
    // another target is not affected.
    let e = AuditEntry::new(2000, "anonymous", "login.failure", "ann", "from 10.3.0.9");
    assert!(!s.audit_repeated(&e, "10.3.0.0/24", 600_000).unwrap());
    let e = AuditEntry::new(2000, "anonymous", "login.failure", "bob", "x");
    assert!(s.audit_repeated(&e, "10.150.0.0/24", 600_000).unwrap());
    let read = s.audit_since(0, 1000).unwrap();
    assert_eq!(
        read.iter()
            .find(|e| e.detail == "from 10.3.0.9")
            .unwrap()
            .repeats,
        2
    );
}

fn an_entry_still_repeating_is_read_from_a_point_after_it_began(s: &Store) {
    let failure = |at| AuditEntry::new(at, "anonymous", "login.failure", "ann", "x");
    // A guess every 10 s from one network for 5 minutes: one entry
    // that began at 0 and repeats up to 300 s.
    for at in (0..=300_000).step_by(10_000) {
        s.audit_repeated(&failure(at), "192.0.2.0/24", 600_000)
            .unwrap();
    }
    s.audit(&entry(100_000, "user.add")).unwrap();
    let read = s.audit_since(200_000, 10).unwrap();
    let actions: Vec<_> = read
        .iter()
        .map(|e| (e.action.as_str(), e.repeats))
        .collect();
    assert_eq!(actions, [("login.failure", 31)], "{read:#?}");
    assert!(s.audit_since(300_001, 10).unwrap().is_empty());
}
