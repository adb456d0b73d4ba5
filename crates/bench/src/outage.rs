//! `keepup bench outage`: a mass outage beside healthy checks. The real
//! monitor (scheduler, probes, SQLite store) runs N `http` checks (interval
//! 30 s, timeout 5 s) against a loopback target that accepts connections
//! and never answers (with `--stall`; without it, the same target as the
//! healthy checks), and M healthy checks against a loopback server that
//! answers at once. It reports the scheduling lag of the healthy checks'
//! runs, the CPU and the peak memory.
//!
//! Both targets run in a child process ([`serve_targets`], `keepup bench
//! outage-targets`), so the memory and CPU reported are the monitor's
//! alone: a stalling target holds a socket and a task for each of the
//! thousands of connections waiting on it, which is not keepup's cost.
//!
//! The healthy server notes when each request arrives (a line on the
//! child's stdout); the path names the check, so the lag is the arrival
//! minus the check's slot (the slot arithmetic is the scheduler's own,
//! `keepup_monitor::slots`). That includes the loopback connect and the
//! request, so it slightly overstates the scheduler's lag, never
//! understates it.

use crate::{
    BenchError, cpu_time, peak_rss_mb, raise_descriptor_limit_as_the_daemon_does, runtime,
    scratch_dir, start_warmed_up,
};
use keepup_config::Config;
use keepup_model::{CheckId, SystemClock};
use keepup_monitor::slots::offset_ms;
use std::fmt::{self, Write as _};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Interval and timeout of every check: the mass outage.
const INTERVAL: Duration = Duration::from_secs(30);
const TIMEOUT: Duration = Duration::from_secs(5);
/// Checks per generated site.
const PER_SITE: usize = 100;
/// Longest request head the healthy server reads.
const MAX_HEAD: usize = 4096;
/// The line [`serve_targets`] starts with: `targets STALLING ANSWERING`.
const TARGETS_LINE: &str = "targets ";
/// The line it writes for each request the healthy server takes:
/// `arrived CHECK UNIX_MS`.
const ARRIVED_LINE: &str = "arrived ";
/// How long the targets' process may take to say its addresses.
const TARGETS_START: Duration = Duration::from_secs(30);

/// What `keepup bench outage` measured.
#[derive(Debug)]
pub struct OutageReport {
    pub stalled: usize,
    pub healthy: usize,
    pub stall: bool,
    /// Probes in flight at once the scheduler allowed.
    pub max_in_flight: usize,
    pub wall: Duration,
    /// Runs of the healthy checks measured.
    pub healthy_runs: usize,
    /// Lag of the healthy checks' runs in ms: p50, p99, max.
    pub lag_ms: (f64, f64, f64),
    /// Every run's lag as the scheduler sampled it (p50, p99, max), the
    /// stalled checks' retries included.
    pub all_lag_ms: (f64, f64, f64),
    pub cpu: Duration,
    pub peak_rss_mb: f64,
    /// The monitor's count of latest outcomes by status, as `/healthz`.
    pub statuses: std::collections::BTreeMap<String, usize>,
}

impl fmt::Display for OutageReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p50, p99, max) = self.lag_ms;
        let (a50, a99, amax) = self.all_lag_ms;
        write!(
            f,
            "stalled={} stall={} healthy={} max_in_flight={} window={:.0}s healthy_runs={} healthy_lag_ms p50={p50:.1} p99={p99:.1} max={max:.1} all_runs_lag_ms p50={a50:.1} p99={a99:.1} max={amax:.1} cpu={:.1}%_of_one_core peak_rss={:.1}MB statuses={}",
            self.stalled,
            self.stall,
            self.healthy,
            self.max_in_flight,
            self.wall.as_secs_f64(),
            self.healthy_runs,
            self.cpu.as_secs_f64() / self.wall.as_secs_f64() * 100.0,
            self.peak_rss_mb,
            format_args!("{:?}", self.statuses),
        )
    }
}

/// Runs `stalled` checks against a stalling target (or, without `stall`,
/// against the healthy server) beside `healthy` checks, warms up for one
/// interval and measures for `duration`. `targets` is a command that runs
/// [`serve_targets`] (the CLI passes itself with `bench outage-targets`);
/// it is stopped when the bench ends. `concurrency` is written as
/// `[scheduler] concurrency` when given (to compare with a smaller limit,
/// such as the former default of 256).
pub fn outage(
    stalled: usize,
    healthy: usize,
    stall: bool,
    duration: Duration,
    concurrency: Option<usize>,
    targets: Command,
) -> Result<OutageReport, BenchError> {
    if healthy == 0 {
        return Err(BenchError::Usage("--healthy must be at least 1".into()));
    }
    // Each stalled probe holds a socket.
    raise_descriptor_limit_as_the_daemon_does();
    let mut child = Targets::spawn(targets)?;
    let result = scratch_dir().and_then(|dir| {
        let result = runtime().and_then(|rt| {
            rt.block_on(run(
                stalled,
                healthy,
                stall,
                duration,
                concurrency,
                &dir,
                &child,
            ))
        });
        let _ = std::fs::remove_dir_all(&dir);
        result
    });
    child.stop();
    result
}

/// Serves the outage bench's two targets until its stdin closes (the
/// bench holds it open; if the bench dies, so does this): a stalling one
/// and an answering one, on loopback. Writes [`TARGETS_LINE`] with their
/// addresses first, then an [`ARRIVED_LINE`] for every request the
/// answering one takes.
pub fn serve_targets() -> Result<(), BenchError> {
    raise_descriptor_limit_as_the_daemon_does();
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    runtime()?.block_on(async {
        let bind = |what: &'static str| async move {
            TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(BenchError::server(what))
        };
        let address = |listener: &TcpListener| {
            listener
                .local_addr()
                .map_err(BenchError::io("no local address"))
        };
        let stalling = bind("the stalling target").await?;
        let answering = bind("the healthy target").await?;
        let line = format!(
            "{TARGETS_LINE}{} {}",
            address(&stalling)?,
            address(&answering)?
        );
        say(&line).map_err(BenchError::io("cannot write the targets' addresses"))?;
        tokio::spawn(serve_stalling(stalling));
        serve_answering(answering).await;
        Ok(())
    })
}

/// One line on stdout, flushed at once (the bench reads it as it comes).
fn say(line: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush())
}

/// The child process serving the targets, and what it has reported.
struct Targets {
    child: Child,
    stalling: SocketAddr,
    answering: SocketAddr,
    /// (check number, arrival in Unix ms) of every healthy request.
    arrivals: Arc<Mutex<Vec<(usize, i64)>>>,
}

impl Targets {
    /// Starts `command` and waits (at most [`TARGETS_START`]) for the
    /// targets' addresses; a thread reads its stdout and collects the
    /// arrivals it reports.
    fn spawn(mut command: Command) -> Result<Targets, BenchError> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(BenchError::io("cannot start the outage targets' process"))?;
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let addresses = match child.stdout.take() {
            Some(stdout) => {
                let (said, addresses) = std::sync::mpsc::channel();
                let noted = arrivals.clone();
                std::thread::spawn(move || read_reports(BufReader::new(stdout), &said, &noted));
                addresses.recv_timeout(TARGETS_START).unwrap_or_else(|_| {
                    Err(BenchError::Target(format!(
                        "the outage targets' process did not say its addresses within {}",
                        humantime::format_duration(TARGETS_START)
                    )))
                })
            }
            None => Err(BenchError::Target(
                "no stdout from the outage targets' process".into(),
            )),
        };
        match addresses {
            Ok((stalling, answering)) => Ok(Targets {
                child,
                stalling,
                answering,
                arrivals,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Closes its stdin (which ends it) and makes sure it is gone.
    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the targets' process's stdout: sends the addresses of its
/// [`TARGETS_LINE`] (text before it, such as a test harness's, is skipped),
/// then notes every [`ARRIVED_LINE`] until the process ends.
fn read_reports(
    mut out: BufReader<ChildStdout>,
    said: &std::sync::mpsc::Sender<Result<(SocketAddr, SocketAddr), BenchError>>,
    arrivals: &Mutex<Vec<(usize, i64)>>,
) {
    let mut line = String::new();
    let mut addresses_said = false;
    loop {
        line.clear();
        match out.read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        if !addresses_said {
            if let Some((_, rest)) = line.trim().split_once(TARGETS_LINE) {
                addresses_said = true;
                let parsed = rest.split_once(' ').and_then(|(s, a)| {
                    Some((s.parse::<SocketAddr>().ok()?, a.parse::<SocketAddr>().ok()?))
                });
                let _ = said.send(parsed.ok_or_else(|| {
                    BenchError::Target(format!(
                        "the outage targets' process said {:?}",
                        line.trim()
                    ))
                }));
            }
            continue;
        }
        let arrival = line.trim().strip_prefix(ARRIVED_LINE).and_then(|rest| {
            let (check, at) = rest.split_once(' ')?;
            Some((check.parse().ok()?, at.parse().ok()?))
        });
        if let (Some(arrival), Ok(mut all)) = (arrival, arrivals.lock()) {
            all.push(arrival);
        }
    }
    if !addresses_said {
        let _ = said.send(Err(BenchError::Target(
            "the outage targets' process ended without saying its addresses".into(),
        )));
    }
}

async fn run(
    stalled: usize,
    healthy: usize,
    stall: bool,
    duration: Duration,
    concurrency: Option<usize>,
    dir: &std::path::Path,
    targets: &Targets,
) -> Result<OutageReport, BenchError> {
    let answering_addr = targets.answering;
    let stalled_url = if stall {
        format!("http://{}/", targets.stalling)
    } else {
        format!("http://{answering_addr}/stalled")
    };

    let mut src = format!(
        "[store]\npath = \"{}\"\n[defaults]\ninterval = \"{}s\"\ntimeout = \"{}s\"\n",
        dir.join("bench.db").display(),
        INTERVAL.as_secs(),
        TIMEOUT.as_secs(),
    );
    if let Some(n) = concurrency {
        let _ = write!(src, "[scheduler]\nconcurrency = {n}\n");
    }
    for i in 0..healthy {
        if i % PER_SITE == 0 {
            let _ = write!(src, "[[site]]\nid = \"healthy{}\"\n", i / PER_SITE);
        }
        let _ = write!(
            src,
            "[[site.check]]\nid = \"c{i}\"\nkind = \"http\"\nurl = \"http://{answering_addr}/{i}\"\n"
        );
    }
    for i in 0..stalled {
        if i % PER_SITE == 0 {
            let _ = write!(src, "[[site]]\nid = \"stalled{}\"\n", i / PER_SITE);
        }
        let _ = write!(
            src,
            "[[site.check]]\nid = \"c{i}\"\nkind = \"http\"\nurl = \"{stalled_url}\"\n"
        );
    }
    let config: Config = keepup_config::load_str(&src, &dir.join("bench.toml"))?;
    let max_in_flight = config
        .scheduler
        .in_flight_cap(keepup_config::descriptors::soft_limit().unwrap_or(1024));
    let monitor = start_warmed_up(config, INTERVAL).await?;
    let from = now_ms();
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    tokio::time::sleep(duration).await;
    let wall = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    let all_lag_ms = monitor
        .scheduler()
        .stats()
        .lag_percentiles()
        .unwrap_or_default();
    let peak_rss_mb = peak_rss_mb();
    let health = monitor.health();
    monitor.shutdown().await;

    let interval_ms = INTERVAL.as_millis() as i64;
    let mut lags: Vec<f64> = targets
        .arrivals
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, at)| *at >= from)
        .map(|(i, at): (usize, i64)| {
            let id = CheckId::new(&format!("healthy{}", i / PER_SITE), &format!("c{i}"));
            let offset = offset_ms(id.as_str(), interval_ms);
            (at - offset).rem_euclid(interval_ms) as f64
        })
        .collect();
    lags.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        lags.get(((lags.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(OutageReport {
        stalled,
        healthy,
        stall,
        max_in_flight,
        wall,
        healthy_runs: lags.len(),
        lag_ms: (pick(0.5), pick(0.99), lags.last().copied().unwrap_or(0.0)),
        all_lag_ms,
        cpu,
        peak_rss_mb,
        statuses: health.by_status,
    })
}

fn now_ms() -> i64 {
    use keepup_model::Clock;
    SystemClock.now_ms()
}

/// Accepts every connection and never answers: a load balancer whose
/// backends are gone. Connections are held until the client gives up.
async fn serve_stalling(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            // Out of descriptors for a moment: the probes time out anyway.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut sink = [0u8; 1024];
            // Read (so the client's request is taken) until it closes.
            while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        });
    }
}

/// Answers every request with a short 200 and reports the check (the
/// number in the path) and when its request arrived.
async fn serve_answering(listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(async move {
            let mut head = Vec::with_capacity(512);
            let mut buf = [0u8; 1024];
            let arrived = loop {
                match tokio::time::timeout(TIMEOUT, socket.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => {
                        head.extend_from_slice(&buf[..n]);
                        if head.windows(4).any(|w| w == b"\r\n\r\n") {
                            break now_ms();
                        }
                        if head.len() > MAX_HEAD {
                            return;
                        }
                    }
                    _ => return,
                }
            };
            let check = std::str::from_utf8(&head)
                .ok()
                .and_then(|h| h.split(' ').nth(1))
                .and_then(|path| path.trim_start_matches('/').parse::<usize>().ok());
            if let Some(i) = check {
                // The bench is gone if this fails; stdin's end stops us.
                let _ = say(&format!("{ARRIVED_LINE}{i} {arrived}"));
            }
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n")
                .await;
        });
    }
}
