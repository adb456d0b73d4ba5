//! `keepup token create|list|revoke`: API tokens. A token is printed once,
//! at creation; the store keeps only its SHA-256.

use super::users::{cli_actor, open_store};
use crate::cli::TokenCommand;
use keepup_model::{Clock, SystemClock, format_rfc3339};
use keepup_store::TokenScope;
use keepup_web::auth::secret;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Longest token name.
const MAX_NAME: usize = 64;

/// Runs a `keepup token` subcommand.
pub fn run(command: TokenCommand) -> anyhow::Result<ExitCode> {
    match command {
        TokenCommand::Create {
            name,
            scope,
            expires,
            config,
        } => create(&config.config, &name, &scope, expires),
        TokenCommand::List { config } => list(&config.config),
        TokenCommand::Revoke { name, config } => revoke(&config.config, &name),
    }
}

fn create(
    path: &Path,
    name: &str,
    scope: &str,
    expires: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let plain = !name.is_empty()
        && name.chars().count() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain {
        eprintln!("keepup: --name {name:?}: 1 to {MAX_NAME} letters, digits, '.', '_' or '-'");
        return Ok(ExitCode::from(1));
    }
    let Some(scope) = TokenScope::parse(scope) else {
        eprintln!("keepup: --scope {scope:?}: write read or write");
        return Ok(ExitCode::from(1));
    };
    if expires.is_some_and(|d| d.is_zero()) {
        eprintln!("keepup: --expires must be longer than zero");
        return Ok(ExitCode::from(1));
    }
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let Some(token) = secret::new_token() else {
        anyhow::bail!("the system gave no randomness for a token");
    };
    let now = SystemClock.now_ms();
    let expires_at =
        expires.map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)));
    if !store.create_token(name, &secret::digest(&token), scope, now, expires_at)? {
        eprintln!("keepup: a token named {name} exists; revoke it first or choose another name");
        return Ok(ExitCode::from(1));
    }
    let until = expires_at.map_or("never expires".to_owned(), |t| {
        format!("expires {}", format_rfc3339(t))
    });
    keepup_web::auth::audit(
        &store,
        &cli_actor(),
        "token.create",
        name,
        &format!("scope {scope}; {until}"),
    );
    eprintln!("token {name} ({scope}; {until}); it is shown once, keep it now:");
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

fn list(path: &Path) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let now = SystemClock.now_ms();
    let mut rows = vec![
        ["NAME", "SCOPE", "CREATED", "LAST USED", "EXPIRES"]
            .map(String::from)
            .to_vec(),
    ];
    for t in store.tokens()? {
        rows.push(vec![
            t.name.clone(),
            t.scope.to_string(),
            format_rfc3339(t.created_at),
            t.last_used_at.map_or("never".into(), format_rfc3339),
            match t.expires_at {
                None => "never".into(),
                Some(e) if !t.live_at(now) => format!("{} (expired)", format_rfc3339(e)),
                Some(e) => format_rfc3339(e),
            },
        ]);
    }
    print!("{}", super::status::render(&rows));
    Ok(ExitCode::SUCCESS)
}

fn revoke(path: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let store = match open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    if !store.revoke_token(name)? {
        eprintln!("keepup: no token named {name}");
        return Ok(ExitCode::from(1));
    }
    keepup_web::auth::audit(&store, &cli_actor(), "token.revoke", name, "");
    println!("token {name} revoked");
    Ok(ExitCode::SUCCESS)
}
