//! Backups in the daemon end to end: a site with a backup plan (paths and
//! command sources, two local targets, a full integrity check and a
//! restore test), its jobs run through the monitor as the schedule would
//! run them, their results in the checks' current states and failures in
//! incidents: a lost target, a corrupted pack file, a database dump that
//! restores (or does not) into a scratch database on a real PostgreSQL.
//! And the scheduling rule of backup jobs (`due_jobs`) at the unit level.

use keepup_config::{BackupJob, Config};
use keepup_model::{CheckId, Outcome, Status, SystemClock, codes};
use keepup_monitor::Monitor;
use keepup_monitor::backup::{due_jobs, freshness_targets};
use keepup_monitor::incidents::IncidentEvent;
use keepup_monitor::recorder::CurrentState;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use keepup_testkit::postgres::Postgres;
use keepup_testkit::shopdata::ShopSize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The repository password, in a file the plans name.
const REPO_PASSWORD: &str = "monitor e2e repo pa'ss";

// ---------------------------------------------------------------- helpers

/// A temp directory with a source tree, a password file and the two
/// (existing, empty) target directories of each plan.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("keepup-monitor-backup-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("repo.pass"), format!("{REPO_PASSWORD}\n")).unwrap();
        let src = dir.path().join("shop");
        std::fs::create_dir_all(src.join("media/2024")).unwrap();
        std::fs::write(src.join("README.txt"), "the shop's files\n").unwrap();
        for i in 0..12 {
            std::fs::write(
                src.join(format!("media/2024/img-{i:02}.bin")),
                keepup_testkit::random::bytes(i, 40_000 + 5_000 * i as usize),
            )
            .unwrap();
        }
        std::fs::write(dir.path().join("orders.csv"), "id;total\n1;9.99\n2;5.00\n").unwrap();
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `[[backup]]` text of plan `id` in site `shop`: the source tree and
    /// a command source, targets `primary` and `second` (directories
    /// created here), a full integrity check, a restore test of 5 files.
    fn files_plan(&self, id: &str) -> String {
        for t in ["primary", "second"] {
            std::fs::create_dir_all(self.path(&format!("{id}-{t}"))).unwrap();
        }
        format!(
            r#"
[[backup]]
id = "{id}"
site = "shop"
password_file = "{pass}"

[[backup.source]]
kind = "paths"
paths = ["{src}"]

[[backup.source]]
kind = "command"
command = ["cat", "{orders}"]
filename = "orders.csv"

[[backup.target]]
id = "primary"
repository = "{primary}"

[[backup.target]]
id = "second"
repository = "{second}"
offsite = true

[backup.verify]
read_data_subset = "all"

[backup.restore_test]
sample_files = 5
"#,
            pass = self.path("repo.pass").display(),
            src = self.path("shop").display(),
            orders = self.path("orders.csv").display(),
            primary = self.path(&format!("{id}-primary")).display(),
            second = self.path(&format!("{id}-second")).display(),
        )
    }

    /// The configuration: site `shop` and the plans, whose repositories are
    /// initialised here.
    fn config(&self, plans: &str) -> Arc<Config> {
        let src = format!("[[site]]\nid = \"shop\"\nname = \"Shop\"\n{plans}");
        let config = keepup_config::load_str(&src, &self.path("keepup.toml"))
            .unwrap_or_else(|p| panic!("{p}\n{src}"));
        for plan in &config.backups {
            for t in &plan.targets {
                keepup_backup::init(plan, &t.id).unwrap();
            }
        }
        Arc::new(config)
    }

    async fn monitor(&self, config: Arc<Config>) -> (Monitor, broadcast::Receiver<IncidentEvent>) {
        let store = Store::open(&self.path("keepup.db")).unwrap();
        let monitor = Monitor::start(config, store, ProbeContext::new(), Arc::new(SystemClock))
            .await
            .unwrap();
        let events = monitor.subscribe();
        (monitor, events)
    }
}

fn id(s: &str) -> CheckId {
    let (site, check) = s.split_once('/').unwrap();
    CheckId::new(site, check)
}

fn codes(o: &Outcome) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

/// Waits (bounded: a missing state fails the test, it is not a timing
/// assertion) until the current state of `check` satisfies `pred`.
async fn wait_state(
    monitor: &Monitor,
    check: &str,
    what: &str,
    pred: impl Fn(&CurrentState) -> bool,
) -> CurrentState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(s) = monitor.current().get(&id(check))
            && pred(s)
        {
            return s.clone();
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{check}: never {what}; current: {:?}",
                monitor.current().get(&id(check))
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Has `check` evaluated now and waits for a state newer than `after`
/// that satisfies `pred`.
async fn evaluate_now(
    monitor: &Monitor,
    check: &str,
    what: &str,
    pred: impl Fn(&CurrentState) -> bool,
) -> CurrentState {
    let after = monitor.current().get(&id(check)).map_or(i64::MIN, |s| s.at);
    monitor.scheduler().run_now(id(check));
    wait_state(monitor, check, what, |s| s.at > after && pred(s)).await
}

/// The next `Opened` event for `check` (other events are skipped).
async fn opened(
    rx: &mut broadcast::Receiver<IncidentEvent>,
    check: &str,
) -> keepup_store::Incident {
    next(rx, check, |e| match e {
        IncidentEvent::Opened { incident, .. } if incident.check.as_str() == check => {
            Some(incident.clone())
        }
        _ => None,
    })
    .await
}

/// Like [`opened`], or the incident already open in the store (opened
/// before the test could subscribe).
async fn opened_or_open(
    monitor: &Monitor,
    rx: &mut broadcast::Receiver<IncidentEvent>,
    check: &str,
) -> keepup_store::Incident {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            Ok(Ok(IncidentEvent::Opened { incident, .. })) if incident.check.as_str() == check => {
                return incident;
            }
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => panic!("event stream: {e}"),
        }
        if let Some(i) = monitor
            .store()
            .open_incidents()
            .unwrap()
            .into_iter()
            .find(|i| i.check.as_str() == check)
        {
            return i;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no incident for {check}"
        );
    }
}

/// The next `Resolved` event for `check`.
async fn resolved(
    rx: &mut broadcast::Receiver<IncidentEvent>,
    check: &str,
) -> keepup_store::Incident {
    next(rx, check, |e| match e {
        IncidentEvent::Resolved { incident, .. } if incident.check.as_str() == check => {
            Some(incident.clone())
        }
        _ => None,
    })
    .await
}

async fn next<T>(
    rx: &mut broadcast::Receiver<IncidentEvent>,
    what: &str,
    pick: impl Fn(&IncidentEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) => {
                if let Some(t) = pick(&e) {
                    return t;
                }
            }
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("no incident event for {what}"),
        }
    }
}

// ------------------------------------------------------------------ tests

/// Before the first run the plan is not fresh; a run is Up on both
/// targets and makes it fresh; the full integrity check and the restore
/// test pass. Then the primary target disappears: the next run is
/// Degraded (the other target still got its snapshot), and the freshness
/// check opens an incident for the lost target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_verify_restore_and_a_lost_target_is_reported() {
    let fx = Fixture::new();
    let (monitor, mut events) = fx.monitor(fx.config(&fx.files_plan("media"))).await;

    // Before the first run: no snapshot anywhere, Down, an incident.
    let fresh = evaluate_now(&monitor, "shop/backup-media-fresh", "evaluated", |_| true).await;
    assert_eq!(fresh.outcome.status, Status::Down, "{:?}", fresh.outcome);
    assert_eq!(
        codes(&fresh.outcome),
        [codes::BACKUP_NO_SNAPSHOT, codes::BACKUP_NO_SNAPSHOT],
        "one finding per target: {:?}",
        fresh.outcome
    );
    // (The scheduler may have evaluated it at start, before the
    // subscription: the store is asked too.)
    let stale = opened_or_open(&monitor, &mut events, "shop/backup-media-fresh").await;
    assert_eq!(stale.status, Status::Down);
    // The run check has nothing to show yet.
    let run = monitor.current().get(&id("shop/backup-media")).cloned();
    assert!(
        run.as_ref()
            .is_none_or(|s| s.outcome.status == Status::Unknown),
        "{run:?}"
    );

    // A backup: Up, on both targets.
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "backup media stored on 2 of 2 targets");
    assert!(o.findings.is_empty(), "{o:?}");
    let targets = o.evidence.details.get("targets").unwrap();
    assert_eq!(targets.as_array().unwrap().len(), 2, "{targets}");
    let state = wait_state(&monitor, "shop/backup-media", "Up", |s| {
        s.outcome.status == Status::Up
    })
    .await;
    assert_eq!(state.outcome.message, o.message);

    // Fresh now, and the incident resolves.
    let fresh = evaluate_now(&monitor, "shop/backup-media-fresh", "evaluated", |_| true).await;
    assert_eq!(fresh.outcome.status, Status::Up, "{:?}", fresh.outcome);
    assert_eq!(
        fresh.outcome.message,
        "backup media is fresh on every target"
    );
    let done = resolved(&mut events, "shop/backup-media-fresh").await;
    assert_eq!(done.id, stale.id);
    // Each target's entry reads back as the readers (dashboard, /metrics) see it.
    let targets = freshness_targets(&fresh.outcome);
    assert_eq!(targets.len(), 2, "{:?}", fresh.outcome);
    for t in &targets {
        assert_eq!(t.status, Status::Up, "{t:?}");
        assert!(
            t.snapshot_time_ms.is_some() && t.last_snapshot.is_some(),
            "{t:?}"
        );
        assert!(t.snapshot_bytes.is_some_and(|b| b > 0), "{t:?}");
        assert!(t.age_seconds.is_some_and(|a| a <= t.limit_seconds), "{t:?}");
    }

    // Every pack read on both targets: intact.
    let o = monitor
        .run_backup_job("media", BackupJob::Verify)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "backup media: every target is intact");
    wait_state(&monitor, "shop/backup-media-verify", "Up", |s| {
        s.outcome.status == Status::Up
    })
    .await;

    // A sample of files restored from both targets and compared.
    let o = monitor
        .run_backup_job("media", BackupJob::RestoreTest)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "backup media: the latest snapshots restore");
    wait_state(&monitor, "shop/backup-media-restore", "Up", |s| {
        s.outcome.status == Status::Up
    })
    .await;

    // The primary target disappears (a disk unmounted, a directory
    // deleted): the run still stores on the second one, Degraded.
    std::fs::remove_dir_all(fx.path("media-primary")).unwrap();
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(o.message, "backup media stored on 1 of 2 targets");
    assert_eq!(codes(&o), [codes::BACKUP_TARGET_FAILED], "{o:?}");
    assert!(
        o.findings[0].text.starts_with("target primary: ")
            && o.findings[0].text.contains("does not exist"),
        "{}",
        o.findings[0].text
    );
    let state = wait_state(&monitor, "shop/backup-media", "Degraded", |s| {
        s.outcome.status == Status::Degraded
    })
    .await;
    assert_eq!(codes(&state.outcome), [codes::BACKUP_TARGET_FAILED]);

    // The lost target makes the plan's freshness Down: an incident.
    let fresh = evaluate_now(&monitor, "shop/backup-media-fresh", "evaluated", |_| true).await;
    assert_eq!(fresh.outcome.status, Status::Down, "{:?}", fresh.outcome);
    assert_eq!(codes(&fresh.outcome), [codes::BACKUP_UNAVAILABLE]);
    assert_eq!(
        fresh.outcome.message,
        "backup media target primary is unavailable"
    );
    let lost = opened(&mut events, "shop/backup-media-fresh").await;
    assert_ne!(lost.id, stale.id);
    assert!(lost.resolved_at.is_none());

    monitor.shutdown().await;
}

/// Retention on its own schedule reports on the run check without hiding
/// the last run: after a run that lost a target, a successful retention
/// leaves the check Degraded; the failure of a retention is added to a
/// good run and is replaced, not repeated, by the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_does_not_hide_a_failed_run() {
    let fx = Fixture::new();
    let plan =
        fx.files_plan("media") + "\n[backup.retention]\nkeep_last = 3\nschedule = \"30 4 * * *\"\n";
    let (monitor, _events) = fx.monitor(fx.config(&plan)).await;
    std::fs::remove_dir_all(fx.path("media-primary")).unwrap();
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    // The primary comes back empty: retention succeeds on both targets.
    std::fs::create_dir_all(fx.path("media-primary")).unwrap();
    keepup_backup::init(&monitor.config().backups[0], "primary").unwrap();
    let after = monitor
        .run_backup_job("media", BackupJob::Retention)
        .await
        .unwrap();
    assert_eq!(after.status, Status::Degraded, "{after:?}");
    assert_eq!(after.message, o.message);

    let good = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(good.status, Status::Up, "{good:?}");
    std::fs::remove_dir_all(fx.path("media-second")).unwrap();
    for _ in 0..2 {
        let o = monitor
            .run_backup_job("media", BackupJob::Retention)
            .await
            .unwrap();
        assert_eq!(o.status, Status::Degraded, "{o:?}");
        let failed: Vec<_> = o
            .findings
            .iter()
            .filter(|f| f.code == codes::BACKUP_RETENTION_FAILED)
            .collect();
        assert_eq!(failed.len(), 1, "{o:?}");
        assert!(failed[0].text.contains("second"), "{o:?}");
    }
    monitor.shutdown().await;
}

/// A run that loses one of two targets opens an incident on the plan's
/// run check (`failure_threshold = 1`), not only, minutes later, on its
/// freshness check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_loses_a_target_opens_an_incident() {
    let fx = Fixture::new();
    let (monitor, mut events) = fx.monitor(fx.config(&fx.files_plan("media"))).await;
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    std::fs::remove_dir_all(fx.path("media-primary")).unwrap();
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    let incident = opened(&mut events, "shop/backup-media").await;
    assert_eq!(incident.status, Status::Degraded);
    // The next good run resolves it.
    std::fs::create_dir_all(fx.path("media-primary")).unwrap();
    let plan = monitor.config().backups[0].clone();
    keepup_backup::init(&plan, "primary").unwrap();
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(
        resolved(&mut events, "shop/backup-media").await.id,
        incident.id
    );
    monitor.shutdown().await;
}

/// Bytes flipped in a pack file: the scheduled integrity check (reading
/// all data) finds the damage on that target and opens an incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_pack_file_opens_an_incident_on_the_integrity_check() {
    let fx = Fixture::new();
    let (monitor, mut events) = fx.monitor(fx.config(&fx.files_plan("media"))).await;
    let o = monitor
        .run_backup_job("media", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    let o = monitor
        .run_backup_job("media", BackupJob::Verify)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");

    // Flip bytes in the middle of the largest pack (file data) of the
    // second target.
    let pack = keepup_testkit::restic::damage_largest_pack(&fx.path("media-second")).unwrap();

    let o = monitor
        .run_backup_job("media", BackupJob::Verify)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(
        o.message,
        "backup media on second: repository check found damage"
    );
    assert!(!o.findings.is_empty());
    assert!(
        o.findings
            .iter()
            .all(|f| f.code == codes::BACKUP_CHECK_FAILED),
        "{o:?}"
    );
    let pack_id = pack.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        o.findings.iter().any(|f| f.text.contains(&pack_id[..8])),
        "the damaged pack is named: {o:?}"
    );
    let state = wait_state(&monitor, "shop/backup-media-verify", "Down", |s| {
        s.outcome.status == Status::Down
    })
    .await;
    assert_eq!(state.outcome.message, o.message);
    let incident = opened(&mut events, "shop/backup-media-verify").await;
    assert_eq!(incident.status, Status::Down);

    // The primary target is intact: a run and its check are unaffected.
    let plan = monitor.config().backups[0].clone();
    let report = tokio::task::spawn_blocking(move || {
        keepup_backup::check(
            &plan,
            "primary",
            keepup_config::backup::ReadData::All,
            &jiff::Zoned::now(),
            Arc::new(keepup_backup::NoProgress),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    monitor.shutdown().await;
}

/// The database half of the restore test: the latest dump restored into a
/// scratch database on a real PostgreSQL and queried. Down before any
/// dump exists and when the query's minimum is not reached; Up with the
/// real query; no scratch database left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restore_test_runs_the_real_query() {
    let pg = tokio::task::spawn_blocking(|| {
        let pg = Postgres::start().expect("PostgreSQL starts (Debian postgresql)");
        let counts = pg
            .load_shop("shop", &ShopSize::tiny(), 5)
            .expect("shop data");
        (pg, counts)
    })
    .await
    .unwrap();
    let (pg, counts) = pg;
    assert_eq!(counts.orders, 300);
    let fx = Fixture::new();
    let pg_pass = fx.path("pg.pass");
    std::fs::write(&pg_pass, format!("{}\n", pg.password())).unwrap();
    let plan = |id: &str, min_rows: u64| {
        for t in ["a", "b"] {
            std::fs::create_dir_all(fx.path(&format!("{id}-{t}"))).unwrap();
        }
        format!(
            r#"
[[backup]]
id = "{id}"
site = "shop"
password_file = "{pass}"

[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
port = {port}
user = "{user}"
dbname = "shop"
password_file = "{pg_pass}"

[[backup.target]]
id = "a"
repository = "{a}"

[[backup.target]]
id = "b"
repository = "{b}"
offsite = true

[backup.restore_test]
sample_files = 0
query = "SELECT count(*) FROM orders"
min_rows = {min_rows}

[backup.restore_test.database]
kind = "postgres"
host = "127.0.0.1"
port = {port}
user = "{user}"
password_file = "{pg_pass}"
"#,
            pass = fx.path("repo.pass").display(),
            port = pg.port(),
            user = pg.user(),
            pg_pass = pg_pass.display(),
            a = fx.path(&format!("{id}-a")).display(),
            b = fx.path(&format!("{id}-b")).display(),
        )
    };
    let config = fx.config(&format!("{}{}", plan("db", 300), plan("db-strict", 301)));
    let (monitor, mut events) = fx.monitor(config).await;

    // No dump yet: Down on both targets, an incident.
    let o = monitor
        .run_backup_job("db", BackupJob::RestoreTest)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.message, "backup db: /db/shop.sql does not restore from a");
    assert_eq!(
        codes(&o),
        [codes::BACKUP_RESTORE_FAILED, codes::BACKUP_RESTORE_FAILED],
        "{o:?}"
    );
    assert!(o.findings[0].text.contains("no snapshot"), "{o:?}");
    let missing = opened(&mut events, "shop/backup-db-restore").await;

    // A backup of the dump; the restore test is Up and the incident
    // resolves.
    for p in ["db", "db-strict"] {
        let o = monitor.run_backup_job(p, BackupJob::Run).await.unwrap();
        assert_eq!(o.status, Status::Up, "{p}: {o:?}");
    }
    let o = monitor
        .run_backup_job("db", BackupJob::RestoreTest)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "backup db: the latest snapshots restore");
    assert!(o.findings.is_empty(), "{o:?}");
    wait_state(&monitor, "shop/backup-db-restore", "Up", |s| {
        s.outcome.status == Status::Up
    })
    .await;
    assert_eq!(
        resolved(&mut events, "shop/backup-db-restore").await.id,
        missing.id
    );

    // The same dump with a minimum above the real count: Down, the value
    // and the minimum said, an incident.
    let o = monitor
        .run_backup_job("db-strict", BackupJob::RestoreTest)
        .await
        .unwrap();
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(
        codes(&o),
        [codes::BACKUP_RESTORE_FAILED, codes::BACKUP_RESTORE_FAILED]
    );
    assert!(
        o.findings[0]
            .text
            .contains("`SELECT count(*) FROM orders` = 300 < 301"),
        "{}",
        o.findings[0].text
    );
    let incident = opened(&mut events, "shop/backup-db-strict-restore").await;
    assert_eq!(incident.status, Status::Down);

    // Every scratch database was dropped; the source is untouched; no
    // password in any outcome.
    let left = pg
        .psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'keepup_restore_test_%'")
        .unwrap();
    assert_eq!(left.trim(), "0");
    assert_eq!(pg.shop_counts("shop").unwrap(), counts);
    for (check, state) in monitor.current() {
        let text = serde_json::to_string(&state.outcome).unwrap();
        assert!(!text.contains(pg.password()), "{check}: {text}");
        assert!(!text.contains(REPO_PASSWORD), "{check}: {text}");
    }
    monitor.shutdown().await;
}

// ------------------------------------------------------- due_jobs (unit)

/// Plans with every kind of schedule, one in a time zone with daylight
/// saving time, one in UTC (the default).
fn scheduled_plans() -> Config {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "x").unwrap();
    let src = format!(
        r#"
[[backup]]
id = "files"
password_file = "{pass}"
allow_single_target = true
schedule = "30 2 * * *"
timezone = "Europe/Berlin"
[[backup.source]]
kind = "command"
command = ["true"]
filename = "x"
[[backup.target]]
id = "t"
repository = "{dir}/repo"
[backup.retention]
keep_last = 3
schedule = "0 */6 * * *"
[backup.verify]
schedule = "15 4 * * sun"
[backup.restore_test]
schedule = "45 5 1 * *"

[[backup]]
id = "db"
password_file = "{pass}"
allow_single_target = true
schedule = "*/20 * * * *"
[[backup.source]]
kind = "command"
command = ["true"]
filename = "y"
[[backup.target]]
id = "t"
repository = "{dir}/repo2"
"#,
        pass = pass.display(),
        dir = dir.path().display()
    );
    keepup_config::load_str(&src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}\n{src}"))
}

fn ms(z: &jiff::Zoned) -> i64 {
    z.timestamp().as_millisecond()
}

/// Whether `job` of `plan` is scheduled at the civil minute `t` (written
/// here by hand, independently of the cron code).
fn scheduled_at(plan: &str, job: BackupJob, t: &jiff::Zoned) -> bool {
    let berlin = t.with_time_zone(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
    let utc = t.with_time_zone(jiff::tz::TimeZone::UTC);
    match (plan, job) {
        ("files", BackupJob::Run) => {
            // Daily at 02:30, as cronie runs it: on the spring day, when
            // 02:30 does not exist, at the jump (03:00 summer time); on
            // the autumn day at the first 02:30 (summer time) only.
            let spring_jump = berlin.date() == jiff::civil::date(2026, 3, 29)
                && berlin.hour() == 3
                && berlin.minute() == 0;
            let second_pass = berlin.date() == jiff::civil::date(2026, 10, 25)
                && berlin.offset() == jiff::tz::Offset::constant(1);
            (berlin.hour() == 2 && berlin.minute() == 30 && !second_pass) || spring_jump
        }
        ("files", BackupJob::Retention) => berlin.hour() % 6 == 0 && berlin.minute() == 0,
        ("files", BackupJob::Verify) => {
            berlin.weekday() == jiff::civil::Weekday::Sunday
                && berlin.hour() == 4
                && berlin.minute() == 15
        }
        ("files", BackupJob::RestoreTest) => {
            berlin.day() == 1 && berlin.hour() == 5 && berlin.minute() == 45
        }
        ("db", BackupJob::Run) => utc.minute() % 20 == 0,
        _ => false,
    }
}

/// The runner's loop, simulated from `start` for six days: it looks once
/// a minute (50 ms after the minute), each look covering `(previous look,
/// now]`. Every scheduled minute is due exactly once, at the first look
/// after it; nothing is due at any other look. Returns how often each job
/// was due.
fn simulate_runner(
    plans: &[keepup_config::backup::BackupPlan],
    start: &str,
) -> Vec<((String, BackupJob), u32)> {
    let start: jiff::Zoned = start.parse().unwrap();
    let minutes = 6 * 24 * 60;
    let mut due_count: Vec<((String, BackupJob), u32)> = Vec::new();
    let mut looked = ms(&start);
    for m in 1..=minutes {
        let now_z = start
            .checked_add(jiff::SignedDuration::from_mins(m))
            .unwrap();
        let now = ms(&now_z);
        let minute_z = now_z
            .checked_sub(jiff::SignedDuration::from_millis(50))
            .unwrap();
        let due: Vec<(String, BackupJob)> = due_jobs(plans, looked, now)
            .into_iter()
            .map(|(p, j)| (p.id, j))
            .collect();
        let mut expected = Vec::new();
        for (plan, job) in [
            ("files", BackupJob::Run),
            ("files", BackupJob::Retention),
            ("files", BackupJob::Verify),
            ("files", BackupJob::RestoreTest),
            ("db", BackupJob::Run),
        ] {
            if scheduled_at(plan, job, &minute_z) {
                expected.push((plan.to_owned(), job));
            }
        }
        assert_eq!(due, expected, "at {minute_z}");
        for d in due {
            match due_count.iter_mut().find(|(k, _)| *k == d) {
                Some((_, n)) => *n += 1,
                None => due_count.push((d, 1)),
            }
        }
        looked = now;
    }
    due_count
}

/// Six days around each change of Berlin's clocks: every job is due once
/// per occurrence and never outside, the daily 02:30 backup once a day
/// (at 03:00 on the spring day, the first 02:30 on the autumn day).
#[test]
fn due_jobs_fire_once_per_occurrence_and_never_outside() {
    let config = scheduled_plans();
    let plans = &config.backups;
    // The end of March: a Sunday, the first of a month, and the change to
    // summer time in Berlin on the 29th (02:00 becomes 03:00).
    let spring = simulate_runner(plans, "2026-03-27T00:00:00.050+00:00[UTC]");
    // The end of October: back to winter time on the 25th (03:00 becomes
    // 02:00 again), a Sunday, no first of a month.
    let autumn = simulate_runner(plans, "2026-10-22T00:00:00.050+00:00[UTC]");
    // The totals, to be sure the simulation covered what was meant: the
    // daily backup on each of the 6 days, retention at 00, 06, 12 and 18
    // every day, one Sunday, database backups every 20 minutes (UTC).
    let count = |due: &[((String, BackupJob), u32)], p: &str, j: BackupJob| {
        due.iter()
            .find(|((plan, job), _)| plan == p && *job == j)
            .map_or(0, |(_, n)| *n)
    };
    for due in [&spring, &autumn] {
        assert_eq!(count(due, "files", BackupJob::Run), 6);
        assert_eq!(count(due, "files", BackupJob::Retention), 6 * 4);
        assert_eq!(count(due, "files", BackupJob::Verify), 1);
        assert_eq!(count(due, "db", BackupJob::Run), 6 * 24 * 3);
    }
    assert_eq!(count(&spring, "files", BackupJob::RestoreTest), 1);
    assert_eq!(count(&autumn, "files", BackupJob::RestoreTest), 0);
}

/// Looks that are not once a minute: an occurrence exactly at `now` is
/// due, one exactly at `after` is not (it was due at the previous look),
/// a long pause makes each job due once, not once per missed occurrence.
#[test]
fn due_jobs_windows_are_half_open_and_a_long_pause_runs_each_job_once() {
    let config = scheduled_plans();
    let plans = &config.backups;
    let at = |s: &str| -> i64 { ms(&s.parse::<jiff::Zoned>().unwrap()) };
    let ids = |v: Vec<(keepup_config::backup::BackupPlan, BackupJob)>| -> Vec<(String, BackupJob)> {
        v.into_iter().map(|(p, j)| (p.id, j)).collect()
    };
    // 02:30 Berlin (summer time) = 00:30 UTC; the db job at :20 and :40.
    let occurrence = at("2026-06-10T00:30:00+00:00[UTC]");
    assert_eq!(
        ids(due_jobs(plans, occurrence - 1, occurrence)),
        [("files".to_owned(), BackupJob::Run)]
    );
    assert!(due_jobs(plans, occurrence, occurrence + 59_999).is_empty());
    assert!(due_jobs(plans, occurrence + 1, occurrence + 9 * 60_000).is_empty());
    assert!(due_jobs(plans, occurrence, occurrence).is_empty());
    // A clock that went backwards: nothing.
    assert!(due_jobs(plans, occurrence + 60_000, occurrence).is_empty());

    // Asleep from 23:00 UTC on the 9th to 07:00 UTC on the 10th: the
    // daily backup (00:30 UTC), retention (04:00 UTC) and the db backup
    // (24 occurrences) are each due once.
    let due = ids(due_jobs(
        plans,
        at("2026-06-09T23:00:00+00:00[UTC]"),
        at("2026-06-10T07:00:00+00:00[UTC]"),
    ));
    assert_eq!(
        due,
        [
            ("files".to_owned(), BackupJob::Run),
            ("files".to_owned(), BackupJob::Retention),
            ("db".to_owned(), BackupJob::Run),
        ]
    );
}
