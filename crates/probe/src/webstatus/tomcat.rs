//! Tomcat's manager status page in XML (`/manager/status?XML=true`, for a
//! user of role `manager-status`): the JVM's heap and each connector's
//! request threads.

use keepup_config::WebStatusSpec;
use keepup_model::Outcome;
use serde_json::json;

use super::limit_finding;
use crate::codes;

/// The page as read.
#[derive(Debug, PartialEq)]
pub(super) struct Status {
    /// Heap: free of what is committed, committed, and the maximum.
    pub(super) free: u64,
    pub(super) total: u64,
    pub(super) max: u64,
    pub(super) connectors: Vec<Connector>,
}

/// One `<connector>`: its threads and request counters.
#[derive(Debug, PartialEq)]
pub(super) struct Connector {
    pub(super) name: String,
    pub(super) max_threads: u64,
    pub(super) threads: u64,
    pub(super) busy: u64,
    pub(super) requests: Option<u64>,
    pub(super) errors: Option<u64>,
}

impl Status {
    /// `<status><jvm><memory free total max/>...</jvm><connector
    /// name><threadInfo maxThreads currentThreadCount
    /// currentThreadsBusy/><requestInfo .../></connector>...</status>`.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let doc = roxmltree::Document::parse(text).ok()?;
        let root = doc.root_element();
        if root.tag_name().name() != "status" {
            return None;
        }
        let number = |node: roxmltree::Node, name: &str| -> Option<u64> {
            node.attribute(name)?.trim().parse().ok()
        };
        let memory = root.descendants().find(|n| {
            n.has_tag_name("memory") && n.parent().is_some_and(|p| p.has_tag_name("jvm"))
        })?;
        let mut connectors = Vec::new();
        for c in root
            .children()
            .filter(|n| n.has_tag_name("connector"))
            .take(64)
        {
            let Some(threads) = c.children().find(|n| n.has_tag_name("threadInfo")) else {
                continue;
            };
            let requests = c.children().find(|n| n.has_tag_name("requestInfo"));
            connectors.push(Connector {
                // Tomcat quotes the name inside the attribute: '"http-nio-8080"'.
                name: c
                    .attribute("name")
                    .unwrap_or_default()
                    .trim_matches('"')
                    .to_owned(),
                max_threads: number(threads, "maxThreads")?,
                threads: number(threads, "currentThreadCount")?,
                busy: number(threads, "currentThreadsBusy")?,
                requests: requests.and_then(|r| number(r, "requestCount")),
                errors: requests.and_then(|r| number(r, "errorCount")),
            });
        }
        Some(Self {
            free: number(memory, "free")?,
            total: number(memory, "total")?,
            max: number(memory, "max")?,
            connectors,
        })
    }

    /// Heap in use (committed but not free), in % of the maximum.
    fn heap_used_percent(&self) -> Option<f64> {
        (self.max > 0)
            .then(|| 100.0 * self.total.saturating_sub(self.free) as f64 / self.max as f64)
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// The verdict of a read page; its message when all is well.
pub(super) fn judge(spec: &WebStatusSpec, s: &Status, outcome: &mut Outcome) -> String {
    let heap = s.heap_used_percent();
    outcome.evidence.insert(
        "tomcat",
        json!({
            "heap_free_bytes": s.free, "heap_committed_bytes": s.total, "heap_max_bytes": s.max,
            "heap_used_percent": heap.map(round1),
            "connectors": s.connectors.iter().map(|c| json!({
                "name": c.name, "max_threads": c.max_threads, "threads": c.threads,
                "busy": c.busy, "requests": c.requests, "errors": c.errors,
            })).collect::<Vec<_>>(),
        }),
    );
    if let Some(used) = heap
        && let Some(f) = limit_finding(
            spec.limit.as_ref(),
            used,
            codes::TOMCAT_MEMORY_HIGH,
            format!(
                "Tomcat's JVM uses {:.1}% of its maximum heap ({} of {} MiB)",
                used,
                s.total.saturating_sub(s.free) >> 20,
                s.max >> 20
            ),
        )
    {
        outcome.push(f);
    }
    for c in &s.connectors {
        if c.max_threads == 0 {
            continue;
        }
        let busy = 100.0 * c.busy as f64 / c.max_threads as f64;
        if let Some(f) = limit_finding(
            spec.threads.as_ref(),
            busy,
            codes::TOMCAT_THREADS_BUSY,
            format!(
                "Tomcat's connector {} has {} of its {} threads busy",
                c.name, c.busy, c.max_threads
            ),
        ) {
            outcome.push(f);
        }
    }
    if s.connectors.is_empty() {
        "Tomcat answers its status (no connector listed)".to_owned()
    } else {
        "Tomcat answers its status".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_status_of_a_real_tomcat_10_is_read() {
        // As Debian's tomcat10 10.1 wrote it (testkit's private Tomcat).
        let s = Status::parse(include_str!("tomcat-status.xml")).unwrap();
        assert_eq!((s.free, s.total, s.max), (34835088, 46137344, 67108864));
        assert_eq!(s.connectors.len(), 1);
        let c = &s.connectors[0];
        assert_eq!(c.name, "http-nio-127.0.0.1-18080");
        assert_eq!((c.max_threads, c.busy, c.requests), (8, 1, Some(3)));
        assert!((s.heap_used_percent().unwrap() - 16.84).abs() < 0.01);
        assert_eq!(Status::parse("<html><body>Tomcat</body></html>"), None);
        assert_eq!(Status::parse("not xml"), None);
        assert_eq!(Status::parse("<status><jvm/></status>"), None);
    }
}
