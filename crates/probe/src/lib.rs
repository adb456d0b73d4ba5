//! keepup's probes: one module per protocol, each ending in an [`Outcome`].
//!
//! Every probe has the same shape, `async fn probe(&Spec, &ProbeContext) ->
//! Outcome`, and [`run`] dispatches a configured [`ProbeSpec`] to the right
//! one under the check's timeout. A probe never panics and never returns an
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
//! - [`postgres`]: a PostgreSQL server's role, connections and
//!   replication lag, over a connection kept between runs;
//! - [`mysql`]: MySQL and MariaDB: connections, replica threads and lag,
//!   Galera state, over a bounded client of keepup's own;
//! - [`redis`]: a Redis server's role, memory, refused clients and
//!   replication over a bounded RESP2 client;
//! - [`browser`]: a scenario of steps in a real headless Chromium over
//!   the DevTools protocol (one shared browser, a context per run);
//! - [`nagios`]: a Nagios / Monitoring Plugins command, its exit code,
//!   first line and performance data;
//! - [`prometheus`]: a scraped exposition endpoint and conditions on its
//!   samples;
//! - [`ssh`]: an SSH server's banner and its host key, proven by the
//!   signed key exchange;
//! - [`elasticsearch`]: an Elasticsearch or OpenSearch cluster's health;
//! - [`webstatus`]: nginx's and Apache's own status pages;
//! - [`discover`]: not a probe but their first user: explores a shop's
//!   domain (DNS, open mail and web ports, policy pages) and writes a
//!   starter configuration, for `keepup discover`; [`shop_platform`]
//!   tells Magento 2, WooCommerce, Shopware 6 and PrestaShop home pages
//!   apart and writes a scenario skeleton for each.
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
//! passive checks: heartbeats, keepup's own health and backup checks are
//! `keepup_config::PassiveSpec`s, evaluated by the monitor.

pub mod browser;
pub mod capacity;
pub mod chain;
use keepup_model::codes;
mod context;
mod cpu;
mod database;
pub mod discover;
pub mod dns;
pub mod dnsbl;
pub mod domain;
pub mod elasticsearch;
pub mod http;
pub mod icmp;
pub mod mail;
mod memory;
pub mod mysql;
pub mod nagios;
pub mod page;
pub mod postgres;
pub mod prometheus;
pub mod redis;
pub mod scenario;
pub mod security_txt;
pub mod shop_platform;
pub mod ssh;
pub mod statuspage;
pub mod tcp;
pub mod tls;
mod util;
pub mod webstatus;

pub use context::{DEFAULT_TIMEOUT, ProbeContext, ProbeContextBuilder};
pub use memory::ProbeMemory;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keepup_config::ProbeSpec;
use keepup_model::{Finding, Outcome, Severity, Status};
use tokio::time::Instant;

use keepup_model::text::duration_words;

/// Runs the probe of `spec` once, bounded by `timeout`: the one dispatch
/// of probe kinds. Passive kinds (heartbeats, keepup's own health, backup
/// checks) are not [`ProbeSpec`]s: the monitor evaluates them.
///
/// A run that does not finish in time is Down with a
/// [`keepup_model::codes::PROBE_TIMEOUT`] finding (see [`within_timeout`]).
pub async fn run(spec: &ProbeSpec, timeout: Duration, ctx: &ProbeContext) -> Outcome {
    // One deadline for the probe's inner timers and for the outer guard;
    // the inner ones are polled first, so a probe that notices the deadline
    // itself reports which phase it was in.
    let deadline = Instant::now() + timeout;
    let ctx = ctx.with_deadline(deadline, timeout);
    // Boxed per kind: a run holds its own kind's state, not room for the
    // largest kind's (a chain check's is ten times an http check's), which
    // matters when thousands wait on stalled targets at once.
    let probe: Pin<Box<dyn Future<Output = Outcome> + Send + '_>> = match spec {
        ProbeSpec::Http(spec) => Box::pin(http::probe(spec, &ctx)),
        ProbeSpec::Tcp(spec) => Box::pin(tcp::probe(spec, &ctx)),
        ProbeSpec::Tls(spec) => Box::pin(tls::probe(spec, &ctx)),
        ProbeSpec::Domain(spec) => Box::pin(domain::probe(spec, &ctx)),
        ProbeSpec::Delegation(spec) => Box::pin(dns::probe_delegation(spec, &ctx)),
        ProbeSpec::Dns(spec) => Box::pin(dns::probe_records(spec, &ctx)),
        ProbeSpec::Dnsbl(spec) => Box::pin(dnsbl::probe(spec, &ctx)),
        ProbeSpec::Ping(spec) => Box::pin(icmp::probe(spec, &ctx)),
        ProbeSpec::Page(spec) => Box::pin(page::probe(spec, &ctx)),
        ProbeSpec::SecurityTxt(spec) => Box::pin(security_txt::probe(spec, &ctx)),
        ProbeSpec::Chain(spec) => Box::pin(chain::probe(spec, &ctx)),
        ProbeSpec::Mail(spec) => Box::pin(mail::probe(spec, &ctx)),
        ProbeSpec::Scenario(spec) => Box::pin(scenario::probe(spec, &ctx)),
        ProbeSpec::Browser(spec) => Box::pin(browser::probe(spec, &ctx)),
        ProbeSpec::Nagios(spec) => Box::pin(nagios::probe(spec, &ctx)),
        ProbeSpec::Postgres(spec) => Box::pin(postgres::probe(spec, &ctx)),
        ProbeSpec::Prometheus(spec) => Box::pin(prometheus::probe(spec, &ctx)),
        ProbeSpec::Ssh(spec) => Box::pin(ssh::probe(spec, &ctx)),
        ProbeSpec::Elasticsearch(spec) => Box::pin(elasticsearch::probe(spec, &ctx)),
        ProbeSpec::WebStatus(spec) => Box::pin(webstatus::probe(spec, &ctx)),
        ProbeSpec::Redis(spec) => Box::pin(redis::probe(spec, &ctx)),
        ProbeSpec::Mysql(spec) => Box::pin(mysql::probe(spec, &ctx)),
        ProbeSpec::Capacity(spec) => Box::pin(capacity::probe(spec, &ctx)),
    };
    within_timeout(timeout, probe).await
}

/// Waits for `work` at most `timeout` from now: the one place a check's
/// timeout is enforced and its [`keepup_model::codes::PROBE_TIMEOUT`] finding made. A run
/// that does not finish in time is Down, with the timeout as its latency.
/// [`run`] applies it to every probe; the monitor to passive checks that do
/// work (a backup's freshness lists the repositories' snapshots).
pub async fn within_timeout(timeout: Duration, work: impl Future<Output = Outcome>) -> Outcome {
    let started = Instant::now();
    match tokio::time::timeout_at(started + timeout, work).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let after = duration_words(timeout);
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

    #[tokio::test(start_paused = true)]
    async fn work_past_the_timeout_is_down_with_a_timeout_finding() {
        let never = std::future::pending::<Outcome>();
        let outcome = within_timeout(Duration::from_secs(3), never).await;
        assert_eq!(outcome.status, Status::Down);
        let after = duration_words(Duration::from_secs(3));
        assert_eq!(outcome.message, format!("timed out after {after}"));
        let codes: Vec<&str> = outcome.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec![codes::PROBE_TIMEOUT]);
        let quick = async { Outcome::new(Status::Up, "fine") };
        let outcome = within_timeout(Duration::from_secs(3), quick).await;
        assert_eq!(outcome.status, Status::Up);
    }

    #[test]
    fn a_run_holds_its_kinds_state_boxed_not_room_for_the_largest_kind() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml"))
            .unwrap_or_else(|p| panic!("{p}"));
        let Some(spec) = config.checks().find_map(|c| c.probe()) else {
            panic!("no probe in {src}")
        };
        let ctx = ProbeContext::new();
        let run = run(spec, Duration::from_secs(1), &ctx);
        // Thousands of runs wait at once in a mass outage: each costs this
        // plus its own kind's future (a chain check's is several kB).
        assert!(
            std::mem::size_of_val(&run) < 1024,
            "a run's future is {} bytes",
            std::mem::size_of_val(&run)
        );
    }
}
