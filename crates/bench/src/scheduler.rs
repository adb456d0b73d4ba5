//! `keepup bench scheduler`: the real monitor (scheduler, probes, SQLite
//! store) with N checks at an interval; run rate, scheduling lag, CPU and
//! peak memory. The target is served by a child process
//! ([`serve_target`], `keepup bench target`) so the figures are keepup's
//! alone.

use crate::{
    BenchError, cpu_time, peak_rss_mb, raise_descriptor_limit_as_the_daemon_does, runtime,
    scratch_dir, start_warmed_up,
};
use keepup_config::Config;
use std::fmt::{self, Write as _};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Serves the scheduler bench's target on `listen`: prints the bound
/// address on stdout (what [`Target::Spawn`] reads), then answers every
/// request with a short 200 until killed.
pub fn serve_target(listen: SocketAddr) -> Result<(), BenchError> {
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(BenchError::io(format!("cannot listen on {listen}")))?;
        let addr = listener
            .local_addr()
            .map_err(BenchError::io("no local address"))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{addr}")
            .and_then(|()| stdout.flush())
            .map_err(BenchError::io("cannot write the address"))?;
        keepup_demo::bench_target(listener).await;
        Ok(())
    })
}

/// What the checks of the scheduler bench probe.
pub enum Target {
    /// An `http://` URL or `tcp://HOST:PORT` served by someone else.
    Url(String),
    /// A command that runs [`serve_target`] (the CLI passes itself with
    /// `bench target`); it is killed when the bench ends.
    Spawn(Command),
}

/// What `keepup bench scheduler` measured.
#[derive(Debug)]
pub struct SchedulerReport {
    pub checks: usize,
    pub interval: Duration,
    pub wall: Duration,
    pub runs: u64,
    pub cpu: Duration,
    /// Scheduling lag in ms: p50, p99, max.
    pub lag_ms: (f64, f64, f64),
    pub peak_rss_mb: f64,
    /// The monitor's count of latest outcomes by status, as `/healthz`.
    pub statuses: String,
}

impl fmt::Display for SchedulerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let expected = self.checks as f64 / self.interval.as_secs_f64();
        let (p50, p99, max) = self.lag_ms;
        write!(
            f,
            "checks={} interval={}s window={:.0}s runs={} rate={:.1}/s expected={expected:.1}/s lag_ms p50={p50:.1} p99={p99:.1} max={max:.1} cpu={:.1}%_of_one_core peak_rss={:.1}MB statuses={}",
            self.checks,
            self.interval.as_secs_f64(),
            self.wall.as_secs_f64(),
            self.runs,
            self.runs as f64 / self.wall.as_secs_f64(),
            self.cpu.as_secs_f64() / self.wall.as_secs_f64() * 100.0,
            self.peak_rss_mb,
            self.statuses,
        )
    }
}

/// Schedules `checks` checks every `interval` against `target`, warms up
/// for one interval and measures for `duration`. `concurrency` is written
/// as `[scheduler] concurrency` when given; left out, the limit is the
/// daemon's default, derived from the descriptor limit raised as the
/// daemon raises it.
pub fn scheduler(
    checks: usize,
    interval: Duration,
    duration: Duration,
    target: Target,
    concurrency: Option<usize>,
) -> Result<SchedulerReport, BenchError> {
    raise_descriptor_limit_as_the_daemon_does();
    let (url, mut child) = match target {
        Target::Url(url) => (url, None),
        Target::Spawn(command) => {
            let (url, child) = spawn_target(command)?;
            (url, Some(child))
        }
    };
    let result = run_scheduler(checks, interval, duration, &url, concurrency);
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

/// Starts the target process and reads the address it serves on.
fn spawn_target(mut command: Command) -> Result<(String, Child), BenchError> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(BenchError::io("cannot start the benchmark target process"))?;
    let mut line = String::new();
    let read = match child.stdout.take() {
        Some(stdout) => BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(BenchError::io("cannot read from the target process")),
        None => Err(BenchError::Target(
            "no stdout from the target process".into(),
        )),
    };
    let addr = read.and_then(|_| {
        line.trim()
            .parse::<SocketAddr>()
            .map_err(|_| BenchError::Target(format!("target process said {line:?}")))
    });
    match addr {
        Ok(addr) => Ok((format!("http://{addr}/"), child)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn run_scheduler(
    checks: usize,
    interval: Duration,
    duration: Duration,
    target: &str,
    concurrency: Option<usize>,
) -> Result<SchedulerReport, BenchError> {
    if checks == 0 {
        return Err(BenchError::Usage("--checks must be at least 1".into()));
    }
    let dir = scratch_dir()?;
    let kind_line = if target.starts_with("tcp://") {
        let hp = target.trim_start_matches("tcp://").trim_end_matches('/');
        let (h, p) = hp
            .rsplit_once(':')
            .ok_or_else(|| BenchError::Usage("tcp target needs host:port".into()))?;
        format!("kind = \"tcp\"\nhost = \"{h}\"\nport = {p}\n")
    } else {
        format!("kind = \"http\"\nurl = \"{target}\"\n")
    };
    let mut src = format!(
        "[store]\npath = \"{}\"\n[defaults]\ninterval = {}\ntimeout = {}\n",
        dir.join("bench.db").display(),
        interval.as_secs_f64(),
        interval.as_secs_f64().min(10.0)
    );
    if let Some(n) = concurrency {
        let _ = write!(src, "[scheduler]\nconcurrency = {n}\n");
    }
    let per_site = 100;
    for i in 0..checks {
        if i % per_site == 0 {
            let _ = write!(src, "[[site]]\nid = \"site{}\"\n", i / per_site);
        }
        let _ = write!(src, "[[site.check]]\nid = \"c{i}\"\n{kind_line}");
    }
    let config: Config = keepup_config::load_str(&src, &dir.join("bench.toml"))?;
    let report = runtime()?.block_on(async move {
        let monitor = start_warmed_up(config, interval).await?;
        let runs0 = monitor.scheduler().stats().runs();
        let cpu0 = cpu_time();
        let t0 = Instant::now();
        tokio::time::sleep(duration).await;
        let wall = t0.elapsed();
        let cpu = cpu_time() - cpu0;
        let runs = monitor.scheduler().stats().runs() - runs0;
        let lag = monitor.scheduler().stats().lag_percentiles();
        // Read before `health()`, which copies every check's latest
        // outcome only to count statuses for this report.
        let peak_rss_mb = peak_rss_mb();
        let health = monitor.health();
        monitor.shutdown().await;
        Ok::<_, BenchError>(SchedulerReport {
            checks,
            interval,
            wall,
            runs,
            cpu,
            lag_ms: lag.unwrap_or_default(),
            peak_rss_mb,
            statuses: format!("{:?}", health.by_status),
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    report
}
