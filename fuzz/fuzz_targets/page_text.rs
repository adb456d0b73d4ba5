//! HTML (or text) of any shape to visible text, noise-free text and a
//! similarity: no panic, linear time, and the output's documented shape.
#![no_main]

use keepup_probe::page::{similarity, visible_text, without_noise};
use libfuzzer_sys::fuzz_target;

const TYPES: [Option<&str>; 5] = [
    None,
    Some("text/html; charset=utf-8"),
    Some("text/plain"),
    Some("text/html; charset=iso-8859-1"),
    Some("application/octet-stream"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let text = visible_text(body, TYPES[usize::from(selector) % TYPES.len()]);
    // Whitespace is collapsed: no leading, trailing or double spaces.
    assert_eq!(text.trim(), text);
    assert!(!text.contains("  "));
    let clean = without_noise(&text, &[]);
    assert_eq!(clean.trim(), clean);
    let score = similarity(&text, &clean);
    assert!((0.0..=1.0).contains(&score));
    assert_eq!(similarity(&clean, &clean), 1.0);
});
