//! `forecast` on a check: host measures (every capacity measure the check
//! judges, or named ones) and one measure of other kinds, with their
//! defaults; each mistake (window shorter than the interval, warn not
//! longer than crit, unknown measure, limit in the wrong unit, no limit
//! where there is no capacity, a database size without its limit, a
//! Prometheus measure the check does not declare) reported at its
//! file:line:col.

mod support;

use keepup_config::forecast::{HostMeasure, Source};
use keepup_config::{Config, Problems, Unit, load_str};
use std::path::Path;
use std::time::Duration;
use support::{env_before_main, line_of};

env_before_main! {
    "KEEPUP_TEST_AGENT_TOKEN" => "0123456789abcdef-web1",
}

const DAY: u64 = 86_400;

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn refused(src: &str) -> Problems {
    match load_str(src, Path::new("keepup.toml")) {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(p) => p,
    }
}

/// The problem reported on the line of `marker`, as printed.
fn at(p: &Problems, src: &str, marker: &str) -> String {
    let line = line_of(src, marker);
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line} ({marker}); got:\n{p}"))
}

fn host(body: &str) -> String {
    format!(
        r#"
[[agent]]
name = "web1"
token_env = "KEEPUP_TEST_AGENT_TOKEN"

[[site]]
id = "shop"

[[site.check]]
id = "web1"
kind = "host"
agent = "web1"
{body}
"#
    )
}

fn redis(body: &str) -> String {
    format!(
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "cache"
kind = "redis"
host = "127.0.0.1"
interval = "1m"
{body}
"#
    )
}

#[test]
fn a_host_forecast_alone_follows_every_capacity_measure_the_check_judges() {
    let src = host(
        r#"disk."/" = { warn = "80%", crit = "90%" }
disk_free."/var" = { warn = "10 GiB" }
inodes."/" = { warn = "80%" }
memory = { warn = "90%" }
load = { warn = 2 }
forecast = { window = "14d" }"#,
    );
    let config = load(&src);
    let c = &config.sites[0].checks[0];
    let keys: Vec<&str> = c.forecasts.iter().map(|f| f.measure.key.as_str()).collect();
    assert_eq!(keys, ["disk:/", "disk:/var", "inodes:/", "memory"]);
    for f in &c.forecasts {
        assert_eq!(f.window, Duration::from_secs(14 * DAY));
        assert_eq!(f.warn, Duration::from_secs(7 * DAY));
        assert_eq!(f.crit, Duration::from_secs(2 * DAY));
        assert_eq!(f.limit, 100.0);
        assert_eq!(f.min_points, 10);
        assert_eq!(f.measure.unit, Unit::Percent);
    }
    assert_eq!(
        c.forecasts[1].measure.source,
        Source::Host(HostMeasure::Disk("/var".into()))
    );
    // One sample per 14d / 500 (the check runs every minute).
    assert_eq!(
        c.forecasts[0].step(c.interval),
        Duration::from_secs(14 * DAY) / 500
    );
}

#[test]
fn named_host_measures_inherit_the_settings_beside_them() {
    let src = host(
        r#"[site.check.forecast]
window = "30d"
warn = "14d"
disk."/var" = { limit = "95%", crit = "3d" }
load = { limit = 1.5, window = "3d", min_points = 20 }"#,
    );
    let config = load(&src);
    let f = &config.sites[0].checks[0].forecasts;
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].measure.key, "disk:/var");
    assert_eq!(f[0].measure.what, "used space on /var");
    assert_eq!(
        (f[0].window, f[0].warn, f[0].crit, f[0].limit),
        (
            Duration::from_secs(30 * DAY),
            Duration::from_secs(14 * DAY),
            Duration::from_secs(3 * DAY),
            95.0
        )
    );
    assert_eq!(f[1].measure.key, "load");
    assert_eq!(f[1].measure.unit, Unit::Number);
    assert_eq!(
        (f[1].window, f[1].limit, f[1].min_points),
        (Duration::from_secs(3 * DAY), 1.5, 20)
    );
}

#[test]
fn other_kinds_forecast_one_catalogued_measure() {
    let config = load(&redis(
        r#"forecast = { measure = "memory", window = "14d", limit = "90%" }"#,
    ));
    let f = &config.sites[0].checks[0].forecasts[0];
    assert_eq!(f.measure.key, "memory");
    assert_eq!(
        f.measure.source,
        Source::Evidence {
            value: "/redis/used_memory".into(),
            capacity: Some("/redis/maxmemory".into())
        }
    );
    assert_eq!(f.limit, 90.0);
    let config = load(&redis(
        r#"forecast = { measure = "latency", limit = "250ms" }"#,
    ));
    let f = &config.sites[0].checks[0].forecasts[0];
    assert_eq!((f.measure.source.clone(), f.limit), (Source::Latency, 0.25));
    assert_eq!(f.window, Duration::from_secs(7 * DAY));
    let config = load(&redis(r#"forecast = { measure = "clients", limit = 900 }"#));
    assert_eq!(config.sites[0].checks[0].forecasts[0].limit, 900.0);
}

#[test]
fn a_window_shorter_than_the_interval_or_too_short_for_its_points_is_refused() {
    let src = redis(r#"forecast = { measure = "latency", limit = "2s", window = "30s" }"#);
    let p = refused(&src);
    let msg = at(&p, &src, "window = \"30s\"");
    assert!(msg.contains("keepup.toml:"), "{msg}");
    assert!(
        msg.contains("the window (30s) is shorter than the check's interval (1m)"),
        "{msg}"
    );
    let src = redis(r#"forecast = { measure = "latency", limit = "2s", window = "5m" }"#);
    let msg = at(&refused(&src), &src, "window = \"5m\"");
    assert!(
        msg.contains("holds 6 runs of the check, fewer than the 10 points"),
        "{msg}"
    );
}

#[test]
fn warn_must_be_longer_than_crit() {
    let src = host(
        r#"disk."/" = { warn = "80%" }
forecast = { warn = "2d", crit = "5d" }"#,
    );
    let msg = at(&refused(&src), &src, "forecast = {");
    assert!(
        msg.contains("warn (2days) must be longer than crit (5days)"),
        "{msg}"
    );
    let src = host(
        r#"disk."/" = { warn = "80%" }
forecast = { warn = "3d", crit = "3d" }"#,
    );
    assert!(at(&refused(&src), &src, "forecast = {").contains("must be longer than crit"));
}

#[test]
fn unknown_measures_are_refused_with_the_ones_known() {
    let src = redis(r#"forecast = { measure = "memroy", limit = "90%" }"#);
    let msg = at(&refused(&src), &src, "memroy");
    assert!(
        msg.contains("a redis check has no measure \"memroy\" to forecast"),
        "{msg}"
    );
    assert!(msg.contains("did you mean \"memory\"?"), "{msg}");
    assert!(msg.contains("latency, memory, clients"), "{msg}");
    // Host measures on another kind, and `measure` on a host check.
    let src = redis(r#"forecast = { disk."/" = {} }"#);
    assert!(at(&refused(&src), &src, "forecast = {").contains("disk is a host measure"));
    let src = host(
        r#"disk."/" = { warn = "80%" }
forecast = { measure = "disk" }"#,
    );
    assert!(
        at(&refused(&src), &src, "forecast = {")
            .contains("a host check names its measures as keys")
    );
    let src = host(r#"forecast = { disk.var = {} }"#);
    assert!(at(&refused(&src), &src, "forecast = {").contains("\"var\" is not a mount point"));
    // Unknown keys are refused as everywhere.
    let src = host(
        r#"disk."/" = { warn = "80%" }
forecast = { windw = "7d" }"#,
    );
    assert!(at(&refused(&src), &src, "forecast = {").contains("windw"));
}

#[test]
fn limits_in_the_wrong_unit_or_missing_without_a_capacity_are_refused() {
    let src = host(r#"forecast = { disk."/" = { limit = "400 GiB" } }"#);
    let msg = at(&refused(&src), &src, "400 GiB");
    assert!(
        msg.contains("wrong unit: used space on / is forecast in % of its capacity, not bytes"),
        "{msg}"
    );
    let src = redis(r#"forecast = { measure = "latency", limit = "90%" }"#);
    assert!(at(&refused(&src), &src, "90%").contains("wrong unit"));
    let src = host(r#"forecast = { load = {} }"#);
    let msg = at(&refused(&src), &src, "forecast = {");
    assert!(
        msg.contains("the 5-minute load per core has no capacity: the forecast needs its limit"),
        "{msg}"
    );
    let src = host(r#"forecast = { window = "7d" }"#);
    assert!(at(&refused(&src), &src, "forecast = {").contains("judges no capacity measure"));
    let src = host(r#"forecast = { memory = { limit = "120%" } }"#);
    assert!(at(&refused(&src), &src, "120%").contains("more than 100%"));
}

fn database(kind: &str, body: &str) -> String {
    format!(
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "db"
kind = "{kind}"
host = "127.0.0.1"
interval = "1m"
{body}
"#
    )
}

fn prometheus(body: &str) -> String {
    format!(
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "queues"
kind = "prometheus"
url = "http://127.0.0.1:9/metrics"
interval = "1m"
{body}
"#
    )
}

#[test]
fn database_sizes_are_forecast_in_bytes_against_a_size_limit() {
    for (kind, pointer) in [
        ("postgres", "/postgres/database_size_bytes"),
        ("mysql", "/mysql/database_size_bytes"),
    ] {
        let config = load(&database(
            kind,
            r#"forecast = { measure = "size", limit = "50GiB" }"#,
        ));
        let f = &config.sites[0].checks[0].forecasts[0];
        assert_eq!(f.measure.key, "size");
        assert_eq!(f.measure.unit, Unit::Bytes);
        assert_eq!(
            f.measure.source,
            Source::Evidence {
                value: pointer.into(),
                capacity: None
            }
        );
        assert_eq!(f.limit, 50.0 * 1024f64.powi(3));
        // A plain number is bytes, as in a size threshold.
        let config = load(&database(
            kind,
            r#"forecast = { measure = "size", limit = 1000000 }"#,
        ));
        assert_eq!(config.sites[0].checks[0].forecasts[0].limit, 1e6);
    }
    // A size has no capacity: without a limit it is refused, with a hint.
    let src = database("postgres", r#"forecast = { measure = "size" }"#);
    let msg = at(&refused(&src), &src, "forecast = {");
    assert!(msg.contains("keepup.toml:"), "{msg}");
    assert!(
        msg.contains("the database's size has no capacity: the forecast needs its limit"),
        "{msg}"
    );
    assert!(msg.contains("limit = \"50GiB\""), "{msg}");
    // Nor in another unit than a size.
    let src = database("mysql", r#"forecast = { measure = "size", limit = "90%" }"#);
    let msg = at(&refused(&src), &src, "90%");
    assert!(
        msg.contains("wrong unit: the databases' size is forecast in bytes, not % of its capacity"),
        "{msg}"
    );
    assert!(
        msg.contains("write a size, e.g. limit = \"50GiB\""),
        "{msg}"
    );
    let src = database(
        "postgres",
        r#"forecast = { measure = "size", limit = "2s" }"#,
    );
    assert!(at(&refused(&src), &src, "2s").contains("wrong unit"));
    // Only databases have a size.
    let src = redis(r#"forecast = { measure = "size", limit = "1GiB" }"#);
    assert!(at(&refused(&src), &src, "\"size\"").contains("a redis check has no measure \"size\""));
    // The mysql schema name is checked.
    let src = database("mysql", "database = \"\"");
    assert!(at(&refused(&src), &src, "database = ").contains("the database name must be"));
}

#[test]
fn a_prometheus_check_forecasts_the_measures_it_declares() {
    let config = load(&prometheus(
        r#"forecast = { measure = "orders_queue", limit = 10000, window = "1d" }
[[site.check.measure]]
name = "orders_queue"
expr = 'queue_length{queue="orders"}'
[[site.check.measure]]
name = "uploads"
expr = 'node_filesystem_size_bytes - node_filesystem_avail_bytes'
"#,
    ));
    let c = &config.sites[0].checks[0];
    let f = &c.forecasts[0];
    assert_eq!(f.measure.key, "orders_queue");
    assert_eq!(f.measure.unit, Unit::Number);
    assert_eq!(
        f.measure.source,
        Source::Evidence {
            value: "/measures/orders_queue/value".into(),
            capacity: None
        }
    );
    assert_eq!(f.limit, 10_000.0);
    let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Prometheus(p)) = &c.spec else {
        panic!("{:?}", c.spec)
    };
    // Measures alone make a check: no condition needed.
    assert!(p.conditions.is_empty());
    assert_eq!(p.measures.len(), 2);
    assert_eq!(p.measures[1].name, "uploads");
    // A size or a duration gives the measure its unit.
    let config = load(&prometheus(
        r#"forecast = { measure = "uploads", limit = "2GiB" }
[[site.check.measure]]
name = "uploads"
expr = 'node_filesystem_size_bytes - node_filesystem_avail_bytes'
"#,
    ));
    let f = &config.sites[0].checks[0].forecasts[0];
    assert_eq!(
        (f.measure.unit, f.limit),
        (Unit::Bytes, 2.0 * 1024f64.powi(3))
    );
}

#[test]
fn prometheus_measures_unknown_or_malformed_are_refused_where_they_are_written() {
    let body = r#"[[site.check.measure]]
name = "orders_queue"
expr = 'queue_length{queue="orders"}'
[[site.check.measure]]
name = "refunds_queue"
expr = 'queue_length{queue="refunds"}'
"#;
    // An unknown name: the declared ones are listed.
    let src = prometheus(&format!(
        "forecast = {{ measure = \"order_queue\", limit = 100 }}\n{body}"
    ));
    let msg = at(&refused(&src), &src, "order_queue");
    assert!(msg.contains("keepup.toml:"), "{msg}");
    assert!(
        msg.contains("a prometheus check has no measure \"order_queue\" to forecast"),
        "{msg}"
    );
    assert!(msg.contains("did you mean \"orders_queue\"?"), "{msg}");
    assert!(
        msg.contains("it can forecast: latency, orders_queue, refunds_queue"),
        "{msg}"
    );
    // A % limit: a Prometheus value has no capacity.
    let src = prometheus(&format!(
        "forecast = {{ measure = \"orders_queue\", limit = \"80%\" }}\n{body}"
    ));
    let msg = at(&refused(&src), &src, "80%");
    assert!(msg.contains("wrong unit"), "{msg}");
    assert!(
        msg.contains("a Prometheus measure has no capacity"),
        "{msg}"
    );
    // No limit.
    let src = prometheus(&format!(
        "forecast = {{ measure = \"orders_queue\" }}\n{body}"
    ));
    let msg = at(&refused(&src), &src, "forecast = {");
    assert!(
        msg.contains("orders_queue has no capacity: the forecast needs its limit"),
        "{msg}"
    );
    // A comparison, a bad name, `latency`, a name twice.
    let src = prometheus("[[site.check.measure]]\nname = \"q\"\nexpr = 'queue_length > 5'\n");
    let msg = at(&refused(&src), &src, "expr =");
    assert!(
        msg.contains("measure[0].expr: at character 14 of the expression: a measure is a value, not a condition"),
        "{msg}"
    );
    let src = prometheus("[[site.check.measure]]\nname = \"orders-queue\"\nexpr = 'q'\n");
    let msg = at(&refused(&src), &src, "orders-queue");
    assert!(
        msg.contains("measure[0].name: \"orders-queue\" is not a measure name"),
        "{msg}"
    );
    let src = prometheus("[[site.check.measure]]\nname = \"latency\"\nexpr = 'q'\n");
    assert!(at(&refused(&src), &src, "name = ").contains("every check's response time"));
    let src = prometheus(
        "[[site.check.measure]]\nname = \"q\"\nexpr = 'a'\n[[site.check.measure]]\nname = \"q\" # twice\nexpr = 'b'\n",
    );
    assert!(at(&refused(&src), &src, "# twice").contains("measure \"q\" is declared twice"));
}
