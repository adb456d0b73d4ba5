//! `keepup user`, `keepup token` and `keepup audit` as an operator runs
//! them: real processes on a real store.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn keepup(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .env("USER", "tester")
        .args(args)
        .arg("-c")
        .arg(dir.join("keepup.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keepup runs");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn users_tokens_and_the_audit_log_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keepup.toml"), "").unwrap();
    let password = "a long enough password";

    let added = keepup(
        dir.path(),
        &["user", "add", "ann", "--role", "operator"],
        Some(&format!("{password}\n")),
    );
    assert!(added.status.success(), "{}", err(&added));
    assert!(!out(&added).contains(password) && !err(&added).contains(password));
    let short = keepup(
        dir.path(),
        &["user", "add", "bob", "--role", "viewer"],
        Some("short\n"),
    );
    assert_eq!(short.status.code(), Some(2), "{}", err(&short));
    assert!(
        err(&short).contains("12 to 1024 characters"),
        "{}",
        err(&short)
    );
    let file = dir.path().join("pw");
    std::fs::write(&file, "another long password\n").unwrap();
    let from_file = keepup(
        dir.path(),
        &[
            "user",
            "add",
            "bob",
            "--role",
            "viewer",
            "--password-file",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(from_file.status.success(), "{}", err(&from_file));
    let twice = keepup(
        dir.path(),
        &["user", "add", "bob", "--role", "viewer"],
        Some(&format!("{password}\n")),
    );
    assert_eq!(twice.status.code(), Some(1));
    let bad_role = keepup(
        dir.path(),
        &["user", "add", "cy", "--role", "root"],
        Some(&format!("{password}\n")),
    );
    assert!(
        err(&bad_role).contains("viewer, operator or admin"),
        "{}",
        err(&bad_role)
    );

    let store = keepup_store::Store::open(&dir.path().join("keepup.db")).unwrap();
    let ann = store.user("ann").unwrap().unwrap();
    assert!(keepup_web::auth::password::verify(
        password,
        &ann.password_hash
    ));
    assert_eq!(ann.role, keepup_store::Role::Operator);
    let bob = store.user("bob").unwrap().unwrap();
    assert!(keepup_web::auth::password::verify(
        "another long password",
        &bob.password_hash
    ));

    let list = keepup(dir.path(), &["user", "list"], None);
    assert!(
        out(&list).contains("ann") && out(&list).contains("operator"),
        "{}",
        out(&list)
    );
    assert!(!out(&list).contains("argon2"));
    let passwd = keepup(
        dir.path(),
        &["user", "passwd", "ann"],
        Some("a brand new password\n"),
    );
    assert!(passwd.status.success(), "{}", err(&passwd));
    let ann = store.user("ann").unwrap().unwrap();
    assert!(keepup_web::auth::password::verify(
        "a brand new password",
        &ann.password_hash
    ));
    assert!(
        keepup(dir.path(), &["user", "remove", "bob"], None)
            .status
            .success()
    );
    assert_eq!(
        keepup(dir.path(), &["user", "remove", "bob"], None)
            .status
            .code(),
        Some(1)
    );

    let created = keepup(
        dir.path(),
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "read",
            "--expires",
            "90d",
        ],
        None,
    );
    assert!(created.status.success(), "{}", err(&created));
    let token = out(&created).trim().to_owned();
    assert!(token.starts_with("kp_") && token.len() == 67, "{token}");
    let found = store
        .use_token(
            &keepup_web::auth::secret::digest(&token),
            keepup_web::auth::now(),
        )
        .unwrap()
        .unwrap();
    assert_eq!(found.scope, keepup_store::TokenScope::Read);
    let listed = keepup(dir.path(), &["token", "list"], None);
    assert!(
        out(&listed).contains("ci") && out(&listed).contains("read"),
        "{}",
        out(&listed)
    );
    assert!(!out(&listed).contains(&token));
    let bad_scope = keepup(
        dir.path(),
        &["token", "create", "--name", "x", "--scope", "admin"],
        None,
    );
    assert_eq!(bad_scope.status.code(), Some(1));
    assert!(
        keepup(dir.path(), &["token", "revoke", "ci"], None)
            .status
            .success()
    );
    assert!(
        store
            .use_token(
                &keepup_web::auth::secret::digest(&token),
                keepup_web::auth::now()
            )
            .unwrap()
            .is_none()
    );

    let audit = keepup(dir.path(), &["audit", "--json"], None);
    assert!(audit.status.success(), "{}", err(&audit));
    let entries: serde_json::Value = serde_json::from_str(&out(&audit)).unwrap();
    let seen: Vec<(String, String, String)> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("user.add", "ann"),
        ("user.add", "bob"),
        ("user.passwd", "ann"),
        ("user.remove", "bob"),
        ("token.create", "ci"),
        ("token.revoke", "ci"),
    ]
    .iter()
    .map(|(a, t)| ("cli:tester".to_owned(), a.to_string(), t.to_string()))
    .collect();
    assert_eq!(seen, expected);
    assert!(!out(&audit).contains(&token) && !out(&audit).contains(password));
}

/// One HTTP/1.1 request on a fresh connection; the whole answer as text.
fn http(addr: &str, request: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

#[test]
fn the_demo_prints_a_dashboard_login_that_works() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_keepup"))
        .env_remove("KEEPUP_CONFIG")
        .args(["demo", "--for", "60s", "--every", "0", "--dir"])
        .arg(dir.path().join("demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("keepup demo runs");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let dashboard = loop {
        let line = lines
            .next()
            .expect("the demo prints its dashboard")
            .unwrap();
        if line.trim_start().starts_with("dashboard:") {
            break line;
        }
    };
    // "  dashboard:   http://127.0.0.1:PORT/   log in as demo, password P (operator)"
    let words: Vec<&str> = dashboard.split_whitespace().collect();
    let url = words[1];
    assert!(url.starts_with("http://127.0.0.1:"), "{dashboard}");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let password = words[words.iter().position(|w| *w == "password").unwrap() + 1];
    assert_eq!(
        words[words.iter().position(|w| *w == "as").unwrap() + 1],
        "demo,"
    );

    let page = http(
        addr,
        "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let cookie = page
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: keepup_login="))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("{page}"))
        .to_owned();
    let body = format!("name=demo&password={password}&csrf={cookie}&next=%2F");
    let login = http(
        addr,
        &format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nCookie: keepup_login={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let session = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: keepup_session="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let home = http(
        addr,
        &format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: keepup_session={session}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");
    assert!(home.contains("demo") && home.contains("operator"), "{home}");
    let _ = demo.kill();
    let _ = demo.wait();
}
