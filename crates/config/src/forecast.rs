//! Capacity forecasts (`forecast = { ... }` on a check): which measures'
//! trends to watch, over which window, and how many days before they run
//! out are Degraded (`warn`) and Down (`crit`).
//!
//! As written on a host check, beside its thresholds:
//! `forecast = { window = "7d" }` forecasts every capacity measure the
//! check judges (disk and inodes per mount, memory: full at 100 %), and
//! `forecast = { disk."/var" = { limit = "95%" }, load = { limit = 2 } }`
//! names measures, each inheriting the settings written beside them. On
//! other kinds one measure: `forecast = { measure = "latency", limit =
//! "2s" }`, `measure = "connections"` (postgres, mysql: % of
//! max_connections), `"size"` (postgres, mysql: the database's size in
//! bytes), `"memory"` (redis: % of maxmemory), `"clients"` (redis), or a
//! prometheus check's own `[[site.check.measure]]` by its name. A measure
//! with a capacity is forecast in % of it and is full at 100 % unless
//! `limit` says less; one without (load, latency, clients, size, a
//! Prometheus measure) needs `limit` in its own unit (a Prometheus
//! measure's unit is the limit's: a plain number, a size or a duration,
//! as Prometheus counts them in bytes and seconds).
//!
//! Not here: the samples and the fit (store and monitor), nor the line
//! itself (`keepup_model::forecast`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::CheckSpec;
use crate::PassiveSpec;
use crate::ProbeSpec;
use crate::load::Loader;
use crate::raw::Dur;
use crate::threshold::{Limit, Unit, parse_limit};

/// Degraded when the limit is this near by default.
pub const DEFAULT_WARN: Duration = Duration::from_secs(7 * 86_400);
/// Down when the limit is this near by default.
pub const DEFAULT_CRIT: Duration = Duration::from_secs(2 * 86_400);
/// The window fitted by default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 86_400);
/// Fewest samples a forecast is made from by default.
pub const DEFAULT_MIN_POINTS: u32 = 10;
/// The longest window (samples are kept for the longest configured).
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 86_400);
/// A window is sampled at most this many times (one sample per
/// window / this, or per interval when that is longer): the fit's cost.
pub const SAMPLES_PER_WINDOW: u32 = 500;

/// Where a measure's value is read from a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host check's measure, as its judge writes it in the evidence
    /// (`measures`, by the measure's key).
    Host(HostMeasure),
    /// The run's latency (seconds).
    Latency,
    /// A number in the evidence (a JSON pointer), in % of another when
    /// `capacity` is given.
    Evidence {
        /// Pointer to the value.
        value: String,
        /// Pointer to the capacity, for measures forecast in % of it.
        capacity: Option<String>,
    },
}

/// The host measures a forecast can follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMeasure {
    /// Used space of a mount point, % (as df counts it).
    Disk(String),
    /// Used inodes of a mount point, %.
    Inodes(String),
    /// Memory used, % (what is not MemAvailable).
    Memory,
    /// Load average per core: 0 for 1 minute, 1 for 5, 2 for 15.
    Load(usize),
}

/// One measure followed by a forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measure {
    /// Stable key, as stored with its samples: `disk:/var`, `memory`,
    /// `load`, `latency`, `connections`.
    pub key: String,
    /// What it is, for people: "used space on /var".
    pub what: String,
    /// Its unit; [`Unit::Percent`] means "of its capacity".
    pub unit: Unit,
    /// Where its value comes from.
    pub source: Source,
}

/// `forecast`: one measure's trend, judged on each result.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The measure.
    pub measure: Measure,
    /// How far back the fit looks.
    pub window: Duration,
    /// Degraded when the limit is reached within this.
    pub warn: Duration,
    /// Down when the limit is reached within this.
    pub crit: Duration,
    /// Where the measure is full, in its unit: 100 (%) for a capacity
    /// unless a lower limit is given.
    pub limit: f64,
    /// Fewest samples a forecast is made from.
    pub min_points: u32,
}

impl Forecast {
    /// One sample per this: the check's interval, or a 500th of the
    /// window when that is longer.
    pub fn step(&self, interval: Duration) -> Duration {
        interval.max(self.window / SAMPLES_PER_WINDOW)
    }
    /// The samples must span at least this (a quarter of the window), so
    /// that a few minutes of growth never predict a month.
    pub fn min_span(&self) -> Duration {
        self.window / 4
    }
}

/// One measure's settings as written (each inherits the check-level ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOne {
    window: Option<Spanned<Dur>>,
    warn: Option<Spanned<Dur>>,
    crit: Option<Spanned<Dur>>,
    limit: Option<Spanned<Limit>>,
    min_points: Option<Spanned<u32>>,
}

/// `forecast = { ... }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawForecast {
    measure: Option<Spanned<String>>,
    window: Option<Spanned<Dur>>,
    warn: Option<Spanned<Dur>>,
    crit: Option<Spanned<Dur>>,
    limit: Option<Spanned<Limit>>,
    min_points: Option<Spanned<u32>>,
    #[serde(default)]
    disk: BTreeMap<String, Spanned<RawOne>>,
    #[serde(default)]
    inodes: BTreeMap<String, Spanned<RawOne>>,
    memory: Option<Spanned<RawOne>>,
    load1: Option<Spanned<RawOne>>,
    load: Option<Spanned<RawOne>>,
    load15: Option<Spanned<RawOne>>,
}

/// The measures of other kinds than host: (kind, name, value, capacity,
/// unit, what).
type Catalogued = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Unit,
    &'static str,
);
const CATALOGUE: &[Catalogued] = &[
    (
        "postgres",
        "connections",
        "/postgres/connections",
        Some("/postgres/max_connections"),
        Unit::Percent,
        "connections in use (of max_connections)",
    ),
    (
        "mysql",
        "connections",
        "/mysql/connections",
        Some("/mysql/max_connections"),
        Unit::Percent,
        "connections in use (of max_connections)",
    ),
    (
        "postgres",
        "size",
        "/postgres/database_size_bytes",
        None,
        Unit::Bytes,
        "the database's size",
    ),
    (
        "mysql",
        "size",
        "/mysql/database_size_bytes",
        None,
        Unit::Bytes,
        "the databases' size",
    ),
    (
        "redis",
        "memory",
        "/redis/used_memory",
        Some("/redis/maxmemory"),
        Unit::Percent,
        "memory used (of maxmemory)",
    ),
    (
        "redis",
        "clients",
        "/redis/connected_clients",
        None,
        Unit::Number,
        "connected clients",
    ),
];

/// The measures a check of `kind` can forecast besides a host's: the
/// catalogue's, and a prometheus check's own.
fn measures_of<'a>(kind: &str, spec: &'a CheckSpec) -> Vec<&'a str> {
    let mut names = vec!["latency"];
    names.extend(CATALOGUE.iter().filter(|c| c.0 == kind).map(|c| c.1));
    if let CheckSpec::Probe(ProbeSpec::Prometheus(p)) = spec {
        names.extend(p.measures.iter().map(|m| m.name.as_str()));
    }
    names
}

/// A prometheus check's measure `name`, if it declares one.
fn prometheus_measure(spec: &CheckSpec, name: &str) -> Option<Measure> {
    let CheckSpec::Probe(ProbeSpec::Prometheus(p)) = spec else {
        return None;
    };
    let m = p.measures.iter().find(|m| m.name == name)?;
    Some(Measure {
        key: m.name.clone(),
        what: m.name.clone(),
        unit: Unit::Number,
        source: Source::Evidence {
            value: crate::prometheus::measure_pointer(&m.name),
            capacity: None,
        },
    })
}

fn host_measure(m: HostMeasure) -> Measure {
    let (key, what, unit) = match &m {
        HostMeasure::Disk(p) => (
            format!("disk:{p}"),
            format!("used space on {p}"),
            Unit::Percent,
        ),
        HostMeasure::Inodes(p) => (
            format!("inodes:{p}"),
            format!("used inodes on {p}"),
            Unit::Percent,
        ),
        HostMeasure::Memory => ("memory".into(), "memory used".into(), Unit::Percent),
        HostMeasure::Load(i) => (
            ["load1", "load", "load15"][*i].to_owned(),
            format!(
                "the {} load per core",
                ["1-minute", "5-minute", "15-minute"][*i]
            ),
            Unit::Number,
        ),
    };
    Measure {
        key,
        what,
        unit,
        source: Source::Host(m),
    }
}

impl Loader<'_> {
    /// `forecast` of a check of `kind` (run every `interval`): its
    /// measures, each checked for its units, window and order of days.
    pub(crate) fn forecasts(
        &mut self,
        raw: Option<Spanned<RawForecast>>,
        kind: &str,
        spec: &CheckSpec,
        interval: Duration,
        path: &str,
    ) -> Vec<Forecast> {
        let Some(raw) = raw else {
            return Vec::new();
        };
        let path = format!("{path}.forecast");
        let span = raw.span();
        let raw = raw.into_inner();
        let top = &RawOne {
            window: raw.window.clone(),
            warn: raw.warn.clone(),
            crit: raw.crit.clone(),
            limit: raw.limit.clone(),
            min_points: raw.min_points.clone(),
        };
        let mut chosen: Vec<(Measure, Option<Spanned<RawOne>>, String)> = Vec::new();
        if let CheckSpec::Passive(PassiveSpec::Host(host)) = spec {
            if let Some(m) = &raw.measure {
                self.rep.report(
                    m.span(),
                    &format!("{path}.measure"),
                    "a host check names its measures as keys, not with measure",
                    Some("e.g. forecast = { disk.\"/var\" = {}, memory = {} }, or forecast = { window = \"7d\" } for every disk, inodes and memory measure the check judges".into()),
                );
                return Vec::new();
            }
            for (key, table) in [("disk", &raw.disk), ("inodes", &raw.inodes)] {
                for (mount, one) in table {
                    let at = format!("{path}.{key}.{mount:?}");
                    if !mount.starts_with('/') {
                        self.rep.report(
                            one.span(),
                            &at,
                            format!("{mount:?} is not a mount point"),
                            Some(format!("write forecast.{key}.\"/var\" = {{ ... }}")),
                        );
                        continue;
                    }
                    let m = if key == "disk" {
                        HostMeasure::Disk(mount.clone())
                    } else {
                        HostMeasure::Inodes(mount.clone())
                    };
                    chosen.push((host_measure(m), Some(one.clone()), at));
                }
            }
            for (key, one, m) in [
                ("memory", &raw.memory, HostMeasure::Memory),
                ("load1", &raw.load1, HostMeasure::Load(0)),
                ("load", &raw.load, HostMeasure::Load(1)),
                ("load15", &raw.load15, HostMeasure::Load(2)),
            ] {
                if let Some(one) = one {
                    chosen.push((host_measure(m), Some(one.clone()), format!("{path}.{key}")));
                }
            }
            let named = !raw.disk.is_empty()
                || !raw.inodes.is_empty()
                || raw.memory.is_some()
                || raw.load1.is_some()
                || raw.load.is_some()
                || raw.load15.is_some();
            if !named {
                // Every capacity measure the check judges.
                let mounts: std::collections::BTreeSet<&String> =
                    host.disk.keys().chain(host.disk_free.keys()).collect();
                for m in mounts {
                    chosen.push((
                        host_measure(HostMeasure::Disk(m.clone())),
                        None,
                        path.clone(),
                    ));
                }
                for m in host.inodes.keys() {
                    chosen.push((
                        host_measure(HostMeasure::Inodes(m.clone())),
                        None,
                        path.clone(),
                    ));
                }
                if host.memory.is_some() {
                    chosen.push((host_measure(HostMeasure::Memory), None, path.clone()));
                }
                if chosen.is_empty() {
                    self.rep.report(
                        span,
                        &path,
                        "the check judges no capacity measure (disk, disk_free, inodes, memory) to forecast",
                        Some("name one: forecast = { disk.\"/\" = {} }, or forecast.load = { limit = 2 }".into()),
                    );
                    return Vec::new();
                }
            }
        } else {
            let host_keys = [
                ("disk", !raw.disk.is_empty()),
                ("inodes", !raw.inodes.is_empty()),
                ("memory", raw.memory.is_some()),
                ("load1", raw.load1.is_some()),
                ("load", raw.load.is_some()),
                ("load15", raw.load15.is_some()),
            ];
            if let Some((key, _)) = host_keys.iter().find(|(_, set)| *set) {
                self.rep.report(
                    span,
                    &format!("{path}.{key}"),
                    format!("{key} is a host measure; a {kind} check forecasts one measure"),
                    Some(format!(
                        "write forecast = {{ measure = \"...\" }} with one of: {}",
                        measures_of(kind, spec).join(", ")
                    )),
                );
                return Vec::new();
            }
            let Some(name) = &raw.measure else {
                self.rep.report(
                    span,
                    &format!("{path}.measure"),
                    "a forecast needs the measure it follows",
                    Some(format!(
                        "a {kind} check can forecast: {}",
                        measures_of(kind, spec).join(", ")
                    )),
                );
                return Vec::new();
            };
            let measure = other_measure(spec, name.get_ref());
            let Some(measure) = measure else {
                let known = measures_of(kind, spec);
                let hint = crate::diag::closest(name.get_ref(), known.iter().copied())
                    .map(|n| format!("did you mean {n:?}? "))
                    .unwrap_or_default();
                self.rep.report(
                    name.span(),
                    &format!("{path}.measure"),
                    format!(
                        "a {kind} check has no measure {:?} to forecast",
                        name.get_ref()
                    ),
                    Some(format!(
                        "{hint}it can forecast: {}{}",
                        known.join(", "),
                        if kind == "prometheus" {
                            " (a prometheus check's own are its [[site.check.measure]] names)"
                        } else {
                            ""
                        }
                    )),
                );
                return Vec::new();
            };
            chosen.push((measure, None, path.clone()));
        }
        // A Prometheus measure is in whatever unit its exporter counts.
        let any_unit = kind == "prometheus";
        let mut out = Vec::new();
        for (measure, one, at) in chosen {
            let one = one.map(Spanned::into_inner).unwrap_or_default();
            let any_unit = any_unit && measure.key != "latency";
            if let Some(f) = self.forecast_one(measure, top, &one, interval, &at, &span, any_unit) {
                out.push(f);
            }
        }
        out
    }

    /// One measure's settings over the check-level ones over the defaults.
    /// A measure of `any_unit` (a Prometheus value, in the exporter's base
    /// units) takes the unit its limit is written in, except %.
    #[allow(clippy::too_many_arguments)]
    fn forecast_one(
        &mut self,
        mut measure: Measure,
        top: &RawOne,
        one: &RawOne,
        interval: Duration,
        path: &str,
        span: &std::ops::Range<usize>,
        any_unit: bool,
    ) -> Option<Forecast> {
        let before = self.rep.count();
        let pick = |o: &Option<Spanned<Dur>>, t: &Option<Spanned<Dur>>| {
            o.as_ref().or(t.as_ref()).map(|d| (d.get_ref().0, d.span()))
        };
        let (window, window_span) =
            pick(&one.window, &top.window).unwrap_or((DEFAULT_WINDOW, span.clone()));
        let (warn, warn_span) = pick(&one.warn, &top.warn).unwrap_or((DEFAULT_WARN, span.clone()));
        let (crit, _) = pick(&one.crit, &top.crit).unwrap_or((DEFAULT_CRIT, span.clone()));
        let min_points = one
            .min_points
            .as_ref()
            .or(top.min_points.as_ref())
            .map(|n| (*n.get_ref(), n.span()));
        if window < interval {
            self.rep.report(
                window_span.clone(),
                &format!("{path}.window"),
                format!(
                    "the window ({}) is shorter than the check's interval ({})",
                    humantime::format_duration(window),
                    humantime::format_duration(interval)
                ),
                Some("a forecast fits the samples of several runs: make the window many intervals long".into()),
            );
        } else if window > MAX_WINDOW {
            self.rep.report(
                window_span.clone(),
                &format!("{path}.window"),
                format!(
                    "the window ({}) is longer than a year",
                    humantime::format_duration(window)
                ),
                Some("samples are kept for the longest window: at most \"366d\"".into()),
            );
        }
        let min = match min_points {
            Some((n, s)) if n < 3 => {
                self.rep.report(
                    s,
                    &format!("{path}.min_points"),
                    format!("{n} points make no trend; at least 3"),
                    None,
                );
                n
            }
            Some((n, _)) => n,
            None => DEFAULT_MIN_POINTS,
        };
        if window >= interval && window <= MAX_WINDOW {
            let step = interval.max(window / SAMPLES_PER_WINDOW);
            let fits = (window.as_millis() / step.as_millis().max(1)) as u64 + 1;
            if fits < u64::from(min) {
                self.rep.report(
                    window_span,
                    &format!("{path}.window"),
                    format!(
                        "the window ({}) holds {fits} runs of the check, fewer than the {min} points a forecast needs",
                        humantime::format_duration(window)
                    ),
                    Some("lengthen the window, shorten the interval, or lower min_points".into()),
                );
            }
        }
        if warn <= crit {
            self.rep.report(
                warn_span,
                &format!("{path}.warn"),
                format!(
                    "warn ({}) must be longer than crit ({}): the limit nears warn first",
                    humantime::format_duration(warn),
                    humantime::format_duration(crit)
                ),
                Some("e.g. warn = \"7d\", crit = \"2d\"".into()),
            );
        }
        let limit = match one.limit.as_ref().or(top.limit.as_ref()) {
            Some(l) => {
                let key = format!("{path}.limit");
                match parse_limit(l.get_ref()) {
                    Err(message) => {
                        self.rep.report(l.span(), &key, message, None);
                        None
                    }
                    // A size or a duration: a Prometheus value counted in
                    // bytes or seconds.
                    Ok((n, unit @ (Unit::Bytes | Unit::Seconds))) if any_unit && n > 0.0 => {
                        measure.unit = unit;
                        Some(n)
                    }
                    // A bare number in the measure's own unit, except
                    // percentages (0.8 and 80 would both be plausible).
                    Ok((n, Unit::Number))
                        if matches!(measure.unit, Unit::Seconds | Unit::Bytes) && n > 0.0 =>
                    {
                        Some(n)
                    }
                    Ok((n, unit)) if unit == measure.unit && n > 0.0 => Some(n),
                    Ok((_, unit)) if unit == measure.unit => {
                        self.rep
                            .report(l.span(), &key, "a limit must be above zero", None);
                        None
                    }
                    Ok((_, unit)) => {
                        self.rep.report(
                            l.span(),
                            &key,
                            format!(
                                "wrong unit: {} is forecast in {}, not {}",
                                measure.what,
                                unit_name(measure.unit),
                                unit_name(unit)
                            ),
                            Some(match measure.unit {
                                Unit::Percent => {
                                    "write a share of its capacity, e.g. limit = \"95%\"".into()
                                }
                                Unit::Seconds => "write a duration, e.g. limit = \"2s\"".into(),
                                Unit::Bytes => "write a size, e.g. limit = \"50GiB\"".into(),
                                _ if any_unit => "a Prometheus measure has no capacity: write a plain number, a size (\"50GiB\") or a duration (\"2s\")".into(),
                                _ => "write a plain number, e.g. limit = 2".into(),
                            }),
                        );
                        None
                    }
                }
            }
            None if measure.unit == Unit::Percent => Some(100.0),
            None => {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.limit"),
                    format!(
                        "{} has no capacity: the forecast needs its limit",
                        measure.what
                    ),
                    Some(match measure.unit {
                        Unit::Seconds => "e.g. limit = \"2s\"".into(),
                        Unit::Bytes => {
                            "e.g. limit = \"50GiB\" (what the disk or quota holds for it)".into()
                        }
                        _ if any_unit => {
                            "e.g. limit = 10000, or a size (\"50GiB\") or a duration (\"2s\") for a value in bytes or seconds".into()
                        }
                        _ => "e.g. limit = 2".into(),
                    }),
                );
                None
            }
        };
        if self.rep.count() > before {
            return None;
        }
        Some(Forecast {
            measure,
            window,
            warn,
            crit,
            limit: limit?,
            min_points: min,
        })
    }
}

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Percent => "% of its capacity",
        Unit::Bytes => "bytes",
        Unit::Seconds => "seconds",
        Unit::Number => "a plain number",
    }
}

/// The measure `name` of a check of this `spec`, as a forecast would
/// follow it (one catalogue for both): for a host check `memory`,
/// `load1`, `load`, `load15`, `disk:/MOUNT`, `inodes:/MOUNT`; for the
/// other kinds `latency` and their catalogued measures. Err: the names
/// it has, for the message.
pub fn measure_named(spec: &CheckSpec, name: &str) -> Result<Measure, Vec<String>> {
    let kind = spec.kind();
    if let CheckSpec::Passive(PassiveSpec::Host(_)) = spec {
        let host = match name {
            "memory" => Some(HostMeasure::Memory),
            "load1" => Some(HostMeasure::Load(0)),
            "load" => Some(HostMeasure::Load(1)),
            "load15" => Some(HostMeasure::Load(2)),
            _ => match name.split_once(':') {
                Some(("disk", m)) if m.starts_with('/') => Some(HostMeasure::Disk(m.to_owned())),
                Some(("inodes", m)) if m.starts_with('/') => {
                    Some(HostMeasure::Inodes(m.to_owned()))
                }
                _ => None,
            },
        };
        return host.map(host_measure).ok_or_else(|| {
            [
                "memory",
                "load1",
                "load",
                "load15",
                "disk:/MOUNT",
                "inodes:/MOUNT",
            ]
            .map(str::to_owned)
            .to_vec()
        });
    }
    other_measure(spec, name).ok_or_else(|| {
        measures_of(kind, spec)
            .into_iter()
            .map(str::to_owned)
            .collect()
    })
}

/// The measure `name` of a check that is not a host check: `latency`,
/// the catalogue's for its kind, a prometheus check's own.
fn other_measure(spec: &CheckSpec, name: &str) -> Option<Measure> {
    if name == "latency" {
        return Some(Measure {
            key: "latency".into(),
            what: "the response time".into(),
            unit: Unit::Seconds,
            source: Source::Latency,
        });
    }
    let kind = spec.kind();
    CATALOGUE
        .iter()
        .find(|c| c.0 == kind && c.1 == name)
        .map(|c| Measure {
            key: c.1.to_owned(),
            what: c.5.to_owned(),
            unit: c.4,
            source: Source::Evidence {
                value: c.2.to_owned(),
                capacity: c.3.map(str::to_owned),
            },
        })
        .or_else(|| prometheus_measure(spec, name))
}
