//! The service's state over time: the contract's expression evaluated over
//! its checks' timelines.
//!
//! States are ordered Up < Degraded < Unknown < Down. "Any part down"
//! (`|`) takes the worst part, "all parts down" (`&`, redundancy) the best:
//! a redundant pair with one server up is up; one down and one unknown is
//! unknown, never silently up or down.

use crate::input::{CheckTimeline, Span};
use keepup_config::contract::ServiceExpr;
use keepup_model::{CheckId, Status, Timestamp};

/// The state of the service (or of one check) at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceState {
    /// Working.
    Up,
    /// Working, impaired.
    Degraded,
    /// No data.
    Unknown,
    /// Not working.
    Down,
}

impl ServiceState {
    /// The state a span's status stands for.
    pub fn of(status: Option<Status>) -> ServiceState {
        match status {
            Some(Status::Up) => ServiceState::Up,
            Some(Status::Degraded) => ServiceState::Degraded,
            Some(Status::Down) => ServiceState::Down,
            Some(Status::Unknown) | None => ServiceState::Unknown,
        }
    }

    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Up => "up",
            ServiceState::Degraded => "degraded",
            ServiceState::Unknown => "unknown",
            ServiceState::Down => "down",
        }
    }
}

/// The expression with checks replaced by their position in the input.
enum Node {
    Check(usize),
    Any(Vec<Node>),
    All(Vec<Node>),
}

impl Node {
    fn compile(expr: &ServiceExpr, checks: &[&CheckId]) -> Node {
        match expr {
            // `checks` was collected from this very expression, so every
            // check is found.
            ServiceExpr::Check(c) => Node::Check(checks.iter().position(|k| *k == c).unwrap_or(0)),
            ServiceExpr::Any(p) => Node::Any(p.iter().map(|e| Node::compile(e, checks)).collect()),
            ServiceExpr::All(p) => Node::All(p.iter().map(|e| Node::compile(e, checks)).collect()),
        }
    }

    fn eval(&self, states: &[ServiceState]) -> ServiceState {
        match self {
            Node::Check(i) => states.get(*i).copied().unwrap_or(ServiceState::Unknown),
            Node::Any(p) => p
                .iter()
                .map(|n| n.eval(states))
                .max()
                .unwrap_or(ServiceState::Up),
            Node::All(p) => p
                .iter()
                .map(|n| n.eval(states))
                .min()
                .unwrap_or(ServiceState::Up),
        }
    }
}

/// A stretch of one service state, with the checks in that state (the
/// ones that explain it; empty when Up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateSpan {
    pub from: Timestamp,
    pub to: Timestamp,
    pub state: ServiceState,
    pub checks: Vec<CheckId>,
}

/// The service's states covering `[from, to)` exactly, adjacent equal
/// stretches merged.
pub(crate) fn service_states(
    expr: &ServiceExpr,
    timelines: &[CheckTimeline],
    from: Timestamp,
    to: Timestamp,
) -> Vec<StateSpan> {
    let checks = expr.checks();
    let node = Node::compile(expr, &checks);
    let empty: &[Span] = &[];
    let spans: Vec<&[Span]> = checks
        .iter()
        .map(|c| {
            timelines
                .iter()
                .find(|t| &t.check == *c)
                .map_or(empty, |t| t.spans.as_slice())
        })
        .collect();
    let mut points: Vec<Timestamp> = vec![from, to];
    for s in spans.iter().flat_map(|s| s.iter()) {
        for p in [s.from, s.to] {
            if p > from && p < to {
                points.push(p);
            }
        }
    }
    points.sort_unstable();
    points.dedup();
    let mut cursor = vec![0usize; spans.len()];
    let mut states = vec![ServiceState::Unknown; spans.len()];
    let mut out: Vec<StateSpan> = Vec::new();
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for (i, s) in spans.iter().enumerate() {
            while cursor[i] < s.len() && s[cursor[i]].to <= a {
                cursor[i] += 1;
            }
            states[i] = match s.get(cursor[i]) {
                Some(span) if span.from <= a => ServiceState::of(span.status),
                _ => ServiceState::Unknown,
            };
        }
        let state = node.eval(&states);
        let explaining: Vec<CheckId> = if state == ServiceState::Up {
            Vec::new()
        } else {
            checks
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s == state)
                .map(|(c, _)| (*c).clone())
                .collect()
        };
        match out.last_mut() {
            Some(last) if last.to == a && last.state == state && last.checks == explaining => {
                last.to = b
            }
            _ => out.push(StateSpan {
                from: a,
                to: b,
                state,
                checks: explaining,
            }),
        }
    }
    out
}
