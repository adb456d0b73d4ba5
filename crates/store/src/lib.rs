//! keepup's persistence: check results, their rollups and retention, in one
//! SQLite file in WAL mode.
//!
//! This crate is for *remembering*: every [`Outcome`] a check produced (raw
//! results, kept a week by default), a per-check current state (status,
//! since when, the latest outcome), per-minute/hour/day [`Rollup`]s with
//! status counts and exact latency percentiles (kept two years by default),
//! heartbeat pings, status spans for SLA accounting (the `spans` module,
//! kept as long as day rollups), where findings were seen per day (the
//! `findings` module, kept as long), the SLA reports kept when their
//! period closed (the `reports` module), memos: small pieces of other
//! crates' working state that must survive a restart, and the web's users,
//! sessions, API tokens and audit log. Everything goes through the small
//! synchronous [`Store`] handle, which is cheap to clone and safe to share
//! between threads.
//!
//! It is not for deciding anything: state machines, incidents, SLA
//! arithmetic and alerting live in other crates and only read and write
//! through this API. It is not asynchronous either: callers on an async
//! runtime should call it from a blocking task (a batch of 1,000 results
//! takes milliseconds, compaction can take seconds).
//!
//! ```
//! use keepup_model::{CheckId, Outcome, Status};
//! use keepup_store::{ResultRecord, Resolution, Retention, Store};
//!
//! let store = Store::open_in_memory()?; // Store::open(path) in production
//! let web = CheckId::new("shop", "web");
//! store.record(&[ResultRecord { check: web.clone(), at: 60_000, outcome: Outcome::new(Status::Up, "HTTP 200"), backfill: false }])?;
//! assert_eq!(store.latest_for(&web)?.map(|l| l.since), Some(60_000));
//! store.compact(3_600_000, &Retention::default())?; // an hour later
//! assert_eq!(store.rollups(&web, Resolution::Hour, 0, 3_600_000)?.len(), 1);
//! # Ok::<(), keepup_store::StoreError>(())
//! ```
//!
//! # Durability
//!
//! The database runs in WAL mode with `synchronous=NORMAL`. A transaction is
//! committed once its frames are written to the WAL file with `write(2)`;
//! from then on the data lives in the operating system's page cache, which
//! survives the death of the process (including `kill -9`). Only an
//! operating system crash or power loss can lose the last few commits, and
//! even then the database stays consistent. That is the trade keepup wants:
//! no fsync per batch, no lost results when the process is killed. The
//! `kill_minus_nine_loses_no_committed_result` test checks it.
//!
//! # Size
//!
//! Rows are compact (the `schema` module documents every table): integer check ids and
//! timestamps, statuses as small integers, latencies in microseconds, and
//! the rarely-changing text of an outcome (message, findings, details)
//! stored once per distinct content and referenced by a small integer.
//! The `store_size` example simulates 1,000 checks every 60 s for a year.

mod action_runs;
mod agent_actions;
mod audit;
mod compact;
mod content;
mod error;
mod findings;
mod incidents;
mod maintenance;
mod memo;
mod outbox;
mod packed;
mod pg_schema;
mod readers;
mod recovery;
mod reports;
mod resolutions;
mod samples;
mod schema;
mod screenshots;
mod sessions;
mod spans;
mod sql;
mod status_updates;
mod store;
mod tokens;
mod users;

use std::time::Duration;

use keepup_model::{CheckId, Outcome, Timestamp};

pub use action_runs::{
    ActionRun, ActionUsage, Decided, MAX_INCIDENT_RUNS, MAX_RUN_OUTPUT, NewActionRun, RunEnd,
    RunOutcome, SiteActionRun, output_tail,
};
pub use agent_actions::{
    AgentAction, AgentActionState, InvalidAgentAction, MAX_AGENT_ACTION_NAME, NewAgentAction,
};
pub use audit::{AUDIT_REPEATS_WINDOW, AuditEntry};
pub use error::StoreError;
pub use incidents::{
    HandResolution, Incident, IncidentChanges, IncidentFilter, IncidentQuery, IncidentRef,
    IncidentState, NewIncident,
};
pub use maintenance::AdhocMaintenance;
pub use memo::MemoChange;
pub use outbox::{ChannelHealth, OutboxEntry, OutboxQuery, OutboxState, Outgoing};
pub use recovery::{
    DrConfirmation, DrLockHeld, DrRun, DrRunKind, DrRunState, DrStep, DrStepOutcome,
    MAX_STEP_OUTPUT,
};
pub use reports::{KeptReport, NewReport, ReportFiles, ReportFormat};
pub use resolutions::{
    MAX_MEMORY_KEYS, MAX_RESOLUTION_NOTE, NoteRefused, PAST_RESOLUTIONS, PastResolution,
    resolution_note,
};
pub use samples::SampleRecord;
pub use schema::SCHEMA_VERSION;
pub use screenshots::{KEPT_PER_CHECK as SCREENSHOTS_KEPT_PER_CHECK, Screenshot};
pub use sessions::SessionRecord;
pub use spans::{StatusSpan, StatusSpans};
pub use sql::postgres::PostgresTarget;
pub use status_updates::{
    InvalidUpdate, MAX_UPDATE_AUTHOR, MAX_UPDATE_TEXT, NewStatusUpdate, StatusUpdate, UpdateStatus,
};
pub use store::Store;
pub use tokens::{ApiToken, TokenScope};
pub use users::{LoginAttempt, Role, User};

/// What the store knows about a check besides its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckMeta {
    /// The check's stable identity (`site/check`).
    pub id: CheckId,
    /// The site it belongs to.
    pub site: String,
    /// Its name within the site.
    pub name: String,
    /// The probe kind (`http`, `tls`, ...), `unknown` when the check was
    /// first seen through a result rather than through
    /// [`Store::register_checks`].
    pub kind: String,
    /// How long a result vouches for the check's status when no newer one
    /// follows (the `spans` module: longer gaps are unknown time). `None`
    /// for a check first seen through a result: its results vouch for no
    /// time.
    pub max_gap: Option<Duration>,
}

impl CheckMeta {
    /// Metadata for a check first seen through a result: site and name are
    /// split from the id at the first `/`, the kind is `unknown`.
    pub fn unregistered(id: &CheckId) -> Self {
        let (site, name) = id.as_str().split_once('/').unwrap_or(("", id.as_str()));
        Self {
            id: id.clone(),
            site: site.to_owned(),
            name: name.to_owned(),
            kind: "unknown".to_owned(),
            max_gap: None,
        }
    }
}

/// One run of one check, as recorded and as read back.
///
/// Stored precisely to the microsecond: latencies and timings read back
/// rounded to whole microseconds, and a timing breakdown whose phases are
/// all `None` reads back as no breakdown at all.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRecord {
    /// Which check ran.
    pub check: CheckId,
    /// When it ran (ms since the epoch). A second result for the same check
    /// and millisecond replaces the first.
    pub at: Timestamp,
    /// How it ended.
    pub outcome: Outcome,
    /// Whether it is history recorded late (an agent's backlogged report,
    /// or a report's verdict in place of a result recorded meanwhile):
    /// older than the check's current result, it takes its place in the
    /// status spans and leaves the current state alone. A result that is
    /// not backfill and older than the current one means the wall clock
    /// stepped back: it becomes the current result (the `spans` module).
    /// Read back as `false`.
    pub backfill: bool,
}

/// The current state of a check: its latest outcome and since when its
/// status has been what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestState {
    /// The check.
    pub meta: CheckMeta,
    /// Time of the latest result.
    pub at: Timestamp,
    /// Time of the first result with the current status after a result with
    /// another status (or the first result ever).
    pub since: Timestamp,
    /// The latest outcome.
    pub outcome: Outcome,
}

/// A finding as seen in a check's results over a stretch of time
/// ([`Store::findings_between`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FindingSeen {
    /// The finding.
    pub finding: keepup_model::Finding,
    /// The first result that had it.
    pub first: Timestamp,
    /// The last result that had it.
    pub last: Timestamp,
    /// How many results had it.
    pub results: u64,
}

/// The width of a rollup bucket. Buckets are aligned on the Unix epoch, so
/// days are UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// One-minute buckets.
    Minute,
    /// One-hour buckets.
    Hour,
    /// One-day (UTC) buckets.
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// Width of one bucket in milliseconds.
    pub fn width_ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }

    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }
}

/// Aggregates of the raw results of one check in one bucket.
///
/// Latency statistics cover every result in the bucket, whatever its status
/// (a timeout is a latency too). Percentiles use the nearest-rank method:
/// the p-th percentile of n sorted values is the value at rank
/// `ceil(p / 100 * n)`. Every tier is computed from raw results, so the
/// statistics are exact, then stored rounded to 0.1 ms.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    /// Start of the bucket (ms since the epoch).
    pub bucket_start: Timestamp,
    /// Number of `Up` results.
    pub up: u32,
    /// Number of `Degraded` results.
    pub degraded: u32,
    /// Number of `Down` results.
    pub down: u32,
    /// Number of `Unknown` results.
    pub unknown: u32,
    /// Smallest latency.
    pub latency_min_ms: f64,
    /// Median latency.
    pub latency_p50_ms: f64,
    /// 95th percentile latency.
    pub latency_p95_ms: f64,
    /// 99th percentile latency.
    pub latency_p99_ms: f64,
    /// Largest latency.
    pub latency_max_ms: f64,
    /// Arithmetic mean latency.
    pub latency_mean_ms: f64,
}

impl Rollup {
    /// Number of results in the bucket.
    pub fn total(&self) -> u32 {
        self.up + self.degraded + self.down + self.unknown
    }
}

/// How long each kind of data is kept, measured back from the `now` given
/// to [`Store::compact`].
///
/// The defaults and why:
///
/// * `raw`: 7 days. Raw results carry the message and evidence of every
///   run, which is what a human reads when investigating last week's
///   incident, and every rollup tier is computed from them, so rollups of
///   any complete bucket are exact. 1,000 checks at 60 s make 10 M rows a
///   week, the largest table.
/// * `minute`: 2 days (`[store] minute_retention`). Minute buckets feed
///   the "last 24 h" charts at full resolution, and two days let today be
///   compared with yesterday. Beyond that, hour buckets are what a chart of
///   a week or more can show anyway, and the raw results (7 days) still
///   hold every run for an investigation. Packed an hour per row, a minute
///   bucket of a 60 s check costs about 5 bytes (7 MB a day for 1,000
///   checks), so a longer retention is affordable where it is wanted.
/// * `hour` and `day`: 730 days, so that two years of charts, monthly SLA
///   reports and year-over-year comparisons stay available. Status spans
///   (the `spans` module) are kept as long as day rollups.
///
/// Raw results are never deleted before every rollup tier has covered
/// them, whatever `raw` says. Minute and hour rollups are deleted a packed
/// row at a time (an hour of minutes, a day of hours), once the newest
/// bucket in it is older than the retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Raw results.
    pub raw: Duration,
    /// Minute rollups.
    pub minute: Duration,
    /// Hour rollups.
    pub hour: Duration,
    /// Day rollups.
    pub day: Duration,
    /// Notifications already delivered or given up on (the delivery
    /// history shown by `keepup notifications`). Pending ones are never
    /// deleted.
    pub notifications: Duration,
    /// Audit log entries.
    pub audit: Duration,
    /// Dashboard sessions unused this long (`[server] session_idle`) are
    /// deleted, as are those past their absolute expiry.
    pub session_idle: Duration,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: DAY * 7,
            minute: DAY * 2,
            hour: DAY * 730,
            day: DAY * 730,
            notifications: DAY * 30,
            audit: DAY * 400,
            session_idle: Duration::from_secs(12 * 3600),
        }
    }
}

impl Retention {
    /// The retention of a rollup tier.
    pub fn of(&self, res: Resolution) -> Duration {
        match res {
            Resolution::Minute => self.minute,
            Resolution::Hour => self.hour,
            Resolution::Day => self.day,
        }
    }
}

/// What one [`Store::compact`] run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactReport {
    /// Minute rollup rows written.
    pub minute_rollups: u64,
    /// Hour rollup rows written.
    pub hour_rollups: u64,
    /// Day rollup rows written.
    pub day_rollups: u64,
    /// Raw results deleted by retention.
    pub raw_deleted: u64,
    /// Rollup rows (all tiers) deleted by retention.
    pub rollups_deleted: u64,
    /// Delivered or failed notifications deleted by retention.
    pub notifications_deleted: u64,
    /// Status spans that ended before the day rollups' retention.
    pub spans_deleted: u64,
    /// Days of findings (per check and content) that ended before the day
    /// rollups' retention.
    pub finding_days_deleted: u64,
    /// Stored contents (message, findings, details) no longer referenced
    /// and deleted.
    pub contents_deleted: u64,
    /// Audit log entries older than their retention.
    pub audit_deleted: u64,
    /// Dashboard sessions that had ended (idle or expired).
    pub sessions_deleted: u64,
    /// Screenshots older than the raw results kept.
    pub screenshots_deleted: u64,
}

impl CompactReport {
    /// Rollup rows written, all tiers.
    pub fn rollups_written(&self) -> u64 {
        self.minute_rollups + self.hour_rollups + self.day_rollups
    }
}

/// What a heartbeat ping said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PingKind {
    /// The job reported success (or simply checked in).
    Success,
    /// The job reported failure.
    Fail,
}

impl PingKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PingKind::Success => "success",
            PingKind::Fail => "fail",
        }
    }
}

#[cfg(test)]
mod tests;
