//! chromedriver (Debian `chromium-driver`) on a free loopback port, for the
//! web dashboard's end-to-end tests: a WebDriver client connects to
//! [`Chromedriver::url`] and asks for a session with
//! [`Chromedriver::capabilities`], which run Debian's headless Chromium on a
//! fresh profile in the launcher's temporary directory.
//!
//! chromedriver and the browsers it started are killed on drop, and by the
//! kernel if the test process dies first (parent-death signal); the
//! profile goes with the temporary directory.

use crate::launch::{kill_with_parent, wait_listening};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where Debian installs the browser chromedriver drives.
const CHROMIUM: &str = "/usr/bin/chromium";

/// A running chromedriver.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Chromedriver {
    /// Starts chromedriver on 127.0.0.1 and a free port, accepting
    /// connections from loopback only. A driver that exits before it
    /// listens (the free port taken by another test in between) is started
    /// again on another port, up to three times.
    pub fn start() -> io::Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once() {
                Ok(driver) => return Ok(driver),
                Err(e) if attempt < 3 => {
                    eprintln!("chromedriver did not start (attempt {attempt}): {e}");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = dir.path().join("chromedriver.log");
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // The browser's caches and crash reports stay in the temporary
            // directory too.
            .env("HOME", dir.path());
        kill_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run chromedriver (Debian package chromium-driver): {e}"),
            )
        })?;
        if let Err(e) = wait_listening(&mut child, addr, &log, Duration::from_secs(30)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        Ok(Self { child, addr, dir })
    }

    /// The WebDriver endpoint, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The capabilities of a headless Chromium session with a window of
    /// `width` × `height` CSS pixels, a profile in this launcher's
    /// directory, no first-run or network chatter, and the light or dark
    /// colour scheme.
    pub fn capabilities(
        &self,
        width: u32,
        height: u32,
        dark: bool,
    ) -> serde_json::Map<String, serde_json::Value> {
        let profile = self.dir.path().join("profile");
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--metrics-recording-only".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        if dark {
            args.push("--force-dark-mode".to_owned());
        }
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        match capabilities {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// chromedriver's log so far (why a session failed to start).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default()
    }

    /// The temporary directory (profile and log).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
