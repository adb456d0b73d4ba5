//! `keepup bench postgres`: `kind = "postgres"` checks against one private
//! PostgreSQL primary with a streaming replica (the test kit's launchers):
//! checks per second, latency percentiles, keepup's CPU time per check and
//! peak memory, with the sessions kept between runs (as the daemon runs
//! them) and, for comparison, with a fresh login per run.

use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use keepup_model::Status;
use keepup_probe::ProbeContext;
use keepup_testkit::postgres::Postgres;

use crate::{BenchError, cpu_time, peak_rss_mb, runtime};

/// One phase's figures.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Checks run.
    pub checks: usize,
    /// Of which Up.
    pub up: usize,
    /// Wall time.
    pub wall: Duration,
    /// keepup's CPU time (user + system) over the phase.
    pub cpu: Duration,
    /// Latency percentiles in ms: p50, p95, p99.
    pub latency_ms: (f64, f64, f64),
}

impl Phase {
    /// Checks per second.
    pub fn rate(&self) -> f64 {
        self.checks as f64 / self.wall.as_secs_f64().max(1e-9)
    }
    /// keepup's CPU time per check, in ms.
    pub fn cpu_ms_per_check(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.checks.max(1) as f64
    }
}

/// What `keepup bench postgres` measured.
#[derive(Debug, Clone)]
pub struct PostgresReport {
    /// Distinct checks (one database each), run back to back.
    pub databases: usize,
    /// Sessions kept between runs (the daemon's way).
    pub kept: Phase,
    /// A fresh TCP connection and login per run.
    pub fresh: Phase,
    /// keepup's peak resident memory, in MB.
    pub peak_rss_mb: f64,
}

impl fmt::Display for PostgresReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, p) in [("kept-session", &self.kept), ("fresh-login", &self.fresh)] {
            let (p50, p95, p99) = p.latency_ms;
            writeln!(
                f,
                "{name}: checks={} up={} duration={:.1}s rate={:.0}/s latency_ms p50={p50:.2} p95={p95:.2} p99={p99:.2} cpu_ms_per_check={:.3}",
                p.checks,
                p.up,
                p.wall.as_secs_f64(),
                p.rate(),
                p.cpu_ms_per_check(),
            )?;
        }
        write!(
            f,
            "databases={} peak_rss_mb={:.1}",
            self.databases, self.peak_rss_mb
        )
    }
}

/// Runs `databases` postgres checks (each on its own database of one
/// primary with one streaming replica, role = "primary", replicas = 1)
/// back to back for `duration` with their sessions kept, then for
/// `duration` with a fresh login per run.
pub fn postgres(databases: usize, duration: Duration) -> Result<PostgresReport, BenchError> {
    if databases == 0 {
        return Err(BenchError::Usage("--databases must be at least 1".into()));
    }
    eprintln!("starting a PostgreSQL primary and its streaming replica…");
    let server = BenchError::server("PostgreSQL (Debian package `postgresql`)");
    let primary = Postgres::start_primary().map_err(server)?;
    let _replica = Postgres::start_replica(&primary)
        .map_err(BenchError::server("a PostgreSQL replica (pg_basebackup)"))?;
    let dir = crate::scratch_dir()?;
    let password = dir.join("pg.pass");
    std::fs::write(&password, primary.password())
        .map_err(BenchError::io("cannot write the password file"))?;
    let mut src = String::from("[[site]]\nid = \"bench\"\n");
    for i in 0..databases {
        let db = format!("bench{i}");
        primary
            .create_database(&db)
            .map_err(BenchError::io(format!("cannot create database {db}")))?;
        src.push_str(&format!(
            "[[site.check]]\nid = \"db{i}\"\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nport = {}\n\
             user = \"{}\"\ndatabase = \"{db}\"\npassword_file = {}\ntls = \"disable\"\n\
             role = \"primary\"\nreplicas = 1\ntimeout = \"5s\"\n",
            primary.port(),
            primary.user(),
            keepup_config::toml_string(&password.to_string_lossy()),
        ));
    }
    let config = keepup_config::load_str(&src, Path::new("bench-postgres.toml"))?;
    let probes = config
        .checks()
        .map(crate::probe_of)
        .collect::<Result<Vec<_>, _>>()?;
    let rt = runtime()?;
    let kept = rt.block_on(measure(&probes, duration, false));
    let fresh = rt.block_on(measure(&probes, duration, true));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(PostgresReport {
        databases,
        kept,
        fresh,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// Runs every check back to back, one worker each, for `duration`;
/// `fresh`: a new context (so no kept session) for every run.
async fn measure(
    probes: &[(keepup_config::ProbeSpec, Duration)],
    duration: Duration,
    fresh: bool,
) -> Phase {
    let shared = ProbeContext::new();
    // One run each first: sessions open, a broken setup is said.
    for (probe, timeout) in probes {
        let o = keepup_probe::run(probe, *timeout, &shared).await;
        if o.status != Status::Up {
            eprintln!("warning: first run was {}: {}", o.status, o.message);
        }
    }
    let cpu_before = cpu_time();
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for (probe, timeout) in probes.iter().cloned() {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut up) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let ctx = if fresh {
                    ProbeContext::new()
                } else {
                    shared.clone()
                };
                let t = Instant::now();
                let o = keepup_probe::run(&probe, timeout, &ctx).await;
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                up += usize::from(o.status == Status::Up);
            }
            (latencies, up)
        }));
    }
    let (mut all, mut up) = (Vec::new(), 0);
    for w in workers {
        if let Ok((l, u)) = w.await {
            all.extend(l);
            up += u;
        }
    }
    let wall = started.elapsed();
    Phase {
        checks: all.len(),
        up,
        wall,
        cpu: cpu_time().saturating_sub(cpu_before),
        latency_ms: p50_p95_p99(all),
    }
}

/// The median, 95th and 99th percentiles of `v` (zeros if empty).
fn p50_p95_p99(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (p(0.5), p(0.95), p(0.99))
}
