//! The command line, declared with clap.

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// keepup keeps online shops up 24×7 and proves it.
#[derive(Debug, Parser)]
#[command(name = "keepup", version, about, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// More log output (-v debug, -vv trace). KEEPUP_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Debug, Clone, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The configuration file option shared by most commands.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// Configuration file.
    #[arg(
        short,
        long = "config",
        env = "KEEPUP_CONFIG",
        default_value = "keepup.toml"
    )]
    pub config: PathBuf,
}

/// Where the configuration file's path came from, for the advice given
/// when there is no file there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// `-c` / `--config` on the command line.
    Flag,
    /// The `KEEPUP_CONFIG` environment variable.
    Env,
    /// Neither: `keepup.toml` in the current directory.
    Default,
}

static CONFIG_SOURCE: OnceLock<ConfigSource> = OnceLock::new();

/// Records where the chosen subcommand's configuration path came from.
/// Only clap knows (command line, `KEEPUP_CONFIG` or the default), and the
/// path reaches the commands as a plain `&Path`; a process-wide value saves
/// threading it through every command for the one message that needs it.
pub fn remember_config_source(matches: &ArgMatches) {
    let mut m = matches;
    while let Some((_, sub)) = m.subcommand() {
        m = sub;
    }
    if !m.ids().any(|id| id == "config") {
        return;
    }
    let source = match m.value_source("config") {
        Some(ValueSource::CommandLine) => ConfigSource::Flag,
        Some(ValueSource::EnvVariable) => ConfigSource::Env,
        _ => ConfigSource::Default,
    };
    // Set once, from `main`; a second call would carry the same answer.
    let _ = CONFIG_SOURCE.set(source);
}

/// Where the configuration path came from (the default if not recorded).
pub fn config_source() -> ConfigSource {
    CONFIG_SOURCE
        .get()
        .copied()
        .unwrap_or(ConfigSource::Default)
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the monitoring daemon: scheduler, store and HTTP listener.
    Run {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run one check once, Nagios plugin style (exit 0 OK, 1 WARNING,
    /// 2 CRITICAL, 3 UNKNOWN).
    ///
    /// TARGET is a URL (http://, https://), tcp://HOST:PORT,
    /// tls://HOST[:PORT], ping://HOST, ssh://HOST[:PORT] (banner and host
    /// key), a mail or FTP server: smtp[s]://, imap[s]://, pop3[s]://,
    /// ftp[s]://HOST[:PORT], or a database or cache:
    /// postgres[ql]://[USER@]HOST[:PORT][/DATABASE], mysql://[USER@]HOST[:PORT],
    /// redis[s]://[USER@]HOST[:PORT], whose password comes from PGPASSWORD,
    /// MYSQL_PWD or REDISCLI_AUTH (never the URL); or use --check with a
    /// check id from the configuration.
    Check {
        /// What to check.
        #[arg(required_unless_present = "check_id", conflicts_with = "check_id")]
        target: Option<String>,
        /// A check id from the configuration (`site/check`, or `check` if unique).
        #[arg(long = "check")]
        check_id: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        /// Time limit for TARGET checks.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        timeout: Duration,
        /// Print the full outcome as JSON instead of the Nagios line.
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration; print every problem; exit 1 if any.
    Validate {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the catalogue of finding codes: code, default severity and
    /// meaning, so that alerts can be routed by code; with a CODE, that
    /// code's meaning and its runbook note (what it means, usual causes,
    /// first commands to run).
    Codes {
        /// One code to explain, e.g. TLS_CERT_EXPIRING.
        code: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print Markdown tables, as in the README.
        #[arg(long, conflicts_with = "code")]
        markdown: bool,
    },
    /// Show the current state of every check, from the store.
    Status {
        #[command(flatten)]
        config: ConfigArg,
        /// Print JSON instead of a table.
        #[arg(long, conflicts_with = "watch")]
        json: bool,
        /// Keep showing it: on a terminal one screen redrawn in place
        /// (checks by site, open incidents, last notifications); otherwise
        /// a plain report appended every interval. Reads the store
        /// read-only, beside a running daemon. `q` or Ctrl-C stops.
        #[arg(long)]
        watch: bool,
        /// Time between redraws with --watch.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "2s", requires = "watch")]
        interval: Duration,
    },
    /// List incidents (open ones first), from the store.
    Incidents {
        #[command(flatten)]
        config: ConfigArg,
        /// Only open incidents.
        #[arg(long)]
        open: bool,
        /// How many of the most recent incidents.
        #[arg(long, default_value = "50")]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only incidents whose resolution note or message contains this
        /// text (case-insensitive), newest first.
        #[arg(long)]
        search: Option<String>,
    },
    /// Resolve an open incident by hand with a note saying what fixed it
    /// (shown the next time the same check or finding fails). A running
    /// daemon is told at once; a check still failing opens a new incident.
    Resolve {
        /// The incident number (see `keepup incidents`).
        incident: i64,
        #[command(flatten)]
        config: ConfigArg,
        /// What fixed it, e.g. "restarted php-fpm, pool exhausted by a
        /// bot" (required, at most 2000 characters).
        #[arg(long)]
        note: String,
        /// Who resolves (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Acknowledge an open incident (stops escalation and reminders).
    Ack {
        /// The incident number (see `keepup incidents`).
        incident: i64,
        #[command(flatten)]
        config: ConfigArg,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// One incident: post a public update (shown on the status pages).
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// SLA figures of the configured contracts: availability, downtime,
    /// unknown and maintenance time, incidents, MTTD/MTTA/MTTR, repair-time
    /// breaches, error budget and credit, from the store (also while the
    /// daemon runs).
    Sla {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contract (its id).
        #[arg(long)]
        contract: Option<String>,
        /// Only the contracts of this site.
        #[arg(long)]
        site: Option<String>,
        /// The period containing this month, e.g. 2026-10 (default: the
        /// period running now).
        #[arg(long, conflicts_with_all = ["from", "to"])]
        month: Option<String>,
        /// Start of a range instead of a period: a date (local midnight in
        /// the contract's zone) or an RFC 3339 time.
        #[arg(long, requires = "to")]
        from: Option<keepup_sla::Bound>,
        /// End of the range (exclusive), as --from.
        #[arg(long, requires = "from")]
        to: Option<keepup_sla::Bound>,
        /// Print JSON (every interval included) instead of a table.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print CSV, one row per contract.
        #[arg(long)]
        csv: bool,
        /// After the table, list the intervals, incidents and credit steps
        /// behind every figure.
        #[arg(long)]
        explain: bool,
    },
    /// The monthly SLA report of each contract: a self-contained HTML page
    /// (charts inline, prints to A4), CSV and JSON with the same figures,
    /// written as <contract>-<period>.{html,csv,json} into --out.
    Report {
        #[command(flatten)]
        config: ConfigArg,
        /// Only this contract (its id).
        #[arg(long)]
        contract: Option<String>,
        /// The period containing this month, e.g. 2026-10 (default: the
        /// period running now).
        #[arg(long)]
        month: Option<String>,
        /// The directory to write into (created if missing).
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
        /// Write the report the daemon kept when the period closed, instead
        /// of building one from the store's data now.
        #[arg(long, conflicts_with = "list")]
        from_store: bool,
        /// List the reports the daemon kept (and mailed to `report_to`).
        #[arg(long)]
        list: bool,
    },
    /// Maintenance windows: alerts muted, checks keep running, incidents
    /// marked for SLA accounting.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// Disaster recovery: run a `[[recovery]]` plan's steps as a journaled,
    /// resumable runbook (production to standby and back).
    #[command(subcommand)]
    Dr(DrCommand),
    /// Backups: run a plan, list snapshots, check repositories, restore,
    /// apply retention. Plans are `[[backup]]` in the configuration; the
    /// repositories are restic's format.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Notifications in the outbox: what was sent, what is retrying, what failed.
    Notifications {
        #[command(flatten)]
        config: ConfigArg,
        /// How many of the most recent.
        #[arg(long, default_value = "50")]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Channels: send a test message.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Ask the running daemon to reload its configuration (SIGHUP).
    Reload {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Measure this host and report to the central keepup (push), or
    /// serve reports for it to fetch (pull, with --listen); --once prints
    /// one report, --print-config a ready `kind = "host"` block.
    Agent(Box<AgentArgs>),
    /// Start a bundled demo shop on loopback and monitor it, with faults
    /// injected now and then.
    Demo {
        /// Directory for the demo's configuration, certificates and SQLite
        /// store (default: a fresh temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Address of keepup's own listener (heartbeats, /healthz).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Stop after this long (default: run until Ctrl-C).
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        run_for: Option<Duration>,
        /// Lose production this long after the start (it stops answering
        /// until the recovery plan's return); without it, `touch
        /// DIR/production-lost` loses it.
        #[arg(long, value_parser = humantime::parse_duration)]
        lose_production_after: Option<Duration>,
        /// Inject no faults (for benchmarks of the shop and its recovery).
        #[arg(long)]
        no_faults: bool,
        /// Only this fault, all the time (tests of one fault): its name as
        /// `keepup_demo::Fault::name` gives it, e.g. worker-crash.
        #[arg(long, hide = true, conflicts_with = "no_faults", value_parser = parse_fault)]
        fault: Option<keepup_demo::Fault>,
        /// Seconds between redraws of the live screen on a terminal, or
        /// between status tables appended to stdout otherwise (0: no
        /// tables).
        #[arg(long, default_value = "5")]
        every: u64,
    },
    /// Benchmarks for the README's figures: probes, scheduling, a mass
    /// outage, alerting, DNS, mail, the listener under a flood, SLA reads
    /// (built with the `bench` feature).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Explore a shop's domain (DNS from the root, mail and web ports,
    /// policy pages) and write a commented starter configuration for it:
    /// registration, delegation, certificates, web, mail, blacklists,
    /// policy pages. The output always validates.
    Discover {
        /// The shop's registered domain, e.g. shop.example.
        domain: String,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite the output file if it exists.
        #[arg(long)]
        force: bool,
        /// Start the walk at these name servers (ip[:port]) instead of the
        /// root servers: for private or test hierarchies. Repeatable.
        #[arg(long = "root-hint", value_name = "IP[:PORT]", value_parser = parse_hint)]
        root_hints: Vec<SocketAddr>,
        /// Port of the name servers found on the way (with --root-hint).
        #[arg(long = "dns-port")]
        dns_port: Option<u16>,
        /// Only ask the DNS: connect to no mail or web port.
        #[arg(long)]
        dns_only: bool,
    },
    /// The dashboard's users (roles viewer, operator, admin), in the store.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens for /api/v1 (shown once at creation, stored hashed).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit log: logins, user and token changes, operator actions.
    Audit {
        #[command(flatten)]
        config: ConfigArg,
        /// How far back.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "7d")]
        since: Duration,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Runs of `[[action]]`s with their outcome; `run NAME` runs one by
    /// hand, `confirm RUN` answers one that waits for a confirmation.
    Actions {
        #[command(subcommand)]
        command: Option<ActionsCommand>,
        #[command(flatten)]
        config: ConfigArg,
        /// How far back.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "7d")]
        since: Duration,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// (internal) The demo shop's order worker, a process of its own:
    /// `start` starts it detached unless it runs (what `keepup demo` and
    /// its agent's action restart-worker run), `run` is the worker.
    #[command(hide = true)]
    DemoWorker {
        /// start or run.
        #[arg(value_enum)]
        mode: DemoWorkerMode,
        /// The demo's directory (the worker's pid file).
        #[arg(long)]
        dir: PathBuf,
        /// The demo's process: the worker ends when it is gone.
        #[arg(long)]
        demo_pid: u32,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page keepup(1) in roff; with --dir, write it and a
    /// page per subcommand (keepup-run(1), ...) there instead. The Debian
    /// package's pages come from here (packaging/deb.sh).
    #[command(hide = true)]
    Man {
        /// Directory to write every page into.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Post a public update of an incident: where it stands and what the
    /// shop's customers are told, on the status pages that show it.
    Update {
        /// The incident number (see `keepup incidents`).
        incident: i64,
        /// investigating, identified, monitoring or resolved.
        #[arg(long)]
        status: String,
        /// The text the public reads.
        #[arg(long)]
        text: String,
        /// Who posts it (default: $USER; not shown on the public page).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification through one channel, now.
    Test {
        /// The channel id.
        channel: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user. The password is asked on the terminal (not echoed), or
    /// read from --password-file, or from standard input when it is not a
    /// terminal; never given on the command line.
    Add {
        /// The login name.
        name: String,
        /// viewer (reads), operator (also acts on incidents, maintenance,
        /// public updates) or admin.
        #[arg(long)]
        role: String,
        /// Read the password from the first line of this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Set a user's password (lifts a lock; logs their sessions out).
    Passwd {
        /// The login name.
        name: String,
        /// Read the password from the first line of this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a user and their sessions.
    Remove {
        /// The login name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the users.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (once; only its SHA-256 is kept).
    Create {
        /// Its name (for listing, revoking and the audit log).
        #[arg(long)]
        name: String,
        /// read, or write (acts too; implies read).
        #[arg(long)]
        scope: String,
        /// Stop working after this long, e.g. 90d (default: never).
        #[arg(long, value_parser = humantime::parse_duration)]
        expires: Option<Duration>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List tokens: name, scope, created, last used, expiry (never the token).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Its name.
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrCommand {
    /// Print every step of a run and what it would do; changes nothing.
    Plan {
        /// The plan's id.
        plan: String,
        /// The return's steps instead of the activation's.
        #[arg(long = "return", conflicts_with = "drill")]
        back: bool,
        /// What a drill does: the activation against [recovery.drill],
        /// then its cleanup.
        #[arg(long)]
        drill: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Move the site from production to the standby: run the plan's
    /// activate steps.
    Activate {
        /// The plan's id.
        plan: String,
        /// Do not ask: every confirmation is answered yes (automation).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Move the site back to production: run the plan's return steps.
    Return {
        /// The plan's id.
        plan: String,
        /// Do not ask: every confirmation is answered yes (automation).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Rehearse the activation: run the plan's activate steps against its
    /// [recovery.drill] environment (never production or the standby),
    /// record the measured RTO and RPO, then clean up.
    Drill {
        /// The plan's id.
        plan: String,
        /// Do not ask before starting (automation, cron).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Continue a failed or interrupted run at its first unfinished step.
    Resume {
        /// The run's number (see `keepup dr status`).
        run: i64,
        /// Do not ask: every confirmation is answered yes (automation).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// The latest runs, or one run's steps with their times.
    Status {
        /// A run's number.
        run: Option<i64>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Give a failed or interrupted run up and release its plan's lock
    /// (finished steps are not undone).
    Abort {
        /// The run's number.
        run: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Write the Recovery Plan document (PLAN.html and PLAN.md) from the
    /// configuration and the journal: situations, people, backups, every
    /// step with the commands to run it by hand, verification, figures.
    Document {
        /// The plan's id (default: every plan).
        plan: Option<String>,
        /// The directory written to (default: each plan's `document_dir`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum ActionsCommand {
    /// Run a configured action now (recorded as manual; its cooldown,
    /// limits, maintenance and confirmation apply).
    Run {
        /// The action's `name` in the configuration.
        name: String,
        /// Only say what it would do.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Answer a run that waits for a confirmation: yes runs it now.
    Confirm {
        /// The run's number (see `keepup actions`).
        run: i64,
        /// Answer no: the run is skipped.
        #[arg(long)]
        no: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Start a window now.
    Start {
        /// What it covers: a check (`site/check`), a site, `tag:NAME`, or `*`
        /// for everything.
        #[arg(required_unless_present = "tag")]
        target: Option<String>,
        /// Cover every check carrying this tag, itself or through its site
        /// (instead of TARGET).
        #[arg(long, conflicts_with = "target")]
        tag: Option<String>,
        /// How long.
        #[arg(long = "for", value_parser = humantime::parse_duration)]
        duration: Duration,
        /// Why (shown in listings and reports).
        #[arg(long, default_value = "")]
        reason: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// End a window started with `start`.
    Stop {
        /// Its number (see `keepup maintenance list`).
        id: i64,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Configured and started windows, open now or upcoming.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Probe one target as fast as possible at a given concurrency.
    Probe {
        /// http://..., https://..., or tcp://HOST:PORT.
        target: String,
        /// Probes in flight at once.
        #[arg(long, default_value = "32")]
        concurrency: usize,
        /// How long to measure.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        duration: Duration,
        /// Extra trusted CA (PEM) for https targets.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Schedule N checks at an interval against a local target and report
    /// lag, CPU and memory.
    Scheduler {
        /// Number of checks.
        #[arg(long, default_value = "10000")]
        checks: usize,
        /// Interval of every check.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        interval: Duration,
        /// How long to measure (after one interval of warm-up).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "120s")]
        duration: Duration,
        /// Target URL (http:// or tcp://); default: a target server this
        /// command starts in a child process.
        #[arg(long)]
        target: Option<String>,
        /// `[scheduler] concurrency` (default: derived from the descriptor
        /// limit, as the daemon's).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// N checks change state at once: time from the change to the
    /// notifications written to the outbox, and how many messages.
    Alerting {
        /// Number of checks failing together.
        #[arg(long, default_value = "10000")]
        checks: usize,
        /// Checks per site (grouping is per site).
        #[arg(long, default_value = "100")]
        per_site: usize,
        /// Runs, each on a fresh store; the figures are their medians.
        #[arg(long, default_value = "5")]
        runs: usize,
    },
    /// The capacity forecasts' judge on many hosts' full windows (five
    /// measures each, 501 samples): fits per second on one thread, and how
    /// long an apply takes beside others with a lock per series and with
    /// one lock for all (medians of the rounds), and the peak memory.
    Forecast {
        /// Host checks, five forecast measures each.
        #[arg(long, default_value = "1000")]
        hosts: usize,
        /// Threads applying at once in the contention rounds.
        #[arg(long, default_value = "4")]
        threads: usize,
        /// Rounds per way, each one new sample (one fit) per series.
        #[arg(long, default_value = "5")]
        rounds: usize,
    },
    /// Full delegation walks (root → TLD → zone, every name server over UDP
    /// and TCP, glue, SOA, MX) one after another, against Knot DNS serving
    /// the test hierarchy on loopback (started by this command).
    Delegation {
        /// The zone to walk to.
        #[arg(long, default_value = "shop.test")]
        zone: String,
        /// Walks to time (after five warm-up walks).
        #[arg(long, default_value = "200")]
        runs: usize,
        /// Root hint `ip:port` of a hierarchy already running, instead of
        /// starting Knot.
        #[arg(long)]
        root: Option<SocketAddr>,
        /// With --root: the port of the name servers found on the way.
        #[arg(long, default_value = "53")]
        port: u16,
    },
    /// DNSBL lookups per second: DNSBL checks of N addresses on the default
    /// zone list, back to back, against Knot DNS serving the blacklist
    /// zones on loopback (started by this command).
    Dnsbl {
        /// Addresses per check (each looked up on every IPv4 list).
        #[arg(long, default_value = "100")]
        ips: usize,
        /// Lookups in flight per check.
        #[arg(long, default_value = "64")]
        concurrency: usize,
        /// How long to measure.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        duration: Duration,
        /// A resolver `ip:port` already serving the zones, instead of
        /// starting Knot.
        #[arg(long)]
        resolver: Option<SocketAddr>,
    },
    /// Mail checks against a private Postfix and Dovecot, side by side
    /// with monitoring-plugins' check_smtp -S, check_imap, check_simap,
    /// check_pop and check_spop on the same servers: time per check.
    Mail {
        /// Checks per side, per pair and per round.
        #[arg(long, default_value = "200")]
        runs: usize,
        /// Rounds (each runs every pair, keepup then the plugin).
        #[arg(long, default_value = "3")]
        rounds: usize,
        /// Where the monitoring plugins are.
        #[arg(long, default_value = "/usr/lib/nagios/plugins")]
        plugins: PathBuf,
    },
    /// keepup agent's CPU and memory beside Debian's
    /// prometheus-node-exporter on this machine, then the central keepup
    /// taking the reports of many simulated agents.
    Agent {
        /// Simulated agents pushing to the central.
        #[arg(long, default_value = "1000")]
        agents: usize,
        /// Each agent's interval (and node_exporter's scrape interval).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        interval: Duration,
        /// How long each phase is measured.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        duration: Duration,
    },
    /// The central keepup draining an agent's backlog: a day of
    /// AGENT_SILENT in its store, then a report per interval of that day
    /// pushed oldest first; time to the last answer (median of the runs).
    Backlog {
        /// Reports in the backlog (at most 8640: one day at 10 s).
        #[arg(long, default_value = "8640")]
        reports: usize,
        /// The agent's interval (and its host check's).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        interval: Duration,
        /// Runs, each on a fresh central and store.
        #[arg(long, default_value = "3")]
        runs: usize,
        /// The keepup binary the central runs (default: this one), to
        /// compare builds side by side.
        #[arg(long)]
        central: Option<PathBuf>,
    },
    /// kind = "postgres" checks against a private PostgreSQL primary with a
    /// streaming replica: checks per second, latency, CPU per check and
    /// peak memory, with sessions kept (the daemon's way) and with a fresh
    /// login per run.
    Postgres {
        /// Checks, each on a database of its own, run back to back.
        #[arg(long, default_value = "8")]
        databases: usize,
        /// How long to measure each way.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        duration: Duration,
    },
    /// One loopback address floods the listener with slowloris connections
    /// (a header line every 2 s) while clients on other addresses ping a
    /// heartbeat: their success rate and latency.
    Listener {
        /// Slow connections from 127.0.0.2.
        #[arg(long, default_value = "5000")]
        slow: usize,
        /// Pinging clients, one loopback address each (127.0.0.10 and up).
        #[arg(long, default_value = "10")]
        pingers: usize,
        /// How long the pingers ping (after the flood is up).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
        duration: Duration,
    },
    /// A mass outage: checks (interval 30 s, timeout 5 s) against a
    /// loopback target that accepts and never answers, beside healthy
    /// checks: the healthy checks' scheduling lag and peak memory.
    Outage {
        /// Checks in the outage.
        #[arg(long, default_value = "10000")]
        checks: usize,
        /// Healthy checks against a loopback server that answers at once.
        #[arg(long, default_value = "1000")]
        healthy: usize,
        /// Point the outage's checks at a target that never answers
        /// (without it they probe the healthy server: the baseline).
        #[arg(long)]
        stall: bool,
        /// How long to measure (after one interval of warm-up).
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        duration: Duration,
        /// `[scheduler] concurrency` (default: derived from the descriptor
        /// limit, as the daemon's).
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// The store side of SLA accounting: fills a store with a year of a
    /// contract's results and another with a month of many checks' results
    /// (through the daemon's write path), then times reading their status
    /// spans.
    Sla {
        /// Checks of the contract.
        #[arg(long, default_value = "3")]
        contract_checks: usize,
        /// Days of the contract's history.
        #[arg(long, default_value = "365")]
        contract_days: u32,
        /// Checks of the second store.
        #[arg(long, default_value = "1000")]
        checks: usize,
        /// Days of the second store's history.
        #[arg(long, default_value = "30")]
        days: u32,
        /// Interval of every check.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        interval: Duration,
        /// Reads timed per store (the median and the slowest are reported).
        #[arg(long, default_value = "5")]
        reads: usize,
        /// Keep the stores in this directory (DIR/keepup.db, the
        /// contract's; DIR/many/keepup.db), each with a keepup.toml
        /// defining a contract over its checks, to time `keepup sla` and
        /// `keepup report` on them.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// The web under load: fills a store with many checks' results ending
    /// now, runs `keepup run` on it and loads the status page, the API
    /// lists and the dashboard with wrk (needs `apt-get install wrk`):
    /// requests/s, latency percentiles and the daemon's peak RSS.
    Web {
        /// Checks in the store.
        #[arg(long, default_value = "1000")]
        checks: usize,
        /// Days of history.
        #[arg(long, default_value = "90")]
        days: u32,
        /// Interval of every check.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
        interval: Duration,
        /// wrk's concurrent connections.
        #[arg(long, default_value = "50")]
        connections: usize,
        /// wrk's threads.
        #[arg(long, default_value = "2")]
        threads: usize,
        /// How long each URL is loaded.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
        duration: Duration,
        /// Runs, each with a fresh daemon (medians are reported).
        #[arg(long, default_value = "3")]
        runs: usize,
        /// Keep the filled store in this directory, and reuse it when it
        /// is there already.
        #[arg(long)]
        keep: Option<PathBuf>,
        /// Load only this URL path (repeatable), e.g. `--only /`.
        #[arg(long)]
        only: Vec<String>,
    },
    /// HTTP scenarios (issue 16): the demo shop's five-step cart walk run
    /// by concurrent loops as the daemon runs a check, then bare `http`
    /// checks of its GET pages: walks/s, p50/p95, per-step overhead, peak
    /// RSS.
    Scenario {
        /// Loops running at once.
        #[arg(long, default_value = "32")]
        concurrency: usize,
        /// How long each phase runs.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
        duration: Duration,
        /// Also a four-step browser check, four at once (Debian's chromium).
        #[arg(long)]
        browser: bool,
        /// Also the same browser walk in Playwright, from the
        /// `node_modules` of this directory (`npm install playwright-core`).
        #[arg(long)]
        playwright: Option<PathBuf>,
    },
    /// (internal) Serve a minimal HTTP target for the scheduler benchmark.
    #[command(hide = true)]
    Target {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// (internal) Serve the outage benchmark's stalling and answering
    /// targets until stdin closes.
    #[command(hide = true)]
    OutageTargets,
}

/// What `keepup demo-worker` does.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DemoWorkerMode {
    /// Start the worker detached, unless it runs.
    Start,
    /// Be the worker.
    Run,
}

/// A demo fault by its name.
fn parse_fault(s: &str) -> Result<keepup_demo::Fault, String> {
    keepup_demo::Fault::named(s).ok_or_else(|| {
        let names: Vec<&str> = keepup_demo::Fault::ALL.iter().map(|f| f.name()).collect();
        format!("{s:?} is not a demo fault; one of {}", names.join(", "))
    })
}

/// `ip` or `ip:port` (port 53 when left out).
fn parse_hint(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("{s:?} is not an address (ip or ip:port)"))
}

/// How a backup command reports.
#[derive(Debug, Args, Clone)]
pub struct BackupOutput {
    /// Print the report as JSON on stdout (no progress bars).
    #[arg(long)]
    pub json: bool,
    /// No progress bars and no report on success; errors still go to stderr.
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
}

/// `keepup backup ...`
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up a plan now: one snapshot on each of its targets (or on one).
    Run {
        /// The plan id.
        plan: String,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// Create the repository of each target of a plan (or of one).
    Init {
        /// The plan id.
        plan: String,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// List the snapshots of every plan (or of one) on each target.
    List {
        /// The plan id (default: all plans).
        plan: Option<String>,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// Check the integrity of the repositories, reading a share of the data
    /// (`[backup.verify] read_data` by default).
    Check {
        /// The plan id (default: all plans).
        plan: Option<String>,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// How much pack data to read: "all", "none", "5%", "1/20".
        #[arg(long)]
        read_data: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// Restore-test the latest snapshots now, as the daemon does on
    /// `[backup.restore_test] schedule`: a random sample of files streamed
    /// out of each repository and compared with their recorded hashes and
    /// the unchanged source, and the plan's dump loaded into a scratch
    /// database when `[backup.restore_test.database]` is set.
    Test {
        /// The plan id (default: all plans).
        plan: Option<String>,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        /// Files to compare (default: `[backup.restore_test] sample_files`,
        /// else 20).
        #[arg(long)]
        sample: Option<u32>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// Restore a snapshot: the whole of it under a directory, or one file
    /// to stdout.
    Restore {
        /// The plan id.
        plan: String,
        /// The target to restore from (default: the first that answers).
        #[arg(long)]
        target: Option<String>,
        /// Snapshot id (or unique prefix), or "latest".
        #[arg(long, default_value = "latest")]
        snapshot: String,
        /// Restore the whole snapshot under this directory.
        #[arg(long, conflicts_with_all = ["file", "into_db"], required_unless_present_any = ["file", "into_db"])]
        to: Option<PathBuf>,
        /// One file of the snapshot (e.g. /shop-db/shop.sql): to stdout, or
        /// with --into-db the dump to load.
        #[arg(long)]
        file: Option<String>,
        /// Load the plan's database dump into this database
        /// (postgres://user@host:port/db or mysql://user@host:port/db; the
        /// password from PGPASSWORD/MYSQL_PWD, never on the command line).
        #[arg(long)]
        into_db: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
    /// Apply the retention rules: forget old snapshots and prune their data.
    Forget {
        /// The plan id (default: all plans with retention rules).
        plan: Option<String>,
        /// Only this target.
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        output: BackupOutput,
    },
}

/// `keepup agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The agent's name, as the central `[[agent]] name` (default: the
    /// host name).
    #[arg(long)]
    pub name: Option<String>,
    /// The central keepup's listener, e.g. https://keepup.example:8585
    /// (reports go to its /agent/report).
    #[arg(long, value_name = "URL")]
    pub central: Option<String>,
    /// File holding the agent's token (the central's `token_file` or
    /// `token_env` holds the same).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Time between reports.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub interval: Duration,
    /// NTP server to measure the clock's offset against (SNTP); repeatable.
    #[arg(long = "ntp", value_name = "HOST[:PORT]")]
    pub ntp: Vec<String>,
    /// The Ceph configuration `ceph health` reads (default: ceph's own,
    /// /etc/ceph/ceph.conf).
    #[arg(long, value_name = "FILE")]
    pub ceph_conf: Option<PathBuf>,
    /// glusterd's CLI socket `gluster` talks to (default: gluster's own,
    /// /var/run/glusterd.socket).
    #[arg(long, value_name = "FILE")]
    pub gluster_socket: Option<PathBuf>,
    /// Count processes under NAME: `NAME=REGEX` by command line,
    /// `NAME@USER` by user, `NAME@USER=REGEX` both; repeatable.
    #[arg(long = "process", value_name = "NAME[@USER][=REGEX]")]
    pub process: Vec<String>,
    /// Run a Nagios plugin at each report, judged by the central's
    /// `kind = "nagios"` check with `agent` and `plugin = "NAME"`: the
    /// command split at spaces, no shell; a bare name is looked up in
    /// /usr/lib/nagios/plugins first. Repeatable (at most 16).
    #[arg(long = "plugin", value_name = "NAME=COMMAND")]
    pub plugin: Vec<String>,
    /// Count the lines an access log gains between reports, for the
    /// central's `[site.capacity]` with `source = { agent, access_log =
    /// "NAME" }`; followed across rotation. Repeatable (at most 16).
    #[arg(long = "access-log", value_name = "NAME=PATH")]
    pub access_log: Vec<String>,
    /// Lines of access log NAME matching REGEX are transactions (e.g.
    /// `shop=POST /checkout/complete`).
    #[arg(long = "access-log-transactions", value_name = "NAME=REGEX")]
    pub access_log_transactions: Vec<String>,
    /// How long a plugin may run before its process group is killed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub plugin_timeout: Duration,
    /// An action the central keepup may ask this agent to run by NAME
    /// (its `[[action]]` with `agent`): the command split at spaces, no
    /// shell, run with an empty environment. Only these run; any other
    /// name asked for is refused. Repeatable (at most 32).
    #[arg(long = "action", value_name = "NAME=COMMAND")]
    pub action: Vec<String>,
    /// The longest an action may run (a request may ask for less) before
    /// its process group is killed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub action_timeout: Duration,
    /// Runs of one action start at least this far apart, whatever the
    /// central asks: a request sooner is refused ("ran 12 s ago; this
    /// agent allows one run per 60 s"). At most 24h; 0 for none.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub action_min_interval: Duration,
    /// Pull mode with --action: file holding the token the central must
    /// present to /action (its [[agent]] action_token_file or
    /// action_token_env holds the same), another than --token-file's so
    /// that reading reports does not allow running actions.
    #[arg(long, value_name = "FILE")]
    pub action_token_file: Option<PathBuf>,
    /// Where reports wait for the central (and the sequence number is kept).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/keepup-agent")]
    pub state_dir: PathBuf,
    /// Reports kept while the central is unreachable; the oldest go first.
    #[arg(long, default_value = "8640")]
    pub backlog: usize,
    /// A CA to trust for the central's certificate besides the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Pull mode: serve the latest report on this address at /report
    /// (HTTPS with --tls-cert and --tls-key; bearer token).
    #[arg(long, value_name = "IP:PORT")]
    pub listen: Option<SocketAddr>,
    /// Certificate chain (PEM) of the pull listener.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the pull listener.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub tls_key: Option<PathBuf>,
    /// Print one report and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: the report as JSON.
    #[arg(long, requires = "once")]
    pub json: bool,
    /// Print a `[[agent]]` and a `kind = "host"` block for what this host
    /// has (mounts, listening services, databases) and exit.
    #[arg(long, conflicts_with = "once")]
    pub print_config: bool,
}
