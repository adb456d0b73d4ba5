//! Backup plan configuration (`[[backup]]`): a full plan with every kind of
//! source and target, the defaults, the "two places, one off-site"
//! warning, and each mistake reported at its file:line:col; S3 targets'
//! credentials by reference, never echoed.

mod support;
use support::{only_problem, problems};
support::env_before_main! {
    "KEEPUP_TEST_BACKUP_PASSWORD" => "correct horse",
    "KEEPUP_TEST_S3_REPO_PASSWORD" => "correct horse",
    "KEEPUP_TEST_S3_KEY_ID" => "AKIAEXAMPLEKEYID",
    "KEEPUP_TEST_S3_SECRET" => "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "KEEPUP_TEST_S3_TOKEN" => "FwoGZXIvYXdzEXAMPLE",
}

use std::path::Path;
use std::time::Duration;

use keepup_config::backup::{
    BackupSource, DatabaseKind, DumpFormat, Location, ReadData, parse_read_data,
};
use keepup_config::{BackupPlan, Config, load_str};

fn load(src: &str) -> Config {
    load_str(src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn plans(src: &str) -> Vec<BackupPlan> {
    load(src).backups
}

/// A valid plan with the given extra plan keys (inserted after `id`) and
/// tables (appended).
fn plan(keys: &str, tables: &str) -> String {
    format!(
        r#"
[[backup]]
id = "files"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
{keys}
[[backup.source]]
kind = "paths"
paths = ["/srv/shop"]

[[backup.target]]
id = "local"
repository = "/srv/backup"

[[backup.target]]
id = "offsite"
repository = "sftp:backup@203.0.113.7:/srv/restic"
offsite = true
{tables}"#
    )
}

#[test]
fn a_full_plan_is_read_with_every_source_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    std::fs::write(&key, "not really a key").unwrap();
    let known = dir.path().join("known_hosts");
    std::fs::write(&known, "").unwrap();
    let pass = dir.path().join("offsite.pass");
    std::fs::write(&pass, "offsite secret\n").unwrap();
    let src = format!(
        r#"
[[site]]
id = "shop"

[[backup]]
id = "shop-db"
name = "Shop database"
site = "shop"
schedule = "0 */2 * * *"
timezone = "Europe/Berlin"
rpo = "2h"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
hostname = "shop-prod"
tags = ["db", "shop"]

[[backup.source]]
kind = "paths"
paths = ["/srv/shop/media", "/etc/nginx"]
exclude = ["*.tmp", "/srv/shop/media/cache", "**/thumbs"]

[[backup.source]]
kind = "command"
command = ["sh", "-c", "redis-cli --rdb -"]
filename = "redis.rdb"

[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
user = "backup"
dbname = "shop"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
format = "custom"
args = ["--exclude-table=sessions"]

[[backup.source]]
kind = "mysql"
host = "db.shop.example"
port = 3307
user = "backup"
dbname = "legacy"

[[backup.target]]
id = "local"
repository = "backups/shop"

[[backup.target]]
id = "offsite"
repository = "sftp:backup@backup.example.net:/srv/restic/shop"
offsite = true
ssh_identity_file = "{key}"
ssh_known_hosts_file = "{known}"
ssh_args = ["-o", "Compression=yes"]
password_file = "{pass}"

[[backup.target]]
id = "rest"
repository = "rest:https://backup@rest.example.net:8000/shop/"
rest_password_env = "KEEPUP_TEST_BACKUP_PASSWORD"

[backup.retention]
keep_last = 3
keep_daily = 7
keep_weekly = 5
keep_monthly = 12
keep_within = "2d"
schedule = "30 4 * * *"

[backup.verify]
schedule = "0 5 * * *"
read_data_subset = "*/30"

[backup.restore_test]
schedule = "0 6 * * sun"
sample_files = 5
query = "SELECT count(*) FROM orders"
min_rows = 1000
[backup.restore_test.database]
kind = "postgres"
host = "127.0.0.1"
port = 5433
user = "postgres"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
"#,
        key = key.display(),
        known = known.display(),
        pass = pass.display(),
    );
    let config = load(&src);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let [p] = config.backups.as_slice() else {
        panic!("one plan expected")
    };
    assert_eq!(p.id, "shop-db");
    assert_eq!(p.name, "Shop database");
    assert_eq!(p.site.as_deref(), Some("shop"));
    assert_eq!(p.schedule.as_ref().unwrap().cron.as_str(), "0 */2 * * *");
    assert_eq!(p.timezone.name, "Europe/Berlin");
    assert_eq!(p.rpo, Duration::from_secs(7200));
    assert_eq!(p.hostname.as_deref(), Some("shop-prod"));
    assert_eq!(p.tags, ["db", "shop"]);
    assert!(!p.alternate_targets);

    assert_eq!(p.sources.len(), 4);
    let BackupSource::Paths(paths) = &p.sources[0] else {
        panic!("paths first")
    };
    // Sorted, so that the snapshot's tree is built in order.
    assert_eq!(
        paths.paths,
        [Path::new("/etc/nginx"), Path::new("/srv/shop/media")]
    );
    assert_eq!(paths.exclude.len(), 3);
    let BackupSource::Command(cmd) = &p.sources[1] else {
        panic!("command second")
    };
    assert_eq!(cmd.command, ["sh", "-c", "redis-cli --rdb -"]);
    assert_eq!(cmd.filename, "redis.rdb");
    let BackupSource::Database(pg) = &p.sources[2] else {
        panic!("postgres third")
    };
    assert_eq!(pg.kind, DatabaseKind::Postgres);
    assert_eq!(pg.port, 5432);
    assert_eq!(pg.format, DumpFormat::Custom);
    assert_eq!(pg.filename, "shop.dump");
    assert_eq!(pg.password.as_ref().unwrap().expose(), "correct horse");
    assert_eq!(pg.args, ["--exclude-table=sessions"]);
    let BackupSource::Database(my) = &p.sources[3] else {
        panic!("mysql fourth")
    };
    assert_eq!(my.kind, DatabaseKind::Mysql);
    assert_eq!(my.port, 3307);
    assert_eq!(my.filename, "legacy.sql");
    assert!(my.password.is_none());

    assert_eq!(p.targets.len(), 3);
    let local = p.target("local").unwrap();
    assert_eq!(
        local.repository,
        Location::Local {
            path: "/etc/keepup/backups/shop".into()
        },
        "relative to the config"
    );
    assert!(!local.offsite);
    assert_eq!(
        local.password.expose(),
        "correct horse",
        "the plan's password"
    );
    let offsite = p.target("offsite").unwrap();
    assert!(offsite.offsite);
    assert_eq!(
        offsite.password.expose(),
        "offsite secret",
        "its own password"
    );
    assert_eq!(
        offsite.access.ssh_identity_file.as_deref(),
        Some(key.as_path())
    );
    assert_eq!(offsite.access.ssh_args, ["-o", "Compression=yes"]);
    let rest = p.target("rest").unwrap();
    assert_eq!(
        rest.repository.to_string(),
        "rest:https://backup@rest.example.net:8000/shop/"
    );
    assert!(rest.access.rest_password.is_some());
    // Secrets never show in debug output.
    assert!(!format!("{p:?}").contains("correct horse"));

    let r = p.retention.as_ref().unwrap();
    assert_eq!(
        (r.keep_last, r.keep_daily, r.keep_weekly, r.keep_monthly),
        (Some(3), Some(7), Some(5), Some(12))
    );
    assert_eq!(r.keep_hourly, None);
    assert_eq!(r.keep_within, Some(Duration::from_secs(2 * 86_400)));
    assert!(r.schedule.is_some());
    let v = p.verify.as_ref().unwrap();
    assert_eq!(v.read_data, ReadData::Rotating { m: 30 });
    let t = p.restore_test.as_ref().unwrap();
    assert_eq!(t.sample_files, 5);
    assert_eq!(
        t.dump.as_deref(),
        Some("shop.dump"),
        "the only postgres dump"
    );
    assert_eq!(t.min_rows, 1000);
    let db = t.database.as_ref().unwrap();
    assert_eq!((db.kind, db.port), (DatabaseKind::Postgres, 5433));
}

#[test]
fn defaults_are_sensible() {
    let p = &plans(&plan("", ""))[0];
    assert_eq!(p.name, "files");
    assert!(p.schedule.is_none());
    assert_eq!(p.timezone.name, "UTC");
    assert_eq!(p.rpo, Duration::from_secs(26 * 3600), "daily plus slack");
    assert!(p.hostname.is_none());
    assert!(p.retention.is_none() && p.verify.is_none() && p.restore_test.is_none());

    // The RPO follows the schedule: twice its longest gap.
    let p = &plans(&plan("schedule = \"0 */2 * * *\"", ""))[0];
    assert_eq!(p.rpo, Duration::from_secs(4 * 3600));
    let p = &plans(&plan("schedule = \"0 3 * * *\"\ntimezone = \"UTC\"", ""))[0];
    assert_eq!(p.rpo, Duration::from_secs(2 * 86_400));

    let p = &plans(&plan("", "[backup.verify]\n[backup.restore_test]\n"))[0];
    assert_eq!(p.verify.as_ref().unwrap().read_data, ReadData::Percent(5.0));
    let t = p.restore_test.as_ref().unwrap();
    assert_eq!((t.sample_files, t.min_rows), (20, 1));
    assert!(t.database.is_none() && t.dump.is_none());
}

#[test]
fn one_place_or_no_offsite_copy_is_a_warning_unless_allowed() {
    let single = r#"
[[backup]]
id = "single"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
[[backup.source]]
kind = "paths"
paths = ["/srv/shop"]
[[backup.target]]
id = "local"
repository = "/srv/backup"
"#;
    let config = load(single);
    assert_eq!(config.backups.len(), 1, "a warning does not fail the load");
    let [w] = config.warnings.as_slice() else {
        panic!("one warning expected: {:?}", config.warnings)
    };
    let text = w.to_string();
    assert!(
        text.starts_with("/etc/keepup/keepup.toml:3:6: backup[0]: "),
        "{text}"
    );
    assert!(text.contains("single target"), "{text}");
    assert!(text.contains("off-site"), "{text}");
    assert!(text.contains("allow_single_target"), "{text}");

    let no_offsite =
        single.to_owned() + "[[backup.target]]\nid = \"usb\"\nrepository = \"/mnt/usb\"\n";
    let config = load(&no_offsite);
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].message.contains("offsite = true"));

    let allowed = single.replace(
        "id = \"single\"",
        "id = \"single\"\nallow_single_target = true",
    );
    assert!(load(&allowed).warnings.is_empty());
    assert!(load(&plan("", "")).warnings.is_empty());
}

#[test]
fn read_data_subsets_parse_like_restic() {
    assert_eq!(parse_read_data("all"), Ok(ReadData::All));
    assert_eq!(parse_read_data("none"), Ok(ReadData::None));
    assert_eq!(parse_read_data("5%"), Ok(ReadData::Percent(5.0)));
    assert_eq!(parse_read_data("2.5%"), Ok(ReadData::Percent(2.5)));
    assert_eq!(parse_read_data("1/20"), Ok(ReadData::Part { n: 1, m: 20 }));
    assert_eq!(parse_read_data("*/30"), Ok(ReadData::Rotating { m: 30 }));
    for bad in ["0%", "101%", "x%", "0/20", "21/20", "1/0", "half", ""] {
        assert!(parse_read_data(bad).is_err(), "{bad}");
    }
}

/// Each mistake, at its position, one at a time.
#[test]
fn mistakes_are_reported_where_they_are() {
    let cases: &[(&str, &str, &str)] = &[
        // (plan keys, tables, expected "line:col: key: message" fragment)
        (
            "colour = \"red\"",
            "",
            "5:1: backup[0].colour: unknown key `colour`",
        ),
        (
            "schedule = \"0 25 * * *\"",
            "",
            "5:12: backup[0].schedule: invalid cron expression: hour",
        ),
        (
            "timezone = \"Mars/Olympus\"",
            "",
            "5:12: backup[0].timezone: unknown time zone",
        ),
        (
            "rpo = \"0s\"",
            "",
            "5:7: backup[0].rpo: must be longer than zero",
        ),
        (
            "site = \"nope\"",
            "",
            "5:8: backup[0].site: no site \"nope\"",
        ),
        ("tags = [\"a,b\"]", "", "5:9: backup[0].tags: invalid tag"),
        (
            "hostname = \"bad host\"",
            "",
            "5:12: backup[0].host: \"bad host\" is neither",
        ),
        (
            "",
            "[backup.retention]\nschedule = \"0 4 * * *\"\n",
            "18:1: backup[0].retention: a retention without any keep_* rule",
        ),
        (
            "",
            "[backup.retention]\nkeep_daily = 0\n",
            "19:14: backup[0].retention.keep_daily: `keep_daily` must be a positive count",
        ),
        (
            "",
            "[backup.retention]\nkeep_dayly = 7\nkeep_last = 1\n",
            "19:1: backup[0].retention.keep_dayly: unknown key `keep_dayly` (hint: did you mean `keep_daily`?)",
        ),
        (
            "",
            "[backup.verify]\nread_data_subset = \"150%\"\n",
            "19:20: backup[0].verify.read_data_subset: invalid read_data_subset",
        ),
        (
            "",
            "[backup.restore_test]\nquery = \"SELECT 1\"\n",
            "backup[0].restore_test.database: a dump restore test needs a scratch database",
        ),
        (
            "",
            "[backup.restore_test]\ndump = \"nope.sql\"\n",
            "19:8: backup[0].restore_test.dump: the plan has no database source stored as \"nope.sql\"",
        ),
        (
            "alternate_targets = \"yes\"",
            "",
            "5:21: backup[0].alternate_targets: invalid type",
        ),
    ];
    let mut wrong = Vec::new();
    for (keys, tables, want) in cases {
        let got = only_problem(&plan(keys, tables));
        if !got.contains(want) {
            wrong.push(format!("want {want:?}\n got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn source_mistakes_are_reported_where_they_are() {
    let with_source = |source: &str| {
        format!(
            r#"[[backup]]
id = "p"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
allow_single_target = true
[[backup.target]]
id = "local"
repository = "/srv/backup"
[[backup.source]]
{source}"#
        )
    };
    let cases: &[(&str, &str)] = &[
        (
            "kind = \"pathz\"\npaths = [\"/a\"]",
            "9:8: backup[0].source[0].kind: unknown source kind \"pathz\" (hint: did you mean \"paths\"?",
        ),
        (
            "paths = [\"/a\"]",
            "backup[0].source[0].kind: missing key `kind`",
        ),
        (
            "kind = \"paths\"\npaths = [\"srv/shop\"]",
            "10:10: backup[0].source[0].paths: \"srv/shop\" is not an absolute, normalised path",
        ),
        (
            "kind = \"paths\"\npaths = [\"/srv/../etc\"]",
            "10:10: backup[0].source[0].paths: \"/srv/../etc\" is not an absolute",
        ),
        (
            "kind = \"paths\"\npaths = [\"/srv\", \"/srv/shop\"]",
            "10:18: backup[0].source[0].paths: /srv/shop overlaps /srv",
        ),
        (
            "kind = \"paths\"\npaths = []",
            "10:9: backup[0].source[0].paths: no paths given",
        ),
        (
            "kind = \"paths\"\npaths = [\"/p/x\"]",
            "10:10: backup[0].source[0].paths: /p/x is where this plan stores its command and dump outputs",
        ),
        (
            "kind = \"paths\"\npaths = [\"/a\"]\nexclude = [\"!*.log\"]",
            "11:12: backup[0].source[0].exclude: invalid exclude pattern \"!*.log\": a leading '!'",
        ),
        (
            "kind = \"paths\"\npaths = [\"/a\"]\nexclude = [\"[a-\"]",
            "11:12: backup[0].source[0].exclude: invalid exclude pattern \"[a-\"",
        ),
        (
            "kind = \"paths\"\npaths = [\"/a\"]\ncommand = [\"ls\"]",
            "11:1: backup[0].source[0].command: unknown key `command`",
        ),
        (
            "kind = \"command\"\ncommand = []\nfilename = \"x\"",
            "10:11: backup[0].source[0].command: the command is empty",
        ),
        (
            "kind = \"command\"\ncommand = [\"ls\"]\nfilename = \"a/b\"",
            "11:12: backup[0].source[0].filename: \"a/b\" is not a plain file name",
        ),
        (
            "kind = \"command\"\ncommand = [\"ls\"]",
            "backup[0].source[0].filename: missing key `filename`",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nport = 70000",
            "13:8: backup[0].source[0].port: invalid port 70000",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nformat = \"tar\"",
            "13:10: backup[0].source[0].format: unknown dump format \"tar\"",
        ),
        (
            "kind = \"mysql\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nformat = \"custom\"",
            "13:10: backup[0].source[0].format: mysqldump writes SQL only",
        ),
        (
            "kind = \"mysql\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"-psecret\"]",
            "10:8: backup[0].source[0].args: a password on the command line",
        ),
        (
            "kind = \"mysql\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"--single-transaction\", \"--databases\"]",
            "10:8: backup[0].source[0].args: an argument for the dump is refused: `--databases` (`-B`) makes the dump create and USE its databases",
        ),
        (
            "kind = \"mysql\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"-vA\"]",
            "10:8: backup[0].source[0].args: an argument for the dump is refused: `--all-databases` (`-A`)",
        ),
        (
            "kind = \"mysql\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"--add-drop-data\"]",
            "10:8: backup[0].source[0].args: an argument for the dump is refused: `--add-drop-database`",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"--create\"]",
            "10:8: backup[0].source[0].args: an argument for the dump is refused: `--create` (`-C`)",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\nargs = [\"-c\"]",
            "10:8: backup[0].source[0].args: an argument for the dump is refused: `--clean` (`-c`)",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"d\"\npassword_env = \"KEEPUP_TEST_UNSET_VARIABLE\"",
            "13:16: backup[0].source[0].password_env: environment variable KEEPUP_TEST_UNSET_VARIABLE is not set",
        ),
        (
            "kind = \"postgres\"\nhost = \"db\"\nuser = \"u\"",
            "backup[0].source[0].dbname: missing key `dbname`",
        ),
    ];
    let mut wrong = Vec::new();
    for (source, want) in cases {
        let got = only_problem(&with_source(source));
        if !got.contains(want) {
            wrong.push(format!("want {want:?}\n got {got}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn plan_level_mistakes() {
    // No source, no target.
    let p =
        problems("[[backup]]\nid = \"empty\"\npassword_env = \"KEEPUP_TEST_BACKUP_PASSWORD\"\n");
    let text = p.to_string();
    assert!(
        text.contains("keepup.toml:2:6: backup[0].source: backup plan \"empty\" has no source"),
        "{text}"
    );
    assert!(
        text.contains("keepup.toml:2:6: backup[0].target: backup plan \"empty\" has no target"),
        "{text}"
    );

    // Ids: invalid, duplicate plan, duplicate target, same repository twice.
    let got = only_problem(&plan("", "").replace("id = \"files\"", "id = \"Files!\""));
    assert!(
        got.contains("3:6: backup[0].id: invalid id \"Files!\""),
        "{got}"
    );
    let twice = plan("", "") + &plan("", "");
    let got = only_problem(&twice);
    assert!(
        got.contains("20:6: backup[1].id: backup plan id \"files\" is used twice"),
        "{got}"
    );
    let got = only_problem(&plan(
        "",
        "[[backup.target]]\nid = \"local\"\nrepository = \"/elsewhere\"\n",
    ));
    assert!(
        got.contains("backup[0].target[2].id: target id \"local\" is used twice"),
        "{got}"
    );
    let got = only_problem(&plan(
        "",
        "[[backup.target]]\nid = \"again\"\nrepository = \"/srv/backup\"\n",
    ));
    assert!(got.contains("backup[0].target[2].repository: targets \"local\" and \"again\" are the same repository"), "{got}");

    // Two streamed sources under one name.
    let got = only_problem(&plan(
        "",
        "[[backup.source]]\nkind = \"command\"\ncommand = [\"a\"]\nfilename = \"x\"\n[[backup.source]]\nkind = \"command\"\ncommand = [\"b\"]\nfilename = \"x\"\n",
    ));
    assert!(
        got.contains(
            "backup[0].source[2].filename: two sources of plan \"files\" are stored as \"x\""
        ),
        "{got}"
    );

    // Paths of two sources overlapping.
    let got = only_problem(&plan(
        "",
        "[[backup.source]]\nkind = \"paths\"\npaths = [\"/srv/shop/media\"]\n",
    ));
    assert!(
        got.contains("2:1: backup[0].source: paths /srv/shop and /srv/shop/media overlap"),
        "{got}"
    );

    // No password anywhere.
    let p = problems(&plan("", "").replace("password_env = \"KEEPUP_TEST_BACKUP_PASSWORD\"\n", ""));
    assert_eq!(p.0.len(), 2, "one per target: {p}");
    assert!(
        p.0[0]
            .to_string()
            .contains("backup[0].target[0].password: no repository password for this target"),
        "{p}"
    );

    // Unsupported repository, target keys for the wrong kind of repository.
    let got = only_problem(&plan("", "").replace("/srv/backup", "b2:bucket/x"));
    assert!(
        got.contains(
            "12:14: backup[0].target[0].repository: unsupported repository type \"b2\": keepup supports local paths, sftp:, rest: and s3: locations"
        ),
        "{got}"
    );
    let got = only_problem(&plan("", "").replace(
        "repository = \"/srv/backup\"",
        "repository = \"/srv/backup\"\nssh_args = [\"-v\"]",
    ));
    assert!(
        got.contains("backup[0].target[0].ssh_args: `ssh_args` is for sftp: repositories"),
        "{got}"
    );
    let got = only_problem(&plan("", "").replace(
        "repository = \"/srv/backup\"",
        "repository = \"/srv/backup\"\nssh_identity_file = \"/nonexistent/key\"",
    ));
    assert!(
        got.contains("backup[0].target[0].ssh_identity_file: cannot read /nonexistent/key"),
        "{got}"
    );

    // Alternating needs two targets.
    let p = problems(
        r#"[[backup]]
id = "alt"
password_env = "KEEPUP_TEST_BACKUP_PASSWORD"
alternate_targets = true
allow_single_target = true
[[backup.source]]
kind = "paths"
paths = ["/a"]
[[backup.target]]
id = "one"
repository = "/b"
"#,
    );
    assert!(
        p.to_string()
            .contains("backup[0].alternate_targets: alternating needs at least two targets"),
        "{p}"
    );

    // Several dumps: the restore test must say which.
    let got = only_problem(&plan(
        "",
        "[[backup.source]]\nkind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"a\"\n[[backup.source]]\nkind = \"postgres\"\nhost = \"db\"\nuser = \"u\"\ndbname = \"b\"\n[backup.restore_test]\n[backup.restore_test.database]\nkind = \"postgres\"\nhost = \"127.0.0.1\"\nuser = \"postgres\"\n",
    ));
    assert!(
        got.contains("backup[0].restore_test.dump: the plan has several dumps: say which one"),
        "{got}"
    );

    // `backup` must be an array of tables.
    let got = only_problem("backup = 3\n");
    assert!(
        got.contains("1:10: backup: `backup` must be an array of tables"),
        "{got}"
    );
}

// ---------------------------------------------------------------- S3 targets

/// A plan with a local target and an S3 target whose extra keys are
/// `s3_keys` (its `repository` is on line 15, the keys start on line 16).
fn s3_plan(repository: &str, s3_keys: &str) -> String {
    format!(
        r#"
[[backup]]
id = "files"
password_env = "KEEPUP_TEST_S3_REPO_PASSWORD"

[[backup.source]]
kind = "paths"
paths = ["/srv/shop"]

[[backup.target]]
id = "local"
repository = "/srv/backup"
[[backup.target]]
id = "s3"
repository = "{repository}"
{s3_keys}
"#
    )
}

const S3_REPO: &str = "s3:https://s3.eu-central-1.amazonaws.com/shop-backups/files";

#[test]
fn s3_targets_take_credentials_by_reference() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("s3.secret");
    std::fs::write(&secret_file, "from-a-file\n").unwrap();
    let src = s3_plan(
        S3_REPO,
        &format!(
            r#"offsite = true
s3_access_key_id_env = "KEEPUP_TEST_S3_KEY_ID"
s3_secret_access_key_file = "{}"
s3_session_token_env = "KEEPUP_TEST_S3_TOKEN"
s3_region = "eu-central-1""#,
            secret_file.display()
        ),
    );
    let p = &plans(&src)[0];
    let t = p.target("s3").unwrap();
    assert_eq!(t.repository.to_string(), S3_REPO, "read back as written");
    assert!(t.offsite);
    assert_eq!(
        t.access.s3_access_key_id.as_ref().unwrap().expose(),
        "AKIAEXAMPLEKEYID"
    );
    assert_eq!(
        t.access.s3_secret_access_key.as_ref().unwrap().expose(),
        "from-a-file"
    );
    assert_eq!(
        t.access.s3_session_token.as_ref().unwrap().expose(),
        "FwoGZXIvYXdzEXAMPLE"
    );
    assert_eq!(t.access.s3_region.as_deref(), Some("eu-central-1"));
    // Secrets never show in debug output.
    let debug = format!("{p:?}");
    assert!(!debug.contains("from-a-file"), "{debug}");
    assert!(!debug.contains("FwoGZXIvYXdzEXAMPLE"), "{debug}");

    // Nothing given: the AWS_* environment is read when the target opens.
    let p = &plans(&s3_plan("s3:http://127.0.0.1:9000/bucket", ""))[0];
    let t = p.target("s3").unwrap();
    assert!(t.access.s3_access_key_id.is_none() && t.access.s3_secret_access_key.is_none());
    assert!(t.access.s3_session_token.is_none() && t.access.s3_region.is_none());

    // A CA file is for https S3 endpoints too (a private MinIO).
    let ca = dir.path().join("ca.pem");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let p = &plans(&s3_plan(
        "s3:https://minio.internal:9000/backups",
        &format!("ca_file = \"{}\"", ca.display()),
    ))[0];
    assert_eq!(
        p.target("s3").unwrap().access.ca_file.as_deref(),
        Some(ca.as_path())
    );
}

#[test]
fn s3_mistakes_are_reported_where_they_are() {
    let cases: &[(&str, &str, &str)] = &[
        // (repository, extra S3 target keys, expected fragment)
        (
            S3_REPO,
            "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"",
            "16:24: backup[0].target[1].s3_secret_access_key: an S3 access key id without its secret access key",
        ),
        (
            S3_REPO,
            "s3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\"",
            "16:28: backup[0].target[1].s3_access_key_id: an S3 secret access key without its access key id",
        ),
        (
            S3_REPO,
            "s3_access_key_id_env = \"KEEPUP_TEST_S3_UNSET_VARIABLE\"\ns3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\"",
            "16:24: backup[0].target[1].s3_access_key_id_env: environment variable KEEPUP_TEST_S3_UNSET_VARIABLE is not set or empty",
        ),
        (
            S3_REPO,
            "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"\ns3_secret_access_key_file = \"/nonexistent/s3.secret\"",
            "17:29: backup[0].target[1].s3_secret_access_key_file: cannot read /nonexistent/s3.secret",
        ),
        (
            S3_REPO,
            "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"\ns3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\"\ns3_secret_access_key_file = \"/etc/hostname\"",
            "17:28: backup[0].target[1].s3_secret_access_key: give the s3_secret_access_key one way only",
        ),
        (
            S3_REPO,
            "s3_session_token_env = \"KEEPUP_TEST_S3_TOKEN\"",
            "16:24: backup[0].target[1].s3_session_token: an S3 session token belongs with the access key id and secret access key",
        ),
        (
            S3_REPO,
            "s3_region = \"eu central 1\"",
            "16:13: backup[0].target[1].s3_region: invalid S3 region \"eu central 1\"",
        ),
        (
            S3_REPO,
            "s3_secret_key_env = \"KEEPUP_TEST_S3_SECRET\"",
            "16:1: backup[0].target[1].s3_secret_key_env: unknown key `s3_secret_key_env` (hint: did you mean `s3_secret_access_key_env`?)",
        ),
        (
            S3_REPO,
            "rest_password_env = \"KEEPUP_TEST_S3_SECRET\"",
            "15:14: backup[0].target[1].rest_password: `rest_password` is for rest: repositories",
        ),
        (
            "/srv/other",
            "s3_region = \"eu-central-1\"",
            "15:14: backup[0].target[1].s3_region: `s3_region` is for s3: repositories",
        ),
        (
            "sftp:backup@host:/srv/r",
            "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"\ns3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\"",
            "15:14: backup[0].target[1].s3_access_key_id: `s3_access_key_id` is for s3: repositories",
        ),
    ];
    let mut wrong = Vec::new();
    for (repository, keys, want) in cases {
        let p = problems(&s3_plan(repository, keys));
        let got = p.to_string();
        if !got.contains(want) {
            wrong.push(format!("want {want:?}\n got {got}"));
        }
        for secret in ["AKIAEXAMPLEKEYID", "wJalrXUtnFEMI", "FwoGZXIvYXdz"] {
            assert!(!got.contains(secret), "a secret in a message: {got}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn credentials_in_an_s3_url_are_refused_without_echo() {
    let got = only_problem(&s3_plan(
        "s3:https://AKIAEXAMPLEKEYID:wJalrXUtnFEMI/K7MDENG@minio.example/bucket",
        "",
    ));
    assert!(
        got.contains(
            "15:14: backup[0].target[1].repository: an s3: repository must not contain credentials"
        ),
        "{got}"
    );
    assert!(!got.contains("wJalrXUtnFEMI"), "{got}");
    assert!(!got.contains("AKIAEXAMPLEKEYID"), "{got}");
}

/// The hint of a refused location: the forms keepup reads.
const LOCATION_FORMS: &str = r#"(hint: a directory ("/srv/backup/shop"), "sftp:user@host:/path", "rest:https://host:8000/path/" or "s3:https://host/bucket/prefix")"#;

#[test]
fn repository_locations_are_parsed_at_load_and_each_refused_form_is_reported_where_written() {
    // Each was accepted by `keepup validate` until the first backup run
    // refused it. (location, message, whether the forms are hinted)
    let cases: &[(&str, &str, bool)] = &[
        ("", "the repository is empty", true),
        (
            "local:",
            "invalid local location: no path after \"local:\"",
            true,
        ),
        (
            "sfpt:backup@host:/srv/r",
            "unsupported repository type \"sfpt\": keepup supports local paths, sftp:, rest: and s3: locations",
            true,
        ),
        (
            "sftp:backup@host",
            "invalid sftp location: expected sftp:user@host:/path (host and path separated by ':')",
            true,
        ),
        (
            "sftp:backup@host:~/restic",
            "invalid sftp location: the path starts with '~', which SFTP servers do not expand; use a relative path (relative to the login directory)",
            true,
        ),
        (
            "sftp:-oProxyCommand=evil:/r",
            "invalid sftp location: host \"-oProxyCommand=evil\" starts with '-'",
            true,
        ),
        (
            "sftp://backup@host:99999//srv/r",
            "invalid sftp location: invalid port \"99999\"",
            true,
        ),
        (
            "sftp://backup:hunter2@host//srv/r",
            "invalid sftp location: a password in the location is not supported: use an SSH key (ssh_identity_file)",
            true,
        ),
        (
            "rest:ftp://host/repo/",
            "invalid rest location: expected rest:http://host:port/path/ or rest:https://...",
            true,
        ),
        (
            "rest:http://host/a b/",
            "invalid rest location: path \"/a b/\" contains a space or a '%'",
            true,
        ),
        (
            "rest:https://bob:hunter2@host/repo/",
            "the rest location contains a password: put the password in the target's rest_password_env or rest_password_file, not in the URL",
            false,
        ),
        (
            "s3:https://minio.example",
            "invalid s3 location: no bucket: expected s3:https://host/bucket/prefix",
            true,
        ),
        (
            "s3:https://minio.example/Bad!Bucket",
            "invalid s3 location: invalid bucket name \"Bad!Bucket\" (letters, digits, '.', '-' and '_')",
            true,
        ),
        (
            "s3:https://minio.example/bucket/../other",
            "invalid s3 location: '..' is not allowed in the prefix",
            true,
        ),
        (
            "s3:https://AKIAEXAMPLEKEYID:hunter2@minio.example/bucket",
            "an s3: repository must not contain credentials ('@'): give them by reference (the target's s3_access_key_id_env/_file and s3_secret_access_key_env/_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            false,
        ),
    ];
    let mut wrong = Vec::new();
    for (location, message, hinted) in cases {
        let got = only_problem(&s3_plan(location, ""));
        let mut want = format!("keepup.toml:15:14: backup[0].target[1].repository: {message}");
        if *hinted {
            want = format!("{want} {LOCATION_FORMS}");
        }
        if got != want {
            wrong.push(format!("{location:?}\nwant {want}\n got {got}"));
        }
        assert!(!got.contains("hunter2"), "a password in a message: {got}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn repository_locations_are_kept_parsed_with_local_paths_made_absolute() {
    let src = s3_plan("local:backups/shop", "").replace(
        "repository = \"/srv/backup\"",
        "repository = \"sftp://backup@[::1]:2222//srv/restic\"",
    );
    let p = &plans(&src)[0];
    assert_eq!(
        p.target("s3").unwrap().repository,
        Location::Local {
            path: "/etc/keepup/backups/shop".into()
        }
    );
    assert_eq!(
        p.target("local").unwrap().repository,
        Location::Sftp {
            user: Some("backup".into()),
            host: "::1".into(),
            port: Some(2222),
            path: "/srv/restic".into()
        }
    );
    // The same place written twice is one repository, not two.
    let src = s3_plan("local:/srv/backup", "");
    let got = only_problem(&src);
    assert!(
        got.contains("13:1: backup[0].target[1].repository: targets \"local\" and \"s3\" are the same repository"),
        "{got}"
    );
}

#[test]
fn credentials_the_backend_could_not_send_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let spaced_key = file("spaced.key", "AKIA EXAMPLE hunter2\n");
    let spaced_secret = file("spaced.secret", "wJalr hunter2\n");
    let broken_token = file("broken.token", "Fwo\u{1}hunter2\n");
    let cases = [
        (
            "rest:https://rest.example.net/shop/".to_owned(),
            "rest_password_env = \"KEEPUP_TEST_BACKUP_PASSWORD\"".to_owned(),
            "keepup.toml:16:21: backup[0].target[1].rest_password: a REST password is set but the location names no user (write rest:https://USER@host/...)",
        ),
        (
            S3_REPO.to_owned(),
            format!(
                "s3_access_key_id_file = \"{spaced_key}\"\ns3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\""
            ),
            "keepup.toml:16:25: backup[0].target[1].s3_access_key_id: the S3 access key id or secret access key is empty or contains spaces or non-ASCII characters",
        ),
        (
            S3_REPO.to_owned(),
            format!(
                "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"\ns3_secret_access_key_file = \"{spaced_secret}\""
            ),
            "keepup.toml:17:29: backup[0].target[1].s3_secret_access_key: the S3 access key id or secret access key is empty or contains spaces or non-ASCII characters",
        ),
        (
            S3_REPO.to_owned(),
            format!(
                "s3_access_key_id_env = \"KEEPUP_TEST_S3_KEY_ID\"\ns3_secret_access_key_env = \"KEEPUP_TEST_S3_SECRET\"\ns3_session_token_file = \"{broken_token}\""
            ),
            "keepup.toml:18:25: backup[0].target[1].s3_session_token: the S3 session token contains characters HTTP cannot carry",
        ),
    ];
    let mut wrong = Vec::new();
    for (repository, keys, want) in &cases {
        let got = only_problem(&s3_plan(repository, keys));
        if got != *want {
            wrong.push(format!("want {want}\n got {got}"));
        }
        assert!(!got.contains("hunter2"), "a secret in a message: {got}");
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // With a user the same password is fine.
    plans(&s3_plan(
        "rest:https://backup@rest.example.net/shop/",
        "rest_password_env = \"KEEPUP_TEST_BACKUP_PASSWORD\"",
    ));
}
