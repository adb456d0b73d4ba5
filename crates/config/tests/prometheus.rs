//! `kind = "prometheus"` configuration: the HTTP keys of an `http` check,
//! conditions compiled at load, and a mistake in an expression reported at
//! its own file:line:col with its place in the expression.

mod support;
use support::{line_of, only_problem, problems};

use std::path::Path;

use keepup_config::{CheckSpec, ProbeSpec, PrometheusSpec, load_str};

fn site(body: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"node\"\nkind = \"prometheus\"\nurl = \"http://127.0.0.1:9100/metrics\"\n{body}"
    )
}

fn spec(src: &str) -> PrometheusSpec {
    let config = load_str(src, Path::new("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("one check");
    assert_eq!(check.spec.kind(), "prometheus");
    match &check.spec {
        CheckSpec::Probe(ProbeSpec::Prometheus(p)) => PrometheusSpec::clone(p),
        other => panic!("not a prometheus check: {other:?}"),
    }
}

#[test]
fn conditions_compile_with_their_severity_and_the_text_format_is_asked_for() {
    let s = spec(&site(
        r#"max_body_bytes = 4194304
[[site.check.condition]]
expr = 'node_filesystem_avail_bytes{mountpoint="/"} / node_filesystem_size_bytes{mountpoint="/"} < 0.1'
severity = "warn"
message = "root filesystem almost full"
[[site.check.condition]]
expr = "rate(node_vmstat_pswpin) > 100"
"#,
    ));
    assert_eq!(s.conditions.len(), 2);
    assert!(!s.conditions[0].critical);
    assert!(s.conditions[1].critical, "crit is the default");
    assert_eq!(
        s.conditions[0].message.as_deref(),
        Some("root filesystem almost full")
    );
    assert_eq!(s.http.max_body_bytes, 4_194_304);
    assert!(
        s.http
            .headers
            .iter()
            .any(|(n, v)| n == "accept" && v == "text/plain;version=0.0.4")
    );
}

#[test]
fn a_bad_expression_is_shown_at_its_place_in_the_file() {
    let src = site("[[site.check.condition]]\nexpr = 'up{job=\"a\" instance=\"b\"} == 0'\n");
    let p = only_problem(&src);
    let line = line_of(&src, "expr =");
    // `expr = '` is 8 characters; `instance` is the 12th of the expression.
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:20: site[0].check[0].condition[0].expr: at character 12 of the expression: expected `,` or `}}`, found `instance`"
        )),
        "{p}"
    );
    let src = site("[[site.check.condition]]\nexpr = \"node_load1\"\n");
    let p = only_problem(&src);
    assert!(
        p.contains("at character 11 of the expression: a condition needs a comparison"),
        "{p}"
    );
    let src = site("[[site.check.condition]]\nexpr = \"up == 0\"\nseverity = \"page\"\n");
    let p = only_problem(&src);
    assert!(
        p.contains("condition[0].severity: unknown severity \"page\""),
        "{p}"
    );
    let p = only_problem(&site(""));
    assert!(
        p.contains("needs at least one [[site.check.condition]]"),
        "{p}"
    );
    let p = problems(&site(
        "[[site.check.condition]]\nexpr = \"up == 0\"\nwhen = 1\n",
    ));
    assert!(p.to_string().contains("when"), "{p}");
}
