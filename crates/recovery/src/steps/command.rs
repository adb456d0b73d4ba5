//! `command`: a program run locally, or on a host of the target environment
//! through the system `ssh` (never prompting: `BatchMode=yes`, host keys
//! always checked), with a timeout that kills its process group, the exit
//! code the plan expects, and output kept to its last 64 KiB. The child
//! starts with an empty environment plus an allow-list, so it never
//! inherits keepup's secrets; `KEEPUP_DR_KIND` tells a local command
//! whether it runs in an `activate`, a `return` or a `drill`. In a drill a
//! step's `host` is the drill environment's host of that name, and a step
//! with `drill = "skip"` (the default of a local one, which would run on
//! this machine as written) is skipped ([`skipped_in_drill`]).

use super::{Done, Failed, StepContext};
use keepup_backup::child;
use keepup_config::recovery::{CommandStep, Host};
use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

/// `ssh` waits this long for the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// What a drill journals for a step it skips (`drill = "skip"`).
pub fn skipped_in_drill(step: &CommandStep) -> Done {
    let why = if step.host.is_none() {
        "it runs on this machine, which may be the real standby; write drill = \"run\" to run it in drills"
    } else {
        "the step says drill = \"skip\""
    };
    Done {
        output: format!(
            "skipped in a drill: {why} (would run {})",
            shell_line(&step.run)
        ),
    }
}

/// Runs a `command` step.
pub fn run(step: &CommandStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let host = match &step.host {
        Some(name) => match ctx.environment().host(name) {
            Some(h) => Some(h),
            None => {
                return Err(Failed::because(format!(
                    "no host {name:?} in the {} environment",
                    ctx.target.name
                )));
            }
        },
        None => None,
    };
    let argv = argv(step, host);
    let by_hand = shell_line(&argv);
    let mut cmd = child::command(&argv[0], &["SSH_AUTH_SOCK"]);
    // A local command can tell an activation from a drill (a remote one
    // runs on the environment's own host, which says it).
    cmd.env("KEEPUP_DR_KIND", ctx.kind.as_str());
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    child::own_group(&mut cmd);
    let mut proc = cmd.spawn().map_err(|e| Failed {
        reason: format!("cannot start {:?}: {e}", argv[0]),
        output: String::new(),
        by_hand: Some(by_hand.clone()),
    })?;
    let deadline = child::Deadline::start(proc.id(), step.timeout);
    let out = proc.stdout.take().map(tail_reader);
    let err = proc.stderr.take().map(tail_reader);
    let status = proc.wait();
    let mut output = String::new();
    for (label, reader) in [("", out), ("stderr: ", err)] {
        if let Some(bytes) = reader.and_then(|r| r.join().ok()) {
            let text = crate::journal::output_tail(&bytes);
            if !text.trim().is_empty() {
                for line in text.lines() {
                    output.push_str(label);
                    output.push_str(line);
                    output.push('\n');
                }
            }
        }
    }
    let status = status.map_err(|e| Failed {
        reason: format!("waiting for {:?} failed: {e}", argv[0]),
        output: output.clone(),
        by_hand: Some(by_hand.clone()),
    })?;
    if deadline.passed() {
        return Err(Failed {
            reason: format!(
                "killed after its timeout of {}",
                humantime::format_duration(deadline.limit())
            ),
            output,
            by_hand: Some(by_hand),
        });
    }
    match status.code() {
        Some(code) if code == step.expect_exit => Ok(Done { output }),
        Some(code) => Err(Failed {
            reason: format!("exited with {code}, expected {}", step.expect_exit),
            output,
            by_hand: Some(by_hand),
        }),
        None => Err(Failed {
            reason: "killed by a signal".into(),
            output,
            by_hand: Some(by_hand),
        }),
    }
}

/// Reads a pipe to its end on a thread of its own, keeping the last 64 KiB.
fn tail_reader(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let keep = keepup_store::MAX_STEP_OUTPUT;
        let mut kept: Vec<u8> = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > 2 * keep {
                        kept.drain(..kept.len() - keep);
                    }
                }
            }
        }
        kept
    })
}

/// The program and arguments that run the step: the command itself, or
/// `ssh ... -- DEST 'quoted command'` for a remote host.
pub fn argv(step: &CommandStep, host: Option<&Host>) -> Vec<String> {
    let Some(h) = host else {
        return step.run.clone();
    };
    let mut a: Vec<String> = vec!["ssh".into()];
    if let Some(p) = h.ssh_port {
        a.extend(["-p".into(), p.to_string()]);
    }
    if let Some(id) = &h.ssh_identity_file {
        a.extend([
            "-i".into(),
            id.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    if let Some(kh) = &h.ssh_known_hosts_file {
        a.extend(["-o".into(), format!("UserKnownHostsFile={}", kh.display())]);
    }
    a.extend([
        "-o".into(),
        "BatchMode=yes".into(),
        // Before the operator's ssh_args (the first value wins): an
        // unknown host key is refused, never learnt.
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()),
    ]);
    a.extend(h.ssh_args.iter().cloned());
    // ssh joins the remote command's words with spaces for the remote
    // shell, so each word is quoted to arrive as written.
    a.extend([
        "--".into(),
        h.ssh.clone(),
        step.run
            .iter()
            .map(|w| quote(w))
            .collect::<Vec<_>>()
            .join(" "),
    ]);
    a
}

/// `word` quoted for a POSIX shell.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `argv` as one line a person can paste into a shell.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_command_arrives_word_for_word() {
        let step = CommandStep {
            run: vec!["sh".into(), "-c".into(), "echo 'it''s' $HOME".into()],
            host: Some("web".into()),
            timeout: Duration::from_secs(5),
            expect_exit: 0,
            drill: keepup_config::recovery::DrillCommand::Run,
        };
        let host = Host {
            name: "web".into(),
            ssh: "deploy@127.0.0.1".into(),
            ssh_port: Some(2222),
            ssh_identity_file: Some("/k/id".into()),
            ssh_known_hosts_file: None,
            ssh_args: vec![],
        };
        let a = argv(&step, Some(&host));
        assert_eq!(a[0], "ssh");
        assert!(a.contains(&"BatchMode=yes".to_string()));
        let n = a.len();
        assert_eq!(a[n - 3..n - 1], ["--", "deploy@127.0.0.1"]);
        assert_eq!(a[n - 1], r#"sh -c 'echo '\''it'\'''\''s'\'' $HOME'"#);
        // The remote shell reads it back as the three words.
        let back = std::process::Command::new("sh")
            .args(["-c", &format!("printf '%s\\n' {}", a[n - 1])])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&back.stdout),
            "sh\n-c\necho 'it''s' $HOME\n"
        );
    }
}
