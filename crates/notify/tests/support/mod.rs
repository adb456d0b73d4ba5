//! Shared pieces of the channel tests: channels built from real
//! configuration text, a certificate authority, a real SMTP server
//! (aiosmtpd) and an HTTP receiver that validates provider payloads.

#![allow(dead_code)]

pub mod providers;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keepup_model::{Severity, Status};
use keepup_notify::{CheckSummary, Event, HttpClientContext, Notification};
use keepup_testkit::pki::{CertAuthority, Issued, validity};

/// Loads `toml` (relative `*_file` paths resolve in `dir`) and returns its
/// channels, panicking with every problem when it does not load.
pub fn channels(dir: &Path, toml: &str) -> Vec<keepup_config::channels::Channel> {
    match keepup_config::load_str(toml, &dir.join("keepup.toml")) {
        Ok(c) => c.channels,
        Err(p) => panic!("the test configuration does not load:\n{p}\n{toml}"),
    }
}

/// Builds the channel with this id from `toml`.
pub fn channel(
    dir: &Path,
    toml: &str,
    id: &str,
    ctx: &HttpClientContext,
) -> Box<dyn keepup_notify::Channel> {
    let all = channels(dir, toml);
    let spec = all
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no channel {id}"));
    keepup_notify::build(spec, ctx)
}

/// Writes a secret file `name` into `dir`.
pub fn secret_file(dir: &Path, name: &str, value: &str) {
    std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
}

/// A CA and a server certificate for 127.0.0.1 and localhost.
pub fn pki() -> (CertAuthority, Issued) {
    let ca = CertAuthority::new("keepup-notify test root").unwrap();
    let leaf = ca
        .issue(&["localhost", "127.0.0.1"], validity::current())
        .unwrap();
    (ca, leaf)
}

/// A client context that trusts only `ca`.
pub fn ctx_trusting(ca: &CertAuthority) -> HttpClientContext {
    HttpClientContext::builder()
        .system_roots(false)
        .ca_pem(ca.root_pem().as_bytes())
        .unwrap()
        .build()
}

/// A grouped-capable trigger for `dedup_key`.
pub fn trigger(id: &str, dedup_key: &str) -> Notification {
    Notification {
        id: id.into(),
        dedup_key: dedup_key.into(),
        event: Event::Trigger,
        severity: Severity::Critical,
        title: "shop/checkout is DOWN".into(),
        text: "Checkout answers HTTP 500 since 03:12.".into(),
        site: "shop".into(),
        checks: vec![CheckSummary {
            id: "shop/checkout".into(),
            name: "Checkout".into(),
            status: Status::Down,
            message: "HTTP 500 Internal Server Error".into(),
            since: Some(1_700_000_000_000),
        }],
        started_at: Some(1_700_000_000_000),
        resolved_at: None,
        duration_s: None,
        ack_url: Some("https://keepup.example/ack/7?sig=abc".into()),
        cause: None,
    }
}

/// The resolution of [`trigger`].
pub fn resolve(id: &str, dedup_key: &str) -> Notification {
    let mut n = trigger(id, dedup_key);
    n.event = Event::Resolve;
    n.severity = Severity::Info;
    n.title = "shop/checkout is UP again".into();
    n.text = "Checkout works again.".into();
    n.checks[0].status = Status::Up;
    n.resolved_at = Some(1_700_000_754_000);
    n.duration_s = Some(754);
    n
}

// ---------------------------------------------------------------------------
// aiosmtpd
// ---------------------------------------------------------------------------

/// Makes sure `python3` can import aiosmtpd, installing it from PyPI for
/// the user if needed (scripts/test.sh does the same up front).
pub fn ensure_aiosmtpd() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let importable = || {
            Command::new("python3")
                .args(["-c", "import aiosmtpd"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !importable() {
            // Debian's own Python refuses --user installs without the
            // second flag (PEP 668); other Pythons accept the first form.
            for extra in [&[][..], &["--break-system-packages"][..]] {
                let status = Command::new("python3")
                    .args(["-m", "pip", "install", "--user", "--quiet", "aiosmtpd"])
                    .args(extra)
                    .status()
                    .expect("python3 is needed for the SMTP tests");
                if status.success() {
                    break;
                }
            }
            assert!(
                importable(),
                "aiosmtpd cannot be installed (python3 -m pip install --user aiosmtpd)"
            );
        }
    });
}

/// How the SMTP sink protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    StartTls,
    Implicit,
    None,
}

/// A running aiosmtpd; killed when dropped.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    _pem: Option<(tempfile::TempDir, keepup_testkit::pki::PemPaths)>,
}

impl SmtpSink {
    /// Starts the sink with `leaf` as its certificate (unless `mode` is
    /// `None`) and, when given, requiring AUTH with `user`/`password`.
    pub fn start(mode: SmtpMode, leaf: Option<&Issued>, auth: Option<(&str, &str)>) -> Self {
        ensure_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg("--dir").arg(dir.path());
        cmd.arg("--mode").arg(match mode {
            SmtpMode::StartTls => "starttls",
            SmtpMode::Implicit => "implicit",
            SmtpMode::None => "none",
        });
        let pem = leaf.map(|l| l.write_to_temp_dir().unwrap());
        if let Some((_, paths)) = &pem {
            cmd.arg("--cert")
                .arg(&paths.chain)
                .arg("--key")
                .arg(&paths.key);
        }
        if let Some((user, password)) = auth {
            cmd.args(["--user", user, "--password", password]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start python3");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("the SMTP sink did not start: {line:?}")
            });
        Self {
            child,
            port,
            dir,
            _pem: pem,
        }
    }

    /// The messages received so far (as Python's e-mail parser read
    /// them), oldest first.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort_by_key(|p| {
            p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(0)
        });
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits (a little) until `n` messages arrived.
    pub fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let m = self.messages();
            if m.len() >= n || Instant::now() > until {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
