//! The schema, its migrations and the connection settings.
//!
//! The version lives in `PRAGMA user_version`; `PRAGMA application_id` marks
//! the file as keepup's so that pointing keepup at some other SQLite file
//! is refused instead of "migrating" it. [`MIGRATIONS`] is an ordered list:
//! step `i` takes the schema from version `i` to `i + 1`. Pending steps run
//! in one transaction, so a crash mid-migration leaves the old version.
//! Steps are never edited once released; a change is a new step.
//!
//! Some steps also convert data in Rust ([`CONVERSIONS`]), in the same
//! transaction, right after their SQL.
//!
//! # Tables (version 1; version 2 adds `incident`, see the `incidents` module;
//! version 6 adds `memo`, see the `memo` module; version 7 packs minute and
//! hour rollups; version 18 adds the disaster-recovery journal, see the
//! `recovery` module)
//!
//! * `checks`: `CheckId` text to a small integer id used everywhere else,
//!   plus site, name and kind. Rows are never deleted: a check removed from
//!   the configuration keeps its history.
//! * `content`: the rarely-changing text of an outcome (message, findings
//!   JSON, evidence details JSON without timings), stored once per distinct
//!   value. Addressed by a 64-bit hash (`hash`, indexed, collisions resolved
//!   by comparing the text) and referenced by its integer `id`. `last_used`
//!   is moved forward at most once an hour per content and lets compaction
//!   delete contents no result refers to any more without an index on
//!   `result.content_id`.
//! * `result`: one row per raw result, `WITHOUT ROWID`, primary key
//!   `(check_id, ts)`. Status as 0..=3 (`Up` = 0 takes no payload byte in
//!   SQLite's record format), latency and the five timing phases as
//!   integer microseconds (NULL when absent), content as an integer.
//! * `current`: one row per check: the latest result (same columns) plus
//!   `since`, the time of the last status change.
//! * `rollup_day`: `WITHOUT ROWID`, primary key `(check_id, bucket)` where
//!   `bucket` is the bucket *number* (`start / width`, 3 bytes instead of
//!   6), status counts, latency min/p50/p95/p99/max/mean in units of
//!   100 µs (two bytes up to 3.2 s). Versions before 7 kept minute and hour
//!   rollups the same way (`rollup_minute`, `rollup_hour`).
//! * `rollup_minute_by_hour`, `rollup_hour_by_day` (version 7):
//!   `WITHOUT ROWID`, primary key `(check_id, period)` where `period` is
//!   the hour (day) number, and a blob of that period's minute (hour)
//!   buckets with the same figures, encoded by the `packed` module: about
//!   a third of the bytes of a row per bucket, whose key, record header and
//!   cell overhead outweighed its figures. `(check_id, period)` because
//!   every read is one check over a time range.
//! * `watermark`: per tier, the start of the first bucket not yet rolled
//!   up, so compaction only reads new raw results.
//! * `ping`: the last 100 heartbeat pings per check.
//! * `span` (version 8): `WITHOUT ROWID`, primary key `(check_id,
//!   start_ms)`: the closed status spans of a check, `[start_ms, end_ms)`
//!   with a status code, written by `Store::record` when a status changes
//!   or results stop; `current.span_start` is where the open one began and
//!   `checks.max_gap_ms` how long a result vouches for its status. The
//!   `spans` module documents the rules.
//! * `status_update` (version 9): public updates of incidents (status,
//!   text, author), indexed by time and by incident; see the
//!   `status_updates` module.
//! * `finding_day` (version 10): `WITHOUT ROWID`, primary key `(check_id,
//!   day, content_id)`: per check, UTC day (`ts / 86,400,000`, rounded
//!   down) and stored content with findings, the first and last result's
//!   time and how many results had it; written by `Store::record`,
//!   backfilled from the raw results by the migration, kept as long as
//!   day rollups. The `findings` module documents the rules.
//! * `incident_resolution` (version 11): who resolved an incident by hand
//!   (from the dashboard) and their note, one row per such incident; an
//!   incident its check's recovery resolved has none. Version 11 also adds
//!   `outbox.last_attempt_at`, when delivery was last tried, so a channel's
//!   last failure has a time.
//! * `sla_report`, `sla_report_mail`, `sla_contract` (version 12): the
//!   monthly SLA reports kept when their period closed, which outbox
//!   entries mail them, and since when the daemon knows each contract;
//!   the `reports` module documents them.
//! * `web_user`, `web_session`, `api_token`, `audit` (version 13): the
//!   dashboard's users (argon2id password hash, role), their sessions
//!   (only a SHA-256 of the cookie's id is kept, with the session's CSRF token and its idle and absolute expiry),
//!   API tokens (SHA-256 of the token, scope, expiry, last use) and the
//!   audit log (who did what to what, when). The `users`, `sessions`,
//!   `tokens` and `audit` modules document them.
//! * Version 14 indexes `incident` by `(check_id, opened_at)`: the status
//!   pages read only their checks' incidents of the last 90 days.
//! * `web_login_lock` (version 15): failed logins in a row and the lock
//!   per user and source network (IPv4 /24, IPv6 /64), replacing the
//!   per-user count and lock of version 13; the `users` module documents
//!   it.
//! * Version 16 indexes `outbox` by `incident_id`: an incident's page
//!   lists the notifications sent for it.
//! * Version 17 gives `audit` a `source`, `repeats` and `last_at`: failed
//!   logins repeated from one source network within a window are counted
//!   on one entry; the `audit` module documents it.
//!
//! * `dr_confirm` (version 19): a recovery run's `confirm` question
//!   asked without a terminal, waiting for a person's yes or no from the
//!   web, and who answered; the `recovery` module documents it.
//! * `screenshot` (version 20): the screenshots of failing browser checks,
//!   newest per check, as long as their results; the `screenshots` module
//!   documents it.
//! * `resolution_key` (version 21): hand resolutions with a note, filed
//!   by check and by finding code for the next outage's notification and
//!   page; the `resolutions` module documents it.
//! * `sample` (version 22): downsampled series of the measures capacity
//!   forecasts follow, per check and measure; the `samples` module
//!   documents it.
//! * `agent_action` (version 23): actions requested of agents, from filed
//!   to the agent's outcome; the `agent_actions` module documents it.
//! * `action_run` (version 24): the runs of `[[action]]`s, their outcome,
//!   output and confirmation (version 25 adds `incident`, version 26
//!   `decision`); the `action_runs` module documents it.
//!   Version 25 adds `incident`, the incident a run was made for.
//!
//! Foreign keys are enforced on the small tables (`current`, `ping`) but
//! not declared on `result` and the rollups: there a parent lookup and a
//! statement journal per row cost about 30 % of recording throughput, and
//! their `check_id`s only ever come from `checks` through this crate.

use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use crate::error::{Fail, StoreError};
use crate::packed::{self, Bucket};

/// `PRAGMA application_id` of a keepup database ("keep").
pub(crate) const APPLICATION_ID: i32 = 0x6b65_6570;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Step `i` migrates from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the initial schema.
    r#"
CREATE TABLE checks (
    id   INTEGER PRIMARY KEY,
    key  TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL
);

CREATE TABLE content (
    id        INTEGER PRIMARY KEY,
    hash      INTEGER NOT NULL,
    message   TEXT NOT NULL,
    findings  TEXT,
    details   TEXT,
    last_used INTEGER NOT NULL
);
CREATE INDEX content_by_hash ON content(hash);
CREATE INDEX content_by_last_used ON content(last_used);

CREATE TABLE result (
    check_id      INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    status        INTEGER NOT NULL,
    latency_us    INTEGER NOT NULL,
    content_id    INTEGER NOT NULL,
    dns_us        INTEGER,
    connect_us    INTEGER,
    tls_us        INTEGER,
    first_byte_us INTEGER,
    total_us      INTEGER,
    PRIMARY KEY (check_id, ts)
) WITHOUT ROWID;

CREATE TABLE current (
    check_id      INTEGER PRIMARY KEY REFERENCES checks(id),
    status        INTEGER NOT NULL,
    since         INTEGER NOT NULL,
    ts            INTEGER NOT NULL,
    latency_us    INTEGER NOT NULL,
    content_id    INTEGER NOT NULL,
    dns_us        INTEGER,
    connect_us    INTEGER,
    tls_us        INTEGER,
    first_byte_us INTEGER,
    total_us      INTEGER
);

CREATE TABLE rollup_minute (
    check_id  INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    up        INTEGER NOT NULL,
    degraded  INTEGER NOT NULL,
    down      INTEGER NOT NULL,
    unknown   INTEGER NOT NULL,
    lat_min   INTEGER NOT NULL,
    lat_p50   INTEGER NOT NULL,
    lat_p95   INTEGER NOT NULL,
    lat_p99   INTEGER NOT NULL,
    lat_max   INTEGER NOT NULL,
    lat_mean  INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_hour (
    check_id  INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    up        INTEGER NOT NULL,
    degraded  INTEGER NOT NULL,
    down      INTEGER NOT NULL,
    unknown   INTEGER NOT NULL,
    lat_min   INTEGER NOT NULL,
    lat_p50   INTEGER NOT NULL,
    lat_p95   INTEGER NOT NULL,
    lat_p99   INTEGER NOT NULL,
    lat_max   INTEGER NOT NULL,
    lat_mean  INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_day (
    check_id  INTEGER NOT NULL,
    bucket    INTEGER NOT NULL,
    up        INTEGER NOT NULL,
    degraded  INTEGER NOT NULL,
    down      INTEGER NOT NULL,
    unknown   INTEGER NOT NULL,
    lat_min   INTEGER NOT NULL,
    lat_p50   INTEGER NOT NULL,
    lat_p95   INTEGER NOT NULL,
    lat_p99   INTEGER NOT NULL,
    lat_max   INTEGER NOT NULL,
    lat_mean  INTEGER NOT NULL,
    PRIMARY KEY (check_id, bucket)
) WITHOUT ROWID;

CREATE TABLE watermark (
    tier    INTEGER PRIMARY KEY,
    next_ms INTEGER NOT NULL
);

CREATE TABLE ping (
    check_id INTEGER NOT NULL REFERENCES checks(id),
    ts       INTEGER NOT NULL,
    kind     INTEGER NOT NULL,
    PRIMARY KEY (check_id, ts)
) WITHOUT ROWID;
"#,
    // 1 -> 2: incidents, the single source for alerting and SLA accounting.
    r#"
CREATE TABLE incident (
    id              INTEGER PRIMARY KEY,
    check_id        INTEGER NOT NULL REFERENCES checks(id),
    status          INTEGER NOT NULL,
    opened_at       INTEGER NOT NULL,
    detected_at     INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    cause_incident  INTEGER REFERENCES incident(id),
    suppressed      INTEGER NOT NULL DEFAULT 0,
    maintenance     INTEGER NOT NULL DEFAULT 0,
    message         TEXT NOT NULL,
    findings        TEXT
);
-- At most one open incident per check, enforced by the database.
CREATE UNIQUE INDEX incident_open ON incident(check_id) WHERE resolved_at IS NULL;
CREATE INDEX incident_by_opened ON incident(opened_at);
CREATE INDEX incident_by_cause ON incident(cause_incident) WHERE cause_incident IS NOT NULL;
"#,
    // 2 -> 3: the durable notification outbox.
    r#"
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    dedup_key       TEXT NOT NULL,
    channel         TEXT NOT NULL,
    incident_id     INTEGER REFERENCES incident(id),
    payload         TEXT NOT NULL,
    state           INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    sent_at         INTEGER,
    provider_id     TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE state IN (0, 1);
CREATE INDEX outbox_by_created ON outbox(created_at);
"#,
    // 3 -> 4: maintenance windows started from the command line.
    r#"
CREATE TABLE maintenance (
    id         INTEGER PRIMARY KEY,
    target     TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX maintenance_by_end ON maintenance(ends_at);
"#,
    // 4 -> 5: the outbox's created_at index cost every enqueue an index
    // write for the sake of a daily retention scan, which reads the table.
    r#"
DROP INDEX outbox_by_created;
"#,
    // 5 -> 6: state that used to live only in memory and must survive a
    // restart (see the `memo` module).
    r#"
CREATE TABLE memo (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
"#,
    // 6 -> 7: minute and hour rollups packed a period per row; the rows
    // are converted by `pack_rollups`, which then drops the old tables.
    r#"
CREATE TABLE rollup_minute_by_hour (
    check_id INTEGER NOT NULL,
    period   INTEGER NOT NULL,
    buckets  BLOB NOT NULL,
    PRIMARY KEY (check_id, period)
) WITHOUT ROWID;
CREATE TABLE rollup_hour_by_day (
    check_id INTEGER NOT NULL,
    period   INTEGER NOT NULL,
    buckets  BLOB NOT NULL,
    PRIMARY KEY (check_id, period)
) WITHOUT ROWID;
"#,
    // 7 -> 8: status spans for SLA accounting (see the `spans` module);
    // `backfill_spans` fills them from the raw results and hour rollups.
    r#"
ALTER TABLE checks ADD COLUMN max_gap_ms INTEGER;
ALTER TABLE current ADD COLUMN span_start INTEGER;
CREATE TABLE span (
    check_id INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER NOT NULL,
    status   INTEGER NOT NULL,
    PRIMARY KEY (check_id, start_ms)
) WITHOUT ROWID;
"#,
    // 8 -> 9: public updates of incidents (see the `status_updates` module).
    r#"
CREATE TABLE status_update (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    at          INTEGER NOT NULL,
    status      TEXT NOT NULL,
    text        TEXT NOT NULL,
    author      TEXT NOT NULL
);
CREATE INDEX status_update_by_at ON status_update(at);
CREATE INDEX status_update_by_incident ON status_update(incident_id, at);
"#,
    // 9 -> 10: where findings were seen, per check, UTC day and content
    // (see the `findings` module), backfilled from the raw results still
    // kept. The day is rounded down also before 1970, as in Rust.
    r#"
CREATE TABLE finding_day (
    check_id   INTEGER NOT NULL,
    day        INTEGER NOT NULL,
    content_id INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    results    INTEGER NOT NULL,
    PRIMARY KEY (check_id, day, content_id)
) WITHOUT ROWID;
INSERT INTO finding_day (check_id, day, content_id, first_ms, last_ms, results)
SELECT r.check_id, (r.ts - (r.ts % 86400000 + 86400000) % 86400000) / 86400000,
       r.content_id, MIN(r.ts), MAX(r.ts), COUNT(*)
FROM result r JOIN content t ON t.id = r.content_id
WHERE t.findings IS NOT NULL
GROUP BY 1, 2, 3;
"#,
    // 10 -> 11: incidents resolved by hand and their notes; the time of a
    // notification's last delivery attempt (see the module's header).
    r#"
CREATE TABLE incident_resolution (
    incident_id INTEGER PRIMARY KEY REFERENCES incident(id),
    resolved_by TEXT NOT NULL,
    note        TEXT NOT NULL
);
ALTER TABLE outbox ADD COLUMN last_attempt_at INTEGER;
"#,
    // 11 -> 12: SLA reports the daemon kept when their period closed (see
    // the `reports` module): the files zstd-compressed, one row per
    // contract and period; which outbox entries mail which report; and
    // since when the daemon has known each contract.
    r#"
CREATE TABLE sla_report (
    id           INTEGER PRIMARY KEY,
    contract     TEXT NOT NULL,
    period       TEXT NOT NULL,
    from_ms      INTEGER NOT NULL,
    to_ms        INTEGER NOT NULL,
    generated_at INTEGER NOT NULL,
    html         BLOB NOT NULL,
    csv          BLOB NOT NULL,
    json         BLOB NOT NULL,
    UNIQUE (contract, period)
);
CREATE TABLE sla_report_mail (
    outbox_id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES sla_report(id)
);
CREATE TABLE sla_contract (
    contract   TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    // 12 -> 13: the web's people and machines (see the `users`, `sessions`,
    // `tokens` and `audit` modules).
    r#"
CREATE TABLE web_user (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER
);
CREATE TABLE web_session (
    id_hash     BLOB PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES web_user(id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX web_session_by_user ON web_session(user_id);
CREATE TABLE api_token (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    hash         BLOB NOT NULL UNIQUE,
    scope        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit(at);
"#,
    // 13 -> 14: a check's incidents by opening time, for the status pages.
    r#"
CREATE INDEX incident_by_check ON incident(check_id, opened_at);
"#,
    // 14 -> 15: the account lock moves from the user to the pair of user
    // and source network, so a guesser elsewhere cannot lock the owner
    // out (see the `users` module).
    r#"
CREATE TABLE web_login_lock (
    user_id         INTEGER NOT NULL REFERENCES web_user(id) ON DELETE CASCADE,
    source          TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL,
    last_attempt    INTEGER NOT NULL,
    locked_until    INTEGER,
    PRIMARY KEY (user_id, source)
) WITHOUT ROWID;
ALTER TABLE web_user DROP COLUMN failed_attempts;
ALTER TABLE web_user DROP COLUMN locked_until;
"#,
    // 15 -> 16: an incident's notifications, for its page, without a scan
    // of the whole outbox.
    r#"
CREATE INDEX outbox_by_incident ON outbox(incident_id) WHERE incident_id IS NOT NULL;
"#,
    // 16 -> 17: repeated failed logins from one source network are one
    // audit entry with a count (see the `audit` module).
    r#"
ALTER TABLE audit ADD COLUMN source TEXT;
ALTER TABLE audit ADD COLUMN repeats INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN last_at INTEGER;
CREATE INDEX audit_by_source ON audit(source, action, target, at) WHERE source IS NOT NULL;
"#,
    // 17 -> 18: the journal of disaster-recovery runs and the one-run-per-
    // plan lock (see the `recovery` module).
    r#"
CREATE TABLE dr_run (
    id          INTEGER PRIMARY KEY,
    plan        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    state       TEXT NOT NULL,
    started_by  TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    rto_ms      INTEGER,
    rpo_ms      INTEGER
);
CREATE INDEX dr_run_by_plan ON dr_run(plan, started_at);
CREATE TABLE dr_step (
    run_id      INTEGER NOT NULL REFERENCES dr_run(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT NOT NULL,
    output      TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
CREATE TABLE dr_lock (
    plan        TEXT PRIMARY KEY,
    run_id      INTEGER NOT NULL REFERENCES dr_run(id),
    holder_pid  INTEGER NOT NULL,
    taken_at    INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE dr_confirm (
    run_id      INTEGER NOT NULL REFERENCES dr_run(id) ON DELETE CASCADE,
    idx         INTEGER NOT NULL,
    prompt      TEXT NOT NULL,
    asked_at    INTEGER NOT NULL,
    answered_at INTEGER,
    answered_by TEXT,
    answer      INTEGER,
    PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
"#,
    // 19 -> 20: screenshots of failing browser checks (see the
    // `screenshots` module).
    r#"
CREATE TABLE screenshot (
    id          INTEGER PRIMARY KEY,
    check_id    INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    mime        TEXT NOT NULL,
    bytes       BLOB NOT NULL
);
CREATE INDEX screenshot_by_check ON screenshot(check_id, ts);
"#,
    // 20 -> 21: hand resolutions with a note filed by check and finding
    // code (see the `resolutions` module); the existing ones are filed by
    // its backfill.
    r#"
CREATE TABLE resolution_key (
    key         TEXT NOT NULL,
    resolved_at INTEGER NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    PRIMARY KEY (key, resolved_at, incident_id)
) WITHOUT ROWID;
"#,
    // 21 -> 22: downsampled series of forecast measures (see the
    // `samples` module).
    r#"
CREATE TABLE sample (
    check_id    INTEGER NOT NULL,
    measure     TEXT NOT NULL,
    ts          INTEGER NOT NULL,
    value       REAL NOT NULL,
    PRIMARY KEY (check_id, measure, ts)
) WITHOUT ROWID;
"#,
    // 22 -> 23: actions requested of agents (see the `agent_actions`
    // module).
    r#"
CREATE TABLE agent_action (
    id           TEXT PRIMARY KEY,
    agent        TEXT NOT NULL,
    action       TEXT NOT NULL,
    timeout_ms   INTEGER NOT NULL,
    requested_at INTEGER NOT NULL,
    pickup_ms    INTEGER NOT NULL,
    fetched_at   INTEGER,
    ended_at     INTEGER,
    state        TEXT NOT NULL,
    outcome      TEXT
) WITHOUT ROWID;
CREATE INDEX agent_action_open ON agent_action(agent, state, requested_at);
"#,
    // 23 -> 24: runs of [[action]]s (see the `action_runs` module).
    r#"
CREATE TABLE action_run (
    id              INTEGER PRIMARY KEY,
    action          TEXT NOT NULL,
    cause           TEXT NOT NULL,
    cause_detail    TEXT NOT NULL DEFAULT '',
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    outcome         TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    exit_code       INTEGER,
    output          TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT UNIQUE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    answer          INTEGER,
    answered_by     TEXT,
    answered_at     INTEGER
);
CREATE INDEX action_run_by_action ON action_run(action, started_at);
CREATE INDEX action_run_by_time ON action_run(started_at);
"#,
    // 24 -> 25: the incident an action run was made for (remediation).
    r#"
ALTER TABLE action_run ADD COLUMN incident INTEGER;
CREATE INDEX action_run_by_incident ON action_run(incident) WHERE incident IS NOT NULL;
"#,
    // 25 -> 26: what decided an action run (measure window, level step).
    r#"
ALTER TABLE action_run ADD COLUMN decision TEXT;
"#,
];

/// A data conversion that runs after the SQL of the step reaching `.0`.
type Conversion = (u32, fn(&Transaction<'_>) -> Result<(), Fail>);

/// Conversions in Rust, by the version whose step they complete.
pub(crate) const CONVERSIONS: &[Conversion] = &[
    (7, pack_rollups),
    (8, crate::spans::backfill),
    (21, crate::resolutions::backfill),
];

/// Version 7: moves every row of `rollup_minute` and `rollup_hour` into
/// its period's packed row, figures unchanged, and drops the old tables.
fn pack_rollups(tx: &Transaction<'_>) -> Result<(), Fail> {
    for (old, new, slots) in [
        ("rollup_minute", "rollup_minute_by_hour", 60),
        ("rollup_hour", "rollup_hour_by_day", 24),
    ] {
        let mut read = tx.prepare(&format!(
            "SELECT check_id, bucket, up, degraded, down, unknown,
                    lat_min, lat_p50, lat_p95, lat_p99, lat_max, lat_mean
             FROM {old} ORDER BY check_id, bucket"
        ))?;
        let mut write = tx.prepare(&format!(
            "INSERT INTO {new} (check_id, period, buckets) VALUES (?1, ?2, ?3)"
        ))?;
        let mut rows = read.query([])?;
        let mut current: Option<(i64, i64)> = None;
        let mut buckets: Vec<Bucket> = Vec::new();
        while let Some(row) = rows.next()? {
            let (check, bucket): (i64, i64) = (row.get(0)?, row.get(1)?);
            let key = (check, bucket.div_euclid(slots));
            if current != Some(key) {
                if let Some((check, period)) = current {
                    write.execute(params![check, period, packed::encode(&buckets)])?;
                }
                current = Some(key);
                buckets.clear();
            }
            let mut counts = [0u32; 4];
            for (i, c) in counts.iter_mut().enumerate() {
                let n: i64 = row.get(2 + i)?;
                *c = u32::try_from(n).map_err(|_| {
                    Fail::Corrupt(format!("{old}: check {check} bucket {bucket}: count {n}"))
                })?;
            }
            let mut latency = [0i64; 6];
            for (i, l) in latency.iter_mut().enumerate() {
                *l = row.get(6 + i)?;
            }
            buckets.push(Bucket {
                // In 0..slots, so it fits.
                slot: bucket.rem_euclid(slots) as u32,
                counts,
                latency,
            });
        }
        if let Some((check, period)) = current {
            write.execute(params![check, period, packed::encode(&buckets)])?;
        }
        // An open statement on the table would make the DROP fail.
        drop(rows);
        drop(read);
        drop(write);
        tx.execute_batch(&format!("DROP TABLE {old};"))?;
    }
    Ok(())
}

/// Connection settings, applied on every open.
///
/// `busy_timeout` first, because switching to WAL needs a lock. The first
/// statement that reads the file is `journal_mode`, so a file that is not a
/// database fails here with SQLite's "file is not a database".
pub(crate) fn configure(conn: &Connection, file_backed: bool) -> Result<Option<String>, Fail> {
    conn.busy_timeout(Duration::from_secs(5))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // NORMAL in WAL mode: commits reach the OS with write(2) but are not
    // fsynced; that survives process death, see the crate docs.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Truncate the WAL back to 64 MiB after a checkpoint that let it grow
    // (a big compaction), so the -wal file does not stay large.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "wal_autocheckpoint", 8192)?;
    // 8 MiB of page cache: a batch touches about one leaf page per check
    // it holds (4 MiB for 1,000 checks). The 32 MiB this used to be was
    // most of the daemon's memory, yet still smaller than the 40 MiB of
    // hot pages of 10,000 checks: a page missing from the cache is read
    // back from the operating system's page cache (or the WAL), which
    // costs microseconds. No mmap (`mmap_size` stays 0): mapped pages
    // would count in the daemon's resident memory as the file grows.
    conn.pragma_update(None, "cache_size", -8 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    if file_backed && !mode.eq_ignore_ascii_case("wal") {
        return Ok(Some(mode));
    }
    Ok(None)
}

/// Sets up a read-only connection and checks that the file is keepup's
/// with exactly this build's schema, which the queries rely on.
pub(crate) fn check_read_only(conn: &Connection, path: &str) -> Result<(), Fail> {
    conn.busy_timeout(Duration::from_secs(5))?;
    let version = refuse_foreign_or_newer(conn, path, false)?;
    if version < SCHEMA_VERSION {
        return Err(StoreError::TooOld {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(())
}

/// Refuses a file that is not keepup's (unless `fresh_ok` and it is an
/// empty database) or whose schema is newer than this build; returns its
/// schema version.
fn refuse_foreign_or_newer(conn: &Connection, path: &str, fresh_ok: bool) -> Result<u32, Fail> {
    let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let application_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let objects: u32 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
    let fresh = application_id == 0 && version == 0 && objects == 0;
    if application_id != APPLICATION_ID && !(fresh_ok && fresh) {
        return Err(StoreError::NotKeepup {
            path: path.to_owned(),
            application_id,
            version,
            objects,
        }
        .into());
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    Ok(version)
}

/// Brings the schema to [`SCHEMA_VERSION`], refusing files that are not
/// keepup's or are newer than this build.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> Result<(), Fail> {
    migrate_to(conn, path, SCHEMA_VERSION)
}

/// Brings the schema to version `target` (at most [`SCHEMA_VERSION`]):
/// [`migrate`], and the PostgreSQL schema's starting point (the
/// `pg_schema` module).
pub(crate) fn migrate_to(conn: &mut Connection, path: &str, target: u32) -> Result<(), Fail> {
    // Checked again inside the write transaction: another process may be
    // migrating the same file right now.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version = refuse_foreign_or_newer(&tx, path, true)?;
    if version >= target {
        return Ok(());
    }
    for (from, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(version as usize)
    {
        tx.execute_batch(step)?;
        let reached = from as u32 + 1;
        for (_, convert) in CONVERSIONS.iter().filter(|(v, _)| *v == reached) {
            convert(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", target)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.commit()?;
    Ok(())
}
