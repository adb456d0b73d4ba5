//! `[[agent]]` and the `host` kind: a good configuration as validated, and
//! each mistake (unknown measure, wrong unit, inline token, unknown agent)
//! reported at its file:line:col.

mod support;

use keepup_config::{AgentMode, CheckSpec, Config, PassiveSpec, Problems, Unit, load_str};
use std::path::Path;
use std::time::Duration;
use support::{env_before_main, line_of, problems};

env_before_main! {
    "KEEPUP_TEST_AGENT_TOKEN" => "0123456789abcdef-web1",
    "KEEPUP_TEST_AGENT_ACTION_TOKEN" => "actions-0123456789abcdef",
    "KEEPUP_TEST_AGENT_SHORT_TOKEN" => "short",
}

fn load(src: &str) -> Config {
    load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn at(p: &Problems, src: &str, marker: &str) -> String {
    let line = line_of(src, marker);
    p.0.iter()
        .find(|x| x.line == line)
        .map(|x| x.to_string())
        .unwrap_or_else(|| panic!("no problem on line {line} ({marker}); got:\n{p}"))
}

const AGENT: &str = r#"
[[agent]]
name = "web1"
token_env = "KEEPUP_TEST_AGENT_TOKEN"
"#;

#[test]
fn a_host_check_reads_every_measure() {
    let src = format!(
        "{AGENT}{}",
        r#"
[[agent]]
name = "db1"
token_env = "KEEPUP_TEST_AGENT_TOKEN"
mode = "pull"
url = "https://127.0.0.1:8586/report"
interval = "30s"
silent_after = 5

[[site]]
id = "shop"

[[site.check]]
id = "web1"
kind = "host"
agent = "web1"
disk."/" = { warn = "80%", crit = "90%" }
disk_free."/var" = { warn = "10 GiB", crit = "2 GiB" }
inodes."/" = { warn = "70%" }
writable = ["/"]
load = { warn = 2, crit = 4 }
cpu.iowait = { warn = "20%", crit = "50%" }
memory = { warn = "90%" }
swap = { crit = "1 GiB" }
clock_offset = { warn = "500ms", crit = 2 }
clock_synchronised = true
processes.nginx = { min = 1 }
processes.php-fpm = { min = 2, max = 64, fds = { warn = "80%", crit = "95%" } }
units = ["nginx.service"]
ports = [443, 22]
interfaces = ["eth0"]
default_route = true
files = { warn = "80%" }
smart = true
smart_wear = { warn = "80%" }
replication = true
"#
    );
    let config = load(&src);
    assert_eq!(config.agents.len(), 2);
    assert_eq!(config.agents[0].mode, AgentMode::Push);
    assert_eq!(config.agents[0].silence(), Duration::from_secs(30));
    assert!(
        matches!(&config.agents[1].mode, AgentMode::Pull { url, .. } if url.ends_with("/report"))
    );
    assert_eq!(config.agents[1].silence(), Duration::from_secs(150));
    let check = config.find_check("shop/web1").unwrap();
    let CheckSpec::Passive(PassiveSpec::Host(h)) = &check.spec else {
        panic!("{:?}", check.spec)
    };
    assert_eq!(h.agent, "web1");
    assert_eq!(h.disk["/"].crit, Some(90.0));
    assert_eq!(h.disk_free["/var"].unit, Unit::Bytes);
    assert_eq!(h.clock_offset.unwrap().crit, Some(2.0));
    assert_eq!(h.cpu["iowait"].warn, Some(20.0));
    assert_eq!(h.processes["php-fpm"].max, Some(64));
    assert_eq!(h.processes["php-fpm"].fds.unwrap().crit, Some(95.0));
    assert_eq!(h.processes["nginx"].fds, None);
    assert_eq!(h.ports, [443, 22]);
    assert!(h.smart && h.replication && h.default_route && h.clock_synchronised);
}

#[test]
fn mistakes_are_reported_where_written() {
    let src = format!(
        "{AGENT}{}",
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "web1"
kind = "host"
agent = "web1"
disk."/" = { warn = "80s" }
load = { warn = "80%" }
cpu.idle = { warn = "10%" }
processes.nginx = { }
processes.php-fpm = { fds = { warn = 1000 } }
memroy = { warn = "90%" }
disk."var" = { warn = "80%" }

[[site.check]]
id = "web2"
kind = "host"
agent = "web2"
"#
    );
    let p = problems(&src);
    assert!(
        at(&p, &src, "disk.\"/\"")
            .contains("site[0].check[0].disk.\"/\".warn: wrong unit: this is a duration"),
        "{p}"
    );
    assert!(
        at(&p, &src, "load =").contains("the measure takes a plain number"),
        "{p}"
    );
    assert!(
        at(&p, &src, "cpu.idle").contains("unknown CPU share \"idle\""),
        "{p}"
    );
    assert!(
        at(&p, &src, "processes.nginx").contains("give min, max, fds or several"),
        "{p}"
    );
    assert!(
        at(&p, &src, "processes.php-fpm")
            .contains("site[0].check[0].processes.\"php-fpm\".fds.warn: wrong unit"),
        "{p}"
    );
    assert!(
        at(&p, &src, "memroy").contains("memory"),
        "the closest measure is suggested: {p}"
    );
    assert!(
        at(&p, &src, "disk.\"var\"").contains("is not a mount point"),
        "{p}"
    );
    assert!(
        at(&p, &src, "agent = \"web2\"")
            .contains("no [[agent]] is named \"web2\" (hint: did you mean \"web1\"?)"),
        "{p}"
    );
}

#[test]
fn agent_tokens_are_never_written_inline() {
    let src = "[[agent]]\nname = \"web1\"\ntoken = \"0123456789abcdef\"\n";
    let p = problems(src);
    assert!(
        at(&p, src, "token =")
            .contains("`token` is a secret and is not written in the configuration file"),
        "{p}"
    );
    let src = "[[agent]]\nname = \"web1\"\n";
    assert!(
        problems(src)
            .to_string()
            .contains("an agent needs token_env or token_file")
    );
    let src =
        "[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_AGENT_TOKEN\"\nmode = \"pull\"\n";
    assert!(problems(src).to_string().contains("needs the agent's url"));
    let src = "[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_AGENT_TOKEN\"\n[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_AGENT_TOKEN\"\n";
    assert!(problems(src).to_string().contains("declared twice"));
}

/// A pulled agent's action token: its own secret, from env or file, only
/// in pull mode, not the report token.
#[test]
fn a_pulled_agents_action_token_is_its_own_secret() {
    let pull = "[[agent]]\nname = \"web1\"\ntoken_env = \"KEEPUP_TEST_AGENT_TOKEN\"\nmode = \"pull\"\nurl = \"https://127.0.0.1:8586/report\"\n";
    let c = load(&format!(
        "{pull}action_token_env = \"KEEPUP_TEST_AGENT_ACTION_TOKEN\"\n"
    ));
    let token = c.agents[0].action_token.as_ref().expect("an action token");
    assert_eq!(token.expose(), "actions-0123456789abcdef");
    assert!(load(pull).agents[0].action_token.is_none());
    for (extra, said) in [
        (
            "action_token_env = \"KEEPUP_TEST_AGENT_TOKEN\"\n",
            "the action token is the report token",
        ),
        (
            "action_token_env = \"KEEPUP_TEST_AGENT_SHORT_TOKEN\"\n",
            "at least 16 characters",
        ),
        (
            "action_token = \"inline-0123456789abcdef\"\n",
            "is a secret",
        ),
    ] {
        let src = format!("{pull}{extra}");
        let p = problems(&src);
        assert!(at(&p, &src, "action_token").contains(said), "{p}");
    }
    let src = format!("{AGENT}action_token_env = \"KEEPUP_TEST_AGENT_ACTION_TOKEN\"\n");
    let p = problems(&src);
    assert!(
        at(&p, &src, "action_token_env").contains("are for mode = \"pull\""),
        "{p}"
    );
}

#[test]
fn a_plugin_on_an_agents_host_is_a_nagios_check_without_a_command() {
    let src = format!(
        "{AGENT}{}",
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "disk"
kind = "nagios"
agent = "web1"
plugin = "disk"
"#
    );
    let config = load(&src);
    let check = config.find_check("shop/disk").unwrap();
    assert_eq!(check.spec.kind(), "nagios");
    let CheckSpec::Passive(PassiveSpec::AgentPlugin(p)) = &check.spec else {
        panic!("{:?}", check.spec)
    };
    assert_eq!((p.agent.as_str(), p.plugin.as_str()), ("web1", "disk"));

    let src = format!(
        "{AGENT}{}",
        r#"
[[site]]
id = "shop"

[[site.check]]
id = "a"
kind = "nagios"
agent = "web1"
plugin = "disk"
command = ["check_disk"]

[[site.check]]
id = "b"
kind = "nagios"
agent = "web9"
plugin = "disk"

[[site.check]]
id = "c"
kind = "nagios"
agent = "web1"
plugin = "Disk Space"

[[site.check]]
id = "d"
kind = "nagios"
agent = "web1"
"#
    );
    let p = problems(&src);
    assert!(
        at(&p, &src, "command = [\"check_disk\"]").contains("runs the agent's command"),
        "{p}"
    );
    assert!(
        at(&p, &src, "agent = \"web9\"").contains("no [[agent]] is named \"web9\""),
        "{p}"
    );
    assert!(
        at(&p, &src, "plugin = \"Disk Space\"").contains("invalid plugin name"),
        "{p}"
    );
    assert!(p.to_string().contains("needs both agent and plugin"), "{p}");
}
