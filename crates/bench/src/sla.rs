//! `keepup bench sla`: the store side of SLA accounting. Fills a store with
//! a year of results of a contract's checks, and another with a month of
//! results of many checks, through the daemon's write path (checks
//! registered as the monitor registers them, `Store::record` in batches,
//! `Store::end_open_spans` at simulated restarts, compaction with the
//! default retention for the year), then times reading their status spans
//! with `Store::status_spans` into one timeline per check, as accounting
//! takes them.

use crate::{BenchError, peak_rss_mb, scratch_dir};
use keepup_model::{CheckId, Finding, Outcome, Severity, Status, Timestamp};
use keepup_store::{Retention, Store};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-01-01T00:00:00Z: the start of the simulated history.
const T0: Timestamp = 1_767_225_600_000;
const DAY: Timestamp = 86_400_000;

/// What reading one store's spans measured.
#[derive(Debug, Clone)]
pub struct ReadFigures {
    /// Checks read together.
    pub checks: usize,
    /// Days of history.
    pub days: u32,
    /// Results recorded, and how long recording them (and compacting) took.
    pub results: u64,
    pub fill: Duration,
    /// Spans read (all checks), and how many of them were unknown.
    pub spans: usize,
    pub unknown_spans: usize,
    /// Median and slowest of the reads.
    pub read_median: Duration,
    pub read_max: Duration,
    /// Time covered by the spans, summed over checks: always `checks`
    /// times the range, or the read has a hole.
    pub covered_ms: i64,
    /// Size of the database file.
    pub file_mb: f64,
    /// Peak resident memory of the process during the reads (the
    /// high-water mark is reset after the fill, where the kernel allows
    /// it; otherwise the fill's peak is included).
    pub read_peak_rss_mb: f64,
}

impl fmt::Display for ReadFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checks={} days={} results={} fill_s={:.0} spans={} unknown_spans={} read_ms median={:.1} max={:.1} read_peak_rss={:.1}MB file={:.0}MB",
            self.checks,
            self.days,
            self.results,
            self.fill.as_secs_f64(),
            self.spans,
            self.unknown_spans,
            ms(self.read_median),
            ms(self.read_max),
            self.read_peak_rss_mb,
            self.file_mb
        )
    }
}

/// What `keepup bench sla` measured.
#[derive(Debug, Clone)]
pub struct SlaReport {
    /// One contract's checks over the long history.
    pub contract: ReadFigures,
    /// Many checks over the short history.
    pub many: ReadFigures,
}

impl fmt::Display for SlaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "contract: {}", self.contract)?;
        write!(f, "many:     {}", self.many)
    }
}

/// The parameters of `keepup bench sla`.
#[derive(Debug, Clone)]
pub struct SlaBench {
    /// Checks of the contract, and days of their history.
    pub contract_checks: usize,
    pub contract_days: u32,
    /// Checks of the second store, and days of their history.
    pub checks: usize,
    pub days: u32,
    /// Interval of every check.
    pub interval: Duration,
    /// Reads timed per store.
    pub reads: usize,
    /// Keep the stores here (`keepup.db`, `many/keepup.db`), each with a
    /// configuration naming it and a contract over its checks
    /// (`keepup.toml`), for timing `keepup sla` and `keepup report` on them.
    pub keep: Option<PathBuf>,
}

/// Runs the bench in a scratch directory it removes afterwards.
pub fn sla(bench: &SlaBench) -> Result<SlaReport, BenchError> {
    if bench.contract_checks == 0 || bench.checks == 0 || bench.reads == 0 {
        return Err(BenchError::Usage(
            "--contract-checks, --checks and --reads must be at least 1".into(),
        ));
    }
    if bench.contract_days == 0 || bench.days == 0 {
        return Err(BenchError::Usage(
            "--contract-days and --days must be at least 1".into(),
        ));
    }
    if bench.interval < Duration::from_secs(1) || bench.interval > Duration::from_secs(86_400) {
        return Err(BenchError::Usage(
            "--interval must be between 1s and 1d".into(),
        ));
    }
    let dir = scratch_dir()?.join("sla");
    std::fs::create_dir_all(&dir)
        .map_err(BenchError::io(format!("cannot create {}", dir.display())))?;
    // With --keep: DIR/keepup.db and DIR/many/keepup.db, each beside the
    // keepup.toml that names it.
    let (contract_db, many_db) = match &bench.keep {
        Some(keep) => {
            let many = keep.join("many");
            std::fs::create_dir_all(&many)
                .map_err(BenchError::io(format!("cannot create {}", many.display())))?;
            let dbs = (keep.join("keepup.db"), many.join("keepup.db"));
            for db in [&dbs.0, &dbs.1] {
                if db.exists() {
                    return Err(BenchError::Usage(format!(
                        "{} exists already: --keep wants a directory without stores",
                        db.display()
                    )));
                }
            }
            dbs
        }
        None => (dir.join("contract.db"), dir.join("many.db")),
    };
    let result = (|| {
        let contract = measure(
            &contract_db,
            bench.contract_checks,
            bench.contract_days,
            bench.interval,
            bench.reads,
            true,
        )?;
        let many = measure(
            &many_db,
            bench.checks,
            bench.days,
            bench.interval,
            bench.reads,
            false,
        )?;
        Ok(SlaReport { contract, many })
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Fills the store at `path`, then times `reads` reads of its spans.
fn measure(
    path: &Path,
    checks: usize,
    days: u32,
    interval: Duration,
    reads: usize,
    compact: bool,
) -> Result<ReadFigures, BenchError> {
    let store = Store::open(path)?;
    let ids = register(&store, path, checks, interval)?;
    let started = Instant::now();
    let results = fill(&store, &ids, T0, days, interval, compact)?;
    let fill = started.elapsed();
    let (from, to) = (T0, T0 + i64::from(days) * DAY);
    let mut times = Vec::with_capacity(reads);
    let mut last = (0, 0, 0);
    reset_peak_rss();
    for _ in 0..reads {
        let started = Instant::now();
        let timelines = read(&store, &ids, from, to)?;
        times.push(started.elapsed());
        last = (
            timelines.iter().map(Vec::len).sum(),
            timelines
                .iter()
                .flatten()
                .filter(|s| s.status.is_none())
                .count(),
            timelines.iter().flatten().map(|s| s.duration_ms()).sum(),
        );
    }
    let read_peak_rss_mb = peak_rss_mb();
    times.sort();
    let file_mb = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6);
    Ok(ReadFigures {
        checks,
        days,
        results,
        fill,
        spans: last.0,
        unknown_spans: last.1,
        read_median: times[times.len() / 2],
        read_max: times[times.len() - 1],
        covered_ms: last.2,
        file_mb,
        read_peak_rss_mb,
    })
}

/// Registers `checks` HTTP checks with `interval` as the monitor does
/// (their allowed gap comes from the configuration), and writes the
/// configuration beside the store (`path` with `.toml`).
pub(crate) fn register(
    store: &Store,
    path: &Path,
    checks: usize,
    interval: Duration,
) -> Result<Vec<CheckId>, BenchError> {
    let src = config_source(path, checks, interval, "http://127.0.0.1:9/")?;
    let config_path = path.with_extension("toml");
    let config = keepup_config::load_str(&src, &config_path)?;
    std::fs::write(&config_path, &src).map_err(BenchError::io(format!(
        "cannot write {}",
        config_path.display()
    )))?;
    let checks: Vec<Arc<keepup_config::Check>> = config.checks().cloned().map(Arc::new).collect();
    store.register_checks(&keepup_monitor::check_metas(&checks))?;
    // The generated HTTP checks; the contract adds a passive check of its
    // own (its burn rate), which has no results here.
    Ok(checks
        .iter()
        .filter(|c| c.probe().is_some())
        .map(|c| c.id.clone())
        .collect())
}

/// The bench's configuration: `checks` HTTP checks `shop/c0`… probing
/// `url` every `interval`, the store at `path` and a contract over them.
pub(crate) fn config_source(
    path: &Path,
    checks: usize,
    interval: Duration,
    url: &str,
) -> Result<String, BenchError> {
    let mut src = format!(
        "[defaults]\ninterval = \"{}s\"\ntimeout = \"{}s\"\n[[site]]\nid = \"shop\"\n",
        interval.as_secs(),
        interval.as_secs().min(10)
    );
    for i in 0..checks {
        src.push_str(&format!(
            "[[site.check]]\nid = \"c{i}\"\nkind = \"http\"\nurl = \"{url}\"\n"
        ));
    }
    // A contract over every check, as `keepup sla` reads it (and a check
    // that the bench's configuration is one keepup loads).
    let db = path
        .to_str()
        .filter(|p| !p.contains(['\'', '\n']))
        .ok_or_else(|| {
            BenchError::Usage(format!("{}: the bench needs a plain path", path.display()))
        })?;
    src.push_str(&format!(
        "[store]\npath = '{db}'\n[[contract]]\nid = \"bench\"\nsite = \"shop\"\ntarget = 99.9\n"
    ));
    Ok(src)
}

/// Reads the spans of `ids` into one timeline per check, as the SLA
/// adapter does.
fn read(
    store: &Store,
    ids: &[CheckId],
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Vec<keepup_store::StatusSpan>>, BenchError> {
    let mut timelines = vec![Vec::new(); ids.len()];
    for span in store.status_spans(ids, from, to) {
        let span = span?;
        timelines[span.check].push(span);
    }
    Ok(timelines)
}

/// Records `days` of results of `ids` every `interval` from `start` (a
/// whole hour), an hour of simulated time per batch: mostly up, outages (down or degraded) of a
/// few minutes about every other day per check, a missed result now and
/// then, a daemon restart (five minutes without results) every thirty
/// days, and on every tenth check a certificate warning (a finding, for
/// the report's security section) whose text changes daily. With `compact`, compacts once a simulated day with the
/// default retention, so raw results older than a week are gone.
pub(crate) fn fill(
    store: &Store,
    ids: &[CheckId],
    start: Timestamp,
    days: u32,
    interval: Duration,
    compact: bool,
) -> Result<u64, BenchError> {
    let step = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
    let end = start + i64::from(days) * DAY;
    let retention = Retention::default();
    let mut rng = Lcg(7);
    // Per check: remaining results of the current outage and its status.
    let mut outage: Vec<(u32, Status)> = vec![(0, Status::Up); ids.len()];
    // Results per day per check, and the chance of an outage starting at
    // one of them: about one every two days.
    let per_day = (DAY / step).max(1) as u64;
    let mut results = 0u64;
    let mut hour_start = start;
    let mut batch = Vec::new();
    while hour_start < end {
        let hour_end = (hour_start + DAY / 24).min(end);
        // A restart at the start of every thirtieth day.
        let restart = (hour_start - start) % (30 * DAY) == 0 && hour_start > start;
        if restart {
            store.end_open_spans(hour_start)?;
        }
        let quiet_until = if restart {
            store.end_open_spans(hour_start + 5 * 60_000)?;
            hour_start + 5 * 60_000
        } else {
            hour_start
        };
        batch.clear();
        for (i, id) in ids.iter().enumerate() {
            // Each check on its own slot within the interval.
            let offset = (i as i64 * 7_919) % step;
            let mut at = hour_start - (hour_start - start) % step + offset;
            if at < hour_start {
                at += step;
            }
            while at < hour_end {
                if at >= quiet_until && !rng.next().is_multiple_of(5_000) {
                    let (left, status) = &mut outage[i];
                    if *left == 0 && rng.next().is_multiple_of(2 * per_day) {
                        *left = 1 + (rng.next() % 30) as u32;
                        *status = if rng.next().is_multiple_of(5) {
                            Status::Degraded
                        } else {
                            Status::Down
                        };
                    }
                    let status = if *left > 0 {
                        *left -= 1;
                        *status
                    } else {
                        Status::Up
                    };
                    let message = match status {
                        Status::Up => "HTTP 200",
                        Status::Degraded => "HTTP 200 in 2.4 s",
                        _ => "HTTP 503",
                    };
                    let mut outcome = Outcome::new(status, message);
                    if i % 10 == 0 {
                        // A certificate warning whose days left change
                        // daily: a new stored outcome every day. Added beside
                        // the status (not through `push`), so the accounting
                        // sees the same outages as without it.
                        let left = 90 - (at - start).div_euclid(DAY) % 60;
                        outcome.findings.push(Finding::new(
                            "TLS_CERT_EXPIRING",
                            Severity::Warning,
                            format!("the certificate expires in {left} days"),
                        ));
                    }
                    batch.push(keepup_store::ResultRecord {
                        check: id.clone(),
                        at,
                        outcome,
                        backfill: false,
                    });
                }
                at += step;
            }
        }
        results += batch.len() as u64;
        store.record(&batch)?;
        hour_start = hour_end;
        if compact && (hour_start - start) % DAY == 0 {
            store.compact(hour_start, &retention)?;
        }
    }
    Ok(results)
}

/// Resets the process's peak resident memory (VmHWM), so the next figure
/// is the reading's; a kernel that refuses leaves the fill's peak in.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A tiny deterministic generator: the same history on every run.
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
