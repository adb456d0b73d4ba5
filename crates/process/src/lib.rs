//! The one way keepup runs a child process: backup commands and database
//! dumps (backup, recovery), Nagios plugins (probe) and the agent's system
//! tools (agent) all start here.
//!
//! A child starts with an empty environment plus an allow-list, never
//! with keepup's own: keepup's environment holds the repository
//! passwords, the REST password, S3 keys, database passwords and the
//! agent's token, and a child (or anything it runs) must see none of
//! them. What a child needs beyond the allow-list its caller adds by name.
//!
//! A child leads a process group of its own, so that stopping it also
//! stops what it started (a `sh -c` pipeline, a `ceph` helper): at a
//! deadline, when it writes more than is read ([`run`]), and when the run
//! is abandoned, the whole group is killed.

use std::ffi::OsStr;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::Duration;

/// Variables every child gets from keepup's environment when set: finding
/// programs, the home directory (ssh's and the clients' configuration),
/// locale and time zone, who runs it, where temporary files go.
const ALLOWED: &[&str] = &["PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "TMPDIR"];

/// The `PATH` of a child that must not inherit keepup's: the usual system
/// directories, sbin included (a service's PATH may lack them, and
/// smartctl, drbdadm and many plugins live there).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `program` with an empty environment plus [`ALLOWED`], the `LC_*`
/// locale variables and `extra` (names), each copied from keepup's
/// environment when set.
pub fn command(program: impl AsRef<OsStr>, extra: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear();
    for (name, value) in std::env::vars_os() {
        let keep = name
            .to_str()
            .is_some_and(|n| ALLOWED.contains(&n) || n.starts_with("LC_") || extra.contains(&n));
        if keep {
            cmd.env(name, value);
        }
    }
    cmd
}

/// `cmd` will lead a process group of its own, so that [`kill_group`]
/// also stops what it starts (a pipeline's other processes would hold its
/// pipes open).
pub fn own_group(cmd: &mut Command) -> &mut Command {
    std::os::unix::process::CommandExt::process_group(cmd, 0)
}

/// SIGKILL to the process group that `pid` leads ([`own_group`]).
pub fn kill_group(pid: u32) {
    let Ok(pgid) = i32::try_from(pid) else { return };
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads; it reads no memory of ours.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// A watchdog: kills the process group of a child (started with
/// [`own_group`]) that runs longer than its limit. Drop it once the child
/// has been waited for.
pub struct Deadline {
    limit: Duration,
    passed: Arc<AtomicBool>,
    /// Dropped to stand the watchdog down.
    _stop: Sender<()>,
}

impl Deadline {
    /// Starts watching the child `pid`.
    pub fn start(pid: u32, limit: Duration) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let passed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&passed);
        std::thread::spawn(move || {
            if stopped.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
                flag.store(true, Ordering::SeqCst);
                kill_group(pid);
            }
        });
        Self {
            limit,
            passed,
            _stop: stop,
        }
    }

    /// Whether the limit passed and the child was killed.
    pub fn passed(&self) -> bool {
        self.passed.load(Ordering::SeqCst)
    }

    /// The limit, for messages.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// `program` for [`run`]: an empty environment but [`SYSTEM_PATH`] and
/// `LANG=C`, started in `/`. The caller adds what else the child needs by
/// name.
pub fn bare(program: impl AsRef<OsStr>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(program);
    cmd.env_clear()
        .env("PATH", SYSTEM_PATH)
        .env("LANG", "C")
        .current_dir("/");
    cmd
}

/// How much of a child's output [`run`] keeps.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Standard output beyond this stops the child: its answer would be
    /// cut, so it is not read as one.
    pub stdout: usize,
    /// Standard error beyond this is read and dropped (it only explains).
    pub stderr: usize,
}

/// What is kept of a Nagios plugin's output, wherever it runs (the probe's
/// `nagios` kind, the agent's `--plugin`): Nagios itself keeps less (its
/// long output limit is in the kilobytes).
pub const PLUGIN_CAPS: Caps = Caps {
    stdout: 64 * 1024,
    stderr: 4 * 1024,
};

/// How a child run by [`run`] ended.
#[derive(Debug)]
pub enum Ended {
    /// It closed its output and exited.
    Exited(ExitStatus),
    /// It wrote more than [`Caps::stdout`]; its group was killed.
    TooMuchOutput,
    /// The deadline passed first; its group was killed.
    TimedOut,
}

/// What a child run by [`run`] left.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub ended: Ended,
    /// Its standard output, at most [`Caps::stdout`] bytes.
    pub stdout: Vec<u8>,
    /// Its standard error, at most [`Caps::stderr`] bytes.
    pub stderr: Vec<u8>,
}

/// Runs `cmd` (built by [`bare`] or with its own cleared environment)
/// with stdin closed, in a process group of its own, reading its output
/// within `caps` until it exits, `timeout` (if any) passes, or it writes
/// too much; in the last two cases the whole group is killed. Dropping
/// the future before it is done kills the group too, so a caller may
/// bound it with its own deadline instead of `timeout`. Err: it could
/// not be started.
pub async fn run(
    mut cmd: tokio::process::Command,
    caps: Caps,
    timeout: Option<Duration>,
) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let group = Group(child.id());
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let read = read_and_wait(&mut child, caps, &mut stdout, &mut stderr);
    let ended = match timeout {
        Some(limit) => tokio::time::timeout(limit, read)
            .await
            .unwrap_or(Ended::TimedOut),
        None => read.await,
    };
    match ended {
        // Reaped: its pid may be reused, never signal it.
        Ended::Exited(_) => group.disarm(),
        // Killed by the guard; tokio reaps the child once it is dropped.
        Ended::TooMuchOutput | Ended::TimedOut => drop(group),
    }
    Ok(Finished {
        ended,
        stdout,
        stderr,
    })
}

/// Reads both pipes until they close, then waits for the child.
async fn read_and_wait(
    child: &mut tokio::process::Child,
    caps: Caps,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> Ended {
    // Both are piped by run; a missing one reads as closed.
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (mut out_open, mut err_open) = (out.is_some(), err.is_some());
    let mut out_buf = vec![0u8; 8192];
    let mut err_buf = vec![0u8; 8192];
    while out_open || err_open {
        tokio::select! {
            read = read_some(&mut out, &mut out_buf), if out_open => match read {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) if stdout.len() + n > caps.stdout => {
                    let room = caps.stdout - stdout.len();
                    stdout.extend_from_slice(&out_buf[..room]);
                    return Ended::TooMuchOutput;
                }
                Ok(n) => stdout.extend_from_slice(&out_buf[..n]),
            },
            read = read_some(&mut err, &mut err_buf), if err_open => match read {
                Ok(0) | Err(_) => err_open = false,
                // Drained past the cap, so that a chatty stderr cannot
                // block the child.
                Ok(n) => {
                    let room = caps.stderr.saturating_sub(stderr.len());
                    stderr.extend_from_slice(&err_buf[..n.min(room)]);
                }
            },
        }
    }
    match child.wait().await {
        Ok(status) => Ended::Exited(status),
        // Waiting on our own child fails only if it was reaped already;
        // treat it as gone without an answer.
        Err(_) => Ended::TimedOut,
    }
}

/// Reads what `pipe` has into `buf`; a missing pipe reads as closed.
async fn read_some<R: tokio::io::AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    match pipe {
        Some(pipe) => pipe.read(buf).await,
        None => Ok(0),
    }
}

/// The process group a running child leads (its pid): killed on drop
/// unless disarmed once the child was reaped.
struct Group(Option<u32>);

impl Group {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            kill_group(pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_from_an_empty_environment() {
        let cmd = command("true", &["SSH_AUTH_SOCK"]);
        // env_clear() shows up as an empty environment plus the additions.
        for (name, _) in cmd.get_envs() {
            let name = name.to_str().unwrap_or_default();
            assert!(
                ALLOWED.contains(&name) || name.starts_with("LC_") || name == "SSH_AUTH_SOCK",
                "{name} must not be passed on"
            );
        }
        assert!(cmd.get_envs().any(|(n, _)| n == "PATH"));
    }
}
