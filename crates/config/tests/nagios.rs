//! `kind = "nagios"` configuration: the command as an argument list, a
//! relative program resolved against the configuration's directory, and
//! each mistake reported at its file:line:col.

mod support;
use support::{line_of, only_problem};

use std::path::{Path, PathBuf};

use keepup_config::{CheckSpec, NagiosSpec, ProbeSpec, load_str};

fn spec(src: &str) -> NagiosSpec {
    let config =
        load_str(src, Path::new("/etc/keepup/keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let check = config.checks().next().expect("one check");
    assert_eq!(check.spec.kind(), "nagios");
    match &check.spec {
        CheckSpec::Probe(ProbeSpec::Nagios(n)) => NagiosSpec::clone(n),
        other => panic!("not a nagios check: {other:?}"),
    }
}

fn site(command: &str) -> String {
    format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"disk\"\nkind = \"nagios\"\ncommand = {command}\n"
    )
}

#[test]
fn the_command_is_kept_as_written_and_paths_follow_the_configuration() {
    let s = spec(&site(
        r#"["/usr/lib/nagios/plugins/check_disk", "-w", "20%", "-p", "/var lib"]"#,
    ));
    assert_eq!(
        s.program,
        PathBuf::from("/usr/lib/nagios/plugins/check_disk")
    );
    assert_eq!(s.args, vec!["-w", "20%", "-p", "/var lib"]);
    assert_eq!(
        s.command_line(),
        "/usr/lib/nagios/plugins/check_disk -w 20% -p '/var lib'"
    );
    // A relative path is the configuration's; a bare name is found in
    // the plugin's PATH when it runs.
    let s = spec(&site(r#"["plugins/check_shop", "--quick"]"#));
    assert_eq!(s.program, PathBuf::from("/etc/keepup/plugins/check_shop"));
    let s = spec(&site(r#"["check_tcp"]"#));
    assert_eq!(s.program, PathBuf::from("check_tcp"));
}

#[test]
fn an_empty_command_an_empty_program_or_a_nul_are_refused_where_written() {
    let src = site("[]");
    let p = only_problem(&src);
    let line = line_of(&src, "command");
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:11: site[0].check[0].command: the command is empty"
        )),
        "{p}"
    );
    let src = site(r#"["  ", "-w"]"#);
    let p = only_problem(&src);
    assert!(
        p.contains(&format!(
            ":{line}:12: site[0].check[0].command[0]: the program is empty"
        )),
        "{p}"
    );
    let src = site(r#"["/bin/check", "a\u0000b"]"#);
    let p = only_problem(&src);
    assert!(
        p.contains(&format!(
            ":{line}:26: site[0].check[0].command[1]: contains a NUL character"
        )),
        "{p}"
    );
    let src = site(r#""/bin/check -w 1""#);
    let p = only_problem(&src);
    assert!(p.contains("site[0].check[0].command"), "{p}");
}

#[test]
fn env_secrets_come_from_the_environment_or_a_file_never_inline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pw");
    std::fs::write(&file, "from-file\n").expect("secret file");
    let with_env = |env: &str| {
        format!(
            "{}env = {env}\n",
            site(r#"["/usr/lib/nagios/plugins/check_pgsql", "-H", "127.0.0.1"]"#)
        )
    };
    let s = spec(&with_env(&format!(
        "{{ PGPASSWORD = {{ file = {:?} }} }}",
        file.display().to_string()
    )));
    assert_eq!(s.env.len(), 1);
    assert_eq!(s.env[0].0, "PGPASSWORD");
    assert_eq!(s.env[0].1.expose(), "from-file");
    // Debug never shows it.
    assert!(!format!("{s:?}").contains("from-file"));

    // Inline, where written, with a hint.
    let src = with_env(r#"{ PGPASSWORD = "hunter2" }"#);
    let p = only_problem(&src);
    let line = line_of(&src, "env =");
    assert!(
        p.starts_with(&format!(
            "keepup.toml:{line}:22: site[0].check[0].env.PGPASSWORD: a secret written in the configuration is refused"
        )),
        "{p}"
    );
    assert!(!p.contains("hunter2"), "{p}");
    // Not a variable name, a variable keepup sets, a variable unset.
    let p = only_problem(&with_env(r#"{ "PG PASSWORD" = { env = "X" } }"#));
    assert!(p.contains("is not an environment variable name"), "{p}");
    let p = only_problem(&with_env(r#"{ PATH = { env = "X" } }"#));
    assert!(p.contains("PATH is set by keepup for every plugin"), "{p}");
    let p = only_problem(&with_env(
        r#"{ PGPASSWORD = { env = "KEEPUP_TEST_NAGIOS_UNSET_VARIABLE" } }"#,
    ));
    assert!(
        p.contains("environment variable KEEPUP_TEST_NAGIOS_UNSET_VARIABLE is not set"),
        "{p}"
    );
}
