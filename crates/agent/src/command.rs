//! Running the few system tools the agent asks (`smartctl`, `systemctl`,
//! `drbdadm`, `gluster`, `ceph`): found on a fixed search path, started
//! with an empty environment (the agent's token stays with the agent),
//! stopped with all they started at a timeout or when they write more
//! than is read (keepup-process, the runner backup and probe use too).

use std::path::PathBuf;
use std::time::Duration;

/// Where tools are looked for: a service's PATH may lack the sbin
/// directories, where smartctl and drbdadm live.
const SEARCH_PATH: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// Standard output beyond this stops the tool (its answer would be cut).
const MAX_OUTPUT: usize = 1024 * 1024;

/// Standard error kept for messages; the rest is drained and dropped.
const MAX_STDERR: usize = 64 * 1024;

/// What a tool said.
#[derive(Debug)]
pub struct Output {
    /// Its exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// The first line of standard error, for messages.
    pub stderr_line: String,
}

/// The full path of `program`, if installed.
pub fn find(program: &str) -> Option<PathBuf> {
    SEARCH_PATH
        .iter()
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|p| p.is_file())
}

/// Runs `program` (a full path from [`find`]) with `args` through
/// keepup-process (empty environment, own process group killed at the
/// timeout or when it writes more than [`MAX_OUTPUT`]); Err says why it
/// gave no usable output.
pub async fn run(program: &PathBuf, args: &[&str], timeout: Duration) -> Result<Output, String> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd = keepup_process::bare(program);
    // Output parsed by the agent reads the same in every locale.
    cmd.args(args).env("LC_ALL", "C");
    let caps = keepup_process::Caps {
        stdout: MAX_OUTPUT,
        stderr: MAX_STDERR,
    };
    let finished = keepup_process::run(cmd, caps, Some(timeout))
        .await
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let status = match finished.ended {
        keepup_process::Ended::Exited(status) => status,
        keepup_process::Ended::TooMuchOutput => {
            return Err(format!(
                "{name} wrote more than {} KiB of output and was stopped",
                MAX_OUTPUT / 1024
            ));
        }
        keepup_process::Ended::TimedOut => {
            return Err(format!(
                "{name} gave no answer within {}s",
                timeout.as_secs()
            ));
        }
    };
    Ok(Output {
        code: status.code(),
        stdout: String::from_utf8_lossy(&finished.stdout).into_owned(),
        stderr_line: String::from_utf8_lossy(&finished.stderr)
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim()
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_tool_runs_without_our_environment_and_stops_at_the_timeout() {
        let sh = find("sh").expect("sh");
        // SAFETY: set before any thread of this test reads the environment.
        unsafe { std::env::set_var("KEEPUP_AGENT_TEST_SECRET", "s3cret") };
        let out = run(
            &sh,
            &["-c", "env; echo oops >&2; exit 3"],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert!(!out.stdout.contains("s3cret"), "{}", out.stdout);
        assert_eq!(out.stderr_line, "oops");
        let slow = run(&sh, &["-c", "sleep 30"], Duration::from_millis(200)).await;
        assert!(slow.unwrap_err().contains("no answer within"));
    }

    /// Whether `pid` still runs (gone, or a zombie waiting for its
    /// reaper, counts as stopped).
    fn running(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                stat.rsplit_once(')')
                    .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            })
            .unwrap_or(false)
    }

    /// Polls until `pid` stopped; false if it still runs after 20 s
    /// (a backgrounded `sleep 60` left behind would).
    async fn stops(pid: u32) -> bool {
        for _ in 0..200 {
            if !running(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    #[tokio::test]
    async fn the_timeout_stops_what_the_tool_started() {
        let sh = find("sh").expect("sh");
        let marker = tempfile::NamedTempFile::new().unwrap();
        let path = marker.path().to_str().unwrap().to_owned();
        // The backgrounded sleep is a grandchild; its pid goes to a file
        // because the tool's output is dropped at the timeout.
        let script = format!("sleep 60 & echo $! > {path}; sleep 60");
        let slow = run(&sh, &["-c", &script], Duration::from_millis(500)).await;
        assert!(slow.unwrap_err().contains("no answer within"));
        let pid: u32 = std::fs::read_to_string(&path)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(stops(pid).await, "the grandchild {pid} still runs");
    }

    #[tokio::test]
    async fn a_tool_writing_too_much_is_stopped_and_named() {
        let sh = find("sh").expect("sh");
        // yes writes forever: without a kill at the cap it would block on
        // the full pipe until the timeout and read as "no answer".
        let loud = run(&sh, &["-c", "yes"], Duration::from_secs(30)).await;
        let error = loud.unwrap_err();
        assert!(error.contains("more than 1024 KiB"), "{error}");
    }
}
