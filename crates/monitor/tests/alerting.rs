//! Alerting end to end: a real HTTP outage opens an incident, webhooks
//! (in-process receivers speaking HTTP) are notified through the durable
//! outbox, a broken channel falls back, an unacknowledged incident
//! escalates, acknowledgement stops reminders, and recovery is announced
//! with its duration.

use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{OutboxState, Store};
use keepup_testkit::http::{TestServer, text};
use keepup_testkit::smtp::{SmtpMode, SmtpOptions, SmtpSink};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

mod common;
use common::{events, receiver, toggled, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_paged_escalated_acknowledged_and_resolved() {
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (ops, ops_got) = receiver(200).await;
    let (boss, boss_got) = receiver(200).await;
    let (broken, broken_got) = receiver(400).await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        r#"[server]
public_url = "https://keepup.example"

[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1

[[site]]
id = "shop"
runbook = "Call the shop's owner."
[[site.check]]
id = "web"
kind = "http"
url = "{shop}"
runbook = "Restart **nginx**."

[[runbook]]
codes = ["HTTP_STATUS_UNEXPECTED"]
text = "Read the application's error log."

[[channel]]
id = "ops-hook"
kind = "webhook"
url = "{ops}"
[[channel]]
id = "boss-hook"
kind = "webhook"
url = "{boss}"
[[channel]]
id = "broken-hook"
kind = "webhook"
url = "{broken}"
fallback = "ops-hook"

[[contact]]
id = "ops"
channels = ["ops-hook"]
[[contact]]
id = "boss"
channels = ["boss-hook"]

[[policy]]
id = "default"
repeat_every = "2s"
max_reminders = 1
group_window = "0s"
[[policy.level]]
notify = ["ops", "channel:broken-hook"]
[[policy.level]]
after = "3s"
notify = ["boss"]
"#,
        shop = shop.url("/"),
        ops = ops.url("/hook"),
        boss = boss.url("/hook"),
        broken = broken.url("/hook"),
    );
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();

    // Level 1: ops directly, plus the broken channel's fallback copy to ops.
    wait_until("two triggers at ops", 20, || {
        events(&ops_got).iter().filter(|e| *e == "trigger").count() >= 2
    })
    .await;
    assert_eq!(
        events(&broken_got),
        vec!["trigger"],
        "a permanent error is not retried"
    );
    assert!(
        boss_got.lock().unwrap().is_empty(),
        "level 2 waits for its delay"
    );
    let first = ops_got.lock().unwrap()[0].clone();
    assert_eq!(
        first["dedup_key"]
            .as_str()
            .map(|s| s.starts_with("keepup-incident-")),
        Some(true),
        "{first}"
    );
    // The runbook notes go along, most specific first, with the incident's page.
    let notes: Vec<(String, String, String)> = first["runbook"]
        .as_array()
        .unwrap_or_else(|| panic!("no runbook: {first}"))
        .iter()
        .map(|n| {
            let s = |k: &str| n[k].as_str().unwrap_or_default().to_owned();
            (s("source"), s("about"), s("text"))
        })
        .collect();
    let owned = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        notes,
        [
            owned("check", "shop/web", "Restart **nginx**."),
            owned(
                "code",
                "HTTP_STATUS_UNEXPECTED",
                "Read the application's error log."
            ),
            owned("site", "shop", "Call the shop's owner."),
        ],
        "{first}"
    );
    let opened = store.open_incidents().unwrap().remove(0);
    assert_eq!(
        first["page_url"],
        format!("https://keepup.example/incidents/{}", opened.id)
    );

    // Level 2 after 3 s without acknowledgement.
    wait_until("escalation to boss", 10, || {
        events(&boss_got).contains(&"trigger".to_owned())
    })
    .await;
    let incident = store.open_incidents().unwrap().remove(0);
    // A reminder follows 2 s later (the only one: max_reminders = 1).
    wait_until("one reminder", 10, || {
        events(&ops_got).contains(&"reminder".to_owned())
    })
    .await;

    // Someone acknowledges: everyone told hears it, reminders stop.
    assert!(
        store
            .acknowledge_incident(incident.id, now_ms(), "alice")
            .unwrap()
    );
    wait_until("acknowledge notices", 10, || {
        events(&ops_got).contains(&"acknowledge".to_owned())
            && events(&boss_got).contains(&"acknowledge".to_owned())
    })
    .await;
    let reminders_before = events(&ops_got).iter().filter(|e| *e == "reminder").count();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        events(&ops_got).iter().filter(|e| *e == "reminder").count(),
        reminders_before
    );

    // Recovery is announced with the outage duration.
    failing.store(false, Ordering::SeqCst);
    wait_until("resolve notices", 15, || {
        events(&boss_got).contains(&"resolve".to_owned())
            && events(&ops_got).contains(&"resolve".to_owned())
    })
    .await;
    // Let the delivery loop record the last confirmations.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let resolve = boss_got
        .lock()
        .unwrap()
        .iter()
        .find(|v| v["event"] == "resolve")
        .cloned()
        .unwrap();
    assert!(
        resolve["duration_s"].as_u64().is_some_and(|d| d >= 5),
        "{resolve}"
    );
    assert_eq!(
        resolve["runbook"],
        serde_json::json!([]),
        "notes go with failures only"
    );
    monitor.shutdown().await;

    // The outbox shows it all: the broken channel failed, everything else was sent.
    let rows = store.outbox(100).unwrap();
    assert!(rows.iter().any(|r| r.channel == "broken-hook"
        && r.state == OutboxState::Failed
        && r.last_error.as_deref().is_some_and(|e| e.contains("400"))));
    assert!(
        rows.iter()
            .filter(|r| r.channel != "broken-hook")
            .all(|r| r.state == OutboxState::Sent),
        "{rows:#?}"
    );
}

#[allow(non_snake_case)]
fn now_ms() -> i64 {
    keepup_model::Clock::now_ms(&SystemClock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_of_one_site_starting_together_are_one_message() {
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (ops, ops_got) = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n\
         [[channel]]\nid = \"ops-hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[policy]]\nid = \"all\"\ngroup_window = \"3s\"\n[[policy.level]]\nnotify = [\"channel:ops-hook\"]\n",
        ops.url("/hook")
    );
    for page in ["home", "product", "checkout"] {
        src.push_str(&format!(
            "[[site.check]]\nid = \"{page}\"\nkind = \"http\"\nurl = \"{}\"\n",
            shop.url(&format!("/{page}"))
        ));
    }
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    wait_until("the grouped trigger", 20, || {
        events(&ops_got).contains(&"trigger".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let triggers: Vec<_> = ops_got
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v["event"] == "trigger")
        .cloned()
        .collect();
    assert_eq!(
        triggers.len(),
        1,
        "three incidents, one message: {triggers:#?}"
    );
    assert_eq!(
        triggers[0]["checks"].as_array().map(Vec::len),
        Some(3),
        "{}",
        triggers[0]
    );
    assert!(
        triggers[0]["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("keepup-group-"))
    );
    assert_eq!(
        store.open_incidents().unwrap().len(),
        3,
        "the incidents themselves stay separate"
    );

    failing.store(false, Ordering::SeqCst);
    wait_until("the grouped resolve", 20, || {
        events(&ops_got).contains(&"resolve".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resolves = events(&ops_got).iter().filter(|e| *e == "resolve").count();
    assert_eq!(resolves, 1, "one resolve once all three recovered");
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_channel_does_not_hold_up_other_notifications() {
    let b_failing = Arc::new(AtomicBool::new(false));
    let bf = b_failing.clone();
    let shop = TestServer::start(move |req| {
        let bf = bf.clone();
        async move {
            let failing = req.uri().path() == "/a" || bf.load(Ordering::SeqCst);
            if failing {
                text(503, "down")
            } else {
                text(200, "up")
            }
        }
    })
    .await
    .unwrap();
    let slow_done = Arc::new(AtomicBool::new(false));
    let sd = slow_done.clone();
    let slow = TestServer::start(move |_| {
        let sd = sd.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(15)).await;
            sd.store(true, Ordering::SeqCst);
            text(200, "late")
        }
    })
    .await
    .unwrap();
    let (fast, fast_got) = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"{}\"\n[[site.check]]\nid = \"b\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[channel]]\nid = \"slow\"\nkind = \"webhook\"\nurl = \"{}\"\ntimeout = \"30s\"\n[[channel]]\nid = \"fast\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[policy]]\nid = \"all\"\ngroup_window = \"0s\"\n[[policy.level]]\nnotify = [\"channel:slow\", \"channel:fast\"]\n",
        shop.url("/a"),
        shop.url("/b"),
        slow.url("/hook"),
        fast.url("/hook")
    );
    let config =
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        Arc::new(config),
        store,
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let about = |check: &'static str| {
        let got = fast_got.clone();
        move || {
            got.lock()
                .unwrap()
                .iter()
                .any(|v| v["checks"][0]["id"] == check)
        }
    };
    wait_until("a's trigger at the fast channel", 15, about("shop/a")).await;
    // The slow channel is now stuck on a's message; b fails afterwards.
    b_failing.store(true, Ordering::SeqCst);
    wait_until("b's trigger at the fast channel", 12, about("shop/b")).await;
    assert!(
        !slow_done.load(Ordering::SeqCst),
        "b went out while the slow channel was still busy with a"
    );
    monitor.shutdown().await;
}

/// The issue's scenario in simulated time: the SMTP server is down for ten
/// minutes when the incident opens. The network is real (connections to
/// the closed port are refused, the webhook and aiosmtpd are real
/// servers); only the alerter's clock is simulated, so the retry schedule
/// of ten minutes runs in a second or two.
///
/// Expected, from the backoff (5 s doubling, capped at 5 min) and
/// `FALLBACK_AFTER`: attempts at 0, 5, 15, 35, 75, 155, 315 and 615 s; the
/// third failure (15 s) sends one copy to the fallback webhook; the mail
/// server is back at 600 s and the attempt at 615 s delivers the e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_down_ten_minutes_goes_to_the_fallback_then_by_mail_once_back() {
    use keepup_model::{Clock, ManualClock, Outcome, Status};
    use keepup_monitor::alerting::{Alerter, FALLBACK_AFTER};
    use keepup_monitor::incidents::IncidentEngine;

    let (hook, hook_got) = receiver(200).await;
    let smtp_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
         [[channel]]\nid = \"mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {smtp_port}\ntls = \"none\"\nfrom = \"keepup@shop.test\"\nto = [\"ops@shop.test\"]\nfallback = \"hook\"\ntimeout = \"3s\"\n\
         [[channel]]\nid = \"hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[policy]]\nid = \"all\"\ngroup_window = \"0s\"\n[[policy.level]]\nnotify = [\"channel:mail\"]\n",
        hook.url("/hook")
    );
    let config = Arc::new(
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
    );
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let t0 = 1_800_000_000_000;
    let clock = Arc::new(ManualClock::new(t0));
    let alerter = Alerter::new(
        store.clone(),
        clock.clone(),
        config.clone(),
        keepup_notify::HttpClientContext::new(),
    );
    let checks: Vec<Arc<keepup_config::Check>> = config.checks().cloned().map(Arc::new).collect();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let down = Outcome::new(Status::Down, "connection refused");
    let observed = engine.observe_batch(&[(&*checks[0], t0, &down)]).unwrap();
    let opened: Vec<_> = observed.into_iter().flat_map(|o| o.events).collect();
    alerter.handle_batch(&opened).unwrap();

    let mail_row = |store: &Store| {
        store
            .outbox(20)
            .unwrap()
            .into_iter()
            .find(|r| r.channel == "mail")
            .unwrap()
    };
    // One delivery pass at the current simulated second, waited for.
    let pass = || async {
        alerter.deliver_due().await.unwrap();
        wait_until("deliveries in flight", 20, || {
            store
                .outbox(20)
                .unwrap()
                .iter()
                .all(|r| r.state != OutboxState::Sending)
        })
        .await;
    };
    let mut smtp = None;
    let mut fallback_at = None;
    for second in 0..=700 {
        clock.set(t0 + second * 1000);
        if second == 600 {
            smtp = Some(
                SmtpSink::start(
                    SmtpMode::None,
                    SmtpOptions {
                        port: Some(smtp_port),
                        ..SmtpOptions::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{e}")),
            );
        }
        pass().await;
        if fallback_at.is_none() && events(&hook_got).contains(&"trigger".to_owned()) {
            fallback_at = Some(second);
        }
        if second == 599 {
            let row = mail_row(&store);
            assert_eq!(row.state, OutboxState::Pending, "{row:#?}");
            assert_eq!(row.attempts, 7, "backoff, not hammering: {row:#?}");
            assert!(row.last_error.is_some());
        }
    }
    assert_eq!(FALLBACK_AFTER, 3);
    // Queued by the third failure (15 s), sent by the next pass.
    let copy = store
        .outbox(20)
        .unwrap()
        .into_iter()
        .find(|r| r.channel == "hook")
        .unwrap();
    assert_eq!(copy.created_at, t0 + 15_000, "{copy:#?}");
    assert_eq!(fallback_at, Some(16));
    assert_eq!(events(&hook_got), ["trigger"], "exactly one fallback copy");
    let row = mail_row(&store);
    assert_eq!(row.state, OutboxState::Sent, "{row:#?}");
    assert_eq!(row.attempts, 8);
    assert_eq!(row.sent_at, Some(t0 + 615_000));
    let smtp = smtp.unwrap();
    assert_eq!(smtp.messages().len(), 1, "the e-mail arrives once");
    assert_eq!(clock.now_ms(), t0 + 700_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escalation_resumes_where_it_was_after_a_restart() {
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (ops, ops_got) = receiver(200).await;
    let (boss, boss_got) = receiver(200).await;
    let dir = tempfile::tempdir().unwrap();
    let mut src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n[[site]]\nid = \"shop\"\n\
         [[channel]]\nid = \"ops-hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[channel]]\nid = \"boss-hook\"\nkind = \"webhook\"\nurl = \"{}\"\n\
         [[policy]]\nid = \"all\"\ngroup_window = \"1s\"\n\
         [[policy.level]]\nnotify = [\"channel:ops-hook\"]\n\
         [[policy.level]]\nafter = \"4s\"\nnotify = [\"channel:boss-hook\"]\n",
        ops.url("/hook"),
        boss.url("/hook")
    );
    for page in ["home", "checkout"] {
        src.push_str(&format!(
            "[[site.check]]\nid = \"{page}\"\nkind = \"http\"\nurl = \"{}\"\n",
            shop.url(&format!("/{page}"))
        ));
    }
    let config = Arc::new(
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
    );
    let db = dir.path().join("k.db");
    let start = || async {
        Monitor::start(
            config.clone(),
            Store::open(&db).unwrap(),
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap()
    };
    let monitor = start().await;
    wait_until("level 1, grouped", 20, || {
        events(&ops_got).contains(&"trigger".to_owned())
    })
    .await;
    let first = ops_got.lock().unwrap()[0].clone();
    assert_eq!(first["checks"].as_array().map(Vec::len), Some(2), "{first}");
    monitor.shutdown().await;
    drop(monitor);
    assert!(
        boss_got.lock().unwrap().is_empty(),
        "stopped before level 2"
    );

    // Level 2 falls due while keepup is down: it goes out after the
    // restart, for the same group, and level 1 is not sent again.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let monitor = start().await;
    wait_until("level 2 after the restart", 15, || {
        events(&boss_got).contains(&"trigger".to_owned())
    })
    .await;
    let escalated = boss_got.lock().unwrap()[0].clone();
    assert_eq!(escalated["dedup_key"], first["dedup_key"], "{escalated}");
    assert_eq!(
        escalated["checks"].as_array().map(Vec::len),
        Some(2),
        "{escalated}"
    );
    assert_eq!(
        events(&ops_got).iter().filter(|e| *e == "trigger").count(),
        1,
        "level 1 is not repeated"
    );

    // The group resolves as one, for everyone told before and after.
    failing.store(false, Ordering::SeqCst);
    wait_until("the grouped resolve", 20, || {
        events(&ops_got).contains(&"resolve".to_owned())
            && events(&boss_got).contains(&"resolve".to_owned())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let resolves: Vec<_> = ops_got
        .lock()
        .unwrap()
        .iter()
        .filter(|v| v["event"] == "resolve")
        .cloned()
        .collect();
    assert_eq!(resolves.len(), 1, "{resolves:#?}");
    assert_eq!(resolves[0]["dedup_key"], first["dedup_key"]);
    monitor.shutdown().await;
}

/// The outbox keeps notes by key: a row stays small with a 64 KiB note,
/// and the text sent is the configuration's when sending (a note changed
/// by a reload is sent as changed, a removed one not at all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_keep_notes_by_key_and_send_the_current_text() {
    let (shop, failing) = toggled().await;
    failing.store(true, Ordering::SeqCst);
    let (ops, ops_got) = receiver(200).await;
    // A channel that is down until the configuration has changed.
    let late_down = Arc::new(AtomicBool::new(true));
    let late_got = Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let (ld, lg) = (late_down.clone(), late_got.clone());
    let late = TestServer::start(move |req| {
        let (ld, lg) = (ld.clone(), lg.clone());
        async move {
            if ld.load(Ordering::SeqCst) {
                return text(503, "later");
            }
            lg.lock()
                .unwrap()
                .push(serde_json::from_slice(req.body()).unwrap_or_default());
            text(200, "ok")
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The largest note the configuration accepts.
    let big = "Restart **php-fpm** and look at the pool. ".repeat(2_000);
    let big = &big[..64 * 1024];
    std::fs::write(dir.path().join("big.md"), big).unwrap();
    let config = |check_note: &str, site_note: &str| {
        let src = format!(
            r#"[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1

[[site]]
id = "shop"
{site_note}
[[site.check]]
id = "web"
kind = "http"
url = "{shop}"
runbook = {check_note}

[[channel]]
id = "ops-hook"
kind = "webhook"
url = "{ops}"
[[channel]]
id = "late-hook"
kind = "webhook"
url = "{late}"

[[policy]]
id = "default"
group_window = "0s"
[[policy.level]]
notify = ["channel:ops-hook", "channel:late-hook"]
"#,
            shop = shop.url("/"),
            ops = ops.url("/hook"),
            late = late.url("/hook"),
        );
        Arc::new(
            keepup_config::load_str(&src, &dir.path().join("k.toml"))
                .unwrap_or_else(|p| panic!("{p}")),
        )
    };
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Monitor::start(
        config(
            r#"{ file = "big.md" }"#,
            r#"runbook = "Call the shop's owner.""#,
        ),
        store.clone(),
        ProbeContext::new(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    wait_until("the trigger at ops", 20, || {
        events(&ops_got).contains(&"trigger".to_owned())
    })
    .await;
    let sent = ops_got.lock().unwrap()[0].clone();
    assert_eq!(sent["runbook"][0]["text"], big, "the note whole");
    // It takes the whole 64 KiB a notification carries: no other note.
    assert_eq!(sent["runbook"].as_array().map(Vec::len), Some(1));

    // Two rows, one per channel, each far below the note's size.
    let rows = store.outbox(100).unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for r in &rows {
        assert!(
            r.payload.len() < 4 * 1024,
            "{}: {} bytes",
            r.channel,
            r.payload.len()
        );
    }

    // The check's note is rewritten and the site's removed; the row
    // waiting for the late channel is sent with the notes as they are now.
    monitor
        .reload(config(r#""Restart **nginx**.""#, ""))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    late_down.store(false, Ordering::SeqCst);
    wait_until("the retried trigger at the late channel", 30, || {
        !late_got.lock().unwrap().is_empty()
    })
    .await;
    let late_sent = late_got.lock().unwrap()[0].clone();
    assert_eq!(late_sent["event"], "trigger");
    assert_eq!(
        late_sent["runbook"][0],
        serde_json::json!({"source": "check", "about": "shop/web", "text": "Restart **nginx**."}),
        "{late_sent}"
    );
    assert!(
        late_sent["runbook"]
            .as_array()
            .is_some_and(|notes| notes.iter().all(|n| n["source"] != "site")),
        "{late_sent}"
    );
    monitor.shutdown().await;
}
