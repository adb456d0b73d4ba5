//! Cron schedules and recurring maintenance windows across daylight saving
//! time changes, checked against every transition of ten years (2026 to
//! 2035) in zones that spring forward and fall back by an hour
//! (Europe/Berlin, America/New_York), by half an hour
//! (Australia/Lord_Howe), at midnight in the southern hemisphere
//! (America/Santiago), and in a zone without daylight saving time as a
//! control (Asia/Tokyo, checked on Berlin's transition days).
//!
//! The expected runs are computed here from the zone's transitions (jiff's
//! ambiguity answers and transition list), not by the minute walk the cron
//! code uses; the code under test is the production one: `Cron::next_after`,
//! `Cron::last_at_or_before` and `Maintenance::open_at`/`occurrences`.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};
use keepup_config::cron::Cron;
use keepup_config::maintenance::{Maintenance, Window};
use std::collections::HashSet;
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY_MINUTES: u32 = 24 * 60;

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn civil(tz: &TimeZone, at: i64) -> DateTime {
    tz.to_datetime(Timestamp::from_millisecond(at).unwrap())
}

fn show(tz: &TimeZone, at: i64) -> String {
    let t = Timestamp::from_millisecond(at).unwrap();
    format!("{} ({})", t.to_zoned(tz.clone()), t)
}

/// The first instant of `day` (midnight; days next to a transition day
/// are never ambiguous at midnight in the zones tested).
fn day_start(tz: &TimeZone, day: Date) -> i64 {
    ms(tz
        .to_ambiguous_timestamp(day.at(0, 0, 0, 0))
        .earlier()
        .unwrap())
}

/// The local dates on which the offset changes between 2026 and 2035.
fn transition_days(tz: &TimeZone) -> Vec<Date> {
    let from: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    let to: Timestamp = "2036-01-01T00:00:00Z".parse().unwrap();
    tz.following(from)
        .take_while(|t| t.timestamp() < to)
        .map(|t| tz.to_datetime(t.timestamp()).date())
        .collect()
}

/// The zones and the days around which each is checked.
fn zones_and_days() -> Vec<(&'static str, TimeZone, Vec<Date>)> {
    let berlin_days = transition_days(&zone("Europe/Berlin"));
    let mut out = Vec::new();
    for name in [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "America/Santiago",
    ] {
        let tz = zone(name);
        let days = transition_days(&tz);
        assert!(
            days.len() >= 18,
            "{name}: {} transitions in ten years",
            days.len()
        );
        out.push((name, tz, days));
    }
    let tokyo = zone("Asia/Tokyo");
    assert!(transition_days(&tokyo).is_empty(), "Tokyo has no DST");
    out.push(("Asia/Tokyo", tokyo, berlin_days));
    out
}

/// When a daily job at the local time `time` runs on `day`, as cronie
/// does: at that time; at its first occurrence when it repeats; at the
/// jump (the transition instant) when it falls into a gap.
fn expected_daily_run(tz: &TimeZone, day: Date, time: (i8, i8)) -> i64 {
    let local = day.at(time.0, time.1, 0, 0);
    let ambiguous = tz.to_ambiguous_timestamp(local);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ms(ambiguous.earlier().unwrap())
        }
        AmbiguousOffset::Gap { .. } => {
            // `earlier` reads the time with the offset after the gap,
            // which lands before the transition.
            let before_gap = ambiguous.earlier().unwrap();
            ms(tz.following(before_gap).next().unwrap().timestamp())
        }
    }
}

/// Every run of `cron` in `[from, to)`, found with `next_after`, each
/// checked against `last_at_or_before` (the two must agree: the backup
/// runner uses the one, maintenance windows both).
fn runs(cron: &Cron, tz: &TimeZone, from: i64, to: i64) -> Vec<i64> {
    let mut out: Vec<i64> = Vec::new();
    let mut at = from - 1;
    while let Some(run) = cron.next_after(at, tz, 3 * DAY_MINUTES) {
        if run >= to {
            break;
        }
        assert_eq!(
            cron.last_at_or_before(run + MINUTE - 1, tz, 3 * DAY_MINUTES),
            Some(run),
            "{}: last_at_or_before the minute of {}",
            cron.as_str(),
            show(tz, run)
        );
        let previous = cron.last_at_or_before(run - 1, tz, 3 * DAY_MINUTES);
        if let Some(&last) = out.last() {
            assert_eq!(
                previous,
                Some(last),
                "{}: last_at_or_before just before {}",
                cron.as_str(),
                show(tz, run)
            );
        }
        out.push(run);
        at = run;
    }
    out
}

const DAILY: [&str; 9] = [
    "30 2 * * *",
    "0 2 * * *",
    "0 3 * * *",
    "30 1 * * *",
    "15 2 * * *",
    "45 1 * * *",
    "0 0 * * *",
    "30 0 * * *",
    "59 23 * * *",
];

/// A daily job runs exactly once on every day around every transition, at
/// cronie's instant: skipped times at the jump, repeated times once.
#[test]
fn daily_jobs_run_once_on_every_day_across_ten_years_of_transitions() {
    let mut moved_to_a_jump = 0;
    let mut repeated_once = 0;
    for (name, tz, days) in zones_and_days() {
        for text in DAILY {
            let cron = Cron::parse(text).unwrap();
            let (minute, hour) = text.split_once(' ').unwrap();
            let time: (i8, i8) = (
                hour.split(' ').next().unwrap().parse().unwrap(),
                minute.parse().unwrap(),
            );
            for &day in &days {
                let first = day.yesterday().unwrap();
                let last = day.tomorrow().unwrap();
                let from = day_start(&tz, first);
                let to = day_start(&tz, last.tomorrow().unwrap());
                let got = runs(&cron, &tz, from, to);
                let expected: Vec<i64> = [first, day, last]
                    .iter()
                    .map(|d| expected_daily_run(&tz, *d, time))
                    .collect();
                let show_all = |v: &[i64]| v.iter().map(|t| show(&tz, *t)).collect::<Vec<_>>();
                assert_eq!(
                    show_all(&got),
                    show_all(&expected),
                    "{name} {text:?} around {day}"
                );
                let got_days: Vec<Date> = got.iter().map(|t| civil(&tz, *t).date()).collect();
                assert_eq!(
                    got_days,
                    [first, day, last],
                    "{name} {text:?}: one run a day"
                );
                match tz
                    .to_ambiguous_timestamp(day.at(time.0, time.1, 0, 0))
                    .offset()
                {
                    AmbiguousOffset::Gap { .. } => moved_to_a_jump += 1,
                    AmbiguousOffset::Fold { .. } => repeated_once += 1,
                    AmbiguousOffset::Unambiguous { .. } => {}
                }
            }
        }
    }
    // The cases that matter were met: 02:30/02:00/02:15 in Berlin, New York
    // and Lord Howe springs, 00:00/00:30 in Santiago's; 02:30/02:00 and
    // 01:30/01:45 in falls, 23:59 in Santiago's.
    // 100 and 80 with today's rules (some room for Chile changing its).
    assert!(moved_to_a_jump >= 80, "{moved_to_a_jump} gaps met");
    assert!(repeated_once >= 70, "{repeated_once} folds met");
}

/// Hourly jobs run by real time: every local hour that exists, even in
/// part (Lord Howe's 02:30-02:59 on its spring day), has a run; runs are
/// an hour apart in zones whose offsets are whole hours (so never two in
/// one UTC hour, and both passes of a repeated hour run, each in its own
/// UTC hour); in Lord Howe they are 30 to 90 minutes apart, and the only
/// two runs that share a UTC hour are those of 01:MM and 02:MM (MM >= 30)
/// on its spring day, both times that exist and that no rule could run
/// in different UTC hours (02:30 to 03:00 local is 15:30 to 16:00 UTC,
/// as is 01:MM's half of its hour).
#[test]
fn hourly_jobs_keep_every_local_hour_and_never_run_twice_in_a_utc_hour() {
    for (name, tz, days) in zones_and_days() {
        let whole_hours = name != "Australia/Lord_Howe";
        for minute in [0, 15, 29, 30, 45, 59] {
            let text = format!("{minute} * * * *");
            let cron = Cron::parse(&text).unwrap();
            for &day in &days {
                let from = day_start(&tz, day.yesterday().unwrap());
                let to = day_start(&tz, day.tomorrow().unwrap().tomorrow().unwrap());
                let got = runs(&cron, &tz, from, to);
                let context = |t: i64| format!("{name} {text:?} at {}", show(&tz, t));
                // Every local hour that exists has a run in it.
                let mut hours_seen = HashSet::new();
                let mut t = from;
                while t < to {
                    let c = civil(&tz, t);
                    hours_seen.insert((c.date(), c.hour()));
                    t += MINUTE;
                }
                let hours_run: HashSet<(Date, i8)> = got
                    .iter()
                    .map(|t| {
                        let c = civil(&tz, *t);
                        (c.date(), c.hour())
                    })
                    .collect();
                let mut missing: Vec<_> = hours_seen.difference(&hours_run).collect();
                missing.sort();
                assert!(missing.is_empty(), "{name} {text:?}: no run in {missing:?}");
                for pair in got.windows(2) {
                    let (a, b) = (pair[0], pair[1]);
                    if whole_hours {
                        assert_eq!(b - a, HOUR, "{} then {}", context(a), show(&tz, b));
                    } else {
                        assert!(
                            (30 * MINUTE..=90 * MINUTE).contains(&(b - a)),
                            "{} then {}",
                            context(a),
                            show(&tz, b)
                        );
                        if a.div_euclid(HOUR) == b.div_euclid(HOUR) {
                            let (ca, cb) = (civil(&tz, a), civil(&tz, b));
                            assert!(
                                minute >= 30
                                    && ca.minute() == minute
                                    && cb.minute() == minute
                                    && cb.hour() == ca.hour() + 1
                                    && tz.to_offset(Timestamp::from_millisecond(b).unwrap())
                                        > tz.to_offset(Timestamp::from_millisecond(a).unwrap()),
                                "{} and {} share a UTC hour",
                                context(a),
                                show(&tz, b)
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Quarter-hourly jobs run every 15 real minutes through every transition
/// of the whole-hour zones (a skipped hour has nothing to run, a repeated
/// hour runs again).
#[test]
fn step_jobs_run_by_real_time_across_transitions() {
    let cron = Cron::parse("*/15 * * * *").unwrap();
    for (name, tz, days) in zones_and_days() {
        if name == "Australia/Lord_Howe" {
            continue;
        }
        for &day in &days {
            let from = day_start(&tz, day);
            let to = day_start(&tz, day.tomorrow().unwrap());
            let got = runs(&cron, &tz, from, to);
            assert_eq!(got.first(), Some(&from), "{name} {day}");
            for pair in got.windows(2) {
                assert_eq!(
                    pair[1] - pair[0],
                    15 * MINUTE,
                    "{name} at {}",
                    show(&tz, pair[0])
                );
            }
        }
    }
}

fn window(cron: &str, duration: Duration, tz: &TimeZone) -> Maintenance {
    Maintenance {
        id: "nightly".into(),
        name: "nightly".into(),
        checks: HashSet::new(),
        when: Window::Recurring {
            cron: Cron::parse(cron).unwrap(),
            duration,
            timezone: tz.clone(),
            timezone_name: "test".into(),
        },
    }
}

/// Daily maintenance windows around every transition: open exactly from
/// cronie's instant for their duration in real time, never reopened in a
/// repeated hour, listed once a day by `occurrences`.
#[test]
fn daily_maintenance_windows_open_once_a_day_for_their_real_duration() {
    let duration = Duration::from_secs(45 * 60);
    for (name, tz, days) in zones_and_days() {
        for text in [
            "30 2 * * *",
            "0 2 * * *",
            "45 1 * * *",
            "30 0 * * *",
            "59 23 * * *",
        ] {
            let (minute, rest) = text.split_once(' ').unwrap();
            let time: (i8, i8) = (
                rest.split(' ').next().unwrap().parse().unwrap(),
                minute.parse().unwrap(),
            );
            let m = window(text, duration, &tz);
            for &day in &days {
                let first = day.yesterday().unwrap();
                let last = day.tomorrow().unwrap();
                let from = day_start(&tz, first);
                let to = day_start(&tz, last.tomorrow().unwrap());
                // The day before's window may still be open at `from`.
                let expected: Vec<(i64, i64)> = [first.yesterday().unwrap(), first, day, last]
                    .iter()
                    .map(|d| {
                        let start = expected_daily_run(&tz, *d, time);
                        (start, start + duration.as_millis() as i64)
                    })
                    .collect();
                assert_eq!(
                    m.occurrences(from, to, 10),
                    expected[1..],
                    "{name} {text:?} around {day}"
                );
                let mut t = from;
                while t < to {
                    let open = expected.iter().find(|(s, e)| *s <= t && t < *e).copied();
                    assert_eq!(m.open_at(t), open, "{name} {text:?} at {}", show(&tz, t));
                    t += 5 * MINUTE;
                }
            }
        }
    }
}

fn at(s: &str) -> i64 {
    ms(s.parse().unwrap())
}

/// Spring forward: a window whose start does not exist opens at the jump
/// and lasts its duration in real time; one that spans the gap ends after
/// its real duration, an hour later on the clock.
#[test]
fn a_maintenance_window_starting_in_a_gap_opens_at_the_jump() {
    let berlin = zone("Europe/Berlin");
    // 2026-03-29: 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    let m = window("30 2 * * *", Duration::from_secs(3600), &berlin);
    let jump = at("2026-03-29T01:00:00Z");
    assert_eq!(m.open_at(jump - 1), None);
    assert_eq!(m.open_at(jump), Some((jump, jump + HOUR)));
    assert_eq!(m.open_at(jump + HOUR - 1), Some((jump, jump + HOUR)));
    assert_eq!(m.open_at(jump + HOUR), None);
    let spanning = window("0 1 * * *", Duration::from_secs(2 * 3600), &berlin);
    let start = at("2026-03-29T00:00:00Z");
    assert_eq!(
        spanning.open_at(jump),
        Some((start, start + 2 * HOUR)),
        "01:00 CET to 04:00 CEST: two real hours"
    );
    // Lord Howe, 2026-10-04: 02:00 (+10:30) becomes 02:30 (+11) at 15:30 UTC.
    let lord_howe = zone("Australia/Lord_Howe");
    let m = window("15 2 * * *", Duration::from_secs(1800), &lord_howe);
    let jump = at("2026-10-03T15:30:00Z");
    assert_eq!(m.open_at(jump - 1), None);
    assert_eq!(m.open_at(jump), Some((jump, jump + 30 * MINUTE)));
    assert_eq!(
        m.occurrences(jump - DAY_MINUTES as i64 * MINUTE, jump + 1, 5)
            .len(),
        2
    );
}

/// Fall back: a window whose start repeats opens once, at the first pass,
/// and is not reopened by the second; one that spans the repeated hour
/// closes after its real duration, an hour earlier on the clock.
#[test]
fn a_maintenance_window_starting_in_a_repeated_hour_opens_once() {
    let berlin = zone("Europe/Berlin");
    // 2026-10-25: 03:00 CEST becomes 02:00 CET at 01:00 UTC.
    let m = window("30 2 * * *", Duration::from_secs(1800), &berlin);
    let first = at("2026-10-25T00:30:00Z");
    let second = at("2026-10-25T01:30:00Z");
    assert_eq!(m.open_at(first), Some((first, first + 30 * MINUTE)));
    assert_eq!(m.open_at(second), None, "02:30 CET is the same time again");
    assert_eq!(
        m.occurrences(first - HOUR, first + 3 * HOUR, 5),
        [(first, first + 30 * MINUTE)]
    );
    let spanning = window("0 2 * * *", Duration::from_secs(2 * 3600), &berlin);
    let start = at("2026-10-25T00:00:00Z");
    assert_eq!(
        spanning.open_at(start + HOUR),
        Some((start, start + 2 * HOUR))
    );
    assert_eq!(
        spanning.open_at(start + 2 * HOUR),
        None,
        "02:00 CEST to 03:00 CET: two real hours"
    );
    // A wildcard window runs by real time: in both passes of the hour.
    let hourly = window("0 * * * *", Duration::from_secs(600), &berlin);
    assert_eq!(hourly.open_at(start), Some((start, start + 10 * MINUTE)));
    assert_eq!(
        hourly.open_at(start + HOUR),
        Some((start + HOUR, start + HOUR + 10 * MINUTE))
    );
}

/// Several skipped times of one gap make one run at the jump; a skipped
/// time and the jump's own time too; a time after the jump is unaffected.
#[test]
fn a_gap_makes_one_run_at_the_jump() {
    let berlin = zone("Europe/Berlin");
    let jump = at("2026-03-29T01:00:00Z");
    let from = at("2026-03-28T23:00:00Z");
    let to = at("2026-03-29T04:00:00Z");
    let list = |text: &str| runs(&Cron::parse(text).unwrap(), &berlin, from, to);
    assert_eq!(list("0,30 2 * * *"), [jump]);
    assert_eq!(list("30 2,3 * * *"), [jump, jump + 30 * MINUTE]);
    assert_eq!(list("0 2,3 * * *"), [jump]);
    // A wildcard minute with a fixed hour is a wildcard job (cronie):
    // the hour does not exist, nothing runs.
    assert_eq!(list("*/10 2 * * *"), Vec::<i64>::new());
    // Ranges and range steps are fixed times.
    assert_eq!(list("0 1-3 * * *"), [jump - HOUR, jump]);
    assert_eq!(list("0 0-4/2 * * *"), [jump - 2 * HOUR, jump, jump + HOUR]);
}
