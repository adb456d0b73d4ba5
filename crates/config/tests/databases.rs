//! Database check configuration (`kind = "postgres"`): defaults, limits
//! with units, the password from env or file only, and each mistake
//! reported at its file:line:col.

mod support;
use support::{at_line, line_of, only_problem, problems};
support::env_before_main! {
    "KEEPUP_TEST_PG_PW" => "from-env",
}

use keepup_config::threshold::{Direction, Threshold, Unit};
use keepup_config::{CheckSpec, DbRole, DbTls, PostgresSpec, ProbeSpec, load_str};
use std::path::Path;

fn above(warn: f64, crit: f64, unit: Unit) -> Threshold {
    Threshold {
        warn: Some(warn),
        crit: Some(crit),
        unit,
        direction: Direction::Above,
    }
}

fn site(checks: &str) -> String {
    format!("[[site]]\nid = \"shop\"\n{checks}")
}

fn postgres(src: &str) -> PostgresSpec {
    let config =
        load_str(src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("a check");
    match &check.spec {
        CheckSpec::Probe(ProbeSpec::Postgres(p)) => PostgresSpec::clone(p),
        other => panic!("not a postgres check: {other:?}"),
    }
}

#[test]
fn a_bare_postgres_check_takes_the_defaults() {
    let spec = postgres(&site(
        "[[site.check]]\nid = \"db\"\nkind = \"postgres\"\nhost = \"db.shop.example\"\n",
    ));
    assert_eq!(spec.server.port, 5432);
    assert_eq!(spec.server.user.as_deref(), Some("postgres"));
    assert_eq!(spec.database, "postgres");
    assert_eq!(spec.server.tls, DbTls::Prefer);
    assert!(spec.server.password.is_none());
    assert_eq!(spec.role, None);
    assert_eq!(spec.connections, above(80.0, 95.0, Unit::Percent));
    assert_eq!(spec.lag, above(30.0, 300.0, Unit::Seconds));
    assert_eq!(
        spec.lag_bytes,
        above(16.0 * 1048576.0, 1073741824.0, Unit::Bytes)
    );
}

#[test]
fn every_key_is_read() {
    let spec = postgres(&site(
        r#"
[[site.check]]
id = "db"
kind = "postgres"
host = "db.shop.example"
port = 6432
database = "shop"
user = "monitor"
password_env = "KEEPUP_TEST_PG_PW"
tls = "require"
role = "primary"
replicas = 2
connections = { warn = "70%", crit = "90%" }
lag = { warn = "10s", crit = "2m" }
lag_bytes = { warn = "1MiB", crit = "1GB" }
query = "SELECT count(*) FROM orders"
expect = "0"
[site.check.certificate]
verify = false
"#,
    ));
    assert_eq!(spec.server.port, 6432);
    assert_eq!(spec.database, "shop");
    assert_eq!(spec.server.user.as_deref(), Some("monitor"));
    assert_eq!(
        spec.server.password.as_ref().map(|p| p.expose()),
        Some("from-env")
    );
    assert_eq!(spec.server.tls, DbTls::Require);
    assert!(!spec.server.certificate.verify);
    assert_eq!(spec.role, Some(DbRole::Primary));
    assert_eq!(spec.replicas, Some(2));
    assert_eq!(spec.connections, above(70.0, 90.0, Unit::Percent));
    assert_eq!(spec.lag, above(10.0, 120.0, Unit::Seconds));
    assert_eq!(spec.lag_bytes, above(1048576.0, 1e9, Unit::Bytes));
    let query = spec.query.expect("query");
    assert_eq!(query.sql, "SELECT count(*) FROM orders");
    assert_eq!(query.expect.as_deref(), Some("0"));
}

#[test]
fn a_password_written_in_the_file_is_refused_without_echoing_it() {
    let src = site(
        "[[site.check]]\nid = \"db\"\nkind = \"postgres\"\nhost = \"db\"\npassword = \"hunter2-secret\"\n",
    );
    let p = only_problem(&src);
    let line = line_of(&src, "password =");
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:1: site[0].check[0].password: `password` is a secret"
        )),
        "{p}"
    );
    assert!(p.contains("password_env"), "{p}");
    assert!(!p.contains("hunter2-secret"), "{p}");
}

#[test]
fn thresholds_in_the_wrong_unit_or_out_of_range_are_refused_where_written() {
    let src = site(
        r#"[[site.check]]
id = "db"
kind = "postgres"
host = "db"
connections = { warn = "80", crit = "150%" }
lag = { warn = "10 MiB" }
lag_bytes = { warn = "1 parsec" }
"#,
    );
    let p = problems(&src);
    let conn = at_line(&p, line_of(&src, "connections ="));
    assert!(
        conn.contains("site[0].check[0].connections.warn: wrong unit"),
        "{conn}"
    );
    assert!(
        p.to_string()
            .contains("connections.crit: 150 is more than 100%"),
        "{p}"
    );
    let lag = at_line(&p, line_of(&src, "lag ="));
    assert!(
        lag.contains("lag.warn: wrong unit: this is a size"),
        "{lag}"
    );
    let bytes = at_line(&p, line_of(&src, "lag_bytes ="));
    assert!(
        bytes.contains("lag_bytes.warn: cannot read \"1 parsec\""),
        "{bytes}"
    );
}

#[test]
fn a_warning_above_the_critical_level_is_refused() {
    let src = site(
        "[[site.check]]\nid = \"db\"\nkind = \"postgres\"\nhost = \"db\"\nlag = { warn = \"10m\", crit = \"1m\" }\n",
    );
    let p = only_problem(&src);
    assert!(
        p.contains("site[0].check[0].lag.warn: warn (600s) must be at most crit (60s)"),
        "{p}"
    );
    // A threshold written replaces the default whole.
    let spec = postgres(&site(
        "[[site.check]]\nid = \"db\"\nkind = \"postgres\"\nhost = \"db\"\nlag = { warn = \"10m\" }\n",
    ));
    assert_eq!(spec.lag.warn, Some(600.0));
    assert_eq!(spec.lag.crit, None);
}

#[test]
fn unknown_keys_modes_and_roles_are_refused_with_a_hint() {
    let src = site(
        r#"[[site.check]]
id = "db"
kind = "postgres"
host = "db"
replica = 1
tls = "verify-full"
role = "standby"
lag = { warn = "1s", critical = "2s" }
"#,
    );
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "replica ="))
            .contains("unknown key `replica` (hint: did you mean `replicas`?)"),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "tls =")).contains("unknown TLS mode \"verify-full\""),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "role =")).contains("unknown role \"standby\""),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "lag =")).contains("unknown field `critical`")
            || at_line(&p, line_of(&src, "lag =")).contains("unknown key `critical`"),
        "{p}"
    );
}

#[test]
fn replicas_on_a_replica_and_expect_without_query_are_refused() {
    let src = site(
        "[[site.check]]\nid = \"db\"\nkind = \"postgres\"\nhost = \"db\"\nrole = \"replica\"\nreplicas = 1\nexpect = \"1\"\n",
    );
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "replicas =")).contains("a replica has no replicas of its own"),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "expect =")).contains("`expect` needs a `query`"),
        "{p}"
    );
}

fn redis(src: &str) -> keepup_config::RedisSpec {
    let config =
        load_str(src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("a check");
    match &check.spec {
        CheckSpec::Probe(ProbeSpec::Redis(r)) => keepup_config::RedisSpec::clone(r),
        other => panic!("not a redis check: {other:?}"),
    }
}

#[test]
fn a_redis_check_takes_its_defaults_and_every_key() {
    let spec = redis(&site(
        "[[site.check]]\nid = \"cache\"\nkind = \"redis\"\nhost = \"cache.shop.example\"\n",
    ));
    assert_eq!(spec.server.port, 6379);
    assert_eq!(spec.server.tls, DbTls::Disable);
    assert_eq!(spec.server.user, None);
    assert!(spec.server.password.is_none());
    assert_eq!(spec.memory, above(80.0, 95.0, Unit::Percent));
    assert_eq!(spec.lag, above(30.0, 60.0, Unit::Seconds));
    let spec = redis(&site(
        r#"[[site.check]]
id = "cache"
kind = "redis"
host = "cache.shop.example"
port = 6380
user = "monitor"
password_env = "KEEPUP_TEST_PG_PW"
tls = "require"
role = "replica"
lag = { warn = "5s", crit = "30s" }
lag_bytes = { warn = "1MB", crit = "10MB" }
memory = { warn = "70%", crit = "90%" }
"#,
    ));
    assert_eq!(spec.server.port, 6380);
    assert_eq!(spec.server.user.as_deref(), Some("monitor"));
    assert_eq!(spec.server.tls, DbTls::Require);
    assert_eq!(spec.role, Some(DbRole::Replica));
    assert_eq!(spec.lag_bytes, above(1e6, 1e7, Unit::Bytes));
    assert_eq!(spec.memory, above(70.0, 90.0, Unit::Percent));
}

#[test]
fn redis_mistakes_are_refused_where_written() {
    let src = site(
        r#"[[site.check]]
id = "cache"
kind = "redis"
host = "cache"
tls = "prefer"
user = "monitor"
memory = { warn = "1GiB" }
password = "hunter2-secret"
"#,
    );
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "tls ="))
            .contains("unknown TLS mode \"prefer\" (hint: use \"disable\", \"require\""),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "user =")).contains("an ACL user logs in with a password"),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "memory =")).contains("memory.warn: wrong unit"),
        "{p}"
    );
    let secret = at_line(&p, line_of(&src, "password ="));
    assert!(secret.contains("`password` is a secret"), "{secret}");
    assert!(!p.to_string().contains("hunter2-secret"), "{p}");
}

#[test]
fn a_mysql_check_takes_its_defaults_and_refuses_its_mistakes() {
    let config = load_str(
        &site("[[site.check]]\nid = \"db\"\nkind = \"mysql\"\nhost = \"db.shop.example\"\ncluster_size = 3\n"),
        Path::new("/etc/keepup/keepup.toml"),
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let Some(ProbeSpec::Mysql(spec)) = config.checks().next().and_then(|c| c.probe()) else {
        panic!("not a mysql check")
    };
    assert_eq!(spec.server.port, 3306);
    assert_eq!(spec.server.user.as_deref(), Some("root"));
    assert_eq!(spec.server.tls, DbTls::Prefer);
    assert_eq!(spec.lag, above(30.0, 300.0, Unit::Seconds));
    assert_eq!(spec.connections, above(80.0, 95.0, Unit::Percent));
    assert_eq!(spec.cluster_size, Some(3));

    let src = site(
        r#"[[site.check]]
id = "db"
kind = "mysql"
host = "db"
cluster_size = 0
lag = { warn = "80%" }
replicas = 1
"#,
    );
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "cluster_size =")).contains("invalid cluster size 0"),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "lag =")).contains("lag.warn: wrong unit"),
        "{p}"
    );
    assert!(
        at_line(&p, line_of(&src, "replicas =")).contains("unknown key `replicas`"),
        "{p}"
    );
}

#[test]
fn a_password_crosses_the_network_in_clear_only_where_written() {
    let check = |kind: &str, host: &str, tls: &str| {
        site(&format!(
            "[[site.check]]\nid = \"db\"\nkind = \"{kind}\"\nhost = \"{host}\"\npassword_env = \"KEEPUP_TEST_PG_PW\"\n{tls}"
        ))
    };
    // Postgres and MySQL with a password: TLS is required unless written otherwise.
    assert_eq!(
        postgres(&check("postgres", "db.shop.example", ""))
            .server
            .tls,
        DbTls::Require
    );
    let src = check("mysql", "db.shop.example", "");
    let config =
        load_str(&src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let Some(ProbeSpec::Mysql(spec)) = config.checks().next().and_then(|c| c.probe()) else {
        panic!("not a mysql check")
    };
    assert_eq!(spec.server.tls, DbTls::Require);
    // Written `prefer` with a password elsewhere than loopback is refused.
    let src = check("postgres", "db.shop.example", "tls = \"prefer\"\n");
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "tls =")).contains("\"prefer\" sends the password in clear"),
        "{p}"
    );
    // Written `disable` is the operator's choice; loopback keeps `prefer`.
    let spec = postgres(&check("postgres", "db.shop.example", "tls = \"disable\"\n"));
    assert_eq!(spec.server.tls, DbTls::Disable);
    for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
        assert_eq!(
            postgres(&check("postgres", host, "")).server.tls,
            DbTls::Prefer,
            "{host}"
        );
        assert_eq!(
            postgres(&check("postgres", host, "tls = \"prefer\"\n"))
                .server
                .tls,
            DbTls::Prefer,
            "{host}"
        );
    }

    // Redis AUTH in clear: refused unless loopback or written `disable`.
    let src = check("redis", "cache.shop.example", "");
    let p = problems(&src);
    assert!(
        at_line(&p, line_of(&src, "password_env ="))
            .contains("the password would cross the network in clear"),
        "{p}"
    );
    assert!(
        p.to_string().contains(r#"hint: write tls = "require""#),
        "{p}"
    );
    let spec = redis(&check("redis", "cache.shop.example", "tls = \"disable\"\n"));
    assert_eq!(spec.server.tls, DbTls::Disable);
    assert_eq!(
        redis(&check("redis", "127.0.0.2", "")).server.tls,
        DbTls::Disable
    );
}
