//! `keepup user add|passwd|remove|list`: the dashboard's users, in the
//! store. A password is read from the terminal without echo (twice), from
//! `--password-file`, or from standard input when it is not a terminal;
//! never from the command line (other users see it in `ps`), and never
//! printed.

use crate::cli::UserCommand;
use anyhow::Context;
use keepup_model::{Clock, SystemClock, format_rfc3339};
use keepup_store::{Role, Store};
use keepup_web::auth::password;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

/// Longest user name.
const MAX_NAME: usize = 64;

/// Runs a `keepup user` subcommand.
pub fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_file,
            config,
        } => add(&config.config, &name, &role, password_file.as_deref()),
        UserCommand::Passwd {
            name,
            password_file,
            config,
        } => passwd(&config.config, &name, password_file.as_deref()),
        UserCommand::Remove { name, config } => remove(&config.config, &name),
        UserCommand::List { config } => list(&config.config),
    }
}

/// The audit log's name for whoever runs this command: `cli:<unix user>`.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid{}", own_uid()));
    format!("cli:{user}")
}

/// The uid this process runs as, from /proc (no unsafe libc call).
fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX)
}

/// Opens (creating if needed) the store of the configuration at `path`:
/// users may be added before the daemon ever ran.
pub(crate) fn open_store(path: &Path) -> anyhow::Result<Result<Store, ExitCode>> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(Err(code)),
    };
    Ok(Ok(
        Store::open(&config.store.path).context("cannot open the store")?
    ))
}

/// A user name is 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a user name: 1 to {MAX_NAME} letters, digits, '.', '_', '-' or '@'"
        ))
    }
}

/// Reads the new password from where the brief says.
fn read_password(name: &str, file: Option<&Path>) -> anyhow::Result<String> {
    let text = if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the password file {}", file.display()))?;
        text.lines().next().unwrap_or_default().to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("New password for {name}: "))
            .context("cannot read the password from the terminal")?;
        let again = rpassword::prompt_password("Again: ")
            .context("cannot read the password from the terminal")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    password::acceptable(&text)?;
    Ok(text)
}

fn add(path: &Path, name: &str, role: &str, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    if let Err(why) = check_name(name) {
        eprintln!("keepup: {why}");
        return Ok(ExitCode::from(1));
    }
    let Some(role) = Role::parse(role) else {
        eprintln!("keepup: --role {role:?}: write viewer, operator or admin");
        return Ok(ExitCode::from(1));
    };
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if store.user(name)?.is_some() {
        eprintln!("keepup: user {name} exists; `keepup user passwd {name}` sets a new password");
        return Ok(ExitCode::from(1));
    }
    let hash = password::hash(&read_password(name, file)?)?;
    if !store.add_user(name, &hash, role, SystemClock.now_ms())? {
        eprintln!("keepup: user {name} exists");
        return Ok(ExitCode::from(1));
    }
    keepup_web::auth::audit(
        &store,
        &cli_actor(),
        "user.add",
        name,
        &format!("role {role}"),
    );
    println!("user {name} added ({role})");
    Ok(ExitCode::SUCCESS)
}

fn passwd(path: &Path, name: &str, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if store.user(name)?.is_none() {
        eprintln!("keepup: no user {name}");
        return Ok(ExitCode::from(1));
    }
    let hash = password::hash(&read_password(name, file)?)?;
    if !store.set_password(name, &hash)? {
        eprintln!("keepup: no user {name}");
        return Ok(ExitCode::from(1));
    }
    keepup_web::auth::audit(
        &store,
        &cli_actor(),
        "user.passwd",
        name,
        "password changed; sessions ended; lock lifted",
    );
    println!("password of {name} changed; their sessions are logged out");
    Ok(ExitCode::SUCCESS)
}

fn remove(path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if !store.remove_user(name)? {
        eprintln!("keepup: no user {name}");
        return Ok(ExitCode::from(1));
    }
    keepup_web::auth::audit(&store, &cli_actor(), "user.remove", name, "");
    println!("user {name} removed; their sessions are logged out");
    Ok(ExitCode::SUCCESS)
}

fn list(path: &Path) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now_ms();
    let mut rows = vec![
        ["NAME", "ROLE", "CREATED", "LOCKED UNTIL"]
            .map(String::from)
            .to_vec(),
    ];
    for u in store.users()? {
        rows.push(vec![
            u.name.clone(),
            u.role.to_string(),
            format_rfc3339(u.created_at),
            match store.user_locked_until(u.id, now)? {
                Some(until) => format_rfc3339(until),
                None => "-".into(),
            },
        ]);
    }
    print!("{}", super::status::render(&rows));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_short_and_plain() {
        assert!(check_name("ann.o-neil@ops").is_ok());
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
