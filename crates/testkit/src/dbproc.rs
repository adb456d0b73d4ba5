//! Process plumbing shared by the database launchers ([`crate::postgres`],
//! [`crate::mariadb`]), and in part by the mail launchers: finding the
//! Debian-packaged binaries, dropping root for the server (PostgreSQL
//! refuses to run as root, MariaDB dislikes it), the tail of a server's
//! log, and a server process that is stopped when dropped — and by a
//! watchdog when the test process dies without dropping it. Free ports are
//! [`crate::ports`]'s.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to stop on its stop signal before its whole
/// process group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The unprivileged account a server runs as: `Some((uid, gid))` when this
/// process is root (the server then runs as the first of `names` that
/// exists), `None` when it already is unprivileged (the server runs as us).
pub(crate) fn server_account(names: &[&str]) -> io::Result<Option<(u32, u32)>> {
    if !is_root() {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd")?;
    for name in names {
        let found = passwd.lines().find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != *name {
                return None;
            }
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((uid, gid))
        });
        if found.is_some() {
            return Ok(found);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("none of the system users {names:?} exists to run the server as"),
    ))
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Makes `cmd` run as `account` (from [`server_account`]).
pub(crate) fn run_as(cmd: &mut Command, account: Option<(u32, u32)>) -> &mut Command {
    if let Some((uid, gid)) = account {
        // std drops the supplementary groups too when root changes uid.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Hands `path` and everything below it to `account`.
pub(crate) fn chown_tree(path: &Path, account: Option<(u32, u32)>) -> io::Result<()> {
    let Some((uid, gid)) = account else {
        return Ok(());
    };
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    if fs::symlink_metadata(path)?.is_dir() {
        for entry in fs::read_dir(path)? {
            chown_tree(&entry?.path(), account)?;
        }
    }
    Ok(())
}

/// `program` in the first of `dirs` that has it, or an error naming the
/// Debian package to install.
pub(crate) fn require(dirs: &[&Path], program: &str, package: &str) -> io::Result<PathBuf> {
    dirs.iter()
        .map(|d| d.join(program))
        .find(|p| p.exists())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{program} not found: install the Debian package {package} (scripts/test.sh does)"
                ),
            )
        })
}

/// The standard binary directories.
pub(crate) const SYSTEM_BIN: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The last lines of a log file, for the error of a server that did not
/// start (every launcher's).
pub(crate) fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Runs `cmd` (stdout and stderr captured) feeding `stdin` to it, and
/// returns its stdout, or an error with its stderr when it fails.
pub(crate) fn run_capture(cmd: &mut Command, stdin: &[u8]) -> io::Result<String> {
    run_streaming(cmd, |w| w.write_all(stdin))
}

/// Runs `cmd`, letting `feed` write its stdin (streamed, so that large
/// inputs are never held in memory), and returns its stdout, or an error
/// with its stderr when it fails.
pub(crate) fn run_streaming<T>(
    cmd: &mut Command,
    feed: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> io::Result<String> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    // Drain stdout and stderr on threads: a child blocked on a full pipe
    // would never read the rest of its input.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let out_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_end(&mut s);
        }
        s
    });
    let fed = match child.stdin.take() {
        Some(stdin) => {
            let mut w = io::BufWriter::with_capacity(1 << 16, stdin);
            feed(&mut w).and_then(|_| w.flush())
        }
        None => Ok(()),
    };
    let status = child.wait()?;
    let stdout = out_thread.join().unwrap_or_default();
    let stderr = err_thread.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    if !status.success() {
        return Err(io::Error::other(format!(
            "{program} failed ({status}): {}",
            stderr.trim()
        )));
    }
    // A write error with a successful exit (should not happen) still fails.
    fed.map_err(|e| io::Error::new(e.kind(), format!("writing to {program}: {e}")))?;
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// A server running in a process group of its own: on drop it gets
/// `stop_signal`, then the group is killed after a grace period. A watchdog
/// (a tiny shell) does the same if this process dies first, and removes the
/// server's directory.
pub(crate) struct ServerProcess {
    child: Child,
    pgid: i32,
    stop_signal: i32,
    watchdog: Option<(Child, ChildStdin)>,
}

impl ServerProcess {
    /// Spawns `cmd` as a group leader; `dir` is what the watchdog removes.
    pub(crate) fn spawn(cmd: &mut Command, stop_signal: i32, dir: &Path) -> io::Result<Self> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {program}: {e}")))?;
        let pgid = i32::try_from(child.id()).map_err(io::Error::other)?;
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "read line; [ \"$line\" = done ] || { kill -\"$1\" \"$0\" 2>/dev/null; sleep 2; kill -9 -\"$0\" 2>/dev/null; sleep 0.2; rm -rf \"$2\"; }",
                &pgid.to_string(),
                &stop_signal.to_string(),
            ])
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group: a signal to the test's group must not take
            // the watchdog along with it.
            .process_group(0)
            .spawn()
            .ok()
            .and_then(|mut c| {
                let stdin = c.stdin.take()?;
                Some((c, stdin))
            });
        Ok(Self {
            child,
            pgid,
            stop_signal,
            watchdog,
        })
    }

    /// Whether the server still runs.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the server (the group leader) and waits up to the
    /// grace period for it to exit; then kills the whole group.
    pub(crate) fn stop_with(&mut self, signal: i32) {
        if self.alive() {
            // SAFETY: kill(2) on the child we started; no memory effects.
            unsafe {
                libc::kill(self.pgid, signal);
            }
            let until = Instant::now() + STOP_GRACE;
            while self.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // SAFETY: as above, on the process group we created; stragglers
        // (backends, helpers) go with it.
        unsafe {
            libc::kill(-self.pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some((mut child, mut stdin)) = self.watchdog.take() {
            let _ = stdin.write_all(b"done\n");
            drop(stdin);
            let _ = child.wait();
        }
        self.stop_with(self.stop_signal);
    }
}
