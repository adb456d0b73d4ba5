//! A run's evidence rendered for people: the HTTP timing breakdown as bars,
//! the DNS walk step by step, a mail transcript as the dialogue it was, a
//! recovery plan's drills against its targets,
//! lists of like records (certificate chain, blacklist listings and zones,
//! chain links, name servers) as tables, anything else as labelled values.
//!
//! Evidence comes from probes talking to the outside world, so every
//! string in it is escaped (maud does) and its size is bounded here: long
//! lists and deep nesting are cut with a note saying so.

use keepup_model::text::duration_compact;
use keepup_model::{Evidence, TimingBreakdown, format_rfc3339};
use keepup_monitor::drill::{DrillEvidence, DrillRun};
use maud::{Markup, html};
use serde_json::{Map, Value};
use std::time::Duration;

/// Most items of one list shown.
const MAX_ITEMS: usize = 100;
/// Most lines of a transcript shown.
const MAX_LINES: usize = 500;
/// Most characters of one value shown.
const MAX_TEXT: usize = 2_000;
/// Deepest nesting rendered; deeper values are shown as compact JSON.
const MAX_DEPTH: usize = 3;

/// Titles of the details rendered on their own, in the order shown.
const SECTIONS: [(&str, &str); 10] = [
    ("drill", "Disaster-recovery drills"),
    ("steps", "DNS walk"),
    ("transcript", "Transcript"),
    ("certificates", "Certificate chain"),
    ("addresses", "Addresses and their certificates"),
    ("listings", "Blacklist listings"),
    ("zones", "Blacklist zones"),
    ("links", "Chain links"),
    ("name_servers", "Name servers"),
    ("answers", "Answers"),
];

/// The evidence of one outcome.
pub fn render(evidence: &Evidence) -> Markup {
    let rest: Vec<(&String, &Value)> = evidence
        .details
        .iter()
        .filter(|(k, _)| !SECTIONS.iter().any(|(key, _)| key == k))
        .collect();
    html! {
        @if let Some(t) = &evidence.timing { (timing(t)) }
        @for (key, title) in SECTIONS {
            @if let Some(v) = evidence.details.get(key) {
                section.evidence {
                    h3 { (title) }
                    @match key {
                        "steps" => (steps(v)),
                        "transcript" => (transcript(v)),
                        "drill" => (drill(v)),
                        _ => (value(v, 0)),
                    }
                }
            }
        }
        @if !rest.is_empty() {
            section.evidence {
                h3 { "Details" }
                dl.details {
                    @for (k, v) in rest {
                        dt { (label(k)) }
                        dd { (value(v, 1)) }
                    }
                }
            }
        }
    }
}

/// `status_code` → `status code`.
fn label(key: &str) -> String {
    key.replace('_', " ")
}

/// Where the time of a request went, as bars proportional to the total.
fn timing(t: &TimingBreakdown) -> Markup {
    let phases = [
        ("DNS", t.dns_ms),
        ("connect", t.connect_ms),
        ("TLS", t.tls_ms),
        ("first byte", t.first_byte_ms),
        ("total", t.total_ms),
    ];
    let longest = phases
        .iter()
        .filter_map(|(_, ms)| *ms)
        .fold(0.0_f64, f64::max)
        .max(0.001);
    html! {
        section.evidence {
            h3 { "Timing" }
            table.timing {
                tbody {
                    @for (name, ms) in phases {
                        @if let Some(ms) = ms {
                            tr {
                                th scope="row" { (name) }
                                td.num { (format!("{ms:.1} ms")) }
                                td.bar {
                                    svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" {
                                        rect x="0" y="1" height="8" width=(format!("{:.1}", (ms / longest * 100.0).max(0.5))) {}
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The DNS walk: each query, who answered it and what.
fn steps(v: &Value) -> Markup {
    let Some(list) = v.as_array() else {
        return value(v, 0);
    };
    html! {
        ol.steps {
            @for step in list.iter().take(MAX_ITEMS) {
                li {
                    @if let Some(s) = step.as_object() {
                        p.step {
                            strong { (text(s.get("question"))) }
                            " asked of " (text(s.get("server")))
                            @if let Some(via) = s.get("via") { " over " (text(Some(via))) }
                            ": " strong { (text(s.get("rcode"))) }
                            @if let Some(ms) = s.get("ms").and_then(Value::as_f64) { " in " (format!("{ms:.1} ms")) }
                            @if let Some(flags) = s.get("flags") { " (flags " (text(Some(flags))) ")" }
                        }
                        @let shown = ["question", "server", "via", "rcode", "ms", "flags"];
                        @let rest: Vec<_> = s.iter().filter(|(k, _)| !shown.contains(&k.as_str())).collect();
                        @if !rest.is_empty() {
                            dl.details {
                                @for (k, v) in rest { dt { (label(k)) } dd { (value(v, 1)) } }
                            }
                        }
                    } @else {
                        (value(step, 1))
                    }
                }
            }
        }
        (more(list.len()))
    }
}

/// A mail dialogue, one line each, who said it marked by class.
fn transcript(v: &Value) -> Markup {
    let Some(lines) = v.as_array() else {
        return value(v, 0);
    };
    html! {
        pre.transcript {
            @for line in lines.iter().take(MAX_LINES) {
                @let line = text(Some(line));
                @let who = if line.starts_with("C:") { "client" } else if line.starts_with("S:") { "server" } else { "note" };
                span class=(who) { (line) } "\n"
            }
        }
        @if lines.len() > MAX_LINES { p.note { (lines.len() - MAX_LINES) " more lines not shown" } }
    }
}

/// A `dr-<plan>` check's drills: the last one and the last successful
/// one, each with its outcome, RTO and RPO against the plan's targets.
fn drill(v: &Value) -> Markup {
    let Ok(e) = serde_json::from_value::<DrillEvidence>(v.clone()) else {
        return value(v, 0);
    };
    let secs = |s: f64| duration_compact(Duration::from_secs_f64(s.max(0.0)));
    let against = |measured: Option<f64>, target: u64| -> Markup {
        let shown = secs(target as f64);
        match measured {
            Some(m) if m <= target as f64 => {
                html! { (secs(m)) " " span.note { "(target " (shown) ")" } }
            }
            Some(m) => {
                html! { strong.down { (secs(m)) } " " span.note { "(over the target " (shown) ")" } }
            }
            None => html! { span.note { "not measured (target " (shown) ")" } },
        }
    };
    let rows: Vec<(&str, &DrillRun)> = match (&e.last, &e.last_success) {
        (Some(l), Some(ok)) if l.run == ok.run => vec![("Last drill", l)],
        (l, ok) => [("Last drill", l.as_ref()), ("Last successful", ok.as_ref())]
            .into_iter()
            .filter_map(|(name, r)| r.map(|r| (name, r)))
            .collect(),
    };
    html! {
        @if rows.is_empty() { p { "No drill has completed yet." } }
        @else {
            div.table-wrap {
                table.records {
                    thead { tr {
                        th scope="col" { "" } th scope="col" { "run" } th scope="col" { "when" }
                        th scope="col" { "outcome" } th scope="col" { "RTO" } th scope="col" { "RPO" }
                    } }
                    tbody {
                        @for (name, r) in &rows {
                            tr {
                                th scope="row" { (name) }
                                td { (r.run) }
                                td { (format_rfc3339(r.at_ms())) }
                                td { (r.state) @if !r.succeeded() && !r.message.is_empty() { br; span.note { (bounded(r.message.clone())) } } }
                                td { (against(r.rto_seconds, e.rto_target_seconds)) }
                                td { (against(r.rpo_seconds, e.rpo_target_seconds)) }
                            }
                        }
                    }
                }
            }
        }
        p.note {
            "A successful drill counts for " (secs(e.max_age_seconds as f64)) "."
            @if let Some(run) = e.running { " Drill run " (run) " is in progress." }
        }
    }
}

/// Says how many items were left out, if any.
fn more(len: usize) -> Markup {
    html! {
        @if len > MAX_ITEMS { p.note { (len - MAX_ITEMS) " more not shown" } }
    }
}

/// A scalar as text (strings without quotes), bounded.
fn text(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => "–".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_owned(),
            _ => n.to_string(),
        },
        Some(other) => other.to_string(),
    };
    bounded(s)
}

fn bounded(mut s: String) -> String {
    if s.chars().count() > MAX_TEXT {
        s = s.chars().take(MAX_TEXT).collect();
        s.push('…');
    }
    s
}

/// Any value: scalars as text, lists of scalars joined, lists of records as
/// a table, records as labelled values.
fn value(v: &Value, depth: usize) -> Markup {
    if depth > MAX_DEPTH {
        return html! { code { (bounded(v.to_string())) } };
    }
    match v {
        Value::Array(items) if items.is_empty() => html! { span.none { "none" } },
        Value::Array(items) if items.iter().all(|i| !i.is_array() && !i.is_object()) => html! {
            ul.values {
                @for i in items.iter().take(MAX_ITEMS) { li { (text(Some(i))) } }
            }
            (more(items.len()))
        },
        Value::Array(items) if items.iter().all(Value::is_object) => records(items, depth),
        Value::Array(items) => html! {
            ol.values {
                @for i in items.iter().take(MAX_ITEMS) { li { (value(i, depth + 1)) } }
            }
            (more(items.len()))
        },
        Value::Object(map) if map.is_empty() => html! { span.none { "none" } },
        Value::Object(map) => html! {
            dl.details {
                @for (k, v) in map.iter().take(MAX_ITEMS) { dt { (label(k)) } dd { (value(v, depth + 1)) } }
            }
        },
        scalar => html! { (text(Some(scalar))) },
    }
}

/// Most fields of records shown as a table; records with more (a
/// certificate has a dozen) are shown one after the other, each as
/// labelled values, which stays readable on a phone.
const MAX_COLUMNS: usize = 6;

/// Records with like fields as a table, one column per field in order of
/// first appearance, or one labelled list each when they have many fields.
fn records(items: &[Value], depth: usize) -> Markup {
    let mut columns: Vec<&str> = Vec::new();
    let maps: Vec<&Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
    for m in &maps {
        for k in m.keys() {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    if columns.len() > MAX_COLUMNS {
        return html! {
            ol.records {
                @for m in maps.iter().take(MAX_ITEMS) {
                    li { dl.details { @for (k, v) in m.iter() { dt { (label(k)) } dd { (value(v, depth + 1)) } } } }
                }
            }
            (more(maps.len()))
        };
    }
    html! {
        div.table-wrap {
            table.records {
                thead { tr { @for c in &columns { th scope="col" { (label(c)) } } } }
                tbody {
                    @for m in maps.iter().take(MAX_ITEMS) {
                        tr { @for c in &columns { td { @if let Some(v) = m.get(*c) { (value(v, depth + 1)) } } } }
                    }
                }
            }
        }
        (more(maps.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_a_table_and_markup_in_them_is_text() {
        let mut e = Evidence::default();
        e.insert(
            "listings",
            serde_json::json!([{"zone": "<script>x</script>", "codes": ["127.0.0.2"]}]),
        );
        let html = render(&e).into_string();
        assert!(html.contains("<th scope=\"col\">zone</th>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
    }

    #[test]
    fn a_drill_check_shows_its_last_and_last_successful_drill_against_the_targets() {
        let mut e = Evidence::default();
        let run = |run: i64, state: &str, rto: Option<f64>, message: &str| {
            serde_json::json!({
                "run": run, "state": state, "started_at": "2026-11-03T03:00:00Z",
                "started_at_ms": 1_793_674_800_000_i64, "ended_at_ms": null,
                "rto_seconds": rto, "rpo_seconds": 600.0, "message": message,
            })
        };
        e.insert(
            "drill",
            serde_json::json!({
                "plan": "shop-dr", "rto_target_seconds": 14400, "rpo_target_seconds": 7200,
                "max_age_seconds": 7_776_000,
                "last": run(7, "failed", None, "step 2 <b>failed</b>"),
                "last_success": run(5, "completed", Some(18_000.0), "done"),
                "running": null,
            }),
        );
        let html = render(&e).into_string();
        assert!(html.contains("<h3>Disaster-recovery drills</h3>"), "{html}");
        assert!(
            html.contains("<th scope=\"row\">Last drill</th><td>7</td>"),
            "{html}"
        );
        assert!(html.contains("step 2 &lt;b&gt;failed&lt;/b&gt;"), "{html}");
        assert!(html.contains("not measured (target 4h)"), "{html}");
        assert!(
            html.contains("<th scope=\"row\">Last successful</th><td>5</td>"),
            "{html}"
        );
        assert!(html.contains("<strong class=\"down\">5h</strong> <span class=\"note\">(over the target 4h)</span>"), "{html}");
        assert!(
            html.contains("10m <span class=\"note\">(target 2h)</span>"),
            "{html}"
        );
        assert!(
            html.contains("A successful drill counts for 90d."),
            "{html}"
        );
        assert!(
            !html.contains("<dt>drill</dt>"),
            "not also as labelled values: {html}"
        );
    }

    #[test]
    fn a_long_list_is_cut_with_a_note() {
        let mut e = Evidence::default();
        e.insert("servers", serde_json::json!((0..150).collect::<Vec<_>>()));
        let html = render(&e).into_string();
        assert_eq!(html.matches("<li>").count(), MAX_ITEMS);
        assert!(html.contains("50 more not shown"), "{html}");
    }
}
