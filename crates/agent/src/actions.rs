//! Actions: commands the agent was started with (`keepup agent --action
//! NAME=COMMAND`, e.g. `restart-php=systemctl restart php8.2-fpm`) that
//! the central keepup may ask it to run, by name. The central never sends
//! a command: a name the agent was not started with is refused and
//! reported, never run (a central that could send commands would be a
//! remote shell on every host).
//!
//! Each request carries an id, its idempotency key: the [`Runner`] runs an
//! id at most once and answers the same outcome every time it is asked
//! again (the central asks until it has the outcome, so a lost answer
//! costs nothing). The ids and outcomes are kept on disk next to the
//! report backlog (`actions.json`, the newest [`REMEMBERED`]), written
//! before a run starts, so an agent restarted mid-run answers
//! "interrupted" for it instead of running it twice.
//!
//! A command runs as plugins do, through keepup-process: an argument list
//! (no shell; the same splitting rules as `--plugin`), in `/`, in a
//! process group of its own, stdin closed, with only a fixed `PATH` and
//! `LANG=C` of the environment (nothing of the agent's), the whole group
//! killed at the timeout (the request's, capped by `--action-timeout`).
//! Its output is read up to 1 MiB (beyond, it is stopped), and the first
//! [`MAX_ACTION_OUTPUT_BYTES`] (standard output, then standard error) go
//! into its outcome. Runs go one at a time, in the order asked.
//!
//! A command that leaves a daemon behind (a restart not done through
//! systemd) must detach it from its output (`setsid`, output to a file):
//! the run ends when its output closes.
//!
//! Not here: how requests arrive and outcomes leave (push: [`crate::push`];
//! pull: the agent's listener, `keepup_web::agent::pull_router`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keepup_model::host::{
    ActionOutcome, ActionRequest, MAX_ACTION_ERROR_BYTES, MAX_ACTION_OUTPUT_BYTES,
    MAX_ACTIONS_PER_EXCHANGE, valid_action_id,
};
use keepup_model::{Clock, Timestamp};
use serde::{Deserialize, Serialize};

use crate::backlog::write_durably;
use crate::plugins::{command_words, cut, named_option};

/// At most this many `--action`s.
pub const MAX_ACTIONS: usize = 32;

/// The newest this many requests are remembered (ids and outcomes).
pub const REMEMBERED: usize = 128;

/// At most this many runs queued or running at once; a request past it is
/// left for a later exchange (the central asks again).
pub const MAX_QUEUED: usize = 32;

/// The ledger's file in the state directory.
const LEDGER: &str = "actions.json";

/// A ledger larger than this is not ours: refused.
const MAX_LEDGER_BYTES: u64 = 4 << 20;

/// Standard output beyond this stops the command; standard error beyond
/// its cap is drained and dropped.
const CAPS: keepup_process::Caps = keepup_process::Caps {
    stdout: 1 << 20,
    stderr: 64 * 1024,
};

/// One configured action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// The name the central asks for.
    pub name: String,
    /// The program: a path, or a bare name found on the fixed `PATH`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Action {
    /// `NAME=COMMAND`, split as a `--plugin`'s command is.
    pub fn parse(text: &str) -> Result<Action, String> {
        let (name, command) = named_option("--action", text, "COMMAND")?;
        let mut words = command_words("--action", text, command)?.into_iter();
        Ok(Action {
            name: name.to_owned(),
            program: PathBuf::from(words.next().unwrap_or_default()),
            args: words.collect(),
        })
    }

    /// The command line, for messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The `--action` options, each parsed, no name twice, at most
/// [`MAX_ACTIONS`].
pub fn from_args(args: &[String]) -> Result<Vec<Action>, String> {
    let mut actions: Vec<Action> = Vec::new();
    for text in args {
        let action = Action::parse(text)?;
        if actions.iter().any(|a| a.name == action.name) {
            return Err(format!("--action {:?} is given twice", action.name));
        }
        actions.push(action);
    }
    if actions.len() > MAX_ACTIONS {
        return Err(format!(
            "{} --action options; at most {MAX_ACTIONS}",
            actions.len()
        ));
    }
    Ok(actions)
}

/// A remembered request: asked, and its outcome once it has one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    id: String,
    action: String,
    asked: Timestamp,
    outcome: Option<ActionOutcome>,
}

#[derive(Default)]
struct Ledger {
    /// Oldest first.
    entries: Vec<Entry>,
    /// Ids queued or running in this process.
    running: HashSet<String>,
}

impl Ledger {
    /// Forgets the oldest entries past [`REMEMBERED`], never one queued or
    /// running.
    fn trim(&mut self) {
        let mut excess = self.entries.len().saturating_sub(REMEMBERED);
        let running = &self.running;
        self.entries.retain(|e| {
            if excess > 0 && !running.contains(&e.id) {
                excess -= 1;
                return false;
            }
            true
        });
    }
}

/// Runs the agent's actions when asked, each id at most once.
pub struct Runner {
    actions: Vec<Action>,
    max_timeout: Duration,
    path: PathBuf,
    ledger: Mutex<Ledger>,
    /// Held by the run in progress: one at a time.
    turn: tokio::sync::Mutex<()>,
    finished: tokio::sync::Notify,
    clock: Arc<dyn Clock>,
}

fn lock(m: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Runner {
    /// A runner of `actions`, each run at most `max_timeout` long,
    /// remembering its requests in `state_dir` (created, private to the
    /// agent's user).
    pub fn open(
        actions: Vec<Action>,
        max_timeout: Duration,
        state_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Runner>, String> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .map_err(|e| format!("cannot create {}: {e}", state_dir.display()))?;
        let path = state_dir.join(LEDGER);
        // An agent started without actions runs nothing, so it has no
        // ledger to honour: a damaged one must not stop its measuring.
        let entries = match std::fs::metadata(&path) {
            _ if actions.is_empty() => Vec::new(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            Ok(m) if m.len() > MAX_LEDGER_BYTES => {
                return Err(format!(
                    "{} is {} bytes, more than an action ledger holds: move it aside",
                    path.display(),
                    m.len()
                ));
            }
            Ok(_) => {
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_json::from_slice::<Vec<Entry>>(&bytes).map_err(|e| {
                    format!(
                        "{} is not an action ledger ({e}): move it aside (the requests it remembers may then run again)",
                        path.display()
                    )
                })?
            }
        };
        Ok(Arc::new(Runner {
            actions,
            max_timeout,
            path,
            ledger: Mutex::new(Ledger {
                entries,
                running: HashSet::new(),
            }),
            turn: tokio::sync::Mutex::new(()),
            finished: tokio::sync::Notify::new(),
            clock,
        }))
    }

    /// The actions configured.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Takes the central's requests (at most [`MAX_ACTIONS_PER_EXCHANGE`]
    /// are looked at): answers the outcome of each one that has one (run
    /// before, or refused now), and queues each new one of a configured
    /// action, remembered on disk first; its outcome is answered when
    /// asked again once it ran ([`Runner::finished`] says when). Must be
    /// called on a Tokio runtime (runs are spawned on it).
    pub fn take(self: &Arc<Self>, requests: &[ActionRequest]) -> Vec<ActionOutcome> {
        let now = self.clock.now_ms();
        let mut answers = Vec::new();
        let mut start = Vec::new();
        let mut ledger = lock(&self.ledger);
        let mut changed = false;
        for r in requests.iter().take(MAX_ACTIONS_PER_EXCHANGE) {
            if !valid_action_id(&r.id) {
                // Not remembered: the central never files such an id.
                answers.push(refused(r, now, "a malformed request id".into()));
                continue;
            }
            let running = ledger.running.contains(&r.id);
            if let Some(e) = ledger.entries.iter_mut().find(|e| e.id == r.id) {
                match &e.outcome {
                    Some(o) => answers.push(o.clone()),
                    None if running => {}
                    None => {
                        // Remembered as started, but not by this process.
                        let o = ActionOutcome {
                            id: e.id.clone(),
                            action: e.action.clone(),
                            started: e.asked,
                            error: Some(
                                "the agent stopped while this action was queued or running; its outcome is unknown and it is not run again".into(),
                            ),
                            ..ActionOutcome::default()
                        };
                        e.outcome = Some(o.clone());
                        answers.push(o);
                        changed = true;
                    }
                }
                continue;
            }
            let Some(action) = self.actions.iter().find(|a| a.name == r.action) else {
                let why = format!(
                    "this agent has no action {:?} ({}); it runs only the actions it was started with (--action NAME=COMMAND)",
                    r.action,
                    if self.actions.is_empty() {
                        "it was started with none".to_owned()
                    } else {
                        format!(
                            "it has {}",
                            self.actions
                                .iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
                tracing::warn!(id = %r.id, action = %r.action, "refused a request for an action this agent was not started with");
                let o = refused(r, now, why);
                ledger.entries.push(Entry {
                    id: r.id.clone(),
                    action: r.action.clone(),
                    asked: now,
                    outcome: Some(o.clone()),
                });
                answers.push(o);
                changed = true;
                continue;
            };
            if ledger.running.len() >= MAX_QUEUED {
                continue;
            }
            ledger.entries.push(Entry {
                id: r.id.clone(),
                action: r.action.clone(),
                asked: now,
                outcome: None,
            });
            ledger.running.insert(r.id.clone());
            start.push((action.clone(), r.clone()));
            changed = true;
        }
        if changed {
            ledger.trim();
            if let Err(e) = self.save(&ledger) {
                // Not on disk: a restart could run them twice, so none
                // starts; answered as not run (the central records it).
                tracing::error!(error = %e, "cannot remember action requests on disk; not running them");
                for (_, r) in start.drain(..) {
                    ledger.running.remove(&r.id);
                    ledger.entries.retain(|e| e.id != r.id);
                    let why =
                        format!("the agent cannot remember the request on disk ({e}); not run");
                    answers.push(refused(&r, now, why));
                }
            }
        }
        drop(ledger);
        for (action, request) in start {
            let runner = Arc::clone(self);
            tokio::spawn(async move { runner.run(action, request).await });
        }
        answers
    }

    /// Resolves when a run has finished since the last call (its outcome
    /// is ready to be answered).
    pub async fn finished(&self) {
        self.finished.notified().await;
    }

    /// Whether runs are queued or running.
    pub fn busy(&self) -> bool {
        !lock(&self.ledger).running.is_empty()
    }

    async fn run(self: Arc<Self>, action: Action, request: ActionRequest) {
        let turn = self.turn.lock().await;
        let timeout = match request.timeout_ms {
            0 => self.max_timeout,
            ms => Duration::from_millis(ms).min(self.max_timeout),
        };
        let started = self.clock.now_ms();
        let clock = Instant::now();
        let mut cmd = keepup_process::bare(&action.program);
        cmd.args(&action.args);
        let ran = keepup_process::run(cmd, CAPS, Some(timeout)).await;
        let mut o = ActionOutcome {
            id: request.id.clone(),
            action: action.name.clone(),
            started,
            ..ActionOutcome::default()
        };
        match ran {
            Err(e) => {
                o.error = Some(format!("cannot start {}: {e}", action.program.display()));
            }
            Ok(f) => {
                o.output = output(&f.stdout, &f.stderr);
                match f.ended {
                    keepup_process::Ended::Exited(status) => {
                        use std::os::unix::process::ExitStatusExt;
                        o.exit_code = status.code();
                        if let Some(signal) = status.signal() {
                            o.error = Some(format!("ended by signal {signal}"));
                        }
                    }
                    keepup_process::Ended::TooMuchOutput => {
                        o.error = Some(format!(
                            "wrote more than {} KiB of output; its process group was stopped",
                            CAPS.stdout / 1024
                        ));
                    }
                    keepup_process::Ended::TimedOut => {
                        o.timed_out = true;
                        o.error = Some(format!(
                            "ran past its timeout of {}; its process group was killed",
                            keepup_model::text::duration_words(timeout)
                        ));
                    }
                }
            }
        }
        o.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
        o.fit();
        drop(turn);
        tracing::info!(
            id = %o.id,
            action = %o.action,
            command = %action.command_line(),
            exit_code = ?o.exit_code,
            timed_out = o.timed_out,
            duration_ms = o.duration_ms,
            "action ran"
        );
        {
            let mut ledger = lock(&self.ledger);
            ledger.running.remove(&o.id);
            if let Some(e) = ledger.entries.iter_mut().find(|e| e.id == o.id) {
                e.outcome = Some(o);
            }
            ledger.trim();
            if let Err(e) = self.save(&ledger) {
                // Kept in memory: answered until the agent restarts.
                tracing::error!(error = %e, "cannot write an action's outcome to disk");
            }
        }
        self.finished.notify_one();
    }

    fn save(&self, ledger: &Ledger) -> Result<(), String> {
        let bytes = serde_json::to_vec(&ledger.entries).map_err(|e| e.to_string())?;
        write_durably(&self.path, &bytes).map_err(|e| e.to_string())
    }
}

/// A request answered without running anything.
fn refused(r: &ActionRequest, now: Timestamp, why: String) -> ActionOutcome {
    ActionOutcome {
        id: cut_str(&r.id, keepup_model::host::MAX_ACTION_ID_BYTES),
        action: cut_str(&r.action, 64),
        started: now,
        refused: true,
        error: Some(cut_str(&why, MAX_ACTION_ERROR_BYTES)),
        ..ActionOutcome::default()
    }
}

fn cut_str(text: &str, max: usize) -> String {
    cut(text.as_bytes(), max)
}

/// Standard output then standard error, together at most
/// [`MAX_ACTION_OUTPUT_BYTES`]; standard error keeps at least a quarter
/// (it says why a command failed).
fn output(stdout: &[u8], stderr: &[u8]) -> String {
    let err = cut(stderr, MAX_ACTION_OUTPUT_BYTES / 4);
    let room = MAX_ACTION_OUTPUT_BYTES - err.len() - usize::from(!err.is_empty());
    let mut text = cut(stdout, room);
    if !err.is_empty() {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&err);
    }
    text.truncate(MAX_ACTION_OUTPUT_BYTES.min(text.len()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_action_is_a_name_and_words_like_a_plugin() {
        let a = Action::parse("restart-php=systemctl restart php8.2-fpm").unwrap();
        assert_eq!(a.name, "restart-php");
        assert_eq!(a.program, PathBuf::from("systemctl"));
        assert_eq!(a.args, ["restart", "php8.2-fpm"]);
        for bad in [
            "restart",
            "Restart=x",
            "r=",
            "r=sh -c 'kill 1'",
            "r=rm $HOME",
            "r=a`b`",
        ] {
            assert!(Action::parse(bad).is_err(), "{bad}");
        }
        let twice = from_args(&["a=true".into(), "a=false".into()]);
        assert_eq!(twice.unwrap_err(), "--action \"a\" is given twice");
    }

    fn request(id: &str, action: &str) -> ActionRequest {
        ActionRequest {
            id: id.into(),
            action: action.into(),
            timeout_ms: 0,
        }
    }

    /// The runner as the agent uses it, on real commands: an id runs once
    /// however often it is asked, before and after a restart; an unknown
    /// name runs nothing; a run the agent was stopped in is not run again.
    #[tokio::test]
    async fn an_id_runs_once_and_an_unknown_name_never() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        std::fs::write(
            dir.path().join("count.sh"),
            format!("echo ran >> {}\necho done\n", count.display()),
        )
        .unwrap();
        let actions = from_args(&[
            format!("count=/bin/sh {}/count.sh", dir.path().display()),
            "slow=/bin/sleep 30".into(),
        ])
        .unwrap();
        let state = dir.path().join("state");
        let clock: Arc<dyn Clock> = Arc::new(keepup_model::SystemClock);
        let open = || {
            Runner::open(
                actions.clone(),
                Duration::from_secs(10),
                &state,
                clock.clone(),
            )
            .unwrap()
        };
        let runner = open();
        let runs = || {
            std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count()
        };

        let a = request("a", "count");
        assert_eq!(runner.take(std::slice::from_ref(&a)), [], "queued");
        assert_eq!(
            runner.take(std::slice::from_ref(&a)),
            [],
            "still queued: not twice"
        );
        assert!(runner.busy());
        runner.finished().await;
        let done = runner.take(std::slice::from_ref(&a));
        assert_eq!(done.len(), 1);
        assert!(done[0].succeeded(), "{:?}", done[0]);
        assert_eq!(done[0].output, "done\n");
        assert_eq!(
            runner.take(std::slice::from_ref(&a)),
            done,
            "the same again"
        );
        assert_eq!(runs(), 1);

        let unknown = runner.take(&[request("b", "rm-rf")]);
        assert!(unknown[0].refused, "{unknown:?}");
        let why = unknown[0].error.clone().unwrap_or_default();
        assert!(
            why.contains("no action \"rm-rf\"") && why.contains("count, slow"),
            "{why}"
        );
        let bad = runner.take(&[request("a b", "count")]);
        assert!(bad[0].refused && runs() == 1, "{bad:?}");

        // Restarted: the ids are remembered.
        drop(runner);
        let runner = open();
        assert_eq!(runner.take(std::slice::from_ref(&a)), done);
        assert_eq!(
            runner.take(&[request("b", "count")]),
            unknown,
            "refused for good"
        );
        assert_eq!(runs(), 1);

        // Stopped with a run queued (its task never ran): the next agent
        // answers "unknown" instead of running it.
        let c = request("c", "slow");
        assert_eq!(runner.take(std::slice::from_ref(&c)), []);
        let after = open();
        let lost = after.take(std::slice::from_ref(&c));
        assert!(!lost[0].refused && lost[0].exit_code.is_none(), "{lost:?}");
        assert!(
            lost[0]
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("not run again")
        );
    }

    /// More requests than are remembered: the oldest answered ones are
    /// forgotten, the ledger stays bounded.
    #[tokio::test]
    async fn the_ledger_keeps_the_newest_requests() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(keepup_model::SystemClock);
        let runner = Runner::open(Vec::new(), Duration::from_secs(1), dir.path(), clock).unwrap();
        for i in 0..REMEMBERED + 10 {
            let o = runner.take(&[request(&format!("r{i}"), "none")]);
            assert!(o[0].refused);
        }
        let ledger: Vec<Entry> =
            serde_json::from_slice(&std::fs::read(dir.path().join(LEDGER)).unwrap()).unwrap();
        assert_eq!(ledger.len(), REMEMBERED);
        assert_eq!(ledger[0].id, "r10", "the oldest went");
    }

    #[test]
    fn a_damaged_ledger_stops_only_an_agent_that_runs_actions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEDGER), b"not json").unwrap();
        let clock: Arc<dyn Clock> = Arc::new(keepup_model::SystemClock);
        let open =
            |actions| Runner::open(actions, Duration::from_secs(1), dir.path(), clock.clone());
        assert!(open(Vec::new()).is_ok());
        let restart = Action::parse("restart=systemctl restart php-fpm").unwrap();
        let err = open(vec![restart]).err().expect("a damaged ledger refused");
        assert!(err.contains("is not an action ledger"), "{err}");
    }

    #[test]
    fn output_keeps_room_for_standard_error() {
        let out = output(&vec![b'o'; 10_000], b"failed: no such unit\n");
        assert!(out.len() <= MAX_ACTION_OUTPUT_BYTES, "{}", out.len());
        assert!(out.ends_with("failed: no such unit\n"), "{out}");
        assert_eq!(output(b"ok\n", b""), "ok\n");
        assert_eq!(output(b"ok", b"warn"), "ok\nwarn");
    }
}
