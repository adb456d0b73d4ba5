//! The daemon's SLA checks on a simulated clock: each minute the service's
//! check gives a result that goes into the store and through the incident
//! engine, as the recorder feeds them, and then the contract's checks are
//! evaluated the way the monitor's executor does (`keepup_monitor::sla`,
//! reading that store) and their results take the same path. A fast burn
//! pages, a slow one tickets, recovery resolves, and an open incident's
//! repair deadline is announced one hour before. And a running monitor
//! dispatches the contract's checks like any other kind.

use keepup_config::{Check, CheckSpec, Config, PassiveSpec};
use keepup_model::{CheckId, Outcome, Status, Timestamp};
use keepup_monitor::incidents::{IncidentEngine, IncidentEvent};
use keepup_store::{Incident, ResultRecord, Store};
use std::path::Path;
use std::sync::Arc;

mod common;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

/// A store, the engine and the configuration's checks, driven minute by
/// minute.
struct Sim {
    config: Config,
    store: Store,
    engine: IncidentEngine,
    checks: Vec<Arc<Check>>,
    /// Every SLA check's results, in order.
    sla_results: Vec<(CheckId, Timestamp, Outcome)>,
}

impl Sim {
    fn new(dir: &Path, contract: &str) -> Sim {
        let src = format!(
            r#"[defaults]
interval = "60s"
timeout = "10s"
failure_threshold = 1
flap_changes = 0
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
{contract}"#
        );
        let config = keepup_config::load_str(&src, &dir.join("keepup.toml"))
            .unwrap_or_else(|p| panic!("{p}"));
        let checks: Vec<Arc<Check>> = config.shared_checks().cloned().collect();
        let store = Store::open(&dir.join("keepup.db")).unwrap();
        store
            .register_checks(&keepup_monitor::check_metas(&checks))
            .unwrap();
        let engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
        Sim {
            config,
            store,
            engine,
            checks,
            sla_results: Vec::new(),
        }
    }

    fn check(&self, id: &str) -> Arc<Check> {
        self.checks
            .iter()
            .find(|c| c.id.as_str() == id)
            .cloned()
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    /// Feeds results of `check` and the engine, returning its events.
    fn feed(&mut self, check: &Check, at: Timestamp, outcome: &Outcome) -> Vec<IncidentEvent> {
        self.store
            .record(&[ResultRecord {
                check: check.id.clone(),
                at,
                outcome: outcome.clone(),
                backfill: false,
            }])
            .unwrap();
        self.engine.observe(check, at, outcome).unwrap().events
    }

    /// One minute: web's result, then every SLA check's.
    fn minute(&mut self, at: Timestamp, web: Status) -> Vec<IncidentEvent> {
        let web_check = self.check("shop/web");
        let mut events = self.feed(&web_check, at, &Outcome::new(web, web.as_str()));
        let sla: Vec<Arc<Check>> = self
            .checks
            .iter()
            .filter(|c| matches!(c.spec, CheckSpec::Passive(PassiveSpec::Sla(_))))
            .cloned()
            .collect();
        for c in sla {
            let CheckSpec::Passive(PassiveSpec::Sla(spec)) = &c.spec else {
                continue;
            };
            let outcome = keepup_monitor::sla::evaluate(&self.store, &self.config, spec, at);
            events.extend(self.feed(&c, at, &outcome));
            self.sla_results.push((c.id.clone(), at, outcome));
        }
        events
    }

    /// Minutes `[from, to)` with web's status from `web`.
    fn run(
        &mut self,
        from: Timestamp,
        to: Timestamp,
        web: impl Fn(Timestamp) -> Status,
    ) -> Vec<(Timestamp, IncidentEvent)> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            out.extend(self.minute(t, web(t)).into_iter().map(|e| (t, e)));
            t += MINUTE;
        }
        out
    }

    fn results_of(&self, id: &str) -> Vec<&(CheckId, Timestamp, Outcome)> {
        self.sla_results
            .iter()
            .filter(|(c, _, _)| c.as_str() == id)
            .collect()
    }

    fn incidents_of(&self, id: &str) -> Vec<Incident> {
        self.store
            .incidents(0, i64::MAX / 2, 1000)
            .unwrap()
            .into_iter()
            .filter(|i| i.check.as_str() == id)
            .collect()
    }
}

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn opened(events: &[(Timestamp, IncidentEvent)], check: &str) -> Vec<(Timestamp, Status)> {
    events
        .iter()
        .filter_map(|(t, e)| match e {
            IncidentEvent::Opened { incident, .. } if incident.check.as_str() == check => {
                Some((*t, incident.status))
            }
            _ => None,
        })
        .collect()
}

/// Three minutes down after a clean day burn a 99.9 % budget at 20× over
/// 1 h and far more over 5 m: the burn check pages (Down) a minute after
/// the outage starts. The 6 h/30 m rule keeps the page until the last
/// downtime leaves the 30 minute window, then the 3 d/6 h ticket holds the
/// incident (Degraded) until it leaves the 6 hour window, and the incident
/// resolves exactly then. The alerts are not outages of the service.
#[test]
fn a_fast_burn_pages_and_resolves_when_the_windows_clear() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::new(
        dir.path(),
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\n",
    );
    let start = at("2026-10-05T00:00:00Z");
    let outage = (start + 24 * HOUR, start + 24 * HOUR + 3 * MINUTE);
    let events = sim.run(start, outage.1 + 7 * HOUR, |t| {
        if outage.0 <= t && t < outage.1 {
            Status::Down
        } else {
            Status::Up
        }
    });

    assert_eq!(
        opened(&events, "shop/sla-front"),
        [(outage.0 + MINUTE, Status::Down)],
        "one page, a minute into the outage"
    );
    let incidents = sim.incidents_of("shop/sla-front");
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        incidents[0].resolved_at,
        Some(outage.1 + 6 * HOUR),
        "resolved when the downtime leaves the 6 hour window"
    );

    let results = sim.results_of("shop/sla-front");
    let status_at = |t: Timestamp| {
        results
            .iter()
            .find(|(_, at, _)| *at == t)
            .map(|(_, _, o)| o.status)
            .unwrap()
    };
    assert_eq!(status_at(outage.0), Status::Up, "nothing measured down yet");
    assert_eq!(status_at(outage.1 + 29 * MINUTE), Status::Down);
    assert_eq!(status_at(outage.1 + 30 * MINUTE), Status::Degraded);
    assert_eq!(status_at(outage.1 + 6 * HOUR - MINUTE), Status::Degraded);
    assert_eq!(status_at(outage.1 + 6 * HOUR), Status::Up);

    let page = &results
        .iter()
        .find(|(_, at, _)| *at == outage.0 + MINUTE)
        .unwrap()
        .2;
    assert_eq!(
        page.message,
        "the error budget burns at 16.6× over 1h and 200.0× over 5m (page at 14.4×); \
         30 % of the 2026-10 error budget left",
        "{page:?}"
    );
    // The budget so far: 0.1 % of a day and a minute measured (86.46 s),
    // of which the first down minute used 60 s; 30.6 % and 16.67× are cut
    // to the digits shown, never rounded up past what was reached.
    assert_eq!(page.evidence.details["burn_rate_1h"], 16.67);
    assert_eq!(page.evidence.details["budget_allowed_ms"], 86_460);
    assert_eq!(page.evidence.details["budget_used_ms"], 60_000);
    let ticket = &results
        .iter()
        .find(|(_, at, _)| *at == outage.1 + 30 * MINUTE)
        .unwrap()
        .2;
    assert!(
        ticket.message.contains("over 3d") && ticket.message.contains("(ticket at 1×)"),
        "{ticket:?}"
    );

    // The contract's figures count the outage, not the alerts about it.
    let contract = &sim.config.contracts[0];
    let now = outage.1 + 7 * HOUR;
    let window = keepup_sla::Window::period_at(contract, now).unwrap();
    let input =
        keepup_monitor::sla::read_input(&sim.store, &sim.config, contract, window.from, now)
            .unwrap();
    let figures = keepup_sla::account(contract, &window, now, &input).unwrap();
    assert_eq!(figures.down_ms, 3 * MINUTE);
    let counted: Vec<&str> = figures.incidents.iter().map(|i| i.check.as_str()).collect();
    assert_eq!(counted, ["shop/web"]);
}

/// A window started by hand for a tag (`keepup maintenance start --tag
/// db`) reaches the accounting through `read_input`, the path of `keepup
/// sla`, the reports and the burn checks: the outage of the tagged check
/// during it is maintenance, the same outage of an untagged check is
/// downtime.
#[test]
fn a_tag_window_is_excluded_for_the_tagged_checks_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[defaults]\ninterval = \"60s\"\n\
               [[site]]\nid = \"shop\"\n\
               [[site.check]]\nid = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\ntags = [\"db\"]\n\
               [[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
               [[contract]]\nid = \"data\"\nsite = \"shop\"\ndown_when = \"db\"\ntarget = 99.9\n\
               [[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\n";
    let config = keepup_config::load_str(src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let checks: Vec<Arc<Check>> = config.shared_checks().cloned().collect();
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let start = at("2026-11-02T00:00:00Z");
    let outage = (start + 2 * HOUR, start + 2 * HOUR + 30 * MINUTE);
    let mut t = start;
    while t < start + 4 * HOUR {
        let status = if outage.0 <= t && t < outage.1 {
            Status::Down
        } else {
            Status::Up
        };
        for check in ["shop/db", "shop/web"] {
            store
                .record(&[ResultRecord {
                    check: CheckId(check.into()),
                    at: t,
                    outcome: Outcome::new(status, status.as_str()),
                    backfill: false,
                }])
                .unwrap();
        }
        t += MINUTE;
    }
    store
        .start_maintenance("tag:db", outage.0, outage.0 + HOUR, "db upgrade", "alice")
        .unwrap();
    let now = start + 4 * HOUR;
    let figures = |id: &str| {
        let contract = config.contracts.iter().find(|c| c.id == id).unwrap();
        let window = keepup_sla::Window::period_at(contract, now).unwrap();
        let input =
            keepup_monitor::sla::read_input(&store, &config, contract, window.from, now).unwrap();
        keepup_sla::account(contract, &window, now, &input).unwrap()
    };
    let data = figures("data");
    assert_eq!(
        (data.down_ms, data.maintenance_ms),
        (0, 30 * MINUTE),
        "the tagged check's outage is maintenance"
    );
    let front = figures("front");
    assert_eq!(
        (front.down_ms, front.maintenance_ms),
        (30 * MINUTE, 0),
        "the untagged check's outage is downtime"
    );
}

/// Degraded for one minute in every two hours, at half weight, is a
/// steady 4.2× burn: below the page factors (14.4× over 1 h, 6× over 6 h)
/// at every minute, and once a day of it has spent enough of the budget,
/// a ticket: the burn check opens a Degraded incident, never pages.
#[test]
fn a_slow_burn_tickets_and_never_pages() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::new(
        dir.path(),
        "[[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web\"\ntarget = 99.9\ndegraded = 0.5\n",
    );
    let start = at("2026-10-05T00:00:00Z");
    let burning = start + 24 * HOUR;
    let events = sim.run(start, burning + 24 * HOUR, |t| {
        if t >= burning && (t - burning) % (2 * HOUR) == 0 {
            Status::Degraded
        } else {
            Status::Up
        }
    });
    let results = sim.results_of("shop/sla-front");
    assert!(
        results.iter().all(|(_, _, o)| o.status != Status::Down),
        "a slow burn never pages"
    );
    let tickets = opened(&events, "shop/sla-front");
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let (when, status) = tickets[0];
    assert_eq!(status, Status::Degraded);
    assert!(when > burning + 6 * HOUR, "not before a day's burn");
    let ticket = &results.iter().find(|(_, at, _)| *at == when).unwrap().2;
    assert!(
        ticket.message.contains("(ticket at 1×)") || ticket.message.contains("(ticket at 3×)"),
        "{ticket:?}"
    );
}

/// A critical incident opened Friday 16:00 with "4 business hours" to
/// repair under Monday-to-Friday 08:00-18:00 service hours has two hours
/// left on Friday and two on Monday: the deadline is Monday 10:00, and
/// the repair check warns from Monday 09:00, naming the incident and the
/// deadline; once the incident resolves, the warning resolves with it.
#[test]
fn the_repair_deadline_warning_fires_one_business_aware_hour_before() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = Sim::new(
        dir.path(),
        r#"[[contract]]
id = "front"
site = "shop"
down_when = "web"
target = 99.9
time_zone = "Europe/Berlin"
service_hours = "mon-fri 08:00-18:00"
repair_time = { critical = "4 business hours" }
burn = []
"#,
    );
    assert!(sim.config.find_check("shop/sla-front").is_none());
    // Friday 2026-10-09 16:00 in Berlin.
    let failed = at("2026-10-09T16:00:00+02:00");
    let repaired = at("2026-10-12T09:30:00+02:00");
    let events = sim.run(failed - HOUR, repaired + HOUR, |t| {
        if failed <= t && t < repaired {
            Status::Down
        } else {
            Status::Up
        }
    });
    let web = sim.incidents_of("shop/web");
    assert_eq!(web.len(), 1);
    assert_eq!(web[0].detected_at, failed);
    let warnings = opened(&events, "shop/sla-front-repair");
    assert_eq!(
        warnings,
        [(at("2026-10-12T09:00:00+02:00"), Status::Degraded)],
        "one warning, an hour before Monday 10:00"
    );
    let warning = sim.incidents_of("shop/sla-front-repair");
    assert_eq!(
        warning[0].message,
        format!(
            "incident #{} of shop/web (critical, down) breaches its repair time of 4 business hours at 2026-10-12T08:00:00Z",
            web[0].id
        )
    );
    assert_eq!(warning[0].resolved_at, Some(repaired));
}

/// The real monitor (scheduler, executor, recorder, incident engine) runs
/// the burn check through its one dispatch: with the shop's only check
/// failing against a loopback server since it started, the whole of every
/// window is down and the check pages with an incident of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_monitor_dispatches_the_burn_check_and_opens_its_page() {
    use keepup_model::SystemClock;
    use std::sync::atomic::Ordering;
    let (server, failing) = common::toggled().await;
    failing.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.9\n",
        server.url("/")
    );
    let config = Arc::new(keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap());
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = keepup_monitor::Monitor::start(
        config,
        store.clone(),
        keepup_probe::ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let web = CheckId::new("shop", "web");
    let burn = CheckId::new("shop", "sla-front");
    let latest = |id: &CheckId| store.latest_for(id).unwrap().map(|l| l.outcome);
    common::wait_until("two failed results of web", 20, || {
        monitor.current().contains_key(&web)
            && latest(&web).is_some_and(|o| o.status == Status::Down)
            && store
                .status_spans(std::slice::from_ref(&web), 0, i64::MAX / 2)
                .filter_map(Result::ok)
                .any(|s| s.status == Some(Status::Down) && s.duration_ms() >= 1000)
    })
    .await;
    monitor.scheduler().run_now(burn.clone());
    common::wait_until("a page from the burn check", 20, || {
        latest(&burn).is_some_and(|o| o.status == Status::Down)
    })
    .await;
    let page = latest(&burn).unwrap();
    assert!(
        page.message.starts_with(
            "the error budget burns at 1000.0× over 1h and 1000.0× over 5m (page at 14.4×)"
        ),
        "{page:?}"
    );
    monitor.flush().await;
    common::wait_until("the burn check's incident", 20, || {
        store
            .incidents(0, i64::MAX / 2, 100)
            .unwrap()
            .iter()
            .any(|i| i.check == burn && i.resolved_at.is_none())
    })
    .await;
    monitor.shutdown().await;
}

/// The repair check reads what the store says of incidents: a resolved
/// cause (db) whose consequence (web) is still open keeps its own clock
/// running (the warning names the cause, due four hours after it was
/// detected), and an incident opened during maintenance gets no warning.
#[test]
fn the_repair_warning_follows_a_resolved_cause_and_skips_maintenance() {
    use keepup_store::NewIncident;
    let dir = tempfile::tempdir().unwrap();
    let sim = Sim::new(
        dir.path(),
        "[[site.check]]\nid = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
         [[contract]]\nid = \"front\"\nsite = \"shop\"\ndown_when = \"web | db\"\ntarget = 99.9\nrepair_time = { critical = \"4h\" }\nburn = []\n",
    );
    let repair = sim.check("shop/sla-front-repair");
    let CheckSpec::Passive(PassiveSpec::Sla(spec)) = &repair.spec else {
        panic!("not an SLA check: {:?}", repair.spec)
    };
    let t0 = at("2026-10-05T10:00:00Z");
    let new =
        |check: &str, detected: Timestamp, cause: Option<i64>, maintenance: bool| NewIncident {
            check: CheckId::new("shop", check),
            status: Status::Down,
            opened_at: detected - MINUTE,
            detected_at: detected,
            cause,
            suppressed: cause.is_some(),
            maintenance,
            message: "refused".into(),
            findings: Vec::new(),
        };
    let planned = sim
        .store
        .open_incident(&new("web", t0, None, true))
        .unwrap();
    let evaluate =
        |now: Timestamp| keepup_monitor::sla::evaluate(&sim.store, &sim.config, spec, now);
    let quiet = evaluate(t0 + 3 * HOUR + 30 * MINUTE);
    assert_eq!(quiet.status, Status::Up, "{quiet:?}");
    sim.store.resolve_incident(planned, t0 + HOUR).unwrap();

    let cause = sim
        .store
        .open_incident(&new("db", t0 + 2 * HOUR, None, false))
        .unwrap();
    let consequence = sim
        .store
        .open_incident(&new("web", t0 + 2 * HOUR + 5 * MINUTE, Some(cause), false))
        .unwrap();
    sim.store.resolve_incident(cause, t0 + 3 * HOUR).unwrap();
    let warning = evaluate(t0 + 5 * HOUR + 30 * MINUTE);
    assert_eq!(warning.status, Status::Degraded, "{warning:?}");
    assert_eq!(
        warning.message,
        format!(
            "incident #{cause} of shop/db (critical, refused) breaches its repair time of 4h at 2026-10-05T16:00:00Z"
        )
    );
    sim.store
        .resolve_incident(consequence, t0 + 5 * HOUR + 40 * MINUTE)
        .unwrap();
    assert_eq!(evaluate(t0 + 5 * HOUR + 45 * MINUTE).status, Status::Up);
}
