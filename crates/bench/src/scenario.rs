//! `keepup bench scenario`: issue 16's figures for HTTP scenarios. The
//! demo shop's cart walk in five steps (category → product, taking the
//! form key → add to cart with it → the cart shows the teapot → checkout
//! with its payment iframe) run through `keepup_probe::run`, as the daemon
//! runs a check, by C concurrent loops for a while; then bare `http`
//! checks of the walk's four GET pages by the same number of loops. A
//! walk keeps one connection to the shop for its five steps, as a
//! browser would; each bare check opens its own, as it does in
//! production. The difference per request is what the scenario does
//! differently: its cookie jar, templates, extraction and assertions, and
//! no connect or close but the first.
//!
//! The demo shop runs in this process on a runtime of its own, so the
//! peak RSS is the probes' and the shop's together; the report gives the
//! RSS with the shop started and idle beside it. The CPU time is given
//! for the whole process and for the probe side alone: the shop's
//! runtime threads all carry one name ([`SHOP_THREADS`]), and their CPU
//! time, read per thread from `/proc/self/task`, is taken off the
//! process's. The shop's work is not the same on both sides (a walk makes
//! it create a session and a form key, render a cart, take a POST), so
//! the probe side is what the issue's overhead target is about.
//!
//! With `--browser`, a four-step `browser` check (product page, click
//! quick add, wait for "Added to cart", the minicart says 1) by four
//! loops with `[browser] max_concurrent = 4`, one shared Chromium; with
//! `--playwright DIR` (where `npm install playwright-core` put its
//! `node_modules`) the same walk in Playwright driving the same Chromium
//! binary (`playwright_walk.js`). The memory of each is sampled over its
//! process tree (this process or node, and the Chromium processes under
//! it) from `/proc/PID/smaps_rollup` every 200 ms: the largest sums of
//! PSS (shared pages divided among the processes sharing them) and RSS.

use crate::{BenchError, cpu_time, named_runtime, peak_rss_mb, percentiles, threads_cpu_time};
use keepup_config::ProbeSpec;
use keepup_model::Status;
use keepup_probe::ProbeContext;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Steps of the walk (the bare checks load the four GET ones).
const STEPS: usize = 5;
/// The walk's pages that a bare `http` check can load (the add to cart
/// needs the form key of a session).
const GET_PAGES: [&str; 4] = ["/category/teapots", "/product/42", "/cart", "/checkout"];

/// The name of the demo shop's runtime threads, whose CPU time is the
/// shop's.
const SHOP_THREADS: &str = "bench-shop";
/// The name of the probes' runtime threads (for profiles: the figures
/// count every thread but the shop's as the probe side).
const PROBE_THREADS: &str = "bench-probe";

/// Browser walks running at once (the issue's figure: four concurrent
/// checks).
const BROWSER_LOOPS: usize = 4;
/// The Chromium both the keepup check and Playwright start.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The Playwright script, written into the scratch directory to run.
const PLAYWRIGHT_WALK: &str = include_str!("playwright_walk.js");

/// What to run.
#[derive(Debug, Clone)]
pub struct ScenarioBench {
    /// Loops running at once.
    pub concurrency: usize,
    /// How long each phase runs.
    pub duration: Duration,
    /// Also the browser check's phase.
    pub browser: bool,
    /// Also the same walk in Playwright, from this directory's
    /// `node_modules/playwright-core`.
    pub playwright: Option<PathBuf>,
}

/// The largest sums sampled over a process tree, in MB.
#[derive(Debug, Clone, Copy, Default)]
pub struct TreeMemory {
    /// The tree's root (this process with the demo shop, or node).
    pub root_pss_mb: f64,
    /// The processes under it (Chromium's).
    pub children_pss_mb: f64,
    /// All of them.
    pub total_pss_mb: f64,
    /// All of them, RSS (shared pages counted in each process).
    pub total_rss_mb: f64,
    /// Most processes seen at once.
    pub processes: usize,
}

/// A browser phase: the walks and the tree's memory.
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserPhase {
    pub walks: Phase,
    pub memory: TreeMemory,
}

/// One phase's figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct Phase {
    /// Runs that ended (any status).
    pub runs: usize,
    /// Runs that were not Up.
    pub failed: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// VmHWM of the process during the phase (reset before it).
    pub peak_rss_mb: f64,
    /// CPU time (user and system) of this process per run: the probes'
    /// and the shop's answering them, whatever else the machine runs.
    pub cpu_ms_per_run: f64,
    /// The part of it spent by the shop's threads.
    pub shop_cpu_ms_per_run: f64,
}

impl Phase {
    /// CPU time per run of everything but the shop: the probe side.
    pub fn probe_cpu_ms_per_run(&self) -> f64 {
        (self.cpu_ms_per_run - self.shop_cpu_ms_per_run).max(0.0)
    }
}

/// What `keepup bench scenario` measured.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    pub concurrency: usize,
    pub duration: Duration,
    /// RSS with the shop started and nothing run yet.
    pub idle_rss_mb: f64,
    pub scenario: Phase,
    pub http: Phase,
    /// The first failing walk's message, if any failed.
    pub first_failure: Option<String>,
    /// The browser check's phase, with `--browser`.
    pub browser: Option<BrowserPhase>,
    /// The same walk in Playwright, with `--playwright`.
    pub playwright: Option<BrowserPhase>,
    /// The first failing browser walk's message (keepup's, then Playwright's).
    pub browser_failure: Option<String>,
}

impl ScenarioReport {
    /// What a step of the walk costs over a bare check of a page, in
    /// percent of the bare check: medians, the walk's divided by its steps.
    pub fn overhead_percent(&self) -> f64 {
        if self.http.p50_ms <= 0.0 {
            return 0.0;
        }
        100.0 * (self.scenario.p50_ms / STEPS as f64 - self.http.p50_ms) / self.http.p50_ms
    }

    /// The same by CPU time per run of the whole process (probes and
    /// shop), the walk's divided by its steps: what a step costs the
    /// machine over a bare check, however loaded it is.
    pub fn cpu_overhead_percent(&self) -> f64 {
        step_over_check(self.scenario.cpu_ms_per_run, self.http.cpu_ms_per_run)
    }

    /// The same by the probe side's CPU time alone: what keepup spends on
    /// a step over a bare check.
    pub fn probe_cpu_overhead_percent(&self) -> f64 {
        step_over_check(
            self.scenario.probe_cpu_ms_per_run(),
            self.http.probe_cpu_ms_per_run(),
        )
    }
}

/// A walk's cost per step over a check's, in percent of the check's.
fn step_over_check(walk: f64, check: f64) -> f64 {
    if check <= 0.0 {
        return 0.0;
    }
    100.0 * (walk / STEPS as f64 - check) / check
}

impl fmt::Display for ScenarioReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "concurrency={} duration={} idle_rss={:.1}MB (the demo shop in this process, started)",
            self.concurrency,
            humantime::format_duration(self.duration),
            self.idle_rss_mb
        )?;
        writeln!(
            f,
            "{:<28} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>10}",
            "what", "runs", "failed", "per s", "p50 ms", "p95 ms", "p99 ms", "peak RSS"
        )?;
        for (name, p) in [
            ("scenario (5 steps)", &self.scenario),
            ("bare http (4 GET pages)", &self.http),
        ] {
            writeln!(
                f,
                "{:<28} {:>8} {:>7} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8.1}MB",
                name, p.runs, p.failed, p.per_second, p.p50_ms, p.p95_ms, p.p99_ms, p.peak_rss_mb
            )?;
        }
        write!(
            f,
            "per step over a bare check: {:+.1} % by medians; by CPU time {:+.1} % on the probe side \
             ({:.3} ms per walk, {:.3} ms per check), {:+.1} % with the shop's ({:.3} ms per walk, {:.3} ms per check)",
            self.overhead_percent(),
            self.probe_cpu_overhead_percent(),
            self.scenario.probe_cpu_ms_per_run(),
            self.http.probe_cpu_ms_per_run(),
            self.cpu_overhead_percent(),
            self.scenario.cpu_ms_per_run,
            self.http.cpu_ms_per_run
        )?;
        if let Some(m) = &self.first_failure {
            write!(f, "\nfirst failure: {m}")?;
        }
        for (name, phase) in [
            ("keepup browser check", &self.browser),
            ("Playwright", &self.playwright),
        ] {
            let Some(b) = phase else { continue };
            let w = &b.walks;
            let m = &b.memory;
            write!(
                f,
                "\n{name} (4 steps, {BROWSER_LOOPS} at once): {} walks, {} failed, {:.2}/s, median {:.1} ms, p95 {:.1} ms; \
                 tree peak PSS {:.1} MB (root {:.1} MB, Chromium {:.1} MB), RSS {:.1} MB, {} processes",
                w.runs,
                w.failed,
                w.per_second,
                w.p50_ms,
                w.p95_ms,
                m.total_pss_mb,
                m.root_pss_mb,
                m.children_pss_mb,
                m.total_rss_mb,
                m.processes
            )?;
        }
        if let Some(m) = &self.browser_failure {
            write!(f, "\nfirst browser failure: {m}")?;
        }
        Ok(())
    }
}

/// Runs the bench against a demo shop started here.
pub fn scenario(bench: &ScenarioBench) -> Result<ScenarioReport, BenchError> {
    if bench.concurrency == 0 || bench.duration.is_zero() {
        return Err(BenchError::Usage(
            "--concurrency and --duration must be above 0".into(),
        ));
    }
    let dir = crate::scratch_dir()?.join("scenario");
    std::fs::create_dir_all(&dir)
        .map_err(BenchError::io(format!("cannot create {}", dir.display())))?;
    let result = run(bench, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(bench: &ScenarioBench, dir: &std::path::Path) -> Result<ScenarioReport, BenchError> {
    let shop_rt = named_runtime(SHOP_THREADS)?;
    let shop = shop_rt
        .block_on(keepup_demo::DemoShop::start(
            dir,
            keepup_demo::FaultPlan::without_faults(),
        ))
        .map_err(|e| BenchError::Server {
            what: "the demo shop",
            reason: e.to_string(),
        })?;
    let base = format!("http://{}", shop.http);
    let walk = probes(&walk_config(&base))?;
    let pages = probes(&pages_config(&base))?;
    let idle_rss_mb = rss_mb();
    let rt = named_runtime(PROBE_THREADS)?;
    let ctx = ProbeContext::new();
    // One walk first: a shop that does not pass is a bench not worth running.
    let (probe, timeout) = &walk[0];
    let first = rt.block_on(keepup_probe::run(probe, *timeout, &ctx));
    if first.status != Status::Up {
        return Err(BenchError::Target(format!(
            "the cart walk does not pass on the demo shop: {}",
            first.message
        )));
    }
    let (scenario, first_failure) =
        rt.block_on(load(walk, bench.concurrency, bench.duration, &ctx));
    let (http, _) = rt.block_on(load(pages, bench.concurrency, bench.duration, &ctx));
    let mut browser_failure = None;
    let browser = if bench.browser {
        let quick_add = probes(&browser_config(&base))?;
        // The first walk starts Chromium; it is not measured.
        let (probe, timeout) = &quick_add[0];
        let first = rt.block_on(keepup_probe::run(probe, *timeout, &ctx));
        if first.status != Status::Up {
            return Err(BenchError::Target(format!(
                "the browser walk does not pass on the demo shop: {}",
                first.message
            )));
        }
        let sampler = TreeSampler::start(std::process::id());
        let (walks, failure) = rt.block_on(load(quick_add, BROWSER_LOOPS, bench.duration, &ctx));
        browser_failure = failure;
        Some(BrowserPhase {
            walks,
            memory: sampler.stop(),
        })
    } else {
        None
    };
    let playwright = match &bench.playwright {
        Some(modules) => {
            let (phase, failure) = playwright(modules, dir, &base, bench.duration)?;
            browser_failure = browser_failure.or(failure);
            Some(phase)
        }
        None => None,
    };
    drop(shop);
    Ok(ScenarioReport {
        concurrency: bench.concurrency,
        duration: bench.duration,
        idle_rss_mb,
        scenario,
        http,
        first_failure,
        browser,
        playwright,
        browser_failure,
    })
}

/// `concurrency` loops for `duration`, each running the probes in turn
/// (loop k starts at probe k, so every page is loaded alike); the figures
/// and the first failure's message.
async fn load(
    probes: Vec<(ProbeSpec, Duration)>,
    concurrency: usize,
    duration: Duration,
    ctx: &ProbeContext,
) -> (Phase, Option<String>) {
    let probes = Arc::new(probes);
    reset_peak_rss();
    let cpu_before = cpu_time();
    let shop_cpu_before = threads_cpu_time(SHOP_THREADS);
    let started = Instant::now();
    let deadline = started + duration;
    let mut loops = Vec::with_capacity(concurrency);
    for k in 0..concurrency {
        let probes = Arc::clone(&probes);
        let ctx = ctx.clone();
        loops.push(tokio::spawn(async move {
            let mut times = Vec::new();
            let mut failures: Vec<String> = Vec::new();
            let mut next = k;
            while Instant::now() < deadline {
                let (probe, timeout) = &probes[next % probes.len()];
                next += 1;
                let t = Instant::now();
                let o = keepup_probe::run(probe, *timeout, &ctx).await;
                times.push(t.elapsed().as_secs_f64() * 1000.0);
                if o.status != Status::Up {
                    failures.push(o.message);
                }
            }
            (times, failures)
        }));
    }
    let mut times = Vec::new();
    let mut failures = Vec::new();
    for l in loops {
        if let Ok((t, f)) = l.await {
            times.extend(t);
            failures.extend(f);
        }
    }
    let cpu = cpu_time().saturating_sub(cpu_before);
    let shop_cpu = threads_cpu_time(SHOP_THREADS).saturating_sub(shop_cpu_before);
    let mut phase = figures(times, failures.len(), started.elapsed(), peak_rss_mb());
    let runs = phase.runs.max(1) as f64;
    phase.cpu_ms_per_run = cpu.as_secs_f64() * 1000.0 / runs;
    phase.shop_cpu_ms_per_run = shop_cpu.as_secs_f64() * 1000.0 / runs;
    (phase, failures.into_iter().next())
}

/// A phase's figures from its run times.
fn figures(times: Vec<f64>, failed: usize, elapsed: Duration, peak_rss_mb: f64) -> Phase {
    let runs = times.len();
    let (p50_ms, _, p99_ms) = percentiles(times.clone());
    Phase {
        runs,
        failed,
        per_second: runs as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
        p50_ms,
        p95_ms: p95(times),
        p99_ms,
        peak_rss_mb,
        cpu_ms_per_run: 0.0,
        shop_cpu_ms_per_run: 0.0,
    }
}

/// The walk in Playwright (`node` with `modules/node_modules` on its
/// path) against `base`, its process tree sampled.
fn playwright(
    modules: &Path,
    dir: &Path,
    base: &str,
    duration: Duration,
) -> Result<(BrowserPhase, Option<String>), BenchError> {
    let script = dir.join("playwright_walk.js");
    std::fs::write(&script, PLAYWRIGHT_WALK)
        .map_err(BenchError::io(format!("cannot write {}", script.display())))?;
    let child = Command::new("node")
        .arg(&script)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("NODE_PATH", modules.join("node_modules"))
        .env("BASE", base)
        .env("CONCURRENCY", BROWSER_LOOPS.to_string())
        .env("DURATION_MS", duration.as_millis().to_string())
        .env("CHROMIUM", CHROMIUM)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(BenchError::io("cannot run node (apt-get install nodejs)"))?;
    let sampler = TreeSampler::start(child.id());
    let out = child
        .wait_with_output()
        .map_err(BenchError::io("node did not finish"))?;
    let memory = sampler.stop();
    if !out.status.success() {
        return Err(BenchError::Target(format!(
            "the Playwright walk failed ({})",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let answer: serde_json::Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| BenchError::Target(format!("the Playwright walk said {text:?}")))?;
    let times: Vec<f64> = answer["times"]
        .as_array()
        .map(|t| t.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let failed = answer["failures"].as_u64().unwrap_or(0) as usize;
    let failure = answer["first_failure"].as_str().map(str::to_owned);
    // The rate over the walks' duration, not over node's life (which
    // includes starting node and Chromium).
    let walks = figures(times, failed, duration, 0.0);
    Ok((BrowserPhase { walks, memory }, failure))
}

/// Samples a process tree's memory on a thread until stopped.
struct TreeSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<TreeMemory>,
}

impl TreeSampler {
    fn start(root: u32) -> TreeSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut most = TreeMemory::default();
            while !flag.load(Ordering::Relaxed) {
                let (root_pss, mut total_rss) = smaps_rollup(root);
                let mut children_pss = 0.0;
                let children = descendants(root);
                for pid in &children {
                    let (pss, rss) = smaps_rollup(*pid);
                    children_pss += pss;
                    total_rss += rss;
                }
                most.root_pss_mb = most.root_pss_mb.max(root_pss);
                most.children_pss_mb = most.children_pss_mb.max(children_pss);
                most.total_pss_mb = most.total_pss_mb.max(root_pss + children_pss);
                most.total_rss_mb = most.total_rss_mb.max(total_rss);
                most.processes = most.processes.max(children.len() + 1);
                std::thread::sleep(Duration::from_millis(200));
            }
            most
        });
        TreeSampler { stop, thread }
    }

    fn stop(self) -> TreeMemory {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Every process under `root`, found through each process's parent in
/// `/proc/PID/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // After the command in parentheses: state, then the parent.
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut queue = vec![root];
    while let Some(parent) = queue.pop() {
        for (pid, _) in parents.iter().filter(|(_, p)| *p == parent) {
            found.push(*pid);
            queue.push(*pid);
        }
    }
    found
}

/// PSS and RSS of `pid` in MB (zeros once it is gone).
fn smaps_rollup(pid: u32) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return (0.0, 0.0);
    };
    let kb = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (kb("Pss:"), kb("Rss:"))
}

fn p95(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * 0.95).round() as usize]
}

/// The probes of every check in `src`, in order.
fn probes(src: &str) -> Result<Vec<(ProbeSpec, Duration)>, BenchError> {
    let config = keepup_config::load_str(src, std::path::Path::new("<bench>"))?;
    config.checks().map(crate::probe_of).collect()
}

/// The five-step cart walk against the shop at `base`.
fn walk_config(base: &str) -> String {
    format!(
        r##"[[site]]
id = "shop"

[[site.check]]
id = "cart"
kind = "scenario"
timeout = "20s"
base_url = "{base}"
variables = {{ sku = "42" }}

[[site.check.step]]
name = "category"
url = "/category/teapots"
contains = ["Blue teapot"]

[[site.check.step]]
name = "product page"
url = "/product/{{{{ sku }}}}"
matches = ['Price: \d+\.\d\d EUR']
[[site.check.step.extract]]
var = "form_key"
css = "input[name=form_key]"
attr = "value"

[[site.check.step]]
name = "add to cart"
method = "POST"
url = "/cart/add"
form = {{ form_key = "{{{{ form_key }}}}", product = "{{{{ sku }}}}", qty = "1" }}
expect_status = [303]
follow_redirects = false

[[site.check.step]]
name = "cart shows the product"
url = "/cart"
contains = ["Blue teapot × 1"]

[[site.check.step]]
name = "checkout"
url = "/checkout"
contains = ["Checkout"]
[[site.check.step.css]]
selector = "iframe#payment"
"##
    )
}

/// The four-step quick-add walk in Chromium against the shop at `base`,
/// four at once.
fn browser_config(base: &str) -> String {
    format!(
        r##"[browser]
executable = "{CHROMIUM}"
max_concurrent = {BROWSER_LOOPS}

[[site]]
id = "shop"

[[site.check]]
id = "quick-add"
kind = "browser"
timeout = "30s"
base_url = "{base}"

[[site.check.step]]
name = "product page"
goto = "/product/42"

[[site.check.step]]
name = "quick add"
click = "#quick-add"

[[site.check.step]]
name = "added"
wait_for_text = "Added to cart"

[[site.check.step]]
name = "minicart"
assert_text = "1"
selector = "#minicart .count"
"##
    )
}

/// A bare `http` check of each of [`GET_PAGES`] at `base`.
fn pages_config(base: &str) -> String {
    let mut src = String::from("[[site]]\nid = \"shop\"\n");
    for (i, page) in GET_PAGES.iter().enumerate() {
        src.push_str(&format!(
            "[[site.check]]\nid = \"page{i}\"\nkind = \"http\"\ntimeout = \"20s\"\nurl = \"{base}{page}\"\n"
        ));
    }
    src
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
