//! TCP checks: can a port be reached, and does it greet as expected?
//!
//! Connects to `host:port` (every resolved address tried in order), sends
//! the optional `send` text, and matches the optional `expect_banner` regex
//! against the first bytes received: at most [`MAX_BANNER_BYTES`], read
//! until the regex matches, the peer closes or pauses for a second, or the
//! run's deadline passes.

use std::time::Duration;

use keepup_config::TcpSpec;
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::util::{connect_first, escape_received, failed, finish, io_reason, ms};

/// At most this much of the banner is read.
pub const MAX_BANNER_BYTES: usize = 4096;

/// Once some bytes have arrived, a pause this long ends the banner.
const BANNER_IDLE: Duration = Duration::from_secs(1);

/// Runs one TCP check.
pub async fn probe(spec: &TcpSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let target = format!("{}:{}", spec.host, spec.port);
    let resolution = match ctx.resolve(&spec.host, spec.port).await {
        Ok(r) => r,
        Err(fail) => return failed(&ctx, fail, started),
    };
    let mut timing = TimingBreakdown {
        dns_ms: resolution.dns.map(ms),
        ..TimingBreakdown::default()
    };
    let mut outcome = Outcome::new(Status::Up, "");
    let connected = match connect_first(&ctx, &resolution.addrs).await {
        Ok(c) => c,
        Err(fail) => {
            let mut outcome = failed(&ctx, fail, started);
            timing.total_ms = Some(ms(started.elapsed()));
            outcome.evidence.timing = Some(timing);
            return outcome;
        }
    };
    timing.connect_ms = Some(ms(connected.elapsed));
    outcome
        .evidence
        .insert("remote_address", connected.remote.to_string());
    let mut stream = connected.stream;
    let mut ok_message = format!("connected to {target}");

    if let Some(text) = &spec.send {
        match ctx
            .within("sending", stream.write_all(text.as_bytes()))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => outcome.push(Finding::new(
                codes::TCP_SEND_FAILED,
                Severity::Critical,
                format!("sending to {target} failed: {}", io_reason(&e)),
            )),
            Err(fail) => outcome.push(fail.into_finding(&ctx)),
        }
    }

    if let (Some(re), Status::Up) = (&spec.expect_banner, outcome.status) {
        let sent = Instant::now();
        let mut received: Vec<u8> = Vec::with_capacity(512);
        let mut buf = [0u8; 1024];
        let mut matched = false;
        let mut read_error = None;
        while received.len() < MAX_BANNER_BYTES {
            let room = (MAX_BANNER_BYTES - received.len()).min(buf.len());
            // Wait for the first bytes until the deadline, then only briefly
            // for more: a banner arrives in one burst.
            let until = if received.is_empty() {
                ctx.deadline_within(Duration::MAX)
            } else {
                ctx.deadline_within(BANNER_IDLE)
            };
            match tokio::time::timeout_at(until, stream.read(&mut buf[..room])).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    if timing.first_byte_ms.is_none() {
                        timing.first_byte_ms = Some(ms(sent.elapsed()));
                    }
                    received.extend_from_slice(&buf[..n]);
                    if re.is_match(&String::from_utf8_lossy(&received)) {
                        matched = true;
                        break;
                    }
                }
                Ok(Err(e)) => {
                    read_error = Some(io_reason(&e));
                    break;
                }
                // Quiet or out of time: judge what arrived, if anything.
                Err(_) => break,
            }
        }
        let shown = escape_received(&received, 200);
        outcome.evidence.insert("banner", shown.clone());
        if matched {
            ok_message = format!("{target} answered with the expected banner");
        } else if received.is_empty() {
            let why = match read_error {
                Some(e) => format!("the connection failed: {e}"),
                None => "nothing was received".to_owned(),
            };
            outcome.push(Finding::new(
                codes::TCP_NO_BANNER,
                Severity::Critical,
                format!("{target} sent no banner matching /{}/: {why}", re.as_str()),
            ));
        } else {
            // The banner may carry a date or a counter: the finding shows it,
            // the message stays the same from run to run.
            outcome.message = format!("{target} did not answer with the expected banner");
            outcome.push(Finding::new(
                codes::TCP_BANNER_MISMATCH,
                Severity::Critical,
                format!(
                    "{target} answered \"{shown}\", which does not match /{}/",
                    re.as_str()
                ),
            ));
        }
    }
    // Dropping the stream closes it; nothing is awaited past this point, so
    // a result reached at the deadline is not lost to the run's timeout.
    drop(stream);
    timing.total_ms = Some(ms(started.elapsed()));
    outcome.evidence.timing = Some(timing);
    finish(outcome, ok_message, started)
}
