//! Discovery of a shop's domain: the exploration behind `keepup discover`,
//! ending in a starter configuration.
//!
//! The DNS is walked from the root hints, as the delegation check does
//! (NS, MX, A/AAAA of the apex and `www`); the mail exchangers and the web
//! host are then asked which mail and web ports they answer on (a TCP
//! connect, nothing sent), and the usual policy pages are looked for with
//! the HTTP probe. The home page's cookies and markup tell a known shop
//! platform (Magento 2, WooCommerce, Shopware 6, PrestaShop,
//! [`crate::shop_platform`]), for which a scenario skeleton (browse, add
//! to cart, cart, checkout) is proposed, commented out until a person has
//! checked its selectors against the theme. The result is a commented TOML
//! text with every check a shop needs: registration, delegation,
//! certificates, web, mail, blacklists, policy pages. It is validated with
//! the real loader before it is returned (the proposed scenario too, as if
//! uncommented), so what discovery hands out always loads. Writing it
//! somewhere is the caller's business (the CLI).

use crate::ProbeContext;
use crate::dns::{Looked, lookup};
use keepup_config::dns::{RecordKind, RecordValue};
use keepup_config::mail::ports;
use keepup_config::toml_string as toml_str;
use keepup_config::{HttpSpec, StatusRange, TlsOptions};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

/// How long one DNS lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a port may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Mail exchangers looked at (the rest are listed in a comment).
const MAX_MX: usize = 3;

/// Mail ports and what a check of each is.
const MAIL_PORTS: &[(u16, &str, &str, &str)] = &[
    (
        ports::SMTP,
        "smtp",
        "starttls",
        "SMTP, mail from other servers",
    ),
    (ports::SUBMISSION, "smtp", "starttls", "SMTP submission"),
    (
        ports::SUBMISSIONS,
        "smtp",
        "implicit",
        "SMTP submission over TLS",
    ),
    (ports::IMAPS, "imap", "implicit", "IMAP over TLS"),
    (ports::IMAP, "imap", "starttls", "IMAP"),
    (ports::POP3S, "pop3", "implicit", "POP3 over TLS"),
    (ports::POP3, "pop3", "starttls", "POP3"),
];

/// Paths where shops keep their privacy policy, most common first.
const PRIVACY_PATHS: &[&str] = &[
    "/privacy",
    "/privacy-policy",
    "/datenschutz",
    "/policies/privacy-policy",
    "/legal/privacy",
];

/// What the exploration found.
#[derive(Debug, Default)]
struct Found {
    ns: Vec<String>,
    mx: Vec<(u16, String)>,
    apex: Vec<IpAddr>,
    www: Vec<IpAddr>,
    /// Per MX host: the mail ports that accepted a connection.
    mail_ports: Vec<(String, Vec<u16>)>,
    /// The web host and whether 443 / 80 accepted a connection.
    web_host: Option<String>,
    https: bool,
    http: bool,
    privacy_url: Option<String>,
    /// The shop platform the home page showed.
    platform: Option<crate::shop_platform::Recognised>,
    /// What could not be found out, for comments.
    notes: Vec<String>,
}

/// What to explore and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The shop's registered domain.
    pub domain: String,
    /// `[dns] root_hints` for private or test hierarchies.
    pub root_hints: Vec<SocketAddr>,
    /// `[dns] port` for the same.
    pub dns_port: Option<u16>,
    /// Only DNS: connect to nothing.
    pub dns_only: bool,
}

/// Why discovery produced no configuration.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{0:?} is not a registered domain (like shop.example)")]
    NotADomain(String),
    /// The `[dns]` settings built from the options do not load.
    #[error("{0}")]
    DnsSettings(keepup_config::Problems),
    #[error("{0} does not exist in the DNS (NXDOMAIN)")]
    NxDomain(String),
    #[error("{0} has no NS records: is it the registered domain (not a host name)?")]
    NoNameServers(String),
    #[error("cannot look {domain} up: {reason}")]
    Lookup { domain: String, reason: String },
    /// A bug of discovery's, not of the domain's.
    #[error("the generated configuration does not load (please report this):\n{0}")]
    Generated(keepup_config::Problems),
}

/// Explores `options.domain` and returns a starter configuration that
/// loads as the file `config_path` (which anchors relative paths).
pub async fn discover(options: &Options, config_path: &Path) -> Result<String, DiscoverError> {
    let domain = options
        .domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if domain.is_empty() || !domain.contains('.') {
        return Err(DiscoverError::NotADomain(options.domain.clone()));
    }
    let dns_section = dns_section(options);
    // The settings exactly as the generated file will have them.
    let dns = keepup_config::load_str(&dns_section, Path::new("<discover>"))
        .map_err(DiscoverError::DnsSettings)?
        .dns;
    let found = explore(&domain, &dns, options.dns_only).await?;
    let text = render(&domain, &dns_section, &found);
    keepup_config::load_str(&text, config_path).map_err(DiscoverError::Generated)?;
    // The proposed scenario must load once uncommented, too.
    if let (Some(r), Some(base)) = (&found.platform, web_base(&found)) {
        let with_scenario = format!(
            "{text}\n{}",
            crate::shop_platform::skeleton(r.platform, &base)
        );
        keepup_config::load_str(&with_scenario, config_path).map_err(DiscoverError::Generated)?;
    }
    Ok(text)
}

fn dns_section(opts: &Options) -> String {
    let mut s = String::new();
    if !opts.root_hints.is_empty() || opts.dns_port.is_some() {
        s.push_str("[dns]\n");
        if !opts.root_hints.is_empty() {
            let hints: Vec<String> = opts.root_hints.iter().map(|h| format!("\"{h}\"")).collect();
            let _ = writeln!(s, "root_hints = [{}]", hints.join(", "));
        }
        if let Some(p) = opts.dns_port {
            let _ = writeln!(s, "port = {p}");
        }
    }
    s
}

async fn explore(
    domain: &str,
    dns: &keepup_config::DnsSettings,
    dns_only: bool,
) -> Result<Found, DiscoverError> {
    let ctx = ProbeContext::new();
    let ask = |name: String, kind: RecordKind| {
        let ctx = ctx.with_timeout(LOOKUP_TIMEOUT);
        async move { lookup(&ctx, dns, &name, kind).await }
    };
    let mut found = Found::default();
    match ask(domain.to_owned(), RecordKind::Ns).await {
        Ok(Looked::Values(v)) if !v.is_empty() => found.ns = names(&v),
        Ok(Looked::NxDomain) => return Err(DiscoverError::NxDomain(domain.to_owned())),
        Ok(_) => return Err(DiscoverError::NoNameServers(domain.to_owned())),
        Err(reason) => {
            return Err(DiscoverError::Lookup {
                domain: domain.to_owned(),
                reason,
            });
        }
    }
    match ask(domain.to_owned(), RecordKind::Mx).await {
        Ok(Looked::Values(v)) => {
            found.mx = v
                .iter()
                .filter_map(|r| match r {
                    RecordValue::Mx {
                        preference,
                        exchange,
                    } if exchange != "." => Some((
                        preference.unwrap_or(0),
                        exchange.trim_end_matches('.').to_owned(),
                    )),
                    _ => None,
                })
                .collect();
            found.mx.sort();
            if found.mx.is_empty() {
                found
                    .notes
                    .push(format!("{domain} has no MX: it receives no mail"));
            }
        }
        Ok(Looked::NxDomain) => {}
        Err(e) => found.notes.push(format!("MX lookup failed: {e}")),
    }
    found.apex = addresses(&ask, domain).await;
    found.www = addresses(&ask, &format!("www.{domain}")).await;
    if dns_only {
        found.notes.push(
            "--dns-only: no port was tried; mail and web checks assume the usual ports".into(),
        );
        found.web_host = web_host(domain, &found);
        found.https = found.web_host.is_some();
        found.mail_ports = found
            .mx
            .iter()
            .take(MAX_MX)
            .map(|(_, h)| (h.clone(), vec![25]))
            .collect();
        return Ok(found);
    }
    for (_, host) in found.mx.iter().take(MAX_MX) {
        let addrs = addresses(&ask, host).await;
        let mut open = Vec::new();
        for &(port, ..) in MAIL_PORTS {
            if accepts(&addrs, port).await {
                open.push(port);
            }
        }
        if addrs.is_empty() {
            found
                .notes
                .push(format!("mail exchanger {host} has no address"));
        }
        found.mail_ports.push((host.clone(), open));
    }
    if let Some(host) = web_host(domain, &found) {
        let addrs = if host.starts_with("www.") {
            found.www.clone()
        } else {
            found.apex.clone()
        };
        found.https = accepts(&addrs, 443).await;
        found.http = accepts(&addrs, 80).await;
        if found.https || found.http {
            found.privacy_url = privacy_page(&host, found.https, &addrs).await;
            let scheme = if found.https { "https" } else { "http" };
            let ctx = ProbeContext::builder()
                .resolve_override(&host, addrs.iter().copied())
                .build();
            match crate::shop_platform::identify(&format!("{scheme}://{host}/"), &ctx).await {
                Ok(platform) => found.platform = platform,
                Err(e) => found
                    .notes
                    .push(format!("the home page could not be read ({e})")),
            }
        } else {
            found
                .notes
                .push(format!("{host} accepts no connection on 443 or 80"));
        }
        found.web_host = Some(host);
    }
    Ok(found)
}

/// The web front's origin (`https://www.shop.example`) as the checks use it.
fn web_base(f: &Found) -> Option<String> {
    let host = f.web_host.as_ref()?;
    let scheme = if f.https || !f.http { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// The host the shop's web front most likely is.
fn web_host(domain: &str, found: &Found) -> Option<String> {
    if !found.www.is_empty() {
        Some(format!("www.{domain}"))
    } else if !found.apex.is_empty() {
        Some(domain.to_owned())
    } else {
        None
    }
}

async fn addresses<F, Fut>(ask: &F, host: &str) -> Vec<IpAddr>
where
    F: Fn(String, RecordKind) -> Fut,
    Fut: std::future::Future<Output = Result<Looked, String>>,
{
    let mut out = Vec::new();
    for kind in [RecordKind::A, RecordKind::Aaaa] {
        if let Ok(Looked::Values(v)) = ask(host.to_owned(), kind).await {
            out.extend(v.iter().filter_map(|r| match r {
                RecordValue::Address(ip) => Some(*ip),
                _ => None,
            }));
        }
    }
    out
}

fn names(values: &[RecordValue]) -> Vec<String> {
    values
        .iter()
        .filter_map(|v| match v {
            RecordValue::Name(n) => Some(n.trim_end_matches('.').to_owned()),
            _ => None,
        })
        .collect()
}

/// Whether any of `addrs` accepts a TCP connection on `port`.
async fn accepts(addrs: &[IpAddr], port: u16) -> bool {
    for ip in addrs {
        let connect = tokio::net::TcpStream::connect(SocketAddr::new(*ip, port));
        if let Ok(Ok(_)) = tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
            return true;
        }
    }
    false
}

/// The first of the usual privacy-policy paths that answers 200, asked
/// through keepup's own HTTP probe (bounded, timed, no redirect surprise).
async fn privacy_page(host: &str, https: bool, addrs: &[IpAddr]) -> Option<String> {
    let scheme = if https { "https" } else { "http" };
    let ctx = ProbeContext::builder()
        .resolve_override(host, addrs.iter().copied())
        .build();
    for path in PRIVACY_PATHS {
        let url = format!("{scheme}://{host}{path}");
        let Ok(uri) = url.parse() else {
            continue;
        };
        let spec = looking_get(
            uri,
            vec![StatusRange {
                low: 200,
                high: 200,
            }],
            1 << 20,
        );
        let ctx = ctx.with_timeout(PAGE_TIMEOUT);
        let outcome = crate::within_timeout(PAGE_TIMEOUT, crate::http::probe(&spec, &ctx)).await;
        if outcome.status == keepup_model::Status::Up {
            return Some(url);
        }
    }
    None
}

/// How long discovery waits for one page.
const PAGE_TIMEOUT: Duration = Duration::from_secs(5);

/// A GET of `url` as discovery makes it: redirects followed, at most
/// `max_body_bytes` read, the certificate analysed but not required to be
/// valid (discovery only looks), `expect_status` (empty: 200-299).
pub(crate) fn looking_get(
    url: http::Uri,
    expect_status: Vec<StatusRange>,
    max_body_bytes: u64,
) -> HttpSpec {
    HttpSpec {
        url,
        method: http::Method::GET,
        headers: Vec::new(),
        body: None,
        basic_auth: None,
        expect_status,
        assertions: Vec::new(),
        degraded_latency: None,
        down_latency: None,
        follow_redirects: true,
        max_redirects: 5,
        max_body_bytes,
        tls: TlsOptions {
            verify: false,
            ..TlsOptions::default()
        },
        user_agent: String::new(),
    }
}

/// A check id from a host name (`mx1.shop.example` → `mx1`).
fn short(host: &str, domain: &str) -> String {
    let label = host
        .strip_suffix(domain)
        .map(|p| p.trim_end_matches('.'))
        .filter(|p| !p.is_empty())
        .unwrap_or(host);
    let id: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    id.trim_matches('-').to_owned()
}

fn render(domain: &str, dns_section: &str, f: &Found) -> String {
    let site = short(domain.split('.').next().unwrap_or("shop"), "");
    let site = if site.is_empty() {
        "shop".to_owned()
    } else {
        site
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# keepup configuration for {domain}, written by `keepup discover {domain}`."
    );
    let _ = writeln!(
        t,
        "# Found: NS {}; MX {}; apex {}; www {}.",
        list(&f.ns),
        list(
            &f.mx
                .iter()
                .map(|(p, h)| format!("{p} {h}"))
                .collect::<Vec<_>>()
        ),
        list(&f.apex),
        list(&f.www)
    );
    for n in &f.notes {
        let _ = writeln!(t, "# Note: {n}.");
    }
    t.push_str("# Review it, add channels and a [[policy]] for alerting (see the README), then:\n#   keepup validate -c keepup.toml && keepup run -c keepup.toml\n\n");
    if !dns_section.is_empty() {
        t.push_str("# A private or test DNS hierarchy (as given to discover).\n");
        t.push_str(dns_section);
        t.push('\n');
    }
    let _ = writeln!(
        t,
        "[[site]]\nid = {}\nname = {}\n",
        toml_str(&site),
        toml_str(domain)
    );

    t.push_str("# The registration: expiry over RDAP (WHOIS for ccTLDs without RDAP).\n");
    let _ = writeln!(
        t,
        "[[site.check]]\nid = \"registration\"\nkind = \"domain\"\ndomain = {}\ninterval = \"6h\"\nwarn_days = 30\ncritical_days = 7\n",
        toml_str(domain)
    );

    t.push_str("# The delegation from the root down, every name server over UDP and TCP,\n# glue, SOA, MX. It is an implicit parent of the checks below.\n");
    let _ = writeln!(
        t,
        "[[site.check]]\nid = \"delegation\"\nkind = \"delegation\"\nzone = {}\ninterval = \"5m\"\nexpect_mx = {}",
        toml_str(domain),
        !f.mx.is_empty()
    );
    let v4: Vec<String> = f
        .www
        .iter()
        .filter(|ip| ip.is_ipv4())
        .map(|ip| toml_str(&ip.to_string()))
        .collect();
    let v6: Vec<String> = f
        .www
        .iter()
        .filter(|ip| ip.is_ipv6())
        .map(|ip| toml_str(&ip.to_string()))
        .collect();
    for (kind, values) in [("A", v4), ("AAAA", v6)] {
        if !values.is_empty() {
            let _ = writeln!(
                t,
                "# The web front's addresses must not change unnoticed.\n[[site.check.record]]\nname = \"www\"\ntype = \"{kind}\"\nequals = [{}]",
                values.join(", ")
            );
        }
    }
    t.push('\n');

    if let Some(host) = &f.web_host {
        let scheme = if f.https || !f.http { "https" } else { "http" };
        if scheme == "https" {
            t.push_str("# The certificate on every address of the web host.\n");
            let _ = writeln!(
                t,
                "[[site.check]]\nid = \"certificate\"\nkind = \"tls\"\nhost = {}\ninterval = \"1h\"\n",
                toml_str(host)
            );
        } else {
            t.push_str("# Note: the web host does not answer on 443: the shop has no HTTPS?\n");
        }
        t.push_str(
            "# The home page. Add `contains = [\"...\"]` with a word the page always shows.\n",
        );
        let _ = writeln!(
            t,
            "[[site.check]]\nid = \"home\"\nkind = \"http\"\nurl = {}\ninterval = \"1m\"\ndegraded_latency = \"2s\"\n",
            toml_str(&format!("{scheme}://{host}/"))
        );
        if let Some(r) = &f.platform {
            let _ = writeln!(
                t,
                "# The home page looks like {} ({}). A scenario that walks the shop as a\n# customer does, written for the platform's default theme: check the\n# selectors (and the platform's notes) against your theme, then uncomment it.",
                r.platform.name(),
                r.evidence.join(", ")
            );
            let skeleton =
                crate::shop_platform::skeleton(r.platform, &format!("{scheme}://{host}"));
            for line in skeleton.lines() {
                if line.is_empty() {
                    t.push_str("#\n");
                } else {
                    let _ = writeln!(t, "# {line}");
                }
            }
            t.push('\n');
        }
        match &f.privacy_url {
            Some(url) => {
                t.push_str("# The privacy policy: available, not a soft 404, changes reported.\n# Add `phrases = [...]` that it must always contain.\n");
                let _ = writeln!(
                    t,
                    "[[site.check]]\nid = \"privacy\"\nkind = \"page\"\nurl = {}\ninterval = \"1h\"\n",
                    toml_str(url)
                );
            }
            None => {
                t.push_str(
                    "# The privacy policy: none of the usual paths answered; set its URL:\n",
                );
                let _ = writeln!(
                    t,
                    "# [[site.check]]\n# id = \"privacy\"\n# kind = \"page\"\n# url = \"{scheme}://{host}/privacy\"\n# interval = \"1h\"\n"
                );
            }
        }
        if scheme == "https" {
            t.push_str(
                "# /.well-known/security.txt (RFC 9116): present, with Contact, not expired.\n",
            );
            let _ = writeln!(
                t,
                "[[site.check]]\nid = \"security-txt\"\nkind = \"security_txt\"\ndomain = {}\ninterval = \"1d\"\n",
                toml_str(host)
            );
        }
    } else {
        t.push_str("# Note: neither the apex nor www has an address: no web checks.\n\n");
    }

    for (host, open) in &f.mail_ports {
        let id = short(host, domain);
        if open.is_empty() {
            let _ = writeln!(
                t,
                "# Mail exchanger {host}: no mail port answered; when it does:\n# [[site.check]]\n# id = \"{id}-smtp\"\n# kind = \"smtp\"\n# host = \"{host}\"\n"
            );
            continue;
        }
        for &(port, kind, tls, what) in MAIL_PORTS {
            if !open.contains(&port) {
                continue;
            }
            let _ = writeln!(
                t,
                "# {what} on {host}:{port}; the certificate after TLS is checked like HTTPS."
            );
            let _ = writeln!(
                t,
                "[[site.check]]\nid = \"{id}-{kind}-{port}\"\nkind = \"{kind}\"\nhost = {}\nport = {port}\ntls = \"{tls}\"\ninterval = \"5m\"\n",
                toml_str(host)
            );
        }
    }
    if f.mx.len() > MAX_MX {
        let _ = writeln!(
            t,
            "# Further mail exchangers not looked at: {}.\n",
            list(
                &f.mx[MAX_MX..]
                    .iter()
                    .map(|(_, h)| h.clone())
                    .collect::<Vec<_>>()
            )
        );
    }

    t.push_str("# Spam blacklists (DNSBL): the MX hosts', apex and www addresses, and the\n# domain itself, on the current default lists. Ask through a resolver of\n# your own: public resolvers are refused by Spamhaus.\n");
    let _ = writeln!(
        t,
        "[[site.check]]\nid = \"blacklists\"\nkind = \"dnsbl\"\ndomain = {}\ninterval = \"30m\"\n",
        toml_str(domain)
    );

    t.push_str("# A cron job or backup that calls http://<keepup>/ping/<token> when done:\n# [[site.check]]\n# id = \"nightly-backup\"\n# kind = \"heartbeat\"\n# token_env = \"BACKUP_PING_TOKEN\"\n# period = \"1d\"\n");
    t
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".into();
    }
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::short;

    #[test]
    fn check_ids_from_host_names() {
        assert_eq!(short("mx1.shop.example", "shop.example"), "mx1");
        assert_eq!(
            short("mail.other.example", "shop.example"),
            "mail-other-example"
        );
        assert_eq!(short("shop.example", "shop.example"), "shop-example");
    }
}
