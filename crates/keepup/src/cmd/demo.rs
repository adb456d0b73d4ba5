//! `keepup demo`: the main job on the embedded default. Starts the bundled
//! demo shop on loopback, writes a configuration for it, and runs the real
//! daemon (SQLite store, scheduler, probes, listener) against it. On a
//! terminal it shows the live view of `keepup status --watch` with the
//! injected fault; otherwise it appends a status table as faults come and
//! go. Logs go to `keepup.log` in the demo directory.

use super::daemon::Daemon;
use super::live;
use super::screen::{self, Screen, Tick, Ticker};
use super::status::render;
use anyhow::Context;
use keepup_demo::{DemoShop, FaultPlan};
use keepup_model::text::ago;
use keepup_model::{Clock, SystemClock};
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::io::IsTerminal;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(
    dir: Option<PathBuf>,
    listen: SocketAddr,
    (run_for, lose_production_after, faults): (Option<Duration>, Option<Duration>, FaultPlan),
    every: u64,
    (log_format, verbose): (&crate::cli::LogFormat, u8),
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
    // The log goes to a file, so that on a terminal the screen is the
    // view's alone (and in a pipe the tables are not interleaved).
    let log = dir.join("keepup.log");
    crate::logging::init_file(log_format, verbose, &log)
        .with_context(|| format!("cannot write the demo log {}", log.display()))?;
    let tty = std::io::stdout().is_terminal();
    super::runtime()?.block_on(async move {
        let mut shop = DemoShop::start(&dir, faults).await.map_err(|e| anyhow::anyhow!("cannot start the demo shop: {e}"))?;
        let exe = std::env::current_exe().context("cannot find keepup's own binary to start the demo's worker")?;
        let worker = shop.start_worker(&exe).await.map_err(|e| anyhow::anyhow!("cannot start the demo shop's order worker: {e}"))?;
        // Find a free port now so that the written configuration is concrete.
        let listen = std::net::TcpListener::bind(listen)
            .with_context(|| format!("cannot listen on {listen}"))?
            .local_addr()?;
        let token = random_token()?;
        let config_path = dir.join("keepup.toml");
        let mut toml = shop.config(&dir.join("keepup.db"), listen, &token);
        toml.push_str(&demo_backup(&dir)?);
        toml.push_str(&shop.recovery_config());
        let agent_token = random_token()?;
        toml.push_str(&demo_agent(&dir, &agent_token)?);
        std::fs::write(&config_path, toml)?;
        let config = super::load_config(&config_path).map_err(|_| anyhow::anyhow!("the generated demo configuration is invalid"))?;
        init_demo_repositories(&config).await?;
        let watched = config.clone();
        let daemon = Daemon::start(config, ProbeContext::new()).await?;
        shop.start_job(daemon.listen, format!("/ping/{token}"), Duration::from_secs(3));
        start_demo_agent(&dir, &exe, daemon.listen, keepup_config::Secret::new(agent_token))?;

        let password = demo_user(daemon.monitor.store())?;
        // A previous run's loss (with --dir) does not carry over.
        let _ = std::fs::remove_file(dir.join(keepup_demo::PRODUCTION_LOST));
        if let Some(after) = lose_production_after {
            let dir = dir.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                if let Err(e) = keepup_demo::lose_production(&dir) {
                    tracing::warn!(error = %e, "demo: cannot lose production");
                }
            });
        }

        println!("keepup demo");
        println!("  demo shop:   http://{}/  and  https://{}/  (own CA: {})", shop.http, shop.https, shop.ca_file.display());
        println!("  dashboard:   http://{}/   log in as demo, password {password} (operator)", daemon.listen);
        println!("  keepup:      http://{}/healthz   heartbeat: http://{}/ping/<token>", daemon.listen, daemon.listen);
        println!("  status page: http://{}/status/shop", daemon.listen);
        println!("  config:      {}", config_path.display());
        println!("  store:       {} (SQLite)", dir.join("keepup.db").display());
        println!("  log:         {}", log.display());
        println!("  try:         keepup status --watch -c {}", config_path.display());
        println!("  SLA:         keepup sla -c {0}   and   keepup report -c {0} --out DIR", config_path.display());
        println!("  standby:     {}:{} and :{} (restored from the backup by the plan shop-dr; drill copy on {})", keepup_demo::STANDBY, shop.http.port(), shop.https.port(), keepup_demo::DRILL);
        println!("  disaster:    touch {} loses production; then keepup dr activate shop-dr -c {} --yes", dir.join(keepup_demo::PRODUCTION_LOST).display(), config_path.display());
        println!("  worker:      {worker}; the fault timeline kills it, the action {WORKER_ACTION} has the demo agent restart it: see http://{}/incidents", daemon.listen);
        println!("  a fault is injected every 15-20 s, in a round of {} s; watch the STATUS column change. Ctrl-C stops.\n", keepup_demo::CYCLE.as_secs());

        let mut ticker = Ticker::new(Duration::from_secs(every.max(1)), run_for)?;
        if tty && every > 0 {
            let store = Store::open_read_only(&watched.store.path).context("cannot open the demo's store")?;
            let colour = live::colour_from_env();
            let frame = |size| {
                let now = SystemClock.now_ms();
                let mut snapshot = live::snapshot_or_problem(&watched, &store, now);
                snapshot.title = format!(
                    "keepup demo · {} · a demo shop on this machine, with faults injected",
                    live::clock(now)
                );
                snapshot.details.splice(0..0, [
                    ("shop", format!("http://{}/  https://{}/", shop.http, shop.https)),
                    ("web", format!("http://{}/  login demo, password {password}", daemon.listen)),
                    ("config", config_path.display().to_string()),
                    ("log", log.display().to_string()),
                ]);
                snapshot.hint = "q or Ctrl-C stops the demo · the same view: keepup status --watch -c <config>".to_owned();
                snapshot.fault = Some(fault_panel(&shop));
                for line in recovery_lines(&store, &shop, &config_path) {
                    snapshot.details.push(("recovery", line));
                }
                // The webhook inbox is for the plain output; here the
                // panel reads the outbox.
                shop.inbox.take();
                live::render(&snapshot, size, colour)
            };
            let mut screen = Screen::enter()?;
            loop {
                let size = screen::size();
                screen.draw(&frame(size), size)?;
                if ticker.next().await == Tick::Stop {
                    break;
                }
            }
        } else {
            loop {
                match ticker.next().await {
                    Tick::Stop => break,
                    Tick::Interval if every > 0 => {
                        print_table(&daemon, &shop, shop.faults.elapsed());
                        for line in recovery_lines(daemon.monitor.store(), &shop, &config_path) {
                            println!("recovery: {line}");
                        }
                    }
                    _ => {}
                }
            }
        }
        daemon.stop().await;
        if keep {
            println!("demo stopped; results are in {}, its log in {}", dir.join("keepup.db").display(), log.display());
        } else {
            println!("demo stopped; its temporary directory is removed (use --dir DIR to keep the results)");
        }
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// The disaster-recovery lines of the screen: production lost and what to
/// type, and the shop-dr plan's latest run with its measured RTO and RPO.
fn recovery_lines(store: &Store, shop: &DemoShop, config: &std::path::Path) -> Vec<String> {
    use keepup_store::{DrRun, DrRunKind, DrRunState};
    let runs = store.dr_runs(Some("shop-dr"), 50).unwrap_or_default();
    // The newest switch (activate or return) and the newest drill: the
    // daemon drills every few minutes, which says nothing about where the
    // shop runs.
    let switch = runs.iter().find(|r| r.kind != DrRunKind::Drill);
    let drill = runs.iter().find(|r| r.kind == DrRunKind::Drill);
    let mut lines = Vec::new();
    if shop.production_lost() {
        let activated = switch
            .is_some_and(|r| r.kind == DrRunKind::Activate && r.state == DrRunState::Completed);
        lines.push(if activated {
            format!("PRODUCTION LOST; the shop runs on its standby. Back: keepup dr return shop-dr -c {} --yes", config.display())
        } else {
            format!("PRODUCTION LOST: the shop's server stopped answering. Recover: keepup dr activate shop-dr -c {} --yes", config.display())
        });
    }
    let describe = |run: &DrRun| {
        let mut line = format!(
            "{} run {}: {}",
            run.kind.as_str(),
            run.id,
            run.state.as_str()
        );
        if let Some(rto) = run.rto_ms {
            line.push_str(&format!(", RTO {}", keepup_recovery::engine::human_ms(rto)));
        }
        if let Some(rpo) = run.rpo_ms {
            line.push_str(&format!(", RPO {}", keepup_recovery::engine::human_ms(rpo)));
        }
        line
    };
    lines.extend(switch.into_iter().chain(drill).map(describe));
    lines
}

/// What the demo breaks now and next.
fn fault_panel(shop: &DemoShop) -> live::FaultPanel {
    let (next, next_in) = shop.faults.upcoming();
    live::FaultPanel {
        elapsed: shop.faults.elapsed(),
        now: shop.describe(shop.faults.current()).to_owned(),
        next: shop.describe(next).to_owned(),
        next_in,
    }
}

/// Gives the dashboard's `demo` user (operator) a fresh random password,
/// adding the user on a first run; returns the password, which the demo
/// prints (it guards a loopback listener of a throwaway store).
fn demo_user(store: &keepup_store::Store) -> anyhow::Result<String> {
    let Some(random) = keepup_web::auth::secret::random_hex() else {
        anyhow::bail!("the system gave no randomness for the demo password");
    };
    let password = random[..20].to_owned();
    let hash = keepup_web::auth::password::hash(&password)?;
    let now = keepup_web::auth::now();
    if !store.add_user("demo", &hash, keepup_store::Role::Operator, now)? {
        store.set_password("demo", &hash)?;
    }
    keepup_web::auth::audit(
        store,
        &super::users::cli_actor(),
        "user.add",
        "demo",
        "keepup demo (operator)",
    );
    Ok(password)
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
        shop.describe(shop.faults.current())
    );
    println!("{}", render(&rows));
    for line in shop.inbox.take() {
        println!("  notification received: {line}");
    }
}

/// The faults `keepup demo` injects: the timeline, none (`--no-faults`)
/// or one all the time (`--fault NAME`, for tests).
pub fn fault_plan(no_faults: bool, only: Option<keepup_demo::Fault>) -> FaultPlan {
    match only {
        Some(fault) => FaultPlan::only(fault),
        None if no_faults => FaultPlan::without_faults(),
        None => FaultPlan::starting_now(),
    }
}

/// `keepup demo-worker start|run`: the demo shop's order worker
/// ([`keepup_demo::worker`]).
pub fn worker(
    mode: crate::cli::DemoWorkerMode,
    dir: &std::path::Path,
    demo_pid: u32,
) -> anyhow::Result<ExitCode> {
    match mode {
        crate::cli::DemoWorkerMode::Start => {
            let exe = std::env::current_exe().context("cannot find keepup's own binary")?;
            let started =
                keepup_demo::worker::start(&exe, dir, demo_pid).map_err(anyhow::Error::msg)?;
            println!("{started}");
        }
        crate::cli::DemoWorkerMode::Run => {
            keepup_demo::worker::run(dir, demo_pid).with_context(|| {
                format!("the demo worker cannot write its pid in {}", dir.display())
            })?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo agent's action that restarts the shop's order worker, and
/// the `[[action]]` that asks for it.
const WORKER_ACTION: &str = "restart-worker";

/// The name the demo agent counts the order worker's processes under.
const WORKER_PROCESS: &str = "shop-worker";

/// The demo's own host, watched through an agent: an `[[agent]]` and a
/// `host` check of this machine's disk, load and memory in a site of its
/// own (so the shop's status and SLA stay the shop's); and the shop's
/// order worker on it, counted by the agent and restarted by an
/// `[[action]]` through the agent before anyone is paged.
fn demo_agent(dir: &std::path::Path, token: &str) -> anyhow::Result<String> {
    let file = dir.join("agent.token");
    std::fs::write(&file, token)?;
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(format!(
        r#"
# This machine, through keepup agent (an in-process agent pushing every 5 s;
# on a real server: keepup agent --central URL --name NAME --token-file F)
[[agent]]
name = "demo-host"
token_file = {file}
interval = "5s"

[[site]]
id = "server"
name = "This machine"

[[site.check]]
id = "host"
kind = "host"
agent = "demo-host"
disk."/" = {{ warn = "90%", crit = "98%" }}
inodes."/" = {{ warn = "90%", crit = "98%" }}
load = {{ warn = 4, crit = 8 }}
memory = {{ warn = "90%", crit = "97%" }}
reboot_window = "1m"

# The shop's order worker (keepup demo-worker), a process of its own on this
# machine, counted by the agent (its process watch {process}). The fault
# timeline kills it; it stays dead until something starts it again.
[[site.check]]
id = "worker"
name = "Order worker process"
kind = "host"
agent = "demo-host"
processes.{process} = {{ min = 1 }}
reboot_window = "1m"

# Remediation: when server/worker is confirmed DOWN, the demo agent runs its
# action {action} (on a real server: keepup agent --action
# {action}='systemctl restart shop-worker'); nobody is paged unless the
# worker is still down {grace} after the run. The incident's page shows the
# run, its output and the recovery.
[[action]]
name = "{action}"
agent = "demo-host"
on = {{ checks = ["server/worker"], status = ["down"] }}
page = "after"
grace = "{grace}"
timeout = "30s"
cooldown = "1m"   # less than the fault timeline's round, so every crash is repaired
"#,
        file = keepup_config::toml_string(&file.display().to_string()),
        process = WORKER_PROCESS,
        action = WORKER_ACTION,
        grace = "30s",
    ))
}

/// The in-process agent of the demo: the same collector, backlog, push
/// and action runner as `keepup agent`, to the demo daemon's listener. It
/// counts the shop's order worker (a process watch by its command line)
/// and has one action, restarting it (as `keepup agent --action
/// restart-worker='keepup demo-worker start ...'` would).
fn start_demo_agent(
    dir: &std::path::Path,
    exe: &std::path::Path,
    listen: SocketAddr,
    token: keepup_config::Secret,
) -> anyhow::Result<()> {
    use keepup_agent::actions::{Action, Runner};
    use keepup_agent::{Collector, ProcessWatch, Settings, backlog::Backlog, push::Pusher};
    let state = dir.join("agent");
    let backlog = Backlog::open(&state, 1000)?;
    let (program, args) = keepup_demo::worker::start_command(exe, dir, std::process::id())
        .map_err(anyhow::Error::msg)?;
    let restart = Action {
        name: WORKER_ACTION.into(),
        program,
        args,
    };
    let runner = Runner::open(
        vec![restart],
        Duration::from_secs(30),
        &state,
        std::sync::Arc::new(SystemClock),
    )
    .map_err(anyhow::Error::msg)?;
    let worker = regex::Regex::new(&regex::escape(&keepup_demo::worker::run_command_line(dir)))?;
    let pusher = Pusher::new(
        keepup_notify::HttpClientContext::new(),
        format!("http://{listen}/agent/report"),
        token,
        Duration::from_secs(5),
    );
    let collector = Collector::new(Settings {
        name: "demo-host".into(),
        interval: Duration::from_secs(5),
        watches: vec![ProcessWatch {
            name: WORKER_PROCESS.into(),
            cmdline: Some(worker),
            user: None,
        }],
        ..Settings::default()
    });
    tokio::spawn(keepup_agent::push::run(
        collector,
        backlog,
        pusher,
        Some(runner),
        &SystemClock,
        std::future::pending(),
    ));
    Ok(())
}

fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(keepup_model::text::hex(&bytes))
}

/// Removes the demo's temporary directory at the end.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo's backup plan: the shop's media files and a generated catalogue
/// export (a command's output, as a database dump would be) to two
/// repositories in the demo directory, one standing in for the off-site
/// copy (in production: `sftp:` or `rest:`). Backed up every minute,
/// verified and restore-tested every two.
fn demo_backup(dir: &std::path::Path) -> anyhow::Result<String> {
    let media = dir.join("shop-media");
    std::fs::create_dir_all(&media)?;
    for i in 0..20 {
        let body: String = (0..200)
            .map(|l| format!("product {i} image line {l}\n"))
            .collect();
        std::fs::write(media.join(format!("product-{i}.txt")), body)?;
    }
    for t in ["backup-local", "backup-offsite"] {
        std::fs::create_dir_all(dir.join(t))?;
    }
    let password = dir.join("backup.pass");
    if !password.exists() {
        std::fs::write(&password, format!("{}\n", random_token()?))?;
        std::fs::set_permissions(
            &password,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )?;
    }
    Ok(format!(
        r#"
# Backups of the demo shop (try: keepup backup list -c {dir}/keepup.toml)
[[backup]]
id = "shop"
site = "shop"
schedule = "* * * * *"
rpo = "5m"
password_file = "{dir}/backup.pass"
[[backup.source]]
kind = "paths"
paths = ["{dir}/shop-media"]
[[backup.source]]
kind = "command"
command = ["sh", "-c", "for i in $(seq 1 500); do echo \"$i;product $i;$((i * 3)).99\"; done"]
filename = "catalogue.csv"
[[backup.target]]
id = "local"
repository = "{dir}/backup-local"
[[backup.target]]
id = "offsite"
repository = "{dir}/backup-offsite"   # in production: sftp:user@host:/path or rest:https://...
offsite = true
[backup.retention]
keep_last = 5
[backup.verify]
schedule = "*/2 * * * *"
read_data_subset = "20%"
[backup.restore_test]
schedule = "1-59/2 * * * *"
sample_files = 5
"#,
        dir = dir.display()
    ))
}

/// Creates the demo's repositories (kept from an earlier run with --dir).
async fn init_demo_repositories(config: &keepup_config::Config) -> anyhow::Result<()> {
    let plans = config.backups.clone();
    tokio::task::spawn_blocking(move || {
        for plan in &plans {
            for t in &plan.targets {
                if keepup_backup::list(plan, &t.id).is_err() {
                    keepup_backup::init(plan, &t.id).map_err(|e| {
                        anyhow::anyhow!("cannot create the demo repository {}: {e}", t.id)
                    })?;
                }
            }
        }
        Ok(())
    })
    .await?
}
