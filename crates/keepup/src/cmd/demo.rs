//! `keepup demo`: the main job on the embedded default. Starts the bundled
//! demo shop on loopback, writes a configuration for it, and runs the real
//! daemon (SQLite store, scheduler, probes, listener) against it, printing
//! a status table as faults come and go.

use super::daemon::Daemon;
use super::status::{ago, render};
use anyhow::Context;
use keepup_demo::DemoShop;
use keepup_model::{Clock, SystemClock};
use keepup_probe::ProbeContext;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::signal::unix::{SignalKind, signal};

pub fn run(
    dir: Option<PathBuf>,
    listen: SocketAddr,
    run_for: Option<Duration>,
    every: u64,
) -> anyhow::Result<ExitCode> {
    let (dir, _temp) = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            (d, None)
        }
        None => {
            let t = std::env::temp_dir().join(format!("keepup-demo-{}", std::process::id()));
            std::fs::create_dir_all(&t)?;
            (t.clone(), Some(TempDir(t)))
        }
    };
    let dir = dir.canonicalize()?;
    let keep = _temp.is_none();
    super::runtime()?.block_on(async move {
        let mut shop = DemoShop::start(&dir).await.map_err(|e| anyhow::anyhow!("cannot start the demo shop: {e}"))?;
        // Find a free port now so that the written configuration is concrete.
        let listen = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?
            .local_addr()?;
        let token = random_token()?;
        let config_path = dir.join("keepup.toml");
        std::fs::write(&config_path, shop.config(&dir.join("keepup.db"), listen, &token))?;
        let config = super::load_config(&config_path).map_err(|_| anyhow::anyhow!("the generated demo configuration is invalid"))?;
        let daemon = Daemon::start(config, ProbeContext::new()).await?;
        shop.start_job(daemon.listen, format!("/ping/{token}"), Duration::from_secs(3));

        println!("keepup demo");
        println!("  demo shop:   http://{}/  and  https://{}/  (own CA: {})", shop.http, shop.https, shop.ca_file.display());
        println!("  keepup:      http://{}/healthz   heartbeat: http://{}/ping/<token>", daemon.listen, daemon.listen);
        println!("  config:      {}", config_path.display());
        println!("  store:       {} (SQLite)", dir.join("keepup.db").display());
        println!("  try:         keepup status -c {}", config_path.display());
        println!("  faults are injected every {}s; watch the STATUS column change. Ctrl-C stops.\n", keepup_demo::CYCLE.as_secs());

        let started = Instant::now();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let period = Duration::from_secs(every.max(1));
        loop {
            let remaining = run_for.map(|d| d.saturating_sub(started.elapsed()));
            if remaining == Some(Duration::ZERO) {
                break;
            }
            let wait = remaining.map_or(period, |r| r.min(period));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = int.recv() => break,
                _ = term.recv() => break,
            }
            if every > 0 {
                print_table(&daemon, &shop, started.elapsed());
            }
        }
        daemon.stop().await;
        if keep {
            println!("demo stopped; results are in {}", dir.join("keepup.db").display());
        } else {
            println!("demo stopped; its temporary directory is removed (use --dir DIR to keep the results)");
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

fn print_table(daemon: &Daemon, shop: &DemoShop, elapsed: Duration) {
    let now = SystemClock.now_ms();
    let current = daemon.monitor.current();
    let config = daemon.monitor.config();
    let mut rows = vec![
        ["CHECK", "STATUS", "SINCE", "LATENCY", "MESSAGE"]
            .map(String::from)
            .to_vec(),
    ];
    for c in config.checks() {
        let row = match current.get(&c.id) {
            Some(s) => {
                let mut msg = s.outcome.message.clone();
                if let Some(f) = s
                    .outcome
                    .worst_finding()
                    .filter(|f| f.severity > keepup_model::Severity::Info)
                {
                    msg = format!("{msg} [{}]", f.code);
                }
                vec![
                    c.id.to_string(),
                    s.outcome.status.as_str().to_uppercase(),
                    ago(now, s.since),
                    format!("{:.0} ms", s.outcome.latency_ms),
                    msg,
                ]
            }
            None => vec![
                c.id.to_string(),
                "PENDING".into(),
                "-".into(),
                "-".into(),
                "not run yet".into(),
            ],
        };
        rows.push(row);
    }
    println!(
        "t+{:>3}s  injected fault: {}",
        elapsed.as_secs(),
        shop.faults.current().describe()
    );
    println!("{}", render(&rows));
    for line in shop.inbox.take() {
        println!("  notification received: {line}");
    }
}

fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Removes the demo's temporary directory at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
