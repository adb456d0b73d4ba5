//! Domain registration checks: when does the shop's domain expire, and is
//! its registration healthy?
//!
//! Where to ask, in order:
//!
//! 1. `rdap_url`, when configured (with `whois_server` as the fallback
//!    when RDAP fails);
//! 2. `whois_server`, when configured;
//! 3. the RDAP server the bootstrap lists for the domain's longest known
//!    suffix (`bootstrap`: bundled copy of IANA's file, refreshed when
//!    reachable);
//! 4. the registry's WHOIS server from keepup's table (`parsers`), for
//!    the ccTLDs without RDAP;
//! 5. otherwise the check is Unknown ([`codes::DOMAIN_UNSUPPORTED`]),
//!    never a silent OK.
//!
//! Answers are cached in the [`ProbeContext`] (`cache`), per domain and
//! source, for the check's `cache` duration; queries to one server are
//! spaced by `query_spacing`; an HTTP 429 or a WHOIS rate-limit text puts
//! the server in back-off (honouring `Retry-After`) and the check reports
//! [`codes::DOMAIN_RATE_LIMITED`] meanwhile without asking again. While a
//! registry cannot be asked, an answer up to a week old is still judged,
//! with the failure as an Info finding.
//!
//! The judgement: expired or within `critical_days` is Down, within
//! `warn_days` Degraded; `clientHold`/`serverHold`, `pendingDelete` and
//! `redemptionPeriod` (and their ccTLD equivalents) are Down; a registry
//! that publishes no expiry date (.de, .eu, .at, .ch, .be) is Unknown with
//! what it does publish; no registration at all is Down.

mod bootstrap;
mod cache;
mod dates;
mod parsers;
mod persist;
mod rdap;
mod whois;

pub(crate) use cache::DomainState;
pub use parsers::{Layout, TldWhois, WHOIS_TABLE};

use keepup_config::{DomainSpec, WhoisServer};
use keepup_model::{Finding, Outcome, Severity, Status, format_rfc3339};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::util::finish;
use cache::{Found, Gate, Lookup};

/// Referrals followed from a thin registry to the registrar's server.
const MAX_REFERRALS: usize = 1;

/// What a registry published about a domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registration {
    /// The domain as the registry spells it (lowercased).
    pub name: Option<String>,
    /// Expiry (Unix seconds).
    pub expires: Option<i64>,
    /// Registration (Unix seconds).
    pub registered: Option<i64>,
    /// Last change (Unix seconds).
    pub changed: Option<i64>,
    /// The registrar's name.
    pub registrar: Option<String>,
    /// Status values as published (EPP names, RDAP phrases, ccTLD words).
    pub statuses: Vec<String>,
    /// Name servers, lowercase.
    pub nameservers: Vec<String>,
    /// A WHOIS server named for the full record (thin registries).
    pub referral: Option<String>,
    /// An expiry field that is not a date: `(field, text)`.
    pub bad_date: Option<(String, String)>,
}

/// What a registry answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The domain is registered.
    Registered(Registration),
    /// The registry has no such domain.
    NotFound,
    /// The registry asks to slow down (the text it used).
    RateLimited(String),
    /// The registry refuses to answer this client (why).
    Refused(String),
    /// The answer cannot be understood (why).
    Unrecognised(String),
}

/// Where an answer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// An RDAP query URL.
    Rdap { url: String },
    /// A WHOIS server, and the layout its answers were read with.
    Whois { server: String, layout: Layout },
}

impl Source {
    fn kind(&self) -> &'static str {
        match self {
            Source::Rdap { .. } => "rdap",
            Source::Whois { .. } => "whois",
        }
    }

    fn server(&self) -> &str {
        match self {
            Source::Rdap { url } => url,
            Source::Whois { server, .. } => server,
        }
    }
}

/// One way of asking.
#[derive(Debug, Clone)]
enum Method {
    Rdap { base: http::Uri },
    Whois { server: WhoisServer, layout: Layout },
}

impl Method {
    /// The server's identity for spacing and back-off.
    fn server_key(&self) -> String {
        match self {
            Method::Rdap { base } => {
                format!("rdap {}", base.authority().map_or("?", |a| a.as_str()))
            }
            Method::Whois { server, .. } => format!("whois {}", whois::server_name(server)),
        }
    }

    /// The cache key of `domain` asked this way.
    fn cache_key(&self, domain: &str) -> String {
        match self {
            Method::Rdap { base } => format!("{domain} rdap {base}"),
            Method::Whois { server, .. } => {
                format!("{domain} whois {}", whois::server_name(server))
            }
        }
    }

    /// For messages: "the WHOIS server whois.example".
    fn describe(&self) -> String {
        match self {
            Method::Rdap { base } => format!("the RDAP server {}", base.host().unwrap_or("?")),
            Method::Whois { server, .. } => {
                format!("the WHOIS server {}", whois::server_name(server))
            }
        }
    }

    fn source(&self, domain: &str) -> Source {
        match self {
            Method::Rdap { base } => Source::Rdap {
                url: format!("{base}domain/{domain}"),
            },
            Method::Whois { server, layout } => Source::Whois {
                server: whois::server_name(server),
                layout: *layout,
            },
        }
    }
}

/// Runs one domain check.
pub async fn probe(spec: &DomainSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let mut outcome = Outcome::new(Status::Up, "");
    outcome.evidence.insert("domain", spec.domain.clone());
    let methods = plan(spec, &ctx, &mut outcome).await;
    if methods.is_empty() {
        let tld = spec.domain.rsplit('.').next().unwrap_or_default();
        outcome.push(Finding::new(
            codes::DOMAIN_UNSUPPORTED,
            Severity::Warning,
            format!(
                "keepup does not know the registry of .{tld}: the RDAP bootstrap lists no server for it and keepup has no WHOIS parser for it; set rdap_url or whois_server"
            ),
        ));
        outcome.worsen(Status::Unknown);
        return finish(outcome, String::new(), started);
    }
    let mut result = None;
    for (i, method) in methods.iter().enumerate() {
        let (lookup, cached) = lookup(&ctx, spec, method).await;
        let answered = lookup.is_answer();
        if !answered && i + 1 < methods.len() {
            // Say why the fallback was needed.
            if let Found::RateLimited { text, .. } | Found::Failed { text, .. } = &lookup.found {
                outcome.push(Finding::new(
                    codes::DOMAIN_LOOKUP_FAILED,
                    Severity::Info,
                    format!("{text}; asking {} instead", methods[i + 1].describe()),
                ));
            }
        }
        result = Some((method, lookup, cached));
        if answered {
            break;
        }
    }
    let ok_message = match result {
        Some((method, lookup, cached)) => {
            outcome.evidence.insert("cached", cached);
            judge(spec, &ctx, method, lookup, &mut outcome)
        }
        None => String::new(),
    };
    finish(outcome, ok_message, started)
}

/// The ways to ask about `spec.domain`, in order (empty: unsupported).
async fn plan(spec: &DomainSpec, ctx: &ProbeContext, outcome: &mut Outcome) -> Vec<Method> {
    let whois_override = spec.whois_server.clone().map(|server| Method::Whois {
        server,
        layout: parsers::layout_for(&spec.domain),
    });
    if let Some(base) = &spec.rdap_url {
        let mut methods = vec![Method::Rdap { base: base.clone() }];
        methods.extend(whois_override);
        return methods;
    }
    if let Some(method) = whois_override {
        return vec![method];
    }
    let (bootstrap, stale) = bootstrap::current(ctx, &spec.settings).await;
    outcome.evidence.insert(
        "rdap_bootstrap",
        json!({
            "origin": bootstrap.origin,
            "publication": bootstrap.publication,
            "suffixes": bootstrap.suffixes(),
        }),
    );
    if let Some(finding) = stale {
        outcome.push(finding);
    }
    if let Some((suffix, url)) = bootstrap.lookup(&spec.domain) {
        outcome
            .evidence
            .insert("registry_suffix", suffix.to_owned());
        if let Ok(base) = url.parse::<http::Uri>() {
            return vec![Method::Rdap { base }];
        }
    }
    let tld = spec.domain.rsplit('.').next().unwrap_or_default();
    match parsers::for_tld(tld) {
        Some(entry) => {
            outcome.evidence.insert("registry_suffix", tld.to_owned());
            vec![Method::Whois {
                server: WhoisServer {
                    host: entry.server.to_owned(),
                    port: 43,
                },
                layout: entry.layout,
            }]
        }
        None => Vec::new(),
    }
}

/// A lookup through the cache: a fresh cached result (`true`), or one
/// query (only one at a time per domain and source).
async fn lookup(ctx: &ProbeContext, spec: &DomainSpec, method: &Method) -> (Lookup, bool) {
    let state = ctx.kind_state::<DomainState>();
    let key = method.cache_key(&spec.domain);
    if let Some(hit) = state.fresh(&key, spec.cache) {
        return (hit, true);
    }
    let flight = state.flight(&key);
    let Ok(_guard) = ctx
        .within(
            "waiting for another lookup of the same domain",
            flight.lock(),
        )
        .await
    else {
        let lookup = made(
            method.source(&spec.domain),
            Found::Failed {
                code: codes::DOMAIN_LOOKUP_FAILED,
                text: format!(
                    "another lookup of {} did not finish within the timeout",
                    spec.domain
                ),
            },
            false,
        );
        return (lookup, false);
    };
    if let Some(hit) = state.fresh(&key, spec.cache) {
        return (hit, true);
    }
    // The answer from before a restart, if it is still fresh.
    if state.first_recall(&key)
        && let Some(kept) = ctx
            .recall(persist::ANSWER, &key)
            .await
            .and_then(|text| persist::lookup_from_text(&text))
    {
        state.store(&key, &kept);
        if let Some(hit) = state.fresh(&key, spec.cache) {
            return (hit, true);
        }
    }
    let lookup = query(ctx, spec, method).await;
    state.store(&key, &lookup);
    if lookup.cacheable
        && let Some(text) = persist::lookup_to_text(&lookup)
    {
        ctx.remember(persist::ANSWER, &key, text).await;
    }
    (lookup, false)
}

fn made(source: Source, found: Found, cacheable: bool) -> Lookup {
    Lookup {
        found,
        source,
        at: Instant::now(),
        wall: crate::util::unix_now(),
        cacheable,
        age_before: std::time::Duration::ZERO,
    }
}

/// Waits for a query slot of `server`; `Err` when there is none (back-off,
/// or no slot before the deadline).
async fn gate(
    ctx: &ProbeContext,
    spec: &DomainSpec,
    server: &str,
    source: &Source,
) -> Result<(), Lookup> {
    let deadline = ctx.budget().deadline;
    match ctx
        .kind_state::<DomainState>()
        .reserve(server, spec.settings.query_spacing, deadline)
    {
        Gate::At(at) => {
            tokio::time::sleep_until(at).await;
            Ok(())
        }
        Gate::Backoff { until, text } => Err(made(
            source.clone(),
            Found::RateLimited { text, until },
            true,
        )),
        Gate::Busy => Err(made(
            source.clone(),
            Found::RateLimited {
                text: format!(
                    "keepup spaces its queries to {} and had no free slot within the timeout; the next run asks again",
                    source.server()
                ),
                until: Instant::now(),
            },
            false,
        )),
    }
}

/// Asks, through the server's gate.
async fn query(ctx: &ProbeContext, spec: &DomainSpec, method: &Method) -> Lookup {
    let source = method.source(&spec.domain);
    let server = method.server_key();
    if let Err(held) = gate(ctx, spec, &server, &source).await {
        return held;
    }
    match method {
        Method::Rdap { base } => {
            let state = ctx.kind_state::<DomainState>();
            let mut source = source;
            let found = match rdap::lookup(ctx, base, &spec.domain).await {
                rdap::Reply::Answer(answer, answered_by) => {
                    state.absolve(&server);
                    // After redirects, the URL that answered.
                    source = Source::Rdap { url: answered_by };
                    found_from(answer, &source)
                }
                rdap::Reply::RetryAfter(wait) => {
                    let text = format!(
                        "the RDAP server {} answered HTTP 429 Too Many Requests; keepup does not ask it again before its Retry-After has passed",
                        base.host().unwrap_or("?")
                    );
                    let until = state.penalise(&server, Some(wait), &text);
                    Found::RateLimited { text, until }
                }
                rdap::Reply::Failed(code, text) => Found::Failed { code, text },
            };
            made(source, found, true)
        }
        Method::Whois {
            server: target,
            layout,
        } => {
            let found = ask_whois(ctx, spec, target, *layout, &server).await;
            made(source, found, true)
        }
    }
}

/// One WHOIS query, and the referral of a thin registry if its answer has
/// no expiry.
async fn ask_whois(
    ctx: &ProbeContext,
    spec: &DomainSpec,
    target: &WhoisServer,
    layout: Layout,
    server_key: &str,
) -> Found {
    let state = ctx.kind_state::<DomainState>();
    let source = Source::Whois {
        server: whois::server_name(target),
        layout,
    };
    let text = match whois::ask(ctx, target, &layout.query(&spec.domain)).await {
        Ok(text) => text,
        Err((code, text)) => return Found::Failed { code, text },
    };
    let answer = layout.parse(&text);
    if let Answer::RateLimited(said) = &answer {
        let text = format!(
            "the WHOIS server {} refused the query with its rate limit (\"{said}\"); keepup backs off before asking it again",
            source.server()
        );
        let until = state.penalise(server_key, None, &text);
        return Found::RateLimited { text, until };
    }
    state.absolve(server_key);
    let Answer::Registered(mut reg) = answer else {
        return found_from(answer, &source);
    };
    let referral = reg
        .referral
        .as_deref()
        .and_then(whois::referral_server)
        .map(|mut r| {
            // Real referrals name a host, always on port 43; a port is only
            // honoured from a registry that itself runs on another port
            // (a private or test setup), so an answer cannot point keepup
            // at arbitrary services.
            if target.port == 43 {
                r.port = 43;
            }
            r
        })
        .filter(|r| r != target);
    if let (None, true, Some(referral)) = (reg.expires, layout.publishes_expiry(), referral) {
        for _ in 0..MAX_REFERRALS {
            let method = Method::Whois {
                server: referral.clone(),
                layout: Layout::Generic,
            };
            let referral_source = method.source(&spec.domain);
            if gate(ctx, spec, &method.server_key(), &referral_source)
                .await
                .is_err()
            {
                break;
            }
            if let Ok(text) = whois::ask(ctx, &referral, &spec.domain).await
                && let Answer::Registered(full) = Layout::Generic.parse(&text)
            {
                reg.expires = full.expires;
                reg.bad_date = reg.bad_date.or(full.bad_date);
                reg.registrar = reg.registrar.or(full.registrar);
                for ns in full.nameservers {
                    if !reg.nameservers.contains(&ns) {
                        reg.nameservers.push(ns);
                    }
                }
            }
        }
    }
    Found::Answer(Answer::Registered(reg))
}

/// Registered and not-found answers are answers; the others are failures.
fn found_from(answer: Answer, source: &Source) -> Found {
    match answer {
        Answer::Registered(_) | Answer::NotFound => Found::Answer(answer),
        Answer::RateLimited(said) => Found::Failed {
            code: codes::DOMAIN_RATE_LIMITED,
            text: format!("{} is rate-limiting: {said}", source.server()),
        },
        Answer::Refused(why) => Found::Failed {
            code: codes::DOMAIN_LOOKUP_FAILED,
            text: format!("{} refused the query: {why}", source.server()),
        },
        Answer::Unrecognised(why) => Found::Failed {
            code: codes::DOMAIN_BAD_RESPONSE,
            text: format!(
                "the {} answer of {} is not understood: {why}",
                source.kind().to_uppercase(),
                source.server()
            ),
        },
    }
}

/// Turns a lookup into findings and evidence; returns the message for a
/// healthy outcome.
fn judge(
    spec: &DomainSpec,
    ctx: &ProbeContext,
    method: &Method,
    lookup: Lookup,
    outcome: &mut Outcome,
) -> String {
    let mut lookup = lookup;
    let failure = match &lookup.found {
        Found::Answer(_) => None,
        Found::RateLimited { text, .. } => Some((codes::DOMAIN_RATE_LIMITED, text.clone())),
        Found::Failed { code, text } => Some((*code, text.clone())),
    };
    if let Some((code, text)) = failure {
        let earlier = ctx
            .kind_state::<DomainState>()
            .last_answer(&method.cache_key(&spec.domain));
        match earlier {
            Some(earlier) => {
                outcome.push(Finding::new(
                    code,
                    Severity::Info,
                    format!(
                        "{text}; the registry's answer from {} is used",
                        dates::day(earlier.wall)
                    ),
                ));
                outcome.evidence.insert("stale", true);
                lookup = earlier;
            }
            None => {
                evidence_source(&lookup, outcome);
                outcome.push(Finding::new(code, Severity::Warning, text));
                outcome.worsen(Status::Unknown);
                return String::new();
            }
        }
    }
    evidence_source(&lookup, outcome);
    let domain = &spec.domain;
    match &lookup.found {
        Found::Answer(Answer::Registered(reg)) => registration(spec, &lookup.source, reg, outcome),
        Found::Answer(_) => {
            outcome.push(Finding::new(
                codes::DOMAIN_NOT_FOUND,
                Severity::Critical,
                format!("the registry has no registration for {domain}"),
            ));
            String::new()
        }
        // A stale lookup is always an answer.
        _ => String::new(),
    }
}

fn evidence_source(lookup: &Lookup, outcome: &mut Outcome) {
    let evidence = &mut outcome.evidence;
    evidence.insert("source", lookup.source.kind());
    evidence.insert("server", lookup.source.server().to_owned());
    if let Source::Whois { layout, .. } = &lookup.source {
        evidence.insert("whois_layout", format!("{layout:?}"));
    }
    evidence.insert("looked_up", format_rfc3339(lookup.wall * 1000));
}

/// What a status value means for the shop, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Hold,
    PendingDelete,
    Redemption,
}

fn flag(status: &str) -> Option<Flag> {
    let norm: String = status
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match norm.as_str() {
        "clienthold" | "serverhold" | "outofservice" | "deactivated" => Some(Flag::Hold),
        "pendingdelete" => Some(Flag::PendingDelete),
        "redemptionperiod" | "quarantine" => Some(Flag::Redemption),
        _ => None,
    }
}

/// Findings and evidence for a registered domain.
fn registration(
    spec: &DomainSpec,
    source: &Source,
    reg: &Registration,
    outcome: &mut Outcome,
) -> String {
    let domain = &spec.domain;
    let now = crate::util::unix_now();
    let evidence = &mut outcome.evidence;
    let opt_date =
        |t: Option<i64>| t.map_or(Value::Null, |t| Value::String(format_rfc3339(t * 1000)));
    evidence.insert("expires", opt_date(reg.expires));
    evidence.insert("registered", opt_date(reg.registered));
    evidence.insert("changed", opt_date(reg.changed));
    evidence.insert(
        "registrar",
        reg.registrar.clone().map_or(Value::Null, Value::String),
    );
    evidence.insert("status", json!(reg.statuses));
    evidence.insert("nameservers", json!(reg.nameservers));
    if let Some(t) = reg.expires {
        evidence.insert(
            "days_left",
            ((t - now) as f64 / 86_400.0 * 10.0).round() / 10.0,
        );
    }

    let mut flagged = Vec::new();
    for status in &reg.statuses {
        let Some(f) = flag(status) else { continue };
        if flagged.contains(&f) {
            continue;
        }
        flagged.push(f);
        let (code, text) = match f {
            Flag::Hold => (
                codes::DOMAIN_ON_HOLD,
                format!("{domain} is on hold ({status}): the registry does not publish it in DNS"),
            ),
            Flag::PendingDelete => (
                codes::DOMAIN_PENDING_DELETE,
                format!("{domain} is pending deletion ({status})"),
            ),
            Flag::Redemption => (
                codes::DOMAIN_REDEMPTION_PERIOD,
                format!(
                    "{domain} was deleted and is in its redemption period ({status}); only a restore saves it"
                ),
            ),
        };
        outcome.push(Finding::new(code, Severity::Critical, text));
    }

    let Some(expires) = reg.expires else {
        let tld = domain.rsplit('.').next().unwrap_or_default();
        let (code, text) = match (&reg.bad_date, source) {
            (Some((field, value)), _) => (
                codes::DOMAIN_BAD_RESPONSE,
                format!("the registry's {field} {value:?} for {domain} is not a date"),
            ),
            (None, Source::Whois { layout, .. }) if layout.publishes_expiry() => (
                codes::DOMAIN_BAD_RESPONSE,
                format!(
                    "the WHOIS answer for {domain} has no expiry date, although the registry publishes one"
                ),
            ),
            (None, Source::Whois { .. }) => (
                codes::DOMAIN_NO_EXPIRY,
                format!(
                    "the .{tld} registry publishes no expiry date; {domain} is registered ({})",
                    published(reg)
                ),
            ),
            (None, Source::Rdap { .. }) => (
                codes::DOMAIN_NO_EXPIRY,
                format!(
                    "the registry publishes no expiration date in RDAP; {domain} is registered ({})",
                    published(reg)
                ),
            ),
        };
        outcome.push(Finding::new(code, Severity::Warning, text));
        outcome.worsen(Status::Unknown);
        return String::new();
    };
    let date = dates::day(expires);
    let days_left = (expires - now) as f64 / 86_400.0;
    if expires <= now {
        outcome.push(Finding::new(
            codes::DOMAIN_EXPIRED,
            Severity::Critical,
            format!("the registration of {domain} expired on {date}"),
        ));
    } else if days_left < f64::from(spec.critical_days) {
        outcome.push(Finding::new(
            codes::DOMAIN_EXPIRING,
            Severity::Critical,
            format!(
                "the registration of {domain} expires on {date}, within the {}-day critical threshold",
                spec.critical_days
            ),
        ));
    } else if days_left < f64::from(spec.warn_days) {
        outcome.push(Finding::new(
            codes::DOMAIN_EXPIRING,
            Severity::Warning,
            format!(
                "the registration of {domain} expires on {date}, within the {}-day warning threshold",
                spec.warn_days
            ),
        ));
    }
    format!("{domain} is registered until {date}")
}

/// What a registry without expiry dates did publish, for the message.
fn published(reg: &Registration) -> String {
    let mut parts = Vec::new();
    if !reg.statuses.is_empty() {
        parts.push(format!("status {}", reg.statuses.join(", ")));
    }
    if let Some(t) = reg.registered {
        parts.push(format!("registered {}", dates::day(t)));
    }
    if let Some(t) = reg.changed {
        parts.push(format!("last changed {}", dates::day(t)));
    }
    if let Some(r) = &reg.registrar {
        parts.push(format!("registrar {r}"));
    }
    match reg.nameservers.len() {
        0 => {}
        1 => parts.push("1 name server".into()),
        n => parts.push(format!("{n} name servers")),
    }
    if parts.is_empty() {
        "nothing more is published".into()
    } else {
        parts.join("; ")
    }
}

/// The parsers, for the fuzz targets. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::{Answer, Registration};

    /// Every WHOIS layout keepup reads.
    pub const LAYOUTS: &[super::Layout] = &[
        super::Layout::Denic,
        super::Layout::Eurid,
        super::Layout::NicIt,
        super::Layout::NicEs,
        super::Layout::Switch,
        super::Layout::NicAt,
        super::Layout::DnsBelgium,
        super::Layout::Iis,
        super::Layout::Punktum,
        super::Layout::Jprs,
        super::Layout::Generic,
    ];

    /// Parses a WHOIS answer with one layout.
    pub fn whois(layout: super::Layout, text: &str) -> Answer {
        layout.parse(text)
    }

    /// Extracts the registration from an RDAP answer.
    pub fn rdap(body: &[u8]) -> Result<Registration, String> {
        super::rdap::parse(body)
    }

    /// Parses an RDAP bootstrap file and looks `domain` up in it.
    pub fn bootstrap(body: &[u8], domain: &str) -> Option<String> {
        super::bootstrap::Bootstrap::parse(body, "fuzz")
            .ok()
            .and_then(|b| b.lookup(domain).map(|(s, u)| format!("{s} {u}")))
    }

    /// Parses a registry date.
    pub fn date(text: &str) -> Option<i64> {
        super::dates::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_flags() {
        assert_eq!(flag("clientHold"), Some(Flag::Hold));
        assert_eq!(flag("server hold"), Some(Flag::Hold));
        assert_eq!(flag("pending delete"), Some(Flag::PendingDelete));
        assert_eq!(flag("redemptionPeriod"), Some(Flag::Redemption));
        assert_eq!(flag("quarantine"), Some(Flag::Redemption));
        assert_eq!(flag("clientTransferProhibited"), None);
        assert_eq!(flag("active"), None);
    }
}
