//! Size and speed benchmark: simulates N checks every S seconds for D days
//! with synthetic timestamps, compacting as keepup would, then reports the
//! file size, rows and bytes per table, and recording throughput.
//!
//! ```text
//! cargo run --release -p keepup-store --example store_size -- --checks 1000 --interval 60 --days 365
//! ```
//!
//! Options (defaults in brackets): `--checks` [1000], `--interval` seconds
//! [60], `--days` [365], `--batch-minutes` simulated minutes per `record`
//! call [60], `--compact-minutes` simulated minutes between compactions
//! [60], `--timing-pct` share of checks with a timing breakdown (HTTP-like)
//! [60], `--unique-pct` share of results whose message is unique (error
//! texts with request ids) [1], `--path` database file [a temporary
//! directory], `--keep` keep the file.
//!
//! The synthetic load: per check a base latency between 20 and 400 ms with
//! ±30 % jitter, 0.5 % degraded results with a finding, 0.2 % down results,
//! TLS-like checks whose message changes once a day ("valid for N days").

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keepup_model::{CheckId, Finding, Outcome, Severity, Status, TimingBreakdown};
use keepup_store::{ResultRecord, Retention, Store};

/// 2025-01-01T00:00:00Z.
const T0: i64 = 1_735_689_600_000;

struct Args {
    checks: u64,
    interval_s: u64,
    days: u64,
    batch_minutes: u64,
    compact_minutes: u64,
    timing_pct: u64,
    unique_pct: f64,
    path: Option<PathBuf>,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        checks: 1000,
        interval_s: 60,
        days: 365,
        batch_minutes: 60,
        compact_minutes: 60,
        timing_pct: 60,
        unique_pct: 1.0,
        path: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let int = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--checks" => a.checks = int()?,
            "--interval" => a.interval_s = int()?,
            "--days" => a.days = int()?,
            "--batch-minutes" => a.batch_minutes = int()?,
            "--compact-minutes" => a.compact_minutes = int()?,
            "--timing-pct" => a.timing_pct = int()?,
            "--unique-pct" => {
                a.unique_pct = value.parse().map_err(|e| format!("{flag} {value}: {e}"))?
            }
            "--path" => a.path = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if a.checks == 0 || a.interval_s == 0 || a.batch_minutes == 0 || a.compact_minutes == 0 {
        return Err(
            "--checks, --interval, --batch-minutes and --compact-minutes must be positive".into(),
        );
    }
    Ok(a)
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Sim {
    args: Args,
    ids: Vec<CheckId>,
    rng: Rng,
}

impl Sim {
    fn outcome(&mut self, check: u64, at: i64) -> Outcome {
        let kind = check % 10; // 0..timing_pct/10: http, then tls, dns, smtp...
        let http = kind * 10 < self.args.timing_pct;
        let base = 20.0 + (check.wrapping_mul(2_654_435_761) % 380) as f64;
        let latency = base * (0.7 + 0.6 * self.rng.unit());
        let roll = self.rng.unit() * 100.0;
        let mut o = if roll < 0.2 {
            Outcome::new(Status::Down, "connection refused")
        } else if roll < 0.2 + self.args.unique_pct {
            Outcome::new(
                Status::Down,
                format!("HTTP 503 (request id {:016x})", self.rng.next()),
            )
        } else if http {
            Outcome::new(Status::Up, "HTTP 200")
        } else if kind == 6 {
            let days_left = 90 - (at - T0) / 86_400_000 % 60;
            Outcome::new(
                Status::Up,
                format!("certificate valid for {days_left} more days"),
            )
        } else {
            Outcome::new(Status::Up, "ok")
        };
        o.latency_ms = latency;
        if roll > 99.5 {
            o.push(Finding::new(
                "HTTP_SLOW",
                Severity::Warning,
                "response slower than 1 s",
            ));
        }
        if http {
            o.evidence.insert(
                "status_code",
                if o.status == Status::Down { 503 } else { 200 },
            );
            o.evidence.timing = Some(TimingBreakdown {
                dns_ms: Some(latency * 0.05),
                connect_ms: Some(latency * 0.1),
                tls_ms: Some(latency * 0.2),
                first_byte_ms: Some(latency * 0.9),
                total_ms: Some(latency),
            });
        }
        o
    }

    /// Results of every check for intervals `[from, to)`.
    fn batch(&mut self, from: u64, to: u64) -> Vec<ResultRecord> {
        let interval_ms = self.args.interval_s as i64 * 1000;
        let checks = self.args.checks;
        let mut out = Vec::with_capacity(((to - from) * checks) as usize);
        for step in from..to {
            for c in 0..checks {
                // Spread checks over the interval, as the scheduler does.
                let at = T0 + step as i64 * interval_ms + (c as i64 * interval_ms) / checks as i64;
                let outcome = self.outcome(c, at);
                out.push(ResultRecord {
                    check: self.ids[c as usize].clone(),
                    at,
                    outcome,
                    backfill: false,
                });
            }
        }
        out
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn file_size(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().map_err(|e| format!("store_size: {e}"))?;
    let tmp = tempfile::tempdir()?;
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| tmp.path().join("keepup.db"));
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(with_suffix(&path, "-wal"));
    let _ = std::fs::remove_file(with_suffix(&path, "-shm"));
    let store = Store::open(&path)?;
    let retention = Retention::default();
    println!(
        "simulating {} checks every {} s for {} days into {} ({} results per record call, compaction every {} min)",
        args.checks,
        args.interval_s,
        args.days,
        path.display(),
        args.checks * (args.batch_minutes * 60 / args.interval_s).max(1),
        args.compact_minutes
    );
    println!("retention: {retention:?}");

    let ids = (0..args.checks)
        .map(|c| CheckId(format!("site{:03}/check{:02}", c / 10, c % 10)))
        .collect();
    let interval_ms = args.interval_s as i64 * 1000;
    let steps = args.days * 86_400 / args.interval_s;
    let per_batch = (args.batch_minutes * 60 / args.interval_s).max(1);
    let compact_every = args.compact_minutes as i64 * 60_000;
    let mut sim = Sim {
        args,
        ids,
        rng: Rng(0x9e37_79b9_7f4a_7c15),
    };

    let wall = Instant::now();
    let (mut record_time, mut compact_time) = (Duration::ZERO, Duration::ZERO);
    let (mut recorded, mut slowest_compact) = (0u64, Duration::ZERO);
    let mut next_compact = T0 + compact_every;
    let mut next_report = 30;
    let mut step = 0;
    while step < steps {
        let end = (step + per_batch).min(steps);
        let batch = sim.batch(step, end);
        let t = Instant::now();
        store.record(&batch)?;
        record_time += t.elapsed();
        recorded += batch.len() as u64;
        step = end;
        let now = T0 + step as i64 * interval_ms;
        while now >= next_compact {
            let t = Instant::now();
            store.compact(next_compact, &retention)?;
            let took = t.elapsed();
            compact_time += took;
            slowest_compact = slowest_compact.max(took);
            next_compact += compact_every;
        }
        let day = step * sim.args.interval_s / 86_400;
        if day >= next_report {
            next_report += 30;
            println!(
                "  day {day:>3}: db {:>7.1} MiB, wal {:>5.1} MiB, {:.0} results/s recording, {:.0} s wall",
                mib(file_size(&path)),
                mib(file_size(&with_suffix(&path, "-wal"))),
                recorded as f64 / record_time.as_secs_f64(),
                wall.elapsed().as_secs_f64()
            );
        }
    }

    // Live-like phase: one record call per interval, as the monitor does.
    let mut live = Vec::new();
    for i in 0..60 {
        let batch = sim.batch(steps + i, steps + i + 1);
        let t = Instant::now();
        store.record(&batch)?;
        live.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    live.sort_by(f64::total_cmp);

    // Write amplification: WAL bytes written by one such call.
    let side = rusqlite::Connection::open(&path)?;
    let mut wal_per_batch = Vec::new();
    for i in 60..63 {
        side.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        let batch = sim.batch(steps + i, steps + i + 1);
        store.record(&batch)?;
        wal_per_batch.push(file_size(&with_suffix(&path, "-wal")));
    }
    drop(side);

    let total_results = recorded;
    println!();
    println!(
        "recorded {total_results} results in {:.1} s of record calls: {:.0} results/s",
        record_time.as_secs_f64(),
        total_results as f64 / record_time.as_secs_f64()
    );
    println!(
        "compaction: {:.1} s in total, slowest run {:.2} s; wall time {:.0} s",
        compact_time.as_secs_f64(),
        slowest_compact.as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
    println!(
        "one record call of {} results (one interval): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        sim.args.checks,
        percentile(&live, 50.0),
        percentile(&live, 95.0),
        percentile(&live, 100.0)
    );
    println!(
        "WAL written per such call: {:.2} MiB ({} results, so {:.0} bytes per result)",
        mib(wal_per_batch.iter().sum::<u64>() / 3),
        sim.args.checks,
        wal_per_batch.iter().sum::<u64>() as f64 / 3.0 / sim.args.checks as f64
    );
    drop(store);

    let conn = rusqlite::Connection::open(&path)?;
    let wal = file_size(&with_suffix(&path, "-wal"));
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    println!(
        "\nfile {:.1} MiB ({} pages of {} B, {} free = {:.1} MiB), wal {:.1} MiB before close",
        mib(file_size(&path)),
        pages,
        page_size,
        free,
        mib((free * page_size) as u64),
        mib(wal)
    );
    let mut stmt = conn.prepare(
        "SELECT name, sum(pgsize), sum(ncell) FROM dbstat WHERE aggregate = FALSE GROUP BY name ORDER BY sum(pgsize) DESC",
    )?;
    let sizes: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    println!(
        "{:<22} {:>12} {:>10} {:>9}",
        "table/index", "rows", "MiB", "B/row"
    );
    for (name, bytes) in sizes {
        let rows: i64 = if name.starts_with("sqlite_") {
            0
        } else if conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = ?1 AND type = 'table'",
            [&name],
            |r| r.get::<_, i64>(0),
        )? == 1
        {
            conn.query_row(&format!("SELECT count(*) FROM \"{name}\""), [], |r| {
                r.get(0)
            })?
        } else {
            0
        };
        let per_row = if rows > 0 {
            bytes as f64 / rows as f64
        } else {
            0.0
        };
        println!(
            "{name:<22} {rows:>12} {:>10.1} {per_row:>9.1}",
            mib(bytes as u64)
        );
    }
    if sim.args.keep {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
    Ok(())
}
