//! `[[recovery]]`: a plan with every step kind loads with its defaults, and
//! each reference to something that does not exist (site, backup plan,
//! check, host, channel, TSIG key) is rejected at its file:line:col.

mod support;

use keepup_config::load_str;
use keepup_config::recovery::{DrillCommand, MaintenanceAction, StepAction, TsigAlgorithm};
use keepup_model::CheckId;
use std::path::Path;
use std::time::Duration;
use support::{line_of, only_problem, problems};
support::env_before_main! {
    "KEEPUP_TEST_DR_BACKUP_PASSWORD" => "correct horse",
    "KEEPUP_TEST_DR_TSIG" => "c2VjcmV0LXRzaWcta2V5LWZvci10ZXN0cw==",
    "KEEPUP_TEST_DR_DB_PASSWORD" => "standby-db-password",
}

/// A site, a files and a database backup plan, a channel, and `plan`.
fn with_plan(plan: &str) -> String {
    format!(
        r#"[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 8081
[[site.check]]
id = "checkout"
kind = "tcp"
host = "127.0.0.1"
port = 8082

[[channel]]
id = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"

[[backup]]
id = "files"
password_env = "KEEPUP_TEST_DR_BACKUP_PASSWORD"
[[backup.source]]
kind = "paths"
paths = ["/srv/shop"]
[[backup.target]]
id = "local"
repository = "/srv/backup"
[[backup.target]]
id = "second"
repository = "/srv/backup2"

[[backup]]
id = "db"
password_env = "KEEPUP_TEST_DR_BACKUP_PASSWORD"
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
user = "backup"
dbname = "shop"
[[backup.target]]
id = "local"
repository = "/srv/backup-db"
[[backup.target]]
id = "second"
repository = "/srv/backup-db2"

{plan}"#
    )
}

const FULL: &str = r#"[[recovery]]
id = "shop-dr"
site = "shop"
rto = "4h"
rpo = "2h"
rpo_query = "SELECT max(created_at) FROM orders"

[recovery.production]
addresses = ["127.0.0.10"]
[[recovery.production.host]]
name = "web"
ssh = "deploy@127.0.0.10"

[recovery.standby]
addresses = ["127.0.0.20", "::1"]
[[recovery.standby.host]]
name = "web"
ssh = "deploy@127.0.0.20"
ssh_port = 2222
ssh_identity_file = "/etc/keepup/dr_ed25519"
ssh_known_hosts_file = "/etc/keepup/known_hosts"

[[recovery.tsig_key]]
id = "shop-key"
name = "keepup-update"
algorithm = "hmac-sha256"
secret_env = "KEEPUP_TEST_DR_TSIG"

[[recovery.activate]]
kind = "confirm"

[[recovery.activate]]
kind = "restore_files"
name = "files"
backup = "files"
paths = ["/srv/shop/media"]
to = "/srv/standby"
host = "web"
owner = "www-data:www-data"

[[recovery.activate]]
kind = "restore_database"
name = "database"
backup = "db"
db_host = "127.0.0.1"
db_user = "shop"
database = "shop"
password_env = "KEEPUP_TEST_DR_DB_PASSWORD"
check_query = "SELECT 1 FROM orders LIMIT 1"

[[recovery.activate]]
kind = "command"
name = "start"
host = "web"
run = ["systemctl", "start", "shop"]
timeout = "30s"
expect_exit = 0

[[recovery.activate]]
kind = "dns"
name = "switch"
zone = "shop.example."
names = ["www.shop.example"]
server = "127.0.0.53:53"
key = "shop-key"
lower_ttl_first = 30

[[recovery.activate]]
kind = "verify"
checks = ["home"]
deadline = "2m"

[[recovery.activate]]
kind = "notify"
channels = ["ops-hook"]
message = "DR activated"

[[recovery.return]]
kind = "maintenance"
action = "start"
duration = "1h"

[[recovery.return]]
kind = "maintenance"
action = "end"
"#;

#[test]
fn a_plan_with_every_step_kind_loads() {
    let config = load_str(&with_plan(FULL), Path::new("keepup.toml")).unwrap();
    let plan = config.recovery_plan("shop-dr").unwrap();
    assert_eq!(plan.site, "shop");
    assert_eq!(plan.rto, Duration::from_secs(4 * 3600));
    assert_eq!(plan.rpo, Duration::from_secs(2 * 3600));
    assert_eq!(plan.drill_max_age, Duration::from_secs(90 * 86_400));
    assert_eq!(plan.standby.addresses.len(), 2);
    let web = plan.standby.host("web").unwrap();
    assert_eq!(web.ssh_port, Some(2222));
    assert_eq!(plan.tsig_keys[0].algorithm, TsigAlgorithm::HmacSha256);
    // The secret is resolved and never shown.
    assert!(!format!("{plan:?}").contains("c2VjcmV0"));
    assert!(!format!("{plan:?}").contains("standby-db-password"));
    let kinds: Vec<&str> = plan.activate.iter().map(|s| s.action.kind()).collect();
    assert_eq!(
        kinds,
        [
            "confirm",
            "restore_files",
            "restore_database",
            "command",
            "dns",
            "verify",
            "notify"
        ]
    );
    assert_eq!(plan.activate[0].name, "confirm #1");
    let StepAction::RestoreDatabase(db) = &plan.activate[2].action else {
        panic!("a database step")
    };
    assert_eq!(db.dump, "shop.sql");
    assert_eq!(db.db_port, 5432);
    let StepAction::Dns(dns) = &plan.activate[4].action else {
        panic!("a dns step")
    };
    assert_eq!((dns.zone.as_str(), dns.ttl), ("shop.example", 60));
    let StepAction::Verify(v) = &plan.activate[5].action else {
        panic!("a verify step")
    };
    assert_eq!(v.checks, [CheckId::new("shop", "home")]);
    assert_eq!(v.interval, Duration::from_secs(5));
    let StepAction::Maintenance(m) = &plan.return_steps[0].action else {
        panic!("a maintenance step")
    };
    assert_eq!(
        m.action,
        MaintenanceAction::Start(Duration::from_secs(3600))
    );
    assert_eq!(m.target, "shop");
}

#[test]
fn the_documents_keys_load_and_a_secret_says_where_it_is_kept() {
    let config = load_str(&with_plan(FULL), Path::new("/etc/keepup/keepup.toml")).unwrap();
    let plan = config.recovery_plan("shop-dr").unwrap();
    assert!(plan.situations.is_empty() && plan.decides.is_none() && plan.contacts.is_empty());
    assert_eq!(plan.document_dir, None);
    assert_eq!(
        plan.tsig_keys[0].secret.origin(),
        &keepup_config::SecretOrigin::Env("KEEPUP_TEST_DR_TSIG".into())
    );
    let with_keys = FULL.replace(
        "rpo_query = ",
        "situations = [\"fire\"]\ndecides = \"the head of operations\"\ncontacts = [\"Alice, +33 1 23 45 67 89\"]\ndocument_dir = \"plans\"\nrpo_query = ",
    );
    let config = load_str(&with_plan(&with_keys), Path::new("/etc/keepup/keepup.toml")).unwrap();
    let plan = config.recovery_plan("shop-dr").unwrap();
    assert_eq!(plan.situations, ["fire"]);
    assert_eq!(plan.decides.as_deref(), Some("the head of operations"));
    assert_eq!(plan.contacts, ["Alice, +33 1 23 45 67 89"]);
    // Relative to the configuration's directory.
    assert_eq!(
        plan.document_dir.as_deref(),
        Some(Path::new("/etc/keepup/plans"))
    );
    rejected(
        "rpo_query = ",
        "document_dir = \" \"\nrpo_query = ",
        "recovery[0].document_dir",
        "empty path",
    );
}

/// `FULL` with `from` replaced by `to`: its one problem, which must be on
/// the line of `to`'s first line and name `key`.
fn rejected(from: &str, to: &str, key: &str, says: &str) {
    assert!(FULL.contains(from), "{from:?} not in the plan");
    let src = with_plan(&FULL.replacen(from, to, 1));
    let line = line_of(&src, to.lines().next().unwrap_or(to));
    let p = only_problem(&src);
    assert!(
        p.starts_with(&format!("keepup.toml:{line}:")),
        "expected line {line}: {p}"
    );
    assert!(p.contains(key), "expected key {key}: {p}");
    assert!(p.contains(says), "expected {says:?}: {p}");
}

#[test]
fn unknown_references_are_rejected_where_they_are_written() {
    rejected(
        "site = \"shop\"",
        "site = \"shpo\"",
        "recovery[0].site",
        "did you mean \"shop\"",
    );
    rejected(
        "backup = \"files\"",
        "backup = \"filez\"",
        "recovery[0].activate[1].backup",
        "no backup plan \"filez\"",
    );
    rejected(
        "checks = [\"home\"]",
        "checks = [\"hom\"]",
        "recovery[0].activate[5].checks",
        "site \"shop\" has no check \"hom\"",
    );
    rejected(
        "host = \"web\"\nrun",
        "host = \"db\"\nrun",
        "recovery[0].activate[3].host",
        "no host \"db\" in the standby environment",
    );
    rejected(
        "channels = [\"ops-hook\"]",
        "channels = [\"ops\"]",
        "recovery[0].activate[6].channels",
        "no channel \"ops\"",
    );
    rejected(
        "key = \"shop-key\"",
        "key = \"other-key\"",
        "recovery[0].activate[4].key",
        "no TSIG key \"other-key\"",
    );
    rejected(
        "kind = \"confirm\"",
        "kind = \"confirmation\"",
        "recovery[0].activate[0].kind",
        "did you mean \"confirm\"",
    );
    rejected(
        "timeout = \"30s\"",
        "deadline = \"30s\"",
        "recovery[0].activate[3].deadline",
        "a command step has no key `deadline`",
    );
    rejected(
        "algorithm = \"hmac-sha256\"",
        "algorithm = \"hmac-md5\"",
        "recovery[0].tsig_key[0].algorithm",
        "unknown TSIG algorithm",
    );
    rejected(
        "names = [\"www.shop.example\"]",
        "names = [\"www.other.example\"]",
        "recovery[0].activate[4].names",
        "not in the zone",
    );
}

#[test]
fn a_return_step_names_a_production_host() {
    // "web" exists on the standby only in this variant.
    let src = with_plan(&FULL.replace(
        "[[recovery.production.host]]\nname = \"web\"",
        "[[recovery.production.host]]\nname = \"app\"",
    )) + "\n[[recovery.return]]\nkind = \"command\"\nhost = \"web\"\nrun = [\"true\"]\n";
    let p = only_problem(&src);
    assert!(p.contains("recovery[0].return[2].host"), "{p}");
    assert!(
        p.contains("no host \"web\" in the production environment"),
        "{p}"
    );
}

#[test]
fn a_tsig_secret_cannot_be_written_inline() {
    let src = with_plan(&FULL.replace(
        "secret_env = \"KEEPUP_TEST_DR_TSIG\"",
        "secret = \"c2VjcmV0\"",
    ));
    let p = only_problem(&src);
    assert!(p.contains("secret"), "{p}");
    assert!(!p.contains("c2VjcmV0"), "the secret is echoed: {p}");
}

#[test]
fn a_dns_step_before_the_data_steps_is_refused_unless_it_says_so() {
    let early = "[[recovery.activate]]\nkind = \"dns\"\nname = \"early switch\"\nzone = \"shop.example\"\nnames = [\"shop.example\"]\nserver = \"127.0.0.53\"\nkey = \"shop-key\"\n";
    let database = "[[recovery.activate]]\nkind = \"restore_database\"";
    let src = with_plan(&FULL.replacen(database, &format!("{early}\n{database}"), 1));
    let p = only_problem(&src);
    let line = line_of(&src, "name = \"early switch\"") - 2;
    assert!(p.starts_with(&format!("keepup.toml:{line}:")), "{p}");
    assert!(p.contains("recovery[0].activate"), "{p}");
    assert!(
        p.contains("\"early switch\" comes before the data step \"database\""),
        "{p}"
    );
    assert!(p.contains("before_data = true"), "{p}");
    // Said on purpose, it loads.
    let meant = early.replace("key = ", "before_data = true\nkey = ");
    let src = with_plan(&FULL.replacen(database, &format!("{meant}\n{database}"), 1));
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let StepAction::Dns(d) = &config.recovery[0].activate[2].action else {
        panic!("the early dns step")
    };
    assert!(d.before_data);
}

/// `FULL` with a drill environment `drill` and the site's `home` check
/// aimed at the name the plan's dns step switches.
fn with_drill(drill: &str) -> String {
    with_plan(&format!("{FULL}\n{drill}")).replacen(
        "host = \"127.0.0.1\"\nport = 8081",
        "host = \"www.shop.example\"\nport = 8081",
        1,
    )
}

const DRILL: &str = r#"[recovery.drill]
addresses = ["127.0.0.30"]
dns_names = ["drill.shop.example"]
files_root = "/srv/drill"
db_host = "127.0.0.31"
db_port = 5433
[[recovery.drill.host]]
name = "web"
ssh = "deploy@127.0.0.30"

[[recovery.drill_cleanup]]
kind = "command"
name = "stop the drill shop"
host = "web"
run = ["systemctl", "stop", "shop"]
"#;

#[test]
fn a_drill_environment_loads_with_its_places() {
    let config =
        load_str(&with_drill(DRILL), Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let plan = config.recovery_plan("shop-dr").unwrap();
    let drill = plan.drill.as_ref().unwrap();
    assert_eq!(drill.files_root.as_deref(), Some(Path::new("/srv/drill")));
    assert_eq!(drill.db_host.as_deref(), Some("127.0.0.31"));
    assert_eq!(drill.db_port, Some(5433));
    assert_eq!(plan.drill_cleanup.len(), 1);
    assert_eq!(plan.drill_cleanup[0].name, "stop the drill shop");
}

#[test]
fn steps_a_drill_cannot_run_apart_from_production_are_refused_at_load() {
    // No files_root: the restore_files step would have nowhere of its own.
    let src = with_drill(&DRILL.replace("files_root = \"/srv/drill\"\n", ""));
    let p = only_problem(&src);
    let line = line_of(&src, "name = \"files\"") - 2;
    assert!(p.starts_with(&format!("keepup.toml:{line}:")), "{p}");
    assert!(
        p.contains("step \"files\" cannot be drilled: the drill environment has no files_root"),
        "{p}"
    );
    // The drill's names must not be the shop's.
    let src = with_drill(&DRILL.replace("drill.shop.example", "www.shop.example"));
    let p = only_problem(&src);
    let line = line_of(&src, "name = \"switch\"") - 2;
    assert!(p.starts_with(&format!("keepup.toml:{line}:")), "{p}");
    assert!(p.contains("is one of the names the plan switches"), "{p}");
    // Nor outside the zone the step updates.
    let p = only_problem(&with_drill(
        &DRILL.replace("drill.shop.example", "drill.other.example"),
    ));
    assert!(p.contains("not in the zone \"shop.example\""), "{p}");
    // A verified check the drill cannot redirect would probe production.
    let src = with_plan(&format!("{FULL}\n{DRILL}"));
    let p = only_problem(&src);
    let line = line_of(&src, "checks = [\"home\"]") - 2;
    assert!(p.starts_with(&format!("keepup.toml:{line}:")), "{p}");
    assert!(
        p.contains("check shop/home aims at \"127.0.0.1\", which no dns step of the plan switches"),
        "{p}"
    );
    // A host the drill environment lacks.
    let src = with_drill(&DRILL.replace("name = \"web\"", "name = \"app\""));
    let p = support::at_line(&problems(&src), line_of(&src, "owner = \"www-data") - 1);
    assert!(
        p.contains("no host \"web\" in the drill environment"),
        "{p}"
    );
    // The drill's own keys belong to it alone.
    let src = with_drill(DRILL).replacen(
        "[recovery.standby]\n",
        "[recovery.standby]\nfiles_root = \"/srv/x\"\n",
        1,
    );
    let p = only_problem(&src);
    assert!(
        p.contains("`files_root` belongs to [recovery.drill]"),
        "{p}"
    );
    // `/` as the root would let the cleanup delete anything.
    let src = with_drill(&DRILL.replace("\"/srv/drill\"", "\"/\""));
    let p = support::at_line(&problems(&src), line_of(&src, "files_root = \"/\""));
    assert!(p.contains("cannot be a drill's files root"), "{p}");
    // The cleanup runs commands only.
    let p = only_problem(&with_drill(
        &DRILL
            .replace(
                "kind = \"command\"\nname = \"stop the drill shop\"",
                "kind = \"confirm\"\nname = \"stop the drill shop\"",
            )
            .replace(
                "host = \"web\"\nrun = [\"systemctl\", \"stop\", \"shop\"]\n",
                "",
            ),
    ));
    assert!(p.contains("a drill's cleanup runs commands only"), "{p}");
}

#[test]
fn a_drill_on_the_standbys_or_productions_machines_is_refused_at_load() {
    // The same machine under another user is the standby's host.
    let src = with_drill(&DRILL.replace(
        "ssh = \"deploy@127.0.0.30\"",
        "ssh = \"root@127.0.0.20\"\nssh_port = 2222",
    ));
    let p = only_problem(&src);
    assert!(p.contains("recovery[0].drill.host[0].ssh"), "{p}");
    assert!(
        p.contains("the drill host \"web\" (root@127.0.0.20) is the standby host \"web\""),
        "{p}"
    );
    // On another port it is another sshd (a container, a namespace).
    let src = with_drill(&DRILL.replace("ssh = \"deploy@127.0.0.30\"", "ssh = \"127.0.0.20\""));
    load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let p = only_problem(&with_drill(
        &DRILL.replace("ssh = \"deploy@127.0.0.30\"", "ssh = \"127.0.0.10\""),
    ));
    assert!(p.contains("is the production host \"web\""), "{p}");
    // The drill's database server is the one the return imports into.
    let to_production = "[[recovery.return]]\nkind = \"restore_database\"\nname = \"db back\"\nbackup = \"db\"\ndb_host = \"127.0.0.31\"\ndb_port = 5433\ndb_user = \"shop\"\ndatabase = \"shop\"\ncheck_query = \"SELECT 1\"\n";
    let p = only_problem(&with_drill(&format!("{DRILL}\n{to_production}")));
    assert!(
        p.contains("the drill of step \"database\" would import into 127.0.0.31:5433, production's database server"),
        "{p}"
    );
}

#[test]
fn a_drill_skips_local_commands_unless_they_say_run() {
    let local = "[[recovery.activate]]\nkind = \"command\"\nname = \"promote\"\nrun = [\"promote-standby-db\"]\n";
    let config = load_str(
        &with_drill(&format!(
            "{DRILL}\n{local}\n{}\n{}",
            local
                .replace("promote", "clear caches")
                .replace("run = [", "drill = \"run\"\nrun = ["),
            local
                .replace("promote", "remote")
                .replace("run = [", "host = \"web\"\ndrill = \"skip\"\nrun = [")
        )),
        Path::new("keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let plan = config.recovery_plan("shop-dr").unwrap();
    let drill_of = |name: &str| match &plan
        .activate
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .action
    {
        StepAction::Command(c) => c.drill,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        drill_of("start"),
        DrillCommand::Run,
        "a remote command runs on the drill host"
    );
    assert_eq!(drill_of("promote"), DrillCommand::Skip);
    assert_eq!(drill_of("clear caches"), DrillCommand::Run);
    assert_eq!(drill_of("remote"), DrillCommand::Skip);
    let p = only_problem(&with_drill(&format!(
        "{DRILL}\n{}",
        local.replace("run = [", "drill = \"maybe\"\nrun = [")
    )));
    assert!(p.contains("unknown drill behaviour \"maybe\""), "{p}");
}

#[test]
fn drills_that_would_share_files_or_scratch_databases_are_refused_at_load() {
    // `to = "/"`: the cleanup would empty the whole files_root.
    let src = with_drill(DRILL).replacen("to = \"/srv/standby\"", "to = \"/\"", 1);
    let p = only_problem(&src);
    assert!(
        p.contains("step \"files\" cannot be drilled: a drill restores `to = \"/\"`"),
        "{p}"
    );
    // A second plan whose drill root lies inside the first's, and whose
    // drill imports the same database on the same server.
    let first = with_drill(DRILL);
    let second = FULL
        .replacen("id = \"shop-dr\"", "id = \"shop-dr-2\"", 1)
        .to_string()
        + &DRILL
            .replace("\"/srv/drill\"", "\"/srv/drill/two\"")
            .replace("127.0.0.30", "127.0.0.40");
    let problems: Vec<String> = problems(&format!("{first}\n{second}"))
        .0
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("recovery[1].drill.files_root")
            && problems[0].contains(
                "the drill's files_root /srv/drill/two overlaps plan \"shop-dr\"'s /srv/drill"
            ),
        "{problems:?}"
    );
    assert!(
        problems[1].contains(
            "the drill's scratch database shop_drill on 127.0.0.31:5433 is also plan \"shop-dr\"'s"
        ),
        "{problems:?}"
    );
    // Apart, both load.
    let apart = second
        .replace("\"/srv/drill/two\"", "\"/srv/drill-two\"")
        .replace("db_port = 5433", "db_port = 5434");
    load_str(&format!("{first}\n{apart}"), Path::new("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
}

#[test]
fn a_drill_name_at_the_apex_or_switched_back_by_the_return_is_refused() {
    let p = only_problem(&with_drill(
        &DRILL.replace("\"drill.shop.example\"", "\"shop.example.\""),
    ));
    assert!(
        p.contains("the drill name \"shop.example\" is the zone's apex"),
        "{p}"
    );
    let back = "[[recovery.return]]\nkind = \"dns\"\nname = \"back\"\nzone = \"shop.example\"\nnames = [\"api.shop.example\"]\nserver = \"127.0.0.53:53\"\nkey = \"shop-key\"\n";
    let p = only_problem(&with_drill(&format!(
        "{}\n{back}",
        DRILL.replace("\"drill.shop.example\"", "\"API.shop.example\"")
    )));
    assert!(
        p.contains("the drill name \"api.shop.example\" is one of the names the plan switches"),
        "{p}"
    );
}
