//! Nagios / Monitoring Plugins that the agent runs on its host
//! (`keepup agent --plugin NAME=COMMAND`), each collection, into the
//! report: how each ended, its output and how long it took.
//!
//! The commands are the agent's own configuration: the central keepup
//! never sends one (a central that could would be a remote shell on every
//! host). A plugin runs as the probe's `nagios` kind runs one, through
//! keepup-process: an argument list (no shell), in `/`, in a process
//! group of its own, with stdin closed and an environment of a fixed
//! `PATH` and `LANG=C` only (nothing of the agent's, where its token is),
//! its stdout read up to 64 KiB and its stderr up to 4 KiB, the whole
//! group killed at the timeout. The verdict (exit code to status, first
//! line, performance data) is the central's: it reads the report's
//! output with the same code as a local `nagios` check.
//!
//! Not here: parsing plugin output (the probe's `nagios` module, on the
//! central side), secrets for plugins (the agent takes none).

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keepup_model::host::{
    MAX_PLUGIN_OUTPUT_BYTES, MAX_PLUGIN_STDERR_BYTES, PluginEnded, PluginRun,
};

/// Where Debian's monitoring-plugins put the `check_*` programs: a bare
/// name is looked up here first.
pub const PLUGIN_DIR: &str = "/usr/lib/nagios/plugins";

/// At most this many plugins per agent (each adds up to
/// [`MAX_PLUGIN_OUTPUT_BYTES`] to every report).
pub const MAX_PLUGINS: usize = 16;

/// One configured plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    /// The name the central's `plugin = "..."` asks for.
    pub name: String,
    /// The program: absolute, or found in [`PLUGIN_DIR`] or the `PATH`.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Splits a `--FLAG NAME=VALUE` option of the agent's command line (a
/// plugin, an access log) into its name, checked (lowercase letters,
/// digits, '-' and '_', at most 64 bytes: it keys the report), and its
/// value. `value` names the value in the error, e.g. `COMMAND`.
pub(crate) fn named_option<'a>(
    flag: &str,
    text: &'a str,
    value: &str,
) -> Result<(&'a str, &'a str), String> {
    let (name, rest) = text
        .split_once('=')
        .ok_or_else(|| format!("{flag} {text:?}: write NAME={value}"))?;
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{flag} {text:?}: the name must be lowercase letters, digits, '-' and '_'"
        ));
    }
    Ok((name, rest))
}

/// Splits the `COMMAND` of a `--FLAG NAME=COMMAND` option (`text`, the
/// whole option, for messages) into its words: at spaces, no shell, no
/// quoting (an argument with a space has no way in); quotes,
/// backslashes, ` and $ are refused rather than passed on literally.
pub(crate) fn command_words(flag: &str, text: &str, command: &str) -> Result<Vec<String>, String> {
    if command.contains(['\'', '"', '\\', '`', '$']) {
        return Err(format!(
            "{flag} {text:?}: the command is split at spaces and run without a shell; quotes, backslashes, ` and $ mean nothing there"
        ));
    }
    let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    if words.is_empty() {
        return Err(format!("{flag} {text:?}: the command is empty"));
    }
    Ok(words)
}

impl Plugin {
    /// `NAME=COMMAND`: the command split by [`command_words`], its program
    /// a path or a bare name looked up in [`PLUGIN_DIR`] first.
    pub fn parse(text: &str) -> Result<Plugin, String> {
        let (name, command) = named_option("--plugin", text, "COMMAND")?;
        let mut words = command_words("--plugin", text, command)?.into_iter();
        let program = words.next().unwrap_or_default();
        let program = if program.contains('/') {
            PathBuf::from(program)
        } else {
            let packaged = Path::new(PLUGIN_DIR).join(&program);
            if packaged.is_file() {
                packaged
            } else {
                PathBuf::from(program)
            }
        };
        Ok(Plugin {
            name: name.to_owned(),
            program,
            args: words.collect(),
        })
    }

    /// The command line, for the report and messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs `plugin` once, killing it after `timeout`.
pub async fn run(plugin: &Plugin, timeout: Duration) -> PluginRun {
    let started = Instant::now();
    let mut command = keepup_process::bare(&plugin.program);
    command.args(&plugin.args);
    let ran = keepup_process::run(command, keepup_process::PLUGIN_CAPS, Some(timeout)).await;
    let (ended, stdout, stderr) = match ran {
        Err(e) => (
            PluginEnded::NotRunnable {
                reason: e.to_string(),
            },
            Vec::new(),
            Vec::new(),
        ),
        Ok(f) => {
            let ended = match f.ended {
                keepup_process::Ended::Exited(status) => match (status.code(), status.signal()) {
                    (Some(code), _) => PluginEnded::Exited { code },
                    (None, signal) => PluginEnded::Signalled {
                        signal: signal.unwrap_or(0),
                    },
                },
                keepup_process::Ended::TooMuchOutput => PluginEnded::TooMuchOutput,
                keepup_process::Ended::TimedOut => PluginEnded::TimedOut {
                    after_ms: timeout.as_millis() as u64,
                },
            };
            (ended, f.stdout, f.stderr)
        }
    };
    PluginRun {
        command: plugin.command_line(),
        ended,
        output: cut(&stdout, MAX_PLUGIN_OUTPUT_BYTES),
        stderr: cut(&stderr, MAX_PLUGIN_STDERR_BYTES),
        ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// At most `max` bytes of `bytes` as text, cut at a character boundary.
pub(crate) fn cut(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= max {
        return text.into_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_is_a_name_and_words() {
        let p = Plugin::parse("disk=/usr/bin/check_x -w 10% -c 5%  -p /").unwrap();
        assert_eq!(p.name, "disk");
        assert_eq!(p.program, PathBuf::from("/usr/bin/check_x"));
        assert_eq!(p.args, ["-w", "10%", "-c", "5%", "-p", "/"]);
        assert_eq!(p.command_line(), "/usr/bin/check_x -w 10% -c 5% -p /");
        assert_eq!(
            Plugin::parse("x=true").unwrap().program,
            PathBuf::from("true")
        );
        for bad in [
            "disk",
            "Disk=check_disk",
            "=check_disk",
            "d=",
            "d=check_x 'a b'",
            "d=x $HOME",
        ] {
            assert!(Plugin::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(cut("héllo".as_bytes(), 2), "h");
    }
}
