//! The token extractors on a listener of their own: routes that take
//! `ApiRead` and `ApiWrite`, served by the real `serve` over loopback.

use super::*;
use axum::Router;
use axum::routing::{get, post};
use keepup_config::ListenerLimits;
use std::io::{Read, Write};

async fn read(ApiRead(client): ApiRead) -> String {
    format!("read as {}", client.actor())
}

async fn write(ApiWrite(client): ApiWrite) -> String {
    format!("write as {}", client.actor())
}

fn request(addr: std::net::SocketAddr, raw: String) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn call(addr: std::net::SocketAddr, method: &str, path: &str, token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    request(
        addr,
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_open_their_scope_only_and_say_nothing_else() {
    let store = Store::open_in_memory().unwrap();
    let auth = Arc::new(Auth::new(store.clone(), WebSecurity::default(), None));
    let app = Router::new()
        .route("/read", get(read))
        .route("/write", post(write))
        .with_state(auth);
    let listener = crate::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        crate::serve(
            listener,
            app,
            &ListenerLimits::default(),
            std::future::pending(),
        )
        .await
    });
    let reader = secret::new_token().unwrap();
    let writer = secret::new_token().unwrap();
    let old = secret::new_token().unwrap();
    let gone = secret::new_token().unwrap();
    let now = now();
    store
        .create_token("ci", &secret::digest(&reader), TokenScope::Read, now, None)
        .unwrap();
    store
        .create_token(
            "deploy",
            &secret::digest(&writer),
            TokenScope::Write,
            now,
            Some(now + 3_600_000),
        )
        .unwrap();
    store
        .create_token(
            "old",
            &secret::digest(&old),
            TokenScope::Write,
            now - 10,
            Some(now - 1),
        )
        .unwrap();
    store
        .create_token("gone", &secret::digest(&gone), TokenScope::Write, now, None)
        .unwrap();
    assert!(store.revoke_token("gone").unwrap());

    let answers = tokio::task::spawn_blocking(move || {
        let fake = format!("kp_{}", "0".repeat(64));
        [
            call(addr, "GET", "/read", Some(&reader)),
            call(addr, "GET", "/read", Some(&writer)),
            call(addr, "POST", "/write", Some(&writer)),
            call(addr, "POST", "/write", Some(&reader)),
            call(addr, "GET", "/read", None),
            call(addr, "GET", "/read", Some(&fake)),
            call(addr, "GET", "/read", Some(&old)),
            call(addr, "GET", "/read", Some(&gone)),
            call(addr, "GET", "/read", Some("not-a-token")),
        ]
    })
    .await
    .unwrap();
    let status = |a: &str| a.split(' ').nth(1).unwrap_or_default().to_owned();
    let statuses: Vec<String> = answers.iter().map(|a| status(a)).collect();
    assert_eq!(
        statuses,
        [
            "200", "200", "200", "403", "401", "401", "401", "401", "401"
        ]
    );
    assert!(answers[0].ends_with("read as token:ci"), "{}", answers[0]);
    assert!(answers[2].ends_with("write as token:deploy"));
    for refused in &answers[3..] {
        let (head, body) = refused.split_once("\r\n\r\n").unwrap();
        assert!(body.is_empty(), "no detail: {refused}");
        if head.contains(" 401 ") {
            assert!(
                head.to_ascii_lowercase()
                    .contains("www-authenticate: bearer"),
                "{head}"
            );
        }
    }
    let listed = store.tokens().unwrap();
    let ci = listed.iter().find(|t| t.name == "ci").unwrap();
    assert!(ci.last_used_at.is_some(), "use is recorded");
}
