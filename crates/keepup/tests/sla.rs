//! `keepup sla` end to end: a real daemon records a real outage of a
//! loopback shop into its store, and `keepup sla` reads the figures from
//! that store while the daemon keeps running.

mod support;

use keepup_testkit::http::{TestServer, html, text};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn keepup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG").env("KEEPUP_LOG", "info");
    c
}

fn run(args: &[&str]) -> Output {
    keepup().args(args).output().expect("keepup runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(cfg: &Path) -> Daemon {
    let mut child = keepup()
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("[daemon] {line}");
            if line.contains("keepup is monitoring") {
                let _ = tx.send(());
            }
        }
    });
    let d = Daemon(child);
    rx.recv_timeout(Duration::from_secs(30))
        .expect("daemon starts");
    d
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The checks a contract adds (`sla-<id>`, `sla-<id>-repair`).
fn is_sla_check(id: &serde_json::Value) -> bool {
    id.as_str().is_some_and(|c| c.starts_with("shop/sla-"))
}

fn rfc3339(at: std::time::SystemTime) -> String {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    keepup_model::format_rfc3339(ms)
}

#[test]
fn sla_reads_a_recorded_outage_from_the_store_of_a_running_daemon() {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let shop = TestServer::start_background(move |req| {
        let broken = flag.load(Ordering::SeqCst);
        async move {
            match req.uri().path() {
                "/checkout" if broken => text(500, "Fatal error"),
                _ => html(200, "<h1>Shop</h1>"),
            }
        }
    })
    .expect("test server starts");
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    let port = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    std::fs::write(
        &cfg,
        format!(
            r#"[server]
listen = "127.0.0.1:{port}"
[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 2
[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "http"
url = "{}"
[[site.check]]
id = "checkout"
kind = "http"
url = "{}"
[[contract]]
id = "front"
site = "shop"
down_when = "home | checkout"
target = 99.9
repair_time = {{ critical = "1h" }}
"#,
            shop.url("/"),
            shop.url("/checkout")
        ),
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let from = rfc3339(std::time::SystemTime::now());
    let to = rfc3339(std::time::SystemTime::now() + Duration::from_secs(86_400));
    let sla = |extra: &[&str]| {
        let mut args = vec!["sla", "-c", c, "--from", &from, "--to", &to];
        args.extend_from_slice(extra);
        run(&args)
    };

    let _daemon = start_daemon(&cfg);
    // The service's incidents: the contract's own checks (burn rate,
    // repair deadlines) alert about this outage too, on their own clock.
    let incidents = |only_open: bool| {
        let mut args = vec!["incidents", "--json", "-c", c];
        if only_open {
            args.push("--open");
        }
        let all = json(&run(&args));
        let ours: Vec<serde_json::Value> = all
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| !is_sla_check(&i["check"]))
            .cloned()
            .collect();
        serde_json::Value::Array(ours)
    };
    wait_for("results of both checks", Duration::from_secs(20), || {
        let doc = json(&run(&["status", "--json", "-c", c]));
        doc.as_array().is_some_and(|rows| {
            rows.iter()
                .filter(|r| r["status"] == "up" && !is_sla_check(&r["check"]))
                .count()
                == 2
        })
    });
    broken.store(true, Ordering::SeqCst);
    wait_for("an open incident", Duration::from_secs(20), || {
        incidents(true).as_array().is_some_and(|a| !a.is_empty())
    });
    broken.store(false, Ordering::SeqCst);
    wait_for("the incident resolved", Duration::from_secs(20), || {
        incidents(true).as_array().is_some_and(|a| a.is_empty())
    });

    // While the daemon runs.
    let doc = json(&sla(&["--json"]));
    let figures = &doc.as_array().expect("a list of figures")[0];
    assert_eq!(figures["contract"], "front");
    let availability = figures["availability"].as_f64().expect("availability");
    assert!(availability < 100.0, "{figures}");
    let down_ms = figures["down_ms"].as_i64().unwrap();
    assert!(down_ms > 0, "{figures}");
    assert_eq!(figures["incident_count"], 1, "{figures}");
    let incident = &figures["incidents"][0];
    assert_eq!(incident["check"], "shop/checkout");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(incident["repair"]["breached"], false, "{incident}");
    let (opened, resolved) = (
        incident["opened_at"].as_i64().unwrap(),
        incident["resolved_at"].as_i64().expect("resolved"),
    );
    // The service was down from the first failed probe to the recovery,
    // as the incident says.
    assert_eq!(down_ms, resolved - opened, "{figures}");
    assert!(figures["mttr_ms"].as_i64().is_some(), "{figures}");
    let intervals = figures["intervals"].as_array().unwrap();
    assert!(
        intervals
            .iter()
            .any(|i| i["class"] == "down" && i["because"][0] == "shop/checkout"),
        "{figures}"
    );

    let o = sla(&["--explain"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.lines().next().unwrap().starts_with("contract"), "{out}");
    assert!(
        out.contains("front") && out.contains("shop/checkout"),
        "{out}"
    );
    assert!(out.contains("availability: ("), "{out}");
    assert!(out.contains("repair ") && out.contains(" of 1h"), "{out}");

    let o = sla(&["--csv"]);
    let csv = stdout(&o);
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.lines().nth(1).unwrap().starts_with("front,shop,"),
        "{csv}"
    );

    let o = run(&["sla", "-c", c, "--contract", "nope"]);
    assert_eq!(o.status.code(), Some(2), "errors exit 2");
    assert!(
        stderr(&o).contains("no contract matches --contract nope (configured: front)"),
        "{}",
        stderr(&o)
    );
    let o = run(&["sla", "-c", c, "--month", "2026-13"]);
    assert_eq!(o.status.code(), Some(2), "errors exit 2");
    assert!(
        stderr(&o).contains("\"2026-13\" is not a month"),
        "{}",
        stderr(&o)
    );
    drop(shop);
}

/// A month of the daemon's write path on a simulated clock: each minute
/// the two checks' results go into the store and through the incident
/// engine, as the recorder does; outages come from a fixed generator
/// (overlapping across the checks, one across each month boundary) and
/// the daemon is stopped for a while and resumed. `keepup sla` on that
/// store then shows exactly the incidents the engine opened: downtime is
/// the union of their first failure to recovery within the month, the
/// stop is unknown time, and the incidents detected in the month are
/// counted.
#[test]
fn a_simulated_month_gives_the_figures_of_the_incidents_it_opened() {
    use keepup_model::{Outcome, Status};
    use keepup_monitor::incidents::IncidentEngine;
    use keepup_store::Store;

    const MINUTE: i64 = 60_000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(
        &cfg,
        r#"[defaults]
interval = "60s"
timeout = "10s"
failure_threshold = 1
flap_changes = 0
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[site.check]]
id = "checkout"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[contract]]
id = "front"
site = "shop"
down_when = "web | checkout"
target = 99.5
time_zone = "Europe/Berlin"
"#,
    )
    .unwrap();
    let config = keepup_config::load(&cfg).unwrap_or_else(|p| panic!("{p}"));
    let checks: Vec<_> = config.shared_checks().cloned().collect();
    // March 2026 in Berlin (the clocks go forward on the 29th).
    let month_from = "2026-03-01T00:00:00+01:00"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let month_to = "2026-04-01T00:00:00+02:00"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    let start = month_from - 2 * 1440 * MINUTE;
    let end = month_to + 2 * 1440 * MINUTE;
    let stop = (
        month_from + 10 * 1440 * MINUTE,
        month_from + 10 * 1440 * MINUTE + 200 * MINUTE,
    );

    // Outages per check: (from, to) on whole minutes, none during the stop.
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut outages: [Vec<(i64, i64)>; 2] = [vec![], vec![]];
    outages[0].push((month_from - 30 * MINUTE, month_from + 45 * MINUTE));
    outages[1].push((month_to - 20 * MINUTE, month_to + 10 * MINUTE));
    for list in outages.iter_mut() {
        for _ in 0..25 {
            let from = start + (next(((end - start) / MINUTE - 400) as u64) as i64) * MINUTE;
            let to = from + (2 + next(240) as i64) * MINUTE;
            let clear = |a: i64, b: i64| a >= to || b <= from;
            if clear(stop.0 - 5 * MINUTE, stop.1 + 5 * MINUTE)
                && list.iter().all(|&(a, b)| clear(a - MINUTE, b + MINUTE))
            {
                list.push((from, to));
            }
        }
    }

    let store = Store::open(&config.store.path).unwrap();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let down = Outcome::new(Status::Down, "connection refused");
    let up = Outcome::new(Status::Up, "connected");
    let mut t = start;
    while t < end {
        if t == stop.0 {
            // The daemon stops; a new one starts after the gap.
            store.end_open_spans(t).unwrap();
            t = stop.1;
            engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
            store.end_open_spans(t).unwrap();
        }
        let outcomes: Vec<&Outcome> = outages
            .iter()
            .map(|list| {
                if list.iter().any(|&(a, b)| a <= t && t < b) {
                    &down
                } else {
                    &up
                }
            })
            .collect();
        support::record_round(&store, &mut engine, &checks, &outcomes, t);
        t += MINUTE;
    }
    drop(engine);
    drop(store);

    let o = run(&[
        "sla",
        "-c",
        cfg.to_str().unwrap(),
        "--month",
        "2026-03",
        "--json",
    ]);
    let figures = &json(&o)[0];

    // The expectation, from the incidents the engine opened.
    let store = Store::open_read_only(&config.store.path).unwrap();
    let incidents = store.incidents(start, end, 10_000).unwrap();
    assert!(incidents.len() > 20, "{} incidents", incidents.len());
    let mut parts: Vec<(i64, i64)> = incidents
        .iter()
        .map(|i| {
            (
                i.opened_at.max(month_from),
                i.resolved_at.expect("resolved").min(month_to),
            )
        })
        .filter(|(a, b)| a < b)
        .collect();
    parts.sort_unstable();
    let mut union = 0;
    let mut reach = i64::MIN;
    for (a, b) in parts {
        let a = a.max(reach);
        if b > a {
            union += b - a;
        }
        reach = reach.max(b);
    }
    let counted = incidents
        .iter()
        .filter(|i| month_from <= i.detected_at && i.detected_at < month_to)
        .count();
    assert_eq!(figures["down_ms"].as_i64().unwrap(), union);
    assert_eq!(
        figures["incident_count"].as_u64().unwrap() as usize,
        counted
    );
    assert_eq!(
        figures["unknown_ms"].as_i64().unwrap(),
        stop.1 - stop.0,
        "{figures}"
    );
    assert_eq!(
        figures["service_ms"].as_i64().unwrap(),
        month_to - month_from
    );
    let measured = (month_to - month_from) - (stop.1 - stop.0);
    let expected = 100.0 * (measured - union) as f64 / measured as f64;
    let got = figures["availability"].as_f64().unwrap();
    assert!((got - expected).abs() < 1e-9, "{got} vs {expected}");
    // The outage across the start of the month is split there and counted
    // in February, where it was detected.
    let first = &figures["incidents"][0];
    assert_eq!(
        first["in_period"][0].as_i64().unwrap(),
        month_from,
        "{first}"
    );
    assert_eq!(first["counted"], false);
}
