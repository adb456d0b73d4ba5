//! A restic REST server on loopback: `rclone serve restic` (Debian
//! `rclone`) serving a temporary directory, optionally with basic auth.
//!
//! Repositories live under the served directory: `rest:http://ADDR/NAME/`
//! is the directory `dir()/NAME`. The server is killed on drop, and by the
//! kernel if the test process dies first (parent-death signal).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `rclone serve restic`.
pub struct RcloneRestServer {
    child: Child,
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
        cmd.arg(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(
                dir.path().join("rclone.log"),
            )?));
        kill_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run rclone (Debian package rclone): {e}"),
            )
        })?;
        let mut server = Self {
            child,
            addr,
            dir,
            user: auth.map(|(u, _)| u.to_owned()),
            scheme: if tls.is_some() { "https" } else { "http" },
        };
        let log = server.dir.path().join("rclone.log");
        wait_listening(&mut server.child, addr, &log, Duration::from_secs(30))?;
        Ok(server)
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

impl Drop for RcloneRestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether something accepts connections on `addr`.
pub(crate) fn is_listening(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Makes the kernel kill the child when this process dies (tests killed
/// mid-run do not leave servers behind).
pub(crate) fn kill_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork
    // and exec here.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Waits until `addr` accepts connections; fails with the log's tail when
/// the child exits first or `limit` passes.
pub(crate) fn wait_listening(
    child: &mut Child,
    addr: SocketAddr,
    log: &Path,
    limit: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        if is_listening(addr) {
            return Ok(());
        }
        let tail = || crate::dbproc::log_tail(log);
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!(
                "server exited ({status}) before listening on {addr}: {}",
                tail()
            )));
        }
        if Instant::now() > deadline {
            return Err(io::Error::other(format!(
                "server not listening on {addr} after {limit:?}: {}",
                tail()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
