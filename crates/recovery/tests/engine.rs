//! The runbook engine against a real SQLite journal: a failed step stops
//! the run, a resume runs the failed step again and skips the finished
//! ones, a second run of the plan is refused while one holds the lock,
//! abort releases it, confirmation gates refuse without a person, verify
//! measures the RTO, maintenance and notify are idempotent, secrets never
//! reach the journal, and a remote command runs through a private sshd.

use keepup_config::load_str;
use keepup_recovery::{
    Confirmation, EngineError, Quiet, Runner, SimulatedClock, abort, resume, start,
};
use keepup_store::{DrRunKind, DrRunState, DrStepOutcome, OutboxQuery, Store};
use std::path::Path;

const START: i64 = 1_780_000_000_000;
const TSIG: &str = "dHNpZy1zZWNyZXQtZm9yLXRoZS1lbmdpbmUtdGVzdA==";

struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    clock: SimulatedClock,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("keepup.db")).unwrap();
        Self {
            dir,
            store,
            clock: SimulatedClock::new(START),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The configuration: a site with a TCP check on `port`, a webhook
    /// channel, a TSIG key file, the standby host `hosts`, and `steps`
    /// (`[[recovery.activate]]`/`[[recovery.return]]` tables).
    fn config(&self, port: u16, hosts: &str, steps: &str) -> keepup_config::Config {
        let key = self.dir.path().join("tsig.key");
        std::fs::write(&key, TSIG).unwrap();
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

[[channel]]
id = "ops-hook"
kind = "webhook"
url = "http://127.0.0.1:9/hook"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "1h"
rpo = "2h"
[recovery.standby]
addresses = ["127.0.0.20"]
{hosts}
[[recovery.tsig_key]]
id = "k"
name = "update"
algorithm = "hmac-sha256"
secret_file = "{key}"

{steps}"#,
            key = key.display()
        );
        load_str(&src, &self.dir.path().join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
    }

    fn runner<'a>(
        &'a self,
        config: &'a keepup_config::Config,
        confirm: &'a Confirmation,
    ) -> Runner<'a> {
        Runner {
            config,
            store: &self.store,
            clock: &self.clock,
            confirm,
            observer: &Quiet,
            who: "test",
        }
    }
}

fn command(name: &str, script: &str) -> String {
    format!(
        "[[recovery.activate]]\nkind = \"command\"\nname = \"{name}\"\nrun = [\"sh\", \"-c\", {}]\n",
        keepup_config::toml_string(script)
    )
}

/// A `command` step that runs in drills too (a local one is skipped there
/// otherwise).
fn drilled_command(name: &str, script: &str) -> String {
    command(name, script).replace("run = [", "drill = \"run\"\nrun = [")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_failed_step_stops_the_run_and_resume_skips_the_finished_steps() {
    let f = Fixture::new();
    let log = f.path("log");
    let flag = f.path("flag");
    let steps = [
        command("first", &format!("echo first >> {log}")),
        command(
            "needs the flag",
            &format!("echo second >> {log}; echo 'no flag yet' >&2; test -e {flag}"),
        ),
        command("third", &format!("echo third >> {log}")),
    ]
    .concat();
    let config = f.config(9, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let runner = f.runner(&config, &yes);

    let report = start(&runner, plan, DrRunKind::Activate).unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert_eq!(report.steps_run, 2);
    for said in [
        "step 2 of 3 \"needs the flag\" (command) failed: exited with 1, expected 0",
        &format!("keepup dr resume {}", report.run),
        &format!("keepup dr abort {}", report.run),
        "to do this step by hand: sh -c",
    ] {
        assert!(
            report.message.contains(said),
            "{said:?} in {}",
            report.message
        );
    }
    assert_eq!(
        read(&log),
        "first\nsecond\n",
        "nothing after the failure ran"
    );
    let steps = f.store.dr_steps(report.run).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.outcome).collect::<Vec<_>>(),
        [DrStepOutcome::Succeeded, DrStepOutcome::Failed]
    );
    assert!(
        steps[1].output.contains("stderr: no flag yet"),
        "{}",
        steps[1].output
    );
    let run = f.store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.state, DrRunState::Failed);
    assert!(
        run.holder_pid.is_some(),
        "a failed run keeps the plan's lock"
    );

    // A second run of the plan is refused while this one holds the lock.
    match start(&runner, plan, DrRunKind::Activate) {
        Err(EngineError::Locked { run, .. }) => assert_eq!(run, report.run),
        other => panic!("expected the lock to refuse it: {other:?}"),
    }

    std::fs::write(&flag, "").unwrap();
    let resumed = resume(&runner, report.run).unwrap();
    assert_eq!(resumed.state, DrRunState::Completed, "{}", resumed.message);
    assert_eq!(resumed.steps_run, 2, "the first step is not run again");
    assert_eq!(read(&log), "first\nsecond\nsecond\nthird\n");
    let steps = f.store.dr_steps(report.run).unwrap();
    assert_eq!(
        steps.iter().map(|s| s.attempts).collect::<Vec<_>>(),
        [1, 2, 1]
    );
    assert!(steps.iter().all(|s| s.outcome == DrStepOutcome::Succeeded));
    // Completed: the lock is free, and the run cannot be resumed again.
    assert!(matches!(
        resume(&runner, report.run),
        Err(EngineError::Finished { .. })
    ));
    let next = start(&runner, plan, DrRunKind::Activate).unwrap();
    assert_eq!(next.state, DrRunState::Completed);
}

#[test]
fn abort_releases_the_lock_without_undoing_anything() {
    let f = Fixture::new();
    let log = f.path("log");
    let steps = [
        command("first", &format!("echo first >> {log}")),
        command("fails", "exit 3"),
    ]
    .concat();
    let config = f.config(9, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let runner = f.runner(&config, &yes);
    let failed = start(&runner, plan, DrRunKind::Activate).unwrap();
    assert_eq!(failed.state, DrRunState::Failed);
    assert!(start(&runner, plan, DrRunKind::Activate).is_err());
    abort(&config, &f.store, failed.run, START + 1, "test").unwrap();
    let run = f.store.dr_run(failed.run).unwrap().unwrap();
    assert_eq!((run.state, run.holder_pid), (DrRunState::Aborted, None));
    assert!(matches!(
        resume(&runner, failed.run),
        Err(EngineError::Finished { .. })
    ));
    assert!(matches!(
        abort(&config, &f.store, failed.run, START + 2, "test"),
        Err(EngineError::Finished { .. })
    ));
    // A new run may start; it fails at the same step, having run the first again.
    let again = start(&runner, plan, DrRunKind::Activate).unwrap();
    assert_ne!(again.run, failed.run);
    assert_eq!(read(&log), "first\nfirst\n");
}

#[test]
fn a_confirmation_gate_needs_a_person_or_yes() {
    let f = Fixture::new();
    let log = f.path("log");
    let steps = format!(
        "[[recovery.activate]]\nkind = \"confirm\"\nprompt = \"Is production really lost?\"\n{}",
        command("after", &format!("echo after >> {log}"))
    );
    let config = f.config(9, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let nobody = Confirmation::Nobody;
    let report = start(&f.runner(&config, &nobody), plan, DrRunKind::Activate).unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(report.message.contains("--yes"), "{}", report.message);
    assert_eq!(read(&log), "", "nothing ran past the gate");
    let yes = Confirmation::AssumeYes;
    let resumed = resume(&f.runner(&config, &yes), report.run).unwrap();
    assert_eq!(resumed.state, DrRunState::Completed);
    let steps = f.store.dr_steps(report.run).unwrap();
    assert!(
        steps[0].output.contains("yes (--yes)"),
        "{}",
        steps[0].output
    );
}

/// Simulated time during which a person answers the questions waiting on
/// the dashboard (through the store, as the web does) after `after` of
/// waiting; `None` never answers.
struct AnsweringClock<'a> {
    time: SimulatedClock,
    store: &'a Store,
    answer: Option<bool>,
    after: std::time::Duration,
    waited: std::sync::Mutex<std::time::Duration>,
    /// What `keepup dr status` said while the run waited.
    status: std::sync::Mutex<String>,
}

impl keepup_recovery::Clock for AnsweringClock<'_> {
    fn now_ms(&self) -> i64 {
        self.time.now_ms()
    }
    fn sleep(&self, d: std::time::Duration) {
        self.time.sleep(d);
        if let Some(run) = self.store.dr_runs(None, 1).unwrap().first() {
            *self.status.lock().unwrap() =
                keepup_recovery::engine::render_status(self.store, run, self.time.now_ms())
                    .unwrap();
        }
        let mut waited = self.waited.lock().unwrap();
        *waited += d;
        if let (Some(yes), true) = (self.answer, *waited >= self.after) {
            for q in self.store.dr_confirmations(None).unwrap() {
                assert!(
                    self.store
                        .dr_confirm_answer(q.run, q.step, yes, "alice", self.time.now_ms())
                        .unwrap()
                );
            }
        }
    }
}

#[test]
fn a_confirmation_without_a_terminal_waits_for_the_dashboard() {
    let f = Fixture::new();
    let log = f.path("log");
    let steps = format!(
        "[[recovery.activate]]\nkind = \"confirm\"\nprompt = \"Is production really lost?\"\ntimeout = \"1m\"\n{}",
        command("after", &format!("echo after >> {log}"))
    );
    let config = f.config(9, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let web = Confirmation::Web;
    let clock = |answer, after| AnsweringClock {
        time: SimulatedClock::new(START),
        store: &f.store,
        answer,
        after,
        waited: Default::default(),
        status: Default::default(),
    };
    let runner = |clock| Runner {
        config: &config,
        store: &f.store,
        clock,
        confirm: &web,
        observer: &Quiet,
        who: "test",
    };

    // Nobody answers: the step fails at its timeout, saying what to do.
    let silent = clock(None, std::time::Duration::ZERO);
    let unanswered = start(&runner(&silent), plan, DrRunKind::Activate).unwrap();
    assert_eq!(unanswered.state, DrRunState::Failed);
    assert!(
        unanswered
            .message
            .contains("not answered on the dashboard within 60s"),
        "{}",
        unanswered.message
    );
    assert_eq!(read(&log), "");
    let asked = f.store.dr_confirmations(Some(unanswered.run)).unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].prompt, "Is production really lost?");
    assert_eq!(asked[0].answer, None);
    // Still pending: the dashboard lists it.
    assert_eq!(f.store.dr_confirmations(None).unwrap(), asked);

    // The resumed step asks the same question again; alice says yes after
    // ten seconds, and the run goes on, the journal naming her.
    let yes = clock(Some(true), std::time::Duration::from_secs(10));
    let done = resume(&runner(&yes), unanswered.run).unwrap();
    assert_eq!(done.state, DrRunState::Completed, "{}", done.message);
    assert_eq!(read(&log), "after\n");
    let status = yes.status.lock().unwrap().clone();
    assert!(
        status.contains(
            "Step 1 waits for an answer on the dashboard (/dr/runs/1): Is production really lost?"
        ),
        "{status}"
    );
    let steps = f.store.dr_steps(done.run).unwrap();
    assert!(
        steps[0]
            .output
            .contains("yes, answered on the dashboard by alice"),
        "{}",
        steps[0].output
    );
    let answered = f.store.dr_confirmations(Some(done.run)).unwrap();
    assert_eq!(answered[0].answer, Some(true));
    assert_eq!(answered[0].answered_by.as_deref(), Some("alice"));
    assert!(f.store.dr_confirmations(None).unwrap().is_empty());
    // An answer is given once.
    assert!(
        !f.store
            .dr_confirm_answer(done.run, 0, false, "bob", START)
            .unwrap()
    );

    // No: the step fails, naming who said no; nothing ran past the gate.
    let no = clock(Some(false), std::time::Duration::from_secs(1));
    let refused = start(&runner(&no), plan, DrRunKind::Activate).unwrap();
    assert_eq!(refused.state, DrRunState::Failed);
    assert!(
        refused
            .message
            .contains("alice answered no on the dashboard"),
        "{}",
        refused.message
    );
    assert_eq!(read(&log), "after\n");
    // A resume asks again after a no; this time the answer is yes.
    let yes = clock(Some(true), std::time::Duration::from_secs(1));
    let resumed = resume(&runner(&yes), refused.run).unwrap();
    assert_eq!(resumed.state, DrRunState::Completed, "{}", resumed.message);
    assert_eq!(read(&log), "after\nafter\n");
}

#[test]
fn verify_measures_the_rto_and_maintenance_and_notify_run_once() {
    let f = Fixture::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let steps = format!(
        r#"[[recovery.activate]]
kind = "maintenance"
action = "start"
duration = "2h"
{slow}
[[recovery.activate]]
kind = "verify"
deadline = "1m"
[[recovery.activate]]
kind = "notify"
channels = ["ops-hook"]
message = "DR activated"
{fail}
[[recovery.return]]
kind = "maintenance"
action = "end"
"#,
        // Simulated time passes while the restore would run.
        slow = command("restore", "true"),
        fail = command("last", "exit 1"),
    );
    let config = f.config(port, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let runner = f.runner(&config, &yes);
    let report = start(&runner, plan, DrRunKind::Activate).unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    let run = f.store.dr_run(report.run).unwrap().unwrap();
    assert_eq!(run.rto_ms, Some(0), "verified Up at once in simulated time");
    let outbox = || {
        f.store
            .outbox_page(&OutboxQuery {
                channel: None,
                state: None,
                before: None,
                limit: 10,
            })
            .unwrap()
    };
    let queued = outbox();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].payload.contains("\"event\":\"recovery\""),
        "{}",
        queued[0].payload
    );
    assert!(
        queued[0].payload.contains("shop: DR activated"),
        "{}",
        queued[0].payload
    );
    assert!(
        queued[0].payload.contains("Measured RTO: 0s (target 1h)"),
        "{}",
        queued[0].payload
    );
    assert_eq!(f.store.maintenance_after(START).unwrap().len(), 1);

    // A crash after the maintenance and notify steps did their work but
    // before their end was journaled: resume runs them again.
    for i in [0, 3] {
        let s = &plan.activate[i];
        f.store
            .dr_step_started(report.run, i, &s.name, s.action.kind(), START)
            .unwrap();
    }
    let resumed = resume(&runner, report.run).unwrap();
    assert_eq!(resumed.state, DrRunState::Failed);
    assert_eq!(resumed.steps_run, 5, "{}", resumed.message);
    assert_eq!(
        f.store.maintenance_after(START).unwrap().len(),
        1,
        "no second window"
    );
    assert_eq!(outbox().len(), 1, "no second notification");
    let attempts: Vec<u32> = f
        .store
        .dr_steps(report.run)
        .unwrap()
        .iter()
        .map(|s| s.attempts)
        .collect();
    // The simulated crash journaled a start of steps 1 and 4 too.
    assert_eq!(attempts, [3, 2, 2, 3, 2]);
    abort(&config, &f.store, report.run, START, "test").unwrap();

    // The return ends the window the activation opened.
    let back = start(&runner, plan, DrRunKind::Return).unwrap();
    assert_eq!(back.state, DrRunState::Completed, "{}", back.message);
    let now = keepup_recovery::Clock::now_ms(&f.clock);
    assert!(f.store.maintenance_after(now).unwrap().is_empty());
    drop(listener);
}

#[test]
fn verify_gives_up_at_its_deadline_in_simulated_time() {
    let f = Fixture::new();
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let steps =
        "[[recovery.activate]]\nkind = \"verify\"\ndeadline = \"10m\"\ninterval = \"30s\"\n";
    let config = f.config(port, "", steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let report = start(&f.runner(&config, &yes), plan, DrRunKind::Activate).unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    assert!(
        report
            .message
            .contains("not all Up after 10m (21 rounds): shop/home"),
        "{}",
        report.message
    );
    assert!(
        report.message.contains("keepup check --check shop/home"),
        "{}",
        report.message
    );
    assert_eq!(f.store.dr_run(report.run).unwrap().unwrap().rto_ms, None);
}

#[test]
fn secrets_never_reach_the_journal() {
    let f = Fixture::new();
    let steps = command("leaky", &format!("echo the key is {TSIG}; exit 2"));
    let config = f.config(9, "", &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let report = start(&f.runner(&config, &yes), plan, DrRunKind::Activate).unwrap();
    assert!(!report.message.contains(TSIG), "{}", report.message);
    let steps = f.store.dr_steps(report.run).unwrap();
    assert!(
        steps[0].output.contains("the key is ***"),
        "{}",
        steps[0].output
    );
    assert!(!steps[0].output.contains(TSIG));
    let run = f.store.dr_run(report.run).unwrap().unwrap();
    assert!(!run.message.contains(TSIG), "{}", run.message);
}

#[test]
fn a_remote_command_runs_on_a_standby_host_over_ssh() {
    let sshd = keepup_testkit::sshd::Sshd::start().unwrap();
    let f = Fixture::new();
    let marker = f.path("remote-marker");
    let host = format!(
        "[[recovery.standby.host]]\nname = \"web\"\nssh = \"{}@127.0.0.1\"\nssh_port = {}\nssh_identity_file = \"{}\"\nssh_known_hosts_file = \"{}\"\n",
        sshd.user(),
        sshd.port(),
        sshd.identity_file().display(),
        sshd.known_hosts_file().display()
    );
    let steps = format!(
        "[[recovery.activate]]\nkind = \"command\"\nname = \"remote\"\nhost = \"web\"\nrun = [\"sh\", \"-c\", \"echo \\\"it's here\\\" > {marker}; echo done\"]\n"
    );
    let config = f.config(9, &host, &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let report = start(&f.runner(&config, &yes), plan, DrRunKind::Activate).unwrap();
    assert_eq!(
        report.state,
        DrRunState::Completed,
        "{}\n{}",
        report.message,
        sshd.log()
    );
    assert_eq!(read(&marker), "it's here\n");
    let steps = f.store.dr_steps(report.run).unwrap();
    assert!(steps[0].output.contains("done"), "{}", steps[0].output);
    assert!(sshd.log().contains("Accepted publickey"), "{}", sshd.log());
    let _ = Path::new(&marker);
}

#[test]
fn a_restore_step_restores_the_latest_snapshot_and_records_the_rpo() {
    let f = Fixture::new();
    let source = f.dir.path().join("srv");
    std::fs::create_dir_all(source.join("media")).unwrap();
    std::fs::write(source.join("media/logo.png"), b"the logo").unwrap();
    let repo = f.dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(f.dir.path().join("repo.pass"), "repo password sesame\n").unwrap();
    let restored = f.dir.path().join("standby");
    let steps = format!(
        r#"[[recovery.activate]]
kind = "restore_files"
name = "files"
backup = "files"
to = "{to}"

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
        to = restored.display(),
        src = source.display(),
        repo = repo.display()
    );
    let config = f.config(9, "", &steps);
    let backup = &config.backups[0];
    keepup_backup::init(backup, "local").unwrap();
    let made =
        keepup_backup::run_plan(backup, None, std::sync::Arc::new(keepup_backup::NoProgress));
    assert!(made.targets[0].error.is_none(), "{made:#?}");
    // The activation starts an hour after the backup.
    let now = keepup_model::Clock::now_ms(&keepup_model::SystemClock);
    f.clock.0.set(now + 3_600_000);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let report = start(&f.runner(&config, &yes), plan, DrRunKind::Activate).unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    let logo = restored
        .join(source.strip_prefix("/").unwrap())
        .join("media/logo.png");
    assert_eq!(std::fs::read(&logo).unwrap(), b"the logo");
    let rpo = f.store.dr_run(report.run).unwrap().unwrap().rpo_ms.unwrap();
    assert!((3_600_000..3_700_000).contains(&rpo), "{rpo}");
    let steps = f.store.dr_steps(report.run).unwrap();
    assert!(
        steps[0].output.contains("restored 1 files"),
        "{}",
        steps[0].output
    );
    assert!(!steps[0].output.contains("sesame"));
}

#[test]
fn a_drill_whose_process_died_is_resumed_and_cleans_up() {
    let f = Fixture::new();
    let log = f.path("log");
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    let steps = [
        drilled_command("first", &format!("echo \"first $KEEPUP_DR_KIND\" >> {log}")),
        drilled_command("second", &format!("echo second >> {log}")),
        format!(
            "[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"stop\"\nrun = [\"sh\", \"-c\", \"echo stop >> {log}\"]\n"
        ),
    ]
    .concat();
    let config = f.config(9, drill_env, &steps);
    let yes = Confirmation::AssumeYes;
    let runner = f.runner(&config, &yes);
    // A drill's process died during its second step: the journal says the
    // first is done and the second started (pid 0: no such process).
    let run = f
        .store
        .dr_begin("shop-dr", DrRunKind::Drill, START, "cron", 0)
        .unwrap()
        .unwrap();
    f.store
        .dr_step_started(run, 0, "first", "command", START)
        .unwrap();
    f.store
        .dr_step_ended(run, 0, START, DrStepOutcome::Succeeded, "")
        .unwrap();
    f.store
        .dr_step_started(run, 1, "second", "command", START)
        .unwrap();
    // Another drill is refused meanwhile.
    let plan = config.recovery_plan("shop-dr").unwrap();
    assert!(matches!(
        keepup_recovery::drill(&runner, plan),
        Err(EngineError::Locked { .. })
    ));

    let report = resume(&runner, run).unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    assert!(report.message.contains("cleaned up"), "{}", report.message);
    assert_eq!(
        read(&log),
        "second\nstop\n",
        "the first step is not repeated"
    );
    let steps = f.store.dr_steps(run).unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.name.as_str(), s.kind.as_str(), s.outcome))
            .collect::<Vec<_>>(),
        [
            ("first", "command", DrStepOutcome::Succeeded),
            ("second", "command", DrStepOutcome::Succeeded),
            ("cleanup: stop", "cleanup", DrStepOutcome::Succeeded),
        ]
    );
    assert_eq!(f.store.dr_run(run).unwrap().unwrap().holder_pid, None);
    // A drill from the start runs its local commands with KEEPUP_DR_KIND.
    let fresh = keepup_recovery::drill(&runner, plan).unwrap();
    assert_eq!(fresh.state, DrRunState::Completed, "{}", fresh.message);
    assert_eq!(read(&log), "second\nstop\nfirst drill\nsecond\nstop\n");
}

#[test]
fn a_failed_cleanup_fails_the_drill_but_runs_the_rest_of_the_cleanup() {
    let f = Fixture::new();
    let log = f.path("log");
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    let cleanup = |name: &str, script: &str| {
        format!(
            "[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"{name}\"\nrun = [\"sh\", \"-c\", {}]\n",
            keepup_config::toml_string(script)
        )
    };
    let steps = [
        drilled_command("start", &format!("echo start >> {log}")),
        "[[recovery.activate]]\nkind = \"notify\"\nchannels = [\"ops-hook\"]\nmessage = \"DR activated\"\n[[recovery.activate]]\nkind = \"maintenance\"\naction = \"start\"\n".to_string(),
        cleanup("stop", "echo 'still running' >&2; exit 4"),
        cleanup("tidy", &format!("echo tidy >> {log}")),
    ]
    .concat();
    let config = f.config(9, drill_env, &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let report = keepup_recovery::drill(&f.runner(&config, &yes), plan).unwrap();
    assert_eq!(report.state, DrRunState::Failed);
    for said in [
        "drill failed: every step succeeded",
        "the cleanup failed: cleanup: stop: exited with 4, expected 0",
        "remove what is left by hand",
        &format!("keepup dr status {}", report.run),
    ] {
        assert!(
            report.message.contains(said),
            "{said:?} in {}",
            report.message
        );
    }
    assert_eq!(read(&log), "start\ntidy\n", "the rest of the cleanup ran");
    let steps = f.store.dr_steps(report.run).unwrap();
    assert_eq!(steps[3].name, "cleanup: stop");
    assert_eq!(steps[3].outcome, DrStepOutcome::Failed);
    assert!(
        steps[3].output.contains("still running"),
        "{}",
        steps[3].output
    );
    // The notification says it is a drill; no maintenance window was opened.
    let queued = f
        .store
        .outbox_page(&OutboxQuery {
            channel: None,
            state: None,
            before: None,
            limit: 10,
        })
        .unwrap();
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].payload.contains("shop: DRILL: DR activated")
            && queued[0].payload.contains("This is a drill"),
        "{}",
        queued[0].payload
    );
    assert!(
        steps[2].output.contains("skipped in a drill"),
        "{}",
        steps[2].output
    );
    assert!(f.store.maintenance_after(0).unwrap().is_empty());
    let run = f.store.dr_run(report.run).unwrap().unwrap();
    assert_eq!((run.state, run.holder_pid), (DrRunState::Failed, None));
}

#[test]
fn a_drill_whose_journal_fails_ends_failed_and_a_resume_cleans_up() {
    let f = Fixture::new();
    let log = f.path("log");
    let db = f.path("keepup.db");
    let marker = f.path("broken");
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    // The step takes the journal's step table away (once), so journaling
    // its end fails: an error of the engine after the drill began.
    let steps = [
        drilled_command(
            "break",
            &format!(
                "[ -e {marker} ] || {{ touch {marker}; sqlite3 {db} 'ALTER TABLE dr_step RENAME TO dr_step_gone'; }}"
            ),
        ),
        format!(
            "[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"stop\"\nrun = [\"sh\", \"-c\", \"echo stop >> {log}\"]\n"
        ),
    ]
    .concat();
    let config = f.config(9, drill_env, &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;
    let runner = f.runner(&config, &yes);
    let err = keepup_recovery::drill(&runner, plan).unwrap_err();
    assert!(matches!(err, EngineError::Store(_)), "{err}");
    let run = f.store.dr_runs(Some("shop-dr"), 1).unwrap().remove(0);
    // Not left `running` under this (live) process: failed, saying why and
    // what next, still holding the plan for the cleanup.
    assert_eq!(run.state, DrRunState::Failed, "{}", run.message);
    assert!(run.message.starts_with("drill stopped:"), "{}", run.message);
    assert!(
        run.message
            .contains(&format!("keepup dr resume {}", run.id)),
        "{}",
        run.message
    );
    assert!(matches!(
        keepup_recovery::drill(&runner, plan),
        Err(EngineError::Locked { .. })
    ));
    let repaired = std::process::Command::new("sqlite3")
        .args([&db, "ALTER TABLE dr_step_gone RENAME TO dr_step"])
        .status()
        .unwrap();
    assert!(repaired.success());
    let report = resume(&runner, run.id).unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    assert_eq!(read(&log), "stop\n");
    assert_eq!(f.store.dr_run(run.id).unwrap().unwrap().holder_pid, None);
}

#[test]
fn a_drill_held_by_a_live_process_is_aborted_and_stops_before_its_next_step() {
    let f = Fixture::new();
    let log = f.path("log");
    let started = f.path("started");
    let go = f.path("go");
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    let steps = [
        drilled_command(
            "first",
            &format!("touch {started}; while [ ! -e {go} ]; do sleep 0.05; done"),
        ),
        drilled_command("second", &format!("echo second >> {log}")),
        format!(
            "[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"stop\"\nrun = [\"sh\", \"-c\", \"echo stop >> {log}\"]\n"
        ),
    ]
    .concat();
    let config = f.config(9, drill_env, &steps);
    let plan = config.recovery_plan("shop-dr").unwrap();
    let yes = Confirmation::AssumeYes;

    // A drill held by another live process (the daemon): abort takes it
    // off the plan instead of refusing with "still alive".
    let mut holder = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let held = f
        .store
        .dr_begin(
            "shop-dr",
            DrRunKind::Drill,
            START,
            "keepup run",
            holder.id(),
        )
        .unwrap()
        .unwrap();
    let aborted = abort(&config, &f.store, held, START + 1, "test");
    holder.kill().unwrap();
    holder.wait().unwrap();
    aborted.unwrap();
    let r = f.store.dr_run(held).unwrap().unwrap();
    assert_eq!((r.state, r.holder_pid), (DrRunState::Aborted, None));

    // A drill running here sees the abort before its next step, skips the
    // rest and cleans up.
    let report = std::thread::scope(|s| {
        let drilling = s.spawn(|| keepup_recovery::drill(&f.runner(&config, &yes), plan));
        while !Path::new(&started).exists() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let run = f.store.dr_runs(Some("shop-dr"), 1).unwrap().remove(0);
        abort(&config, &f.store, run.id, START + 2, "test").unwrap();
        std::fs::write(&go, "").unwrap();
        drilling.join().unwrap().unwrap()
    });
    assert_eq!(read(&log), "stop\n", "the second step never ran");
    assert!(
        report.message.contains("aborted by test"),
        "{}",
        report.message
    );
    let r = f.store.dr_run(report.run).unwrap().unwrap();
    assert_eq!((r.state, r.holder_pid), (DrRunState::Aborted, None));
}

/// A drill died during its cleanup; then the plan gained a step where the
/// journal has a cleanup row, or a step changed kind under the same name:
/// resuming would take the journal's rows for steps that never ran, so it
/// is refused, saying to abort and start again.
#[test]
fn a_run_whose_plan_changed_is_not_resumed() {
    let f = Fixture::new();
    let log = f.path("log");
    let drill_env = "[recovery.drill]\naddresses = [\"127.0.0.30\"]\n";
    let first = drilled_command("first", &format!("echo first >> {log}"));
    let added = drilled_command("added", &format!("echo added >> {log}"));
    let cleanup = format!(
        "[[recovery.drill_cleanup]]\nkind = \"command\"\nname = \"stop\"\nrun = [\"sh\", \"-c\", \"echo stop >> {log}\"]\n"
    );
    let run = f
        .store
        .dr_begin("shop-dr", DrRunKind::Drill, START, "cron", 0)
        .unwrap()
        .unwrap();
    for (i, name, kind) in [(0, "first", "command"), (1, "cleanup: stop", "cleanup")] {
        f.store.dr_step_started(run, i, name, kind, START).unwrap();
        f.store
            .dr_step_ended(run, i, START, DrStepOutcome::Succeeded, "")
            .unwrap();
    }
    let yes = Confirmation::AssumeYes;
    let grown = f.config(
        9,
        drill_env,
        &[first.clone(), added, cleanup.clone()].concat(),
    );
    let e = resume(&f.runner(&grown, &yes), run)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("its steps changed since run 1 started (step 2 was the cleanup \"cleanup: stop\", is now \"added\")")
            && e.contains("keepup dr abort 1"),
        "{e}"
    );
    let rekinded = f.config(
        9,
        drill_env,
        &[
            "[[recovery.activate]]\nkind = \"confirm\"\nname = \"first\"\n".to_string(),
            cleanup.clone(),
        ]
        .concat(),
    );
    let e = resume(&f.runner(&rekinded, &yes), run)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("step 1 was \"first\" (command), is now \"first\" (confirm)"),
        "{e}"
    );
    assert_eq!(read(&log), "", "nothing ran");
    // The same plan resumes: its cleanup runs again.
    let same = f.config(9, drill_env, &[first, cleanup].concat());
    let report = resume(&f.runner(&same, &yes), run).unwrap();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    assert_eq!(read(&log), "stop\n");
}
