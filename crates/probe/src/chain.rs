//! Dependency chains: an external endpoint the shop relies on (payment
//! gateway, partner API) checked link by link, so that the outcome says
//! *where* it breaks.
//!
//! The links run in order and the first broken one ends the chain:
//!
//! 1. **DNS**: the endpoint's name resolves (through the context's
//!    resolver, as every probe does) — [`codes::CHAIN_DNS_FAILED`];
//! 2. **TLS** (https only): the [`crate::tls`] probe on the first address:
//!    handshake, trust, name, expiry — [`codes::CHAIN_TLS_FAILED`];
//! 3. **HTTP**: the [`crate::http`] probe with the check's HTTP options
//!    (status, body assertions, latency) — [`codes::CHAIN_HTTP_FAILED`].
//!
//! The chain finding comes first (it is the message), followed by the
//! underlying findings of the link; each link's status, time and findings
//! are in the evidence under `links`.
//!
//! Alongside, the vendor's status page is read when configured
//! ([`crate::statuspage`]). What it says never breaks the chain: an outage
//! or degradation it reports is a Warning ([`codes::CHAIN_VENDOR_OUTAGE`],
//! [`codes::CHAIN_VENDOR_DEGRADED`]), and so is a page that cannot be read
//! ([`codes::CHAIN_STATUSPAGE_UNREADABLE`]). It runs concurrently with the
//! chain on a slightly shorter budget, so a stalled status page cannot make
//! the chain itself time out.

use keepup_config::{ChainSpec, StatusPageSpec, TlsSpec};
use keepup_model::{Finding, Outcome, Severity, Status};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::statuspage::{self, VendorStatus};
use crate::util::{display_url, finish, ms};
use crate::{http, tls};

/// Runs one chain check.
pub async fn probe(spec: &ChainSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let budget = ctx.budget();
    // A tenth of the budget (at most a second) is kept for the chain's own
    // result when the status page stalls.
    let margin = (budget.timeout / 10).min(std::time::Duration::from_secs(1));
    let vendor_ctx = ctx.with_deadline(
        budget
            .deadline
            .checked_sub(margin)
            .unwrap_or(budget.deadline),
        budget.timeout.saturating_sub(margin),
    );
    let vendor = async {
        match &spec.status_page {
            Some(page) => Some(read_vendor(page, &vendor_ctx).await),
            None => None,
        }
    };
    let (mut outcome, vendor) = tokio::join!(run_chain(spec, &ctx), vendor);
    if let Some((findings, evidence)) = vendor {
        for finding in findings {
            outcome.push(finding);
        }
        outcome.evidence.insert("vendor", evidence);
    }
    let host = spec.http.url.host().unwrap_or_default();
    let links = if spec.http.url.scheme_str() == Some("https") {
        "DNS, TLS and HTTP"
    } else {
        "DNS and HTTP"
    };
    finish(
        outcome,
        format!("the chain to {host} works: {links}"),
        started,
    )
}

/// One link's evidence.
fn link(name: &str, status: &str, elapsed_ms: Option<f64>, detail: Value) -> Value {
    json!({ "link": name, "status": status, "ms": elapsed_ms, "detail": detail })
}

fn skipped(name: &str, why: &str) -> Value {
    link(name, "skipped", None, json!(why))
}

/// Findings not already present (the TLS and HTTP links see the same
/// certificate and report the same expiry).
fn push_new(outcome: &mut Outcome, findings: &[Finding]) {
    for f in findings {
        if !outcome
            .findings
            .iter()
            .any(|g| g.code == f.code && g.text == f.text)
        {
            outcome.push(f.clone());
        }
    }
}

fn link_detail(o: &Outcome) -> Value {
    json!({
        "message": o.message,
        "findings": o.findings.iter().map(|f| f.code.clone()).collect::<Vec<_>>(),
    })
}

async fn run_chain(spec: &ChainSpec, ctx: &ProbeContext) -> Outcome {
    let url = &spec.http.url;
    let shown = display_url(url);
    let host = url.host().unwrap_or_default().to_owned();
    let https = url.scheme_str() == Some("https");
    let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut outcome = Outcome::new(Status::Up, "");
    let mut links = Vec::new();

    // 1. DNS
    let dns_started = Instant::now();
    match ctx.resolve(&host, port).await {
        Ok(r) if r.dns.is_none() => links.push(skipped("dns", "the URL names an IP address")),
        Ok(r) => links.push(link(
            "dns",
            "up",
            Some(ms(dns_started.elapsed())),
            json!(
                r.addrs
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
            ),
        )),
        Err(fail) => {
            let underlying = fail.into_finding(ctx);
            outcome.push(Finding::new(
                codes::CHAIN_DNS_FAILED,
                Severity::Critical,
                format!("the chain to {shown} breaks at DNS: {}", underlying.text),
            ));
            links.push(link(
                "dns",
                "down",
                Some(ms(dns_started.elapsed())),
                json!({ "findings": [underlying.code.clone()], "message": underlying.text.clone() }),
            ));
            outcome.push(underlying);
            links.push(skipped("tls", "DNS failed"));
            links.push(skipped("http", "DNS failed"));
            outcome.evidence.insert("links", Value::Array(links));
            return outcome;
        }
    }

    // 2. TLS
    if https {
        let tls_spec = TlsSpec {
            host: host.clone(),
            port,
            all_addresses: false,
            tls: spec.http.tls.clone(),
        };
        let tls_outcome = tls::probe(&tls_spec, ctx).await;
        links.push(link(
            "tls",
            tls_outcome.status.as_str(),
            Some(tls_outcome.latency_ms),
            link_detail(&tls_outcome),
        ));
        if let Some(certs) = tls_outcome
            .evidence
            .details
            .get("addresses")
            .and_then(|a| a.get(0))
        {
            outcome.evidence.insert("tls", certs.clone());
        }
        if tls_outcome.status >= Status::Down {
            if tls_outcome.status == Status::Down {
                outcome.push(Finding::new(
                    codes::CHAIN_TLS_FAILED,
                    Severity::Critical,
                    format!(
                        "the chain to {shown} breaks at TLS: {}",
                        tls_outcome.message
                    ),
                ));
            }
            push_new(&mut outcome, &tls_outcome.findings);
            outcome.worsen(tls_outcome.status);
            links.push(skipped("http", "TLS failed"));
            outcome.evidence.insert("links", Value::Array(links));
            return outcome;
        }
        push_new(&mut outcome, &tls_outcome.findings);
    } else {
        links.push(skipped("tls", "plain http"));
    }

    // 3. HTTP
    let http_outcome = http::probe(&spec.http, ctx).await;
    links.push(link(
        "http",
        http_outcome.status.as_str(),
        Some(http_outcome.latency_ms),
        link_detail(&http_outcome),
    ));
    if http_outcome.status >= Status::Down {
        if http_outcome.status == Status::Down {
            outcome.push(Finding::new(
                codes::CHAIN_HTTP_FAILED,
                Severity::Critical,
                format!(
                    "the chain to {shown} breaks at HTTP: {}",
                    http_outcome.message
                ),
            ));
        }
        outcome.worsen(http_outcome.status);
    }
    push_new(&mut outcome, &http_outcome.findings);
    for key in ["status_code", "final_url", "remote_address", "body_bytes"] {
        if let Some(v) = http_outcome.evidence.details.get(key) {
            outcome.evidence.insert(key, v.clone());
        }
    }
    outcome.evidence.timing = http_outcome.evidence.timing.clone();
    outcome.evidence.insert("links", Value::Array(links));
    outcome
}

/// Reads the vendor's status page: the findings for our outcome and the
/// evidence.
async fn read_vendor(page: &StatusPageSpec, ctx: &ProbeContext) -> (Vec<Finding>, Value) {
    let url = display_url(&page.http.url);
    let unreadable = |why: String| {
        (
            vec![Finding::new(
                codes::CHAIN_STATUSPAGE_UNREADABLE,
                Severity::Warning,
                format!("the vendor's status page {url} cannot be read: {why}"),
            )],
            json!({ "url": url, "error": why }),
        )
    };
    let (fetched, body) = http::fetch(&page.http, ctx).await;
    let Some(body) = body else {
        return unreadable(fetched.message);
    };
    if !body.status.is_success() {
        return unreadable(format!("HTTP {}", body.status.as_u16()));
    }
    if fetched
        .findings
        .iter()
        .any(|f| f.code == codes::HTTP_BODY_TOO_LARGE)
    {
        return unreadable(fetched.message);
    }
    let summary = match statuspage::parse_summary(&body.body) {
        Ok(s) => s,
        Err(why) => return unreadable(why),
    };
    let vendor = statuspage::vendor_status(&summary, &page.components);
    let evidence = json!({
        "url": url,
        "indicator": summary.indicator,
        "description": summary.description,
        "status": vendor.status.as_str(),
        "components": vendor.watched.iter().map(|(n, s)| json!({"name": n, "status": s})).collect::<Vec<_>>(),
        "incidents": summary.incidents.iter().take(20).map(|i| json!({"name": i.name, "status": i.status, "impact": i.impact})).collect::<Vec<_>>(),
        "maintenances": summary.maintenances.iter().take(20).map(|m| json!({"name": m.name, "status": m.status})).collect::<Vec<_>>(),
    });
    (vendor_findings(&vendor, &url), evidence)
}

fn vendor_findings(vendor: &VendorStatus, url: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let list = |items: &[(String, String)]| {
        items
            .iter()
            .map(|(n, s)| format!("{n}: {}", s.replace('_', " ")))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match vendor.status {
        Status::Down => findings.push(Finding::new(
            codes::CHAIN_VENDOR_OUTAGE,
            Severity::Warning,
            format!(
                "the vendor's status page reports an outage ({})",
                list(&vendor.affected)
            ),
        )),
        Status::Degraded => findings.push(Finding::new(
            codes::CHAIN_VENDOR_DEGRADED,
            Severity::Warning,
            format!(
                "the vendor's status page reports a degradation ({})",
                list(&vendor.affected)
            ),
        )),
        _ => {}
    }
    for name in &vendor.missing {
        findings.push(Finding::new(
            codes::CHAIN_VENDOR_COMPONENT_MISSING,
            Severity::Warning,
            format!("the vendor's status page {url} lists no component named {name:?}"),
        ));
    }
    findings
}
