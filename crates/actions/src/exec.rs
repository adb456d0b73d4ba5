//! Running one recorded run: a local command, a webhook, an agent's
//! command. Each returns how it ended; none returns an error (a run that
//! could not start is a failed run, with the reason).

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use keepup_config::actions::{Action, Runner};
use keepup_model::Clock;
use keepup_model::format_rfc3339;
use keepup_notify::{HttpClientContext, WebhookCall};
use keepup_store::{ActionRun, AgentActionState, NewAgentAction, RunOutcome, Store};
use serde_json::json;

/// What a command's output is read up to: beyond its stdout cap the
/// command is stopped (the run fails), stderr is drained past its cap.
/// Only the last 4 KiB of both are kept with the run.
const CAPS: keepup_process::Caps = keepup_process::Caps {
    stdout: 256 * 1024,
    stderr: 16 * 1024,
};

/// The first wait after a failed webhook attempt; it doubles each time.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts (a provider's Retry-After
/// included).
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The longest a run of `action` may take from its start to its end
/// under this module's policy: a command's timeout; a webhook's attempts
/// each up to the timeout plus every wait between them at its longest
/// (a provider's Retry-After is honoured up to [`MAX_BACKOFF`]); an
/// agent's timeout plus its pickup and answer allowances; and
/// [`SETTLE`] for killing, reaping and recording. What a held page waits
/// for at most before its remediation has ended (one home: it follows
/// the retry policy here).
pub fn longest_run(action: &Action) -> Duration {
    let body = match &action.run {
        Runner::Command { .. } => action.timeout,
        Runner::Webhook { retries, .. } => {
            action.timeout.saturating_mul(retries.saturating_add(1))
                + MAX_BACKOFF.saturating_mul(*retries)
        }
        Runner::Agent { .. } => action.timeout + AGENT_PICKUP * 2 + AGENT_POLL * 4,
    };
    body + SETTLE
}

/// Beyond a run's own limits: its process group killed and reaped, its
/// end recorded.
const SETTLE: Duration = Duration::from_secs(5);

/// How a run ended.
pub(crate) struct Ended {
    pub(crate) outcome: RunOutcome,
    pub(crate) reason: String,
    pub(crate) exit_code: Option<i64>,
    pub(crate) output: String,
    pub(crate) attempts: u32,
}

impl Ended {
    fn failed(reason: impl Into<String>) -> Self {
        Self {
            outcome: RunOutcome::Failed,
            reason: reason.into(),
            exit_code: None,
            output: String::new(),
            attempts: 0,
        }
    }
}

/// What the action runs, in words: the program and how many arguments,
/// never the arguments themselves (a word may carry a token the loader
/// did not recognise), nor env values, nor a webhook's URL.
pub(crate) fn describe(action: &Action) -> String {
    match &action.run {
        Runner::Command { shell: true, .. } => "its shell line (/bin/sh -c)".into(),
        Runner::Command { argv, .. } => {
            let program = argv.first().map(String::as_str).unwrap_or("");
            match argv.len().saturating_sub(1) {
                0 => format!("{program} without arguments"),
                1 => format!("{program} with 1 argument"),
                n => format!("{program} with {n} arguments"),
            }
        }
        Runner::Agent { agent, action } => format!("the action {action:?} of agent {agent:?}"),
        Runner::Webhook { spec, .. } => format!("a {} webhook", spec.method),
    }
}

pub(crate) async fn run(
    action: &Action,
    run: &ActionRun,
    http: &HttpClientContext,
    store: &Store,
    clock: &dyn Clock,
) -> Ended {
    let mut ended = match &action.run {
        Runner::Command { argv, .. } => command(action, argv, run).await,
        Runner::Webhook { spec, retries } => webhook(action, spec, *retries, run, http).await,
        Runner::Agent {
            agent,
            action: name,
        } => on_agent(action, agent, name, run, store, clock).await,
    };
    // A command may echo what it was given; the store, the audit and
    // the CLI never see a secret.
    for (_, secret) in &action.env {
        ended.output = secret.scrub(&ended.output);
        ended.reason = secret.scrub(&ended.reason);
    }
    ended.output = keepup_store::output_tail(&ended.output).to_owned();
    ended
}

async fn command(action: &Action, argv: &[String], run: &ActionRun) -> Ended {
    let Some((program, args)) = argv.split_first() else {
        return Ended::failed("the command is empty");
    };
    let mut cmd = keepup_process::bare(program);
    cmd.args(args).envs(
        action
            .env
            .iter()
            .map(|(name, secret)| (name, secret.expose())),
    );
    // A scaling run is told the size to set, as a provider's resize
    // API wants it: absolute.
    if let Some((name, from, to)) = crate::scale::target_of(run.decision.as_ref()) {
        cmd.env("KEEPUP_LEVEL", to.to_string())
            .env("KEEPUP_LEVEL_FROM", from.to_string())
            .env("KEEPUP_LEVEL_NAME", name);
    }
    let finished = match keepup_process::run(cmd, CAPS, Some(action.timeout)).await {
        Ok(f) => f,
        Err(e) => {
            return Ended {
                attempts: 1,
                ..Ended::failed(format!("{program} could not be started: {e}"))
            };
        }
    };
    let mut output = String::from_utf8_lossy(&finished.stdout).into_owned();
    if !finished.stderr.is_empty() {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&String::from_utf8_lossy(&finished.stderr));
    }
    let (outcome, reason, exit_code) = match finished.ended {
        keepup_process::Ended::Exited(status) => match (status.code(), status.signal()) {
            (Some(0), _) => (RunOutcome::Ok, String::new(), Some(0)),
            (Some(code), _) => (
                RunOutcome::Failed,
                format!("{program} exited with {code}"),
                Some(i64::from(code)),
            ),
            (None, Some(signal)) => (
                RunOutcome::Failed,
                format!("{program} was killed by signal {signal}"),
                None,
            ),
            (None, None) => (RunOutcome::Failed, format!("{program} ended oddly"), None),
        },
        keepup_process::Ended::TooMuchOutput => (
            RunOutcome::Failed,
            format!(
                "{program} wrote more than {} KiB of output; it was stopped",
                CAPS.stdout / 1024
            ),
            None,
        ),
        keepup_process::Ended::TimedOut => (
            RunOutcome::TimedOut,
            format!(
                "{program} did not finish within {}; its process group was killed",
                humantime::format_duration(action.timeout)
            ),
            None,
        ),
    };
    Ended {
        outcome,
        reason,
        exit_code,
        output,
        attempts: 1,
    }
}

async fn webhook(
    action: &Action,
    spec: &keepup_config::channels::WebhookSpec,
    retries: u32,
    run: &ActionRun,
    http: &HttpClientContext,
) -> Ended {
    let call = match WebhookCall::new(&action.name, spec, action.timeout, http) {
        Ok(c) => c,
        Err(e) => return Ended::failed(e),
    };
    let mut vars = json!({
        "action": action.name,
        "run": run.id,
        "cause": run.cause,
        "cause_detail": run.cause_detail,
        "started_at": format_rfc3339(run.started_at),
        "idempotency_key": run.idempotency_key,
    });
    if let Some((name, from, to)) = crate::scale::target_of(run.decision.as_ref()) {
        vars["level"] = json!(to);
        vars["from"] = json!(from);
        vars["level_name"] = json!(name);
    }
    let default_body = vars.to_string();
    let mut log = String::new();
    let mut backoff = FIRST_BACKOFF;
    let attempts = retries.saturating_add(1);
    for attempt in 1..=attempts {
        let sent = call
            .send(
                vars.clone(),
                default_body.clone(),
                &[("Idempotency-Key", &run.idempotency_key)],
            )
            .await;
        match sent {
            Ok(answer) => {
                log.push_str(&format!(
                    "attempt {attempt}: HTTP {} {}\n",
                    answer.status,
                    answer.excerpt.trim()
                ));
                return Ended {
                    outcome: RunOutcome::Ok,
                    reason: String::new(),
                    exit_code: Some(i64::from(answer.status)),
                    output: log,
                    attempts: attempt,
                };
            }
            Err(e) => {
                log.push_str(&format!("attempt {attempt}: {}\n", e.message));
                if !e.retryable || attempt == attempts {
                    return Ended {
                        outcome: RunOutcome::Failed,
                        reason: if e.retryable {
                            format!("gave up after {attempt} attempts: {}", e.message)
                        } else {
                            e.message
                        },
                        exit_code: None,
                        output: log,
                        attempts: attempt,
                    };
                }
                let wait = e
                    .retry_after
                    .unwrap_or_default()
                    .max(backoff)
                    .min(MAX_BACKOFF);
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    Ended::failed("no attempt was made")
}

/// How long an agent has to take a request (push mode: its next report;
/// pull mode: the central's next pull), and after the timeout to answer.
pub const AGENT_PICKUP: Duration = Duration::from_secs(120);
/// How often the request's state is read while waiting for the agent.
const AGENT_POLL: Duration = Duration::from_millis(500);

/// Files the run as a request for `agent` (the store is the rendezvous;
/// the agent transport carries it) and waits for its outcome.
async fn on_agent(
    action: &Action,
    agent: &str,
    name: &str,
    run: &ActionRun,
    store: &Store,
    clock: &dyn Clock,
) -> Ended {
    let request = match NewAgentAction::new(
        &run.idempotency_key,
        agent,
        name,
        action.timeout,
        AGENT_PICKUP,
    ) {
        Ok(r) => r,
        Err(e) => return Ended::failed(format!("the request for agent {agent} is invalid: {e}")),
    };
    let now = clock.now_ms();
    let s = store.clone();
    let filed = tokio::task::spawn_blocking(move || s.request_agent_action(&request, now)).await;
    match filed {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Ended::failed(format!(
                "the request for agent {agent} could not be filed: {e}"
            ));
        }
        Err(e) => {
            return Ended::failed(format!(
                "the request for agent {agent} could not be filed: {e}"
            ));
        }
    }
    // The store decides expiry and loss by its clock; this bounds the
    // wait in real time whatever that clock does.
    let deadline = tokio::time::Instant::now() + longest_run(action);
    loop {
        let (s, id, now) = (store.clone(), run.idempotency_key.clone(), clock.now_ms());
        let state = tokio::task::spawn_blocking(move || s.agent_action(&id, now))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .map(|a| a.state);
        let ended = match state {
            Some(AgentActionState::Done(o)) => Some(agent_outcome(agent, name, o)),
            Some(AgentActionState::Expired) => Some(Ended::failed(format!(
                "agent {agent} did not take the request within {} (is it running, with --action {name}=...?)",
                humantime::format_duration(AGENT_PICKUP)
            ))),
            Some(AgentActionState::Lost) => Some(Ended::failed(format!(
                "agent {agent} took the request but never answered"
            ))),
            None => Some(Ended::failed(format!(
                "the request for agent {agent} is gone from the store"
            ))),
            Some(AgentActionState::Waiting | AgentActionState::Fetched) => None,
        };
        if let Some(ended) = ended {
            return ended;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ended::failed(format!("no outcome from agent {agent} in time"));
        }
        tokio::time::sleep(AGENT_POLL).await;
    }
}

fn agent_outcome(agent: &str, name: &str, o: keepup_model::host::ActionOutcome) -> Ended {
    let mut output = o.output.clone();
    let (outcome, reason) = if o.refused {
        (
            RunOutcome::Failed,
            format!(
                "agent {agent} refused {name:?}: {}",
                o.error.as_deref().unwrap_or("no reason given")
            ),
        )
    } else if o.timed_out {
        (
            RunOutcome::TimedOut,
            format!("{name:?} did not finish in time on {agent}; its process group was killed"),
        )
    } else if o.exit_code == Some(0) {
        (RunOutcome::Ok, String::new())
    } else {
        let why = match (o.exit_code, &o.error) {
            (Some(code), _) => format!("exited with {code}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "ended without an exit code".into(),
        };
        (RunOutcome::Failed, format!("{name:?} on {agent} {why}"))
    };
    if let (Some(e), false) = (&o.error, o.refused) {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(e);
    }
    Ended {
        outcome,
        reason,
        exit_code: o.exit_code.map(i64::from),
        output,
        attempts: 1,
    }
}
