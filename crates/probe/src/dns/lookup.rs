//! One-off iterative lookups for tools that explore a domain
//! (`keepup discover`): the same walk from the root hints as the
//! delegation check, answered by the zone's own servers, aliases
//! followed.

use hickory_proto::rr::Name;
use keepup_config::dns::{DnsSettings, RecordKind, RecordValue};

use crate::context::ProbeContext;
use crate::dns::records::{Observed, observed, record_type};
use crate::dns::roots;
use crate::dns::walk::{Reply, Walker};

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
pub enum Looked {
    /// The name does not exist.
    NxDomain,
    /// The name exists; its records of the asked type (none: empty).
    Values(Vec<RecordValue>),
}

/// Looks `name`/`kind` up from the root hints of `settings`, following
/// aliases, within `ctx`'s deadline. The error says what failed, in a
/// sentence.
pub async fn lookup(
    ctx: &ProbeContext,
    settings: &DnsSettings,
    name: &str,
    kind: RecordKind,
) -> Result<Looked, String> {
    let fqdn = if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    };
    let qname =
        Name::from_ascii(&fqdn).map_err(|e| format!("{name:?} is not a domain name: {e}"))?;
    let mut walker = Walker::new(ctx, settings, roots::start_servers(settings));
    let (resolution, _aliases) = walker
        .resolve_following(&qname, record_type(kind), 0)
        .await
        .map_err(|e| e.text())?;
    match &resolution.reply {
        Reply::Answer { .. } | Reply::NoData { .. } | Reply::NxDomain { .. } => {
            match observed(&resolution.reply) {
                Some(Observed::NxDomain) => Ok(Looked::NxDomain),
                Some(Observed::Values(v)) => Ok(Looked::Values(v)),
                None => Err(format!("no usable answer for {name}")),
            }
        }
        _ => Err(format!("no usable answer for {name}")),
    }
}
