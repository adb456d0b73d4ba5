//! `keepup bench forecast`: the capacity forecasts' judge
//! (`keepup_monitor::forecast::Forecasts::apply`, what the recorder calls
//! on every result of a check with `forecast`) on many hosts' full
//! windows: how many fits a second it makes, and how long an `apply`
//! takes when several run at once, each series behind its own lock (as
//! now) and every apply behind one lock (as the judge was before: one map
//! lock held across the fit).
//!
//! The series are filled as an agent's backlog is (history results:
//! sampled in time order, never fitted); each measured round then gives
//! every series one new sample, so every `apply` fits its series' 501
//! points once, as the daemon does once per step.

use crate::{BenchError, peak_rss_mb, percentiles};
use keepup_config::Check;
use keepup_model::{Outcome, Status, Timestamp};
use keepup_monitor::forecast::{Forecasts, MEASURES_KEY};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The forecast window of the bench's host checks.
const WINDOW_MS: i64 = 7 * 86_400_000;
/// One sample per step: a 500th of the window.
const STEP_MS: i64 = WINDOW_MS / 500;

/// One way of running the applies, and what it measured (medians of the
/// rounds).
#[derive(Debug)]
pub struct Contention {
    /// Every apply behind one lock (the judge before per-series locks).
    pub one_lock: bool,
    /// Fits (new samples judged) per second, all threads together.
    pub fits_per_s: f64,
    /// How long one apply took, waiting included (ms).
    pub apply_p50_ms: f64,
    pub apply_p99_ms: f64,
}

/// What `keepup bench forecast` measured.
#[derive(Debug)]
pub struct ForecastReport {
    pub hosts: usize,
    pub measures: usize,
    /// Samples per series when the rounds are measured.
    pub points: usize,
    pub threads: usize,
    pub rounds: usize,
    /// One thread: the recorder's way (one result after another).
    pub single: Contention,
    /// `threads` threads, each series behind its own lock.
    pub per_series: Contention,
    /// `threads` threads, every apply behind one lock.
    pub one_lock: Contention,
    pub peak_rss_mb: f64,
}

impl fmt::Display for Contention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fits/s={:.0} apply_ms p50={:.2} p99={:.2}",
            self.fits_per_s, self.apply_p50_ms, self.apply_p99_ms
        )
    }
}

impl fmt::Display for ForecastReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "hosts={} measures={} series={} points={} rounds={} peak_rss={:.1}MB",
            self.hosts,
            self.measures,
            self.hosts * self.measures,
            self.points,
            self.rounds,
            self.peak_rss_mb
        )?;
        writeln!(f, "1 thread:               {}", self.single)?;
        writeln!(
            f,
            "{} threads, per series: {}",
            self.threads, self.per_series
        )?;
        write!(f, "{} threads, one lock:   {}", self.threads, self.one_lock)
    }
}

/// `hosts` host checks with five forecast measures each (disk of `/` and
/// `/var`, inodes of `/`, memory, load), their windows full; then
/// `rounds` rounds of one new sample per series, on one thread and on
/// `threads` threads both ways.
pub fn forecast(hosts: usize, threads: usize, rounds: usize) -> Result<ForecastReport, BenchError> {
    if hosts == 0 || threads == 0 || rounds == 0 {
        return Err(BenchError::Usage(
            "--hosts, --threads and --rounds must be at least 1".into(),
        ));
    }
    let checks = host_checks(hosts)?;
    let measures = checks[0].forecasts.len();
    let forecasts = Arc::new(Forecasts::default());
    eprintln!("filling {} series with a window each…", hosts * measures);
    let mut points = 0;
    for k in 0..=500 {
        for (h, c) in checks.iter().enumerate() {
            let mut o = outcome(c, h, k);
            points += forecasts.apply(c, k * STEP_MS, &mut o, true).len();
        }
    }
    let points = points / (hosts * measures);
    let mut round = 501;
    let mut run = |threads: usize, one_lock: bool| -> Contention {
        let mut fits_per_s = Vec::new();
        let mut p50 = Vec::new();
        let mut p99 = Vec::new();
        for _ in 0..rounds {
            let (rate, lat) = apply_round(&forecasts, &checks, round, threads, one_lock);
            let (a, _, b) = percentiles(lat);
            fits_per_s.push(rate);
            p50.push(a);
            p99.push(b);
            round += 1;
        }
        let median = |v: &[f64]| percentiles(v.to_vec()).0;
        Contention {
            one_lock,
            fits_per_s: median(&fits_per_s),
            apply_p50_ms: median(&p50),
            apply_p99_ms: median(&p99),
        }
    };
    eprintln!("measuring…");
    let single = run(1, false);
    let per_series = run(threads, false);
    let one_lock = run(threads, true);
    Ok(ForecastReport {
        hosts,
        measures,
        points,
        threads,
        rounds,
        single,
        per_series,
        one_lock,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// One new sample per series at step `k`, the hosts split among
/// `threads`: fits per second and each apply's duration (ms).
fn apply_round(
    forecasts: &Arc<Forecasts>,
    checks: &[Arc<Check>],
    k: i64,
    threads: usize,
    one_lock: bool,
) -> (f64, Vec<f64>) {
    let lock = Mutex::new(());
    let started = Instant::now();
    let (fits, lat) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let lock = &lock;
                s.spawn(move || {
                    let mut fits = 0usize;
                    let mut lat = Vec::new();
                    for (h, c) in checks.iter().enumerate().skip(t).step_by(threads) {
                        let mut o = outcome(c, h, k);
                        let t0 = Instant::now();
                        let _held =
                            one_lock.then(|| lock.lock().unwrap_or_else(|p| p.into_inner()));
                        fits += forecasts.apply(c, k * STEP_MS, &mut o, false).len();
                        drop(_held);
                        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                    }
                    (fits, lat)
                })
            })
            .collect();
        let mut fits = 0;
        let mut lat = Vec::new();
        for w in workers {
            if let Ok((f, l)) = w.join() {
                fits += f;
                lat.extend(l);
            }
        }
        (fits, lat)
    });
    (fits as f64 / started.elapsed().as_secs_f64(), lat)
}

/// Host `h`'s result at step `k`: each measure growing slowly with noise
/// (a seeded generator, the same series on every run), as its judge
/// writes it in the evidence.
fn outcome(c: &Check, h: usize, k: i64) -> Outcome {
    let mut values = serde_json::Map::new();
    for (i, f) in c.forecasts.iter().enumerate() {
        let mut x = (h as u64 * 31 + i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k as u64;
        x ^= x >> 29;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 32;
        let noise = (x % 1000) as f64 / 1000.0 - 0.5;
        let v = 20.0 + 0.02 * k as f64 + noise;
        values.insert(f.measure.key.clone(), v.into());
    }
    let mut o = Outcome::new(Status::Up, "ok");
    let at: Timestamp = k * STEP_MS;
    o.evidence.insert(
        MEASURES_KEY,
        serde_json::json!({ "at": at, "values": values }),
    );
    o
}

/// The bench's host checks, as a configuration declares them (with their
/// agents' token files in a scratch directory).
fn host_checks(hosts: usize) -> Result<Vec<Arc<Check>>, BenchError> {
    let dir = crate::scratch_dir()?.join("forecast");
    std::fs::create_dir_all(&dir)
        .map_err(BenchError::io(format!("cannot create {}", dir.display())))?;
    let mut src = String::from("[[site]]\nid = \"hosts\"\n");
    for i in 0..hosts {
        src.push_str(&format!(
            "\n[[site.check]]\nid = \"host-{i}\"\nkind = \"host\"\nagent = \"host-{i}\"\n\
             forecast = {{ window = \"7d\", disk.\"/\" = {{}}, disk.\"/var\" = {{}}, inodes.\"/\" = {{}}, memory = {{}}, load = {{ limit = 4 }} }}\n"
        ));
    }
    for i in 0..hosts {
        let file = dir.join(format!("host-{i}.token"));
        crate::agent::write_private(&file, &crate::agent::token(i))?;
        src.push_str(&format!(
            "\n[[agent]]\nname = \"host-{i}\"\ntoken_file = \"{}\"\n",
            file.display()
        ));
    }
    let config = keepup_config::load_str(&src, std::path::Path::new("bench-forecast.toml"))?;
    Ok(config.shared_checks().cloned().collect())
}
