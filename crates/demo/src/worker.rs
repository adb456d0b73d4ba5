//! The shop's order worker: the background job process a real shop runs
//! beside its web server (a queue consumer sending order mails, syncing
//! stock). In the demo it is a separate OS process, `keepup demo-worker
//! run`, so that the fault timeline's "worker crashes" step can kill it
//! with SIGKILL and only a real restart brings it back: the demo's
//! `[[action]]` asks the demo agent to run `keepup demo-worker start`,
//! the command the agent was given as its action `restart-worker`.
//!
//! The worker does no work; what matters is that it runs. It writes its
//! pid to [`PID_FILE`] in the demo directory and ends by itself when the
//! demo that started it is gone or the pid file no longer names it, so a
//! demo killed with SIGKILL leaves no worker behind for long.
//!
//! `start` detaches the worker (its own process group, no standard
//! input or output, started from `/`) and returns once the worker has
//! written its pid, so the agent's run ends at once and its output says
//! which pid was started.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The worker's pid file in the demo directory.
pub const PID_FILE: &str = "worker.pid";

/// The hidden subcommand of the keepup binary that is the worker.
pub const SUBCOMMAND: &str = "demo-worker";

/// How long `start` waits for the new worker to write its pid.
const START_WITHIN: Duration = Duration::from_secs(5);

/// How often the worker looks whether it should still run.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The command that starts the worker of the demo in `dir` (`exe
/// demo-worker start --dir DIR --demo-pid PID`), as a program and its
/// arguments: the demo runs it at its start and the demo agent's action
/// `restart-worker` runs it after a crash. Err: `dir` is not UTF-8 (an
/// argument list carries strings).
pub fn start_command(
    exe: &Path,
    dir: &Path,
    demo_pid: u32,
) -> Result<(PathBuf, Vec<String>), String> {
    let dir = dir
        .to_str()
        .ok_or_else(|| format!("the demo directory {} is not UTF-8", dir.display()))?;
    Ok((
        exe.to_path_buf(),
        [SUBCOMMAND, "start", "--dir", dir, "--demo-pid"]
            .map(String::from)
            .into_iter()
            .chain([demo_pid.to_string()])
            .collect(),
    ))
}

/// The command line of the running worker, as the agent reads
/// `/proc/<pid>/cmdline` (arguments joined by spaces): what the demo's
/// process watch matches (escaped as a regex by the caller). It names the
/// directory, so two demos on one machine never count each other's.
pub fn run_command_line(dir: &Path) -> String {
    format!("{SUBCOMMAND} run --dir {}", dir.display())
}

/// `keepup demo-worker start`: starts the worker of the demo in `dir`
/// unless one runs, and says which pid runs. Err: it could not be
/// started or did not write its pid within a few seconds.
pub fn start(exe: &Path, dir: &Path, demo_pid: u32) -> Result<String, String> {
    if let Some(pid) = running(dir) {
        return Ok(format!(
            "the shop's order worker is already running (pid {pid})"
        ));
    }
    let mut cmd = std::process::Command::new(exe);
    // Nothing of the caller's environment (the agent's or the demo's):
    // the worker needs none of it.
    cmd.env_clear()
        .args([SUBCOMMAND, "run", "--dir"])
        .arg(dir)
        .args(["--demo-pid", &demo_pid.to_string()])
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own group: an agent run ends by killing its command's group at
    // its timeout, which must not take the worker along.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let pid = child.id();
    // Not waited for: `start` ends now and the worker is adopted by init.
    drop(child);
    let until = Instant::now() + START_WITHIN;
    while Instant::now() < until {
        if running(dir) == Some(pid) {
            return Ok(format!("started the shop's order worker (pid {pid})"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "the shop's order worker (pid {pid}) did not start within {}s",
        START_WITHIN.as_secs()
    ))
}

/// `keepup demo-worker run`: the worker itself. Writes its pid, then
/// runs until the demo (`demo_pid`) is gone or the pid file names
/// another process (or none).
pub fn run(dir: &Path, demo_pid: u32) -> std::io::Result<()> {
    let me = std::process::id();
    let file = dir.join(PID_FILE);
    // Written aside and renamed, so a reader never sees half a pid.
    let part = dir.join(format!("{PID_FILE}.{me}"));
    std::fs::write(&part, format!("{me}\n"))?;
    std::fs::rename(&part, &file)?;
    let demo = PathBuf::from(format!("/proc/{demo_pid}"));
    loop {
        std::thread::sleep(LOOK_EVERY);
        if !demo.exists() || read_pid(&file) != Some(me) {
            return Ok(());
        }
    }
}

/// The pid of the worker of the demo in `dir` when it runs: the pid file's
/// process, if its command line is this demo's worker (a stale file's
/// pid may belong to another process by now).
pub fn running(dir: &Path) -> Option<u32> {
    let pid = read_pid(&dir.join(PID_FILE))?;
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    let dir = dir.as_os_str().as_encoded_bytes();
    let ours = args.windows(4).any(|w| {
        w[0] == SUBCOMMAND.as_bytes() && w[1] == b"run" && w[2] == b"--dir" && w[3] == dir
    });
    ours.then_some(pid)
}

/// Kills the worker of the demo in `dir` with SIGKILL, as a crash would
/// end it; returns its pid, None when none ran.
pub fn crash(dir: &Path) -> Option<u32> {
    let pid = running(dir)?;
    let signalled = i32::try_from(pid).ok()?;
    // SAFETY: kill(2) on the pid just verified to be this demo's worker;
    // it reads no memory of ours.
    let sent = unsafe { libc::kill(signalled, libc::SIGKILL) };
    (sent == 0).then_some(pid)
}

/// The pid in a pid file (at most a line; anything else is no pid).
fn read_pid(file: &Path) -> Option<u32> {
    let mut text = String::new();
    std::fs::File::open(file)
        .ok()?
        .take(32)
        .read_to_string(&mut text)
        .ok()?;
    text.trim().parse().ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_another_program_is_no_worker() {
        let dir = tempfile::tempdir().expect("a temp dir");
        assert_eq!(running(dir.path()), None);
        // This test's own process: alive, but not a worker.
        std::fs::write(
            dir.path().join(PID_FILE),
            format!("{}\n", std::process::id()),
        )
        .expect("write");
        assert_eq!(running(dir.path()), None);
        assert_eq!(crash(dir.path()), None);
        std::fs::write(dir.path().join(PID_FILE), "not a pid").expect("write");
        assert_eq!(running(dir.path()), None);
    }

    #[test]
    fn the_start_command_names_the_directory_and_the_demo() {
        let (program, args) = start_command(Path::new("/usr/bin/keepup"), Path::new("/tmp/d"), 42)
            .expect("a command");
        assert_eq!(program, Path::new("/usr/bin/keepup"));
        assert_eq!(
            args,
            [
                "demo-worker",
                "start",
                "--dir",
                "/tmp/d",
                "--demo-pid",
                "42"
            ]
        );
        assert_eq!(
            run_command_line(Path::new("/tmp/d")),
            "demo-worker run --dir /tmp/d"
        );
    }
}
