//! `[[action]]`: a good configuration as validated, and each mistake the
//! issue names (unknown checks, agents and measures, up below down, a zero
//! cooldown for scaling, one shell string without `shell = true`) plus
//! duplicates, empty commands and unknown keys, reported at its
//! file:line:col.

mod support;
use support::{env_before_main, line_of, only_problem, problems};

use std::path::Path;
use std::time::Duration;

use keepup_config::actions::{Page, Runner};
use keepup_config::load_str;
use keepup_model::Status;

env_before_main!(
    "KEEPUP_TEST_ACTION_AGENT_TOKEN" => "agent-token-0123456789",
    "KEEPUP_TEST_ACTION_SECRET" => "s3cret-value",
);

const BASE: &str = r#"
[[agent]]
name = "web1"
token_env = "KEEPUP_TEST_ACTION_AGENT_TOKEN"

[[site]]
id = "shop"
tags = ["prod"]

[[site.check]]
id = "php"
kind = "tcp"
host = "127.0.0.1"
port = 9000

[[site.check]]
id = "web1"
kind = "host"
agent = "web1"
"#;

fn with(actions: &str) -> String {
    format!("{BASE}\n{actions}")
}

#[test]
fn a_good_configuration_is_read_as_written() {
    let src = with(
        r#"
[[action]]
name = "restart-php"
command = ["systemctl", "restart", "php8.2-fpm"]
timeout = "30s"
env = { TOKEN = { env = "KEEPUP_TEST_ACTION_SECRET" } }
on = { checks = ["shop/php"], status = ["down", "degraded"] }
after_open = "10m"
cooldown = "15m"
max_per_hour = 2
max_per_day = 5
page = "at_once"
grace = "2m"

[[action]]
name = "rotate"
command = "find /var/log/shop -name '*.gz' -mtime +7 -delete"
shell = true
on = { tags = ["prod"] }
confirm = true
dry_run = true
during_maintenance = true

[[action]]
name = "php-on-web1"
agent = "web1"
agent_action = "php"
on = { sites = ["shop"] }

[[action]]
name = "scale-up"
webhook = { url = "http://127.0.0.1:9/resize", method = "PUT", body_template = '{"size": "large", "key": "{{ idempotency_key }}"}', retries = 5 }
measure = { check = "shop/web1", measure = "load", above = 0.8, for = "10m" }
cooldown = "20m"

[[action]]
name = "scale-down"
webhook = { url = "http://127.0.0.1:9/resize" }
measure = { check = "shop/web1", measure = "load", below = 0.3, for = "1h" }

[[action]]
name = "night"
webhook = { url = "http://127.0.0.1:9/resize" }
schedule = { cron = "0 23 * * *", timezone = "Europe/Berlin" }
"#,
    );
    let config =
        load_str(&src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(config.actions.len(), 6);

    let php = config.action("restart-php").unwrap();
    match &php.run {
        Runner::Command { argv, shell } => {
            assert_eq!(argv, &["systemctl", "restart", "php8.2-fpm"]);
            assert!(!shell);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(php.timeout, Duration::from_secs(30));
    assert_eq!(php.env.len(), 1);
    assert_eq!(php.env[0].0, "TOKEN");
    assert_eq!(php.env[0].1.expose(), "s3cret-value");
    let on = php.triggers.on.as_ref().unwrap();
    assert_eq!(on.checks.len(), 1);
    assert_eq!(on.status, vec![Status::Down, Status::Degraded]);
    assert_eq!(php.triggers.after_open, Some(Duration::from_secs(600)));
    assert_eq!(php.guard.cooldown, Duration::from_secs(900));
    assert_eq!(php.guard.max_per_hour, Some(2));
    assert_eq!(php.guard.max_per_day, Some(5));
    assert!(!php.guard.during_maintenance && !php.guard.dry_run && !php.guard.confirm);
    assert_eq!(php.page, Page::AtOnce);
    assert_eq!(php.grace, Duration::from_secs(120));

    let rotate = config.action("rotate").unwrap();
    match &rotate.run {
        Runner::Command { argv, shell } => {
            assert_eq!(argv[..2], ["/bin/sh", "-c"]);
            assert!(shell);
        }
        other => panic!("{other:?}"),
    }
    // Defaults.
    assert_eq!(rotate.timeout, Duration::from_secs(60));
    assert_eq!(rotate.guard.cooldown, Duration::from_secs(300));
    assert_eq!(rotate.page, Page::After);
    assert_eq!(rotate.grace, Duration::from_secs(180));
    assert!(rotate.guard.confirm && rotate.guard.dry_run && rotate.guard.during_maintenance);
    // Both checks carry the site's tag.
    assert_eq!(rotate.triggers.on.as_ref().unwrap().checks.len(), 2);

    match &config.action("php-on-web1").unwrap().run {
        Runner::Agent { agent, action } => {
            assert_eq!((agent.as_str(), action.as_str()), ("web1", "php"))
        }
        other => panic!("{other:?}"),
    }
    let up = config.action("scale-up").unwrap();
    match &up.run {
        Runner::Webhook { spec, retries } => {
            assert_eq!(spec.method, "PUT");
            assert_eq!(*retries, 5);
        }
        other => panic!("{other:?}"),
    }
    let m = up.triggers.measure.as_ref().unwrap();
    assert!(m.above);
    assert_eq!(m.threshold, 0.8);
    assert_eq!(m.measure.key, "load");
    assert_eq!(m.for_, Duration::from_secs(600));
    assert!(up.is_scaling());
    let night = config.action("night").unwrap();
    let s = night.triggers.schedule.as_ref().unwrap();
    assert_eq!(s.timezone_name, "Europe/Berlin");
    assert_eq!(s.cron.as_str(), "0 23 * * *");
}

/// Each case: the action's text, the needle locating its line, the column,
/// and the start of the message after the key path.
#[test]
fn each_mistake_is_reported_where_it_is_written() {
    let cases: &[(&str, &str, usize, &str, &str)] = &[
        (
            "[[action]]\nname = \"a\"\ncommand = \"systemctl restart php8.2-fpm\"\n",
            "command = ",
            11,
            "action[0].command",
            "a command written as one string would need a shell to split it (hint: write the argument list, command = [\"systemctl\", \"restart\", \"php8.2-fpm\"], or add shell = true",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = []\n",
            "command = ",
            11,
            "action[0].command",
            "the command is empty",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\non = { checks = [\"shop/phpp\"] }\n",
            "on = ",
            18,
            "action[0].on.checks",
            "no check \"shop/phpp\" (hint: did you mean \"shop/php\"?",
        ),
        (
            "[[action]]\nname = \"a\"\nagent = \"web2\"\n",
            "agent = \"web2\"",
            9,
            "action[0].agent",
            "no [[agent]] is named \"web2\" (hint: did you mean \"web1\"?)",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nmeasure = { check = \"shop/web1\", measure = \"lod\", above = 1 }\n",
            "measure = ",
            44,
            "action[0].measure.measure",
            "a host check has no measure \"lod\" (hint: did you mean \"load\"?",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nmeasure = { check = \"shop/nope\", measure = \"load\", above = 1 }\n",
            "measure = ",
            21,
            "action[0].measure.check",
            "no check \"shop/nope\"",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nmeasure = { check = \"shop/web1\", measure = \"load\", above = 1 }\ncooldown = \"0s\"\n",
            "cooldown = ",
            12,
            "action[0].cooldown",
            "a scaling action (measure, schedule or scale) needs a cooldown longer than zero",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\ncolldown = \"5m\"\n",
            "colldown",
            1,
            "action[0].colldown",
            "unknown key `colldown` (hint: did you mean `cooldown`?)",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\non = { checks = [\"shop/php\"], status = [\"up\"] }\n",
            "on = ",
            41,
            "action[0].on.status",
            "unknown status \"up\"",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nschedule = { cron = \"0 25 * * *\" }\n",
            "schedule = ",
            21,
            "action[0].schedule.cron",
            "invalid cron expression",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nschedule = { cron = \"0 23 * * *\", timezone = \"Europe/Berln\" }\n",
            "schedule = ",
            46,
            "action[0].schedule.timezone",
            "unknown time zone \"Europe/Berln\"",
        ),
        (
            "[[action]]\nname = \"a\"\nwebhook = { url = \"http://127.0.0.1:9/\", retrys = 2 }\n",
            "webhook = ",
            42,
            "action[0].webhook.retrys",
            "unknown key `retrys` (hint: did you mean `retries`?)",
        ),
        (
            "[[action]]\nname = \"a\"\nenv = { T = { env = \"KEEPUP_TEST_ACTION_SECRET\" } }\nagent = \"web1\"\n",
            "env = { T",
            9,
            "action[0].env",
            "env is for a command run here",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\npage = \"later\"\n",
            "page = ",
            8,
            "action[0].page",
            "unknown page mode \"later\"",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nmax_per_hour = 0\n",
            "max_per_hour",
            16,
            "action[0].max_per_hour",
            "must be at least 1",
        ),
        (
            "[[action]]\nname = \"Restart PHP\"\ncommand = [\"true\"]\n",
            "name = \"Restart",
            8,
            "action[0].name",
            "invalid action name \"Restart PHP\"",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nafter_open = \"10m\"\n",
            "after_open",
            14,
            "action[0].after_open",
            "after_open needs `on`",
        ),
        // A credential written into the command (review 33 #15): pointed
        // at where it is written, never echoed.
        (
            "[[action]]\nname = \"a\"\ncommand = [\"curl\", \"-H\", \"Authorization: Bearer abc123\", \"http://127.0.0.1/\"]\n",
            "command = ",
            27,
            "action[0].command[2]",
            "a credential is written into the command (\"authorization:\" and a value) (hint: give it through env = { TOKEN = { env = \"SHOP_TOKEN\" } }",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = \"mysqladmin --password=hunter2 flush-logs\"\nshell = true\n",
            "command = ",
            25,
            "action[0].command",
            "a credential is written into the command (\"password=\" and a value)",
        ),
        (
            "[[action]]\nname = \"a\"\ncommand = [\"curl\", \"http://ops:pa55@127.0.0.1/restart\"]\n",
            "command = ",
            11,
            "action[0].command[1]",
            "a credential is written into the command (\"://user:password@\" and a value)",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, needle, col, key, message) in cases {
        let src = with(text);
        let p = only_problem(&src);
        let line = line_of(&src, needle);
        let expected = format!("keepup.toml:{line}:{col}: {key}: {message}");
        if !p.starts_with(&expected) {
            wrong.push(format!("expected: {expected}\n     got: {p}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}

/// A credential taken from `env` is fine: `$TOKEN` in a shell line, and
/// words that merely mention one.
#[test]
fn a_credential_read_from_the_environment_is_accepted() {
    let src = with(
        r#"
[[action]]
name = "purge"
command = 'curl -fsS -H "Authorization: Bearer $TOKEN" -d "password=${PW}" http://127.0.0.1/purge'
shell = true
env = { TOKEN = { env = "KEEPUP_TEST_ACTION_SECRET" }, PW = { env = "KEEPUP_TEST_ACTION_SECRET" } }

[[action]]
name = "rotate"
command = ["logrotate", "--force", "/etc/logrotate.d/token-cache"]
"#,
    );
    let config = load_str(&src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(config.actions.len(), 2);
    for word in ["hunter2", "abc123", "pa55"] {
        for p in [
            "[[action]]\nname = \"a\"\ncommand = [\"curl\", \"-H\", \"Authorization: Bearer abc123\"]\n",
            "[[action]]\nname = \"a\"\ncommand = \"mysqladmin --password=hunter2 x\"\nshell = true\n",
            "[[action]]\nname = \"a\"\ncommand = [\"curl\", \"http://ops:pa55@127.0.0.1/\"]\n",
        ] {
            let shown = only_problem(&with(p));
            assert!(!shown.contains(word), "{shown}");
        }
    }
}

#[test]
fn a_name_used_twice_and_up_below_down_are_refused() {
    let src = with(
        "[[action]]\nname = \"a\"\ncommand = [\"true\"]\n[[action]]\nname = \"a\"\ncommand = [\"false\"]\n",
    );
    let p = only_problem(&src);
    let line = src
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "name = \"a\"")
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:8: action[1].name: action name \"a\" is used twice"
        )),
        "{p}"
    );

    let src = with(
        r#"
[[action]]
name = "up"
command = ["true"]
measure = { check = "shop/web1", measure = "load", above = 0.5 }
[[action]]
name = "down"
command = ["true"]
measure = { check = "shop/web1", measure = "load", below = 0.7 }
"#,
    );
    let p = only_problem(&src);
    let line = line_of(&src, "below = 0.7");
    assert!(
        p.starts_with(&format!("keepup.toml:{line}:11: action \"down\".measure.below: \"down\" scales down below 0.7 but \"up\" scales up above 0.5: up must be above down")),
        "{p}"
    );
}

#[test]
fn what_runs_is_given_exactly_once() {
    let p = problems(&with(
        "[[action]]\nname = \"a\"\non = { checks = [\"shop/php\"] }\n",
    ));
    assert!(
        p.to_string()
            .contains("action[0]: an action needs what it runs: command, agent or webhook"),
        "{p}"
    );
    let p = problems(&with(
        "[[action]]\nname = \"a\"\ncommand = [\"true\"]\nagent = \"web1\"\n",
    ));
    assert!(
        p.to_string().contains("give one of command and agent only"),
        "{p}"
    );
    let p = problems(&with(
        "[[action]]\nname = \"a\"\ncommand = [\"true\", \"x\"]\nshell = true\n",
    ));
    assert!(
        p.to_string()
            .contains("shell = true takes the command as one string"),
        "{p}"
    );
}

const LEVEL: &str = "[[scale]]\nname = \"web-nodes\"\nmin = 2\nmax = 8\n";

#[test]
fn a_level_and_the_actions_that_move_it_are_read_as_written() {
    use keepup_config::actions::Change;
    let src = with(&format!(
        r#"{LEVEL}
[[scale]]
name = "workers"
min = 1
max = 4
initial = 3

[[action]]
name = "up"
webhook = {{ url = "http://127.0.0.1:9/resize", body_template = '{{"size": {{{{ level }}}}}}' }}
measure = {{ check = "shop/web1", measure = "load", above = 0.8, for = "10m" }}
scale = {{ level = "web-nodes", by = 1 }}

[[action]]
name = "down"
command = ["/usr/local/bin/resize"]
measure = {{ check = "shop/web1", measure = "load", below = 0.3, for = "1h" }}
scale = {{ level = "web-nodes", by = -1 }}

[[action]]
name = "morning"
command = ["/usr/local/bin/resize"]
schedule = {{ cron = "0 7 * * *", timezone = "Europe/Berlin" }}
scale = {{ level = "web-nodes", to = 4 }}
"#
    ));
    let config =
        load_str(&src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let web = config.level("web-nodes").unwrap();
    assert_eq!(
        (web.min, web.max, web.initial),
        (2, 8, 2),
        "initial defaults to min"
    );
    let workers = config.level("workers").unwrap();
    assert_eq!((workers.min, workers.max, workers.initial), (1, 4, 3));
    let up = config.action("up").unwrap().scale.clone().unwrap();
    assert_eq!((up.level.as_str(), up.change), ("web-nodes", Change::By(1)));
    let down = config.action("down").unwrap().scale.clone().unwrap();
    assert_eq!(down.change, Change::By(-1));
    let morning = config.action("morning").unwrap();
    assert_eq!(morning.scale.as_ref().unwrap().change, Change::To(4));
    assert!(morning.is_scaling());
}

/// Levels and scale steps: each mistake at its file:line:col.
#[test]
fn each_scaling_mistake_is_reported_where_it_is_written() {
    let act = |scale: &str| {
        format!("{LEVEL}[[action]]\nname = \"a\"\ncommand = [\"true\"]\nscale = {scale}\n")
    };
    let cases: Vec<(String, &str, usize, &str, &str)> = vec![
        (
            "[[scale]]\nname = \"web\"\nmin = 5\nmax = 3\n".into(),
            "max = 3",
            7,
            "scale[0].max",
            "max (3) is below min (5)",
        ),
        (
            "[[scale]]\nname = \"web\"\nmin = 2\nmax = 8\ninitial = 9\n".into(),
            "initial = 9",
            11,
            "scale[0].initial",
            "initial (9) is outside min 2 .. max 8",
        ),
        (
            "[[scale]]\nname = \"web\"\nmin = -1\nmax = 8\n".into(),
            "min = -1",
            7,
            "scale[0].min",
            "-1 is not a level from 0 to 100000",
        ),
        (
            "[[scale]]\nname = \"web\"\nmin = 1\nmax = 8\nsize = 3\n".into(),
            "size = 3",
            1,
            "scale[0].size",
            "unknown key `size`",
        ),
        (
            act("{ level = \"web-node\", by = 1 }"),
            "scale = ",
            19,
            "action[0].scale.level",
            "no [[scale]] is named \"web-node\" (hint: did you mean \"web-nodes\"?)",
        ),
        (
            act("{ by = 1 }"),
            "scale = ",
            9,
            "action[0].scale",
            "a scale step needs the level it moves",
        ),
        (
            act("{ level = \"web-nodes\", to = 9 }"),
            "scale = ",
            37,
            "action[0].scale.to",
            "9 is outside the bounds of \"web-nodes\" (min 2, max 8)",
        ),
        (
            act("{ level = \"web-nodes\", by = 0 }"),
            "scale = ",
            37,
            "action[0].scale.by",
            "a step of 0 moves nothing sensible",
        ),
        (
            act("{ level = \"web-nodes\", by = 1, to = 3 }"),
            "scale = ",
            9,
            "action[0].scale",
            "a scale step needs exactly one of by and to",
        ),
        (
            format!(
                "{LEVEL}[[action]]\nname = \"a\"\nagent = \"web1\"\nscale = {{ level = \"web-nodes\", by = 1 }}\n"
            ),
            "scale = ",
            9,
            "action[0].scale",
            "an agent's action cannot be told the level it scales to",
        ),
        (
            format!(
                "{LEVEL}[[action]]\nname = \"a\"\ncommand = [\"true\"]\nscale = {{ level = \"web-nodes\", by = 1 }}\ncooldown = \"0s\"\n"
            ),
            "cooldown = ",
            12,
            "action[0].cooldown",
            "a scaling action (measure, schedule or scale) needs a cooldown longer than zero",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, needle, col, key, message) in &cases {
        let src = with(text);
        let p = only_problem(&src);
        let line = line_of(&src, needle);
        let expected = format!("keepup.toml:{line}:{col}: {key}: {message}");
        if !p.starts_with(&expected) {
            wrong.push(format!("expected: {expected}\n     got: {p}"));
        }
    }
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
}
