//! Loading real configuration text: the happy path and every kind of
//! mistake an operator makes, each located at file:line:col.

mod support;

use keepup_config::{BodyAssertion, CheckSpec, JsonExpect, PassiveSpec, ProbeSpec, load, load_str};
use std::path::Path;
use std::time::Duration;
use support::{at_line, line_of, problems};

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:9999"

[defaults]
interval = "30s"
timeout = "5s"
[defaults.tls]
warn_days = 21

[[site]]
id = "shop"
name = "Demo shop"

[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example/"
expect_status = [200, "3xx"]
contains = ["Add to cart"]
matches = ['Price: \d+']
degraded_latency = "500ms"
down_latency = "2s"
headers = { "X-Probe" = "keepup" }
[[site.check.json]]
pointer = "/status"
equals = "ok"

[[site.check]]
id = "smtp"
kind = "tcp"
host = "mail.shop.example"
port = 25
expect_banner = '^220 '
interval = "2m"

[[site.check]]
id = "cert"
kind = "tls"
host = "shop.example"
[site.check.tls]
warn_fraction = 0.25

[[site.check]]
id = "nightly-backup"
kind = "heartbeat"
token = "abcdefgh12345678"
period = "1d"
grace = "1h"
"#;

#[test]
fn a_good_config_loads_with_defaults_applied() {
    let c = load_str(GOOD, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.server.listen.port(), 9999);
    assert_eq!(c.store.path, Path::new("/etc/keepup/keepup.db"));
    assert_eq!(c.store.minute_retention, Duration::from_secs(2 * 86_400));
    let site = &c.sites[0];
    assert_eq!(site.name, "Demo shop");
    assert_eq!(site.checks.len(), 4);
    let home = c.find_check("shop/home").unwrap();
    assert_eq!(home.interval, Duration::from_secs(30));
    assert_eq!(home.timeout, Duration::from_secs(5));
    let CheckSpec::Probe(ProbeSpec::Http(h)) = &home.spec else {
        panic!("http expected")
    };
    assert_eq!(h.expect_status.len(), 2);
    assert!(h.expect_status[1].contains(302));
    assert_eq!(
        h.tls.thresholds.warn_days, 21.0,
        "defaults.tls applies to http checks"
    );
    assert_eq!(h.max_body_bytes, 1 << 20);
    assert!(
        h.assertions
            .iter()
            .any(|a| matches!(a, BodyAssertion::Matches(r) if r.is_match("Price: 12")))
    );
    assert!(h.assertions.iter().any(
        |a| matches!(a, BodyAssertion::Json(j) if j.expect == JsonExpect::Equals("ok".into()))
    ));
    let smtp = c.find_check("smtp").unwrap();
    assert_eq!(smtp.interval, Duration::from_secs(120));
    let CheckSpec::Probe(ProbeSpec::Tls(t)) = &c.find_check("cert").unwrap().spec else {
        panic!()
    };
    assert_eq!(t.port, 443);
    assert_eq!(t.tls.thresholds.warn_fraction, 0.25);
    assert_eq!(t.tls.thresholds.warn_days, 21.0);
    let CheckSpec::Passive(PassiveSpec::Heartbeat(hb)) =
        &c.find_check("nightly-backup").unwrap().spec
    else {
        panic!()
    };
    assert_eq!(hb.period, Duration::from_secs(86_400));
    assert_eq!(
        format!("{:?}", hb.token),
        "Secret(***)",
        "secrets never show in Debug"
    );
}

#[test]
fn every_problem_is_reported_with_position_key_and_hint() {
    let src = r#"[[site]]
id = "shop"

[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example/"
intervall = "30s"
matches = ['(unclosed']

[[site.check]]
id = "api"
kind = "htp"

[[site.check]]
id = "db"
kind = "tcp"
host = "db.example"
port = 70000

[[site.check]]
id = "j"
kind = "http"
url = "https://x/"
timeout = "banana"
[[site.check.json]]
pointer = "status"
equals = 1
"#;
    let p = problems(src);
    let unknown = at_line(&p, 8);
    assert!(
        unknown.starts_with("keepup.toml:8:1: site[0].check[0].intervall: unknown key"),
        "{unknown}"
    );
    assert!(unknown.contains("did you mean `interval`"), "{unknown}");
    let regex = at_line(&p, 9);
    assert!(regex.contains("invalid regex"), "{regex}");
    assert!(regex.contains(":9:"), "{regex}");
    let kind = at_line(&p, 13);
    assert!(kind.contains("unknown check kind \"htp\""), "{kind}");
    assert!(kind.contains("did you mean \"http\""), "{kind}");
    let port = at_line(&p, 19);
    assert!(port.contains("invalid port 70000"), "{port}");
    let timeout = at_line(&p, 25);
    assert!(timeout.contains("site[0].check[3].timeout"), "{timeout}");
    assert!(timeout.contains("invalid duration"), "{timeout}");
    let pointer = at_line(&p, 27);
    assert!(pointer.contains("invalid JSON pointer"), "{pointer}");
    assert_eq!(p.0.len(), 6, "exactly the six mistakes:\n{p}");
}

#[test]
fn minute_retention_is_read_and_checked_against_the_rollup_retention() {
    let site = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"tcp\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n";
    let good = format!("[store]\nminute_retention = \"14d\"\n{site}");
    let c = load_str(&good, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.store.minute_retention, Duration::from_secs(14 * 86_400));

    let p = problems(&format!(
        "[store]\nrollup_retention = \"30d\"\nminute_retention = \"60d\"\n{site}"
    ));
    let long = at_line(&p, 3);
    assert!(
        long.starts_with(
            "keepup.toml:3:20: store.minute_retention: minute rollups cannot be kept longer"
        ),
        "{long}"
    );
    assert!(long.contains("at most 30days"), "{long}");
    let p = problems(&format!("[store]\nminute_retention = \"0s\"\n{site}"));
    assert!(at_line(&p, 2).contains("must be longer than zero"), "{p}");
    let p = problems(&format!(
        "[store]\nminute_retention = \"two weeks\"\n{site}"
    ));
    assert!(at_line(&p, 2).contains("invalid duration"), "{p}");
}

#[test]
fn audit_retention_is_read_with_a_default_of_400_days() {
    let site = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"tcp\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 1\n";
    let c = load_str(site, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.store.audit_retention, Duration::from_secs(400 * 86_400));
    let set = format!("[store]\naudit_retention = \"90d\"\n{site}");
    let c = load_str(&set, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.store.audit_retention, Duration::from_secs(90 * 86_400));
    let p = problems(&format!("[store]\naudit_retention = \"0s\"\n{site}"));
    let zero = at_line(&p, 2);
    assert!(
        zero.starts_with("keepup.toml:2:19: store.audit_retention: must be longer than zero"),
        "{zero}"
    );
}

#[test]
fn wrong_types_and_syntax_errors_are_located() {
    let p = problems("[scheduler]\nconcurrency = \"lots\"\n");
    let s = at_line(&p, 2);
    assert!(s.contains("scheduler.concurrency"), "{s}");
    let p = problems("[server]\nlisten = \"nowhere\"\n");
    assert!(at_line(&p, 2).contains("invalid listen address"));
    let p = problems("[[site]]\nid = \"a\"\n[[site.check]\n");
    assert!(at_line(&p, 3).contains("TOML syntax"), "{p}");
    let p = problems("[sever]\nlisten = \"127.0.0.1:1\"\n");
    let s = at_line(&p, 1);
    assert!(
        s.contains("unknown key `sever`") && s.contains("did you mean `server`"),
        "{s}"
    );
}

#[test]
fn missing_keys_and_duplicates_are_reported() {
    let p = problems("[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\n");
    assert!(p.to_string().contains("missing key `url`"), "{p}");
    let p = problems(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 2\n",
    );
    assert!(p.to_string().contains("used twice"), "{p}");
    let p = problems("[[site]]\nid = \"Shop!\"\n");
    assert!(p.to_string().contains("invalid id"), "{p}");
}

#[test]
fn secrets_come_from_env_or_file_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw");
    std::fs::write(&file, "s3cret\n").unwrap();
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://x/\"\nbasic_auth = {{ username = \"u\", password_file = \"{}\" }}\n",
        file.display()
    );
    let c = load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let CheckSpec::Probe(ProbeSpec::Http(h)) = &c.sites[0].checks[0].spec else {
        panic!()
    };
    assert_eq!(h.basic_auth.as_ref().unwrap().password.expose(), "s3cret");
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "the secret must not appear in Debug output"
    );

    let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://x/\"\nbasic_auth = { username = \"u\", password_env = \"KEEPUP_TEST_SURELY_UNSET_VAR\" }\n";
    let p = problems(src);
    assert!(
        p.to_string()
            .contains("KEEPUP_TEST_SURELY_UNSET_VAR is not set"),
        "{p}"
    );
    assert_eq!(p.0[0].line, 7);
}

#[test]
fn timeout_longer_than_interval_is_rejected() {
    let p = problems(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ninterval = \"10s\"\ntimeout = \"20s\"\n",
    );
    assert!(at_line(&p, 9).contains("longer than the interval"), "{p}");
}

#[test]
fn a_missing_file_is_a_problem_not_a_panic() {
    let p = load(Path::new("/nonexistent/keepup.toml")).unwrap_err();
    assert!(
        p.to_string().contains("cannot read the configuration file"),
        "{p}"
    );
}

#[test]
fn dependencies_resolve_and_cycles_are_rejected() {
    let base = "[defaults]\nfailure_threshold = 3\n[[site]]\nid = \"s\"\n[[site.check]]\nid = \"dns\"\nkind = \"tcp\"\nhost = \"h\"\nport = 53\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"h\"\nport = 80\ndepends_on = [\"dns\"]\nfailure_threshold = 1\nretry_interval = \"5s\"\n";
    let c = load_str(base, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let web = c.find_check("s/web").unwrap();
    assert_eq!(web.depends_on, vec![keepup_model::CheckId::new("s", "dns")]);
    assert_eq!(web.alerting.failure_threshold, 1);
    assert_eq!(web.alerting.retry_interval, Duration::from_secs(5));
    let dns = c.find_check("s/dns").unwrap();
    assert_eq!(dns.alerting.failure_threshold, 3, "[defaults] applies");
    assert_eq!(dns.alerting.retry_interval, Duration::from_secs(20));

    let cyclic = format!(
        "{base}[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ndepends_on = [\"b\"]\n[[site.check]]\nid = \"b\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\ndepends_on = [\"s/a\"]\n"
    );
    let p = problems(&cyclic);
    assert!(
        p.to_string()
            .contains("dependency cycle: s/a -> s/b -> s/a")
            || p.to_string()
                .contains("dependency cycle: s/b -> s/a -> s/b"),
        "{p}"
    );
    assert_eq!(p.0.len(), 1, "{p}");

    let unknown = base.replace("depends_on = [\"dns\"]", "depends_on = [\"dsn\"]");
    let p = problems(&unknown);
    let s = at_line(&p, 15);
    assert!(
        s.contains("no check \"s/dsn\"") && s.contains("did you mean \"s/dns\""),
        "{s}"
    );

    let zero = base.replace("failure_threshold = 1", "failure_threshold = 0");
    assert!(at_line(&problems(&zero), 16).contains("must be at least 1"));
}

const TWO_CHECKS: &str = "[[site]]\nid = \"shop\"\ntags = [\"eu\"]\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"h\"\nport = 80\n[[site.check]]\nid = \"db\"\nkind = \"tcp\"\nhost = \"h\"\nport = 5432\ntags = [\"db\"]\n";

#[test]
fn maintenance_windows_load_and_answer_when_they_are_open() {
    let src = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"patch\"\ncron = \"0 2 * * sun\"\nduration = \"2h\"\ntimezone = \"Europe/Berlin\"\ntags = [\"db\"]\n\
         [[maintenance]]\nid = \"move\"\nchecks = [\"shop/web\"]\nstart = \"2026-12-01T22:00:00+01:00\"\nend = \"2026-12-02T02:00:00+01:00\"\n"
    );
    let c = load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let patch = &c.maintenance[0];
    assert!(patch.covers(&keepup_model::CheckId::new("shop", "db")));
    assert!(!patch.covers(&keepup_model::CheckId::new("shop", "web")));
    // Sunday 2026-11-22 02:30 Berlin = 01:30 UTC.
    let sunday_0230 = "2026-11-22T01:30:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert!(patch.open_at(sunday_0230).is_some());
    assert!(
        patch.open_at(sunday_0230 + 2 * 3_600_000).is_none(),
        "over after 2 h"
    );
    let mv = &c.maintenance[1];
    let inside = "2026-12-01T23:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert_eq!(mv.open_at(inside).map(|(s, e)| e - s), Some(4 * 3_600_000));
}

#[test]
fn maintenance_tags_cover_checks_carrying_them_and_unknown_tags_are_rejected() {
    let src = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"region\"\ntags = [\"eu\"]\nstart = \"2026-12-01T22:00:00+01:00\"\nend = \"2026-12-02T02:00:00+01:00\"\n\
         [[maintenance]]\nid = \"db\"\ntags = [\"db\"]\nstart = \"2026-12-03T22:00:00+01:00\"\nend = \"2026-12-04T02:00:00+01:00\"\n"
    );
    let c = load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let (web, db) = (
        keepup_model::CheckId::new("shop", "web"),
        keepup_model::CheckId::new("shop", "db"),
    );
    let region = &c.maintenance[0];
    assert!(
        region.covers(&web) && region.covers(&db),
        "the site's tag covers all its checks"
    );
    let db_window = &c.maintenance[1];
    assert!(
        db_window.covers(&db) && !db_window.covers(&web),
        "the check's tag covers that check"
    );
    let typo = src.replace(
        "id = \"db\"\ntags = [\"db\"]",
        "id = \"db\"\ntags = [\"db\", \"dbs\"]",
    );
    let line = line_of(&typo, "\"dbs\"");
    let p = problems(&typo);
    let problem = at_line(&p, line);
    assert!(
        problem.contains(&format!(
            "keepup.toml:{line}:15: maintenance[1].tags: no check or site carries the tag \"dbs\""
        )) && problem.contains("did you mean \"db\""),
        "{p}"
    );
    assert_eq!(p.0.len(), 1, "{p}");
}

#[test]
fn bad_maintenance_windows_are_rejected_where_they_are_written() {
    let bad = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"a\"\ncron = \"0 25 * * *\"\nduration = \"1h\"\ntimezone = \"Mars/Olympus\"\n"
    );
    let p = problems(&bad);
    assert!(
        at_line(&p, 17).contains("invalid cron expression: hour"),
        "{p}"
    );
    let bad = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"a\"\ncron = \"0 2 * * *\"\nduration = \"1h\"\ntimezone = \"Mars/Olympus\"\n"
    );
    assert!(
        at_line(&problems(&bad), 19).contains("unknown time zone"),
        "tz"
    );
    let bad = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"a\"\nchecks = [\"shop/wbe\"]\nstart = \"2026-12-01T22:00:00+01:00\"\nend = \"2026-12-01T21:00:00+01:00\"\n"
    );
    let p = problems(&bad);
    assert!(
        at_line(&p, 17).contains("no check \"shop/wbe\"") && at_line(&p, 17).contains("shop/web"),
        "{p}"
    );
    assert!(at_line(&p, 19).contains("ends before it starts"), "{p}");
    // Two daily windows on the same checks that overlap.
    let overlap = format!(
        "{TWO_CHECKS}[[maintenance]]\nid = \"a\"\ncron = \"0 2 * * *\"\nduration = \"2h\"\n[[maintenance]]\nid = \"b\"\ncron = \"30 3 * * *\"\nduration = \"1h\"\nsites = [\"shop\"]\n"
    );
    let p = problems(&overlap);
    assert!(at_line(&p, 19).contains("\"b\" overlaps \"a\""), "{p}");
    // The same times on disjoint checks are fine.
    let disjoint = overlap
        .replace("sites = [\"shop\"]", "checks = [\"shop/web\"]")
        .replace(
            "id = \"a\"\ncron",
            "id = \"a\"\nchecks = [\"shop/db\"]\ncron",
        );
    load_str(&disjoint, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
}

#[test]
fn on_call_rotation_and_time_of_day_rules_pick_the_channels() {
    use keepup_config::routing::Target;
    use keepup_model::Severity;
    let src = r#"
[[channel]]
id = "alice-mail"
kind = "webhook"
url = "http://127.0.0.1:9/a"
[[channel]]
id = "alice-sms"
kind = "webhook"
url = "http://127.0.0.1:9/as"
[[channel]]
id = "bob-mail"
kind = "webhook"
url = "http://127.0.0.1:9/b"

[[contact]]
id = "alice"
timezone = "Europe/Berlin"
channels = ["alice-mail", { channel = "alice-sms", severity = ["critical"], hours = "22:00-07:00" }]
[[contact]]
id = "bob"
channels = ["bob-mail"]

[[team]]
id = "ops"
members = ["alice", "bob"]
rotation = "weekly"
start = "2026-11-02T09:00"
timezone = "Europe/Berlin"
"#;
    let c = load_str(src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let ms = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_millisecond();
    let team = Target::Team("ops".into());
    // Week 1 (from Mon 2 Nov 09:00 Berlin): alice; week 2: bob; week 3: alice.
    assert_eq!(
        c.routing
            .channels_of(&team, Severity::Warning, ms("2026-11-04T12:00:00Z")),
        vec!["alice-mail"]
    );
    assert_eq!(
        c.routing
            .channels_of(&team, Severity::Warning, ms("2026-11-09T07:59:00Z")),
        vec!["alice-mail"],
        "hand-over at 09:00 Berlin = 08:00 UTC"
    );
    assert_eq!(
        c.routing
            .channels_of(&team, Severity::Warning, ms("2026-11-09T08:01:00Z")),
        vec!["bob-mail"]
    );
    assert_eq!(
        c.routing
            .channels_of(&team, Severity::Warning, ms("2026-11-17T12:00:00Z")),
        vec!["alice-mail"]
    );
    // SMS only for critical incidents at night (Berlin time).
    let alice = Target::Contact("alice".into());
    assert_eq!(
        c.routing
            .channels_of(&alice, Severity::Critical, ms("2026-11-04T23:30:00Z")),
        vec!["alice-mail", "alice-sms"]
    );
    assert_eq!(
        c.routing
            .channels_of(&alice, Severity::Warning, ms("2026-11-04T23:30:00Z")),
        vec!["alice-mail"]
    );
    assert_eq!(
        c.routing
            .channels_of(&alice, Severity::Critical, ms("2026-11-04T12:00:00Z")),
        vec!["alice-mail"]
    );

    let bad = src
        .replace("hours = \"22:00-07:00\"", "hours = \"25:00-07:00\"")
        .replace("rotation = \"weekly\"", "rotation = \"fortnightly\"");
    let p = problems(&bad);
    assert!(
        p.to_string().contains("invalid hours \"25:00-07:00\""),
        "{p}"
    );
    assert!(
        p.to_string().contains("unknown rotation \"fortnightly\""),
        "{p}"
    );
}

#[test]
fn listener_limits_load_and_bad_ones_are_located() {
    let hard = keepup_config::descriptors::hard_limit().expect("a finite descriptor limit");
    let c = load_str(
        "[server]\nmax_connections = 900\nmax_connections_per_address = 30\nrequest_head_timeout = \"2s\"\ntrusted_proxies = [\"127.0.0.9\", \"10.0.0.0/8\", \"::1\"]\n",
        Path::new("keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let limits = &c.server.limits;
    assert_eq!(limits.connection_cap(hard), 900);
    assert_eq!(limits.max_connections_per_address, 30);
    assert_eq!(limits.request_head_timeout, Duration::from_secs(2));
    assert!(limits.is_trusted_proxy("10.20.30.40".parse().unwrap()));
    assert!(limits.is_trusted_proxy("::ffff:127.0.0.9".parse().unwrap()));
    assert!(!limits.is_trusted_proxy("127.0.0.1".parse().unwrap()));
    let defaults = load_str("", Path::new("keepup.toml")).unwrap();
    assert_eq!(defaults.server.limits.max_connections_per_address, 64);
    assert_eq!(
        defaults.server.limits.request_head_timeout,
        Duration::from_secs(5)
    );
    assert_eq!(defaults.server.limits.connection_cap(1024), 512);

    let p = problems(&format!(
        "[server]\nmax_connections = {}\nmax_connections_per_address = 0\nrequest_head_timeout = \"0s\"\ntrusted_proxies = [\"10.0.0.0/40\", \"proxy.lan\"]\n",
        hard + 1
    ));
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:19")
            && s.contains("server.max_connections")
            && s.contains(&format!("at most {hard} file descriptors")),
        "{s}"
    );
    assert!(at_line(&p, 3).contains("must be at least 1"), "{p}");
    assert!(at_line(&p, 4).contains("must be longer than zero"), "{p}");
    let proxies: Vec<_> =
        p.0.iter()
            .filter(|x| x.line == 5)
            .map(|x| x.to_string())
            .collect();
    assert!(
        proxies.len() == 2
            && proxies[0].contains("prefix length")
            && proxies[1].contains("not an IP address"),
        "{proxies:?}"
    );
    let p = problems("[server]\nmax_connections = 10\nmax_connections_per_address = 11\n");
    assert!(
        at_line(&p, 3).contains("cannot hold more than all of them"),
        "{p}"
    );
    let p = problems("[server]\nmax_connections = 0\n");
    assert!(at_line(&p, 2).contains("must be at least 1"), "{p}");
}

#[test]
fn metrics_allow_loads_and_an_entry_that_is_no_network_is_located() {
    let c = load_str(
        "[server]\nmetrics_allow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n",
        Path::new("keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let allow = &c.server.metrics_allow;
    assert!(
        allow
            .iter()
            .any(|n| n.contains("10.9.8.7".parse().unwrap()))
    );
    assert!(
        !allow
            .iter()
            .any(|n| n.contains("11.0.0.1".parse().unwrap()))
    );
    assert!(
        load_str("", Path::new("keepup.toml"))
            .unwrap()
            .server
            .metrics_allow
            .is_empty()
    );

    let p = problems("[server]\nmetrics_allow = [\"10.0.0.0/8\", \"scraper.lan\"]\n");
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:32")
            && s.contains("server.metrics_allow")
            && s.contains("not an IP address"),
        "{s}"
    );
}

#[test]
fn scheduler_limits_load_and_bad_ones_are_located() {
    let hard = keepup_config::descriptors::hard_limit().expect("a finite descriptor limit");
    let c = load_str(
        "[scheduler]\nconcurrency = 3000\n",
        Path::new("keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.scheduler.in_flight_cap(hard), 3000);
    let defaults = load_str("", Path::new("keepup.toml")).unwrap();
    assert_eq!(defaults.scheduler.in_flight_cap(20_000), 5_000);
    assert_eq!(defaults.scheduler.in_flight_cap(1_024), 256);

    let p = problems("[scheduler]\nconcurrency = 0\n");
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:15")
            && s.contains("scheduler.concurrency")
            && s.contains("must be at least 1"),
        "{s}"
    );
    let p = problems(&format!("[scheduler]\nconcurrency = {}\n", hard + 1));
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:15")
            && s.contains("scheduler.concurrency")
            && s.contains(&format!("at most {hard} file descriptors")),
        "{s}"
    );

    // The CPU pool: one worker per core unless configured, at least 1, at
    // most the probes that may run at once.
    let c = load_str(
        "[scheduler]\nconcurrency = 100\ncpu_workers = 3\n",
        Path::new("keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(c.scheduler.cpu_pool_size(), 3);
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(defaults.scheduler.cpu_pool_size(), cores);
    let p = problems("[scheduler]\ncpu_workers = 0\n");
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:15")
            && s.contains("scheduler.cpu_workers")
            && s.contains("must be at least 1"),
        "{s}"
    );
    let p = problems("[scheduler]\nconcurrency = 100\ncpu_workers = 101\n");
    let s = at_line(&p, 3);
    assert!(
        s.contains("keepup.toml:3:15")
            && s.contains("scheduler.cpu_workers")
            && s.contains("at most 100 probes run at once"),
        "{s}"
    );
}

#[test]
fn web_security_keys_load_and_bad_ones_are_located() {
    let c = load_str(
        "[server]\nsession_idle = \"1h\"\nsession_max = \"1d\"\nlogin_attempts_per_minute = 3\nlockout_after = 4\nlockout_for = \"2m\"\ntls_cert = \"tls/cert.pem\"\ntls_key = \"/abs/key.pem\"\n",
        Path::new("/etc/keepup/keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let web = &c.server.web;
    assert_eq!(web.session_idle, Duration::from_secs(3600));
    assert_eq!(web.session_max, Duration::from_secs(86_400));
    assert_eq!((web.login_attempts_per_minute, web.lockout_after), (3, 4));
    assert_eq!(web.lockout_for, Duration::from_secs(120));
    let tls = web.tls.as_ref().unwrap();
    assert_eq!(tls.cert, Path::new("/etc/keepup/tls/cert.pem"));
    assert_eq!(tls.key, Path::new("/abs/key.pem"));
    let defaults = load_str("", Path::new("keepup.toml")).unwrap().server.web;
    assert_eq!(defaults, keepup_config::WebSecurity::default());
    assert_eq!(defaults.lockout_after, 5);

    let p = problems(
        "[server]\nsession_idle = \"2h\"\nsession_max = \"1h\"\nlockout_after = 0\nlogin_attempts_per_minute = 0\ntls_key = \"k.pem\"\n",
    );
    let s = at_line(&p, 3);
    assert!(
        s.contains("keepup.toml:3:15")
            && s.contains("server.session_max")
            && s.contains("at least 2h"),
        "{s}"
    );
    assert!(
        at_line(&p, 4).contains("server.lockout_after") && at_line(&p, 4).contains("at least 1"),
        "{p}"
    );
    assert!(
        at_line(&p, 5).contains("server.login_attempts_per_minute"),
        "{p}"
    );
    assert!(
        at_line(&p, 6).contains("server.tls_key") && at_line(&p, 6).contains("go together"),
        "{p}"
    );

    // The last use is written once a minute: a shorter idle time is refused.
    let p = problems("[server]\nsession_idle = \"30s\"\n");
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:16") && s.contains("server.session_idle") && s.contains("1m"),
        "{p}"
    );
    // Without session_max, its default (7 days) still bounds session_idle.
    let p = problems("[server]\nsession_idle = \"8d\"\n");
    let s = at_line(&p, 2);
    assert!(
        s.contains("keepup.toml:2:16")
            && s.contains("server.session_idle")
            && s.contains("at most 7days"),
        "{p}"
    );
}
