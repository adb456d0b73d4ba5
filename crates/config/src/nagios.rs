//! The check kind `nagios`: run a Nagios / Monitoring Plugins command and
//! read its verdict. Its configuration as written, as validated, and the
//! validation between the two.
//!
//! The command is an argument list, never a shell line: nothing in it is
//! expanded or split, so a value cannot turn into a second command.
//! Secrets reach the plugin through `env` (a variable of its environment
//! filled from keepup's environment or a file), never inline: a password
//! in an argument would show in `ps` and in the configuration.

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNagios {
    pub command: Spanned<Vec<Spanned<String>>>,
    pub env: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
}

impl Loader<'_> {
    pub(crate) fn nagios(&mut self, raw: RawNagios, path: &str) -> Option<NagiosSpec> {
        let key = format!("{path}.command");
        let span = raw.command.span();
        let words = raw.command.into_inner();
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
    fn nagios_env(
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
