//! keepup's own `/metrics` scraped by a `kind = "prometheus"` check: the
//! exposition a running monitor serves is read by the same probe as any
//! exporter's, and a condition on it names the check that is down.

use std::path::Path;
use std::time::{Duration, Instant};

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_check_reads_keepups_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"down\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed_port}\ninterval = \"2s\"\n"
    );
    let web = support::start_in(dir, &src, None).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while web.monitor.current().is_empty() {
        assert!(Instant::now() < deadline, "the check never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let check_src = format!(
        r#"[[site]]
id = "keepup"
[[site.check]]
id = "self"
kind = "prometheus"
url = "http://{}/metrics"
[[site.check.condition]]
expr = 'keepup_check_up{{site="s"}} == 0'
message = "a check of site s is down"
[[site.check.condition]]
expr = "keepup_check_runs_total < 1"
severity = "warn"
"#,
        web.addr
    );
    let config =
        keepup_config::load_str(&check_src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().unwrap();
    let outcome = keepup_probe::run(
        check.probe().unwrap(),
        check.timeout,
        &keepup_probe::ProbeContext::new(),
    )
    .await;
    assert_eq!(outcome.status, keepup_model::Status::Down, "{outcome:?}");
    let codes: Vec<&str> = outcome.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        codes,
        vec![keepup_model::codes::PROMETHEUS_CONDITION_CRITICAL],
        "{outcome:?}"
    );
    assert_eq!(
        outcome.findings[0].text,
        r#"a check of site s is down: keepup_check_up{check="s/down",kind="tcp",site="s"} = 0"#
    );
}
