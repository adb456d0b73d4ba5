//! The check kind `nagios`: run a Nagios / Monitoring Plugins command and
//! read its verdict. Its configuration as written, as validated, and the
//! validation between the two.
//!
//! The command is an argument list, never a shell line: nothing in it is
//! expanded or split, so a value cannot turn into a second command.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::load::Loader;

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
        Some(NagiosSpec {
            program,
            args: args.iter().map(|a| a.get_ref().clone()).collect(),
        })
    }
}
