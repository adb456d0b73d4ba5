//! A real SMTP server that keeps what it receives: aiosmtpd (PyPI) running
//! `smtp_sink.py`, on a free (or chosen) loopback port, with STARTTLS,
//! implicit TLS or none, and optional AUTH. Each accepted message is kept
//! as `N.eml` and as `N.json`, what Python's standard e-mail parser reads
//! in it (envelope, headers, text and HTML bodies, every MIME part with
//! its content type, disposition, file name and decoded content), so tests
//! check the mail keepup sent with a parser that is not keepup's.

use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::pki::{Issued, PemPaths};

/// Makes sure `python3` can import aiosmtpd, installing it from PyPI for
/// the user if needed (scripts/test.sh does the same up front).
pub fn ensure_aiosmtpd() -> io::Result<()> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
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
                    let installed = Command::new("python3")
                        .args(["-m", "pip", "install", "--user", "--quiet", "aiosmtpd"])
                        .args(extra)
                        .status()
                        .is_ok_and(|s| s.success());
                    if installed {
                        break;
                    }
                }
            }
            if importable() {
                Ok(())
            } else {
                Err("aiosmtpd cannot be installed (python3 -m pip install --user aiosmtpd)".into())
            }
        })
        .clone()
        .map_err(io::Error::other)
}

/// How the sink protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    /// STARTTLS required on the plain port.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// No TLS.
    None,
}

/// What to start.
#[derive(Debug, Default)]
pub struct SmtpOptions<'a> {
    /// The server's certificate (needed unless the mode is `None`).
    pub cert: Option<&'a Issued>,
    /// Require AUTH with this user and password.
    pub auth: Option<(&'a str, &'a str)>,
    /// Listen on this port instead of a free one.
    pub port: Option<u16>,
}

/// A running sink; killed when dropped.
pub struct SmtpSink {
    child: Child,
    /// The port it listens on (on 127.0.0.1).
    pub port: u16,
    dir: tempfile::TempDir,
    _pem: Option<(tempfile::TempDir, PemPaths)>,
}

impl SmtpSink {
    /// Starts the sink.
    pub fn start(mode: SmtpMode, options: SmtpOptions<'_>) -> io::Result<Self> {
        ensure_aiosmtpd()?;
        let dir = tempfile::tempdir()?;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(&script).arg("--dir").arg(dir.path());
        cmd.arg("--mode").arg(match mode {
            SmtpMode::StartTls => "starttls",
            SmtpMode::Implicit => "implicit",
            SmtpMode::None => "none",
        });
        let pem = match options.cert {
            Some(c) => Some(c.write_to_temp_dir()?),
            None => None,
        };
        if let Some((_, paths)) = &pem {
            cmd.arg("--cert")
                .arg(&paths.chain)
                .arg("--key")
                .arg(&paths.key);
        }
        if let Some((user, password)) = options.auth {
            cmd.args(["--user", user, "--password", password]);
        }
        if let Some(port) = options.port {
            cmd.args(["--port", &port.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            BufReader::new(stdout).read_line(&mut line)?;
        }
        let Some(port) = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "the SMTP sink did not start: {line:?}"
            )));
        };
        Ok(Self {
            child,
            port,
            dir,
            _pem: pem,
        })
    }

    /// The messages received so far (as Python's e-mail parser read
    /// them), oldest first.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .filter_map(|p| {
                let n = p.file_stem()?.to_str()?.parse().ok()?;
                Some((n, p))
            })
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|(_, p)| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
            .collect()
    }

    /// Waits (up to five seconds) until `n` messages arrived; returns
    /// those there are.
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
