//! The demo's disaster recovery, end to end with the real binary: `keepup
//! demo` loses production, `keepup dr activate` restores the standby from
//! the demo's backup, switches the shop's names with a TSIG-signed update
//! of the demo DNS and verifies the storefront there, recording the RTO;
//! `keepup dr return` brings production back.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn keepup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(args)
        .output()
        .expect("keepup runs")
}

/// Kills the demo when the test ends, passed or not.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The demo DNS's port, from the generated configuration's `[dns]`.
fn dns_port(config: &str) -> String {
    let text = std::fs::read_to_string(config).expect("the demo's configuration");
    text.lines()
        .find_map(|l| l.strip_prefix("port = "))
        .expect("[dns] port")
        .trim()
        .to_owned()
}

/// `kdig` asks both of the shop's name servers (the demo's) for www.
fn www_at(port: &str) -> Vec<String> {
    ["127.77.0.4", "127.77.0.5"]
        .iter()
        .map(|ns| {
            let out = Command::new("kdig")
                .args([
                    "+short",
                    &format!("@{ns}"),
                    "-p",
                    port,
                    "www.demo-shop.test",
                    "A",
                ])
                .output()
                .expect("kdig runs (knot-dnsutils)");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .collect()
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < until, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn production_lost_then_dr_activate_switches_the_demo_to_its_standby_and_return_brings_it_back() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("demo");
    let demo = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(["demo", "--for", "10m", "--every", "0"])
        .args(["--lose-production-after", "1s", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepup demo runs");
    let _demo = Demo(demo);
    let config = dir.join("keepup.toml");
    let c = config.to_str().expect("utf-8 path");
    wait_for("production lost", Duration::from_secs(60), || {
        dir.join("production-lost").exists()
    });
    let port = dns_port(c);
    assert_eq!(www_at(&port), ["127.0.0.1", "127.0.0.1"]);
    // The key file is the demo's secret: never shown.
    let secret = std::fs::read_to_string(dir.join("tsig.key")).expect("the key file");
    let secret = secret.trim();
    assert!(!secret.is_empty());

    // The first backup runs at the next whole minute.
    wait_for("a backup of the shop", Duration::from_secs(120), || {
        let o = keepup(&["backup", "list", "shop", "-c", c, "--json"]);
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("\"short_id\"")
    });
    let before = Instant::now();
    // The daemon drills the plan every five minutes; a drill in progress
    // holds the plan for a few seconds.
    let held = |o: &Output| String::from_utf8_lossy(&o.stderr).contains("in progress");
    let mut activate = keepup(&["dr", "activate", "shop-dr", "-c", c, "--yes"]);
    while held(&activate) && before.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_secs(2));
        activate = keepup(&["dr", "activate", "shop-dr", "-c", c, "--yes"]);
    }
    let (out, err) = (
        String::from_utf8_lossy(&activate.stdout).into_owned(),
        String::from_utf8_lossy(&activate.stderr).into_owned(),
    );
    assert!(activate.status.success(), "{out}\n{err}");
    assert!(out.contains("completed") && out.contains("RTO "), "{out}");
    assert!(!out.contains(secret) && !err.contains(secret));
    eprintln!("activation took {:?}: {out}", before.elapsed());

    // The demo DNS serves the standby on both name servers.
    assert_eq!(www_at(&port), ["127.77.0.20", "127.77.0.20"]);
    // The standby serves the shop from the files restored into its own
    // directory.
    let media = dir.join("shop-media");
    let restored = dir
        .join("standby")
        .join(media.strip_prefix("/").expect("absolute"));
    assert!(restored.join("product-0.txt").is_file(), "{restored:?}");
    // The RTO is in the journal.
    let status = keepup(&["dr", "status", "-c", c]);
    let status_out = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{status_out}");
    assert!(
        status_out.contains("activate") && status_out.contains("completed"),
        "{status_out}"
    );
    // The daemon's own checks follow the switch: home Up again.
    wait_for("the daemon sees home Up", Duration::from_secs(120), || {
        let o = keepup(&["status", "-c", c]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.contains("shop/home") && l.contains("UP"))
    });

    let mut back = keepup(&["dr", "return", "shop-dr", "-c", c, "--yes"]);
    let returning = Instant::now();
    while held(&back) && returning.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_secs(2));
        back = keepup(&["dr", "return", "shop-dr", "-c", c, "--yes"]);
    }
    let back_out = String::from_utf8_lossy(&back.stdout);
    assert!(
        back.status.success(),
        "{back_out}\n{}",
        String::from_utf8_lossy(&back.stderr)
    );
    assert!(!dir.join("production-lost").exists());
    assert_eq!(www_at(&port), ["127.0.0.1", "127.0.0.1"]);
    assert!(Path::new(&dir).join("tsig.key").exists());
}
