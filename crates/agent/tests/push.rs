//! Push mode end to end: the agent's real collector, backlog and pusher
//! against a real central keepup (monitor, store and web listener on
//! loopback) that is down for a while, then up; and the central's refusals
//! (wrong token, another host's report, malformed, oversized), after which
//! nothing is stored.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use keepup_agent::backlog::Backlog;
use keepup_agent::push::Pusher;
use keepup_agent::{Collector, Settings};
use keepup_model::host::HostReport;
use keepup_model::{CheckId, Clock, Status, SystemClock};
use keepup_monitor::Monitor;
use keepup_notify::HttpClientContext;

const WEB1_TOKEN: &str = "web1-token-0123456789";
const WEB2_TOKEN: &str = "web2-token-9876543210";

struct Central {
    monitor: Arc<Monitor>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A central keepup on `port` with agents web1 and web2 and a host check
/// of web1 whose thresholds this machine meets.
async fn central(dir: &std::path::Path, port: u16) -> Central {
    std::fs::write(dir.join("web1.token"), WEB1_TOKEN).unwrap();
    std::fs::write(dir.join("web2.token"), WEB2_TOKEN).unwrap();
    let src = r#"
[[agent]]
name = "web1"
token_file = "web1.token"

[[agent]]
name = "web2"
token_file = "web2.token"

[[site]]
id = "s"

[[site.check]]
id = "web1"
kind = "host"
agent = "web1"
disk."/" = { crit = "100%" }
memory = { crit = "100%" }
processes.kpagent-absent = { max = 0 }
reboot_window = "1s"
"#;
    let config =
        keepup_config::load_str(src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let limits = config.server.limits.clone();
    let store = keepup_store::Store::open(&dir.join("k.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store,
            keepup_probe::ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let listener = keepup_web::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(listener, router, &limits, async move {
            let _ = rx.await;
        })
        .await
    });
    Central { monitor, _stop: tx }
}

async fn post(url: &str, token: &str, body: Vec<u8>) -> (u16, String) {
    let (status, body) = keepup_notify::bearer_request(
        &HttpClientContext::new(),
        "test",
        url,
        token,
        Some(body.into()),
        Duration::from_secs(10),
        4096,
    )
    .await
    .unwrap();
    (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_wait_while_the_central_is_down_and_arrive_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let mut collector = Collector::new(Settings {
        name: "web1".into(),
        ..Settings::default()
    });
    let mut backlog = Backlog::open(&dir.path().join("backlog"), 100).unwrap();
    let pusher = Pusher::new(
        HttpClientContext::new(),
        url.clone(),
        WEB1_TOKEN.into(),
        Duration::from_secs(5),
    );
    // The central is down: three reports wait on disk. Dated now, as
    // the central judges silence from a report's collection time.
    let t0 = SystemClock.now_ms();
    let mut seqs = Vec::new();
    for i in 0..3 {
        let seq = backlog.next_seq(t0 + i).unwrap();
        backlog.push(&collector.collect(seq, t0 + i).await).unwrap();
        let d = pusher.deliver(&mut backlog).await;
        assert_eq!(d.delivered, 0);
        assert!(
            d.stopped
                .as_deref()
                .unwrap_or("")
                .contains("cannot connect"),
            "{d:?}"
        );
        seqs.push(seq);
    }
    assert_eq!(backlog.pending().unwrap(), seqs);
    // The agent restarts meanwhile: the queue is still there.
    drop(backlog);
    let mut backlog = Backlog::open(&dir.path().join("backlog"), 100).unwrap();
    assert_eq!(backlog.pending().unwrap(), seqs);

    let c = central(dir.path(), port).await;
    let d = pusher.deliver(&mut backlog).await;
    assert_eq!((d.delivered, d.refused, d.stopped), (3, 0, None));
    assert!(backlog.pending().unwrap().is_empty());
    let (collected, latest) = c.monitor.hosts().latest("web1").expect("stored");
    assert_eq!(latest.seq, seqs[2], "the newest report is the one kept");
    assert_eq!(collected, t0 + 2, "dated by its collection");

    // The same report again (an answer lost on the way): taken, not stored twice.
    let again = serde_json::to_vec(&latest).unwrap();
    assert_eq!(
        post(&url, WEB1_TOKEN, again).await,
        (200, "duplicate\n".into())
    );
    let mut older = latest.clone();
    older.seq = seqs[0];
    older.hostname = "changed".into();
    assert_eq!(
        post(&url, WEB1_TOKEN, serde_json::to_vec(&older).unwrap())
            .await
            .0,
        200
    );
    assert_eq!(
        c.monitor.hosts().latest("web1").unwrap().1.hostname,
        latest.hostname,
        "an older report changes nothing"
    );

    // The host check judged the report.
    let id = CheckId::new("s", "web1");
    for _ in 0..600 {
        if c.monitor
            .current()
            .get(&id)
            .is_some_and(|s| s.outcome.status == Status::Up)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = c.monitor.current().get(&id).cloned().expect("judged");
    assert_eq!(state.outcome.status, Status::Up, "{:?}", state.outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_pushes_are_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let c = central(dir.path(), port).await;
    let report = HostReport {
        version: keepup_model::host::HOST_REPORT_VERSION,
        agent: "web1".into(),
        seq: 5,
        ..HostReport::default()
    };
    let body = serde_json::to_vec(&report).unwrap();

    let (status, text) = post(&url, "not-a-token-at-all", body.clone()).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("not-a-token"), "the token is not echoed");
    // web2's token cannot write web1's host.
    let (status, text) = post(&url, WEB2_TOKEN, body.clone()).await;
    assert_eq!(
        (status, text.as_str()),
        (
            403,
            "this token belongs to agent \"web2\", not to \"web1\"\n"
        )
    );
    assert_eq!(
        post(&url, WEB1_TOKEN, b"{\"version\": 1, \"agent\": ".to_vec())
            .await
            .0,
        400
    );
    let mut other_version = report.clone();
    other_version.version = 99;
    assert_eq!(
        post(
            &url,
            WEB1_TOKEN,
            serde_json::to_vec(&other_version).unwrap()
        )
        .await
        .0,
        400
    );
    let mut huge = report.clone();
    huge.problems = vec!["x".repeat(keepup_model::host::MAX_HOST_REPORT_BYTES)];
    assert_eq!(
        post(&url, WEB1_TOKEN, serde_json::to_vec(&huge).unwrap())
            .await
            .0,
        413
    );
    assert!(c.monitor.hosts().latest("web1").is_none(), "nothing stored");
    assert!(c.monitor.hosts().latest("web2").is_none(), "nothing stored");
    assert!(
        c.monitor
            .store()
            .memo("agent_last_report", "web1")
            .unwrap()
            .is_none(),
        "nothing in the store either"
    );

    assert_eq!(post(&url, WEB1_TOKEN, body).await, (200, "stored\n".into()));
    assert_eq!(c.monitor.hosts().latest("web1").unwrap().1.seq, 5);
}
