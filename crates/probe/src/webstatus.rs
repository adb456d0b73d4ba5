//! Web server status pages: nginx `stub_status`, Apache
//! `server-status?auto` and Tomcat's manager `status?XML=true`, fetched
//! through [`crate::http`] and read as numbers; and answers that must come
//! through Varnish Cache.
//!
//! nginx: active connections (against `active`), reading, writing and
//! waiting, and the counters accepts, handled and requests; connections
//! accepted but not handled are dropped ones (`worker_connections` or a
//! descriptor limit reached), reported when their count grew since the
//! check's previous run (at the first run, when there are any). Apache:
//! busy and idle workers and the scoreboard's slots, busy workers as a
//! share of the slots against `busy`, and the request counters. Tomcat:
//! the JVM's heap used of its maximum against `memory` (Zabbix's and
//! Checkmk's first Tomcat alarm), each connector's busy threads of its
//! `maxThreads` against `threads` (all threads busy and requests queue),
//! and its request and error counters. Varnish: the answer must carry
//! `X-Varnish` (else something else answered: Varnish is not in the
//! path); a 5xx Varnish made itself (`Server: Varnish`, its "Guru
//! Meditation" page: "Backend fetch failed", or a health URL's synthetic
//! "Backend sick") says the backend failed; a hit (two transaction ids in
//! `X-Varnish`) and the `Age` go into the evidence, and `cached = true`
//! asks a missed page once more, whose second miss means Varnish does not
//! cache it (a `Set-Cookie` or `Cache-Control: private` from the shop).

use std::collections::HashMap;
use std::sync::Mutex;

use keepup_config::WebStatusSpec;
use keepup_config::threshold::Threshold;
use keepup_config::webstatus::StatusPage;
use keepup_model::{Finding, Outcome, Severity};
use serde_json::json;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http;
use crate::util::finish;

/// Dropped connections seen at the previous run, by check and URL
/// ([`ProbeContext::check_key`]).
#[derive(Default)]
struct DroppedBefore(Mutex<HashMap<String, u64>>);

/// At most this many URLs are remembered.
const MAX_REMEMBERED: usize = 10_000;

/// Runs one status page check.
pub async fn probe(spec: &WebStatusSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    if spec.page == StatusPage::Varnish {
        return varnish::probe(spec, ctx, started).await;
    }
    let (mut outcome, page) = match http::fetch_answer(&spec.http, ctx).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    let text = String::from_utf8_lossy(&page.body);
    outcome.message = String::new();
    let ok = match spec.page {
        StatusPage::Nginx => match NginxStatus::parse(&text) {
            Some(status) => nginx(spec, ctx, &status, &mut outcome),
            None => return invalid(outcome, "nginx stub_status"),
        },
        StatusPage::Apache => match ApacheStatus::parse(&text) {
            Some(status) => apache(spec, &status, &mut outcome),
            None => return invalid(outcome, "Apache server-status?auto"),
        },
        StatusPage::Tomcat => match tomcat::Status::parse(&text) {
            Some(status) => tomcat::judge(spec, &status, &mut outcome),
            None => return invalid(outcome, "Tomcat manager status?XML=true"),
        },
        // Never here: varnish::probe answered above.
        StatusPage::Varnish => return outcome,
    };
    finish(outcome, ok, started)
}

mod tomcat;
mod varnish;

/// Not the page expected: Down, saying which was.
fn invalid(mut outcome: Outcome, page: &str) -> Outcome {
    let text = format!("the answer is not an {page} page");
    outcome.push(Finding::new(
        codes::WEB_STATUS_INVALID,
        Severity::Critical,
        text.clone(),
    ));
    outcome.message = text;
    outcome
}

/// A finding when `value` reaches the threshold.
fn limit_finding(
    limit: Option<&Threshold>,
    value: f64,
    code: &str,
    what: String,
) -> Option<Finding> {
    limit?.finding(value, code, |name, level| {
        format!("{what} ({name} {level})")
    })
}

fn nginx(
    spec: &WebStatusSpec,
    ctx: &ProbeContext,
    s: &NginxStatus,
    outcome: &mut Outcome,
) -> String {
    outcome.evidence.insert(
        "nginx",
        json!({
            "active": s.active, "accepts": s.accepts, "handled": s.handled, "requests": s.requests,
            "reading": s.reading, "writing": s.writing, "waiting": s.waiting,
        }),
    );
    let dropped = s.accepts.saturating_sub(s.handled);
    let key = ctx.check_key(&spec.http.url.to_string());
    let state = ctx.kind_state::<DroppedBefore>();
    let before = {
        let mut seen = state.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&key) {
            seen.clear();
        }
        seen.insert(key, dropped)
    };
    // A restarted nginx counts from zero again.
    let new = match before {
        Some(b) if b <= dropped => dropped - b,
        _ => dropped,
    };
    if new > 0 {
        outcome.push(Finding::new(
            codes::NGINX_CONNECTIONS_DROPPED,
            Severity::Warning,
            format!(
                "nginx dropped {new} connection{} it accepted ({dropped} since it started): worker_connections or a descriptor limit was reached",
                if new == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(f) = limit_finding(
        spec.limit.as_ref(),
        s.active as f64,
        codes::NGINX_ACTIVE_HIGH,
        format!("nginx has {} active connections", s.active),
    ) {
        outcome.push(f);
    }
    "nginx answers its status".to_owned()
}

fn apache(spec: &WebStatusSpec, s: &ApacheStatus, outcome: &mut Outcome) -> String {
    let busy_percent = if s.slots > 0 {
        s.busy as f64 * 100.0 / s.slots as f64
    } else {
        0.0
    };
    outcome.evidence.insert(
        "apache",
        json!({
            "busy_workers": s.busy, "idle_workers": s.idle, "slots": s.slots,
            "busy_percent": (busy_percent * 10.0).round() / 10.0,
            "total_accesses": s.total_accesses, "uptime_seconds": s.uptime,
        }),
    );
    if let Some(f) = limit_finding(
        spec.limit.as_ref(),
        busy_percent,
        codes::APACHE_WORKERS_BUSY,
        format!("Apache has {} of {} worker slots busy", s.busy, s.slots),
    ) {
        outcome.push(f);
    }
    "Apache answers its status".to_owned()
}

/// nginx's `stub_status` page.
#[derive(Debug, PartialEq)]
struct NginxStatus {
    active: u64,
    accepts: u64,
    handled: u64,
    requests: u64,
    reading: u64,
    writing: u64,
    waiting: u64,
}

impl NginxStatus {
    /// `Active connections: N`, `server accepts handled requests`, the
    /// three counters, `Reading: N Writing: N Waiting: N`.
    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let active = lines
            .next()?
            .strip_prefix("Active connections:")?
            .trim()
            .parse()
            .ok()?;
        if lines.next()? != "server accepts handled requests" {
            return None;
        }
        let counters: Vec<u64> = lines
            .next()?
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let [accepts, handled, requests] = counters[..] else {
            return None;
        };
        let words: Vec<&str> = lines.next()?.split_whitespace().collect();
        let [r, reading, w, writing, wa, waiting] = words[..] else {
            return None;
        };
        if (r, w, wa) != ("Reading:", "Writing:", "Waiting:") {
            return None;
        }
        Some(Self {
            active,
            accepts,
            handled,
            requests,
            reading: reading.parse().ok()?,
            writing: writing.parse().ok()?,
            waiting: waiting.parse().ok()?,
        })
    }
}

/// Apache's `server-status?auto`.
#[derive(Debug, PartialEq)]
struct ApacheStatus {
    busy: u64,
    idle: u64,
    /// Scoreboard slots (every character but none).
    slots: u64,
    total_accesses: Option<u64>,
    uptime: Option<u64>,
}

impl ApacheStatus {
    /// `Key: value` lines; `BusyWorkers`, `IdleWorkers` and `Scoreboard`
    /// are required.
    fn parse(text: &str) -> Option<Self> {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for line in text.lines().take(1000) {
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.trim(), v.trim());
            }
        }
        let number = |k: &str| fields.get(k).and_then(|v| v.parse::<u64>().ok());
        Some(Self {
            busy: number("BusyWorkers")?,
            idle: number("IdleWorkers")?,
            slots: fields.get("Scoreboard")?.chars().count() as u64,
            total_accesses: number("Total Accesses"),
            uptime: number("Uptime"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_and_server_status_are_read() {
        let nginx = "Active connections: 291 \nserver accepts handled requests\n 16630948 16630940 31070465 \nReading: 6 Writing: 179 Waiting: 106 \n";
        let s = NginxStatus::parse(nginx).unwrap();
        assert_eq!((s.active, s.accepts - s.handled, s.waiting), (291, 8, 106));
        assert!(NginxStatus::parse("Active connections: x\n").is_none());
        assert!(NginxStatus::parse("<html>Welcome to nginx!</html>").is_none());
        let apache = "localhost\nServerVersion: Apache/2.4.62 (Debian)\nTotal Accesses: 42\nUptime: 3600\nBusyWorkers: 3\nIdleWorkers: 72\nScoreboard: __W_R___K.......\n";
        let s = ApacheStatus::parse(apache).unwrap();
        assert_eq!(
            (s.busy, s.idle, s.slots, s.total_accesses),
            (3, 72, 16, Some(42))
        );
        assert!(ApacheStatus::parse("Total Accesses: 1\n").is_none());
    }
}
