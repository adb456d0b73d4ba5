//! `kind = "ssh"` configuration: the port's default, a pinned fingerprint
//! as `ssh-keygen -lf` prints it, and mistakes at their file:line:col.

mod support;
use support::{line_of, only_problem};

use std::path::Path;

use keepup_config::{CheckSpec, ProbeSpec, load_str};

fn site(extra: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"ssh\"\nkind = \"ssh\"\nhost = \"db.shop.example\"\n{extra}"
    )
}

#[test]
fn a_fingerprint_is_taken_with_or_without_its_prefix() {
    let fp = "uJ0nUgDpH9PjVQmTt9sV5XOpSWm1y1BDrZqzVpbdJbc";
    for written in [format!("SHA256:{fp}"), fp.to_owned()] {
        let src = site(&format!("host_key_sha256 = \"{written}\"\n"));
        let config = load_str(&src, Path::new("k.toml")).unwrap_or_else(|p| panic!("{p}"));
        let Some(CheckSpec::Probe(ProbeSpec::Ssh(s))) = config.checks().next().map(|c| &c.spec)
        else {
            panic!("not an ssh check")
        };
        assert_eq!(s.port, 22);
        assert_eq!(s.host_key_sha256.as_deref(), Some(fp));
        assert_eq!(s.host_key_algorithms.len(), 4);
    }
}

#[test]
fn a_bad_fingerprint_or_algorithm_is_shown_where_written() {
    let src = site("host_key_sha256 = \"MD5:12:34\"\n");
    let p = only_problem(&src);
    let line = line_of(&src, "host_key_sha256");
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:19: site[0].check[0].host_key_sha256: \"MD5:12:34\" is not a SHA-256 key fingerprint"
        )),
        "{p}"
    );
    let p = only_problem(&site("host_key_algorithm = \"ssh-dss\"\n"));
    assert!(p.contains("unknown host key algorithm \"ssh-dss\""), "{p}");
}
