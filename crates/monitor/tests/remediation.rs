//! Remediation end to end: a real process killed, its `tcp` check
//! confirms Down, the `[[action]]` that remediates it restarts it (a real
//! command through the action engine), the check recovers within the
//! grace and no notification reaches the real webhook receiver; a failing
//! remediation pages after its grace with its output; a flapping check
//! stops automatic runs and the page says so; a restart during the grace
//! keeps waiting and runs nothing twice. A remediation's later action does
//! not run once its incident resolved or was acknowledged, and an
//! acknowledgement cancels the held page; a webhook's retries hold the
//! page until the run is over; an `after_open` action runs once for an
//! incident still open, acknowledged or not, across ticks and a restart.

use keepup_model::{Clock, SystemClock};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{ActionRun, RunOutcome, Store};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;
use common::{events, receiver, toggled, wait_until};

fn config(src: &str, dir: &Path) -> Arc<keepup_config::Config> {
    Arc::new(keepup_config::load_str(src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}")))
}

async fn start(config: Arc<keepup_config::Config>, store: &Store) -> Monitor {
    Monitor::start(
        config,
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

/// The alerting part of a configuration: one webhook, paged at once.
fn paging(hook: &str) -> String {
    format!(
        r#"
[[channel]]
id = "ops-hook"
kind = "webhook"
url = "{hook}"

[[contact]]
id = "ops"
channels = ["ops-hook"]

[[policy]]
id = "default"
group_window = "0s"
[[policy.level]]
notify = ["ops"]
"#
    )
}

/// A shop of one HTTP check `shop/web` at `url`, checked every second and
/// confirmed at its first failure, with `defaults` added to
/// `[defaults]`, the `[[action]]`s `actions` and paging to `hook`.
fn web_shop(url: &str, defaults: &str, actions: &str, hook: &str) -> String {
    format!(
        r#"
[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1
{defaults}

[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "http"
url = "{url}"
{actions}
{paging}"#,
        paging = paging(hook),
    )
}

/// A started monitor over [`web_shop`] with its failing switch, its
/// store and the page receiver.
struct Rig {
    dir: tempfile::TempDir,
    store: Store,
    config: Arc<keepup_config::Config>,
    monitor: Monitor,
    failing: Arc<std::sync::atomic::AtomicBool>,
    got: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    _servers: (
        keepup_testkit::http::TestServer,
        keepup_testkit::http::TestServer,
    ),
}

impl Rig {
    /// The shop failing from the start (`failing`) with `actions`.
    async fn start(failing: bool, defaults: &str, actions: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let (shop, switch) = toggled().await;
        switch.store(failing, Ordering::SeqCst);
        let (hook, got) = receiver(200).await;
        let src = web_shop(&shop.url("/"), defaults, actions, &hook.url("/hook"));
        let store = Store::open(&dir.path().join("k.db")).unwrap();
        let config = config(&src, dir.path());
        let monitor = start(config.clone(), &store).await;
        Rig {
            dir,
            store,
            config,
            monitor,
            failing: switch,
            got,
            _servers: (shop, hook),
        }
    }

    /// The first incident, once one opened.
    async fn first_incident(&self) -> keepup_store::Incident {
        wait_until("an incident opens", 15, || {
            !all_incidents(&self.store).is_empty()
        })
        .await;
        all_incidents(&self.store).remove(0)
    }

    fn pages(&self) -> usize {
        events(&self.got).iter().filter(|e| *e == "trigger").count()
    }
}

fn runs_of(store: &Store, incident: i64) -> Vec<ActionRun> {
    store.action_runs_of_incidents(&[incident]).unwrap()
}

fn all_incidents(store: &Store) -> Vec<keepup_store::Incident> {
    store.incidents(0, i64::MAX, 100).unwrap()
}

fn listening(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Writes `start.sh`, which starts a real TCP server (socat) on `port` in
/// the background, its pid in `pid`.
fn worker_script(dir: &Path, port: u16) -> std::path::PathBuf {
    let script = dir.join("start.sh");
    let pid = dir.join("pid");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n/usr/bin/socat TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork EXEC:/bin/true </dev/null >/dev/null 2>&1 &\necho $! > {pid}\necho \"worker started, pid $!\"\n",
            pid = pid.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn kill_worker(dir: &Path) {
    let pid: i32 = std::fs::read_to_string(dir.join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) on the pid the test's own script started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_is_restarted_by_its_action_and_nobody_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let script = worker_script(dir.path(), port);
    let started = std::process::Command::new(&script).output().unwrap();
    assert!(started.status.success(), "{started:?}");
    wait_until("the worker listens", 10, || listening(port)).await;
    let (hook, got) = receiver(200).await;
    let src = format!(
        r#"
[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1

[[site]]
id = "shop"
[[site.check]]
id = "worker"
kind = "tcp"
host = "127.0.0.1"
port = {port}

[[action]]
name = "restart-worker"
command = ["{script}"]
on = {{ checks = ["shop/worker"] }}
grace = "6s"
timeout = "10s"
{paging}"#,
        script = script.display(),
        paging = paging(&hook.url("/hook")),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = start(config(&src, dir.path()), &store).await;
    wait_until("the worker is seen up", 10, || {
        store
            .latest()
            .unwrap()
            .iter()
            .any(|l| l.outcome.status == keepup_model::Status::Up)
    })
    .await;

    kill_worker(dir.path());
    wait_until("an incident opens", 15, || {
        !all_incidents(&store).is_empty()
    })
    .await;
    let incident = all_incidents(&store).remove(0);
    wait_until("the incident resolves", 20, || {
        store
            .incident(incident.id)
            .unwrap()
            .is_some_and(|i| i.resolved_at.is_some())
    })
    .await;
    let runs = runs_of(&store, incident.id);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].action, "restart-worker");
    assert_eq!(runs[0].outcome, RunOutcome::Ok, "{runs:#?}");
    assert_eq!(runs[0].exit_code, Some(0));
    assert!(runs[0].output.contains("worker started"), "{runs:#?}");
    assert!(listening(port), "the action restarted the worker");
    // Past the grace: still nobody paged, nothing queued, nothing held.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(events(&got).is_empty(), "{:?}", got.lock().unwrap());
    assert!(
        store
            .incident_notifications(incident.id)
            .unwrap()
            .is_empty()
    );
    assert!(monitor.alerter().held_incidents().is_empty());
    monitor.shutdown().await;
    kill_worker(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_remediation_pages_after_its_grace_with_its_output() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (hook, got) = receiver(200).await;
    let script = dir.path().join("fail.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'Failed to restart php8.2-fpm.service: Unit php8.2-fpm.service not found.' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let actions = format!(
        r#"
[[action]]
name = "restart-php"
command = ["{script}"]
on = {{ checks = ["shop/web"] }}
grace = "3s"
"#,
        script = script.display(),
    );
    let src = web_shop(&shop.url("/"), "", &actions, &hook.url("/hook"));
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = start(config(&src, dir.path()), &store).await;
    wait_until("a page", 20, || {
        events(&got).contains(&"trigger".to_owned())
    })
    .await;
    let page = got.lock().unwrap()[0].clone();
    let text = page["text"].as_str().unwrap_or_default();
    assert!(
        text.contains("Automatic remediation was tried and did not help"),
        "{text}"
    );
    assert!(text.contains("restart-php"), "{text}");
    assert!(text.contains("failed (exit 1)"), "{text}");
    assert!(text.contains("Unit php8.2-fpm.service not found"), "{text}");
    let incident = all_incidents(&store).remove(0);
    let runs = runs_of(&store, incident.id);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].outcome, RunOutcome::Failed);
    // The page waited for the grace after the run.
    let queued = store.incident_notifications(incident.id).unwrap();
    let first = queued.iter().map(|n| n.created_at).min().unwrap();
    let ran = runs[0].finished_at.unwrap();
    assert!(
        first >= ran + 3000,
        "queued at {first}, the run ended at {ran}"
    );
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_check_stops_automatic_runs_and_the_page_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, failing) = toggled().await;
    let (hook, got) = receiver(200).await;
    let src = web_shop(
        &shop.url("/"),
        "flap_changes = 2\nflap_window = \"1h\"",
        r#"
[[action]]
name = "restart-php"
command = ["/bin/true"]
on = { checks = ["shop/web"] }
grace = "20s"
cooldown = "1s"
"#,
        &hook.url("/hook"),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = start(config(&src, dir.path()), &store).await;
    wait_until("the shop is seen up", 10, || {
        store
            .latest()
            .unwrap()
            .iter()
            .any(|l| l.outcome.status == keepup_model::Status::Up)
    })
    .await;
    // First failure: remediated, then it recovers (a second change:
    // flapping from now on), not paged.
    failing.store(true, Ordering::SeqCst);
    wait_until("a first run", 15, || {
        all_incidents(&store)
            .first()
            .is_some_and(|i| !runs_of(&store, i.id).is_empty())
    })
    .await;
    failing.store(false, Ordering::SeqCst);
    wait_until("the first incident resolves", 15, || {
        all_incidents(&store)
            .first()
            .is_some_and(|i| i.resolved_at.is_some())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(events(&got).is_empty(), "{:?}", got.lock().unwrap());
    // Second failure while flapping: no run, paged at once, saying why.
    failing.store(true, Ordering::SeqCst);
    wait_until("a page", 15, || {
        events(&got).contains(&"trigger".to_owned())
    })
    .await;
    let page = got.lock().unwrap()[0].clone();
    let text = page["text"].as_str().unwrap_or_default();
    assert!(text.contains("is flapping"), "{text}");
    assert!(text.contains("automatic runs are suspended"), "{text}");
    let incidents = all_incidents(&store);
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    let second = incidents.iter().max_by_key(|i| i.id).unwrap();
    assert!(!second.suppressed, "a remediated check's flapping is told");
    wait_until("the skipped run is recorded", 10, || {
        !runs_of(&store, second.id).is_empty()
    })
    .await;
    let runs = runs_of(&store, second.id);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].outcome, RunOutcome::Skipped);
    assert!(runs[0].reason.contains("flapping"), "{runs:#?}");
    let first = incidents.iter().min_by_key(|i| i.id).unwrap();
    assert_eq!(runs_of(&store, first.id)[0].outcome, RunOutcome::Ok);
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_the_grace_keeps_waiting_and_runs_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (hook, got) = receiver(200).await;
    let src = web_shop(
        &shop.url("/"),
        "",
        r#"
[[action]]
name = "restart-php"
command = ["/bin/echo", "restarted"]
on = { checks = ["shop/web"] }
grace = "6s"
"#,
        &hook.url("/hook"),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let config = config(&src, dir.path());
    let monitor = start(config.clone(), &store).await;
    wait_until("a run", 15, || {
        all_incidents(&store).first().is_some_and(|i| {
            runs_of(&store, i.id)
                .iter()
                .any(|r| r.finished_at.is_some())
        })
    })
    .await;
    monitor.shutdown().await;
    drop(monitor);
    assert!(events(&got).is_empty(), "paged within the grace");
    let monitor = start(config, &store).await;
    wait_until("the page after the grace", 20, || {
        events(&got).contains(&"trigger".to_owned())
    })
    .await;
    let incident = all_incidents(&store).remove(0);
    let runs = runs_of(&store, incident.id);
    assert_eq!(runs.len(), 1, "run once: {runs:#?}");
    let ran = runs[0].finished_at.unwrap();
    let first = store
        .incident_notifications(incident.id)
        .unwrap()
        .iter()
        .map(|n| n.created_at)
        .min()
        .unwrap();
    assert!(
        first >= ran + 6000,
        "queued at {first}, the run ended at {ran}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        events(&got).iter().filter(|e| *e == "trigger").count(),
        1,
        "paged once"
    );
    monitor.shutdown().await;
}

/// Two remediations of `shop/web`, the first taking three seconds: what
/// happens to the incident meanwhile decides whether the second runs.
const SLOW_THEN_SECOND: &str = r#"
[[action]]
name = "slow-fix"
command = ["/bin/sleep", "3"]
on = { checks = ["shop/web"] }
grace = "2s"

[[action]]
name = "second-fix"
command = ["/bin/echo", "second"]
on = { checks = ["shop/web"] }
grace = "2s"
"#;

/// Waits for `incident`'s two runs to be over; the second.
async fn second_run(store: &Store, incident: i64) -> ActionRun {
    wait_until("both runs end", 20, || {
        let runs = runs_of(store, incident);
        runs.len() == 2 && runs.iter().all(|r| r.finished_at.is_some())
    })
    .await;
    let runs = runs_of(store, incident);
    assert_eq!(runs[0].action, "slow-fix", "{runs:#?}");
    assert_eq!(runs[0].outcome, RunOutcome::Ok, "{runs:#?}");
    assert_eq!(runs[1].action, "second-fix", "{runs:#?}");
    runs[1].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_after_the_check_recovered_is_skipped_saying_so() {
    let rig = Rig::start(true, "", SLOW_THEN_SECOND).await;
    let incident = rig.first_incident().await;
    wait_until("the first run starts", 10, || {
        !runs_of(&rig.store, incident.id).is_empty()
    })
    .await;
    rig.failing.store(false, Ordering::SeqCst);
    let second = second_run(&rig.store, incident.id).await;
    assert!(
        rig.store
            .incident(incident.id)
            .unwrap()
            .unwrap()
            .resolved_at
            .is_some(),
        "the check recovered during the first run"
    );
    assert_eq!(second.outcome, RunOutcome::Skipped, "{second:#?}");
    assert_eq!(second.reason, "the check recovered before the run");
    assert_eq!(second.exit_code, None, "it never ran");
    assert_eq!(rig.pages(), 0);
    rig.monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_during_a_remediation_skips_the_rest_and_cancels_the_page() {
    let rig = Rig::start(true, "", SLOW_THEN_SECOND).await;
    let incident = rig.first_incident().await;
    wait_until("the first run starts", 10, || {
        !runs_of(&rig.store, incident.id).is_empty()
    })
    .await;
    assert!(
        rig.monitor
            .acknowledge_incident(incident.id, "web:ops")
            .await
            .unwrap()
    );
    let second = second_run(&rig.store, incident.id).await;
    assert_eq!(second.outcome, RunOutcome::Skipped, "{second:#?}");
    assert_eq!(
        second.reason,
        "acknowledged by web:ops before the run: someone is on it"
    );
    // Past the first run's grace, the check still failing: nobody paged.
    let ended = runs_of(&rig.store, incident.id)[0].finished_at.unwrap();
    wait_until("the grace has passed", 10, || {
        SystemClock.now_ms() > ended + 2000 + 3000
    })
    .await;
    assert_eq!(rig.pages(), 0, "{:?}", rig.got.lock().unwrap());
    assert!(
        rig.store
            .incident_notifications(incident.id)
            .unwrap()
            .is_empty()
    );
    assert!(rig.monitor.alerter().held_incidents().is_empty());
    assert!(
        rig.store
            .incident(incident.id)
            .unwrap()
            .unwrap()
            .resolved_at
            .is_none()
    );
    rig.monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_remediation_holds_the_page_through_its_retries() {
    // The provider fails every attempt: three attempts 1 s and 2 s apart,
    // longer than the action's timeout and grace together.
    let (provider, calls) = receiver(503).await;
    let actions = format!(
        r#"
[[action]]
name = "resize"
webhook = {{ url = "{url}", method = "POST", retries = 2 }}
timeout = "1s"
on = {{ checks = ["shop/web"] }}
grace = "1s"
"#,
        url = provider.url("/resize")
    );
    let rig = Rig::start(true, "", &actions).await;
    let incident = rig.first_incident().await;
    wait_until("a page", 20, || rig.pages() > 0).await;
    let runs = runs_of(&rig.store, incident.id);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].outcome, RunOutcome::Failed, "{runs:#?}");
    assert_eq!(runs[0].attempts, 3, "{runs:#?}");
    assert_eq!(calls.lock().unwrap().len(), 3);
    let ran = runs[0].finished_at.expect("the run ended before the page");
    let first = rig
        .store
        .incident_notifications(incident.id)
        .unwrap()
        .iter()
        .map(|n| n.created_at)
        .min()
        .unwrap();
    assert!(
        first >= ran + 1000,
        "queued at {first}, the run ended at {ran}: paged mid-run"
    );
    rig.monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_still_open_runs_its_after_open_action_once_even_acknowledged_and_restarted() {
    let rig = Rig::start(
        true,
        "",
        r#"
[[action]]
name = "escalate"
command = ["/bin/echo", "escalated"]
on = { checks = ["shop/web"] }
after_open = "4s"
"#,
    )
    .await;
    let incident = rig.first_incident().await;
    // Nothing holds the page and nothing runs at the confirmation.
    wait_until("a page", 10, || rig.pages() > 0).await;
    assert!(runs_of(&rig.store, incident.id).is_empty());
    assert!(
        rig.monitor
            .acknowledge_incident(incident.id, "web:ops")
            .await
            .unwrap()
    );
    wait_until("the after_open run", 15, || {
        runs_of(&rig.store, incident.id)
            .iter()
            .any(|r| r.finished_at.is_some())
    })
    .await;
    let runs = runs_of(&rig.store, incident.id);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].action, "escalate");
    assert_eq!(runs[0].cause, "incident");
    assert_eq!(
        runs[0].cause_detail,
        format!("incident {} of shop/web still open", incident.id)
    );
    assert_eq!(runs[0].outcome, RunOutcome::Ok, "{runs:#?}");
    assert!(runs[0].output.contains("escalated"), "{runs:#?}");
    assert!(
        runs[0].started_at >= incident.opened_at + 4000,
        "ran at {}, opened at {}",
        runs[0].started_at,
        incident.opened_at
    );
    // More ticks, then a restart with the incident still open: once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let Rig {
        monitor,
        store,
        config,
        dir,
        _servers,
        ..
    } = rig;
    monitor.shutdown().await;
    drop(monitor);
    let monitor = start(config, &store).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        store
            .incident(incident.id)
            .unwrap()
            .unwrap()
            .resolved_at
            .is_none()
    );
    assert_eq!(runs_of(&store, incident.id).len(), 1, "run once");
    monitor.shutdown().await;
    drop(dir);
}

/// A guard rail's skip of an `after_open` run is not final: with a
/// cooldown covering the first due moment, the skip is recorded once and
/// the action runs for the incident once the cooldown has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_open_run_skipped_by_a_cooldown_runs_once_the_cooldown_has_passed() {
    let rig = Rig::start(
        true,
        "",
        r#"
[[action]]
name = "escalate"
command = ["/bin/echo", "escalated"]
on = { checks = ["shop/web"] }
after_open = "1s"
cooldown = "15s"
"#,
    )
    .await;
    // It acted a moment ago (by hand): the cooldown covers the incident's
    // first due moment.
    rig.store
        .action_run_insert(&keepup_store::NewActionRun {
            action: "escalate".into(),
            cause: "manual".into(),
            cause_detail: "by cli:ops".into(),
            started_at: SystemClock.now_ms(),
            outcome: RunOutcome::Ok,
            reason: String::new(),
            idempotency_key: None,
            incident: None,
            decision: None,
        })
        .unwrap();
    let incident = rig.first_incident().await;
    wait_until("the skipped after_open run", 10, || {
        !runs_of(&rig.store, incident.id).is_empty()
    })
    .await;
    let runs = runs_of(&rig.store, incident.id);
    assert_eq!(runs[0].outcome, RunOutcome::Skipped, "{runs:#?}");
    assert!(runs[0].reason.contains("cooldown"), "{runs:#?}");
    wait_until("the after_open run after the cooldown", 40, || {
        runs_of(&rig.store, incident.id)
            .iter()
            .any(|r| r.outcome == RunOutcome::Ok)
    })
    .await;
    // More ticks: it ran once, and the skip was recorded once though it
    // was tried again inside the cooldown.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let runs = runs_of(&rig.store, incident.id);
    let outcomes: Vec<RunOutcome> = runs.iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [RunOutcome::Skipped, RunOutcome::Ok], "{runs:#?}");
    assert!(runs[1].output.contains("escalated"), "{runs:#?}");
    rig.monitor.shutdown().await;
}
