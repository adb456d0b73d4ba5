//! security.txt parsing and judging on arbitrary input: no panic, and
//! every finding uses a security.txt code.
#![no_main]

use keepup_probe::security_txt::{Context, evaluate, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = parse(&text);
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let cx = Context {
        now,
        warn_days: 30,
        url: "https://shop.example/.well-known/security.txt",
    };
    let (findings, _evidence) = evaluate(&parsed, &cx);
    for f in findings {
        assert!(f.code.starts_with("SECURITY_TXT_"), "{}", f.code);
    }
    for line in parsed.invalid_lines {
        assert!(line >= 1);
    }
});
