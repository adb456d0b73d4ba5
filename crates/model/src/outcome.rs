//! The result of one run of one check.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// A check's identity: `<site>/<check>`, unique across the configuration and
/// stable across reloads (history is keyed by it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CheckId(pub String);

impl CheckId {
    /// Builds the id of check `check` in site `site`.
    pub fn new(site: &str, check: &str) -> Self {
        Self(format!("{site}/{check}"))
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The id of its site (the text before the first `/`).
    pub fn site(&self) -> &str {
        self.0.split('/').next().unwrap_or_default()
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a check ended. Ordered from best to worst so that the status of a
/// combined check is the `max` of its parts; `Unknown` is worst because it
/// means "we could not tell", which must never read as healthy.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Working as expected.
    Up,
    /// Working, but something needs attention (slow, certificate expiring).
    Degraded,
    /// Not working.
    Down,
    /// The check itself could not decide (misconfiguration at runtime, our own
    /// network down, unsupported target).
    #[default]
    Unknown,
}

impl Status {
    /// Stable lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Degraded => "degraded",
            Status::Down => "down",
            Status::Unknown => "unknown",
        }
    }
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "up" => Status::Up,
            "degraded" => Status::Degraded,
            "down" => Status::Down,
            "unknown" => Status::Unknown,
            _ => return None,
        })
    }
    /// Nagios plugin exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    pub fn nagios_code(self) -> i32 {
        match self {
            Status::Up => 0,
            Status::Degraded => 1,
            Status::Down => 2,
            Status::Unknown => 3,
        }
    }
    /// Nagios plugin state word.
    pub fn nagios_word(self) -> &'static str {
        match self {
            Status::Up => "OK",
            Status::Degraded => "WARNING",
            Status::Down => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a finding is; maps onto the status it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, changes nothing.
    Info,
    /// Degrades the check.
    Warning,
    /// Fails the check.
    Critical,
}

impl Severity {
    /// Stable lowercase name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The status a finding of this severity implies on its own.
    pub fn implied_status(self) -> Status {
        match self {
            Severity::Info => Status::Up,
            Severity::Warning => Status::Degraded,
            Severity::Critical => Status::Down,
        }
    }
}

/// One observation with a stable machine code (e.g. `TLS_CERT_EXPIRING`),
/// a severity and a human sentence. Codes never change meaning once
/// released: alert rules and reports key on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code, upper snake case, prefixed by the probe family.
    pub code: String,
    /// How bad it is.
    pub severity: Severity,
    /// One sentence for a human who has never seen the system.
    pub text: String,
}

impl Finding {
    /// Builds a finding.
    pub fn new(code: impl Into<String>, severity: Severity, text: impl Into<String>) -> Self {
        let text = text.into();
        audit_message(&text);
        Self {
            code: code.into(),
            severity,
            text,
        }
    }
}

/// Where the time of one request went. Each phase is `None` when it did not
/// happen (no TLS on plain HTTP, no DNS for an IP literal).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimingBreakdown {
    /// Name resolution.
    pub dns_ms: Option<f64>,
    /// TCP connect.
    pub connect_ms: Option<f64>,
    /// TLS handshake.
    pub tls_ms: Option<f64>,
    /// From request sent to the first byte of the response head.
    pub first_byte_ms: Option<f64>,
    /// From start to the end of the body.
    pub total_ms: Option<f64>,
}

/// Supporting material a human needs to understand an outcome: structured
/// (timings) and free-form (certificate chain summary, transcript). Never
/// contains secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Timing breakdown, for request-style checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<TimingBreakdown>,
    /// Named details (e.g. `"status_code": 200`, `"certificates": [...]`).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty", default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Evidence {
    /// Adds or replaces a named detail.
    pub fn insert(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.details.insert(key.to_owned(), value.into());
    }
}

/// The result of one run of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Wall time of the whole probe, in milliseconds.
    pub latency_ms: f64,
    /// One line for humans ("HTTP 200 OK", "connection refused"); no
    /// per-run numbers such as the latency, so repeated results deduplicate.
    pub message: String,
    /// Observations with stable codes.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Supporting detail.
    #[serde(default)]
    pub evidence: Evidence,
    /// Files for the recorder to keep beside the result (a browser check's
    /// screenshot): not part of the outcome's JSON, not deduplicated with
    /// its text; the store records each and names it in the evidence.
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

/// A file a probe hands to the recorder with its outcome.
#[derive(Clone, PartialEq)]
pub struct Attachment {
    /// Its media type, e.g. `image/jpeg`.
    pub mime: String,
    /// Its bytes, bounded by the probe that made it.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("mime", &self.mime)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Outcome {
    /// An outcome with a status and message and nothing else yet.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        let message = message.into();
        audit_message(&message);
        Self {
            status,
            latency_ms: 0.0,
            message,
            findings: Vec::new(),
            evidence: Evidence::default(),
            attachments: Vec::new(),
        }
    }

    /// Sets the measured latency.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency_ms = latency.as_secs_f64() * 1000.0;
        self
    }

    /// Records a finding and lowers the status to what its severity implies
    /// (never raises it: a finding cannot make a Down check Up).
    pub fn push(&mut self, finding: Finding) {
        self.worsen(finding.severity.implied_status());
        self.findings.push(finding);
    }

    /// Lowers the status to `status` if that is worse than the current one.
    /// `Unknown` does not override `Down`: a definite failure stays definite.
    pub fn worsen(&mut self, status: Status) {
        self.status = worse(self.status, status);
    }

    /// The most severe finding, if any (used to pick the summary line).
    pub fn worst_finding(&self) -> Option<&Finding> {
        self.findings.iter().max_by_key(|f| f.severity)
    }
}

/// With the `message-audit` feature (test builds), refuses a message that
/// shows a debug structure instead of words; otherwise nothing.
#[inline]
fn audit_message(text: &str) {
    #[cfg(feature = "message-audit")]
    if let Some(piece) = crate::text::debug_structure(text) {
        panic!(
            "a message shows a debug structure ({piece:?}) instead of words: {text:?}; explain the error (keepup_trust::explain for TLS) and keep the raw form in the evidence"
        );
    }
    #[cfg(not(feature = "message-audit"))]
    let _ = text;
}

/// Combines two statuses: the worse wins, except that a definite `Down`
/// beats `Unknown` (we know it is broken even if some part was unclear).
pub fn worse(a: Status, b: Status) -> Status {
    match (a, b) {
        (Status::Down, Status::Unknown) | (Status::Unknown, Status::Down) => Status::Down,
        _ => a.max(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_only_make_things_worse() {
        let mut o = Outcome::new(Status::Down, "refused");
        o.push(Finding::new("X", Severity::Warning, "w"));
        assert_eq!(o.status, Status::Down);
        let mut o = Outcome::new(Status::Up, "ok");
        o.push(Finding::new("X", Severity::Warning, "w"));
        assert_eq!(o.status, Status::Degraded);
        o.push(Finding::new("Y", Severity::Info, "i"));
        assert_eq!(o.status, Status::Degraded);
    }

    #[cfg(feature = "message-audit")]
    #[test]
    #[should_panic(expected = "a message shows a debug structure")]
    fn test_builds_refuse_a_finding_that_shows_a_debug_structure() {
        let _ = Finding::new(
            "X",
            Severity::Critical,
            "not trusted: Other(OtherError(CaUsedAsEndEntity))",
        );
    }

    #[test]
    fn down_beats_unknown() {
        assert_eq!(worse(Status::Unknown, Status::Down), Status::Down);
        assert_eq!(worse(Status::Up, Status::Unknown), Status::Unknown);
    }

    #[test]
    fn status_round_trips_and_maps_to_nagios() {
        for s in [Status::Up, Status::Degraded, Status::Down, Status::Unknown] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::Degraded.nagios_code(), 1);
        assert_eq!(Status::Unknown.nagios_word(), "UNKNOWN");
    }
}
