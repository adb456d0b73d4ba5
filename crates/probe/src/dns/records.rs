//! Record expectations: does a name hold the records it should (A, AAAA,
//! CNAME, MX, TXT, CAA, NS equal to or containing given values), or not
//! exist at all?
//!
//! Used by `kind = "dns"` checks (asking every authoritative server of the
//! name's zone, found by walking down from the root hints, or the
//! configured resolvers) and by the `record` expectations of delegation
//! checks (asking every authoritative server of the zone). When servers
//! disagree, each failing one is named: a resolver would get either
//! answer.

use hickory_proto::rr::{Name, RData, Record, RecordType};
use keepup_config::dns::{RecordExpect, RecordExpectation, RecordKind, RecordValue};
use keepup_config::{DnsSpec, dns::RecordSource};
use keepup_model::{Finding, Outcome, Severity, Status};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::dns::stub;
use crate::dns::walk::{Reply, Server, Walker, classify};
use crate::dns::wire::{self, Question, name_text};
use crate::dns::{roots, walk_failure};
use crate::util::{failed, finish};

/// What one server (or resolver) says about a name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Observed {
    /// NXDOMAIN.
    NxDomain,
    /// The name exists; these are its records of the asked type (empty:
    /// none).
    Values(Vec<RecordValue>),
}

/// The record type to ask for.
pub(crate) fn record_type(kind: RecordKind) -> RecordType {
    match kind {
        RecordKind::A => RecordType::A,
        RecordKind::Aaaa => RecordType::AAAA,
        RecordKind::Cname => RecordType::CNAME,
        RecordKind::Mx => RecordType::MX,
        RecordKind::Txt => RecordType::TXT,
        RecordKind::Caa => RecordType::CAA,
        RecordKind::Ns => RecordType::NS,
    }
}

/// A received record as a comparable value.
pub(crate) fn value_of(r: &Record) -> Option<RecordValue> {
    Some(match &r.data {
        RData::A(a) => RecordValue::Address(a.0.into()),
        RData::AAAA(a) => RecordValue::Address(a.0.into()),
        RData::CNAME(c) => RecordValue::Name(name_text(&c.0)),
        RData::NS(n) => RecordValue::Name(name_text(&n.0)),
        RData::MX(mx) => RecordValue::Mx {
            preference: Some(mx.preference),
            exchange: name_text(&mx.exchange),
        },
        RData::TXT(t) => {
            let mut text = String::new();
            for part in t.txt_data.iter() {
                text.push_str(&String::from_utf8_lossy(part));
            }
            RecordValue::Txt(text)
        }
        RData::CAA(c) => RecordValue::Caa {
            flags: c.flags(),
            tag: c.tag.to_ascii_lowercase(),
            value: String::from_utf8_lossy(&c.value).into_owned(),
        },
        _ => return None,
    })
}

/// What a reply says, when it says something final (an alias to
/// elsewhere needs following first).
pub(crate) fn observed(reply: &Reply) -> Option<Observed> {
    match reply {
        Reply::Answer { records, .. } => {
            let mut values: Vec<RecordValue> = records.iter().filter_map(value_of).collect();
            values.dedup();
            Some(Observed::Values(values))
        }
        Reply::NoData { .. } => Some(Observed::Values(Vec::new())),
        Reply::NxDomain { .. } => Some(Observed::NxDomain),
        _ => None,
    }
}

/// Longest list of values shown in a finding.
const MAX_VALUES_SHOWN: usize = 8;

fn values_text(values: &[RecordValue]) -> String {
    if values.is_empty() {
        return "nothing".into();
    }
    let mut shown: Vec<String> = values
        .iter()
        .take(MAX_VALUES_SHOWN)
        .map(|v| {
            let mut t = v.to_string();
            if t.len() > 200 {
                let mut cut = 200;
                while !t.is_char_boundary(cut) {
                    cut -= 1;
                }
                t.truncate(cut);
                t.push('…');
            }
            t
        })
        .collect();
    shown.sort();
    if values.len() > MAX_VALUES_SHOWN {
        shown.push(format!("and {} more", values.len() - MAX_VALUES_SHOWN));
    }
    shown.join(", ")
}

/// Whether `found` satisfies the expectation; the code and sentence of
/// the problem otherwise.
pub(crate) fn evaluate(
    exp: &RecordExpectation,
    found: &Observed,
) -> Result<(), (&'static str, String)> {
    let what = format!("{} {}", exp.name, exp.kind);
    match (&exp.expect, found) {
        (RecordExpect::NxDomain, Observed::NxDomain) => Ok(()),
        (RecordExpect::NxDomain, Observed::Values(v)) => Err((
            codes::DNS_RECORD_EXISTS,
            if v.is_empty() {
                format!("{} exists, but should not (NXDOMAIN expected)", exp.name)
            } else {
                format!(
                    "{what} exists ({}), but the name should not (NXDOMAIN expected)",
                    values_text(v)
                )
            },
        )),
        (_, Observed::NxDomain) => Err((
            codes::DNS_RECORD_NXDOMAIN,
            format!("{} does not exist (NXDOMAIN)", exp.name),
        )),
        (RecordExpect::Equals(want), Observed::Values(have)) => {
            let all_wanted = want.iter().all(|w| have.iter().any(|h| w.accepts(h)));
            let nothing_else = have.iter().all(|h| want.iter().any(|w| w.accepts(h)));
            if all_wanted && nothing_else {
                Ok(())
            } else if have.is_empty() {
                Err((
                    codes::DNS_RECORD_MISSING,
                    format!("{what} has no records; expected {}", values_text(want)),
                ))
            } else {
                Err((
                    codes::DNS_RECORD_MISMATCH,
                    format!(
                        "{what} is {}; expected {}",
                        values_text(have),
                        values_text(want)
                    ),
                ))
            }
        }
        (RecordExpect::Contains(want), Observed::Values(have)) => {
            let missing: Vec<RecordValue> = want
                .iter()
                .filter(|w| !have.iter().any(|h| w.accepts(h)))
                .cloned()
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err((
                    codes::DNS_RECORD_MISSING,
                    format!(
                        "{what} lacks {} (it has {})",
                        values_text(&missing),
                        values_text(have)
                    ),
                ))
            }
        }
    }
}

/// Findings for one expectation from the answers of several servers
/// (`label`, observation or why there is none).
pub(crate) fn judge(
    exp: &RecordExpectation,
    results: &[(String, Result<Observed, String>)],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let answered: Vec<(&String, &Observed)> = results
        .iter()
        .filter_map(|(label, r)| r.as_ref().ok().map(|o| (label, o)))
        .collect();
    if answered.is_empty() {
        let why: Vec<String> = results
            .iter()
            .filter_map(|(label, r)| r.as_ref().err().map(|e| format!("{label}: {e}")))
            .collect();
        findings.push(Finding::new(
            codes::DNS_QUERY_FAILED,
            Severity::Warning,
            format!(
                "{} {} could not be checked: {}",
                exp.name,
                exp.kind,
                if why.is_empty() {
                    "no server to ask".to_owned()
                } else {
                    why.join("; ")
                }
            ),
        ));
        return findings;
    }
    // Group the failing servers by problem, so one problem is one finding.
    let mut problems: Vec<(&'static str, String, Vec<&String>)> = Vec::new();
    for (label, obs) in &answered {
        if let Err((code, text)) = evaluate(exp, obs) {
            match problems.iter_mut().find(|(_, t, _)| *t == text) {
                Some((_, _, labels)) => labels.push(label),
                None => problems.push((code, text, vec![label])),
            }
        }
    }
    let total = answered.len();
    for (code, text, labels) in problems {
        let text = if labels.len() < total {
            format!(
                "{text} (at {} of {total} servers: {})",
                labels.len(),
                labels
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            text
        };
        findings.push(Finding::new(code, Severity::Critical, text));
    }
    let first = answered[0].1;
    if answered.iter().any(|(_, o)| !same(o, first)) {
        findings.push(Finding::new(
            codes::DNS_RECORD_INCONSISTENT,
            Severity::Warning,
            format!(
                "the authoritative servers disagree about {} {}: {}",
                exp.name,
                exp.kind,
                answered
                    .iter()
                    .map(|(l, o)| format!("{l} says {}", observed_text(o)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ));
    }
    findings
}

fn same(a: &Observed, b: &Observed) -> bool {
    match (a, b) {
        (Observed::NxDomain, Observed::NxDomain) => true,
        (Observed::Values(x), Observed::Values(y)) => {
            x.len() == y.len() && x.iter().all(|v| y.contains(v))
        }
        _ => false,
    }
}

pub(crate) fn observed_text(o: &Observed) -> String {
    match o {
        Observed::NxDomain => "NXDOMAIN".into(),
        Observed::Values(v) if v.is_empty() => "no records".into(),
        Observed::Values(v) => values_text(v),
    }
}

/// Asks every server in `servers` (as servers of `zone`) about `exp`,
/// following an alias to another zone from the root, and returns the
/// per-server observations.
pub(crate) async fn ask_servers(
    walker: &mut Walker<'_>,
    exp: &RecordExpectation,
    servers: &[Server],
    zone: &Name,
) -> Vec<(String, Result<Observed, String>)> {
    let Ok(name) = Name::from_ascii(&exp.name) else {
        return vec![("-".into(), Err(format!("{} is not a DNS name", exp.name)))];
    };
    let rtype = record_type(exp.kind);
    let q = Question::new(&name, rtype, false);
    let usable: Vec<Server> = servers
        .iter()
        .filter(|s| walker.usable(s))
        .cloned()
        .collect();
    let asks = usable
        .iter()
        .map(|s| (s.clone(), q.clone(), false))
        .collect();
    let answers = walker.ask_all(asks).await;
    let mut chased: Vec<(Name, Result<Observed, String>)> = Vec::new();
    let mut out = Vec::new();
    for (server, answer) in usable.iter().zip(answers) {
        let result = match answer {
            Err(e) => Err(e.to_string()),
            Ok(x) => match classify(&x.msg, &name, rtype, zone, true) {
                Reply::Bad(why) => Err(why),
                Reply::Alias { target, .. } => {
                    let cached = chased
                        .iter()
                        .find(|(t, _)| *t == target)
                        .map(|(_, r)| r.clone());
                    match cached {
                        Some(r) => r,
                        None => {
                            let r = match walker.resolve_following(&target, rtype, 1).await {
                                Ok((res, _)) => observed(&res.reply)
                                    .ok_or_else(|| "the alias leads nowhere".to_owned()),
                                Err(e) => Err(e.text()),
                            };
                            chased.push((target, r.clone()));
                            r
                        }
                    }
                }
                Reply::Referral { cut, .. } => Err(format!(
                    "{} is in {}, a zone delegated further down",
                    exp.name,
                    name_text(&cut)
                )),
                reply => observed(&reply).ok_or_else(|| "no usable answer".to_owned()),
            },
        };
        out.push((server.label(), result));
    }
    out
}

/// Runs one `kind = "dns"` check.
pub async fn probe(spec: &DnsSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let exp = &spec.expectation;
    let Ok(name) = Name::from_ascii(&exp.name) else {
        return failed(
            &ctx,
            crate::util::Fail::Finding(Finding::new(
                codes::PROBE_INVALID_TARGET,
                Severity::Critical,
                format!("{} is not a DNS name", exp.name),
            )),
            started,
        );
    };
    let rtype = record_type(exp.kind);
    let mut outcome = Outcome::new(Status::Up, "");
    let results = match spec.source {
        RecordSource::Resolver => {
            let resolvers = stub::resolvers(&spec.dns).await;
            outcome.evidence.insert(
                "resolvers",
                resolvers.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            );
            let q = Question::new(&name, rtype, true);
            let t = Instant::now();
            match stub::lookup(&ctx, &resolvers, &name, rtype, spec.dns.query_timeout).await {
                Ok(a) => {
                    let resolver = a.resolver.to_string();
                    let obs = match classify(&a.exchange.msg, &name, rtype, &Name::root(), false) {
                        // A resolver follows aliases itself: a chain that
                        // ends without data is no data.
                        Reply::Alias { .. } => Ok(Observed::Values(Vec::new())),
                        Reply::Bad(why) => Err(why),
                        reply => observed(&reply).ok_or_else(|| "no usable answer".to_owned()),
                    };
                    let step =
                        wire::step(&resolver, &q, wire::Via::Udp, &Ok(a.exchange), t.elapsed());
                    outcome.evidence.insert("steps", Value::Array(vec![step]));
                    vec![(resolver, obs)]
                }
                Err(why) => vec![("resolvers".to_owned(), Err(why))],
            }
        }
        RecordSource::Authoritative => {
            let mut walker = Walker::new(&ctx, &spec.dns, roots::start_servers(&spec.dns));
            let resolution = walker.resolve(&name, rtype, 0).await;
            let results = match resolution {
                Ok(res) => {
                    outcome.evidence.insert("zone", name_text(&res.zone));
                    outcome.evidence.insert(
                        "servers",
                        res.servers.iter().map(Server::label).collect::<Vec<_>>(),
                    );
                    ask_servers(&mut walker, exp, &res.servers, &res.zone).await
                }
                Err(e) => {
                    let (steps, dropped) = walker.take_steps();
                    outcome.evidence.insert("steps", Value::Array(steps));
                    if dropped > 0 {
                        outcome.evidence.insert("steps_omitted", dropped);
                    }
                    outcome.push(walk_failure(&ctx, &e, "the name's zone"));
                    if matches!(e, crate::dns::walk::WalkError::Unreachable { ref cut, .. } if cut.is_root())
                    {
                        outcome.worsen(Status::Unknown);
                    }
                    return finish(outcome, String::new(), started);
                }
            };
            let (steps, dropped) = walker.take_steps();
            outcome.evidence.insert("steps", Value::Array(steps));
            if dropped > 0 {
                outcome.evidence.insert("steps_omitted", dropped);
            }
            outcome.evidence.insert("queries", walker.queries());
            results
        }
    };
    outcome.evidence.insert(
        "answers",
        results
            .iter()
            .map(|(label, r)| match r {
                Ok(o) => json!({ "server": label, "answer": observed_text(o) }),
                Err(e) => json!({ "server": label, "error": e }),
            })
            .collect::<Vec<_>>(),
    );
    let findings = judge(exp, &results);
    let unknown = findings.iter().any(|f| f.code == codes::DNS_QUERY_FAILED);
    for f in findings {
        outcome.push(f);
    }
    if unknown {
        outcome.worsen(Status::Unknown);
    }
    let ok = match &exp.expect {
        RecordExpect::NxDomain => format!("{} does not exist, as expected", exp.name),
        _ => format!("{} {} is as expected", exp.name, exp.kind),
    };
    finish(outcome, ok, started)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(expect: RecordExpect) -> RecordExpectation {
        RecordExpectation {
            name: "www.shop.test.".into(),
            kind: RecordKind::A,
            expect,
        }
    }

    fn ip(s: &str) -> RecordValue {
        RecordValue::Address(s.parse().unwrap())
    }

    #[test]
    fn equals_contains_and_nxdomain() {
        let e = exp(RecordExpect::Equals(vec![ip("192.0.2.1")]));
        assert!(evaluate(&e, &Observed::Values(vec![ip("192.0.2.1")])).is_ok());
        let (code, text) = evaluate(&e, &Observed::Values(vec![ip("192.0.2.2")])).unwrap_err();
        assert_eq!(code, codes::DNS_RECORD_MISMATCH);
        assert_eq!(text, "www.shop.test. A is 192.0.2.2; expected 192.0.2.1");
        assert_eq!(
            evaluate(&e, &Observed::NxDomain).unwrap_err().0,
            codes::DNS_RECORD_NXDOMAIN
        );
        assert_eq!(
            evaluate(&e, &Observed::Values(vec![])).unwrap_err().0,
            codes::DNS_RECORD_MISSING
        );
        let c = exp(RecordExpect::Contains(vec![ip("192.0.2.1")]));
        assert!(
            evaluate(
                &c,
                &Observed::Values(vec![ip("192.0.2.2"), ip("192.0.2.1")])
            )
            .is_ok()
        );
        let n = exp(RecordExpect::NxDomain);
        assert!(evaluate(&n, &Observed::NxDomain).is_ok());
        assert_eq!(
            evaluate(&n, &Observed::Values(vec![])).unwrap_err().0,
            codes::DNS_RECORD_EXISTS
        );
    }

    #[test]
    fn disagreeing_servers_are_named() {
        let e = exp(RecordExpect::Equals(vec![ip("192.0.2.1")]));
        let findings = judge(
            &e,
            &[
                ("ns1".into(), Ok(Observed::Values(vec![ip("192.0.2.1")]))),
                ("ns2".into(), Ok(Observed::Values(vec![ip("192.0.2.9")]))),
            ],
        );
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].code, codes::DNS_RECORD_MISMATCH);
        assert!(findings[0].text.ends_with("(at 1 of 2 servers: ns2)"));
        assert_eq!(findings[1].code, codes::DNS_RECORD_INCONSISTENT);
    }
}
