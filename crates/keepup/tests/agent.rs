//! `keepup agent` as shipped: one report for people and as JSON, the
//! configuration it proposes (which must validate), its refusals, and
//! push mode end to end against `keepup run`.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn keepup() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keepup"));
    c.env_remove("KEEPUP_CONFIG").env("KEEPUP_LOG", "info");
    c
}

fn run(args: &[&str]) -> Output {
    keepup().args(args).output().expect("keepup runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (a minute at most) until `keepup status` shows `check`, the
/// configuration's only check, up.
fn wait_until_up(cfg: &Path, check: &str) {
    let mut last = String::new();
    for _ in 0..120 {
        let out = run(&["status", "-c", cfg.to_str().unwrap(), "--json"]);
        last = text(&out.stdout);
        if last.contains(&format!("\"{check}\"")) && last.contains("\"up\"") {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{check} never turned up: {last}");
}

fn token_file(dir: &Path, mode: u32) -> std::path::PathBuf {
    let path = dir.join("agent-token");
    std::fs::write(&path, "agent-token-0123456789\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[test]
fn once_prints_this_host_for_people_and_as_json() {
    let out = run(&["agent", "--once", "--name", "here"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("(agent here)") && table.contains("\nMOUNT "),
        "{table}"
    );
    let out = run(&["agent", "--once", "--json", "--name", "here"]);
    let report: keepup_model::host::HostReport =
        serde_json::from_slice(&out.stdout).expect("a host report");
    assert_eq!(report.agent, "here");
    assert!(report.mounts.iter().any(|m| m.path == "/"));
    assert!(
        report.cpu.is_some(),
        "--once samples twice, so the CPU shares are there"
    );
}

#[test]
fn the_proposed_configuration_validates() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["agent", "--print-config", "--name", "web1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let proposed = text(&out.stdout);
    assert!(
        proposed.contains("kind = \"host\"") && proposed.contains("disk.\"/\""),
        "{proposed}"
    );
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(
        dir.path().join("secrets/web1-agent"),
        "agent-token-0123456789",
    )
    .unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, &proposed).unwrap();
    let v = run(&["validate", "-c", cfg.to_str().unwrap()]);
    assert!(
        v.status.success(),
        "{proposed}\n{}{}",
        text(&v.stdout),
        text(&v.stderr)
    );
}

#[test]
fn a_token_others_can_read_or_a_bad_watch_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let open = token_file(dir.path(), 0o644);
    let out = run(&[
        "agent",
        "--central",
        "http://127.0.0.1:1",
        "--token-file",
        open.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("can be read by other users; chmod 600"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["agent", "--once", "--process", "nameonly"]);
    assert!(
        text(&out.stderr).contains("write NAME=REGEX, NAME@USER or NAME@USER=REGEX"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn pushed_reports_reach_the_daemon_and_its_host_check() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path(), 0o600);
    let port = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"

[store]
path = "k.db"

[[agent]]
name = "here"
token_file = "agent-token"
interval = "1s"

[[site]]
id = "s"

[[site.check]]
id = "here"
kind = "host"
agent = "here"
disk."/" = {{ crit = "100%" }}
reboot_window = "1s"
"#
        ),
    )
    .unwrap();
    let mut daemon = keepup()
        .args(["run", "-c", cfg.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = daemon.stderr.take().unwrap();
    let _daemon = Killed(daemon);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("keepup is monitoring") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the daemon starts");
    let _agent = Killed(
        keepup()
            .args([
                "agent",
                "--central",
                &format!("http://127.0.0.1:{port}"),
                "--name",
                "here",
                "--token-file",
                token.to_str().unwrap(),
                "--interval",
                "1s",
                "--state-dir",
                dir.path().join("agent").to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&cfg, "s/here");
}

#[test]
fn a_pulled_agent_serves_its_reports_over_tls_to_the_daemon_only() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path(), 0o600);
    let ca = keepup_pki::CertAuthority::new("agent test CA").unwrap();
    let leaf = ca
        .issue(&["127.0.0.1"], keepup_pki::validity::current())
        .unwrap();
    std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.ca_pem()).unwrap();
    let ports = keepup_testkit::ports::free_ports(std::net::Ipv4Addr::LOCALHOST, 2).unwrap();
    let (agent_port, central_port) = (ports[0], ports[1]);
    let _agent = Killed(
        keepup()
            .args(["agent", "--name", "pulled", "--interval", "1s"])
            .args(["--listen", &format!("127.0.0.1:{agent_port}")])
            .args(["--tls-cert", dir.path().join("cert.pem").to_str().unwrap()])
            .args(["--tls-key", dir.path().join("key.pem").to_str().unwrap()])
            .args(["--token-file", token.to_str().unwrap()])
            .args(["--state-dir", dir.path().join("agent").to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[server]
listen = "127.0.0.1:{central_port}"

[store]
path = "k.db"

[[agent]]
name = "pulled"
token_file = "agent-token"
mode = "pull"
url = "https://127.0.0.1:{agent_port}/report"
ca_file = "ca.pem"
interval = "1s"

[[site]]
id = "s"

[[site.check]]
id = "pulled"
kind = "host"
agent = "pulled"
disk."/" = {{ crit = "100%" }}
reboot_window = "1s"
"#
        ),
    )
    .unwrap();
    let _daemon = Killed(
        keepup()
            .args(["run", "-c", cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until_up(&cfg, "s/pulled");

    // Anyone without the token gets nothing from the agent.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = keepup_notify::HttpClientContext::builder()
        .ca_pem(ca.ca_pem().as_bytes())
        .unwrap()
        .build();
    let url = format!("https://127.0.0.1:{agent_port}/report");
    let (status, _) = rt
        .block_on(keepup_notify::bearer_request(
            &ctx,
            "agent",
            &url,
            "not-the-token-000000",
            None,
            Duration::from_secs(10),
            4096,
        ))
        .unwrap();
    assert_eq!(status.as_u16(), 401);
}
