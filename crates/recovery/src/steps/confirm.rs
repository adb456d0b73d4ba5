//! `confirm`: a person says go. On a terminal keepup asks and waits for
//! `yes`; with `--yes` automation has decided beforehand; a run started
//! for the web ([`Confirmation::Web`]) records the question in the store
//! and waits, up to the step's `timeout`, for someone to answer it on the
//! dashboard; with nobody to ask the step is refused. A drill passes its gates
//! without asking: it changes nothing a person must approve, and a
//! scheduled drill has nobody to ask.

use super::{Done, Failed, StepContext};
use keepup_config::recovery::ConfirmStep;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::Duration;

/// Answers confirmation questions.
pub trait Confirm: Send + Sync {
    /// Asks `prompt`; true for go.
    fn ask(&self, prompt: &str) -> std::io::Result<bool>;
}

/// Who answers a run's confirmation gates.
pub enum Confirmation {
    /// `--yes`: every gate passes (and says so in the journal).
    AssumeYes,
    /// A person is asked.
    Ask(Box<dyn Confirm>),
    /// The question is recorded in the store (`dr_confirm`) and answered
    /// from the dashboard (`/dr/runs/{run}`); the step waits for it.
    Web,
    /// Nobody can be asked: every gate fails.
    Nobody,
}

impl Confirmation {
    /// `--yes`, else the terminal when stdin is one, else the web (a
    /// gate outside a run still refuses, so `dr activate` without either
    /// starts nothing; a resumed run's `confirm` steps wait for the
    /// dashboard).
    pub fn from_cli(yes: bool) -> Self {
        if yes {
            Confirmation::AssumeYes
        } else if std::io::stdin().is_terminal() {
            Confirmation::Ask(Box::new(Terminal))
        } else {
            Confirmation::Web
        }
    }

    /// Asks `prompt`: `Ok(note)` to go on, `Err(reason)` to stop.
    pub fn gate(&self, prompt: &str) -> Result<String, String> {
        match self {
            Confirmation::AssumeYes => Ok(format!("{prompt} yes (--yes)")),
            Confirmation::Ask(who) => match who.ask(prompt) {
                Ok(true) => Ok(format!("{prompt} yes")),
                Ok(false) => Err(format!("{prompt} not confirmed")),
                Err(e) => Err(format!("{prompt} could not be asked: {e}")),
            },
            // Only a step of a run can wait for the web (`run` below);
            // a gate outside a run has nowhere to record its question.
            Confirmation::Web | Confirmation::Nobody => Err(format!(
                "{prompt} needs a person's confirmation: no terminal to ask on (run it from a terminal, or pass --yes)"
            )),
        }
    }
}

/// The controlling terminal: the question on stderr, the answer on stdin.
struct Terminal;

impl Confirm for Terminal {
    fn ask(&self, prompt: &str) -> std::io::Result<bool> {
        let mut err = std::io::stderr();
        write!(err, "{prompt} Type yes to continue: ")?;
        err.flush()?;
        let mut line = String::new();
        // One line, bounded: a paste of megabytes is not an answer.
        std::io::stdin().lock().take(256).read_line(&mut line)?;
        Ok(line.trim().eq_ignore_ascii_case("yes"))
    }
}

/// Runs a `confirm` step.
pub fn run(step: &ConfirmStep, index: usize, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    if ctx.kind == keepup_store::DrRunKind::Drill {
        return Ok(Done {
            output: format!("{} not asked in a drill", step.prompt),
        });
    }
    if matches!(ctx.confirm, Confirmation::Web) {
        return ask_on_the_web(step, index, ctx);
    }
    ctx.confirm
        .gate(&step.prompt)
        .map(|output| Done { output })
        .map_err(Failed::because)
}

/// How often a question asked on the web looks for its answer.
const POLL: Duration = Duration::from_secs(1);

/// Records the question and waits for its answer in the store, up to the
/// step's timeout. A resumed step finds the answer already given.
fn ask_on_the_web(step: &ConfirmStep, index: usize, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let store_failed =
        |e: keepup_store::StoreError| Failed::because(format!("{}: the store: {e}", step.prompt));
    ctx.store
        .dr_confirm_ask(ctx.run, index, &step.prompt, ctx.clock.now_ms())
        .map_err(store_failed)?;
    tracing::info!(
        run = ctx.run,
        step = index,
        "recovery run waits for a confirmation on the dashboard"
    );
    let deadline = ctx
        .clock
        .now_ms()
        .saturating_add(i64::try_from(step.timeout.as_millis()).unwrap_or(i64::MAX));
    let server = &ctx.config.server;
    let link = server
        .public_url
        .as_ref()
        .zip(server.ack_key.as_ref())
        .map(|(url, key)| {
            keepup_notify::ack::AckSigner::new(key.expose().as_bytes(), url).dr_confirm_link(
                ctx.run,
                index,
                deadline.div_euclid(1000) + 1,
            )
        });
    ctx.observer.asking(index, &step.prompt, link.as_deref());
    loop {
        let asked = ctx
            .store
            .dr_confirmations(Some(ctx.run))
            .map_err(store_failed)?;
        let answered = asked
            .iter()
            .find(|q| q.step == index)
            .and_then(|q| Some((q.answer?, q.answered_by.clone().unwrap_or_default())));
        match answered {
            Some((true, by)) => {
                return Ok(Done {
                    output: format!("{} yes, answered on the dashboard by {by}", step.prompt),
                });
            }
            Some((false, by)) => {
                return Err(Failed::because(format!(
                    "{} not confirmed: {by} answered no on the dashboard (abort the run, or resume it to ask again)",
                    step.prompt
                )));
            }
            None if ctx.clock.now_ms() >= deadline => {
                return Err(Failed::because(format!(
                    "{} was not answered on the dashboard within {}s (resume the run to ask again, or abort it)",
                    step.prompt,
                    step.timeout.as_secs()
                )));
            }
            None => ctx.clock.sleep(POLL),
        }
    }
}
