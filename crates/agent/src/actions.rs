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
//! report backlog (`actions.json`), and a run starts only once its entry
//! is there and its outcome is answered only once it is there too
//! (written off the runtime thread, through `spawn_blocking`), so
//! an agent restarted mid-run answers "interrupted" for it instead of
//! running it twice.
//!
//! The ledger's rules (each bounds it; together under 5 MB on disk):
//! * an entry whose outcome the central has not acknowledged is kept until
//!   [`RETAIN`] (24 h) past the moment the central gives up on it
//!   (`not_after` + the timeout; the central never sends it again after
//!   that); acknowledged ones are kept [`RETAIN`] after they were asked
//!   (the last run of each action is needed for `--action-min-interval`);
//! * at most [`MAX_RUNS`] runs: past it the oldest acknowledged ones go
//!   first, and when none may go a new request is refused (never run
//!   without being remembered);
//! * at most [`MAX_REFUSALS`] refusals, kept apart so a flood of refused
//!   requests never pushes a run's outcome out; past it the oldest go
//!   (acknowledged first). A forgotten refusal is judged again if asked
//!   again; the central records only the first outcome of an id.
//!
//! The central acknowledges outcomes: push mode by its success answer to
//! the exchange that carried them, pull mode by naming them in its next
//! requests ([`ActionRequests::acked`]).
//!
//! Guard rails of the agent's own, whatever the central asks: a request
//! for an action that ran (or was queued) less than `--action-min-interval`
//! ago is refused ("ran 12 s ago; this agent allows one run per 60 s");
//! a request whose start would be past its `not_after` (the central has
//! given it up by then) is refused as too late to start, checked when it
//! arrives and again when its turn comes.
//!
//! A command runs as plugins do, through keepup-process: an argument list
//! (no shell; the same splitting rules as `--plugin`), in `/`, in a
//! process group of its own, stdin closed, with only a fixed `PATH` and
//! `LANG=C` of the environment (nothing of the agent's, so no token), the
//! whole group killed at the timeout (the request's, capped by
//! `--action-timeout`). Its output is read up to 1 MiB (beyond, it is
//! stopped), and the first [`MAX_ACTION_OUTPUT_BYTES`] (standard output,
//! then standard error) go into its outcome. Runs go one at a time, in the
//! order asked.
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
    ActionOutcome, ActionRequest, ActionRequests, MAX_ACTION_ERROR_BYTES, MAX_ACTION_OUTPUT_BYTES,
    MAX_ACTIONS_PER_EXCHANGE, valid_action_id,
};
use keepup_model::{Clock, Timestamp};
use serde::{Deserialize, Serialize};

use crate::backlog::write_durably;
use crate::plugins::{command_words, cut, named_option};

/// At most this many `--action`s.
pub const MAX_ACTIONS: usize = 32;

/// How long past the central's giving up an unacknowledged entry is
/// kept, and how long after it was asked an acknowledged one is: 24 h,
/// well past the longest the central waits for an outcome (an
/// `[[action]]`'s timeout, at most 6 h, plus the 2 min it gives an agent
/// to take a request) and any clock difference worth running with.
pub const RETAIN: Duration = Duration::from_secs(24 * 3600);

/// At most this many runs are remembered (queued, running or ended).
pub const MAX_RUNS: usize = 128;

/// At most this many refusals are remembered, apart from the runs.
pub const MAX_REFUSALS: usize = 128;

/// At most this many runs queued or running at once; a request past it is
/// left for a later exchange (the central asks again).
pub const MAX_QUEUED: usize = 32;

/// `--action-min-interval`'s default: one run of each action per minute.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(60);

/// The ledger's file in the state directory.
const LEDGER: &str = "actions.json";

/// A ledger larger than this is not ours: refused. The bounds above keep
/// it under 5 MB even with every output byte escaped in JSON (6 bytes).
const MAX_LEDGER_BYTES: u64 = 8 << 20;

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

/// The runner's own bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest a run may take (`--action-timeout`); a request may ask
    /// for less.
    pub max_timeout: Duration,
    /// Runs of one action start at least this far apart
    /// (`--action-min-interval`; at most [`RETAIN`], zero for none).
    pub min_interval: Duration,
}

/// A remembered request: asked, and its outcome once it has one.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    id: String,
    action: String,
    asked: Timestamp,
    outcome: Option<ActionOutcome>,
    /// The request's last start (the central's clock), if it had one.
    #[serde(default)]
    not_after: Option<Timestamp>,
    /// The request's timeout, ms.
    #[serde(default)]
    timeout_ms: u64,
    /// The central recorded the outcome.
    #[serde(default)]
    acked: bool,
}

impl Entry {
    fn refusal(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.refused)
    }

    /// When it may be forgotten whatever else holds: [`RETAIN`] after it
    /// was asked (acknowledged), or after the central gave up on it.
    fn forget_at(&self) -> Timestamp {
        let retain = RETAIN.as_millis() as i64;
        if self.acked {
            return self.asked.saturating_add(retain);
        }
        let timeout = i64::try_from(self.timeout_ms).unwrap_or(i64::MAX);
        self.not_after
            .unwrap_or(self.asked)
            .max(self.asked)
            .saturating_add(timeout)
            .saturating_add(retain)
    }
}

#[derive(Default)]
struct Ledger {
    /// Oldest first.
    entries: Vec<Entry>,
    /// Ids queued or running in this process.
    running: HashSet<String>,
}

impl Ledger {
    /// Applies the rules of the module doc at `now`; never forgets one
    /// queued or running.
    fn trim(&mut self, now: Timestamp) {
        let running = &self.running;
        self.entries
            .retain(|e| running.contains(&e.id) || now <= e.forget_at());
        let refusals = self.entries.iter().filter(|e| e.refusal()).count();
        // Acknowledged refusals go first, then the oldest.
        self.forget_oldest(refusals.saturating_sub(MAX_REFUSALS), |e| {
            e.refusal() && e.acked
        });
        let refusals = self.entries.iter().filter(|e| e.refusal()).count();
        self.forget_oldest(refusals.saturating_sub(MAX_REFUSALS), Entry::refusal);
        let runs = self.entries.len() - self.entries.iter().filter(|e| e.refusal()).count();
        self.forget_oldest(runs.saturating_sub(MAX_RUNS), |e| !e.refusal() && e.acked);
    }

    /// Forgets the `n` oldest entries that `which` picks, never one queued
    /// or running.
    fn forget_oldest(&mut self, mut n: usize, which: impl Fn(&Entry) -> bool) {
        let running = &self.running;
        self.entries.retain(|e| {
            if n > 0 && which(e) && !running.contains(&e.id) {
                n -= 1;
                return false;
            }
            true
        });
    }

    /// Runs remembered that may not be forgotten yet (unacknowledged).
    fn runs_held(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| !e.refusal() && !e.acked)
            .count()
    }

    /// The last start of `action`: (when, the id) of its latest run, or
    /// of one queued or running (then `true`).
    fn last_start(&self, action: &str) -> Option<(Timestamp, &str, bool)> {
        self.entries
            .iter()
            .filter(|e| e.action == action && !e.refusal())
            .map(|e| match &e.outcome {
                Some(o) => (o.started.max(e.asked), e.id.as_str(), false),
                None => (e.asked, e.id.as_str(), self.running.contains(&e.id)),
            })
            .max_by_key(|(at, _, queued)| (*queued, *at))
    }
}

/// Runs the agent's actions when asked, each id at most once.
pub struct Runner {
    actions: Vec<Action>,
    limits: Limits,
    path: PathBuf,
    ledger: Mutex<Ledger>,
    /// Held while the ledger is written: one write at a time, each of the
    /// ledger as it stands when its turn comes.
    saving: tokio::sync::Mutex<()>,
    /// Held by the run in progress: one at a time.
    turn: tokio::sync::Mutex<()>,
    finished: tokio::sync::Notify,
    clock: Arc<dyn Clock>,
}

fn lock(m: &Mutex<Ledger>) -> std::sync::MutexGuard<'_, Ledger> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Runner {
    /// A runner of `actions`, each run at most `max_timeout` long, runs of
    /// one action [`DEFAULT_MIN_INTERVAL`] apart, remembering its requests
    /// in `state_dir` (see [`Runner::open_with`]).
    pub fn open(
        actions: Vec<Action>,
        max_timeout: Duration,
        state_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Runner>, String> {
        let limits = Limits {
            max_timeout,
            min_interval: DEFAULT_MIN_INTERVAL,
        };
        Self::open_with(actions, limits, state_dir, clock)
    }

    /// A runner of `actions` within `limits`, remembering its requests in
    /// `state_dir` (created, private to the agent's user).
    pub fn open_with(
        actions: Vec<Action>,
        limits: Limits,
        state_dir: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<Runner>, String> {
        use std::os::unix::fs::DirBuilderExt;
        if limits.min_interval > RETAIN {
            return Err(format!(
                "--action-min-interval is at most {} h (the ledger remembers runs that long)",
                RETAIN.as_secs() / 3600
            ));
        }
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
        let mut ledger = Ledger {
            entries,
            running: HashSet::new(),
        };
        ledger.trim(clock.now_ms());
        Ok(Arc::new(Runner {
            actions,
            limits,
            path,
            ledger: Mutex::new(ledger),
            saving: tokio::sync::Mutex::new(()),
            turn: tokio::sync::Mutex::new(()),
            finished: tokio::sync::Notify::new(),
            clock,
        }))
    }

    /// The actions configured.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// Takes an exchange from the central: its acknowledgements
    /// ([`Runner::acknowledge`]), then its requests ([`Runner::take`]).
    pub fn take_exchange(self: &Arc<Self>, asked: &ActionRequests) -> Vec<ActionOutcome> {
        self.acknowledge(&asked.acked);
        let Some(sent_at) = asked.sent_at else {
            return self.take(&asked.requests);
        };
        // `not_after` is on the central's clock: moved onto ours.
        let skew = self.clock.now_ms().saturating_sub(sent_at);
        let ours: Vec<ActionRequest> = asked
            .requests
            .iter()
            .take(MAX_ACTIONS_PER_EXCHANGE)
            .map(|r| ActionRequest {
                not_after: r.not_after.map(|t| t.saturating_add(skew)),
                ..r.clone()
            })
            .collect();
        self.take(&ours)
    }

    /// Takes the central's requests (at most [`MAX_ACTIONS_PER_EXCHANGE`]
    /// are looked at): answers the outcome of each one that has one (run
    /// before, or refused now), and queues each new one of a configured
    /// action, its run started once it is remembered on disk; its outcome
    /// is answered when asked again once it ran ([`Runner::finished`] says
    /// when). Answers at once, from memory: the disk is written on a
    /// blocking thread. Must be called on a Tokio runtime (the writes and
    /// runs are spawned on it).
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
                    // Queued, running, or its outcome not yet on disk.
                    _ if running => {}
                    Some(o) => answers.push(o.clone()),
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
            let judged = match self.actions.iter().find(|a| a.name == r.action) {
                None => Err(self.unknown(r)),
                Some(action) => match self.guard(&ledger, r, now) {
                    Err(why) => Err(why),
                    Ok(()) if ledger.running.len() >= MAX_QUEUED => continue,
                    Ok(()) => Ok(action),
                },
            };
            let mut entry = Entry {
                id: r.id.clone(),
                action: r.action.clone(),
                asked: now,
                outcome: None,
                not_after: r.not_after,
                timeout_ms: r.timeout_ms,
                acked: false,
            };
            changed = true;
            match judged {
                Err(why) => {
                    tracing::warn!(id = %r.id, action = %r.action, reason = %why, "refused an action request");
                    let o = refused(r, now, why);
                    entry.outcome = Some(o.clone());
                    ledger.entries.push(entry);
                    answers.push(o);
                }
                Ok(action) => {
                    ledger.entries.push(entry);
                    ledger.running.insert(r.id.clone());
                    start.push((action.clone(), r.clone()));
                }
            }
        }
        if changed {
            ledger.trim(now);
        }
        drop(ledger);
        if changed {
            let runner = Arc::clone(self);
            tokio::spawn(async move {
                let saved = runner.save().await;
                if let Err(e) = &saved {
                    tracing::error!(error = %e, "cannot remember action requests on disk; not running them");
                }
                for (action, request) in start {
                    match &saved {
                        Ok(()) => {
                            let runner = Arc::clone(&runner);
                            tokio::spawn(async move { runner.run(action, request).await });
                        }
                        // Not on disk: a restart could run them twice, so
                        // none starts; answered as not run.
                        Err(e) => {
                            let why = format!(
                                "the agent cannot remember the request on disk ({e}); not run"
                            );
                            runner
                                .end(refused(&request, runner.clock.now_ms(), why))
                                .await;
                        }
                    }
                }
            });
        }
        answers
    }

    /// Marks the outcomes of `ids` as recorded by the central (at most
    /// [`MAX_ACTIONS_PER_EXCHANGE`] are looked at): they may be
    /// forgotten by the ledger's rules. Ids without an outcome here are
    /// ignored. Must be called on a Tokio runtime.
    pub fn acknowledge(self: &Arc<Self>, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let now = self.clock.now_ms();
        let mut changed = false;
        {
            let mut ledger = lock(&self.ledger);
            for id in ids.iter().take(MAX_ACTIONS_PER_EXCHANGE) {
                if let Some(e) = ledger
                    .entries
                    .iter_mut()
                    .find(|e| &e.id == id && e.outcome.is_some() && !e.acked)
                {
                    e.acked = true;
                    changed = true;
                }
            }
            if changed {
                ledger.trim(now);
            }
        }
        if changed {
            let runner = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(e) = runner.save().await {
                    tracing::warn!(error = %e, "cannot write the action ledger");
                }
            });
        }
    }

    /// Why this agent refuses `r` for an action it has, if it does: too
    /// late to start, too soon after the last run, too many outcomes the
    /// central has not acknowledged.
    fn guard(&self, ledger: &Ledger, r: &ActionRequest, now: Timestamp) -> Result<(), String> {
        too_late(r, now)?;
        let min = self.limits.min_interval;
        if !min.is_zero()
            && let Some((at, id, queued)) = ledger.last_start(&r.action)
        {
            if queued {
                return Err(format!(
                    "a run of {:?} is queued or running (request {id}); this agent allows one run per {} s",
                    r.action,
                    min.as_secs()
                ));
            }
            let ago = now.saturating_sub(at);
            if ago < ms(min) {
                return Err(format!(
                    "{:?} ran {} s ago; this agent allows one run per {} s (--action-min-interval)",
                    r.action,
                    ago.max(0) / 1000,
                    min.as_secs()
                ));
            }
        }
        if ledger.runs_held() >= MAX_RUNS {
            return Err(format!(
                "this agent holds {MAX_RUNS} outcomes the central keepup has not acknowledged; it runs nothing more until it does"
            ));
        }
        Ok(())
    }

    /// The refusal of an action this agent was not started with.
    fn unknown(&self, r: &ActionRequest) -> String {
        format!(
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
        )
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
        // Its turn may come after the central gave it up.
        if let Err(why) = too_late(&request, self.clock.now_ms()) {
            drop(turn);
            tracing::warn!(id = %request.id, action = %request.action, reason = %why, "refused an action request");
            let o = refused(&request, self.clock.now_ms(), why);
            self.end(o).await;
            return;
        }
        let timeout = match request.timeout_ms {
            0 => self.limits.max_timeout,
            ms => Duration::from_millis(ms).min(self.limits.max_timeout),
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
        self.end(o).await;
    }

    /// Records the outcome of a queued request, on disk before it is
    /// answered (an agent stopped in between would answer "interrupted"
    /// after a real outcome), and says a run finished.
    async fn end(&self, o: ActionOutcome) {
        let id = o.id.clone();
        {
            let mut ledger = lock(&self.ledger);
            if let Some(e) = ledger.entries.iter_mut().find(|e| e.id == o.id) {
                e.outcome = Some(o);
            }
        }
        if let Err(e) = self.save().await {
            // Kept in memory: answered until the agent restarts.
            tracing::error!(error = %e, "cannot write an action's outcome to disk");
        }
        {
            let mut ledger = lock(&self.ledger);
            ledger.running.remove(&id);
            ledger.trim(self.clock.now_ms());
        }
        self.finished.notify_one();
    }

    /// Tests: waits until the writes spawned so far are done (on a
    /// current-thread runtime, yielding lets each spawned task queue for
    /// its turn first), as an agent that stops cleanly would.
    #[cfg(test)]
    async fn quiet(&self) {
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        drop(self.saving.lock().await);
    }

    /// Writes the ledger as it stands once this write's turn comes, on a
    /// blocking thread (an fsync must not stall collection and answers).
    async fn save(&self) -> Result<(), String> {
        let _turn = self.saving.lock().await;
        let bytes = serde_json::to_vec(&lock(&self.ledger).entries).map_err(|e| e.to_string())?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || write_durably(&path, &bytes))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

/// "Too late to start" when `now` is past `r`'s `not_after`.
fn too_late(r: &ActionRequest, now: Timestamp) -> Result<(), String> {
    match r.not_after {
        Some(last) if now > last => Err(format!(
            "too late to start: the central keepup waited for a start until {}, it is {} on this agent; not run",
            keepup_model::format_rfc3339(last),
            keepup_model::format_rfc3339(now)
        )),
        _ => Ok(()),
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
            not_after: None,
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

        // Restarted once the refusals are on disk (written in the
        // background): the ids are remembered.
        runner.quiet().await;
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
        runner.quiet().await;
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

    const T0: Timestamp = 1_800_000_000_000;

    /// A runner of `actions` on a manual clock at [`T0`], runs of one
    /// action `min_interval` apart, its ledger in `dir`.
    fn manual(
        dir: &Path,
        actions: &[&str],
        min_interval: Duration,
    ) -> (Arc<Runner>, keepup_model::ManualClock) {
        let clock = keepup_model::ManualClock::new(T0);
        let actions =
            from_args(&actions.iter().map(|a| a.to_string()).collect::<Vec<_>>()).unwrap();
        let limits = Limits {
            max_timeout: Duration::from_secs(10),
            min_interval,
        };
        let runner = Runner::open_with(actions, limits, dir, Arc::new(clock.clone())).unwrap();
        (runner, clock)
    }

    /// The outcome of `r` once it ran (asked again after each run ends).
    async fn ran(runner: &Arc<Runner>, r: &ActionRequest) -> ActionOutcome {
        loop {
            if let Some(o) = runner.take(std::slice::from_ref(r)).pop() {
                return o;
            }
            runner.finished().await;
        }
    }

    fn on_disk(dir: &Path) -> Vec<Entry> {
        serde_json::from_slice(&std::fs::read(dir.join(LEDGER)).unwrap()).unwrap()
    }

    /// The agent's own floor (review 33 #4): a second run of an action
    /// inside `--action-min-interval` is refused with how long ago it ran,
    /// and that refusal is remembered (asked again later, the same answer);
    /// one queued or running refuses the next; past the interval it runs.
    #[tokio::test]
    async fn an_action_runs_at_most_once_per_min_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, clock) = manual(
            dir.path(),
            &["t=/bin/true", "u=/bin/true"],
            DEFAULT_MIN_INTERVAL,
        );
        let first = ran(&runner, &request("t-1", "t")).await;
        assert!(first.succeeded(), "{first:?}");
        // Another action is not held back by it.
        assert!(ran(&runner, &request("u-1", "u")).await.succeeded());

        clock.advance(Duration::from_secs(12));
        let soon = runner.take(&[request("t-2", "t")]);
        assert!(soon[0].refused && soon[0].exit_code.is_none(), "{soon:?}");
        let why = soon[0].error.clone().unwrap_or_default();
        assert!(
            why.contains("ran 12 s ago; this agent allows one run per 60 s"),
            "{why}"
        );
        clock.advance(Duration::from_secs(60));
        assert_eq!(runner.take(&[request("t-2", "t")]), soon, "remembered");

        // Past the interval it runs; a second request while it is queued
        // is refused.
        let queued = runner.take(&[request("t-3", "t"), request("t-4", "t")]);
        assert_eq!(queued.len(), 1, "t-3 queued, t-4 refused: {queued:?}");
        let why = queued[0].error.clone().unwrap_or_default();
        assert!(why.contains("queued or running (request t-3)"), "{why}");
        assert!(ran(&runner, &request("t-3", "t")).await.succeeded());
    }

    /// A request whose start would come after the central gave it up
    /// (review 33 #6) is refused as too late to start: when it arrives
    /// past its `not_after`, and when its turn in the queue comes past it.
    #[tokio::test]
    async fn a_request_past_its_not_after_is_too_late_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let touched = dir.path().join("touched");
        let touch = format!("touch=/usr/bin/touch {}", touched.display());
        let (runner, clock) = manual(dir.path(), &[&touch], Duration::ZERO);
        let late = ActionRequest {
            not_after: Some(T0 - 1),
            ..request("late", "touch")
        };
        let answer = runner.take(std::slice::from_ref(&late));
        let why = answer[0].error.clone().unwrap_or_default();
        assert!(
            answer[0].refused && why.starts_with("too late to start"),
            "{answer:?}"
        );

        // Taken in time; its turn comes after not_after (the clock moves
        // before the queued run starts).
        let queued = ActionRequest {
            not_after: Some(T0 + 1_000),
            ..request("queued", "touch")
        };
        assert_eq!(runner.take(std::slice::from_ref(&queued)), []);
        clock.advance(Duration::from_secs(5));
        let o = ran(&runner, &queued).await;
        let why = o.error.clone().unwrap_or_default();
        assert!(o.refused && why.starts_with("too late to start"), "{o:?}");
        assert!(!touched.exists(), "it did not run");
        let in_time = ActionRequest {
            not_after: Some(T0 + 60_000),
            ..request("in-time", "touch")
        };
        assert!(ran(&runner, &in_time).await.succeeded());
        assert!(touched.exists());
    }

    /// "Too late to start" is judged on the central's clock, whatever the
    /// agent's says (review 34 #6): the exchange says when the central
    /// sent it, and `not_after` is moved by the difference. An agent ten
    /// minutes ahead still runs a request in time; one ten minutes
    /// behind refuses one the central has given up.
    #[tokio::test]
    async fn too_late_to_start_is_judged_on_the_centrals_clock() {
        let dir = tempfile::tempdir().unwrap();
        let touched = dir.path().join("touched");
        let touch = format!("touch=/usr/bin/touch {}", touched.display());
        let (runner, _clock) = manual(dir.path(), &[&touch], Duration::ZERO);
        let exchange = |id: &str, central_now: Timestamp, not_after: Timestamp| ActionRequests {
            version: keepup_model::host::AGENT_ACTION_VERSION,
            requests: vec![ActionRequest {
                not_after: Some(not_after),
                ..request(id, "touch")
            }],
            acked: Vec::new(),
            sent_at: Some(central_now),
        };
        // The central is 10 min behind this agent and waits 2 min more.
        let behind = T0 - 600_000;
        assert_eq!(
            runner.take_exchange(&exchange("in-time", behind, behind + 120_000)),
            [],
            "queued, not refused"
        );
        loop {
            if let Some(o) = runner
                .take_exchange(&exchange("in-time", behind, behind + 120_000))
                .pop()
            {
                assert!(o.succeeded(), "{o:?}");
                break;
            }
            runner.finished().await;
        }
        assert!(touched.exists());
        // The central is 10 min ahead and gave up a second ago.
        let ahead = T0 + 600_000;
        let o = runner.take_exchange(&exchange("late", ahead, ahead - 1_000));
        let why = o[0].error.clone().unwrap_or_default();
        assert!(
            o[0].refused && why.starts_with("too late to start"),
            "{o:?}"
        );
    }

    /// The ledger's rules (review 33 #5): refusals never push a run's
    /// outcome out; an unacknowledged run stays until a day after the
    /// central gave it up, an acknowledged one a day after it was asked.
    #[tokio::test]
    async fn the_ledger_forgets_by_age_and_keeps_runs_apart_from_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        std::fs::write(
            dir.path().join("count.sh"),
            format!("echo ran >> {}\n", count.display()),
        )
        .unwrap();
        let script = format!("count=/bin/sh {}/count.sh", dir.path().display());
        let (runner, clock) = manual(dir.path(), &[&script], Duration::ZERO);
        let runs = || {
            std::fs::read_to_string(&count)
                .unwrap_or_default()
                .lines()
                .count()
        };
        // The central waits for a start until T0 + 2 min, for the outcome
        // 1 min more.
        let a = ActionRequest {
            not_after: Some(T0 + 120_000),
            timeout_ms: 60_000,
            ..request("a", "count")
        };
        let b = ActionRequest {
            id: "b".into(),
            ..a.clone()
        };
        let first = ran(&runner, &a).await;
        assert!(ran(&runner, &b).await.succeeded());
        for i in 0..MAX_REFUSALS * 2 {
            runner.take(&[request(&format!("r{i}"), "unknown")]);
        }
        runner.save().await.unwrap();
        let kept = on_disk(dir.path());
        assert_eq!(kept.iter().filter(|e| e.refusal()).count(), MAX_REFUSALS);
        assert_eq!(
            kept.iter().filter(|e| !e.refusal()).count(),
            2,
            "both runs kept"
        );
        assert_eq!(
            runner.take(std::slice::from_ref(&a)),
            std::slice::from_ref(&first)
        );
        assert_eq!(runs(), 2);

        // b's outcome is acknowledged: forgotten a day after it was asked;
        // a's is not: kept until a day after the central gave it up.
        runner.acknowledge(&["b".to_owned()]);
        clock.advance(RETAIN + Duration::from_secs(1));
        runner.take(&[request("tick", "unknown")]);
        let ids: Vec<String> = lock(&runner.ledger)
            .entries
            .iter()
            .map(|e| e.id.clone())
            .collect();
        assert!(
            ids.contains(&"a".to_owned()) && !ids.contains(&"b".to_owned()),
            "{ids:?}"
        );
        assert_eq!(
            runner.take(std::slice::from_ref(&a)),
            [first],
            "still answered"
        );
        clock.advance(Duration::from_secs(180));
        runner.take(&[request("tock", "unknown")]);
        assert!(
            lock(&runner.ledger).entries.iter().all(|e| e.id != "a"),
            "gone at last"
        );
        assert_eq!(runs(), 2, "nothing ran twice");
    }

    /// Runs the central has not acknowledged are never forgotten to make
    /// room: at [`MAX_RUNS`] of them a new request is refused, not run
    /// unremembered; acknowledged ones make room, oldest first.
    #[tokio::test]
    async fn unacknowledged_runs_are_never_pushed_out() {
        let dir = tempfile::tempdir().unwrap();
        let ended = |i: usize| Entry {
            id: format!("old-{i}"),
            action: "t".into(),
            asked: T0 - 1_000,
            outcome: Some(ActionOutcome {
                id: format!("old-{i}"),
                action: "t".into(),
                started: T0 - 1_000,
                exit_code: Some(0),
                ..ActionOutcome::default()
            }),
            not_after: Some(T0),
            timeout_ms: 1_000,
            acked: false,
        };
        let full: Vec<Entry> = (0..MAX_RUNS).map(ended).collect();
        std::fs::write(dir.path().join(LEDGER), serde_json::to_vec(&full).unwrap()).unwrap();
        let (runner, _clock) = manual(dir.path(), &["t=/bin/true"], Duration::ZERO);
        let refused = runner.take(&[request("new", "t")]);
        let why = refused[0].error.clone().unwrap_or_default();
        assert!(
            refused[0].refused && why.contains("not acknowledged"),
            "{refused:?}"
        );
        assert_eq!(runner.take(&[request("new", "t")]), refused, "remembered");
        runner.acknowledge(&["old-0".to_owned(), "old-1".to_owned()]);
        assert!(ran(&runner, &request("newer", "t")).await.succeeded());
        let held = lock(&runner.ledger).entries.clone();
        assert_eq!(held.iter().filter(|e| !e.refusal()).count(), MAX_RUNS);
        assert!(
            held.iter().all(|e| e.id != "old-0"),
            "the oldest acknowledged went"
        );
        assert!(held.iter().any(|e| e.id == "old-1"));
    }

    /// The ledger at its bounds, every output and error byte one JSON
    /// escapes as six: under the 5 MB the module doc says, well under
    /// [`MAX_LEDGER_BYTES`] (so a full ledger is always read back).
    #[test]
    fn the_ledger_at_its_bounds_is_under_5_mb() {
        let worst = |i: usize, refused: bool| Entry {
            id: format!("{i:0>128}"),
            action: "a".repeat(64),
            asked: T0,
            outcome: Some(ActionOutcome {
                id: format!("{i:0>128}"),
                action: "a".repeat(64),
                refused,
                error: Some("\u{1}".repeat(MAX_ACTION_ERROR_BYTES)),
                output: if refused {
                    String::new()
                } else {
                    "\u{1}".repeat(MAX_ACTION_OUTPUT_BYTES)
                },
                ..ActionOutcome::default()
            }),
            not_after: Some(T0),
            timeout_ms: u64::MAX,
            acked: false,
        };
        let entries: Vec<Entry> = (0..MAX_RUNS)
            .map(|i| worst(i, false))
            .chain((0..MAX_REFUSALS).map(|i| worst(i, true)))
            .collect();
        let bytes = serde_json::to_vec(&entries).unwrap().len();
        assert!(
            bytes < 5_000_000 && (bytes as u64) < MAX_LEDGER_BYTES,
            "{bytes}"
        );
    }

    /// A run starts only once the ledger holds it on disk, and the write
    /// is not made by the caller of `take` (the agent's runtime thread,
    /// which serves `/report` and collects): review 33 #16.
    #[tokio::test]
    async fn the_ledger_is_written_off_the_caller_and_before_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let (runner, _clock) = manual(dir.path(), &["t=/bin/true"], Duration::ZERO);
        assert_eq!(runner.take(&[request("a", "t")]), []);
        assert!(
            !dir.path().join(LEDGER).exists(),
            "take() wrote the ledger itself"
        );
        assert!(ran(&runner, &request("a", "t")).await.succeeded());
        assert_eq!(on_disk(dir.path()).len(), 1);

        // A ledger that cannot be written: nothing runs, and it says why.
        std::fs::create_dir(dir.path().join("actions.tmp")).unwrap();
        let touched = dir.path().join("touched");
        drop(runner);
        let touch = format!("touch=/usr/bin/touch {}", touched.display());
        let (runner, _clock) = manual(dir.path(), &[&touch], Duration::ZERO);
        let o = ran(&runner, &request("b", "touch")).await;
        let why = o.error.clone().unwrap_or_default();
        assert!(
            o.refused && why.contains("cannot remember the request on disk"),
            "{o:?}"
        );
        assert!(!touched.exists(), "it ran without being remembered");
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
