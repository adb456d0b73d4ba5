//! Secrets come only from `*_env` or `*_file`: a secret written inline in
//! any table (channels, basic auth, mail checks, backup plans, targets and
//! databases, the server's ack key, webhook headers) is refused at its
//! file:line:col with a hint naming `<key>_env` and `<key>_file`, and the
//! value never appears in the message.

mod support;
use support::{line_of, problems};

/// The value every test writes inline; it must never be echoed.
const VALUE: &str = "inline-secret-s3cr3t";

/// Asserts that `src` has a problem exactly at the `key = ` line and
/// column, naming `key_env`/`key_file`, and that no message shows the
/// value.
fn assert_refused(src: &str, key: &str) {
    let p = problems(src);
    let needle = format!("{key} = \"{VALUE}\"");
    let line = line_of(src, &needle);
    let text = src.lines().nth(line - 1).unwrap_or_default();
    let column = text.find(&needle).unwrap_or_default() + 1;
    let found =
        p.0.iter()
            .map(ToString::to_string)
            .find(|m| m.starts_with(&format!("keepup.toml:{line}:{column}: ")))
            .unwrap_or_else(|| panic!("no problem at {line}:{column} for `{key}`; got:\n{p}"));
    assert!(
        found.contains(&format!(
            "`{key}` is a secret and is not written in the configuration file"
        )),
        "{found}"
    );
    assert!(
        found.contains(&format!("`{key}_env = \"NAME\"`"))
            && found.contains(&format!("`{key}_file = \"path\"`")),
        "{found}"
    );
    assert!(!p.to_string().contains(VALUE), "a secret is echoed:\n{p}");
}

#[test]
fn an_email_channel_password_is_refused_not_taken_for_a_missing_username() {
    let src = format!(
        r#"
[[channel]]
id = "mail"
kind = "email"
smtp_host = "mail.example.com"
from = "a@example.com"
to = ["b@example.com"]
password = "{VALUE}"
"#
    );
    assert_refused(&src, "password");
    assert!(
        !problems(&src).to_string().contains("no `username`"),
        "{}",
        problems(&src)
    );
}

#[test]
fn channel_tokens_and_keys_are_refused_for_every_kind() {
    for (kind, key, rest) in [
        ("telegram", "bot_token", "chat_id = \"@ops\""),
        ("pagerduty", "routing_key", ""),
        ("opsgenie", "api_key", ""),
        ("ntfy", "token", "topic = \"ops\""),
        (
            "matrix",
            "access_token",
            "homeserver_url = \"https://matrix.example.com\"\nroom_id = \"!r:example.com\"",
        ),
    ] {
        let src =
            format!("\n[[channel]]\nid = \"c\"\nkind = \"{kind}\"\n{rest}\n{key} = \"{VALUE}\"\n");
        assert_refused(&src, key);
    }
}

#[test]
fn a_webhook_header_value_is_refused_inline_in_a_secret_table() {
    let src = format!(
        r#"
[[channel]]
id = "hook"
kind = "webhook"
url = "https://hooks.example.com/x"
headers = {{ Authorization = {{ value = "{VALUE}" }} }}
"#
    );
    let p = problems(&src);
    let m = p.to_string();
    assert!(m.contains("`value` is a secret"), "{m}");
    assert!(m.contains("value_env") && m.contains("value_file"), "{m}");
    assert!(!m.contains(VALUE), "a secret is echoed:\n{m}");
}

#[test]
fn an_http_basic_auth_password_is_refused() {
    let src = format!(
        r#"
[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example.com/"
[site.check.basic_auth]
username = "u"
password = "{VALUE}"
"#
    );
    assert_refused(&src, "password");
}

#[test]
fn a_mail_check_password_is_refused() {
    let src = format!(
        r#"
[[site]]
id = "shop"
[[site.check]]
id = "submission"
kind = "smtp"
host = "mx.shop.example"
username = "probe"
password = "{VALUE}"
"#
    );
    assert_refused(&src, "password");
}

#[test]
fn the_server_ack_key_is_refused() {
    let src = format!("[server]\nack_key = \"{VALUE}\"\n");
    assert_refused(&src, "ack_key");
}

/// A valid backup plan with `plan_keys` in `[[backup]]`, `db_keys` in its
/// database source and `target_keys` in its second target.
fn backup(plan_keys: &str, db_keys: &str, target_keys: &str) -> String {
    format!(
        r#"
[[backup]]
id = "shop"
schedule = "0 3 * * *"
{plan_keys}

[[backup.source]]
kind = "postgres"
host = "127.0.0.1"
user = "backup"
dbname = "shop"
{db_keys}

[[backup.target]]
id = "local"
repository = "/srv/backup"

[[backup.target]]
id = "offsite"
repository = "s3:https://s3.example.com/bucket/shop"
offsite = true
{target_keys}
"#
    )
}

#[test]
fn a_backup_plan_repository_password_is_refused() {
    let src = backup(&format!("password = \"{VALUE}\""), "", "");
    assert_refused(&src, "password");
}

#[test]
fn a_backup_database_password_is_refused() {
    let src = backup(
        "password_env = \"HOME\"",
        &format!("password = \"{VALUE}\""),
        "",
    );
    assert_refused(&src, "password");
}

#[test]
fn backup_target_credentials_are_refused() {
    for key in [
        "password",
        "rest_password",
        "s3_access_key_id",
        "s3_secret_access_key",
        "s3_session_token",
    ] {
        let src = backup(
            "password_env = \"HOME\"",
            "",
            &format!("{key} = \"{VALUE}\""),
        );
        assert_refused(&src, key);
    }
}

#[test]
fn an_unknown_key_that_is_no_secret_keeps_its_usual_message() {
    let p = problems("[server]\nlisten_on = \"127.0.0.1:1\"\n");
    let m = p.to_string();
    assert!(m.contains("unknown key `listen_on`"), "{m}");
    assert!(!m.contains("is a secret"), "{m}");
}

#[test]
fn a_missing_credential_is_asked_for_by_env_or_file_only() {
    let src = "\n[[channel]]\nid = \"genie\"\nkind = \"opsgenie\"\n\n[server]\n";
    let m = problems(src).to_string();
    assert!(m.contains("missing api_key"), "{m}");
    assert!(
        m.contains("give `api_key_env = \"NAME\"` or `api_key_file = \"path\"`"),
        "{m}"
    );
    assert!(!m.contains("give `api_key`,"), "{m}");
}

#[test]
fn a_missing_heartbeat_token_may_still_be_written_inline() {
    let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"hb\"\nkind = \"heartbeat\"\nperiod = \"1h\"\n";
    let m = problems(src).to_string();
    assert!(m.contains("missing token"), "{m}");
    assert!(m.contains("give `token`, `token_env"), "{m}");
}
