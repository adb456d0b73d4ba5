//! `keepup reload`: validates the configuration, then sends SIGHUP to the
//! daemon whose pid file sits next to the store.

use anyhow::{Context, bail};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where `keepup run` writes its pid: next to the store, so that two
/// daemons with different stores never collide.
pub fn pid_file(store_path: &Path) -> PathBuf {
    let mut p = store_path.as_os_str().to_owned();
    p.push(".pid");
    PathBuf::from(p)
}

/// Whether a `keepup run` holds the store at `store_path`: it keeps a lock
/// on its pid file while it runs, which the kernel drops when it ends,
/// however it ends (a pid file left by a `kill -9` holds no lock).
pub fn daemon_holds(store_path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(pid_file(store_path)) else {
        return false;
    };
    // SAFETY: flock(2) on a descriptor this function owns; no memory is
    // shared. A shared lock is refused while the daemon holds its
    // exclusive one.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    // Closing the file drops the lock taken just now.
    !free
}

pub fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        // A broken configuration would be refused by the daemon too; say so
        // here, where the operator is looking.
        Err(code) => return Ok(code),
    };
    let pid = signal_daemon(&config.store.path, libc::SIGHUP)?;
    println!("asked keepup (pid {pid}) to reload {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Sends `sig` to the daemon whose pid file sits next to the store at
/// `store_path`; returns its pid.
pub fn signal_daemon(store_path: &Path, sig: libc::c_int) -> anyhow::Result<i32> {
    let pid_path = pid_file(store_path);
    let text = std::fs::read_to_string(&pid_path).with_context(|| {
        format!(
            "cannot read {} (is `keepup run` running with this configuration?)",
            pid_path.display()
        )
    })?;
    let pid: i32 = text
        .trim()
        .parse()
        .with_context(|| format!("{} does not hold a pid", pid_path.display()))?;
    if pid <= 1 {
        bail!("{} holds an invalid pid {pid}", pid_path.display());
    }
    // SAFETY: kill(2) with a positive pid and a signal number has no
    // memory-safety preconditions; failure is reported through errno.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        bail!(
            "cannot signal keepup (pid {pid} from {}): {err}",
            pid_path.display()
        );
    }
    Ok(pid)
}
