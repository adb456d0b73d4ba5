//! Policy and legal pages: available, not a soft 404, saying what they must
//! say, and unchanged (or else reported).
//!
//! A run fetches the page with the HTTP probe (same timings, TLS checks,
//! bounded body) and then works on its *visible text*: HTML tags, scripts,
//! styles and comments removed, entities decoded, whitespace collapsed
//! ([`visible_text`]).
//!
//! - **Soft 404**: a random non-existent sibling path (`/legal/privacy` →
//!   `/legal/keepup-404-<random>`) is fetched too. If it also answers 2xx
//!   with nearly the same text ([`similarity`] ≥ [`SOFT_404_SIMILARITY`],
//!   the random name removed first), the page is the site's "not found"
//!   page in disguise: [`codes::PAGE_SOFT_404`].
//! - **Phrases** must appear in the visible text, compared without regard
//!   to case and whitespace.
//! - **Changes**: the visible text minus noise ([`without_noise`]: dates,
//!   times, long hex and base64-like tokens, long digit runs such as nonces
//!   and cache busters, plus the check's own `ignore` patterns) is hashed
//!   (SHA-256). The first run sets the baseline; a different hash later is
//!   [`codes::PAGE_CHANGED`], reported for `change_hold` with an excerpt of
//!   what changed, and becomes the new baseline. Baselines live in the
//!   [`ProbeContext`] and, in the daemon, in its store (through
//!   [`crate::ProbeMemory`]), so a change made while keepup was down is
//!   reported after the restart.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use keepup_config::{HttpSpec, PageSpec, StatusRange};
use keepup_model::text::hex;
use keepup_model::{Finding, Outcome, Severity, Status, format_rfc3339};
use regex::Regex;
use serde_json::json;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http::{self, Page};
use crate::util::{display_url, finish};

/// Texts at least this similar (0..1) are "the same page". High, because
/// a short legal page inside a large site template is already quite
/// similar to the site's error page in the same template.
pub const SOFT_404_SIMILARITY: f64 = 0.95;

/// Characters of context on each side of a change in the evidence.
const EXCERPT_CHARS: usize = 120;

/// The baselines of every page checked since the start, by URL and ignore
/// patterns (the durable memory keeps them across restarts): the page
/// kind's state in the [`ProbeContext`].
#[derive(Default)]
struct Baselines(std::sync::Mutex<std::collections::HashMap<String, Baseline>>);

impl Baselines {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Baseline>> {
        // Entries are replaced whole, so a poisoned lock is usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What change detection remembers about one page.
#[derive(Debug, Clone)]
struct Baseline {
    hash: String,
    /// The noise-free text the hash was taken of (for the change excerpt).
    text: String,
    /// When this baseline was first seen.
    since: SystemTime,
    /// The last change seen, and what changed.
    change: Option<(SystemTime, serde_json::Value)>,
}

/// Runs one page check.
pub async fn probe(spec: &PageSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let (mut outcome, page) = http::fetch(&spec.http, &ctx).await;
    outcome.message.clear();
    let page = match page {
        Some(page) if outcome.status < Status::Down => page,
        _ => return finish(outcome, String::new(), started),
    };
    let url = display_url(&spec.http.url);
    // Parsing, matching and cleaning the page: CPU work, on a worker
    // (released before the soft-404 fetch waits on the network).
    let cpu = ctx.cpu_permit().await;
    let text = visible_text(&page.body, content_type(&page));
    outcome.evidence.insert("text_chars", text.chars().count());
    if text.is_empty() {
        outcome.push(Finding::new(
            codes::PAGE_EMPTY,
            Severity::Critical,
            format!("{url} has no visible text"),
        ));
        return finish(outcome, String::new(), started);
    }

    let lower = text.to_lowercase();
    let missing: Vec<&String> = spec
        .phrases
        .iter()
        .filter(|p| !lower.contains(&p.to_lowercase()))
        .collect();
    for phrase in &missing {
        outcome.push(Finding::new(
            codes::PAGE_PHRASE_MISSING,
            Severity::Critical,
            format!("{url} does not contain {phrase:?}"),
        ));
    }

    let clean = without_noise(&text, &spec.ignore);
    drop(cpu);
    let mut soft_404 = false;
    if spec.soft_404 {
        soft_404 = check_soft_404(spec, &ctx, &clean, &url, &mut outcome).await;
    }
    if spec.detect_changes && !soft_404 {
        detect_change(spec, &ctx, clean, &url, &mut outcome).await;
    }
    let ok_message = if spec.phrases.is_empty() {
        format!("{url} is available")
    } else {
        format!("{url} is available with its {} phrases", spec.phrases.len())
    };
    finish(outcome, ok_message, started)
}

fn content_type(page: &Page) -> Option<&str> {
    page.headers
        .get(::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Fetches a random sibling path and compares; true when the page is a
/// soft 404.
async fn check_soft_404(
    spec: &PageSpec,
    ctx: &ProbeContext,
    clean: &str,
    url: &str,
    outcome: &mut Outcome,
) -> bool {
    let mut random = [0u8; 8];
    if ctx.provider().secure_random.fill(&mut random).is_err() {
        random = std::process::id()
            .to_be_bytes()
            .repeat(2)
            .try_into()
            .unwrap_or([7; 8]);
    }
    let name = hex(&random);
    let name = format!("keepup-404-{name}");
    let Some(sibling_url) = sibling(&spec.http.url, &name) else {
        return false;
    };
    let sibling_spec = HttpSpec {
        url: sibling_url,
        expect_status: vec![StatusRange {
            low: 100,
            high: 599,
        }],
        assertions: Vec::new(),
        degraded_latency: None,
        down_latency: None,
        ..spec.http.clone()
    };
    let (sibling_outcome, sibling_page) = http::fetch(&sibling_spec, ctx).await;
    let shown = display_url(&sibling_spec.url);
    let Some(sibling_page) = sibling_page else {
        // The comparison is not possible; the page itself was fine.
        outcome.evidence.insert(
            "soft_404_probe",
            json!({ "url": shown, "error": sibling_outcome.message }),
        );
        return false;
    };
    let status = sibling_page.status.as_u16();
    if !sibling_page.status.is_success() {
        outcome
            .evidence
            .insert("soft_404_probe", json!({ "url": shown, "status": status }));
        return false;
    }
    let _cpu = ctx.cpu_permit().await;
    let sibling_text = visible_text(&sibling_page.body, content_type(&sibling_page));
    // A "not found" page often repeats the path it was asked for: both
    // paths are removed before comparing.
    let sibling_clean = without_noise(
        &sibling_text
            .replace(sibling_spec.url.path(), " ")
            .replace(&name, " "),
        &spec.ignore,
    );
    let page_path = spec.http.url.path();
    let page_clean = if page_path.len() > 1 {
        without_noise(&clean.replace(page_path, " "), &[])
    } else {
        clean.to_owned()
    };
    let score = similarity(&page_clean, &sibling_clean);
    outcome.evidence.insert(
        "soft_404_probe",
        json!({ "url": shown, "status": status, "similarity": (score * 1000.0).round() / 1000.0 }),
    );
    if score >= SOFT_404_SIMILARITY {
        outcome.push(Finding::new(
            codes::PAGE_SOFT_404,
            Severity::Critical,
            format!(
                "{url} is a soft 404: a non-existent page of the same site answers with the same text"
            ),
        ));
        true
    } else {
        outcome.push(Finding::new(
            codes::PAGE_NO_404,
            Severity::Info,
            format!("the site answers HTTP {status} for non-existent pages (with other text)"),
        ));
        false
    }
}

/// The memory kind of page baselines (by URL and ignore patterns).
const BASELINE: &str = "page_baseline";

impl Baseline {
    fn to_json(&self) -> String {
        json!({
            "hash": self.hash,
            "text": self.text,
            "since_ms": unix_ms(self.since),
            "change": self.change.as_ref().map(|(at, excerpt)| json!({"at_ms": unix_ms(*at), "excerpt": excerpt})),
        })
        .to_string()
    }

    /// A remembered baseline; `None` (a new baseline is set) when the text
    /// is not one.
    fn from_json(text: &str) -> Option<Baseline> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let time = |ms: &serde_json::Value| {
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms.as_u64()?))
        };
        let change = match &v["change"] {
            serde_json::Value::Null => None,
            c => Some((time(&c["at_ms"])?, c["excerpt"].clone())),
        };
        Some(Baseline {
            hash: v["hash"].as_str()?.to_owned(),
            text: v["text"].as_str()?.to_owned(),
            since: time(&v["since_ms"])?,
            change,
        })
    }
}

async fn detect_change(
    spec: &PageSpec,
    ctx: &ProbeContext,
    clean: String,
    url: &str,
    outcome: &mut Outcome,
) {
    let hash = {
        let _cpu = ctx.cpu_permit().await;
        sha256_hex(clean.as_bytes())
    };
    let mut key = spec.http.url.to_string();
    for re in &spec.ignore {
        key.push('\n');
        key.push_str(re.as_str());
    }
    let now = SystemTime::now();
    let evidence = &mut outcome.evidence;
    evidence.insert("content_sha256", hash.clone());
    let known = ctx.kind_state::<Baselines>().lock().get(&key).cloned();
    let known = match known {
        Some(b) => Some(b),
        // Not seen since the start: the baseline from before, if any.
        None => ctx
            .recall(BASELINE, &key)
            .await
            .and_then(|text| Baseline::from_json(&text)),
    };
    let Some(mut baseline) = known else {
        evidence.insert("baseline", "established");
        let baseline = Baseline {
            hash,
            text: clean,
            since: now,
            change: None,
        };
        ctx.remember(BASELINE, &key, baseline.to_json()).await;
        ctx.kind_state::<Baselines>().lock().insert(key, baseline);
        return;
    };
    if baseline.hash == hash {
        evidence.insert("baseline", "unchanged");
        ctx.kind_state::<Baselines>()
            .lock()
            .entry(key)
            .or_insert_with(|| baseline.clone());
    } else {
        evidence.insert("baseline", "changed");
        let excerpt = {
            let _cpu = ctx.cpu_permit().await;
            change_excerpt(&baseline.text, &clean)
        };
        baseline = Baseline {
            hash,
            text: clean,
            since: now,
            change: Some((now, excerpt)),
        };
        ctx.remember(BASELINE, &key, baseline.to_json()).await;
        ctx.kind_state::<Baselines>()
            .lock()
            .insert(key, baseline.clone());
    }
    evidence.insert("baseline_since", format_rfc3339(unix_ms(baseline.since)));
    if let Some((at, excerpt)) = &baseline.change {
        let age = now.duration_since(*at).unwrap_or(Duration::ZERO);
        // The run that sees the change reports it even with a zero hold.
        if age < spec.change_hold || *at == now {
            evidence.insert("change", excerpt.clone());
            outcome.push(Finding::new(
                codes::PAGE_CHANGED,
                Severity::Warning,
                format!(
                    "the text of {url} changed (noticed at {})",
                    format_rfc3339(unix_ms(*at))
                ),
            ));
        }
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 as lowercase hex, from the aws-lc-rs provider (the one crypto
/// library in use).
fn sha256_hex(bytes: &[u8]) -> String {
    let Some(suite) = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()
    else {
        return String::new();
    };
    hex(suite.common.hash_provider.hash(bytes).as_ref())
}

/// The text around the first difference between `before` and `after`.
fn change_excerpt(before: &str, after: &str) -> serde_json::Value {
    let b: Vec<char> = before.chars().collect();
    let a: Vec<char> = after.chars().collect();
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let cut = |chars: &[char]| -> String {
        let start = prefix.saturating_sub(EXCERPT_CHARS);
        let end = (chars.len() - suffix + EXCERPT_CHARS).min(chars.len());
        let end = end.min(start + 4 * EXCERPT_CHARS).max(start);
        chars[start..end].iter().collect()
    };
    json!({ "before": cut(&b), "after": cut(&a) })
}

/// `url` with its last path segment replaced by `name` and no query.
fn sibling(url: &::http::Uri, name: &str) -> Option<::http::Uri> {
    let path = url.path();
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    let mut parts = url.clone().into_parts();
    parts.path_and_query = format!("{dir}{name}").parse().ok();
    ::http::Uri::from_parts(parts).ok()
}

/// Tags whose content is not visible text.
const HIDDEN: &[&str] = &[
    "script", "style", "template", "noscript", "svg", "math", "iframe", "object",
];
/// Tags that do not separate words.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr",
];

/// The visible text of a response body: for HTML (by Content-Type or by
/// its first bytes) tags, comments, scripts and styles are removed and
/// character references decoded; whitespace is collapsed in every case.
/// Linear in the input, whatever it holds.
pub fn visible_text(body: &[u8], content_type: Option<&str>) -> String {
    let lower_type = content_type.map(str::to_ascii_lowercase);
    let decoded = decode(body, lower_type.as_deref());
    let is_html = match lower_type.as_deref() {
        Some(t) if t.contains("html") || t.contains("xml") => true,
        Some(t) if t.starts_with("text/") => false,
        Some(_) => {
            // A PDF or an image has no text we can read.
            if !looks_like_html(&decoded) {
                return String::new();
            }
            true
        }
        None => looks_like_html(&decoded),
    };
    let text = if is_html {
        strip_html(&decoded)
    } else {
        decoded
    };
    collapse_whitespace(&text)
}

fn looks_like_html(text: &str) -> bool {
    let start: String = text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(64)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with('<')
}

/// Bytes to text: Latin-1 family when the Content-Type or a `<meta>`
/// near the start says so, UTF-8 (lossy) otherwise.
fn decode(body: &[u8], content_type: Option<&str>) -> String {
    let head = String::from_utf8_lossy(&body[..body.len().min(1024)]).to_ascii_lowercase();
    let declared = content_type
        .and_then(|t| t.split("charset=").nth(1))
        .map(|c| c.trim_matches(|ch: char| ch == '"' || ch == '\'' || ch.is_whitespace()))
        .map(str::to_owned)
        .or_else(|| {
            let i = head.find("charset=")?;
            let rest = head[i + 8..].trim_start_matches(['"', '\'']);
            Some(
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect(),
            )
        });
    match declared.as_deref() {
        Some("iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" | "windows-1252" | "cp1252") => {
            body.iter().map(|&b| char::from(b)).collect()
        }
        _ => String::from_utf8_lossy(body).into_owned(),
    }
}

/// Whitespace runs become one space; invisible characters (soft hyphens,
/// zero-width joiners, byte order marks) go.
fn collapse_whitespace(text: &str) -> String {
    let visible: String = text
        .chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{ad}' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}'
            )
        })
        .collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Removes markup; see [`visible_text`].
fn strip_html(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => {
                let rest = &bytes[i..];
                if rest.starts_with(b"<!--") {
                    i = find(bytes, i + 4, b"-->").map_or(bytes.len(), |e| e + 3);
                    out.push(' ');
                    continue;
                }
                if rest.starts_with(b"<!") || rest.starts_with(b"<?") {
                    i = find(bytes, i + 2, b">").map_or(bytes.len(), |e| e + 1);
                    out.push(' ');
                    continue;
                }
                let closing = rest.get(1) == Some(&b'/');
                let name_start = i + 1 + usize::from(closing);
                let name_len = bytes[name_start..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
                    .count();
                if name_len == 0 || !bytes[name_start].is_ascii_alphabetic() {
                    // A lone '<' in text.
                    out.push('<');
                    i += 1;
                    continue;
                }
                let name = html[name_start..name_start + name_len].to_ascii_lowercase();
                let end = tag_end(bytes, name_start + name_len);
                i = end;
                if !closing && HIDDEN.contains(&name.as_str()) {
                    let close = format!("</{name}");
                    i = find_ci(bytes, i, close.as_bytes())
                        .map_or(bytes.len(), |at| tag_end(bytes, at + close.len()));
                    out.push(' ');
                } else if !INLINE.contains(&name.as_str()) {
                    out.push(' ');
                }
            }
            b'&' => {
                let (decoded, used) = entity(&html[i..]);
                match decoded {
                    Some(c) => out.push(c),
                    None => out.push('&'),
                }
                i += used;
            }
            _ => {
                // Copy the run of plain text up to the next markup byte.
                let run = bytes[i..]
                    .iter()
                    .position(|b| *b == b'<' || *b == b'&')
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&html[i..run]);
                i = run;
            }
        }
    }
    out
}

/// The index just after the `>` closing a tag whose attributes start at
/// `from`, honouring quoted attribute values; the end of input if none.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return i + 1,
            None => {}
        }
        i += 1;
    }
    bytes.len()
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn find_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

/// Latin-1 entity names, in code point order from U+00A0.
const LATIN1_ENTITIES: [&str; 96] = [
    "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
    "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
    "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
    "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute",
    "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute",
    "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute",
    "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil",
    "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde",
    "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc",
    "uuml", "yacute", "thorn", "yuml",
];

/// Other named references common in shop texts.
const OTHER_ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("euro", '€'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("hellip", '…'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("trade", '™'),
    ("bull", '•'),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("Scaron", 'Š'),
    ("scaron", 'š'),
    ("thinsp", '\u{2009}'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("zwnj", '\u{200c}'),
    ("zwj", '\u{200d}'),
];

/// Decodes the character reference at the start of `s` (which starts with
/// `&`): the character, if it is one, and the bytes consumed.
fn entity(s: &str) -> (Option<char>, usize) {
    let body: String = s[1..]
        .chars()
        .take(33)
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .collect();
    let terminated = s[1 + body.len()..].starts_with(';');
    let used = 1 + body.len() + usize::from(terminated);
    let decoded = if let Some(num) = body.strip_prefix('#') {
        let value = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => num.parse::<u32>().ok(),
        };
        value.and_then(char::from_u32)
    } else if let Some(i) = LATIN1_ENTITIES.iter().position(|n| *n == body) {
        char::from_u32(0xa0 + i as u32)
    } else {
        OTHER_ENTITIES
            .iter()
            .find(|(n, _)| *n == body)
            .map(|(_, c)| *c)
    };
    match decoded {
        Some(c) => (Some(c), used),
        None => (None, 1),
    }
}

const MONTHS: &str = "january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec|januar|jänner|februar|märz|maerz|mai|juni|juli|oktober|dezember|okt|dez|janvier|février|fevrier|mars|avril|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre";
const WEEKDAYS: &str = "monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|mo|di|mi|do|fr|sa|so|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche";

/// The noise patterns as one regex (one pass over the text). Word
/// boundaries are ASCII ones (`B`): a Unicode `\b` would make the regex
/// engine fall back to a slow path on every page with an umlaut.
static NOISE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let weekday = format!(r"(?:B(?:{WEEKDAYS})\.?,?\s+)?");
    let patterns = [
        // ISO 8601 / RFC 3339 dates with optional time and offset.
        r"B[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?)?B"
            .to_owned(),
        // 01.05.2024, 1/5/24, 2024/05/01
        format!(r"{weekday}B[0-9]{{1,2}}[./-][0-9]{{1,2}}[./-][0-9]{{2,4}}B"),
        r"B[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}B".to_owned(),
        // 1 May 2024, 1. Mai 2024, May 1st, 2024, Mai 2024
        format!(r"{weekday}B[0-9]{{1,2}}(?:\.|st|nd|rd|th)?\s+(?:{MONTHS})\.?,?\s+[0-9]{{2,4}}B"),
        format!(r"{weekday}B(?:{MONTHS})\.?\s+[0-9]{{1,2}}(?:st|nd|rd|th)?,?\s+[0-9]{{2,4}}B"),
        format!(r"B(?:{MONTHS})\.?\s+[0-9]{{4}}B"),
        // 14:05, 14:05:59.123, 2:05 pm
        r"B[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:\s*[ap]\.?m\.?)?".to_owned(),
        // Long hex (hashes, ids).
        r"B[0-9a-f]{16,}B".to_owned(),
        // Long digit runs: nonces, timestamps, cache busters.
        r"B[0-9]{6,}B".to_owned(),
    ];
    let combined = patterns
        .iter()
        .map(|p| format!("(?:{})", p.replace('B', r"(?-u:\b)")))
        .collect::<Vec<_>>()
        .join("|");
    regex::RegexBuilder::new(&combined)
        .case_insensitive(true)
        .size_limit(1 << 24)
        .build()
        .ok()
});

/// Base64/URL-safe-looking tokens; removed only when they mix letters and
/// digits, so long words (German has many) stay.
static TOKEN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/_=-]{16,}").ok());

/// `text` without what changes from load to load although the page does
/// not: dates, times, tokens, long numbers, and whatever `extra` matches.
/// Whitespace is collapsed again afterwards.
pub fn without_noise(text: &str, extra: &[Regex]) -> String {
    let mut out = text.to_owned();
    for re in extra.iter().chain(NOISE.as_ref()) {
        if let std::borrow::Cow::Owned(replaced) = re.replace_all(&out, " ") {
            out = replaced;
        }
    }
    if let Some(token) = TOKEN.as_ref() {
        out = token
            .replace_all(&out, |c: &regex::Captures<'_>| {
                let t = &c[0];
                let digits = t.bytes().any(|b| b.is_ascii_digit());
                let letters = t.bytes().any(|b| b.is_ascii_alphabetic());
                if digits && letters {
                    " ".to_owned()
                } else {
                    t.to_owned()
                }
            })
            .into_owned();
    }
    collapse_whitespace(&out)
}

/// How alike two texts are, from 0 (nothing in common) to 1 (the same):
/// the Jaccard index of their sets of three-word shingles (single words
/// for texts shorter than three words).
pub fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    // Shingles are kept as 64-bit hashes: no string per shingle.
    let shingles = |t: &str| -> HashSet<u64> {
        let words: Vec<String> = t.split_whitespace().map(str::to_lowercase).collect();
        let width = words.len().clamp(1, 3);
        words
            .windows(width)
            .map(|w| {
                let mut h = std::hash::DefaultHasher::new();
                w.hash(&mut h);
                h.finish()
            })
            .collect()
    };
    let (sa, sb) = (shingles(a), shingles(b));
    let union = sa.union(&sb).count();
    if union == 0 {
        return 1.0;
    }
    sa.intersection(&sb).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_its_visible_text() {
        let html = r#"<!DOCTYPE html><html><head><title>Datenschutz</title>
            <style>body { color: red }</style>
            <script>var x = "<p>not text</p>";</script></head>
            <body><!-- hidden --><h1>Datenschutz&shy;erkl&auml;rung</h1>
            <p class="a>b">Verantwortlich: Shop&nbsp;GmbH &amp; Co. KG, &#8364;5 &#x2013; <b>fett</b>er</p>
            <SCRIPT type="x">alert(1)</SCRIPT >a &lt; b &unknown; 3 < 4
            <noscript>enable JS</noscript><template><p>tmpl</p></template></body></html>"#;
        let text = visible_text(html.as_bytes(), Some("text/html; charset=utf-8"));
        assert_eq!(
            text,
            "Datenschutz Datenschutzerklärung Verantwortlich: Shop GmbH & Co. KG, €5 – fetter a < b &unknown; 3 < 4"
        );
    }

    #[test]
    fn plain_text_latin1_and_binary() {
        assert_eq!(
            visible_text(b"  line one\r\n\tline   two ", Some("text/plain")),
            "line one line two"
        );
        assert_eq!(
            visible_text(b"<p>Gr\xfc\xdfe</p>", Some("text/html; charset=ISO-8859-1")),
            "Grüße"
        );
        assert_eq!(
            visible_text(
                b"<meta charset=\"windows-1252\"><p>\xc4rger</p>",
                Some("text/html")
            ),
            "Ärger"
        );
        assert_eq!(
            visible_text(b"%PDF-1.7 \x00\x01", Some("application/pdf")),
            ""
        );
        assert_eq!(visible_text(b"<p>sniffed</p>", None), "sniffed");
    }

    #[test]
    fn hostile_markup_ends_and_stays_linear() {
        for input in [
            "<!-- never closed",
            "<script>never closed",
            "<p attr=\"never closed>",
            "<",
            "&",
            "&#99999999999;",
            "&#xD800;",
            "<//><<>>",
        ] {
            let _ = visible_text(input.as_bytes(), Some("text/html"));
        }
        let big = "<div>".repeat(200_000);
        assert_eq!(visible_text(big.as_bytes(), Some("text/html")), "");
    }

    #[test]
    fn noise_is_removed_but_content_stays() {
        let a = "Stand: 1. Mai 2024, 14:05 Uhr. Token a8f5f167f44f4964e6c998dee827110c \
                 csrf=Zm9vYmFyMTIzNDU2Nzg5MA== nonce 1718038123 updated 2024-05-01T12:00:00Z \
                 Monday, May 6th, 2024 06/05/2024. Wir speichern Daten 30 Tage. \
                 Datenschutzgrundverordnungskonform";
        let b = "Stand: 3. Juni 2025, 09:41 Uhr. Token 0123456789abcdef0123456789abcdef \
                 csrf=UXdlcnR5MTIzNDU2Nzg5MA== nonce 1718999999 updated 2025-06-03T08:00:00+02:00 \
                 Tuesday, June 3rd, 2025 03/06/2025. Wir speichern Daten 30 Tage. \
                 Datenschutzgrundverordnungskonform";
        assert_eq!(without_noise(a, &[]), without_noise(b, &[]));
        let clean = without_noise(a, &[]);
        assert!(clean.contains("Wir speichern Daten 30 Tage."), "{clean}");
        assert!(
            clean.contains("Datenschutzgrundverordnungskonform"),
            "{clean}"
        );
        let c = b.replace("30 Tage", "90 Tage");
        assert_ne!(without_noise(a, &[]), without_noise(&c, &[]));
        let extra = [Regex::new(r"Besucher: \d+").unwrap()];
        assert_eq!(
            without_noise("x Besucher: 12 y", &extra),
            without_noise("x Besucher: 13 y", &extra)
        );
    }

    #[test]
    fn similarity_tells_error_pages_from_content() {
        let not_found =
            "Shop Home Cart Sorry, this page does not exist. Back to the shop. Imprint Privacy";
        assert_eq!(similarity(not_found, not_found), 1.0);
        let privacy = "Shop Home Cart Privacy policy: we process your data to ship orders and keep invoices for ten years. Imprint Privacy";
        assert!(similarity(not_found, privacy) < 0.5);
        // A short legal page in a large site template is still told apart
        // from the error page in the same template.
        let template: String = (0..150).map(|i| format!("menu{i} ")).collect();
        let imprint = format!(
            "{template} Impressum Beispiel GmbH Musterstraße 1 12345 Berlin Geschäftsführer Max Muster              Registergericht Amtsgericht Berlin HRB 12345 USt-IdNr DE123456789 {template}"
        );
        let error = format!("{template} Diese Seite gibt es nicht {template}");
        let score = similarity(&imprint, &error);
        assert!(score < SOFT_404_SIMILARITY, "{score}");
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("a b", "c d"), 0.0);
    }

    #[test]
    fn siblings_and_excerpts() {
        let u: ::http::Uri = "https://shop.test:8443/legal/privacy?x=1".parse().unwrap();
        assert_eq!(
            sibling(&u, "k").unwrap().to_string(),
            "https://shop.test:8443/legal/k"
        );
        let u: ::http::Uri = "http://shop.test/".parse().unwrap();
        assert_eq!(sibling(&u, "k").unwrap().to_string(), "http://shop.test/k");
        let e = change_excerpt("keep 30 days here", "keep 90 days here");
        assert_eq!(e["before"], "keep 30 days here");
        assert_eq!(e["after"], "keep 90 days here");
        let long_before = format!("{} old {}", "a".repeat(1000), "z".repeat(1000));
        let long_after = format!("{} new {}", "a".repeat(1000), "z".repeat(1000));
        let e = change_excerpt(&long_before, &long_after);
        let after = e["after"].as_str().unwrap();
        assert!(after.contains("new") && after.len() < 400, "{after}");
    }

    #[test]
    fn sha256_is_the_real_one() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
