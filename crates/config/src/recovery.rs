//! `[[recovery]]`: a disaster-recovery plan of a site: its production,
//! standby and drill environments, its RTO/RPO targets, and the two step
//! lists `activate` (production → standby) and `return` (back), validated
//! at load so that a run never meets a step that names an unknown backup
//! plan, check, host, channel or TSIG key.
//!
//! ```toml
//! [[recovery]]
//! id = "shop-dr"
//! site = "shop"
//! rto = "4h"
//! rpo = "2h"
//!
//! [recovery.standby]
//! addresses = ["127.0.0.20"]
//! [[recovery.standby.host]]
//! name = "web"
//! ssh = "deploy@127.0.0.20"
//! ssh_identity_file = "/etc/keepup/dr_ed25519"
//! ssh_known_hosts_file = "/etc/keepup/known_hosts"
//!
//! [[recovery.activate]]
//! kind = "command"
//! name = "start the shop"
//! host = "web"
//! run = ["systemctl", "start", "shop"]
//! ```
//!
//! A step's `host` names a host of the environment the run works on: the
//! standby (or the drill environment) for `activate`, production for
//! `return`; it is checked against each of them here.

use crate::channels::Channel;
use crate::load::{Inline, Loader, valid_id};
use crate::raw::Dur;
use crate::spec::{Secret, Site};
use crate::{BackupPlan, backup::BackupSource};
use keepup_model::CheckId;
use serde::Deserialize;
use std::net::IpAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

/// One `[[recovery]]` plan.
#[derive(Debug, Clone)]
pub struct RecoveryPlan {
    /// Id, unique among plans (`keepup dr activate ID`).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: String,
    /// The site it recovers.
    pub site: String,
    /// Where the site runs normally.
    pub production: Environment,
    /// Where it runs after an activation.
    pub standby: Environment,
    /// Where drills run (a separate standby), if declared.
    pub drill: Option<Environment>,
    /// Recovery time objective.
    pub rto: Duration,
    /// Recovery point objective.
    pub rpo: Duration,
    /// A drill older than this makes the plan's check Degraded (default 90 days).
    pub drill_max_age: Duration,
    /// When the daemon drills the plan (`drill_schedule`, cron in
    /// `timezone`); `None`: by hand only (`keepup dr drill`).
    pub drill_schedule: Option<crate::backup::Schedule>,
    /// The time zone of `drill_schedule` (default UTC), as backup plans have.
    pub timezone: crate::backup::Zone,
    /// A query whose single value is the newest restored row's time (the
    /// measured RPO), e.g. `SELECT max(created_at) FROM orders`.
    pub rpo_query: Option<String>,
    /// TSIG keys the `dns` steps sign with.
    pub tsig_keys: Vec<TsigKey>,
    /// Production → standby.
    pub activate: Vec<Step>,
    /// Standby → production.
    pub return_steps: Vec<Step>,
    /// `[[recovery.drill_cleanup]]`: commands run on the drill environment
    /// after a drill's own cleanup (stop what the drill started).
    pub drill_cleanup: Vec<Step>,
    /// When to activate, one situation each, for the Recovery Plan
    /// document (empty: its default list).
    pub situations: Vec<String>,
    /// Who decides to activate (a role or a person, as written).
    pub decides: Option<String>,
    /// Whom to call, one line each as written (name, role, phone).
    pub contacts: Vec<String>,
    /// Where the daemon writes the Recovery Plan document (`<id>.html`
    /// and `<id>.md`) at start and on each reload; `None`: it does not.
    pub document_dir: Option<PathBuf>,
}

impl RecoveryPlan {
    /// The TSIG key with this id.
    pub fn tsig_key(&self, id: &str) -> Option<&TsigKey> {
        self.tsig_keys.iter().find(|k| k.id == id)
    }
}

/// `[recovery.production]`, `[recovery.standby]`, `[recovery.drill]`.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The addresses the site's names point at when it runs here.
    pub addresses: Vec<IpAddr>,
    /// Names published for this environment instead of the `dns` steps'
    /// own (a drill's `drill.shop.example`); empty: the steps' names.
    pub dns_names: Vec<String>,
    /// The hosts remote steps run on.
    pub hosts: Vec<Host>,
    /// Drill only: the directory `restore_files` steps restore under
    /// (`<files_root>/<to>`), and the only place a drill's cleanup deletes
    /// files in.
    pub files_root: Option<PathBuf>,
    /// Drill only: the database server `restore_database` steps import
    /// into instead of the step's `db_host` (the scratch database is
    /// `<database>_drill`).
    pub db_host: Option<String>,
    /// Drill only: its port instead of the step's `db_port`.
    pub db_port: Option<u16>,
}

impl Environment {
    /// The host with this name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.name == name)
    }
}

/// `[[recovery.<env>.host]]`: a machine reached with the system `ssh`, as
/// the SFTP backup target is.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Name the steps use.
    pub name: String,
    /// `[user@]host`.
    pub ssh: String,
    /// `ssh -p`.
    pub ssh_port: Option<u16>,
    /// `ssh -i FILE`, the private key.
    pub ssh_identity_file: Option<PathBuf>,
    /// `ssh -o UserKnownHostsFile=FILE` (host keys are always checked).
    pub ssh_known_hosts_file: Option<PathBuf>,
    /// Extra `ssh` arguments before the destination.
    pub ssh_args: Vec<String>,
}

/// `[[recovery.tsig_key]]`: a TSIG key for RFC 2136 updates.
#[derive(Debug, Clone)]
pub struct TsigKey {
    /// Id the `dns` steps use.
    pub id: String,
    /// The key's name as the DNS server knows it.
    pub name: String,
    /// The HMAC.
    pub algorithm: TsigAlgorithm,
    /// The base64 secret, from env or file.
    pub secret: Secret,
}

/// The TSIG algorithms keepup signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsigAlgorithm {
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha512`.
    HmacSha512,
}

impl TsigAlgorithm {
    /// The name as written (and as nsupdate writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }
}

/// One step of `activate` or `return`.
#[derive(Debug, Clone)]
pub struct Step {
    /// What the journal and the messages call it (defaults to the kind and
    /// its position).
    pub name: String,
    /// What it does.
    pub action: StepAction,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepAction {
    /// `restore_files`.
    RestoreFiles(RestoreFilesStep),
    /// `restore_database`.
    RestoreDatabase(RestoreDatabaseStep),
    /// `command`.
    Command(CommandStep),
    /// `dns`.
    Dns(DnsStep),
    /// `maintenance`.
    Maintenance(MaintenanceStep),
    /// `verify`.
    Verify(VerifyStep),
    /// `notify`.
    Notify(NotifyStep),
    /// `confirm`.
    Confirm(ConfirmStep),
}

impl StepAction {
    /// The `kind` as written.
    pub fn kind(&self) -> &'static str {
        match self {
            StepAction::RestoreFiles(_) => "restore_files",
            StepAction::RestoreDatabase(_) => "restore_database",
            StepAction::Command(_) => "command",
            StepAction::Dns(_) => "dns",
            StepAction::Maintenance(_) => "maintenance",
            StepAction::Verify(_) => "verify",
            StepAction::Notify(_) => "notify",
            StepAction::Confirm(_) => "confirm",
        }
    }
}

/// `kind = "restore_files"`: paths of a backup plan's snapshot onto the
/// target environment.
#[derive(Debug, Clone)]
pub struct RestoreFilesStep {
    /// The backup plan.
    pub backup: String,
    /// A snapshot id; `None`: the latest.
    pub snapshot: Option<String>,
    /// The paths to restore (absolute, as backed up); empty: all.
    pub paths: Vec<PathBuf>,
    /// The directory they are restored into.
    pub to: PathBuf,
    /// Restore over SSH onto this host of the environment; `None`: locally.
    pub host: Option<String>,
    /// `user[:group]` the restored files get.
    pub owner: Option<String>,
    /// How long the copy onto a `host` (rsync) may take in all; `None`:
    /// derived from the restored size (see `keepup_recovery::restore`).
    pub timeout: Option<Duration>,
}

/// `kind = "restore_database"`: a plan's dump into a database of the target
/// environment, then a query that must return rows.
#[derive(Debug, Clone)]
pub struct RestoreDatabaseStep {
    /// The backup plan.
    pub backup: String,
    /// The dump's file name in the plan (its database source).
    pub dump: String,
    /// PostgreSQL or MySQL/MariaDB (the dump source's kind).
    pub kind: crate::backup::DatabaseKind,
    /// Database server host.
    pub db_host: String,
    /// Its port.
    pub db_port: u16,
    /// Login.
    pub db_user: String,
    /// Database name.
    pub database: String,
    /// Password, from env or file.
    pub password: Option<Secret>,
    /// Must return at least one row after the import.
    pub check_query: String,
}

/// `kind = "command"`.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandStep {
    /// Program and arguments (no shell unless you call one).
    pub run: Vec<String>,
    /// Run over SSH on this host of the environment; `None`: locally.
    pub host: Option<String>,
    /// Killed (with its process group) after this long (default 5 min).
    pub timeout: Duration,
    /// The exit code that means success (default 0).
    pub expect_exit: i32,
    /// What a drill does with it (`drill = "run" | "skip"`; default: run a
    /// remote one on the drill environment's host, skip a local one, which
    /// would run as written on this machine).
    pub drill: DrillCommand,
}

/// What a drill does with a `command` step of `activate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillCommand {
    /// Runs it (a remote one on the drill environment's host of that name).
    Run,
    /// Skips it, journaled as skipped and why.
    Skip,
}

/// `kind = "dns"`: RFC 2136 updates signed with TSIG that point `names`
/// at the target environment's addresses.
#[derive(Debug, Clone)]
pub struct DnsStep {
    /// The zone updated.
    pub zone: String,
    /// The names whose A/AAAA (or CNAME) records are replaced.
    pub names: Vec<String>,
    /// The primary server that takes the updates, `host:port`.
    pub server: String,
    /// The TSIG key id (`[[recovery.tsig_key]]`).
    pub key: String,
    /// TTL of the new records.
    pub ttl: u32,
    /// Lower the old records' TTL to this first and wait the old TTL out.
    pub lower_ttl_first: Option<u32>,
    /// Publish a CNAME to this name instead of A/AAAA records.
    pub cname: Option<String>,
    /// How long every authoritative server has to serve the new records.
    pub verify_timeout: Duration,
    /// The plan places this step before a data step on purpose (`before_data
    /// = true`); without it a `dns` step before a `restore_*` step is
    /// refused at load, so DNS never moves before the data is restored.
    pub before_data: bool,
}

/// `kind = "maintenance"`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceStep {
    /// Start or end.
    pub action: MaintenanceAction,
    /// What it covers (the text form of a maintenance scope; default the
    /// plan's site).
    pub target: String,
}

/// What a `maintenance` step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceAction {
    /// Opens a window this long.
    Start(Duration),
    /// Ends the windows this plan's runs opened on the target.
    End,
}

/// `kind = "verify"`.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyStep {
    /// The checks; every probed check of the site when not written.
    pub checks: Vec<CheckId>,
    /// Give up after this long (default 10 min).
    pub deadline: Duration,
    /// Time between rounds (default 5 s).
    pub interval: Duration,
}

/// `kind = "notify"`: the "ticket".
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyStep {
    /// Channel ids.
    pub channels: Vec<String>,
    /// The title, e.g. "DR activated"; the run's figures are added.
    pub message: String,
}

/// `kind = "confirm"`: a person says go.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmStep {
    /// The question asked.
    pub prompt: String,
    /// How long a question asked from the web (no terminal) waits for an
    /// answer before the step fails; default 30 minutes.
    pub timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    id: Spanned<String>,
    name: Option<String>,
    site: Spanned<String>,
    production: Option<RawEnvironment>,
    standby: Option<RawEnvironment>,
    drill: Option<RawEnvironment>,
    rto: Spanned<Dur>,
    rpo: Spanned<Dur>,
    drill_max_age: Option<Spanned<Dur>>,
    drill_schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    rpo_query: Option<Spanned<String>>,
    #[serde(default)]
    tsig_key: Vec<Spanned<RawTsigKey>>,
    #[serde(default)]
    activate: Vec<Spanned<RawStep>>,
    #[serde(default, rename = "return")]
    return_steps: Vec<Spanned<RawStep>>,
    #[serde(default)]
    drill_cleanup: Vec<Spanned<RawStep>>,
    #[serde(default)]
    situations: Vec<String>,
    decides: Option<String>,
    #[serde(default)]
    contacts: Vec<String>,
    document_dir: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    #[serde(default)]
    dns_names: Vec<Spanned<String>>,
    #[serde(default)]
    host: Vec<Spanned<RawHost>>,
    files_root: Option<Spanned<String>>,
    db_host: Option<Spanned<String>>,
    db_port: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    ssh: Spanned<String>,
    ssh_port: Option<Spanned<i64>>,
    ssh_identity_file: Option<Spanned<String>>,
    ssh_known_hosts_file: Option<Spanned<String>>,
    #[serde(default)]
    ssh_args: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTsigKey {
    id: Spanned<String>,
    name: Spanned<String>,
    algorithm: Spanned<String>,
    secret_env: Option<Spanned<String>>,
    secret_file: Option<Spanned<String>>,
}

/// Every key of every step kind; [`STEP_KEYS`] says which kind takes which.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    kind: Spanned<String>,
    name: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    backup: Option<Spanned<String>>,
    snapshot: Option<Spanned<String>>,
    paths: Option<Spanned<Vec<String>>>,
    to: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    dump: Option<Spanned<String>>,
    db_host: Option<Spanned<String>>,
    db_port: Option<Spanned<i64>>,
    db_user: Option<Spanned<String>>,
    database: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    check_query: Option<Spanned<String>>,
    run: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<Dur>>,
    expect_exit: Option<Spanned<i64>>,
    zone: Option<Spanned<String>>,
    names: Option<Spanned<Vec<String>>>,
    server: Option<Spanned<String>>,
    key: Option<Spanned<String>>,
    ttl: Option<Spanned<i64>>,
    lower_ttl_first: Option<Spanned<i64>>,
    cname: Option<Spanned<String>>,
    verify_timeout: Option<Spanned<Dur>>,
    before_data: Option<Spanned<bool>>,
    action: Option<Spanned<String>>,
    duration: Option<Spanned<Dur>>,
    target: Option<Spanned<String>>,
    checks: Option<Spanned<Vec<String>>>,
    deadline: Option<Spanned<Dur>>,
    interval: Option<Spanned<Dur>>,
    channels: Option<Spanned<Vec<String>>>,
    message: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    drill: Option<Spanned<String>>,
}

/// The keys each step kind takes besides `kind` and `name`.
const STEP_KEYS: &[(&str, &[&str])] = &[
    (
        "restore_files",
        &[
            "backup", "snapshot", "paths", "to", "host", "owner", "timeout",
        ],
    ),
    (
        "restore_database",
        &[
            "backup",
            "dump",
            "db_host",
            "db_port",
            "db_user",
            "database",
            "password_env",
            "password_file",
            "check_query",
        ],
    ),
    (
        "command",
        &["run", "host", "timeout", "expect_exit", "drill"],
    ),
    (
        "dns",
        &[
            "zone",
            "names",
            "server",
            "key",
            "ttl",
            "lower_ttl_first",
            "cname",
            "verify_timeout",
            "before_data",
        ],
    ),
    ("maintenance", &["action", "duration", "target"]),
    ("verify", &["checks", "deadline", "interval"]),
    ("notify", &["channels", "message"]),
    ("confirm", &["prompt", "timeout"]),
];

impl RawStep {
    /// The keys written, with their spans.
    fn written(&self) -> Vec<(&'static str, Range<usize>)> {
        fn at<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
            v.as_ref().map(Spanned::span)
        }
        [
            ("host", at(&self.host)),
            ("backup", at(&self.backup)),
            ("snapshot", at(&self.snapshot)),
            ("paths", at(&self.paths)),
            ("to", at(&self.to)),
            ("owner", at(&self.owner)),
            ("dump", at(&self.dump)),
            ("db_host", at(&self.db_host)),
            ("db_port", at(&self.db_port)),
            ("db_user", at(&self.db_user)),
            ("database", at(&self.database)),
            ("password_env", at(&self.password_env)),
            ("password_file", at(&self.password_file)),
            ("check_query", at(&self.check_query)),
            ("run", at(&self.run)),
            ("timeout", at(&self.timeout)),
            ("expect_exit", at(&self.expect_exit)),
            ("zone", at(&self.zone)),
            ("names", at(&self.names)),
            ("server", at(&self.server)),
            ("key", at(&self.key)),
            ("ttl", at(&self.ttl)),
            ("lower_ttl_first", at(&self.lower_ttl_first)),
            ("cname", at(&self.cname)),
            ("verify_timeout", at(&self.verify_timeout)),
            ("before_data", at(&self.before_data)),
            ("action", at(&self.action)),
            ("duration", at(&self.duration)),
            ("target", at(&self.target)),
            ("checks", at(&self.checks)),
            ("deadline", at(&self.deadline)),
            ("interval", at(&self.interval)),
            ("channels", at(&self.channels)),
            ("message", at(&self.message)),
            ("prompt", at(&self.prompt)),
            ("drill", at(&self.drill)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect()
    }
}

/// The scratch database a drill imports a `restore_database` step's dump
/// into, beside `database` on the drill's server.
pub fn drill_database(database: &str) -> String {
    format!("{database}_drill")
}

/// The scratch databases a drill of `plan` imports into: (server, port,
/// name).
fn scratch_databases(plan: &RecoveryPlan) -> Vec<(String, u16, String)> {
    let Some(drill) = &plan.drill else {
        return Vec::new();
    };
    plan.activate
        .iter()
        .filter_map(|s| match &s.action {
            StepAction::RestoreDatabase(d) => Some((
                drill
                    .db_host
                    .as_deref()
                    .unwrap_or(&d.db_host)
                    .to_ascii_lowercase(),
                drill.db_port.unwrap_or(d.db_port),
                drill_database(&d.database),
            )),
            _ => None,
        })
        .collect()
}

/// The loaded step lists whose database servers a drill must stay off.
#[derive(Clone, Copy)]
struct Servers<'s> {
    activate: &'s [(Step, Range<usize>)],
    return_steps: &'s [(Step, Range<usize>)],
}

/// What a plan's steps may refer to, for validation.
#[derive(Clone)]
struct Context<'c> {
    plan_id: &'c str,
    site: &'c Site,
    backups: &'c [BackupPlan],
    channels: &'c [Channel],
    /// The ids of the plan's TSIG keys as written (a key with another
    /// problem is reported once, not again at each step using it).
    tsig_key_ids: Vec<String>,
    /// The environments a step list's `host` must exist in, with their
    /// names for messages.
    environments: Vec<(&'static str, &'c Environment)>,
}

impl Loader<'_> {
    /// `[[recovery]]`.
    pub(crate) fn recovery_plans(
        &mut self,
        value: Spanned<DeValue<'_>>,
        sites: &[Site],
        backups: &[BackupPlan],
        channels: &[Channel],
    ) -> Vec<RecoveryPlan> {
        let items = self.array_of_tables_with_ids(
            value,
            "recovery",
            "write each plan as [[recovery]]",
            "recovery plan",
        );
        let mut out: Vec<RecoveryPlan> = Vec::new();
        for (path, item) in items {
            let span = item.span();
            let Some(raw) = self.deserialize::<RawPlan>(item, &path, &[]) else {
                continue;
            };
            if let Some(p) = self.recovery_plan(raw, &path, span.clone(), sites, backups, channels)
            {
                self.drills_apart(&p, &out, &path, span);
                out.push(p);
            }
        }
        out
    }

    /// Refuses a plan whose drill shares its files or scratch databases
    /// with an earlier plan's drill: both may drill at once (each has its
    /// own lock), and each drill's cleanup deletes everything under its
    /// `files_root` and drops its scratch databases.
    fn drills_apart(
        &mut self,
        plan: &RecoveryPlan,
        earlier: &[RecoveryPlan],
        path: &str,
        span: Range<usize>,
    ) {
        let Some(drill) = &plan.drill else { return };
        for other in earlier {
            let Some(other_drill) = &other.drill else {
                continue;
            };
            if let (Some(mine), Some(theirs)) = (&drill.files_root, &other_drill.files_root)
                && (mine.starts_with(theirs) || theirs.starts_with(mine))
            {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.drill.files_root"),
                    format!(
                        "the drill's files_root {} overlaps plan {:?}'s {}: one drill's cleanup would delete the other's files",
                        mine.display(),
                        other.id,
                        theirs.display()
                    ),
                    Some("give each plan's drill a directory of its own".into()),
                );
            }
            let theirs = scratch_databases(other);
            for db in scratch_databases(plan) {
                if theirs.contains(&db) {
                    self.rep.report(
                        span.clone(),
                        &format!("{path}.drill"),
                        format!(
                            "the drill's scratch database {} on {}:{} is also plan {:?}'s: one drill's cleanup would drop the other's",
                            db.2, db.0, db.1, other.id
                        ),
                        Some("give the drills different db_host/db_port, or restore different databases".into()),
                    );
                }
            }
        }
    }

    fn recovery_plan(
        &mut self,
        raw: RawPlan,
        path: &str,
        span: Range<usize>,
        sites: &[Site],
        backups: &[BackupPlan],
        channels: &[Channel],
    ) -> Option<RecoveryPlan> {
        let errors_before = self.rep.count();
        if !valid_id(raw.id.get_ref()) {
            self.rep.report(
                raw.id.span(),
                &format!("{path}.id"),
                format!("{:?} is not a valid id", raw.id.get_ref()),
                Some("use letters, digits, '-' and '_'".into()),
            );
        }
        let Some(site) = sites.iter().find(|s| &s.id == raw.site.get_ref()) else {
            let hint =
                crate::diag::closest(raw.site.get_ref(), sites.iter().map(|s| s.id.as_str()))
                    .map(|h| format!("did you mean \"{h}\"?"));
            self.rep.report(
                raw.site.span(),
                &format!("{path}.site"),
                format!("no site {:?}", raw.site.get_ref()),
                hint,
            );
            return None;
        };
        let rto = self.positive(&raw.rto, &format!("{path}.rto"));
        let rpo = self.positive(&raw.rpo, &format!("{path}.rpo"));
        let drill_max_age = raw
            .drill_max_age
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.drill_max_age")))
            .unwrap_or(Duration::from_secs(90 * 86_400));
        let mut schedule_ok = true;
        let timezone = self.zone(
            raw.timezone.as_ref(),
            &format!("{path}.timezone"),
            &mut schedule_ok,
        );
        let drill_schedule = self.schedule(
            raw.drill_schedule.as_ref(),
            &format!("{path}.drill_schedule"),
            &mut schedule_ok,
        );
        if let Some(at) = &raw.drill_schedule
            && raw.drill.is_none()
        {
            self.rep.report(
                at.span(),
                &format!("{path}.drill_schedule"),
                "a drill schedule needs a drill environment: drills never touch the standby",
                Some("add [recovery.drill] with the drill's addresses, names and hosts".into()),
            );
        }
        let Some(standby_raw) = raw.standby else {
            self.rep.report(
                span,
                &format!("{path}.standby"),
                "missing [recovery.standby]: the environment the site moves to",
                None,
            );
            return None;
        };
        let production = self.environment(
            raw.production.unwrap_or_default(),
            &format!("{path}.production"),
        );
        let standby = self.environment(standby_raw, &format!("{path}.standby"));
        let drill = raw
            .drill
            .map(|d| self.environment(d, &format!("{path}.drill")));
        let tsig_key_ids: Vec<String> = raw
            .tsig_key
            .iter()
            .map(|k| k.get_ref().id.get_ref().clone())
            .collect();
        let tsig_keys: Vec<TsigKey> = raw
            .tsig_key
            .into_iter()
            .enumerate()
            .filter_map(|(i, k)| self.tsig_key(k, &format!("{path}.tsig_key[{i}]")))
            .collect();
        let mut targets = vec![("standby", &standby)];
        if let Some(d) = &drill {
            targets.push(("drill", d));
        }
        let activate_ctx = Context {
            plan_id: raw.id.get_ref(),
            site,
            backups,
            channels,
            tsig_key_ids,
            environments: targets,
        };
        let activate = self.steps(raw.activate, &format!("{path}.activate"), &activate_ctx);
        let drill_cleanup = match &drill {
            Some(d) => {
                let cleanup_ctx = Context {
                    environments: vec![("drill", d)],
                    ..activate_ctx.clone()
                };
                let steps = self.steps(
                    raw.drill_cleanup,
                    &format!("{path}.drill_cleanup"),
                    &cleanup_ctx,
                );
                for (step, at) in &steps {
                    if !matches!(step.action, StepAction::Command(_)) {
                        self.rep.report(
                            at.clone(),
                            &format!("{path}.drill_cleanup"),
                            format!(
                                "a drill's cleanup runs commands only, not {} steps",
                                step.action.kind()
                            ),
                            Some("write kind = \"command\"".into()),
                        );
                    }
                }
                steps
            }
            None => {
                if let Some(first) = raw.drill_cleanup.first() {
                    self.rep.report(
                        first.span(),
                        &format!("{path}.drill_cleanup"),
                        "drill cleanup commands without a [recovery.drill] environment",
                        Some("declare [recovery.drill], or remove them".into()),
                    );
                }
                Vec::new()
            }
        };
        let return_ctx = Context {
            environments: vec![("production", &production)],
            ..activate_ctx
        };
        let return_steps = self.steps(raw.return_steps, &format!("{path}.return"), &return_ctx);
        self.dns_after_data(&activate, &format!("{path}.activate"));
        self.dns_after_data(&return_steps, &format!("{path}.return"));
        if let Some(d) = &drill {
            self.drillable(
                &activate,
                &return_steps,
                d,
                site,
                &format!("{path}.activate"),
            );
            let servers = Servers {
                activate: &activate,
                return_steps: &return_steps,
            };
            self.drill_apart(d, &standby, &production, servers, path, span.clone());
        }
        let strip = |steps: Vec<(Step, Range<usize>)>| -> Vec<Step> {
            steps.into_iter().map(|(s, _)| s).collect()
        };
        let (activate, return_steps, drill_cleanup) =
            (strip(activate), strip(return_steps), strip(drill_cleanup));
        if activate.is_empty() && self.rep.count() == errors_before {
            self.rep.report(
                span,
                &format!("{path}.activate"),
                "a plan needs at least one activate step",
                Some("add [[recovery.activate]] tables".into()),
            );
        }
        let document_dir = match &raw.document_dir {
            Some(d) if d.get_ref().trim().is_empty() => {
                self.rep.report(
                    d.span(),
                    &format!("{path}.document_dir"),
                    "empty path",
                    Some("name the directory the Recovery Plan document is written to".into()),
                );
                None
            }
            Some(d) => Some(self.resolve_path(d.get_ref())),
            None => None,
        };
        if self.rep.count() != errors_before {
            return None;
        }
        Some(RecoveryPlan {
            id: raw.id.get_ref().clone(),
            name: raw.name.unwrap_or_else(|| raw.id.get_ref().clone()),
            site: site.id.clone(),
            production,
            standby,
            drill,
            rto,
            rpo,
            drill_max_age,
            drill_schedule,
            timezone,
            rpo_query: raw.rpo_query.map(Spanned::into_inner),
            tsig_keys,
            activate,
            return_steps,
            drill_cleanup,
            situations: raw.situations,
            decides: raw.decides,
            contacts: raw.contacts,
            document_dir,
        })
    }

    /// Refuses a `dns` step placed before a `restore_*` step of the same
    /// list unless it says `before_data = true`: DNS must not send the
    /// shop's visitors to an environment whose data is not restored yet.
    fn dns_after_data(&mut self, steps: &[(Step, Range<usize>)], path: &str) {
        for (i, (step, at)) in steps.iter().enumerate() {
            let StepAction::Dns(d) = &step.action else {
                continue;
            };
            if d.before_data {
                continue;
            }
            let later_data = steps.iter().skip(i + 1).find(|(s, _)| {
                matches!(
                    s.action,
                    StepAction::RestoreFiles(_) | StepAction::RestoreDatabase(_)
                )
            });
            if let Some((data, _)) = later_data {
                self.rep.report(
                    at.clone(),
                    path,
                    format!(
                        "the dns step {:?} comes before the data step {:?}: DNS would point at the environment before its data is restored",
                        step.name, data.name
                    ),
                    Some("move it after the restore steps, or write before_data = true if the plan means it".into()),
                );
            }
        }
    }

    /// Refuses a drill environment whose hosts or database server are the
    /// standby's or production's: a drill would then restore, run commands
    /// and drop scratch databases on the machines it must leave alone.
    fn drill_apart(
        &mut self,
        drill: &Environment,
        standby: &Environment,
        production: &Environment,
        servers: Servers<'_>,
        path: &str,
        span: Range<usize>,
    ) {
        // `user@host` and `host` reach the same machine.
        let machine = |h: &Host| {
            let host = h.ssh.rsplit('@').next().unwrap_or(&h.ssh);
            (host.to_ascii_lowercase(), h.ssh_port.unwrap_or(22))
        };
        for (i, h) in drill.hosts.iter().enumerate() {
            for (env_name, env) in [("standby", standby), ("production", production)] {
                if let Some(same) = env.hosts.iter().find(|o| machine(o) == machine(h)) {
                    self.rep.report(
                        span.clone(),
                        &format!("{path}.drill.host[{i}].ssh"),
                        format!(
                            "the drill host {:?} ({}) is the {env_name} host {:?}: a drill would run on it",
                            h.name, h.ssh, same.name
                        ),
                        Some("give the drill a machine of its own".into()),
                    );
                }
            }
        }
        if drill.db_host.is_none() && drill.db_port.is_none() {
            return;
        }
        let server = |d: &RestoreDatabaseStep| (d.db_host.to_ascii_lowercase(), d.db_port);
        let production_servers: Vec<(String, u16)> = servers
            .return_steps
            .iter()
            .filter_map(|(s, _)| match &s.action {
                StepAction::RestoreDatabase(d) => Some(server(d)),
                _ => None,
            })
            .collect();
        for (s, _) in servers.activate {
            let StepAction::RestoreDatabase(d) = &s.action else {
                continue;
            };
            let drilled = (
                drill
                    .db_host
                    .clone()
                    .unwrap_or_else(|| d.db_host.clone())
                    .to_ascii_lowercase(),
                drill.db_port.unwrap_or(d.db_port),
            );
            if production_servers.contains(&drilled) {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.drill.db_host"),
                    format!(
                        "the drill of step {:?} would import into {}:{}, production's database server (the return steps import there)",
                        s.name, drilled.0, drilled.1
                    ),
                    Some("give the drill a database server of its own in db_host/db_port".into()),
                );
            }
        }
    }

    /// Refuses activate steps a drill could not run without touching
    /// production or the real standby (when `[recovery.drill]` is declared).
    fn drillable(
        &mut self,
        steps: &[(Step, Range<usize>)],
        return_steps: &[(Step, Range<usize>)],
        drill: &Environment,
        site: &Site,
        path: &str,
    ) {
        let norm = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
        let switched: Vec<String> = steps
            .iter()
            .filter_map(|(s, _)| match &s.action {
                StepAction::Dns(d) => Some(d.names.iter().map(|n| norm(n))),
                _ => None,
            })
            .flatten()
            .collect();
        // The names the return switches back (production's) are no drill's
        // either.
        let returned: Vec<String> = return_steps
            .iter()
            .filter_map(|(s, _)| match &s.action {
                StepAction::Dns(d) => Some(d.names.iter().map(|n| norm(n))),
                _ => None,
            })
            .flatten()
            .collect();
        for (step, at) in steps {
            let refuse = |me: &mut Self, what: String, hint: &str| {
                me.rep.report(
                    at.clone(),
                    path,
                    format!("step {:?} cannot be drilled: {what}", step.name),
                    Some(hint.to_owned()),
                );
            };
            match &step.action {
                StepAction::RestoreFiles(f) if f.to.parent().is_none() => refuse(
                    self,
                    "a drill restores `to = \"/\"` into the whole files_root, which its cleanup then empties".into(),
                    "restore into a directory (to = \"/srv/shop\"), which the drill puts under files_root",
                ),
                StepAction::RestoreFiles(_) if drill.files_root.is_none() => refuse(
                    self,
                    "the drill environment has no files_root to restore under".into(),
                    "add files_root = \"/srv/drill\" (a directory for drills only) to [recovery.drill]",
                ),
                StepAction::Dns(d) => {
                    if drill.dns_names.is_empty() {
                        refuse(
                            self,
                            "the drill environment names no dns_names: the drill would switch the shop's own names".into(),
                            "add dns_names = [\"drill.shop.example\"] to [recovery.drill]",
                        );
                        continue;
                    }
                    if drill.addresses.is_empty() {
                        refuse(
                            self,
                            "the drill environment has no addresses to publish".into(),
                            "add addresses = [...] to [recovery.drill]",
                        );
                        continue;
                    }
                    let zone = norm(&d.zone);
                    for n in &drill.dns_names {
                        let n = norm(n);
                        if n == zone {
                            refuse(
                                self,
                                format!(
                                    "the drill name {n:?} is the zone's apex, which the shop's own records live at"
                                ),
                                "give the drill a name of its own below the zone (drill.shop.example)",
                            );
                        } else if switched.contains(&n) || returned.contains(&n) {
                            refuse(
                                self,
                                format!(
                                    "the drill name {n:?} is one of the names the plan switches"
                                ),
                                "give the drill names of its own (drill.shop.example)",
                            );
                        } else if !n.ends_with(&format!(".{zone}")) {
                            refuse(
                                self,
                                format!(
                                    "the drill name {n:?} is not in the zone {zone:?} the step updates"
                                ),
                                "give drill names inside the step's zone",
                            );
                        }
                    }
                }
                StepAction::Verify(v) => {
                    let checks: Vec<&crate::Check> = if v.checks.is_empty() {
                        site.checks
                            .iter()
                            .map(|c| &**c)
                            .filter(|c| c.probe().is_some())
                            .collect()
                    } else {
                        site.checks
                            .iter()
                            .map(|c| &**c)
                            .filter(|c| v.checks.contains(&c.id))
                            .collect()
                    };
                    for c in checks {
                        let Some(host) = c.spec.target_host() else {
                            continue;
                        };
                        let aimed_at_drill = host
                            .trim_start_matches('[')
                            .trim_end_matches(']')
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| drill.addresses.contains(&ip));
                        if !aimed_at_drill && !switched.contains(&norm(host)) {
                            refuse(
                                self,
                                format!(
                                    "check {} aims at {host:?}, which no dns step of the plan switches, so a drill would probe it where it is (production)",
                                    c.id
                                ),
                                "aim the check at a name a dns step switches, or name the checks to verify in `checks`",
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn environment(&mut self, raw: RawEnvironment, path: &str) -> Environment {
        let mut addresses = Vec::new();
        for a in &raw.addresses {
            match a.get_ref().parse::<IpAddr>() {
                Ok(ip) => addresses.push(ip),
                Err(_) => self.rep.report(
                    a.span(),
                    &format!("{path}.addresses"),
                    format!("{:?} is not an IP address", a.get_ref()),
                    None,
                ),
            }
        }
        let mut hosts: Vec<Host> = Vec::new();
        for (i, h) in raw.host.into_iter().enumerate() {
            let hpath = format!("{path}.host[{i}]");
            let h = h.into_inner();
            if hosts.iter().any(|o| &o.name == h.name.get_ref()) {
                self.rep.report(
                    h.name.span(),
                    &format!("{hpath}.name"),
                    format!("host {:?} is declared twice", h.name.get_ref()),
                    None,
                );
                continue;
            }
            let dest = h.ssh.get_ref();
            if dest.is_empty() || dest.starts_with('-') || dest.chars().any(char::is_control) {
                self.rep.report(
                    h.ssh.span(),
                    &format!("{hpath}.ssh"),
                    format!("{dest:?} is not an ssh destination"),
                    Some("write [user@]host".into()),
                );
                continue;
            }
            let ssh_port = h
                .ssh_port
                .as_ref()
                .and_then(|p| self.port(p, &format!("{hpath}.ssh_port")));
            hosts.push(Host {
                name: h.name.into_inner(),
                ssh: dest.clone(),
                ssh_port,
                ssh_identity_file: h.ssh_identity_file.map(|f| self.resolve_path(f.get_ref())),
                ssh_known_hosts_file: h
                    .ssh_known_hosts_file
                    .map(|f| self.resolve_path(f.get_ref())),
                ssh_args: h.ssh_args,
            });
        }
        let drill = path.ends_with(".drill");
        for (key, at) in [
            ("files_root", raw.files_root.as_ref().map(Spanned::span)),
            ("db_host", raw.db_host.as_ref().map(Spanned::span)),
            ("db_port", raw.db_port.as_ref().map(Spanned::span)),
        ] {
            if let (Some(at), false) = (at, drill) {
                self.rep.report(
                    at,
                    &format!("{path}.{key}"),
                    format!("`{key}` belongs to [recovery.drill]"),
                    Some("the other environments take their places from the steps".into()),
                );
            }
        }
        let files_root = raw.files_root.as_ref().and_then(|f| {
            let root = std::path::Path::new(f.get_ref());
            // A drill deletes what it restored under this root: `/` or a
            // relative path would let it delete anywhere.
            if !root.is_absolute()
                || root.parent().is_none()
                || root
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
            {
                self.rep.report(
                    f.span(),
                    &format!("{path}.files_root"),
                    format!("{:?} cannot be a drill's files root", f.get_ref()),
                    Some("give an absolute directory other than /, without `..`, used by drills only".into()),
                );
                return None;
            }
            Some(root.to_path_buf())
        });
        let db_host = raw
            .db_host
            .as_ref()
            .and_then(|h| self.host(h, &format!("{path}.db_host")));
        let db_port = raw
            .db_port
            .as_ref()
            .and_then(|p| self.port(p, &format!("{path}.db_port")));
        Environment {
            addresses,
            dns_names: raw.dns_names.into_iter().map(Spanned::into_inner).collect(),
            hosts,
            files_root,
            db_host,
            db_port,
        }
    }

    fn tsig_key(&mut self, raw: Spanned<RawTsigKey>, path: &str) -> Option<TsigKey> {
        let span = raw.span();
        let raw = raw.into_inner();
        let algorithm = match raw.algorithm.get_ref().as_str() {
            "hmac-sha256" => TsigAlgorithm::HmacSha256,
            "hmac-sha512" => TsigAlgorithm::HmacSha512,
            other => {
                self.rep.report(
                    raw.algorithm.span(),
                    &format!("{path}.algorithm"),
                    format!("unknown TSIG algorithm {other:?}"),
                    Some("write \"hmac-sha256\" or \"hmac-sha512\"".into()),
                );
                return None;
            }
        };
        let secret = self.secret(
            Inline::NotAccepted,
            raw.secret_env.as_ref().map(|s| s.get_ref().as_str()),
            raw.secret_file.as_ref().map(|s| s.get_ref().as_str()),
            span,
            path,
            "secret",
        )?;
        Some(TsigKey {
            id: raw.id.into_inner(),
            name: raw.name.into_inner(),
            algorithm,
            secret,
        })
    }

    /// The steps of a list, each with its table's span (for the checks
    /// that look at the whole list).
    fn steps(
        &mut self,
        raw: Vec<Spanned<RawStep>>,
        path: &str,
        ctx: &Context<'_>,
    ) -> Vec<(Step, Range<usize>)> {
        let mut out: Vec<(Step, Range<usize>)> = Vec::new();
        for (i, step) in raw.into_iter().enumerate() {
            let spath = format!("{path}[{i}]");
            let span = step.span();
            let step = step.into_inner();
            let kind_written = step.kind.get_ref().clone();
            let kind = kind_written.as_str();
            let Some((_, allowed)) = STEP_KEYS.iter().find(|(k, _)| *k == kind) else {
                let hint = crate::diag::closest(kind, STEP_KEYS.iter().map(|(k, _)| *k))
                    .map(|h| format!("did you mean \"{h}\"?"));
                self.rep.report(
                    step.kind.span(),
                    &format!("{spath}.kind"),
                    format!("unknown step kind {kind:?}"),
                    hint,
                );
                continue;
            };
            let mut ok = true;
            for (key, at) in step.written() {
                if !allowed.contains(&key) {
                    self.rep.report(
                        at,
                        &format!("{spath}.{key}"),
                        format!("a {kind} step has no key `{key}`"),
                        Some(format!("its keys: {}", allowed.join(", "))),
                    );
                    ok = false;
                }
            }
            let name = match &step.name {
                Some(n) if n.get_ref().trim().is_empty() => {
                    self.rep
                        .report(n.span(), &format!("{spath}.name"), "empty name", None);
                    ok = false;
                    String::new()
                }
                Some(n) => n.get_ref().clone(),
                None => format!("{kind} #{}", i + 1),
            };
            if out.iter().any(|(s, _)| s.name == name) {
                self.rep.report(
                    step.name.as_ref().map_or(span.clone(), Spanned::span),
                    &format!("{spath}.name"),
                    format!("step name {name:?} is used twice in this list"),
                    None,
                );
                ok = false;
            }
            if !ok {
                continue;
            }
            if let Some(action) = self.step_action(step, kind, &spath, span.clone(), ctx) {
                out.push((Step { name, action }, span));
            }
        }
        out
    }

    /// A required key of a step, or a report naming it.
    fn required<'s, T>(
        &mut self,
        v: &'s Option<Spanned<T>>,
        span: &Range<usize>,
        spath: &str,
        key: &str,
        kind: &str,
    ) -> Option<&'s Spanned<T>> {
        if v.is_none() {
            self.rep.report(
                span.clone(),
                &format!("{spath}.{key}"),
                format!("a {kind} step needs `{key}`"),
                None,
            );
        }
        v.as_ref()
    }

    fn step_host(
        &mut self,
        host: &Option<Spanned<String>>,
        spath: &str,
        ctx: &Context<'_>,
    ) -> Result<Option<String>, ()> {
        let Some(h) = host else { return Ok(None) };
        let mut ok = true;
        for (env_name, env) in &ctx.environments {
            if env.host(h.get_ref()).is_none() {
                let hint =
                    crate::diag::closest(h.get_ref(), env.hosts.iter().map(|x| x.name.as_str()))
                        .map(|x| format!("did you mean \"{x}\"?"))
                        .or_else(|| Some(format!("declare it as [[recovery.{env_name}.host]]")));
                self.rep.report(
                    h.span(),
                    &format!("{spath}.host"),
                    format!("no host {:?} in the {env_name} environment", h.get_ref()),
                    hint,
                );
                ok = false;
            }
        }
        if ok {
            Ok(Some(h.get_ref().clone()))
        } else {
            Err(())
        }
    }

    fn backup_ref<'b>(
        &mut self,
        b: &Spanned<String>,
        spath: &str,
        ctx: &Context<'b>,
    ) -> Option<&'b BackupPlan> {
        let found = ctx.backups.iter().find(|p| &p.id == b.get_ref());
        if found.is_none() {
            let hint = crate::diag::closest(b.get_ref(), ctx.backups.iter().map(|p| p.id.as_str()))
                .map(|h| format!("did you mean \"{h}\"?"));
            self.rep.report(
                b.span(),
                &format!("{spath}.backup"),
                format!("no backup plan {:?}", b.get_ref()),
                hint,
            );
        }
        found
    }

    fn step_action(
        &mut self,
        s: RawStep,
        kind: &str,
        spath: &str,
        span: Range<usize>,
        ctx: &Context<'_>,
    ) -> Option<StepAction> {
        match kind {
            "command" => {
                let run = self.required(&s.run, &span, spath, "run", kind)?;
                if run.get_ref().is_empty() || run.get_ref()[0].is_empty() {
                    self.rep.report(
                        run.span(),
                        &format!("{spath}.run"),
                        "the command is empty",
                        Some("write the program and its arguments, e.g. [\"systemctl\", \"start\", \"shop\"]".into()),
                    );
                    return None;
                }
                let host = self.step_host(&s.host, spath, ctx).ok()?;
                let timeout = s
                    .timeout
                    .as_ref()
                    .map(|t| self.positive(t, &format!("{spath}.timeout")))
                    .unwrap_or(Duration::from_secs(300));
                let expect_exit = match &s.expect_exit {
                    Some(e) => match i32::try_from(*e.get_ref()) {
                        Ok(v) if (0..=255).contains(&v) => v,
                        _ => {
                            self.rep.report(
                                e.span(),
                                &format!("{spath}.expect_exit"),
                                "an exit code is 0 to 255",
                                None,
                            );
                            return None;
                        }
                    },
                    None => 0,
                };
                let drill = match s.drill.as_ref().map(|d| d.get_ref().as_str()) {
                    Some("run") => DrillCommand::Run,
                    Some("skip") => DrillCommand::Skip,
                    None if host.is_some() => DrillCommand::Run,
                    // A local command would run as written on this machine,
                    // which may be the real standby.
                    None => DrillCommand::Skip,
                    Some(other) => {
                        self.rep.report(
                            s.drill.as_ref().map_or(span.clone(), Spanned::span),
                            &format!("{spath}.drill"),
                            format!("unknown drill behaviour {other:?}"),
                            Some("write \"run\" or \"skip\"".into()),
                        );
                        return None;
                    }
                };
                Some(StepAction::Command(CommandStep {
                    run: run.get_ref().clone(),
                    host,
                    timeout,
                    expect_exit,
                    drill,
                }))
            }
            "maintenance" => {
                let action = self.required(&s.action, &span, spath, "action", kind)?;
                let target = match &s.target {
                    Some(t) => {
                        let scope = keepup_model::MaintenanceScope::parse(t.get_ref());
                        let site_ok = match &scope {
                            keepup_model::MaintenanceScope::Site(site) => site == &ctx.site.id,
                            keepup_model::MaintenanceScope::Check(c) => {
                                ctx.site.checks.iter().any(|x| &x.id == c)
                            }
                            _ => true,
                        };
                        if !site_ok {
                            self.rep.report(
                                t.span(),
                                &format!("{spath}.target"),
                                format!(
                                    "{:?} is neither the site {:?} nor one of its checks",
                                    t.get_ref(),
                                    ctx.site.id
                                ),
                                None,
                            );
                            return None;
                        }
                        t.get_ref().clone()
                    }
                    None => ctx.site.id.clone(),
                };
                let action = match action.get_ref().as_str() {
                    "start" => {
                        let d = s
                            .duration
                            .as_ref()
                            .map(|d| self.positive(d, &format!("{spath}.duration")))
                            .unwrap_or(Duration::from_secs(4 * 3600));
                        MaintenanceAction::Start(d)
                    }
                    "end" => {
                        if let Some(d) = &s.duration {
                            self.rep.report(
                                d.span(),
                                &format!("{spath}.duration"),
                                "`duration` belongs to action = \"start\"",
                                None,
                            );
                            return None;
                        }
                        MaintenanceAction::End
                    }
                    other => {
                        self.rep.report(
                            action.span(),
                            &format!("{spath}.action"),
                            format!("unknown maintenance action {other:?}"),
                            Some("write \"start\" or \"end\"".into()),
                        );
                        return None;
                    }
                };
                Some(StepAction::Maintenance(MaintenanceStep { action, target }))
            }
            "verify" => {
                let mut checks = Vec::new();
                if let Some(names) = &s.checks {
                    for name in names.get_ref() {
                        let found = ctx
                            .site
                            .checks
                            .iter()
                            .find(|c| &c.short_id == name || c.id.as_str() == name);
                        match found {
                            Some(c) => checks.push(c.id.clone()),
                            None => {
                                let hint = crate::diag::closest(
                                    name,
                                    ctx.site.checks.iter().map(|c| c.short_id.as_str()),
                                )
                                .map(|h| format!("did you mean \"{h}\"?"));
                                self.rep.report(
                                    names.span(),
                                    &format!("{spath}.checks"),
                                    format!("site {:?} has no check {name:?}", ctx.site.id),
                                    hint,
                                );
                                return None;
                            }
                        }
                    }
                    if checks.is_empty() {
                        self.rep.report(
                            names.span(),
                            &format!("{spath}.checks"),
                            "empty list",
                            Some("leave `checks` out to verify every check of the site".into()),
                        );
                        return None;
                    }
                }
                let deadline = s
                    .deadline
                    .as_ref()
                    .map(|d| self.positive(d, &format!("{spath}.deadline")))
                    .unwrap_or(Duration::from_secs(600));
                let interval = s
                    .interval
                    .as_ref()
                    .map(|d| self.positive(d, &format!("{spath}.interval")))
                    .unwrap_or(Duration::from_secs(5));
                Some(StepAction::Verify(VerifyStep {
                    checks,
                    deadline,
                    interval,
                }))
            }
            "notify" => {
                let channels = self.required(&s.channels, &span, spath, "channels", kind)?;
                for c in channels.get_ref() {
                    if !ctx.channels.iter().any(|x| &x.id == c) {
                        let hint =
                            crate::diag::closest(c, ctx.channels.iter().map(|x| x.id.as_str()))
                                .map(|h| format!("did you mean \"{h}\"?"));
                        self.rep.report(
                            channels.span(),
                            &format!("{spath}.channels"),
                            format!("no channel {c:?}"),
                            hint,
                        );
                        return None;
                    }
                }
                let message = self.required(&s.message, &span, spath, "message", kind)?;
                Some(StepAction::Notify(NotifyStep {
                    channels: channels.get_ref().clone(),
                    message: message.get_ref().clone(),
                }))
            }
            "confirm" => Some(StepAction::Confirm(ConfirmStep {
                prompt: s
                    .prompt
                    .map(Spanned::into_inner)
                    .unwrap_or_else(|| format!("Continue the recovery plan {:?}?", ctx.plan_id)),
                timeout: s
                    .timeout
                    .as_ref()
                    .map(|t| self.positive(t, &format!("{spath}.timeout")))
                    .unwrap_or(Duration::from_secs(30 * 60)),
            })),
            "restore_files" => {
                let b = self.required(&s.backup, &span, spath, "backup", kind)?;
                let to = self.required(&s.to, &span, spath, "to", kind)?;
                let plan = self.backup_ref(b, spath, ctx)?;
                let host = self.step_host(&s.host, spath, ctx).ok()?;
                if !std::path::Path::new(to.get_ref()).is_absolute() {
                    self.rep.report(
                        to.span(),
                        &format!("{spath}.to"),
                        "`to` must be an absolute path",
                        None,
                    );
                    return None;
                }
                let paths: Vec<PathBuf> = s
                    .paths
                    .as_ref()
                    .map(|p| p.get_ref().iter().map(PathBuf::from).collect())
                    .unwrap_or_default();
                if let Some(p) = &s.paths {
                    for path in &paths {
                        let backed_up = plan.sources.iter().any(|src| match src {
                            BackupSource::Paths(ps) => {
                                ps.paths.iter().any(|root| path.starts_with(root))
                            }
                            _ => false,
                        });
                        if !path.is_absolute() || !backed_up {
                            self.rep.report(
                                p.span(),
                                &format!("{spath}.paths"),
                                format!(
                                    "{} is not a path backup plan {:?} backs up",
                                    path.display(),
                                    plan.id
                                ),
                                None,
                            );
                            return None;
                        }
                    }
                }
                Some(StepAction::RestoreFiles(RestoreFilesStep {
                    backup: plan.id.clone(),
                    snapshot: s.snapshot.map(Spanned::into_inner),
                    paths,
                    to: PathBuf::from(to.get_ref()),
                    host,
                    owner: s.owner.map(Spanned::into_inner),
                    timeout: s
                        .timeout
                        .as_ref()
                        .map(|t| self.positive(t, &format!("{spath}.timeout"))),
                }))
            }
            "restore_database" => {
                let b = self.required(&s.backup, &span, spath, "backup", kind)?;
                let plan = self.backup_ref(b, spath, ctx)?;
                let dumps: Vec<&crate::backup::DatabaseSource> = plan
                    .sources
                    .iter()
                    .filter_map(|src| match src {
                        BackupSource::Database(d) => Some(d),
                        _ => None,
                    })
                    .collect();
                let source = match &s.dump {
                    Some(d) => dumps.iter().find(|x| &x.filename == d.get_ref()).copied(),
                    None if dumps.len() == 1 => Some(dumps[0]),
                    None => None,
                };
                let Some(source) = source else {
                    let names: Vec<&str> = dumps.iter().map(|d| d.filename.as_str()).collect();
                    self.rep.report(
                        s.dump.as_ref().map_or(b.span(), Spanned::span),
                        &format!("{spath}.dump"),
                        match &s.dump {
                            Some(d) => {
                                format!("backup plan {:?} has no dump {:?}", plan.id, d.get_ref())
                            }
                            None => format!(
                                "backup plan {:?} has {} database dumps; name one in `dump`",
                                plan.id,
                                dumps.len()
                            ),
                        },
                        (!names.is_empty()).then(|| format!("its dumps: {}", names.join(", "))),
                    );
                    return None;
                };
                let db_host = self.required(&s.db_host, &span, spath, "db_host", kind)?;
                let db_host = self.host(db_host, spath)?;
                let db_port = match &s.db_port {
                    Some(p) => self.port(p, &format!("{spath}.db_port"))?,
                    None => source.kind.default_port(),
                };
                let db_user = self.required(&s.db_user, &span, spath, "db_user", kind)?;
                let database = self.required(&s.database, &span, spath, "database", kind)?;
                let check_query =
                    self.required(&s.check_query, &span, spath, "check_query", kind)?;
                let password = match (&s.password_env, &s.password_file) {
                    (None, None) => None,
                    (env, file) => Some(self.secret(
                        Inline::NotAccepted,
                        env.as_ref().map(|e| e.get_ref().as_str()),
                        file.as_ref().map(|f| f.get_ref().as_str()),
                        span.clone(),
                        spath,
                        "password",
                    )?),
                };
                Some(StepAction::RestoreDatabase(RestoreDatabaseStep {
                    backup: plan.id.clone(),
                    dump: source.filename.clone(),
                    kind: source.kind,
                    db_host,
                    db_port,
                    db_user: db_user.get_ref().clone(),
                    database: database.get_ref().clone(),
                    password,
                    check_query: check_query.get_ref().clone(),
                }))
            }
            "dns" => {
                let zone = self.required(&s.zone, &span, spath, "zone", kind)?;
                let names = self.required(&s.names, &span, spath, "names", kind)?;
                let server = self.required(&s.server, &span, spath, "server", kind)?;
                let key = self.required(&s.key, &span, spath, "key", kind)?;
                if !ctx.tsig_key_ids.contains(key.get_ref()) {
                    let hint = crate::diag::closest(
                        key.get_ref(),
                        ctx.tsig_key_ids.iter().map(String::as_str),
                    )
                    .map(|h| format!("did you mean \"{h}\"?"))
                    .or_else(|| Some("declare it as [[recovery.tsig_key]]".into()));
                    self.rep.report(
                        key.span(),
                        &format!("{spath}.key"),
                        format!("no TSIG key {:?} in this plan", key.get_ref()),
                        hint,
                    );
                    return None;
                }
                let zone_name = zone.get_ref().trim_end_matches('.').to_ascii_lowercase();
                for n in names.get_ref() {
                    let n = n.trim_end_matches('.').to_ascii_lowercase();
                    if n != zone_name && !n.ends_with(&format!(".{zone_name}")) {
                        self.rep.report(
                            names.span(),
                            &format!("{spath}.names"),
                            format!("{n:?} is not in the zone {zone_name:?}"),
                            None,
                        );
                        return None;
                    }
                }
                if names.get_ref().is_empty() {
                    self.rep
                        .report(names.span(), &format!("{spath}.names"), "empty list", None);
                    return None;
                }
                let ttl =
                    |me: &mut Self, v: &Option<Spanned<i64>>, key: &str| -> Option<Option<u32>> {
                        match v {
                            None => Some(None),
                            Some(t) => match u32::try_from(*t.get_ref()) {
                                Ok(x) if x <= 86_400 * 7 => Some(Some(x)),
                                _ => {
                                    me.rep.report(
                                        t.span(),
                                        &format!("{spath}.{key}"),
                                        "a TTL is 0 to 604800 seconds",
                                        None,
                                    );
                                    None
                                }
                            },
                        }
                    };
                let record_ttl = ttl(self, &s.ttl, "ttl")?.unwrap_or(60);
                let lower_ttl_first = ttl(self, &s.lower_ttl_first, "lower_ttl_first")?;
                let verify_timeout = s
                    .verify_timeout
                    .as_ref()
                    .map(|d| self.positive(d, &format!("{spath}.verify_timeout")))
                    .unwrap_or(Duration::from_secs(120));
                if s.cname.is_none() {
                    for (env_name, env) in &ctx.environments {
                        if env.addresses.is_empty() {
                            self.rep.report(
                                span.clone(),
                                spath,
                                format!("the {env_name} environment has no addresses to publish"),
                                Some(format!("add addresses = [...] to [recovery.{env_name}], or give `cname`")),
                            );
                            return None;
                        }
                    }
                }
                Some(StepAction::Dns(DnsStep {
                    zone: zone_name,
                    names: names.get_ref().clone(),
                    server: server.get_ref().clone(),
                    key: key.get_ref().clone(),
                    ttl: record_ttl,
                    lower_ttl_first,
                    cname: s.cname.map(Spanned::into_inner),
                    verify_timeout,
                    before_data: s.before_data.is_some_and(|b| *b.get_ref()),
                }))
            }
            _ => None,
        }
    }
}
