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
use std::collections::{BTreeSet, HashMap};

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

/// How an inner node combines its parts.
#[derive(Clone, Copy)]
enum Combine {
    /// `|`: the worst part.
    Worst,
    /// `&`: the best part.
    Best,
}

/// The expression as a tree that is kept evaluated while the checks'
/// states change: each inner node counts its parts per state, so a check
/// that changes updates only the nodes on its path to the root, and only
/// as far as their state changes. With 1,000 checks and tens of thousands
/// of span boundaries, evaluating the whole expression at every boundary
/// was what made a month's report take seconds.
struct LiveTree {
    /// Per node: its parent (None for the root, node 0).
    parent: Vec<Option<usize>>,
    /// Per node: how it combines (None for a check).
    combine: Vec<Option<Combine>>,
    /// Per node: how many of its parts are in each state (by `rank`).
    counts: Vec<[u32; 4]>,
    /// Per node: its current state.
    state: Vec<ServiceState>,
    /// Per check (position in `ServiceExpr::checks`): its nodes (a check
    /// may appear more than once in the expression).
    nodes_of_check: Vec<Vec<usize>>,
}

const STATES: [ServiceState; 4] = [
    ServiceState::Up,
    ServiceState::Degraded,
    ServiceState::Unknown,
    ServiceState::Down,
];

fn rank(state: ServiceState) -> usize {
    match state {
        ServiceState::Up => 0,
        ServiceState::Degraded => 1,
        ServiceState::Unknown => 2,
        ServiceState::Down => 3,
    }
}

impl LiveTree {
    /// The tree of `expr` with every check Unknown.
    fn new(expr: &ServiceExpr, checks: &[&CheckId]) -> LiveTree {
        let mut tree = LiveTree {
            parent: Vec::new(),
            combine: Vec::new(),
            counts: Vec::new(),
            state: Vec::new(),
            nodes_of_check: vec![Vec::new(); checks.len()],
        };
        tree.add(expr, None, checks);
        tree
    }

    /// Adds `expr` under `parent`, its state computed from its parts.
    fn add(&mut self, expr: &ServiceExpr, parent: Option<usize>, checks: &[&CheckId]) {
        let node = self.parent.len();
        self.parent.push(parent);
        self.counts.push([0; 4]);
        self.state.push(ServiceState::Unknown);
        match expr {
            ServiceExpr::Check(c) => {
                self.combine.push(None);
                // `checks` was collected from this very expression, so
                // every check is found.
                if let Some(i) = checks.iter().position(|k| *k == c) {
                    self.nodes_of_check[i].push(node);
                }
            }
            ServiceExpr::Any(parts) | ServiceExpr::All(parts) => {
                self.combine.push(Some(match expr {
                    ServiceExpr::Any(_) => Combine::Worst,
                    _ => Combine::Best,
                }));
                for part in parts {
                    let child = self.parent.len();
                    self.add(part, Some(node), checks);
                    self.counts[node][rank(self.state[child])] += 1;
                }
                self.state[node] = self.combined(node);
            }
        }
    }

    /// An inner node's state from its counts; Up when it has no parts.
    fn combined(&self, node: usize) -> ServiceState {
        let counts = &self.counts[node];
        let present = |s: &&ServiceState| counts[rank(**s)] > 0;
        let found = match self.combine[node] {
            Some(Combine::Worst) => STATES.iter().rev().find(present),
            Some(Combine::Best) => STATES.iter().find(present),
            None => Some(&self.state[node]),
        };
        found.copied().unwrap_or(ServiceState::Up)
    }

    /// Sets check `check`'s state and updates the nodes above it.
    fn set(&mut self, check: usize, to: ServiceState) {
        for k in 0..self.nodes_of_check[check].len() {
            let mut node = self.nodes_of_check[check][k];
            let mut new = to;
            loop {
                let old = self.state[node];
                if old == new {
                    break;
                }
                self.state[node] = new;
                let Some(parent) = self.parent[node] else {
                    break;
                };
                self.counts[parent][rank(old)] -= 1;
                self.counts[parent][rank(new)] += 1;
                node = parent;
                new = self.combined(parent);
            }
        }
    }

    fn root(&self) -> ServiceState {
        self.state.first().copied().unwrap_or(ServiceState::Up)
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
/// stretches merged. With `explain`, each stretch names the checks in its
/// state; without, none (a burn window needs only the states, and with
/// hundreds of checks in a state the lists were most of the memory).
///
/// Walks the span boundaries in time order and, at each, updates only the
/// checks that have one there (`LiveTree`), so the work is proportional to
/// the boundaries times the expression's depth, not times its checks.
pub(crate) fn service_states(
    expr: &ServiceExpr,
    timelines: &[CheckTimeline],
    from: Timestamp,
    to: Timestamp,
    explain: bool,
) -> Vec<StateSpan> {
    let checks = expr.checks();
    let by_check: HashMap<&CheckId, &[Span]> = timelines
        .iter()
        .map(|t| (&t.check, t.spans.as_slice()))
        .collect();
    let spans: Vec<&[Span]> = checks
        .iter()
        .map(|c| by_check.get(*c).copied().unwrap_or(&[]))
        .collect();
    // Every moment in (from, to) where some check's span starts or ends,
    // with that check; every check is looked at once at `from`.
    let mut changes: Vec<(Timestamp, usize)> = (0..spans.len()).map(|i| (from, i)).collect();
    for (i, s) in spans.iter().enumerate() {
        for span in s.iter() {
            for p in [span.from, span.to] {
                if p > from && p < to {
                    changes.push((p, i));
                }
            }
        }
    }
    changes.sort_unstable();
    changes.dedup();

    let mut tree = LiveTree::new(expr, &checks);
    let mut cursor = vec![0usize; spans.len()];
    let mut states = vec![ServiceState::Unknown; spans.len()];
    // The checks in each state, in the expression's order (the order the
    // explanation lists them in).
    let mut in_state: [BTreeSet<usize>; 4] = Default::default();
    in_state[rank(ServiceState::Unknown)].extend(0..spans.len());
    let mut out: Vec<StateSpan> = Vec::new();
    let mut next = 0;
    let mut a = from;
    while a < to {
        // Which states gained or lost a check at `a`.
        let mut touched = [false; 4];
        while next < changes.len() && changes[next].0 == a {
            let i = changes[next].1;
            next += 1;
            let s = spans[i];
            while cursor[i] < s.len() && s[cursor[i]].to <= a {
                cursor[i] += 1;
            }
            let now = match s.get(cursor[i]) {
                Some(span) if span.from <= a => ServiceState::of(span.status),
                _ => ServiceState::Unknown,
            };
            let was = states[i];
            if now != was {
                states[i] = now;
                in_state[rank(was)].remove(&i);
                in_state[rank(now)].insert(i);
                touched[rank(was)] = true;
                touched[rank(now)] = true;
                tree.set(i, now);
            }
        }
        let b = changes.get(next).map_or(to, |c| c.0.min(to));
        let state = tree.root();
        match out.last_mut() {
            // Same state, same checks in it: the stretch goes on.
            Some(last)
                if last.state == state && (state == ServiceState::Up || !touched[rank(state)]) =>
            {
                last.to = b
            }
            _ => {
                let explaining: Vec<CheckId> = if state == ServiceState::Up || !explain {
                    Vec::new()
                } else {
                    in_state[rank(state)]
                        .iter()
                        .map(|i| checks[*i].clone())
                        .collect()
                };
                match out.last_mut() {
                    Some(last) if last.state == state && last.checks == explaining => last.to = b,
                    _ => out.push(StateSpan {
                        from: a,
                        to: b,
                        state,
                        checks: explaining,
                    }),
                }
            }
        }
        a = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from: Timestamp, to: Timestamp, status: Status) -> Span {
        Span {
            from,
            to,
            status: Some(status),
        }
    }

    fn stretch(
        from: Timestamp,
        to: Timestamp,
        state: ServiceState,
        checks: &[&CheckId],
    ) -> StateSpan {
        StateSpan {
            from,
            to,
            state,
            checks: checks.iter().map(|c| (*c).clone()).collect(),
        }
    }

    /// `(a | b) & (a | c)`: `a` appears twice, so its changes must reach
    /// both of its places; the explaining checks follow the state.
    #[test]
    fn a_check_in_two_places_changes_both() {
        let (a, b, c) = (
            CheckId::new("s", "a"),
            CheckId::new("s", "b"),
            CheckId::new("s", "c"),
        );
        let any = |x: &CheckId, y: &CheckId| {
            ServiceExpr::Any(vec![
                ServiceExpr::Check(x.clone()),
                ServiceExpr::Check(y.clone()),
            ])
        };
        let expr = ServiceExpr::All(vec![any(&a, &b), any(&a, &c)]);
        let timelines = vec![
            CheckTimeline {
                check: a.clone(),
                spans: vec![
                    span(0, 10, Status::Up),
                    span(10, 20, Status::Down),
                    span(20, 40, Status::Up),
                ],
            },
            CheckTimeline {
                check: b.clone(),
                spans: vec![span(0, 30, Status::Up), span(30, 40, Status::Down)],
            },
            CheckTimeline {
                check: c.clone(),
                spans: vec![span(0, 25, Status::Up), span(25, 40, Status::Degraded)],
            },
        ];
        use ServiceState::*;
        assert_eq!(
            service_states(&expr, &timelines, -5, 45, true),
            vec![
                stretch(-5, 0, Unknown, &[&a, &b, &c]),
                stretch(0, 10, Up, &[]),
                stretch(10, 20, Down, &[&a]),
                // c Degraded alone leaves a | b Up, and & takes the best.
                stretch(20, 30, Up, &[]),
                stretch(30, 40, Degraded, &[&c]),
                stretch(40, 45, Unknown, &[&a, &b, &c]),
            ]
        );
    }
}
