//! Disaster-recovery drills in the daemon: the `dr-<plan>` check judged
//! from real journal rows in a SQLite store (never drilled, fresh, stale by
//! a simulated clock, RTO/RPO over target, failed, aborted, in progress), a
//! failed drill opening an incident through the monitor, and the daemon
//! running a scheduled drill for real (a restic snapshot restored, a
//! command, a verify step measuring the RTO) and its check turning Up.

use keepup_config::{CheckSpec, Config, PassiveSpec};
use keepup_model::{CheckId, Outcome, Status, SystemClock, codes};
use keepup_monitor::Monitor;
use keepup_monitor::drill::{DrillBook, SCHEDULED_BY, drill_evidence, due_drills};
use keepup_monitor::incidents::IncidentEvent;
use keepup_probe::ProbeContext;
use keepup_store::{DrRunKind, DrRunState, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const T0: i64 = 1_790_000_000_000;

/// Site `shop` with a TCP check on `port`, and plan `shop-dr` (RTO 4h, RPO
/// 2h, drills at most 30 days old) with a drill environment (the check's
/// address, files under `drill-root`), `extra` plan keys and `steps`.
fn config(dir: &Path, port: u16, extra: &str, steps: &str) -> Arc<Config> {
    let src = format!(
        r#"[store]
path = "keepup.db"

[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = {port}
timeout = "2s"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "4h"
rpo = "2h"
drill_max_age = "30d"
{extra}
[recovery.standby]
addresses = ["127.0.0.20"]
[recovery.drill]
addresses = ["127.0.0.1"]
files_root = "{root}"

{steps}"#,
        root = dir.join("drill-root").display()
    );
    Arc::new(
        keepup_config::load_str(&src, &dir.join("keepup.toml"))
            .unwrap_or_else(|p| panic!("{p}\n{src}")),
    )
}

const ECHO_STEP: &str = "[[recovery.activate]]\nkind = \"command\"\nrun = [\"true\"]\n";

fn codes_of(o: &Outcome) -> Vec<&str> {
    o.findings.iter().map(|f| f.code.as_str()).collect()
}

fn drill_check(config: &Config) -> (CheckId, keepup_config::DrillCheckSpec) {
    let check = config
        .find_check("shop/dr-shop-dr")
        .expect("the plan adds dr-shop-dr to its site");
    let CheckSpec::Passive(PassiveSpec::Drill(spec)) = &check.spec else {
        panic!("{:?}", check.spec);
    };
    (check.id.clone(), spec.clone())
}

/// A drill journaled as the engine does: begun at `at`, with its figures,
/// ended `state` an hour later (a failed one keeps its plan's lock).
fn drill(
    store: &Store,
    at: i64,
    rto: Option<i64>,
    rpo: Option<i64>,
    state: DrRunState,
    message: &str,
) -> i64 {
    let run = store
        .dr_begin("shop-dr", DrRunKind::Drill, at, "test", 1)
        .unwrap()
        .unwrap();
    store.dr_figures(run, rto, rpo).unwrap();
    if state != DrRunState::Running {
        assert!(store.dr_run_ended(run, at + HOUR, state, message).unwrap());
    }
    run
}

#[test]
fn the_check_follows_the_drills_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 9, "", ECHO_STEP);
    let (_, spec) = drill_check(&config);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let book = DrillBook::new(store.clone(), config.clone());
    let eval = |now: i64| book.evaluate(&spec, now);

    let never = eval(T0);
    assert_eq!(never.status, Status::Degraded, "{never:?}");
    assert_eq!(codes_of(&never), [codes::DR_NEVER_DRILLED]);
    assert!(
        never.message.contains("keepup dr drill shop-dr"),
        "{}",
        never.message
    );
    let ev = drill_evidence(&never).unwrap();
    assert_eq!((ev.last, ev.rto_target_seconds), (None, 4 * 3600));

    // Within its targets and fresh: Up, with the figures in the evidence.
    let good = drill(
        &store,
        T0,
        Some(HOUR / 2),
        Some(HOUR),
        DrRunState::Completed,
        "done",
    );
    let up = eval(T0 + 2 * HOUR);
    assert_eq!(up.status, Status::Up, "{up:?}");
    assert!(up.findings.is_empty(), "{:?}", up.findings);
    assert!(
        up.message
            .contains("RTO 30m (target 4h), RPO 1h (target 2h)"),
        "{}",
        up.message
    );
    let ev = drill_evidence(&up).unwrap();
    let last = ev.last.unwrap();
    assert_eq!(
        (
            last.run,
            last.state.as_str(),
            last.rto_seconds,
            last.rpo_seconds
        ),
        (good, "completed", Some(1800.0), Some(3600.0))
    );
    assert_eq!(ev.last_success.unwrap().run, good);

    // Thirty days and a bit after it ended: stale.
    let stale = eval(T0 + HOUR + 30 * DAY + 1);
    assert_eq!(stale.status, Status::Degraded);
    assert_eq!(codes_of(&stale), [codes::DR_DRILL_STALE]);
    assert!(
        stale
            .message
            .contains("more than the plan's drill_max_age 30d"),
        "{}",
        stale.message
    );
    assert_eq!(
        eval(T0 + HOUR + 30 * DAY).status,
        Status::Up,
        "the limit itself is not stale"
    );

    // A slow drill that restored old data: both targets exceeded.
    let slow = drill(
        &store,
        T0 + DAY,
        Some(5 * HOUR),
        Some(3 * HOUR),
        DrRunState::Completed,
        "",
    );
    let over = eval(T0 + 2 * DAY);
    assert_eq!(over.status, Status::Degraded);
    assert_eq!(
        codes_of(&over),
        [codes::DR_RTO_EXCEEDED, codes::DR_RPO_EXCEEDED]
    );
    assert!(
        over.message
            .contains(&format!("drill run {slow} measured an RTO of 5h")),
        "{}",
        over.message
    );

    // A failed drill: Down with its message, the last success still known.
    let failed = drill(
        &store,
        T0 + 3 * DAY,
        None,
        None,
        DrRunState::Failed,
        "step 2 of 3 \"restore\" (restore_files) failed: no snapshot\nmore lines",
    );
    let down = eval(T0 + 3 * DAY + 2 * HOUR);
    assert_eq!(down.status, Status::Down, "{down:?}");
    assert_eq!(codes_of(&down), [codes::DR_DRILL_FAILED]);
    assert!(
        down.message.contains(&format!("drill run {failed} of ")),
        "{}",
        down.message
    );
    assert!(
        down.message
            .contains("failed: step 2 of 3 \"restore\" (restore_files) failed: no snapshot"),
        "{}",
        down.message
    );
    assert!(!down.message.contains("more lines"));
    let ev = drill_evidence(&down).unwrap();
    assert_eq!(
        (ev.last.unwrap().run, ev.last_success.unwrap().run),
        (failed, slow)
    );

    // Given up: still not a drill that worked.
    store
        .dr_run_ended(failed, T0 + 4 * DAY, DrRunState::Aborted, "aborted by ops")
        .unwrap();
    let aborted = eval(T0 + 4 * DAY);
    assert_eq!(
        (aborted.status, codes_of(&aborted)),
        (Status::Down, vec![codes::DR_DRILL_FAILED])
    );
    assert!(
        aborted.message.contains("aborted: aborted by ops"),
        "{}",
        aborted.message
    );

    // A new drill in progress changes nothing until it ends, then counts.
    let next = drill(&store, T0 + 5 * DAY, None, None, DrRunState::Running, "");
    let running = eval(T0 + 5 * DAY + 1);
    assert_eq!(running.status, Status::Down);
    assert!(
        running
            .message
            .ends_with(&format!("drill run {next} is in progress")),
        "{}",
        running.message
    );
    assert_eq!(drill_evidence(&running).unwrap().running, Some(next));
    store.dr_figures(next, Some(HOUR), Some(HOUR)).unwrap();
    store
        .dr_run_ended(next, T0 + 5 * DAY + HOUR, DrRunState::Completed, "all done")
        .unwrap();
    let back = eval(T0 + 5 * DAY + 2 * HOUR);
    assert_eq!(back.status, Status::Up, "{back:?}");
    assert_eq!(drill_evidence(&back).unwrap().running, None);

    // Drills of other plans and other kinds of run are not this plan's drills.
    let activation = store
        .dr_begin("shop-dr", DrRunKind::Activate, T0 + 6 * DAY, "ops", 1)
        .unwrap()
        .unwrap();
    store
        .dr_run_ended(activation, T0 + 6 * DAY + 1, DrRunState::Aborted, "")
        .unwrap();
    assert_eq!(eval(T0 + 6 * DAY + 2).status, Status::Up);
}

#[test]
fn a_drill_schedule_fires_once_per_occurrence_in_its_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        9,
        "drill_schedule = \"30 2 * * sun\"\ntimezone = \"Europe/Berlin\"",
        ECHO_STEP,
    );
    // Sunday 2026-12-06 02:30 in Berlin is 01:30 UTC.
    let at = jiff::civil::date(2026, 12, 6)
        .at(1, 30, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_millisecond();
    let plans = &config.recovery;
    assert_eq!(due_drills(plans, at - 60_000, at), ["shop-dr"]);
    assert!(due_drills(plans, at, at + 59_000).is_empty(), "once");
    assert!(due_drills(plans, at - 2 * 60_000, at - 60_000).is_empty());
    // After a long pause, one drill for the occurrences missed.
    assert_eq!(due_drills(plans, at - 8 * DAY, at + HOUR), ["shop-dr"]);
    // A plan without a schedule is drilled by hand only.
    let manual = self::config(dir.path(), 9, "", ECHO_STEP);
    assert!(due_drills(&manual.recovery, at - 60_000, at).is_empty());
}

#[test]
fn a_drill_schedule_without_a_drill_environment_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[[site]]\nid = \"shop\"\n\n[[recovery]]\nid = \"shop-dr\"\nsite = \"shop\"\nrto = \"4h\"\nrpo = \"2h\"\ndrill_schedule = \"0 3 * * *\"\n[recovery.standby]\naddresses = [\"127.0.0.20\"]\n\n[[recovery.activate]]\nkind = \"command\"\nrun = [\"true\"]\n";
    let refused = |src: &str| match keepup_config::load_str(src, &dir.path().join("keepup.toml")) {
        Ok(_) => panic!("accepted: {src}"),
        Err(problems) => problems.to_string(),
    };
    let err = refused(src);
    assert!(err.contains("keepup.toml:9:18"), "{err}");
    assert!(
        err.contains("a drill schedule needs a drill environment"),
        "{err}"
    );
    let bad = src.replace("0 3 * * *", "0 25 * * *");
    let err = refused(&bad);
    assert!(
        err.contains("recovery[0].drill_schedule") && err.contains("invalid cron expression"),
        "{err}"
    );
}

/// Waits (bounded: a missing state fails the test, it is not a timing
/// assertion) until the current outcome of `check` satisfies `pred`.
async fn wait_for(
    monitor: &Monitor,
    check: &CheckId,
    what: &str,
    pred: impl Fn(&Outcome) -> bool,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(s) = monitor.current().get(check)
            && pred(&s.outcome)
        {
            return s.outcome.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{check}: never {what}; current: {:?}",
            monitor.current().get(check)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_drill_opens_an_incident_and_a_good_one_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 9, "", ECHO_STEP);
    let (check, _) = drill_check(&config);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let now = keepup_model::Clock::now_ms(&SystemClock);
    drill(
        &store,
        now - 2 * HOUR,
        None,
        None,
        DrRunState::Failed,
        "step 1 of 1 failed",
    );
    let monitor = Monitor::start(
        config,
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    let down = wait_for(&monitor, &check, "Down", |o| o.status == Status::Down).await;
    assert_eq!(codes_of(&down), [codes::DR_DRILL_FAILED]);
    let incident = loop {
        if let Some(i) = store
            .open_incidents()
            .unwrap()
            .into_iter()
            .find(|i| i.check == check)
        {
            break i;
        }
        match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
            Ok(Ok(_)) => {}
            other => panic!("no incident for {check}: {other:?}"),
        }
    };
    assert!(
        incident.message.contains("drill run"),
        "{}",
        incident.message
    );

    // The failed drill is aborted and a new one succeeds.
    let failed = store.dr_runs(Some("shop-dr"), 1).unwrap()[0].id;
    store
        .dr_run_ended(failed, now - HOUR, DrRunState::Aborted, "aborted by ops")
        .unwrap();
    drill(
        &store,
        now - HOUR,
        Some(60_000),
        Some(60_000),
        DrRunState::Completed,
        "done",
    );
    monitor.scheduler().run_now(check.clone());
    wait_for(&monitor, &check, "Up", |o| o.status == Status::Up).await;
    let resolved = loop {
        match tokio::time::timeout(Duration::from_secs(120), events.recv()).await {
            Ok(Ok(IncidentEvent::Resolved { incident, .. })) if incident.check == check => {
                break incident;
            }
            Ok(Ok(_)) => {}
            other => panic!("{check} not resolved: {other:?}"),
        }
    };
    assert_eq!(resolved.id, incident.id);
    monitor.shutdown().await;
}

/// The daemon path: a plan without a schedule is never drilled (its check
/// says so); a reload gives it `drill_schedule = "* * * * *"` and the
/// monitor's runner drills it within a minute (`keepup_recovery::drill`): the
/// latest snapshot of a real local restic repository is restored under the
/// drill's files root (and removed by the cleanup), a command runs, and a
/// verify step sees the site's check Up, measuring the RTO; the run is
/// journaled as a drill started by the schedule, and the `dr-shop-dr`
/// check turns Up with its figures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_schedules_drills_and_the_daemon_runs_one_and_its_check_turns_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let source = root.join("srv");
    std::fs::create_dir_all(source.join("media")).unwrap();
    std::fs::write(source.join("media/logo.png"), b"the logo").unwrap();
    std::fs::create_dir_all(root.join("repo")).unwrap();
    std::fs::write(root.join("repo.pass"), "drill repo password\n").unwrap();
    let drilled = root.join("standby");
    let marker = root.join("drill-marker");
    let steps = format!(
        r#"[[recovery.activate]]
kind = "restore_files"
name = "files"
backup = "files"
to = "{to}"

[[recovery.activate]]
kind = "command"
name = "start the shop"
drill = "run"
run = ["sh", "-c", "echo started > {marker}"]

[[recovery.activate]]
kind = "verify"
name = "shop answers"
checks = ["shop/home"]
deadline = "1m"
interval = "1s"

[[backup]]
id = "files"
allow_single_target = true
password_file = "repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{src}"]
[[backup.target]]
id = "local"
repository = "{repo}"
"#,
        to = drilled.display(),
        marker = marker.display(),
        src = source.display(),
        repo = root.join("repo").display()
    );
    let config = config(root, port, "", &steps);
    let scheduled = self::config(
        root,
        port,
        &format!(
            "drill_schedule = \"* * * * *\"\ndocument_dir = \"{}\"",
            root.join("plans").display()
        ),
        &steps,
    );
    let backup = &config.backups[0];
    keepup_backup::init(backup, "local").unwrap();
    let made = keepup_backup::run_plan(backup, None, Arc::new(keepup_backup::NoProgress));
    assert!(made.targets[0].error.is_none(), "{made:#?}");
    let (check, _) = drill_check(&config);
    let store = Store::open(&root.join("keepup.db")).unwrap();
    let monitor = Monitor::start(
        config,
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let never = wait_for(&monitor, &check, "evaluated", |_| true).await;
    assert_eq!(
        (never.status, codes_of(&never)),
        (Status::Degraded, vec![codes::DR_NEVER_DRILLED])
    );
    assert!(store.dr_runs(Some("shop-dr"), 10).unwrap().is_empty());
    monitor.reload(scheduled).await.unwrap();
    let up = wait_for(&monitor, &check, "Up after the scheduled drill", |o| {
        o.status == Status::Up
    })
    .await;
    // The first drill (the schedule fires every minute: a second may have
    // started since).
    let runs = store.dr_runs(Some("shop-dr"), 10).unwrap();
    let run = runs.last().unwrap();
    assert_eq!(
        (run.kind, run.state, run.started_by.as_str()),
        (DrRunKind::Drill, DrRunState::Completed, SCHEDULED_BY),
        "{run:#?}"
    );
    assert!(run.rto_ms.is_some() && run.rpo_ms.is_some(), "{run:#?}");
    let steps = store.dr_steps(run.id).unwrap();
    assert!(steps[0].output.contains("restored 1 files"), "{steps:#?}");
    let restored = root
        .join("drill-root")
        .join(drilled.strip_prefix("/").unwrap())
        .join(source.strip_prefix("/").unwrap())
        .join("media/logo.png");
    assert!(
        !restored.exists(),
        "the cleanup removes what the drill restored"
    );
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "started\n");
    let ev = drill_evidence(&up).unwrap();
    assert_eq!(ev.last.as_ref().map(|l| l.run), Some(run.id));
    assert!(
        up.message.contains(&format!("drill run {} of ", run.id)),
        "{}",
        up.message
    );
    // The Recovery Plan document was written again after the drill, with
    // its figures (a later drill may have rewritten it since).
    let document = std::fs::read_to_string(root.join("plans/shop-dr.md")).unwrap();
    let drills: Vec<i64> = store
        .dr_runs(Some("shop-dr"), 10)
        .unwrap()
        .iter()
        .filter(|r| r.state == DrRunState::Completed)
        .map(|r| r.id)
        .collect();
    assert!(
        drills
            .iter()
            .any(|id| document.contains(&format!("(run {id}): took"))),
        "{drills:?} in {document}"
    );
    monitor.shutdown().await;
}

/// The monthly report of a contract of the site lists the plan's drills of
/// the month (outcome, RTO and RPO against the targets) and its last
/// successful drill even when that was before the month, in the JSON, the
/// CSV and the HTML, from a real store.
#[test]
fn the_monthly_report_lists_the_drills_of_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let contract = "[[contract]]\nid = \"shop-sla\"\nsite = \"shop\"\ntarget = 99.9\nperiod = \"month\"\ntime_zone = \"UTC\"\n";
    let config = config(dir.path(), 9, "", &format!("{ECHO_STEP}\n{contract}"));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    // October: a good drill; November: a failed one, then one over its RTO.
    let october = drill(
        &store,
        at("2026-10-20T03:00:00Z"),
        Some(HOUR),
        Some(HOUR),
        DrRunState::Completed,
        "done",
    );
    let failed = drill(
        &store,
        at("2026-11-03T03:00:00Z"),
        None,
        None,
        DrRunState::Aborted,
        "aborted",
    );
    let slow = drill(
        &store,
        at("2026-11-17T03:00:00Z"),
        Some(5 * HOUR),
        Some(HOUR),
        DrRunState::Completed,
        "done",
    );
    drill(
        &store,
        at("2026-12-01T03:00:00Z"),
        Some(HOUR),
        Some(HOUR),
        DrRunState::Completed,
        "done",
    );
    let contract = &config.contracts[0];
    let window = keepup_sla::Window::for_month(contract, "2026-11").unwrap();
    let report = keepup_monitor::reports::build(
        &store,
        &config,
        contract,
        &window,
        at("2026-12-02T00:00:00Z"),
    )
    .unwrap();
    let files = keepup_monitor::reports::render(&report).unwrap();

    let json: serde_json::Value = serde_json::from_slice(&files.json).unwrap();
    let plans = json["drills"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{json:#}");
    let plan = &plans[0];
    assert_eq!(
        (plan["plan"].as_str(), plan["rto_target_ms"].as_i64()),
        (Some("shop-dr"), Some(4 * HOUR))
    );
    let listed: Vec<(i64, &str, Option<bool>)> = plan["drills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["run"].as_i64().unwrap(),
                d["outcome"].as_str().unwrap(),
                d["rto_met"].as_bool(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [(failed, "aborted", None), (slow, "completed", Some(false))]
    );
    assert_eq!(plan["last_success"]["run"].as_i64(), Some(slow));

    // Before the November drill that completed, the last success is October's.
    let early = keepup_sla::Window::between(
        at("2026-11-01T00:00:00Z"),
        at("2026-11-10T00:00:00Z"),
        "early".into(),
    )
    .unwrap();
    let report = keepup_monitor::reports::build(
        &store,
        &config,
        contract,
        &early,
        at("2026-12-02T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(
        report.drills[0].last_success.as_ref().map(|d| d.run),
        Some(october)
    );

    let csv = String::from_utf8(files.csv).unwrap();
    for line in [
        format!("drill,shop-dr#{slow},rto_ms,{}", 5 * HOUR),
        format!("drill,shop-dr#{slow},rto_met,false"),
        format!("drill,shop-dr#{failed},outcome,aborted"),
        format!("drill_plan,shop-dr,last_success_run,{slow}"),
    ] {
        assert!(csv.lines().any(|l| l == line), "{line} in\n{csv}");
    }

    let html = String::from_utf8(files.html).unwrap();
    let section = html
        .split("<h2>Disaster-recovery drills</h2>")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("the report has a drills section");
    assert!(
        section.contains("Last successful drill: <b>2026-11-17"),
        "{section}"
    );
    let rows: Vec<&str> = section.split("<tr").skip(2).collect();
    assert_eq!(rows.len(), 2, "{section}");
    assert!(
        rows[0].starts_with(" class=\"breach\"")
            && rows[0].contains(&format!(">{failed}<"))
            && rows[0].contains("not measured (target 4h)"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1]
            .contains("<span class=\"missed\">5h</span> <span class=\"muted\">(target 4h)</span>"),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("<span class=\"met\">1h</span> <span class=\"muted\">(target 2h)</span>"),
        "{}",
        rows[1]
    );
}

#[test]
fn a_drill_running_longer_than_twice_the_rto_is_reported_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), 9, "", ECHO_STEP);
    let (_, spec) = drill_check(&config);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let book = DrillBook::new(store.clone(), config.clone());
    drill(
        &store,
        T0,
        Some(HOUR),
        Some(HOUR),
        DrRunState::Completed,
        "done",
    );
    let next = drill(&store, T0 + DAY, None, None, DrRunState::Running, "");
    // Twice the RTO of 4h is still a drill in progress.
    let in_progress = book.evaluate(&spec, T0 + DAY + 8 * HOUR);
    assert_eq!(in_progress.status, Status::Up, "{in_progress:?}");
    let stuck = book.evaluate(&spec, T0 + DAY + 8 * HOUR + 1);
    assert_eq!(stuck.status, Status::Degraded, "{stuck:?}");
    assert_eq!(codes_of(&stuck), [codes::DR_DRILL_STUCK]);
    assert!(
        stuck.message.starts_with(&format!(
            "drill run {next} has been running for 8h, more than twice the plan's RTO 4h"
        )),
        "{}",
        stuck.message
    );
    assert!(
        stuck.message.contains(&format!("keepup dr abort {next}")),
        "{}",
        stuck.message
    );
}

/// A drill the daemon was running when it was killed (its process, pid 0
/// here, is gone) is resumed when the daemon starts: its remaining step and
/// its cleanup run, the plan is free, and the check turns Up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_left_running_by_a_dead_daemon_is_resumed_and_cleaned_up_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let steps = format!(
        "{ECHO_STEP}[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"tidy\"\nrun = [\"sh\", \"-c\", \"echo tidy >> {}\"]\n",
        log.display()
    );
    let config = config(dir.path(), 9, "", &steps);
    let (check, _) = drill_check(&config);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let now = keepup_model::Clock::now_ms(&SystemClock);
    let run = store
        .dr_begin("shop-dr", DrRunKind::Drill, now - HOUR, SCHEDULED_BY, 0)
        .unwrap()
        .unwrap();
    let monitor = Monitor::start(
        config,
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let up = wait_for(&monitor, &check, "Up", |o| o.status == Status::Up).await;
    assert_eq!(drill_evidence(&up).unwrap().last.unwrap().run, run);
    let r = store.dr_run(run).unwrap().unwrap();
    assert_eq!((r.state, r.holder_pid), (DrRunState::Completed, None));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "tidy\n");
    monitor.shutdown().await;
}
