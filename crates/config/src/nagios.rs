//! The check kind `nagios`: run a Nagios / Monitoring Plugins command and
//! read its verdict. Its configuration as written, as validated, and the
//! validation between the two.
//!
//! The command is an argument list, never a shell line: nothing in it is
//! expanded or split, so a value cannot turn into a second command.
//! Secrets reach the plugin through `env` (a variable of its environment
//! filled from keepup's environment or a file), never inline: a password
//! in an argument would show in `ps` and in the configuration.
//!
//! With `agent` and `plugin` instead of `command`, the check judges a
//! plugin that agent runs on its host (`keepup agent --plugin
//! NAME=COMMAND`): the command is the agent's configuration, never sent
//! by the central keepup.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::Secret;
use crate::load::{Inline, Loader};

/// At most this many variables in `env`.
const MAX_ENV: usize = 32;

/// Variables keepup sets itself for every plugin.
const RESERVED_ENV: &[&str] = &["PATH", "LANG"];

/// At most this many arguments (the program included).
const MAX_ARGS: usize = 256;

/// At most this many bytes in one argument.
const MAX_ARG_BYTES: usize = 4096;

/// `kind = "nagios"`
#[derive(Debug, Clone, PartialEq)]
pub struct NagiosSpec {
    /// The program: an absolute path, a path relative to the
    /// configuration file (resolved here), or a bare name looked up in the
    /// plugin's `PATH` when it runs.
    pub program: PathBuf,
    /// Its arguments, passed as they are.
    pub args: Vec<String>,
    /// Secrets added to the plugin's environment, by variable name; they
    /// are scrubbed from everything the plugin prints.
    pub env: Vec<(String, Secret)>,
}

impl NagiosSpec {
    /// The command as a person would type it, for messages.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .map(|a| {
                if !a.is_empty()
                    && a.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,%@".contains(&b))
                {
                    a
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `kind = "nagios"` with `agent` and `plugin`: a plugin an agent runs,
/// judged on each of its reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPluginSpec {
    /// The `[[agent]]` that runs it.
    pub agent: String,
    /// Its name in the agent's `--plugin NAME=COMMAND`.
    pub plugin: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNagios {
    pub command: Option<Spanned<Vec<Spanned<String>>>>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    pub agent: Option<Spanned<String>>,
    pub plugin: Option<Spanned<String>>,
}

impl Loader<'_> {
    /// `kind = "nagios"`: a command run here (a probe), or an agent's
    /// plugin (passive, judged on its reports).
    pub(crate) fn nagios_check(
        &mut self,
        mut raw: RawNagios,
        path: &str,
        span: std::ops::Range<usize>,
    ) -> Option<crate::CheckSpec> {
        if raw.agent.is_none() && raw.plugin.is_none() {
            return self
                .nagios(raw, path, span)
                .map(|s| crate::CheckSpec::Probe(crate::ProbeSpec::Nagios(Box::new(s))));
        }
        if let Some(command) = &raw.command {
            self.rep.report(
                command.span(),
                &format!("{path}.command"),
                "a plugin on an agent's host runs the agent's command, not one from here",
                Some("give it to the agent: keepup agent --plugin NAME='check_disk -w 10% -c 5% -p /', and name it here with plugin = \"NAME\"".into()),
            );
            return None;
        }
        if let Some((name, _)) = raw.env.as_ref().and_then(|e| e.iter().next()) {
            self.rep.report(
                name.span(),
                &format!("{path}.env"),
                "env is for a command run here; an agent's plugin gets its environment on the agent",
                None,
            );
            return None;
        }
        let (Some(agent), Some(plugin)) = (raw.agent.take(), raw.plugin.take()) else {
            self.rep.report(
                span,
                path,
                "a plugin on an agent's host needs both agent and plugin",
                Some("e.g. agent = \"web1\" and plugin = \"disk\" for `keepup agent --plugin disk=...` on web1".into()),
            );
            return None;
        };
        if !self.agent_names.contains(agent.get_ref()) {
            let hint =
                crate::diag::closest(agent.get_ref(), self.agent_names.iter().map(String::as_str))
                    .map(|n| format!("did you mean {n:?}?"))
                    .unwrap_or_else(|| "declare it in an [[agent]] section".into());
            self.rep.report(
                agent.span(),
                &format!("{path}.agent"),
                format!("no [[agent]] is named {:?}", agent.get_ref()),
                Some(hint),
            );
            return None;
        }
        let name = plugin.get_ref();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            self.rep.report(
                plugin.span(),
                &format!("{path}.plugin"),
                format!("invalid plugin name {name:?}"),
                Some("the NAME of the agent's --plugin NAME=COMMAND: lowercase letters, digits, '-' and '_'".into()),
            );
            return None;
        }
        Some(crate::CheckSpec::Passive(crate::PassiveSpec::AgentPlugin(
            AgentPluginSpec {
                agent: agent.into_inner(),
                plugin: plugin.into_inner(),
            },
        )))
    }

    fn nagios(
        &mut self,
        raw: RawNagios,
        path: &str,
        span: std::ops::Range<usize>,
    ) -> Option<NagiosSpec> {
        let key = format!("{path}.command");
        let Some(command) = raw.command else {
            self.rep.report(
                span,
                &key,
                "a nagios check needs a command (or agent and plugin, for a plugin an agent runs)",
                Some(r#"e.g. command = ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]"#.into()),
            );
            return None;
        };
        let span = command.span();
        let words = command.into_inner();
        let Some((program, args)) = words.split_first() else {
            self.rep.report(
                span,
                &key,
                "the command is empty",
                Some(r#"give the plugin and its arguments, e.g. ["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-c", "10%", "-p", "/"]"#.into()),
            );
            return None;
        };
        if words.len() > MAX_ARGS {
            self.rep.report(
                span,
                &key,
                format!("{} arguments; at most {MAX_ARGS}", words.len()),
                None,
            );
            return None;
        }
        let mut fine = true;
        for (i, word) in words.iter().enumerate() {
            let text = word.get_ref();
            let problem = if text.contains('\0') {
                Some("contains a NUL character".to_owned())
            } else if text.len() > MAX_ARG_BYTES {
                Some(format!("is {} bytes; at most {MAX_ARG_BYTES}", text.len()))
            } else if i == 0 && text.trim().is_empty() {
                Some("the program is empty".to_owned())
            } else {
                None
            };
            if let Some(problem) = problem {
                self.rep
                    .report(word.span(), &format!("{key}[{i}]"), problem, None);
                fine = false;
            }
        }
        if !fine {
            return None;
        }
        let written = program.get_ref();
        // A bare name is found through PATH when it runs; a path with a
        // directory is taken relative to the configuration, as every path.
        let program = if written.contains('/') {
            self.resolve_path(written)
        } else {
            PathBuf::from(written)
        };
        let env = self.nagios_env(raw.env.unwrap_or_default(), path)?;
        Some(NagiosSpec {
            program,
            args: args.iter().map(|a| a.get_ref().clone()).collect(),
            env,
        })
    }

    /// `env = { NAME = { env = "VAR" } | { file = "path" } }`: each value
    /// a secret read from keepup's environment or a file; a value written
    /// inline is refused.
    pub(crate) fn nagios_env(
        &mut self,
        raw: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
        path: &str,
    ) -> Option<Vec<(String, Secret)>> {
        let mut env = Vec::new();
        let mut fine = true;
        if raw.len() > MAX_ENV {
            if let Some((name, _)) = raw.iter().next() {
                self.rep.report(
                    name.span(),
                    &format!("{path}.env"),
                    format!("{} variables; at most {MAX_ENV}", raw.len()),
                    None,
                );
            }
            return None;
        }
        for (name, value) in &raw {
            let key = format!("{path}.env.{}", name.get_ref());
            let valid_name = name.get_ref().bytes().enumerate().all(|(i, b)| {
                b == b'_'
                    || b.is_ascii_uppercase()
                    || b.is_ascii_lowercase()
                    || (i > 0 && b.is_ascii_digit())
            }) && !name.get_ref().is_empty();
            if !valid_name || RESERVED_ENV.contains(&name.get_ref().as_str()) {
                self.rep.report(
                    name.span(),
                    &key,
                    if valid_name {
                        format!("{} is set by keepup for every plugin", name.get_ref())
                    } else {
                        format!("{:?} is not an environment variable name", name.get_ref())
                    },
                    None,
                );
                fine = false;
                continue;
            }
            let source = match value.get_ref() {
                toml::Value::Table(table) if table.len() == 1 => match table.iter().next() {
                    Some((k, toml::Value::String(v))) if k == "env" => {
                        Some((Some(v.as_str()), None))
                    }
                    Some((k, toml::Value::String(v))) if k == "file" => {
                        Some((None, Some(v.as_str())))
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some((from_env, from_file)) = source else {
                let inline = matches!(value.get_ref(), toml::Value::String(_));
                self.rep.report(
                    value.span(),
                    &key,
                    if inline {
                        "a secret written in the configuration is refused: it would be kept in the file and in backups of it".to_owned()
                    } else {
                        "expected { env = \"VARIABLE\" } or { file = \"path\" }".to_owned()
                    },
                    Some(format!(
                        "{name_text} = {{ env = \"KEEPUP_{name_text}\" }} (from keepup's environment) or {name_text} = {{ file = \"/etc/keepup/{lower}\" }}",
                        name_text = name.get_ref(),
                        lower = name.get_ref().to_ascii_lowercase()
                    )),
                );
                fine = false;
                continue;
            };
            match self.secret(
                Inline::NotAccepted,
                from_env,
                from_file,
                value.span(),
                &format!("{path}.env"),
                name.get_ref(),
            ) {
                Some(secret) => env.push((name.get_ref().clone(), secret)),
                None => fine = false,
            }
        }
        fine.then_some(env)
    }
}
