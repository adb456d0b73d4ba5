//! `kind = "prometheus"` end to end: checks loaded from TOML scrape Debian's
//! `prometheus-node-exporter` on loopback and in-process endpoints (a
//! counter that moves between scrapes, a huge body, garbage, a response
//! that never ends).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{TestServer, text};
use keepup_testkit::node_exporter::NodeExporter;
use support::codes;

/// A prometheus check of `url` with `conditions` (TOML of
/// `[[site.check.condition]]` tables), loaded as a configured check.
fn check(url: &str, extra: &str, conditions: &str) -> keepup_config::Check {
    check_named("c", url, extra, conditions)
}

/// [`check`] with the check's id.
fn check_named(id: &str, url: &str, extra: &str, conditions: &str) -> keepup_config::Check {
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"{id}\"\nkind = \"prometheus\"\ninterval = \"1m\"\ntimeout = \"3s\"\nurl = \"{url}\"\n{extra}\n{conditions}"
    );
    let config = keepup_config::load_str(&src, Path::new("/etc/keepup/keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    config.checks().next().expect("one check").clone()
}

async fn run(check: &keepup_config::Check, ctx: &ProbeContext) -> Outcome {
    support::run(check, ctx).await
}

#[tokio::test]
async fn node_exporter_is_scraped_and_its_filesystem_judged() {
    let exporter = NodeExporter::start().expect("prometheus-node-exporter");
    let ctx = ProbeContext::new();
    // The root filesystem is less than 100 % free: met, with its series.
    let full = check(
        &exporter.url(),
        "",
        r#"[[site.check.condition]]
expr = 'node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"} < 1'
severity = "warn"
message = "the root filesystem is filling up"
"#,
    );
    let o = run(&full, &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}\n{}", exporter.log());
    assert_eq!(codes(&o), vec![c::PROMETHEUS_CONDITION_WARNING]);
    let text = &o.findings[0].text;
    assert!(
        text.starts_with("the root filesystem is filling up: {device=")
            && text.contains(r#"mountpoint="/"} = 0."#),
        "{text}"
    );
    assert!(
        o.evidence.details["samples"]
            .as_u64()
            .is_some_and(|n| n > 10)
    );

    // Nothing is met; load and memory are there too.
    let fine = check(
        &exporter.url(),
        "",
        r#"[[site.check.condition]]
expr = 'node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"} < 0'
[[site.check.condition]]
expr = "node_load1 < 0"
[[site.check.condition]]
expr = "node_memory_MemAvailable_bytes > node_memory_MemTotal_bytes"
"#,
    );
    let o = run(&fine, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "no condition met (3 conditions)");
    assert!(o.findings.is_empty(), "{o:?}");

    // A metric the exporter does not have is said, not taken as fine.
    let typo = check(
        &exporter.url(),
        "",
        "[[site.check.condition]]\nexpr = \"node_load_one > 100\"\n",
    );
    let o = run(&typo, &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROMETHEUS_METRIC_ABSENT]);
}

/// An endpoint exposing `shop_orders_failed_total` with `labels` at the
/// value `total` holds when scraped.
async fn counter_server(total: &Arc<AtomicU64>, labels: &'static str) -> TestServer {
    let served = Arc::clone(total);
    TestServer::start(move |_req| {
        let n = served.load(Ordering::SeqCst);
        async move {
            text(
                200,
                format!("# TYPE shop_orders_failed_total counter\nshop_orders_failed_total{labels} {n}\n"),
            )
        }
    })
    .await
    .expect("server")
}

#[tokio::test]
async fn rate_compares_with_the_previous_scrape_of_the_same_check() {
    let total = Arc::new(AtomicU64::new(100));
    let server = counter_server(&total, "{shop=\"eu\"}").await;
    let ctx = ProbeContext::new();
    let rising = check(
        &server.url("/metrics"),
        "",
        "[[site.check.condition]]\nexpr = 'delta(shop_orders_failed_total) > 5'\nmessage = \"orders fail\"\n",
    );
    let o = run(&rising, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.evidence.details.contains_key("rate_pending"), "{o:?}");
    total.store(150, Ordering::SeqCst);
    let o = run(&rising, &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(o.findings[0].text, "orders fail: {shop=\"eu\"} = 50");
    let o = run(&rising, &ctx).await;
    assert_eq!(o.status, Status::Up, "no change since: {o:?}");
    // The request asked for the text format.
    let accept = server
        .received()
        .last()
        .and_then(|r| r.headers.get("accept").cloned());
    assert_eq!(
        accept.as_ref().and_then(|v| v.to_str().ok()),
        Some("text/plain;version=0.0.4"),
    );
}

#[tokio::test]
async fn two_checks_of_one_endpoint_each_rate_against_their_own_previous_scrape() {
    let total = Arc::new(AtomicU64::new(100));
    let server = counter_server(&total, "").await;
    let ctx = ProbeContext::new();
    // The same URL and condition, on two schedules (say every minute and
    // every hour): two checks, two histories.
    let condition = "[[site.check.condition]]\nexpr = 'delta(shop_orders_failed_total) > 5'\n";
    let often = check_named("often", &server.url("/metrics"), "", condition);
    let seldom = check_named("seldom", &server.url("/metrics"), "", condition);
    let o = run(&often, &ctx).await;
    assert!(o.evidence.details.contains_key("rate_pending"), "{o:?}");
    total.store(150, Ordering::SeqCst);
    // The other check's first run has nothing to compare with yet (it
    // read the first check's scrape before).
    let o = run(&seldom, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.evidence.details.contains_key("rate_pending"), "{o:?}");
    // The first check still sees the growth since its own scrape.
    let o = run(&often, &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert!(o.findings[0].text.ends_with("= 50"), "{o:?}");
}

#[tokio::test]
async fn hostile_endpoints_end_as_findings_within_the_timeout() {
    let ctx = ProbeContext::new();
    let condition = "[[site.check.condition]]\nexpr = \"up == 0\"\n";

    let huge = TestServer::start(|_req| async {
        text(
            200,
            format!("# TYPE up gauge\n{}", "up 1\n".repeat(400_000)),
        )
    })
    .await
    .expect("server");
    let o = run(
        &check(&huge.url("/metrics"), "max_body_bytes = 65536", condition),
        &ctx,
    )
    .await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROMETHEUS_SCRAPE_INVALID]);
    assert_eq!(
        o.message,
        "the exposition is larger than the 64 KiB limit (max_body_bytes); it was not evaluated"
    );

    let garbage = TestServer::start(|_req| async {
        text(
            200,
            "<html><body>Welcome to nginx!</body></html>\n\u{0}\u{7f}{{{\n",
        )
    })
    .await
    .expect("server");
    let o = run(&check(&garbage.url("/metrics"), "", condition), &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROMETHEUS_SCRAPE_INVALID]);

    let raw_garbage = HostileServer::start(Behaviour::Garbage)
        .await
        .expect("server");
    let o = run(&check(&raw_garbage.url("/metrics"), "", condition), &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");

    let endless = HostileServer::start(Behaviour::Trickle {
        interval: std::time::Duration::from_millis(50),
    })
    .await
    .expect("server");
    let o = run(&check(&endless.url("/metrics"), "", condition), &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
}

#[tokio::test]
async fn many_series_in_one_metric_are_matched_by_their_labels() {
    // 50,000 series on each side, in opposite orders: each `avail` sample
    // meets its `size` partner through the index, not a search of the
    // other side (before: 1.25 billion label-set comparisons).
    const SERIES: usize = 50_000;
    let mut body = String::from("# TYPE avail gauge\n");
    for i in 0..SERIES {
        let value = if i == 31_337 { 95 } else { 10 };
        body.push_str(&format!("avail{{disk=\"d{i}\"}} {value}\n"));
    }
    body.push_str("# TYPE size gauge\n");
    for i in (0..SERIES).rev() {
        body.push_str(&format!("size{{disk=\"d{i}\"}} 100\n"));
    }
    let server = TestServer::start(move |_req| {
        let body = body.clone();
        async move { text(200, body) }
    })
    .await
    .expect("server");
    let full = check(
        &server.url("/metrics"),
        "max_body_bytes = 8388608",
        "[[site.check.condition]]\nexpr = 'avail / size > 0.9'\n",
    );
    let o = run(&full, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Down, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::PROMETHEUS_CONDITION_CRITICAL]);
    assert_eq!(
        o.findings[0].text,
        "`avail / size > 0.9` is met: {disk=\"d31337\"} = 0.95"
    );
    assert_eq!(o.evidence.details["samples"], 2 * SERIES);
    assert!(!o.evidence.details.contains_key("series_capped"), "{o:?}");
}

#[tokio::test]
async fn measures_are_read_summed_into_the_evidence_and_their_absence_said() {
    let length = Arc::new(AtomicU64::new(40));
    let served = Arc::clone(&length);
    let server = TestServer::start(move |_req| {
        let n = served.load(Ordering::SeqCst);
        async move {
            text(
                200,
                format!(
                    "# TYPE queue_length gauge\nqueue_length{{queue=\"orders\",shard=\"a\"}} {n}\nqueue_length{{queue=\"orders\",shard=\"b\"}} 2\nqueue_length{{queue=\"refunds\"}} 7\n"
                ),
            )
        }
    })
    .await
    .expect("server");
    let ctx = ProbeContext::new();
    let measured = check(
        &server.url("/metrics"),
        "",
        r#"[[site.check.measure]]
name = "orders_queue"
expr = 'queue_length{queue="orders"}'
[[site.check.measure]]
name = "refunds_doubled"
expr = 'queue_length{queue="refunds"} * 2'
[[site.check.measure]]
name = "lost"
expr = 'queue_length{queue="lost"}'
[[site.check.measure]]
name = "typo"
expr = 'queue_lenght'
"#,
    );
    let o = run(&measured, &ctx).await;
    let measures = &o.evidence.details["measures"];
    // Two shards of the orders queue, summed.
    assert_eq!(measures["orders_queue"]["value"], 42.0, "{o:#?}");
    assert_eq!(measures["orders_queue"]["series"], 2);
    assert_eq!(
        measures["orders_queue"]["expr"],
        r#"queue_length{queue="orders"}"#
    );
    assert_eq!(measures["refunds_doubled"]["value"], 14.0);
    assert!(measures["lost"]["value"].is_null());
    // A measure without a value is said, with why: no forecast is fed
    // in silence.
    assert_eq!(o.status, Status::Degraded, "{o:#?}");
    assert_eq!(
        codes(&o),
        vec![c::PROMETHEUS_METRIC_ABSENT, c::PROMETHEUS_METRIC_ABSENT]
    );
    assert!(
        o.findings[0].text.starts_with(
            "measure lost (`queue_length{queue=\"lost\"}`) has no value: no series matches it"
        ),
        "{}",
        o.findings[0].text
    );
    assert!(
        o.findings[1]
            .text
            .ends_with("no series of queue_lenght in the scrape"),
        "{}",
        o.findings[1].text
    );
    assert_eq!(o.message, "2 of 4 measures read");
    // The next scrape reads the gauge as it is then.
    length.store(90, Ordering::SeqCst);
    let o = run(&measured, &ctx).await;
    assert_eq!(
        o.evidence.details["measures"]["orders_queue"]["value"],
        92.0
    );
    // rate() waits for its second scrape without a finding.
    let rated = check(
        &server.url("/metrics"),
        "",
        "[[site.check.measure]]\nname = \"growth\"\nexpr = 'rate(queue_length{queue=\"refunds\"})'\n",
    );
    let o = run(&rated, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:#?}");
    assert!(o.evidence.details["measures"]["growth"]["value"].is_null());
    let o = run(&rated, &ctx).await;
    assert_eq!(
        o.evidence.details["measures"]["growth"]["value"], 0.0,
        "{o:#?}"
    );
}
