//! The DNS side of the configuration: the global `[dns]` section and the
//! check kinds `delegation` (the chain from the root down to a zone and
//! the zone's health), `dns` (record expectations) and `dnsbl` (spam
//! blacklists), each as written (raw serde structs), as validated (the
//! public spec types) and the validation between them.
//!
//! Every name is stored lowercase, absolute (with its trailing dot), every
//! address parsed and every expected record value parsed for its type, so a
//! probe compares like with like and never fails on a configuration mistake.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::load::Loader;
use crate::raw::{COMMON_CHECK_KEYS, Dur};
use crate::spec::{CheckSpec, ProbeSpec};

/// Default port of DNS servers.
pub const DNS_PORT: u16 = 53;

/// Default time one DNS query may take.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Default number of DNSBL lookups in flight at once, per check.
pub const DEFAULT_DNSBL_CONCURRENCY: usize = 32;

// ---- the validated types -------------------------------------------------

/// `[dns]`: how keepup itself talks to DNS servers. Each DNS check carries
/// a copy (with its own overrides applied), so a probe needs nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSettings {
    /// Where the delegation walk starts (`root_hints = ["ip[:port]", ...]`);
    /// `None`: the IANA root servers bundled with keepup, on port 53.
    pub root_hints: Option<Vec<SocketAddr>>,
    /// The port of every name server found during the walk (glue carries
    /// addresses, never ports): 53 unless a private or test hierarchy
    /// serves on another port.
    pub port: u16,
    /// Recursive resolvers for `dnsbl` checks and `dns` checks with
    /// `server = "resolver"`, tried in order; `None`: the `nameserver`
    /// lines of `/etc/resolv.conf`, read at each run.
    pub resolver: Option<Vec<SocketAddr>>,
    /// Time one query may take (default 2 s); a UDP query that gets no
    /// answer is sent once more.
    pub query_timeout: Duration,
    /// Whether name servers are also asked over IPv6 (default true). Turn
    /// it off on hosts without IPv6 connectivity.
    pub ipv6: bool,
    /// Who turns the host names of every check (http, tcp, tls, mail, ...)
    /// into addresses.
    pub resolve_hosts: HostResolution,
}

/// `[dns] resolve_hosts`: who resolves the checks' host names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostResolution {
    /// The system's resolver (`/etc/hosts`, `/etc/resolv.conf`, nsswitch),
    /// as any program on the host sees the names (default).
    #[default]
    System,
    /// keepup asks the recursive resolvers of `resolver` (else those of
    /// `/etc/resolv.conf`) for A and AAAA records itself: checks follow a
    /// resolver the operator chose (one that sees a private zone, or
    /// caches no longer than the records' TTL), whatever the host uses.
    Resolver,
}

impl Default for DnsSettings {
    fn default() -> Self {
        Self {
            root_hints: None,
            port: DNS_PORT,
            resolver: None,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            ipv6: true,
            resolve_hosts: HostResolution::System,
        }
    }
}

/// A DNS record type a record expectation can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Alias.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// Certification authority authorization (RFC 8659).
    Caa,
    /// Name server.
    Ns,
}

impl RecordKind {
    /// The type's mnemonic (`"AAAA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::A => "A",
            RecordKind::Aaaa => "AAAA",
            RecordKind::Cname => "CNAME",
            RecordKind::Mx => "MX",
            RecordKind::Txt => "TXT",
            RecordKind::Caa => "CAA",
            RecordKind::Ns => "NS",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "A" => RecordKind::A,
            "AAAA" => RecordKind::Aaaa,
            "CNAME" => RecordKind::Cname,
            "MX" => RecordKind::Mx,
            "TXT" => RecordKind::Txt,
            "CAA" => RecordKind::Caa,
            "NS" => RecordKind::Ns,
            _ => return None,
        })
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record value, parsed for its type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RecordValue {
    /// A or AAAA.
    Address(IpAddr),
    /// CNAME or NS target: lowercase, absolute (trailing dot).
    Name(String),
    /// MX: `"10 mx.example."`, or `"mx.example"` for any preference.
    Mx {
        /// The preference; `None` matches any.
        preference: Option<u16>,
        /// The exchange, lowercase and absolute.
        exchange: String,
    },
    /// TXT: the record's character-strings joined.
    Txt(String),
    /// CAA: `0 issue "letsencrypt.org"` (flags optional, default 0).
    Caa {
        /// The flags octet (128: critical).
        flags: u8,
        /// The property tag, lowercase (`issue`, `issuewild`, `iodef`).
        tag: String,
        /// The property value.
        value: String,
    },
}

impl RecordValue {
    /// Whether `self`, as configured, accepts `found`, as received (an MX
    /// without a preference accepts any preference).
    pub fn accepts(&self, found: &RecordValue) -> bool {
        match (self, found) {
            (
                RecordValue::Mx {
                    preference: None,
                    exchange: a,
                },
                RecordValue::Mx { exchange: b, .. },
            ) => a == b,
            _ => self == found,
        }
    }
}

impl fmt::Display for RecordValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordValue::Address(ip) => write!(f, "{ip}"),
            RecordValue::Name(n) => f.write_str(n),
            RecordValue::Mx {
                preference: Some(p),
                exchange,
            } => write!(f, "{p} {exchange}"),
            RecordValue::Mx {
                preference: None,
                exchange,
            } => f.write_str(exchange),
            RecordValue::Txt(t) => write!(f, "{t:?}"),
            RecordValue::Caa { flags, tag, value } => write!(f, "{flags} {tag} {value:?}"),
        }
    }
}

/// What a record expectation requires.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordExpect {
    /// The record set is exactly these values (order and duplicates
    /// ignored).
    Equals(Vec<RecordValue>),
    /// The record set holds at least these values.
    Contains(Vec<RecordValue>),
    /// The name does not exist (NXDOMAIN).
    NxDomain,
}

/// One record expectation: `name` `kind` must satisfy `expect`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordExpectation {
    /// The owner name, lowercase and absolute.
    pub name: String,
    /// The record type asked for.
    pub kind: RecordKind,
    /// What must hold.
    pub expect: RecordExpect,
}

/// `kind = "delegation"`: the chain from the root hints down to `zone` and
/// the zone's health (name servers, glue, SOA, MX), plus optional record
/// expectations asked of every authoritative server.
#[derive(Debug, Clone, PartialEq)]
pub struct DelegationSpec {
    /// The zone, lowercase and absolute (`"shop.example."`).
    pub zone: String,
    /// Whether a missing MX is a finding (default true: a shop gets mail).
    pub expect_mx: bool,
    /// `[[site.check.record]]`: expectations asked of every authoritative
    /// server of the zone.
    pub records: Vec<RecordExpectation>,
    /// `[dns]` as it applies to this check.
    pub dns: DnsSettings,
}

/// Whom a `dns` check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSource {
    /// Every authoritative server of the name's zone, found by walking
    /// down from the root hints (default): what the world will see once
    /// caches expire, and whether the servers agree.
    Authoritative,
    /// The recursive resolvers (`resolver`, or `[dns] resolver`, or
    /// `/etc/resolv.conf`): what users see now.
    Resolver,
}

/// `kind = "dns"`: one record expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSpec {
    /// What must hold.
    pub expectation: RecordExpectation,
    /// Whom to ask.
    pub source: RecordSource,
    /// `[dns]` as it applies to this check (with its own `resolver`).
    pub dns: DnsSettings,
}

/// The lists a DNSBL zone holds, when the built-in catalogue does not
/// know it or is overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsblLists {
    /// IPv4 addresses (RFC 5782 §2.1).
    pub ipv4: bool,
    /// IPv6 addresses, as nibbles (RFC 5782 §2.4).
    pub ipv6: bool,
    /// Domain names (RFC 5782 §2.3).
    pub domain: bool,
}

/// One DNSBL zone to consult.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsblZone {
    /// The zone, lowercase, without the trailing dot
    /// (`"zen.spamhaus.org"`).
    pub zone: String,
    /// What it lists; `None`: as the built-in catalogue says, or an IPv4
    /// list with RFC 5782 test entries when the catalogue does not know
    /// the zone.
    pub lists: Option<DnsblLists>,
}

/// `kind = "dnsbl"`: is a shop's mail or web address, or its domain, on a
/// spam blacklist?
#[derive(Debug, Clone, PartialEq)]
pub struct DnsblSpec {
    /// Addresses to look up; empty: those of `domain`'s MX hosts, its apex
    /// and `www`, resolved at each run.
    pub ips: Vec<IpAddr>,
    /// The shop's domain, lowercase without trailing dot: the source of
    /// the addresses when `ips` is empty, and looked up on domain lists.
    pub domain: Option<String>,
    /// Zones to consult; `None`: keepup's current default list.
    pub zones: Option<Vec<DnsblZone>>,
    /// Zones left out of the default list (or of `zones`).
    pub exclude_zones: Vec<String>,
    /// Lookups in flight at once (default 32).
    pub concurrency: usize,
    /// `[dns]` as it applies to this check (with its own `resolver`).
    pub dns: DnsSettings,
}

// ---- the raw types -------------------------------------------------------

/// `[dns]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsSection {
    pub root_hints: Option<Spanned<Vec<String>>>,
    pub port: Option<Spanned<i64>>,
    pub resolver: Option<Spanned<Vec<String>>>,
    pub query_timeout: Option<Spanned<Dur>>,
    pub ipv6: Option<bool>,
    pub resolve_hosts: Option<Spanned<String>>,
}

/// A record value as written: text, or a bare number for nothing but
/// better errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawValue {
    Text(String),
    Number(i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecord {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub equals: Option<Spanned<Vec<RawValue>>>,
    pub contains: Option<Spanned<Vec<RawValue>>>,
    pub nxdomain: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelegation {
    pub zone: Spanned<String>,
    pub expect_mx: Option<bool>,
    #[serde(default)]
    pub record: Vec<Spanned<RawRecord>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    #[serde(rename = "record")]
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub equals: Option<Spanned<Vec<RawValue>>>,
    pub contains: Option<Spanned<Vec<RawValue>>>,
    pub nxdomain: Option<Spanned<bool>>,
    pub server: Option<Spanned<String>>,
    pub resolver: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZoneTable {
    pub zone: String,
    pub ipv4: Option<bool>,
    pub ipv6: Option<bool>,
    pub domain: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawZone {
    Name(String),
    Table(RawZoneTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDnsbl {
    pub ips: Option<Spanned<Vec<String>>>,
    pub domain: Option<Spanned<String>>,
    pub zones: Option<Spanned<Vec<RawZone>>>,
    pub exclude_zones: Option<Spanned<Vec<String>>>,
    pub concurrency: Option<Spanned<i64>>,
    pub resolver: Option<Spanned<Vec<String>>>,
}

// ---- validation ----------------------------------------------------------

impl Loader<'_> {
    /// `[dns]`, or the defaults when absent.
    pub(crate) fn dns_section(&mut self, value: Option<Spanned<DeValue<'_>>>) -> DnsSettings {
        let Some(value) = value else {
            return DnsSettings::default();
        };
        let Some(raw) = self.deserialize::<RawDnsSection>(value, "dns", &[]) else {
            return DnsSettings::default();
        };
        let mut settings = DnsSettings::default();
        if let Some(hints) = &raw.root_hints {
            let list = self.server_list(hints, "dns.root_hints");
            if list.as_ref().is_some_and(Vec::is_empty) {
                self.rep.report(
                    hints.span(),
                    "dns.root_hints",
                    "the list of root hints is empty",
                    Some("leave `root_hints` out to use the bundled IANA root servers".into()),
                );
            }
            settings.root_hints = list.filter(|l| !l.is_empty());
        }
        if let Some(p) = &raw.port
            && let Some(port) = self.port(p, "dns")
        {
            settings.port = port;
        }
        if let Some(r) = &raw.resolver {
            let list = self.server_list(r, "dns.resolver");
            if list.as_ref().is_some_and(Vec::is_empty) {
                self.rep.report(
                    r.span(),
                    "dns.resolver",
                    "the list of resolvers is empty",
                    Some("leave `resolver` out to use those of /etc/resolv.conf".into()),
                );
            }
            settings.resolver = list.filter(|l| !l.is_empty());
        }
        if let Some(t) = &raw.query_timeout {
            settings.query_timeout = self.positive(t, "dns.query_timeout");
        }
        if let Some(v6) = raw.ipv6 {
            settings.ipv6 = v6;
        }
        if let Some(r) = &raw.resolve_hosts {
            match r.get_ref().as_str() {
                "system" => settings.resolve_hosts = HostResolution::System,
                "resolver" => settings.resolve_hosts = HostResolution::Resolver,
                other => self.rep.report(
                    r.span(),
                    "dns.resolve_hosts",
                    format!("unknown way to resolve host names {other:?}"),
                    Some("write \"system\" or \"resolver\"".into()),
                ),
            }
        }
        settings
    }

    /// Validates one check of a kind of this module.
    pub(crate) fn dns_check(
        &mut self,
        kind: &str,
        specific: Spanned<DeValue<'_>>,
        path: &str,
    ) -> Option<CheckSpec> {
        let span = specific.span();
        match kind {
            "delegation" => self
                .deserialize::<RawDelegation>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.delegation(r, path))
                .map(|s| CheckSpec::Probe(ProbeSpec::Delegation(Box::new(s)))),
            "dns" => self
                .deserialize::<RawDns>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.dns_records(r, path))
                .map(|s| CheckSpec::Probe(ProbeSpec::Dns(Box::new(s)))),
            _ => self
                .deserialize::<RawDnsbl>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.dnsbl(r, path, span))
                .map(|s| CheckSpec::Probe(ProbeSpec::Dnsbl(Box::new(s)))),
        }
    }

    fn delegation(&mut self, raw: RawDelegation, path: &str) -> Option<DelegationSpec> {
        let mut zone = self.dns_name(&raw.zone, &format!("{path}.zone"), None);
        if zone.as_deref() == Some(".") {
            self.rep.report(
                raw.zone.span(),
                &format!("{path}.zone"),
                "the root zone has no parent to be delegated from",
                Some("name the shop's zone, e.g. \"shop.example\"".into()),
            );
            zone = None;
        }
        let mut records = Vec::new();
        let mut ok = true;
        for (i, r) in raw.record.iter().enumerate() {
            let rpath = format!("{path}.record[{i}]");
            match self.record(
                r.get_ref(),
                r.span(),
                &rpath,
                zone.as_deref(),
                r.get_ref().equals.as_ref(),
                r.get_ref().contains.as_ref(),
                r.get_ref().nxdomain.as_ref(),
            ) {
                Some(e) => records.push(e),
                None => ok = false,
            }
        }
        let zone = zone?;
        ok.then(|| DelegationSpec {
            zone,
            expect_mx: raw.expect_mx.unwrap_or(true),
            records,
            dns: self.dns.clone(),
        })
    }

    fn dns_records(&mut self, raw: RawDns, path: &str) -> Option<DnsSpec> {
        let table_span = raw.name.span();
        let record = RawRecord {
            name: raw.name.clone(),
            kind: raw.kind.clone(),
            equals: None,
            contains: None,
            nxdomain: None,
        };
        let expectation = self.record(
            &record,
            table_span,
            path,
            None,
            raw.equals.as_ref(),
            raw.contains.as_ref(),
            raw.nxdomain.as_ref(),
        );
        let source = match &raw.server {
            None => {
                if raw.resolver.is_some() {
                    RecordSource::Resolver
                } else {
                    RecordSource::Authoritative
                }
            }
            Some(s) => match s.get_ref().as_str() {
                "authoritative" => RecordSource::Authoritative,
                "resolver" => RecordSource::Resolver,
                other => {
                    self.rep.report(
                        s.span(),
                        &format!("{path}.server"),
                        format!("unknown server choice {other:?}"),
                        Some("write \"authoritative\" (the zone's own servers, the default) or \"resolver\"".into()),
                    );
                    return None;
                }
            },
        };
        if let (RecordSource::Authoritative, Some(r)) = (source, &raw.resolver) {
            self.rep.report(
                r.span(),
                &format!("{path}.resolver"),
                "`resolver` is only used with `server = \"resolver\"`",
                Some("remove `resolver`, or set `server = \"resolver\"`".into()),
            );
            return None;
        }
        let dns = self.check_dns_settings(raw.resolver.as_ref(), path)?;
        Some(DnsSpec {
            expectation: expectation?,
            source,
            dns,
        })
    }

    fn dnsbl(
        &mut self,
        raw: RawDnsbl,
        path: &str,
        span: std::ops::Range<usize>,
    ) -> Option<DnsblSpec> {
        let mut ok = true;
        let mut ips = Vec::new();
        if let Some(list) = &raw.ips {
            for text in list.get_ref() {
                match text.trim().parse::<IpAddr>() {
                    Ok(ip) if !ips.contains(&ip) => ips.push(ip),
                    Ok(_) => {}
                    Err(_) => {
                        self.rep.report(
                            list.span(),
                            &format!("{path}.ips"),
                            format!("{text:?} is not an IP address"),
                            Some(
                                "write addresses such as \"192.0.2.10\" or \"2001:db8::25\"".into(),
                            ),
                        );
                        ok = false;
                    }
                }
            }
            if list.get_ref().is_empty() {
                self.rep.report(
                    list.span(),
                    &format!("{path}.ips"),
                    "the list of addresses is empty",
                    Some("leave `ips` out to check the addresses of `domain`".into()),
                );
                ok = false;
            }
        }
        let domain = match &raw.domain {
            Some(d) => {
                let name = self.dns_name(d, &format!("{path}.domain"), None);
                ok &= name.is_some();
                name.map(|n| n.trim_end_matches('.').to_owned())
            }
            None => None,
        };
        if raw.ips.is_none() && raw.domain.is_none() {
            self.rep.report(
                span,
                path,
                "a dnsbl check needs `domain` (its MX and web addresses are checked) or `ips`",
                Some("add e.g. `domain = \"shop.example\"`".into()),
            );
            return None;
        }
        let zones = match &raw.zones {
            None => None,
            Some(list) => {
                let mut zones = Vec::new();
                for z in list.get_ref() {
                    let (name, lists) = match z {
                        RawZone::Name(n) => (n.clone(), None),
                        RawZone::Table(t) => {
                            let lists = DnsblLists {
                                ipv4: t.ipv4.unwrap_or(false),
                                ipv6: t.ipv6.unwrap_or(false),
                                domain: t.domain.unwrap_or(false),
                            };
                            if !(lists.ipv4 || lists.ipv6 || lists.domain) {
                                self.rep.report(
                                    list.span(),
                                    &format!("{path}.zones"),
                                    format!("zone {:?} lists nothing", t.zone),
                                    Some(
                                        "set at least one of `ipv4`, `ipv6`, `domain` to true"
                                            .into(),
                                    ),
                                );
                                ok = false;
                            }
                            (t.zone.clone(), Some(lists))
                        }
                    };
                    match zone_name(&name) {
                        Some(n) => zones.push(DnsblZone {
                            zone: n.trim_end_matches('.').to_owned(),
                            lists,
                        }),
                        None => {
                            self.rep.report(
                                list.span(),
                                &format!("{path}.zones"),
                                format!("{name:?} is not a DNS zone name"),
                                None,
                            );
                            ok = false;
                        }
                    }
                }
                if zones.is_empty() && ok {
                    self.rep.report(
                        list.span(),
                        &format!("{path}.zones"),
                        "the list of zones is empty",
                        Some("leave `zones` out to use keepup's default list".into()),
                    );
                    ok = false;
                }
                Some(zones)
            }
        };
        let mut exclude_zones = Vec::new();
        if let Some(list) = &raw.exclude_zones {
            for name in list.get_ref() {
                match zone_name(name) {
                    Some(n) => exclude_zones.push(n.trim_end_matches('.').to_owned()),
                    None => {
                        self.rep.report(
                            list.span(),
                            &format!("{path}.exclude_zones"),
                            format!("{name:?} is not a DNS zone name"),
                            None,
                        );
                        ok = false;
                    }
                }
            }
        }
        let concurrency = match &raw.concurrency {
            None => DEFAULT_DNSBL_CONCURRENCY,
            Some(c) => match usize::try_from(*c.get_ref()) {
                Ok(n) if (1..=1024).contains(&n) => n,
                _ => {
                    self.rep.report(
                        c.span(),
                        &format!("{path}.concurrency"),
                        "must be between 1 and 1024",
                        None,
                    );
                    ok = false;
                    DEFAULT_DNSBL_CONCURRENCY
                }
            },
        };
        let dns = self.check_dns_settings(raw.resolver.as_ref(), path);
        let dns = dns?;
        ok.then_some(DnsblSpec {
            ips,
            domain,
            zones,
            exclude_zones,
            concurrency,
            dns,
        })
    }

    /// The global `[dns]` with a check's own `resolver`, if any.
    fn check_dns_settings(
        &mut self,
        resolver: Option<&Spanned<Vec<String>>>,
        path: &str,
    ) -> Option<DnsSettings> {
        let mut dns = self.dns.clone();
        if let Some(r) = resolver {
            let list = self.server_list(r, &format!("{path}.resolver"))?;
            if list.is_empty() {
                self.rep.report(
                    r.span(),
                    &format!("{path}.resolver"),
                    "the list of resolvers is empty",
                    Some("leave `resolver` out to use `[dns] resolver` or /etc/resolv.conf".into()),
                );
                return None;
            }
            dns.resolver = Some(list);
        }
        Some(dns)
    }

    /// A list of `ip[:port]` (port 53 by default; IPv6 with a port in
    /// brackets).
    fn server_list(&mut self, list: &Spanned<Vec<String>>, key: &str) -> Option<Vec<SocketAddr>> {
        let mut out = Vec::new();
        let mut ok = true;
        for text in list.get_ref() {
            match parse_server(text) {
                Some(a) => out.push(a),
                None => {
                    self.rep.report(
                        list.span(),
                        key,
                        format!("{text:?} is not an address with an optional port"),
                        Some("write \"192.0.2.53\", \"192.0.2.53:5300\", \"2001:db8::53\" or \"[2001:db8::53]:5300\"".into()),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// A DNS name, lowercase and absolute. With `origin`, a relative name
    /// (no trailing dot) is taken inside it and `"@"` is the origin itself;
    /// an absolute name must then be inside the origin.
    fn dns_name(
        &mut self,
        name: &Spanned<String>,
        key: &str,
        origin: Option<&str>,
    ) -> Option<String> {
        let text = name.get_ref().trim();
        let full = match origin {
            Some(o) if text == "@" => Some(o.to_owned()),
            Some(o) if !text.ends_with('.') => normalize_name(&format!("{text}.{o}")),
            _ => normalize_name(text),
        };
        let Some(full) = full else {
            let hint = if text.is_ascii() {
                "labels are letters, digits, '-' and '_', at most 63 characters each, 253 in all"
            } else {
                "write internationalised names in their ASCII (xn--) form"
            };
            self.rep.report(
                name.span(),
                key,
                format!("{text:?} is not a DNS name"),
                Some(hint.into()),
            );
            return None;
        };
        if let Some(o) = origin
            && !(full == o || full.ends_with(&format!(".{o}")))
        {
            self.rep.report(
                name.span(),
                key,
                format!("{full} is not inside the zone {o}"),
                Some(format!(
                    "record names are relative to the zone: write e.g. \"www\" for www.{o}"
                )),
            );
            return None;
        }
        Some(full)
    }

    /// One record expectation (`[[site.check.record]]` or a `dns` check).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        raw: &RawRecord,
        span: std::ops::Range<usize>,
        path: &str,
        origin: Option<&str>,
        equals: Option<&Spanned<Vec<RawValue>>>,
        contains: Option<&Spanned<Vec<RawValue>>>,
        nxdomain: Option<&Spanned<bool>>,
    ) -> Option<RecordExpectation> {
        let name_key = if origin.is_some() {
            format!("{path}.name")
        } else {
            format!("{path}.record")
        };
        let name = self.dns_name(&raw.name, &name_key, origin);
        let kind = match RecordKind::parse(raw.kind.get_ref()) {
            Some(k) => Some(k),
            None => {
                self.rep.report(
                    raw.kind.span(),
                    &format!("{path}.type"),
                    format!("unsupported record type {:?}", raw.kind.get_ref()),
                    Some("one of A, AAAA, CNAME, MX, TXT, CAA, NS".into()),
                );
                None
            }
        };
        let expect = match (equals, contains, nxdomain) {
            (Some(v), None, None) => {
                let kind = kind?;
                let values = self.record_values(v, kind, &format!("{path}.equals"))?;
                Some(RecordExpect::Equals(values))
            }
            (None, Some(v), None) => {
                let kind = kind?;
                let values = self.record_values(v, kind, &format!("{path}.contains"))?;
                Some(RecordExpect::Contains(values))
            }
            (None, None, Some(b)) if *b.get_ref() => Some(RecordExpect::NxDomain),
            (None, None, Some(b)) => {
                self.rep.report(
                    b.span(),
                    &format!("{path}.nxdomain"),
                    "`nxdomain = false` expects nothing",
                    Some("use `equals` or `contains` to expect records".into()),
                );
                None
            }
            _ => {
                self.rep.report(
                    span,
                    path,
                    "a record expectation needs exactly one of `equals = [...]`, `contains = [...]` or `nxdomain = true`",
                    None,
                );
                None
            }
        };
        Some(RecordExpectation {
            name: name?,
            kind: kind?,
            expect: expect?,
        })
    }

    fn record_values(
        &mut self,
        list: &Spanned<Vec<RawValue>>,
        kind: RecordKind,
        key: &str,
    ) -> Option<Vec<RecordValue>> {
        if list.get_ref().is_empty() {
            self.rep.report(
                list.span(),
                key,
                "the list of values is empty",
                Some(
                    "give at least one value, or `nxdomain = true` for a name that must not exist"
                        .into(),
                ),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for v in list.get_ref() {
            let text = match v {
                RawValue::Text(t) => t.clone(),
                RawValue::Number(n) => n.to_string(),
            };
            match parse_value(kind, &text) {
                Ok(value) => out.push(value),
                Err(why) => {
                    self.rep.report(
                        list.span(),
                        key,
                        format!("{text:?} is not a valid {kind} value: {why}"),
                        None,
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

/// Parses `ip`, `ip:port`, `ipv6` or `[ipv6]:port`.
pub(crate) fn parse_server(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<IpAddr>()
    {
        return Some(SocketAddr::new(ip, DNS_PORT));
    }
    text.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
}

/// A DNS name, lowercase and absolute, or `None` when it is not one.
pub(crate) fn normalize_name(text: &str) -> Option<String> {
    let text = text.trim();
    if text == "." {
        return Some(".".into());
    }
    let bare = text.strip_suffix('.').unwrap_or(text);
    let valid = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*')
        });
    valid.then(|| format!("{}.", bare.to_ascii_lowercase()))
}

/// A DNSBL zone name: a DNS name without wildcards.
fn zone_name(text: &str) -> Option<String> {
    normalize_name(text).filter(|n| !n.contains('*') && n != ".")
}

/// Parses one expected value of `kind`.
fn parse_value(kind: RecordKind, text: &str) -> Result<RecordValue, String> {
    let text = text.trim();
    let name = |t: &str| normalize_name(t).ok_or_else(|| format!("{t:?} is not a DNS name"));
    match kind {
        RecordKind::A => match text.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => Ok(RecordValue::Address(IpAddr::V4(ip))),
            Err(_) => Err("expected an IPv4 address".into()),
        },
        RecordKind::Aaaa => match text.parse::<std::net::Ipv6Addr>() {
            Ok(ip) => Ok(RecordValue::Address(IpAddr::V6(ip))),
            Err(_) => Err("expected an IPv6 address".into()),
        },
        RecordKind::Cname | RecordKind::Ns => name(text).map(RecordValue::Name),
        RecordKind::Mx => {
            let mut parts = text.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(p), Some(x), None) => {
                    let preference = p
                        .parse::<u16>()
                        .map_err(|_| format!("{p:?} is not a preference (0-65535)"))?;
                    Ok(RecordValue::Mx {
                        preference: Some(preference),
                        exchange: name(x)?,
                    })
                }
                (Some(x), None, None) => Ok(RecordValue::Mx {
                    preference: None,
                    exchange: name(x)?,
                }),
                _ => Err("write \"10 mx.example.\" or \"mx.example\"".into()),
            }
        }
        RecordKind::Txt => {
            if text.len() > 4096 {
                Err("longer than 4096 characters".into())
            } else {
                Ok(RecordValue::Txt(text.to_owned()))
            }
        }
        RecordKind::Caa => parse_caa(text),
    }
}

/// `[flags] tag "value"` (the quotes are optional for a value without
/// spaces).
fn parse_caa(text: &str) -> Result<RecordValue, String> {
    let usage = "write e.g. `0 issue \"letsencrypt.org\"` or `issue \"letsencrypt.org\"`";
    let (first, rest) = text.split_once(char::is_whitespace).ok_or(usage)?;
    let (flags, rest) = match first.parse::<u8>() {
        Ok(f) => (f, rest.trim_start()),
        Err(_) => (0, text),
    };
    let (tag, value) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| usage.to_owned())?;
    let tag = tag.to_ascii_lowercase();
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("{tag:?} is not a CAA property tag"));
    }
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Ok(RecordValue::Caa {
        flags,
        tag,
        value: value.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_parse_with_and_without_ports() {
        assert_eq!(
            parse_server("192.0.2.1"),
            Some("192.0.2.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_server("127.0.0.1:5300"),
            Some("127.0.0.1:5300".parse().unwrap())
        );
        assert_eq!(parse_server("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(parse_server("[::1]"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(
            parse_server("[::1]:5300"),
            Some("[::1]:5300".parse().unwrap())
        );
        assert_eq!(parse_server("ns.example"), None);
        assert_eq!(parse_server("127.0.0.1:0"), None);
    }

    #[test]
    fn names_are_lowercase_and_absolute() {
        assert_eq!(normalize_name("Shop.Example"), Some("shop.example.".into()));
        assert_eq!(
            normalize_name("shop.example."),
            Some("shop.example.".into())
        );
        assert_eq!(
            normalize_name("_dmarc.shop.example"),
            Some("_dmarc.shop.example.".into())
        );
        assert_eq!(normalize_name("."), Some(".".into()));
        assert_eq!(normalize_name("a..b"), None);
        assert_eq!(normalize_name("bücher.example"), None);
        assert_eq!(normalize_name(&"a".repeat(64)), None);
    }

    #[test]
    fn values_parse_for_their_type() {
        assert_eq!(
            parse_value(RecordKind::Mx, "10 MX.shop.example"),
            Ok(RecordValue::Mx {
                preference: Some(10),
                exchange: "mx.shop.example.".into()
            })
        );
        let any = parse_value(RecordKind::Mx, "mx.shop.example.").unwrap();
        assert!(any.accepts(&RecordValue::Mx {
            preference: Some(20),
            exchange: "mx.shop.example.".into()
        }));
        assert_eq!(
            parse_value(RecordKind::Caa, "0 issue \"letsencrypt.org\""),
            Ok(RecordValue::Caa {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into()
            })
        );
        assert_eq!(
            parse_value(RecordKind::Caa, "issuewild ;"),
            Ok(RecordValue::Caa {
                flags: 0,
                tag: "issuewild".into(),
                value: ";".into()
            })
        );
        assert!(parse_value(RecordKind::A, "::1").is_err());
        assert!(parse_value(RecordKind::Aaaa, "::1").is_ok());
        assert!(parse_value(RecordKind::Mx, "ten mx.example").is_err());
        assert!(parse_value(RecordKind::Caa, "issue").is_err());
    }
}
