//! `keepup bench`: speed and memory figures from the production code.
//!
//! `probe` hammers one target with the real probe at a fixed concurrency
//! (compare with blackbox_exporter via `bench/compare-blackbox.sh`);
//! `scheduler` runs the real monitor (scheduler, probes, SQLite store) with
//! N checks against a target served by a child process, so the CPU and
//! memory reported are keepup's alone; `delegation` and `dnsbl` time the
//! DNS probes against Knot DNS serving the test hierarchy on loopback.

use anyhow::{Context, bail};
use keepup_config::{CheckSpec, Config};
use keepup_model::{Status, SystemClock};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `keepup bench probe`
pub fn probe(
    target: &str,
    concurrency: usize,
    duration: Duration,
    ca_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut check = super::check::ad_hoc(target, Duration::from_secs(10))?;
    if let (CheckSpec::Http(h), Some(ca)) = (&mut check.spec, &ca_file) {
        h.tls.ca_file = Some(ca.clone());
    }
    let check = Arc::new(check);
    let rt = super::runtime()?;
    let (latencies, statuses, wall) = rt.block_on(async move {
        let ctx = ProbeContext::new();
        // One probe first, so a broken target is reported instead of measured.
        let first = keepup_probe::run(&check, &ctx).await;
        if first.status != Status::Up {
            eprintln!(
                "warning: first probe was {}: {}",
                first.status, first.message
            );
        }
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (check, ctx) = (check.clone(), ctx.clone());
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut st = [0u64; 4];
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let o = keepup_probe::run(&check, &ctx).await;
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    st[o.status as usize] += 1;
                }
                (lat, st)
            }));
        }
        let mut all = Vec::new();
        let mut statuses = [0u64; 4];
        for w in workers {
            if let Ok((lat, st)) = w.await {
                all.extend(lat);
                for i in 0..4 {
                    statuses[i] += st[i];
                }
            }
        }
        (all, statuses, start.elapsed())
    });
    let n = latencies.len();
    let rate = n as f64 / wall.as_secs_f64();
    let (p50, p90, p99) = percentiles(latencies);
    println!(
        "target={target} concurrency={concurrency} duration={:.1}s probes={n} rate={rate:.0}/s latency_ms p50={p50:.2} p90={p90:.2} p99={p99:.2} up={} degraded={} down={} unknown={}",
        wall.as_secs_f64(),
        statuses[0],
        statuses[1],
        statuses[2],
        statuses[3]
    );
    Ok(ExitCode::SUCCESS)
}

/// `keepup bench target`: a minimal HTTP server for the scheduler benchmark.
pub fn target(listen: SocketAddr) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        println!("{}", listener.local_addr()?);
        keepup_demo::bench_target(listener).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// `keepup bench scheduler`
pub fn scheduler(
    checks: usize,
    interval: Duration,
    duration: Duration,
    target: Option<String>,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let (target, mut child) = match target {
        Some(t) => (t, None),
        None => {
            let mut child = Command::new(std::env::current_exe()?)
                .args(["bench", "target"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("cannot start the benchmark target process")?;
            let stdout = child
                .stdout
                .take()
                .context("no stdout from the target process")?;
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            let addr: SocketAddr = line
                .trim()
                .parse()
                .with_context(|| format!("target process said {line:?}"))?;
            (format!("http://{addr}/"), Some(child))
        }
    };
    let result = run_scheduler(checks, interval, duration, &target, concurrency);
    if let Some(c) = child.as_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}

fn run_scheduler(
    checks: usize,
    interval: Duration,
    duration: Duration,
    target: &str,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    if checks == 0 {
        bail!("--checks must be at least 1");
    }
    let dir = tempfile_dir()?;
    let kind_line = if target.starts_with("tcp://") {
        let hp = target.trim_start_matches("tcp://").trim_end_matches('/');
        let (h, p) = hp.rsplit_once(':').context("tcp target needs host:port")?;
        format!("kind = \"tcp\"\nhost = \"{h}\"\nport = {p}\n")
    } else {
        format!("kind = \"http\"\nurl = \"{target}\"\n")
    };
    let mut src = format!(
        "[store]\npath = \"{}\"\n[scheduler]\nconcurrency = {concurrency}\n[defaults]\ninterval = {}\ntimeout = {}\n",
        dir.join("bench.db").display(),
        interval.as_secs_f64(),
        interval.as_secs_f64().min(10.0)
    );
    let per_site = 100;
    for i in 0..checks {
        if i % per_site == 0 {
            let _ = write!(src, "[[site]]\nid = \"site{}\"\n", i / per_site);
        }
        let _ = write!(src, "[[site.check]]\nid = \"c{i}\"\n{kind_line}");
    }
    let config: Config = keepup_config::load_str(&src, &dir.join("bench.toml"))
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let store_path = config.store.path.clone();
    let rt = super::runtime()?;
    let report = rt.block_on(async move {
        let store = Store::open(&store_path)?;
        let monitor = Monitor::start(
            Arc::new(config),
            store,
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await?;
        eprintln!(
            "warming up for one interval ({})…",
            humantime::format_duration(interval)
        );
        tokio::time::sleep(interval).await;
        monitor.scheduler().stats().reset_lags();
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
        let peak_rss = peak_rss_mb();
        let health = monitor.health();
        monitor.shutdown().await;
        anyhow::Ok((runs, wall, cpu, lag, peak_rss, health))
    })?;
    let (runs, wall, cpu, lag, peak_rss, health) = report;
    let expected = checks as f64 / interval.as_secs_f64();
    let (p50, p99, max) = lag.unwrap_or_default();
    println!(
        "checks={checks} interval={}s window={:.0}s runs={runs} rate={:.1}/s expected={expected:.1}/s lag_ms p50={p50:.1} p99={p99:.1} max={max:.1} cpu={:.1}%_of_one_core peak_rss={:.1}MB statuses={:?}",
        interval.as_secs_f64(),
        wall.as_secs_f64(),
        runs as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        peak_rss,
        health.by_status,
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("keepup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

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

/// Peak resident set size (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
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

/// One run of the alerting bench: latencies (ms), outbox rows written,
/// total time, and the time spent in the incident engine and the alerter.
type AlertingRun = (Vec<f64>, usize, Duration, (Duration, Duration));

/// `keepup bench alerting`: the incident engine and the alerter, driven
/// with N simultaneous failures, against a real SQLite store. Reports the
/// latency from the state change to the outbox rows (p50/p99/max) without
/// grouping, and the message count with and without grouping. Each run
/// starts on a fresh store; the figures are medians over the runs.
pub fn alerting(checks: usize, per_site: usize, runs: usize) -> anyhow::Result<ExitCode> {
    if checks == 0 || per_site == 0 || runs == 0 {
        bail!("--checks, --per-site and --runs must be at least 1");
    }
    let ungrouped = AlertingBench::new(checks, per_site, "0s")?;
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut engine_ms = Vec::new();
    let mut alerter_ms = Vec::new();
    let mut messages_ungrouped = 0;
    for run in 0..runs {
        let (lat, messages, _total, (engine_t, alerter_t)) = ungrouped.run(run)?;
        let (p50, _, p99) = percentiles(lat);
        p50s.push(p50);
        p99s.push(p99);
        engine_ms.push(engine_t.as_secs_f64() * 1000.0);
        alerter_ms.push(alerter_t.as_secs_f64() * 1000.0);
        messages_ungrouped = messages;
    }
    let (_, messages_grouped, _, _) = AlertingBench::new(checks, per_site, "1s")?.run(0)?;
    let median = |v: &[f64]| percentiles(v.to_vec()).0;
    let range = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.1}..{hi:.1}")
    };
    println!(
        "checks={checks} sites={} runs={runs} change_to_outbox_ms p50={:.1} p99={:.1} (p99 over runs {}) incidents_ms={:.0} alerter_ms={:.0} messages_without_grouping={messages_ungrouped} messages_with_grouping={messages_grouped} peak_rss={:.1}MB",
        checks.div_ceil(per_site),
        median(&p50s),
        median(&p99s),
        range(&p99s),
        median(&engine_ms),
        median(&alerter_ms),
        peak_rss_mb()
    );
    Ok(ExitCode::SUCCESS)
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
    fn new(checks: usize, per_site: usize, group_window: &str) -> anyhow::Result<Self> {
        let dir = tempfile_dir()?.join(format!("alerting-{group_window}"));
        std::fs::create_dir_all(&dir)?;
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
        let config = Arc::new(
            keepup_config::load_str(&src, &dir.join("a.toml"))
                .map_err(|p| anyhow::anyhow!("{p}"))?,
        );
        let checks = config.checks().cloned().map(Arc::new).collect();
        Ok(Self {
            config,
            checks,
            dir,
            group_window: group_window.to_owned(),
        })
    }

    fn run(&self, run: usize) -> anyhow::Result<AlertingRun> {
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
            std::thread::sleep(humantime::parse_duration(&self.group_window)?);
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

/// The test DNS hierarchy (Knot DNS on 127.53.0.0/16), unless the caller
/// points at one already running.
fn dns_world(needed: bool) -> anyhow::Result<Option<keepup_testkit::dns::DnsWorld>> {
    if !needed {
        return Ok(None);
    }
    keepup_testkit::dns::DnsWorld::start()
        .map(Some)
        .context("cannot start Knot DNS (Debian package `knot`)")
}

/// One check of `kind_body` under a `[dns]` section.
fn dns_check(dns: &str, kind_body: &str) -> anyhow::Result<keepup_config::Check> {
    let src = format!(
        "{dns}\n[[site]]\nid = \"bench\"\n[[site.check]]\nid = \"c\"\ninterval = \"60s\"\ntimeout = \"30s\"\n{kind_body}\n"
    );
    let mut config = keepup_config::load_str(&src, std::path::Path::new("<bench>"))
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    config
        .sites
        .pop()
        .and_then(|mut s| s.checks.pop())
        .map(std::sync::Arc::unwrap_or_clone)
        .context("no check built")
}

/// `keepup bench delegation`: walks one after another; latency per walk.
pub fn delegation(
    zone: &str,
    runs: usize,
    root: Option<SocketAddr>,
    port: u16,
) -> anyhow::Result<ExitCode> {
    let world = dns_world(root.is_none())?;
    let dns = match (&world, root) {
        (Some(w), _) => {
            eprintln!(
                "Knot DNS test hierarchy: root hint {}, resolver {}, port {}",
                w.root_hints()[0],
                w.resolver(),
                w.port()
            );
            w.dns_section()
        }
        (None, Some(r)) => format!("[dns]\nroot_hints = [\"{r}\"]\nport = {port}\n"),
        (None, None) => bail!("no hierarchy to walk"),
    };
    let check = dns_check(
        &dns,
        &format!(
            "kind = \"delegation\"\nzone = {}",
            serde_json::to_string(zone)?
        ),
    )?;
    let rt = super::runtime()?;
    let (latencies, statuses, queries, first) = rt.block_on(async {
        let ctx = ProbeContext::new();
        let first = keepup_probe::run(&check, &ctx).await;
        for _ in 0..4 {
            keepup_probe::run(&check, &ctx).await;
        }
        let mut latencies = Vec::with_capacity(runs);
        let mut statuses = [0u64; 4];
        let mut queries = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            let o = keepup_probe::run(&check, &ctx).await;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            statuses[o.status as usize] += 1;
            queries = o
                .evidence
                .details
                .get("queries")
                .and_then(|q| q.as_u64())
                .unwrap_or(0);
        }
        (latencies, statuses, queries, first)
    });
    if first.status != Status::Up {
        eprintln!("warning: the walk is {}: {}", first.status, first.message);
    }
    let max = latencies.iter().copied().fold(0.0, f64::max);
    let n = latencies.len();
    let (p50, p90, p99) = percentiles(latencies);
    println!(
        "zone={zone} walks={n} queries_per_walk={queries} walk_ms p50={p50:.2} p90={p90:.2} p99={p99:.2} max={max:.2} up={} degraded={} down={} unknown={}",
        statuses[0], statuses[1], statuses[2], statuses[3]
    );
    drop(world);
    Ok(ExitCode::SUCCESS)
}

/// `keepup bench dnsbl`: DNSBL checks back to back; lookups per second.
pub fn dnsbl(
    ips: usize,
    concurrency: usize,
    duration: Duration,
    resolver: Option<SocketAddr>,
) -> anyhow::Result<ExitCode> {
    let world = dns_world(resolver.is_none())?;
    let resolver = match (&world, resolver) {
        (Some(w), _) => w.resolver(),
        (None, Some(r)) => r,
        (None, None) => bail!("no resolver"),
    };
    // Addresses of the benchmarking range (RFC 2544): only names to look
    // up, nothing is sent to them.
    let list: Vec<String> = (0..ips.max(1))
        .map(|i| format!("\"198.18.{}.{}\"", (i / 250) % 256, i % 250 + 1))
        .collect();
    let check = dns_check(
        &format!("[dns]\nresolver = [\"{resolver}\"]\n"),
        &format!(
            "kind = \"dnsbl\"\nips = [{}]\nconcurrency = {}",
            list.join(", "),
            concurrency.clamp(1, 1024)
        ),
    )?;
    let rt = super::runtime()?;
    let (lookups, checks, wall, statuses, first) = rt.block_on(async {
        let ctx = ProbeContext::new();
        let first = keepup_probe::run(&check, &ctx).await;
        let deadline = Instant::now() + duration;
        let start = Instant::now();
        let mut lookups = 0u64;
        let mut checks = 0u64;
        let mut statuses = [0u64; 4];
        while Instant::now() < deadline {
            let o = keepup_probe::run(&check, &ctx).await;
            lookups += o
                .evidence
                .details
                .get("lookups")
                .and_then(|q| q.as_u64())
                .unwrap_or(0);
            checks += 1;
            statuses[o.status as usize] += 1;
        }
        (lookups, checks, start.elapsed(), statuses, first)
    });
    if first.status != Status::Up {
        eprintln!("warning: the check is {}: {}", first.status, first.message);
    }
    let rate = lookups as f64 / wall.as_secs_f64();
    println!(
        "ips={ips} concurrency={concurrency} duration={:.1}s checks={checks} lookups={lookups} rate={rate:.0}/s check_ms={:.1} up={} degraded={} down={} unknown={} peak_rss={:.1}MB",
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1000.0 / checks.max(1) as f64,
        statuses[0],
        statuses[1],
        statuses[2],
        statuses[3],
        peak_rss_mb()
    );
    drop(world);
    Ok(ExitCode::SUCCESS)
}

/// One side-by-side comparison of `keepup bench mail`.
struct MailPair {
    name: &'static str,
    /// The keepup check (kind and keys), as configuration text.
    keepup: String,
    /// The plugin and its arguments.
    plugin: &'static str,
    args: Vec<String>,
}

/// `keepup bench mail`: keepup's mail checks and monitoring-plugins'
/// check_smtp -S, check_imap, check_simap, check_pop and check_spop against
/// the same private Postfix and Dovecot, one check at a time. keepup is
/// timed around `keepup_probe::run` (how the daemon runs a check); a plugin
/// is timed around its process (how Nagios-style schedulers run it) and by
/// its own `time=` perfdata (the network part alone).
pub fn mail(runs: usize, rounds: usize, plugins: &std::path::Path) -> anyhow::Result<ExitCode> {
    use keepup_testkit::mail::{Dovecot, DovecotOptions, Postfix, PostfixOptions, PostfixPort};
    use keepup_testkit::pki::{CertAuthority, validity};
    if runs == 0 || rounds == 0 {
        bail!("--runs and --rounds must be at least 1");
    }
    for plugin in [
        "check_smtp",
        "check_imap",
        "check_simap",
        "check_pop",
        "check_spop",
    ] {
        if !plugins.join(plugin).exists() {
            bail!(
                "{} is missing: install monitoring-plugins-standard and monitoring-plugins-basic",
                plugins.join(plugin).display()
            );
        }
    }
    let ca = CertAuthority::new("keepup bench mail CA")?;
    let leaf = ca.issue(&["smtp.bench.test", "imap.bench.test"], validity::current())?;
    let ca_pem = ca.root_pem_file()?;
    eprintln!("starting Dovecot and Postfix…");
    let dovecot = Dovecot::start(&leaf, DovecotOptions::default())?;
    let postfix = Postfix::start(&leaf, PostfixOptions::default())?;
    let (smtp_ip, imap_ip) = (postfix.ip().to_string(), dovecot.ip().to_string());
    let smtp_port = postfix.port(PostfixPort::Smtp);
    let check = |kind: &str, host: &str, port: u16, tls: &str| {
        format!("kind = \"{kind}\"\nhost = \"{host}\"\nport = {port}\ntls = \"{tls}\"\n")
    };
    let args = |ip: &str, port: u16, extra: &[&str]| {
        let mut a = vec![
            "-H".to_owned(),
            ip.to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };
    let pairs = [
        MailPair {
            name: "smtp STARTTLS",
            keepup: check("smtp", "smtp.bench.test", smtp_port, "starttls"),
            plugin: "check_smtp",
            args: args(&smtp_ip, smtp_port, &["-S"]),
        },
        MailPair {
            name: "smtp plain",
            keepup: check("smtp", "smtp.bench.test", smtp_port, "none"),
            plugin: "check_smtp",
            args: args(&smtp_ip, smtp_port, &[]),
        },
        MailPair {
            name: "imap plain",
            keepup: check("imap", "imap.bench.test", dovecot.imap_port(), "none"),
            plugin: "check_imap",
            args: args(&imap_ip, dovecot.imap_port(), &[]),
        },
        MailPair {
            name: "imaps",
            keepup: check("imap", "imap.bench.test", dovecot.imaps_port(), "implicit"),
            plugin: "check_simap",
            args: args(&imap_ip, dovecot.imaps_port(), &[]),
        },
        MailPair {
            name: "pop3 plain",
            keepup: check("pop3", "imap.bench.test", dovecot.pop3_port(), "none"),
            plugin: "check_pop",
            args: args(&imap_ip, dovecot.pop3_port(), &[]),
        },
        MailPair {
            name: "pop3s",
            keepup: check("pop3", "imap.bench.test", dovecot.pop3s_port(), "implicit"),
            plugin: "check_spop",
            args: args(&imap_ip, dovecot.pop3s_port(), &[]),
        },
    ];
    let mut src = String::from("[[site]]\nid = \"bench\"\n");
    for (i, pair) in pairs.iter().enumerate() {
        let _ = write!(
            src,
            "[[site.check]]\nid = \"c{i}\"\n{}[site.check.certificate]\nca_file = \"{}\"\n",
            pair.keepup,
            ca_pem.path().display()
        );
    }
    let config = keepup_config::load_str(&src, std::path::Path::new("bench-mail.toml"))
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let checks: Vec<keepup_config::Check> = config.checks().cloned().collect();
    let ctx = ProbeContext::builder()
        .system_roots(false)
        .resolve_override("smtp.bench.test", [std::net::IpAddr::V4(postfix.ip())])
        .resolve_override("imap.bench.test", [std::net::IpAddr::V4(dovecot.ip())])
        .build();
    let rt = super::runtime()?;
    let n = pairs.len();
    let (mut ours, mut wall, mut own) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    let mut failures = vec![(0usize, 0usize); n];
    let mut phases = vec![String::new(); n];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}…", round + 1);
        for (i, pair) in pairs.iter().enumerate() {
            rt.block_on(async {
                for _ in 0..runs {
                    let t = Instant::now();
                    let o = keepup_probe::run(&checks[i], &ctx).await;
                    ours[i].push(t.elapsed().as_secs_f64() * 1000.0);
                    if let Some(p) = o.evidence.details.get("phases_ms") {
                        phases[i] = p.to_string();
                    }
                    if o.status != Status::Up {
                        if failures[i].0 == 0 {
                            eprintln!("keepup {}: {} {}", pair.name, o.status, o.message);
                        }
                        failures[i].0 += 1;
                    }
                }
            });
            let program = plugins.join(pair.plugin);
            for _ in 0..runs {
                let t = Instant::now();
                let out = Command::new(&program).args(&pair.args).output()?;
                wall[i].push(t.elapsed().as_secs_f64() * 1000.0);
                let stdout = String::from_utf8_lossy(&out.stdout);
                if let Some(secs) = perf_time(&stdout) {
                    own[i].push(secs * 1000.0);
                }
                if !out.status.success() {
                    if failures[i].1 == 0 {
                        eprintln!("{} {}: {}", pair.plugin, pair.name, stdout.trim());
                    }
                    failures[i].1 += 1;
                }
            }
        }
    }
    println!(
        "mail checks, one at a time, {runs} runs x {rounds} rounds per side; Postfix {} / Dovecot {} on loopback",
        postfix.ip(),
        dovecot.ip()
    );
    println!(
        "{:<14} {:>12} {:>12} {:>30} {:>15} {:>18} {:>16} {:>18}",
        "pair",
        "keepup p50",
        "keepup p90",
        "plugin",
        "plugin p50",
        "plugin time= p50",
        "ratio (process)",
        "ratio (time=)"
    );
    for (i, pair) in pairs.iter().enumerate() {
        let (k50, k90, _) = percentiles(std::mem::take(&mut ours[i]));
        let (w50, _, _) = percentiles(std::mem::take(&mut wall[i]));
        let (s50, _, _) = percentiles(std::mem::take(&mut own[i]));
        let label = format!(
            "{} {}",
            pair.plugin,
            pair.args.get(4).map_or("", String::as_str)
        );
        println!(
            "{:<14} {:>10.3}ms {:>10.3}ms {:>30} {:>13.3}ms {:>16.3}ms {:>15.1}x {:>17.2}x",
            pair.name,
            k50,
            k90,
            label.trim(),
            w50,
            s50,
            w50 / k50,
            s50 / k50
        );
    }
    println!(
        "ratio = plugin median / keepup median (above 1: keepup is faster); failures keepup/plugin: {:?}",
        failures
    );
    for (pair, phases) in pairs.iter().zip(&phases) {
        println!(
            "keepup phases of the last {} check (ms): {phases}",
            pair.name
        );
    }
    drop((postfix, dovecot));
    Ok(ExitCode::SUCCESS)
}

/// The `time=1.234s` perfdata value of a plugin's output, in seconds.
fn perf_time(output: &str) -> Option<f64> {
    let (_, perf) = output.split_once('|')?;
    perf.split_whitespace().find_map(|item| {
        let value = item.strip_prefix("time=")?;
        let number: String = value
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        number.parse().ok()
    })
}
