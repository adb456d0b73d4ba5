//! Running the few system tools the agent asks (`smartctl`, `systemctl`,
//! `drbdadm`, `gluster`, `ceph`): found on a fixed search path, started
//! with an empty environment (the agent's token stays with the agent),
//! stopped at a timeout, output read up to a limit.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

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

/// Output beyond this is not read (the child is killed).
const MAX_OUTPUT: u64 = 1024 * 1024;

/// What a tool said.
#[derive(Debug)]
pub struct Output {
    /// Its exit code (None when killed by a signal).
    pub code: Option<i32>,
    /// Standard output, up to the limit, lossily decoded.
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

/// Runs `program` (a full path from [`find`]) with `args`; Err says why it
/// gave no output at all.
pub async fn run(program: &PathBuf, args: &[&str], timeout: Duration) -> Result<Output, String> {
    let name = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", SEARCH_PATH.join(":"))
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {name}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?.take(MAX_OUTPUT);
    let mut stderr = child.stderr.take().ok_or("no stderr")?.take(64 * 1024);
    let work = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (a, b) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        a.and(b)
            .map_err(|e| format!("reading {name}'s output: {e}"))?;
        let status = child
            .wait()
            .await
            .map_err(|e| format!("waiting for {name}: {e}"))?;
        Ok::<_, String>(Output {
            code: status.code(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr_line: String::from_utf8_lossy(&err)
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or_default()
                .trim()
                .to_owned(),
        })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        // Dropping the child kills it (kill_on_drop).
        Err(_) => Err(format!(
            "{name} gave no answer within {}s",
            timeout.as_secs()
        )),
    }
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
}
