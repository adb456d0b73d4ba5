//! `security.txt` checks (RFC 9116).
//!
//! The file is fetched with the HTTP probe (at most
//! [`keepup_config::pages::SECURITY_TXT_MAX_BYTES`], every status accepted
//! so that this module judges it) from `/.well-known/security.txt`, or from
//! the legacy `/security.txt` when only that exists. Then:
//!
//! - it must be served over HTTPS, as `text/plain` (with `charset=utf-8`),
//!   and be text, not the shop's HTML "not found" page;
//! - it is parsed ([`parse`]): `Field: value` lines, `#` comments, blank
//!   lines; a PGP cleartext-signed file is unwrapped (the signature is
//!   not verified; the evidence says so);
//! - `Contact` must be present (each a URI, web URIs https), `Expires`
//!   present once, an RFC 3339 date-time, in the future, not within
//!   `warn_days`, and not more than a year ahead (the RFC recommends less);
//!   `Canonical`, when present, should name the URL the file came from.

use keepup_config::SecurityTxtSpec;
use keepup_model::{Finding, Outcome, Severity, Status, format_rfc3339};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http::{self, Page};
use crate::util::{display_url, finish};

/// Fields RFC 9116 allows only once.
const ONCE: &[&str] = &["expires", "preferred-languages"];

/// Fields RFC 9116 defines (others are ignored, as it requires).
const KNOWN: &[&str] = &[
    "acknowledgments",
    "canonical",
    "contact",
    "encryption",
    "expires",
    "hiring",
    "policy",
    "preferred-languages",
    "csaf",
];

/// One `Name: value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name, lowercased (names are case-insensitive).
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// 1-based line in the file.
    pub line: usize,
}

/// A parsed security.txt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityTxt {
    /// Fields in file order.
    pub fields: Vec<Field>,
    /// Whether it was a PGP cleartext-signed message.
    pub signed: bool,
    /// Lines that are neither fields, comments nor blank (1-based).
    pub invalid_lines: Vec<usize>,
    /// What is wrong with the PGP armour, if anything.
    pub signature_problem: Option<String>,
}

impl SecurityTxt {
    /// The values of field `name` (lowercase).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.value.as_str())
            .collect()
    }
}

const BEGIN_SIGNED: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const BEGIN_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";
const END_SIGNATURE: &str = "-----END PGP SIGNATURE-----";

/// Parses security.txt text. Never fails: what cannot be understood is
/// listed in `invalid_lines` or `signature_problem`.
pub fn parse(text: &str) -> SecurityTxt {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut out = SecurityTxt::default();
    let first = lines.iter().position(|l| !l.trim().is_empty());
    let mut i = first.unwrap_or(lines.len());
    let mut in_signed = false;
    if first.is_some_and(|f| lines[f].trim() == BEGIN_SIGNED) {
        out.signed = true;
        in_signed = true;
        i += 1;
        // Armour headers ("Hash: SHA512") up to the first blank line.
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
    }
    let mut signature_seen = false;
    while i < lines.len() {
        let raw = lines[i];
        let number = i + 1;
        i += 1;
        let line = raw.trim();
        if in_signed {
            if line == BEGIN_SIGNATURE {
                signature_seen = true;
                match lines[i..].iter().position(|l| l.trim() == END_SIGNATURE) {
                    Some(end) => {
                        i += end + 1;
                        if lines[i..].iter().any(|l| !l.trim().is_empty()) {
                            out.signature_problem =
                                Some("there is text after the PGP signature".into());
                        }
                    }
                    None => {
                        out.signature_problem = Some("the PGP signature is not terminated".into())
                    }
                }
                break;
            }
        } else if line == BEGIN_SIGNED {
            out.signature_problem = Some("a PGP signed message starts in the middle".into());
            continue;
        }
        // Dash-escaped lines of a signed message (RFC 4880 §7.1).
        let line = if in_signed {
            line.strip_prefix("- ").unwrap_or(line)
        } else {
            line
        };
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((name, value))
                if !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                out.fields.push(Field {
                    name: name.to_ascii_lowercase(),
                    value: value.trim().to_owned(),
                    line: number,
                });
            }
            _ => out.invalid_lines.push(number),
        }
    }
    if in_signed && !signature_seen && out.signature_problem.is_none() {
        out.signature_problem = Some("the PGP signed message has no signature".into());
    }
    out
}

/// What [`evaluate`] needs besides the parsed file.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Now.
    pub now: OffsetDateTime,
    /// Warn when fewer days than this remain.
    pub warn_days: u32,
    /// The URL the file was fetched from, for `Canonical`.
    pub url: &'a str,
}

/// Judges a parsed file: the findings and the evidence (fields, expiry).
pub fn evaluate(txt: &SecurityTxt, cx: &Context<'_>) -> (Vec<Finding>, Map<String, Value>) {
    let mut findings = Vec::new();
    let mut evidence = Map::new();
    let mut fields = Map::new();
    let mut unknown = Vec::new();
    for f in &txt.fields {
        if !KNOWN.contains(&f.name.as_str()) {
            unknown.push(Value::String(f.name.clone()));
        }
        let entry = fields
            .entry(f.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(values) = entry
            && values.len() < 20
        {
            values.push(Value::String(f.value.chars().take(300).collect()));
        }
    }
    evidence.insert("fields".into(), Value::Object(fields));
    if !unknown.is_empty() {
        evidence.insert("unknown_fields".into(), Value::Array(unknown));
    }
    evidence.insert(
        "signed".into(),
        if txt.signed {
            json!("PGP cleartext signature present, not verified")
        } else {
            json!(false)
        },
    );

    let contacts = txt.values("contact");
    if contacts.is_empty() {
        findings.push(Finding::new(
            codes::SECURITY_TXT_NO_CONTACT,
            Severity::Critical,
            "security.txt has no Contact field, which RFC 9116 requires",
        ));
    }
    for contact in &contacts {
        if let Some(why) = contact_problem(contact) {
            findings.push(Finding::new(
                codes::SECURITY_TXT_CONTACT_INVALID,
                Severity::Warning,
                format!("the Contact {contact:?} {why}"),
            ));
        }
    }

    for name in ONCE {
        let n = txt.values(name).len();
        if n > 1 {
            findings.push(Finding::new(
                codes::SECURITY_TXT_FIELD_REPEATED,
                Severity::Warning,
                format!("security.txt has {n} {name} fields; RFC 9116 allows one"),
            ));
        }
    }

    match txt.values("expires").first() {
        None => findings.push(Finding::new(
            codes::SECURITY_TXT_NO_EXPIRES,
            Severity::Critical,
            "security.txt has no Expires field, which RFC 9116 requires",
        )),
        Some(value) => match OffsetDateTime::parse(value, &Rfc3339) {
            Err(_) => findings.push(Finding::new(
                codes::SECURITY_TXT_EXPIRES_INVALID,
                Severity::Critical,
                format!(
                    "Expires {:?} is not an RFC 3339 date-time such as 2026-12-31T23:59:59Z",
                    value.chars().take(60).collect::<String>()
                ),
            )),
            Ok(expires) => {
                let shown = format_rfc3339(
                    i64::try_from(expires.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX),
                );
                let left = expires - cx.now;
                let days_left = left.whole_seconds() as f64 / 86_400.0;
                evidence.insert("expires".into(), json!(shown));
                evidence.insert(
                    "expires_days_left".into(),
                    json!((days_left * 10.0).round() / 10.0),
                );
                let a_year_ahead = cx
                    .now
                    .replace_year(cx.now.year() + 1)
                    .unwrap_or(cx.now + time::Duration::days(365));
                if expires <= cx.now {
                    findings.push(Finding::new(
                        codes::SECURITY_TXT_EXPIRED,
                        Severity::Critical,
                        format!("security.txt expired on {shown}"),
                    ));
                } else if left < time::Duration::days(i64::from(cx.warn_days)) {
                    findings.push(Finding::new(
                        codes::SECURITY_TXT_EXPIRING,
                        Severity::Warning,
                        format!(
                            "security.txt expires on {shown}, within {} days",
                            cx.warn_days
                        ),
                    ));
                } else if expires > a_year_ahead {
                    findings.push(Finding::new(
                        codes::SECURITY_TXT_EXPIRES_TOO_FAR,
                        Severity::Warning,
                        format!(
                            "security.txt expires on {shown}, more than a year ahead; RFC 9116 recommends less than a year so that stale files expire"
                        ),
                    ));
                }
            }
        },
    }

    let canonical = txt.values("canonical");
    if !canonical.is_empty() && !canonical.iter().any(|c| same_url(c, cx.url)) {
        findings.push(Finding::new(
            codes::SECURITY_TXT_CANONICAL_MISMATCH,
            Severity::Warning,
            format!(
                "no Canonical field names {}, where the file was found",
                cx.url
            ),
        ));
    }

    if !txt.invalid_lines.is_empty() {
        let shown: Vec<String> = txt
            .invalid_lines
            .iter()
            .take(5)
            .map(ToString::to_string)
            .collect();
        let more = if txt.invalid_lines.len() > 5 {
            ", …"
        } else {
            ""
        };
        findings.push(Finding::new(
            codes::SECURITY_TXT_SYNTAX,
            Severity::Warning,
            format!(
                "{} line(s) of security.txt are neither fields nor comments (line {}{more})",
                txt.invalid_lines.len(),
                shown.join(", ")
            ),
        ));
    }
    if let Some(problem) = &txt.signature_problem {
        findings.push(Finding::new(
            codes::SECURITY_TXT_SYNTAX,
            Severity::Warning,
            format!("security.txt: {problem}"),
        ));
    }
    (findings, evidence)
}

/// Why a Contact value is unusable, if it is.
fn contact_problem(value: &str) -> Option<&'static str> {
    const NOT_A_URI: &str = "is not a URI (write e.g. mailto:security@shop.example)";
    let Some((scheme, rest)) = value.split_once(':') else {
        return Some(NOT_A_URI);
    };
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme || rest.is_empty() {
        return Some(NOT_A_URI);
    }
    if scheme.eq_ignore_ascii_case("http") {
        return Some("is a web URI without https");
    }
    None
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Runs one security.txt check.
pub async fn probe(spec: &SecurityTxtSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let (mut outcome, page) = http::fetch(&spec.http, &ctx).await;
    outcome.message.clear();
    let Some(mut page) = page else {
        return finish(outcome, String::new(), started);
    };
    let mut url = display_url(&page.url);
    if !page.status.is_success() && spec.derived {
        // RFC 9116 §3: the legacy location, for files that predate it.
        if let Some(legacy) = legacy_url(&spec.http.url) {
            let legacy_spec = keepup_config::HttpSpec {
                url: legacy,
                ..spec.http.clone()
            };
            let (legacy_outcome, legacy_page) = http::fetch(&legacy_spec, &ctx).await;
            if let Some(p) = legacy_page.filter(|p| p.status.is_success() && !looks_like_html(p)) {
                outcome = legacy_outcome;
                outcome.message.clear();
                outcome.push(Finding::new(
                    codes::SECURITY_TXT_LEGACY_LOCATION,
                    Severity::Warning,
                    format!(
                        "security.txt is only at {}; RFC 9116 puts it at /.well-known/security.txt",
                        display_url(&p.url)
                    ),
                ));
                page = p;
                url = display_url(&page.url);
            }
        }
    }
    outcome.evidence.insert("url", url.clone());
    if !page.status.is_success() {
        outcome.push(Finding::new(
            codes::SECURITY_TXT_MISSING,
            Severity::Critical,
            format!(
                "no security.txt at {} (HTTP {})",
                display_url(&spec.http.url),
                page.status.as_u16()
            ),
        ));
        return finish(outcome, String::new(), started);
    }
    if page.url.scheme_str() != Some("https") {
        outcome.push(Finding::new(
            codes::SECURITY_TXT_NOT_HTTPS,
            Severity::Critical,
            format!("security.txt is served over plain HTTP ({url}); RFC 9116 requires HTTPS"),
        ));
    }
    let content_type = page
        .headers
        .get(::http::header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    if looks_like_html(&page) || page.body.contains(&0) {
        outcome.push(Finding::new(
            codes::SECURITY_TXT_NOT_TEXT,
            Severity::Critical,
            format!(
                "{url} answers with {}, not a security.txt",
                if page.body.contains(&0) {
                    "binary data"
                } else {
                    "an HTML page"
                }
            ),
        ));
        return finish(outcome, String::new(), started);
    }
    if let Some(finding) = content_type_finding(content_type.as_deref()) {
        outcome.push(finding);
    }
    let text = match std::str::from_utf8(&page.body) {
        Ok(t) => t.to_owned(),
        Err(_) => {
            outcome.push(Finding::new(
                codes::SECURITY_TXT_SYNTAX,
                Severity::Warning,
                "security.txt is not valid UTF-8",
            ));
            String::from_utf8_lossy(&page.body).into_owned()
        }
    };
    let parsed = parse(&text);
    let cx = Context {
        now: OffsetDateTime::now_utc(),
        warn_days: spec.warn_days,
        url: &url,
    };
    let (findings, evidence) = evaluate(&parsed, &cx);
    for finding in findings {
        outcome.push(finding);
    }
    outcome.evidence.details.extend(evidence);
    let ok_message = match outcome.evidence.details.get("expires") {
        Some(Value::String(e)) => format!("security.txt is valid until {e}"),
        _ => "security.txt is valid".to_owned(),
    };
    if outcome.status == Status::Up {
        outcome.message = ok_message.clone();
    }
    finish(outcome, ok_message, started)
}

/// `https://host/.well-known/security.txt` → `https://host/security.txt`.
fn legacy_url(url: &::http::Uri) -> Option<::http::Uri> {
    let base = url
        .path()
        .strip_suffix(keepup_config::pages::SECURITY_TXT_PATH)?;
    let mut parts = url.clone().into_parts();
    parts.path_and_query = format!("{base}/security.txt").parse().ok();
    ::http::Uri::from_parts(parts).ok()
}

fn looks_like_html(page: &Page) -> bool {
    let declared = page
        .headers
        .get(::http::header::CONTENT_TYPE)
        .is_some_and(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .to_ascii_lowercase()
                .contains("html")
        });
    let start: String = String::from_utf8_lossy(&page.body[..page.body.len().min(256)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .take(15)
        .collect::<String>()
        .to_ascii_lowercase();
    declared || start.starts_with("<!doctype") || start.starts_with("<html")
}

/// RFC 9116 §3: `text/plain` with `charset=utf-8`. Another type is a
/// warning; plain text without a charset only worth knowing.
fn content_type_finding(content_type: Option<&str>) -> Option<Finding> {
    let Some(ct) = content_type else {
        return Some(Finding::new(
            codes::SECURITY_TXT_CONTENT_TYPE,
            Severity::Warning,
            "security.txt is served without a Content-Type; RFC 9116 requires text/plain; charset=utf-8",
        ));
    };
    let lower = ct.to_ascii_lowercase();
    let mut parts = lower.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    let charset = parts
        .find_map(|p| p.strip_prefix("charset="))
        .map(|c| c.trim_matches('"').to_owned());
    let shown: String = ct.chars().take(100).collect();
    if media != "text/plain" {
        return Some(Finding::new(
            codes::SECURITY_TXT_CONTENT_TYPE,
            Severity::Warning,
            format!(
                "security.txt is served as {shown:?}; RFC 9116 requires text/plain; charset=utf-8"
            ),
        ));
    }
    match charset.as_deref() {
        Some("utf-8" | "utf8") => None,
        None => Some(Finding::new(
            codes::SECURITY_TXT_CONTENT_TYPE,
            Severity::Info,
            "security.txt is served as text/plain without charset=utf-8",
        )),
        Some(_) => Some(Finding::new(
            codes::SECURITY_TXT_CONTENT_TYPE,
            Severity::Warning,
            format!(
                "security.txt is served as {shown:?}; RFC 9116 requires text/plain; charset=utf-8"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    fn cx(url: &str) -> Context<'_> {
        Context {
            now: NOW,
            warn_days: 30,
            url,
        }
    }

    fn codes_of(txt: &str) -> Vec<String> {
        let (findings, _) = evaluate(
            &parse(txt),
            &cx("https://shop.test/.well-known/security.txt"),
        );
        findings.into_iter().map(|f| f.code).collect()
    }

    #[test]
    fn a_good_file_parses_with_comments_and_case_insensitive_names() {
        let txt = "# Our policy\r\nContact: mailto:security@shop.test\r\ncontact: https://shop.test/security\r\n\
                   EXPIRES: 2026-12-31T23:59:59Z\r\nPreferred-Languages: en, de\r\n\
                   Canonical: https://shop.test/.well-known/security.txt\r\nX-Custom: yes\r\n";
        let parsed = parse(txt);
        assert_eq!(parsed.values("contact").len(), 2);
        assert!(parsed.invalid_lines.is_empty());
        let (findings, evidence) =
            evaluate(&parsed, &cx("https://shop.test/.well-known/security.txt"));
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(evidence["expires"], "2026-12-31T23:59:59Z");
        assert_eq!(evidence["unknown_fields"], json!(["x-custom"]));
        assert_eq!(evidence["expires_days_left"], 213.5);
    }

    #[test]
    fn signed_files_are_unwrapped() {
        let txt = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n\
                   Contact: mailto:security@shop.test\n\
                   - -not-a-field-but-escaped\n\
                   Expires: 2026-12-31T23:59:59.000Z\n\
                   -----BEGIN PGP SIGNATURE-----\n\niQIzBAEBCgAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n";
        let parsed = parse(txt);
        assert!(parsed.signed);
        assert_eq!(parsed.values("contact"), vec!["mailto:security@shop.test"]);
        assert_eq!(parsed.invalid_lines, vec![5]);
        assert_eq!(parsed.signature_problem, None);
        let unterminated = parse(&txt.replace(END_SIGNATURE, ""));
        assert!(unterminated.signature_problem.is_some());
        let unsigned = parse(&txt.replace(BEGIN_SIGNATURE, "").replace(END_SIGNATURE, ""));
        assert!(unsigned.signature_problem.is_some());
    }

    #[test]
    fn rfc_9116_rules() {
        let base = "Contact: mailto:s@shop.test\n";
        assert_eq!(
            codes_of("Expires: 2026-12-31T23:59:59Z\n"),
            vec![codes::SECURITY_TXT_NO_CONTACT]
        );
        assert_eq!(codes_of(base), vec![codes::SECURITY_TXT_NO_EXPIRES]);
        assert_eq!(
            codes_of(&format!("{base}Expires: 31.12.2026\n")),
            vec![codes::SECURITY_TXT_EXPIRES_INVALID]
        );
        assert_eq!(
            codes_of(&format!("{base}Expires: 2026-05-31T00:00:00Z\n")),
            vec![codes::SECURITY_TXT_EXPIRED]
        );
        assert_eq!(
            codes_of(&format!("{base}Expires: 2026-06-20T00:00:00+02:00\n")),
            vec![codes::SECURITY_TXT_EXPIRING]
        );
        assert_eq!(
            codes_of(&format!("{base}Expires: 2027-06-02T12:00:00Z\n")),
            vec![codes::SECURITY_TXT_EXPIRES_TOO_FAR]
        );
        assert!(codes_of(&format!("{base}Expires: 2027-06-01T11:00:00Z\n")).is_empty());
        assert_eq!(
            codes_of(&format!(
                "{base}Expires: 2026-12-31T23:59:59Z\nExpires: 2026-11-30T23:59:59Z\n"
            )),
            vec![codes::SECURITY_TXT_FIELD_REPEATED]
        );
        assert_eq!(
            codes_of(
                "Contact: security@shop.test\nContact: http://shop.test/sec\nExpires: 2026-12-31T23:59:59Z\n"
            ),
            vec![
                codes::SECURITY_TXT_CONTACT_INVALID,
                codes::SECURITY_TXT_CONTACT_INVALID
            ]
        );
        assert_eq!(
            codes_of(&format!(
                "{base}Expires: 2026-12-31T23:59:59Z\nCanonical: https://other.test/.well-known/security.txt\n"
            )),
            vec![codes::SECURITY_TXT_CANONICAL_MISMATCH]
        );
        assert_eq!(
            codes_of(&format!(
                "{base}Expires: 2026-12-31T23:59:59Z\nthis is not a field\n<html>\n"
            )),
            vec![codes::SECURITY_TXT_SYNTAX]
        );
    }

    #[test]
    fn content_types() {
        assert!(content_type_finding(Some("text/plain; charset=utf-8")).is_none());
        assert!(content_type_finding(Some("Text/Plain; Charset=\"UTF-8\"")).is_none());
        assert_eq!(
            content_type_finding(Some("text/plain")).unwrap().severity,
            Severity::Info
        );
        assert_eq!(
            content_type_finding(Some("application/octet-stream"))
                .unwrap()
                .severity,
            Severity::Warning
        );
        assert!(content_type_finding(None).is_some());
    }

    #[test]
    fn legacy_location() {
        let u: ::http::Uri = "https://shop.test/.well-known/security.txt"
            .parse()
            .unwrap();
        assert_eq!(
            legacy_url(&u).unwrap().to_string(),
            "https://shop.test/security.txt"
        );
        let u: ::http::Uri = "https://shop.test/custom.txt".parse().unwrap();
        assert!(legacy_url(&u).is_none());
    }
}
