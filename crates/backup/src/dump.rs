//! Database dumps and clients: the `pg_dump` / `mysqldump` command of a
//! database source, the line a complete plain dump ends with, and the
//! connection settings that the dump programs and the restore clients
//! (`psql`, `pg_restore`, `mysql`) share.
//!
//! A run streams the dump program's stdout into the repository
//! ([`crate::source`]), never staged on disk, and records the snapshot only
//! if the program exited with status 0 and, for a plain dump, its output
//! ends with the program's completion line (a dump cut short by a wrapper
//! or a pipeline that hides the exit status has none).
//!
//! The password reaches a client through its environment only
//! (`PGPASSWORD`, `MYSQL_PWD`), never its command line; the environment is
//! otherwise keepup's allow-list ([`crate::child`]).

use std::ffi::{OsStr, OsString};
use std::process::Command;
use std::time::Duration;

use keepup_config::Secret;
use keepup_config::backup::{DatabaseKind, DatabaseSource, DumpFormat};

/// The connect timeout of the dump programs: a server that does not
/// answer fails the dump instead of hanging it.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much of the end of a dump is kept to look for its completion line.
pub(crate) const DUMP_TAIL: usize = 1024;

/// A database server as its clients reach it.
pub(crate) struct Server<'a> {
    pub(crate) kind: DatabaseKind,
    /// Host name or address; a path (starting with `/`) is a Unix socket
    /// (PostgreSQL: its directory; MySQL: the socket file). `None`: the
    /// client's default.
    pub(crate) host: Option<&'a str>,
    pub(crate) port: Option<u16>,
    pub(crate) user: Option<&'a str>,
    pub(crate) password: Option<&'a Secret>,
    /// Connecting (TCP and login) must not take longer. `mysqldump` has no
    /// such option (its run is bounded by the plan's `command_timeout`);
    /// the `mysql` client gets `--connect-timeout` from its caller.
    pub(crate) connect_timeout: Duration,
}

/// `program` (a client of `server`'s kind) with the connection options,
/// and an environment of the allow-list plus the password and timeout.
pub(crate) fn client_command(program: impl AsRef<OsStr>, server: &Server<'_>) -> Command {
    let mut cmd = crate::child::command(program, &[]);
    let timeout_secs = server.connect_timeout.as_secs().max(1);
    match server.kind {
        DatabaseKind::Postgres => {
            if let Some(p) = server.password {
                cmd.env("PGPASSWORD", p.expose());
            }
            cmd.env("PGAPPNAME", "keepup-backup");
            // libpq's bound on the whole connection attempt.
            cmd.env("PGCONNECT_TIMEOUT", timeout_secs.to_string());
        }
        DatabaseKind::Mysql => {
            if let Some(p) = server.password {
                cmd.env("MYSQL_PWD", p.expose());
            }
        }
    }
    cmd.args(connection_args(server));
    cmd
}

fn connection_args(server: &Server<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match server.kind {
        DatabaseKind::Postgres => {
            // Never prompt: no password means failing, not hanging.
            args.push("--no-password".into());
            if let Some(h) = server.host {
                args.push(format!("--host={h}").into());
            }
            if let Some(p) = server.port {
                args.push(format!("--port={p}").into());
            }
            if let Some(u) = server.user {
                args.push(format!("--username={u}").into());
            }
        }
        DatabaseKind::Mysql => {
            match server.host {
                Some(h) if h.starts_with('/') => args.push(format!("--socket={h}").into()),
                Some(h) => {
                    args.push(format!("--host={h}").into());
                    // "localhost" would silently mean the default socket
                    // and ignore the port.
                    args.push("--protocol=TCP".into());
                }
                None => {}
            }
            if let Some(p) = server.port {
                args.push(format!("--port={p}").into());
            }
            if let Some(u) = server.user {
                args.push(format!("--user={u}").into());
            }
            args.push("--default-character-set=utf8mb4".into());
        }
    }
    args
}

/// ` on host:port`, or nothing for the client's defaults.
pub(crate) fn describe_server(host: Option<&str>, port: Option<u16>) -> String {
    match (host, port) {
        (Some(h), Some(p)) => format!(" on {h}:{p}"),
        (Some(h), None) => format!(" on {h}"),
        (None, Some(p)) => format!(" on port {p}"),
        (None, None) => String::new(),
    }
}

/// The dump program's name.
fn dump_program(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Postgres => "pg_dump",
        DatabaseKind::Mysql => "mysqldump",
    }
}

/// The command that writes the dump of `db` to stdout: `pg_dump
/// --format=plain|custom` or `mysqldump --single-transaction --quick
/// --routines --triggers`, with the connection options, the extra
/// arguments and the database name. The password is in its environment:
/// never `Debug`-print the command. Refuses settings that cannot give a
/// streamed, complete, secret-free dump (the reason never repeats an
/// argument: it may hold a password).
pub(crate) fn dump_command(db: &DatabaseSource) -> Result<Command, String> {
    validate(db)?;
    let mut cmd = client_command(
        dump_program(db.kind),
        &Server {
            kind: db.kind,
            host: Some(&db.host),
            port: Some(db.port),
            user: Some(&db.user),
            password: db.password.as_ref(),
            connect_timeout: CONNECT_TIMEOUT,
        },
    );
    match db.kind {
        DatabaseKind::Postgres => {
            cmd.arg(match db.format {
                DumpFormat::Plain => "--format=plain",
                DumpFormat::Custom => "--format=custom",
            });
        }
        DatabaseKind::Mysql => {
            // A consistent snapshot without locking InnoDB tables, rows
            // streamed rather than buffered, and the schema's code too;
            // `--comments` so that an option file's skip-comments cannot
            // drop the completion line (the plan's own arguments, after
            // these, still can: see completion_line).
            cmd.args([
                "--single-transaction",
                "--quick",
                "--routines",
                "--triggers",
                "--comments",
            ]);
        }
    }
    cmd.args(&db.args);
    match db.kind {
        DatabaseKind::Postgres => cmd.arg(format!("--dbname={}", db.dbname)),
        DatabaseKind::Mysql => cmd.arg(&db.dbname),
    };
    Ok(cmd)
}

/// The line a complete dump of `db` contains near its end, when there is
/// one to check.
pub(crate) fn dump_completion_line(db: &DatabaseSource) -> Option<&'static [u8]> {
    completion_line(db.kind, db.format, &db.args)
}

/// The line a complete dump of `kind` and `format` made with `args`
/// contains near its end: pg_dump's plain format and mysqldump write one
/// (mysqldump not with `--skip-comments` or `--compact`); pg_dump's custom
/// format has none (its exit status decides).
pub(crate) fn completion_line(
    kind: DatabaseKind,
    format: DumpFormat,
    args: &[String],
) -> Option<&'static [u8]> {
    match (kind, format) {
        (DatabaseKind::Postgres, DumpFormat::Plain) => {
            Some(b"-- PostgreSQL database dump complete")
        }
        (DatabaseKind::Postgres, DumpFormat::Custom) => None,
        (DatabaseKind::Mysql, _) => {
            // The last word on comments wins, in any of the spellings
            // MySQL's option parser accepts.
            let mut comments = true;
            for arg in args {
                let arg = arg.replace('_', "-").to_ascii_lowercase();
                let arg = arg
                    .strip_prefix("--loose-")
                    .map_or(arg.clone(), |a| format!("--{a}"));
                match arg.as_str() {
                    "--skip-comments" | "--compact" | "--disable-comments" => comments = false,
                    "--comments" | "--enable-comments" => comments = true,
                    _ => {
                        if let Some(v) = arg.strip_prefix("--comments=") {
                            comments = !matches!(v, "0" | "off" | "false" | "no");
                        }
                    }
                }
            }
            comments.then_some(b"-- Dump completed".as_slice())
        }
    }
}

/// Whether `haystack` contains `needle` (the completion line in a dump's
/// tail).
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Keeps the last [`DUMP_TAIL`] bytes of a stream in `tail`.
pub(crate) fn keep_tail(tail: &mut Vec<u8>, data: &[u8]) {
    if data.len() >= DUMP_TAIL {
        tail.clear();
        tail.extend_from_slice(&data[data.len() - DUMP_TAIL..]);
    } else {
        tail.extend_from_slice(data);
        let excess = tail.len().saturating_sub(DUMP_TAIL);
        tail.drain(..excess);
    }
}

/// Refuses settings that cannot give a streamed, complete, secret-free
/// dump.
fn validate(db: &DatabaseSource) -> Result<(), String> {
    if db.dbname.is_empty() {
        return Err("the database name is empty".into());
    }
    if db.dbname.starts_with('-') {
        return Err(format!(
            "database name {:?} starts with '-' (it would be read as an option)",
            db.dbname
        ));
    }
    if db.host.starts_with('-') {
        return Err(format!("host {:?} starts with '-'", db.host));
    }
    if db.kind == DatabaseKind::Mysql && db.format == DumpFormat::Custom {
        return Err("the custom format is PostgreSQL's; mysqldump writes plain SQL".into());
    }
    for arg in &db.args {
        let refused = match db.kind {
            DatabaseKind::Postgres => {
                if is_option(arg, &["-f", "--file"]) {
                    Some("writes the dump to a file; keepup streams it from stdout")
                } else if is_option(arg, &["-F", "--format"]) {
                    Some("sets the format; use the source's `format` setting")
                } else if is_option(arg, &["-W", "--password"]) {
                    Some("asks for a password; use password_env or password_file")
                } else {
                    None
                }
            }
            DatabaseKind::Mysql => {
                if is_option(arg, &["-r", "--result-file"]) {
                    Some("writes the dump to a file; keepup streams it from stdout")
                } else if is_option(arg, &["-p", "--password"]) {
                    Some("puts a password on the command line; use password_env or password_file")
                } else if is_option(arg, &["--tab", "-T"]) {
                    Some("writes the dump to files; keepup streams it from stdout")
                } else {
                    None
                }
            }
        };
        let refused = refused
            .or_else(|| keepup_config::backup::database_switching_arg(db.kind, db.format, arg));
        if let Some(why) = refused {
            // The argument itself is not repeated: it may hold a password.
            return Err(format!("an argument for {} {why}", dump_program(db.kind)));
        }
    }
    Ok(())
}

/// Whether `arg` is one of `names` (short `-x`, `-xVALUE`; long `--name`,
/// `--name=VALUE`).
fn is_option(arg: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        if name.starts_with("--") {
            arg == *name || arg.starts_with(&format!("{name}="))
        } else {
            arg.starts_with(name) && !arg.starts_with("--")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env(cmd: &Command, name: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    fn source(kind: DatabaseKind) -> DatabaseSource {
        DatabaseSource {
            kind,
            host: "127.0.0.1".into(),
            port: kind.default_port(),
            user: "backup".into(),
            dbname: "shop".into(),
            password: Some(Secret::new("s3cret pw".into())),
            args: Vec::new(),
            format: DumpFormat::Plain,
            filename: "shop.sql".into(),
        }
    }

    #[test]
    fn pg_dump_command_has_the_password_in_its_environment_only() {
        let mut db = source(DatabaseKind::Postgres);
        db.port = 5433;
        db.format = DumpFormat::Custom;
        db.args = vec!["--no-owner".into()];
        let cmd = dump_command(&db).unwrap();
        assert_eq!(cmd.get_program(), "pg_dump");
        assert_eq!(
            args(&cmd),
            [
                "--no-password",
                "--host=127.0.0.1",
                "--port=5433",
                "--username=backup",
                "--format=custom",
                "--no-owner",
                "--dbname=shop"
            ]
        );
        assert_eq!(env(&cmd, "PGPASSWORD").as_deref(), Some("s3cret pw"));
        assert_eq!(env(&cmd, "PGCONNECT_TIMEOUT").as_deref(), Some("30"));
        assert!(!args(&cmd).join(" ").contains("s3cret"));
        assert_eq!(dump_completion_line(&db), None);
    }

    #[test]
    fn mysqldump_command() {
        let mut db = source(DatabaseKind::Mysql);
        db.host = "localhost".into();
        db.port = 3307;
        let cmd = dump_command(&db).unwrap();
        assert_eq!(cmd.get_program(), "mysqldump");
        assert_eq!(
            args(&cmd),
            [
                "--host=localhost",
                "--protocol=TCP",
                "--port=3307",
                "--user=backup",
                "--default-character-set=utf8mb4",
                "--single-transaction",
                "--quick",
                "--routines",
                "--triggers",
                "--comments",
                "shop"
            ]
        );
        assert_eq!(env(&cmd, "MYSQL_PWD").as_deref(), Some("s3cret pw"));
        db.host = "/run/mysqld/mysqld.sock".into();
        let cmd = dump_command(&db).unwrap();
        assert!(args(&cmd).contains(&"--socket=/run/mysqld/mysqld.sock".to_owned()));
        assert!(!args(&cmd).contains(&"--protocol=TCP".to_owned()));
    }

    #[test]
    fn refuses_what_cannot_stream_or_would_leak() {
        let cases: &[(DatabaseKind, &str)] = &[
            (DatabaseKind::Postgres, "--file=/tmp/x"),
            (DatabaseKind::Postgres, "-f"),
            (DatabaseKind::Postgres, "-Fd"),
            (DatabaseKind::Postgres, "--password"),
            (DatabaseKind::Mysql, "-psecret"),
            (DatabaseKind::Mysql, "--password=secret"),
            (DatabaseKind::Mysql, "--result-file=/tmp/x"),
        ];
        for (kind, arg) in cases {
            let mut db = source(*kind);
            db.args = vec![(*arg).to_owned()];
            let err = dump_command(&db).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
        // Options that merely look alike pass.
        let mut db = source(DatabaseKind::Mysql);
        db.args = vec!["-P3306".into(), "--port=3306".into()];
        assert!(dump_command(&db).is_ok());
        db.args.clear();
        db.dbname = "--all-databases".into();
        assert!(dump_command(&db).is_err());
        let mut db = source(DatabaseKind::Mysql);
        db.format = DumpFormat::Custom;
        assert!(dump_command(&db).is_err());
    }

    #[test]
    fn completion_lines() {
        let mut db = source(DatabaseKind::Mysql);
        assert_eq!(dump_completion_line(&db), Some(&b"-- Dump completed"[..]));
        for quiet in [
            "--skip-comments",
            "--compact",
            "--comments=0",
            "--skip_comments",
            "--loose-skip-comments",
            "--comments=OFF",
            "--comments=false",
            "--disable-comments",
        ] {
            db.args = vec![quiet.into()];
            assert_eq!(dump_completion_line(&db), None, "{quiet}");
        }
        // The last one wins.
        db.args = vec!["--skip-comments".into(), "--comments".into()];
        assert_eq!(dump_completion_line(&db), Some(&b"-- Dump completed"[..]));
        db.args = vec!["--comments=1".into()];
        assert_eq!(dump_completion_line(&db), Some(&b"-- Dump completed"[..]));
        let db = source(DatabaseKind::Postgres);
        assert_eq!(
            dump_completion_line(&db),
            Some(&b"-- PostgreSQL database dump complete"[..])
        );
    }

    #[test]
    fn the_tail_keeps_the_end() {
        let mut tail = Vec::new();
        keep_tail(&mut tail, &[b'a'; 2000]);
        keep_tail(&mut tail, b"-- Dump completed");
        assert_eq!(tail.len(), DUMP_TAIL);
        assert!(contains(&tail, b"-- Dump completed"));
        keep_tail(&mut tail, &[b'b'; DUMP_TAIL]);
        assert!(!contains(&tail, b"-- Dump completed"));
    }
}
