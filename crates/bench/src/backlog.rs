//! `keepup bench backlog`: how long the central keepup takes to drain an
//! agent's backlog. The central (`keepup run` in a child, any keepup
//! binary: `--central` runs another build side by side) watched the agent
//! for a day without hearing it, so its store holds a day of
//! `AGENT_SILENT` results of the host check, one per check interval,
//! written before it starts, as its own runs would have. Then the agent's
//! queue arrives: one real report of this machine per agent interval of
//! that day, re-dated and numbered, pushed oldest first to
//! `/agent/report`, one after the other as `keepup agent` sends them. The
//! central answers a late report once its verdict is stored (the results
//! it replaces follow with the next one), so the time from the first push
//! to the last answer is the drain time: every report's verdict taking
//! its place in the check's history and status spans.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keepup_model::{Clock, Finding, Outcome, Severity, Status, SystemClock, codes};
use keepup_store::{ResultRecord, Store};

use crate::agent::{free_port, spawn_central, token, write_private};
use crate::{BenchError, runtime};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BacklogBench {
    /// The binary the central runs (`keepup run`).
    pub central: PathBuf,
    /// Reports in the backlog.
    pub reports: usize,
    /// The agent's interval (the reports' spacing), also the host check's.
    pub interval: Duration,
    /// Runs, each with a fresh central and store; the figure is the median.
    pub runs: usize,
}

/// What `keepup bench backlog` measured.
#[derive(Debug, Clone)]
pub struct BacklogReport {
    /// The parameters.
    pub bench: BacklogBench,
    /// Drain time of each run.
    pub drains: Vec<Duration>,
    /// Results of the host check stored over the backlog's time, last run.
    pub results: usize,
}

impl BacklogReport {
    /// The median drain time.
    pub fn median(&self) -> Duration {
        let mut d = self.drains.clone();
        d.sort();
        d.get(d.len() / 2).copied().unwrap_or_default()
    }
}

impl fmt::Display for BacklogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.bench;
        let median = self.median();
        let runs: Vec<String> = self
            .drains
            .iter()
            .map(|d| format!("{:.2} s", d.as_secs_f64()))
            .collect();
        write!(
            f,
            "{} backlogged reports every {} (after as many AGENT_SILENT results), pushed oldest first to {}: drained in {:.2} s (median of {}: {}), {:.0} reports/s; {} results of the host check stored over that time",
            b.reports,
            humantime::format_duration(b.interval),
            b.central.display(),
            median.as_secs_f64(),
            self.drains.len(),
            runs.join(", "),
            b.reports as f64 / median.as_secs_f64().max(1e-9),
            self.results
        )
    }
}

/// Runs the bench.
pub fn backlog(bench: &BacklogBench) -> Result<BacklogReport, BenchError> {
    if bench.reports == 0 || bench.runs == 0 || bench.interval.as_secs() == 0 {
        return Err(BenchError::Usage(
            "--reports, --runs and --interval (whole seconds) must be at least 1".into(),
        ));
    }
    if bench.reports > 8_640 {
        // The central takes a first report no older than that many intervals.
        return Err(BenchError::Usage(
            "--reports: at most 8640 (the agent's default backlog, as far back as the central takes a first report)".into(),
        ));
    }
    let rt = runtime()?;
    let mut collector = keepup_agent::Collector::new(keepup_agent::Settings::default());
    let sample = rt.block_on(async {
        collector.collect(0, 0).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        collector.collect(0, 0).await
    });
    let mut drains = Vec::new();
    let mut results = 0;
    for run in 0..bench.runs {
        let dir =
            tempfile::tempdir().map_err(BenchError::io("cannot make a temporary directory"))?;
        let port = free_port()?;
        let secs = bench.interval.as_secs();
        let cfg = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[store]\npath = \"k.db\"\n\n\
             [[site]]\nid = \"hosts\"\n\n\
             [[site.check]]\nid = \"agent-0\"\nkind = \"host\"\nagent = \"agent-0\"\ninterval = \"{secs}s\"\n\
             disk.\"/\" = {{ warn = \"90%\", crit = \"98%\" }}\nload = {{ warn = 4, crit = 8 }}\nmemory = {{ warn = \"90%\" }}\n\n\
             [[agent]]\nname = \"agent-0\"\ntoken_file = \"agent-0.token\"\ninterval = \"{secs}s\"\n"
        );
        write_private(&dir.path().join("agent-0.token"), &token(0))?;
        // A day of the central's own runs, the agent silent, in its store.
        let config = keepup_config::load_str(&cfg, &dir.path().join("keepup.toml"))?;
        let checks: Vec<_> = config.checks().cloned().map(std::sync::Arc::new).collect();
        let check = checks[0].id.clone();
        let step = i64::try_from(bench.interval.as_millis()).unwrap_or(i64::MAX);
        let now = SystemClock.now_ms();
        let first = now - step * bench.reports as i64 + step / 2;
        {
            let store = Store::open(&dir.path().join("k.db"))?;
            store.register_checks(&keepup_monitor::check_metas(&checks))?;
            let mut silent = Outcome::new(Status::Down, "agent agent-0 is silent");
            silent.push(Finding::new(
                codes::AGENT_SILENT,
                Severity::Critical,
                "no report from agent agent-0",
            ));
            let runs: Vec<ResultRecord> = (0..bench.reports as i64)
                .map(|i| ResultRecord {
                    check: check.clone(),
                    at: first - step / 2 + i * step,
                    outcome: silent.clone(),
                    backfill: false,
                })
                .collect();
            for batch in runs.chunks(1_000) {
                store.record(batch)?;
            }
        }
        eprintln!(
            "run {}: central {} after {} of AGENT_SILENT; pushing {} reports",
            run + 1,
            bench.central.display(),
            humantime::format_duration(bench.interval * bench.reports as u32),
            bench.reports
        );
        let central = spawn_central(&bench.central, dir.path(), &cfg, port)?;
        let url = format!("http://127.0.0.1:{port}/agent/report");
        let drained = rt.block_on(async {
            let ctx = keepup_notify::HttpClientContext::new();
            let mut report = sample.clone();
            report.agent = "agent-0".into();
            report.interval_s = secs;
            let began = Instant::now();
            for i in 0..bench.reports {
                report.seq = i as u64 + 1;
                report.at = first + i as i64 * step;
                let body = serde_json::to_vec(&report).unwrap_or_default();
                let answer = keepup_notify::bearer_request(
                    &ctx,
                    "central",
                    &url,
                    &token(0),
                    Some(body.into()),
                    Duration::from_secs(60),
                    4096,
                )
                .await;
                match answer {
                    Ok((status, _)) if status.is_success() => {}
                    Ok((status, body)) => {
                        return Err(BenchError::Server {
                            what: "keepup run",
                            reason: format!(
                                "it answered report {} with {status}: {}",
                                i + 1,
                                String::from_utf8_lossy(&body)
                            ),
                        });
                    }
                    Err(e) => {
                        return Err(BenchError::Server {
                            what: "keepup run",
                            reason: format!("pushing report {}: {e}", i + 1),
                        });
                    }
                }
            }
            Ok(began.elapsed())
        })?;
        drop(central);
        let store = Store::open_read_only(&dir.path().join("k.db"))?;
        results = store.results(&check, first - step, now, usize::MAX)?.len();
        eprintln!("run {}: {:.2} s", run + 1, drained.as_secs_f64());
        drains.push(drained);
    }
    Ok(BacklogReport {
        bench: bench.clone(),
        drains,
        results,
    })
}
