//! Incidents end to end: real HTTP servers on loopback fail and recover;
//! the monitor opens, attributes, releases and resolves incidents in the
//! store and says so on its event stream.

use keepup_model::{CheckId, SystemClock};
use keepup_monitor::Monitor;
use keepup_monitor::incidents::IncidentEvent;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use keepup_testkit::http::{TestServer, text};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::broadcast;

mod common;
use common::toggled;

async fn next_event(
    rx: &mut broadcast::Receiver<IncidentEvent>,
    what: &str,
    pred: impl Fn(&IncidentEvent) -> bool,
) -> IncidentEvent {
    next_event_within(rx, what, Duration::from_secs(20), pred).await
}

async fn next_event_within(
    rx: &mut broadcast::Receiver<IncidentEvent>,
    what: &str,
    within: Duration,
    pred: impl Fn(&IncidentEvent) -> bool,
) -> IncidentEvent {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if pred(&e) => return e,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => panic!("event stream: {e}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

fn is_opened(check: &'static str) -> impl Fn(&IncidentEvent) -> bool {
    move |e| matches!(e, IncidentEvent::Opened { incident, .. } if incident.check.as_str() == check)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_outage_is_one_page_and_children_are_released_when_it_recovers() {
    let (gateway, gateway_failing) = toggled().await;
    let (web, web_failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\nsuccess_threshold = 1\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"gateway\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\ndepends_on = [\"gateway\"]\n",
        gateway.url("/"),
        web.url("/")
    );
    let config = keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The gateway fails: its incident is notified.
    gateway_failing.store(true, Ordering::SeqCst);
    let IncidentEvent::Opened {
        incident: parent,
        notify,
    } = next_event(&mut events, "gateway incident", is_opened("shop/gateway")).await
    else {
        unreachable!()
    };
    assert!(notify);
    assert!(
        parent.detected_at > parent.opened_at,
        "timed from the first failure, detected after the threshold"
    );

    // The web fails while the gateway is down: caused by it, not notified.
    web_failing.store(true, Ordering::SeqCst);
    let IncidentEvent::Opened {
        incident: child,
        notify,
    } = next_event(&mut events, "web incident", is_opened("shop/web")).await
    else {
        unreachable!()
    };
    assert!(!notify, "a consequence of a known cause is not paged");
    assert_eq!(child.cause, Some(parent.id));
    assert!(child.suppressed);

    // The gateway recovers, the web does not: the web is released and notifies.
    gateway_failing.store(false, Ordering::SeqCst);
    let resolved = next_event(
        &mut events,
        "gateway resolved",
        |e| matches!(e, IncidentEvent::Resolved { incident, .. } if incident.id == parent.id),
    )
    .await;
    assert!(matches!(
        resolved,
        IncidentEvent::Resolved { notify: true, .. }
    ));
    let released = next_event(&mut events, "web released", |e| {
        matches!(e, IncidentEvent::Released { .. })
    })
    .await;
    let IncidentEvent::Released { incident } = released else {
        unreachable!()
    };
    assert_eq!(incident.id, child.id);
    assert!(!incident.suppressed);

    // The web recovers: resolved and notified (its release was notified).
    web_failing.store(false, Ordering::SeqCst);
    let done = next_event(
        &mut events,
        "web resolved",
        |e| matches!(e, IncidentEvent::Resolved { incident, .. } if incident.id == child.id),
    )
    .await;
    assert!(matches!(done, IncidentEvent::Resolved { notify: true, .. }));

    // The store has both, exact and closed.
    monitor.shutdown().await;
    assert!(store.open_incidents().unwrap().is_empty());
    let all = store.incidents(0, i64::MAX, 10).unwrap();
    assert_eq!(all.len(), 2);
    let g = all
        .iter()
        .find(|i| i.check == CheckId::new("shop", "gateway"))
        .unwrap();
    assert!(g.resolved_at.unwrap() > g.opened_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_confirmed_by_a_quick_retry_not_the_next_slot() {
    let (server, failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\ninterval = \"30s\"\ntimeout = \"2s\"\nfailure_threshold = 2\nretry_interval = \"1s\"\n",
        server.url("/")
    );
    let config = keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    failing.store(true, Ordering::SeqCst);
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    // The first run comes at the check's slot (within 30 s); with a 30 s
    // interval only the 1 s retry can confirm the failure soon after.
    let IncidentEvent::Opened { incident, .. } = next_event_within(
        &mut events,
        "incident after a retry",
        Duration::from_secs(45),
        is_opened("shop/web"),
    )
    .await
    else {
        unreachable!()
    };
    assert!(
        incident.detected_at - incident.opened_at < 5_000,
        "confirmed by the retry, not the next slot"
    );
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_maintenance_incidents_are_recorded_but_muted() {
    let (server, failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[site.check]]\nid = \"api\"\nkind = \"http\"\nurl = \"{}\"\n",
        server.url("/"),
        server.url("/api")
    );
    let config = keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    // `keepup maintenance start --check shop/web --for 1h` did this:
    let now = keepup_model::Clock::now_ms(&SystemClock);
    store
        .start_maintenance("shop/web", now - 1_000, now + 3_600_000, "deploy", "alice")
        .unwrap();
    failing.store(true, Ordering::SeqCst);
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    let mut seen = std::collections::HashMap::new();
    while seen.len() < 2 {
        let e = next_event(&mut events, "both incidents", |e| {
            matches!(e, IncidentEvent::Opened { .. })
        })
        .await;
        if let IncidentEvent::Opened { incident, notify } = e {
            seen.insert(incident.check.to_string(), (incident.maintenance, notify));
        }
    }
    assert_eq!(
        seen["shop/web"],
        (true, false),
        "in maintenance: recorded, marked, muted"
    );
    assert_eq!(seen["shop/api"], (false, true), "not covered: notified");
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_keepup_itself_is_offline_failures_are_unknown_not_incidents() {
    let (server, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    // The reference: a port that refuses connections until we listen on it.
    let reference_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[connectivity]\ntargets = [\"tcp://127.0.0.1:{reference_port}\"]\ninterval = \"1s\"\n\
         [defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        server.url("/")
    );
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert!(config.find_check("keepup/connectivity-1").is_some());
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(monitor.health().offline);
    let web = monitor.current()[&CheckId::new("shop", "web")].clone();
    assert_eq!(
        web.outcome.status,
        keepup_model::Status::Unknown,
        "{:?}",
        web.outcome
    );
    assert!(
        web.outcome
            .findings
            .iter()
            .any(|f| f.code == keepup_model::codes::MONITOR_OFFLINE)
    );
    // keepup's own problem is an incident of its own; the shop's is not.
    let open = store.open_incidents().unwrap();
    assert!(
        open.iter().all(|i| i.check.as_str() != "shop/web"),
        "{open:?}"
    );
    assert!(
        open.iter()
            .any(|i| i.check.as_str() == "keepup/connectivity-1"),
        "{open:?}"
    );

    // The network is back: the shop's real failure becomes an incident.
    let _listener = tokio::net::TcpListener::bind(("127.0.0.1", reference_port))
        .await
        .unwrap();
    next_event(
        &mut events,
        "shop incident once online",
        is_opened("shop/web"),
    )
    .await;
    assert!(!monitor.health().offline);
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepup_watches_itself_and_calls_its_dead_mans_switch_while_healthy() {
    let pings = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let p = pings.clone();
    let deadman = TestServer::start(move |req| {
        let p = p.clone();
        async move {
            if req.uri().path() == "/ping/keepup-abc" {
                p.fetch_add(1, Ordering::SeqCst);
            }
            text(200, "OK")
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[self_monitoring]\nheartbeat_url = \"{}\"\nheartbeat_every = \"1s\"\ninterval = \"1s\"\nmax_lag = \"5s\"\n",
        deadman.url("/ping/keepup-abc")
    );
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert!(
        !format!("{config:?}").contains("keepup-abc"),
        "the URL's token is a secret"
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store,
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let own = monitor.current()[&CheckId::new("keepup", "self")].clone();
    assert_eq!(
        own.outcome.status,
        keepup_model::Status::Up,
        "{:?}",
        own.outcome
    );
    assert!(
        own.outcome.evidence.details.contains_key("lag_ms_p99"),
        "{:?}",
        own.outcome.evidence
    );
    assert!(
        pings.load(Ordering::SeqCst) >= 2,
        "dead man's switch called {} times",
        pings.load(Ordering::SeqCst)
    );
    monitor.shutdown().await;
}

#[test]
fn a_parent_failing_in_the_same_batch_still_causes_its_children() {
    use keepup_monitor::incidents::IncidentEngine;
    let src = "[defaults]\nfailure_threshold = 1\n[[site]]\nid = \"s\"\n[[site.check]]\nid = \"dns\"\nkind = \"tcp\"\nhost = \"h\"\nport = 53\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"h\"\nport = 80\ndepends_on = [\"dns\"]\n";
    let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.checks().cloned().map(Arc::new).collect();
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let down = keepup_model::Outcome::new(keepup_model::Status::Down, "refused");
    // The child comes first in the batch.
    let (dns, web) = (&checks[0], &checks[1]);
    let out = engine
        .observe_batch(&[(&**web, 1_000, &down), (&**dns, 1_000, &down)])
        .unwrap();
    let opened = |o: &keepup_monitor::incidents::Observed| match &o.events[..] {
        [IncidentEvent::Opened { incident, notify }] => (incident.clone(), *notify),
        other => panic!("{other:?}"),
    };
    let (web_inc, web_notify) = opened(&out[0]);
    let (dns_inc, dns_notify) = opened(&out[1]);
    assert!(dns_notify && !web_notify, "one page: the cause");
    assert_eq!(web_inc.cause, Some(dns_inc.id));
    assert_eq!(
        store.incident(web_inc.id).unwrap().unwrap().cause,
        Some(dns_inc.id),
        "stored too"
    );
}

#[test]
fn a_tag_window_mutes_the_checks_carrying_the_tag_and_no_other() {
    use keepup_monitor::incidents::IncidentEngine;
    let tcp = "kind = \"tcp\"\nhost = \"h\"\nport = 80\n";
    let src = format!(
        "[defaults]\nfailure_threshold = 1\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"db\"\ntags = [\"db\"]\n{tcp}\
         [[site.check]]\nid = \"web\"\ntags = [\"front\"]\n{tcp}\
         [[site.check]]\nid = \"cache\"\ntags = [\"cache\"]\n{tcp}\
         [[site]]\nid = \"pg\"\ntags = [\"db\"]\n\
         [[site.check]]\nid = \"primary\"\n{tcp}\
         [[maintenance]]\nid = \"flush\"\ntags = [\"cache\"]\nstart = \"2026-11-10T02:00:00Z\"\nend = \"2026-11-10T03:00:00Z\"\n"
    );
    let config = keepup_config::load_str(&src, std::path::Path::new("k.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    engine.configure(&checks, config.maintenance.clone());
    // 2026-11-10 02:00 UTC, simulated: the engine takes the time it is given.
    let t0 = keepup_model::parse_rfc3339("2026-11-10T02:00:00Z").unwrap();
    // `keepup maintenance start --tag db --for 1h` did this:
    store
        .start_maintenance("tag:db", t0, t0 + 3_600_000, "db upgrade", "alice")
        .unwrap();
    let down = keepup_model::Outcome::new(keepup_model::Status::Down, "refused");
    let batch: Vec<_> = checks.iter().map(|c| (&**c, t0 + 60_000, &down)).collect();
    let observed = engine.observe_batch(&batch).unwrap();
    let opened: HashMap<String, (bool, bool)> = observed
        .iter()
        .flat_map(|o| &o.events)
        .filter_map(|e| match e {
            IncidentEvent::Opened { incident, notify } => {
                Some((incident.check.to_string(), (incident.maintenance, *notify)))
            }
            _ => None,
        })
        .collect();
    let muted = (true, false);
    let paged = (false, true);
    assert_eq!(opened["shop/db"], muted, "the check carries the tag");
    assert_eq!(opened["pg/primary"], muted, "its site carries the tag");
    assert_eq!(opened["shop/cache"], muted, "the configured tag window");
    assert_eq!(opened["shop/web"], paged, "no window covers it");
    assert_eq!(opened.len(), 4, "{opened:?}");
    // After both windows a new failure of the tagged check pages.
    let later = t0 + 2 * 3_600_000;
    let up = keepup_model::Outcome::new(keepup_model::Status::Up, "fine");
    let db = checks.iter().find(|c| c.id.as_str() == "shop/db").unwrap();
    engine.observe(db, later, &up).unwrap();
    let again = engine.observe(db, later + 60_000, &down).unwrap();
    assert!(
        matches!(&again.events[..], [IncidentEvent::Opened { incident, notify: true }] if !incident.maintenance),
        "{:?}",
        again.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_mid_batch_leaves_nothing_half_done_and_recovery_opens_what_is_due() {
    let (api, api_failing) = toggled().await;
    let (dns, dns_failing) = toggled().await;
    let (web, web_failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"2s\"\nfailure_threshold = 2\nretry_interval = \"1s\"\n[[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"api\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[site.check]]\nid = \"dns\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\ndepends_on = [\"dns\"]\n",
        api.url("/"),
        dns.url("/"),
        web.url("/")
    );
    let config = keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap();
    let store = Store::open(&db).unwrap();
    api_failing.store(true, Ordering::SeqCst);
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    let IncidentEvent::Opened {
        incident: api_inc, ..
    } = next_event(&mut events, "the api incident", is_opened("shop/api")).await
    else {
        unreachable!()
    };

    // The store starts refusing incident writes (as a full disk would
    // refuse the pages they need) while results still go in; then, in one
    // breath, the api recovers and dns fails, taking web with it.
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse_new_incidents BEFORE INSERT ON incident
             BEGIN SELECT RAISE(ABORT, 'injected failure: database or disk is full'); END;
             CREATE TRIGGER refuse_incident_changes BEFORE UPDATE ON incident
             BEGIN SELECT RAISE(ABORT, 'injected failure: database or disk is full'); END;",
        )
        .unwrap();
    let failing_since = keepup_model::Clock::now_ms(&SystemClock);
    api_failing.store(false, Ordering::SeqCst);
    dns_failing.store(true, Ordering::SeqCst);
    web_failing.store(true, Ordering::SeqCst);
    common::wait_until("the incident write to fail", 30, || {
        monitor.health().store_error.is_some()
    })
    .await;
    // Several more results go by while the store refuses.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        monitor.health().store_error.is_some(),
        "the store still refuses"
    );
    let open: Vec<String> = store
        .open_incidents()
        .unwrap()
        .iter()
        .map(|i| i.check.to_string())
        .collect();
    assert_eq!(
        open,
        ["shop/api"],
        "nothing of the failed batch is stored: the api's resolution neither"
    );
    while let Ok(e) = events.try_recv() {
        assert!(
            matches!(e, IncidentEvent::Flapping { .. }),
            "no event while the store refuses: {e:?}"
        );
    }

    // The store recovers: the incidents that are due open, once, timed
    // from the first failed probe.
    other
        .execute_batch("DROP TRIGGER refuse_new_incidents; DROP TRIGGER refuse_incident_changes")
        .unwrap();
    let mut resolved = None;
    let mut opened = HashMap::new();
    while resolved.is_none() || opened.len() < 2 {
        match next_event(&mut events, "the due incidents", |_| true).await {
            IncidentEvent::Resolved { incident, notify } => {
                assert!(resolved.is_none(), "resolved twice");
                assert!(notify);
                resolved = Some(incident);
            }
            IncidentEvent::Opened { incident, notify } => {
                let check = incident.check.to_string();
                assert!(
                    opened.insert(check, (incident, notify)).is_none(),
                    "opened twice"
                );
            }
            IncidentEvent::Released { incident } => panic!("nothing to release: {incident:?}"),
            IncidentEvent::Flapping { .. } => {}
        }
    }
    assert_eq!(resolved.unwrap().id, api_inc.id);
    let (dns_inc, dns_notify) = &opened["shop/dns"];
    let (web_inc, web_notify) = &opened["shop/web"];
    assert!(*dns_notify && !*web_notify, "one page: the cause");
    assert_eq!(web_inc.cause, Some(dns_inc.id));
    assert!(
        dns_inc.opened_at >= failing_since && web_inc.opened_at >= failing_since,
        "timed from the first failed probe"
    );
    assert!(
        dns_inc.opened_at < dns_inc.detected_at,
        "confirmed by a second failure"
    );
    monitor.flush().await;
    let all = store.incidents(0, i64::MAX, 100).unwrap();
    assert_eq!(all.len(), 3, "api, dns and web, each once: {all:?}");
    let stored_web = store.incident(web_inc.id).unwrap().unwrap();
    assert_eq!(
        (stored_web.cause, stored_web.suppressed),
        (Some(dns_inc.id), true)
    );
    assert!(monitor.health().store_error.is_none(), "recovered");
    monitor.shutdown().await;
}

#[test]
fn a_full_disk_mid_batch_changes_nothing_and_the_same_batch_applies_once_there_is_room() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    let dir = tempfile::tempdir().unwrap();
    let disk = keepup_testkit::disk::Tmpfs::mount(&dir.path().join("disk"), "2m");
    let src = "[defaults]\nfailure_threshold = 1\n[[site]]\nid = \"s\"\n\
               [[site.check]]\nid = \"api\"\nkind = \"tcp\"\nhost = \"h\"\nport = 81\n\
               [[site.check]]\nid = \"dns\"\nkind = \"tcp\"\nhost = \"h\"\nport = 53\n\
               [[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"h\"\nport = 80\ndepends_on = [\"dns\"]\n";
    let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.checks().cloned().map(Arc::new).collect();
    let (api, dns, web) = (&*checks[0], &*checks[1], &*checks[2]);
    let store = Store::open(&dir.path().join("disk/k.db")).unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let up = Outcome::new(Status::Up, "fine");
    let down = Outcome::new(Status::Down, "refused");
    engine
        .observe_batch(&[(api, 1_000, &down), (dns, 1_000, &up), (web, 1_000, &up)])
        .unwrap();
    let api_incident = store.open_incidents().unwrap()[0].clone();

    // The disk fills up; then the api recovers while dns (and with it web)
    // fails, all in one batch.
    let filler = disk.fill("filler");
    let batch = [(api, 2_000, &up), (dns, 2_000, &down), (web, 2_000, &down)];
    let err = engine.observe_batch(&batch).unwrap_err();
    assert!(err.to_string().contains("full"), "{err}");
    assert_eq!(
        store.open_incidents().unwrap(),
        std::slice::from_ref(&api_incident),
        "nothing of the batch is stored"
    );

    // Room again: the same batch (the recorder feeds it again) opens and
    // resolves exactly what is due, once.
    std::fs::remove_file(filler).unwrap();
    let out = engine.observe_batch(&batch).unwrap();
    let events: Vec<&IncidentEvent> = out.iter().flat_map(|o| &o.events).collect();
    assert!(
        matches!(events[..], [
            IncidentEvent::Resolved { incident: a, notify: true },
            IncidentEvent::Opened { incident: d, notify: true },
            IncidentEvent::Opened { incident: w, notify: false },
        ] if a.id == api_incident.id && d.check.as_str() == "s/dns" && w.cause == Some(d.id)),
        "{events:#?}"
    );
    let all = store.incidents(0, i64::MAX, 10).unwrap();
    assert_eq!(all.len(), 3, "{all:#?}");
    // And nothing more when the next results say the same.
    let out = engine
        .observe_batch(&[(api, 3_000, &up), (dns, 3_000, &down), (web, 3_000, &down)])
        .unwrap();
    assert!(out.iter().all(|o| o.events.is_empty()));
    drop(store);
    drop(engine);
}

/// A site whose `tls` check of 127.0.0.1:8443 is the implicit parent of
/// two HTTPS checks (home, cart); a failure is confirmed at once.
fn certificate_site() -> Vec<Arc<keepup_config::Check>> {
    let src = "[defaults]\nfailure_threshold = 1\n[[site]]\nid = \"s\"\n\
               [[site.check]]\nid = \"cert\"\nkind = \"tls\"\nhost = \"127.0.0.1\"\nport = 8443\n\
               [[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"https://127.0.0.1:8443/\"\n\
               [[site.check]]\nid = \"cart\"\nkind = \"http\"\nurl = \"https://127.0.0.1:8443/cart\"\n";
    let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
    config.checks().cloned().map(Arc::new).collect()
}

/// One line per event of a batch: what happened to which check, and
/// whether anyone is told.
fn event_lines(out: &[keepup_monitor::incidents::Observed]) -> Vec<String> {
    out.iter()
        .flat_map(|o| &o.events)
        .map(|e| match e {
            IncidentEvent::Opened { incident, notify } => format!(
                "opened {} notify={notify} caused={}",
                incident.check,
                incident.cause.is_some()
            ),
            IncidentEvent::Resolved { incident, notify } => {
                format!("resolved {} notify={notify}", incident.check)
            }
            IncidentEvent::Released { incident } => format!("released {}", incident.check),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_child_that_confirms_first_waits_for_its_stale_parent_and_becomes_its_consequence() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    let checks = certificate_site();
    let (cert, home, cart) = (&*checks[0], &*checks[1], &*checks[2]);
    assert_eq!(
        home.depends_on,
        std::slice::from_ref(&cert.id),
        "the implicit parent"
    );
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let up = Outcome::new(Status::Up, "fine");
    let expired = Outcome::new(Status::Down, "the certificate expired");
    engine
        .observe_batch(&[(cert, 1_000, &up), (home, 1_000, &up), (cart, 1_000, &up)])
        .unwrap();

    // The certificate expires at 1.5 s; the HTTPS checks see it first and
    // confirm, but the tls check has not run since: they wait and ask for it.
    let out = engine
        .observe_batch(&[(home, 2_000, &expired), (cart, 2_100, &expired)])
        .unwrap();
    assert!(out.iter().all(|o| o.events.is_empty()), "{out:?}");
    assert_eq!(out[0].ask, std::slice::from_ref(&cert.id));
    assert_eq!(out[1].ask, std::slice::from_ref(&cert.id));
    assert!(store.open_incidents().unwrap().is_empty());

    // The tls check's run confirms the cause: one page, two consequences.
    let out = engine.observe_batch(&[(cert, 2_200, &expired)]).unwrap();
    let opened: Vec<(String, bool, Option<i64>, i64)> = out
        .iter()
        .flat_map(|o| &o.events)
        .map(|e| match e {
            IncidentEvent::Opened { incident, notify } => (
                incident.check.to_string(),
                *notify,
                incident.cause,
                incident.opened_at,
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    let cause = store
        .open_incidents()
        .unwrap()
        .into_iter()
        .find(|i| i.check == cert.id)
        .unwrap();
    let mut opened_sorted = opened.clone();
    opened_sorted.sort();
    assert_eq!(
        opened_sorted,
        [
            ("s/cart".to_owned(), false, Some(cause.id), 2_100),
            ("s/cert".to_owned(), true, None, 2_200),
            ("s/home".to_owned(), false, Some(cause.id), 2_000),
        ],
        "timed from their first failures"
    );

    // The certificate is replaced: the consequences resolve unannounced,
    // the cause with a notice.
    let out = engine
        .observe_batch(&[(home, 3_000, &up), (cart, 3_000, &up), (cert, 3_000, &up)])
        .unwrap();
    assert_eq!(
        event_lines(&out),
        [
            "resolved s/home notify=false",
            "resolved s/cart notify=false",
            "resolved s/cert notify=true"
        ]
    );
    assert!(store.open_incidents().unwrap().is_empty());
}

#[test]
fn a_child_whose_parent_answers_well_after_its_failure_began_is_an_outage_of_its_own() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    let checks = certificate_site();
    let (cert, home) = (&*checks[0], &*checks[1]);
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let up = Outcome::new(Status::Up, "fine");
    let broken = Outcome::new(Status::Down, "500");
    let out = engine.observe_batch(&[(home, 2_000, &broken)]).unwrap();
    assert!(out[0].events.is_empty());
    assert_eq!(out[0].ask, std::slice::from_ref(&cert.id));
    // A result of the parent from before the failure settles nothing.
    let out = engine.observe_batch(&[(cert, 1_500, &up)]).unwrap();
    assert!(out[0].events.is_empty(), "{out:?}");
    let out = engine.observe_batch(&[(cert, 2_300, &up)]).unwrap();
    assert!(
        matches!(&out[0].events[..], [IncidentEvent::Opened { incident, notify: true }]
            if incident.check == home.id && incident.cause.is_none() && incident.opened_at == 2_000),
        "{out:?}"
    );
}

#[test]
fn when_the_cause_recovers_first_its_children_run_again_before_they_are_released() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    let checks = certificate_site();
    let (cert, home, cart) = (&*checks[0], &*checks[1], &*checks[2]);
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let up = Outcome::new(Status::Up, "fine");
    let down = Outcome::new(Status::Down, "the certificate expired");
    let broken = Outcome::new(Status::Down, "HTTP 500");
    engine
        .observe_batch(&[(cert, 1_000, &up), (home, 1_000, &up), (cart, 1_000, &up)])
        .unwrap();
    engine
        .observe_batch(&[
            (cert, 1_500, &down),
            (home, 1_600, &down),
            (cart, 1_600, &down),
        ])
        .unwrap();

    // The certificate is replaced and its check runs first: the children's
    // last results predate that; they are run again, not released.
    let out = engine.observe_batch(&[(cert, 3_000, &up)]).unwrap();
    assert_eq!(event_lines(&out), ["resolved s/cert notify=true"]);
    let mut asked = out[0].ask.clone();
    asked.sort();
    assert_eq!(asked, [cart.id.clone(), home.id.clone()]);
    // A result from before the recovery decides nothing.
    let out = engine.observe_batch(&[(cart, 2_900, &down)]).unwrap();
    assert!(event_lines(&out).is_empty(), "{:?}", event_lines(&out));
    // The home page is fine now: a consequence resolved unannounced. The
    // cart still fails: an outage of its own.
    let out = engine
        .observe_batch(&[(home, 3_100, &up), (cart, 3_100, &broken)])
        .unwrap();
    assert_eq!(
        event_lines(&out),
        ["resolved s/home notify=false", "released s/cart"]
    );
}

#[test]
fn a_restart_loses_neither_a_failure_waiting_for_its_parent_nor_a_release_to_decide() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    use keepup_store::ResultRecord;
    let checks = certificate_site();
    let (cert, home, cart) = (&*checks[0], &*checks[1], &*checks[2]);
    let store = Store::open_in_memory().unwrap();
    let up = Outcome::new(Status::Up, "fine");
    let down = Outcome::new(Status::Down, "broken");
    // As the recorder does: results stored first, then fed to the engine.
    let feed = |engine: &mut IncidentEngine, batch: &[(&keepup_config::Check, i64, &Outcome)]| {
        let records: Vec<ResultRecord> = batch
            .iter()
            .map(|(c, at, o)| ResultRecord {
                check: c.id.clone(),
                at: *at,
                outcome: (*o).clone(),
                backfill: false,
            })
            .collect();
        store.record(&records).unwrap();
        engine.observe_batch(batch).unwrap()
    };
    let opened = |out: &[keepup_monitor::incidents::Observed]| -> Vec<(String, Option<i64>)> {
        out.iter()
            .flat_map(|o| &o.events)
            .filter_map(|e| match e {
                IncidentEvent::Opened { incident, .. } => {
                    Some((incident.check.to_string(), incident.cause))
                }
                _ => None,
            })
            .collect()
    };
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    feed(
        &mut engine,
        &[(cert, 1_000, &up), (home, 1_000, &up), (cart, 1_000, &up)],
    );
    // The home page's incident is a consequence of the certificate's...
    let out = feed(&mut engine, &[(cert, 2_000, &down), (home, 2_000, &down)]);
    assert_eq!(opened(&out).len(), 2, "{:?}", opened(&out));
    // ... which resolves before the home page runs again; and the cart's
    // failure waits for the certificate check. keepup stops.
    feed(&mut engine, &[(cert, 3_000, &up)]);
    let out = feed(&mut engine, &[(cart, 3_500, &down)]);
    assert!(opened(&out).is_empty());
    drop(engine);

    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let out = feed(&mut engine, &[(home, 4_000, &down), (cart, 4_000, &down)]);
    assert_eq!(event_lines(&out), ["released s/home"]);
    assert_eq!(
        out[1].ask,
        std::slice::from_ref(&cert.id),
        "the cart waits again"
    );
    let out = feed(&mut engine, &[(cert, 4_100, &up)]);
    assert_eq!(
        event_lines(&out),
        ["opened s/cart notify=true caused=false"]
    );
}

/// An expired certificate behind a site's `tls` check and the HTTPS checks
/// of the same host and port (its implicit children, with a real TLS server
/// and the real scheduler): the HTTPS checks confirm first, as they run
/// every second and the certificate check every 20 s, yet the outage is one
/// incident, the certificate's, and theirs are its unannounced consequences,
/// all resolved once the certificate is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_is_one_incident_with_the_https_checks_as_consequences() {
    use keepup_testkit::http::{ServerTls, html};
    use keepup_testkit::pki::{CertAuthority, validity};
    let ca = CertAuthority::new("keepup test root").unwrap();
    let good = ca.issue(&["127.0.0.1"], validity::current()).unwrap();
    let old = ca.issue(&["127.0.0.1"], validity::expired()).unwrap();
    let (tls, expired) = ServerTls::switchable(&good, &old);
    let server = TestServer::builder()
        .tls(tls)
        .start(|_req| async {
            html(
                200,
                "<h1>Privacy policy</h1><p>The data controller is us.</p>",
            )
        })
        .await
        .unwrap();
    let ca_file = ca.root_pem_file().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = server.port();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 2\nretry_interval = \"1s\"\n\
         [defaults.tls]\nca_file = {ca:?}\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"certificate\"\nkind = \"tls\"\nhost = \"127.0.0.1\"\nport = {port}\ninterval = \"20s\"\ntimeout = \"2s\"\n\
         [[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = \"https://127.0.0.1:{port}/\"\n\
         [[site.check]]\nid = \"checkout\"\nkind = \"http\"\nurl = \"https://127.0.0.1:{port}/checkout\"\n\
         [[site.check]]\nid = \"privacy\"\nkind = \"page\"\nurl = \"https://127.0.0.1:{port}/privacy\"\nphrases = [\"data controller\"]\nsoft_404 = false\ndetect_changes = false\n",
        ca = ca_file.path().to_str().unwrap(),
    );
    let config = keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let mut events = monitor.subscribe();
    let children = ["shop/home", "shop/checkout", "shop/privacy"];
    let all = ["certificate", "home", "checkout", "privacy"].map(|c| CheckId::new("shop", c));
    common::wait_until("every check up", 30, || {
        let current = monitor.current();
        all.iter().all(|id| {
            keepup_monitor::recorder::status_of(current.get(id)) == keepup_model::Status::Up
        })
    })
    .await;

    expired.store(true, Ordering::SeqCst);
    let mut opened: HashMap<String, (i64, bool, Option<i64>)> = HashMap::new();
    while opened.len() < 4 {
        let IncidentEvent::Opened { incident, notify } =
            next_event(&mut events, "the four incidents", |e| {
                matches!(e, IncidentEvent::Opened { .. })
            })
            .await
        else {
            unreachable!()
        };
        opened.insert(
            incident.check.to_string(),
            (incident.id, notify, incident.cause),
        );
    }
    let (cause, notified, its_cause) = opened["shop/certificate"];
    assert!(notified && its_cause.is_none(), "{opened:?}");
    for child in children {
        let (_, notified, its_cause) = opened[child];
        assert_eq!(
            (notified, its_cause),
            (false, Some(cause)),
            "{child} is a consequence, not paged: {opened:?}"
        );
    }

    // A new certificate: everything resolves, only the cause is announced.
    expired.store(false, Ordering::SeqCst);
    let mut resolved: HashMap<String, bool> = HashMap::new();
    while resolved.len() < 4 {
        let IncidentEvent::Resolved { incident, notify } = next_event_within(
            &mut events,
            "the four resolutions",
            Duration::from_secs(45),
            |e| matches!(e, IncidentEvent::Resolved { .. }),
        )
        .await
        else {
            unreachable!()
        };
        resolved.insert(incident.check.to_string(), notify);
    }
    assert!(resolved["shop/certificate"], "{resolved:?}");
    assert!(children.iter().all(|c| !resolved[*c]), "{resolved:?}");
    monitor.shutdown().await;
    assert!(store.open_incidents().unwrap().is_empty());
}

#[test]
fn resolving_by_hand_announces_the_end_releases_consequences_and_a_still_failing_check_opens_again()
{
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    let checks = certificate_site();
    let (cert, home) = (&*checks[0], &*checks[1]);
    let store = Store::open_in_memory().unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let down = Outcome::new(Status::Down, "expired");
    engine
        .observe_batch(&[(cert, 1_000, &down), (home, 1_000, &down)])
        .unwrap();
    let cause = store.open_incidents().unwrap();
    let cert_inc = cause.iter().find(|i| i.check == cert.id).unwrap().id;

    let (event, rerun) = engine
        .resolve_by_hand(cert_inc, 5_000, "alice", "renewed by hand")
        .unwrap()
        .expect("it was open");
    assert_eq!(
        event_lines(&[keepup_monitor::incidents::Observed {
            events: vec![event],
            ..Default::default()
        }]),
        ["resolved s/cert notify=true"]
    );
    assert_eq!(
        rerun,
        std::slice::from_ref(&home.id),
        "its consequence runs again"
    );
    let stored = store.incident(cert_inc).unwrap().unwrap();
    assert_eq!(stored.resolved_at, Some(5_000));
    assert_eq!(
        store.incident_resolution(cert_inc).unwrap().map(|r| r.note),
        Some("renewed by hand".to_owned())
    );
    assert!(
        engine
            .resolve_by_hand(cert_inc, 6_000, "bob", "")
            .unwrap()
            .is_none(),
        "resolved once"
    );
    // The consequence still failing is now an outage of its own.
    let out = engine.observe_batch(&[(home, 7_000, &down)]).unwrap();
    assert_eq!(event_lines(&out), ["released s/home"]);
    // The certificate still failing confirms again and opens a new incident.
    let out = engine.observe_batch(&[(cert, 8_000, &down)]).unwrap();
    assert_eq!(
        event_lines(&out),
        ["opened s/cert notify=true caused=false"]
    );
}
