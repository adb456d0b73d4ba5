//! The action engine against real processes, a real HTTP receiver and a
//! real store file: a command action restarts a process the test started;
//! a timeout kills the whole process group; output is bounded and the
//! daemon's environment stays out of the child; a webhook retried through
//! 429 and 500 scales up once; cooldowns and hourly limits hold across an
//! engine restart; maintenance, dry runs and confirmations are recorded
//! with their reasons, and every run is in the audit log.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepup_actions::{Cause, Engine, EngineError};
use keepup_config::Config;
use keepup_model::{CheckId, ManualClock, Status};
use keepup_notify::HttpClientContext;
use keepup_store::{RunOutcome, Store};
use keepup_testkit::TestServer;

// The daemon's own secret: a child must never see it. Set before main,
// while the process has one thread (set_var with threads is undefined).
#[used]
#[unsafe(link_section = ".init_array")]
static SET_ENV_BEFORE_MAIN: extern "C" fn() = {
    extern "C" fn set() {
        // SAFETY: runs before main, on the only thread.
        unsafe {
            std::env::set_var("KEEPUP_TEST_DAEMON_SECRET", "daemon-only-secret-42");
            std::env::set_var("KEEPUP_TEST_ACTION_TOKEN", "action-token-s3cret");
        }
    }
    set
};

/// 2026-12-07 10:00 UTC.
const T0: i64 = 1_796_637_600_000;
const MIN: i64 = 60_000;

const SITE: &str = r#"
[[site]]
id = "shop"
[[site.check]]
id = "php"
kind = "tcp"
host = "127.0.0.1"
port = 9
"#;

fn config(dir: &Path, actions: &str) -> Config {
    let src = format!("{SITE}\n{actions}");
    keepup_config::load_str(&src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn engine(config: &Config, store: &Store, clock: &ManualClock) -> Engine {
    Engine::new(
        config,
        store.clone(),
        Arc::new(clock.clone()),
        HttpClientContext::builder().system_roots(false).build(),
    )
}

fn manual() -> Cause {
    Cause::Manual {
        by: "cli:test".into(),
    }
}

fn toml_str(p: &Path) -> String {
    keepup_config::toml_string(&p.display().to_string())
}

fn alive(pid: i32) -> bool {
    // A zombie nobody reaps (no init in a container) is dead too.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(path)
            && let Ok(pid) = s.trim().parse()
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("no pid in {}", path.display());
}

fn gone_soon(pid: i32) -> bool {
    for _ in 0..200 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A server process the test starts, in a session of its own so that it
/// outlives whoever started it; killed when dropped.
struct Service {
    pidfile: PathBuf,
}

impl Service {
    fn start(dir: &Path) -> Self {
        let pidfile = dir.join("service.pid");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $! > {}",
                pidfile.display()
            ))
            .status()
            .unwrap();
        assert!(status.success());
        Self { pidfile }
    }
    fn pid(&self) -> i32 {
        read_pid(&self.pidfile)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Ok(s) = std::fs::read_to_string(&self.pidfile)
            && let Ok(pid) = s.trim().parse::<i32>()
        {
            // SAFETY: signalling a pid this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[tokio::test]
async fn a_command_action_restarts_a_real_process() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(dir.path());
    let old = service.pid();
    assert!(alive(old));
    let pidfile = service.pidfile.display().to_string();
    let line = format!(
        "kill $(cat {pidfile}) || exit 1; setsid sleep 600 >/dev/null 2>&1 </dev/null & echo $! > {pidfile}.new; mv {pidfile}.new {pidfile}; echo restarted"
    );
    let config = config(
        dir.path(),
        &format!(
            "[[action]]\nname = \"restart\"\ncommand = {}\nshell = true\non = {{ checks = [\"shop/php\"] }}\n",
            keepup_config::toml_string(&line)
        ),
    );
    let store = Store::open_in_memory().unwrap();
    let clock = ManualClock::new(T0);
    let engine = engine(&config, &store, &clock);
    let run = engine
        .run(
            "restart",
            Cause::Check {
                check: CheckId::new("shop", "php"),
                status: Status::Down,
            },
        )
        .await
        .unwrap();
    assert_eq!(run.outcome, RunOutcome::Ok, "{run:?}");
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.cause, "check");
    assert_eq!(run.cause_detail, "shop/php down");
    assert!(run.output.contains("restarted"), "{run:?}");
    assert!(gone_soon(old), "the old process still runs");
    let new = service.pid();
    assert_ne!(new, old);
    assert!(alive(new), "the restarted process is not running");

    // Recorded and audited.
    let runs = engine.runs(0, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, run.id);
    let audit = store.audit_since(0, 10).unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "action.run")
        .expect("an audit entry");
    assert_eq!(entry.actor, "keepup");
    assert_eq!(entry.target, "restart");
    assert!(entry.detail.contains("ok, exit 0"), "{entry:?}");
}

#[tokio::test]
async fn the_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let grandchild = dir.path().join("grandchild.pid");
    let line = format!("sleep 600 & echo $! > {}; wait", grandchild.display());
    let config = config(
        dir.path(),
        &format!(
            "[[action]]\nname = \"hang\"\ncommand = {}\nshell = true\ntimeout = \"1s\"\n",
            keepup_config::toml_string(&line)
        ),
    );
    let store = Store::open_in_memory().unwrap();
    let engine = engine(&config, &store, &ManualClock::new(T0));
    let started = std::time::Instant::now();
    let run = engine.run("hang", manual()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(run.outcome, RunOutcome::TimedOut, "{run:?}");
    assert!(
        run.reason
            .contains("did not finish within 1s; its process group was killed"),
        "{}",
        run.reason
    );
    let pid = read_pid(&grandchild);
    assert!(gone_soon(pid), "the grandchild {pid} outlived the timeout");
}

#[tokio::test]
async fn output_is_bounded_secrets_are_scrubbed_and_the_daemons_env_stays_out() {
    let dir = tempfile::tempdir().unwrap();
    let line = "head -c 100000 /dev/zero | tr '\\0' x; echo; env; echo token=$TOKEN; echo END";
    let config = config(
        dir.path(),
        &format!(
            "[[action]]\nname = \"chatty\"\ncommand = {}\nshell = true\nenv = {{ TOKEN = {{ env = \"KEEPUP_TEST_ACTION_TOKEN\" }} }}\n",
            keepup_config::toml_string(line)
        ),
    );
    let store = Store::open_in_memory().unwrap();
    let engine = engine(&config, &store, &ManualClock::new(T0));
    let run = engine.run("chatty", manual()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Ok, "{run:?}");
    assert!(
        run.output.len() <= keepup_store::MAX_RUN_OUTPUT,
        "{}",
        run.output.len()
    );
    assert!(
        run.output.trim_end().ends_with("END"),
        "the end is kept: {}",
        run.output
    );
    assert!(run.output.contains("token=***"), "{}", run.output);
    assert!(!run.output.contains("action-token-s3cret"));
    assert!(
        !run.output.contains("KEEPUP_TEST_DAEMON_SECRET"),
        "{}",
        run.output
    );
    assert!(!run.output.contains("daemon-only-secret-42"));
    // Nor anywhere in the store.
    let stored = store.action_run(run.id).unwrap().unwrap();
    assert_eq!(stored.output, run.output);
    for e in store.audit_since(0, 10).unwrap() {
        assert!(!e.detail.contains("action-token-s3cret"));
    }
}

#[tokio::test]
async fn a_failing_command_is_recorded_with_its_exit_code_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "[[action]]\nname = \"bad\"\ncommand = [\"sh\", \"-c\", \"echo no such unit >&2; exit 5\"]\n\
         [[action]]\nname = \"missing\"\ncommand = [\"/nonexistent/keepup-test-program\"]\ncooldown = \"0s\"\n",
    );
    let store = Store::open_in_memory().unwrap();
    let engine = engine(&config, &store, &ManualClock::new(T0));
    let run = engine.run("bad", manual()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert_eq!(run.exit_code, Some(5));
    assert_eq!(run.reason, "sh exited with 5");
    assert_eq!(run.output.trim(), "no such unit");
    let run = engine.run("missing", manual()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert!(
        run.reason
            .starts_with("/nonexistent/keepup-test-program could not be started"),
        "{}",
        run.reason
    );
    // Only configured actions run.
    match engine.run("rm-rf", manual()).await {
        Err(EngineError::UnknownAction(name)) => assert_eq!(name, "rm-rf"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cooldown_and_max_per_hour_hold_across_an_engine_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keepup.db");
    let config = config(
        dir.path(),
        "[[action]]\nname = \"poke\"\ncommand = [\"true\"]\ncooldown = \"10m\"\nmax_per_hour = 2\nmax_per_day = 3\n",
    );
    let clock = ManualClock::new(T0);
    let outcome = |run: &keepup_store::ActionRun| (run.outcome, run.reason.clone());
    {
        let store = Store::open(&db).unwrap();
        let e = engine(&config, &store, &clock);
        assert_eq!(
            e.run("poke", manual()).await.unwrap().outcome,
            RunOutcome::Ok
        );
        clock.set(T0 + MIN);
        let (o, why) = outcome(&e.run("poke", manual()).await.unwrap());
        assert_eq!(o, RunOutcome::Skipped);
        assert!(why.starts_with("cooldown: it last ran at 2026-12-07T10:00:00Z, not again before 2026-12-07T10:10:00Z"), "{why}");
    }
    // keepup restarts: the store is all that remains.
    let store = Store::open(&db).unwrap();
    let e = engine(&config, &store, &clock);
    clock.set(T0 + 5 * MIN);
    assert_eq!(
        e.run("poke", manual()).await.unwrap().outcome,
        RunOutcome::Skipped
    );
    clock.set(T0 + 11 * MIN);
    assert_eq!(
        e.run("poke", manual()).await.unwrap().outcome,
        RunOutcome::Ok
    );
    clock.set(T0 + 22 * MIN);
    let (o, why) = outcome(&e.run("poke", manual()).await.unwrap());
    assert_eq!(o, RunOutcome::Skipped);
    assert_eq!(why, "max_per_hour: it ran 2 times in the last hour");
    clock.set(T0 + 61 * MIN);
    assert_eq!(
        e.run("poke", manual()).await.unwrap().outcome,
        RunOutcome::Ok
    );
    clock.set(T0 + 200 * MIN);
    let (o, why) = outcome(&e.run("poke", manual()).await.unwrap());
    assert_eq!(o, RunOutcome::Skipped);
    assert_eq!(why, "max_per_day: it ran 3 times in the last day");
    // Skipped runs do not count: three acted, four were skipped.
    let runs = e.runs(0, 100).await.unwrap();
    assert_eq!(
        runs.iter().filter(|r| r.outcome == RunOutcome::Ok).count(),
        3
    );
    assert_eq!(
        runs.iter()
            .filter(|r| r.outcome == RunOutcome::Skipped)
            .count(),
        4
    );
    let skips = store
        .audit_since(0, 100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "action.skip")
        .count();
    assert_eq!(skips, 4);
}

#[tokio::test]
async fn maintenance_skips_a_run_and_says_which_window() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let actions = format!(
        r#"
[[maintenance]]
id = "db-upgrade"
checks = ["shop/php"]
start = "2026-12-07T09:00:00Z"
end = "2026-12-07T11:00:00Z"

[[action]]
name = "restart"
command = ["touch", {m}]
on = {{ checks = ["shop/php"] }}

[[action]]
name = "restart-anyway"
command = ["touch", {m}]
on = {{ checks = ["shop/php"] }}
during_maintenance = true
"#,
        m = toml_str(&marker)
    );
    let config = config(dir.path(), &actions);
    let store = Store::open_in_memory().unwrap();
    let e = engine(&config, &store, &ManualClock::new(T0));
    let down = || Cause::Check {
        check: CheckId::new("shop", "php"),
        status: Status::Down,
    };
    let run = e.run("restart", down()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Skipped);
    assert_eq!(
        run.reason,
        "maintenance window \"db-upgrade\" covers shop/php"
    );
    assert!(!marker.exists());
    let run = e.run("restart-anyway", down()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Ok);
    assert!(marker.exists());

    // A window started by hand counts too.
    std::fs::remove_file(&marker).unwrap();
    let clock = ManualClock::new(T0 + 3 * 3_600_000);
    let e = engine(&config, &store, &clock);
    store
        .start_maintenance(
            "shop/php",
            T0 + 3 * 3_600_000 - MIN,
            T0 + 4 * 3_600_000,
            "disk swap",
            "cli:ops",
        )
        .unwrap();
    let run = e.run("restart", down()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Skipped);
    assert!(
        run.reason.contains("(disk swap) covers shop/php"),
        "{}",
        run.reason
    );
    assert!(!marker.exists());
}

#[tokio::test]
async fn a_dry_run_runs_nothing_and_a_confirmation_is_answered_once() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    // A word the loader does not take for a credential still stays out
    // of reasons and the audit (review 33 #15): only the program and
    // the number of arguments are told.
    let actions = format!(
        "[[action]]\nname = \"wipe\"\ncommand = [\"touch\", {m}, \"--\", {m}]\nconfirm = true\n\
         [[action]]\nname = \"try\"\ncommand = [\"touch\", \"-c\", \"X-Shop-Key: k-3f9a7\", {m}]\ndry_run = true\n",
        m = toml_str(&marker)
    );
    let config = config(dir.path(), &actions);
    let store = Store::open_in_memory().unwrap();
    let e = engine(&config, &store, &ManualClock::new(T0));

    let run = e.run("try", manual()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::DryRun);
    assert_eq!(run.reason, "dry run: would run touch with 3 arguments");
    let run = e.dry_run("wipe", manual()).await.unwrap();
    assert_eq!(run.outcome, RunOutcome::DryRun);
    assert!(!marker.exists());

    let asked = e.run("wipe", manual()).await.unwrap();
    assert_eq!(asked.outcome, RunOutcome::AwaitingConfirmation);
    assert!(
        asked
            .reason
            .ends_with("before it runs touch with 3 arguments"),
        "{}",
        asked.reason
    );
    assert!(!marker.exists());
    // Nothing starts it but a yes.
    assert!(e.tick().await.unwrap().is_empty());
    assert!(!marker.exists());
    let done = e.confirm(asked.id, true, "cli:ops").await.unwrap();
    assert_eq!(done.outcome, RunOutcome::Ok, "{done:?}");
    assert_eq!(done.answered_by.as_deref(), Some("cli:ops"));
    assert!(marker.exists());
    match e.confirm(asked.id, false, "cli:other").await {
        Err(EngineError::NotAwaiting(id)) => assert_eq!(id, asked.id),
        other => panic!("{other:?}"),
    }
    // A no ends it.
    std::fs::remove_file(&marker).unwrap();
    let e2 = engine(&config, &store, &ManualClock::new(T0 + 3_600_000));
    let asked = e2.run("wipe", manual()).await.unwrap();
    let declined = e2.confirm(asked.id, false, "cli:ops").await.unwrap();
    assert_eq!(declined.outcome, RunOutcome::Skipped);
    assert_eq!(declined.reason, "declined by cli:ops");
    assert!(!marker.exists());
    let audit = store.audit_since(0, 100).unwrap();
    let words = marker.display().to_string();
    for e in &audit {
        assert!(
            !e.detail.contains("k-3f9a7") && !e.detail.contains(&words),
            "{e:?}"
        );
    }
    for r in store.action_runs(0, None, 100).unwrap() {
        assert!(
            !r.reason.contains("k-3f9a7") && !r.reason.contains(&words),
            "{r:?}"
        );
    }
    let actions: Vec<String> = audit.into_iter().map(|e| e.action).collect();
    for want in [
        "action.dry_run",
        "action.ask",
        "action.confirm",
        "action.run",
        "action.decline",
    ] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_waiting_question_is_asked_once_and_expires_unanswered() {
    // A check failing again while its question waits files no second
    // one; an hour later the question ends unconfirmed and a yes is
    // refused: the failure it was about is old news.
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let actions = format!(
        "[[action]]\nname = \"wipe\"\ncommand = [\"touch\", {m}]\nconfirm = true\ncooldown = \"10m\"\n",
        m = toml_str(&marker)
    );
    let config = config(dir.path(), &actions);
    let store = Store::open_in_memory().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(&config, &store, &clock);
    let asked = e.run("wipe", manual()).await.unwrap();
    assert_eq!(asked.outcome, RunOutcome::AwaitingConfirmation);
    clock.advance(Duration::from_secs(60));
    let again = e.run("wipe", manual()).await.unwrap();
    assert_eq!(again.outcome, RunOutcome::Skipped, "{again:?}");
    assert!(again.reason.starts_with("cooldown"), "{again:?}");
    // Still waiting within the hour.
    clock.advance(Duration::from_secs(30 * 60));
    assert!(e.tick().await.unwrap().is_empty());
    clock.advance(Duration::from_secs(30 * 60));
    let ended = e.tick().await.unwrap();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].id, asked.id);
    assert_eq!(ended[0].outcome, RunOutcome::Skipped);
    assert!(
        ended[0].reason.starts_with("not confirmed within"),
        "{ended:?}"
    );
    match e.confirm(asked.id, true, "cli:late").await {
        Err(EngineError::NotAwaiting(id)) => assert_eq!(id, asked.id),
        other => panic!("{other:?}"),
    }
    assert!(!marker.exists());
    // A question left unanswered and answered late, without a tick between.
    clock.advance(Duration::from_secs(3600));
    let asked = e.run("wipe", manual()).await.unwrap();
    assert_eq!(asked.outcome, RunOutcome::AwaitingConfirmation);
    clock.advance(Duration::from_secs(2 * 3600));
    match e.confirm(asked.id, true, "cli:late").await {
        Err(EngineError::NotAwaiting(id)) => assert_eq!(id, asked.id),
        other => panic!("{other:?}"),
    }
    assert!(!marker.exists());
}

/// A provider's resize API: the first request is rate limited (429,
/// Retry-After: 1), the second fails (500), later ones are applied, once
/// per idempotency key.
#[derive(Default)]
struct Provider {
    calls: u32,
    keys: Vec<String>,
    applied: Vec<String>,
    bodies: Vec<String>,
}

#[tokio::test]
async fn a_webhook_retried_through_429_and_500_scales_up_once() {
    let state = Arc::new(Mutex::new(Provider::default()));
    let s = Arc::clone(&state);
    let server = TestServer::start(move |req: keepup_testkit::http::Request| {
        let s = Arc::clone(&s);
        async move {
            let mut p = s.lock().unwrap();
            p.calls += 1;
            let key = req
                .headers()
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            p.keys.push(key.clone());
            p.bodies
                .push(String::from_utf8_lossy(req.body()).into_owned());
            match p.calls {
                1 => {
                    let mut r = keepup_testkit::http::json(429, r#"{"error":"slow down"}"#);
                    r.headers_mut()
                        .insert("retry-after", http::HeaderValue::from_static("1"));
                    r
                }
                2 => keepup_testkit::http::json(500, r#"{"error":"try again"}"#),
                _ => {
                    if !p.applied.contains(&key) {
                        p.applied.push(key);
                    }
                    keepup_testkit::http::json(200, r#"{"id":"resize-1"}"#)
                }
            }
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[action]]\nname = \"scale-up\"\nwebhook = {{ url = {}, body_template = '{{\"size\": \"large\", \"cause\": \"{{{{ cause }}}}\"}}', retries = 3 }}\n",
            keepup_config::toml_string(&server.url("/v1/servers/web1/resize"))
        ),
    );
    let store = Store::open_in_memory().unwrap();
    let e = engine(&config, &store, &ManualClock::new(T0));
    let run = e
        .run(
            "scale-up",
            Cause::Measure {
                check: CheckId::new("shop", "php"),
                measure: "load".into(),
                value: 0.93,
            },
        )
        .await
        .unwrap();
    assert_eq!(run.outcome, RunOutcome::Ok, "{run:?}");
    assert_eq!(run.attempts, 3);
    assert_eq!(run.exit_code, Some(200));
    assert!(
        run.output.contains("attempt 1: ") && run.output.contains("429"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("attempt 2: ") && run.output.contains("500"),
        "{}",
        run.output
    );
    let p = state.lock().unwrap();
    assert_eq!(p.calls, 3);
    assert_eq!(
        p.keys,
        vec![run.idempotency_key.clone(); 3],
        "one key for every attempt"
    );
    assert_eq!(p.applied.len(), 1, "exactly one effective scale-up");
    assert_eq!(p.bodies[2], r#"{"size": "large", "cause": "measure"}"#);
    assert_eq!(run.idempotency_key, format!("keepup-action-{}", run.id));
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_gives_up_after_its_retries() {
    let server = TestServer::start(|_req: keepup_testkit::http::Request| async move {
        keepup_testkit::http::json(503, r#"{"error":"maintenance"}"#)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[[action]]\nname = \"scale\"\nwebhook = {{ url = {}, retries = 1 }}\n",
            keepup_config::toml_string(&server.url("/resize"))
        ),
    );
    let store = Store::open_in_memory().unwrap();
    let run = engine(&config, &store, &ManualClock::new(T0))
        .run("scale", manual())
        .await
        .unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert_eq!(run.attempts, 2);
    assert!(
        run.reason.starts_with("gave up after 2 attempts: "),
        "{}",
        run.reason
    );
    assert_eq!(server.requests(), 2);
}

/// An `agent = ...` action goes through the store's rendezvous: filed for
/// its agent under the run's idempotency key, delivered by the transport
/// (played here by what the web's and the monitor's agent routes call),
/// and the agent's outcome ends the run.
#[tokio::test]
async fn an_agent_action_is_filed_for_its_agent_and_its_outcome_ends_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_ACTION_TOKEN\"\n\
         [[action]]\nname = \"restart-php\"\nagent = \"web1\"\nagent_action = \"php\"\ntimeout = \"30s\"\n\
         [[action]]\nname = \"unknown-there\"\nagent = \"web1\"\n",
    );
    let store = Store::open_in_memory().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(&config, &store, &clock);
    // The transport: takes what waits for web1 and answers it.
    let transport = |store: Store,
                     answer: fn(
        &keepup_model::host::ActionRequest,
    ) -> keepup_model::host::ActionOutcome| {
        tokio::task::spawn_blocking(move || {
            for _ in 0..500 {
                let pending = store.pending_agent_actions("web1", T0).unwrap();
                if let Some(req) = pending.first() {
                    let outcome = answer(req);
                    store
                        .record_agent_action_outcomes("web1", &[outcome], T0)
                        .unwrap();
                    return req.clone();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("nothing was requested of web1");
        })
    };
    let agent = transport(store.clone(), |req| keepup_model::host::ActionOutcome {
        id: req.id.clone(),
        action: req.action.clone(),
        started: T0,
        duration_ms: 120,
        exit_code: Some(0),
        output: "php8.2-fpm restarted".into(),
        ..Default::default()
    });
    let run = e.run("restart-php", manual()).await.unwrap();
    let req = agent.await.unwrap();
    assert_eq!(req.action, "php");
    assert_eq!(req.id, run.idempotency_key);
    assert_eq!(req.timeout_ms, 30_000);
    assert_eq!(run.outcome, RunOutcome::Ok, "{run:?}");
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.output, "php8.2-fpm restarted");

    // An agent that has no such action refuses it: a failed run, saying so.
    let agent = transport(store.clone(), |req| keepup_model::host::ActionOutcome {
        id: req.id.clone(),
        action: req.action.clone(),
        started: T0,
        refused: true,
        error: Some("no action \"unknown-there\" (this agent has: php)".into()),
        ..Default::default()
    });
    let run = e.run("unknown-there", manual()).await.unwrap();
    agent.await.unwrap();
    assert_eq!(run.outcome, RunOutcome::Failed);
    assert_eq!(
        run.reason,
        "agent web1 refused \"unknown-there\": no action \"unknown-there\" (this agent has: php)"
    );
}

/// The child side of `a_run_cut_short_by_a_killed_keepup_ends_as_failed`:
/// an engine in a process of its own runs a long action until the test
/// kills the process. Does nothing when run as an ordinary test.
#[tokio::test]
async fn child_engine_running_a_long_action() {
    let Ok(dir) = std::env::var("KEEPUP_TEST_ENGINE_CHILD_DIR") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let config = config(&dir, &long_action(&dir));
    let store = Store::open(&dir.join("keepup.db")).unwrap();
    let e = engine(&config, &store, &ManualClock::new(T0));
    let _ = e.run("long", manual()).await;
    unreachable!("the test kills this process before the run ends");
}

fn long_action(dir: &Path) -> String {
    format!(
        "[[action]]\nname = \"long\"\ncommand = [\"sh\", \"-c\", \"echo $$ > {p}; exec sleep 600\"]\ntimeout = \"10m\"\n",
        p = dir.join("command.pid").display()
    )
}

/// A keepup killed (`kill -9`) while an action runs leaves its run
/// `running`; a keepup started later ends it, once the action's timeout
/// has passed (not before: it may still be running elsewhere), as failed
/// with "outcome unknown", so it no longer counts for the limits nor
/// shows as running for ever (review 33 #7).
#[tokio::test]
async fn a_run_cut_short_by_a_killed_keepup_ends_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_engine_running_a_long_action",
            "--exact",
            "--nocapture",
        ])
        .env("KEEPUP_TEST_ENGINE_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let command = read_pid(&dir.path().join("command.pid"));
    // SAFETY: signalling the child process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    // The command is in a process group of its own; it outlives keepup.
    unsafe { libc::kill(command, libc::SIGKILL) };

    let config = config(dir.path(), &long_action(dir.path()));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let runs = store.action_runs(0, None, 10).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, RunOutcome::Running);

    // Restarted within the timeout: it may still be running.
    let clock = ManualClock::new(T0 + 5 * MIN);
    let e = engine(&config, &store, &clock);
    assert!(e.tick().await.unwrap().is_empty());
    assert_eq!(
        store.action_run(runs[0].id).unwrap().unwrap().outcome,
        RunOutcome::Running
    );
    // Past the timeout (and a margin): it is over, outcome unknown.
    clock.set(T0 + 12 * MIN);
    let ended = e.tick().await.unwrap();
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0].id, runs[0].id);
    assert_eq!(ended[0].outcome, RunOutcome::Failed);
    assert_eq!(
        ended[0].reason,
        "keepup stopped during the run; outcome unknown"
    );
    assert_eq!(ended[0].finished_at, Some(T0 + 12 * MIN));
    assert!(e.tick().await.unwrap().is_empty());
    let audit = store.audit_since(0, 100).unwrap();
    assert!(
        audit.iter().any(|a| a.action == "action.interrupted"
            && a.target == "long"
            && a.detail.contains("outcome unknown")),
        "{audit:?}"
    );
}

/// Engines in several processes (the daemon, `keepup actions run`) decide
/// in the store's transaction that records the run: of six deciding at
/// once, one passes the cooldown (review 33 #9).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn engines_on_one_store_pass_a_cooldown_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "[[action]]\nname = \"once\"\ncommand = [\"true\"]\ncooldown = \"10m\"\n",
    );
    let db = dir.path().join("keepup.db");
    let clock = ManualClock::new(T0);
    let engines: Vec<Engine> = (0..6)
        .map(|_| engine(&config, &Store::open(&db).unwrap(), &clock))
        .collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(engines.len()));
    let mut tasks = Vec::new();
    for e in engines {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            e.run("once", manual()).await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().outcome);
    }
    let ran = outcomes.iter().filter(|o| **o == RunOutcome::Ok).count();
    assert_eq!(ran, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, RunOutcome::Ok | RunOutcome::Skipped)),
        "{outcomes:?}"
    );
}
