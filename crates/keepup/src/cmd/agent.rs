//! `keepup agent`: wiring of the agent crate. Push mode (the default)
//! collects, queues on disk and POSTs to the central keepup; pull mode
//! (`--listen`) serves the latest report for the central to fetch;
//! `--once` prints one report; `--print-config` prints the central's
//! configuration for this host. In both modes the `--action`s run when
//! the central asks for them (push: through `/agent/actions`; pull: on
//! the listener's `/action`), remembered in the state directory. One small single-threaded runtime: the
//! agent's footprint is part of the host it measures.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use keepup_agent::backlog::Backlog;
use keepup_agent::plugins::Plugin;
use keepup_agent::push::Pusher;
use keepup_agent::{Collector, ProcessWatch, Settings};
use keepup_model::host::HostReport;
use keepup_model::{Clock, SystemClock};

use crate::cli::AgentArgs;

/// How long a push may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if args.once || args.print_config {
        let mut collector = Collector::new(settings);
        let report = rt.block_on(async {
            // Rates need two samples a moment apart.
            collector.collect(0, SystemClock.now_ms()).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            collector.collect(0, SystemClock.now_ms()).await
        });
        if args.print_config {
            print!("{}", host_config(&report));
        } else if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", table(&report));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let token = read_token(args.token_file.as_deref())?;
    let actions = keepup_agent::actions::from_args(&args.action).map_err(anyhow::Error::msg)?;
    // Pull mode: whoever may read reports must not trigger actions.
    let action_token = match (&args.action_token_file, args.listen, actions.is_empty()) {
        (Some(file), Some(_), _) => {
            let t = read_secret_file(
                file,
                "action token",
                "the token lets anyone trigger this agent's actions",
            )?;
            if t.expose() == token.expose() {
                bail!(
                    "the action token in {} is the report token of --token-file; give another (reading reports must not allow running actions)",
                    file.display()
                );
            }
            Some(t)
        }
        (Some(_), None, _) => bail!(
            "--action-token-file is for pull mode (--listen); a pushing agent takes its requests from the central's answers"
        ),
        (None, Some(_), false) => bail!(
            "--action in pull mode needs --action-token-file FILE (the central's [[agent]] action_token_file or action_token_env holds the same), apart from --token-file: reading reports must not allow running actions"
        ),
        (None, _, _) => None,
    };
    let limits = keepup_agent::actions::Limits {
        max_timeout: args.action_timeout.max(Duration::from_secs(1)),
        min_interval: args.action_min_interval,
    };
    let runner = keepup_agent::actions::Runner::open_with(
        actions,
        limits,
        &args.state_dir,
        Arc::new(SystemClock),
    )
    .map_err(anyhow::Error::msg)?;
    if let Some(listen) = args.listen {
        return rt.block_on(serve_pull(
            settings,
            listen,
            &args,
            token,
            action_token,
            runner,
        ));
    }
    let Some(central) = &args.central else {
        bail!(
            "give --central URL (push mode), --listen ADDR (pull mode), --once or --print-config"
        );
    };
    let url = format!("{}/agent/report", central.trim_end_matches('/'));
    let mut http = keepup_notify::HttpClientContext::builder();
    if let Some(ca) = &args.ca_file {
        http = http
            .ca_file(ca)
            .with_context(|| format!("cannot read the CA file {}", ca.display()))?;
    }
    let backlog = Backlog::open(&args.state_dir, args.backlog)
        .with_context(|| format!("cannot open the backlog in {}", args.state_dir.display()))?;
    let pusher = Pusher::new(http.build(), url, token, PUSH_TIMEOUT);
    tracing::info!(agent = %settings.name, interval = ?settings.interval, "keepup agent pushing reports");
    rt.block_on(keepup_agent::push::run(
        Collector::new(settings),
        backlog,
        pusher,
        Some(runner),
        &SystemClock,
        shutdown(),
    ));
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn settings(args: &AgentArgs) -> anyhow::Result<Settings> {
    let name = match &args.name {
        Some(n) => n.clone(),
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().split('.').next().unwrap_or_default().to_owned())
            .unwrap_or_default(),
    };
    let mut watches = Vec::new();
    for p in &args.process {
        watches.push(process_watch(p)?);
    }
    let mut plugins: Vec<Plugin> = Vec::new();
    for p in &args.plugin {
        let plugin = Plugin::parse(p).map_err(anyhow::Error::msg)?;
        if plugins.iter().any(|q| q.name == plugin.name) {
            bail!("--plugin {:?} is given twice", plugin.name);
        }
        plugins.push(plugin);
    }
    if plugins.len() > keepup_agent::plugins::MAX_PLUGINS {
        bail!(
            "{} --plugin options; at most {} (each adds its output to every report)",
            plugins.len(),
            keepup_agent::plugins::MAX_PLUGINS
        );
    }
    let access_logs =
        keepup_agent::access_log::from_args(&args.access_log, &args.access_log_transactions)
            .map_err(anyhow::Error::msg)?;
    Ok(Settings {
        access_logs,
        name,
        interval: args.interval.max(Duration::from_secs(1)),
        ntp_servers: args.ntp.clone(),
        watches,
        plugins,
        plugin_timeout: args.plugin_timeout.max(Duration::from_secs(1)),
        ceph_conf: args.ceph_conf.clone(),
        gluster_socket: args.gluster_socket.clone(),
        ..Settings::default()
    })
}

/// `NAME=REGEX`, `NAME@USER` or `NAME@USER=REGEX`.
fn process_watch(text: &str) -> anyhow::Result<ProcessWatch> {
    let (left, pattern) = match text.split_once('=') {
        Some((l, p)) => (l, Some(p)),
        None => (text, None),
    };
    let (name, user) = match left.split_once('@') {
        Some((n, u)) => (n, Some(u.to_owned())),
        None => (left, None),
    };
    if name.is_empty() || (pattern.is_none() && user.is_none()) {
        bail!("--process {text:?}: write NAME=REGEX, NAME@USER or NAME@USER=REGEX");
    }
    let cmdline = pattern
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .with_context(|| format!("--process {text:?}: invalid regex"))
        })
        .transpose()?;
    Ok(ProcessWatch {
        name: name.to_owned(),
        cmdline,
        user,
    })
}

/// The token from its file (see [`read_secret_file`]).
fn read_token(file: Option<&Path>) -> anyhow::Result<keepup_config::Secret> {
    let Some(file) = file else {
        bail!(
            "give --token-file FILE (the same token as the central's [[agent]] token_file or token_env)"
        );
    };
    read_secret_file(file, "token", "the token lets anyone report for this host")
}

/// A secret (`what`) from its file: trimmed, at least 16 characters; a
/// file others can read is refused (`why` it matters).
fn read_secret_file(file: &Path, what: &str, why: &str) -> anyhow::Result<keepup_config::Secret> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} can be read by other users; chmod 600 it ({why})",
            file.display()
        );
    }
    let token = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .trim()
        .to_owned();
    if token.len() < 16 {
        bail!(
            "the {what} in {} is shorter than 16 characters",
            file.display()
        );
    }
    Ok(keepup_config::Secret::from_file(file.to_owned(), token))
}

/// Pull mode: collect on the interval and serve the latest report at
/// /report on the same hardened listener the central keepup uses.
async fn serve_pull(
    settings: Settings,
    listen: std::net::SocketAddr,
    args: &AgentArgs,
    token: keepup_config::Secret,
    action_token: Option<keepup_config::Secret>,
    runner: Arc<keepup_agent::actions::Runner>,
) -> anyhow::Result<ExitCode> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(
            keepup_web::tls::ListenerTls::load(&keepup_config::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })
            .context("cannot load the pull listener's certificate")?,
        )),
        (None, None) => {
            if !listen.ip().is_loopback() {
                bail!(
                    "a pull listener on {listen} needs --tls-cert and --tls-key (plain HTTP only on loopback)"
                );
            }
            None
        }
        _ => bail!("give both --tls-cert and --tls-key"),
    };
    let mut backlog = Backlog::open(&args.state_dir, 1)
        .with_context(|| format!("cannot open {}", args.state_dir.display()))?;
    let latest = keepup_web::agent::LatestReport::default();
    let listener =
        keepup_web::bind(listen).with_context(|| format!("cannot listen on {listen}"))?;
    let agent = settings.name.clone();
    let actions: keepup_web::agent::ActionHandler =
        Arc::new(move |asked| keepup_model::host::ActionOutcomes {
            version: keepup_model::host::AGENT_ACTION_VERSION,
            agent: agent.clone(),
            outcomes: runner.take_exchange(asked),
        });
    let router = keepup_web::agent::pull_router(latest.clone(), token, action_token, actions);
    let limits = keepup_config::ListenerLimits::default();
    tokio::spawn(async move {
        keepup_web::serve_with(listener, router, &limits, tls, std::future::pending()).await
    });
    tracing::info!(agent = %settings.name, %listen, "keepup agent serving reports");
    let mut collector = Collector::new(settings);
    let mut tick = tokio::time::interval(collector.settings().interval);
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(ExitCode::SUCCESS),
            _ = tick.tick() => {}
        }
        let now = SystemClock.now_ms();
        let seq = backlog.next_seq(now)?;
        let report = collector.collect(seq, now).await;
        let body = serde_json::to_vec(&report)?;
        if let Ok(mut l) = latest.write() {
            *l = Some(body.into());
        }
    }
}

/// A report for people.
fn table(r: &HostReport) -> String {
    use std::fmt::Write as _;
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} (agent {}), up {}, {} cores, boot {}",
        r.hostname,
        r.agent,
        humantime::format_duration(Duration::from_secs(r.uptime_s as u64)),
        r.cores,
        r.boot_id
    );
    if let Some(l) = r.load {
        let _ = writeln!(
            out,
            "load      {:.2} {:.2} {:.2}  ({:.2} per core over 5 min)",
            l[0],
            l[1],
            l[2],
            l[1] / f64::from(r.cores.max(1))
        );
    }
    if let Some(c) = r.cpu {
        let _ = writeln!(
            out,
            "cpu       user {:.1}%  system {:.1}%  iowait {:.1}%  steal {:.1}%",
            c.user, c.system, c.iowait, c.steal
        );
    }
    if let Some(m) = r.memory {
        let _ = writeln!(
            out,
            "memory    {:.1} GiB available of {:.1} GiB; swap {:.1} of {:.1} GiB used",
            gib(m.available),
            gib(m.total),
            gib(m.swap_used),
            gib(m.swap_total)
        );
    }
    if let Some(f) = r.files {
        let _ = writeln!(out, "files     {} open of {}", f.open, f.max);
    }
    let _ = writeln!(
        out,
        "clock     {}{}",
        match r.clock.synchronised {
            Some(true) => "synchronised",
            Some(false) => "NOT synchronised",
            None => "synchronisation unknown",
        },
        r.clock
            .offsets
            .iter()
            .map(|o| match o.offset_s {
                Some(s) => format!("; {} {:+.3} s", o.server, s),
                None => format!(
                    "; {} {}",
                    o.server,
                    o.error.as_deref().unwrap_or("no answer")
                ),
            })
            .collect::<String>()
    );
    let _ = writeln!(
        out,
        "\nMOUNT                          TYPE      SIZE       USED   INODES USED"
    );
    for m in &r.mounts {
        let _ = writeln!(
            out,
            "{:<30} {:<9} {:>7.1} GiB {:>5.1}% {:>8}{}",
            m.path,
            m.fstype,
            gib(m.size),
            m.used_percent().unwrap_or(0.0),
            m.inodes_used_percent()
                .map(|p| format!("{p:.1}%"))
                .unwrap_or_else(|| "-".into()),
            if m.read_only { "  read-only" } else { "" }
        );
    }
    let _ = writeln!(
        out,
        "\ninterfaces  {}",
        r.interfaces
            .iter()
            .map(|i| format!("{} {}", i.name, if i.up { "up" } else { "DOWN" }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "routes      default IPv4 {}, IPv6 {}",
        yes(r.routes.ipv4),
        yes(r.routes.ipv6)
    );
    let _ = writeln!(
        out,
        "listening   {}",
        r.listening
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let failed: Vec<&str> = r
        .units
        .iter()
        .filter(|(_, s)| *s == "failed")
        .map(|(u, _)| u.as_str())
        .collect();
    if !r.units.is_empty() {
        let _ = writeln!(
            out,
            "units       {} loaded, failed: {}",
            r.units.len(),
            if failed.is_empty() {
                "none".into()
            } else {
                failed.join(", ")
            }
        );
    }
    for d in &r.smart {
        let _ = writeln!(
            out,
            "smart       {} {}{}",
            d.device,
            match d.passed {
                Some(true) => "PASSED".to_owned(),
                Some(false) => "FAILED".to_owned(),
                None => d.error.clone().unwrap_or_else(|| "unknown".into()),
            },
            d.percentage_used
                .map(|p| format!(", {p}% used"))
                .unwrap_or_default()
        );
    }
    for rep in &r.replication {
        let _ = writeln!(
            out,
            "replication {} {}: {}",
            rep.system, rep.name, rep.state
        );
    }
    for p in &r.problems {
        let _ = writeln!(out, "not read    {p}");
    }
    out
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Services recognised by their well-known ports, for --print-config:
/// (port, what, the process that serves it).
const SERVICES: &[(u16, &str, &str)] = &[
    (22, "ssh", "sshd"),
    (25, "smtp", "master"),
    (80, "http", ""),
    (443, "https", ""),
    (3306, "mysql/mariadb", "mariadbd"),
    (5432, "postgres", "postgres"),
    (6379, "redis", "redis-server"),
    (9200, "elasticsearch", ""),
];

/// The central's configuration for this host: `[[agent]]` and a `host`
/// check with the mounts, services and processes found, and, for
/// databases listening, a hint at their own check kinds.
fn host_config(r: &HostReport) -> String {
    use std::fmt::Write as _;
    let name = keepup_config::toml_string(&r.agent);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# keepup agent --print-config on {} ({})",
        r.hostname,
        keepup_model::format_rfc3339(r.at)
    );
    let _ = writeln!(
        out,
        "[[agent]]\nname = {name}\ntoken_file = \"secrets/{}-agent\"   # the same token as the agent's --token-file\ninterval = \"{}s\"\n",
        r.agent, r.interval_s
    );
    let _ = writeln!(
        out,
        "[[site]]\nid = \"servers\"   # or move the check below into an existing [[site]]\n"
    );
    let _ = writeln!(
        out,
        "[[site.check]]\nid = {}\nkind = \"host\"\nagent = {name}",
        keepup_config::toml_string(&format!("{}-host", r.agent))
    );
    for m in r.mounts.iter().filter(|m| {
        !matches!(
            m.fstype.as_str(),
            "tmpfs" | "overlay" | "squashfs" | "iso9660"
        )
    }) {
        let path = keepup_config::toml_string(&m.path);
        let _ = writeln!(out, "disk.{path} = {{ warn = \"80%\", crit = \"90%\" }}");
        if m.inodes > 0 {
            let _ = writeln!(out, "inodes.{path} = {{ warn = \"80%\", crit = \"90%\" }}");
        }
    }
    let _ = writeln!(
        out,
        "load = {{ warn = 2, crit = 4 }}\nmemory = {{ warn = \"90%\", crit = \"97%\" }}"
    );
    if r.memory.is_some_and(|m| m.swap_total > 0) {
        let _ = writeln!(out, "swap = {{ warn = \"50%\", crit = \"90%\" }}");
    }
    if !r.clock.offsets.is_empty() {
        let _ = writeln!(out, "clock_offset = {{ warn = \"500ms\", crit = \"2s\" }}");
    }
    let found: Vec<&(u16, &str, &str)> = SERVICES
        .iter()
        .filter(|(port, _, _)| r.listening.contains(port))
        .collect();
    if !found.is_empty() {
        let ports: Vec<String> = found.iter().map(|(p, _, _)| p.to_string()).collect();
        let names: Vec<&str> = found.iter().map(|(_, what, _)| *what).collect();
        let _ = writeln!(
            out,
            "ports = [{}]   # {}",
            ports.join(", "),
            names.join(", ")
        );
    }
    for (_, _, process) in &found {
        if !process.is_empty() && r.processes.contains_key(*process) {
            let _ = writeln!(
                out,
                "processes.{} = {{ min = 1 }}",
                keepup_config::toml_string(process)
            );
        }
    }
    for web in ["nginx", "apache2", "httpd", "php-fpm8.2", "varnishd"] {
        if r.processes.contains_key(web) {
            let _ = writeln!(
                out,
                "processes.{} = {{ min = 1 }}",
                keepup_config::toml_string(web)
            );
        }
    }
    let active: Vec<String> = r
        .units
        .iter()
        .filter(|(u, s)| {
            *s == "active"
                && u.ends_with(".service")
                && [
                    "nginx",
                    "apache2",
                    "postgresql",
                    "mariadb",
                    "mysql",
                    "redis",
                    "ssh",
                    "php",
                ]
                .iter()
                .any(|k| u.starts_with(k))
        })
        .map(|(u, _)| keepup_config::toml_string(u))
        .collect();
    if !active.is_empty() {
        let _ = writeln!(out, "units = [{}]", active.join(", "));
    }
    if r.interfaces.iter().any(|i| i.up) {
        let up: Vec<String> = r
            .interfaces
            .iter()
            .filter(|i| i.up)
            .map(|i| keepup_config::toml_string(&i.name))
            .collect();
        let _ = writeln!(out, "interfaces = [{}]", up.join(", "));
    }
    if r.routes.ipv4 || r.routes.ipv6 {
        let _ = writeln!(out, "default_route = true");
    }
    if r.smart.iter().any(|d| d.passed.is_some()) {
        let _ = writeln!(out, "smart = true");
    }
    if !r.replication.is_empty() {
        let _ = writeln!(out, "replication = true");
    }
    for (port, what, _) in &found {
        if matches!(*port, 3306 | 5432 | 6379 | 9200) {
            let _ = writeln!(
                out,
                "# {what} listens on {port}: watch it from keepup with its own check kind (replication, connections, lag)"
            );
        }
    }
    // The agent's plugins, each its own check, judged as a local one.
    for plugin in r.plugins.keys() {
        let _ = writeln!(
            out,
            "\n[[site.check]]\nid = {}\nkind = \"nagios\"\nagent = {name}\nplugin = {}",
            keepup_config::toml_string(&format!("{}-{plugin}", r.agent)),
            keepup_config::toml_string(plugin)
        );
    }
    out
}
