//! Charts as inline SVG, drawn on the server: a latency sparkline, a status
//! band and a latency percentile chart. Colours come from classes the
//! stylesheet defines (the CSP forbids `style` attributes), geometry from
//! attributes; every chart has a text alternative for screen readers.

use keepup_model::{Status, Timestamp};
use keepup_store::{Rollup, StatusSpan};
use maud::{Markup, html};

/// Width of the sparkline in SVG units.
const SPARK_W: f64 = 120.0;
/// Height of the sparkline.
const SPARK_H: f64 = 24.0;

/// A small line of latencies (`None` where there is no data, a gap),
/// scaled to its own maximum.
pub fn sparkline(points: &[Option<f64>], label: &str) -> Markup {
    let max = points.iter().flatten().copied().fold(0.0_f64, f64::max);
    let n = points.len();
    let segments = if n < 2 || max <= 0.0 {
        Vec::new()
    } else {
        let step = SPARK_W / (n - 1) as f64;
        let y = |v: f64| SPARK_H - 1.0 - (v / max) * (SPARK_H - 2.0);
        segments(points, |i, v| (i as f64 * step, y(v)))
    };
    html! {
        svg.spark viewBox=(format!("0 0 {SPARK_W} {SPARK_H}")) width=(SPARK_W) height=(SPARK_H)
            role="img" aria-label=(label) {
            title { (label) }
            @for points in &segments {
                polyline points=(points) {}
            }
        }
    }
}

/// Consecutive points with data as SVG `points` lists, one per unbroken
/// run (a lone point is drawn as a tiny segment so it stays visible).
fn segments(values: &[Option<f64>], at: impl Fn(usize, f64) -> (f64, f64)) -> Vec<String> {
    let mut out = Vec::new();
    let mut run = String::new();
    // The last point of the run, and whether it is the run's only one.
    let mut last: Option<((f64, f64), bool)> = None;
    let mut flush = |run: &mut String, last: &mut Option<((f64, f64), bool)>| {
        if let Some(((x, y), true)) = *last {
            run.push(' ');
            push_point(run, x + 0.5, y);
        }
        if !run.is_empty() {
            out.push(std::mem::take(run));
        }
        *last = None;
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = at(i, *v);
                if last.is_some() {
                    run.push(' ');
                }
                push_point(&mut run, x, y);
                last = Some(((x, y), last.is_none()));
            }
            None => flush(&mut run, &mut last),
        }
    }
    flush(&mut run, &mut last);
    out
}

/// Appends `x,y` with one decimal each. Integer arithmetic: formatting
/// floats with a precision was most of the time a page with a few
/// thousand chart points took (`{:.1}` falls back to a slow exact
/// algorithm for many values).
fn push_point(out: &mut String, x: f64, y: f64) {
    push_tenths(out, x);
    out.push(',');
    push_tenths(out, y);
}

fn push_tenths(out: &mut String, v: f64) {
    use std::fmt::Write;
    let tenths = (v * 10.0).round();
    // Chart coordinates are within a few thousand; anything else (NaN
    // from an empty scale) is drawn at 0.
    let tenths = if tenths.is_finite() { tenths as i64 } else { 0 };
    if tenths < 0 {
        out.push('-');
    }
    let abs = tenths.unsigned_abs();
    // Writing to a String cannot fail.
    let _ = write!(out, "{}.{}", abs / 10, abs % 10);
}

/// The CSS class of a status (shared by badges, cells and chart parts).
pub fn status_class(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Up) => "up",
        Some(Status::Degraded) => "degraded",
        Some(Status::Down) => "down",
        Some(Status::Unknown) => "unknown",
        None => "nodata",
    }
}

/// Columns of the status band: one per SVG unit, so a thousand spans in a
/// day cost at most this many rectangles.
const BAND_COLUMNS: usize = 600;
const BAND_H: f64 = 28.0;

/// How bad a status is, to pick what a column shows when several statuses
/// share it (an outage of seconds stays visible in a 90-day band, and a
/// column with any result is not shown as one without data).
fn badness(status: Option<Status>) -> u8 {
    match status {
        None => 0,
        Some(Status::Up) => 1,
        Some(Status::Unknown) => 2,
        Some(Status::Degraded) => 3,
        Some(Status::Down) => 4,
    }
}

/// A horizontal band of a check's status over `[from, to)` from its status
/// spans: each column shows the worst status in it, and runs of one status
/// are one rectangle with a tooltip.
pub fn status_band(spans: &[StatusSpan], from: Timestamp, to: Timestamp, label: &str) -> Markup {
    let range = (to - from).max(1) as f64;
    let mut columns: Vec<Option<Option<Status>>> = vec![None; BAND_COLUMNS];
    for span in spans {
        let first = (((span.from_ms - from).max(0) as f64 / range) * BAND_COLUMNS as f64) as usize;
        let last = ((((span.to_ms - from).max(0) as f64 / range) * BAND_COLUMNS as f64).ceil()
            as usize)
            .min(BAND_COLUMNS);
        for column in columns.iter_mut().take(last).skip(first) {
            let worse = match column {
                Some(seen) => badness(span.status) > badness(*seen),
                None => true,
            };
            if worse {
                *column = Some(span.status);
            }
        }
    }
    let mut runs: Vec<(usize, usize, Option<Status>)> = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let status = c.unwrap_or(None);
        match runs.last_mut() {
            Some((_, end, s)) if *s == status && *end == i => *end = i + 1,
            _ => runs.push((i, i + 1, status)),
        }
    }
    let at = |column: usize| from + (range * column as f64 / BAND_COLUMNS as f64) as i64;
    html! {
        svg.band viewBox=(format!("0 0 {BAND_COLUMNS} {BAND_H}")) preserveAspectRatio="none"
            role="img" aria-label=(label) {
            @for (start, end, status) in &runs {
                rect class=(status_class(*status)) x=(start) y="0" width=(end - start) height=(BAND_H) {
                    title {
                        (status.map_or("no data", |s| s.as_str())) ": "
                        (keepup_model::format_rfc3339(at(*start))) " – " (keepup_model::format_rfc3339(at(*end)))
                    }
                }
            }
        }
    }
}

const CHART_W: f64 = 800.0;
const CHART_H: f64 = 220.0;
/// Room left of the plot for the axis labels, and below for the dates.
const CHART_LEFT: f64 = 56.0;
const CHART_BOTTOM: f64 = 20.0;

/// The most points one percentile line draws: a day of minute rollups
/// is 1,440 per line, more than the chart has pixels, and writing them
/// was most of the check page's time.
const MAX_LINE_POINTS: usize = 360;

/// `values` in at most `columns` columns of consecutive buckets, each
/// drawn as its minimum and maximum in the order they occur (so a spike
/// or a dip stays on the line), or as one gap when it has no value at
/// all. Returns the kept values with the bucket index each stands at.
fn min_max_columns(values: &[Option<f64>], columns: usize) -> (Vec<usize>, Vec<Option<f64>>) {
    let per_column = values.len().div_ceil(columns.max(1)).max(1);
    let mut at = Vec::new();
    let mut kept = Vec::new();
    for (c, column) in values.chunks(per_column).enumerate() {
        let start = c * per_column;
        let with_value = column
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i, v)));
        let lowest = with_value.clone().min_by(|a, b| a.1.total_cmp(&b.1));
        let highest = with_value.max_by(|a, b| a.1.total_cmp(&b.1));
        match (lowest, highest) {
            (Some(low), Some(high)) if low.0 != high.0 => {
                let (first, second) = if low.0 < high.0 {
                    (low, high)
                } else {
                    (high, low)
                };
                for (i, v) in [first, second] {
                    at.push(start + i);
                    kept.push(Some(v));
                }
            }
            (Some((i, v)), _) => {
                at.push(start + i);
                kept.push(Some(v));
            }
            _ => {
                at.push(start);
                kept.push(None);
            }
        }
    }
    (at, kept)
}

/// Latency percentiles (p50, p95, p99) of rollups over `[from, to)`, one
/// line each, on a shared scale with its maximum and half labelled.
pub fn percentiles(rollups: &[Rollup], from: Timestamp, to: Timestamp, width_ms: i64) -> Markup {
    let max = rollups
        .iter()
        .map(|r| r.latency_p99_ms)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let plot_w = CHART_W - CHART_LEFT;
    let plot_h = CHART_H - CHART_BOTTOM;
    let range = (to - from).max(1) as f64;
    // One value per bucket in the range, None where there is no rollup, so
    // a gap in the data is a gap in the line.
    let buckets = ((to - from) / width_ms.max(1)).max(1) as usize;
    let mut series: [Vec<Option<f64>>; 3] = std::array::from_fn(|_| vec![None; buckets]);
    for r in rollups {
        let i = ((r.bucket_start - from) / width_ms.max(1)) as usize;
        if i < buckets {
            series[0][i] = Some(r.latency_p50_ms);
            series[1][i] = Some(r.latency_p95_ms);
            series[2][i] = Some(r.latency_p99_ms);
        }
    }
    let x = |i: usize| CHART_LEFT + plot_w * (i as f64 * width_ms as f64) / range;
    let y = |v: f64| plot_h - (v / max) * (plot_h - 4.0);
    let label = format!(
        "Latency percentiles from {} to {}, at most {max:.1} ms",
        keepup_model::format_rfc3339(from),
        keepup_model::format_rfc3339(to),
    );
    let names = ["p50", "p95", "p99"];
    let ms = |v: f64| {
        if max < 10.0 {
            format!("{v:.1} ms")
        } else {
            format!("{v:.0} ms")
        }
    };
    html! {
        figure.chart {
            svg.percentiles viewBox=(format!("0 0 {CHART_W} {CHART_H}")) role="img" aria-label=(label) {
                title { (label) }
                line.axis x1=(CHART_LEFT) y1=(plot_h) x2=(CHART_W) y2=(plot_h) {}
                line.grid x1=(CHART_LEFT) y1=(y(max / 2.0)) x2=(CHART_W) y2=(y(max / 2.0)) {}
                line.grid x1=(CHART_LEFT) y1=(y(max)) x2=(CHART_W) y2=(y(max)) {}
                @if !rollups.is_empty() {
                    text.tick x=(CHART_LEFT - 4.0) y=(y(max) + 4.0) text-anchor="end" { (ms(max)) }
                    text.tick x=(CHART_LEFT - 4.0) y=(y(max / 2.0) + 4.0) text-anchor="end" { (ms(max / 2.0)) }
                }
                text.tick x=(CHART_LEFT - 4.0) y=(plot_h + 4.0) text-anchor="end" { "0" }
                text.tick x=(CHART_LEFT) y=(CHART_H - 4.0) { (short_time(from)) }
                text.tick x=(CHART_W) y=(CHART_H - 4.0) text-anchor="end" { (short_time(to)) }
                @for (name, values) in names.iter().zip(&series) {
                    @let (at, values) = min_max_columns(values, MAX_LINE_POINTS / 2);
                    @for points in segments(&values, |i, v| (x(at[i]), y(v))) {
                        polyline class=(name) points=(points) {}
                    }
                }
            }
            figcaption {
                @for name in names {
                    span class=(format!("key {name}")) { (name) }
                    " "
                }
                @if rollups.is_empty() { "No rollups in this range yet (they are built every 5 minutes)." }
            }
        }
    }
}

/// Width and height of the error budget bar.
const BUDGET_W: f64 = 100.0;
const BUDGET_H: f64 = 8.0;

/// The error budget as a bar: the share used (`used_percent`, at most the
/// whole bar; `degraded` colour up to 100 %, `down` beyond) and what is left
/// (`up`); without a budget, an empty bar.
pub fn budget_bar(used_percent: Option<f64>, label: &str) -> Markup {
    let used = used_percent.map(|u| u.clamp(0.0, 100.0));
    let spent = used_percent.is_some_and(|u| u >= 100.0);
    html! {
        svg.budget viewBox=(format!("0 0 {BUDGET_W} {BUDGET_H}")) preserveAspectRatio="none"
            role="img" aria-label=(label) {
            title { (label) }
            @match used {
                Some(used) => {
                    rect.up x=(used) y="0" width=(BUDGET_W - used) height=(BUDGET_H) {}
                    rect class=(if spent { "down" } else { "degraded" }) x="0" y="0" width=(used) height=(BUDGET_H) {}
                }
                None => rect.nodata x="0" y="0" width=(BUDGET_W) height=(BUDGET_H) {},
            }
        }
    }
}

const DAYS_W: f64 = 800.0;
const DAYS_H: f64 = 180.0;

/// One bar per day of a percentage (availability) against `target`: a
/// bar at or above the target is `up`, one below it `down`, a day without
/// data a pale full bar (`nodata`). The scale runs from 100 % down to a
/// floor below both the target and the worst day, so a day just under a
/// 99.9 % target is visibly short. Each bar's tooltip says its day and
/// value (`shown` formats it).
pub fn day_bars(
    days: &[(String, Option<f64>)],
    target: f64,
    label: &str,
    shown: impl Fn(Option<f64>) -> String,
) -> Markup {
    let lowest = days
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(target, f64::min)
        .clamp(0.0, 100.0);
    // Half as much again below the lowest value, down to a tenth of a
    // percent, and never a flat scale.
    let floor = ((100.0 - (100.0 - lowest) * 1.5) * 10.0)
        .floor()
        .clamp(0.0, 990.0)
        / 10.0;
    let plot_w = DAYS_W - CHART_LEFT;
    let plot_h = DAYS_H - CHART_BOTTOM;
    let y = |v: f64| plot_h - ((v - floor) / (100.0 - floor)).clamp(0.0, 1.0) * (plot_h - 4.0);
    let step = plot_w / days.len().max(1) as f64;
    let bar_w = (step * 0.8).max(0.5);
    html! {
        figure.chart {
            svg.days viewBox=(format!("0 0 {DAYS_W} {DAYS_H}")) role="img" aria-label=(label) {
                title { (label) }
                line.axis x1=(CHART_LEFT) y1=(plot_h) x2=(DAYS_W) y2=(plot_h) {}
                text.tick x=(CHART_LEFT - 4.0) y=(y(100.0) + 4.0) text-anchor="end" { "100 %" }
                text.tick x=(CHART_LEFT - 4.0) y=(plot_h + 4.0) text-anchor="end" { (floor) " %" }
                @for (i, (day, value)) in days.iter().enumerate() {
                    @let x = CHART_LEFT + i as f64 * step + (step - bar_w) / 2.0;
                    @let (class, top) = match value {
                        Some(v) if *v >= target => ("up", y(*v)),
                        Some(v) => ("down", y(*v)),
                        None => ("nodata", y(100.0)),
                    };
                    // A day at the floor still shows a sliver.
                    @let top = top.min(plot_h - 1.0);
                    rect class=(class) x=(format!("{x:.1}")) y=(format!("{top:.1}")) width=(format!("{bar_w:.1}")) height=(format!("{:.1}", plot_h - top)) {
                        title { (day) ": " (shown(*value)) }
                    }
                }
                line.target x1=(CHART_LEFT) y1=(y(target)) x2=(DAYS_W) y2=(y(target)) {}
                @if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
                    text.tick x=(CHART_LEFT) y=(DAYS_H - 4.0) { (first) }
                    text.tick x=(DAYS_W) y=(DAYS_H - 4.0) text-anchor="end" { (last) }
                }
            }
            figcaption {
                span.key.up { "target met" } " "
                span.key.down { "below target" } " "
                span.key.nodata { "no data" } " · dashed line: the target, " (target) "\u{a0}%"
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for chart edges.
fn short_time(at: Timestamp) -> String {
    let full = keepup_model::format_rfc3339(at);
    full.get(..16).unwrap_or(&full).replace('T', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_written_with_one_decimal_rounded() {
        let got = segments(
            &[
                Some(0.0),
                Some(12.34),
                Some(-0.26),
                Some(799.96),
                Some(5.05),
            ],
            |_, v| (v, v),
        );
        assert_eq!(
            got,
            ["0.0,0.0 12.3,12.3 -0.3,-0.3 800.0,800.0 5.1,5.1"],
            "as {{:.1}} writes them, except halves round away from zero"
        );
    }

    #[test]
    fn a_day_of_minutes_is_drawn_in_at_most_360_points_keeping_spikes_and_gaps() {
        // 1,440 minutes at 10 ms, a 900 ms spike at minute 700, a 1 ms dip
        // at 701, and no data for minutes 1,000 to 1,099.
        let mut day: Vec<Option<f64>> = vec![Some(10.0); 1440];
        day[700] = Some(900.0);
        day[701] = Some(1.0);
        for minute in &mut day[1000..1100] {
            *minute = None;
        }
        let (at, kept) = min_max_columns(&day, MAX_LINE_POINTS / 2);
        assert!(kept.len() <= MAX_LINE_POINTS, "{} points", kept.len());
        assert_eq!(at.len(), kept.len());
        assert!(at.windows(2).all(|w| w[0] < w[1]), "in time order: {at:?}");
        let spike = at.iter().position(|&i| i == 700).map(|p| kept[p]);
        let dip = at.iter().position(|&i| i == 701).map(|p| kept[p]);
        assert_eq!((spike, dip), (Some(Some(900.0)), Some(Some(1.0))));
        // The hundred missing minutes stay a gap: the line is split there.
        let lines = segments(&kept, |i, v| (at[i] as f64, v));
        assert_eq!(lines.len(), 2, "{lines:?}");
        // A short series is drawn whole.
        let short = [Some(1.0), None, Some(3.0)];
        assert_eq!(
            min_max_columns(&short, 180),
            (vec![0, 1, 2], short.to_vec())
        );
    }

    #[test]
    fn gaps_split_the_line_and_a_lone_point_stays_visible() {
        let got = segments(&[Some(1.0), Some(2.0), None, Some(3.0)], |i, v| {
            (i as f64, v)
        });
        assert_eq!(got, ["0.0,1.0 1.0,2.0", "3.0,3.0 3.5,3.0"]);
    }

    #[test]
    fn a_short_outage_stays_visible_in_a_long_band() {
        let span = |from_ms, to_ms, status| StatusSpan {
            check: 0,
            from_ms,
            to_ms,
            status,
        };
        // One second down in a day of up.
        let day = 86_400_000;
        let spans = [
            span(0, 40_000_000, Some(Status::Up)),
            span(40_000_000, 40_001_000, Some(Status::Down)),
            span(40_001_000, day, Some(Status::Up)),
        ];
        let svg = status_band(&spans, 0, day, "band").into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains("class=\"down\""), "{svg}");
    }
}
