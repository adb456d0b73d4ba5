//! `keepup report`: the monthly SLA report of each chosen contract, written
//! as `<contract>-<period>.html`, `.csv` and `.json` into a directory. The
//! figures are `keepup sla`'s (same store reading, same accounting); this
//! module adds what the report shows beside them from the store, read-only:
//! latency rollups of the service's main check, incident cause chains,
//! notifications, security findings and the site's backup checks.

use super::sla::{choose, open_store, read_input};
use anyhow::Context;
use keepup_config::Config;
use keepup_config::contract::Contract;
use keepup_model::{CheckId, Clock, Severity, Status, SystemClock, Timestamp};
use keepup_sla::{
    BackupFigure, Escalation, LatencyPoint, LatencySeries, NotificationSent, Report, RootCause,
    SecurityEvent, Window, is_security_relevant,
};
use keepup_store::{Resolution, Store};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Cause chains longer than this are cut (the store never makes loops,
/// but a report must not spin if one did).
const MAX_CAUSE_HOPS: usize = 32;
/// Notifications listed per incident at most.
const MAX_NOTIFICATIONS: usize = 200;

/// `keepup report`
pub fn run(
    path: &Path,
    contract: Option<&str>,
    month: Option<&str>,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let chosen = choose(&config, path, contract, None)?;
    let store = open_store(&config, path)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create the directory {}", out.display()))?;
    let now = SystemClock.now_ms();
    for c in chosen {
        let window = match month {
            Some(m) => Window::for_month(c, m),
            None => Window::period_at(c, now),
        }
        .with_context(|| format!("contract {}", c.id))?;
        let report = build(&store, &config, c, &window, now)
            .with_context(|| format!("contract {}", c.id))?;
        for written in write_files(&report, out)? {
            println!("{}", written.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The report of `contract` over `window`, from the store.
fn build(
    store: &Store,
    config: &Config,
    contract: &Contract,
    window: &Window,
    now: Timestamp,
) -> anyhow::Result<Report> {
    let input = read_input(store, config, contract, window, now)?;
    let figures = keepup_sla::account(contract, window, now, &input)?;
    let until = figures.measured_to;
    let mut report = Report::new(contract, &input, figures, now);
    report.latency = latency(store, contract, window.from, until)?;
    incidents(store, &mut report)?;
    let site_checks: Vec<&keepup_config::Check> = config
        .sites
        .iter()
        .filter(|s| s.id == contract.site)
        .flat_map(|s| s.checks.iter().map(|c| &**c))
        .collect();
    report.security = security(store, &site_checks, window.from, until)?;
    report.backups = backups(store, &site_checks, window.from, until)?;
    Ok(report)
}

/// Writes the three files; returns their paths.
fn write_files(report: &Report, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let f = &report.figures;
    let stem = format!("{}-{}", f.contract, f.period);
    let mut written = Vec::new();
    for ext in ["html", "csv", "json"] {
        let file = out.join(format!("{stem}.{ext}"));
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&file)
                .with_context(|| format!("cannot create {}", file.display()))?,
        );
        match ext {
            "html" => keepup_sla::render_html(report, &mut w),
            "csv" => keepup_sla::render_csv(report, &mut w),
            _ => keepup_sla::render_json(report, &mut w),
        }
        .and_then(|()| w.flush())
        .with_context(|| format!("cannot write {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// Percentiles of the service's first check from the hour rollups; a
/// period too young for any finishes its chart with minute rollups.
fn latency(
    store: &Store,
    contract: &Contract,
    from: Timestamp,
    until: Timestamp,
) -> anyhow::Result<Option<LatencySeries>> {
    let Some(main) = contract.service.checks().first().copied() else {
        return Ok(None);
    };
    let mut resolution = Resolution::Hour;
    let mut rollups = store
        .rollups(main, resolution, from, until)
        .context("cannot read the latency rollups")?;
    if rollups.is_empty() {
        resolution = Resolution::Minute;
        rollups = store
            .rollups(main, resolution, from, until)
            .context("cannot read the latency rollups")?;
    }
    Ok(Some(LatencySeries {
        check: main.to_string(),
        resolution: resolution.as_str().to_owned(),
        points: rollups
            .iter()
            .map(|r| LatencyPoint {
                at: r.bucket_start,
                p50_ms: r.latency_p50_ms,
                p95_ms: r.latency_p95_ms,
                p99_ms: r.latency_p99_ms,
            })
            .collect(),
    }))
}

/// Root causes (the first incident of each cause chain) and escalations
/// (notifications from the outbox, acknowledgements) of the report's
/// incidents.
fn incidents(store: &Store, report: &mut Report) -> anyhow::Result<()> {
    let ids: Vec<i64> = report.figures.incidents.iter().map(|i| i.id).collect();
    // Escalations of the period's incidents run on after its end.
    let from = report
        .figures
        .incidents
        .iter()
        .map(|i| i.detected_at)
        .min()
        .unwrap_or(report.figures.from);
    let mut sent: HashMap<i64, Vec<NotificationSent>> = HashMap::new();
    for n in store
        .incident_notifications_between(from, report.generated_at.max(from) + 1)
        .context("cannot read the notifications")?
    {
        let Some(incident) = n.incident else { continue };
        let list = sent.entry(incident).or_default();
        if list.len() < MAX_NOTIFICATIONS {
            list.push(NotificationSent {
                channel: n.channel,
                state: n.state.as_str().to_owned(),
                created_at: n.created_at,
                sent_at: n.sent_at,
                attempts: n.attempts,
                error: n.last_error,
            });
        }
    }
    for id in ids {
        let Some(incident) = store.incident(id).context("cannot read an incident")? else {
            continue;
        };
        let mut cause = incident.cause;
        let mut root = None;
        for _ in 0..MAX_CAUSE_HOPS {
            let Some(next) = cause else { break };
            match store.incident(next).context("cannot read an incident")? {
                Some(parent) => {
                    cause = parent.cause.filter(|c| *c != parent.id);
                    root = Some(parent);
                }
                None => break,
            }
        }
        if let Some(root) = root {
            report.root_causes.push(RootCause {
                incident: id,
                root: root.id,
                check: root.check.to_string(),
                message: root.message,
            });
        }
        let notifications = sent.remove(&id).unwrap_or_default();
        report.escalations.push(Escalation {
            incident: id,
            notifications,
            acknowledged_at: incident.acknowledged_at,
            acknowledged_by: incident.acknowledged_by,
        });
    }
    Ok(())
}

/// Security-relevant findings (warning or worse) of the site's checks:
/// from the days their results had findings (kept as long as day rollups)
/// and from the incidents' first outcomes, one entry per check and code.
fn security(
    store: &Store,
    checks: &[&keepup_config::Check],
    from: Timestamp,
    until: Timestamp,
) -> anyhow::Result<Vec<SecurityEvent>> {
    let mut events: Vec<SecurityEvent> = Vec::new();
    let mut note = |check: &CheckId,
                    finding: &keepup_model::Finding,
                    first: Timestamp,
                    last: Timestamp,
                    results: u64| {
        if finding.severity == Severity::Info || !is_security_relevant(&finding.code) {
            return;
        }
        match events
            .iter_mut()
            .find(|e| e.check == check.as_str() && e.code == finding.code)
        {
            Some(e) => {
                if last >= e.last {
                    e.text.clone_from(&finding.text);
                    e.severity = finding.severity.as_str().to_owned();
                }
                e.first = e.first.min(first);
                e.last = e.last.max(last);
                e.results += results;
            }
            None => events.push(SecurityEvent {
                check: check.to_string(),
                code: finding.code.clone(),
                severity: finding.severity.as_str().to_owned(),
                text: finding.text.clone(),
                first,
                last,
                results,
            }),
        }
    };
    let ids: Vec<CheckId> = checks.iter().map(|c| c.id.clone()).collect();
    for incident in store
        .incidents_overlapping(&ids, from, until)
        .context("cannot read the incidents")?
    {
        let last = incident.resolved_at.unwrap_or(until).min(until);
        for finding in &incident.findings {
            note(
                &incident.check,
                finding,
                incident.opened_at.max(from),
                last,
                0,
            );
        }
    }
    for id in &ids {
        for seen in store
            .findings_between(id, from, until)
            .context("cannot read the findings")?
        {
            note(id, &seen.finding, seen.first, seen.last, seen.results);
        }
    }
    events.sort_by(|a, b| (a.first, &a.check, &a.code).cmp(&(b.first, &b.check, &b.code)));
    Ok(events)
}

/// The site's backup checks over the period: time failing and up from
/// their status spans, and their last result before the period's end.
fn backups(
    store: &Store,
    checks: &[&keepup_config::Check],
    from: Timestamp,
    until: Timestamp,
) -> anyhow::Result<Vec<BackupFigure>> {
    let mut out = Vec::new();
    for check in checks.iter().filter(|c| c.spec.kind() == "backup") {
        let (mut failing_ms, mut up_ms) = (0, 0);
        for span in store.status_spans(std::slice::from_ref(&check.id), from, until) {
            let span = span.context("cannot read the status timeline")?;
            match span.status {
                Some(Status::Down | Status::Degraded) => failing_ms += span.duration_ms(),
                Some(Status::Up) => up_ms += span.duration_ms(),
                _ => {}
            }
        }
        let last = match store
            .results(&check.id, from, until, 1)
            .context("cannot read the results")?
            .pop()
        {
            Some(r) => Some((r.at, r.outcome)),
            None => store
                .latest_for(&check.id)
                .context("cannot read the latest result")?
                .filter(|l| l.at < until && l.at >= from)
                .map(|l| (l.at, l.outcome)),
        };
        out.push(BackupFigure {
            check: check.id.to_string(),
            name: check.name.clone(),
            status: last.as_ref().map(|(_, o)| o.status.as_str().to_owned()),
            last_at: last.as_ref().map(|(at, _)| *at),
            message: last.map(|(_, o)| o.message).unwrap_or_default(),
            failing_ms,
            up_ms,
        });
    }
    Ok(out)
}
