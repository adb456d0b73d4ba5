//! The listener against real sockets: pings are stored before they are
//! acknowledged, unknown tokens are refused, a client that trickles its
//! request head (or idles on a kept-alive connection) is cut off at the
//! deadline, and one source address flooding the listener is refused early
//! while other addresses (distinct 127.x sources) keep pinging;
//! `X-Forwarded-For` names the client only from a trusted proxy.

use keepup_config::ListenerLimits;
use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{PingKind, Store};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn start(
    dir: &Path,
    limits: ListenerLimits,
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
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(listener, router, &limits, async move {
            let _ = rx.await;
        })
        .await
    });
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
    let (monitor, addr, _stop) = start(dir.path(), ListenerLimits::default()).await;
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

/// A client socket bound to the loopback address `127.0.0.<host>` before
/// connecting, so that the listener sees distinct source addresses.
async fn connect_from(host: u8, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from(([127, 0, 0, host], 0)))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends `raw` on `stream` and reads until the server closes it (20 s at
/// most: a hang is a failure, not a wait). The write may fail when the
/// listener refused the connection already; its answer is read anyway.
async fn exchange(mut stream: TcpStream, raw: &str) -> String {
    let _ = stream.write_all(raw.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn ping_request(extra_headers: &str) -> String {
    format!(
        "GET /ping/job-token-1234 HTTP/1.1\r\nHost: x\r\n{extra_headers}Connection: close\r\n\r\n"
    )
}

/// A slowloris connection from `127.0.0.<host>`: the request line and one
/// header, then nothing; the listener holds it until its head deadline.
async fn slow_connection(host: u8, addr: SocketAddr) -> TcpStream {
    let mut s = connect_from(host, addr).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    s
}

/// Waits until the listener has taken `stream` on: a ping on it is answered
/// (so the slot it holds is counted before the test goes on).
async fn held_open(host: u8, addr: SocketAddr) -> TcpStream {
    let mut s = connect_from(host, addr).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("\"checks\"") {
        let n = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_address_is_refused_early_while_other_addresses_ping() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        max_connections_per_address: 8,
        request_head_timeout: Duration::from_secs(120),
        ..ListenerLimits::default()
    };
    let (monitor, addr, _stop) = start(dir.path(), limits).await;
    // 127.0.0.2 takes its whole share with connections that never finish
    // their request head.
    let mut flood = Vec::new();
    for _ in 0..8 {
        flood.push(held_open(2, addr).await);
    }
    // Its next connections are answered 429 at once and closed, however
    // many it opens.
    for _ in 0..40 {
        let refused = exchange(slow_connection(2, addr).await, "X-More: 1\r\n").await;
        assert!(refused.starts_with("HTTP/1.1 429"), "{refused}");
        assert!(
            refused.contains("x-content-type-options: nosniff"),
            "{refused}"
        );
    }
    // Everyone else still gets through, each address with its own share.
    for host in 3..23 {
        let ok = exchange(connect_from(host, addr).await, &ping_request("")).await;
        assert!(ok.starts_with("HTTP/1.1 200"), "from 127.0.0.{host}: {ok}");
    }
    let health = exchange(
        connect_from(23, addr).await,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(
        monitor
            .store()
            .last_ping(&keepup_model::CheckId::new("s", "job"))
            .unwrap()
            .is_some()
    );
    // When the flood lets go, its address is served again.
    flood.clear();
    let mut again = String::new();
    for _ in 0..50 {
        again = exchange(connect_from(2, addr).await, &ping_request("")).await;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_is_answered_503() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        max_connections: Some(6),
        max_connections_per_address: 4,
        request_head_timeout: Duration::from_secs(120),
        ..ListenerLimits::default()
    };
    let (_monitor, addr, _stop) = start(dir.path(), limits).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(held_open(2, addr).await);
    }
    for _ in 0..2 {
        held.push(held_open(3, addr).await);
    }
    let full = exchange(connect_from(4, addr).await, &ping_request("")).await;
    assert!(full.starts_with("HTTP/1.1 503"), "{full}");
    assert!(
        full.contains("content-security-policy: default-src 'none'"),
        "{full}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_and_an_idle_keep_alive_are_cut_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        request_head_timeout: Duration::from_secs(1),
        ..ListenerLimits::default()
    };
    let (_monitor, addr, _stop) = start(dir.path(), limits).await;

    // Slowloris: a header line every 200 ms keeps the connection busy but
    // the head never ends; the deadline is for the whole head, so the
    // listener closes it long before 100 lines have gone out.
    let mut s = slow_connection(2, addr).await;
    let mut buf = [0u8; 1024];
    let mut closed = false;
    for i in 0..100 {
        if s.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(n)) => {
                assert!(
                    !String::from_utf8_lossy(&buf[..n]).contains("200 OK"),
                    "no answer to an incomplete request"
                );
                closed = true;
                break;
            }
            Ok(Err(_)) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a head trickled for 20 s was still being read");

    // A kept-alive connection after its answer: closed by the listener
    // (end of stream), not by this client's 20 s patience.
    let mut s = connect_from(3, addr).await;
    s.write_all(b"GET /ping/job-token-1234 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let end = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    let got = String::from_utf8_lossy(&got);
    assert!(
        got.starts_with("HTTP/1.1 200") && got.ends_with("OK\n"),
        "{got}"
    );
    assert!(end.is_ok(), "the idle keep-alive connection was not closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_counts_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ListenerLimits {
        max_connections_per_address: 2,
        request_head_timeout: Duration::from_secs(120),
        trusted_proxies: vec![keepup_config::IpNetwork::parse("127.0.0.5").unwrap()],
        ..ListenerLimits::default()
    };
    let (_monitor, addr, _stop) = start(dir.path(), limits).await;
    let _flood = [held_open(2, addr).await, held_open(2, addr).await];
    let from = |host| connect_from(host, addr);

    // The proxy forwards for the flooding address: attributed to it, over
    // its share.
    let proxied_flooder = exchange(
        from(5).await,
        &ping_request("X-Forwarded-For: 127.0.0.2\r\n"),
    )
    .await;
    assert!(
        proxied_flooder.starts_with("HTTP/1.1 429"),
        "{proxied_flooder}"
    );
    // ...and for someone else: served.
    let proxied_other = exchange(
        from(5).await,
        &ping_request("X-Forwarded-For: 127.0.0.2, 127.0.0.7\r\n"),
    )
    .await;
    assert!(proxied_other.starts_with("HTTP/1.1 200"), "{proxied_other}");
    // The same header from an address that is not a trusted proxy names
    // nobody: the request counts against its sender, which has room.
    let spoofed = exchange(
        from(6).await,
        &ping_request("X-Forwarded-For: 127.0.0.2\r\n"),
    )
    .await;
    assert!(spoofed.starts_with("HTTP/1.1 200"), "{spoofed}");
    // The proxy's own connections are not limited by its address's share.
    let _proxy_held = [
        held_open(5, addr).await,
        held_open(5, addr).await,
        held_open(5, addr).await,
    ];
    let through_busy_proxy = exchange(
        from(5).await,
        &ping_request("X-Forwarded-For: 127.0.0.8\r\n"),
    )
    .await;
    assert!(
        through_busy_proxy.starts_with("HTTP/1.1 200"),
        "{through_busy_proxy}"
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
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(
            listener,
            router,
            &ListenerLimits::default(),
            std::future::pending(),
        )
        .await
    });
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
        page.starts_with("HTTP/1.1 200") && page.contains(">Acknowledge</button>"),
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
    let audit = store.audit_since(0, 10).unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (
            audit[0].actor.as_str(),
            audit[0].action.as_str(),
            audit[0].target.clone()
        ),
        ("link", "incident.ack", format!("#{id}"))
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
