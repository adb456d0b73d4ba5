//! The listener against real sockets: pings are stored before they are
//! acknowledged, unknown tokens are refused, and a client that never sends
//! its request head is cut off instead of holding a connection forever.

use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{PingKind, Store};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn start(
    dir: &Path,
) -> (
    Arc<Monitor>,
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
) {
    let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"job-token-1234\"\nperiod = \"1h\"\n";
    let config = keepup_config::load_str(src, &dir.join("k.toml")).unwrap();
    let store = Store::open(&dir.join("k.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store,
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(keepup_web::serve(
        listener,
        keepup_web::router(monitor.clone()),
        async move {
            let _ = rx.await;
        },
    ));
    (monitor, addr, tx)
}

fn request(addr: std::net::SocketAddr, raw: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_are_stored_before_the_answer_and_bad_tokens_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (monitor, addr, _stop) = start(dir.path()).await;
    let ok = tokio::task::spawn_blocking(move || request(addr, "POST /ping/job-token-1234 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")).await.unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // Answered 200 means stored: read it back from the store directly.
    let last = monitor
        .store()
        .last_ping(&keepup_model::CheckId::new("s", "job"))
        .unwrap();
    assert!(matches!(last, Some((_, PingKind::Success))), "{last:?}");

    let fail = tokio::task::spawn_blocking(move || {
        request(
            addr,
            "GET /ping/job-token-1234/fail HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(fail.starts_with("HTTP/1.1 200"), "{fail}");
    let last = monitor
        .store()
        .last_ping(&keepup_model::CheckId::new("s", "job"))
        .unwrap();
    assert!(matches!(last, Some((_, PingKind::Fail))), "{last:?}");

    let unknown = tokio::task::spawn_blocking(move || {
        request(
            addr,
            "GET /ping/not-a-token-99 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert!(
        !unknown.contains("not-a-token-99"),
        "the token is not echoed: {unknown}"
    );

    let big = format!(
        "POST /ping/job-token-1234 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        200_000,
        "x".repeat(200_000)
    );
    let too_big = tokio::task::spawn_blocking(move || request(addr, &big))
        .await
        .unwrap();
    assert!(
        too_big.starts_with("HTTP/1.1 413"),
        "{}",
        &too_big[..too_big.len().min(200)]
    );

    let health = tokio::task::spawn_blocking(move || {
        request(
            addr,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"checks\":1"),
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (_monitor, addr, _stop) = start(dir.path()).await;
    let (elapsed, got) = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost:").unwrap(); // and then nothing
        let t = Instant::now();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (t.elapsed(), buf)
    })
    .await
    .unwrap();
    // Closed by the server's header deadline, not by our 30 s read timeout.
    assert!(
        elapsed < Duration::from_secs(25),
        "connection held for {elapsed:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "no answer to an incomplete request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_link_acknowledges_its_incident_only_by_post() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ack.key"), "0123456789abcdef-secret\n").unwrap();
    let src = "[server]\npublic_url = \"http://keepup.test\"\nack_key_file = \"ack.key\"\n[[site]]\nid = \"s\"\n[[site.check]]\nid = \"web\"\nkind = \"heartbeat\"\ntoken = \"web-token-1234\"\nperiod = \"1h\"\n";
    let config =
        keepup_config::load_str(src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let id = store
        .open_incident(&keepup_store::NewIncident {
            check: keepup_model::CheckId::new("s", "web"),
            status: keepup_model::Status::Down,
            opened_at: keepup_model::Clock::now_ms(&SystemClock) - 60_000,
            detected_at: keepup_model::Clock::now_ms(&SystemClock),
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "HTTP 500 <script>".into(),
            findings: Vec::new(),
        })
        .unwrap();
    let link =
        keepup_monitor::alerting::ack_link(&config, &store.incident(id).unwrap().unwrap()).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store.clone(),
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(keepup_web::serve(
        listener,
        keepup_web::router(monitor.clone()),
        std::future::pending(),
    ));
    let path = link.strip_prefix("http://keepup.test").unwrap().to_owned();

    let p = path.clone();
    let page = tokio::task::spawn_blocking(move || {
        request(
            addr,
            &format!("GET {p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(
        page.starts_with("HTTP/1.1 200") && page.contains("<button>Acknowledge</button>"),
        "{page}"
    );
    assert!(page.contains("HTTP 500 &lt;script&gt;"), "escaped: {page}");
    assert!(
        store
            .incident(id)
            .unwrap()
            .unwrap()
            .acknowledged_at
            .is_none(),
        "a GET never acknowledges"
    );

    let forged = path.replace(&format!("/ack/{id}?"), "/ack/999?");
    let bad = tokio::task::spawn_blocking(move || request(addr, &format!("POST {forged} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))).await.unwrap();
    assert!(bad.starts_with("HTTP/1.1 403"), "{bad}");

    let p = path.clone();
    let done = tokio::task::spawn_blocking(move || {
        request(
            addr,
            &format!(
                "POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
    })
    .await
    .unwrap();
    assert!(
        done.starts_with("HTTP/1.1 200") && done.contains("Acknowledged"),
        "{done}"
    );
    assert_eq!(
        store
            .incident(id)
            .unwrap()
            .unwrap()
            .acknowledged_by
            .as_deref(),
        Some("link")
    );
    let again = tokio::task::spawn_blocking(move || {
        request(
            addr,
            &format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
    })
    .await
    .unwrap();
    assert!(again.starts_with("HTTP/1.1 409"), "{again}");
    monitor.shutdown().await;
}
