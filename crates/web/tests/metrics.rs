//! `/metrics` of a running monitor over real HTTP: only loopback clients
//! and `metrics_allow` may scrape (a client named by a trusted proxy
//! counts, not the proxy), never on a status page's own domain, the bearer
//! token is required when configured, Prometheus' own `promtool check metrics`
//! accepts the output with no lint problem, and the values say what the
//! checks and the store say (a Down check has `up` 0), what a real backup
//! run wrote (each target's newest snapshot: time and size) and when a
//! real server's certificate expires.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

mod support;

const TOKEN: &str = "scrape-token-0123456789";

fn get(addr: SocketAddr, path: &str, headers: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let host = if headers.to_ascii_lowercase().contains("host:") {
        ""
    } else {
        "Host: x\r\n"
    };
    let raw = format!("GET {path} HTTP/1.1\r\n{host}{headers}Connection: close\r\n\r\n");
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
    // An empty outbox is 0, not the -0 an empty float sum gives.
    assert!(!body.contains(" -0"), "{body}");

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

/// Milliseconds since the epoch now.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_each_backup_targets_last_snapshot_and_certificate_expiry() {
    use keepup_config::BackupJob;
    use keepup_testkit::http::{ServerTls, TestServer, html};
    use keepup_testkit::pki::{CertAuthority, validity};

    // An HTTPS server whose certificate expires in 40 days.
    let ca = CertAuthority::new("keepup test root").unwrap();
    let (not_before, not_after) = validity::days_around(-1, 40);
    let cert = ca.issue(&["127.0.0.1"], (not_before, not_after)).unwrap();
    let shop = TestServer::builder()
        .tls(ServerTls::new(&cert))
        .start(|_req| async { html(200, "<h1>shop</h1>") })
        .await
        .unwrap();
    let ca_file = ca.root_pem_file().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = |rel: &str| dir.path().join(rel);
    std::fs::create_dir_all(path("files")).unwrap();
    std::fs::write(path("files/index.html"), "hello").unwrap();
    std::fs::write(path("files/catalogue.csv"), vec![b'x'; 10_000]).unwrap();
    std::fs::write(path("repo.pass"), "a repository password").unwrap();
    std::fs::create_dir_all(path("primary")).unwrap();
    let port = shop.port();
    let src = format!(
        r#"[defaults.tls]
ca_file = "{ca}"

[[site]]
id = "shop"

[[site.check]]
id = "home"
kind = "http"
url = "https://127.0.0.1:{port}/"
interval = "2s"

[[site.check]]
id = "certificate"
kind = "tls"
host = "127.0.0.1"
port = {port}
interval = "2s"

[[backup]]
id = "files"
site = "shop"
password_file = "{pass}"
rpo = "1d"

[[backup.source]]
kind = "paths"
paths = ["{files}"]

[[backup.target]]
id = "primary"
repository = "{primary}"

[[backup.target]]
id = "away"
repository = "{away}"
offsite = true
"#,
        ca = ca_file.path().display(),
        pass = path("repo.pass").display(),
        files = path("files").display(),
        primary = path("primary").display(),
        away = path("away-never-created").display(),
    );
    let web = support::start_in(dir, &src, None).await;
    let plan = web.monitor.config().backups[0].clone();
    keepup_backup::init(&plan, "primary").unwrap();
    let before = now_ms();
    let run = web
        .monitor
        .run_backup_job("files", BackupJob::Run)
        .await
        .unwrap();
    let after = now_ms();
    // Stored on the primary, not on the target that does not exist.
    assert_eq!(run.status, keepup_model::Status::Degraded, "{run:?}");
    let fresh = keepup_config::backup_check_id(&plan, BackupJob::Freshness);
    let checks = [
        fresh,
        keepup_model::CheckId::new("shop", "home"),
        keepup_model::CheckId::new("shop", "certificate"),
    ];
    // Until the freshness check has read the new snapshot (its first
    // read, at start, may have found none) and both certificate checks ran.
    web.wait_for(|m| {
        let current = m.current();
        let read_snapshot = current
            .get(&checks[0])
            .and_then(|s| s.outcome.evidence.details.get("targets"))
            .and_then(|t| t.as_array())
            .is_some_and(|t| t.iter().any(|t| t["snapshot_time_ms"].is_i64()));
        read_snapshot
            && checks[1..].iter().all(|id| {
                current
                    .get(id)
                    .is_some_and(|s| !s.outcome.evidence.details.is_empty())
            })
    })
    .await;

    // No token configured: a loopback client may scrape.
    let addr = web.addr;
    let response = tokio::task::spawn_blocking(move || get(addr, "/metrics", ""))
        .await
        .unwrap();
    let (head, body) = split(&response);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (ok, problems) = promtool(body);
    assert!(ok && problems.trim().is_empty(), "{problems}\n{body}");

    let primary = "{plan=\"files\",target=\"primary\"} ";
    let away = "{plan=\"files\",target=\"away\"} ";
    let taken = sample(
        body,
        &format!("keepup_backup_last_success_timestamp_seconds{primary}"),
    )
    .unwrap_or_else(|| panic!("no snapshot time of the primary:\n{body}"));
    assert!(
        (before / 1000) as f64 <= taken && taken <= (after / 1000 + 1) as f64,
        "the snapshot was taken at {taken}, the run lasted from {before} to {after} ms"
    );
    // The bytes of the two files backed up.
    assert_eq!(
        sample(
            body,
            &format!("keepup_backup_last_snapshot_size_bytes{primary}")
        ),
        Some(10_005.0),
        "{body}"
    );
    // The target that never got a snapshot has none to report, but its
    // limit is there for an alert rule.
    assert_eq!(
        sample(
            body,
            &format!("keepup_backup_last_success_timestamp_seconds{away}")
        ),
        None,
        "{body}"
    );
    for target in [primary, away] {
        assert_eq!(
            sample(body, &format!("keepup_backup_max_age_seconds{target}")),
            Some(86_400.0),
            "{body}"
        );
    }
    assert_eq!(
        sample(body, &format!("keepup_backup_fresh{primary}")),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(body, &format!("keepup_backup_fresh{away}")),
        Some(0.0),
        "{body}"
    );

    // The certificate's notAfter, as the HTTPS and the TLS check saw it.
    let expires = not_after.unix_timestamp() as f64;
    for (check, kind) in [("home", "http"), ("certificate", "tls")] {
        assert_eq!(
            sample(
                body,
                &format!(
                    "keepup_certificate_expiry_timestamp_seconds{{check=\"shop/{check}\",site=\"shop\",kind=\"{kind}\"}} "
                )
            ),
            Some(expires),
            "{body}"
        );
    }
}

/// The status code of a response.
fn code(response: &str) -> &str {
    response.split(' ').nth(1).unwrap_or(response)
}

/// A scrape of `addr` with extra request `headers`, off the async workers.
async fn scrape(addr: SocketAddr, headers: &str) -> String {
    let headers = headers.to_owned();
    tokio::task::spawn_blocking(move || get(addr, "/metrics", &headers))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_loopback_and_allowed_networks_may_scrape_and_never_on_a_status_domain() {
    const CHECK: &str = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"job-token-1234\"\nperiod = \"1h\"\n";
    const PAGE: &str = "[[status_page]]\nslug = \"shop\"\ntitle = \"Shop\"\ndomain = \"status.shop.test\"\n[[status_page.component]]\nname = \"Job\"\nchecks = [\"s/job\"]\n";
    let outside = "X-Forwarded-For: 203.0.113.5\r\n";
    let elsewhere = "X-Forwarded-For: 198.51.100.7\r\n";

    // The listener trusts the loopback proxy, so the client it names is
    // who asks: outside, refused; the proxy host itself, answered.
    let web = support::start_config(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n{CHECK}{PAGE}"
    ))
    .await;
    let refused = scrape(web.addr, outside).await;
    assert_eq!(code(&refused), "403", "{refused}");
    assert!(!refused.contains("keepup_"), "{refused}");
    let local = scrape(web.addr, "").await;
    assert_eq!(code(&local), "200", "{local}");
    assert!(local.contains("keepup_check_runs_total"), "{local}");
    // A status page's own domain: no metrics, even for loopback.
    let on_domain = scrape(web.addr, "Host: Status.Shop.test\r\n").await;
    assert_eq!(code(&on_domain), "404", "{on_domain}");
    assert!(!on_domain.contains("keepup_"), "{on_domain}");
    drop(web);

    // An allowed network is answered; others still are not.
    let web = support::start_config(&format!(
        "[server]\ntrusted_proxies = [\"127.0.0.1\"]\nmetrics_allow = [\"203.0.113.0/24\"]\n{CHECK}"
    ))
    .await;
    assert_eq!(code(&scrape(web.addr, outside).await), "200");
    assert_eq!(code(&scrape(web.addr, elsewhere).await), "403");
    drop(web);

    // With a token, a client anywhere needs the token; with a token and a
    // list, the token and the list.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.token"), TOKEN).unwrap();
    let web = support::start_in(
        dir,
        &format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1\"]\nmetrics_token_file = \"metrics.token\"\n{CHECK}"
        ),
        None,
    )
    .await;
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(code(&scrape(web.addr, outside).await), "401");
    assert_eq!(
        code(&scrape(web.addr, &format!("{outside}{bearer}")).await),
        "200"
    );
    drop(web);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("metrics.token"), TOKEN).unwrap();
    let web = support::start_in(
        dir,
        &format!(
            "[server]\ntrusted_proxies = [\"127.0.0.1\"]\nmetrics_token_file = \"metrics.token\"\nmetrics_allow = [\"203.0.113.0/24\"]\n{CHECK}"
        ),
        None,
    )
    .await;
    assert_eq!(
        code(&scrape(web.addr, &format!("{outside}{bearer}")).await),
        "200"
    );
    assert_eq!(
        code(&scrape(web.addr, &format!("{elsewhere}{bearer}")).await),
        "403"
    );
}
