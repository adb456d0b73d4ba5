//! Drills against real components: a PostgreSQL server holding
//! production's shop and the standby's database, files backed up by the
//! real backup path into a local restic repository, a Knot primary and
//! secondary taking the signed updates, a TCP listener standing for the
//! drill's shop, and the real SQLite journal.
//!
//! While the drill's steps have run (seen from the observer, before the
//! cleanup), the drill's files are under its `files_root`, the dump is in
//! the scratch database, the drill name resolves to the drill's address on
//! both name servers and the shop's name still to production; afterwards
//! all of it is gone again, production and the standby untouched, the RTO
//! and the RPO (from the newest order) recorded: also when a step failed.
//! The same with MariaDB (its DATETIME read as UTC), and with the files on
//! the drill's own host through a private sshd.

use keepup_backup::NoProgress;
use keepup_config::recovery::Step;
use keepup_model::format_rfc3339;
use keepup_recovery::{Clock, Confirmation, Observer, RealClock, Runner, drill, resume};
use keepup_store::{DrRunKind, DrRunState, DrStepOutcome, Store};
use keepup_testkit::dns::{UPDATE_KEY_SHA512, UPDATE_ZONE, UpdatableZone, UpdatePolicy};
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// What `kdig` gets from `server` for `name` A, sorted.
fn kdig(server: std::net::SocketAddr, name: &str) -> Vec<String> {
    let out = Command::new("kdig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+norec", "+short", name, "A"])
        .stdin(Stdio::null())
        .output()
        .expect("kdig (Debian knot-dnsutils) runs");
    assert!(out.status.success(), "kdig failed: {out:?}");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

/// `kdig` until `name` has no A record on `server` (the secondary gets
/// the deletion by NOTIFY and IXFR, a moment after the primary).
fn gone_from(server: std::net::SocketAddr, name: &str) -> bool {
    for _ in 0..100 {
        if kdig(server, name).is_empty() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    false
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// A shop's production (files and database), its standby, a drill
/// environment, and the zone.
struct Fixture {
    dir: tempfile::TempDir,
    pg: Postgres,
    zone: UpdatableZone,
    /// The drill's shop: what the verify step must reach.
    drill_shop: TcpListener,
    /// When the newest order was placed (the RPO's reference).
    newest_order_ms: i64,
}

const STANDBY_MARK: &str = "the standby keeps its own data";

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pg = Postgres::start().expect("postgres");
        pg.load_shop("shop", &ShopSize::tiny(), 7)
            .expect("shop data");
        // Every order three hours old: the data's age, older than the
        // snapshot taken below.
        let newest_order_ms = RealClock.now_ms() - 3 * 3_600_000;
        let naive = format_rfc3339(newest_order_ms)
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_owned();
        pg.psql_in("shop", &format!("UPDATE orders SET created_at = '{naive}'"))
            .unwrap();
        // The standby's own database and files, which a drill must leave.
        pg.create_database("shop_standby").unwrap();
        pg.psql_in(
            "shop_standby",
            &format!("CREATE TABLE mark (t text); INSERT INTO mark VALUES ('{STANDBY_MARK}')"),
        )
        .unwrap();
        let prod = dir.path().join("prod/srv/shop");
        std::fs::create_dir_all(prod.join("media")).unwrap();
        std::fs::write(prod.join("index.php"), "<?php echo 'shop';\n").unwrap();
        std::fs::write(prod.join("media/logo.svg"), "<svg/>\n").unwrap();
        std::fs::create_dir_all(dir.path().join("standby")).unwrap();
        std::fs::write(dir.path().join("standby/keep"), STANDBY_MARK).unwrap();
        std::fs::create_dir_all(dir.path().join("drill")).unwrap();

        let password = dir.path().join("pg.pass");
        std::fs::write(&password, pg.password()).unwrap();
        std::fs::write(dir.path().join("repo.pass"), "repo password\n").unwrap();
        std::fs::create_dir_all(dir.path().join("repo")).unwrap();
        let zone = UpdatableZone::start(UpdatePolicy::default()).expect("knot");
        std::fs::write(dir.path().join("tsig.key"), zone.sha512_secret()).unwrap();
        let f = Self {
            drill_shop: TcpListener::bind("127.0.0.1:0").unwrap(),
            dir,
            pg,
            zone,
            newest_order_ms,
        };
        let config = f.config("", "SELECT max(created_at) FROM orders");
        let plan = &config.backups[0];
        keepup_backup::init(plan, "local").expect("init");
        let report = keepup_backup::run_plan(plan, None, Arc::new(NoProgress));
        assert!(report.targets[0].error.is_none(), "{report:#?}");
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The configuration: the backup plan, the site with its check of
    /// `www`, and the plan whose activate steps are the data steps, the
    /// dns switch, then `more` steps, then verify.
    fn config(&self, more: &str, rpo_query: &str) -> keepup_config::Config {
        let hints: Vec<String> = self
            .zone
            .root_hints()
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect();
        let src = format!(
            r#"[store]
path = "keepup.db"

[dns]
root_hints = [{hints}]
port = {dns_port}
query_timeout = "500ms"
ipv6 = false

[[site]]
id = "shop"
[[site.check]]
id = "www"
kind = "tcp"
host = "www.{UPDATE_ZONE}"
port = {shop_port}
timeout = "2s"

[[backup]]
id = "shop"
allow_single_target = true
password_file = "{dir}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{dir}/prod/srv"]
[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = {pg_port}
user = "{pg_user}"
dbname = "shop"
password_file = "{dir}/pg.pass"
[[backup.target]]
id = "local"
repository = "{dir}/repo"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
rpo_query = "{rpo_query}"
[recovery.standby]
addresses = ["192.0.2.20"]
[recovery.drill]
addresses = ["127.0.0.1"]
dns_names = ["drill.{UPDATE_ZONE}"]
files_root = "{dir}/drill"
[[recovery.tsig_key]]
id = "k"
name = "{UPDATE_KEY_SHA512}"
algorithm = "hmac-sha512"
secret_file = "{dir}/tsig.key"

[[recovery.activate]]
kind = "confirm"
[[recovery.activate]]
kind = "maintenance"
action = "start"
[[recovery.activate]]
kind = "restore_files"
name = "files"
backup = "shop"
paths = ["{dir}/prod/srv/shop"]
to = "{dir}/standby"
[[recovery.activate]]
kind = "restore_database"
name = "database"
backup = "shop"
db_host = "127.0.0.1"
db_port = {pg_port}
db_user = "{pg_user}"
database = "shop_standby"
password_file = "{dir}/pg.pass"
check_query = "SELECT id FROM orders LIMIT 3"
[[recovery.activate]]
kind = "dns"
name = "switch"
zone = "{UPDATE_ZONE}"
names = ["www.{UPDATE_ZONE}"]
server = "{primary}"
key = "k"
verify_timeout = "20s"
{more}
[[recovery.activate]]
kind = "verify"
name = "verify"
deadline = "20s"
interval = "1s"
"#,
            hints = hints.join(", "),
            dns_port = self.zone.port(),
            shop_port = self.drill_shop.local_addr().unwrap().port(),
            dir = self.dir.path().display(),
            pg_port = self.pg.port(),
            pg_user = self.pg.user(),
            primary = self.zone.primary(),
        );
        keepup_config::load_str(&src, &self.path("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
    }

    /// The scratch database's orders, or `None` when it does not exist.
    fn drill_orders(&self) -> Option<String> {
        let exists = self
            .pg
            .psql("SELECT count(*) FROM pg_database WHERE datname = 'shop_standby_drill'")
            .unwrap();
        (exists.trim() == "1").then(|| {
            self.pg
                .psql_in("shop_standby_drill", "SELECT count(*) FROM orders")
                .unwrap()
                .trim()
                .to_owned()
        })
    }

    /// What the drill left in the world, seen while it runs.
    fn seen(&self) -> Seen {
        Seen {
            drill_files: files_under(&self.path("drill")),
            drill_orders: self.drill_orders(),
            drill_name: [self.zone.primary(), self.zone.secondary()]
                .map(|s| kdig(s, &format!("drill.{UPDATE_ZONE}"))),
            shop_name: kdig(self.zone.primary(), &format!("www.{UPDATE_ZONE}")),
        }
    }

    /// Production and the standby as they were.
    fn assert_untouched(&self) {
        assert_eq!(
            self.pg
                .psql_in("shop_standby", "SELECT t FROM mark")
                .unwrap()
                .trim(),
            STANDBY_MARK
        );
        assert_eq!(
            self.pg
                .psql("SELECT count(*) FROM pg_database WHERE datname = 'shop_standby'")
                .unwrap()
                .trim(),
            "1"
        );
        assert_eq!(files_under(&self.path("standby")), ["keep"]);
        assert_eq!(
            files_under(&self.path("prod")),
            ["srv/shop/index.php", "srv/shop/media/logo.svg"]
        );
        for server in [self.zone.primary(), self.zone.secondary()] {
            assert_eq!(kdig(server, &format!("www.{UPDATE_ZONE}")), ["192.0.2.10"]);
        }
    }

    /// After the cleanup: nothing of the drill is left.
    fn assert_cleaned_up(&self) {
        assert_eq!(
            std::fs::read_dir(self.path("drill")).unwrap().count(),
            0,
            "nothing is left under files_root, not even directories"
        );
        assert!(self.path("drill").is_dir(), "the drill's root itself stays");
        assert_eq!(self.drill_orders(), None, "the scratch database is dropped");
        for server in [self.zone.primary(), self.zone.secondary()] {
            assert!(
                gone_from(server, &format!("drill.{UPDATE_ZONE}")),
                "the drill name is deleted on {server}"
            );
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Seen {
    drill_files: Vec<String>,
    drill_orders: Option<String>,
    drill_name: [Vec<String>; 2],
    shop_name: Vec<String>,
}

/// Looks at the world when the step named `at` ends (before the cleanup).
struct LookWhen<'f> {
    at: &'static str,
    fixture: &'f Fixture,
    seen: Mutex<Option<Seen>>,
}

impl Observer for LookWhen<'_> {
    fn ended(&self, _index: usize, step: &Step, _ok: bool, _text: &str) {
        if step.name == self.at {
            *self.seen.lock().unwrap() = Some(self.fixture.seen());
        }
    }
}

fn runner<'a>(
    config: &'a keepup_config::Config,
    store: &'a Store,
    observer: &'a dyn Observer,
    confirm: &'a Confirmation,
) -> Runner<'a> {
    Runner {
        config,
        store,
        clock: &RealClock,
        confirm,
        observer,
        who: "test",
    }
}

#[test]
fn a_drill_restores_publishes_verifies_and_cleans_up_without_touching_production() {
    let f = Fixture::new();
    let config = f.config("", "SELECT max(created_at) FROM orders");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let look = LookWhen {
        at: "verify",
        fixture: &f,
        seen: Mutex::new(None),
    };
    // Nobody to ask: a scheduled drill's confirmation gates pass anyway.
    let nobody = Confirmation::Nobody;
    let report = drill(&runner(&config, &store, &look, &nobody), plan).expect("the drill runs");
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    assert!(report.message.contains("cleaned up"), "{}", report.message);

    let seen = look.seen.lock().unwrap().clone().expect("verify ended");
    let restored_under = f
        .path("standby")
        .strip_prefix("/")
        .unwrap()
        .join(f.path("prod/srv/shop").strip_prefix("/").unwrap())
        .display()
        .to_string();
    assert_eq!(
        seen.drill_files,
        [
            format!("{restored_under}/index.php"),
            format!("{restored_under}/media/logo.svg")
        ],
        "the files under files_root/<to>/<path>"
    );
    let orders = f.pg.psql_in("shop", "SELECT count(*) FROM orders").unwrap();
    assert_eq!(seen.drill_orders.as_deref(), Some(orders.trim()));
    assert_eq!(
        seen.drill_name,
        [vec!["127.0.0.1".to_owned()], vec!["127.0.0.1".to_owned()]],
        "the drill name on the primary and the secondary"
    );
    assert_eq!(seen.shop_name, ["192.0.2.10"], "the shop's name stays");

    let run = store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.kind, DrRunKind::Drill);
    assert_eq!(run.holder_pid, None, "the plan's lock is released");
    let rto = run.rto_ms.expect("an RTO");
    assert!(rto > 0, "{rto}");
    // The newest order is older than the snapshot: it is the RPO.
    assert_eq!(run.rpo_ms, Some(run.started_at - f.newest_order_ms));

    let steps = store.dr_steps(report.run).unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "confirm #1",
            "maintenance #2",
            "files",
            "database",
            "switch",
            "verify",
            "cleanup: delete the DNS names of \"switch\"",
            "cleanup: drop database shop_standby_drill",
            "cleanup: remove the files of \"files\"",
        ]
    );
    assert!(steps.iter().all(|s| s.outcome == DrStepOutcome::Succeeded));
    assert!(
        steps[2].output.starts_with("restored 2 files (")
            && steps[2]
                .output
                .contains(&format!(" bytes) into {}/", f.path("drill").display())),
        "the count, the bytes, then where: {}",
        steps[2].output
    );
    assert!(
        steps[0].output.contains("not asked in a drill"),
        "{}",
        steps[0].output
    );
    assert!(
        steps[1].output.contains("skipped in a drill"),
        "{}",
        steps[1].output
    );
    assert!(
        store.maintenance_after(0).unwrap().is_empty(),
        "no maintenance window in a drill"
    );
    let journal = format!("{steps:?}");
    assert!(!journal.contains(f.zone.sha512_secret()), "{journal}");
    assert!(!journal.contains(f.pg.password()), "{journal}");

    f.assert_cleaned_up();
    f.assert_untouched();

    // The next drill's status estimate comes from this one.
    let next = store
        .dr_begin("shop-dr", DrRunKind::Drill, run.started_at + 1, "test", 1)
        .unwrap()
        .expect("the lock is free");
    let next = store.dr_run(next).unwrap().unwrap();
    let took = run.ended_at.unwrap() - run.started_at;
    assert_eq!(
        keepup_recovery::engine::estimate_ms(&store, &next).unwrap(),
        Some(took)
    );
    let text = keepup_recovery::engine::render_status(&store, &next, next.started_at).unwrap();
    assert!(
        text.contains(&format!(
            "The last completed drill (run {}) took {};",
            run.id,
            keepup_recovery::engine::human_ms(took)
        )),
        "{text}"
    );
    // An activation is estimated from the drill's steps, without its
    // cleanup.
    store
        .dr_run_ended(next.id, next.started_at, DrRunState::Aborted, "test")
        .unwrap();
    let activation = store
        .dr_begin("shop-dr", DrRunKind::Activate, next.started_at, "test", 1)
        .unwrap()
        .expect("the lock is free");
    let activation = store.dr_run(activation).unwrap().unwrap();
    let verified = steps[5].ended_at.unwrap() - run.started_at;
    assert!(verified < took);
    assert_eq!(
        keepup_recovery::engine::estimate_ms(&store, &activation).unwrap(),
        Some(verified)
    );
    let text =
        keepup_recovery::engine::render_status(&store, &activation, activation.started_at).unwrap();
    assert!(
        text.contains("The last completed drill (run 1) took")
            && text.contains("without its cleanup"),
        "{text}"
    );
}

#[test]
fn a_failed_drill_is_cleaned_up_and_leaves_the_plan_free() {
    let f = Fixture::new();
    // A local command runs in a drill only when it says so: the first one
    // would promote "the standby" on this machine.
    let promoted = f.path("promoted");
    let config = f.config(
        &format!(
            "[[recovery.activate]]\nkind = \"command\"\nname = \"promote\"\nrun = [\"touch\", \"{}\"]\n\
             [[recovery.activate]]\nkind = \"command\"\nname = \"start the shop\"\ndrill = \"run\"\nrun = [\"sh\", \"-c\", \"echo no shop >&2; exit 3\"]\n",
            promoted.display()
        ),
        "SELECT max(created_at) FROM orders",
    );
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let look = LookWhen {
        at: "start the shop",
        fixture: &f,
        seen: Mutex::new(None),
    };
    let yes = Confirmation::AssumeYes;
    let report = drill(&runner(&config, &store, &look, &yes), plan).expect("the drill runs");
    assert_eq!(report.state, DrRunState::Failed);
    for said in [
        "drill failed: step 7 of 8 \"start the shop\" (command) failed: exited with 3, expected 0",
        "cleaned up",
        "keepup dr drill shop-dr",
    ] {
        assert!(
            report.message.contains(said),
            "{said:?} in {}",
            report.message
        );
    }
    let seen = look.seen.lock().unwrap().clone().expect("the step ended");
    assert_eq!(seen.drill_files.len(), 2, "{seen:?}");
    assert!(seen.drill_orders.is_some(), "{seen:?}");
    assert_eq!(seen.drill_name[0], ["127.0.0.1"]);

    let steps = store.dr_steps(report.run).unwrap();
    let outcomes: Vec<(&str, DrStepOutcome)> =
        steps.iter().map(|s| (s.name.as_str(), s.outcome)).collect();
    assert_eq!(outcomes[5], ("promote", DrStepOutcome::Succeeded));
    assert!(
        steps[5]
            .output
            .starts_with("skipped in a drill: it runs on this machine"),
        "{}",
        steps[5].output
    );
    assert!(!promoted.exists(), "a local command is not run in a drill");
    assert_eq!(outcomes[6], ("start the shop", DrStepOutcome::Failed));
    assert!(
        !outcomes.iter().any(|(n, _)| *n == "verify"),
        "nothing after the failed step ran"
    );
    assert_eq!(outcomes.len(), 10, "{outcomes:?}");
    assert!(
        outcomes[7..]
            .iter()
            .all(|(n, o)| n.starts_with("cleanup: ") && *o == DrStepOutcome::Succeeded)
    );
    f.assert_cleaned_up();
    f.assert_untouched();

    let run = store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.state, DrRunState::Failed);
    assert_eq!(
        run.holder_pid, None,
        "a failed drill does not hold the plan"
    );
    assert!(run.ended_at.is_some());
    let e = resume(&runner(&config, &store, &look, &yes), report.run).unwrap_err();
    assert!(e.to_string().contains("keepup dr drill"), "{e}");
    // The plan is free for the next run.
    let again = store
        .dr_begin(
            "shop-dr",
            DrRunKind::Activate,
            run.ended_at.unwrap(),
            "test",
            1,
        )
        .unwrap();
    assert!(again.is_ok(), "{again:?}");
}

#[test]
fn an_rpo_query_that_does_not_give_a_time_fails_naming_the_query() {
    let f = Fixture::new();
    let config = f.config("", "SELECT count(*) FROM orders");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let yes = Confirmation::AssumeYes;
    let report = drill(
        &runner(&config, &store, &keepup_recovery::Quiet, &yes),
        plan,
    )
    .unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(
        report
            .message
            .contains("the plan's rpo_query `SELECT count(*) FROM orders` returned \"")
            && report.message.contains("which is not a time"),
        "{}",
        report.message
    );
    assert!(
        report
            .message
            .contains("\"database\" (restore_database) failed"),
        "{}",
        report.message
    );
    // The run stopped at the failed data step: DNS was never changed.
    let steps = store.dr_steps(report.run).unwrap();
    assert!(
        !steps.iter().any(|s| s.name == "switch"),
        "{:?}",
        steps.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    // The import that happened before the query is dropped again.
    f.assert_cleaned_up();
    f.assert_untouched();
}

#[test]
fn a_drill_restores_onto_its_own_host_over_ssh_and_removes_it_there() {
    let sshd = keepup_testkit::sshd::Sshd::start().expect("sshd");
    let dir = tempfile::tempdir().unwrap();
    let prod = dir.path().join("prod");
    std::fs::create_dir_all(prod.join("www/media")).unwrap();
    std::fs::write(prod.join("www/index.php"), "shop\n").unwrap();
    std::fs::write(prod.join("www/media/logo.svg"), "<svg/>\n").unwrap();
    std::fs::create_dir_all(prod.join("logs")).unwrap();
    std::fs::write(prod.join("logs/access.log"), "GET /\n").unwrap();
    std::fs::write(dir.path().join("repo.pass"), "repo password\n").unwrap();
    std::fs::create_dir_all(dir.path().join("repo")).unwrap();
    // The drill's host is this machine through sshd: its root is a
    // directory the sshd user owns.
    let root = sshd.storage_dir().join("drill");
    std::fs::create_dir_all(&root).unwrap();
    let marker = sshd.storage_dir().join("stopped");
    let src = format!(
        r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[backup]]
id = "shop"
allow_single_target = true
password_file = "{dir}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{dir}/prod"]
[[backup.target]]
id = "local"
repository = "{dir}/repo"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
[recovery.standby]
addresses = ["192.0.2.20"]
[[recovery.standby.host]]
name = "web"
ssh = "nobody@192.0.2.20"
[recovery.drill]
addresses = ["127.0.0.1"]
files_root = "{root}"
[[recovery.drill.host]]
name = "web"
ssh = "{user}@127.0.0.1"
ssh_port = {port}
ssh_identity_file = "{identity}"
ssh_known_hosts_file = "{known_hosts}"

[[recovery.activate]]
kind = "restore_files"
name = "www"
backup = "shop"
paths = ["{dir}/prod/www"]
to = "/srv/standby"
host = "web"
[[recovery.activate]]
kind = "restore_files"
name = "logs"
backup = "shop"
paths = ["{dir}/prod/logs"]
to = "/var"
host = "web"

[[recovery.drill_cleanup]]
kind = "command"
name = "stop"
host = "web"
run = ["touch", "{marker}"]
"#,
        dir = dir.path().display(),
        root = root.display(),
        user = sshd.user(),
        port = sshd.port(),
        identity = sshd.identity_file().display(),
        known_hosts = sshd.known_hosts_file().display(),
        marker = marker.display(),
    );
    let config = keepup_config::load_str(&src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    keepup_backup::init(&config.backups[0], "local").expect("init");
    let backup = keepup_backup::run_plan(&config.backups[0], None, Arc::new(NoProgress));
    assert!(backup.targets[0].error.is_none(), "{backup:#?}");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();

    struct Files<'p>(&'p Path, Mutex<Vec<String>>);
    impl Observer for Files<'_> {
        fn ended(&self, _index: usize, step: &Step, _ok: bool, _text: &str) {
            if step.name == "logs" {
                *self.1.lock().unwrap() = files_under(self.0);
            }
        }
    }
    let seen = Files(&root, Mutex::new(Vec::new()));
    let yes = Confirmation::AssumeYes;
    let report = drill(&runner(&config, &store, &seen, &yes), plan).expect("the drill runs");
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);

    let rel = |p: &str| {
        dir.path()
            .join(p)
            .strip_prefix("/")
            .unwrap()
            .display()
            .to_string()
    };
    assert_eq!(
        *seen.1.lock().unwrap(),
        [
            format!("srv/standby/{}", rel("prod/www/index.php")),
            format!("srv/standby/{}", rel("prod/www/media/logo.svg")),
            format!("var/{}", rel("prod/logs/access.log")),
        ],
        "under the drill's root on its host, never the standby's"
    );
    assert!(
        marker.exists(),
        "the cleanup command ran on the drill's host"
    );
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "{:?}",
        files_under(&root)
    );
    assert!(root.is_dir(), "the root itself stays");
    let steps = store.dr_steps(report.run).unwrap();
    assert!(
        steps[4].output.contains("removed") && steps[4].output.contains("on host web"),
        "{steps:?}"
    );
}

#[test]
fn a_mariadb_drill_imports_into_its_scratch_database_and_reads_the_rpo_from_a_datetime() {
    let db = keepup_testkit::mariadb::MariaDb::start().expect("mariadb");
    db.load_shop("shop", &ShopSize::tiny(), 9)
        .expect("shop data");
    // MariaDB's DATETIME has no zone: read as UTC.
    let newest_order_ms = (RealClock.now_ms() - 5 * 3_600_000) / 1000 * 1000;
    let naive = format_rfc3339(newest_order_ms)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned();
    db.sql_in("shop", &format!("UPDATE orders SET created_at = '{naive}'"))
        .unwrap();
    db.create_database("shop_standby").unwrap();
    db.sql_in(
        "shop_standby",
        "CREATE TABLE mark (t TEXT); INSERT INTO mark VALUES ('standby')",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("repo.pass"), "repo password\n").unwrap();
    std::fs::write(dir.path().join("db.pass"), db.password()).unwrap();
    std::fs::create_dir_all(dir.path().join("repo")).unwrap();
    let src = format!(
        r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[backup]]
id = "shop"
allow_single_target = true
password_file = "{dir}/repo.pass"
[[backup.source]]
kind = "mysql"
host = "127.0.0.1"
port = {port}
user = "{user}"
dbname = "shop"
password_file = "{dir}/db.pass"
[[backup.target]]
id = "local"
repository = "{dir}/repo"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
rpo_query = "SELECT max(created_at) FROM orders"
[recovery.standby]
addresses = ["192.0.2.20"]
[recovery.drill]
addresses = ["127.0.0.1"]

[[recovery.activate]]
kind = "restore_database"
name = "database"
backup = "shop"
db_host = "127.0.0.1"
db_port = {port}
db_user = "{user}"
database = "shop_standby"
password_file = "{dir}/db.pass"
check_query = "SELECT id FROM orders LIMIT 3"
"#,
        dir = dir.path().display(),
        port = db.port(),
        user = db.user(),
    );
    let config = keepup_config::load_str(&src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    keepup_backup::init(&config.backups[0], "local").expect("init");
    let backup = keepup_backup::run_plan(&config.backups[0], None, Arc::new(NoProgress));
    assert!(backup.targets[0].error.is_none(), "{backup:#?}");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();

    struct Orders<'d>(&'d keepup_testkit::mariadb::MariaDb, Mutex<String>);
    impl Observer for Orders<'_> {
        fn ended(&self, _index: usize, _step: &Step, _ok: bool, _text: &str) {
            *self.1.lock().unwrap() = self
                .0
                .sql_in("shop_standby_drill", "SELECT count(*) FROM orders")
                .unwrap_or_default();
        }
    }
    let seen = Orders(&db, Mutex::new(String::new()));
    let yes = Confirmation::AssumeYes;
    let report = drill(&runner(&config, &store, &seen, &yes), plan).expect("the drill runs");
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    let orders = db.sql_in("shop", "SELECT count(*) FROM orders").unwrap();
    assert_eq!(seen.1.lock().unwrap().trim(), orders.trim());
    let run = store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.rpo_ms, Some(run.started_at - newest_order_ms));
    let databases = db.sql("SHOW DATABASES").unwrap();
    assert!(!databases.contains("shop_standby_drill"), "{databases}");
    assert_eq!(
        db.sql_in("shop_standby", "SELECT t FROM mark")
            .unwrap()
            .trim(),
        "standby"
    );
}

/// A symbolic link under `files_root` (left by an earlier drill, or restored
/// by an earlier step) on the way to a step's destination: the kernel would
/// follow it, so the restore and the cleanup would work on the real
/// standby's directory. Both refuse, naming the link.
#[test]
fn a_symlink_under_the_files_root_is_never_followed_by_the_restore_or_the_cleanup() {
    let f = Fixture::new();
    let first = f
        .path("standby")
        .components()
        .find(|c| matches!(c, std::path::Component::Normal(_)))
        .map(|c| c.as_os_str().to_owned())
        .unwrap();
    // <files_root>/tmp -> /tmp: <files_root>/<to> would be the standby's
    // own directory.
    let link = f.path("drill").join(&first);
    std::os::unix::fs::symlink(Path::new("/").join(&first), &link).unwrap();
    let config = f.config("", "SELECT max(created_at) FROM orders");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let yes = Confirmation::AssumeYes;
    let report = drill(
        &runner(&config, &store, &keepup_recovery::Quiet, &yes),
        plan,
    )
    .unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    let refused = format!(
        "{} is a symbolic link under the drill's files_root",
        link.display()
    );
    let steps = store.dr_steps(report.run).unwrap();
    let outcome = |name: &str| {
        let s = steps.iter().find(|s| s.name == name).expect(name);
        (s.outcome, s.output.clone())
    };
    let (files, said) = outcome("files");
    assert_eq!(files, DrStepOutcome::Failed);
    assert!(said.contains(&refused), "{said}");
    let (cleanup, said) = outcome("cleanup: remove the files of \"files\"");
    assert_eq!(cleanup, DrStepOutcome::Failed);
    assert!(said.contains(&refused), "{said}");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays for a person to look at"
    );
    f.assert_untouched();
}

/// An activation whose `rpo_query` gives no time: the database is in place
/// by then, so the run goes on with the RPO not measured (said in the
/// journal) instead of stopping before DNS; a drill fails on it instead
/// (`an_rpo_query_that_does_not_give_a_time_fails_naming_the_query`).
#[test]
fn an_activation_whose_rpo_query_gives_no_time_goes_on_with_the_rpo_not_measured() {
    let f = Fixture::new();
    let config = f.config("", "SELECT count(*) FROM orders");
    let mut plan = config.recovery_plan("shop-dr").unwrap().clone();
    plan.activate.retain(|s| s.name == "database");
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let yes = Confirmation::AssumeYes;
    let report = keepup_recovery::engine::start(
        &runner(&config, &store, &keepup_recovery::Quiet, &yes),
        &plan,
        DrRunKind::Activate,
    )
    .unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    let steps = store.dr_steps(report.run).unwrap();
    assert_eq!(steps[0].outcome, DrStepOutcome::Succeeded);
    assert!(
        steps[0].output.contains("data age at activation not measured; RPO not measured: the plan's rpo_query `SELECT count(*) FROM orders` returned \"")
            && steps[0].output.contains("which is not a time"),
        "{}",
        steps[0].output
    );
    let run = store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.rpo_ms, None);
    // The import is in place.
    let orders = f.pg.psql_in("shop", "SELECT count(*) FROM orders").unwrap();
    assert_eq!(
        f.pg.psql_in("shop_standby", "SELECT count(*) FROM orders")
            .unwrap()
            .trim(),
        orders.trim()
    );
}

/// A drill name that already holds a record the drill did not publish:
/// the drill fails at its dns step before publishing anything, and its
/// cleanup deletes only what the drill would have published, so the
/// record stays.
#[test]
fn a_drill_name_in_use_is_left_alone() {
    let f = Fixture::new();
    let name = format!("drill.{UPDATE_ZONE}");
    let key_file = f.path("nsupdate.key");
    std::fs::write(
        &key_file,
        format!(
            "key \"{UPDATE_KEY_SHA512}\" {{\n  algorithm hmac-sha512;\n  secret \"{}\";\n}};\n",
            f.zone.sha512_secret()
        ),
    )
    .unwrap();
    let primary = f.zone.primary();
    let script = format!(
        "server {} {}\nzone {UPDATE_ZONE}.\nupdate add {name}. 300 A 192.0.2.99\nsend\n",
        primary.ip(),
        primary.port()
    );
    let mut child = std::process::Command::new("nsupdate")
        .arg("-k")
        .arg(&key_file)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate (Debian bind9-dnsutils) runs");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(kdig(primary, &name), ["192.0.2.99"]);

    let config = f.config("", "SELECT max(created_at) FROM orders");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let yes = Confirmation::AssumeYes;
    let report = drill(
        &runner(&config, &store, &keepup_recovery::Quiet, &yes),
        plan,
    )
    .unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(
        report.message.contains(&format!(
            "\"switch\" (dns) failed: the drill's names already hold records the drill did not publish ({name}. A 192.0.2.99)"
        )),
        "{}",
        report.message
    );
    let steps = store.dr_steps(report.run).unwrap();
    let cleanup = steps
        .iter()
        .find(|s| s.name == "cleanup: delete the DNS names of \"switch\"")
        .unwrap();
    assert_eq!(
        cleanup.outcome,
        DrStepOutcome::Succeeded,
        "{}",
        cleanup.output
    );
    assert_eq!(kdig(primary, &name), ["192.0.2.99"], "the record stays");
    f.assert_untouched();
}

/// A database by the scratch database's name before the drill (a staging
/// copy): the drill fails at its restore step without replacing it, and
/// its cleanup leaves it alone.
#[test]
fn a_scratch_database_that_was_there_before_the_drill_is_left_alone() {
    let f = Fixture::new();
    f.pg.psql("CREATE DATABASE shop_standby_drill").unwrap();
    f.pg.psql_in(
        "shop_standby_drill",
        "CREATE TABLE staging (t TEXT); INSERT INTO staging VALUES ('keep me')",
    )
    .unwrap();
    let config = f.config("", "SELECT max(created_at) FROM orders");
    let plan = config.recovery_plan("shop-dr").unwrap();
    let store = Store::open(&f.path("keepup.db")).unwrap();
    let yes = Confirmation::AssumeYes;
    let report = drill(
        &runner(&config, &store, &keepup_recovery::Quiet, &yes),
        plan,
    )
    .unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(
        report.message.contains(
            "\"database\" (restore_database) failed: the scratch database already exists: shop_standby_drill on"
        ) && report.message.contains("this drill did not create it"),
        "{}",
        report.message
    );
    let steps = store.dr_steps(report.run).unwrap();
    let cleanup = steps
        .iter()
        .find(|s| s.name == "cleanup: drop database shop_standby_drill")
        .unwrap();
    assert_eq!(cleanup.outcome, DrStepOutcome::Succeeded);
    assert!(
        cleanup.output.contains("left shop_standby_drill alone"),
        "{}",
        cleanup.output
    );
    assert_eq!(
        f.pg.psql_in("shop_standby_drill", "SELECT t FROM staging")
            .unwrap()
            .trim(),
        "keep me"
    );
    f.assert_untouched();
}
