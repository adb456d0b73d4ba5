//! `/metrics` of a running monitor over real HTTP: the bearer token is
//! required when configured, Prometheus' own `promtool check metrics`
//! accepts the output with no lint problem, and the values say what the
//! checks and the store say (a Down check has `up` 0).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod support;

const TOKEN: &str = "scrape-token-0123456789";

fn get(addr: SocketAddr, path: &str, headers: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Head and body of a response read whole (no chunked encoding: the
/// listener sends a length).
fn split(response: &str) -> (&str, &str) {
    response.split_once("\r\n\r\n").unwrap_or((response, ""))
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Runs `promtool check metrics` on `body`: its exit status and what it
/// printed (lint problems go to stderr).
fn promtool(body: &str) -> (bool, String) {
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus, installed by scripts/test.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_pass_promtool_and_say_which_check_is_down() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.token"), format!("{TOKEN}\n")).unwrap();
    // One port that answers, one that refuses.
    let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = format!(
        "[server]\nmetrics_token_file = \"metrics.token\"\n[[site]]\nid = \"s\"\n\
         [[site.check]]\nid = \"up\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {}\ninterval = \"2s\"\n\
         [[site.check]]\nid = \"down\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed_port}\ninterval = \"2s\"\n\
         [[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"job-token-1234\"\nperiod = \"1h\"\n",
        open.local_addr().unwrap().port()
    );
    let web = support::start_in(dir, &src, None).await;
    let (monitor, addr) = (web.monitor.clone(), web.addr);
    // Until both TCP checks have run and the refused one has confirmed
    // its failure (an incident).
    let deadline = Instant::now() + Duration::from_secs(60);
    while monitor.current().len() < 2 || monitor.store().open_incidents().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the checks never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let anonymous = tokio::task::spawn_blocking(move || get(addr, "/metrics", ""))
        .await
        .unwrap();
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(!anonymous.contains("keepup_"), "{anonymous}");
    let wrong = tokio::task::spawn_blocking(move || {
        get(
            addr,
            "/metrics",
            "Authorization: Bearer scrape-token-0123456788\r\n",
        )
    })
    .await
    .unwrap();
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");

    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let a = auth.clone();
    let response = tokio::task::spawn_blocking(move || get(addr, "/metrics", &a))
        .await
        .unwrap();
    let (head, body) = split(&response);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    // Through the same middleware as every page: the security headers.
    assert!(
        head.to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{head}"
    );
    let (ok, problems) = promtool(body);
    assert!(ok && problems.trim().is_empty(), "{problems}\n{body}");

    let labels = |check: &str| format!("{{check=\"s/{check}\",site=\"s\",kind=");
    assert_eq!(
        sample(body, &format!("keepup_check_up{}", labels("up"))),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(body, &format!("keepup_check_up{}", labels("down"))),
        Some(0.0),
        "{body}"
    );
    // The heartbeat has had no ping: Unknown, and no `up` sample.
    assert_eq!(
        sample(body, &format!("keepup_check_up{}", labels("job"))),
        None
    );
    assert_eq!(
        sample(
            body,
            "keepup_check_status{check=\"s/job\",site=\"s\",kind=\"heartbeat\",status=\"unknown\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(
            body,
            "keepup_check_status{check=\"s/down\",site=\"s\",kind=\"tcp\",status=\"down\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert!(
        sample(
            body,
            &format!("keepup_check_latency_seconds{}", labels("up"))
        )
        .is_some_and(|s| s >= 0.0),
        "{body}"
    );
    assert_eq!(sample(body, "keepup_incidents_open "), Some(1.0), "{body}");
    assert!(
        sample(body, "keepup_incidents_total ").is_some_and(|n| n >= 1.0),
        "{body}"
    );
    assert!(
        sample(body, "keepup_check_runs_total ").is_some_and(|n| n >= 2.0),
        "{body}"
    );
    assert!(
        sample(body, "keepup_store_size_bytes ").is_some_and(|n| n > 0.0),
        "{body}"
    );

    // OpenMetrics when asked for.
    let a = format!("{auth}Accept: application/openmetrics-text; version=1.0.0\r\n");
    let response = tokio::task::spawn_blocking(move || get(addr, "/metrics", &a))
        .await
        .unwrap();
    let (head, body) = split(&response);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    drop(open);
}
