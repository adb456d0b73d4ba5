//! `keepup bench web`: the web's speed and memory under load. Fills a
//! store with N checks × D days of results ending now, through the same
//! write path as `keepup bench sla` ([`crate::sla::fill`]: `Store::record`
//! an hour per batch, daily compaction into rollups with the default
//! retention), adds a few incidents and a status page over every check,
//! then starts `keepup run` on it as a child process (so the memory read
//! is the daemon's alone; its checks probe the daemon's own `/healthz`),
//! adds a user and a read token with the real CLI, logs in over HTTP, and
//! runs `wrk` with C connections against each page, API list and
//! `/metrics` in turn.
//!
//! Per URL it reports requests/s, p50/p95/p99 latency (from wrk's own
//! histogram, through a Lua `done` hook) and the daemon's peak RSS while
//! serving it (its VmHWM, reset before each URL where the kernel allows
//! it). A URL the daemon does not serve (404: that page has not been
//! built yet) is reported as such and skipped. Each run starts a fresh
//! daemon; with several runs the medians are reported.
//!
//! The token and session cookie reach wrk in a Lua script written with
//! mode 0600 in the scratch directory (not on its command line).

use crate::{BenchError, sla};
use keepup_model::{CheckId, Clock, Status, SystemClock, Timestamp};
use keepup_store::{NewIncident, Store};
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOUR: Timestamp = 3_600_000;
const DAY: Timestamp = 86_400_000;
/// Checks per status page component.
const PER_COMPONENT: usize = 100;
/// How long the daemon may take to answer `/healthz` after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Timeout and size limit of the bench's own requests (login, probes).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ANSWER: u64 = 8 * 1024 * 1024;
/// How long a URL answering 429 before its load is retried.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Prefix of the line the Lua `done` hook writes.
const FIGURES_LINE: &str = "keepup-bench-figures ";

/// The parameters of `keepup bench web`.
#[derive(Debug, Clone)]
pub struct WebBench {
    pub checks: usize,
    pub days: u32,
    pub interval: Duration,
    /// wrk's connections and threads, and how long each URL is loaded.
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
    /// Runs (a fresh daemon each); medians are reported.
    pub runs: usize,
    /// Keep the filled store here and reuse it when it is there already
    /// (filling 1,000 checks × 90 days takes minutes).
    pub keep: Option<PathBuf>,
    /// The `keepup` binary to run as the daemon and for the CLI.
    pub keepup: PathBuf,
    /// Load only these URLs (paths as listed); empty: all of them.
    pub only: Vec<String>,
}

/// What one URL measured in one run.
#[derive(Debug, Clone, Copy, Default)]
struct UrlFigures {
    requests_per_s: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    /// Answers that were not 2xx/3xx, and socket errors.
    bad: u64,
    peak_rss_mb: f64,
}

/// One URL's line: the medians over the runs, or why it was skipped.
#[derive(Debug, Clone)]
pub struct UrlReport {
    pub name: &'static str,
    pub path: String,
    /// None when the daemon does not serve the path.
    pub figures: Option<(f64, f64, f64, f64, u64, f64)>,
}

/// What `keepup bench web` measured.
#[derive(Debug, Clone)]
pub struct WebReport {
    pub checks: usize,
    pub days: u32,
    pub results: u64,
    pub fill: Option<Duration>,
    pub file_mb: f64,
    pub runs: usize,
    pub connections: usize,
    pub idle_rss_mb: f64,
    pub peak_rss_mb: f64,
    pub urls: Vec<UrlReport>,
}

impl fmt::Display for WebReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checks={} days={} results={} fill_s={} store={:.0}MB runs={} connections={} daemon_rss_after_start={:.1}MB peak_rss={:.1}MB (medians over the runs)",
            self.checks,
            self.days,
            self.results,
            self.fill
                .map_or("reused".to_string(), |d| format!("{:.0}", d.as_secs_f64())),
            self.file_mb,
            self.runs,
            self.connections,
            self.idle_rss_mb,
            self.peak_rss_mb,
        )?;
        writeln!(
            f,
            "{:<12} {:<28} {:>9} {:>8} {:>8} {:>8} {:>6} {:>9}",
            "page", "path", "req/s", "p50 ms", "p95 ms", "p99 ms", "bad", "peak RSS"
        )?;
        for url in &self.urls {
            match url.figures {
                Some((rps, p50, p95, p99, bad, rss)) => writeln!(
                    f,
                    "{:<12} {:<28} {rps:>9.0} {p50:>8.1} {p95:>8.1} {p99:>8.1} {bad:>6} {rss:>7.1}MB",
                    url.name, url.path
                )?,
                None => writeln!(
                    f,
                    "{:<12} {:<28} not served (404): not built yet",
                    url.name, url.path
                )?,
            }
        }
        Ok(())
    }
}

/// The URLs loaded, in order: (name, path, authentication).
/// The URLs loaded, in order: all, or those `only` names.
fn targets(only: &[String]) -> Vec<(&'static str, String, Auth)> {
    let all = vec![
        ("status page", "/status/shop".into(), Auth::None),
        ("API checks", "/api/v1/checks".into(), Auth::Token),
        ("API incidents", "/api/v1/incidents".into(), Auth::Token),
        ("overview", "/".into(), Auth::Session),
        ("check page", "/checks/shop/c1".into(), Auth::Session),
        ("metrics", "/metrics".into(), Auth::None),
    ];
    all.into_iter()
        .filter(|(_, path, _)| only.is_empty() || only.contains(path))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Auth {
    None,
    Token,
    Session,
}

/// Runs the bench; the scratch directory is removed afterwards (the kept
/// store, if any, stays).
pub fn web(bench: &WebBench) -> Result<WebReport, BenchError> {
    if bench.checks == 0 || bench.days == 0 || bench.runs == 0 || bench.connections == 0 {
        return Err(BenchError::Usage(
            "--checks, --days, --runs and --connections must be at least 1".into(),
        ));
    }
    if bench.interval < Duration::from_secs(1) || bench.interval > Duration::from_secs(86_400) {
        return Err(BenchError::Usage(
            "--interval must be between 1s and 1d".into(),
        ));
    }
    if targets(&bench.only).is_empty() {
        return Err(BenchError::Usage(format!(
            "--only names none of the URLs: {}",
            targets(&[])
                .iter()
                .map(|(_, path, _)| path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if Command::new("wrk")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Err(BenchError::Usage(
            "wrk is not installed (apt-get install wrk)".into(),
        ));
    }
    let scratch = crate::scratch_dir()?.join("web");
    std::fs::create_dir_all(&scratch).map_err(BenchError::io(format!(
        "cannot create {}",
        scratch.display()
    )))?;
    let result = run(bench, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run(bench: &WebBench, scratch: &Path) -> Result<WebReport, BenchError> {
    let store_dir = bench.keep.clone().unwrap_or_else(|| scratch.to_path_buf());
    std::fs::create_dir_all(&store_dir).map_err(BenchError::io(format!(
        "cannot create {}",
        store_dir.display()
    )))?;
    let db = store_dir.join("keepup.db");
    let (results, fill) = if db.exists() && bench.keep.is_some() {
        eprintln!("reusing the store in {}", db.display());
        (0, None)
    } else {
        let started = Instant::now();
        let results = generate(&db, bench)?;
        (results, Some(started.elapsed()))
    };
    let file_mb = std::fs::metadata(&db).map_or(0.0, |m| m.len() as f64 / 1e6);
    let mut per_run: Vec<Vec<Option<UrlFigures>>> = Vec::new();
    let mut idle = Vec::new();
    let mut peak = Vec::new();
    for n in 0..bench.runs {
        eprintln!("run {} of {}…", n + 1, bench.runs);
        let (figures, idle_mb, peak_mb) = one_run(bench, &db, scratch, n)?;
        per_run.push(figures);
        idle.push(idle_mb);
        peak.push(peak_mb);
    }
    let urls = targets(&bench.only)
        .into_iter()
        .enumerate()
        .map(|(i, (name, path, _))| {
            let runs: Vec<UrlFigures> = per_run.iter().filter_map(|r| r[i]).collect();
            let figures = (!runs.is_empty()).then(|| {
                let med = |f: fn(&UrlFigures) -> f64| median(runs.iter().map(f).collect());
                (
                    med(|u| u.requests_per_s),
                    med(|u| u.p50_ms),
                    med(|u| u.p95_ms),
                    med(|u| u.p99_ms),
                    runs.iter().map(|u| u.bad).sum(),
                    med(|u| u.peak_rss_mb),
                )
            });
            UrlReport {
                name,
                path,
                figures,
            }
        })
        .collect();
    Ok(WebReport {
        checks: bench.checks,
        days: bench.days,
        results,
        fill,
        file_mb,
        runs: bench.runs,
        connections: bench.connections,
        idle_rss_mb: median(idle),
        peak_rss_mb: median(peak),
        urls,
    })
}

/// Fills the store at `db`: the checks' history ending at the current
/// hour, a few incidents (most resolved, three open) and the
/// configuration beside it (`keepup.toml`).
fn generate(db: &Path, bench: &WebBench) -> Result<u64, BenchError> {
    let store = Store::open(db)?;
    let ids = sla::register(&store, db, bench.checks, bench.interval)?;
    let now = SystemClock.now_ms();
    let start = now - now.rem_euclid(HOUR) - i64::from(bench.days) * DAY;
    eprintln!(
        "filling {} checks × {} days (a few minutes per 100 M results)…",
        bench.checks, bench.days
    );
    let results = sla::fill(&store, &ids, start, bench.days, bench.interval, true)?;
    // An incident on every 50th check every ten days; the newest three stay open.
    let mut opened = Vec::new();
    for (i, id) in ids.iter().enumerate().step_by(50) {
        for day in (1..bench.days).step_by(10) {
            let at = start + i64::from(day) * DAY + (i as i64 % 24) * HOUR;
            let id_open = store.open_incident(&incident(id, at))?;
            opened.push((id_open, at));
        }
    }
    opened.sort_by_key(|(_, at)| *at);
    let keep_open = opened.len().saturating_sub(3);
    for (incident, at) in &opened[..keep_open] {
        store.resolve_incident(*incident, at + 20 * 60_000)?;
    }
    Ok(results)
}

fn incident(check: &CheckId, at: Timestamp) -> NewIncident {
    NewIncident {
        check: check.clone(),
        status: Status::Down,
        opened_at: at,
        detected_at: at + 120_000,
        cause: None,
        suppressed: false,
        maintenance: false,
        message: "HTTP 503".into(),
        findings: Vec::new(),
    }
}

/// The daemon's configuration for a run: the generated checks probing the
/// daemon's own `/healthz`, the listener on `addr`, a status page whose
/// components each take [`PER_COMPONENT`] checks.
fn run_config(db: &Path, bench: &WebBench, addr: SocketAddr) -> Result<String, BenchError> {
    let mut src = sla::config_source(
        db,
        bench.checks,
        bench.interval,
        &format!("http://{addr}/healthz"),
    )?;
    src.push_str(&format!("[server]\nlisten = \"{addr}\"\n"));
    src.push_str("[[status_page]]\nslug = \"shop\"\ntitle = \"Bench shop\"\n");
    for (n, first) in (0..bench.checks).step_by(PER_COMPONENT).enumerate() {
        let checks: Vec<String> = (first..(first + PER_COMPONENT).min(bench.checks))
            .map(|i| format!("\"shop/c{i}\""))
            .collect();
        src.push_str(&format!(
            "[[status_page.component]]\nname = \"Part {n}\"\nchecks = [{}]\n",
            checks.join(", ")
        ));
    }
    Ok(src)
}

/// Starts the daemon, logs in, loads every URL; returns the figures per
/// URL (None: not served), the RSS after start and the peak RSS.
fn one_run(
    bench: &WebBench,
    db: &Path,
    scratch: &Path,
    n: usize,
) -> Result<(Vec<Option<UrlFigures>>, f64, f64), BenchError> {
    let addr = free_loopback_address()?;
    let config = scratch.join("web.toml");
    std::fs::write(&config, run_config(db, bench, addr)?)
        .map_err(BenchError::io(format!("cannot write {}", config.display())))?;
    let name = format!("bench{}r{n}", std::process::id());
    let password = random_hex(16)?;
    let password_file = secret_file(scratch, "password", &format!("{password}\n"))?;
    cli(
        bench,
        &config,
        &["user", "add", &name, "--role", "viewer", "--password-file"],
        Some(&password_file),
    )?;
    let token = cli(
        bench,
        &config,
        &["token", "create", "--name", &name, "--scope", "read"],
        None,
    )?;
    let token = token.trim().to_string();
    let mut daemon = Daemon::start(bench, &config, addr)?;
    let result = (|| {
        let idle = rss_kb(daemon.pid(), "VmRSS:") / 1024.0;
        let cookie = login(addr, &name, &password)?;
        let mut figures = Vec::new();
        for (label, path, auth) in targets(&bench.only) {
            let header = match auth {
                Auth::None => None,
                Auth::Token => Some(("Authorization", format!("Bearer {token}"))),
                Auth::Session => Some(("Cookie", cookie.clone())),
            };
            let header_ref = header.as_ref().map(|(k, v)| (*k, v.as_str()));
            // The previous URL's connections may still count against the
            // listener's per-address share for a moment (429).
            let mut status = get_status(addr, &path, header_ref)?;
            let waited = Instant::now();
            while status == 429 && waited.elapsed() < DRAIN_TIMEOUT {
                std::thread::sleep(Duration::from_millis(500));
                status = get_status(addr, &path, header_ref)?;
            }
            if status == 404 {
                eprintln!("  {label} {path}: 404, skipped");
                figures.push(None);
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(BenchError::Target(format!(
                    "{path} answered {status} before the load"
                )));
            }
            reset_peak_rss(daemon.pid());
            let mut measured = wrk(bench, scratch, addr, &path, header_ref)?;
            measured.peak_rss_mb = rss_kb(daemon.pid(), "VmHWM:") / 1024.0;
            eprintln!(
                "  {label} {path}: {:.0} req/s, p95 {:.1} ms, {} bad answers",
                measured.requests_per_s, measured.p95_ms, measured.bad
            );
            figures.push(Some(measured));
        }
        let peak = figures
            .iter()
            .flatten()
            .map(|f| f.peak_rss_mb)
            .fold(0.0, f64::max);
        Ok((figures, idle, peak))
    })();
    daemon.stop();
    let _ = std::fs::remove_file(&password_file);
    result
}

/// Runs the CLI on `config` with `args` (and `file_arg` after them, the
/// value of a last `--…-file` option); returns its stdout.
fn cli(
    bench: &WebBench,
    config: &Path,
    args: &[&str],
    file_arg: Option<&Path>,
) -> Result<String, BenchError> {
    let mut command = Command::new(&bench.keepup);
    command.args(args);
    if let Some(file) = file_arg {
        command.arg(file);
    }
    let out = command
        .arg("-c")
        .arg(config)
        .env("KEEPUP_LOG", "error")
        .stdin(Stdio::null())
        .output()
        .map_err(BenchError::io(format!(
            "cannot run {}",
            bench.keepup.display()
        )))?;
    if !out.status.success() {
        return Err(BenchError::Target(format!(
            "keepup {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The daemon child process.
struct Daemon(Child);

impl Daemon {
    fn start(bench: &WebBench, config: &Path, addr: SocketAddr) -> Result<Daemon, BenchError> {
        let child = Command::new(&bench.keepup)
            .arg("run")
            .arg("-c")
            .arg(config)
            .env("KEEPUP_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(BenchError::io("cannot start keepup run"))?;
        let mut daemon = Daemon(child);
        let started = Instant::now();
        loop {
            if let Ok(200) = get_status(addr, "/healthz", None) {
                return Ok(daemon);
            }
            if let Ok(Some(status)) = daemon.0.try_wait() {
                return Err(BenchError::Target(format!("keepup run ended: {status}")));
            }
            if started.elapsed() > START_TIMEOUT {
                daemon.stop();
                return Err(BenchError::Target(format!(
                    "keepup run did not answer /healthz within {}",
                    humantime::format_duration(START_TIMEOUT)
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Logs in through the login form (its double-submit cookie and CSRF
/// field, then the POST) and returns the `Cookie` header value carrying
/// the session.
fn login(addr: SocketAddr, name: &str, password: &str) -> Result<String, BenchError> {
    let page = request(addr, "GET", "/login", &[], None)?;
    let login_cookie = set_cookie(&page.head, "keepup_login")
        .ok_or_else(|| BenchError::Target("GET /login set no keepup_login cookie".into()))?;
    let form = format!(
        "name={}&password={}&csrf={login_cookie}&next=%2F",
        keepup_model::text::percent_encode(name),
        keepup_model::text::percent_encode(password),
    );
    let cookie = format!("keepup_login={login_cookie}");
    let answer = request(
        addr,
        "POST",
        "/login",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        Some(form.as_bytes()),
    )?;
    let session = set_cookie(&answer.head, "keepup_session").ok_or_else(|| {
        BenchError::Target(format!(
            "logging in answered {} without a session cookie",
            answer.status
        ))
    })?;
    Ok(format!("keepup_session={session}"))
}

/// The value of the cookie `name` in a response head's `Set-Cookie`s.
fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie").then_some(v.trim())
        })
        .find_map(|v| {
            let (k, rest) = v.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
        })
}

struct Answer {
    status: u16,
    head: String,
}

/// The status of a GET of `path`.
fn get_status(
    addr: SocketAddr,
    path: &str,
    header: Option<(&str, &str)>,
) -> Result<u16, BenchError> {
    let headers: Vec<(&str, &str)> = header.into_iter().collect();
    Ok(request(addr, "GET", path, &headers, None)?.status)
}

/// One HTTP/1.1 request on a fresh connection (closed after), with a
/// timeout and a cap on what is read.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Answer, BenchError> {
    let io = BenchError::io(format!("{method} {path}"));
    let mut stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).map_err(io)?;
    let set = |s: &TcpStream| {
        s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        s.set_write_timeout(Some(REQUEST_TIMEOUT))
    };
    set(&stream).map_err(BenchError::io("socket timeouts"))?;
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    stream
        .write_all(&bytes)
        .map_err(BenchError::io(format!("{method} {path}")))?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(BenchError::io(format!("{method} {path}")))?;
    let text = String::from_utf8_lossy(&answer);
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| BenchError::Target(format!("{method} {path}: not an HTTP answer")))?;
    Ok(Answer { status, head })
}

/// Loads `path` with wrk and reads its figures from the Lua hook's line.
fn wrk(
    bench: &WebBench,
    scratch: &Path,
    addr: SocketAddr,
    path: &str,
    header: Option<(&str, &str)>,
) -> Result<UrlFigures, BenchError> {
    let mut script = String::new();
    if let Some((k, v)) = header {
        script.push_str(&format!(
            "wrk.headers[{}] = {}\n",
            lua_string(k),
            lua_string(v)
        ));
    }
    script.push_str(&format!(
        "done = function(summary, latency, requests)\n  \
         local e = summary.errors\n  \
         io.write(string.format(\"{FIGURES_LINE}%d %d %d %d %d %d\\n\", summary.requests, summary.duration, \
         e.connect + e.read + e.write + e.status + e.timeout, \
         latency:percentile(50), latency:percentile(95), latency:percentile(99)))\n\
         end\n"
    ));
    let script_file = secret_file(scratch, "wrk.lua", &script)?;
    let out = Command::new("wrk")
        .arg(format!("-t{}", bench.threads))
        .arg(format!("-c{}", bench.connections))
        .arg(format!("-d{}s", bench.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&script_file)
        .arg(format!("http://{addr}{path}"))
        .stdin(Stdio::null())
        .output()
        .map_err(BenchError::io("cannot run wrk"));
    let _ = std::fs::remove_file(&script_file);
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<f64> = stdout
        .lines()
        .find_map(|l| l.strip_prefix(FIGURES_LINE))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let [requests, duration_us, bad, p50, p95, p99] = numbers[..] else {
        return Err(BenchError::Target(format!(
            "wrk gave no figures for {path}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    };
    Ok(UrlFigures {
        requests_per_s: requests / (duration_us / 1e6).max(1e-6),
        p50_ms: p50 / 1000.0,
        p95_ms: p95 / 1000.0,
        p99_ms: p99 / 1000.0,
        bad: bad as u64,
        peak_rss_mb: 0.0,
    })
}

/// A Lua string literal of `s`.
fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// Writes `text` to a new file readable by this user only.
fn secret_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf, BenchError> {
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(BenchError::io(format!("cannot write {}", path.display())))?;
    Ok(path)
}

fn random_hex(bytes: usize) -> Result<String, BenchError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(BenchError::io("cannot read /dev/urandom"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A loopback address with a port free a moment ago.
fn free_loopback_address() -> Result<SocketAddr, BenchError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(BenchError::io("cannot find a free loopback port"))
}

/// A `kB` line of `/proc/<pid>/status` (0 when unreadable).
pub(crate) fn rss_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Resets the daemon's VmHWM (where the kernel lets us), so the next
/// reading is that URL's peak.
fn reset_peak_rss(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
