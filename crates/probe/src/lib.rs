//! keepup's probes: one module per protocol, each ending in an [`Outcome`].
//!
//! Every probe has the same shape, `async fn probe(&Spec, &ProbeContext) ->
//! Outcome`, and [`run`] dispatches a configured [`Check`] to the right one
//! under the check's timeout. A probe never panics and never returns an
//! error: whatever happens on the wire (a name that does not resolve, a
//! refused connection, an expired certificate, a server that trickles bytes
//! or sends garbage) ends as an `Outcome` with a status, findings with
//! stable codes ([`keepup_model::codes`]), and evidence (timings, certificate summaries).
//!
//! - [`http`]: HTTP/HTTPS requests with status, body, JSON and latency
//!   assertions, redirects, bounded reads;
//! - [`tls`]: certificate expiry, trust, completeness and hostname on every
//!   address behind a name;
//! - [`tcp`]: connect, optional send, optional banner regex;
//! - [`domain`]: registration expiry and status over RDAP or WHOIS.
//! - [`dns`]: the delegation from the root down to a zone and the zone's
//!   health (`delegation`), record expectations (`dns`);
//! - [`dnsbl`]: spam blacklists (RFC 5782) for a shop's addresses and
//!   domain.
//! - [`icmp`]: ICMP echo (ping) over an unprivileged or a raw socket, with
//!   loss and round-trip thresholds;
//! - [`page`]: policy and legal pages: available, not a soft 404, required
//!   phrases, change detection on normalised text;
//! - [`security_txt`]: RFC 9116 `/.well-known/security.txt`;
//! - [`chain`]: an external dependency checked link by link (DNS, TLS,
//!   HTTP), with its vendor's [`statuspage`].
//! - [`mail`]: SMTP, IMAP and POP3 dialogues with STARTTLS or implicit TLS,
//!   the same certificate analysis as HTTPS, and an optional login.
//! - [`discover`]: not a probe but their first user: explores a shop's
//!   domain (DNS, open mail and web ports, policy pages) and writes a
//!   starter configuration, for `keepup discover`.
//!
//! Conventions every probe follows:
//!
//! - `Outcome::message` is a short sentence that stays the same from run to
//!   run while the situation stays the same: it never contains the measured
//!   latency (that is `Outcome::latency_ms` and `evidence.timing`), so the
//!   store can deduplicate it;
//! - secrets (basic-auth passwords) are sent on the wire and nowhere else;
//! - only one TLS crypto provider is used, aws-lc-rs, passed explicitly;
//! - memory per run is bounded (body cap, header limits, banner cap) and
//!   time per run is bounded by the check's timeout, in every phase.
//!
//! What this crate is not: a scheduler (see keepup-monitor) or a place for
//! passive checks: heartbeats are evaluated by the monitor.

pub mod chain;
use keepup_model::codes;
mod context;
pub mod discover;
pub mod dns;
pub mod dnsbl;
pub mod domain;
pub mod http;
pub mod icmp;
pub mod mail;
mod memory;
pub mod page;
pub mod security_txt;
pub mod statuspage;
pub mod tcp;
pub mod tls;
mod util;

pub use context::{DEFAULT_TIMEOUT, ProbeContext, ProbeContextBuilder};
pub use memory::ProbeMemory;

use keepup_config::{Check, CheckSpec};
use keepup_model::{Finding, Outcome, Severity, Status};
use tokio::time::Instant;

use keepup_model::text::duration_words;

/// Runs `check` once, bounded by `check.timeout`.
///
/// A run that does not finish in time is Down with a
/// [`keepup_model::codes::PROBE_TIMEOUT`] finding. Heartbeat checks are passive and are
/// not probed: they come back Unknown, to be evaluated by the monitor.
pub async fn run(check: &Check, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    // One deadline for the probe's inner timers and for this outer guard;
    // the inner ones are polled first, so a probe that notices the deadline
    // itself reports which phase it was in.
    let deadline = started + check.timeout;
    let ctx = ctx.with_deadline(deadline, check.timeout);
    let probe = async {
        match &check.spec {
            CheckSpec::Http(spec) => http::probe(spec, &ctx).await,
            CheckSpec::Tcp(spec) => tcp::probe(spec, &ctx).await,
            CheckSpec::Tls(spec) => tls::probe(spec, &ctx).await,
            CheckSpec::Domain(spec) => domain::probe(spec, &ctx).await,
            CheckSpec::Delegation(spec) => dns::probe_delegation(spec, &ctx).await,
            CheckSpec::Dns(spec) => dns::probe_records(spec, &ctx).await,
            CheckSpec::Dnsbl(spec) => dnsbl::probe(spec, &ctx).await,
            CheckSpec::Ping(spec) => icmp::probe(spec, &ctx).await,
            CheckSpec::Page(spec) => page::probe(spec, &ctx).await,
            CheckSpec::SecurityTxt(spec) => security_txt::probe(spec, &ctx).await,
            CheckSpec::Chain(spec) => chain::probe(spec, &ctx).await,
            CheckSpec::Mail(spec) => mail::probe(spec, &ctx).await,
            CheckSpec::Heartbeat(_) | CheckSpec::SelfHealth(_) | CheckSpec::Backup(_) => {
                Outcome::new(Status::Unknown, "evaluated by the monitor, not probed")
            }
        }
    };
    match tokio::time::timeout_at(deadline, probe).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let after = duration_words(check.timeout);
            let mut outcome = Outcome::new(Status::Down, format!("timed out after {after}"));
            outcome.push(Finding::new(
                codes::PROBE_TIMEOUT,
                Severity::Critical,
                format!("no result within the {after} timeout"),
            ));
            outcome.with_latency(started.elapsed())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_config::{HeartbeatSpec, Secret};
    use keepup_model::CheckId;
    use std::time::Duration;

    #[tokio::test]
    async fn heartbeats_are_not_probed() {
        let check = Check {
            id: CheckId::new("shop", "cron"),
            short_id: "cron".into(),
            name: "cron".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
            tags: Vec::new(),
            depends_on: Vec::new(),
            alerting: keepup_config::Alerting::default(),
            spec: CheckSpec::Heartbeat(HeartbeatSpec {
                token: Secret::new("t".into()),
                period: Duration::from_secs(60),
                grace: Duration::from_secs(10),
            }),
        };
        let outcome = run(&check, &ProbeContext::new()).await;
        assert_eq!(outcome.status, Status::Unknown);
        assert!(outcome.message.contains("monitor"));
    }
}
