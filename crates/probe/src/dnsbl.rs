//! `kind = "dnsbl"`: is a shop's mail or web address, or its domain, on a
//! spam blacklist (a DNSBL, RFC 5782)?
//!
//! The addresses are the configured `ips`, or else those of the shop's MX
//! hosts, its apex and `www`, resolved at each run. Each is looked up on
//! every IPv4 or IPv6 list of the zone list (IPv4 as reversed octets, IPv6
//! as reversed nibbles), and the domain on every domain list, through the
//! configured resolvers, with a bound on the lookups in flight.
//!
//! Before a zone is trusted it is sanity-checked, every run: its test entry
//! (127.0.0.2, or the list's own test domain such as `dbltest.com`) must be
//! listed and its never-listed entry (127.0.0.1, `invalid`) must not be. A
//! zone that fails is reported as unusable, not consulted. Answers are
//! decoded per zone ([`CATALOGUE`]: Spamhaus ZEN and DBL, SURBL, URIBL,
//! Barracuda, SpamCop, UCEPROTECT, Mailspike, PSBL, s5h, NiX Spam,
//! DroneBL); a listing fetches the list's TXT reason. Error codes
//! (Spamhaus 127.255.255.252/254/255, DBL 127.0.1.255, the 127.0.0.1 some
//! lists return to blocked resolvers) and answers outside 127.0.0.0/8 (a
//! resolver rewriting NXDOMAIN) are never listings: they make the result
//! Unknown, with the explanation.
//!
//! Dead lists are not in the default list: SORBS (closed in 2024), NJABL,
//! AHBL, DSBL, and the CBL, whose data is Spamhaus XBL (part of ZEN).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{Name, RData, RecordType};
use keepup_config::DnsblSpec;
use keepup_config::dns::DnsblLists;
use keepup_model::{Finding, Outcome, Severity, Status};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::dns::stub;
use crate::dns::walk::{Reply, classify};
use crate::util::{escape_received, finish};

/// How a list's return codes read.
#[derive(Debug, Clone, Copy)]
pub enum Codes {
    /// Each return address has its meaning; `None`: not a listing (e.g. a
    /// good reputation).
    Exact(&'static [(Ipv4Addr, &'static str, Option<Severity>)]),
    /// The last octet of 127.0.0.x is a bit mask of lists.
    Bits(&'static [(u8, &'static str, Severity)]),
    /// Any 127.0.0.x (x ≥ 2) means listed.
    Any(&'static str, Severity),
}

/// A test entry of a list.
#[derive(Debug, Clone, Copy)]
pub enum TestPoint {
    /// An address.
    Ip(IpAddr),
    /// A domain.
    Domain(&'static str),
}

/// What keepup knows about one list.
#[derive(Debug, Clone, Copy)]
pub struct ZoneInfo {
    /// The zone queried.
    pub zone: &'static str,
    /// Who runs it, for humans.
    pub name: &'static str,
    /// What it lists.
    pub ipv4: bool,
    /// What it lists.
    pub ipv6: bool,
    /// What it lists.
    pub domain: bool,
    /// How its answers read.
    pub codes: Codes,
    /// Its own error codes (besides the generic ones).
    pub errors: &'static [(Ipv4Addr, &'static str)],
    /// An entry it always lists.
    pub listed: TestPoint,
    /// An entry it never lists.
    pub unlisted: TestPoint,
    /// Whether it is in the default list.
    pub default: bool,
}

const fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

const LOCAL_2: TestPoint = TestPoint::Ip(IpAddr::V4(v4(127, 0, 0, 2)));
const LOCAL_1: TestPoint = TestPoint::Ip(IpAddr::V4(v4(127, 0, 0, 1)));

const SPAMHAUS_ERRORS: &[(Ipv4Addr, &str)] = &[
    (
        v4(127, 255, 255, 252),
        "127.255.255.252: the list name is mistyped",
    ),
    (
        v4(127, 255, 255, 254),
        "127.255.255.254: queries through public or open resolvers are refused; use your own recursive resolver (`resolver = [...]`) or a Spamhaus DQS zone",
    ),
    (
        v4(127, 255, 255, 255),
        "127.255.255.255: too many queries from this resolver",
    ),
];

const DBL_ERRORS: &[(Ipv4Addr, &str)] = &[
    (
        v4(127, 0, 1, 255),
        "127.0.1.255: IP addresses must not be looked up on the DBL",
    ),
    (
        v4(127, 255, 255, 252),
        "127.255.255.252: the list name is mistyped",
    ),
    (
        v4(127, 255, 255, 254),
        "127.255.255.254: queries through public or open resolvers are refused; use your own recursive resolver (`resolver = [...]`) or a Spamhaus DQS zone",
    ),
    (
        v4(127, 255, 255, 255),
        "127.255.255.255: too many queries from this resolver",
    ),
];

use Severity::{Critical, Warning};

/// The lists keepup knows. Zones marked `default` are consulted when a
/// check gives no `zones`.
pub const CATALOGUE: &[ZoneInfo] = &[
    ZoneInfo {
        zone: "zen.spamhaus.org",
        name: "Spamhaus ZEN",
        ipv4: true,
        ipv6: true,
        domain: false,
        codes: Codes::Exact(&[
            (
                v4(127, 0, 0, 2),
                "SBL (Spamhaus Block List: a spam source or spam operation)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 3),
                "SBL CSS (low-reputation bulk or snowshoe spam source)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 4),
                "XBL (exploited or infected host, CBL data)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 5),
                "XBL (exploited or infected host)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 6),
                "XBL (exploited or infected host)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 7),
                "XBL (exploited or infected host)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 9),
                "SBL DROP (hijacked or criminal network)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 10),
                "PBL, ISP maintained (an end-user range that should not send mail directly)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 11),
                "PBL, Spamhaus maintained (an end-user range that should not send mail directly)",
                Some(Warning),
            ),
        ]),
        errors: SPAMHAUS_ERRORS,
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "dbl.spamhaus.org",
        name: "Spamhaus DBL",
        ipv4: false,
        ipv6: false,
        domain: true,
        codes: Codes::Exact(&[
            (v4(127, 0, 1, 2), "spam domain", Some(Critical)),
            (v4(127, 0, 1, 4), "phishing domain", Some(Critical)),
            (v4(127, 0, 1, 5), "malware domain", Some(Critical)),
            (
                v4(127, 0, 1, 6),
                "botnet command-and-control domain",
                Some(Critical),
            ),
            (
                v4(127, 0, 1, 102),
                "abused legitimate domain, used in spam",
                Some(Warning),
            ),
            (
                v4(127, 0, 1, 103),
                "abused legitimate domain, a spammed redirector",
                Some(Warning),
            ),
            (
                v4(127, 0, 1, 104),
                "abused legitimate domain, used for phishing",
                Some(Critical),
            ),
            (
                v4(127, 0, 1, 105),
                "abused legitimate domain, serving malware",
                Some(Critical),
            ),
            (
                v4(127, 0, 1, 106),
                "abused legitimate domain, used for botnet command and control",
                Some(Critical),
            ),
        ]),
        errors: DBL_ERRORS,
        listed: TestPoint::Domain("dbltest.com"),
        unlisted: TestPoint::Domain("invalid"),
        default: true,
    },
    ZoneInfo {
        zone: "multi.surbl.org",
        name: "SURBL",
        ipv4: false,
        ipv6: false,
        domain: true,
        codes: Codes::Bits(&[
            (8, "PH (phishing)", Critical),
            (16, "MW (malware)", Critical),
            (64, "ABUSE (spam)", Critical),
            (128, "CR (cracked site)", Critical),
        ]),
        errors: &[],
        listed: TestPoint::Domain("test.surbl.org"),
        unlisted: TestPoint::Domain("invalid"),
        default: true,
    },
    ZoneInfo {
        zone: "multi.uribl.com",
        name: "URIBL",
        ipv4: false,
        ipv6: false,
        domain: true,
        codes: Codes::Bits(&[
            (2, "black (spam domain)", Critical),
            (4, "grey (bulk mail domain)", Warning),
            (8, "red (new spam domain)", Critical),
        ]),
        errors: &[],
        listed: TestPoint::Domain("test.uribl.com"),
        unlisted: TestPoint::Domain("invalid"),
        default: true,
    },
    ZoneInfo {
        zone: "b.barracudacentral.org",
        name: "Barracuda Reputation Block List",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("poor reputation (Barracuda BRBL)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "bl.spamcop.net",
        name: "SpamCop",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("reported as a spam source (SpamCop)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "dnsbl-1.uceprotect.net",
        name: "UCEPROTECT level 1",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("sent mail to spam traps (UCEPROTECT level 1)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "dnsbl-2.uceprotect.net",
        name: "UCEPROTECT level 2",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("its network is listed (UCEPROTECT level 2)", Warning),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: false,
    },
    ZoneInfo {
        zone: "dnsbl-3.uceprotect.net",
        name: "UCEPROTECT level 3",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any(
            "its autonomous system is listed (UCEPROTECT level 3)",
            Warning,
        ),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: false,
    },
    ZoneInfo {
        zone: "bl.mailspike.net",
        name: "Mailspike",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Exact(&[
            (
                v4(127, 0, 0, 2),
                "listed (Mailspike blacklist)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 10),
                "worst reputation (Mailspike L5)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 11),
                "very bad reputation (Mailspike L4)",
                Some(Critical),
            ),
            (
                v4(127, 0, 0, 12),
                "bad reputation (Mailspike L3)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 13),
                "suspicious reputation (Mailspike L2)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 14),
                "slightly suspicious reputation (Mailspike L1)",
                Some(Warning),
            ),
            (v4(127, 0, 0, 15), "neutral reputation (Mailspike H0)", None),
            (v4(127, 0, 0, 16), "good reputation (Mailspike H1)", None),
            (v4(127, 0, 0, 17), "good reputation (Mailspike H2)", None),
            (
                v4(127, 0, 0, 18),
                "very good reputation (Mailspike H3)",
                None,
            ),
            (
                v4(127, 0, 0, 19),
                "very good reputation (Mailspike H4)",
                None,
            ),
            (
                v4(127, 0, 0, 20),
                "excellent reputation (Mailspike H5)",
                None,
            ),
        ]),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "psbl.surriel.com",
        name: "Passive Spam Block List",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("sent mail to spam traps (PSBL)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "all.s5h.net",
        name: "s5h.net",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("sent mail to spam traps (s5h.net)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "ix.dnsbl.manitu.net",
        name: "NiX Spam",
        ipv4: true,
        ipv6: false,
        domain: false,
        codes: Codes::Any("a spam source (NiX Spam)", Critical),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: true,
    },
    ZoneInfo {
        zone: "dnsbl.dronebl.org",
        name: "DroneBL",
        ipv4: true,
        ipv6: true,
        domain: false,
        codes: Codes::Exact(&[
            (v4(127, 0, 0, 3), "IRC drone (DroneBL)", Some(Warning)),
            (v4(127, 0, 0, 5), "bottler (DroneBL)", Some(Warning)),
            (
                v4(127, 0, 0, 6),
                "unknown spambot or drone (DroneBL)",
                Some(Warning),
            ),
            (v4(127, 0, 0, 7), "DDoS drone (DroneBL)", Some(Warning)),
            (
                v4(127, 0, 0, 8),
                "open SOCKS proxy (DroneBL)",
                Some(Warning),
            ),
            (v4(127, 0, 0, 9), "open HTTP proxy (DroneBL)", Some(Warning)),
            (v4(127, 0, 0, 10), "proxy chain (DroneBL)", Some(Warning)),
            (v4(127, 0, 0, 11), "web page proxy (DroneBL)", Some(Warning)),
            (
                v4(127, 0, 0, 12),
                "open DNS resolver (DroneBL)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 13),
                "brute-force attacker (DroneBL)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 14),
                "open Wingate proxy (DroneBL)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 15),
                "compromised router or gateway (DroneBL)",
                Some(Warning),
            ),
            (
                v4(127, 0, 0, 16),
                "autorooting worm (DroneBL)",
                Some(Warning),
            ),
            (v4(127, 0, 0, 17), "botnet member (DroneBL)", Some(Warning)),
            (v4(127, 0, 0, 18), "DNS/MX on IRC (DroneBL)", Some(Warning)),
            (
                v4(127, 0, 0, 19),
                "abused VPN service (DroneBL)",
                Some(Warning),
            ),
        ]),
        errors: &[],
        listed: LOCAL_2,
        unlisted: LOCAL_1,
        default: false,
    },
];

/// The zones consulted when a check names none.
pub fn default_zones() -> impl Iterator<Item = &'static ZoneInfo> {
    CATALOGUE.iter().filter(|z| z.default)
}

/// A zone as this run uses it.
#[derive(Debug, Clone)]
struct Zone {
    zone: String,
    lists: DnsblLists,
    info: Option<&'static ZoneInfo>,
}

impl Zone {
    fn from_config(zone: &str, lists: Option<DnsblLists>) -> Self {
        let info = CATALOGUE.iter().find(|z| z.zone == zone);
        let lists = lists.unwrap_or(match info {
            Some(i) => DnsblLists {
                ipv4: i.ipv4,
                ipv6: i.ipv6,
                domain: i.domain,
            },
            None => DnsblLists {
                ipv4: true,
                ipv6: false,
                domain: false,
            },
        });
        Self {
            zone: zone.to_owned(),
            lists,
            info,
        }
    }

    fn covers(&self, target: &Target) -> bool {
        match target {
            Target::Ip(IpAddr::V4(_)) => self.lists.ipv4,
            Target::Ip(IpAddr::V6(_)) => self.lists.ipv6,
            Target::Domain(_) => self.lists.domain,
        }
    }

    /// The sanity entries: (always listed, never listed), RFC 5782 §5 for
    /// zones keepup does not know.
    fn test_points(&self) -> (Target, Target) {
        let point = |p: TestPoint| match p {
            TestPoint::Ip(ip) => Target::Ip(ip),
            TestPoint::Domain(d) => Target::Domain(d.to_owned()),
        };
        if let Some(i) = self.info
            && (self.lists.ipv4 == i.ipv4 && self.lists.domain == i.domain)
        {
            return (point(i.listed), point(i.unlisted));
        }
        if self.lists.ipv4 {
            (point(LOCAL_2), point(LOCAL_1))
        } else if self.lists.ipv6 {
            (
                Target::Ip(IpAddr::V6(v4(127, 0, 0, 2).to_ipv6_mapped())),
                Target::Ip(IpAddr::V6(v4(127, 0, 0, 1).to_ipv6_mapped())),
            )
        } else {
            (
                Target::Domain("test".into()),
                Target::Domain("invalid".into()),
            )
        }
    }
}

/// What is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Ip(IpAddr),
    Domain(String),
}

impl Target {
    fn text(&self) -> String {
        match self {
            Target::Ip(ip) => ip.to_string(),
            Target::Domain(d) => d.clone(),
        }
    }
}

/// The name looked up for `target` on `zone` (RFC 5782 §2).
fn query_name(target: &Target, zone: &str) -> String {
    match target {
        Target::Ip(IpAddr::V4(ip)) => {
            let o = ip.octets();
            format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
        }
        Target::Ip(IpAddr::V6(ip)) => {
            let mut name = String::with_capacity(64 + zone.len() + 2);
            for byte in ip.octets().iter().rev() {
                for nibble in [byte & 0x0f, byte >> 4] {
                    name.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
                    name.push('.');
                }
            }
            name.push_str(zone);
            name.push('.');
            name
        }
        Target::Domain(d) => format!("{}.{zone}.", d.trim_end_matches('.')),
    }
}

/// What one answer address means.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    /// A listing, and how bad it is.
    Listed(String, Severity),
    /// Not a listing (e.g. a good reputation).
    Clean(String),
    /// An error code: the list refused to answer.
    Refused(String),
    /// Not a DNSBL answer at all.
    Invalid(String),
}

/// Decodes one answer address of `zone`.
fn decode(zone: &Zone, a: Ipv4Addr) -> Verdict {
    let o = a.octets();
    if o[0] != 127 {
        return Verdict::Invalid(format!(
            "it answered {a}, outside 127.0.0.0/8: probably a resolver that rewrites unknown names"
        ));
    }
    if let Some(info) = zone.info
        && let Some((_, why)) = info.errors.iter().find(|(code, _)| *code == a)
    {
        return Verdict::Refused((*why).to_owned());
    }
    if o[1] == 255 && o[2] == 255 {
        return Verdict::Refused(format!("{a} is an error code, not a listing"));
    }
    if a == v4(127, 0, 0, 1) {
        return Verdict::Refused(
            "127.0.0.1 is never a listing (RFC 5782): the list refuses this resolver's queries"
                .into(),
        );
    }
    let codes = zone
        .info
        .map(|i| i.codes)
        .unwrap_or(Codes::Any("listed", Critical));
    match codes {
        Codes::Exact(table) => match table.iter().find(|(code, _, _)| *code == a) {
            Some((_, what, Some(sev))) => Verdict::Listed((*what).to_owned(), *sev),
            Some((_, what, None)) => Verdict::Clean((*what).to_owned()),
            None => Verdict::Listed(format!("listed with the unknown code {a}"), Warning),
        },
        Codes::Bits(bits) if o[1] == 0 && o[2] == 0 => {
            let hits: Vec<&(u8, &str, Severity)> =
                bits.iter().filter(|(bit, _, _)| o[3] & bit != 0).collect();
            match hits.iter().map(|(_, _, s)| *s).max() {
                Some(sev) => Verdict::Listed(
                    hits.iter()
                        .map(|(_, w, _)| *w)
                        .collect::<Vec<_>>()
                        .join(", "),
                    sev,
                ),
                None => Verdict::Listed(format!("listed with the unknown code {a}"), Warning),
            }
        }
        Codes::Bits(_) => Verdict::Listed(format!("listed with the unknown code {a}"), Warning),
        Codes::Any(what, sev) => Verdict::Listed(what.to_owned(), sev),
    }
}

/// What one lookup found.
#[derive(Debug, Clone, PartialEq)]
enum Lookup {
    NotListed,
    Listed {
        what: String,
        severity: Severity,
        codes: Vec<Ipv4Addr>,
    },
    Refused(String),
    Invalid(String),
    Failed(String),
}

/// Combines the verdicts of every answer address.
fn combine(zone: &Zone, addrs: &[Ipv4Addr]) -> Lookup {
    let verdicts: Vec<Verdict> = addrs.iter().map(|a| decode(zone, *a)).collect();
    if let Some(Verdict::Refused(why)) = verdicts.iter().find(|v| matches!(v, Verdict::Refused(_)))
    {
        return Lookup::Refused(why.clone());
    }
    if let Some(Verdict::Invalid(why)) = verdicts.iter().find(|v| matches!(v, Verdict::Invalid(_)))
    {
        return Lookup::Invalid(why.clone());
    }
    let listed: Vec<(&String, Severity)> = verdicts
        .iter()
        .filter_map(|v| match v {
            Verdict::Listed(w, s) => Some((w, *s)),
            _ => None,
        })
        .collect();
    match listed.iter().map(|(_, s)| *s).max() {
        None => Lookup::NotListed,
        Some(severity) => {
            let mut what: Vec<&str> = listed.iter().map(|(w, _)| w.as_str()).collect();
            what.dedup();
            Lookup::Listed {
                what: what.join("; "),
                severity,
                codes: addrs.to_vec(),
            }
        }
    }
}

/// What every lookup shares.
struct Shared {
    ctx: ProbeContext,
    resolvers: Vec<SocketAddr>,
    timeout: Duration,
    limit: Semaphore,
}

/// Looks `target` up on `zone`: the A records, then the TXT reason of a
/// listing. Returns the result and the number of queries sent.
async fn lookup(
    shared: &Shared,
    zone: &Zone,
    target: &Target,
    want_reason: bool,
) -> (Lookup, Option<String>, usize) {
    let Ok(_permit) = shared.limit.acquire().await else {
        return (Lookup::Failed("the lookup was cancelled".into()), None, 0);
    };
    let Ok(name) = Name::from_ascii(query_name(target, &zone.zone)) else {
        return (
            Lookup::Failed(format!(
                "{} cannot be looked up on {}",
                target.text(),
                zone.zone
            )),
            None,
            0,
        );
    };
    let answer = stub::lookup(
        &shared.ctx,
        &shared.resolvers,
        &name,
        RecordType::A,
        shared.timeout,
    )
    .await;
    let result = match answer {
        Err(why) => Lookup::Failed(why),
        Ok(a) => match classify(&a.exchange.msg, &name, RecordType::A, &Name::root(), false) {
            Reply::Answer { records, .. } => {
                let addrs: Vec<Ipv4Addr> = records
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                combine(zone, &addrs)
            }
            Reply::NxDomain { .. } | Reply::NoData { .. } | Reply::Alias { .. } => {
                Lookup::NotListed
            }
            Reply::Referral { .. } => {
                Lookup::Failed("the resolver sent a referral: it does not recurse".into())
            }
            Reply::Bad(why) => Lookup::Failed(why),
        },
    };
    if !want_reason || !matches!(result, Lookup::Listed { .. }) {
        return (result, None, 1);
    }
    let reason = match stub::lookup(
        &shared.ctx,
        &shared.resolvers,
        &name,
        RecordType::TXT,
        shared.timeout,
    )
    .await
    {
        Ok(a) => a.exchange.msg.answers.iter().find_map(|r| match &r.data {
            RData::TXT(t) if r.name == name => {
                let mut text = Vec::new();
                for part in t.txt_data.iter() {
                    if text.len() >= 300 {
                        break;
                    }
                    text.extend_from_slice(part);
                }
                Some(escape_received(&text, 200))
            }
            _ => None,
        }),
        Err(_) => None,
    };
    (result, reason, 2)
}

/// Runs `lookup` for every (zone, target) pair, `concurrency` at a time;
/// results in the order of `pairs`. With `want_reason`, listings fetch
/// their TXT reason.
async fn lookup_all(
    shared: &Arc<Shared>,
    pairs: Vec<(Zone, Target)>,
    want_reason: bool,
) -> (Vec<(Lookup, Option<String>)>, usize) {
    let mut set = tokio::task::JoinSet::new();
    let n = pairs.len();
    for (i, (zone, target)) in pairs.into_iter().enumerate() {
        let shared = Arc::clone(shared);
        set.spawn(async move {
            let (r, reason, queries) = lookup(&shared, &zone, &target, want_reason).await;
            (i, r, reason, queries)
        });
    }
    let mut out: Vec<(Lookup, Option<String>)> =
        vec![(Lookup::Failed("the lookup task failed".into()), None); n];
    let mut queries = 0;
    while let Some(joined) = set.join_next().await {
        if let Ok((i, r, reason, q)) = joined {
            queries += q;
            if let Some(slot) = out.get_mut(i) {
                *slot = (r, reason);
            }
        }
    }
    (out, queries)
}

/// The addresses to check when `ips` is not given: the MX hosts', the
/// apex's and www's. Returns (address, why) pairs, or why there are none.
async fn discover(shared: &Shared, domain: &str) -> (Vec<(IpAddr, String)>, Vec<String>, usize) {
    let mut errors = Vec::new();
    let mut queries = 0;
    let mut hosts: Vec<(Name, String)> = Vec::new();
    if let Ok(apex) = Name::from_ascii(format!("{domain}.")) {
        queries += 1;
        match stub::lookup(
            &shared.ctx,
            &shared.resolvers,
            &apex,
            RecordType::MX,
            shared.timeout,
        )
        .await
        {
            Ok(a) => {
                if let Reply::Answer { records, .. } =
                    classify(&a.exchange.msg, &apex, RecordType::MX, &Name::root(), false)
                {
                    for r in &records {
                        if let RData::MX(mx) = &r.data
                            && !mx.exchange.is_root()
                        {
                            let why = format!("MX {}", crate::dns::wire::name_text(&mx.exchange));
                            hosts.push((mx.exchange.clone(), why));
                        }
                    }
                }
            }
            Err(why) => errors.push(format!("MX of {domain}: {why}")),
        }
        hosts.push((apex.clone(), format!("web address of {domain}")));
        if let Ok(www) = Name::from_ascii(format!("www.{domain}.")) {
            hosts.push((www, format!("web address of www.{domain}")));
        }
    }
    let mut found: Vec<(IpAddr, String)> = Vec::new();
    for (host, why) in hosts {
        for qtype in [RecordType::A, RecordType::AAAA] {
            queries += 1;
            match stub::lookup(&shared.ctx, &shared.resolvers, &host, qtype, shared.timeout).await {
                Ok(a) => {
                    if let Reply::Answer { records, .. } =
                        classify(&a.exchange.msg, &host, qtype, &Name::root(), false)
                    {
                        for ip in records.iter().filter_map(crate::dns::walk::address_of) {
                            if !found.iter().any(|(known, _)| *known == ip) {
                                found.push((ip, why.clone()));
                            }
                        }
                    }
                }
                Err(e) => errors.push(format!(
                    "{qtype} of {}: {e}",
                    crate::dns::wire::name_text(&host)
                )),
            }
        }
    }
    (found, errors, queries)
}

/// How a zone fared in its sanity check.
#[derive(Debug, Clone, PartialEq)]
enum Sanity {
    Trusted,
    /// Refused: an error code (the list works, but not for us).
    Refused(String),
    /// Unusable for another reason.
    Unusable(String),
}

fn sanity(zone: &Zone, positive: &Lookup, negative: &Lookup) -> Sanity {
    let (listed, unlisted) = zone.test_points();
    match positive {
        Lookup::Listed { .. } => {}
        Lookup::Refused(why) => return Sanity::Refused(why.clone()),
        Lookup::NotListed => {
            return Sanity::Unusable(format!(
                "its test entry {} is not listed: the list is dead, or does not answer this resolver",
                listed.text()
            ));
        }
        Lookup::Invalid(why) | Lookup::Failed(why) => {
            return Sanity::Unusable(format!(
                "its test entry {} could not be looked up: {why}",
                listed.text()
            ));
        }
    }
    match negative {
        Lookup::NotListed => Sanity::Trusted,
        Lookup::Refused(why) => Sanity::Refused(why.clone()),
        Lookup::Listed { .. } => Sanity::Unusable(format!(
            "it lists {}, which no list may list: it answers yes to everything",
            unlisted.text()
        )),
        Lookup::Invalid(why) | Lookup::Failed(why) => Sanity::Unusable(format!(
            "its never-listed entry {} could not be looked up: {why}",
            unlisted.text()
        )),
    }
}

/// Runs one DNSBL check.
pub async fn probe(spec: &DnsblSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let mut outcome = Outcome::new(Status::Up, "");
    let resolvers = stub::resolvers(&spec.dns).await;
    outcome.evidence.insert(
        "resolvers",
        resolvers.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    );
    let shared = Arc::new(Shared {
        ctx,
        resolvers,
        timeout: spec.dns.query_timeout,
        limit: Semaphore::new(spec.concurrency.max(1)),
    });
    let mut queries = 0;

    // What to look up.
    let mut targets: Vec<(Target, String)> = spec
        .ips
        .iter()
        .map(|ip| (Target::Ip(*ip), "configured".to_owned()))
        .collect();
    if spec.ips.is_empty()
        && let Some(domain) = &spec.domain
    {
        let (found, errors, n) = discover(&shared, domain).await;
        queries += n;
        if found.is_empty() {
            outcome.push(Finding::new(
                codes::DNSBL_NO_TARGETS,
                Severity::Warning,
                if errors.is_empty() {
                    format!("{domain} has no MX, A or AAAA address to look up on blacklists")
                } else {
                    format!(
                        "the addresses of {domain} could not be found: {}",
                        errors.join("; ")
                    )
                },
            ));
            outcome.worsen(Status::Unknown);
        }
        targets.extend(found.into_iter().map(|(ip, why)| (Target::Ip(ip), why)));
    }
    if let Some(domain) = &spec.domain {
        targets.push((
            Target::Domain(domain.clone()),
            "the shop's domain".to_owned(),
        ));
    }
    outcome.evidence.insert(
        "targets",
        targets
            .iter()
            .map(|(t, why)| json!({ "target": t.text(), "why": why }))
            .collect::<Vec<_>>(),
    );

    // Which zones, each sanity-checked first.
    let zones: Vec<Zone> = match &spec.zones {
        Some(list) => list
            .iter()
            .map(|z| Zone::from_config(&z.zone, z.lists))
            .collect::<Vec<Zone>>(),
        None => default_zones()
            .map(|z| Zone::from_config(z.zone, None))
            .collect(),
    }
    .into_iter()
    .filter(|z| !spec.exclude_zones.contains(&z.zone))
    .collect();
    let mut pairs = Vec::new();
    for z in &zones {
        let (listed, unlisted) = z.test_points();
        pairs.push((z.clone(), listed));
        pairs.push((z.clone(), unlisted));
    }
    let (checks, n) = lookup_all(&shared, pairs, false).await;
    queries += n;
    let mut trusted: Vec<&Zone> = Vec::new();
    let mut zone_evidence = Vec::new();
    for (z, pair) in zones.iter().zip(checks.chunks(2)) {
        let [(positive, _), (negative, _)] = pair else {
            continue;
        };
        let verdict = sanity(z, positive, negative);
        zone_evidence.push(json!({
            "zone": z.zone,
            "status": match &verdict {
                Sanity::Trusted => "trusted".to_owned(),
                Sanity::Refused(why) => format!("refused: {why}"),
                Sanity::Unusable(why) => format!("unusable: {why}"),
            },
        }));
        match verdict {
            Sanity::Trusted => trusted.push(z),
            Sanity::Refused(why) => outcome.push(Finding::new(
                codes::DNSBL_REFUSED,
                Severity::Warning,
                format!(
                    "the blacklist {} refuses to answer, so it was not consulted: {why}",
                    z.zone
                ),
            )),
            Sanity::Unusable(why) => outcome.push(Finding::new(
                codes::DNSBL_ZONE_UNUSABLE,
                Severity::Warning,
                format!(
                    "the blacklist {} failed its sanity check and was not consulted: {why}",
                    z.zone
                ),
            )),
        }
    }
    outcome.evidence.insert("zones", zone_evidence);
    let untrusted = trusted.len() < zones.len();

    // The lookups proper.
    let mut pairs = Vec::new();
    let mut whys = Vec::new();
    for z in &trusted {
        for (t, why) in &targets {
            if z.covers(t) {
                pairs.push(((*z).clone(), t.clone()));
                whys.push(why.clone());
            }
        }
    }
    let asked = pairs.len();
    let (results, n) = lookup_all(&shared, pairs.clone(), true).await;
    queries += n;
    let mut listings: Vec<Value> = Vec::new();
    let mut listed_on: Vec<String> = Vec::new();
    let mut unknown = untrusted;
    let mut failures: Vec<(String, Vec<String>)> = Vec::new();
    for (((zone, target), why), (result, reason)) in pairs.iter().zip(&whys).zip(results) {
        let shown = match target {
            Target::Ip(_) if why != "configured" => format!("{} ({why})", target.text()),
            _ => target.text(),
        };
        match result {
            Lookup::NotListed => {}
            Lookup::Listed {
                what,
                severity,
                codes: returned,
            } => {
                let mut text = format!("{shown} is listed on {}: {what}", zone.zone);
                if let Some(r) = &reason {
                    text.push_str(&format!("; reason: \"{r}\""));
                }
                listings.push(json!({
                    "target": target.text(),
                    "zone": zone.zone,
                    "codes": returned.iter().map(Ipv4Addr::to_string).collect::<Vec<_>>(),
                    "meaning": what,
                    "reason": reason,
                }));
                listed_on.push(format!("{} on {}", target.text(), zone.zone));
                outcome.push(Finding::new(codes::DNSBL_LISTED, severity, text));
            }
            Lookup::Refused(why) => {
                unknown = true;
                outcome.push(Finding::new(
                    codes::DNSBL_REFUSED,
                    Severity::Warning,
                    format!(
                        "{} refused the lookup of {}: {why}",
                        zone.zone,
                        target.text()
                    ),
                ));
            }
            Lookup::Invalid(why) => {
                unknown = true;
                outcome.push(Finding::new(
                    codes::DNSBL_ANSWER_INVALID,
                    Severity::Warning,
                    format!(
                        "the lookup of {} on {} is not a blacklist answer: {why}",
                        target.text(),
                        zone.zone
                    ),
                ));
            }
            Lookup::Failed(why) => {
                unknown = true;
                match failures.iter_mut().find(|(z, _)| *z == zone.zone) {
                    Some((_, list)) => list.push(format!("{}: {why}", target.text())),
                    None => failures
                        .push((zone.zone.clone(), vec![format!("{}: {why}", target.text())])),
                }
            }
        }
    }
    for (zone, list) in failures {
        outcome.push(Finding::new(
            codes::DNSBL_LOOKUP_FAILED,
            Severity::Warning,
            format!("lookups on {zone} failed: {}", list.join("; ")),
        ));
    }
    if unknown {
        outcome.worsen(Status::Unknown);
    }
    outcome.evidence.insert("listings", listings);
    outcome.evidence.insert("lookups", queries);
    outcome.evidence.insert("lookups_per_target_zone", asked);
    if !listed_on.is_empty() {
        listed_on.sort();
        outcome.message = format!("listed: {}", listed_on.join(", "));
    }
    let ips = targets
        .iter()
        .filter(|(t, _)| matches!(t, Target::Ip(_)))
        .count();
    let domains = targets.len() - ips;
    let ok = format!(
        "not listed on any of {} blacklists ({ips} address{}, {domains} domain{})",
        trusted.len(),
        if ips == 1 { "" } else { "es" },
        if domains == 1 { "" } else { "s" }
    );
    finish(outcome, ok, started)
}

/// Entry points for the fuzz targets; not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// Decodes every A record of `msg` as an answer of every catalogued
    /// zone, and of an unknown one. Must never panic.
    pub fn decode_answers(msg: &hickory_proto::op::Message) {
        let addrs: Vec<Ipv4Addr> = msg
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .take(16)
            .collect();
        for info in CATALOGUE {
            let _ = combine(&Zone::from_config(info.zone, None), &addrs);
        }
        let _ = combine(&Zone::from_config("bl.example", None), &addrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Zone {
        Zone::from_config(name, None)
    }

    #[test]
    fn query_names_follow_rfc_5782() {
        assert_eq!(
            query_name(
                &Target::Ip("192.0.2.99".parse().unwrap()),
                "zen.spamhaus.org"
            ),
            "99.2.0.192.zen.spamhaus.org."
        );
        assert_eq!(
            query_name(
                &Target::Ip("2001:db8:1:2:3:4:567:89ab".parse().unwrap()),
                "bl.example"
            ),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example."
        );
        assert_eq!(
            query_name(&Target::Domain("shop.example".into()), "dbl.spamhaus.org"),
            "shop.example.dbl.spamhaus.org."
        );
    }

    #[test]
    fn return_codes_are_decoded_per_zone() {
        let zen = zone("zen.spamhaus.org");
        assert!(
            matches!(decode(&zen, v4(127, 0, 0, 4)), Verdict::Listed(w, Critical) if w.starts_with("XBL"))
        );
        assert!(
            matches!(decode(&zen, v4(127, 0, 0, 10)), Verdict::Listed(w, Warning) if w.starts_with("PBL"))
        );
        assert!(
            matches!(decode(&zen, v4(127, 255, 255, 254)), Verdict::Refused(w) if w.contains("public"))
        );
        assert!(matches!(
            decode(&zen, v4(192, 0, 2, 1)),
            Verdict::Invalid(_)
        ));
        let dbl = zone("dbl.spamhaus.org");
        assert!(matches!(
            decode(&dbl, v4(127, 0, 1, 255)),
            Verdict::Refused(_)
        ));
        assert!(
            matches!(decode(&dbl, v4(127, 0, 1, 4)), Verdict::Listed(w, Critical) if w.contains("phishing"))
        );
        let uribl = zone("multi.uribl.com");
        assert!(matches!(
            decode(&uribl, v4(127, 0, 0, 1)),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            decode(&uribl, v4(127, 0, 0, 4)),
            Verdict::Listed(_, Warning)
        ));
        assert!(matches!(
            decode(&uribl, v4(127, 0, 0, 14)),
            Verdict::Listed(_, Critical)
        ));
        let mailspike = zone("bl.mailspike.net");
        assert!(matches!(
            decode(&mailspike, v4(127, 0, 0, 18)),
            Verdict::Clean(_)
        ));
        let unknown = zone("bl.example");
        assert!(matches!(
            decode(&unknown, v4(127, 0, 0, 2)),
            Verdict::Listed(_, Critical)
        ));
        assert_eq!(
            combine(&zen, &[v4(127, 0, 0, 2), v4(127, 255, 255, 254)]),
            Lookup::Refused(SPAMHAUS_ERRORS[1].1.into())
        );
    }

    #[test]
    fn the_default_list_is_current() {
        let zones: Vec<&str> = default_zones().map(|z| z.zone).collect();
        assert!(zones.contains(&"zen.spamhaus.org"));
        assert!(
            !zones
                .iter()
                .any(|z| z.contains("sorbs") || z.contains("njabl") || z.contains("abuseat"))
        );
        for z in CATALOGUE {
            assert!(z.ipv4 || z.ipv6 || z.domain, "{}", z.zone);
        }
    }

    #[test]
    fn sanity_needs_the_test_entry_and_not_the_local_one() {
        let z = zone("bl.spamcop.net");
        let listed = Lookup::Listed {
            what: "x".into(),
            severity: Critical,
            codes: vec![],
        };
        assert_eq!(sanity(&z, &listed, &Lookup::NotListed), Sanity::Trusted);
        assert!(matches!(
            sanity(&z, &Lookup::NotListed, &Lookup::NotListed),
            Sanity::Unusable(_)
        ));
        assert!(
            matches!(sanity(&z, &listed, &listed), Sanity::Unusable(w) if w.contains("127.0.0.1"))
        );
    }
}
