//! Nagios / Monitoring Plugins checks: run a plugin and read its verdict.
//!
//! The plugin runs through keepup-process as an argument list (no shell)
//! in a process group of its own, with stdin closed and an environment of
//! a fixed `PATH` and `LANG=C` only: keepup's environment holds secrets (repository and
//! database passwords, tokens) that a plugin, or anything it starts, must
//! never see. The check's own `env` secrets are added to the plugin's
//! environment, and scrubbed from its stdout and stderr before anything
//! of them enters the outcome (a plugin may echo them, e.g. in an error).
//! Its stdout is read up to [`MAX_STDOUT_BYTES`] (a plugin
//! writing more is stopped), its stderr up to [`MAX_STDERR_BYTES`] (the
//! rest is drained and dropped). At the check's deadline the whole
//! process group is killed, so a hanging plugin leaves nothing behind.
//!
//! The exit code is the verdict, as Nagios reads it: 0 Up, 1 Degraded,
//! 2 Down, 3 and anything else Unknown. The first line of output is the
//! message; the performance data ([`perfdata`]) goes into the evidence as
//! numbers, and a `time` item in s, ms or us is the latency (the run time
//! otherwise).
//!
//! A plugin the agent ran on its host (`keepup agent --plugin`) arrives
//! in its report as a [`PluginRun`]; [`agent_outcome`] judges it with the
//! same code, so `kind = "nagios"` with `agent` and `plugin` reads as a
//! local run does.

pub mod perfdata;

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use keepup_config::NagiosSpec;
use keepup_model::host::{PluginEnded, PluginRun};
use keepup_model::{Finding, Outcome, Severity, Status};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::scenario::Redactor;
use crate::util::{io_reason, ms};

/// At most this much of a plugin's stdout is read (the agent reads as
/// much: one cap for both, [`keepup_process::PLUGIN_CAPS`]).
pub const MAX_STDOUT_BYTES: usize = keepup_process::PLUGIN_CAPS.stdout;

/// At most this much of its stderr is kept.
pub const MAX_STDERR_BYTES: usize = keepup_process::PLUGIN_CAPS.stderr;

/// At most this many lines of long output go into the evidence.
const MAX_LONG_OUTPUT_LINES: usize = 50;

/// At most this many characters of the summary line are the message.
const MAX_SUMMARY_CHARS: usize = 500;

/// Runs one plugin.
pub async fn probe(spec: &NagiosSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let program = spec.program.display().to_string();
    let mut command = keepup_process::bare(&spec.program);
    command.args(&spec.args).envs(
        spec.env
            .iter()
            .map(|(name, secret)| (name, secret.expose())),
    );
    let caps = keepup_process::PLUGIN_CAPS;
    // The check's deadline bounds the run: dropping it there kills the
    // plugin's process group (keepup-process).
    let redactor = Redactor::new(spec.env.iter().map(|(_, secret)| secret.expose()));
    let ran = ctx
        .within(
            "running the plugin",
            keepup_process::run(command, caps, None),
        )
        .await;
    let mut outcome = match ran {
        Ok(Err(e)) => {
            return not_runnable(&program, &io_reason(&e)).with_latency(started.elapsed());
        }
        Ok(Ok(finished)) => {
            let output = Output::scrubbed(&finished, &redactor);
            match finished.ended {
                keepup_process::Ended::Exited(status) => judge(&program, status, &output),
                keepup_process::Ended::TooMuchOutput => too_much_output(&program, &output),
                // Without a timeout of its own this is a child that could
                // not be waited for: UNKNOWN rather than a guess.
                keepup_process::Ended::TimedOut => {
                    judge(&program, ExitStatus::from_raw(3 << 8), &output)
                }
            }
        }
        Err(fail) => {
            let mut outcome = Outcome::new(Status::Up, "");
            let finding = fail.into_finding(&ctx);
            outcome.message = format!("{program} did not finish: {}", finding.text);
            outcome.push(finding);
            outcome
        }
    };
    outcome.evidence.insert("program", program);
    if outcome.latency_ms == 0.0 {
        outcome.latency_ms = ms(started.elapsed());
    }
    outcome
}

/// The outcome of a plugin run on an agent's host, judged as a local
/// run is: the same exit codes, first line, long output and performance
/// data; a run past the agent's timeout is Down as a local one past the
/// check's is.
pub fn agent_outcome(run: &PluginRun) -> Outcome {
    let program = run
        .command
        .split_whitespace()
        .next()
        .unwrap_or("the plugin")
        .to_owned();
    let output = Output {
        stdout: run.output.clone().into_bytes(),
        stderr: run.stderr.clone().into_bytes(),
    };
    let mut outcome = match &run.ended {
        PluginEnded::Exited { code } => {
            // A wait status: the code in the second byte.
            judge(&program, ExitStatus::from_raw((code & 0xff) << 8), &output)
        }
        PluginEnded::Signalled { signal } => {
            judge(&program, ExitStatus::from_raw(signal & 0x7f), &output)
        }
        PluginEnded::TooMuchOutput => too_much_output(&program, &output),
        PluginEnded::NotRunnable { reason } => not_runnable(&program, reason),
        PluginEnded::TimedOut { after_ms } => {
            let text = format!(
                "{program} did not finish within {} on the agent's host; it was killed",
                humantime_ms(*after_ms)
            );
            let mut outcome = Outcome::new(Status::Up, text.clone());
            outcome.push(Finding::new(codes::PROBE_TIMEOUT, Severity::Critical, text));
            outcome
        }
    };
    outcome.evidence.insert("program", program);
    outcome.evidence.insert("command", run.command.clone());
    if outcome.latency_ms == 0.0 {
        outcome.latency_ms = run.ms;
    }
    outcome
}

/// `2500` as "2.5s".
fn humantime_ms(ms: u64) -> String {
    format!("{}s", ms as f64 / 1000.0)
}

/// A plugin that could not be started: Unknown, saying why.
fn not_runnable(program: &str, reason: &str) -> Outcome {
    let mut outcome = Outcome::new(Status::Unknown, format!("cannot run {program}"));
    outcome.push(Finding::new(
        codes::NAGIOS_NOT_RUNNABLE,
        Severity::Warning,
        format!("cannot run {program}: {reason}"),
    ));
    outcome.worsen(Status::Unknown);
    outcome
}

/// A plugin stopped for writing more than is read: Unknown.
fn too_much_output(program: &str, output: &Output) -> Outcome {
    let mut outcome = Outcome::new(
        Status::Unknown,
        format!("{program} wrote more output than keepup reads"),
    );
    outcome.push(Finding::new(
        codes::NAGIOS_OUTPUT_TOO_LARGE,
        Severity::Warning,
        format!(
            "{program} wrote more than {} KiB to its output and was stopped",
            MAX_STDOUT_BYTES / 1024
        ),
    ));
    outcome.worsen(Status::Unknown);
    add_stderr(&mut outcome, &output.stderr);
    outcome
}

/// What a plugin left, every secret in it replaced.
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Output {
    fn scrubbed(finished: &keepup_process::Finished, redactor: &Redactor) -> Self {
        let scrub = |bytes: &[u8]| redactor.text(&String::from_utf8_lossy(bytes)).into_bytes();
        Self {
            stdout: scrub(&finished.stdout),
            stderr: scrub(&finished.stderr),
        }
    }
}

/// The outcome of a plugin that exited: its code, first line and
/// performance data.
fn judge(program: &str, status: ExitStatus, output: &Output) -> Outcome {
    let text = String::from_utf8_lossy(&output.stdout);
    let parts = perfdata::split_output(&text);
    let summary = clean(parts.summary, MAX_SUMMARY_CHARS);
    let summary = if summary.is_empty() {
        format!("{program} printed nothing")
    } else {
        summary
    };
    let mut outcome = Outcome::new(Status::Up, summary.clone());
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        (Some(1), _) => outcome.push(Finding::new(
            codes::NAGIOS_WARNING,
            Severity::Warning,
            summary,
        )),
        (Some(2), _) => outcome.push(Finding::new(
            codes::NAGIOS_CRITICAL,
            Severity::Critical,
            summary,
        )),
        (Some(3), _) => unknown(&mut outcome, summary),
        (Some(code), _) => unknown(
            &mut outcome,
            format!(
                "{program} exited with code {code}, which is no plugin state (0 to 3): {summary}"
            ),
        ),
        (None, signal) => {
            let signal = signal.map_or_else(|| "a signal".to_owned(), |s| format!("signal {s}"));
            unknown(&mut outcome, format!("{program} was ended by {signal}"));
        }
    }
    if let Some(code) = status.code() {
        outcome.evidence.insert("exit_code", code);
    }
    let long: Vec<String> = parts
        .long_output
        .iter()
        .take(MAX_LONG_OUTPUT_LINES)
        .map(|l| clean(l, MAX_SUMMARY_CHARS))
        .collect();
    if !long.is_empty() {
        outcome.evidence.insert("long_output", long);
    }
    let (mut items, bad) = perfdata::parse(&parts.perf_text.join(" "));
    items.truncate(perfdata::MAX_ITEMS);
    if let Some((piece, why)) = bad.first() {
        let more = match bad.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        outcome.push(Finding::new(
            codes::NAGIOS_PERFDATA_INVALID,
            Severity::Info,
            format!(
                "performance data {} left out: {why}{more}",
                clean(piece, 80)
            ),
        ));
    }
    if let Some(time) = items
        .iter()
        .find(|i| i.label == "time")
        .and_then(perfdata::PerfItem::as_millis)
    {
        outcome.latency_ms = time;
    }
    if !items.is_empty() {
        outcome
            .evidence
            .insert("perfdata", serde_json::to_value(&items).unwrap_or_default());
    }
    add_stderr(&mut outcome, &output.stderr);
    outcome
}

/// Records an UNKNOWN verdict.
fn unknown(outcome: &mut Outcome, text: String) {
    outcome.push(Finding::new(codes::NAGIOS_UNKNOWN, Severity::Warning, text));
    outcome.worsen(Status::Unknown);
}

/// Puts the plugin's stderr, if any, into the evidence.
fn add_stderr(outcome: &mut Outcome, stderr: &[u8]) {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<String> = text
        .lines()
        .map(|l| clean(l, MAX_SUMMARY_CHARS))
        .filter(|l| !l.is_empty())
        .take(MAX_LONG_OUTPUT_LINES)
        .collect();
    if !lines.is_empty() {
        outcome.evidence.insert("stderr", lines);
    }
}

/// `text` without control characters, at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().filter(|c| !c.is_control()).nth(max).is_some() {
        out.push('…');
    }
    out.trim().to_owned()
}
