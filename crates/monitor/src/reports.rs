//! SLA reports: the monthly report of a contract built from the store
//! ([`build`], what `keepup report` writes), and the daemon's closing of
//! periods ([`close_periods`]): once a contract's period has closed (plus
//! its `report_delay`, so the period's last results are in), the report is
//! built, kept in the store and, in the same transaction, queued in the
//! outbox once per `report_to` channel; the delivery loop attaches the
//! kept files when it sends ([`attach`]). A crash before the transaction
//! closes the period again after the restart; after it, the outbox sends
//! what was queued and the kept report stops it being built twice.
//!
//! Which periods: from the one running when the daemon first saw the
//! contract (`Store::contract_known_since`) on, oldest first, so a daemon
//! that was down over a month's end catches up on every period it missed,
//! and a contract added to an old store is not reported for periods before
//! it was configured (`keepup report --month` writes those by hand).

use keepup_config::Config;
use keepup_config::contract::Contract;
use keepup_model::{CheckId, Severity, Status, Timestamp};
use keepup_notify::{Attachment, Event, Notification};
use keepup_sla::{
    BackupFigure, DrillFigure, DrillPlanFigure, Escalation, ForecastFigure, LatencyPoint,
    LatencySeries, NotificationSent, Report, RootCause, SecurityEvent, Window,
    is_security_relevant,
};
use keepup_store::{KeptReport, NewReport, Outgoing, ReportFiles, Resolution, Store, StoreError};
use std::collections::{HashMap, HashSet};

/// Cause chains longer than this are cut (the store never makes loops,
/// but a report must not spin if one did).
const MAX_CAUSE_HOPS: usize = 32;
/// Notifications listed per incident at most.
const MAX_NOTIFICATIONS: usize = 200;
/// A kept file larger than this is replaced by a note saying so (the
/// JSON of a month of thousands of checks is tens of MB; the store keeps
/// reports bounded).
const MAX_KEPT_FILE_BYTES: usize = 64 << 20;
/// Attachments of one report mail at most, with the HTML page's inline
/// copy when the mail has one; files that do not fit are left out and the
/// mail says how to get them (mail servers commonly refuse messages over
/// 25 MB, and base64 adds a third).
const MAX_MAIL_ATTACHMENT_BYTES: usize = 15 << 20;

/// Why a report cannot be built or kept.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error("cannot read or write the store: {0}")]
    Store(#[from] StoreError),
    /// The accounting refused its input.
    #[error(transparent)]
    Input(#[from] keepup_sla::InputError),
    /// The store's input could not be read.
    #[error(transparent)]
    Sla(#[from] crate::sla::SlaError),
    /// The period cannot be computed.
    #[error(transparent)]
    Window(#[from] keepup_sla::WindowError),
    /// Rendering failed.
    #[error("cannot render the report: {0}")]
    Render(#[from] std::io::Error),
}

/// The report of `contract` over `window`, measured up to `now`, from the
/// store.
pub fn build(
    store: &Store,
    config: &Config,
    contract: &Contract,
    window: &Window,
    now: Timestamp,
) -> Result<Report, ReportError> {
    let (input, figures) = crate::sla::account_window(store, config, contract, window, now)?;
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
    report.drills = drills(store, config, &contract.site, window.from, until)?;
    report.actions = actions(store, config, &contract.site, window.from, until)?;
    report.capacity = capacity(store, contract, &site_checks, window.from, until)?;
    report.forecasts = forecasts(store, &site_checks, until)?;
    Ok(report)
}

/// The site's peak load of the period against its design: the highest of
/// its capacity check's daily peaks, read from the days of the contract's
/// time zone that the period covers.
fn capacity(
    store: &Store,
    contract: &Contract,
    checks: &[&keepup_config::Check],
    from: Timestamp,
    until: Timestamp,
) -> Result<Option<keepup_sla::CapacityFigure>, StoreError> {
    use keepup_config::{CheckSpec, PassiveSpec, ProbeSpec};
    let Some((check, spec)) = checks.iter().find_map(|c| match &c.spec {
        CheckSpec::Probe(ProbeSpec::Capacity(s)) | CheckSpec::Passive(PassiveSpec::Capacity(s)) => {
            Some((c, s))
        }
        _ => None,
    }) else {
        return Ok(None);
    };
    let highest = crate::peaks::highest(
        store,
        &check.id,
        &contract.time_zone_name,
        &contract.time_zone,
        from,
        until,
    )?;
    let measures = spec
        .design
        .iter()
        .map(|&(m, design)| {
            let peak = highest.get(m.key());
            keepup_sla::CapacityPeak {
                measure: m.key().to_owned(),
                unit: m.unit().to_owned(),
                design,
                peak: peak.map(|p| p.value),
                share_percent: peak.map(|p| p.share),
                at: peak.map(|p| p.at),
            }
        })
        .collect();
    Ok(Some(keepup_sla::CapacityFigure {
        check: check.id.to_string(),
        warn_at_percent: spec.warn_at,
        crit_at_percent: spec.crit_at,
        measures,
    }))
}

/// The file name of a report's rendering: `<contract>-<period>.<ext>`.
pub fn file_name(contract: &str, period: &str, ext: &str) -> String {
    format!("{contract}-{period}.{ext}")
}

/// The report's HTML, CSV and JSON.
pub fn render(report: &Report) -> Result<ReportFiles, ReportError> {
    let mut files = ReportFiles::default();
    keepup_sla::render_html(report, &mut files.html)?;
    keepup_sla::render_csv(report, &mut files.csv)?;
    keepup_sla::render_json(report, &mut files.json)?;
    Ok(files)
}

/// What [`close_periods`] did for one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// The contract.
    pub contract: String,
    /// The period's name.
    pub period: String,
    /// The kept report's number.
    pub report: i64,
    /// Mails queued.
    pub mails: usize,
}

/// How long a period whose report could not be built or kept waits
/// before the next try: building a month's report reads the whole month,
/// too much to repeat every minute for a failure that needs a person.
pub const RETRY_FAILED_PERIOD_AFTER_MS: i64 = 60 * 60 * 1000;

/// The periods whose report failed, and when each is tried again. Kept in
/// memory by the report loop: a restart tries them all at once.
#[derive(Debug, Default)]
pub struct PeriodRetries {
    not_before: HashMap<(String, String), Timestamp>,
}

impl PeriodRetries {
    /// When the report of `contract`'s `period` is tried again, if it failed.
    pub fn retry_at(&self, contract: &str, period: &str) -> Option<Timestamp> {
        self.not_before
            .get(&(contract.to_owned(), period.to_owned()))
            .copied()
    }
}

/// Keeps (and queues the mails of) the report of every period of every
/// contract that closed `report_delay` or longer before `now` and has no
/// kept report yet, oldest first. Called by the daemon every minute.
///
/// A period that fails is logged at error level with its cause and left
/// for [`RETRY_FAILED_PERIOD_AFTER_MS`] (in `retries`); the other periods
/// and contracts go on. A period overlapping one already kept for the
/// contract under another name (its `period` changed from month to
/// quarter) is skipped: its months were reported already.
pub fn close_periods(
    store: &Store,
    config: &Config,
    now: Timestamp,
    retries: &mut PeriodRetries,
) -> Result<Vec<Closed>, ReportError> {
    let mut kept: HashMap<String, Vec<KeptReport>> = HashMap::new();
    for k in store.kept_reports()? {
        kept.entry(k.contract.clone()).or_default().push(k);
    }
    retries.not_before.retain(|_, at| *at > now);
    let mut closed = Vec::new();
    for contract in &config.contracts {
        let kept = kept
            .get(&contract.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let periods = match due_periods(store, contract, now) {
            Ok(periods) => periods,
            Err(e) => {
                tracing::error!(contract = %contract.id, error = %e, "cannot tell the contract's closed SLA periods");
                continue;
            }
        };
        for period in periods {
            let overlapping = kept
                .iter()
                .find(|k| k.period == period.label || (k.from < period.to && period.from < k.to));
            if let Some(k) = overlapping {
                if k.period != period.label {
                    tracing::debug!(contract = %contract.id, period = %period.label, kept = %k.period,
                        "SLA period not reported: it overlaps a report kept already");
                }
                continue;
            }
            let key = (contract.id.clone(), period.label.clone());
            if retries.not_before.contains_key(&key) {
                continue;
            }
            match close(store, config, contract, &period, now) {
                Ok(done) => closed.extend(done),
                Err(e) => {
                    let retry_at = now.saturating_add(RETRY_FAILED_PERIOD_AFTER_MS);
                    tracing::error!(contract = %contract.id, period = %period.label, error = %e, retry_at,
                        "cannot build or keep the SLA report; trying again in an hour");
                    retries.not_before.insert(key, retry_at);
                }
            }
        }
    }
    Ok(closed)
}

/// `contract`'s periods from the one running when the daemon first saw it
/// to the last that closed `report_delay` or longer before `now`.
fn due_periods(
    store: &Store,
    contract: &Contract,
    now: Timestamp,
) -> Result<Vec<Window>, ReportError> {
    let known = store.contract_known_since(&contract.id, now)?;
    let delay = i64::try_from(contract.report_delay.as_millis()).unwrap_or(i64::MAX);
    let mut periods = Vec::new();
    let mut period = Window::period_at(contract, known)?;
    while period.to.saturating_add(delay) <= now {
        let next = Window::period_at(contract, period.to)?;
        periods.push(period);
        period = next;
    }
    Ok(periods)
}

/// Builds, keeps and queues the report of one closed period.
fn close(
    store: &Store,
    config: &Config,
    contract: &Contract,
    period: &Window,
    now: Timestamp,
) -> Result<Option<Closed>, ReportError> {
    let report = build(store, config, contract, period, now)?;
    let mut files = render(&report)?;
    for (data, what) in [
        (&mut files.html, "HTML"),
        (&mut files.csv, "CSV"),
        (&mut files.json, "JSON"),
    ] {
        if data.len() > MAX_KEPT_FILE_BYTES {
            *data = format!(
                "The report's {what} was {} bytes, more than the {} kept; \
                 `keepup report --contract {} --month {}` writes it from the store's data.\n",
                data.len(),
                MAX_KEPT_FILE_BYTES,
                contract.id,
                period.label
            )
            .into_bytes();
        }
    }
    let mail: Vec<Outgoing> = contract
        .report_to
        .iter()
        .map(|channel| Outgoing {
            dedup_key: format!("sla-report/{}/{}", contract.id, period.label),
            channel: channel.clone(),
            incident: None,
            payload: serde_json::to_string(&notification(contract, &report, channel))
                .unwrap_or_default(),
            not_before: now,
        })
        .collect();
    let kept = store.keep_report(
        &NewReport {
            contract: &contract.id,
            period: &period.label,
            from: period.from,
            to: period.to,
            generated_at: now,
            files: &files,
        },
        &mail,
    )?;
    let Some(id) = kept else { return Ok(None) };
    tracing::info!(contract = %contract.id, period = %period.label, report = id, mails = mail.len(), "SLA report kept");
    Ok(Some(Closed {
        contract: contract.id.clone(),
        period: period.label.clone(),
        report: id,
        mails: mail.len(),
    }))
}

/// The mail of a report to `channel`: the figures as a table in the text
/// (what a channel without attachments shows), the files attached when
/// it is sent.
fn notification(contract: &Contract, report: &Report, channel: &str) -> Notification {
    let f = &report.figures;
    let achieved = match f.availability {
        Some(a) => format!("{} %", keepup_sla::truncated(a, 3)),
        None => "no data".to_owned(),
    };
    let text = format!(
        "The SLA report of {} for {} (target {} %, achieved {achieved}); \
         the full report is attached as HTML, CSV and JSON.\n\n{}",
        contract.name,
        f.period,
        f.target,
        keepup_sla::table(std::slice::from_ref(f))
    );
    Notification {
        id: format!("report-{}-{}-{channel}", contract.id, f.period),
        dedup_key: format!("sla-report/{}/{}", contract.id, f.period),
        event: Event::Report,
        severity: Severity::Info,
        title: format!("SLA report {} {}: {achieved}", contract.name, f.period),
        text,
        site: contract.site.clone(),
        checks: Vec::new(),
        started_at: Some(f.from),
        resolved_at: None,
        duration_s: None,
        ack_url: None,
        cause: None,
        runbook: Vec::new(),
        page_url: None,
        past_resolutions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Attaches the kept report's files to its mail, as many as fit in
/// [`MAX_MAIL_ATTACHMENT_BYTES`] (HTML first, its inline copy counted);
/// the text names any left out and the command that writes them.
pub fn attach(n: &mut Notification, kept: &KeptReport, files: ReportFiles) {
    let inline_html = if files.html.len() <= keepup_notify::MAX_INLINE_HTML_BYTES {
        files.html.len()
    } else {
        0
    };
    let mut room = MAX_MAIL_ATTACHMENT_BYTES.saturating_sub(inline_html);
    let mut left_out = Vec::new();
    for (ext, content_type, data) in [
        ("html", "text/html; charset=utf-8", files.html),
        ("csv", "text/csv; charset=utf-8", files.csv),
        ("json", "application/json", files.json),
    ] {
        let filename = file_name(&kept.contract, &kept.period, ext);
        if data.len() > room {
            left_out.push(filename);
            continue;
        }
        room -= data.len();
        n.attachments.push(Attachment {
            filename,
            content_type: content_type.to_owned(),
            data,
        });
    }
    if !left_out.is_empty() {
        n.text.push_str(&format!(
            "\n{} did not fit in this mail; `keepup report --from-store --contract {} --month {} --out DIR` writes them.\n",
            left_out.join(", "),
            kept.contract,
            kept.period
        ));
    }
}

/// Percentiles of the service's first check from the hour rollups; a
/// period too young for any finishes its chart with minute rollups.
fn latency(
    store: &Store,
    contract: &Contract,
    from: Timestamp,
    until: Timestamp,
) -> Result<Option<LatencySeries>, StoreError> {
    let Some(main) = contract.service.checks().first().copied() else {
        return Ok(None);
    };
    let mut resolution = Resolution::Hour;
    let mut rollups = store.rollups(main, resolution, from, until)?;
    if rollups.is_empty() {
        resolution = Resolution::Minute;
        rollups = store.rollups(main, resolution, from, until)?;
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
fn incidents(store: &Store, report: &mut Report) -> Result<(), StoreError> {
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
    for n in store.incident_notifications_between(from, report.generated_at.max(from) + 1)? {
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
        let Some(incident) = store.incident(id)? else {
            continue;
        };
        let mut cause = incident.cause;
        let mut root = None;
        for _ in 0..MAX_CAUSE_HOPS {
            let Some(next) = cause else { break };
            match store.incident(next)? {
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
) -> Result<Vec<SecurityEvent>, StoreError> {
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
    for incident in store.incidents_overlapping(&ids, from, until)? {
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
        for seen in store.findings_between(id, from, until)? {
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
) -> Result<Vec<BackupFigure>, StoreError> {
    let mut out = Vec::new();
    for check in checks.iter().filter(|c| c.spec.kind() == "backup") {
        let (mut failing_ms, mut up_ms) = (0, 0);
        for span in store.status_spans(std::slice::from_ref(&check.id), from, until) {
            let span = span?;
            match span.status {
                Some(Status::Down | Status::Degraded) => failing_ms += span.duration_ms(),
                Some(Status::Up) => up_ms += span.duration_ms(),
                _ => {}
            }
        }
        let last = match store.results(&check.id, from, until, 1)?.pop() {
            Some(r) => Some((r.at, r.outcome)),
            None => store
                .latest_for(&check.id)?
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

/// The forecast measures of the site's checks that run out within the
/// next quarter as of the period's end: each forecast judged (as the live
/// judge does, [`crate::forecast::outlook`]) on the samples of its window
/// ending there, from the store, which keeps them for two windows (raw
/// results are kept 7 days: a report of an older period would have none).
fn forecasts(
    store: &Store,
    checks: &[&keepup_config::Check],
    until: Timestamp,
) -> Result<Vec<ForecastFigure>, StoreError> {
    let mut out = Vec::new();
    for check in checks {
        let mut entries = Vec::new();
        for f in &check.forecasts {
            let window = i64::try_from(f.window.as_millis()).unwrap_or(i64::MAX);
            let points = store.samples_between(
                &check.id,
                &f.measure.key,
                until.saturating_sub(window),
                until,
                keepup_config::forecast::SAMPLES_PER_WINDOW as usize + 1,
            )?;
            entries.push(crate::forecast::outlook(f, &points, until).0);
        }
        if entries.is_empty() {
            continue;
        }
        out.extend(ForecastFigure::from_evidence(
            check.id.as_str(),
            &check.name,
            until,
            &serde_json::Value::Array(entries),
        ));
    }
    out.sort_by(|a, b| a.days_left.total_cmp(&b.days_left));
    Ok(out)
}

/// Drills listed per plan and period at most (a plan drilled every minute
/// by mistake must not make the report unbounded).
const MAX_DRILLS: usize = 500;

/// The drills of the site's recovery plans that started in the period,
/// and each plan's last successful drill, whenever it was.
fn drills(
    store: &Store,
    config: &Config,
    site: &str,
    from: Timestamp,
    until: Timestamp,
) -> Result<Vec<DrillPlanFigure>, StoreError> {
    use keepup_store::{DrRun, DrRunKind, DrRunState};
    let mut out = Vec::new();
    for plan in config.recovery.iter().filter(|p| p.site == site) {
        let targets = (
            i64::try_from(plan.rto.as_millis()).unwrap_or(i64::MAX),
            i64::try_from(plan.rpo.as_millis()).unwrap_or(i64::MAX),
        );
        let figure = |r: &DrRun| {
            DrillFigure::new(
                r.id,
                r.started_at,
                r.ended_at,
                r.state.as_str(),
                (r.rto_ms, r.rpo_ms),
                targets,
            )
        };
        let mut drills: Vec<DrillFigure> = store
            .dr_runs_between(&plan.id, DrRunKind::Drill, from, until, MAX_DRILLS)?
            .iter()
            .map(figure)
            .collect();
        drills.reverse();
        let last_success = store
            .dr_last_run(&plan.id, DrRunKind::Drill, &[DrRunState::Completed], until)?
            .as_ref()
            .map(figure);
        out.push(DrillPlanFigure {
            plan: plan.id.clone(),
            name: plan.name.clone(),
            rto_target_ms: targets.0,
            rpo_target_ms: targets.1,
            drills,
            last_success,
        });
    }
    Ok(out)
}

/// The `[[action]]` runs started in the period that concern `site`: a run
/// made for an incident by the incident's check; any other (a check's
/// status, a measure, a schedule, a person) by the action's checks (`on`,
/// `measure`), listed in the report of each site they belong to. An action
/// that names no check concerns no site in particular and is listed in
/// every site's report (marked so); a run of an action no longer in the
/// configuration is listed only through its incident.
fn actions(
    store: &Store,
    config: &Config,
    site: &str,
    from: Timestamp,
    until: Timestamp,
) -> Result<keepup_sla::ActionsFigure, StoreError> {
    use keepup_sla::{ActionRunFigure, ActionsFigure, MAX_REPORTED_RUNS};
    // The actions that concern the site by their checks, and those that
    // name none (every site's); the store chooses the runs by them and
    // by the incidents of the site's checks.
    let mut names = Vec::new();
    let mut shared = HashSet::new();
    for a in &config.actions {
        let mut checks = a.checks().peekable();
        if checks.peek().is_none() {
            shared.insert(a.name.as_str());
            names.push(a.name.clone());
        } else if checks.any(|c| c.site() == site) {
            names.push(a.name.clone());
        }
    }
    // One more than listed says whether the period had more.
    let mut runs = store.site_action_runs(site, &names, from, until, MAX_REPORTED_RUNS + 1)?;
    let truncated = runs.len() > MAX_REPORTED_RUNS;
    runs.truncate(MAX_REPORTED_RUNS);
    let out = runs
        .into_iter()
        .map(|r| ActionRunFigure {
            shared: !r.by_incident && shared.contains(r.action.as_str()),
            run: r.id,
            action: r.action,
            cause: r.cause,
            cause_detail: r.cause_detail,
            started_at: r.started_at,
            outcome: r.outcome.as_str().to_owned(),
            reason: r.reason,
            incident: r.incident,
        })
        .collect();
    Ok(ActionsFigure::new(out, truncated))
}
