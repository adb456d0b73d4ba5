//! Push mode end to end: the agent's real collector, backlog and pusher
//! against a real central keepup (monitor, store and web listener on
//! loopback) that is down for a while, then up, each queued report judged
//! once at its collection time; a central that cannot hear its agent for
//! a while (silent), then gets the backlog; concurrent pushes of one
//! report; and the central's refusals (wrong token, before any body is
//! read; another host's report, malformed, oversized), after which
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
const WEB3_TOKEN: &str = "web3-token-5555555555";
const WEB4_TOKEN: &str = "web4-token-4444444444";

/// The results of `id` at `from <= at < to`, oldest first, once there
/// are at least `n` (the recorder writes in batches).
async fn results(
    monitor: &Monitor,
    id: &CheckId,
    from: i64,
    to: i64,
    n: usize,
) -> Vec<keepup_store::ResultRecord> {
    for _ in 0..300 {
        let got = monitor.store().results(id, from, to, 10_000).unwrap();
        if got.len() >= n {
            return got.into_iter().rev().collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} results of {id} in 30 s");
}

fn seq_of(r: &keepup_store::ResultRecord) -> Option<u64> {
    r.outcome.evidence.details.get("report_seq")?.as_u64()
}

struct Central {
    monitor: Arc<Monitor>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A central keepup on `port` with agents web1 and web2 and a host check
/// of web1 whose thresholds this machine meets.
async fn central(dir: &std::path::Path, port: u16) -> Central {
    std::fs::write(dir.join("web1.token"), WEB1_TOKEN).unwrap();
    std::fs::write(dir.join("web2.token"), WEB2_TOKEN).unwrap();
    std::fs::write(dir.join("web3.token"), WEB3_TOKEN).unwrap();
    std::fs::write(dir.join("web4.token"), WEB4_TOKEN).unwrap();
    let src = r#"
[[agent]]
name = "web1"
token_file = "web1.token"

[[agent]]
name = "web2"
token_file = "web2.token"

[[agent]]
name = "web3"
token_file = "web3.token"
interval = "1s"
silent_after = 3

[[agent]]
name = "web4"
token_file = "web4.token"
interval = "1s"
silent_after = 10

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

[[site.check]]
id = "web3"
kind = "host"
agent = "web3"
interval = "1s"
failure_threshold = 1
processes.kpagent-absent = { max = 0 }
reboot_window = "1s"

[[site.check]]
id = "web4"
kind = "host"
agent = "web4"
interval = "1s"
failure_threshold = 2
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

/// Reports queued on an agent's disk: one real report of this machine,
/// numbered and dated anew for each, since collecting afresh takes seconds
/// on a loaded machine, longer than the test agents' silence windows.
struct Queued {
    template: HostReport,
    /// (collected at, sequence number) of each report queued, in order.
    sent: Vec<(i64, u64)>,
}

impl Queued {
    async fn of(agent: &str) -> Self {
        let mut collector = Collector::new(Settings {
            name: agent.into(),
            ..Settings::default()
        });
        Self {
            template: collector.collect(0, SystemClock.now_ms()).await,
            sent: Vec::new(),
        }
    }

    /// Queues the next report; a bad one has a process that must not run.
    fn push(&mut self, backlog: &mut Backlog, bad: bool) {
        let at = SystemClock.now_ms();
        let seq = backlog.next_seq(at).unwrap();
        let mut report = self.template.clone();
        (report.seq, report.at) = (seq, at);
        if bad {
            report.processes.insert("kpagent-absent".into(), 1);
        }
        backlog.push(&report).unwrap();
        self.sent.push((at, seq));
    }
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
        keepup_config::Secret::new(WEB1_TOKEN.into()),
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
    // Each queued report is a result of the host check in the store, at
    // its collection time, in order.
    let id = CheckId::new("s", "web1");
    let judged = |rs: &[keepup_store::ResultRecord]| -> Vec<(i64, Option<u64>)> {
        rs.iter().map(|r| (r.at, seq_of(r))).collect()
    };
    let want: Vec<(i64, Option<u64>)> = (0..3).map(|i| (t0 + i, Some(seqs[i as usize]))).collect();
    let got = results(&c.monitor, &id, t0, t0 + 3, 3).await;
    assert_eq!(judged(&got), want);

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
    // Nor is any report judged twice.
    c.monitor.flush().await;
    let after = results(&c.monitor, &id, t0, t0 + 3, 3).await;
    assert_eq!(judged(&after), want);
    assert!(
        after
            .iter()
            .all(|r| r.outcome.evidence.details["hostname"] == latest.hostname.as_str()),
        "{after:?}"
    );

    // The host check judged the report.
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

/// The central cannot hear web3 for a while (the agent queues): its host
/// check turns AGENT_SILENT; then the backlog arrives. Each report is a
/// result at its collection time (one of them with a process that must
/// not run: Down), what the central said meanwhile is replaced by the
/// verdict of the report in force, so the timeline is Up, Down for that
/// report, Up, with no silence left in it, and the check is Up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_after_a_silence_is_judged_report_by_report_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let c = central(dir.path(), port).await;
    let id = CheckId::new("s", "web3");
    let mut backlog = Backlog::open(&dir.path().join("backlog"), 100).unwrap();
    let pusher = Pusher::new(
        HttpClientContext::new(),
        url.clone(),
        keepup_config::Secret::new(WEB3_TOKEN.into()),
        Duration::from_secs(5),
    );
    let mut queued = Queued::of("web3").await;
    queued.push(&mut backlog, false);
    assert_eq!(pusher.deliver(&mut backlog).await.delivered, 1);

    // Not heard for a while: reports every 400 ms stay queued, the third
    // one bad, until the check has said the agent is silent.
    let mut silent = false;
    for i in 0..100 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        queued.push(&mut backlog, i == 2);
        silent = c.monitor.current().get(&id).is_some_and(|s| {
            s.outcome
                .findings
                .iter()
                .any(|f| f.code == keepup_model::codes::AGENT_SILENT)
        });
        if silent && i >= 4 {
            break;
        }
    }
    assert!(silent, "the check said AGENT_SILENT");
    let d = pusher.deliver(&mut backlog).await;
    assert_eq!((d.delivered, d.stopped), (queued.sent.len() - 1, None));

    // One result per report at its collection time, in order.
    let (first, last) = (queued.sent[0].0, queued.sent[queued.sent.len() - 1].0);
    let want: Vec<(i64, Option<u64>)> = queued
        .sent
        .iter()
        .map(|(at, seq)| (*at, Some(*seq)))
        .collect();
    let mut all = Vec::new();
    let mut at_reports = Vec::new();
    // The recorder writes in batches: wait for the newest report's too.
    for _ in 0..300 {
        all = results(&c.monitor, &id, first, last + 1, queued.sent.len()).await;
        at_reports = all
            .iter()
            .filter(|r| queued.sent.iter().any(|(at, _)| *at == r.at))
            .map(|r| (r.at, seq_of(r)))
            .collect::<Vec<_>>();
        if at_reports.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(at_reports, want);
    let bad = queued.sent[3];
    let verdict = all.iter().find(|r| r.at == bad.0).unwrap();
    assert_eq!(verdict.outcome.status, Status::Down, "{verdict:?}");
    // What the central said meanwhile now says what the reports said.
    for _ in 0..100 {
        let own = c
            .monitor
            .store()
            .results(&id, queued.sent[1].0, last + 1, 10_000)
            .unwrap();
        if own.iter().all(|r| {
            r.outcome
                .findings
                .iter()
                .all(|f| f.code != keepup_model::codes::AGENT_SILENT)
        }) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let own = c
        .monitor
        .store()
        .results(&id, queued.sent[1].0, last + 1, 10_000)
        .unwrap();
    for r in &own {
        let in_force = queued
            .sent
            .iter()
            .rev()
            .find(|(at, _)| *at <= r.at)
            .unwrap();
        assert_eq!(seq_of(r), Some(in_force.1), "{r:?}");
    }
    // The timeline: Up, Down from the bad report to the next, Up.
    let spans: Vec<(i64, i64, Option<Status>)> = c
        .monitor
        .store()
        .status_spans(std::slice::from_ref(&id), first, last)
        .map(|s| {
            let s = s.unwrap();
            (s.from_ms, s.to_ms, s.status)
        })
        .collect();
    assert_eq!(
        spans,
        [
            (first, bad.0, Some(Status::Up)),
            (bad.0, queued.sent[4].0, Some(Status::Down)),
            (queued.sent[4].0, last, Some(Status::Up))
        ]
    );
    // And the newest report drives the check: Up again.
    for _ in 0..100 {
        if c.monitor
            .current()
            .get(&id)
            .is_some_and(|s| s.outcome.status == Status::Up)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = c.monitor.current().get(&id).cloned().unwrap();
    assert_eq!(state.outcome.status, Status::Up, "{:?}", state.outcome);
}

/// Sixteen pushes of one report at once: one is stored, the others are
/// duplicates (the sequence check and the store are one step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pushes_of_one_report_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let c = central(dir.path(), port).await;
    let mut collector = Collector::new(Settings {
        name: "web1".into(),
        ..Settings::default()
    });
    let report = collector.collect(7, SystemClock.now_ms()).await;
    let body = serde_json::to_vec(&report).unwrap();
    let pushes: Vec<_> = (0..16)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            tokio::spawn(async move { post(&url, WEB1_TOKEN, body).await })
        })
        .collect();
    let mut answers = Vec::new();
    for p in pushes {
        answers.push(p.await.unwrap());
    }
    let stored = answers.iter().filter(|a| a.1 == "stored\n").count();
    let duplicate = answers.iter().filter(|a| a.1 == "duplicate\n").count();
    assert_eq!((stored, duplicate), (1, 15), "{answers:?}");
    assert_eq!(c.monitor.hosts().latest("web1").unwrap().1.seq, 7);
}

/// A push with an unknown token is refused before its body is read: the
/// 401 comes while the body it announced has not been sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_refused_before_its_body_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let _c = central(dir.path(), port).await;
    let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    s.write_all(
        b"POST /agent/report HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer not-a-token-at-all\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{\"version\":",
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    // Bounds a hang (the old handler waited for the whole body), not a speed.
    tokio::time::timeout(Duration::from_secs(20), s.read_exact(&mut head))
        .await
        .expect("an answer before the body was sent")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 401");
}

/// An agent that announces a report and stops sending it holds the
/// connection for the body timeout (30 s), not forever: 408.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_not_sent_in_time_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let c = central(dir.path(), port).await;
    let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .unwrap();
    let head = format!(
        "POST /agent/report HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {WEB1_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{\"version\":"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut answer = [0u8; 12];
    // Bounds a hang (no body deadline before), not a speed.
    tokio::time::timeout(Duration::from_secs(90), s.read_exact(&mut answer))
        .await
        .expect("an answer once the body deadline passed")
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 408");
    assert!(c.monitor.hosts().latest("web1").is_none(), "nothing stored");
}

/// A backlog whose second-to-last report is bad (a process briefly
/// there), delivered while every report is still fresh: its verdict is
/// history, and neither the results it replaces nor a run on it drive the
/// state machine. With failure_threshold = 2 no incident opens and the
/// status never changes (review 31 #1: the replacement and a run on the
/// report from the middle of the backlog were two live observations).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_report_in_a_backlog_tail_drives_no_state() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let c = central(dir.path(), port).await;
    let id = CheckId::new("s", "web4");
    let mut backlog = Backlog::open(&dir.path().join("backlog"), 100).unwrap();
    let pusher = Pusher::new(
        HttpClientContext::new(),
        url,
        keepup_config::Secret::new(WEB4_TOKEN.into()),
        Duration::from_secs(5),
    );
    let mut queued = Queued::of("web4").await;
    queued.push(&mut backlog, false);
    assert_eq!(pusher.deliver(&mut backlog).await.delivered, 1);
    let t0 = c.monitor.hosts().latest("web4").unwrap().0;
    for _ in 0..100 {
        if c.monitor
            .current()
            .get(&id)
            .is_some_and(|s| s.outcome.status == Status::Up && s.at > t0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changes = c.monitor.subscribe_status();

    // Four reports queued within the freshness (10 s), the third bad, and
    // the central runs the check past the newest before they arrive.
    for i in 0..4 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        queued.push(&mut backlog, i == 2);
    }
    let newest = queued.sent[4].0;
    for _ in 0..100 {
        if c.monitor
            .current()
            .get(&id)
            .is_some_and(|s| s.at > newest + 100)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = pusher.deliver(&mut backlog).await;
    assert_eq!((d.delivered, d.stopped), (4, None));
    let bad = queued.sent[3].0;
    let verdict = results(&c.monitor, &id, bad, bad + 1, 1).await;
    assert_eq!(verdict[0].outcome.status, Status::Down, "{:?}", verdict[0]);
    // The run asked for after the backlog, and a few more, are done.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let state = c.monitor.current().get(&id).cloned().unwrap();
    assert_eq!(state.outcome.status, Status::Up, "{:?}", state.outcome);
    let mut seen = Vec::new();
    while let Ok(change) = changes.try_recv() {
        if change.check == id {
            seen.push((change.status, change.message));
        }
    }
    assert_eq!(seen, [], "status changes of {id}");
    let incidents = c.monitor.store().open_incidents().unwrap();
    assert!(incidents.iter().all(|i| i.check != id), "{incidents:?}");
}

/// A push whose request is dropped once its report is taken (the agent's
/// timeout, a closed connection) still has its verdict recorded: a
/// re-send is a duplicate, so it would be lost for good (review 31 #4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_cancelled_after_its_report_was_taken_keeps_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let c = central(dir.path(), port).await;
    let id = CheckId::new("s", "web1");
    let agent = c.monitor.hosts().agent_of_token(WEB1_TOKEN).unwrap();
    let mut collector = Collector::new(Settings {
        name: "web1".into(),
        ..Settings::default()
    });
    let at = SystemClock.now_ms();
    let report = collector.collect(1, at).await;
    let body = serde_json::to_vec(&report).unwrap();
    // Polled once (the report is being taken), then dropped.
    let mut push = Box::pin(c.monitor.agent_report(&agent, body.into()));
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(push.as_mut().poll(cx))).await;
    assert!(first.is_pending(), "the push finished at its first poll");
    drop(push);
    let verdict = results(&c.monitor, &id, at, at + 1, 1).await;
    assert_eq!(seq_of(&verdict[0]), Some(1), "{:?}", verdict[0]);
}
