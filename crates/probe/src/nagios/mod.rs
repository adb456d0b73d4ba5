//! Nagios / Monitoring Plugins checks: run a plugin and read its verdict.
//!
//! The plugin runs as an argument list (no shell) in a process group of
//! its own, with stdin closed and an environment of a fixed `PATH` and
//! `LANG=C` only: keepup's environment holds secrets (repository and
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

pub mod perfdata;

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use keepup_config::NagiosSpec;
use keepup_model::{Finding, Outcome, Severity, Status};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::scenario::Redactor;
use crate::util::{io_reason, ms};

/// At most this much of a plugin's stdout is read; Nagios itself keeps
/// less (its long output limit is in the kilobytes).
pub const MAX_STDOUT_BYTES: usize = 64 * 1024;

/// At most this much of its stderr is kept.
pub const MAX_STDERR_BYTES: usize = 4 * 1024;

/// The `PATH` a plugin runs with: the usual system directories, never
/// keepup's own.
const PLUGIN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// At most this many lines of long output go into the evidence.
const MAX_LONG_OUTPUT_LINES: usize = 50;

/// At most this many characters of the summary line are the message.
const MAX_SUMMARY_CHARS: usize = 500;

/// Runs one plugin.
pub async fn probe(spec: &NagiosSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let program = spec.program.display().to_string();
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .env("PATH", PLUGIN_PATH)
        .env("LANG", "C")
        .envs(
            spec.env
                .iter()
                .map(|(name, secret)| (name, secret.expose())),
        )
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            let mut outcome = Outcome::new(Status::Unknown, format!("cannot run {program}"));
            outcome.push(Finding::new(
                codes::NAGIOS_NOT_RUNNABLE,
                Severity::Warning,
                format!("cannot run {program}: {}", io_reason(&e)),
            ));
            outcome.worsen(Status::Unknown);
            return outcome.with_latency(started.elapsed());
        }
    };
    // From here until it is reaped the child's pid names its process
    // group: the guard kills the group if this run is abandoned. A killed
    // child is not waited for here (the deadline has passed): tokio reaps
    // it once it is dropped.
    let group = ProcessGroup(child.id());
    let redactor = Redactor::new(spec.env.iter().map(|(_, secret)| secret.expose()));
    let ran = ctx
        .within("running the plugin", run(&mut child))
        .await
        .map(|ran| ran.scrubbed(&redactor));
    let mut outcome = match ran {
        Ok(Ran::Exited(status, output)) => {
            group.disarm();
            judge(&program, status, &output)
        }
        Ok(Ran::TooMuch(output)) => {
            group.kill();
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
        Err(fail) => {
            group.kill();
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

/// What a plugin left.
#[derive(Default)]
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// How a plugin's run ended.
enum Ran {
    /// It closed its output and exited.
    Exited(ExitStatus, Output),
    /// It wrote more than [`MAX_STDOUT_BYTES`].
    TooMuch(Output),
}

impl Ran {
    /// The same, with every secret in stdout and stderr replaced.
    fn scrubbed(self, redactor: &Redactor) -> Self {
        let scrub = |bytes: Vec<u8>| redactor.text(&String::from_utf8_lossy(&bytes)).into_bytes();
        let output = |o: Output| Output {
            stdout: scrub(o.stdout),
            stderr: scrub(o.stderr),
        };
        match self {
            Ran::Exited(status, o) => Ran::Exited(status, output(o)),
            Ran::TooMuch(o) => Ran::TooMuch(output(o)),
        }
    }
}

/// Reads the child's output until both pipes close, then waits for it.
async fn run(child: &mut Child) -> Ran {
    let mut output = Output::default();
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Ran::Exited(ExitStatus::from_raw(3 << 8), output);
    };
    let (mut out_open, mut err_open) = (true, true);
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    while out_open || err_open {
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buf), if out_open => match read {
                0 => out_open = false,
                n if output.stdout.len() + n > MAX_STDOUT_BYTES => return Ran::TooMuch(output),
                n => output.stdout.extend_from_slice(&out_buf[..n]),
            },
            read = read_some(&mut stderr, &mut err_buf), if err_open => match read {
                0 => err_open = false,
                n => {
                    // The rest is drained, so that a chatty stderr cannot
                    // block the plugin, and dropped.
                    let room = MAX_STDERR_BYTES.saturating_sub(output.stderr.len());
                    output.stderr.extend_from_slice(&err_buf[..n.min(room)]);
                }
            },
        }
    }
    match child.wait().await {
        Ok(status) => Ran::Exited(status, output),
        // Waiting on our own child cannot fail unless it was already
        // reaped; say UNKNOWN rather than guess.
        Err(_) => Ran::Exited(ExitStatus::from_raw(3 << 8), output),
    }
}

/// Reads what is there; 0 at the end or on an error (a closed pipe).
async fn read_some(pipe: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> usize {
    pipe.read(buf).await.unwrap_or(0)
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

/// The process group a plugin leads (its pid), killed when the run is
/// abandoned before the plugin was reaped.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    /// SIGKILL to every process of the group, once.
    fn kill(mut self) {
        self.signal();
        self.0 = None;
    }

    fn signal(&self) {
        let Some(pgid) = self.0.and_then(|p| i32::try_from(p).ok()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group
        // the unreaped child leads (its pid cannot have been reused); it
        // reads no memory of ours.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }

    /// The plugin was reaped: its pid may be reused, never signal it.
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal();
    }
}
