//! Child processes of the backup engine (backup commands, database dumps,
//! `psql`/`mysql`/`pg_restore`, `ssh`) start with an empty environment
//! plus an allow-list, never with keepup's own: keepup's environment holds
//! the repository passwords, the REST password, S3 keys and every plan's
//! database password, and a child (or anything it runs) must see none of
//! them. What a child needs beyond the allow-list (its own `PGPASSWORD`,
//! `SSH_AUTH_SOCK` for ssh) its caller adds by name.

use std::ffi::OsStr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::time::Duration;

/// Variables every child gets from keepup's environment when set: finding
/// programs, the home directory (ssh's and the clients' configuration),
/// locale and time zone, who runs it, where temporary files go.
const ALLOWED: &[&str] = &["PATH", "HOME", "LANG", "TZ", "USER", "LOGNAME", "TMPDIR"];

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
