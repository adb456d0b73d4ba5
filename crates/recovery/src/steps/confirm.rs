//! `confirm`: a person says go. On a terminal keepup asks and waits for
//! `yes`; without one the step is refused unless the run was started with
//! `--yes` (automation has decided beforehand). A drill passes its gates
//! without asking: it changes nothing a person must approve, and a
//! scheduled drill has nobody to ask.

use super::{Done, Failed, StepContext};
use keepup_config::recovery::ConfirmStep;
use std::io::{BufRead, IsTerminal, Read, Write};

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
    /// Nobody can be asked: every gate fails.
    Nobody,
}

impl Confirmation {
    /// `--yes`, else the terminal when stdin is one, else nobody.
    pub fn from_cli(yes: bool) -> Self {
        if yes {
            Confirmation::AssumeYes
        } else if std::io::stdin().is_terminal() {
            Confirmation::Ask(Box::new(Terminal))
        } else {
            Confirmation::Nobody
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
            Confirmation::Nobody => Err(format!(
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
pub fn run(step: &ConfirmStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    if ctx.kind == keepup_store::DrRunKind::Drill {
        return Ok(Done {
            output: format!("{} not asked in a drill", step.prompt),
        });
    }
    ctx.confirm
        .gate(&step.prompt)
        .map(|output| Done { output })
        .map_err(Failed::because)
}
