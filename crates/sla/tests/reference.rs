//! The accounting against a deliberately naive reference: generated
//! timelines (overlapping outages across checks, spans across the period's
//! boundaries, Degraded spans, gaps without data), service hours in zones
//! with DST changes inside the month, holidays, and maintenance windows
//! overlapping outages, then every minute of the period sampled on its
//! own: the local clock read for service hours, each check's status looked
//! up by a linear search, the expression evaluated by rules written out
//! here, maintenance judged by evaluating it again with the maintained
//! checks Up, the allowance consumed minute by minute. Every boundary is on a
//! whole minute, so sampling minutes is exact.

mod support;

use keepup_model::{CheckId, Status};
use keepup_sla::{CheckTimeline, Class, Input, MaintenanceSpan, Span, Window, account};
use proptest::prelude::*;
use support::{MINUTE, check, contract};

/// The months sampled: each has a DST change in one of the zones.
const MONTHS: &[&str] = &["2026-03", "2026-04", "2026-10", "2026-11"];
const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
];
const EXPRESSIONS: &[&str] = &[
    "web1 | web2 | payment",
    "(web1 & web2) | payment",
    "web1 & (web2 | payment)",
    "web1",
];
const HOURS: &[&str] = &[
    "24x7",
    "mon-fri 08:00-18:00",
    "mon-sun 01:30-03:30",
    "sat-sun 00:00-24:00, wed 02:00-02:45, wed 02:30-04:00",
];
const CHECKS: [&str; 3] = ["web1", "web2", "payment"];

/// One generated case, in minutes from 3 days before the month starts.
#[derive(Debug, Clone)]
struct Case {
    month: usize,
    zone: usize,
    expression: usize,
    hours: usize,
    /// Days of the month that are holidays.
    holidays: Vec<u8>,
    degraded: u8,
    unknown: u8,
    allowance: Option<u16>,
    /// Per check: (gap before, length, status) with status 0 up, 1
    /// degraded, 2 down, 3 unknown result, 4 no span (a gap).
    spans: [Vec<(u16, u16, u8)>; 3],
    /// (start, length, which checks as bits).
    maintenance: Vec<(u32, u16, u8)>,
    /// Minutes into the month that "now" is, or past the end.
    now: Option<u32>,
}

fn case() -> impl Strategy<Value = Case> {
    let spans = || prop::collection::vec((0u16..600, 1u16..4000, 0u8..5), 0..40);
    (
        (
            0..MONTHS.len(),
            0..ZONES.len(),
            0..EXPRESSIONS.len(),
            0..HOURS.len(),
        ),
        prop::collection::vec(1u8..29, 0..3),
        (0u8..3, 0u8..3, prop::option::of(0u16..400)),
        [spans(), spans(), spans()],
        prop::collection::vec((0u32..50_000, 1u16..1500, 1u8..8), 0..4),
        prop::option::of(0u32..44_000),
    )
        .prop_map(
            |(
                (month, zone, expression, hours),
                holidays,
                (degraded, unknown, allowance),
                spans,
                maintenance,
                now,
            )| Case {
                month,
                zone,
                expression,
                hours,
                holidays,
                degraded,
                unknown,
                allowance,
                spans,
                maintenance,
                now,
            },
        )
}

fn status(code: u8) -> Option<Status> {
    match code {
        0 => Some(Status::Up),
        1 => Some(Status::Degraded),
        2 => Some(Status::Down),
        _ => Some(Status::Unknown),
    }
}

/// A check's state at a moment, as the reference sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum S {
    Up,
    Degraded,
    Unknown,
    Down,
}

fn state(status: Option<Status>) -> S {
    match status {
        Some(Status::Up) => S::Up,
        Some(Status::Degraded) => S::Degraded,
        Some(Status::Down) => S::Down,
        _ => S::Unknown,
    }
}

/// "Any down": down if one is down; else unknown if one is unknown; else
/// degraded if one is degraded; else up.
fn any(parts: &[S]) -> S {
    if parts.contains(&S::Down) {
        S::Down
    } else if parts.contains(&S::Unknown) {
        S::Unknown
    } else if parts.contains(&S::Degraded) {
        S::Degraded
    } else {
        S::Up
    }
}

/// "All down" (redundancy): up if one is up; else degraded if one is
/// degraded; else unknown if one is unknown; else down.
fn all(parts: &[S]) -> S {
    if parts.contains(&S::Up) {
        S::Up
    } else if parts.contains(&S::Degraded) {
        S::Degraded
    } else if parts.contains(&S::Unknown) {
        S::Unknown
    } else {
        S::Down
    }
}

fn evaluate(expression: usize, s: [S; 3]) -> S {
    let [web1, web2, payment] = s;
    match expression {
        0 => any(&[web1, web2, payment]),
        1 => any(&[all(&[web1, web2]), payment]),
        2 => all(&[web1, any(&[web2, payment])]),
        _ => web1,
    }
}

/// Whether the local reading of `at` is service time.
fn in_service(
    hours: usize,
    holidays: &[jiff::civil::Date],
    tz: &jiff::tz::TimeZone,
    at: i64,
) -> bool {
    let local = tz.to_datetime(jiff::Timestamp::from_millisecond(at).unwrap());
    if hours == 0 {
        return true;
    }
    if holidays.contains(&local.date()) {
        return false;
    }
    let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
    let day = local.weekday().to_monday_zero_offset();
    let within = |days: std::ops::RangeInclusive<i8>, from: i32, to: i32| {
        days.contains(&day) && from <= minute && minute < to
    };
    match hours {
        1 => within(0..=4, 8 * 60, 18 * 60),
        2 => within(0..=6, 90, 210),
        _ => within(5..=6, 0, 1440) || within(2..=2, 120, 165) || within(2..=2, 150, 240),
    }
}

/// Per-minute totals of the reference, in minutes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Totals {
    service: i64,
    down: i64,
    degraded: i64,
    unknown: i64,
    maintenance: i64,
    overrun: i64,
}

/// A case's contract (with the default burn rules), month, input and now.
struct Generated {
    contract: keepup_config::contract::Contract,
    window: Window,
    holiday_dates: Vec<jiff::civil::Date>,
    input: Input,
    now: i64,
}

fn generate(case: &Case) -> Generated {
    let month = MONTHS[case.month];
    let holiday_dates: Vec<jiff::civil::Date> = case
        .holidays
        .iter()
        .map(|d| format!("{month}-{d:02}").parse().unwrap())
        .collect();
    let holidays_toml = if case.hours == 0 {
        String::new()
    } else {
        let list: Vec<String> = holiday_dates.iter().map(|d| format!("\"{d}\"")).collect();
        format!("holidays = [{}]\n", list.join(", "))
    };
    let degraded = ["\"up\"", "0.5", "\"down\""][usize::from(case.degraded)];
    let unknown = ["exclude", "up", "down"][usize::from(case.unknown)];
    let allowance = case
        .allowance
        .map(|m| format!("maintenance_allowance = \"{m}m\"\n"))
        .unwrap_or_default();
    let c = contract(&format!(
        "[[contract]]\nid = \"p\"\nsite = \"shop\"\ndown_when = \"{}\"\ntarget = 99.5\ntime_zone = \"{}\"\nservice_hours = \"{}\"\n{holidays_toml}degraded = {degraded}\nunknown = \"{unknown}\"\n{allowance}",
        EXPRESSIONS[case.expression], ZONES[case.zone], HOURS[case.hours],
    ));
    let window = Window::for_month(&c, month).unwrap();
    let origin = window.from - 3 * 1440 * MINUTE;

    let timelines: Vec<CheckTimeline> = CHECKS
        .iter()
        .zip(&case.spans)
        .map(|(id, spans)| {
            let mut t = origin;
            let mut out = Vec::new();
            for &(gap, len, code) in spans {
                let from = t + i64::from(gap) * MINUTE;
                t = from + i64::from(len) * MINUTE;
                if code < 4 {
                    out.push(Span {
                        from,
                        to: t,
                        status: status(code),
                    });
                }
            }
            CheckTimeline {
                check: check(id),
                spans: out,
            }
        })
        .collect();
    let maintenance: Vec<MaintenanceSpan> = case
        .maintenance
        .iter()
        .enumerate()
        .map(|(i, &(start, len, bits))| MaintenanceSpan {
            id: format!("m{i}"),
            from: origin + i64::from(start) * MINUTE,
            to: origin + (i64::from(start) + i64::from(len)) * MINUTE,
            checks: CHECKS
                .iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .map(|(_, id)| check(id))
                .collect(),
        })
        .collect();
    let now = match case.now {
        Some(m) => window.from + i64::from(m) * MINUTE,
        None => window.to + 86_400_000,
    };
    let input = Input {
        timelines,
        incidents: Vec::new(),
        maintenance,
    };
    Generated {
        contract: c,
        window,
        holiday_dates,
        input,
        now,
    }
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let Generated {
        contract: c,
        window,
        holiday_dates,
        input,
        now,
    } = generate(case);
    let figures = account(&c, &window, now, &input).unwrap();

    // The reference, minute by minute.
    let service_checks: Vec<CheckId> = c.service.checks().into_iter().cloned().collect();
    let status_at = |t: &CheckTimeline, at: i64| {
        t.spans
            .iter()
            .find(|s| s.from <= at && at < s.to)
            .map_or(S::Unknown, |s| state(s.status))
    };
    let until = window.to.min(now).max(window.from);
    let mut r = Totals::default();
    let mut classes: Vec<(i64, Option<Class>)> = Vec::new();
    let mut m = window.from;
    while m < until {
        if in_service(case.hours, &holiday_dates, &c.time_zone, m) {
            r.service += 1;
            // Which of the three checks a window covers this minute.
            let maintained = [0, 1, 2].map(|k| {
                let id = check(CHECKS[k]);
                service_checks.contains(&id)
                    && input
                        .maintenance
                        .iter()
                        .any(|w| w.from <= m && m < w.to && w.checks.contains(&id))
            });
            let actual = [0, 1, 2].map(|k| status_at(&input.timelines[k], m));
            let as_if_up = [0, 1, 2].map(|k| if maintained[k] { S::Up } else { actual[k] });
            let state = evaluate(case.expression, actual);
            let excused = evaluate(case.expression, as_if_up);
            let class = if state != S::Up && excused == S::Up {
                if case.allowance.is_none_or(|a| r.maintenance < i64::from(a)) {
                    r.maintenance += 1;
                    Some(Class::Maintenance)
                } else {
                    r.overrun += 1;
                    Some(Class::MaintenanceOverrun)
                }
            } else {
                // Up, or not Up for reasons of its own: what it would have
                // been with the maintained checks Up.
                let counted = if state == S::Up { S::Up } else { excused };
                match counted {
                    S::Up => None,
                    S::Degraded => {
                        r.degraded += 1;
                        Some(Class::Degraded)
                    }
                    S::Unknown => {
                        r.unknown += 1;
                        Some(Class::Unknown)
                    }
                    S::Down => {
                        r.down += 1;
                        Some(Class::Down)
                    }
                }
            };
            classes.push((m, class));
        }
        m += MINUTE;
    }
    let got = Totals {
        service: figures.service_ms / MINUTE,
        down: figures.down_ms / MINUTE,
        degraded: figures.degraded_ms / MINUTE,
        unknown: figures.unknown_ms / MINUTE,
        maintenance: figures.maintenance_ms / MINUTE,
        overrun: figures.maintenance_overrun_ms / MINUTE,
    };
    prop_assert_eq!(&got, &r);
    prop_assert_eq!(figures.service_ms % MINUTE, 0);

    // Availability from the reference's minutes.
    let weight = [0.0, 0.5, 1.0][usize::from(case.degraded)];
    let (excluded_unknown, unknown_down) = match case.unknown {
        0 => (r.unknown, 0),
        1 => (0, 0),
        _ => (0, r.unknown),
    };
    let measured = r.service - r.maintenance - excluded_unknown;
    let downtime = (r.down + r.overrun + unknown_down) as f64 + weight * r.degraded as f64;
    let had_data = r.service - r.maintenance - r.overrun - r.unknown > 0;
    let expected =
        (had_data && measured > 0).then(|| 100.0 * (measured as f64 - downtime) / measured as f64);
    match (figures.availability, expected) {
        (Some(a), Some(b)) => prop_assert!((a - b).abs() < 1e-9, "{} vs {}", a, b),
        (a, b) => prop_assert_eq!(a, b),
    }

    // The explanation's intervals are exactly the minutes that were not up.
    let mut explained: Vec<(i64, Option<Class>)> = Vec::new();
    for i in &figures.intervals {
        prop_assert!(i.from < i.to);
        let mut t = i.from;
        while t < i.to {
            explained.push((t, Some(i.class)));
            t += MINUTE;
        }
    }
    let not_up: Vec<(i64, Option<Class>)> =
        classes.into_iter().filter(|(_, c)| c.is_some()).collect();
    prop_assert_eq!(explained, not_up);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn accounting_matches_minute_by_minute_sampling(case in case()) {
        run(&case)?;
    }
}

/// The burn windows, counted in one walk from the earliest start, against
/// each window and the running period accounted on their own by
/// [`account`]: the same downtime and measured time, so the same rates
/// and budget.
fn run_burn(case: &Case) -> Result<(), TestCaseError> {
    let Generated {
        contract: c,
        input,
        now,
        ..
    } = generate(case);
    let burn = keepup_sla::burn(&c, &input, now).unwrap();
    prop_assert_eq!(burn.rules.len(), c.burn.len());
    for rule in &burn.rules {
        for w in [&rule.long, &rule.short] {
            let alone = Window::between(now - w.window_ms, now, String::new()).unwrap();
            let f = account(&c, &alone, now, &input).unwrap();
            prop_assert_eq!(w.measured_ms, f.measured_ms, "{} ms window", w.window_ms);
            prop_assert_eq!(w.downtime_ms, f.downtime_ms, "{} ms window", w.window_ms);
        }
    }
    let period = Window::period_at(&c, now).unwrap();
    let f = account(&c, &period, now, &input).unwrap();
    prop_assert_eq!(burn.budget, f.budget);
    prop_assert_eq!(burn.period, period.label);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn burn_windows_in_one_walk_match_each_window_accounted_alone(case in case()) {
        run_burn(&case)?;
    }
}

/// Incidents over three consecutive months: each is counted in exactly
/// one (the month it was detected in), and its parts in the months it is
/// listed in add up to its duration within the three months.
fn run_incidents(incidents: &[(u32, u16, Option<u16>, Option<u32>)]) -> Result<(), TestCaseError> {
    use keepup_sla::IncidentRecord;
    let c = contract(
        "[[contract]]\nid = \"p\"\nsite = \"shop\"\ndown_when = \"web1 | web2\"\ntarget = 99\ntime_zone = \"Europe/Berlin\"\n",
    );
    let months: Vec<Window> = ["2026-10", "2026-11", "2026-12"]
        .iter()
        .map(|m| Window::for_month(&c, m).unwrap())
        .collect();
    let (start, end) = (months[0].from, months[2].to);
    let origin = start - 5 * 1440 * MINUTE;
    let records: Vec<IncidentRecord> = incidents
        .iter()
        .enumerate()
        .map(|(i, &(open, detect, ack, length))| {
            let opened_at = origin + i64::from(open) * MINUTE;
            let detected_at = opened_at + i64::from(detect) * MINUTE;
            IncidentRecord {
                id: i as i64 + 1,
                check: check(if i % 2 == 0 { "web1" } else { "web2" }),
                status: Status::Down,
                opened_at,
                detected_at,
                acknowledged_at: ack.map(|a| detected_at + i64::from(a) * MINUTE),
                resolved_at: length.map(|l| detected_at + i64::from(l) * MINUTE),
                cause: None,
                severity: None,
                message: String::new(),
                maintenance: false,
            }
        })
        .collect();
    let now = end + 86_400_000;
    let input = Input {
        incidents: records.clone(),
        ..Input::default()
    };
    let figures: Vec<_> = months
        .iter()
        .map(|w| account(&c, w, now, &input).unwrap())
        .collect();
    for r in &records {
        let counted = figures
            .iter()
            .filter(|f| f.incidents.iter().any(|i| i.id == r.id && i.counted))
            .count();
        let detected_inside = start <= r.detected_at && r.detected_at < end;
        prop_assert_eq!(counted, usize::from(detected_inside), "incident {}", r.id);
        let parts: i64 = figures
            .iter()
            .flat_map(|f| f.incidents.iter().filter(|i| i.id == r.id))
            .map(|i| i.in_period.1 - i.in_period.0)
            .sum();
        let whole = r.resolved_at.unwrap_or(end).min(end) - r.opened_at.max(start);
        prop_assert_eq!(parts, whole.max(0), "incident {}", r.id);
    }
    let total: usize = figures.iter().map(|f| f.incident_count).sum();
    let inside = records
        .iter()
        .filter(|r| start <= r.detected_at && r.detected_at < end)
        .count();
    prop_assert_eq!(total, inside);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn incidents_across_months_are_split_and_counted_once(
        incidents in prop::collection::vec(
            (0u32..140_000, 0u16..30, prop::option::of(0u16..120), prop::option::of(0u32..50_000)),
            0..12,
        )
    ) {
        run_incidents(&incidents)?;
    }
}
