//! `keepup bench alerting`: the incident engine and the alerter, driven
//! with N simultaneous failures, against a real SQLite store.

use crate::{BenchError, peak_rss_mb, percentiles, scratch_dir};
use keepup_config::Config;
use keepup_model::{Status, SystemClock};
use keepup_store::Store;
use std::fmt::{self, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One run of the alerting bench: latencies (ms), outbox rows written,
/// total time, and the time spent in the incident engine and the alerter.
type AlertingRun = (Vec<f64>, usize, Duration, (Duration, Duration));

/// What `keepup bench alerting` measured (medians over the runs).
#[derive(Debug)]
pub struct AlertingReport {
    pub checks: usize,
    pub sites: usize,
    pub runs: usize,
    /// From the state change to the outbox rows, without grouping.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The lowest and highest p99 of a run.
    pub p99_range_ms: (f64, f64),
    /// Time in the incident engine and in the alerter.
    pub engine_ms: f64,
    pub alerter_ms: f64,
    pub messages_without_grouping: usize,
    pub messages_with_grouping: usize,
    pub peak_rss_mb: f64,
}

impl fmt::Display for AlertingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checks={} sites={} runs={} change_to_outbox_ms p50={:.1} p99={:.1} (p99 over runs {:.1}..{:.1}) incidents_ms={:.0} alerter_ms={:.0} messages_without_grouping={} messages_with_grouping={} peak_rss={:.1}MB",
            self.checks,
            self.sites,
            self.runs,
            self.p50_ms,
            self.p99_ms,
            self.p99_range_ms.0,
            self.p99_range_ms.1,
            self.engine_ms,
            self.alerter_ms,
            self.messages_without_grouping,
            self.messages_with_grouping,
            self.peak_rss_mb
        )
    }
}

/// Fails `checks` checks at once, `per_site` per site, `runs` times on
/// fresh stores. Reports the latency from the state change to the outbox
/// rows (p50/p99/max) without grouping, and the message count with and
/// without grouping.
pub fn alerting(checks: usize, per_site: usize, runs: usize) -> Result<AlertingReport, BenchError> {
    if checks == 0 || per_site == 0 || runs == 0 {
        return Err(BenchError::Usage(
            "--checks, --per-site and --runs must be at least 1".into(),
        ));
    }
    let ungrouped = AlertingBench::new(checks, per_site, "0s")?;
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut engine_ms = Vec::new();
    let mut alerter_ms = Vec::new();
    let mut messages_without_grouping = 0;
    for run in 0..runs {
        let (lat, messages, _total, (engine_t, alerter_t)) = ungrouped.run(run)?;
        let (p50, _, p99) = percentiles(lat);
        p50s.push(p50);
        p99s.push(p99);
        engine_ms.push(engine_t.as_secs_f64() * 1000.0);
        alerter_ms.push(alerter_t.as_secs_f64() * 1000.0);
        messages_without_grouping = messages;
    }
    let (_, messages_with_grouping, _, _) = AlertingBench::new(checks, per_site, "1s")?.run(0)?;
    let median = |v: &[f64]| percentiles(v.to_vec()).0;
    Ok(AlertingReport {
        checks,
        sites: checks.div_ceil(per_site),
        runs,
        p50_ms: median(&p50s),
        p99_ms: median(&p99s),
        p99_range_ms: (
            p99s.iter().copied().fold(f64::INFINITY, f64::min),
            p99s.iter().copied().fold(0.0, f64::max),
        ),
        engine_ms: median(&engine_ms),
        alerter_ms: median(&alerter_ms),
        messages_without_grouping,
        messages_with_grouping,
        peak_rss_mb: peak_rss_mb(),
    })
}

/// One configuration of the alerting bench, parsed once and run on fresh
/// stores.
struct AlertingBench {
    config: Arc<Config>,
    checks: Vec<Arc<keepup_config::Check>>,
    dir: PathBuf,
    group_window: String,
}

impl AlertingBench {
    fn new(checks: usize, per_site: usize, group_window: &str) -> Result<Self, BenchError> {
        let dir = scratch_dir()?.join(format!("alerting-{group_window}"));
        std::fs::create_dir_all(&dir)
            .map_err(BenchError::io(format!("cannot create {}", dir.display())))?;
        let mut src = format!(
            "[store]\npath = \"{}\"\n[defaults]\nfailure_threshold = 1\n[[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/\"\n\
             [[policy]]\nid = \"all\"\ngroup_window = \"{group_window}\"\n[[policy.level]]\nnotify = [\"channel:hook\"]\n",
            dir.join("a.db").display()
        );
        for i in 0..checks {
            if i % per_site == 0 {
                let _ = write!(src, "[[site]]\nid = \"site{}\"\n", i / per_site);
            }
            let _ = write!(
                src,
                "[[site.check]]\nid = \"c{i}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n"
            );
        }
        let config = Arc::new(keepup_config::load_str(&src, &dir.join("a.toml"))?);
        let checks = config.checks().cloned().map(Arc::new).collect();
        Ok(Self {
            config,
            checks,
            dir,
            group_window: group_window.to_owned(),
        })
    }

    fn run(&self, run: usize) -> Result<AlertingRun, BenchError> {
        use keepup_model::{Clock, Outcome};
        use keepup_monitor::alerting::Alerter;
        use keepup_monitor::incidents::{IncidentEngine, IncidentEvent};
        let db = self.dir.join(format!("run{run}.db"));
        let store = Store::open(&db)?;
        // As the daemon does when it starts.
        store.register_checks(&keepup_monitor::check_metas(&self.checks))?;
        let mut engine = IncidentEngine::resume(store.clone(), &self.checks)?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let alerter = Alerter::new(
            store.clone(),
            clock.clone(),
            self.config.clone(),
            keepup_notify::HttpClientContext::new(),
        );
        let down = Outcome::new(Status::Down, "connection refused");
        let now = clock.now_ms();
        let start = Instant::now();
        let mut latencies = Vec::with_capacity(self.checks.len());
        // Time in the incident engine and in the alerter.
        let mut split = (Duration::ZERO, Duration::ZERO);
        // As the recorder does: batches of up to 2,000 results.
        for chunk in self.checks.chunks(2_000) {
            let items: Vec<_> = chunk.iter().map(|c| (&**c, now, &down)).collect();
            let t0 = Instant::now();
            let observed = engine.observe_batch(&items)?;
            let events: Vec<IncidentEvent> = observed.into_iter().flat_map(|o| o.events).collect();
            let t1 = Instant::now();
            alerter.handle_batch(&events)?;
            split.0 += t1 - t0;
            split.1 += t1.elapsed();
            let t = start.elapsed().as_secs_f64() * 1000.0;
            let opened = events
                .iter()
                .filter(|e| matches!(e, IncidentEvent::Opened { .. }))
                .count();
            latencies.extend(std::iter::repeat_n(t, opened));
        }
        // Let any group window pass, then flush the groups.
        std::thread::sleep(Duration::from_millis(50));
        if self.group_window != "0s" {
            let window = humantime::parse_duration(&self.group_window)
                .map_err(|e| BenchError::Usage(format!("group window: {e}")))?;
            std::thread::sleep(window);
        }
        alerter.tick()?;
        let total = start.elapsed();
        let messages = store.outbox(self.checks.len() * 2)?.len();
        drop(alerter);
        drop(engine);
        drop(store);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        Ok((latencies, messages, total, split))
    }
}

impl Drop for AlertingBench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
