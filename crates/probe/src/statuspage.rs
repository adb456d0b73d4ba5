//! Vendor status pages in Atlassian Statuspage's format
//! (`/api/v2/summary.json`), read alongside a [`crate::chain`] check.
//!
//! The summary holds the page's overall `status.indicator` (`none`,
//! `minor`, `major`, `critical`, and `maintenance` on some pages), every
//! component with its status (`operational`, `degraded_performance`,
//! `partial_outage`, `major_outage`, `under_maintenance`), the unresolved
//! incidents and the scheduled maintenances. [`parse_summary`] reads what
//! keepup needs and tolerates everything else (extra keys, missing
//! optional ones); [`vendor_status`] maps the watched components, or the
//! indicator when none is watched, onto keepup's statuses.

use keepup_model::Status;
use serde_json::Value;

/// One component of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Its name as shown.
    pub name: String,
    /// Its status as written (`major_outage`).
    pub status: String,
    /// Whether it is a group of other components.
    pub group: bool,
}

/// An unresolved incident or a scheduled maintenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its title.
    pub name: String,
    /// Its state (`investigating`, `identified`, `monitoring`, `scheduled`,
    /// `in_progress`, ...).
    pub status: String,
    /// Its impact (`none`, `minor`, `major`, `critical`, `maintenance`).
    pub impact: String,
}

/// What keepup reads from a summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `status.indicator`.
    pub indicator: String,
    /// `status.description` ("All Systems Operational").
    pub description: String,
    /// Every component.
    pub components: Vec<Component>,
    /// Unresolved incidents.
    pub incidents: Vec<Event>,
    /// Scheduled (upcoming or in progress) maintenances.
    pub maintenances: Vec<Event>,
}

/// At most this many incidents or maintenances are read (the document
/// itself is bounded by the body limit).
const MAX_ITEMS: usize = 1000;

/// Reads a summary document. An error says why it is not one.
pub fn parse_summary(bytes: &[u8]) -> Result<Summary, String> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("it is not valid JSON: {e}"))?;
    let status = doc
        .get("status")
        .ok_or("it has no \"status\" object, so it is not a Statuspage summary")?;
    let indicator = text(status, "indicator")
        .ok_or("it has no status.indicator, so it is not a Statuspage summary")?;
    let components = doc
        .get("components")
        .and_then(Value::as_array)
        .ok_or("it has no \"components\" list, so it is not a Statuspage summary")?
        .iter()
        .filter_map(|c| {
            Some(Component {
                name: text(c, "name")?,
                status: text(c, "status").unwrap_or_default(),
                group: c.get("group").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect();
    let events = |key: &str| -> Vec<Event> {
        doc.get(key)
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .take(MAX_ITEMS)
                    .filter_map(|e| {
                        Some(Event {
                            name: text(e, "name")?,
                            status: text(e, "status").unwrap_or_default(),
                            impact: text(e, "impact").unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Summary {
        indicator,
        description: text(status, "description").unwrap_or_default(),
        components,
        incidents: events("incidents"),
        maintenances: events("scheduled_maintenances"),
    })
}

/// A string member, bounded for evidence.
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| s.chars().take(200).collect())
}

/// A component status as one of keepup's: operational is Up, degraded
/// performance, partial outage and maintenance are Degraded, a major
/// outage is Down; anything else is Unknown.
pub fn component_status(status: &str) -> Status {
    match status {
        "operational" => Status::Up,
        "degraded_performance" | "partial_outage" | "under_maintenance" => Status::Degraded,
        "major_outage" => Status::Down,
        _ => Status::Unknown,
    }
}

/// The overall indicator as one of keepup's statuses.
pub fn indicator_status(indicator: &str) -> Status {
    match indicator {
        "none" => Status::Up,
        "minor" | "maintenance" => Status::Degraded,
        "major" | "critical" => Status::Down,
        _ => Status::Unknown,
    }
}

/// How the vendor sees itself, for the watched components.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorStatus {
    /// The worst status among the watched components (or the indicator's).
    pub status: Status,
    /// Watched components that are not operational: (name, status as
    /// written).
    pub affected: Vec<(String, String)>,
    /// Watched names that are not on the page.
    pub missing: Vec<String>,
    /// The watched components found: (name, status as written).
    pub watched: Vec<(String, String)>,
}

/// Maps `watched` component names (case-insensitive; every component of
/// that name counts) onto a status; without watched names, the indicator.
pub fn vendor_status(summary: &Summary, watched: &[String]) -> VendorStatus {
    let mut out = VendorStatus {
        status: Status::Up,
        affected: Vec::new(),
        missing: Vec::new(),
        watched: Vec::new(),
    };
    if watched.is_empty() {
        out.status = indicator_status(&summary.indicator);
        if out.status != Status::Up {
            out.affected
                .push(("overall".to_owned(), summary.indicator.clone()));
        }
        return out;
    }
    for name in watched {
        let matching: Vec<&Component> = summary
            .components
            .iter()
            .filter(|c| c.name.trim().eq_ignore_ascii_case(name.trim()))
            .collect();
        if matching.is_empty() {
            out.missing.push(name.clone());
            continue;
        }
        for c in matching {
            let status = component_status(&c.status);
            out.watched.push((c.name.clone(), c.status.clone()));
            if status != Status::Up {
                out.affected.push((c.name.clone(), c.status.clone()));
            }
            // An unknown status word says nothing about an outage.
            if status != Status::Unknown {
                out.status = out.status.max(status);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of a real summary (trimmed): Atlassian's documented
    /// example with two components, one group, an incident.
    const SAMPLE: &str = r#"{
      "page": {"id": "kctbh9vrtdwd", "name": "Vendor", "url": "https://status.vendor.example",
               "time_zone": "Etc/UTC", "updated_at": "2026-06-01T12:00:00.000Z"},
      "components": [
        {"id": "b13yz5g2cw10", "name": "API", "status": "major_outage",
         "created_at": "2024-11-07T21:30:51.101Z", "updated_at": "2026-06-01T11:58:11.000Z",
         "position": 1, "description": "The REST API", "showcase": true, "start_date": null,
         "group_id": null, "page_id": "kctbh9vrtdwd", "group": false, "only_show_if_degraded": false},
        {"id": "9397cnvk62zn", "name": "Checkout", "status": "operational", "group": false},
        {"id": "grp1", "name": "Payments", "status": "partial_outage", "group": true,
         "components": ["b13yz5g2cw10", "9397cnvk62zn"]}
      ],
      "incidents": [
        {"id": "cp306tmzcl0y", "name": "API errors in EU", "status": "identified", "impact": "major",
         "shortlink": "https://stspg.io/abc", "incident_updates": []}
      ],
      "scheduled_maintenances": [],
      "status": {"indicator": "major", "description": "Partial System Outage"}
    }"#;

    #[test]
    fn a_summary_is_read() {
        let s = parse_summary(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.indicator, "major");
        assert_eq!(s.components.len(), 3);
        assert!(s.components[2].group);
        assert_eq!(s.incidents[0].name, "API errors in EU");
    }

    #[test]
    fn watched_components_map_onto_statuses() {
        let s = parse_summary(SAMPLE.as_bytes()).unwrap();
        let v = vendor_status(&s, &["api".into()]);
        assert_eq!(v.status, Status::Down);
        assert_eq!(v.affected, vec![("API".into(), "major_outage".into())]);
        let v = vendor_status(&s, &["Checkout".into()]);
        assert_eq!((v.status, v.affected.len()), (Status::Up, 0));
        let v = vendor_status(&s, &["Payments".into(), "SMS".into()]);
        assert_eq!(v.status, Status::Degraded);
        assert_eq!(v.missing, vec!["SMS".to_owned()]);
        let v = vendor_status(&s, &[]);
        assert_eq!(v.status, Status::Down);
    }

    #[test]
    fn what_is_not_a_summary_says_why() {
        for (input, why) in [
            ("not json", "not valid JSON"),
            ("[]", "no \"status\""),
            (r#"{"status": {}}"#, "status.indicator"),
            (r#"{"status": {"indicator": "none"}}"#, "components"),
        ] {
            let err = parse_summary(input.as_bytes()).unwrap_err();
            assert!(err.contains(why), "{input}: {err}");
        }
        let deep = "[".repeat(100_000);
        assert!(parse_summary(deep.as_bytes()).is_err());
        assert_eq!(component_status("exploded"), Status::Unknown);
        assert_eq!(indicator_status("critical"), Status::Down);
    }
}
