//! The report as one self-contained HTML page: no external resource of any
//! kind (styles inline, charts as inline SVG, no scripts, no fonts, no
//! images), every text from the store or the configuration escaped, and
//! print CSS for A4 so that a browser's "print to PDF" gives clean pages
//! (sections and table rows never cut, table heads repeated).

use crate::account::Class;
use crate::render::{dur, dur_f, percent};
use crate::report::{DayFigure, Report};
use keepup_model::Timestamp;
use keepup_model::text::html_escape as h;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Intervals listed in the page's appendix at most; the JSON has them all.
const MAX_INTERVAL_ROWS: usize = 500;
/// Incidents drawn as rows of the timeline at most; the table lists all.
const MAX_TIMELINE_ROWS: usize = 30;

const STYLE: &str = r#"
:root { --up:#2e7d32; --down:#c62828; --degraded:#ef6c00; --unknown:#9e9e9e; --maint:#1565c0; --ink:#1b1b1b; --muted:#5f6368; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); max-width: 1100px; margin: 24px auto; padding: 0 24px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 2px solid #e0e0e0; padding-bottom: 4px; break-after: avoid; }
h3 { font-size: 15px; margin: 16px 0 4px; break-after: avoid; }
.sub { color: var(--muted); margin: 0 0 16px; }
.nodata { border: 2px solid var(--unknown); background: #f5f5f5; padding: 12px 16px; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #e0e0e0; border-radius: 6px; padding: 10px 14px; min-width: 150px; break-inside: avoid; }
.card b { display: block; font-size: 20px; }
.card span { color: var(--muted); font-size: 12px; }
.met { color: var(--up); } .missed { color: var(--down); }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e0e0e0; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #fafafa; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.time { white-space: nowrap; font-variant-numeric: tabular-nums; }
tr.breach td { background: #fdecea; }
.muted { color: var(--muted); }
ol.steps li { margin: 2px 0; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 11px system-ui, sans-serif; fill: var(--muted); }
section { margin-bottom: 8px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; color: var(--muted); }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
@page { size: A4; margin: 14mm 12mm 16mm; }
@media print {
  body { margin: 0; padding: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; page-break-after: avoid; }
  section.keep, .cards, svg, figure { break-inside: avoid; page-break-inside: avoid; }
  tr, .card { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  section.appendix { break-before: page; page-break-before: always; }
  a { color: inherit; text-decoration: none; }
}
"#;

fn class_colour(c: Class) -> &'static str {
    match c {
        Class::Down | Class::MaintenanceOverrun => "var(--down)",
        Class::Degraded => "var(--degraded)",
        Class::Unknown => "var(--unknown)",
        Class::Maintenance => "var(--maint)",
    }
}

fn severity_colour(s: &str) -> &'static str {
    match s {
        "critical" => "var(--down)",
        "major" => "var(--degraded)",
        _ => "#f9a825",
    }
}

/// Writes the report as HTML.
pub fn render_html(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    let title = format!(
        "SLA report {}: {} ({})",
        f.period, r.contract_name, f.contract
    );
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        h(&title)
    )?;
    writeln!(w, "<header><h1>{}</h1>", h(&title))?;
    writeln!(
        w,
        "<p class=\"sub\">Site <b>{}</b> · service down when <code>{}</code> · period {} to {} ({}){} · generated {}</p></header>",
        h(&f.site),
        h(&f.service),
        h(&f.local(f.from)),
        h(&f.local(f.to)),
        h(&f.time_zone),
        if f.measured_to < f.to {
            format!(", measured up to {}", h(&f.local(f.measured_to)))
        } else {
            String::new()
        },
        h(&f.local(r.generated_at)),
    )?;
    summary(r, w)?;
    daily_chart(r, w)?;
    timeline(r, w)?;
    latency(r, w)?;
    incidents(r, w)?;
    credit(r, w)?;
    maintenance(r, w)?;
    escalations(r, w)?;
    security(r, w)?;
    backups(r, w)?;
    drills(r, w)?;
    let listed: std::collections::HashSet<i64> = f.incidents.iter().map(|i| i.id).collect();
    crate::actions::html(&r.actions, |t| f.local(t), &listed, w)?;
    crate::capacity::html(r.capacity.as_ref(), |t| r.figures.local(t), w)?;
    forecasts(r, w)?;
    appendix(r, w)?;
    writeln!(w, "</body>\n</html>")
}

fn summary(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section class=\"keep\"><h2>Summary</h2>")?;
    if f.availability.is_none() {
        writeln!(
            w,
            "<p class=\"nodata\">No data: keepup recorded no status of this service in the service time of this period, so there is no availability figure (it is not 100 %).</p>"
        )?;
    }
    let (verdict, class) = match f.met {
        Some(true) => ("target met", "met"),
        Some(false) => ("target missed", "missed"),
        None => ("no data", "muted"),
    };
    let budget = f.budget.map_or("-".to_owned(), |b| {
        format!(
            "{} of {} used, {} {}",
            dur_f(b.used_ms),
            dur_f(b.allowed_ms),
            dur_f(b.remaining_ms.abs()),
            if b.remaining_ms >= 0.0 {
                "left"
            } else {
                "over"
            }
        )
    });
    let cards = [
        format!(
            "<b class=\"{class}\">{}</b><span>availability, {verdict} ({} %)</span>",
            h(&percent(f.availability)),
            f.target
        ),
        format!("<b>{}</b><span>downtime</span>", h(&dur_f(f.downtime_ms))),
        format!(
            "<b>{}</b><span>unknown (no data)</span>",
            h(&dur(f.unknown_ms))
        ),
        format!(
            "<b>{}</b><span>maintenance ({} beyond allowance)</span>",
            h(&dur(f.maintenance_ms + f.maintenance_overrun_ms)),
            h(&dur(f.maintenance_overrun_ms))
        ),
        format!("<b>{}</b><span>incidents counted</span>", f.incident_count),
        format!(
            "<b>{:.2} {}</b><span>credit owed</span>",
            f.credit.total,
            h(&f.credit.currency)
        ),
    ];
    writeln!(w, "<div class=\"cards\">")?;
    for c in cards {
        writeln!(w, "<div class=\"card\">{c}</div>")?;
    }
    writeln!(w, "</div>")?;
    let rows = [
        ("Target", format!("{} %", f.target)),
        ("Achieved", percent(f.availability)),
        ("Service time", dur(f.service_ms)),
        (
            "Measured time",
            format!(
                "{} (service time less excluded maintenance and unknown time)",
                dur(f.measured_ms)
            ),
        ),
        (
            "Downtime",
            format!(
                "{} (down {}, degraded {}, maintenance beyond allowance {})",
                dur_f(f.downtime_ms),
                dur(f.down_ms),
                dur(f.degraded_ms),
                dur(f.maintenance_overrun_ms)
            ),
        ),
        ("Unknown (no data)", dur(f.unknown_ms)),
        ("Maintenance excluded", dur(f.maintenance_ms)),
        ("Error budget", budget),
        (
            "MTTD / MTTA / MTTR",
            format!(
                "{} / {} / {}",
                f.mttd_ms.map_or("-".into(), dur),
                f.mtta_ms.map_or("-".into(), dur),
                f.mttr_ms.map_or("-".into(), dur)
            ),
        ),
        (
            "Repair-time breaches",
            if f.breaches.is_empty() {
                "none".to_owned()
            } else {
                f.breaches
                    .iter()
                    .map(|(s, n)| format!("{s} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ),
        (
            "Credit",
            format!("{:.2} {}", f.credit.total, f.credit.currency),
        ),
    ];
    writeln!(w, "<table class=\"summary\"><tbody>")?;
    for (k, v) in rows {
        writeln!(w, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(&v))?;
    }
    writeln!(w, "</tbody></table></section>")
}

/// The lowest value of the daily chart's axis: a round figure below every
/// day's availability and the target, so small differences stay visible.
fn axis_floor(days: &[DayFigure], target: f64) -> f64 {
    let lowest = days
        .iter()
        .filter_map(|d| d.availability)
        .fold(target, f64::min);
    [99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0, 0.0]
        .into_iter()
        .find(|f| *f < lowest)
        .unwrap_or(0.0)
}

fn daily_chart(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section class=\"keep\"><h2>Daily availability</h2>")?;
    if r.days.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No days in this period.</p></section>"
        );
    }
    let (width, height, left, top, bottom) = (1000.0, 220.0, 66.0, 10.0, 30.0);
    let plot_w = width - left - 10.0;
    let plot_h = height - top - bottom;
    let lo = axis_floor(&r.days, f.target);
    let y = |v: f64| top + plot_h * (1.0 - ((v - lo) / (100.0 - lo)).clamp(0.0, 1.0));
    let slot = plot_w / r.days.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"daily availability\">"
    );
    for v in [lo, (lo + 100.0) / 2.0, 100.0] {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2} %</text>",
            width - 10.0,
            left - 4.0,
            y(v) + 4.0,
            y = y(v)
        );
    }
    for (n, d) in r.days.iter().enumerate() {
        let x = left + n as f64 * slot + slot * 0.15;
        let bw = slot * 0.7;
        let tip = format!(
            "{}: {}, downtime {}",
            d.date,
            percent(d.availability),
            dur_f(d.downtime_ms)
        );
        match d.availability {
            Some(a) => {
                let colour = if a >= f.target {
                    "var(--up)"
                } else {
                    "var(--down)"
                };
                let top_y = y(a);
                let _ = write!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{top_y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{colour}\"><title>{}</title></rect>",
                    (top + plot_h - top_y).max(1.0),
                    h(&tip)
                );
            }
            None => {
                let _ = write!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"4\" fill=\"var(--unknown)\"><title>{}</title></rect>",
                    top + plot_h - 4.0,
                    h(&tip)
                );
            }
        }
        let day_of_month = d.date.rsplit('-').next().unwrap_or("");
        if r.days.len() <= 16 || n % 2 == 0 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + bw / 2.0,
                height - 12.0,
                h(day_of_month)
            );
        }
    }
    let ty = y(f.target);
    let _ = write!(
        s,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\" stroke=\"var(--ink)\" stroke-dasharray=\"5 4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">target {} %</text></svg>",
        width - 10.0,
        width - 12.0,
        ty - 4.0,
        f.target
    );
    writeln!(w, "{s}")?;
    writeln!(
        w,
        "<p class=\"legend\"><span><i style=\"background:var(--up)\"></i>target met</span><span><i style=\"background:var(--down)\"></i>below target</span><span><i style=\"background:var(--unknown)\"></i>no data</span></p></section>"
    )
}

/// The stretch the time charts show: the period, less unknown time at its
/// start (a month whose monitoring began on the 5th would otherwise squeeze
/// its data into a sliver) and anything after the measured end.
fn chart_range(f: &crate::account::Figures) -> (Timestamp, Timestamp) {
    let end = if f.measured_to > f.from {
        f.measured_to
    } else {
        f.to
    };
    let start = match f.intervals.first() {
        Some(i) if i.class == Class::Unknown && i.from == f.from && i.to < end => i.to,
        _ => f.from,
    };
    (start, end.max(start + 1))
}

/// Five labelled ticks over `[a, b)`: dates over long stretches, times of
/// day over short ones, on the contract's clock.
fn time_ticks(f: &crate::account::Figures, a: Timestamp, b: Timestamp) -> Vec<(Timestamp, String)> {
    let zone = f.zone();
    let format = if b - a > 2 * 86_400_000 {
        "%Y-%m-%d"
    } else if b - a > 3_600_000 {
        "%m-%d %H:%M"
    } else {
        "%H:%M:%S"
    };
    (0..5)
        .map(|n| {
            let at = a + (b - a) * n / 4;
            let label = jiff::Timestamp::from_millisecond(at)
                .map(|t| t.to_zoned(zone.clone()).strftime(format).to_string())
                .unwrap_or_default();
            (at, label)
        })
        .collect()
}

/// The last tick's label ends at the chart's edge instead of crossing it.
fn tick_anchor(at: Timestamp, end: Timestamp) -> &'static str {
    if at >= end { "end" } else { "middle" }
}

fn timeline(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section class=\"keep\"><h2>Incident timeline</h2>")?;
    let (start, _) = chart_range(f);
    if start > f.from {
        writeln!(
            w,
            "<p class=\"sub\">From {}, the first data of the period (before it: no data).</p>",
            h(&f.local(start))
        )?;
    }
    let rows: Vec<_> = f.incidents.iter().take(MAX_TIMELINE_ROWS).collect();
    let (width, left, row_h, top) = (1000.0, 190.0, 18.0, 28.0);
    let height = top + row_h * rows.len() as f64 + 24.0;
    let (start, end) = chart_range(f);
    let span = (end - start) as f64;
    let plot_w = width - left - 10.0;
    let x = |t: Timestamp| left + plot_w * ((t - start) as f64 / span).clamp(0.0, 1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"incident timeline\">"
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"16\" text-anchor=\"end\">service</text><rect x=\"{left}\" y=\"6\" width=\"{plot_w}\" height=\"14\" fill=\"#e8f5e9\"/>",
        left - 6.0
    );
    // Stretches of one class less than a pixel apart are drawn as one: a
    // month of a thousand flapping checks has tens of thousands of them.
    let ms_per_pixel = span / plot_w;
    let mut draw = |from: Timestamp, to: Timestamp, class: Class| {
        let (a, b) = (x(from), x(to));
        let _ = write!(
            s,
            "<rect x=\"{a:.1}\" y=\"6\" width=\"{:.1}\" height=\"14\" fill=\"{}\"><title>{}</title></rect>",
            (b - a).max(1.0),
            class_colour(class),
            h(&format!(
                "{} {} → {}",
                class.as_str(),
                f.local(from),
                f.local(to)
            ))
        );
    };
    let mut pending: Option<(Timestamp, Timestamp, Class)> = None;
    for i in &f.intervals {
        match pending {
            Some((from, to, class)) if class == i.class && (i.from - to) as f64 <= ms_per_pixel => {
                pending = Some((from, to.max(i.to), class));
            }
            _ => {
                if let Some((from, to, class)) = pending {
                    draw(from, to, class);
                }
                pending = Some((i.from, i.to, i.class));
            }
        }
    }
    if let Some((from, to, class)) = pending {
        draw(from, to, class);
    }
    for (n, i) in rows.iter().enumerate() {
        let y = top + n as f64 * row_h;
        let (a, b) = (x(i.in_period.0), x(i.in_period.1));
        let label = format!("#{} {}", i.id, i.check);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}</title></rect>",
            left - 6.0,
            y + 12.0,
            h(&label),
            y + 2.0,
            (b - a).max(2.0),
            row_h - 5.0,
            severity_colour(i.severity),
            h(&format!("{label}: {}", i.message))
        );
    }
    let axis_y = height - 8.0;
    for (at, label) in time_ticks(f, start, end) {
        let _ = write!(
            s,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"6\" y2=\"{1:.1}\" stroke=\"#e0e0e0\"/><text x=\"{0:.1}\" y=\"{axis_y:.1}\" text-anchor=\"{3}\">{2}</text>",
            x(at),
            height - 20.0,
            h(&label),
            tick_anchor(at, end)
        );
    }
    s.push_str("</svg>");
    writeln!(w, "{s}")?;
    if f.incidents.is_empty() {
        writeln!(w, "<p class=\"muted\">No incidents in this period.</p>")?;
    } else if f.incidents.len() > rows.len() {
        writeln!(
            w,
            "<p class=\"muted\">The first {} of {} incidents are drawn; the table lists all.</p>",
            rows.len(),
            f.incidents.len()
        )?;
    }
    writeln!(
        w,
        "<p class=\"legend\"><span><i style=\"background:var(--down)\"></i>down / critical</span><span><i style=\"background:var(--degraded)\"></i>degraded / major</span><span><i style=\"background:var(--unknown)\"></i>no data</span><span><i style=\"background:var(--maint)\"></i>maintenance</span></p></section>"
    )
}

/// Picks one percentile of a latency point.
type PointValue = fn(&crate::report::LatencyPoint) -> f64;

fn latency(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section class=\"keep\"><h2>Latency</h2>")?;
    let Some(series) = r.latency.as_ref().filter(|l| !l.points.is_empty()) else {
        return writeln!(
            w,
            "<p class=\"muted\">No latency rollups of the service's main check in this period.</p></section>"
        );
    };
    writeln!(
        w,
        "<p class=\"sub\">{}: percentiles per {} from the store's rollups.</p>",
        h(&series.check),
        h(&series.resolution)
    )?;
    let (width, height, left, top, bottom) = (1000.0, 200.0, 66.0, 10.0, 24.0);
    let plot_w = width - left - 10.0;
    let plot_h = height - top - bottom;
    let max = series
        .points
        .iter()
        .map(|p| p.p99_ms)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let (start, end) = chart_range(f);
    let span = (end - start) as f64;
    let x = |t: Timestamp| left + plot_w * ((t - start) as f64 / span).clamp(0.0, 1.0);
    let y = |v: f64| top + plot_h * (1.0 - (v / max).clamp(0.0, 1.0));
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"latency percentiles\">"
    );
    for v in [0.0, max / 2.0, max] {
        let _ = write!(
            s,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#e0e0e0\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{} ms</text>",
            width - 10.0,
            left - 4.0,
            y(v) + 4.0,
            // Whole milliseconds unless the scale is that small.
            if max >= 10.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.2}")
            },
            yy = y(v)
        );
    }
    for (at, label) in time_ticks(f, start, end) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{}\">{}</text>",
            x(at),
            height - 6.0,
            tick_anchor(at, end),
            h(&label)
        );
    }
    let lines: [(&str, &str, PointValue); 3] = [
        ("p50", "var(--up)", |p| p.p50_ms),
        ("p95", "var(--degraded)", |p| p.p95_ms),
        ("p99", "var(--down)", |p| p.p99_ms),
    ];
    for (name, colour, value) in lines {
        let points: Vec<String> = series
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.at), y(value(p))))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"><title>{name}</title></polyline>",
            points.join(" ")
        );
    }
    s.push_str("</svg>");
    writeln!(w, "{s}")?;
    writeln!(
        w,
        "<p class=\"legend\"><span><i style=\"background:var(--up)\"></i>p50</span><span><i style=\"background:var(--degraded)\"></i>p95</span><span><i style=\"background:var(--down)\"></i>p99</span></p></section>"
    )
}

/// `03-10 09:30:00 CET`: the year is the period's (in the page's header),
/// so the incident table's times fit a printed A4 line.
fn short_time(f: &crate::account::Figures, at: Timestamp) -> String {
    let format = if at % 1000 != 0 {
        "%m-%d %H:%M:%S%.3f %Z"
    } else {
        "%m-%d %H:%M:%S %Z"
    };
    jiff::Timestamp::from_millisecond(at).map_or_else(
        |_| f.local(at),
        |t| t.to_zoned(f.zone()).strftime(format).to_string(),
    )
}

fn incidents(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Incidents</h2>")?;
    if f.incidents.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No incidents of the service in this period.</p></section>"
        );
    }
    writeln!(
        w,
        "<table class=\"incidents\"><thead><tr><th>#</th><th>Check</th><th>Severity</th><th>First failure</th><th>Detected</th><th>Resolved</th><th>Cause</th><th>Root cause</th><th class=\"num\">Repair time</th><th>Breach</th></tr></thead><tbody>"
    )?;
    let roots = r.root_causes_by_incident();
    for i in &f.incidents {
        let breached = i.repair.as_ref().is_some_and(|r| r.breached);
        let root = roots
            .get(&i.id)
            .map(|c| format!("#{} {}: {}", c.root, c.check, c.message))
            .unwrap_or_else(|| "itself".to_owned());
        let repair = match &i.repair {
            Some(rep) => format!(
                "{} of {}{}",
                dur(rep.measured_ms),
                rep.limit,
                if rep.open { " (open)" } else { "" }
            ),
            None if i.maintenance => "opened in maintenance, not counted".to_owned(),
            None if !i.counted => "counted in the period it was detected in".to_owned(),
            None if i.caused_by.is_some() => "counted under its cause".to_owned(),
            None => i
                .resolved_at
                .map_or("open".to_owned(), |res| dur(res - i.detected_at)),
        };
        writeln!(
            w,
            "<tr id=\"incident-{}\" class=\"incident{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            i.id,
            if breached { " breach" } else { "" },
            i.id,
            h(&i.check),
            h(i.severity),
            h(&short_time(f, i.opened_at)),
            h(&short_time(f, i.detected_at)),
            h(&i.resolved_at
                .map_or("open".to_owned(), |t| short_time(f, t))),
            h(&i.message),
            h(&root),
            h(&repair),
            if breached { "BREACHED" } else { "no" }
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

fn credit(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    let c = &f.credit;
    let t = &r.credit_terms;
    let cur = h(&c.currency);
    writeln!(
        w,
        "<section class=\"keep\"><h2>Credit, step by step</h2><ol class=\"steps\">"
    )?;
    if c.fee == 0.0 {
        writeln!(
            w,
            "<li class=\"step\">The contract names no monthly fee: no credit is computed.</li></ol></section>"
        )?;
        return Ok(());
    }
    writeln!(
        w,
        "<li class=\"step\">Fee of the period: {:.2} {cur} a month × {} month(s) = {:.2} {cur}.</li>",
        t.monthly_fee,
        if t.monthly_fee > 0.0 {
            (c.fee / t.monthly_fee).round()
        } else {
            0.0
        },
        c.fee
    )?;
    let tiers: Vec<String> = t
        .tiers
        .iter()
        .map(|t| format!("below {} %: {} %", t.below, t.percent))
        .collect();
    writeln!(
        w,
        "<li class=\"step\">Availability {} against the tiers ({}): {}.</li>",
        h(&percent(f.availability)),
        h(&if tiers.is_empty() {
            "none".to_owned()
        } else {
            tiers.join("; ")
        }),
        match (f.availability, c.tier) {
            (None, _) => "no data, so no tier applies".to_owned(),
            (Some(_), None) => "no tier applies".to_owned(),
            (Some(_), Some(tier)) => format!(
                "the tier below {} % applies: {} % of {:.2} = {:.2} {cur}",
                tier.below, tier.percent, c.fee, c.tier_amount
            ),
        }
    )?;
    writeln!(
        w,
        "<li class=\"step\">Repair-time breaches: {} × {:.2} {cur} = {:.2} {cur}.</li>",
        c.breaches, t.per_repair_breach, c.breach_amount
    )?;
    writeln!(
        w,
        "<li class=\"step\">Sum: {:.2} + {:.2} = {:.2} {cur}; cap {} % of the fee = {:.2} {cur}.</li>",
        c.tier_amount,
        c.breach_amount,
        c.tier_amount + c.breach_amount,
        t.cap_percent,
        c.cap
    )?;
    writeln!(
        w,
        "<li class=\"step\"><b>Credit owed: {:.2} {cur}</b>.</li></ol></section>",
        c.total
    )
}

fn maintenance(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Maintenance performed</h2>")?;
    if r.maintenance.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No maintenance of the service in this period.</p></section>"
        );
    }
    writeln!(
        w,
        "<p>{} excluded within the allowance, {} beyond it (counted as downtime), in service time.</p>",
        h(&dur(f.maintenance_ms)),
        h(&dur(f.maintenance_overrun_ms))
    )?;
    writeln!(
        w,
        "<table><thead><tr><th>Window</th><th>From</th><th>To</th><th class=\"num\">Duration</th></tr></thead><tbody>"
    )?;
    for m in &r.maintenance {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            h(&m.id),
            h(&f.local(m.from)),
            h(&f.local(m.to)),
            h(&dur(m.to - m.from))
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

fn escalations(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Escalations</h2>")?;
    if r.escalations.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No incidents, so nothing was escalated.</p></section>"
        );
    }
    writeln!(
        w,
        "<table><thead><tr><th>Incident</th><th>Notifications</th><th>Acknowledged</th></tr></thead><tbody>"
    )?;
    for e in &r.escalations {
        let sent: Vec<String> = e
            .notifications
            .iter()
            .map(|n| {
                let mut s = format!("{} via {}: {}", f.local(n.created_at), n.channel, n.state);
                if let Some(at) = n.sent_at {
                    let _ = write!(s, " {}", f.local(at));
                }
                if let Some(err) = &n.error {
                    let _ = write!(s, " ({err})");
                }
                h(&s)
            })
            .collect();
        let ack = match (e.acknowledged_at, &e.acknowledged_by) {
            (Some(at), Some(by)) => format!("{} by {by}", f.local(at)),
            (Some(at), None) => f.local(at),
            (None, _) => "no".to_owned(),
        };
        writeln!(
            w,
            "<tr><td>#{}</td><td>{}</td><td>{}</td></tr>",
            e.incident,
            if sent.is_empty() {
                "none recorded".to_owned()
            } else {
                sent.join("<br>")
            },
            h(&ack)
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

fn security(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Security-relevant events</h2>")?;
    writeln!(
        w,
        "<p class=\"sub\">Certificate, domain, DNS, blacklist and security.txt findings of the site's checks (from the incidents and the raw results still kept). Failed logins: not recorded by keepup.</p>"
    )?;
    if r.security.is_empty() {
        return writeln!(w, "<p class=\"muted\">None in this period.</p></section>");
    }
    writeln!(
        w,
        "<table><thead><tr><th>Check</th><th>Code</th><th>Severity</th><th>What</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>"
    )?;
    for s in &r.security {
        writeln!(
            w,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h(&s.check),
            h(&s.code),
            h(&s.severity),
            h(&s.text),
            h(&f.local(s.first)),
            h(&f.local(s.last))
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

fn backups(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Backups</h2>")?;
    if r.backups.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">The site has no backup checks.</p></section>"
        );
    }
    writeln!(
        w,
        "<table><thead><tr><th>Check</th><th>Status</th><th>Last result</th><th>Message</th><th class=\"num\">Failing in period</th></tr></thead><tbody>"
    )?;
    for b in &r.backups {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            h(&b.name),
            h(b.status.as_deref().unwrap_or("no result")),
            h(&b.last_at.map_or("-".to_owned(), |t| f.local(t))),
            h(&b.message),
            h(&dur(b.failing_ms))
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

/// A measured figure against its target: `"12m (target 4h)"`, marked
/// missed when over it.
fn against(ms: Option<i64>, met: Option<bool>, target_ms: i64) -> String {
    match (ms, met) {
        (Some(ms), Some(met)) => format!(
            "<span class=\"{}\">{}</span> <span class=\"muted\">(target {})</span>",
            if met { "met" } else { "missed" },
            h(&dur(ms)),
            h(&dur(target_ms))
        ),
        _ => format!(
            "<span class=\"muted\">not measured (target {})</span>",
            h(&dur(target_ms))
        ),
    }
}

fn drills(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(w, "<section><h2>Disaster-recovery drills</h2>")?;
    if r.drills.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">The site has no disaster-recovery plan.</p></section>"
        );
    }
    writeln!(
        w,
        "<p class=\"sub\">Each drill restores the backups onto a separate environment, switches a drill name and verifies the shop there: RTO is the time from its start to the shop answering, RPO the age of the data it restored.</p>"
    )?;
    for p in &r.drills {
        let last = p.last_success.as_ref().map_or_else(
            || "never".to_owned(),
            |d| {
                format!(
                    "{} (run {})",
                    f.local(d.ended_at.unwrap_or(d.started_at)),
                    d.run
                )
            },
        );
        let id = if p.name == p.plan {
            String::new()
        } else {
            format!(" <span class=\"muted\">({})</span>", h(&p.plan))
        };
        writeln!(
            w,
            "<h3>{}{id}</h3><p>Last successful drill: <b>{}</b></p>",
            h(&p.name),
            h(&last)
        )?;
        if p.drills.is_empty() {
            writeln!(w, "<p class=\"muted\">No drill in this period.</p>")?;
            continue;
        }
        writeln!(
            w,
            "<table><thead><tr><th class=\"num\">Run</th><th>Started</th><th>Outcome</th><th>RTO</th><th>RPO</th></tr></thead><tbody>"
        )?;
        for d in &p.drills {
            let failed = d.outcome == "failed" || d.outcome == "aborted";
            writeln!(
                w,
                "<tr{}><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if failed { " class=\"breach\"" } else { "" },
                d.run,
                h(&f.local(d.started_at)),
                h(&d.outcome),
                against(d.rto_ms, d.rto_met, p.rto_target_ms),
                against(d.rpo_ms, d.rpo_met, p.rpo_target_ms)
            )?;
        }
        writeln!(w, "</tbody></table>")?;
    }
    writeln!(w, "</section>")
}

/// Days for people: one decimal under ten.
fn days(d: f64) -> String {
    if d < 10.0 {
        format!("{d:.1}")
    } else {
        format!("{d:.0}")
    }
}

fn forecasts(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(
        w,
        "<section><h2>Capacity forecasts: what runs out within the next quarter</h2>"
    )?;
    if r.forecasts.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No forecast measure runs out within {} days at its current growth.</p></section>",
            crate::report::FORECAST_HORIZON_DAYS
        );
    }
    writeln!(
        w,
        "<p class=\"sub\">At the growth of each measure's recent samples (a robust straight line through its forecast window), as of the check's last result of the period; the range is the growth's 95 % interval.</p>"
    )?;
    writeln!(
        w,
        "<table><thead><tr><th>Check</th><th>Measure</th><th>Full at</th><th class=\"num\">Days left</th><th>Range</th><th>As of</th></tr></thead><tbody>"
    )?;
    for c in &r.forecasts {
        let range = match c.days_left_high {
            Some(high) => format!("{}–{}", days(c.days_left_low), days(high)),
            None => format!("{} or more", days(c.days_left_low)),
        };
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"time\">{}</td></tr>",
            h(&c.name),
            h(&c.what),
            h(&c.limit),
            h(&days(c.days_left)),
            h(&range),
            h(&f.local(c.at))
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}

/// The checks or windows behind an interval, the first few of them: when a
/// thousand checks are down together, the JSON has them all.
fn because(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = names
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        let _ = write!(text, " and {} more", names.len() - SHOWN);
    }
    text
}

fn appendix(r: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &r.figures;
    writeln!(
        w,
        "<section class=\"appendix\"><h2>Appendix: every interval that was not plainly up</h2>"
    )?;
    if f.intervals.is_empty() {
        return writeln!(w, "<p class=\"muted\">None.</p></section>");
    }
    writeln!(
        w,
        "<table><thead><tr><th>How it counted</th><th>From</th><th>To</th><th class=\"num\">Duration</th><th>Because of</th></tr></thead><tbody>"
    )?;
    for i in f.intervals.iter().take(MAX_INTERVAL_ROWS) {
        writeln!(
            w,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            h(i.class.as_str()),
            h(&f.local(i.from)),
            h(&f.local(i.to)),
            h(&dur(i.to - i.from)),
            h(&because(&i.because))
        )?;
    }
    writeln!(w, "</tbody></table>")?;
    if f.intervals.len() > MAX_INTERVAL_ROWS {
        writeln!(
            w,
            "<p class=\"muted\">{} more in the JSON report.</p>",
            f.intervals.len() - MAX_INTERVAL_ROWS
        )?;
    }
    writeln!(w, "</section>")
}
