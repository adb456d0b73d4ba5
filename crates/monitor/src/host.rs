//! Hosts watched through `keepup agent` (passive checks of kind `host`):
//! agents push reports to `/agent/report` (or keepup pulls them), each
//! report is taken once (by its sequence number, checked and persisted
//! under one lock before it is acknowledged), and each `host` check judges
//! every report of its agent against its thresholds: one result per
//! report, at its collection time ([`Verdicts`]). The scheduled runs judge
//! the latest report at their own time; each `nagios` check with `agent`
//! and `plugin` judges that plugin's run in each report as a local
//! plugin's. An agent not heard from for `silent_after` intervals is
//! `AGENT_SILENT`.
//!
//! A backlog (reports the agent queued while it could not reach us,
//! delivered oldest first) is judged report by report: its results are
//! older than what the central recorded meanwhile, so they are history
//! (stored in time order, spans included, never driving the state machine
//! backwards). What the central recorded itself while it could not hear
//! the agent (`AGENT_SILENT`, or an older report's verdict) is replaced,
//! for the times a report collected within `silent_after` intervals
//! before covers, by that report's verdict: the history shows what the
//! reports say, and `AGENT_SILENT` only where no report was collected for
//! that long. The incident the silence opened stays (it was real, and was
//! notified); the report that is fresh again drives the state at once.
//!
//! A report is identified by its token, never by what it says: the agent
//! whose token matches (compared in constant time) is the only one whose
//! name the report may carry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use keepup_config::capacity::{CapacitySpec, LoadSource};
use keepup_config::forecast::{HostMeasure, Measure, Source};
use keepup_config::{
    AgentPluginSpec, AgentSpec, Check, CheckSpec, Config, HostSpec, PassiveSpec, Threshold,
};
use tokio::sync::mpsc;

use crate::recorder::{FlushRequest, Recorder};
use crate::scheduler::{Completed, Origin, SchedulerHandle};
use keepup_model::host::{
    AGENT_ACTION_VERSION, ActionOutcome, ActionOutcomes, ActionRequest, ActionRequests,
    HOST_REPORT_VERSION, HostReport, MAX_ACTION_EXCHANGE_BYTES, MAX_ACTIONS_PER_EXCHANGE,
};
use keepup_model::{CheckId, Finding, Outcome, Severity, Status, Timestamp, codes, format_rfc3339};
use keepup_store::{MemoChange, Store};
use subtle::ConstantTimeEq;

/// The memo kind of each agent's last report (JSON of [`Received`]).
const LAST_REPORT: &str = "agent_last_report";
/// The memo kind of since when each agent is watched (ms).
const WATCHED_SINCE: &str = "agent_watched_since";

/// Why a report was refused; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// No agent has this token (401).
    #[error("no agent has this token")]
    UnknownToken,
    /// The report names another agent than the token's (403).
    #[error("this token belongs to agent {token_of:?}, not to {claimed:?}")]
    NotYourHost {
        /// The token's agent.
        token_of: String,
        /// The name in the report.
        claimed: String,
    },
    /// Not a report of the version this keepup reads (400).
    #[error("not a host report: {0}")]
    Malformed(String),
    /// The report could not be stored; the agent should retry (503).
    #[error("the report could not be stored: {0}")]
    Store(String),
}

/// What happened to an accepted report.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Stored; the verdicts of the checks that judge it.
    New(Judged),
    /// Its sequence number was seen already: nothing stored.
    Duplicate,
}

/// The verdicts of an agent's host checks on one report.
#[derive(Debug, Clone)]
pub struct Judged {
    /// When the report was collected, by our clock (kept between the
    /// previous report's time and its arrival).
    pub at: Timestamp,
    /// Its sequence number.
    pub seq: u64,
    /// How long after its collection a report is fresh (`silent_after`
    /// intervals).
    pub silence_ms: i64,
    /// Whether it was still fresh when it arrived.
    pub fresh: bool,
    /// Each host check of the agent with its verdict.
    pub verdicts: Vec<(Arc<Check>, Outcome)>,
}

/// A report with when it was collected, by our clock: the agent's time
/// kept between the previous report's and its arrival.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Received {
    at: Timestamp,
    report: HostReport,
    /// Mount points seen writable in an earlier report.
    #[serde(default)]
    were_writable: Vec<String>,
}

/// Agents, their latest reports, and which checks judge them.
#[derive(Default)]
pub struct HostBook {
    agents: Mutex<Vec<AgentSpec>>,
    checks_of: Mutex<HashMap<String, Vec<Arc<Check>>>>,
    /// Each agent's lock, held from the sequence check to the update of
    /// `latest`, so two pushes of one agent at once cannot both take a
    /// report; one per agent so that agents never wait for each other's
    /// store write (review 31 #10). Only configured agents get here.
    accepting: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    latest: Mutex<HashMap<String, Arc<Received>>>,
    watched_since: Mutex<HashMap<String, Timestamp>>,
    pull_errors: Mutex<HashMap<String, String>>,
    /// Host measures `[[action]]` measure triggers read, by check: noted
    /// in the evidence with the forecasts' (where both read them).
    triggered: Mutex<HashMap<CheckId, Vec<Measure>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HostBook {
    /// Takes the configured agents and host checks, loading what the store
    /// remembers of agents not seen before.
    pub fn configure(&self, config: &Config, checks: &[Arc<Check>], store: &Store, now: Timestamp) {
        let mut triggered: HashMap<CheckId, Vec<Measure>> = HashMap::new();
        for t in config
            .actions
            .iter()
            .filter_map(|a| a.triggers.measure.as_ref())
        {
            if let Source::Host(_) = &t.measure.source {
                triggered
                    .entry(t.check.clone())
                    .or_default()
                    .push(t.measure.clone());
            }
        }
        *lock(&self.triggered) = triggered;
        let mut checks_of: HashMap<String, Vec<Arc<Check>>> = HashMap::new();
        for c in checks {
            let agent = match &c.spec {
                CheckSpec::Passive(PassiveSpec::Host(h)) => &h.agent,
                CheckSpec::Passive(PassiveSpec::AgentPlugin(p)) => &p.agent,
                CheckSpec::Passive(PassiveSpec::Capacity(c)) => match &c.source {
                    LoadSource::AccessLog { agent, .. } => agent,
                    LoadSource::Prometheus { .. } => continue,
                },
                _ => continue,
            };
            checks_of.entry(agent.clone()).or_default().push(c.clone());
        }
        let mut first_seen = Vec::new();
        {
            let mut latest = lock(&self.latest);
            let mut since = lock(&self.watched_since);
            let stored_since: HashMap<String, Timestamp> = store
                .memos(WATCHED_SINCE)
                .map(|rows| {
                    rows.into_iter()
                        .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default();
            for a in &config.agents {
                if !since.contains_key(&a.name) {
                    let at = match stored_since.get(&a.name) {
                        Some(at) => *at,
                        None => {
                            first_seen.push(MemoChange::put(
                                WATCHED_SINCE,
                                a.name.clone(),
                                now.to_string(),
                            ));
                            now
                        }
                    };
                    since.insert(a.name.clone(), at);
                }
                if !latest.contains_key(&a.name)
                    && let Ok(Some(json)) = store.memo(LAST_REPORT, &a.name)
                    && let Ok(r) = serde_json::from_str::<Received>(&json)
                {
                    latest.insert(a.name.clone(), Arc::new(r));
                }
            }
            latest.retain(|name, _| config.agents.iter().any(|a| &a.name == name));
        }
        if let Err(e) = store.write_memos(now, &first_seen) {
            tracing::warn!(error = %e, "cannot record since when agents are watched");
        }
        *lock(&self.checks_of) = checks_of;
        *lock(&self.agents) = config.agents.clone();
    }

    /// The agents configured.
    pub fn agents(&self) -> Vec<AgentSpec> {
        lock(&self.agents).clone()
    }

    /// The agent whose token this is, compared in constant time against
    /// every agent's (so the answer's timing does not say how much of a
    /// token was right, nor which agent it was close to).
    pub fn agent_of_token(&self, token: &str) -> Option<AgentSpec> {
        let agents = lock(&self.agents);
        let mut found = None;
        for a in agents.iter() {
            let equal: bool = a.token.expose().as_bytes().ct_eq(token.as_bytes()).into();
            if equal {
                found = Some(a.clone());
            }
        }
        found
    }

    /// Takes a report (`body`, JSON) pushed by `agent` (whose token the
    /// caller matched with [`Self::agent_of_token`] before reading the
    /// body): refused unless the report is that agent's; a sequence
    /// number seen before is acknowledged and dropped; a new one is
    /// stored before this returns.
    pub fn receive(
        &self,
        agent: &AgentSpec,
        body: &[u8],
        store: &Store,
        now: Timestamp,
    ) -> Result<Accepted, ReportError> {
        let report: HostReport =
            serde_json::from_slice(body).map_err(|e| ReportError::Malformed(e.to_string()))?;
        self.accept(agent, report, store, now)
    }

    /// Takes a report of `agent` (pushed with its token, or pulled).
    pub fn accept(
        &self,
        agent: &AgentSpec,
        report: HostReport,
        store: &Store,
        now: Timestamp,
    ) -> Result<Accepted, ReportError> {
        if report.version != HOST_REPORT_VERSION {
            return Err(ReportError::Malformed(format!(
                "report version {} (this keepup reads version {HOST_REPORT_VERSION})",
                report.version
            )));
        }
        if report.agent != agent.name {
            return Err(ReportError::NotYourHost {
                token_of: agent.name.clone(),
                claimed: report.agent,
            });
        }
        // One report at a time from here to `latest`: the sequence check,
        // the store and the update are one step.
        let agent_lock = lock(&self.accepting)
            .entry(agent.name.clone())
            .or_default()
            .clone();
        let _accepting = lock(&agent_lock);
        let previous = lock(&self.latest).get(&agent.name).cloned();
        if previous
            .as_ref()
            .is_some_and(|p| p.report.seq >= report.seq)
        {
            return Ok(Accepted::Duplicate);
        }
        let mut were_writable: Vec<String> = previous
            .as_ref()
            .map(|p| p.were_writable.clone())
            .unwrap_or_default();
        for m in report.mounts.iter().filter(|m| !m.read_only) {
            if !were_writable.contains(&m.path) {
                were_writable.push(m.path.clone());
            }
        }
        // Judged as of its collection, not its arrival: a report sent late
        // from the agent's backlog must not make a silent agent look
        // fresh. The agent's clock is not ours, so the time is kept
        // before now and strictly after the previous report's, so that no
        // verdict replaces another's result (same time); a first report no
        // older than a
        // full default backlog, so that a clock at 1970 cannot reach back
        // past what the store still holds raw (review 31 #3, #8).
        let reach = i64::try_from(agent.interval.as_millis())
            .unwrap_or(i64::MAX)
            .saturating_mul(FIRST_REPORT_REACH);
        let floor = match &previous {
            Some(p) => p.at.saturating_add(1).min(now),
            None => now.saturating_sub(reach),
        };
        let received = Received {
            at: report.at.clamp(floor, now),
            report,
            were_writable,
        };
        let json =
            serde_json::to_string(&received).map_err(|e| ReportError::Store(e.to_string()))?;
        store
            .write_memos(
                now,
                &[MemoChange::put(LAST_REPORT, agent.name.clone(), json)],
            )
            .map_err(|e| ReportError::Store(e.to_string()))?;
        let received = Arc::new(received);
        lock(&self.latest).insert(agent.name.clone(), received.clone());
        lock(&self.pull_errors).remove(&agent.name);
        let checks = lock(&self.checks_of)
            .get(&agent.name)
            .cloned()
            .unwrap_or_default();
        let triggered = lock(&self.triggered).clone();
        let verdicts = checks
            .into_iter()
            .filter_map(|c| {
                let mut o = match &c.spec {
                    CheckSpec::Passive(PassiveSpec::Host(spec)) => {
                        let mut o = judge(spec, &received);
                        let extra = triggered.get(&c.id).map(Vec::as_slice);
                        note_measures(&mut o, &noted(&c, extra), &received);
                        o
                    }
                    CheckSpec::Passive(PassiveSpec::AgentPlugin(spec)) => {
                        judge_plugin(spec, &received)
                    }
                    CheckSpec::Passive(PassiveSpec::Capacity(spec)) => {
                        let mut o = judge_capacity(spec, &received);
                        crate::peaks::keep(&mut o, &c.id, spec, received.at, store);
                        o
                    }
                    _ => return None,
                };
                note_report(&mut o, &agent.name, &received);
                Some((c, o))
            })
            .collect();
        let silence_ms = i64::try_from(agent.silence().as_millis()).unwrap_or(i64::MAX);
        Ok(Accepted::New(Judged {
            at: received.at,
            seq: received.report.seq,
            silence_ms,
            fresh: now.saturating_sub(received.at) <= silence_ms,
            verdicts,
        }))
    }

    /// Notes that pulling `agent` failed (shown on its checks until a
    /// report arrives); the checks to evaluate again.
    pub fn pull_failed(&self, agent: &str, why: String) -> Vec<CheckId> {
        lock(&self.pull_errors).insert(agent.to_owned(), why);
        lock(&self.checks_of)
            .get(agent)
            .map(|checks| checks.iter().map(|c| c.id.clone()).collect())
            .unwrap_or_default()
    }

    /// The latest report of `agent`, with when it was collected (kept
    /// between the previous report's time and its arrival).
    pub fn latest(&self, agent: &str) -> Option<(Timestamp, HostReport)> {
        lock(&self.latest)
            .get(agent)
            .map(|r| (r.at, r.report.clone()))
    }

    /// Judges a host check at `now` on its agent's latest report.
    pub fn evaluate(&self, spec: &HostSpec, now: Timestamp) -> Outcome {
        self.evaluate_with(&spec.agent, now, |r| judge(spec, r))
    }

    /// Judges a host check at `now` on its agent's latest report, with the
    /// values of its forecast measures in the evidence.
    pub fn evaluate_check(&self, check: &Check, spec: &HostSpec, now: Timestamp) -> Outcome {
        let triggered = lock(&self.triggered).get(&check.id).cloned();
        let measures = noted(check, triggered.as_deref());
        self.evaluate_with(&spec.agent, now, |r| {
            let mut o = judge(spec, r);
            note_measures(&mut o, &measures, r);
            o
        })
    }

    /// Judges an agent's plugin at `now` on its agent's latest report, as
    /// a local `nagios` check's run is judged.
    pub fn evaluate_plugin(&self, spec: &AgentPluginSpec, now: Timestamp) -> Outcome {
        self.evaluate_with(&spec.agent, now, |r| judge_plugin(spec, r))
    }

    /// Judges a site's load counted in an agent's access log at `now`, on
    /// its agent's latest report.
    pub fn evaluate_capacity(&self, spec: &CapacitySpec, now: Timestamp) -> Outcome {
        let LoadSource::AccessLog { agent, .. } = &spec.source else {
            return Outcome::new(Status::Unknown, "this site's load is scraped, not reported");
        };
        self.evaluate_with(agent, now, |r| judge_capacity(spec, r))
    }

    /// `judged` of `agent`'s latest report, unless the agent is silent.
    fn evaluate_with(
        &self,
        agent: &str,
        now: Timestamp,
        judged: impl FnOnce(&Received) -> Outcome,
    ) -> Outcome {
        let found = lock(&self.agents).iter().find(|a| a.name == agent).cloned();
        let Some(agent) = found else {
            return Outcome::new(Status::Unknown, format!("no agent {agent:?} is configured"));
        };
        let silence_ms = agent.silence().as_millis() as i64;
        let latest = lock(&self.latest).get(&agent.name).cloned();
        let pull_error = lock(&self.pull_errors).get(&agent.name).cloned();
        let mut o = match &latest {
            None => {
                let since = lock(&self.watched_since)
                    .get(&agent.name)
                    .copied()
                    .unwrap_or(now);
                if now - since > silence_ms {
                    let mut o =
                        Outcome::new(Status::Down, format!("agent {} is silent", agent.name));
                    o.push(Finding::new(
                        codes::AGENT_SILENT,
                        Severity::Critical,
                        format!(
                            "no report from agent {} since monitoring began at {}; expected every {}",
                            agent.name,
                            format_rfc3339(since),
                            humantime::format_duration(agent.interval)
                        ),
                    ));
                    o
                } else {
                    Outcome::new(Status::Unknown, "waiting for the agent's first report")
                }
            }
            Some(r) if now - r.at > silence_ms => {
                let mut o = Outcome::new(Status::Down, format!("agent {} is silent", agent.name));
                o.push(Finding::new(
                    codes::AGENT_SILENT,
                    Severity::Critical,
                    format!(
                        "the last report from agent {} was collected at {}; expected every {} (silent after {} missed)",
                        agent.name,
                        format_rfc3339(r.at),
                        humantime::format_duration(agent.interval),
                        agent.silent_after
                    ),
                ));
                o
            }
            Some(r) => judged(r),
        };
        if let Some(why) = pull_error {
            o.push(Finding::new(
                codes::AGENT_PULL_FAILED,
                Severity::Info,
                format!("fetching the report of agent {} failed: {why}", agent.name),
            ));
        }
        if let Some(r) = &latest {
            note_report(&mut o, &agent.name, r);
        }
        o
    }
}

/// Puts the values of the check's forecast measures in the evidence
/// (`measures`: `at`, the report's collection time, and `values` by key),
/// where the forecasts read them: disk and inodes in % as df counts them,
/// memory in %, load per core. A scheduled run judges an older report at
/// its own time: the time says when the values were measured.
fn note_measures(o: &mut Outcome, measures: &[&Measure], received: &Received) {
    let r = &received.report;
    let mut values = serde_json::Map::new();
    for measure in measures {
        let Source::Host(m) = &measure.source else {
            continue;
        };
        let mount = |path: &str| r.mounts.iter().find(|m| m.path == path);
        let value = match m {
            HostMeasure::Disk(p) => mount(p).and_then(|m| m.used_percent()),
            HostMeasure::Inodes(p) => mount(p).and_then(|m| m.inodes_used_percent()),
            HostMeasure::Memory => r
                .memory
                .as_ref()
                .filter(|m| m.total > 0)
                .map(|m| 100.0 * (1.0 - m.available as f64 / m.total as f64)),
            HostMeasure::Load(i) => r.load.map(|l| l[*i] / f64::from(r.cores.max(1))),
        };
        if let Some(v) = value.filter(|v| v.is_finite()) {
            values.insert(measure.key.clone(), v.into());
        }
    }
    if !values.is_empty() {
        o.evidence.insert(
            crate::forecast::MEASURES_KEY,
            serde_json::json!({ "at": received.at, "values": values }),
        );
    }
}

/// The measures of `check` whose values its evidence notes: its
/// forecasts' and those `[[action]]` measure triggers read.
fn noted<'a>(check: &'a Check, triggered: Option<&'a [Measure]>) -> Vec<&'a Measure> {
    check
        .forecasts
        .iter()
        .map(|f| &f.measure)
        .chain(triggered.into_iter().flatten())
        .collect()
}

/// Names the report a verdict is on in its evidence.
fn note_report(o: &mut Outcome, agent: &str, r: &Received) {
    o.evidence.insert("agent", agent);
    o.evidence.insert(REPORT_SEQ, r.report.seq);
    o.evidence.insert("report_received", format_rfc3339(r.at));
    o.evidence.insert("hostname", r.report.hostname.clone());
}

/// How many intervals back an agent's first report may be dated: the
/// agent's default backlog (`keepup agent --backlog`, one day at 10 s).
const FIRST_REPORT_REACH: i64 = 8_640;

/// The evidence naming the report a result judged.
const REPORT_SEQ: &str = "report_seq";

/// Most results of the central's own that one late report replaces: its
/// freshness holds `silent_after` scheduled runs and a few asked for.
const MAX_REPLACED: usize = 1_000;

/// Hands each report's verdicts to the recorder as results of their checks
/// at the report's collection time (see the module doc for a backlog).
#[derive(Clone)]
pub(crate) struct Verdicts {
    pub(crate) sink: mpsc::Sender<Completed>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) store: Store,
    pub(crate) flush: mpsc::UnboundedSender<FlushRequest>,
    pub(crate) scheduler: SchedulerHandle,
    /// Checks with a run asked for after a backlog's fresh report, not
    /// yet started (one run per backlog tail, see [`RUN_AFTER`]).
    pub(crate) runs_asked: Arc<Mutex<HashSet<CheckId>>>,
}

/// How long after a backlog's fresh report its check is run: the reports
/// still queued behind it arrive within that, so the run judges the
/// newest report the agent has, not one from the middle of its backlog.
const RUN_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

impl Verdicts {
    /// Records the verdicts of `judged`; returns when they are queued.
    /// One flush per report, whatever the number of late checks.
    pub(crate) async fn record(&self, judged: Judged) {
        let mut late = Vec::new();
        for (check, outcome) in judged.verdicts {
            let is_late = self
                .recorder
                .current_shared()
                .get(&check.id)
                .is_some_and(|s| s.at > judged.at);
            self.send(&check, judged.at, outcome.clone(), Origin::Report)
                .await;
            if is_late {
                late.push((check, outcome));
            }
        }
        if late.is_empty() {
            return;
        }
        // The central judged the time since without this report: what it
        // recorded within the report's freshness judged an older report,
        // or said the agent was silent. Replaced by this report's verdict
        // (history only), so the history is the reports' in order.
        self.flushed().await;
        for (check, outcome) in late {
            let (store, id) = (self.store.clone(), check.id.clone());
            let (from, to) = (
                judged.at.saturating_add(1),
                judged
                    .at
                    .saturating_add(judged.silence_ms)
                    .saturating_add(1),
            );
            let own =
                tokio::task::spawn_blocking(move || store.results(&id, from, to, MAX_REPLACED))
                    .await;
            let own = match own {
                Ok(Ok(own)) => own,
                Ok(Err(e)) => {
                    tracing::warn!(check = %check.id, error = %e, "cannot read the results a backlogged report replaces");
                    Vec::new()
                }
                Err(e) => {
                    tracing::warn!(check = %check.id, error = %e, "cannot read the results a backlogged report replaces");
                    Vec::new()
                }
            };
            for r in own.into_iter().rev() {
                let judged_seq = r
                    .outcome
                    .evidence
                    .details
                    .get(REPORT_SEQ)
                    .and_then(serde_json::Value::as_u64);
                if judged_seq.is_none_or(|s| s < judged.seq) {
                    self.send(&check, r.at, outcome.clone(), Origin::Replacement)
                        .await;
                }
            }
            if judged.fresh {
                // The central's state goes on from now, on the newest
                // report: run once the rest of the backlog is in.
                self.run_soon(check.id.clone());
            }
        }
    }

    /// Runs `id` [`RUN_AFTER`] from now, unless a run is asked for already.
    fn run_soon(&self, id: CheckId) {
        if !lock(&self.runs_asked).insert(id.clone()) {
            return;
        }
        let (scheduler, asked) = (self.scheduler.clone(), self.runs_asked.clone());
        tokio::spawn(async move {
            tokio::time::sleep(RUN_AFTER).await;
            lock(&asked).remove(&id);
            scheduler.run_now(id);
        });
    }

    async fn send(&self, check: &Arc<Check>, at: Timestamp, outcome: Outcome, origin: Origin) {
        let _ = self
            .sink
            .send(Completed {
                check: check.clone(),
                due: at,
                started: at,
                outcome,
                origin,
            })
            .await;
    }

    /// Waits until the results queued so far are in the store.
    async fn flushed(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.flush.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

/// One measure's verdict against its threshold, as a finding if it is
/// past a limit.
fn limit(o: &mut Outcome, code: &str, what: &str, value: f64, threshold: &Threshold) {
    let finding = threshold.finding(value, code, |name, level| {
        format!(
            "{what} is {}, past {name} {level}",
            threshold.unit.format(value)
        )
    });
    if let Some(f) = finding {
        o.push(f);
    }
}

fn missing(o: &mut Outcome, what: &str) {
    o.push(Finding::new(
        codes::HOST_MEASURE_MISSING,
        Severity::Warning,
        format!("{what} is not in the agent's report"),
    ));
}

/// An entry absent from a list the agent cut short (a big host) is
/// unknown, not absent: reported as missing, with the cut, instead of as
/// a stopped process, unit, port or interface. False when `list` was
/// not cut.
fn cut_short(o: &mut Outcome, r: &HostReport, list: &str, what: &str) -> bool {
    let Some(cut) = r.cut_of(list) else {
        return false;
    };
    missing(
        o,
        &format!(
            "{what} (the agent cut its {list} list to {} entries, {} left out)",
            cut.kept, cut.left_out
        ),
    );
    true
}

/// The open files of the processes named `name` against `threshold`: the
/// process nearest its limit is judged; none readable is Unknown.
fn process_files(
    o: &mut Outcome,
    name: &str,
    files: Option<&keepup_model::host::ProcessFiles>,
    threshold: &Threshold,
) {
    let Some(f) = files else {
        // An agent from before per-process open files.
        missing(o, &format!("the open files of {name}"));
        return;
    };
    match f.used_percent() {
        Some(used) => limit(
            o,
            codes::HOST_PROCESS_FILES,
            &format!(
                "the share of its open-file limit used by {name} ({} of {})",
                f.open, f.limit
            ),
            used,
            threshold,
        ),
        None if f.unreadable > 0 => {
            o.push(Finding::new(
                codes::HOST_PROCESS_FILES_UNREADABLE,
                Severity::Warning,
                format!(
                    "the agent may not read the open files of {name} ({} processes of another user): run it as that user or give it CAP_DAC_READ_SEARCH",
                    f.unreadable
                ),
            ));
            o.worsen(Status::Unknown);
        }
        // Every process of the name ended while the agent looked.
        None => {}
    }
}

/// The verdict of an agent's plugin on one report: its run judged as a
/// local plugin's, or missing when the agent does not run it.
fn judge_plugin(spec: &AgentPluginSpec, received: &Received) -> Outcome {
    let r = &received.report;
    if let Some(run) = r.plugins.get(&spec.plugin) {
        return keepup_probe::nagios::agent_outcome(run);
    }
    let mut o = Outcome::new(Status::Up, "");
    let runs: Vec<&str> = r.plugins.keys().map(String::as_str).collect();
    missing(
        &mut o,
        &format!(
            "plugin {:?} (agent {} runs {})",
            spec.plugin,
            spec.agent,
            if runs.is_empty() {
                "no --plugin".to_owned()
            } else {
                runs.join(", ")
            }
        ),
    );
    o.message = o.findings[0].text.clone();
    o
}

/// The load an access log's count in one report says, against the
/// site's design: lines per second are requests, matching lines per hour
/// transactions.
fn judge_capacity(spec: &CapacitySpec, received: &Received) -> Outcome {
    use keepup_config::capacity::Measure;
    use keepup_probe::capacity::{Load, judge as judge_load};
    let LoadSource::AccessLog { agent, log } = &spec.source else {
        return Outcome::new(Status::Unknown, "this site's load is scraped, not reported");
    };
    let r = &received.report;
    let Some(count) = r.access_logs.get(log) else {
        let counted: Vec<&str> = r.access_logs.keys().map(String::as_str).collect();
        let mut o = Outcome::new(Status::Up, "");
        o.push(Finding::new(
            codes::CAPACITY_LOAD_UNMEASURED,
            Severity::Warning,
            format!(
                "agent {agent} counts no access log {log:?} (it counts {})",
                if counted.is_empty() {
                    "none: start it with --access-log NAME=PATH".to_owned()
                } else {
                    counted.join(", ")
                }
            ),
        ));
        o.message = o.findings[0].text.clone();
        return o;
    };
    if let Some(problem) = &count.problem {
        let mut o = Outcome::new(Status::Up, "");
        o.push(Finding::new(
            codes::CAPACITY_LOAD_UNMEASURED,
            Severity::Warning,
            format!("agent {agent}: {problem}"),
        ));
        o.message = o.findings[0].text.clone();
        return o;
    }
    let over = count.over_s.filter(|s| *s > 0.0);
    let values = spec
        .design
        .iter()
        .map(|&(m, _)| {
            let value = over.and_then(|s| match m {
                Measure::Requests => Some(count.lines as f64 / s),
                Measure::Transactions => count.transactions.map(|t| t as f64 / s * 3600.0),
                Measure::Sessions => None,
            });
            (m, value)
        })
        .collect();
    judge_load(
        spec,
        &Load {
            values,
            over_s: over,
            pending: over
                .is_none()
                .then(|| format!("agent {agent} counts {log:?} from its next report on")),
        },
    )
}

/// The verdict of every measure `spec` names on one report.
fn judge(spec: &HostSpec, received: &Received) -> Outcome {
    let r = &received.report;
    let mut o = Outcome::new(Status::Up, "all measures within their thresholds");
    let mount = |path: &str| r.mounts.iter().find(|m| m.path == path);
    for (path, t) in &spec.disk {
        match mount(path) {
            Some(m) => {
                let (value, what) = match t.unit {
                    keepup_config::Unit::Bytes => {
                        (m.used_bytes() as f64, format!("used space on {path}"))
                    }
                    _ => (
                        m.used_percent().unwrap_or(f64::NAN),
                        format!("used space on {path}"),
                    ),
                };
                limit(&mut o, codes::HOST_DISK_SPACE, &what, value, t);
            }
            None => missing(&mut o, &format!("mount point {path}")),
        }
    }
    for (path, t) in &spec.disk_free {
        match mount(path) {
            Some(m) => {
                let value = match t.unit {
                    keepup_config::Unit::Bytes => m.available as f64,
                    _ => m.used_percent().map(|u| 100.0 - u).unwrap_or(f64::NAN),
                };
                limit(
                    &mut o,
                    codes::HOST_DISK_SPACE,
                    &format!("free space on {path}"),
                    value,
                    t,
                );
            }
            None => missing(&mut o, &format!("mount point {path}")),
        }
    }
    for (path, t) in &spec.inodes {
        match mount(path) {
            Some(m) if m.inodes > 0 => {
                let value = match t.unit {
                    keepup_config::Unit::Number => m.inodes.saturating_sub(m.inodes_free) as f64,
                    _ => m.inodes_used_percent().unwrap_or(f64::NAN),
                };
                limit(
                    &mut o,
                    codes::HOST_INODES,
                    &format!("used inodes on {path}"),
                    value,
                    t,
                );
            }
            Some(_) => {}
            None => missing(&mut o, &format!("mount point {path}")),
        }
    }
    for m in &r.mounts {
        let listed = spec.writable.contains(&m.path);
        let was_writable = received.were_writable.contains(&m.path);
        if m.read_only && (listed || was_writable) {
            let why = if listed {
                "listed in writable"
            } else {
                "it was writable in an earlier report"
            };
            o.push(Finding::new(
                codes::HOST_MOUNT_READ_ONLY,
                Severity::Critical,
                format!("{} ({}) is mounted read-only; {why}", m.path, m.device),
            ));
        }
    }
    for path in &spec.writable {
        if mount(path).is_none() {
            missing(&mut o, &format!("mount point {path}"));
        }
    }
    let cores = f64::from(r.cores.max(1));
    for (i, name, t) in [
        (0, "1-minute", &spec.load1),
        (1, "5-minute", &spec.load),
        (2, "15-minute", &spec.load15),
    ] {
        let Some(t) = t else { continue };
        match r.load {
            Some(load) => limit(
                &mut o,
                codes::HOST_LOAD,
                &format!("the {name} load per core"),
                load[i] / cores,
                t,
            ),
            None => missing(&mut o, "the load average"),
        }
    }
    if !spec.cpu.is_empty() {
        // The first report after an agent starts has no shares yet.
        if let Some(cpu) = r.cpu {
            for (share, t) in &spec.cpu {
                let value = match share.as_str() {
                    "user" => cpu.user,
                    "system" => cpu.system,
                    "iowait" => cpu.iowait,
                    _ => cpu.steal,
                };
                limit(&mut o, codes::HOST_CPU, &format!("CPU {share}"), value, t);
            }
        }
    }
    match (
        &r.memory,
        spec.memory.is_some() || spec.swap.is_some() || spec.swap_in.is_some(),
    ) {
        (Some(m), _) => {
            if let Some(t) = &spec.memory
                && m.total > 0
            {
                let used = 100.0 * (1.0 - m.available as f64 / m.total as f64);
                limit(&mut o, codes::HOST_MEMORY, "memory used", used, t);
            }
            if let Some(t) = &spec.swap {
                let value = match t.unit {
                    keepup_config::Unit::Bytes => m.swap_used as f64,
                    _ if m.swap_total == 0 => 0.0,
                    _ => 100.0 * m.swap_used as f64 / m.swap_total as f64,
                };
                limit(&mut o, codes::HOST_SWAP, "swap used", value, t);
            }
            if let (Some(t), Some(rate)) = (&spec.swap_in, m.swap_in_per_s) {
                limit(
                    &mut o,
                    codes::HOST_SWAP,
                    "pages swapped in per second",
                    rate,
                    t,
                );
            }
        }
        (None, true) => missing(&mut o, "memory"),
        (None, false) => {}
    }
    if let Some(t) = &spec.clock_offset {
        if r.clock.offsets.is_empty() {
            missing(&mut o, "a clock offset (the agent has no --ntp server)");
        }
        for n in &r.clock.offsets {
            match n.offset_s {
                Some(offset) => limit(
                    &mut o,
                    codes::HOST_CLOCK_OFFSET,
                    &format!("the clock's offset against {}", n.server),
                    offset.abs(),
                    t,
                ),
                None => missing(
                    &mut o,
                    &format!(
                        "the clock's offset against {} ({})",
                        n.server,
                        n.error.as_deref().unwrap_or("no answer")
                    ),
                ),
            }
        }
    }
    if spec.clock_synchronised {
        match r.clock.synchronised {
            Some(true) => {}
            Some(false) => o.push(Finding::new(
                codes::HOST_CLOCK_UNSYNCHRONISED,
                Severity::Warning,
                "the kernel says the clock is not synchronised (no NTP daemon steering it?)",
            )),
            None => missing(&mut o, "the clock's synchronisation state"),
        }
    }
    if r.uptime_s > 0.0 && r.uptime_s < spec.reboot_window.as_secs_f64() {
        o.push(Finding::new(
            codes::HOST_REBOOTED,
            Severity::Warning,
            format!(
                "the host rebooted {} ago (boot id {})",
                humantime::format_duration(std::time::Duration::from_secs(r.uptime_s as u64)),
                r.boot_id
            ),
        ));
    }
    for (name, range) in &spec.processes {
        if !r.processes.contains_key(name)
            && cut_short(
                &mut o,
                r,
                "processes",
                &format!("the count of {name} processes"),
            )
        {
            continue;
        }
        let count = r.processes.get(name).copied().unwrap_or(0);
        let wrong = match (range.min, range.max) {
            (Some(min), _) if count < min => Some(format!("at least {min}")),
            (_, Some(max)) if count > max => Some(format!("at most {max}")),
            _ => None,
        };
        if let Some(allowed) = wrong {
            o.push(Finding::new(
                codes::HOST_PROCESS_COUNT,
                Severity::Critical,
                format!("{count} {name} processes run; {allowed} expected"),
            ));
        }
        if let Some(t) = &range.fds
            && count > 0
        {
            process_files(&mut o, name, r.process_files.get(name), t);
        }
    }
    for unit in &spec.units {
        match r.units.get(unit).map(String::as_str) {
            Some("active") => {}
            Some(state) => o.push(Finding::new(
                codes::HOST_UNIT_INACTIVE,
                Severity::Critical,
                format!("{unit} is {state}"),
            )),
            None if r.units.is_empty() => missing(&mut o, "the systemd units"),
            None if cut_short(&mut o, r, "units", &format!("the unit {unit}")) => {}
            None => o.push(Finding::new(
                codes::HOST_UNIT_INACTIVE,
                Severity::Critical,
                format!("{unit} is not loaded"),
            )),
        }
    }
    for port in &spec.ports {
        if !r.listening.contains(port)
            && !cut_short(&mut o, r, "listening", &format!("TCP port {port}"))
        {
            o.push(Finding::new(
                codes::HOST_PORT_NOT_LISTENING,
                Severity::Critical,
                format!("nothing listens on TCP port {port}"),
            ));
        }
    }
    for name in &spec.interfaces {
        match r.interfaces.iter().find(|i| &i.name == name) {
            Some(i) if i.up => {}
            Some(_) => o.push(Finding::new(
                codes::HOST_INTERFACE_DOWN,
                Severity::Critical,
                format!("interface {name} is down"),
            )),
            None if cut_short(&mut o, r, "interfaces", &format!("interface {name}")) => {}
            None => o.push(Finding::new(
                codes::HOST_INTERFACE_DOWN,
                Severity::Critical,
                format!("interface {name} does not exist"),
            )),
        }
    }
    if let Some(t) = &spec.interface_errors {
        for i in &r.interfaces {
            let rate = i.errors_per_s.unwrap_or(0.0) + i.drops_per_s.unwrap_or(0.0);
            limit(
                &mut o,
                codes::HOST_INTERFACE_ERRORS,
                &format!("errors and drops per second on {}", i.name),
                rate,
                t,
            );
        }
    }
    if spec.default_route && !r.routes.ipv4 && !r.routes.ipv6 {
        o.push(Finding::new(
            codes::HOST_NO_DEFAULT_ROUTE,
            Severity::Critical,
            "the host has no default route (IPv4 or IPv6)",
        ));
    }
    if let Some(t) = &spec.files {
        match r.files {
            Some(f) if f.max > 0 => limit(
                &mut o,
                codes::HOST_FILE_HANDLES,
                "open file handles",
                100.0 * f.open as f64 / f.max as f64,
                t,
            ),
            _ => missing(&mut o, "open file handles"),
        }
    }
    let mut smart_unknown = false;
    if spec.smart {
        for d in &r.smart {
            if d.passed == Some(false) {
                o.push(Finding::new(
                    codes::HOST_SMART_FAILED,
                    Severity::Critical,
                    format!("{} failed its SMART health self-assessment", d.device),
                ));
            }
        }
        // A disk smartctl cannot read (not installed, not permitted, a
        // device it does not know) says nothing of its health: Unknown,
        // neither a silent Up nor Down, but only when nothing else is
        // wrong (below): it must not hide a known problem.
        let unreadable: Vec<String> = r
            .smart
            .iter()
            .filter(|d| d.passed.is_none())
            .map(|d| match &d.error {
                Some(why) => format!("{}: {why}", d.device),
                None => d.device.clone(),
            })
            .collect();
        if r.smart.is_empty() || !unreadable.is_empty() {
            let why = if r.smart.is_empty() {
                "smartctl read no disk (not installed, or no disk found)".to_owned()
            } else {
                unreadable.join("; ")
            };
            o.push(Finding::new(
                codes::HOST_SMART_UNKNOWN,
                Severity::Info,
                format!("SMART health is unknown: {why}"),
            ));
            smart_unknown = true;
        }
    }
    if let Some(t) = &spec.smart_wear {
        for d in &r.smart {
            if let Some(used) = d.percentage_used {
                limit(
                    &mut o,
                    codes::HOST_DISK_WEAR,
                    &format!("the wear of {}", d.device),
                    f64::from(used),
                    t,
                );
            }
        }
    }
    if spec.replication {
        for rep in r.replication.iter().filter(|rep| !rep.healthy) {
            o.push(Finding::new(
                codes::HOST_REPLICATION,
                Severity::Critical,
                format!("{} {}: {}", rep.system, rep.name, rep.state),
            ));
        }
    }
    // Unknown SMART health only when every measure judged is Up: a disk
    // at warn is Degraded whether or not smartctl could read the disks.
    if smart_unknown && o.status == Status::Up {
        o.status = Status::Unknown;
    }
    if let Some(f) = o.worst_finding()
        && o.status != Status::Up
    {
        o.message = f.text.clone();
    }
    o
}

/// How long a pull may take at most (shorter when the agent's interval is).
const PULL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A pushing agent's action exchange (`POST /agent/actions`): records the
/// outcomes it sent for its own requests, then lists what is pending for
/// it (sent again until answered; see `keepup_store`'s `agent_actions`).
pub fn exchange_actions(
    store: &Store,
    agent: &str,
    outcomes: &[ActionOutcome],
    now: Timestamp,
) -> Result<Vec<ActionRequest>, keepup_store::StoreError> {
    let recorded = store.record_agent_action_outcomes(agent, outcomes, now)?;
    if recorded < outcomes.len() {
        // Answered already, or not this agent's: nothing to do.
        tracing::debug!(
            agent,
            sent = outcomes.len(),
            recorded,
            "action outcomes not all recorded"
        );
    }
    store.pending_agent_actions(agent, now)
}

/// The action URL of a pulled agent, beside its report URL
/// (`https://web1:8586/report` → `https://web1:8586/action`).
fn action_url(report_url: &str) -> String {
    let url = report_url.split(['?', '#']).next().unwrap_or(report_url);
    // The path starts at the first '/' after "scheme://".
    let path_at = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j));
    match path_at {
        Some(at) => {
            let (origin, path) = url.split_at(at);
            let dir = path.rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{origin}{dir}/action")
        }
        None => format!("{url}/action"),
    }
}

/// Per pulled agent, the ids whose outcomes were recorded from its last
/// answer: sent with the next exchange so the agent may forget them.
type Acks = Arc<std::sync::Mutex<HashMap<String, Vec<String>>>>;

/// Pull mode's action delivery, after a pull: the requests pending for
/// `agent` (and the acknowledgements of outcomes recorded from its last
/// answer) are POSTed to its `/action` with its action token (its report
/// token when it has none), then marked fetched, with the outcomes it
/// answers recorded, only once it answered: a request an agent never
/// took expires instead of being lost. Nothing is sent when there is
/// nothing to send. A failure is logged: the requests stay pending and go
/// again with the next pull.
async fn deliver_actions(
    ctx: &keepup_notify::HttpClientContext,
    agent: &AgentSpec,
    report_url: &str,
    store: &Store,
    clock: &dyn keepup_model::Clock,
    acks: &Acks,
) {
    let name = agent.name.clone();
    let now = clock.now_ms();
    let st = store.clone();
    let pending = match tokio::task::spawn_blocking(move || st.agent_actions_to_send(&name, now))
        .await
    {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            tracing::warn!(agent = %agent.name, error = %e, "cannot list the agent's pending actions");
            return;
        }
        Err(e) => {
            tracing::warn!(agent = %agent.name, error = %e, "cannot list the agent's pending actions");
            return;
        }
    };
    let acked = acks
        .lock()
        .map(|mut a| a.remove(&agent.name).unwrap_or_default())
        .unwrap_or_default();
    if pending.is_empty() && acked.is_empty() {
        return;
    }
    let body = ActionRequests {
        version: AGENT_ACTION_VERSION,
        requests: pending,
        acked,
        sent_at: Some(now),
    };
    let Ok(bytes) = serde_json::to_vec(&body) else {
        return;
    };
    let url = action_url(report_url);
    let token = agent.action_token.as_ref().unwrap_or(&agent.token);
    let answer = keepup_notify::bearer_request(
        ctx,
        "agent",
        &url,
        token.expose(),
        Some(bytes.into()),
        PULL_TIMEOUT.min(agent.interval),
        MAX_ACTION_EXCHANGE_BYTES,
    )
    .await;
    let outcomes = match answer {
        Ok((status, body)) if status.is_success() => {
            match serde_json::from_slice::<ActionOutcomes>(&body) {
                Ok(o) if o.version != AGENT_ACTION_VERSION => Err(format!(
                    "the agent answers action outcomes of version {} (this keepup reads version {AGENT_ACTION_VERSION})",
                    o.version
                )),
                Ok(o) if o.agent != agent.name => Err(format!(
                    "the agent at {url} says it is {:?}, not {:?}",
                    o.agent, agent.name
                )),
                Ok(o) => Ok(o.outcomes),
                Err(e) => Err(format!("the agent's answer is not action outcomes: {e}")),
            }
        }
        Ok((status, body)) => Err(format!(
            "the agent answered HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )),
        Err(e) => Err(e.message),
    };
    let outcomes = match outcomes {
        Ok(mut o) => {
            o.truncate(MAX_ACTIONS_PER_EXCHANGE);
            o
        }
        Err(why) => {
            // Not taken: the acknowledgements go again too.
            if let Ok(mut a) = acks.lock() {
                a.entry(agent.name.clone()).or_default().extend(body.acked);
            }
            tracing::warn!(agent = %agent.name, %url, reason = %why, "delivering actions to the agent failed; they go again with the next pull");
            return;
        }
    };
    let (st, name, now) = (store.clone(), agent.name.clone(), clock.now_ms());
    let sent = body.requests;
    match tokio::task::spawn_blocking(move || st.agent_took_actions(&name, &sent, &outcomes, now))
        .await
    {
        Ok(Ok(recorded)) => {
            if !recorded.is_empty()
                && let Ok(mut a) = acks.lock()
            {
                let ids = a.entry(agent.name.clone()).or_default();
                ids.extend(recorded);
                // Unacknowledged, the agent forgets them by age instead.
                let excess = ids.len().saturating_sub(MAX_ACTIONS_PER_EXCHANGE);
                ids.drain(..excess);
            }
        }
        Ok(Err(e)) => {
            tracing::warn!(agent = %agent.name, error = %e, "cannot record the agent's action outcomes");
        }
        Err(e) => {
            tracing::warn!(agent = %agent.name, error = %e, "cannot record the agent's action outcomes");
        }
    }
}

/// Fetches the reports of pulled agents (`mode = "pull"`), each on its
/// interval, with keepup's bearer token; a report is taken as a pushed one
/// is, a failure is noted on the agent's checks (`AGENT_PULL_FAILED`,
/// then `AGENT_SILENT` if it lasts). After a pull that answered, the
/// action requests pending for the agent are delivered to it.
pub(crate) async fn pull_loop(
    book: Arc<HostBook>,
    store: Store,
    clock: Arc<dyn keepup_model::Clock>,
    verdicts: Verdicts,
) {
    let mut due: HashMap<String, Timestamp> = HashMap::new();
    let mut clients: HashMap<String, keepup_notify::HttpClientContext> = HashMap::new();
    let acks = Acks::default();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = clock.now_ms();
        for agent in book.agents() {
            let keepup_config::AgentMode::Pull { url, ca_file } = &agent.mode else {
                continue;
            };
            if due.get(&agent.name).is_some_and(|at| *at > now) {
                continue;
            }
            due.insert(agent.name.clone(), now + agent.interval.as_millis() as i64);
            let ctx = clients
                .entry(agent.name.clone())
                .or_insert_with(|| {
                    let mut b = keepup_notify::HttpClientContext::builder();
                    if let Some(ca) = ca_file {
                        b = match b.ca_file(ca) {
                            Ok(b) => b,
                            Err(e) => {
                                tracing::warn!(agent = %agent.name, error = %e, "cannot read the agent's CA file");
                                keepup_notify::HttpClientContext::builder()
                            }
                        };
                    }
                    b.build()
                })
                .clone();
            let (book, store, clock, verdicts, url, acks) = (
                book.clone(),
                store.clone(),
                clock.clone(),
                verdicts.clone(),
                url.clone(),
                acks.clone(),
            );
            tokio::spawn(async move {
                let timeout = PULL_TIMEOUT.min(agent.interval);
                let answer = keepup_notify::bearer_request(
                    &ctx,
                    "agent",
                    &url,
                    agent.token.expose(),
                    None,
                    timeout,
                    keepup_model::host::MAX_HOST_REPORT_BYTES,
                )
                .await;
                let report = match answer {
                    Ok((status, body)) if status.is_success() => {
                        serde_json::from_slice::<HostReport>(&body)
                            .map_err(|e| format!("the agent's answer is not a report: {e}"))
                    }
                    Ok((status, _)) => Err(format!("the agent answered HTTP {status}")),
                    Err(e) => Err(e.message),
                };
                match report {
                    Ok(report) => {
                        deliver_actions(&ctx, &agent, &url, &store, clock.as_ref(), &acks).await;
                        let now = clock.now_ms();
                        let name = agent.name.clone();
                        let taken = tokio::task::spawn_blocking(move || {
                            book.accept(&agent, report, &store, now)
                        })
                        .await;
                        match taken {
                            Ok(Ok(Accepted::New(judged))) => verdicts.record(judged).await,
                            Ok(Ok(Accepted::Duplicate)) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(agent = %name, error = %e, "pulled report refused");
                            }
                            Err(e) => {
                                tracing::warn!(agent = %name, error = %e, "pulled report not taken");
                            }
                        }
                    }
                    Err(why) => {
                        tracing::debug!(agent = %agent.name, reason = %why, "pulling the agent failed");
                        for id in book.pull_failed(&agent.name, why) {
                            verdicts.scheduler.run_now(id);
                        }
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::action_url;

    #[test]
    fn a_pulled_agents_action_url_is_beside_its_report_url() {
        for (report, action) in [
            ("https://web1:8586/report", "https://web1:8586/action"),
            ("https://h/agent/report?x=1", "https://h/agent/action"),
            ("http://127.0.0.1:9", "http://127.0.0.1:9/action"),
            ("https://h/", "https://h/action"),
        ] {
            assert_eq!(action_url(report), action, "{report}");
        }
    }
}
