//! DNS checks, asked of the servers themselves rather than of the system
//! resolver:
//!
//! - [`delegation`]: `kind = "delegation"`, the chain from the root hints
//!   down to a zone and the health of the zone's name servers, with
//!   findings modelled on Zonemaster's test cases;
//! - [`records`]: `kind = "dns"`, record expectations (also usable inside a
//!   delegation check), asked of every authoritative server or of the
//!   configured resolvers.
//!
//! Underneath: [`wire`] sends one question to one server (hickory-proto
//! messages over UDP, TCP on truncation or on request, bounded and timed),
//! [`walk`] follows referrals from the root hints ([`roots`]: the bundled
//! IANA root servers or `[dns] root_hints`), [`stub`] asks recursive
//! resolvers. Name servers found during a walk are asked on `[dns] port`
//! (53 unless a private or test hierarchy says otherwise), since glue
//! carries addresses and never ports.

pub mod delegation;
mod lookup;
pub mod records;
pub(crate) mod roots;
pub(crate) mod stub;
pub(crate) mod walk;
pub(crate) mod wire;

pub use delegation::probe as probe_delegation;
pub use lookup::{Looked, lookup};
pub use records::probe as probe_records;

use keepup_model::{Finding, Severity};

use crate::codes;
use crate::context::ProbeContext;
use walk::WalkError;

/// The finding for a walk that could not reach `what`.
pub(crate) fn walk_failure(ctx: &ProbeContext, e: &WalkError, what: &str) -> Finding {
    match e {
        WalkError::Deadline => ctx.timeout_finding("walking down from the root"),
        WalkError::Unreachable { cut, .. } if cut.is_root() => Finding::new(
            codes::DNS_ROOT_UNREACHABLE,
            Severity::Warning,
            format!(
                "{what} cannot be looked up: {} (is keepup's own network down, or are the root hints wrong?)",
                e.text()
            ),
        ),
        WalkError::Unreachable { .. } => Finding::new(
            codes::DNS_PARENT_UNREACHABLE,
            Severity::Critical,
            format!("{what} cannot be resolved: {}", e.text()),
        ),
        WalkError::Loop(_) => Finding::new(
            codes::DNS_WALK_FAILED,
            Severity::Critical,
            format!("{what} cannot be resolved: {}", e.text()),
        ),
    }
}

/// Entry points for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use hickory_proto::rr::{Name, RecordType};

    use super::walk::{Reply, classify};
    use super::wire::{self, Exchange, Question, Via};

    /// Feeds `data`, as if it were a name server's response, through
    /// everything a walk does with one: bounded decoding, matching
    /// against the query, classification against several questions and
    /// zone cuts (including those the message names itself), SOA and
    /// record extraction, and the evidence summary. Must never panic.
    pub fn walk_response(data: &[u8]) {
        let Ok(msg) = wire::decode(data) else {
            return;
        };
        let mut names: Vec<Name> = ["shop.test.", "test.", "."]
            .iter()
            .filter_map(|n| Name::from_ascii(n).ok())
            .collect();
        for q in msg.queries.iter().take(2) {
            names.push(q.name.clone());
            names.push(q.name.base_name());
        }
        for r in msg.answers.iter().chain(msg.authorities.iter()).take(4) {
            names.push(r.name.clone());
        }
        let qtypes = [
            RecordType::NS,
            RecordType::SOA,
            RecordType::A,
            RecordType::AAAA,
            RecordType::MX,
            RecordType::TXT,
            RecordType::CNAME,
            RecordType::CAA,
        ];
        for qname in &names {
            for cut in &names {
                for qtype in qtypes {
                    for authoritative in [true, false] {
                        let reply = classify(&msg, qname, qtype, cut, authoritative);
                        let _ = super::records::observed(&reply);
                        if let Reply::Referral { ns, glue, .. } = &reply {
                            let _ = (ns.len(), glue.len());
                        }
                    }
                }
            }
            let _ = super::delegation::soa_of(&msg, qname);
            let q = Question::new(qname, RecordType::NS, false);
            let _ = wire::decode_response(data, msg.metadata.id, &q);
        }
        if let Some(first) = names.first() {
            let q = Question::new(first, RecordType::A, false);
            let step = wire::step(
                "fuzz",
                &q,
                Via::Udp,
                &Ok(Exchange {
                    msg: msg.clone(),
                    via: Via::Udp,
                    truncated_udp: false,
                }),
                std::time::Duration::ZERO,
            );
            let _ = step.to_string();
        }
        crate::dnsbl::fuzzing::decode_answers(&msg);
    }
}
