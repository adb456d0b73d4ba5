//! A run's evidence rendered for people: the HTTP timing breakdown as bars,
//! the DNS walk step by step, a scenario's (HTTP, browser or login) steps
//! as a table with the failing step's response and the browser's page
//! timings and errors, a mail transcript as the dialogue it was, a
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
const SECTIONS: [(&str, &str); 14] = [
    ("drill", "Disaster-recovery drills"),
    ("steps", "DNS walk"),
    ("failed_step", "Response of the failing step"),
    ("browser", "In the browser"),
    ("screenshot", "Screenshot of the failing step"),
    ("transcript", "Transcript"),
    ("certificates", "Certificate chain"),
    ("addresses", "Addresses and their certificates"),
    ("listings", "Blacklist listings"),
    ("zones", "Blacklist zones"),
    ("links", "Chain links"),
    ("name_servers", "Name servers"),
    ("answers", "Answers"),
    ("forecast", "Capacity forecast"),
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
                @let scenario = key == "steps" && is_scenario(v);
                section.evidence {
                    h3 { (if scenario { "Steps" } else { title }) }
                    @match key {
                        "steps" if scenario => (scenario_steps(v)),
                        "steps" => (steps(v)),
                        "failed_step" => (failed_step(v)),
                        "browser" => (browser(v)),
                        "screenshot" => (match v["id"].as_i64() {
                            Some(id) => screenshot(id),
                            None => value(v, 0),
                        }),
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

/// Whether `steps` are a scenario's (each has an `action`), not a DNS walk.
fn is_scenario(steps: &Value) -> bool {
    steps
        .as_array()
        .and_then(|l| l.first())
        .is_some_and(|s| s.get("action").is_some())
}

/// A scenario's steps, one row each: what it did, the status, the time
/// (with the request's phases when there are), and how it ended; the
/// failing step's row is marked, skipped and cleanup steps say so.
fn scenario_steps(v: &Value) -> Markup {
    let Some(list) = v.as_array() else {
        return value(v, 0);
    };
    let phases = |t: &Value| -> String {
        [
            ("DNS", "dns_ms"),
            ("connect", "connect_ms"),
            ("TLS", "tls_ms"),
            ("first byte", "first_byte_ms"),
        ]
        .iter()
        .filter_map(|(name, key)| {
            t.get(key)
                .and_then(Value::as_f64)
                .map(|ms| format!("{name} {ms:.1}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
    };
    html! {
        div.table-wrap {
            table.records.scenario {
                thead { tr {
                    th scope="col" { "#" } th scope="col" { "step" } th scope="col" { "action" }
                    th scope="col" { "status" } th scope="col" { "time" } th scope="col" { "result" }
                } }
                tbody {
                    @for step in list.iter().take(MAX_ITEMS) {
                        @let flag = |k: &str| step.get(k).and_then(Value::as_bool).unwrap_or(false);
                        @let (skipped, cleanup, ok) = (flag("skipped"), flag("cleanup"), flag("ok"));
                        @let class = if skipped { "skipped" } else if ok { "ok" } else { "failed" };
                        tr class=(class) {
                            td.num { @if let Some(i) = step.get("index").and_then(Value::as_u64) { (i + 1) } }
                            th scope="row" {
                                (text(step.get("name")))
                                @if cleanup { " " span.tag { "cleanup" } }
                            }
                            td { code { (text(step.get("action"))) } }
                            td.num { @if let Some(s) = step.get("status") { (text(Some(s))) } }
                            td.num {
                                @if let Some(ms) = step.get("ms").and_then(Value::as_f64) {
                                    (format!("{ms:.1} ms"))
                                    @if let Some(t) = step.get("timing") {
                                        @let p = phases(t);
                                        @if !p.is_empty() { br; span.note { (p) } }
                                    }
                                }
                            }
                            td {
                                @if skipped { span.note { "skipped" } }
                                @else if ok { "ok" }
                                @else {
                                    strong.down { "failed" }
                                    @if let Some(e) = step.get("error") { ": " (text(Some(e))) }
                                }
                            }
                        }
                    }
                }
            }
        }
        (more(list.len()))
    }
}

/// The failing step's response: status, URL, headers (their secrets
/// already redacted by the probe) and the start of the body as text.
fn failed_step(v: &Value) -> Markup {
    let response = v.get("response");
    let field = |k: &str| response.and_then(|r| r.get(k));
    html! {
        p {
            "Step " @if let Some(i) = v.get("index").and_then(Value::as_u64) { (i + 1) " " }
            strong { (text(v.get("name"))) }
            @if let Some(status) = field("status") { ": status " (text(Some(status))) }
            @if let Some(url) = field("url") { " from " code { (text(Some(url))) } }
        }
        @if let Some(Value::Object(headers)) = field("headers") {
            @if !headers.is_empty() {
                dl.details.headers {
                    @for (k, h) in headers.iter().take(MAX_ITEMS) { dt { (k) } dd { (text(Some(h))) } }
                }
            }
        }
        @if let Some(body) = field("body_excerpt") {
            pre.body-excerpt { (text(Some(body))) }
        }
    }
}

/// A failing browser check's screenshot, linked to the full image.
pub fn screenshot(id: i64) -> Markup {
    let src = format!("/screenshots/{id}");
    html! {
        figure.screenshot {
            a href=(src) {
                img src=(src) alt="The page when the step failed" loading="lazy";
            }
        }
    }
}

/// What the browser saw: the page's load timings, console errors and
/// failed requests.
fn browser(v: &Value) -> Markup {
    let nav = v.get("navigation");
    let timings = [
        ("first byte", nav.and_then(|n| n.get("ttfb_ms"))),
        (
            "DOM content loaded",
            nav.and_then(|n| n.get("dom_content_loaded_ms")),
        ),
        ("load", nav.and_then(|n| n.get("load_ms"))),
        ("largest contentful paint", v.get("lcp_ms")),
    ];
    let list = |k: &str| v.get(k).and_then(Value::as_array).filter(|l| !l.is_empty());
    html! {
        table.timing {
            tbody {
                @for (name, ms) in timings {
                    @if let Some(ms) = ms.and_then(Value::as_f64) {
                        tr { th scope="row" { (name) } td.num { (format!("{ms:.1} ms")) } }
                    }
                }
            }
        }
        @for (key, title) in [("console_errors", "Console errors"), ("failed_requests", "Failed requests")] {
            @if let Some(items) = list(key) {
                h4 { (title) }
                (value(&Value::Array(items.clone()), 1))
            }
        }
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

    /// A failed add-to-cart run's evidence as the scenario probe writes it.
    fn scenario_evidence() -> Evidence {
        let mut e = Evidence::default();
        e.insert(
            "steps",
            serde_json::json!([
                {"index": 0, "name": "product page", "action": "GET /product/42", "status": 200,
                 "ok": true, "ms": 12.3, "timing": {"dns_ms": 0.4, "connect_ms": 0.2, "first_byte_ms": 11.0, "total_ms": 12.3}},
                {"index": 1, "name": "add <b>to</b> cart", "action": "POST /cart/add", "status": 400,
                 "ok": false, "ms": 3.0, "error": "expected status 303, got 400"},
                {"index": 2, "name": "cart", "action": "GET /cart", "ok": false, "skipped": true},
                {"index": 3, "name": "empty cart", "action": "POST /cart/clear", "status": 303,
                 "ok": true, "ms": 2.0, "cleanup": true},
            ]),
        );
        e.insert(
            "failed_step",
            serde_json::json!({"index": 1, "name": "add <b>to</b> cart", "response": {
                "status": 400, "url": "https://www.demo-shop.test/cart/add",
                "headers": {"content-type": "text/html", "set-cookie": "[redacted]"},
                "body_excerpt": "<h1>Invalid form key</h1><script>alert(1)</script>"}}),
        );
        e.insert(
            "browser",
            serde_json::json!({"navigation": {"ttfb_ms": 8.0, "dom_content_loaded_ms": 40.5, "load_ms": 52.0},
                "lcp_ms": 61.2, "console_errors": ["TypeError: cart.addItem is not a function"],
                "failed_requests": []}),
        );
        e
    }

    #[test]
    fn a_scenario_shows_its_steps_the_failing_response_as_text_and_the_browser_timings() {
        let html = render(&scenario_evidence()).into_string();
        let doc = scraper::Html::parse_fragment(&html);
        let texts = |sel: &str| -> Vec<String> {
            let sel = scraper::Selector::parse(sel).expect("a selector");
            doc.select(&sel)
                .map(|e| e.text().collect::<String>().trim().to_owned())
                .collect()
        };
        assert_eq!(
            texts("h3"),
            ["Steps", "Response of the failing step", "In the browser"],
            "{html}"
        );
        assert_eq!(
            texts("table.scenario tbody th"),
            [
                "product page",
                "add <b>to</b> cart",
                "cart",
                "empty cart cleanup"
            ]
        );
        assert_eq!(
            texts("table.scenario tbody td:last-child"),
            [
                "ok",
                "failed: expected status 303, got 400",
                "skipped",
                "ok"
            ]
        );
        assert_eq!(texts("table.scenario tr.failed td:nth-child(4)"), ["400"]);
        assert_eq!(
            texts("table.scenario tbody tr:first-child td:nth-child(5)"),
            ["12.3 msDNS 0.4, connect 0.2, first byte 11.0"]
        );
        assert_eq!(
            texts("pre.body-excerpt"),
            ["<h1>Invalid form key</h1><script>alert(1)</script>"],
            "the response is shown as text"
        );
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert_eq!(texts("dl.headers dd"), ["text/html", "[redacted]"]);
        assert_eq!(
            texts("table.timing th"),
            [
                "first byte",
                "DOM content loaded",
                "load",
                "largest contentful paint"
            ]
        );
        assert_eq!(texts("h4"), ["Console errors"], "no empty failed requests");
        assert!(html.contains("TypeError: cart.addItem is not a function"));
    }

    #[test]
    fn a_dns_walk_keeps_its_own_rendering() {
        let mut e = Evidence::default();
        e.insert(
            "steps",
            serde_json::json!([{"question": "example.test. A", "server": "127.0.0.1", "rcode": "NOERROR"}]),
        );
        let html = render(&e).into_string();
        assert!(html.contains("<h3>DNS walk</h3>"), "{html}");
        assert!(!html.contains("table"), "{html}");
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
