//! A restic REST server on loopback: `rclone serve restic` (Debian
//! `rclone`) serving a temporary directory, optionally with basic auth.
//!
//! Repositories live under the served directory: `rest:http://ADDR/NAME/`
//! is the directory `dir()/NAME`. The server is killed on drop, and by the
//! kernel if the test process dies first (parent-death signal).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::launch::Launched;

/// A running `rclone serve restic`.
pub struct RcloneRestServer {
    _process: Launched,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    user: Option<String>,
    scheme: &'static str,
}

impl RcloneRestServer {
    /// Starts the server on 127.0.0.1 and a free port; with `auth` =
    /// `Some((user, password))` every request needs basic auth.
    pub fn start(auth: Option<(&str, &str)>) -> io::Result<Self> {
        Self::start_with(auth, None)
    }

    /// Like [`start`](Self::start), serving HTTPS when `tls` gives
    /// `(certificate chain PEM file, key PEM file)`.
    pub fn start_with(auth: Option<(&str, &str)>, tls: Option<(&Path, &Path)>) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let root = dir.path().join("served");
        std::fs::create_dir(&root)?;
        let port = crate::ports::free_port(Ipv4Addr::LOCALHOST)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut cmd = Command::new("rclone");
        cmd.arg("serve")
            .arg("restic")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--config")
            .arg(dir.path().join("rclone.conf"))
            .arg("--cache-dir")
            .arg(dir.path().join("cache"));
        if let Some((u, p)) = auth {
            cmd.arg("--user").arg(u).arg("--pass").arg(p);
        }
        if let Some((cert, key)) = tls {
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        cmd.arg(&root);
        let process = Launched::start(
            &mut cmd,
            "rclone (Debian package rclone)",
            &dir.path().join("rclone.log"),
            addr,
        )?;
        Ok(Self {
            _process: process,
            addr,
            dir,
            user: auth.map(|(u, _)| u.to_owned()),
            scheme: if tls.is_some() { "https" } else { "http" },
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The restic location of repository `name`, e.g.
    /// `rest:http://user@127.0.0.1:PORT/name/` (no password; `https` when
    /// serving TLS).
    pub fn location(&self, name: &str) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("rest:{}://{user}{}/{name}/", self.scheme, self.addr)
    }

    /// The same location with the password in it, for the `restic` tool
    /// (`-r`), which takes it there.
    pub fn location_with_password(&self, name: &str, password: &str) -> String {
        match &self.user {
            Some(u) => format!(
                "rest:{}://{u}:{password}@{}/{name}/",
                self.scheme, self.addr
            ),
            None => self.location(name),
        }
    }

    /// The served directory: repository `name` is `dir().join(name)`.
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// rclone's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rclone.log")).unwrap_or_default()
    }

    /// The temporary directory holding everything.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}
