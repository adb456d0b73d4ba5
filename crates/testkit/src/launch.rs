//! Starting a Debian server binary for a test: the launch every external
//! server of this crate shares (nginx, vsftpd, node_exporter, rclone, and
//! the pieces sshd, chromedriver and moto use): stdin and stdout closed,
//! stderr into a log file, killed by the kernel if the test process dies
//! first (parent-death signal), started once it accepts connections, and
//! killed when its [`Launched`] is dropped. The caller writes the
//! configuration in its temporary directory and picks the free port.
//!
//! Servers that need a graceful stop and a process group of their own
//! (the databases) use `dbproc::ServerProcess` instead.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to listen: generous, since Tomcat's JVM
/// starts in about 4 s on an idle machine but many times that while the
/// whole suite runs on two cores; only a server that never listens waits
/// this long.
const START_LIMIT: Duration = Duration::from_secs(90);

/// A running server process, killed on drop.
pub(crate) struct Launched(Child);

impl Launched {
    /// Runs `cmd` with its stderr in `log` and waits until it listens on
    /// `addr`; `what` names the program and its Debian package for the
    /// error when it cannot run ("nginx (Debian package nginx-light)").
    pub(crate) fn start(
        cmd: &mut Command,
        what: &str,
        log: &Path,
        addr: SocketAddr,
    ) -> io::Result<Self> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(log)?));
        kill_with_parent(cmd);
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {what}: {e}")))?;
        // Dropped (and so killed) if it never listens.
        let mut launched = Self(child);
        wait_listening(&mut launched.0, addr, log, START_LIMIT)?;
        Ok(launched)
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether something accepts connections on `addr`.
fn is_listening(addr: SocketAddr) -> bool {
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
