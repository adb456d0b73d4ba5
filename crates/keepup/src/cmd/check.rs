//! `keepup check`: one check, once, Nagios plugin style.
//!
//! A TARGET is turned into a one-check configuration and loaded through the
//! normal validation path, so ad-hoc checks behave exactly like configured
//! ones.

use anyhow::bail;
use keepup_config::{Check, Config, MailProtocol, MailTls, toml_string as toml_str};
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::ProbeContext;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(
    target: Option<&str>,
    check_id: Option<&str>,
    config_path: &Path,
    timeout: Duration,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let probes = ProbeContext::new();
    let check = match (target, check_id) {
        (Some(t), _) => match ad_hoc(t, timeout) {
            Ok(c) => c,
            Err(e) => {
                println!("UNKNOWN - {e:#}");
                return Ok(ExitCode::from(3));
            }
        },
        (None, Some(id)) => {
            let config = match super::load_config(config_path) {
                Ok(c) => c,
                Err(_) => return Ok(ExitCode::from(3)),
            };
            probes.resolve_hosts_as(&config.dns);
            match config.find_check(id) {
                Some(c) => c.clone(),
                None => {
                    println!(
                        "UNKNOWN - no check {id:?} in {} (ids: {})",
                        config_path.display(),
                        ids(&config)
                    );
                    return Ok(ExitCode::from(3));
                }
            }
        }
        (None, None) => bail!("give a TARGET or --check ID"),
    };
    let Some(probe) = check.probe() else {
        println!(
            "UNKNOWN - {} checks are passive; see `keepup status`",
            check.spec.kind()
        );
        return Ok(ExitCode::from(3));
    };
    let outcome = super::runtime()?.block_on(keepup_probe::run(
        probe,
        check.timeout,
        &probes.for_check(&check.id),
    ));
    if json {
        let doc =
            serde_json::json!({ "check": check.id, "kind": check.spec.kind(), "outcome": outcome });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{}", nagios_line(&check, &outcome));
        // A plugin's first line is its verdict; the steps of a scenario,
        // login or browser check follow as its long output.
        if let Some(table) = steps_table(&outcome) {
            print!("{table}");
        }
        print!("{}", long_output(&outcome));
        print!("{}", super::check_db::replication_lines(&outcome));
    }
    Ok(ExitCode::from(outcome.status.nagios_code() as u8))
}

fn ids(config: &Config) -> String {
    let all: Vec<&str> = config.checks().map(|c| c.id.as_str()).collect();
    if all.is_empty() {
        "none".into()
    } else {
        all.join(", ")
    }
}

/// The schemes a TARGET may have, for messages.
const SCHEMES: &str = "http://, https://, tcp://HOST:PORT, tls://HOST[:PORT], ping://HOST, \
    ssh://HOST[:PORT], smtp[s]://, imap[s]://, pop3[s]://, ftp[s]://HOST[:PORT], \
    postgres[ql]://[USER@]HOST[:PORT][/DATABASE], mysql://[USER@]HOST[:PORT], \
    redis[s]://[USER@]HOST[:PORT]";

/// Builds a check from a URL-like target.
pub(crate) fn ad_hoc(target: &str, timeout: Duration) -> anyhow::Result<Check> {
    let timeout_s = timeout.as_secs_f64();
    let env_set = |var: &str| std::env::var_os(var).is_some_and(|v| !v.is_empty());
    let body = check_body(target, &env_set)?;
    let src = format!(
        "[[site]]\nid = \"adhoc\"\n[[site.check]]\nid = \"target\"\ninterval = {interval}\ntimeout = {timeout_s}\n{body}",
        interval = timeout_s.max(1.0)
    );
    match keepup_config::load_str(&src, Path::new("<command line>")) {
        Ok(mut config) => config
            .sites
            .pop()
            .and_then(|mut s| s.checks.pop())
            .map(std::sync::Arc::unwrap_or_clone)
            .ok_or_else(|| anyhow::anyhow!("no check built")),
        Err(problems) => {
            let msgs: Vec<String> = problems.0.iter().map(|p| p.message.clone()).collect();
            bail!("invalid target {target:?}: {}", msgs.join("; "))
        }
    }
}

/// The check's keys (`kind` and what it needs) for `target`, as TOML the
/// configuration's own validation reads; `env_set` tells whether an
/// environment variable is set (a database password comes from its
/// client's usual variable).
fn check_body(target: &str, env_set: &dyn Fn(&str) -> bool) -> anyhow::Result<String> {
    refuse_password(target)?;
    let body = if target.starts_with("http://") || target.starts_with("https://") {
        format!("kind = \"http\"\nurl = {}\n", toml_str(target))
    } else if let Some(rest) = target.strip_prefix("tcp://") {
        let (host, port) = split_host_port(no_user(rest, "tcp")?, None)?;
        format!(
            "kind = \"tcp\"\nhost = {}\nport = {port}\n",
            toml_str(&host)
        )
    } else if let Some(rest) = target.strip_prefix("tls://") {
        let (host, port) = split_host_port(no_user(rest, "tls")?, Some(443))?;
        format!(
            "kind = \"tls\"\nhost = {}\nport = {port}\n",
            toml_str(&host)
        )
    } else if let Some(rest) = target.strip_prefix("ping://") {
        let host = no_user(rest, "ping")?.trim_end_matches('/');
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        format!("kind = \"ping\"\nhost = {}\n", toml_str(host))
    } else if let Some(rest) = target.strip_prefix("ssh://") {
        // The host key is shown, not compared: pin it in a configuration
        // file (host_key_sha256) to be told when it changes.
        let (host, port) = split_host_port(no_user(rest, "ssh")?, Some(22))?;
        format!(
            "kind = \"ssh\"\nhost = {}\nport = {port}\n",
            toml_str(&host)
        )
    } else if let Some((kind, implicit, rest)) = mail_scheme(target) {
        let tls_mode = if implicit {
            MailTls::Implicit
        } else {
            MailTls::StartTls
        };
        let default_port = kind.default_port(tls_mode);
        let (host, port) = split_host_port(no_user(rest, kind.kind())?, Some(default_port))?;
        let kind = kind.kind();
        let tls = if implicit { "tls = \"implicit\"\n" } else { "" };
        format!(
            "kind = \"{kind}\"\nhost = {}\nport = {port}\n{tls}",
            toml_str(&host)
        )
    } else if let Some((db, tls, rest)) = db_scheme(target) {
        db_body(db, tls, rest, env_set)?
    } else {
        bail!("cannot tell what {target:?} is: use {SCHEMES}");
    };
    Ok(body)
}

/// A database or cache a target names: its check kind, its default port
/// and the variable its own client reads a password from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    Postgres,
    Mysql,
    Redis,
}

impl Db {
    fn kind(self) -> &'static str {
        match self {
            Db::Postgres => "postgres",
            Db::Mysql => "mysql",
            Db::Redis => "redis",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Db::Postgres => 5432,
            Db::Mysql => 3306,
            Db::Redis => 6379,
        }
    }

    /// Where psql, mysql and redis-cli read a password from.
    fn password_var(self) -> &'static str {
        match self {
            Db::Postgres => "PGPASSWORD",
            Db::Mysql => "MYSQL_PWD",
            Db::Redis => "REDISCLI_AUTH",
        }
    }

    fn client(self) -> &'static str {
        match self {
            Db::Postgres => "psql",
            Db::Mysql => "mysql",
            Db::Redis => "redis-cli",
        }
    }
}

/// `postgres://`, `postgresql://`, `mysql://`, `redis://`, `rediss://`
/// (Redis over TLS): the database, whether TLS is required, and the rest.
fn db_scheme(target: &str) -> Option<(Db, bool, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let (db, tls) = match scheme {
        "postgres" | "postgresql" => (Db::Postgres, false),
        "mysql" => (Db::Mysql, false),
        "redis" => (Db::Redis, false),
        "rediss" => (Db::Redis, true),
        _ => return None,
    };
    Some((db, tls, rest))
}

/// `[USER@]HOST[:PORT][/DATABASE]` of a database URL as a check's keys;
/// the password from the client's own variable when it is set.
fn db_body(
    db: Db,
    tls: bool,
    rest: &str,
    env_set: &dyn Fn(&str) -> bool,
) -> anyhow::Result<String> {
    let kind = db.kind();
    if rest.contains(['?', '#']) {
        bail!(
            "{kind} targets take no query or fragment (sslmode, options...): write the check in a \
             configuration file for those (see `kind = \"{kind}\"` in the README)"
        );
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    let (host, port) = split_host_port(host_port, Some(db.default_port()))?;
    let mut body = format!(
        "kind = \"{kind}\"\nhost = {}\nport = {port}\n",
        toml_str(&host)
    );
    if let Some(user) = user {
        body.push_str(&format!("user = {}\n", toml_str(user)));
    }
    match (db, path) {
        (_, "") => {}
        (Db::Postgres, database) => {
            body.push_str(&format!("database = {}\n", toml_str(database)));
        }
        (_, other) => bail!(
            "{kind} targets name no database ({other:?} after the host): a {kind} check \
             watches the server"
        ),
    }
    if tls {
        body.push_str("tls = \"require\"\n");
    }
    if env_set(db.password_var()) {
        body.push_str(&format!("password_env = \"{}\"\n", db.password_var()));
    }
    Ok(body)
}

/// A password in a target would sit in the shell's history and in `ps`
/// for every user of the host: refused, without repeating it.
fn refuse_password(target: &str) -> anyhow::Result<()> {
    let Some((scheme, rest)) = target.split_once("://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Ok(());
    };
    if !userinfo.contains(':') {
        return Ok(());
    }
    let instead = match db_scheme(target) {
        Some((db, _, _)) => format!(
            "leave it out and set {var} (keepup check reads it, as {client} does), or write the \
             check in a configuration file with password_env or password_file",
            var = db.password_var(),
            client = db.client()
        ),
        None => "write the check in a configuration file, with the password in password_env or \
                 password_file"
            .to_owned(),
    };
    bail!(
        "the {scheme}:// target holds a password, which every user of this host can read on \
         the command line (ps, shell history): {instead}"
    )
}

/// The rest of a target that names no user: a `USER@` is refused rather
/// than taken for part of the host name.
fn no_user<'a>(rest: &'a str, kind: &str) -> anyhow::Result<&'a str> {
    let authority = rest.split('/').next().unwrap_or("");
    if authority.contains('@') {
        let login = match kind {
            "smtp" | "imap" | "pop3" | "ftp" => {
                ": a login test is written in a configuration file (username, and password_env \
                 or password_file)"
            }
            _ => ": its check does not log in",
        };
        bail!("{kind} targets take no USER@{login}");
    }
    Ok(rest)
}

/// `smtp://`, `smtps://`, `imap://`, `imaps://`, `pop3://`, `pop3s://`,
/// `ftp://` (AUTH TLS), `ftps://` (implicit TLS): the check kind, whether TLS is implicit, and the rest of the target.
fn mail_scheme(target: &str) -> Option<(MailProtocol, bool, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    let (kind, implicit) = match scheme {
        "smtp" => (MailProtocol::Smtp, false),
        "smtps" => (MailProtocol::Smtp, true),
        "imap" => (MailProtocol::Imap, false),
        "imaps" => (MailProtocol::Imap, true),
        "pop3" => (MailProtocol::Pop3, false),
        "pop3s" => (MailProtocol::Pop3, true),
        "ftp" => (MailProtocol::Ftp, false),
        "ftps" => (MailProtocol::Ftp, true),
        _ => return None,
    };
    Some((kind, implicit, rest))
}

fn split_host_port(s: &str, default_port: Option<u16>) -> anyhow::Result<(String, u16)> {
    let s = s.trim_end_matches('/');
    // [v6]:port, v6 without port, host:port, host
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| anyhow::anyhow!("unclosed '[' in {s:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse()?,
            None => default_port.ok_or_else(|| anyhow::anyhow!("{s:?} needs a port"))?,
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((
            h.to_owned(),
            p.parse()
                .map_err(|_| anyhow::anyhow!("invalid port {p:?}"))?,
        )),
        _ => Ok((
            s.to_owned(),
            default_port.ok_or_else(|| anyhow::anyhow!("{s:?} needs a port, e.g. {s}:25"))?,
        )),
    }
}

/// `KIND STATE - message[; worst finding] | perfdata`
pub fn nagios_line(check: &Check, o: &Outcome) -> String {
    let mut line = format!(
        "{} {} - {}",
        check.spec.kind().to_uppercase(),
        o.status.nagios_word(),
        o.message
    );
    let notable: Vec<&str> = o
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info || o.status != Status::Up)
        .map(|f| f.text.as_str())
        .filter(|t| *t != o.message)
        .take(3)
        .collect();
    if !notable.is_empty() {
        line.push_str("; ");
        line.push_str(&notable.join("; "));
    }
    line.push_str(" | ");
    line.push_str(&perfdata(check, o));
    // Messages quote servers: no escape sequence reaches the terminal.
    super::live::clean(&line)
}

fn perfdata(check: &Check, o: &Outcome) -> String {
    let mut parts = Vec::new();
    let (warn, crit) = match &check.spec {
        keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Http(h)) => {
            (h.degraded_latency, h.down_latency)
        }
        _ => (None, None),
    };
    let secs = |d: Option<Duration>| {
        d.map(|d| format!("{:.3}", d.as_secs_f64()))
            .unwrap_or_default()
    };
    parts.push(format!(
        "time={:.6}s;{};{};0",
        o.latency_ms / 1000.0,
        secs(warn),
        secs(crit)
    ));
    if let Some(t) = &o.evidence.timing {
        for (label, v) in [
            ("dns", t.dns_ms),
            ("connect", t.connect_ms),
            ("tls", t.tls_ms),
            ("firstbyte", t.first_byte_ms),
        ] {
            if let Some(ms) = v {
                parts.push(format!("{label}={:.6}s;;;0", ms / 1000.0));
            }
        }
    }
    if let Some(n) = o
        .evidence
        .details
        .get("body_bytes")
        .and_then(|v| v.as_u64())
    {
        parts.push(format!("size={n}B;;;0"));
    }
    // Ping: round trip and loss, as check_ping reports them.
    let ping = match &check.spec {
        keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Ping(p)) => Some(p),
        _ => None,
    };
    if let Some(avg) = o
        .evidence
        .details
        .get("rtt_ms")
        .and_then(|r| r["avg"].as_f64())
    {
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{:.3}", d.as_secs_f64() * 1000.0))
                .unwrap_or_default()
        };
        parts.push(format!(
            "rta={avg:.3}ms;{};{};0",
            ms(ping.and_then(|p| p.degraded_rtt)),
            ms(ping.and_then(|p| p.down_rtt))
        ));
    }
    if let Some(loss) = o
        .evidence
        .details
        .get("loss_percent")
        .and_then(|v| v.as_f64())
    {
        let (w, c) = ping.map_or((String::new(), String::new()), |p| {
            (p.degraded_loss.to_string(), p.down_loss.to_string())
        });
        parts.push(format!("pl={loss}%;{w};{c};0;100"));
    }
    if let Some(days) = o
        .evidence
        .details
        .get("cert_days_left")
        .and_then(|v| v.as_f64())
    {
        parts.push(format!("cert_days={days:.1};;;"));
    }
    // A plugin's own performance data, as it wrote it (its time is the
    // latency above).
    for item in o
        .evidence
        .details
        .get("perfdata")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let label = item["label"].as_str().unwrap_or_default();
        if label == "time" {
            continue;
        }
        let field = |key: &str| match &item[key] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let value = match &item["value"] {
            serde_json::Value::Null => "U".to_owned(),
            v => v.to_string(),
        };
        let fields = [field("warn"), field("crit"), field("min"), field("max")];
        let data = format!("{value}{};{}", field("uom"), fields.join(";"));
        parts.push(format!(
            "'{}'={}",
            label.replace('\'', "''"),
            data.trim_end_matches(';')
        ));
    }
    parts.join(" ")
}

/// A plugin's long output (`kind = "nagios"`), its lines after the
/// verdict as the plugin wrote them; empty for other outcomes.
pub fn long_output(o: &Outcome) -> String {
    let mut out = String::new();
    for line in o
        .evidence
        .details
        .get("long_output")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str())
    {
        out.push_str(&super::live::clean(line));
        out.push('\n');
    }
    out
}

/// The steps of a scenario, login or browser run as a table a person reads
/// at night: number, name, action, HTTP status, time with its phases, and
/// ok, skipped or the error; then the failing step's response and the
/// screenshot, if any. `None` for outcomes without steps.
pub fn steps_table(o: &Outcome) -> Option<String> {
    use serde_json::Value;
    let steps = o.evidence.details.get("steps")?.as_array()?;
    // A DNS walk has steps too, without actions.
    if !steps.iter().any(|s| s.get("action").is_some()) {
        return None;
    }
    // Names, actions, errors and bodies come from the configuration and
    // from servers: control characters (escape sequences) are replaced.
    let raw = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let text = |v: &Value| super::live::clean(&raw(v));
    let cut = |s: String, max: usize| {
        if s.chars().count() > max {
            format!("{}…", s.chars().take(max - 1).collect::<String>())
        } else {
            s
        }
    };
    let mut rows: Vec<[String; 7]> = vec![[
        "STEP".into(),
        "NAME".into(),
        "ACTION".into(),
        "STATUS".into(),
        "TIME".into(),
        "PHASES".into(),
        "RESULT".into(),
    ]];
    for step in steps {
        let cleanup = step["cleanup"].as_bool() == Some(true);
        let number = format!(
            "{}{}",
            if cleanup { "c" } else { "" },
            step_number(&step["index"])
        );
        let time = step["ms"]
            .as_f64()
            .map_or_else(|| "-".into(), |ms| format!("{ms:.1} ms"));
        let timing = &step["timing"];
        let phases: Vec<String> = [
            ("dns", "dns_ms"),
            ("connect", "connect_ms"),
            ("tls", "tls_ms"),
            ("first byte", "first_byte_ms"),
        ]
        .iter()
        .filter_map(|(label, key)| timing[*key].as_f64().map(|ms| format!("{label} {ms:.1}")))
        .collect();
        let result = if step["skipped"].as_bool() == Some(true) {
            match step["error"].as_str() {
                Some(why) => format!("skipped: {why}"),
                None => "skipped".into(),
            }
        } else if step["ok"].as_bool() == Some(true) {
            "ok".into()
        } else {
            format!("FAILED: {}", text(&step["error"]))
        };
        let status = match &step["status"] {
            Value::Null => "-".into(),
            v => text(v),
        };
        rows.push([
            number,
            cut(text(&step["name"]), 32),
            cut(text(&step["action"]), 48),
            status,
            time,
            if phases.is_empty() {
                "-".into()
            } else {
                phases.join(", ")
            },
            result,
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(failed) = o.evidence.details.get("failed_step") {
        let response = &failed["response"];
        if !response.is_null() {
            out.push_str(&format!(
                "step {} {:?} answered {} from {}\n",
                step_number(&failed["index"]),
                text(&failed["name"]),
                text(&response["status"]),
                text(&response["url"])
            ));
            let excerpt = raw(&response["body_excerpt"]);
            for line in excerpt.lines().filter(|l| !l.trim().is_empty()).take(5) {
                let line = super::live::clean(line.trim());
                out.push_str(&format!("  | {}\n", cut(line, 120)));
            }
        }
    }
    if let Some(shot) = o.evidence.details.get("screenshot") {
        out.push_str(&format!(
            "screenshot {} ({} bytes, {}) on the check's page of the dashboard\n",
            text(&shot["id"]),
            text(&shot["bytes"]),
            text(&shot["mime"])
        ));
    }
    Some(out)
}

/// A step's number for people, counting from 1 (the evidence's `index`
/// counts from 0).
fn step_number(index: &serde_json::Value) -> String {
    index
        .as_u64()
        .map_or_else(|| "?".into(), |i| (i + 1).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_checks() {
        let c = ad_hoc("https://shop.example/", Duration::from_secs(5)).unwrap();
        assert_eq!(c.spec.kind(), "http");
        assert_eq!(c.timeout, Duration::from_secs(5));
        let c = ad_hoc("tcp://127.0.0.1:25", Duration::from_secs(5)).unwrap();
        assert_eq!(c.spec.kind(), "tcp");
        let c = ad_hoc("tls://[::1]", Duration::from_secs(5)).unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Tls(t)) = &c.spec else {
            panic!()
        };
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        let c = ad_hoc("ping://[::1]", Duration::from_secs(5)).unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Ping(p)) = &c.spec else {
            panic!()
        };
        assert_eq!(p.host, "::1");
        assert!(ad_hoc("ping://host", Duration::from_millis(500)).is_err());
        assert!(ad_hoc("tcp://host", Duration::from_secs(5)).is_err());
        let e = ad_hoc("gopher://x", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("ssh://HOST[:PORT]"), "{e}");
    }

    #[test]
    fn ssh_and_ftp_targets_become_their_checks() {
        let c = ad_hoc("ssh://db.shop.example", Duration::from_secs(5)).unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Ssh(s)) = &c.spec else {
            panic!("{:?}", c.spec)
        };
        assert_eq!((s.host.as_str(), s.port), ("db.shop.example", 22));
        assert_eq!(s.host_key_sha256, None);
        let c = ad_hoc("ssh://[::1]:2222/", Duration::from_secs(5)).unwrap();
        assert_eq!(c.spec.target_host(), Some("::1"));
        let e = ad_hoc("ssh://git@host", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("ssh targets take no USER@"), "{e}");

        let mail = |target: &str| {
            let c = ad_hoc(target, Duration::from_secs(5)).unwrap();
            match c.spec {
                keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Mail(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        let m = mail("ftp://ftp.shop.example");
        assert_eq!(m.protocol.kind(), "ftp");
        assert_eq!((m.port, m.tls), (21, MailTls::StartTls));
        assert!(m.require_starttls && m.login.is_none());
        let m = mail("ftps://ftp.shop.example:2990");
        assert_eq!((m.port, m.tls), (2990, MailTls::Implicit));
        assert_eq!(mail("ftps://[::1]").port, 990);
        let e = ad_hoc("ftp://anonymous@host", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("password_env"), "{e}");
    }

    fn db(target: &str, env: &[&str]) -> anyhow::Result<String> {
        check_body(target, &|var| env.contains(&var))
    }

    #[test]
    fn database_targets_become_their_checks_through_the_configurations_validation() {
        assert_eq!(
            db("postgres://keepup@db1.shop.example:5433/shop", &[]).unwrap(),
            "kind = \"postgres\"\nhost = \"db1.shop.example\"\nport = 5433\nuser = \"keepup\"\ndatabase = \"shop\"\n"
        );
        assert_eq!(
            db("postgresql://[::1]", &["PGPASSWORD"]).unwrap(),
            "kind = \"postgres\"\nhost = \"::1\"\nport = 5432\npassword_env = \"PGPASSWORD\"\n"
        );
        assert_eq!(
            db("mysql://monitor@127.0.0.1/", &["MYSQL_PWD", "PGPASSWORD"]).unwrap(),
            "kind = \"mysql\"\nhost = \"127.0.0.1\"\nport = 3306\nuser = \"monitor\"\npassword_env = \"MYSQL_PWD\"\n"
        );
        assert_eq!(
            db("rediss://cache1.shop.example", &["REDISCLI_AUTH"]).unwrap(),
            "kind = \"redis\"\nhost = \"cache1.shop.example\"\nport = 6379\ntls = \"require\"\npassword_env = \"REDISCLI_AUTH\"\n"
        );
        // Loaded as a configured check is.
        let c = ad_hoc(
            "postgres://keepup@127.0.0.1:5433/shop",
            Duration::from_secs(5),
        )
        .unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Postgres(p)) = &c.spec else {
            panic!("{:?}", c.spec)
        };
        assert_eq!((p.server.port, p.database.as_str()), (5433, "shop"));
        assert_eq!(p.server.user.as_deref(), Some("keepup"));
        assert_eq!(
            ad_hoc("redis://h", Duration::from_secs(5))
                .unwrap()
                .spec
                .kind(),
            "redis"
        );
        assert_eq!(
            ad_hoc("mysql://h:3307", Duration::from_secs(5))
                .unwrap()
                .spec
                .kind(),
            "mysql"
        );
        // The configuration's own checks apply: a port out of range.
        let e = ad_hoc("redis://h:0", Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("invalid port 0"), "{e}");

        let e = db("mysql://h/shop", &[]).unwrap_err();
        assert!(e.to_string().contains("name no database"), "{e}");
        let e = db("postgres://h/shop?sslmode=require", &[]).unwrap_err();
        assert!(e.to_string().contains("configuration file"), "{e}");
    }

    #[test]
    fn a_password_on_the_command_line_is_refused_without_repeating_it() {
        for (target, var) in [
            ("postgres://keepup:s3cret-pw@db/shop", "PGPASSWORD"),
            ("postgresql://keepup:s3cret-pw@db", "PGPASSWORD"),
            ("mysql://root:s3cret-pw@127.0.0.1", "MYSQL_PWD"),
            ("redis://:s3cret-pw@cache", "REDISCLI_AUTH"),
            ("rediss://default:s3cret-pw@cache:6380", "REDISCLI_AUTH"),
        ] {
            let e = db(target, &[]).unwrap_err().to_string();
            assert!(e.contains(&format!("set {var}")), "{e}");
            assert!(e.contains("password_env or password_file"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        for target in [
            "ftp://u:s3cret-pw@host",
            "https://u:s3cret-pw@shop.example/",
        ] {
            let e = db(target, &[]).unwrap_err().to_string();
            assert!(e.contains("holds a password"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        // An @ in a path is no password.
        assert!(db("https://shop.example/@team:x", &[]).is_ok());
    }

    #[test]
    fn mail_targets_become_mail_checks() {
        let c = ad_hoc("smtp://mail.shop.example:587", Duration::from_secs(5)).unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Mail(m)) = &c.spec else {
            panic!()
        };
        assert_eq!((c.spec.kind(), m.port), ("smtp", 587));
        assert_eq!(m.tls, keepup_config::MailTls::StartTls);
        let c = ad_hoc("imaps://mail.shop.example", Duration::from_secs(5)).unwrap();
        let keepup_config::CheckSpec::Probe(keepup_config::ProbeSpec::Mail(m)) = &c.spec else {
            panic!()
        };
        assert_eq!((c.spec.kind(), m.port), ("imap", 993));
        assert_eq!(m.tls, keepup_config::MailTls::Implicit);
        let c = ad_hoc("pop3://[::1]", Duration::from_secs(5)).unwrap();
        assert_eq!(c.spec.kind(), "pop3");
    }

    #[test]
    fn server_text_reaches_the_terminal_without_control_characters() {
        let c = ad_hoc("http://127.0.0.1:1/", Duration::from_secs(5)).unwrap();
        let mut o = Outcome::new(
            Status::Down,
            "step 1 \"home\" failed: redirect to \u{1b}]0;owned\u{7}",
        );
        o.evidence.details = serde_json::json!({
            "steps": [{"index": 0, "name": "home\u{1b}[2J", "action": "GET /\u{9b}31m",
                       "status": 500, "ok": false, "error": "got \u{1b}[31m500"}],
            "failed_step": {"index": 0, "name": "home", "response": {
                "status": 500, "url": "http://shop.test/\u{1b}[A",
                "body_excerpt": "Fatal\u{1b}[8m error\r\nsecond line\u{8}"}}
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        let printed = format!(
            "{}\n{}",
            nagios_line(&c, &o),
            steps_table(&o).unwrap_or_default()
        );
        assert!(
            !printed.chars().any(|ch| ch.is_control() && ch != '\n'),
            "{printed:?}"
        );
        // The body's lines stay lines.
        assert!(
            printed.contains("  | Fatal [8m error\n  | second line \n"),
            "{printed:?}"
        );
    }

    #[test]
    fn a_plugins_perfdata_and_long_output_are_passed_on() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"disk\"\nkind = \"nagios\"\ncommand = [\"check_disk\"]\n";
        let config = keepup_config::load_str(src, Path::new("k.toml")).unwrap();
        let c = config.checks().next().unwrap();
        let mut o = Outcome::new(Status::Up, "DISK OK");
        o.latency_ms = 12.0;
        o.evidence.details = serde_json::json!({
            "perfdata": [
                {"label": "time", "value": 0.012, "uom": "s"},
                {"label": "/", "value": 2643.0, "uom": "MB", "warn": "5948", "crit": "5958", "min": 0.0, "max": 5968.0},
                {"label": "it's", "value": null, "uom": "%"},
            ],
            "long_output": ["/boot 68 MB (69%);", "esc \u{1b}[2J here"],
        })
        .as_object()
        .unwrap()
        .clone();
        assert_eq!(
            nagios_line(c, &o),
            "NAGIOS OK - DISK OK | time=0.012000s;;;0 '/'=2643.0MB;5948;5958;0.0;5968.0 'it''s'=U%"
        );
        assert_eq!(long_output(&o), "/boot 68 MB (69%);\nesc  [2J here\n");
    }

    #[test]
    fn nagios_line_has_state_message_and_perfdata() {
        let c = ad_hoc("http://127.0.0.1:1/", Duration::from_secs(5)).unwrap();
        let mut o = Outcome::new(Status::Degraded, "HTTP 200 OK");
        o.latency_ms = 1234.5;
        o.push(keepup_model::Finding::new(
            "HTTP_LATENCY_HIGH",
            Severity::Warning,
            "slow: 1.2 s",
        ));
        let line = nagios_line(&c, &o);
        assert_eq!(
            line,
            "HTTP WARNING - HTTP 200 OK; slow: 1.2 s | time=1.234500s;;;0"
        );
    }
}
