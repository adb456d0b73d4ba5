//! keepup's benchmarks, behind `keepup bench`: speed and memory figures
//! measured on the production code, never on copies of it.
//!
//! - [`probe`]: hammers one target with the real probe at a fixed
//!   concurrency (compare with blackbox_exporter via
//!   `bench/compare-blackbox.sh`);
//! - [`scheduler`]: runs the real monitor (scheduler, probes, SQLite store)
//!   with N checks against a target served by a child process
//!   ([`scheduler::serve_target`]), so the CPU and memory reported are
//!   keepup's alone;
//! - [`agent`]: `keepup agent` beside Debian's node_exporter, and the
//!   central taking the reports of many simulated agents;
//! - [`backlog`]: the central draining an agent's day-long backlog after a
//!   day of `AGENT_SILENT` (any keepup binary as the central, to compare
//!   builds);
//! - [`alerting`]: the incident engine and the alerter with N simultaneous
//!   failures against a real store;
//! - [`dns`]: the delegation walk and DNSBL lookups against Knot DNS
//!   serving the test hierarchy on loopback;
//! - [`mail`]: the mail checks beside monitoring-plugins against private
//!   Postfix and Dovecot;
//! - [`postgres`]: `kind = "postgres"` checks against a private primary
//!   with a streaming replica, sessions kept and with a login per run;
//! - [`outage`]: a mass outage (thousands of checks against a target that
//!   never answers) beside healthy checks: the healthy checks' scheduling
//!   lag and the peak memory;
//! - [`listener`]: heartbeat pings from well-behaved addresses while one
//!   loopback address floods the listener with slowloris connections;
//! - [`sla`]: reading the status spans SLA accounting takes, from a store
//!   filled with a year of one contract's results and one with a month of
//!   many checks' results;
//! - [`forecast`]: the capacity forecasts' judge on many hosts' full
//!   windows: fits per second and how long an apply waits beside others;
//! - [`web`]: `keepup run` in a child process serving the dashboard,
//!   status page and API from a store of many checks' months, under wrk.
//!
//! Every bench is a function taking its parameters and returning a report
//! whose `Display` is the line (or table) `keepup bench` prints; progress
//! goes to stderr. A new bench is a module here, a function, and a
//! subcommand in the CLI's `BenchCommand`.
//!
//! The DNS and mail benches start their servers with the test kit's
//! launchers (`keepup-testkit`), which is why the binary links this crate
//! only when built with its `bench` feature: the shipped binary carries no
//! test harness.

pub mod agent;
pub mod alerting;
pub mod backlog;
pub mod dns;
pub mod forecast;
pub mod listener;
pub mod mail;
pub mod outage;
pub mod postgres;
pub mod probe;
pub mod scenario;
pub mod scheduler;
pub mod sla;
pub mod web;

use std::path::PathBuf;
use std::time::Duration;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A parameter out of range, or a tool missing, said in a sentence.
    #[error("{0}")]
    Usage(String),
    /// The configuration a bench generates does not load.
    #[error("{0}")]
    Config(#[from] keepup_config::Problems),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("store: {0}")]
    Store(#[from] keepup_store::StoreError),
    #[error("monitor: {0}")]
    Monitor(#[from] keepup_monitor::MonitorError),
    /// A server the bench needs did not start.
    #[error("cannot start {what}: {reason}")]
    Server { what: &'static str, reason: String },
    /// The target process of the scheduler bench misbehaved.
    #[error("{0}")]
    Target(String),
}

impl BenchError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BenchError {
        let what = what.into();
        move |source| BenchError::Io { what, source }
    }

    fn server(what: &'static str) -> impl FnOnce(std::io::Error) -> BenchError {
        move |e| BenchError::Server {
            what,
            reason: e.to_string(),
        }
    }
}

/// The multi-threaded runtime every bench measures on (as the daemon's).
/// What a bench runs: the probe of `check` and its timeout.
fn probe_of(
    check: &keepup_config::Check,
) -> Result<(keepup_config::ProbeSpec, Duration), BenchError> {
    let probe = check.probe().cloned().ok_or_else(|| {
        BenchError::Usage(format!("{} is a passive check: nothing to probe", check.id))
    })?;
    Ok((probe, check.timeout))
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(BenchError::io("cannot start the tokio runtime"))
}

/// A runtime like [`runtime`] whose threads are all called `name`, so
/// that [`threads_cpu_time`] can tell their CPU time from the rest of the
/// process's. Its blocking threads are kept (not ended after 10 s idle, as
/// by default), since a thread that ends takes its figures with it.
fn named_runtime(name: &str) -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(24 * 3600))
        .build()
        .map_err(BenchError::io("cannot start the tokio runtime"))
}

/// User + system CPU time of this process's threads named `name`, from
/// each thread's `/proc/self/task/TID/stat` (in clock ticks: 10 ms each).
fn threads_cpu_time(name: &str) -> Duration {
    // SAFETY: sysconf only reads a constant.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return Duration::ZERO;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // ended meanwhile
        };
        // "TID (NAME) STATE …": the name may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != name {
            continue;
        }
        // After the name: state, then fields 4 to 13, then utime and stime.
        let mut fields = stat[close + 1..].split_whitespace().skip(11);
        let mut next = || fields.next().and_then(|f| f.parse::<u64>().ok());
        ticks += next().unwrap_or(0) + next().unwrap_or(0);
    }
    Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

/// Raises the descriptor limit to the hard limit, as the daemon does at
/// start (the default `[scheduler] concurrency` is derived from it), and
/// says so when it cannot.
fn raise_descriptor_limit_as_the_daemon_does() {
    if let Some(limit) = keepup_config::descriptors::raise_to_hard_limit()
        && !limit.at_hard_limit()
    {
        eprintln!(
            "could only raise the descriptor limit to {} (hard limit {})",
            limit.soft, limit.hard
        );
    }
}

/// Starts the monitor on a bench configuration and lets it run for one
/// interval before the figures start (start-up spreads the first runs over
/// the interval), then clears the lags it sampled meanwhile.
async fn start_warmed_up(
    config: keepup_config::Config,
    interval: std::time::Duration,
) -> Result<keepup_monitor::Monitor, BenchError> {
    let store = keepup_store::Store::open(&config.store.path)?;
    let monitor = keepup_monitor::Monitor::start(
        std::sync::Arc::new(config),
        store,
        keepup_probe::ProbeContext::new(),
        std::sync::Arc::new(keepup_model::SystemClock),
    )
    .await?;
    eprintln!(
        "warming up for one interval ({})…",
        humantime::format_duration(interval)
    );
    tokio::time::sleep(interval).await;
    monitor.scheduler().stats().reset_lags();
    Ok(monitor)
}

/// A scratch directory of this process for stores and configurations.
fn scratch_dir() -> Result<PathBuf, BenchError> {
    let dir = std::env::temp_dir().join(format!("keepup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(BenchError::io(format!("cannot create {}", dir.display())))?;
    Ok(dir)
}

/// The median, 90th and 99th percentiles of `v` (zeros if empty).
fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.9), p(0.99))
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Peak resident set size (VmHWM) of this process, in MB.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
