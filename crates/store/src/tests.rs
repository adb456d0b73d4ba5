//! Behaviour of the store through its public API, with a peek at the tables
//! where the point is how data is stored (dedupe, retention).

use std::time::Duration;

use keepup_model::{CheckId, Finding, Outcome, Severity, Status, TimingBreakdown};

use crate::{CheckMeta, PingKind, Resolution, ResultRecord, Retention, Store};

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2025-01-01T00:00:00Z, a day boundary.
const T0: i64 = 1_735_689_600_000;

fn id(s: &str) -> CheckId {
    CheckId(s.to_owned())
}

fn outcome(status: Status, latency_ms: f64, message: &str) -> Outcome {
    let mut o = Outcome::new(status, message);
    o.latency_ms = latency_ms;
    o
}

fn rec(check: &str, at: i64, status: Status, latency_ms: f64, message: &str) -> ResultRecord {
    ResultRecord {
        check: id(check),
        at,
        outcome: outcome(status, latency_ms, message),
        backfill: false,
    }
}

/// `r` recorded late, as history (an agent's backlog).
fn late(r: ResultRecord) -> ResultRecord {
    ResultRecord {
        backfill: true,
        ..r
    }
}

fn count(store: &Store, table: &str) -> i64 {
    store
        .with_state("test", |st| {
            Ok(st
                .conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
        })
        .unwrap()
}

/// A tiny deterministic generator, so tests need no dependency and fail
/// the same way every time.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn store_is_clone_send_sync() {
    fn assert<T: Clone + Send + Sync + 'static>() {}
    assert::<Store>();
}

#[test]
fn fresh_store_is_at_latest_schema() {
    let s = Store::open_in_memory().unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
    const { assert!(crate::SCHEMA_VERSION >= 1) };
    assert!(s.latest().unwrap().is_empty());
}

/// The permission bits of `path`.
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_store_file_is_created_for_its_owner_and_kept_from_others() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let files = |p: &std::path::Path| {
        ["", "-wal", "-shm"].map(|s| std::path::PathBuf::from(format!("{}{s}", p.display())))
    };
    {
        let s = Store::open(&path).unwrap();
        s.record(&[rec("a/b", T0, Status::Up, 1.0, "ok")]).unwrap();
        for f in files(&path) {
            assert_eq!(mode_of(&f), 0o600, "{}", f.display());
        }
    }
    // A file someone made readable to all loses the others' bits at the
    // next open; the group keeps what the admin gave it.
    for f in files(&path) {
        if f.exists() {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).unwrap();
        }
    }
    let s = Store::open(&path).unwrap();
    s.record(&[rec("a/b", T0 + MIN, Status::Up, 1.0, "ok")])
        .unwrap();
    for f in files(&path) {
        assert_eq!(mode_of(&f), 0o660, "{}", f.display());
    }
}

#[test]
fn since_moves_only_when_status_changes() {
    let s = Store::open_in_memory().unwrap();
    let c = "shop/web";
    s.record(&[rec(c, T0, Status::Up, 10.0, "ok")]).unwrap();
    s.record(&[rec(c, T0 + MIN, Status::Up, 11.0, "ok")])
        .unwrap();
    let l = s.latest_for(&id(c)).unwrap().unwrap();
    assert_eq!(
        (l.at, l.since, l.outcome.status),
        (T0 + MIN, T0, Status::Up)
    );
    assert_eq!(l.outcome.latency_ms, 11.0);

    s.record(&[rec(c, T0 + 2 * MIN, Status::Down, 0.5, "refused")])
        .unwrap();
    s.record(&[rec(c, T0 + 3 * MIN, Status::Down, 0.7, "refused")])
        .unwrap();
    let l = s.latest_for(&id(c)).unwrap().unwrap();
    assert_eq!(
        (l.at, l.since, l.outcome.status),
        (T0 + 3 * MIN, T0 + 2 * MIN, Status::Down)
    );
    assert_eq!(l.outcome.message, "refused");

    // Within one batch, given out of order: time order decides.
    s.record(&[
        rec(c, T0 + 6 * MIN, Status::Up, 9.0, "ok"),
        rec(c, T0 + 4 * MIN, Status::Down, 1.0, "refused"),
        rec(c, T0 + 5 * MIN, Status::Up, 8.0, "ok"),
    ])
    .unwrap();
    let l = s.latest_for(&id(c)).unwrap().unwrap();
    assert_eq!(
        (l.at, l.since, l.outcome.status),
        (T0 + 6 * MIN, T0 + 5 * MIN, Status::Up)
    );
    assert_eq!(l.outcome.latency_ms, 9.0);

    // A late result is history only.
    s.record(&[late(rec(c, T0 + 30_000, Status::Degraded, 99.0, "late"))])
        .unwrap();
    let l = s.latest_for(&id(c)).unwrap().unwrap();
    assert_eq!(
        (l.at, l.since, l.outcome.status),
        (T0 + 6 * MIN, T0 + 5 * MIN, Status::Up)
    );
    assert_eq!(s.results(&id(c), T0, T0 + 1, 10).unwrap().len(), 1);
    assert_eq!(
        s.results(&id(c), T0 + 30_000, T0 + 30_001, 10).unwrap()[0]
            .outcome
            .message,
        "late"
    );
}

#[test]
fn latest_lists_checks_in_id_order_with_metadata() {
    let s = Store::open_in_memory().unwrap();
    s.register_checks(&[CheckMeta {
        id: id("b/tls"),
        site: "b".into(),
        name: "tls".into(),
        kind: "tls".into(),
        max_gap: None,
    }])
    .unwrap();
    s.record(&[
        rec("b/tls", T0, Status::Up, 1.0, "ok"),
        rec("a/web", T0, Status::Down, 2.0, "refused"),
    ])
    .unwrap();
    // A registered check without results is not listed.
    s.register_checks(&[CheckMeta {
        id: id("c/dns"),
        site: "c".into(),
        name: "dns".into(),
        kind: "dns".into(),
        max_gap: None,
    }])
    .unwrap();
    let latest = s.latest().unwrap();
    let ids: Vec<_> = latest.iter().map(|l| l.meta.id.as_str()).collect();
    assert_eq!(ids, ["a/web", "b/tls"]);
    assert_eq!(latest[0].meta, CheckMeta::unregistered(&id("a/web")));
    assert_eq!(latest[0].meta.kind, "unknown");
    assert_eq!(
        (latest[0].meta.site.as_str(), latest[0].meta.name.as_str()),
        ("a", "web")
    );
    assert_eq!(latest[1].meta.kind, "tls");
    assert!(s.latest_for(&id("c/dns")).unwrap().is_none());
    assert!(s.latest_for(&id("nope/nope")).unwrap().is_none());

    // Upsert: registering again updates, history stays.
    s.register_checks(&[CheckMeta {
        id: id("a/web"),
        site: "a".into(),
        name: "web".into(),
        kind: "http".into(),
        max_gap: None,
    }])
    .unwrap();
    let l = s.latest_for(&id("a/web")).unwrap().unwrap();
    assert_eq!(l.meta.kind, "http");
    assert_eq!(l.outcome.message, "refused");
}

#[test]
fn outcomes_round_trip_with_findings_details_and_timing() {
    let s = Store::open_in_memory().unwrap();
    let mut o = outcome(Status::Up, 123.456, "HTTP 200");
    o.push(Finding::new(
        "TLS_CERT_EXPIRING",
        Severity::Warning,
        "expires in 9 days",
    ));
    o.evidence.insert("status_code", 200);
    o.evidence
        .insert("headers", serde_json::json!({"server": "nginx"}));
    o.evidence.timing = Some(TimingBreakdown {
        dns_ms: Some(1.25),
        connect_ms: Some(2.5),
        tls_ms: None,
        first_byte_ms: Some(100.001),
        total_ms: Some(123.456),
    });
    let r = ResultRecord {
        check: id("s/c"),
        at: T0,
        outcome: o,
        backfill: false,
    };
    s.record(std::slice::from_ref(&r)).unwrap();
    assert_eq!(
        s.results(&id("s/c"), T0, T0 + 1, 1).unwrap(),
        vec![r.clone()]
    );
    assert_eq!(
        s.latest_for(&id("s/c")).unwrap().unwrap().outcome,
        r.outcome
    );
    assert_eq!(r.outcome.status, Status::Degraded, "push worsened it");
}

#[test]
fn results_range_is_half_open_newest_first_and_limited() {
    let s = Store::open_in_memory().unwrap();
    let batch: Vec<_> = (0..10)
        .flat_map(|i| {
            [
                rec("s/a", T0 + i * MIN, Status::Up, i as f64, "ok"),
                rec("s/b", T0 + i * MIN, Status::Up, 100.0 + i as f64, "ok"),
            ]
        })
        .collect();
    s.record(&batch).unwrap();
    let got = s
        .results(&id("s/a"), T0 + 2 * MIN, T0 + 5 * MIN, 100)
        .unwrap();
    let at: Vec<_> = got.iter().map(|r| r.at).collect();
    assert_eq!(at, [T0 + 4 * MIN, T0 + 3 * MIN, T0 + 2 * MIN]);
    assert!(
        got.iter()
            .all(|r| r.check == id("s/a") && r.outcome.latency_ms < 100.0)
    );
    let limited = s.results(&id("s/a"), i64::MIN, i64::MAX, 2).unwrap();
    assert_eq!(
        limited.iter().map(|r| r.at).collect::<Vec<_>>(),
        [T0 + 9 * MIN, T0 + 8 * MIN]
    );
    assert!(
        s.results(&id("s/zzz"), i64::MIN, i64::MAX, 10)
            .unwrap()
            .is_empty()
    );

    // Same check, same millisecond: the second replaces the first.
    s.record(&[rec("s/a", T0, Status::Down, 5.0, "replaced")])
        .unwrap();
    let same = s.results(&id("s/a"), T0, T0 + 1, 10).unwrap();
    assert_eq!(same.len(), 1);
    assert_eq!(same[0].outcome.message, "replaced");
}

#[test]
fn identical_contents_are_stored_once() {
    let s = Store::open_in_memory().unwrap();
    s.record(&[
        rec("s/a", T0, Status::Up, 1.0, "HTTP 200"),
        rec("s/a", T0 + MIN, Status::Up, 2.0, "HTTP 200"),
        rec("s/b", T0, Status::Up, 3.0, "HTTP 200"),
    ])
    .unwrap();
    // A new handle has an empty cache: the hash lookup must find it too.
    s.with_state("test", |st| {
        st.contents.clear();
        Ok(())
    })
    .unwrap();
    s.record(&[rec("s/c", T0, Status::Up, 4.0, "HTTP 200")])
        .unwrap();
    assert_eq!(count(&s, "content"), 1);
    assert_eq!(count(&s, "result"), 4);

    s.record(&[rec("s/a", T0 + 2 * MIN, Status::Down, 1.0, "HTTP 500")])
        .unwrap();
    assert_eq!(count(&s, "content"), 2);
    // Same message, different findings: a different content.
    let mut o = outcome(Status::Up, 1.0, "HTTP 200");
    o.findings.push(Finding::new("X", Severity::Info, "note"));
    s.record(&[ResultRecord {
        check: id("s/a"),
        at: T0 + 3 * MIN,
        outcome: o,
        backfill: false,
    }])
    .unwrap();
    assert_eq!(count(&s, "content"), 3);
    let back = s.results(&id("s/a"), T0, T0 + 10 * MIN, 10).unwrap();
    let messages: Vec<_> = back
        .iter()
        .map(|r| (r.outcome.message.as_str(), r.outcome.findings.len()))
        .collect();
    assert_eq!(
        messages,
        [
            ("HTTP 200", 1),
            ("HTTP 500", 0),
            ("HTTP 200", 0),
            ("HTTP 200", 0)
        ]
    );
}

/// Nearest-rank percentile computed the slow, obvious way: the smallest
/// value v such that at least p% of the values are <= v.
fn percentile(values: &[i64], p: u32) -> i64 {
    let n = values.len() as u64;
    let mut candidates = values.to_vec();
    candidates.sort();
    candidates
        .into_iter()
        .find(|&v| values.iter().filter(|&&x| x <= v).count() as u64 * 100 >= u64::from(p) * n)
        .unwrap()
}

#[test]
fn rollups_match_an_independent_computation() {
    let s = Store::open_in_memory().unwrap();
    let c = "s/web";
    let mut rng = Lcg(7);
    // One day of results every 20 s with random latencies and statuses.
    let mut batch = Vec::new();
    for i in 0..(DAY / 20_000) {
        let at = T0 + i * 20_000 + (rng.next() % 1000) as i64;
        let status = match rng.next() % 20 {
            0 => Status::Down,
            1 => Status::Degraded,
            2 => Status::Unknown,
            _ => Status::Up,
        };
        let latency_us = 1_000 + (rng.next() % 900_000) as i64;
        batch.push(rec(c, at, status, latency_us as f64 / 1000.0, "m"));
    }
    s.record(&batch).unwrap();
    let report = s
        .compact(T0 + DAY + 5 * MIN, &Retention::default())
        .unwrap();
    assert_eq!(
        report.minute_rollups, 1440,
        "the 5 minutes of the next day have no results"
    );
    assert_eq!(report.hour_rollups, 24);
    assert_eq!(report.day_rollups, 1);

    for res in Resolution::ALL {
        let w = res.width_ms();
        let rollups = s.rollups(&id(c), res, T0, T0 + DAY).unwrap();
        assert_eq!(rollups.len() as i64, DAY / w, "{res:?}");
        for r in &rollups {
            let in_bucket: Vec<_> = batch
                .iter()
                .filter(|b| b.at >= r.bucket_start && b.at < r.bucket_start + w)
                .collect();
            let lat: Vec<i64> = in_bucket
                .iter()
                .map(|b| (b.outcome.latency_ms * 1000.0).round() as i64)
                .collect();
            let n = |st: Status| in_bucket.iter().filter(|b| b.outcome.status == st).count() as u32;
            assert_eq!(
                (r.up, r.degraded, r.down, r.unknown),
                (
                    n(Status::Up),
                    n(Status::Degraded),
                    n(Status::Down),
                    n(Status::Unknown)
                ),
                "{res:?} {}",
                r.bucket_start
            );
            assert_eq!(r.total() as usize, lat.len());
            // Rollups keep 0.1 ms, rounded half up.
            let ms = |us: i64| ((us + 50) / 100) as f64 / 10.0;
            assert_eq!(r.latency_min_ms, ms(*lat.iter().min().unwrap()));
            assert_eq!(r.latency_max_ms, ms(*lat.iter().max().unwrap()));
            assert_eq!(r.latency_p50_ms, ms(percentile(&lat, 50)), "{res:?} p50");
            assert_eq!(r.latency_p95_ms, ms(percentile(&lat, 95)), "{res:?} p95");
            assert_eq!(r.latency_p99_ms, ms(percentile(&lat, 99)), "{res:?} p99");
            let mean = lat.iter().sum::<i64>() as f64 / lat.len() as f64;
            assert!(
                (r.latency_mean_ms - mean / 1000.0).abs() <= 0.050_001,
                "{res:?} mean"
            );
        }
    }
    // The range selects bucket starts in [from, to).
    let hours = s
        .rollups(&id(c), Resolution::Hour, T0 + HOUR, T0 + 3 * HOUR)
        .unwrap();
    assert_eq!(
        hours.iter().map(|r| r.bucket_start).collect::<Vec<_>>(),
        [T0 + HOUR, T0 + 2 * HOUR]
    );
    let hours = s
        .rollups(&id(c), Resolution::Hour, T0 + HOUR + 1, T0 + 3 * HOUR + 1)
        .unwrap();
    assert_eq!(
        hours.iter().map(|r| r.bucket_start).collect::<Vec<_>>(),
        [T0 + 2 * HOUR, T0 + 3 * HOUR]
    );
}

#[test]
fn compaction_is_idempotent_and_incremental() {
    let s = Store::open_in_memory().unwrap();
    let batch: Vec<_> = (0..120)
        .map(|i| rec("s/a", T0 + i * MIN, Status::Up, i as f64, "ok"))
        .collect();
    s.record(&batch).unwrap();
    // Only the first hour is complete.
    let first = s
        .compact(T0 + HOUR + 30 * MIN, &Retention::default())
        .unwrap();
    assert_eq!(
        (first.minute_rollups, first.hour_rollups, first.day_rollups),
        (90, 1, 0)
    );
    let again = s
        .compact(T0 + HOUR + 30 * MIN, &Retention::default())
        .unwrap();
    assert_eq!(again.rollups_written(), 0);
    let stored = |res| {
        s.rollups(&id("s/a"), res, i64::MIN, i64::MAX)
            .unwrap()
            .len()
    };
    assert_eq!(stored(Resolution::Minute), 90);
    assert_eq!(stored(Resolution::Hour), 1);

    // Later: only the new buckets are written.
    let later = s.compact(T0 + 2 * HOUR, &Retention::default()).unwrap();
    assert_eq!(
        (later.minute_rollups, later.hour_rollups, later.day_rollups),
        (30, 1, 0)
    );
    let hours = s
        .rollups(&id("s/a"), Resolution::Hour, T0, T0 + DAY)
        .unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(
        (
            hours[1].up,
            hours[1].latency_min_ms,
            hours[1].latency_max_ms
        ),
        (60, 60.0, 119.0)
    );
    assert_eq!(
        (hours[1].latency_p50_ms, hours[1].latency_mean_ms),
        (89.0, 89.5)
    );

    // A result arriving for an already rolled-up bucket is kept raw but
    // does not change the rollup.
    s.record(&[late(rec("s/a", T0 + 30_000, Status::Down, 1.0, "late"))])
        .unwrap();
    assert_eq!(
        s.compact(T0 + 2 * HOUR, &Retention::default())
            .unwrap()
            .rollups_written(),
        0
    );
    let h = s.rollups(&id("s/a"), Resolution::Hour, T0, T0 + 1).unwrap();
    assert_eq!((h[0].up, h[0].down), (60, 0));

    // A long gap is skipped, not walked: the next results are rolled up.
    s.record(&[rec("s/a", T0 + 40 * DAY, Status::Up, 5.0, "ok")])
        .unwrap();
    let r = s.compact(T0 + 41 * DAY, &Retention::default()).unwrap();
    assert_eq!((r.minute_rollups, r.hour_rollups, r.day_rollups), (1, 1, 2));
}

#[test]
fn retention_deletes_old_rows_and_keeps_new_ones() {
    let s = Store::open_in_memory().unwrap();
    // Ten days of one result per hour for two checks.
    let mut batch = Vec::new();
    for h in 0..(10 * 24) {
        batch.push(rec("s/a", T0 + h * HOUR, Status::Up, 1.0, "ok"));
        batch.push(rec(
            "s/b",
            T0 + h * HOUR + 1,
            Status::Up,
            1.0,
            &format!("unique {h}"),
        ));
    }
    s.record(&batch).unwrap();
    let now = T0 + 10 * DAY;
    let retention = Retention {
        raw: Duration::from_secs(3 * 86_400),
        minute: Duration::from_secs(86_400),
        hour: Duration::from_secs(5 * 86_400),
        day: Duration::from_secs(730 * 86_400),
        ..Retention::default()
    };
    let report = s.compact(now, &retention).unwrap();
    assert_eq!(report.raw_deleted, 2 * 7 * 24);
    // 240 minute/hour buckets per check written, one day of minute buckets
    // and five days of hour buckets kept.
    assert_eq!(report.rollups_deleted, 2 * (240 - 24) + 2 * (240 - 5 * 24));
    assert_eq!(count(&s, "result"), 2 * 3 * 24);
    for c in ["s/a", "s/b"] {
        let raw = s.results(&id(c), i64::MIN, i64::MAX, 1000).unwrap();
        assert_eq!(
            raw.last().unwrap().at - raw.last().unwrap().at % HOUR,
            now - 3 * DAY,
            "{c}"
        );
        let minutes = s
            .rollups(&id(c), Resolution::Minute, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!((minutes.len(), minutes[0].bucket_start), (24, now - DAY));
        let hours = s
            .rollups(&id(c), Resolution::Hour, i64::MIN, i64::MAX)
            .unwrap();
        assert_eq!(
            (hours.len(), hours[0].bucket_start),
            (5 * 24, now - 5 * DAY)
        );
        assert_eq!(
            s.rollups(&id(c), Resolution::Day, i64::MIN, i64::MAX)
                .unwrap()
                .len(),
            10
        );
    }
    // s/b's unique messages older than the raw cutoff (minus the hour of
    // slack) are gone; s/a's one message stays.
    let contents = count(&s, "content");
    assert_eq!(contents, 1 + 3 * 24 + 1, "{report:?}");
    assert!(report.contents_deleted > 0);
    // Idempotent.
    let again = s.compact(now, &retention).unwrap();
    assert_eq!(again, crate::CompactReport::default());
    // Every remaining result still reads back (no dangling content).
    assert_eq!(
        s.results(&id("s/b"), i64::MIN, i64::MAX, 1000)
            .unwrap()
            .len(),
        3 * 24
    );
}

#[test]
fn compaction_deletes_old_audit_entries_and_ended_sessions() {
    let s = Store::open_in_memory().unwrap();
    let now = T0 + 500 * DAY;
    for (age_days, action) in [(401, "old"), (399, "kept")] {
        let at = now - age_days * DAY;
        s.audit(&crate::AuditEntry::new(at, "cli:ann", action, "x", ""))
            .unwrap();
    }
    s.add_user("ann", "h", crate::Role::Viewer, 0).unwrap();
    let ann = s.user("ann").unwrap().unwrap().id;
    s.create_session(b"idle", ann, "c", now - 2 * HOUR, now + DAY)
        .unwrap();
    s.create_session(b"expired", ann, "c", now - 10 * MIN, now - MIN)
        .unwrap();
    s.create_session(b"live", ann, "c", now - 10 * MIN, now + DAY)
        .unwrap();
    let retention = Retention {
        session_idle: Duration::from_secs(3600),
        ..Retention::default()
    };
    let r = s.compact(now, &retention).unwrap();
    assert_eq!((r.audit_deleted, r.sessions_deleted), (1, 2));
    let kept: Vec<_> = s
        .audit_since(0, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(kept, ["kept"]);
    assert_eq!(count(&s, "web_session"), 1);
    assert!(s.session(b"live", now, HOUR).unwrap().is_some());
}

#[test]
fn raw_results_wait_for_their_rollups() {
    let s = Store::open_in_memory().unwrap();
    s.record(&[rec("s/a", T0 + HOUR, Status::Up, 1.0, "ok")])
        .unwrap();
    let zero = Retention {
        raw: Duration::ZERO,
        ..Retention::default()
    };
    // The day is not complete: the day tier still needs the raw result.
    let r = s.compact(T0 + 3 * HOUR, &zero).unwrap();
    assert_eq!((r.hour_rollups, r.raw_deleted), (1, 0));
    let r = s.compact(T0 + DAY, &zero).unwrap();
    assert_eq!((r.day_rollups, r.raw_deleted), (1, 1));
    // The current state outlives its raw result and its content.
    let l = s.latest_for(&id("s/a")).unwrap().unwrap();
    assert_eq!(l.outcome.message, "ok");
    s.compact(T0 + 100 * DAY, &zero).unwrap();
    assert_eq!(
        s.latest_for(&id("s/a")).unwrap().unwrap().outcome.message,
        "ok"
    );
}

#[test]
fn contents_stored_after_compaction_are_reused_correctly() {
    // Compaction clears the content cache; a result recorded afterwards
    // with a content that was garbage-collected must be stored again.
    let s = Store::open_in_memory().unwrap();
    s.record(&[
        rec("s/a", T0, Status::Up, 1.0, "old"),
        rec("s/a", T0 + MIN, Status::Up, 1.0, "new"),
    ])
    .unwrap();
    let zero = Retention {
        raw: Duration::ZERO,
        ..Retention::default()
    };
    s.compact(T0 + 10 * DAY, &zero).unwrap();
    assert_eq!(count(&s, "result"), 0);
    assert_eq!(
        count(&s, "content"),
        1,
        "only the current state's content stays"
    );
    s.record(&[rec("s/a", T0 + 10 * DAY, Status::Up, 1.0, "old")])
        .unwrap();
    let back = s.results(&id("s/a"), i64::MIN, i64::MAX, 10).unwrap();
    assert_eq!(back[0].outcome.message, "old");
}

#[test]
fn pings_keep_the_last_and_a_short_history() {
    let s = Store::open_in_memory().unwrap();
    let c = id("s/cron");
    assert_eq!(s.last_ping(&c).unwrap(), None);
    s.record_ping(&c, T0, PingKind::Success).unwrap();
    s.record_ping(&c, T0 + MIN, PingKind::Fail).unwrap();
    assert_eq!(s.last_ping(&c).unwrap(), Some((T0 + MIN, PingKind::Fail)));
    // An older ping arriving late does not become the last one.
    s.record_ping(&c, T0 - MIN, PingKind::Success).unwrap();
    assert_eq!(s.last_ping(&c).unwrap(), Some((T0 + MIN, PingKind::Fail)));
    for i in 0..150 {
        s.record_ping(&c, T0 + (10 + i) * MIN, PingKind::Success)
            .unwrap();
    }
    let history = s.pings(&c, 1000).unwrap();
    assert_eq!(history.len(), 100);
    assert_eq!(history[0], (T0 + 159 * MIN, PingKind::Success));
    assert_eq!(history[99].0, T0 + 60 * MIN);
    // Pings of another check are separate; the check was registered on the fly.
    s.record_ping(&id("s/other"), T0, PingKind::Fail).unwrap();
    assert_eq!(s.pings(&c, 1000).unwrap().len(), 100);
    assert_eq!(
        s.last_ping(&id("s/other")).unwrap(),
        Some((T0, PingKind::Fail))
    );
}

#[test]
fn a_batch_is_one_transaction() {
    let s = Store::open_in_memory().unwrap();
    s.record(&[rec("s/a", T0, Status::Up, 1.0, "ok")]).unwrap();
    // Make the second half of a batch fail: a trigger rejects one row.
    s.with_state("test", |st| {
        st.conn.execute_batch(
            "CREATE TEMP TRIGGER no_b BEFORE INSERT ON main.result WHEN NEW.check_id = 2
             BEGIN SELECT RAISE(ABORT, 'refused by test'); END;",
        )?;
        Ok(())
    })
    .unwrap();
    let err = s
        .record(&[
            rec("s/a", T0 + MIN, Status::Down, 1.0, "x"),
            rec("s/b", T0 + MIN, Status::Down, 1.0, "y"),
        ])
        .unwrap_err();
    assert!(
        err.to_string().starts_with("store :memory:: record: "),
        "{err}"
    );
    assert!(err.to_string().contains("refused by test"), "{err}");
    assert_eq!(count(&s, "result"), 1);
    assert_eq!(count(&s, "checks"), 1, "s/b's registration rolled back too");
    let l = s.latest_for(&id("s/a")).unwrap().unwrap();
    assert_eq!((l.at, l.outcome.status), (T0, Status::Up));
    // The caches were dropped with the transaction: s/b works afterwards.
    s.with_state("test", |st| {
        st.conn.execute_batch("DROP TRIGGER temp.no_b")?;
        Ok(())
    })
    .unwrap();
    s.record(&[rec("s/b", T0 + MIN, Status::Down, 1.0, "y")])
        .unwrap();
    assert_eq!(
        s.latest_for(&id("s/b")).unwrap().unwrap().outcome.message,
        "y"
    );
}

/// Rollup figures as the version 6 tables held them: bucket number, counts
/// and latencies in 0.1 ms.
type OldRow = (i64, [u32; 4], [i64; 6]);

/// Old rows of one check: buckets with gaps, sorted latency figures and
/// counts from 0 to large.
fn old_rows(rng: &mut Lcg, first: i64, n: usize) -> Vec<OldRow> {
    let mut bucket = first;
    (0..n)
        .map(|_| {
            bucket += 1 + (rng.next() % 3) as i64 * (rng.next() % 2) as i64;
            let mut lat: Vec<i64> = (0..5).map(|_| (rng.next() % 40_000) as i64).collect();
            lat.sort();
            let mean = lat[0] + (rng.next() % (lat[4] - lat[0] + 1) as u64) as i64;
            let counts = [
                (rng.next() % 70_000) as u32,
                (rng.next() % 2) as u32,
                (rng.next() % 3) as u32 * 300,
                0,
            ];
            (
                bucket,
                counts,
                [lat[0], lat[1], lat[2], lat[3], lat[4], mean],
            )
        })
        .collect()
}

fn as_rollup(width: i64, (bucket, [up, degraded, down, unknown], l): OldRow) -> crate::Rollup {
    let ms = |units: i64| units as f64 / 10.0;
    crate::Rollup {
        bucket_start: bucket * width,
        up,
        degraded,
        down,
        unknown,
        latency_min_ms: ms(l[0]),
        latency_p50_ms: ms(l[1]),
        latency_p95_ms: ms(l[2]),
        latency_p99_ms: ms(l[3]),
        latency_max_ms: ms(l[4]),
        latency_mean_ms: ms(l[5]),
    }
}

#[test]
fn a_version_6_store_is_migrated_without_changing_a_figure() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let mut rng = Lcg(11);
    let tables = [
        (Resolution::Minute, "rollup_minute", T0 / MIN - 7, 500),
        (Resolution::Hour, "rollup_hour", T0 / HOUR - 5, 200),
        (Resolution::Day, "rollup_day", T0 / DAY - 3, 20),
    ];
    let mut written = Vec::new();
    {
        // The schema of version 6, filled as that version's compaction did.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for step in &crate::schema::MIGRATIONS[..6] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        conn.pragma_update(None, "application_id", crate::schema::APPLICATION_ID)
            .unwrap();
        for check in ["s/a", "s/b"] {
            let (site, name) = check.split_once('/').unwrap();
            conn.execute(
                "INSERT INTO checks (key, site, name, kind) VALUES (?1, ?2, ?3, 'http')",
                [check, site, name],
            )
            .unwrap();
            let check_id = conn.last_insert_rowid();
            for (res, table, first, n) in tables {
                let rows = old_rows(&mut rng, first, n);
                for &(bucket, c, l) in &rows {
                    conn.execute(
                        &format!(
                            "INSERT INTO {table} (check_id, bucket, up, degraded, down, unknown,
                               lat_min, lat_p50, lat_p95, lat_p99, lat_max, lat_mean)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                        ),
                        rusqlite::params![
                            check_id, bucket, c[0], c[1], c[2], c[3], l[0], l[1], l[2], l[3], l[4],
                            l[5]
                        ],
                    )
                    .unwrap();
                }
                written.push((check, res, rows));
            }
        }
    }

    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
    for (check, res, rows) in &written {
        let w = res.width_ms();
        let expect: Vec<_> = rows.iter().map(|&r| as_rollup(w, r)).collect();
        let got = s.rollups(&id(check), *res, i64::MIN, i64::MAX).unwrap();
        assert_eq!(got, expect, "{check} {res:?}");
        // A range starting and ending inside packed rows (mid-hour,
        // mid-day) holds exactly the buckets that start in it.
        let (from, to) = (rows[3].0 * w - 1, rows[rows.len() - 4].0 * w + 1);
        let inside: Vec<_> = expect
            .iter()
            .filter(|r| r.bucket_start >= from && r.bucket_start < to)
            .cloned()
            .collect();
        assert_eq!(
            s.rollups(&id(check), *res, from, to).unwrap(),
            inside,
            "{check} {res:?} [{from}, {to})"
        );
    }
    for old in ["rollup_minute", "rollup_hour"] {
        assert_eq!(count(&s, &format!("sqlite_schema WHERE name = '{old}'")), 0);
    }
}

#[test]
fn compaction_merges_into_packed_rows_and_ranges_cut_through_them() {
    let s = Store::open_in_memory().unwrap();
    let c = "s/web";
    // Three days every 5 minutes, latency growing with time.
    let batch: Vec<_> = (0..3 * 288)
        .map(|i| rec(c, T0 + i * 5 * MIN, Status::Up, 1.0 + i as f64, "ok"))
        .collect();
    // Rolled up in pieces that end mid-hour and mid-day, so rows are
    // written, then extended.
    let keep = Retention {
        minute: Duration::from_secs(7 * 86_400),
        ..Retention::default()
    };
    s.record(&batch[..100]).unwrap();
    s.compact(T0 + 100 * 5 * MIN + 7 * MIN, &keep).unwrap();
    s.record(&batch[100..]).unwrap();
    let report = s.compact(T0 + 3 * DAY, &keep).unwrap();
    assert_eq!(report.day_rollups, 3);

    // From 10:30 on the first day to 13:30 on the third.
    let (from, to) = (
        T0 + 10 * HOUR + 30 * MIN,
        T0 + 2 * DAY + 13 * HOUR + 30 * MIN,
    );
    let hours = s.rollups(&id(c), Resolution::Hour, from, to).unwrap();
    assert_eq!(hours.len(), 13 + 24 + 14);
    assert_eq!(hours[0].bucket_start, T0 + 11 * HOUR);
    assert_eq!(hours.last().unwrap().bucket_start, T0 + 2 * DAY + 13 * HOUR);
    for h in &hours {
        let first = (h.bucket_start - T0) / (5 * MIN);
        assert_eq!(h.up, 12);
        assert_eq!(h.latency_min_ms, 1.0 + first as f64);
        assert_eq!(h.latency_max_ms, 1.0 + first as f64 + 11.0);
    }
    let minutes = s.rollups(&id(c), Resolution::Minute, from, to).unwrap();
    // 10:30 to 10:55, the hours in between, 13:00 to 13:25.
    assert_eq!(minutes.len(), 6 + (hours.len() - 1) * 12 + 6);
    assert!(
        minutes
            .windows(2)
            .all(|w| w[0].bucket_start < w[1].bucket_start)
    );
    assert_eq!(minutes[0].bucket_start, from);
    assert_eq!(
        minutes.iter().map(|m| m.total()).sum::<u32>() as usize,
        minutes.len()
    );
}

/// Backups stored `backup.failed`-style codes before every code followed
/// one convention: results and incidents written then read back under the
/// current code, so history still matches rules on today's codes.
#[test]
fn codes_stored_under_an_older_name_read_back_under_the_current_one() {
    let s = Store::open_in_memory().unwrap();
    let mut o = outcome(Status::Down, 0.0, "backup failed");
    o.push(Finding::new(
        "backup.failed",
        Severity::Critical,
        "no snapshot",
    ));
    o.push(Finding::new(
        "TLS_CERT_EXPIRING",
        Severity::Warning,
        "9 days",
    ));
    s.record(&[ResultRecord {
        check: id("shop/backup"),
        at: T0,
        outcome: o.clone(),
        backfill: false,
    }])
    .unwrap();
    let codes_of = |o: &Outcome| {
        o.findings
            .iter()
            .map(|f| f.code.clone())
            .collect::<Vec<_>>()
    };
    let expected = ["BACKUP_FAILED", "TLS_CERT_EXPIRING"];
    let latest = s.latest_for(&id("shop/backup")).unwrap().unwrap();
    assert_eq!(codes_of(&latest.outcome), expected);
    let history = s.results(&id("shop/backup"), T0, T0 + 1, 10).unwrap();
    assert_eq!(codes_of(&history[0].outcome), expected);

    let incident = s
        .open_incident(&crate::NewIncident {
            check: id("shop/backup"),
            status: Status::Down,
            opened_at: T0,
            detected_at: T0,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: o.message.clone(),
            findings: o.findings.clone(),
        })
        .unwrap();
    let stored = s.incident(incident).unwrap().unwrap();
    assert_eq!(
        stored
            .findings
            .iter()
            .map(|f| f.code.as_str())
            .collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn a_version_7_store_gets_status_spans_from_its_raw_results_and_hour_rollups() {
    use crate::packed::{self, Bucket};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    // Hours 0..6 after T0 are rolled up; raw results start at hour 6.
    let raw_from = T0 + 6 * HOUR;
    let hours: [[u32; 4]; 6] = [
        [60, 0, 0, 0],  // up
        [60, 0, 0, 0],  // up
        [0, 0, 60, 0],  // down
        [30, 0, 30, 0], // mixed: unknown
        [10, 0, 0, 0],  // too few results to have covered the hour: unknown
        [60, 0, 0, 0],  // up
    ];
    // Raw: up for 30 min, down for 10, nothing for 10, up for 20.
    let mut raw: Vec<(i64, i64)> = Vec::new();
    for i in 0..30 {
        raw.push((raw_from + i * MIN, 0));
    }
    for i in 30..40 {
        raw.push((raw_from + i * MIN, 2));
    }
    for i in 50..70 {
        raw.push((raw_from + i * MIN, 0));
    }
    {
        // The schema of version 7, filled as that version's recorder and
        // compaction did.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for step in &crate::schema::MIGRATIONS[..7] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 7).unwrap();
        conn.pragma_update(None, "application_id", crate::schema::APPLICATION_ID)
            .unwrap();
        conn.execute(
            "INSERT INTO content (id, hash, message, last_used) VALUES (1, 1, 'ok', 0)",
            [],
        )
        .unwrap();
        for (check, with_raw) in [("s/a", true), ("s/b", false)] {
            let (site, name) = check.split_once('/').unwrap();
            conn.execute(
                "INSERT INTO checks (key, site, name, kind) VALUES (?1, ?2, ?3, 'http')",
                [check, site, name],
            )
            .unwrap();
            let check_id = conn.last_insert_rowid();
            let buckets: Vec<Bucket> = hours
                .iter()
                .enumerate()
                .map(|(slot, &counts)| Bucket {
                    slot: slot as u32,
                    counts,
                    latency: [10; 6],
                })
                .collect();
            conn.execute(
                "INSERT INTO rollup_hour_by_day (check_id, period, buckets) VALUES (?1, ?2, ?3)",
                rusqlite::params![check_id, T0 / DAY, packed::encode(&buckets)],
            )
            .unwrap();
            if !with_raw {
                continue;
            }
            for &(ts, status) in &raw {
                conn.execute(
                    "INSERT INTO result (check_id, ts, status, latency_us, content_id) VALUES (?1, ?2, ?3, 1000, 1)",
                    rusqlite::params![check_id, ts, status],
                )
                .unwrap();
            }
            let &(last, status) = raw.last().unwrap();
            conn.execute(
                "INSERT INTO current (check_id, status, since, ts, latency_us, content_id) VALUES (?1, ?2, ?3, ?3, 1000, 1)",
                rusqlite::params![check_id, status, last],
            )
            .unwrap();
        }
    }

    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
    let brief = |checks: &[&str], from: i64, to: i64| -> Vec<(usize, i64, i64, Option<Status>)> {
        let ids: Vec<CheckId> = checks.iter().map(|c| id(c)).collect();
        s.status_spans(&ids, from, to)
            .map(|sp| {
                let sp = sp.unwrap();
                (sp.check, sp.from_ms - T0, sp.to_ms - T0, sp.status)
            })
            .collect()
    };
    // Estimated allowed gap: 1.5 times the median 60 s.
    let gap = 90_000;
    let resumed = 6 * HOUR + 50 * MIN;
    assert_eq!(
        brief(&["s/a"], T0 - HOUR, T0 + 8 * HOUR),
        [
            (0, -HOUR, 0, None),
            (0, 0, 2 * HOUR, Some(Status::Up)),
            (0, 2 * HOUR, 3 * HOUR, Some(Status::Down)),
            (0, 3 * HOUR, 5 * HOUR, None),
            (0, 5 * HOUR, 6 * HOUR + 30 * MIN, Some(Status::Up)),
            (
                0,
                6 * HOUR + 30 * MIN,
                6 * HOUR + 39 * MIN + gap,
                Some(Status::Down)
            ),
            (0, 6 * HOUR + 39 * MIN + gap, resumed, None),
            (0, resumed, 6 * HOUR + 69 * MIN + gap, Some(Status::Up)),
            (0, 6 * HOUR + 69 * MIN + gap, 8 * HOUR, None),
        ]
    );
    // Rollups only: the interval is estimated from the fullest hour.
    assert_eq!(
        brief(&["s/b"], T0, T0 + 6 * HOUR),
        [
            (0, 0, 2 * HOUR, Some(Status::Up)),
            (0, 2 * HOUR, 3 * HOUR, Some(Status::Down)),
            (0, 3 * HOUR, 5 * HOUR, None),
            (0, 5 * HOUR, 6 * HOUR, Some(Status::Up)),
        ]
    );
    // The open span goes on with the next result.
    s.record(&[rec("s/a", raw_from + 70 * MIN, Status::Up, 1.0, "ok")])
        .unwrap();
    assert_eq!(
        brief(&["s/a"], T0 + resumed, T0 + 6 * HOUR + 70 * MIN + gap),
        [(0, resumed, 6 * HOUR + 70 * MIN + gap, Some(Status::Up))]
    );
}

#[test]
fn findings_between_joins_one_finding_across_outcomes_within_the_range() {
    let s = Store::open_in_memory().unwrap();
    let expiring = Finding::new("TLS_CERT_EXPIRING", Severity::Warning, "expires in 9 days");
    let with = |at: i64, message: &str, findings: Vec<Finding>| {
        let mut r = rec("shop/tls", at, Status::Degraded, 5.0, message);
        r.outcome.findings = findings;
        r
    };
    let other = Finding::new("TLS_WEAK_KEY", Severity::Warning, "1024-bit RSA key");
    s.record(&[
        with(T0 - MIN, "before the range", vec![expiring.clone()]),
        with(T0, "handshake slow", vec![expiring.clone()]),
        with(
            T0 + MIN,
            "handshake ok",
            vec![expiring.clone(), other.clone()],
        ),
        with(T0 + 2 * MIN, "handshake slow", vec![expiring.clone()]),
        rec("shop/tls", T0 + 3 * MIN, Status::Up, 5.0, "fine"),
        with(T0 + HOUR, "after the range", vec![other.clone()]),
    ])
    .unwrap();
    let seen = s.findings_between(&id("shop/tls"), T0, T0 + HOUR).unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (
            &seen[0].finding,
            seen[0].first,
            seen[0].last,
            seen[0].results
        ),
        (&expiring, T0, T0 + 2 * MIN, 3)
    );
    assert_eq!(
        (
            &seen[1].finding,
            seen[1].first,
            seen[1].last,
            seen[1].results
        ),
        (&other, T0 + MIN, T0 + MIN, 1)
    );
    assert!(
        s.findings_between(&id("shop/none"), T0, T0 + HOUR)
            .unwrap()
            .is_empty()
    );
}

/// A Degraded result of `check` at `at` with `findings`.
fn with_findings(check: &str, at: i64, message: &str, findings: &[Finding]) -> ResultRecord {
    let mut r = rec(check, at, Status::Degraded, 5.0, message);
    r.outcome.findings = findings.to_vec();
    r
}

/// `(first, last, results)` relative to T0 of each finding seen.
fn seen_brief(s: &Store, check: &str, from: i64, to: i64) -> Vec<(String, i64, i64, u64)> {
    s.findings_between(&id(check), from, to)
        .unwrap()
        .into_iter()
        .map(|f| (f.finding.code, f.first - T0, f.last - T0, f.results))
        .collect()
}

#[test]
fn a_range_cut_inside_a_day_counts_only_its_part_of_that_day() {
    let s = Store::open_in_memory().unwrap();
    let expiring = Finding::new("TLS_CERT_EXPIRING", Severity::Warning, "expires in 9 days");
    // Two days every 10 minutes, one stored outcome throughout.
    let batch: Vec<_> = (0..288)
        .map(|i| {
            with_findings(
                "shop/tls",
                T0 + i * 10 * MIN,
                "slow",
                std::slice::from_ref(&expiring),
            )
        })
        .collect();
    s.record(&batch).unwrap();
    assert_eq!(count(&s, "finding_day"), 2);
    // A month in a zone east of UTC starts and ends inside UTC days.
    assert_eq!(
        seen_brief(&s, "shop/tls", T0 + 3 * HOUR + 1, T0 + DAY + 5 * HOUR),
        [(
            "TLS_CERT_EXPIRING".to_owned(),
            3 * HOUR + 10 * MIN,
            DAY + 5 * HOUR - 10 * MIN,
            125 + 30
        )]
    );
    // Within one day, and a range between two results.
    assert_eq!(
        seen_brief(&s, "shop/tls", T0 + 5 * MIN, T0 + 25 * MIN),
        [("TLS_CERT_EXPIRING".to_owned(), 10 * MIN, 20 * MIN, 2)]
    );
    assert!(seen_brief(&s, "shop/tls", T0 + MIN, T0 + 2 * MIN).is_empty());
    assert!(seen_brief(&s, "shop/tls", T0 + MIN, T0 + MIN).is_empty());
}

#[test]
fn findings_outlive_the_raw_results_as_long_as_day_rollups() {
    let s = Store::open_in_memory().unwrap();
    let expiring = Finding::new("TLS_CERT_EXPIRING", Severity::Warning, "expires in 9 days");
    let weak = Finding::new("TLS_WEAK_KEY", Severity::Warning, "1024-bit RSA key");
    // Three days every 10 minutes: fine until 06:00 on the first day,
    // then the warning, from the second day with another one beside it.
    let batch: Vec<_> = (0..3 * 144)
        .map(|i| {
            let at = T0 + i * 10 * MIN;
            match at - T0 {
                t if t < 6 * HOUR => rec("shop/tls", at, Status::Up, 5.0, "fine"),
                t if t < DAY => {
                    with_findings("shop/tls", at, "expiring", std::slice::from_ref(&expiring))
                }
                _ => with_findings("shop/tls", at, "both", &[expiring.clone(), weak.clone()]),
            }
        })
        .collect();
    s.record(&batch).unwrap();
    let whole = seen_brief(&s, "shop/tls", T0, T0 + 3 * DAY);
    assert_eq!(
        whole,
        [
            (
                "TLS_CERT_EXPIRING".to_owned(),
                6 * HOUR,
                3 * DAY - 10 * MIN,
                108 + 288
            ),
            ("TLS_WEAK_KEY".to_owned(), DAY, 3 * DAY - 10 * MIN, 288)
        ]
    );
    // A month later the raw results are gone, and the contents that only
    // the findings still name are kept.
    let report = s.compact(T0 + 30 * DAY, &Retention::default()).unwrap();
    assert_eq!(report.raw_deleted, 3 * 144);
    assert_eq!(count(&s, "result"), 0);
    assert_eq!(count(&s, "content WHERE message = 'expiring'"), 1);
    assert_eq!(seen_brief(&s, "shop/tls", T0, T0 + 3 * DAY), whole);
    // Without the raw results, a day cut by the range is clipped to it and
    // counted whole (the README says so).
    assert_eq!(
        seen_brief(&s, "shop/tls", T0 + 12 * HOUR, T0 + DAY),
        [(
            "TLS_CERT_EXPIRING".to_owned(),
            12 * HOUR,
            DAY - 10 * MIN,
            108
        )]
    );
    // Past the day rollups' retention, the days go too.
    let report = s
        .compact(T0 + 3 * DAY + 730 * DAY, &Retention::default())
        .unwrap();
    assert_eq!(report.finding_days_deleted, 3);
    assert!(seen_brief(&s, "shop/tls", T0, T0 + 3 * DAY).is_empty());
}

#[test]
fn migrating_a_version_9_store_backfills_the_findings_from_its_raw_results() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let expiring = Finding::new("TLS_CERT_EXPIRING", Severity::Warning, "expires in 9 days");
    let weak = Finding::new("TLS_WEAK_KEY", Severity::Warning, "1024-bit RSA key");
    let ranges = [
        (T0 - DAY, T0 + 3 * DAY),
        (T0 + 3 * HOUR + 1, T0 + DAY + 5 * HOUR),
    ];
    let (recorded, rows) = {
        let s = Store::open(&path).unwrap();
        let mut rng = Lcg(3);
        let mut batch = Vec::new();
        for i in 0..2 * 144 {
            let at = T0 + i * 10 * MIN;
            for check in ["shop/a", "shop/b"] {
                batch.push(match rng.next() % 4 {
                    0 => rec(check, at, Status::Up, 5.0, "fine"),
                    1 => with_findings(check, at, "expiring", std::slice::from_ref(&expiring)),
                    2 => with_findings(check, at, "weak", std::slice::from_ref(&weak)),
                    _ => with_findings(check, at, "both", &[weak.clone(), expiring.clone()]),
                });
            }
        }
        // In batches of an hour, as the daemon records them.
        for chunk in batch.chunks(12) {
            s.record(chunk).unwrap();
        }
        let recorded: Vec<_> = ranges
            .iter()
            .flat_map(|&(from, to)| ["shop/a", "shop/b"].map(|c| seen_brief(&s, c, from, to)))
            .collect();
        (recorded, count(&s, "finding_day"))
    };
    assert!(recorded.iter().all(|seen| seen.len() == 2), "{recorded:?}");
    {
        // The same file as version 9 left it: no findings table (nor what
        // later versions add).
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE finding_day; DROP TABLE incident_resolution;
             ALTER TABLE outbox DROP COLUMN last_attempt_at;
             DROP TABLE sla_report_mail; DROP TABLE sla_report; DROP TABLE sla_contract;
             DROP TABLE web_session; DROP TABLE api_token; DROP TABLE audit; DROP TABLE web_login_lock;
             DROP TABLE web_user; DROP TABLE dr_confirm; DROP TABLE dr_step; DROP TABLE dr_lock; DROP TABLE dr_run;
             DROP TABLE screenshot; DROP TABLE resolution_key; DROP TABLE sample; DROP TABLE agent_action; DROP TABLE action_run;
             DROP INDEX incident_by_check; DROP INDEX outbox_by_incident;
             PRAGMA user_version = 9;",
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
    assert_eq!(count(&s, "finding_day"), rows);
    let migrated: Vec<_> = ranges
        .iter()
        .flat_map(|&(from, to)| ["shop/a", "shop/b"].map(|c| seen_brief(&s, c, from, to)))
        .collect();
    assert_eq!(migrated, recorded);
}

#[test]
fn a_file_that_is_not_a_database_is_named_so_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keepup.db");
    let garbage = vec![0x5a_u8; 8192];
    std::fs::write(&path, &garbage).unwrap();
    let err = match Store::open(&path) {
        Ok(_) => panic!("a file of garbage opened as a store"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        format!(
            "store {}: open: the file is not an SQLite database (is the store path right? keepup does not overwrite it) (SQLite: file is not a database)",
            path.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn history_reads_run_while_the_writer_holds_an_open_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("keepup.db")).unwrap();
    s.record(&[rec("s/a", T0, Status::Up, 1.0, "ok")]).unwrap();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (read_tx, read_rx) = std::sync::mpsc::channel::<usize>();
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            // The store's lock and an uncommitted write, as a long batch
            // or a compaction holds them.
            s.with_state("test: a long write", |st| {
                let tx = st.conn.unchecked_transaction()?;
                tx.execute(
                    "INSERT INTO result (check_id, ts, status, latency_us, content_id)
                     SELECT check_id, ts + ?1, status, latency_us, content_id FROM result",
                    [MIN],
                )?;
                held_tx.send(()).ok();
                // Long enough for any reader; a reader that needs this
                // lock only gets it after this gives up and rolls back.
                let seen = read_rx.recv_timeout(Duration::from_secs(30)).ok();
                tx.rollback()?;
                Ok(seen)
            })
        })
    };
    if held_rx.recv().is_err() {
        panic!("the writer failed: {:?}", writer.join());
    }
    let read = s.results(&id("s/a"), 0, T0 + DAY, 10).unwrap();
    read_tx.send(read.len()).ok();
    let seen_while_held = writer.join().unwrap().unwrap();
    assert_eq!(
        seen_while_held,
        Some(1),
        "the read finished while the write was open, and saw only what was committed"
    );
    assert_eq!(read[0].outcome.status, Status::Up);
}

#[test]
fn many_concurrent_readers_share_a_few_connections() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("keepup.db")).unwrap();
    let batch: Vec<ResultRecord> = (0..120)
        .map(|i| rec("s/a", T0 + i * MIN, Status::Up, i as f64, "ok"))
        .collect();
    s.record(&batch).unwrap();
    s.compact(T0 + 3 * HOUR, &Retention::default()).unwrap();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| {
                        let minutes = s
                            .rollups(&id("s/a"), Resolution::Minute, T0, T0 + DAY)
                            .unwrap()
                            .len();
                        let spans = s
                            .status_spans(&[id("s/a")], T0, T0 + 2 * HOUR)
                            .collect::<Result<Vec<_>, _>>()
                            .unwrap()
                            .len();
                        (minutes, spans)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        for got in t.join().unwrap() {
            assert_eq!(got, (120, 1));
        }
    }
    let open = s.readers_open();
    assert!(
        (1..=crate::readers::MAX_READERS).contains(&open),
        "{open} readers"
    );
    assert_eq!(Store::open_in_memory().unwrap().readers_open(), 0);
}

/// An agent's backlog: results recorded after newer ones take their place
/// in the spans in time order, and `since` follows; the current state
/// stays the newest result's.
#[test]
fn late_results_take_their_place_in_the_status_spans() {
    let s = Store::open_in_memory().unwrap();
    let c = "s/host";
    s.register_checks(&[CheckMeta {
        id: id(c),
        site: "s".into(),
        name: "host".into(),
        kind: "host".into(),
        max_gap: Some(Duration::from_secs(90)),
    }])
    .unwrap();
    let spans = |to: i64| -> Vec<(i64, i64, Option<Status>)> {
        s.status_spans(&[id(c)], T0, to)
            .map(|r| {
                let r = r.unwrap();
                (r.from_ms - T0, r.to_ms - T0, r.status)
            })
            .collect()
    };
    // Heard at 0, then nothing the central could hear until 5 min: the
    // time after the allowed gap is unknown.
    s.record(&[rec(c, T0, Status::Up, 0.0, "ok")]).unwrap();
    s.record(&[rec(c, T0 + 5 * MIN, Status::Up, 0.0, "ok")])
        .unwrap();
    // The backlog: every minute in between, a full disk at 2 min.
    s.record(&[
        late(rec(c, T0 + MIN, Status::Up, 0.0, "ok")),
        late(rec(c, T0 + 2 * MIN, Status::Down, 0.0, "disk full")),
    ])
    .unwrap();
    s.record(&[late(rec(c, T0 + 3 * MIN, Status::Up, 0.0, "ok"))])
        .unwrap();
    s.record(&[late(rec(c, T0 + 4 * MIN, Status::Up, 0.0, "ok"))])
        .unwrap();
    let up = Some(Status::Up);
    assert_eq!(
        spans(T0 + 6 * MIN),
        [
            (0, 2 * MIN, up),
            (2 * MIN, 3 * MIN, Some(Status::Down)),
            (3 * MIN, 6 * MIN, up)
        ]
    );
    let l = s.latest_for(&id(c)).unwrap().unwrap();
    assert_eq!(
        (l.at, l.since, l.outcome.status),
        (T0 + 5 * MIN, T0 + 3 * MIN, Status::Up)
    );
    // The next result on time goes on from there.
    s.record(&[rec(c, T0 + 6 * MIN, Status::Down, 0.0, "silent")])
        .unwrap();
    assert_eq!(
        spans(T0 + 7 * MIN),
        [
            (0, 2 * MIN, up),
            (2 * MIN, 3 * MIN, Some(Status::Down)),
            (3 * MIN, 6 * MIN, up),
            (6 * MIN, 7 * MIN, Some(Status::Down))
        ]
    );
    // A late result older than every other one.
    s.record(&[late(rec(c, T0 - MIN, Status::Degraded, 0.0, "slow"))])
        .unwrap();
    let first: Vec<_> = s
        .status_spans(&[id(c)], T0 - MIN, T0 + MIN)
        .map(|r| {
            let r = r.unwrap();
            (r.from_ms - T0, r.to_ms - T0, r.status)
        })
        .collect();
    assert_eq!(first, [(-MIN, 0, Some(Status::Degraded)), (0, MIN, up)]);
}

/// A late result older than every raw result kept, after the raw results
/// behind the spans were pruned: the spans stay (they cannot be derived
/// again), the result is kept as raw history.
#[test]
fn a_late_result_older_than_the_raw_results_kept_leaves_the_spans_alone() {
    let s = Store::open_in_memory().unwrap();
    let c = "s/host";
    s.register_checks(&[CheckMeta {
        id: id(c),
        site: "s".into(),
        name: "host".into(),
        kind: "host".into(),
        max_gap: Some(Duration::from_secs(15 * 60)),
    }])
    .unwrap();
    let spans = || -> Vec<(i64, i64, Option<Status>)> {
        s.status_spans(&[id(c)], T0, T0 + 10 * DAY)
            .map(|r| {
                let r = r.unwrap();
                (r.from_ms - T0, r.to_ms - T0, r.status)
            })
            .collect()
    };
    // Up for a minute, Down for a minute, then Up every minute for 9 days.
    s.record(&[rec(c, T0, Status::Up, 0.0, "ok")]).unwrap();
    s.record(&[rec(c, T0 + MIN, Status::Down, 0.0, "full")])
        .unwrap();
    let mut at = T0 + 2 * MIN;
    while at <= T0 + 9 * DAY {
        s.record(&[rec(c, at, Status::Up, 0.0, "ok")]).unwrap();
        at += 10 * MIN;
    }
    let before = spans();
    assert_eq!(before[0], (0, MIN, Some(Status::Up)));
    assert_eq!(before[1], (MIN, 2 * MIN, Some(Status::Down)));
    // Raw results are kept 7 days: the first two are pruned.
    s.compact(T0 + 9 * DAY, &Retention::default()).unwrap();
    assert!(s.results(&id(c), T0, T0 + DAY, 10).unwrap().is_empty());
    // A report collected before all of it arrives late.
    s.record(&[late(rec(c, T0 - MIN, Status::Degraded, 0.0, "slow"))])
        .unwrap();
    assert_eq!(spans(), before, "the spans of pruned results are kept");
    assert_eq!(
        s.results(&id(c), T0 - MIN, T0, 10).unwrap().len(),
        1,
        "the late result is kept raw"
    );
}
