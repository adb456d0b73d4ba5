//! Malformed and hostile configuration text must give problems, never a
//! panic: every truncation and a spread of byte-level corruptions of a
//! realistic file are loaded.

use keepup_config::load_str;
use std::path::Path;

const SAMPLE: &str = r#"[server]
listen = "127.0.0.1:8585"
[store]
raw_retention = "7d"
[defaults]
interval = "30s"
timeout = "5s"
[defaults.tls]
warn_days = 21
[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "http"
url = "https://shop.example/"
expect_status = [200, "3xx", "200-204"]
contains = ["Add to cart"]
matches = ['Price: \d+']
headers = { "X-A" = "b" }
basic_auth = { username = "u", password_env = "KEEPUP_HOSTILE_TEST_PW" }
[[site.check.json]]
pointer = "/a/0"
equals = { x = 1 }
[[site.check]]
id = "hb"
kind = "heartbeat"
token = "abcdefgh1234"
period = "1d"
[[site.check]]
id = "t"
kind = "tls"
host = "shop.example"
port = 443
"#;

#[test]
fn every_truncation_loads_or_reports_without_panicking() {
    for end in 0..=SAMPLE.len() {
        if SAMPLE.is_char_boundary(end) {
            let _ = load_str(&SAMPLE[..end], Path::new("t.toml"));
        }
    }
}

#[test]
fn corrupted_bytes_load_or_report_without_panicking() {
    let replacements = [
        "",
        "\"",
        "'",
        "[",
        "]",
        "=",
        "\n",
        "{",
        "}",
        ",",
        "-1",
        "99999999999999999999",
        "é",
        "\u{0}",
        "[[site]]",
        "1e400",
        "0x",
        "true",
    ];
    let bytes: Vec<(usize, char)> = SAMPLE.char_indices().collect();
    // A deterministic spread of positions (every 3rd character).
    for (i, _) in bytes.iter().step_by(3) {
        for r in replacements {
            let mut s = String::with_capacity(SAMPLE.len() + 24);
            s.push_str(&SAMPLE[..*i]);
            s.push_str(r);
            let next = SAMPLE[*i..].chars().next().map_or(0, char::len_utf8);
            s.push_str(&SAMPLE[*i + next..]);
            if let Err(problems) = load_str(&s, Path::new("t.toml")) {
                for p in &problems.0 {
                    assert!(p.line >= 1 && p.col >= 1, "bad position in {p}");
                    assert!(!p.message.is_empty());
                }
            }
        }
    }
}

#[test]
fn absurd_values_are_rejected_not_trusted() {
    for (src, expect) in [
        ("[scheduler]\nconcurrency = -5\n", "scheduler.concurrency"),
        ("[defaults]\ninterval = \"-3s\"\n", "defaults.interval"),
        ("[defaults]\ninterval = 0\n", "must be longer than zero"),
        (
            "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"javascript:alert(1)\"\n",
            "not an absolute http",
        ),
        (
            "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"bad host!\"\nport = 1\n",
            "neither a host name",
        ),
        (
            "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"http\"\nurl = \"http://x/\"\nmatches = ['a{99999999}']\n",
            "invalid regex",
        ),
        (
            "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"heartbeat\"\ntoken = \"short\"\nperiod = \"1h\"\n",
            "at least 8 characters",
        ),
        ("site = 3\n", "array of tables"),
    ] {
        let err = load_str(src, Path::new("t.toml"))
            .expect_err(src)
            .to_string();
        assert!(err.contains(expect), "{src:?} → {err}");
    }
}
