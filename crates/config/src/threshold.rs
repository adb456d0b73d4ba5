//! Warn/crit thresholds with units, shared by every check kind that compares
//! a measured number against limits (a host's disk and load, a replica's lag,
//! a Prometheus sample).
//!
//! As written: `{ warn = "80%", crit = "90%" }`, with an optional
//! `direction = "below"` for measures that alert when they fall (free space,
//! free inodes). A limit is a percentage (`"80%"`), a size (`"10 GiB"`,
//! `"500MB"`: SI and IEC), a duration (`"30s"`, `"1h 30m"`, as everywhere
//! in the configuration) or a plain number (`4`, `2.5`, `"2.5"`). Each kind
//! says which units a measure takes and which way it alerts by default;
//! everything else is refused at load with `file:line:col`.
//!
//! Not here: what a measure is or where it comes from (that is each kind's
//! own module), nor how a status becomes an incident (the monitor).

use std::fmt;

use keepup_model::{Finding, Severity, Status};
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Reporter;

/// What a limit and the measured value are counted in. Values are kept in
/// the unit's base: percent (0–100), bytes, seconds, or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// `"80%"`: 0 to 100.
    Percent,
    /// `"10 GiB"`, `"500MB"`: bytes.
    Bytes,
    /// `"30s"`, `"250ms"`: seconds.
    Seconds,
    /// `4`, `0.5`: a count or a ratio without a unit.
    Number,
}

impl Unit {
    /// How people write it, for messages ("a percentage (\"80%\")").
    fn example(self) -> &'static str {
        match self {
            Unit::Percent => "a percentage (\"80%\")",
            Unit::Bytes => "a size (\"10 GiB\", \"500MB\")",
            Unit::Seconds => "a duration (\"30s\", \"5m\")",
            Unit::Number => "a plain number (4, 2.5)",
        }
    }

    /// `value` in this unit for people: `91.2%`, `9.3 GiB`, `1.5s`, `4`.
    pub fn format(self, value: f64) -> String {
        match self {
            Unit::Percent => format!("{}%", trim_number(value, 1)),
            Unit::Bytes => format_bytes(value),
            Unit::Seconds => format_seconds(value),
            Unit::Number => trim_number(value, 2),
        }
    }
}

/// Which way a measure goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Alerts when the value reaches the limit or goes past it (used space,
    /// load, lag).
    Above,
    /// Alerts when the value falls to the limit or under it (free space,
    /// free inodes, replicas connected).
    Below,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }
}

/// Validated limits of one measure: at `warn` the check is Degraded, at
/// `crit` Down. Either may be absent, not both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// Degraded from here on, in `unit`'s base.
    pub warn: Option<f64>,
    /// Down from here on, in `unit`'s base.
    pub crit: Option<f64>,
    /// The unit both limits (and the measured value) are in.
    pub unit: Unit,
    /// Which way the value goes wrong.
    pub direction: Direction,
}

impl Threshold {
    /// The status `value` (in [`Threshold::unit`]'s base) earns: Down at or
    /// past `crit`, Degraded at or past `warn`, Up otherwise; Unknown for a
    /// value that is not a number.
    pub fn status(&self, value: f64) -> Status {
        if value.is_nan() {
            return Status::Unknown;
        }
        let reached = |limit: Option<f64>| {
            limit.is_some_and(|l| match self.direction {
                Direction::Above => value >= l,
                Direction::Below => value <= l,
            })
        };
        if reached(self.crit) {
            Status::Down
        } else if reached(self.warn) {
            Status::Degraded
        } else {
            Status::Up
        }
    }

    /// The finding of `value` at or past a level, if it is: `code` with
    /// Warning at `warn`, Critical at `crit`. `describe` writes its sentence
    /// from the level reached: its name (`"warn"`, `"crit"`) and its limit
    /// in the unit (`"30s"`, `"10 GiB"`, `"80%"`). One function for every
    /// kind that judges a measure (the probes, the host check), so a limit
    /// means the same everywhere.
    pub fn finding(
        &self,
        value: f64,
        code: &str,
        describe: impl FnOnce(&str, String) -> String,
    ) -> Option<Finding> {
        let (severity, name, limit) = match self.status(value) {
            Status::Down => (Severity::Critical, "crit", self.crit?),
            Status::Degraded => (Severity::Warning, "warn", self.warn?),
            _ => return None,
        };
        Some(Finding::new(
            code,
            severity,
            describe(name, self.unit.format(limit)),
        ))
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for (name, limit) in [("warn", self.warn), ("crit", self.crit)] {
            if let Some(l) = limit {
                write!(f, "{sep}{name} {}", self.unit.format(l))?;
                sep = ", ";
            }
        }
        write!(f, " ({})", self.direction.as_str())
    }
}

/// What a measure accepts, given by the kind that reads the threshold.
#[derive(Debug, Clone, Copy)]
pub struct Accepts<'a> {
    /// The units its limits may be written in (the first is the default for
    /// a plain number when [`Unit::Number`] is not among them).
    pub units: &'a [Unit],
    /// Which way it alerts unless the threshold says `direction`.
    pub direction: Direction,
}

/// A threshold as written: `{ warn = "80%", crit = "90%", direction = "below" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    /// Degraded from here on.
    pub warn: Option<Spanned<Limit>>,
    /// Down from here on.
    pub crit: Option<Spanned<Limit>>,
    /// `"above"` or `"below"`.
    pub direction: Option<Spanned<String>>,
}

/// One limit as written: a TOML number or a string with its unit.
#[derive(Debug, Clone, PartialEq)]
pub enum Limit {
    /// `4`, `2.5`
    Number(f64),
    /// `"80%"`, `"10 GiB"`, `"30s"`, `"2.5"`
    Text(String),
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Limit;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a limit such as \"80%\", \"10 GiB\", \"30s\" or a number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Limit, E> {
                Ok(Limit::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Limit, E> {
                Ok(Limit::Number(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Limit, E> {
                Ok(Limit::Number(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Limit, E> {
                Ok(Limit::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A limit's number and the unit it was written in, or why it is not one.
pub fn parse_limit(limit: &Limit) -> Result<(f64, Unit), String> {
    let (value, unit) = match limit {
        Limit::Number(n) => (*n, Unit::Number),
        Limit::Text(text) => parse_text(text.trim())?,
    };
    if !value.is_finite() {
        return Err("a limit must be a finite number".into());
    }
    if value < 0.0 && unit != Unit::Number {
        return Err("a limit cannot be negative".into());
    }
    if unit == Unit::Percent && value > 100.0 {
        return Err(format!("{} is more than 100%", trim_number(value, 3)));
    }
    Ok((value, unit))
}

fn parse_text(text: &str) -> Result<(f64, Unit), String> {
    if text.is_empty() {
        return Err("empty limit; write e.g. \"80%\", \"10 GiB\", \"30s\" or 4".into());
    }
    if let Some(number) = text.strip_suffix('%') {
        return number
            .trim()
            .parse::<f64>()
            .map(|n| (n, Unit::Percent))
            .map_err(|_| format!("{text:?} is not a percentage; write e.g. \"80%\""));
    }
    if let Ok(n) = text.parse::<f64>() {
        return Ok((n, Unit::Number));
    }
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let suffix = suffix.trim();
    // Sizes are the suffixes ending in B; humantime has none such, so "5m"
    // stays five minutes and "5MB" five megabytes.
    if suffix.ends_with(['B', 'b']) {
        let factor = size_factor(suffix).ok_or_else(|| {
            format!(
                "unknown size unit {suffix:?} in {text:?}; write B, kB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024)"
            )
        })?;
        let n = number
            .parse::<f64>()
            .map_err(|_| format!("{text:?} is not a size; write e.g. \"10 GiB\" or \"500MB\""))?;
        return Ok((n * factor, Unit::Bytes));
    }
    humantime::parse_duration(text)
        .map(|d| (d.as_secs_f64(), Unit::Seconds))
        .map_err(|e| {
            format!(
                "cannot read {text:?} as a percentage, size, duration or number ({e}); write e.g. \"80%\", \"10 GiB\", \"30s\" or 4"
            )
        })
}

fn size_factor(suffix: &str) -> Option<f64> {
    let lower = suffix.to_ascii_lowercase();
    let (prefix, iec) = match lower.strip_suffix("ib") {
        Some(p) => (p, true),
        None => (lower.strip_suffix('b')?, false),
    };
    let power = match prefix {
        "" if !iec => 0,
        "k" => 1,
        "m" => 2,
        "g" => 3,
        "t" => 4,
        "p" => 5,
        _ => return None,
    };
    let base: f64 = if iec { 1024.0 } else { 1000.0 };
    Some(base.powi(power))
}

/// Validates a threshold as written for a measure that `accepts` these
/// units and direction; each problem is reported at its value with the key
/// `path` (e.g. `site[0].check[1].disk."/"`).
pub(crate) fn threshold(
    rep: &mut Reporter<'_>,
    raw: &Spanned<RawThreshold>,
    path: &str,
    accepts: Accepts<'_>,
) -> Option<Threshold> {
    let before = rep.count();
    let written = raw.get_ref();
    let direction = match &written.direction {
        None => accepts.direction,
        Some(d) => match d.get_ref().as_str() {
            "above" => Direction::Above,
            "below" => Direction::Below,
            other => {
                rep.report(
                    d.span(),
                    &format!("{path}.direction"),
                    format!("unknown direction {other:?}"),
                    Some("write \"above\" (alert when the value rises to the limit) or \"below\" (when it falls to it)".into()),
                );
                accepts.direction
            }
        },
    };
    let mut limit = |name: &str, l: &Option<Spanned<Limit>>| -> Option<(f64, Unit)> {
        let l = l.as_ref()?;
        let key = format!("{path}.{name}");
        match parse_limit(l.get_ref()) {
            Err(message) => {
                rep.report(l.span(), &key, message, None);
                None
            }
            // A bare number is read in the measure's own unit when it takes
            // no plain numbers (`clock_offset = { warn = 2 }` is 2 seconds),
            // except percentages, where 0.8 and 80 would both be plausible.
            Ok((n, Unit::Number))
                if !accepts.units.contains(&Unit::Number)
                    && accepts.units.first().is_some_and(|u| *u != Unit::Percent) =>
            {
                if n < 0.0 {
                    rep.report(l.span(), &key, "a limit cannot be negative", None);
                    return None;
                }
                Some((n, accepts.units[0]))
            }
            Ok((n, unit)) if accepts.units.contains(&unit) => Some((n, unit)),
            Ok((_, unit)) => {
                let takes: Vec<&str> = accepts.units.iter().map(|u| u.example()).collect();
                rep.report(
                    l.span(),
                    &key,
                    format!(
                        "wrong unit: this is {}, the measure takes {}",
                        unit.example().split(" (").next().unwrap_or_default(),
                        takes.join(" or ")
                    ),
                    None,
                );
                None
            }
        }
    };
    let warn = limit("warn", &written.warn);
    let crit = limit("crit", &written.crit);
    if written.warn.is_none() && written.crit.is_none() {
        rep.report(
            raw.span(),
            path,
            "a threshold needs warn, crit or both",
            Some("e.g. { warn = \"80%\", crit = \"90%\" }".into()),
        );
    }
    if rep.count() > before {
        return None;
    }
    let unit = match (warn, crit) {
        (Some((_, w)), Some((c_value, c))) if w != c => {
            let span = written
                .crit
                .as_ref()
                .map(Spanned::span)
                .unwrap_or(raw.span());
            rep.report(
                span,
                &format!("{path}.crit"),
                format!(
                    "crit ({}) is not in the same unit as warn ({})",
                    c.format(c_value),
                    w.example().split(" (").next().unwrap_or_default()
                ),
                None,
            );
            return None;
        }
        (Some((_, u)), _) | (None, Some((_, u))) => u,
        (None, None) => return None,
    };
    let (warn, crit) = (warn.map(|w| w.0), crit.map(|c| c.0));
    if let (Some(w), Some(c)) = (warn, crit) {
        let wrong_order = match direction {
            Direction::Above => w > c,
            Direction::Below => w < c,
        };
        if wrong_order {
            let span = written
                .warn
                .as_ref()
                .map(Spanned::span)
                .unwrap_or(raw.span());
            let (should, alerts) = match direction {
                Direction::Above => ("at most", "rises"),
                Direction::Below => ("at least", "falls"),
            };
            rep.report(
                span,
                &format!("{path}.warn"),
                format!(
                    "warn ({}) must be {should} crit ({}): this measure alerts when it {alerts} ({})",
                    unit.format(w),
                    unit.format(c),
                    direction.as_str()
                ),
                Some("swap warn and crit, or set direction".into()),
            );
            return None;
        }
    }
    Some(Threshold {
        warn,
        crit,
        unit,
        direction,
    })
}

/// `value` with at most `decimals` decimals and no trailing zeros.
fn trim_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn format_bytes(value: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut scaled = value;
    let mut unit = 0;
    while scaled.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        scaled /= 1024.0;
        unit += 1;
    }
    format!("{} {}", trim_number(scaled, 1), UNITS[unit])
}

fn format_seconds(value: f64) -> String {
    if value.abs() < 1.0 && value != 0.0 {
        format!("{}ms", trim_number(value * 1000.0, 1))
    } else {
        format!("{}s", trim_number(value, 2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const DISK: Accepts<'static> = Accepts {
        units: &[Unit::Percent, Unit::Bytes],
        direction: Direction::Above,
    };
    const FREE: Accepts<'static> = Accepts {
        units: &[Unit::Percent, Unit::Bytes],
        direction: Direction::Below,
    };
    const OFFSET: Accepts<'static> = Accepts {
        units: &[Unit::Seconds],
        direction: Direction::Above,
    };
    const LOAD: Accepts<'static> = Accepts {
        units: &[Unit::Number],
        direction: Direction::Above,
    };

    #[derive(Deserialize)]
    struct Doc {
        t: Spanned<RawThreshold>,
    }

    /// Parses `t = <table>` as the second line of a file, so that
    /// positions are checked too.
    fn parse(table: &str, accepts: Accepts<'_>) -> Result<Threshold, Vec<String>> {
        let src = format!("# a host\nt = {table}\n");
        let doc: Doc = toml::from_str(&src).map_err(|e| vec![e.message().to_owned()])?;
        let mut rep = Reporter::new(Path::new("keepup.toml"), &src);
        match threshold(&mut rep, &doc.t, "site[0].check[0].disk.\"/\"", accepts) {
            Some(t) if !rep.has_problems() => Ok(t),
            _ => Err(rep.finish().0.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn units_are_read_in_their_base() {
        let t = parse(r#"{ warn = "80%", crit = "90.5%" }"#, DISK).unwrap();
        assert_eq!(
            (t.warn, t.crit, t.unit),
            (Some(80.0), Some(90.5), Unit::Percent)
        );
        let t = parse(r#"{ warn = "10 GiB", crit = "500MB" }"#, FREE).unwrap();
        assert_eq!(t.warn, Some(10.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(t.crit, Some(500e6));
        assert_eq!((t.unit, t.direction), (Unit::Bytes, Direction::Below));
        let t = parse(r#"{ warn = "500ms", crit = "1m 30s" }"#, OFFSET).unwrap();
        assert_eq!((t.warn, t.crit), (Some(0.5), Some(90.0)));
        let t = parse(r#"{ warn = 2, crit = "4.5" }"#, LOAD).unwrap();
        assert_eq!(
            (t.warn, t.crit, t.unit),
            (Some(2.0), Some(4.5), Unit::Number)
        );
        // A bare number for a duration measure is seconds.
        let t = parse("{ crit = 2 }", OFFSET).unwrap();
        assert_eq!((t.warn, t.crit, t.unit), (None, Some(2.0), Unit::Seconds));
        for (text, bytes) in [
            ("1B", 1.0),
            ("1 kB", 1e3),
            ("1KiB", 1024.0),
            ("2 TB", 2e12),
            ("1 pib", 1024f64.powi(5)),
        ] {
            assert_eq!(
                parse_limit(&Limit::Text(text.into())),
                Ok((bytes, Unit::Bytes)),
                "{text}"
            );
        }
    }

    #[test]
    fn status_follows_the_direction() {
        let used = parse(r#"{ warn = "80%", crit = "90%" }"#, DISK).unwrap();
        assert_eq!(used.status(79.9), Status::Up);
        assert_eq!(used.status(80.0), Status::Degraded);
        assert_eq!(used.status(95.0), Status::Down);
        assert_eq!(used.status(f64::NAN), Status::Unknown);
        let reached = |t: &Threshold, value| {
            t.finding(value, "X", |name, limit| format!("{name} {limit}"))
                .map(|f| (f.severity, f.text))
        };
        assert_eq!(
            reached(&used, 91.0),
            Some((Severity::Critical, "crit 90%".into()))
        );
        assert_eq!(reached(&used, 50.0), None);
        assert_eq!(reached(&used, f64::NAN), None);
        let free = parse(r#"{ warn = "10 GiB", crit = "1 GiB" }"#, FREE).unwrap();
        assert_eq!(free.status(20e9), Status::Up);
        assert_eq!(free.status(5e9), Status::Degraded);
        assert_eq!(free.status(1e9), Status::Down);
        assert_eq!(
            reached(&free, 5e9),
            Some((Severity::Warning, "warn 10 GiB".into()))
        );
        let only_crit = parse(r#"{ crit = "2s", direction = "above" }"#, OFFSET).unwrap();
        assert_eq!(only_crit.status(1.9), Status::Up);
        assert_eq!(only_crit.status(2.0), Status::Down);
        let flipped = parse(
            r#"{ warn = "20%", crit = "10%", direction = "below" }"#,
            DISK,
        )
        .unwrap();
        assert_eq!(flipped.status(15.0), Status::Degraded);
        assert_eq!(
            flipped.to_string(),
            "warn 20%, crit 10% (below)",
            "shown as written"
        );
    }

    #[test]
    fn bad_thresholds_are_refused_where_written() {
        let cases: &[(&str, Accepts<'_>, &str)] = &[
            (
                r#"{ warn = "80s", crit = "90%" }"#,
                DISK,
                "keepup.toml:2:14: site[0].check[0].disk.\"/\".warn: wrong unit: this is a duration, the measure takes a percentage (\"80%\") or a size (\"10 GiB\", \"500MB\")",
            ),
            (
                r#"{ warn = "80%", crit = "120%" }"#,
                DISK,
                "keepup.toml:2:28: site[0].check[0].disk.\"/\".crit: 120 is more than 100%",
            ),
            (
                r#"{ warn = "90%", crit = "80%" }"#,
                DISK,
                "keepup.toml:2:14: site[0].check[0].disk.\"/\".warn: warn (90%) must be at most crit (80%): this measure alerts when it rises (above)",
            ),
            (
                r#"{ warn = "1 GiB", crit = "10 GiB" }"#,
                FREE,
                "warn (1 GiB) must be at least crit (10 GiB): this measure alerts when it falls (below)",
            ),
            (
                r#"{ warn = "80%", crit = "10 GiB" }"#,
                DISK,
                "keepup.toml:2:28: site[0].check[0].disk.\"/\".crit: crit (10 GiB) is not in the same unit as warn (a percentage)",
            ),
            (
                r#"{ warn = "10 GB" }"#,
                OFFSET,
                "wrong unit: this is a size, the measure takes a duration (\"30s\", \"5m\")",
            ),
            (r#"{ warn = "10 XB" }"#, DISK, "unknown size unit \"XB\""),
            (r#"{ warn = "ten" }"#, DISK, "cannot read \"ten\""),
            (r#"{ warn = "-5%" }"#, DISK, "cannot be negative"),
            (
                "{ direction = \"below\" }",
                DISK,
                "keepup.toml:2:5: site[0].check[0].disk.\"/\": a threshold needs warn, crit or both",
            ),
            (
                r#"{ warn = 1, direction = "under" }"#,
                LOAD,
                "keepup.toml:2:29: site[0].check[0].disk.\"/\".direction: unknown direction \"under\"",
            ),
            (
                "{ warn = 0.8 }",
                DISK,
                "wrong unit: this is a plain number, the measure takes a percentage",
            ),
        ];
        for (table, accepts, expected) in cases {
            let problems = parse(table, *accepts).expect_err(table);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{table}: {problems:?}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let problems = parse(r#"{ warning = "80%" }"#, DISK).unwrap_err();
        assert!(
            problems[0].contains("unknown field `warning`"),
            "{problems:?}"
        );
    }

    #[test]
    fn values_are_shown_in_their_unit() {
        assert_eq!(Unit::Bytes.format(10.0 * 1024f64.powi(3)), "10 GiB");
        assert_eq!(Unit::Bytes.format(1536.0), "1.5 KiB");
        assert_eq!(Unit::Seconds.format(0.25), "250ms");
        assert_eq!(Unit::Seconds.format(90.0), "90s");
        assert_eq!(Unit::Percent.format(91.26), "91.3%");
        assert_eq!(Unit::Number.format(4.0), "4");
    }
}
