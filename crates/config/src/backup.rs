//! `[[backup]]`: backup plans. A plan copies its sources (paths with
//! excludes, any command's output, PostgreSQL and MySQL/MariaDB dumps) into
//! two or more restic-format repositories (targets), on a schedule, keeps
//! what the retention rules say, verifies the repositories by reading a
//! share of their data and restore-tests the latest snapshot. Everything is
//! validated here, at load: a plan never fails at 3 a.m. on a typo.
//!
//! ```toml
//! [[backup]]
//! id = "shop-db"
//! site = "shop"                 # optional: its checks count for this site
//! schedule = "0 */2 * * *"      # cron, in `timezone` (default UTC)
//! timezone = "Europe/Berlin"
//! rpo = "2h"                    # freshness limit (default: twice the longest gap of the schedule)
//! command_timeout = "6h"        # a command or dump running longer is killed; the run fails
//! password_env = "KEEPUP_REPO_PASSWORD"   # or password_file; a target may override
//! hostname = "shop-prod"        # the snapshots' host (default: this machine's name)
//! tags = ["db"]
//! alternate_targets = false     # true: even days → targets[0], odd days → targets[1], ...
//! allow_single_target = false   # silence the "two places, one off-site" warning
//! verify_uploads = true         # decrypt and decompress every blob before it is stored
//!                               # (written into repositories at `keepup backup init`)
//!
//! [[backup.source]]
//! kind = "paths"
//! paths = ["/srv/shop/media", "/etc/nginx"]
//! exclude = ["*.tmp", "/srv/shop/media/cache"]
//!
//! [[backup.source]]
//! kind = "command"              # its stdout is stored as /<plan id>/<filename>
//! command = ["sh", "-c", "redis-cli --rdb -"]
//! filename = "redis.rdb"
//!
//! [[backup.source]]
//! kind = "postgres"             # or "mysql" (MySQL/MariaDB)
//! host = "127.0.0.1"
//! port = 5432                   # default 5432 (mysql: 3306)
//! user = "backup"
//! dbname = "shop"
//! password_env = "SHOP_DB_PASSWORD"      # or password_file
//! format = "plain"              # postgres only: "plain" (default) or "custom"
//! args = ["--exclude-table=sessions"]
//! filename = "shop.sql"         # default "<dbname>.sql" ("<dbname>.dump" for custom)
//!
//! [[backup.target]]
//! id = "local"
//! repository = "/srv/backup/shop"          # or "sftp:user@host:/path", "rest:https://host/path/", "s3:https://host/bucket/prefix"
//!
//! [[backup.target]]
//! id = "offsite"
//! repository = "sftp:backup@backup.example.net:/srv/restic/shop"
//! offsite = true
//! ssh_identity_file = "/etc/keepup/backup_ed25519"
//! ssh_known_hosts_file = "/etc/keepup/known_hosts"
//! ssh_args = ["-o", "Compression=yes"]
//! password_file = "/etc/keepup/offsite.pass"   # overrides the plan's
//! # ca_file = "..."; rest_password_env / rest_password_file for rest: targets
//!
//! [[backup.target]]
//! id = "s3"
//! repository = "s3:https://s3.eu-central-1.amazonaws.com/shop-backups/db"
//! offsite = true
//! s3_access_key_id_env = "SHOP_S3_KEY_ID"            # or s3_access_key_id_file
//! s3_secret_access_key_file = "/etc/keepup/s3.secret"  # or s3_secret_access_key_env
//! # s3_session_token_env = "..."                     # temporary credentials
//! s3_region = "eu-central-1"    # default: AWS_DEFAULT_REGION, else us-east-1
//! # without s3_access_key_id_*/s3_secret_access_key_*: AWS_ACCESS_KEY_ID,
//! # AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from keepup's environment
//!
//! [backup.retention]
//! keep_last = 3
//! keep_daily = 7
//! keep_weekly = 5
//! keep_monthly = 12
//! schedule = "30 4 * * *"       # when forget + prune run
//!
//! [backup.verify]
//! schedule = "0 5 * * *"
//! read_data_subset = "5%"       # or "all", "2/20" (a fixed part), "*/30" (part by day: all in 30 days)
//!
//! [backup.restore_test]
//! schedule = "0 6 * * sun"
//! sample_files = 20
//! dump = "shop.sql"             # which database source (default: the only one)
//! query = "SELECT count(*) FROM orders"
//! min_rows = 1000
//! [backup.restore_test.database]   # a scratch server: the dump is restored into a new database there
//! kind = "postgres"
//! host = "127.0.0.1"
//! port = 5433
//! user = "postgres"
//! password_env = "SCRATCH_DB_PASSWORD"
//! ```

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::cron::Cron;
use crate::load::{Inline, Loader, valid_id};
use crate::raw::Dur;
use crate::spec::Secret;

pub mod location;
pub use location::{Location, LocationError};

/// A backup plan: what to copy, where to, when, and how it is verified.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    /// Short stable id (snapshots are tagged `keepup:<id>`, command outputs
    /// live under `/<id>/` in the snapshots).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: String,
    /// The site whose checks the plan's checks count for, if any.
    pub site: Option<String>,
    /// When backups run (none: only on demand).
    pub schedule: Option<Schedule>,
    /// The time zone of this plan's schedules.
    pub timezone: Zone,
    /// The age above which the last good snapshot of a target is stale.
    pub rpo: Duration,
    /// How long a command or dump source may run before it is killed (with
    /// its process group) and the run fails (default 6 h): a hung dump
    /// must not stop every later backup.
    pub command_timeout: Duration,
    /// The host name recorded in snapshots (default: this machine's).
    pub hostname: Option<String>,
    /// Extra snapshot tags (besides `keepup:<id>`).
    pub tags: Vec<String>,
    /// Even days go to `targets[0]`, odd days to `targets[1]`, and so on
    /// round the list (by the day number in `timezone`).
    pub alternate_targets: bool,
    /// Whether the repositories this plan creates check every blob after
    /// compressing and encrypting it, before it is stored (catches memory
    /// or library faults at backup time rather than at the next `check`;
    /// costs about a quarter of the backup CPU). Stored in the repository's
    /// config by `keepup backup init` (restic ignores it); a repository
    /// keeps the setting it was created with.
    pub verify_uploads: bool,
    /// What is backed up; at least one.
    pub sources: Vec<BackupSource>,
    /// Where to; at least one (two, one off-site, unless the operator said
    /// otherwise).
    pub targets: Vec<BackupTarget>,
    /// What `forget` keeps, and when it runs.
    pub retention: Option<Retention>,
    /// Scheduled repository checks.
    pub verify: Option<Verify>,
    /// Scheduled restore tests.
    pub restore_test: Option<RestoreTest>,
}

impl BackupPlan {
    /// The target with this id.
    pub fn target(&self, id: &str) -> Option<&BackupTarget> {
        self.targets.iter().find(|t| t.id == id)
    }
}

/// A time zone with its name as written.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The zone.
    pub tz: jiff::tz::TimeZone,
    /// Its IANA name as written (`UTC` by default).
    pub name: String,
}

/// A cron schedule (evaluated in the plan's [`Zone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The expression.
    pub cron: Cron,
}

/// One source of a plan.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// `kind = "paths"`: files and directories, minus excludes.
    Paths(PathsSource),
    /// `kind = "command"`: a command whose stdout is stored as one file.
    Command(CommandSource),
    /// `kind = "postgres"` or `"mysql"`: a database dump, stored as one
    /// file streamed from `pg_dump` / `mysqldump`.
    Database(DatabaseSource),
}

impl BackupSource {
    /// The file name a streamed source (command or dump) is stored under, in
    /// the plan's directory; `None` for paths.
    pub fn filename(&self) -> Option<&str> {
        match self {
            BackupSource::Paths(_) => None,
            BackupSource::Command(c) => Some(&c.filename),
            BackupSource::Database(d) => Some(&d.filename),
        }
    }
}

/// `kind = "paths"`
#[derive(Debug, Clone, PartialEq)]
pub struct PathsSource {
    /// Absolute paths, sorted, none inside another.
    pub paths: Vec<PathBuf>,
    /// Exclude globs (gitignore syntax: `*.log` anywhere, `/srv/x/cache`
    /// anchored), checked at load.
    pub exclude: Vec<String>,
}

/// `kind = "command"`
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSource {
    /// Program and arguments (no shell unless you call one).
    pub command: Vec<String>,
    /// Name of the stored file.
    pub filename: String,
}

/// Which database a dump source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// PostgreSQL, through `pg_dump`.
    Postgres,
    /// MySQL or MariaDB, through `mysqldump --single-transaction`.
    Mysql,
}

impl DatabaseKind {
    /// The `kind` as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::Mysql => "mysql",
        }
    }
    /// The server's standard port.
    pub fn default_port(self) -> u16 {
        match self {
            DatabaseKind::Postgres => 5432,
            DatabaseKind::Mysql => 3306,
        }
    }
}

/// `pg_dump --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpFormat {
    /// SQL text (restored with `psql`).
    Plain,
    /// pg_dump's compressed archive format (restored with `pg_restore`).
    Custom,
}

/// A dump option refused: its long name, its short letter, why.
type RefusedOption = (&'static str, Option<char>, &'static str);

/// Why dump argument `arg` is refused because the dump would then name,
/// create or drop databases, or `None`. A restore imports a dump into a
/// database of its choosing (`<db>_keepup_new`, a drill's scratch
/// database); a dump that says `USE shop`, `CREATE DATABASE` or `DROP
/// DATABASE` would write into, or drop, the real one instead. Long options
/// are matched by prefix, as the tools accept them (`--databa`), short ones
/// also inside a group (`-vB`).
pub fn database_switching_arg(
    kind: DatabaseKind,
    format: DumpFormat,
    arg: &str,
) -> Option<&'static str> {
    // The short letters that take a value end a group.
    let (refused, valued): (&[RefusedOption], &str) = match kind {
        DatabaseKind::Mysql => (
            &[
                (
                    "databases",
                    Some('B'),
                    "`--databases` (`-B`) makes the dump create and USE its databases",
                ),
                (
                    "all-databases",
                    Some('A'),
                    "`--all-databases` (`-A`) makes the dump create and USE every database",
                ),
                (
                    "add-drop-database",
                    None,
                    "`--add-drop-database` makes the dump drop its databases",
                ),
            ],
            "#hpPrSTuw",
        ),
        DatabaseKind::Postgres if format == DumpFormat::Plain => (
            &[
                (
                    "create",
                    Some('C'),
                    "`--create` (`-C`) makes the dump drop or create the database and \\connect to it",
                ),
                (
                    "clean",
                    Some('c'),
                    "`--clean` (`-c`) makes the dump drop objects first, which fails in the fresh database a restore imports into",
                ),
            ],
            "fFjZeEnNStTdhpU",
        ),
        DatabaseKind::Postgres => return None,
    };
    if let Some(long) = arg.strip_prefix("--") {
        let name = long.split('=').next().unwrap_or_default();
        let name = name.strip_prefix("loose-").unwrap_or(name);
        let name = name.strip_prefix("enable-").unwrap_or(name);
        if name.len() < 2 {
            return None;
        }
        refused
            .iter()
            .find(|(full, _, _)| full.starts_with(name))
            .map(|(_, _, why)| *why)
    } else {
        let group = arg.strip_prefix('-')?;
        let flags: String = group.chars().take_while(|c| !valued.contains(*c)).collect();
        refused
            .iter()
            .find(|(_, short, _)| short.is_some_and(|c| flags.contains(c)))
            .map(|(_, _, why)| *why)
    }
}

/// `kind = "postgres"` / `"mysql"`
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSource {
    /// Which server software.
    pub kind: DatabaseKind,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Database to dump.
    pub dbname: String,
    /// Password, from env or file (handed to the dump in its environment,
    /// never on its command line).
    pub password: Option<Secret>,
    /// Extra arguments for the dump program.
    pub args: Vec<String>,
    /// Output format (PostgreSQL only; MySQL dumps are always SQL).
    pub format: DumpFormat,
    /// Name of the stored file.
    pub filename: String,
}

/// `[[backup.target]]`: one repository.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupTarget {
    /// Id, unique in the plan.
    pub id: String,
    /// Where the repository is, parsed at load from restic's syntax (a
    /// relative local path is made absolute against the configuration's
    /// directory); its `Display` is restic's syntax again.
    pub repository: Location,
    /// Whether it is off-site.
    pub offsite: bool,
    /// The repository password (the target's own, else the plan's).
    pub password: Secret,
    /// How its storage is reached: SSH, TLS trust, REST and S3 credentials.
    pub access: TargetAccess,
}

/// How a target's storage is reached beyond its location. Each setting is
/// checked at load to belong to the location's kind (`ssh_*` to `sftp:`,
/// `ca_file` to `rest:` and `s3:`, ...); `Default` is none of them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetAccess {
    /// SFTP: `ssh -i FILE`, the private key.
    pub ssh_identity_file: Option<PathBuf>,
    /// SFTP: `ssh -o UserKnownHostsFile=FILE` (host keys are always
    /// checked: `BatchMode=yes` never asks).
    pub ssh_known_hosts_file: Option<PathBuf>,
    /// SFTP: extra `ssh` arguments before the destination, e.g.
    /// `["-o", "Compression=yes"]`.
    pub ssh_args: Vec<String>,
    /// REST or S3 over https: a PEM file of the CA(s) to trust instead of
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// REST: the basic-auth password (user in the URL).
    pub rest_password: Option<Secret>,
    /// S3: the access key id (with the secret access key; both `None`:
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`) from the environment when the backend opens).
    pub s3_access_key_id: Option<Secret>,
    /// S3: the secret access key.
    pub s3_secret_access_key: Option<Secret>,
    /// S3: a session token (temporary credentials).
    pub s3_session_token: Option<Secret>,
    /// S3: the region requests are signed for (`None`: `AWS_DEFAULT_REGION`,
    /// else `us-east-1`).
    pub s3_region: Option<String>,
}

/// A REST password goes out as basic auth with the location's user: with
/// no user in the location it could not be sent. Refused at load and by
/// the REST backend.
pub const REST_PASSWORD_WITHOUT_USER: &str =
    "a REST password is set but the location names no user (write rest:https://USER@host/...)";

/// Why S3 credentials cannot be used. Checked at load for the configured
/// ones and by the S3 backend for those it ends up with (the `AWS_*`
/// environment's included); never quotes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum S3CredentialsError {
    /// The key id and the secret are signed and sent as they are.
    #[error(
        "the S3 access key id or secret access key is empty or contains spaces or non-ASCII characters"
    )]
    UnusableKey,
    /// The session token is sent in a header.
    #[error("the S3 session token contains characters HTTP cannot carry")]
    UnusableToken,
}

/// An S3 access key id or secret access key: visible ASCII, not empty.
pub fn check_s3_key(key: &str) -> Result<(), S3CredentialsError> {
    let usable = !key.is_empty() && key.chars().all(|c| c.is_ascii_graphic());
    usable.then_some(()).ok_or(S3CredentialsError::UnusableKey)
}

/// An S3 session token: what an HTTP header value can carry.
pub fn check_s3_session_token(token: &str) -> Result<(), S3CredentialsError> {
    http::HeaderValue::from_str(token)
        .map(|_| ())
        .map_err(|_| S3CredentialsError::UnusableToken)
}

/// `[backup.retention]`: what `forget` keeps (restic's `--keep-*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    /// Keep the last n snapshots.
    pub keep_last: Option<u32>,
    /// Keep the last snapshot of each of the last n hours.
    pub keep_hourly: Option<u32>,
    /// ... days.
    pub keep_daily: Option<u32>,
    /// ... weeks.
    pub keep_weekly: Option<u32>,
    /// ... months.
    pub keep_monthly: Option<u32>,
    /// ... years.
    pub keep_yearly: Option<u32>,
    /// Keep every snapshot younger than this.
    pub keep_within: Option<Duration>,
    /// When forget + prune run (none: on demand only).
    pub schedule: Option<Schedule>,
}

/// How much pack data a check reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ReadData {
    /// Structure only: indexes, trees, snapshots.
    None,
    /// Every pack.
    All,
    /// A random share of the packs, in percent (0 < p ≤ 100).
    Percent(f64),
    /// A fixed part `n` of `m` (restic's `n/m`): packs whose id falls in it.
    Part {
        /// 1-based part.
        n: u32,
        /// Number of parts.
        m: u32,
    },
    /// `*/m`: the part chosen by the day (day number mod m), so that all
    /// data is read within m days of daily checks.
    Rotating {
        /// Number of parts.
        m: u32,
    },
}

/// `[backup.verify]`
#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    /// When (none: on demand only).
    pub schedule: Option<Schedule>,
    /// How much data is read (default `5%`).
    pub read_data: ReadData,
}

/// `[backup.restore_test]`
#[derive(Debug, Clone, PartialEq)]
pub struct RestoreTest {
    /// When (none: on demand only).
    pub schedule: Option<Schedule>,
    /// Files restored and compared (default 20; 0: none).
    pub sample_files: u32,
    /// The scratch database server dumps are restored into, if dumps are
    /// tested.
    pub database: Option<ScratchDatabase>,
    /// The stored file name of the dump to restore (default: the plan's
    /// only database source).
    pub dump: Option<String>,
    /// A query returning one number (e.g. a row count), run in the
    /// restored database.
    pub query: Option<String>,
    /// The least the query may return (default 1).
    pub min_rows: i64,
}

/// A database server for restore tests.
#[derive(Debug, Clone, PartialEq)]
pub struct ScratchDatabase {
    /// Server software.
    pub kind: DatabaseKind,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// A user allowed to create and drop databases.
    pub user: String,
    /// Its password.
    pub password: Option<Secret>,
    /// The database to connect to for `CREATE DATABASE` (postgres default
    /// `postgres`).
    pub dbname: Option<String>,
}

// ---------------------------------------------------------------------------
// The TOML as written
// ---------------------------------------------------------------------------

/// Sub-tables read on their own (so that their problems carry their path).
const PLAN_TABLES: &[&str] = &["source", "target", "retention", "verify", "restore_test"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackup {
    id: Spanned<String>,
    name: Option<String>,
    site: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    rpo: Option<Spanned<Dur>>,
    command_timeout: Option<Spanned<Dur>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    alternate_targets: bool,
    #[serde(default)]
    allow_single_target: bool,
    #[serde(default = "default_true")]
    verify_uploads: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaths {
    #[allow(dead_code)]
    kind: String,
    paths: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    #[allow(dead_code)]
    kind: String,
    command: Spanned<Vec<String>>,
    filename: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    kind: String,
    host: Spanned<String>,
    port: Option<Spanned<i64>>,
    user: Spanned<String>,
    dbname: Spanned<String>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    #[serde(default)]
    args: Vec<String>,
    format: Option<Spanned<String>>,
    filename: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    id: Spanned<String>,
    repository: Spanned<String>,
    #[serde(default)]
    offsite: bool,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    ssh_identity_file: Option<Spanned<String>>,
    ssh_known_hosts_file: Option<Spanned<String>>,
    #[serde(default)]
    ssh_args: Vec<String>,
    ca_file: Option<Spanned<String>>,
    rest_password_env: Option<Spanned<String>>,
    rest_password_file: Option<Spanned<String>>,
    s3_access_key_id_env: Option<Spanned<String>>,
    s3_access_key_id_file: Option<Spanned<String>>,
    s3_secret_access_key_env: Option<Spanned<String>>,
    s3_secret_access_key_file: Option<Spanned<String>>,
    s3_session_token_env: Option<Spanned<String>>,
    s3_session_token_file: Option<Spanned<String>>,
    s3_region: Option<Spanned<String>>,
}

/// A target's S3 settings, validated.
struct S3Options {
    access_key_id: Option<Secret>,
    secret_access_key: Option<Secret>,
    session_token: Option<Secret>,
    region: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    keep_last: Option<Spanned<i64>>,
    keep_hourly: Option<Spanned<i64>>,
    keep_daily: Option<Spanned<i64>>,
    keep_weekly: Option<Spanned<i64>>,
    keep_monthly: Option<Spanned<i64>>,
    keep_yearly: Option<Spanned<i64>>,
    keep_within: Option<Spanned<Dur>>,
    schedule: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerify {
    schedule: Option<Spanned<String>>,
    read_data_subset: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestoreTest {
    schedule: Option<Spanned<String>>,
    sample_files: Option<Spanned<i64>>,
    dump: Option<Spanned<String>>,
    query: Option<Spanned<String>>,
    min_rows: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScratchDb {
    kind: Spanned<String>,
    host: Spanned<String>,
    port: Option<Spanned<i64>>,
    user: Spanned<String>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    dbname: Option<String>,
}

const SOURCE_KINDS: &[&str] = &["paths", "command", "postgres", "mysql"];

/// How long a command source may run by default.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Without a schedule and without `rpo`, a backup older than this is stale.
const DEFAULT_RPO: Duration = Duration::from_secs(26 * 3600);

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

impl Loader<'_> {
    /// Validates `[[backup]]` (the value of the root key `backup`) against
    /// the configured site ids.
    pub(crate) fn backups(
        &mut self,
        value: Spanned<DeValue<'_>>,
        site_ids: &HashSet<String>,
    ) -> Vec<BackupPlan> {
        let items = self.array_of_tables_with_ids(
            value,
            "backup",
            "write each plan as [[backup]]",
            "backup plan",
        );
        items
            .into_iter()
            .filter_map(|(path, item)| self.backup_plan(item, &path, site_ids))
            .collect()
    }

    /// A warning: reported like a problem (same position and format), but
    /// kept apart so that it does not fail the load.
    fn warn(&mut self, span: Range<usize>, key: &str, message: String, hint: Option<String>) {
        self.rep.report(span, key, message, hint);
        if let Some((_, problem)) = self.rep.problems.pop() {
            self.warnings.push(problem);
        }
    }

    fn backup_plan(
        &mut self,
        item: Spanned<DeValue<'_>>,
        path: &str,
        site_ids: &HashSet<String>,
    ) -> Option<BackupPlan> {
        let span = item.span();
        let DeValue::Table(mut table) = item.into_inner() else {
            self.rep
                .report(span, path, "a backup plan must be a table", None);
            return None;
        };
        let source_values = table.remove("source");
        let target_values = table.remove("target");
        let retention_value = table.remove("retention");
        let verify_value = table.remove("verify");
        let restore_test_value = table.remove("restore_test");
        let raw: RawBackup = self.deserialize(
            Spanned::new(span.clone(), DeValue::Table(table)),
            path,
            PLAN_TABLES,
        )?;
        let mut ok = true;
        let id = raw.id.get_ref().clone();
        if !valid_id(&id) {
            self.rep.report(
                raw.id.span(),
                &format!("{path}.id"),
                format!("invalid id {id:?}"),
                Some(
                    "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
                        .into(),
                ),
            );
            ok = false;
        }
        if let Some(site) = &raw.site
            && !site_ids.contains(site.get_ref())
        {
            let hint = crate::diag::closest(site.get_ref(), site_ids.iter().map(String::as_str))
                .map(|s| format!("did you mean \"{s}\"?"));
            self.rep.report(
                site.span(),
                &format!("{path}.site"),
                format!("no site {:?}", site.get_ref()),
                hint,
            );
            ok = false;
        }
        let timezone = self.zone(raw.timezone.as_ref(), &format!("{path}.timezone"), &mut ok);
        let schedule = self.schedule(raw.schedule.as_ref(), &format!("{path}.schedule"), &mut ok);
        let rpo = match &raw.rpo {
            Some(d) => self.positive(d, &format!("{path}.rpo")),
            None => schedule
                .as_ref()
                .and_then(|s| longest_gap(&s.cron, &timezone.tz))
                .map(|gap| gap * 2)
                .unwrap_or(DEFAULT_RPO),
        };
        let command_timeout = match &raw.command_timeout {
            Some(d) => self.positive(d, &format!("{path}.command_timeout")),
            None => DEFAULT_COMMAND_TIMEOUT,
        };
        let password = self.optional_secret(
            raw.password_env.as_ref(),
            raw.password_file.as_ref(),
            path,
            "password",
            &mut ok,
        );
        let hostname = raw.hostname.as_ref().and_then(|h| {
            let host = self.host(h, path);
            ok &= host.is_some();
            host
        });
        let mut tags = Vec::new();
        for t in &raw.tags {
            let tag = t.get_ref();
            if tag.is_empty() || tag.contains(',') || tag.chars().any(char::is_control) {
                self.rep.report(
                    t.span(),
                    &format!("{path}.tags"),
                    format!("invalid tag {tag:?}"),
                    Some("restic tags are non-empty and contain no commas".into()),
                );
                ok = false;
            } else {
                tags.push(tag.clone());
            }
        }

        // Sources.
        let mut sources = Vec::new();
        match sources_of(source_values) {
            Err(span) => {
                self.rep.report(
                    span,
                    &format!("{path}.source"),
                    "`source` must be an array of tables",
                    Some("write each source as [[backup.source]]".into()),
                );
                ok = false;
            }
            Ok(items) if items.is_empty() => {
                self.rep.report(
                    raw.id.span(),
                    &format!("{path}.source"),
                    format!("backup plan {id:?} has no source"),
                    Some("add a [[backup.source]] with kind = \"paths\", \"command\", \"postgres\" or \"mysql\"".into()),
                );
                ok = false;
            }
            Ok(items) => {
                for (j, s) in items.into_iter().enumerate() {
                    match self.backup_source(s, &format!("{path}.source[{j}]"), &id) {
                        Some(src) => sources.push(src),
                        None => ok = false,
                    }
                }
            }
        }
        // Streamed sources share the plan's directory: one name each.
        let mut names = HashSet::new();
        for (j, s) in sources.iter().enumerate() {
            if let Some(name) = s.filename()
                && !names.insert(name.to_owned())
            {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.source[{j}].filename"),
                    format!("two sources of plan {id:?} are stored as {name:?}"),
                    Some("give each command or database source its own `filename`".into()),
                );
                ok = false;
            }
        }
        // Paths of different path sources must not overlap either.
        let all_paths: Vec<&PathBuf> = sources
            .iter()
            .filter_map(|s| match s {
                BackupSource::Paths(p) => Some(&p.paths),
                _ => None,
            })
            .flatten()
            .collect();
        for (a, pa) in all_paths.iter().enumerate() {
            for pb in &all_paths[a + 1..] {
                if pa.starts_with(pb) || pb.starts_with(pa) {
                    self.rep.report(
                        span.clone(),
                        &format!("{path}.source"),
                        format!("paths {} and {} overlap", pa.display(), pb.display()),
                        Some("list a directory once; use `exclude` to leave parts out".into()),
                    );
                    ok = false;
                }
            }
        }

        // Targets.
        let mut targets: Vec<BackupTarget> = Vec::new();
        match sources_of(target_values) {
            Err(span) => {
                self.rep.report(
                    span,
                    &format!("{path}.target"),
                    "`target` must be an array of tables",
                    Some("write each repository as [[backup.target]]".into()),
                );
                ok = false;
            }
            Ok(items) if items.is_empty() => {
                self.rep.report(
                    raw.id.span(),
                    &format!("{path}.target"),
                    format!("backup plan {id:?} has no target"),
                    Some("add a [[backup.target]] with an id and a repository".into()),
                );
                ok = false;
            }
            Ok(items) => {
                for (j, t) in items.into_iter().enumerate() {
                    let tpath = format!("{path}.target[{j}]");
                    let tspan = t.span();
                    match self.backup_target(t, &tpath, password.as_ref()) {
                        Some(target) => {
                            if targets.iter().any(|x| x.id == target.id) {
                                self.rep.report(
                                    tspan,
                                    &format!("{tpath}.id"),
                                    format!("target id {:?} is used twice in this plan", target.id),
                                    None,
                                );
                                ok = false;
                            } else if let Some(other) =
                                targets.iter().find(|x| x.repository == target.repository)
                            {
                                self.rep.report(
                                    tspan,
                                    &format!("{tpath}.repository"),
                                    format!(
                                        "targets {:?} and {:?} are the same repository",
                                        other.id, target.id
                                    ),
                                    Some(
                                        "two targets only protect you if they are two places"
                                            .into(),
                                    ),
                                );
                                ok = false;
                            } else {
                                targets.push(target);
                            }
                        }
                        None => ok = false,
                    }
                }
            }
        }
        if ok && !raw.allow_single_target {
            let offsite = targets.iter().any(|t| t.offsite);
            if targets.len() < 2 || !offsite {
                let what = match (targets.len() < 2, offsite) {
                    (true, _) => "has a single target",
                    (false, _) => "has no target marked `offsite = true`",
                };
                self.warn(
                    raw.id.span(),
                    path,
                    format!("backup plan {id:?} {what}: a backup should live in two places, one of them off-site, so that one fire, theft or ransomware does not take the data and its backup together"),
                    Some("add an off-site [[backup.target]] (offsite = true), or set allow_single_target = true if this is deliberate".into()),
                );
            }
        }
        if raw.alternate_targets && targets.len() < 2 {
            self.rep.report(
                raw.id.span(),
                &format!("{path}.alternate_targets"),
                "alternating needs at least two targets",
                None,
            );
            ok = false;
        }

        let retention = retention_value.and_then(|v| {
            let rpath = format!("{path}.retention");
            let span = v.span();
            match self.deserialize::<RawRetention>(v, &rpath, &[]) {
                Some(r) => self.retention(Spanned::new(span, r), &rpath, &mut ok),
                None => {
                    ok = false;
                    None
                }
            }
        });
        let verify = verify_value.and_then(|v| {
            let vpath = format!("{path}.verify");
            match self.deserialize::<RawVerify>(v, &vpath, &[]) {
                Some(r) => Some(self.verify(&r, &vpath, &mut ok)),
                None => {
                    ok = false;
                    None
                }
            }
        });
        let restore_test = restore_test_value.and_then(|v| {
            let tpath = format!("{path}.restore_test");
            let span = v.span();
            let (v, database) = match v.into_inner() {
                DeValue::Table(mut t) => {
                    let db = t.remove("database");
                    (Spanned::new(span.clone(), DeValue::Table(t)), db)
                }
                other => (Spanned::new(span.clone(), other), None),
            };
            let raw = self.deserialize::<RawRestoreTest>(v, &tpath, &["database"]);
            let database = database.and_then(|d| {
                self.deserialize::<RawScratchDb>(d, &format!("{tpath}.database"), &[])
                    .or_else(|| {
                        ok = false;
                        None
                    })
            });
            match raw {
                Some(r) => {
                    self.restore_test(Spanned::new(span, r), database, &tpath, &sources, &mut ok)
                }
                None => {
                    ok = false;
                    None
                }
            }
        });

        ok.then(|| BackupPlan {
            name: raw.name.clone().unwrap_or_else(|| id.clone()),
            id,
            site: raw.site.map(Spanned::into_inner),
            schedule,
            timezone,
            rpo,
            command_timeout,
            hostname,
            tags,
            alternate_targets: raw.alternate_targets,
            verify_uploads: raw.verify_uploads,
            sources,
            targets,
            retention,
            verify,
            restore_test,
        })
    }

    /// A schedule's time zone as written (`timezone`), UTC when left out
    /// (and, after an error, so the caller can go on reporting).
    pub(crate) fn zone(
        &mut self,
        name: Option<&Spanned<String>>,
        key: &str,
        ok: &mut bool,
    ) -> Zone {
        let utc = || Zone {
            tz: jiff::tz::TimeZone::UTC,
            name: "UTC".into(),
        };
        let Some(name) = name else {
            return utc();
        };
        match self.timezone(name, key) {
            Some(tz) => Zone {
                tz,
                name: name.get_ref().clone(),
            },
            None => {
                *ok = false;
                utc()
            }
        }
    }

    /// A cron schedule as written.
    pub(crate) fn schedule(
        &mut self,
        text: Option<&Spanned<String>>,
        key: &str,
        ok: &mut bool,
    ) -> Option<Schedule> {
        let text = text?;
        match Cron::parse(text.get_ref()) {
            Ok(cron) => Some(Schedule { cron }),
            Err(e) => {
                self.rep.report(
                    text.span(),
                    key,
                    format!("invalid cron expression: {e}"),
                    Some(
                        "e.g. \"0 */2 * * *\" for every two hours, \"30 1 * * *\" for 01:30 daily"
                            .into(),
                    ),
                );
                *ok = false;
                None
            }
        }
    }

    /// A secret that may be left out (`password_env` / `password_file`).
    pub(crate) fn optional_secret(
        &mut self,
        env: Option<&Spanned<String>>,
        file: Option<&Spanned<String>>,
        path: &str,
        what: &str,
        ok: &mut bool,
    ) -> Option<Secret> {
        if env.is_none() && file.is_none() {
            return None;
        }
        let span = env.or(file).map(|s| s.span()).unwrap_or(0..0);
        let secret = self.secret(
            Inline::NotAccepted,
            env.map(|s| s.get_ref().as_str()),
            file.map(|s| s.get_ref().as_str()),
            span,
            path,
            what,
        );
        *ok &= secret.is_some();
        secret
    }

    fn backup_source(
        &mut self,
        item: Spanned<DeValue<'_>>,
        path: &str,
        plan_id: &str,
    ) -> Option<BackupSource> {
        let span = item.span();
        let kind = match item.get_ref() {
            DeValue::Table(t) => match t.get("kind") {
                Some(k) => match k.get_ref() {
                    DeValue::String(s) => Some((s.to_string(), k.span())),
                    _ => {
                        self.rep.report(
                            k.span(),
                            &format!("{path}.kind"),
                            "expected a string",
                            None,
                        );
                        return None;
                    }
                },
                None => None,
            },
            _ => {
                self.rep
                    .report(span, path, "a source must be a table", None);
                return None;
            }
        };
        let Some((kind, kind_span)) = kind else {
            self.rep.report(
                span,
                &format!("{path}.kind"),
                "missing key `kind`",
                Some(format!("kinds: {}", SOURCE_KINDS.join(", "))),
            );
            return None;
        };
        match kind.as_str() {
            "paths" => {
                let raw: RawPaths = self.deserialize(item, path, &[])?;
                self.paths_source(raw, path, plan_id)
                    .map(BackupSource::Paths)
            }
            "command" => {
                let raw: RawCommand = self.deserialize(item, path, &[])?;
                let mut ok = true;
                let argv = raw.command.get_ref();
                if argv.is_empty() || argv[0].is_empty() {
                    self.rep.report(
                        raw.command.span(),
                        &format!("{path}.command"),
                        "the command is empty",
                        Some(
                            "write the program and its arguments, e.g. [\"sh\", \"-c\", \"...\"]"
                                .into(),
                        ),
                    );
                    ok = false;
                }
                let filename = self.stored_filename(&raw.filename, path, &mut ok);
                ok.then(|| {
                    BackupSource::Command(CommandSource {
                        command: argv.clone(),
                        filename: filename.unwrap_or_default(),
                    })
                })
            }
            "postgres" | "mysql" => {
                let raw: RawDatabase = self.deserialize(item, path, &[])?;
                self.database_source(raw, path).map(BackupSource::Database)
            }
            other => {
                let hint = match crate::diag::closest(other, SOURCE_KINDS.iter().copied()) {
                    Some(k) => format!("did you mean \"{k}\"? kinds: {}", SOURCE_KINDS.join(", ")),
                    None => format!("kinds: {}", SOURCE_KINDS.join(", ")),
                };
                self.rep.report(
                    kind_span,
                    &format!("{path}.kind"),
                    format!("unknown source kind {other:?}"),
                    Some(hint),
                );
                None
            }
        }
    }

    /// A file name for a streamed source: one plain component.
    fn stored_filename(
        &mut self,
        name: &Spanned<String>,
        path: &str,
        ok: &mut bool,
    ) -> Option<String> {
        let n = name.get_ref();
        let plain = !n.is_empty()
            && n != "."
            && n != ".."
            && !n.contains('/')
            && !n.contains('\0')
            && n.len() <= 255;
        if plain {
            Some(n.clone())
        } else {
            self.rep.report(
                name.span(),
                &format!("{path}.filename"),
                format!("{n:?} is not a plain file name"),
                Some("a name such as \"shop.sql\", without '/'".into()),
            );
            *ok = false;
            None
        }
    }

    fn paths_source(&mut self, raw: RawPaths, path: &str, plan_id: &str) -> Option<PathsSource> {
        let mut ok = true;
        if raw.paths.get_ref().is_empty() {
            self.rep.report(
                raw.paths.span(),
                &format!("{path}.paths"),
                "no paths given",
                None,
            );
            ok = false;
        }
        let mut paths: Vec<PathBuf> = Vec::new();
        for p in raw.paths.get_ref() {
            let pb = PathBuf::from(p.get_ref());
            let clean = pb.is_absolute()
                && pb
                    .components()
                    .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
            if !clean {
                self.rep.report(
                    p.span(),
                    &format!("{path}.paths"),
                    format!("{:?} is not an absolute, normalised path", p.get_ref()),
                    Some(
                        "write the full path, e.g. \"/srv/shop/media\", without '.' or '..'".into(),
                    ),
                );
                ok = false;
                continue;
            }
            // Streamed sources are stored under /<plan id>/; a real path
            // there would collide with them in the snapshot.
            if pb.starts_with(Path::new("/").join(plan_id)) {
                self.rep.report(
                    p.span(),
                    &format!("{path}.paths"),
                    format!(
                        "{} is where this plan stores its command and dump outputs in a snapshot",
                        pb.display()
                    ),
                    Some("rename the plan or back up the directory from its parent".into()),
                );
                ok = false;
                continue;
            }
            if let Some(other) = paths
                .iter()
                .find(|o| o.starts_with(&pb) || pb.starts_with(o))
            {
                self.rep.report(
                    p.span(),
                    &format!("{path}.paths"),
                    format!("{} overlaps {}", pb.display(), other.display()),
                    Some("list a directory once; use `exclude` to leave parts out".into()),
                );
                ok = false;
                continue;
            }
            paths.push(pb);
        }
        paths.sort();
        let mut exclude = Vec::new();
        for g in &raw.exclude {
            let glob = g.get_ref();
            let problem = if glob.trim().is_empty() {
                Some("an empty pattern".to_owned())
            } else if glob.starts_with('!') {
                Some("a leading '!' would include instead of exclude".to_owned())
            } else {
                globset::GlobBuilder::new(glob.trim_start_matches('/'))
                    .literal_separator(true)
                    .build()
                    .err()
                    .map(|e| e.kind().to_string())
            };
            match problem {
                Some(p) => {
                    self.rep.report(
                        g.span(),
                        &format!("{path}.exclude"),
                        format!("invalid exclude pattern {glob:?}: {p}"),
                        Some("gitignore syntax: \"*.log\" anywhere, \"/srv/shop/cache\" anchored, \"**/tmp\"".into()),
                    );
                    ok = false;
                }
                None => exclude.push(glob.clone()),
            }
        }
        ok.then_some(PathsSource { paths, exclude })
    }

    fn database_source(&mut self, raw: RawDatabase, path: &str) -> Option<DatabaseSource> {
        let mut ok = true;
        let kind = if raw.kind == "postgres" {
            DatabaseKind::Postgres
        } else {
            DatabaseKind::Mysql
        };
        let host = self.host(&raw.host, path);
        ok &= host.is_some();
        let port = match &raw.port {
            Some(p) => {
                let port = self.port(p, path);
                ok &= port.is_some();
                port.unwrap_or(0)
            }
            None => kind.default_port(),
        };
        for (v, key) in [(&raw.user, "user"), (&raw.dbname, "dbname")] {
            if v.get_ref().trim().is_empty() || v.get_ref().contains('\0') {
                self.rep.report(
                    v.span(),
                    &format!("{path}.{key}"),
                    format!("`{key}` is empty"),
                    None,
                );
                ok = false;
            }
        }
        let password = self.optional_secret(
            raw.password_env.as_ref(),
            raw.password_file.as_ref(),
            path,
            "password",
            &mut ok,
        );
        let format = match (&raw.format, kind) {
            (None, _) => DumpFormat::Plain,
            (Some(f), DatabaseKind::Postgres) => match f.get_ref().as_str() {
                "plain" => DumpFormat::Plain,
                "custom" => DumpFormat::Custom,
                other => {
                    self.rep.report(
                        f.span(),
                        &format!("{path}.format"),
                        format!("unknown dump format {other:?}"),
                        Some("use \"plain\" (SQL) or \"custom\" (pg_restore)".into()),
                    );
                    ok = false;
                    DumpFormat::Plain
                }
            },
            (Some(f), DatabaseKind::Mysql) => {
                self.rep.report(
                    f.span(),
                    &format!("{path}.format"),
                    "mysqldump writes SQL only; `format` is for postgres",
                    None,
                );
                ok = false;
                DumpFormat::Plain
            }
        };
        if raw.args.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a.starts_with("--password") || a.starts_with("-p") && kind == DatabaseKind::Mysql
        }) {
            self.rep.report(
                raw.host.span(),
                &format!("{path}.args"),
                "a password on the command line is visible to every user of the machine",
                Some("use password_env or password_file".into()),
            );
            ok = false;
        }
        for arg in &raw.args {
            if let Some(why) = database_switching_arg(kind, format, arg) {
                self.rep.report(
                    raw.host.span(),
                    &format!("{path}.args"),
                    format!("an argument for the dump is refused: {why}"),
                    Some("a restore imports the dump into the database it chooses (beside the real one, or a drill's scratch database): leave the database names out of the dump".into()),
                );
                ok = false;
            }
        }
        let filename = match &raw.filename {
            Some(f) => self.stored_filename(f, path, &mut ok),
            None => {
                let ext = if format == DumpFormat::Custom {
                    "dump"
                } else {
                    "sql"
                };
                let name = format!("{}.{ext}", raw.dbname.get_ref());
                if name.contains('/') {
                    self.rep.report(
                        raw.dbname.span(),
                        &format!("{path}.filename"),
                        "the database name cannot be a file name",
                        Some("give `filename`".into()),
                    );
                    ok = false;
                }
                Some(name)
            }
        };
        ok.then(|| DatabaseSource {
            kind,
            host: host.unwrap_or_default(),
            port,
            user: raw.user.into_inner(),
            dbname: raw.dbname.into_inner(),
            password,
            args: raw.args,
            format,
            filename: filename.unwrap_or_default(),
        })
    }

    fn backup_target(
        &mut self,
        item: Spanned<DeValue<'_>>,
        path: &str,
        plan_password: Option<&Secret>,
    ) -> Option<BackupTarget> {
        let span = item.span();
        let raw: RawTarget = self.deserialize(item, path, &[])?;
        let mut ok = true;
        if !valid_id(raw.id.get_ref()) {
            self.rep.report(
                raw.id.span(),
                &format!("{path}.id"),
                format!("invalid id {:?}", raw.id.get_ref()),
                Some(
                    "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
                        .into(),
                ),
            );
            ok = false;
        }
        let repository = self.repository(&raw.repository, path);
        ok &= repository.is_some();
        let own = self.optional_secret(
            raw.password_env.as_ref(),
            raw.password_file.as_ref(),
            path,
            "password",
            &mut ok,
        );
        let password = match (own, plan_password) {
            (Some(p), _) => Some(p),
            (None, Some(p)) => Some(p.clone()),
            (None, None) => {
                if ok {
                    self.rep.report(
                        span,
                        &format!("{path}.password"),
                        "no repository password for this target",
                        Some("give password_env or password_file in the plan (for all targets) or in the target".into()),
                    );
                }
                ok = false;
                None
            }
        };
        let file = |this: &mut Self, f: &Option<Spanned<String>>, key: &str, ok: &mut bool| {
            f.as_ref().and_then(|f| {
                let p = this.resolve_path(f.get_ref());
                match std::fs::metadata(&p) {
                    Ok(m) if m.is_file() => Some(p),
                    Ok(_) => {
                        this.rep.report(
                            f.span(),
                            &format!("{path}.{key}"),
                            format!("{} is not a file", p.display()),
                            None,
                        );
                        *ok = false;
                        None
                    }
                    Err(e) => {
                        this.rep.report(
                            f.span(),
                            &format!("{path}.{key}"),
                            format!("cannot read {}: {e}", p.display()),
                            None,
                        );
                        *ok = false;
                        None
                    }
                }
            })
        };
        let ssh_identity_file = file(self, &raw.ssh_identity_file, "ssh_identity_file", &mut ok);
        let ssh_known_hosts_file = file(
            self,
            &raw.ssh_known_hosts_file,
            "ssh_known_hosts_file",
            &mut ok,
        );
        let ca_file = raw.ca_file.as_ref().and_then(|f| {
            let p = self.ca_file(f, &format!("{path}.ca_file"));
            ok &= p.is_some();
            p
        });
        let rest_password = self.optional_secret(
            raw.rest_password_env.as_ref(),
            raw.rest_password_file.as_ref(),
            path,
            "rest_password",
            &mut ok,
        );
        if rest_password.is_some()
            && let Some(Location::Rest { user: None, .. }) = &repository
        {
            let span = given_span(&raw.rest_password_env, &raw.rest_password_file);
            self.rep.report(
                span.unwrap_or_else(|| raw.repository.span()),
                &format!("{path}.rest_password"),
                REST_PASSWORD_WITHOUT_USER,
                None,
            );
            ok = false;
        }
        let s3 = self.s3_options(&raw, path, &mut ok);
        // Unknown for a refused location: then only that is reported.
        let scheme = repository.as_ref().map(Location::kind);
        let misplaced: [(bool, &str, &[&str]); 9] = [
            (ssh_identity_file.is_some(), "ssh_identity_file", &["sftp"]),
            (
                ssh_known_hosts_file.is_some(),
                "ssh_known_hosts_file",
                &["sftp"],
            ),
            (!raw.ssh_args.is_empty(), "ssh_args", &["sftp"]),
            (ca_file.is_some(), "ca_file", &["rest", "s3"]),
            (rest_password.is_some(), "rest_password", &["rest"]),
            (s3.access_key_id.is_some(), "s3_access_key_id", &["s3"]),
            (
                s3.secret_access_key.is_some(),
                "s3_secret_access_key",
                &["s3"],
            ),
            (s3.session_token.is_some(), "s3_session_token", &["s3"]),
            (raw.s3_region.is_some(), "s3_region", &["s3"]),
        ];
        for (given, key, wanted) in misplaced {
            if given && scheme.is_some_and(|s| !wanted.contains(&s)) {
                let wanted = wanted
                    .iter()
                    .map(|w| format!("{w}:"))
                    .collect::<Vec<_>>()
                    .join(" and ");
                self.rep.report(
                    raw.repository.span(),
                    &format!("{path}.{key}"),
                    format!("`{key}` is for {wanted} repositories"),
                    None,
                );
                ok = false;
            }
        }
        let repository = repository.filter(|_| ok)?;
        Some(BackupTarget {
            id: raw.id.into_inner(),
            repository,
            offsite: raw.offsite,
            password: password.unwrap_or_else(|| Secret::new(String::new())),
            access: TargetAccess {
                ssh_identity_file,
                ssh_known_hosts_file,
                ssh_args: raw.ssh_args,
                ca_file,
                rest_password,
                s3_access_key_id: s3.access_key_id,
                s3_secret_access_key: s3.secret_access_key,
                s3_session_token: s3.session_token,
                s3_region: s3.region,
            },
        })
    }

    /// A target's S3 credentials (by reference) and region. The key id and
    /// the secret come together or not at all (then the `AWS_*`
    /// environment is read at run time), a session token only with them.
    fn s3_options(&mut self, raw: &RawTarget, path: &str, ok: &mut bool) -> S3Options {
        let mut secret = |this: &mut Self,
                          env: &Option<Spanned<String>>,
                          file: &Option<Spanned<String>>,
                          what: &str| {
            this.optional_secret(env.as_ref(), file.as_ref(), path, what, ok)
        };
        let access_key_id = secret(
            self,
            &raw.s3_access_key_id_env,
            &raw.s3_access_key_id_file,
            "s3_access_key_id",
        );
        let secret_access_key = secret(
            self,
            &raw.s3_secret_access_key_env,
            &raw.s3_secret_access_key_file,
            "s3_secret_access_key",
        );
        let session_token = secret(
            self,
            &raw.s3_session_token_env,
            &raw.s3_session_token_file,
            "s3_session_token",
        );
        let id_span = given_span(&raw.s3_access_key_id_env, &raw.s3_access_key_id_file);
        let secret_span = given_span(
            &raw.s3_secret_access_key_env,
            &raw.s3_secret_access_key_file,
        );
        let token_span = given_span(&raw.s3_session_token_env, &raw.s3_session_token_file);
        // What the S3 backend would refuse to sign or send.
        let usable = [
            (
                &access_key_id,
                &id_span,
                "s3_access_key_id",
                check_s3_key as fn(&str) -> _,
            ),
            (
                &secret_access_key,
                &secret_span,
                "s3_secret_access_key",
                check_s3_key,
            ),
            (
                &session_token,
                &token_span,
                "s3_session_token",
                check_s3_session_token,
            ),
        ];
        for (secret, span, key, check) in usable {
            if let (Some(secret), Some(span)) = (secret, span)
                && let Err(e) = check(secret.expose())
            {
                self.rep
                    .report(span.clone(), &format!("{path}.{key}"), e.to_string(), None);
                *ok = false;
            }
        }
        match (&id_span, &secret_span) {
            (Some(span), None) => {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.s3_secret_access_key"),
                    "an S3 access key id without its secret access key",
                    Some("give s3_secret_access_key_env or s3_secret_access_key_file too (or neither, to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into()),
                );
                *ok = false;
            }
            (None, Some(span)) => {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.s3_access_key_id"),
                    "an S3 secret access key without its access key id",
                    Some("give s3_access_key_id_env or s3_access_key_id_file too (or neither, to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)".into()),
                );
                *ok = false;
            }
            _ => {}
        }
        if let (Some(span), None) = (token_span, &id_span) {
            self.rep.report(
                span,
                &format!("{path}.s3_session_token"),
                "an S3 session token belongs with the access key id and secret access key it was issued with",
                Some("give s3_access_key_id_* and s3_secret_access_key_* too, or leave all three to the AWS_* environment".into()),
            );
            *ok = false;
        }
        let region = raw.s3_region.as_ref().and_then(|r| {
            let text = r.get_ref().trim();
            let valid = !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                self.rep.report(
                    r.span(),
                    &format!("{path}.s3_region"),
                    format!("invalid S3 region {:?}", r.get_ref()),
                    Some("a region name like \"us-east-1\" or \"eu-central-1\" (MinIO: \"us-east-1\" unless configured otherwise)".into()),
                );
                *ok = false;
            }
            valid.then(|| text.to_owned())
        });
        S3Options {
            access_key_id,
            secret_access_key,
            session_token,
            region,
        }
    }

    /// The repository's location, parsed as the backup run will open it; a
    /// local path is made absolute against the configuration's directory.
    fn repository(&mut self, r: &Spanned<String>, path: &str) -> Option<Location> {
        match Location::parse(r.get_ref().trim()) {
            Ok(Location::Local { path }) => Some(Location::Local {
                path: self.resolve_path(&path.to_string_lossy()),
            }),
            Ok(location) => Some(location),
            Err(e) => {
                // Credentials are never quoted, and their message says
                // where they belong instead.
                let credentials = matches!(
                    e,
                    LocationError::CredentialsInUrl | LocationError::PasswordInUrl
                );
                let hint = (!credentials).then(|| "a directory (\"/srv/backup/shop\"), \"sftp:user@host:/path\", \"rest:https://host:8000/path/\" or \"s3:https://host/bucket/prefix\"".to_owned());
                self.rep
                    .report(r.span(), &format!("{path}.repository"), e.to_string(), hint);
                None
            }
        }
    }

    fn retention(
        &mut self,
        raw: Spanned<RawRetention>,
        path: &str,
        ok: &mut bool,
    ) -> Option<Retention> {
        let r = raw.get_ref();
        let mut count = |this: &mut Self, v: &Option<Spanned<i64>>, key: &str| -> Option<u32> {
            let v = v.as_ref()?;
            match u32::try_from(*v.get_ref()) {
                Ok(n) if n > 0 && n <= i32::MAX as u32 => Some(n),
                _ => {
                    this.rep.report(
                        v.span(),
                        &format!("{path}.{key}"),
                        format!("`{key}` must be a positive count, not {}", v.get_ref()),
                        Some("leave the key out to not keep by this rule".into()),
                    );
                    *ok = false;
                    None
                }
            }
        };
        let keep_last = count(self, &r.keep_last, "keep_last");
        let keep_hourly = count(self, &r.keep_hourly, "keep_hourly");
        let keep_daily = count(self, &r.keep_daily, "keep_daily");
        let keep_weekly = count(self, &r.keep_weekly, "keep_weekly");
        let keep_monthly = count(self, &r.keep_monthly, "keep_monthly");
        let keep_yearly = count(self, &r.keep_yearly, "keep_yearly");
        let keep_within = r
            .keep_within
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.keep_within")));
        let any = [
            &r.keep_last,
            &r.keep_hourly,
            &r.keep_daily,
            &r.keep_weekly,
            &r.keep_monthly,
            &r.keep_yearly,
        ]
        .iter()
        .any(|k| k.is_some())
            || r.keep_within.is_some();
        if !any {
            self.rep.report(
                raw.span(),
                path,
                "a retention without any keep_* rule would forget every snapshot",
                Some("e.g. keep_daily = 7, keep_weekly = 5, keep_monthly = 12".into()),
            );
            *ok = false;
        }
        let schedule = self.schedule(r.schedule.as_ref(), &format!("{path}.schedule"), ok);
        Some(Retention {
            keep_last,
            keep_hourly,
            keep_daily,
            keep_weekly,
            keep_monthly,
            keep_yearly,
            keep_within,
            schedule,
        })
    }

    fn verify(&mut self, raw: &RawVerify, path: &str, ok: &mut bool) -> Verify {
        let schedule = self.schedule(raw.schedule.as_ref(), &format!("{path}.schedule"), ok);
        let read_data = match &raw.read_data_subset {
            None => ReadData::Percent(5.0),
            Some(s) => match parse_read_data(s.get_ref()) {
                Ok(r) => r,
                Err(e) => {
                    self.rep.report(
                        s.span(),
                        &format!("{path}.read_data_subset"),
                        format!("invalid read_data_subset {:?}: {e}", s.get_ref()),
                        Some("\"5%\", \"all\", \"none\", \"2/20\" (part 2 of 20) or \"*/30\" (a part per day, all in 30 days)".into()),
                    );
                    *ok = false;
                    ReadData::None
                }
            },
        };
        Verify {
            schedule,
            read_data,
        }
    }

    fn restore_test(
        &mut self,
        raw: Spanned<RawRestoreTest>,
        database: Option<RawScratchDb>,
        path: &str,
        sources: &[BackupSource],
        ok: &mut bool,
    ) -> Option<RestoreTest> {
        let r = raw.get_ref();
        let schedule = self.schedule(r.schedule.as_ref(), &format!("{path}.schedule"), ok);
        let sample_files = match &r.sample_files {
            None => 20,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(n) if n <= 100_000 => n,
                _ => {
                    self.rep.report(
                        n.span(),
                        &format!("{path}.sample_files"),
                        format!("invalid sample size {}", n.get_ref()),
                        Some("a count between 0 and 100000".into()),
                    );
                    *ok = false;
                    0
                }
            },
        };
        let database = database.as_ref().and_then(|d| {
            let dpath = format!("{path}.database");
            let kind = match d.kind.get_ref().as_str() {
                "postgres" => DatabaseKind::Postgres,
                "mysql" => DatabaseKind::Mysql,
                other => {
                    self.rep.report(
                        d.kind.span(),
                        &format!("{dpath}.kind"),
                        format!("unknown database kind {other:?}"),
                        Some("\"postgres\" or \"mysql\"".into()),
                    );
                    *ok = false;
                    return None;
                }
            };
            let host = self.host(&d.host, &dpath);
            let port = match &d.port {
                Some(p) => self.port(p, &dpath),
                None => Some(kind.default_port()),
            };
            let password = self.optional_secret(
                d.password_env.as_ref(),
                d.password_file.as_ref(),
                &dpath,
                "password",
                ok,
            );
            match (host, port) {
                (Some(host), Some(port)) => Some(ScratchDatabase {
                    kind,
                    host,
                    port,
                    user: d.user.get_ref().clone(),
                    password,
                    dbname: d.dbname.clone(),
                }),
                _ => {
                    *ok = false;
                    None
                }
            }
        });
        let dumps: Vec<&DatabaseSource> = sources
            .iter()
            .filter_map(|s| match s {
                BackupSource::Database(d) => Some(d),
                _ => None,
            })
            .collect();
        let dump = match (&r.dump, &database) {
            (Some(name), _) => {
                match dumps.iter().find(|d| d.filename == *name.get_ref()) {
                    Some(d) => {
                        if let Some(db) = &database
                            && db.kind != d.kind
                        {
                            self.rep.report(
                                name.span(),
                                &format!("{path}.dump"),
                                format!(
                                    "{:?} is a {} dump but the scratch database is {}",
                                    name.get_ref(),
                                    d.kind.as_str(),
                                    db.kind.as_str()
                                ),
                                None,
                            );
                            *ok = false;
                        }
                    }
                    None => {
                        let names: Vec<&str> = dumps.iter().map(|d| d.filename.as_str()).collect();
                        self.rep.report(
                            name.span(),
                            &format!("{path}.dump"),
                            format!(
                                "the plan has no database source stored as {:?}",
                                name.get_ref()
                            ),
                            Some(if names.is_empty() {
                                "the plan has no postgres or mysql source".into()
                            } else {
                                format!("its dumps: {}", names.join(", "))
                            }),
                        );
                        *ok = false;
                    }
                }
                Some(name.get_ref().clone())
            }
            (None, Some(db)) => {
                let same: Vec<&&DatabaseSource> =
                    dumps.iter().filter(|d| d.kind == db.kind).collect();
                match same.as_slice() {
                    [one] => Some(one.filename.clone()),
                    [] => {
                        self.rep.report(
                            raw.span(),
                            &format!("{path}.database"),
                            format!("the plan has no {} source to restore", db.kind.as_str()),
                            None,
                        );
                        *ok = false;
                        None
                    }
                    _ => {
                        self.rep.report(
                            raw.span(),
                            &format!("{path}.dump"),
                            "the plan has several dumps: say which one to restore",
                            Some("dump = \"<filename of the source>\"".into()),
                        );
                        *ok = false;
                        None
                    }
                }
            }
            (None, None) => None,
        };
        if database.is_none() && (r.query.is_some() || r.dump.is_some()) && *ok {
            self.rep.report(
                raw.span(),
                &format!("{path}.database"),
                "a dump restore test needs a scratch database server",
                Some(
                    "add [backup.restore_test.database] with kind, host, port, user and password"
                        .into(),
                ),
            );
            *ok = false;
        }
        if let Some(q) = &r.query
            && q.get_ref().trim().is_empty()
        {
            self.rep.report(
                q.span(),
                &format!("{path}.query"),
                "the query is empty",
                None,
            );
            *ok = false;
        }
        Some(RestoreTest {
            schedule,
            sample_files,
            database,
            dump,
            query: r.query.as_ref().map(|q| q.get_ref().clone()),
            min_rows: r.min_rows.unwrap_or(1),
        })
    }
}

/// The array under `source` / `target`, or the span of a non-array value.
fn sources_of(
    value: Option<Spanned<DeValue<'_>>>,
) -> Result<Vec<Spanned<DeValue<'_>>>, Range<usize>> {
    match value {
        None => Ok(Vec::new()),
        Some(v) => {
            let span = v.span();
            match v.into_inner() {
                DeValue::Array(items) => Ok(items.into_iter().collect()),
                _ => Err(span),
            }
        }
    }
}

/// The span of a secret given by `_env` or `_file`, if it is given.
fn given_span(
    env: &Option<Spanned<String>>,
    file: &Option<Spanned<String>>,
) -> Option<Range<usize>> {
    env.as_ref().or(file.as_ref()).map(|s| s.span())
}

/// Parses `read_data_subset`.
pub fn parse_read_data(s: &str) -> Result<ReadData, String> {
    let s = s.trim();
    match s {
        "all" => return Ok(ReadData::All),
        "none" => return Ok(ReadData::None),
        _ => {}
    }
    if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("{p:?} is not a number"))?;
        if !(p > 0.0 && p <= 100.0) {
            return Err("a percentage is above 0 and at most 100".into());
        }
        return Ok(ReadData::Percent(p));
    }
    if let Some((n, m)) = s.split_once('/') {
        let m: u32 = m
            .trim()
            .parse()
            .map_err(|_| format!("{m:?} is not a count of parts"))?;
        if m == 0 {
            return Err("the number of parts must be at least 1".into());
        }
        if n.trim() == "*" {
            return Ok(ReadData::Rotating { m });
        }
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a part number"))?;
        if n == 0 || n > m {
            return Err(format!("the part must be between 1 and {m}"));
        }
        return Ok(ReadData::Part { n, m });
    }
    Err("not a percentage, a part or \"all\"".into())
}

/// The longest time between two consecutive runs of `cron` from now on,
/// over a week and a day (so that weekly schedules are seen).
fn longest_gap(cron: &Cron, tz: &jiff::tz::TimeZone) -> Option<Duration> {
    let start = jiff::Timestamp::now().as_millisecond();
    // Runs are searched up to 32 days ahead (monthly schedules); gaps are
    // measured over the first eight days.
    let search = 32 * 24 * 60;
    let end = start + 8 * 86_400_000;
    let mut prev = cron.next_after(start, tz, search)?;
    let mut longest = 0i64;
    while let Some(next) = cron.next_after(prev, tz, search) {
        longest = longest.max(next - prev);
        if next > end {
            break;
        }
        prev = next;
    }
    (longest > 0).then(|| Duration::from_millis(longest as u64))
}

fn default_true() -> bool {
    true
}
