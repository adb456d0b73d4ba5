//! `keepup sla` end to end: a real daemon records a real outage of a
//! loopback shop into its store, and `keepup sla` reads the figures from
//! that store while the daemon keeps running.

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
    let incidents = |only_open: bool| {
        let mut args = vec!["incidents", "--json", "-c", c];
        if only_open {
            args.push("--open");
        }
        json(&run(&args))
    };
    wait_for("results of both checks", Duration::from_secs(20), || {
        let doc = json(&run(&["status", "--json", "-c", c]));
        doc.as_array()
            .is_some_and(|rows| rows.iter().filter(|r| r["status"] == "up").count() == 2)
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
