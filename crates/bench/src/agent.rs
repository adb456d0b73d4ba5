//! `keepup bench agent`: what `keepup agent` costs on the host it watches,
//! beside Debian's `prometheus-node-exporter` on the same machine over the
//! same minutes (scraped every interval, as Prometheus would), and what
//! the central keepup spends taking the reports of many agents.
//!
//! Every process measured is a child (`keepup agent`, `keepup run`,
//! `prometheus-node-exporter`): its CPU is the user + system time of
//! `/proc/PID/stat` over the measured span, with that of the children it
//! waited for (the agent's `systemctl` each interval is its cost too),
//! its memory the largest `VmRSS` sampled every second. The simulated agents of the central's
//! phase run in this process and POST a real report of this machine
//! (renamed, numbered) each interval, spread evenly over it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::{BenchError, runtime};

/// What to measure.
#[derive(Debug, Clone)]
pub struct AgentBench {
    /// The keepup binary (this one).
    pub keepup: PathBuf,
    /// Simulated agents pushing to the central.
    pub agents: usize,
    /// Each agent's interval.
    pub interval: Duration,
    /// How long each phase is measured (after one interval of warm-up).
    pub duration: Duration,
}

/// One process's cost over the measured span.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// CPU time in % of one core.
    pub cpu_percent: f64,
    /// Largest resident memory seen, in MB.
    pub rss_mb: f64,
}

/// What `keepup bench agent` measured.
#[derive(Debug, Clone)]
pub struct AgentReport {
    /// The parameters.
    pub bench: AgentBench,
    /// `keepup agent` pushing every interval.
    pub agent: Usage,
    /// `prometheus-node-exporter` scraped every interval (None: not
    /// installed).
    pub node_exporter: Option<Usage>,
    /// `keepup run` taking the simulated agents' reports.
    pub central: Usage,
    /// Reports the central answered 200 to, and the others.
    pub pushed: (usize, usize),
}

impl fmt::Display for AgentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bench;
        let every = humantime::format_duration(b.interval);
        writeln!(
            f,
            "keepup agent, pushing every {every}: {:.3} % of a core, {:.1} MB RSS (over {})",
            self.agent.cpu_percent,
            self.agent.rss_mb,
            humantime::format_duration(b.duration)
        )?;
        match &self.node_exporter {
            Some(n) => writeln!(
                f,
                "prometheus-node-exporter, scraped every {every}: {:.3} % of a core, {:.1} MB RSS",
                n.cpu_percent, n.rss_mb
            )?,
            None => writeln!(f, "prometheus-node-exporter: not installed, not compared")?,
        }
        write!(
            f,
            "central keepup run, {} agents pushing every {every}: {:.2} % of a core, {:.1} MB RSS; {} reports taken, {} refused or failed",
            b.agents, self.central.cpu_percent, self.central.rss_mb, self.pushed.0, self.pushed.1
        )
    }
}

/// A child that is killed when dropped.
pub(crate) struct Killed(pub(crate) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// User + system CPU time of `pid` and of its waited-for children so far.
fn cpu_time(pid: u32) -> Duration {
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let ticks: u64 = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            // utime stime cutime cstime (fields 14 to 17).
            rest.split_whitespace()
                .skip(11)
                .take(4)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Duration::from_secs_f64(ticks as f64 / hz)
}

/// Measures `pids` over `duration`: CPU from the first to the last
/// reading, RSS sampled every second.
async fn measure(pids: &[u32], duration: Duration) -> Vec<Usage> {
    let start: Vec<Duration> = pids.iter().map(|p| cpu_time(*p)).collect();
    let mut rss = vec![0f64; pids.len()];
    let began = Instant::now();
    while began.elapsed() < duration {
        for (i, p) in pids.iter().enumerate() {
            rss[i] = rss[i].max(crate::web::rss_kb(*p, "VmRSS:") / 1024.0);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let wall = began.elapsed().as_secs_f64();
    pids.iter()
        .enumerate()
        .map(|(i, p)| Usage {
            cpu_percent: 100.0 * cpu_time(*p).saturating_sub(start[i]).as_secs_f64() / wall,
            rss_mb: rss[i],
        })
        .collect()
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), BenchError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(BenchError::io(format!("cannot write {}", path.display())))
}

pub(crate) fn free_port() -> Result<u16, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(BenchError::io("cannot find a free loopback port"))
}

/// Starts `keepup run` on a configuration with `agents` agents (tokens in
/// files) and a host check each; returns it once it listens.
fn central(bench: &AgentBench, dir: &Path, agents: usize) -> Result<(Killed, u16), BenchError> {
    let port = free_port()?;
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[store]\npath = \"k.db\"\n\n[[site]]\nid = \"hosts\"\n"
    );
    for i in 0..agents {
        write_private(&dir.join(format!("agent-{i}.token")), &token(i))?;
        cfg.push_str(&format!(
            "\n[[site.check]]\nid = \"agent-{i}\"\nkind = \"host\"\nagent = \"agent-{i}\"\ndisk.\"/\" = {{ warn = \"90%\", crit = \"98%\" }}\nload = {{ warn = 4, crit = 8 }}\nmemory = {{ warn = \"90%\" }}\n"
        ));
    }
    for i in 0..agents {
        cfg.push_str(&format!(
            "\n[[agent]]\nname = \"agent-{i}\"\ntoken_file = \"agent-{i}.token\"\ninterval = \"{}s\"\n",
            bench.interval.as_secs()
        ));
    }
    Ok((spawn_central(&bench.keepup, dir, &cfg, port)?, port))
}

/// Starts `keepup run` on the configuration `cfg` (written to `dir`,
/// where it runs, logging to `keepup.log`); returns it once its listener
/// on loopback `port` takes connections.
pub(crate) fn spawn_central(
    keepup: &Path,
    dir: &Path,
    cfg: &str,
    port: u16,
) -> Result<Killed, BenchError> {
    let path = dir.join("keepup.toml");
    write_private(&path, cfg)?;
    let log = std::fs::File::create(dir.join("keepup.log"))
        .map_err(BenchError::io("cannot create the central's log"))?;
    let mut child = Killed(
        Command::new(keepup)
            .args(["run", "-c"])
            .arg(&path)
            .current_dir(dir)
            .env("KEEPUP_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(BenchError::server("keepup run"))?,
    );
    let began = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.0.try_wait() {
            let log = std::fs::read_to_string(dir.join("keepup.log")).unwrap_or_default();
            return Err(BenchError::Server {
                what: "keepup run",
                reason: format!("it exited ({status}): {}", log.trim()),
            });
        }
        if began.elapsed() > Duration::from_secs(120) {
            return Err(BenchError::Server {
                what: "keepup run",
                reason: "it did not listen within two minutes".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(child)
}

pub(crate) fn token(i: usize) -> String {
    format!("bench-agent-token-{i:08}")
}

/// Runs both phases.
pub fn agent(bench: &AgentBench) -> Result<AgentReport, BenchError> {
    let dir = tempfile::tempdir().map_err(BenchError::io("cannot make a temporary directory"))?;
    let rt = runtime()?;
    rt.block_on(async {
        // Phase 1: one real agent beside node_exporter.
        let one = dir.path().join("one");
        std::fs::create_dir_all(&one).map_err(BenchError::io("mkdir"))?;
        let (_central, port) = central(bench, &one, 1)?;
        let agent = Killed(
            Command::new(&bench.keepup)
                .args(["agent", "--name", "agent-0", "--interval"])
                .arg(format!("{}s", bench.interval.as_secs()))
                .arg("--central")
                .arg(format!("http://127.0.0.1:{port}"))
                .arg("--token-file")
                .arg(one.join("agent-0.token"))
                .arg("--state-dir")
                .arg(one.join("agent"))
                .env("KEEPUP_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(BenchError::server("keepup agent"))?,
        );
        let exporter_port = free_port()?;
        let exporter = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()
            .map(Killed);
        let scraping = exporter.as_ref().map(|_| {
            let interval = bench.interval;
            tokio::spawn(async move {
                let ctx = keepup_notify::HttpClientContext::new();
                let url = format!("http://127.0.0.1:{exporter_port}/metrics");
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    let _ = keepup_notify::bearer_request(
                        &ctx,
                        "node_exporter",
                        &url,
                        "-",
                        None,
                        Duration::from_secs(5),
                        16 << 20,
                    )
                    .await;
                }
            })
        });
        tokio::time::sleep(bench.interval).await;
        let mut pids = vec![agent.0.id()];
        pids.extend(exporter.as_ref().map(|e| e.0.id()));
        eprintln!(
            "measuring keepup agent{} for {}",
            if exporter.is_some() {
                " and prometheus-node-exporter"
            } else {
                ""
            },
            humantime::format_duration(bench.duration)
        );
        let usage = measure(&pids, bench.duration).await;
        if let Some(s) = scraping {
            s.abort();
        }
        drop(agent);
        drop(exporter);

        // Phase 2: the central with many simulated agents.
        let many = dir.path().join("many");
        std::fs::create_dir_all(&many).map_err(BenchError::io("mkdir"))?;
        eprintln!("starting keepup run with {} agents", bench.agents);
        let (central, port) = central(bench, &many, bench.agents)?;
        let mut collector = keepup_agent::Collector::new(keepup_agent::Settings::default());
        collector.collect(0, 0).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sample = collector.collect(0, 0).await;
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let url = format!("http://127.0.0.1:{port}/agent/report");
        let mut pushers = Vec::new();
        for i in 0..bench.agents {
            let (ok, failed, url, interval) =
                (ok.clone(), failed.clone(), url.clone(), bench.interval);
            let mut report = sample.clone();
            report.agent = format!("agent-{i}");
            report.interval_s = interval.as_secs();
            let offset = interval.mul_f64(i as f64 / bench.agents as f64);
            pushers.push(tokio::spawn(async move {
                let ctx = keepup_notify::HttpClientContext::new();
                tokio::time::sleep(offset).await;
                let mut tick = tokio::time::interval(interval);
                loop {
                    tick.tick().await;
                    report.seq += 1;
                    report.at = keepup_model::Clock::now_ms(&keepup_model::SystemClock);
                    let body = serde_json::to_vec(&report).unwrap_or_default();
                    match keepup_notify::bearer_request(
                        &ctx,
                        "central",
                        &url,
                        &token(i),
                        Some(body.into()),
                        Duration::from_secs(10),
                        4096,
                    )
                    .await
                    {
                        Ok((status, _)) if status.is_success() => {
                            ok.fetch_add(1, Ordering::Relaxed)
                        }
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            }));
        }
        tokio::time::sleep(bench.interval).await;
        let (ok0, failed0) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
        eprintln!(
            "measuring keepup run for {}",
            humantime::format_duration(bench.duration)
        );
        let central_usage = measure(&[central.0.id()], bench.duration).await;
        for p in pushers {
            p.abort();
        }
        Ok(AgentReport {
            bench: bench.clone(),
            agent: usage[0],
            node_exporter: usage.get(1).copied(),
            central: central_usage[0],
            pushed: (
                ok.load(Ordering::Relaxed) - ok0,
                failed.load(Ordering::Relaxed) - failed0,
            ),
        })
    })
}
