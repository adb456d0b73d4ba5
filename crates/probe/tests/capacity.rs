//! `[site.capacity]` with a Prometheus source end to end: the implicit
//! check loaded from TOML scrapes an in-process HTTP endpoint whose
//! counters the test drives up, and the measured rates are judged against
//! the design (80 % warns, 100 % is past the design). The day's peak is
//! the monitor's (`crates/monitor/tests/peaks.rs`).

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::http::{TestServer, text};
use support::codes;

/// The site's capacity check, loaded from a configuration.
fn capacity_check(url: &str) -> keepup_config::Check {
    let src = format!(
        r#"[[site]]
id = "shop"
[site.capacity]
requests_per_second = 200
transactions_per_hour = 3600
interval = "1m"
source = {{ url = "{url}", requests = 'rate(http_requests_total{{job="web"}})', transactions = 'rate(shop_orders_total)' }}
"#
    );
    let config = keepup_config::load_str(&src, Path::new("/etc/keepup/keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let check = config
        .find_check("shop/capacity")
        .expect("the implicit capacity check")
        .clone();
    assert!(check.spec.is_informational());
    assert!(check.alerting.incident_on_degraded);
    check
}

/// The shop's exporter: two servers' request counters (summed by the
/// check) and an order counter, each growing at the rate per second the
/// test sets, integrated over the time between scrapes (as a real counter
/// grows), so the rate the probe measures is the one set whatever the
/// machine's speed.
struct Exporter {
    /// Requests/s of web1 and web2, orders/s (×1000, to keep fractions).
    rates_milli: [AtomicU64; 3],
    counters: Mutex<(std::time::Instant, [f64; 3])>,
}

impl Exporter {
    fn set(&self, web1: f64, web2: f64, orders: f64) {
        for (r, v) in self.rates_milli.iter().zip([web1, web2, orders]) {
            r.store((v * 1000.0) as u64, Ordering::SeqCst);
        }
    }

    fn body(&self) -> String {
        let Ok(mut c) = self.counters.lock() else {
            return String::new();
        };
        let now = std::time::Instant::now();
        let dt = now.duration_since(c.0).as_secs_f64();
        for (v, r) in c.1.iter_mut().zip(&self.rates_milli) {
            *v += r.load(Ordering::SeqCst) as f64 / 1000.0 * dt;
        }
        c.0 = now;
        format!(
            "# TYPE http_requests_total counter\nhttp_requests_total{{job=\"web\",instance=\"web1\"}} {:.3}\nhttp_requests_total{{job=\"web\",instance=\"web2\"}} {:.3}\nhttp_requests_total{{job=\"admin\",instance=\"web1\"}} 999999\n# TYPE shop_orders_total counter\nshop_orders_total {:.3}\n",
            c.1[0], c.1[1], c.1[2]
        )
    }
}

async fn exporter() -> (Arc<Exporter>, TestServer) {
    let e = Arc::new(Exporter {
        rates_milli: Default::default(),
        counters: Mutex::new((std::time::Instant::now(), [10_000.0, 20_000.0, 500.0])),
    });
    let served = Arc::clone(&e);
    let server = TestServer::start(move |_req| {
        let body = served.body();
        async move { text(200, body) }
    })
    .await
    .expect("server");
    (e, server)
}

async fn run(check: &keepup_config::Check, ctx: &ProbeContext) -> Outcome {
    support::run(check, ctx).await
}

/// Waits a second, so that a rate is measured over one.
async fn a_second() {
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

fn requests(o: &Outcome) -> f64 {
    o.evidence.details["load"]["requests_per_second"]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no requests measured: {o:?}"))
}

#[tokio::test]
async fn a_load_driven_past_80_and_100_percent_of_the_design_is_found() {
    let (exporter, server) = exporter().await;
    let check = capacity_check(&server.url("/metrics"));
    let ctx = ProbeContext::new().for_check(&check.id);

    // The first scrape has no rate yet: pending, not a finding.
    exporter.set(20.0, 20.0, 0.2);
    let o = run(&check, &ctx).await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert_eq!(o.message, "rate() starts with the next scrape");
    assert!(o.findings.is_empty(), "{o:?}");

    // A quiet shop: 40 of 200 requests/s, 720 of 3600 orders/h.
    a_second().await;
    let o = run(&check, &ctx).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(o.findings.is_empty(), "{o:?}");
    assert!((38.0..42.0).contains(&requests(&o)), "{o:?}");
    let orders = o.evidence.details["load"]["transactions_per_hour"]["value"]
        .as_f64()
        .unwrap_or_default();
    assert!((680.0..760.0).contains(&orders), "{o:?}");

    // A promotion: both servers together at 90 % of the design (the
    // admin job's counter is not selected).
    exporter.set(100.0, 80.0, 0.2);
    a_second().await;
    let o = run(&check, &ctx).await;
    assert!((171.0..189.0).contains(&requests(&o)), "{o:?}");
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::CAPACITY_DESIGN_NEAR]);
    let text = &o.findings[0].text;
    assert!(
        text.contains("requests/s of the 200 designed (")
            && text.ends_with("at or past warn_at 80%"),
        "{text}"
    );

    // Past the design: 250 requests/s, and orders at 150 % too.
    exporter.set(150.0, 100.0, 1.5);
    a_second().await;
    let o = run(&check, &ctx).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(
        codes(&o),
        vec![c::CAPACITY_DESIGN_EXCEEDED, c::CAPACITY_DESIGN_EXCEEDED]
    );
    let share = o.evidence.details["load"]["requests_per_second"]["share_percent"]
        .as_f64()
        .unwrap_or_default();
    assert!((118.0..132.0).contains(&share), "{o:?}");
}

#[tokio::test]
async fn a_metric_the_endpoint_lacks_is_unmeasured_and_garbage_is_invalid() {
    let (_exporter, server) = exporter().await;
    // The transactions metric is misspelt.
    let url = server.url("/metrics");
    let src = format!(
        "[[site]]\nid = \"shop\"\n[site.capacity]\nrequests_per_second = 200\ntransactions_per_hour = 3600\nsource = {{ url = \"{url}\", requests = 'rate(http_requests_total)', transactions = 'rate(shop_order_total)' }}\n"
    );
    let config =
        keepup_config::load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.find_check("shop/capacity").expect("check").clone();
    let ctx = ProbeContext::new().for_check(&check.id);
    let _ = run(&check, &ctx).await;
    let o = run(&check, &ctx).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::CAPACITY_LOAD_UNMEASURED]);
    assert!(
        o.findings[0].text.contains("transactions_per_hour"),
        "{o:?}"
    );

    let garbage = TestServer::start(|_req| async { text(200, "<html>no metrics</html>") })
        .await
        .expect("server");
    let check = capacity_check(&garbage.url("/metrics"));
    let o = run(&check, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::PROMETHEUS_SCRAPE_INVALID]);
}
