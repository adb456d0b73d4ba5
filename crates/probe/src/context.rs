//! [`ProbeContext`]: the state shared by all probe runs (trusted roots, CA
//! file cache, resolver overrides, each kind's own state, the pool of CPU
//! workers) plus the time budget of one run.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use keepup_model::{CheckId, Finding, Severity};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::codes;
use crate::cpu::{CpuPermit, CpuPool, OnCpu};
use crate::util::Fail;
use keepup_model::text::duration_words;

/// The time a probe may take when it is called without a budget (directly,
/// not through [`crate::run`]).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared, cached, cheap-to-clone state for probes.
///
/// - the system's trusted roots (loaded once, lazily, off the async threads;
///   a failure to load them is not fatal: the store stays empty and TLS
///   outcomes carry a [`codes::TLS_SYSTEM_ROOTS_UNAVAILABLE`] finding);
/// - a cache of custom CA files (`ca_file`) by path, re-read when the file's
///   modification time or size changes;
/// - the resolver seam: static overrides `host → addresses` consulted before
///   the system resolver, so tests and the demo can point `shop.test` at
///   `127.0.0.1` without touching DNS;
/// - each probe kind's own state (a domain check's registry answers, a page
///   check's baselines), one value per type, created on first use
///   ([`kind_state`](Self::kind_state)): the context does not know which
///   kinds keep state;
/// - the workers for probe steps that compute (a TLS handshake, parsing a
///   page), one per core unless [`limit_cpu_work`](Self::limit_cpu_work)
///   says otherwise, held only while computing (see `crate::cpu`);
/// - the time budget of the current run ([`with_timeout`](Self::with_timeout));
/// - the check the current run belongs to ([`for_check`](Self::for_check)),
///   so that what a kind keeps from one run for the next is kept per check.
///
/// Clones share everything but the budget and the check.
#[derive(Clone)]
pub struct ProbeContext {
    shared: Arc<Shared>,
    budget: Option<Budget>,
    check: Option<CheckId>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
}

struct Shared {
    overrides: HashMap<String, Vec<IpAddr>>,
    /// `[dns]` when it says keepup asks the resolvers itself
    /// (`resolve_hosts = "resolver"`); `None`: the system resolves. Set
    /// again on each configuration reload.
    host_resolvers: std::sync::RwLock<Option<keepup_config::DnsSettings>>,
    use_system_roots: bool,
    system_roots: OnceCell<SystemRoots>,
    ca_files: Mutex<HashMap<PathBuf, CachedCaFile>>,
    provider: Arc<CryptoProvider>,
    /// Per-kind state by its type, see [`ProbeContext::kind_state`].
    kind_states: Mutex<HashMap<TypeId, KindState>>,
    /// Durable memory, set once by the daemon.
    memory: std::sync::OnceLock<Arc<dyn crate::ProbeMemory>>,
    /// Workers for the steps that compute, see [`crate::cpu`].
    cpu: CpuPool,
}

/// One probe kind's state, shared by every run of that kind.
type KindState = Arc<dyn Any + Send + Sync>;

struct SystemRoots {
    store: Arc<RootCertStore>,
    /// Why the store is empty, when it is.
    unavailable: Option<String>,
}

struct CachedCaFile {
    stamp: (Option<SystemTime>, u64),
    store: Arc<RootCertStore>,
    /// When the file was last looked at; it is not looked at again (a
    /// blocking stat per probe) for [`CA_FILE_RECHECK`].
    checked: std::time::Instant,
}

/// How long a CA file is trusted not to have changed.
const CA_FILE_RECHECK: Duration = Duration::from_secs(5);

impl std::fmt::Debug for ProbeContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeContext")
            .field("overrides", &self.shared.overrides)
            .field("use_system_roots", &self.shared.use_system_roots)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Default for ProbeContext {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`ProbeContext`].
#[derive(Debug, Clone)]
pub struct ProbeContextBuilder {
    overrides: HashMap<String, Vec<IpAddr>>,
    use_system_roots: bool,
    cpu_workers: Option<usize>,
}

impl ProbeContextBuilder {
    /// Resolves `host` to `addrs` without asking DNS (like an `/etc/hosts`
    /// line private to keepup). Matching ignores case and a trailing dot.
    pub fn resolve_override(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.overrides
            .insert(normalize_host(host), addrs.into_iter().collect());
        self
    }

    /// Whether to trust the system's roots (default true). Tests that want
    /// "only my CA is trusted" turn this off.
    pub fn system_roots(mut self, enabled: bool) -> Self {
        self.use_system_roots = enabled;
        self
    }

    /// How many probe steps may compute at once (TLS handshakes,
    /// certificate analysis, page parsing); default one per core.
    pub fn cpu_workers(mut self, workers: usize) -> Self {
        self.cpu_workers = Some(workers);
        self
    }

    /// The context.
    pub fn build(self) -> ProbeContext {
        ProbeContext {
            shared: Arc::new(Shared {
                overrides: self.overrides,
                host_resolvers: std::sync::RwLock::new(None),
                use_system_roots: self.use_system_roots,
                system_roots: OnceCell::new(),
                ca_files: Mutex::new(HashMap::new()),
                provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
                kind_states: Mutex::new(HashMap::new()),
                memory: std::sync::OnceLock::new(),
                cpu: self
                    .cpu_workers
                    .map_or_else(CpuPool::per_core, CpuPool::new),
            }),
            budget: None,
            check: None,
        }
    }
}

/// The roots a TLS verification trusts, and what to report about them.
pub(crate) struct TrustRoots {
    pub(crate) store: Arc<RootCertStore>,
    pub(crate) findings: Vec<Finding>,
}

/// The addresses a name resolved to.
pub(crate) struct Resolution {
    pub(crate) addrs: Vec<SocketAddr>,
    /// Time spent resolving; `None` for an IP literal.
    pub(crate) dns: Option<Duration>,
}

impl ProbeContext {
    /// A context with the system roots (loaded on first TLS use) and no
    /// resolver overrides.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, for resolver overrides or to leave out the system roots.
    pub fn builder() -> ProbeContextBuilder {
        ProbeContextBuilder {
            overrides: HashMap::new(),
            use_system_roots: true,
            cpu_workers: None,
        }
    }

    /// Resolves the checks' host names as `dns` says (`[dns]
    /// resolve_hosts`), for this context and every clone; the monitor
    /// applies it at start and on every reload.
    pub fn resolve_hosts_as(&self, dns: &keepup_config::DnsSettings) {
        let wanted =
            (dns.resolve_hosts == keepup_config::HostResolution::Resolver).then(|| dns.clone());
        *self
            .shared
            .host_resolvers
            .write()
            .unwrap_or_else(|p| p.into_inner()) = wanted;
    }

    /// Sets how many probe steps may compute at once, for this context and
    /// every clone (the monitor applies `[scheduler] cpu_workers`).
    pub fn limit_cpu_work(&self, workers: usize) {
        self.shared.cpu.resize(workers);
    }

    /// CPU workers not taken right now.
    pub fn idle_cpu_workers(&self) -> usize {
        self.shared.cpu.idle()
    }

    /// Waits for a CPU worker, for a step that only computes (hold the
    /// permit across no network wait).
    pub(crate) async fn cpu_permit(&self) -> CpuPermit {
        self.shared.cpu.permit().await
    }

    /// `work` holding a CPU worker only while it is polled: for a future
    /// that computes when woken and otherwise waits on the network.
    pub(crate) fn on_cpu<F: Future>(&self, work: F) -> OnCpu<F> {
        self.shared.cpu.on_cpu(work)
    }

    /// A copy of this context whose probes give up `timeout` from now.
    /// [`crate::run`] does this with the check's timeout; a probe called on
    /// a context without a budget uses [`DEFAULT_TIMEOUT`].
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        self.with_deadline(Instant::now() + timeout, timeout)
    }

    /// A copy of this context whose probes give up at `deadline`; `timeout`
    /// is what the deadline was computed from, for messages.
    pub(crate) fn with_deadline(&self, deadline: Instant, timeout: Duration) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            budget: Some(Budget { deadline, timeout }),
            check: self.check.clone(),
        }
    }

    /// A copy of this context for a run of check `id`. A kind that keeps
    /// something from one run for the next (Redis's rejected connections,
    /// a Prometheus check's previous scrape) keeps it under the check's id
    /// ([`check_key`](Self::check_key)): two checks of one target, each on
    /// its own schedule, would otherwise each read what the other left.
    pub fn for_check(&self, id: &CheckId) -> Self {
        Self {
            check: Some(id.clone()),
            ..self.clone()
        }
    }

    /// `target` (what a kind's kept state is about) with the id of the
    /// check this run belongs to, if the caller named one: the key of
    /// that state. Without a check (a one-off probe), the target alone.
    pub(crate) fn check_key(&self, target: &str) -> String {
        match &self.check {
            Some(id) => format!("{}\n{target}", id.as_str()),
            None => target.to_owned(),
        }
    }

    /// The timeout of the current budget, if one was set.
    pub fn timeout(&self) -> Option<Duration> {
        self.budget.map(|b| b.timeout)
    }

    /// This context with a budget: the existing one or [`DEFAULT_TIMEOUT`]
    /// from now. Probes call it first so that every phase shares one
    /// deadline.
    pub(crate) fn budgeted(&self) -> Self {
        match self.budget {
            Some(_) => self.clone(),
            None => self.with_timeout(DEFAULT_TIMEOUT),
        }
    }

    pub(crate) fn budget(&self) -> Budget {
        self.budget.unwrap_or(Budget {
            deadline: Instant::now() + DEFAULT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Time left before the deadline.
    pub(crate) fn remaining(&self) -> Duration {
        self.budget()
            .deadline
            .saturating_duration_since(Instant::now())
    }

    /// `wait` from now, but never past the deadline. Timers inside a probe
    /// use absolute instants no later than the deadline, so they fire no
    /// later than the dispatcher's own timeout and the probe's more precise
    /// outcome wins.
    pub(crate) fn deadline_within(&self, wait: Duration) -> Instant {
        let deadline = self.budget().deadline;
        Instant::now()
            .checked_add(wait)
            .map_or(deadline, |at| at.min(deadline))
    }

    /// Runs `fut` until the deadline; `phase` names what was being waited
    /// for, for the timeout finding.
    pub(crate) async fn within<T>(
        &self,
        phase: &'static str,
        fut: impl Future<Output = T>,
    ) -> Result<T, Fail> {
        tokio::time::timeout_at(self.budget().deadline, fut)
            .await
            .map_err(|_| Fail::Timeout(phase))
    }

    /// The finding for a run that ran out of time while `phase`.
    pub(crate) fn timeout_finding(&self, phase: &str) -> Finding {
        Finding::new(
            codes::PROBE_TIMEOUT,
            Severity::Critical,
            format!(
                "no result within the {} timeout (while {phase})",
                duration_words(self.budget().timeout)
            ),
        )
    }

    /// The state a probe kind shares between its runs (and between clones
    /// of this context), by its type: created with `Default` on first use.
    /// Each kind owns its state type, so adding one touches only its module.
    pub(crate) fn kind_state<S: Default + Send + Sync + 'static>(&self) -> Arc<S> {
        // Entries are only ever inserted whole, so a poisoned lock is usable.
        let mut states = self
            .shared
            .kind_states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = states
            .entry(TypeId::of::<S>())
            .or_insert_with(|| Arc::new(S::default()))
            .clone();
        drop(states);
        // The entry under S's TypeId was created as an S.
        state
            .downcast::<S>()
            .unwrap_or_else(|_| Arc::new(S::default()))
    }

    /// The crypto provider every TLS connection uses (aws-lc-rs, always
    /// passed explicitly, never the process default).
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        Arc::clone(&self.shared.provider)
    }

    /// Resolves `host` (a name, an IP literal, or a bracketed IPv6 literal)
    /// to socket addresses on `port`, in resolver order, without duplicates.
    pub(crate) async fn resolve(&self, host: &str, port: u16) -> Result<Resolution, Fail> {
        let name = normalize_host(host);
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(Resolution {
                addrs: vec![SocketAddr::new(ip, port)],
                dns: None,
            });
        }
        let started = Instant::now();
        if let Some(ips) = self.shared.overrides.get(&name) {
            return Ok(Resolution {
                addrs: ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
                dns: Some(started.elapsed()),
            });
        }
        if name == "invalid" || name.ends_with(".invalid") {
            // RFC 6761 §6.4: answer "no" at once, without asking anyone.
            return Err(resolution_failed(
                &name,
                "names under .invalid never resolve (RFC 6761)",
            ));
        }
        let configured = self
            .shared
            .host_resolvers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(dns) = configured {
            let addrs = self.ask_resolvers(&dns, &name).await?;
            return Ok(Resolution {
                addrs: addrs
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect(),
                dns: Some(started.elapsed()),
            });
        }
        let looked_up = self
            .within(
                "resolving the name",
                tokio::net::lookup_host((name.as_str(), port)),
            )
            .await?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        match looked_up {
            Ok(found) => {
                for addr in found {
                    if !addrs.contains(&addr) {
                        addrs.push(addr);
                    }
                }
            }
            Err(e) => return Err(resolution_failed(&name, &e.to_string())),
        }
        if addrs.is_empty() {
            return Err(resolution_failed(&name, "no addresses"));
        }
        Ok(Resolution {
            addrs,
            dns: Some(started.elapsed()),
        })
    }

    /// `name`'s A and AAAA records (AAAA only when `dns.ipv6`) from the
    /// recursive resolvers of `dns` (`[dns] resolve_hosts = "resolver"`).
    async fn ask_resolvers(
        &self,
        dns: &keepup_config::DnsSettings,
        name: &str,
    ) -> Result<Vec<IpAddr>, Fail> {
        use crate::dns::walk::{Reply, address_of, classify};
        use hickory_proto::rr::{Name, RecordType};
        let fqdn = Name::from_ascii(format!("{name}."))
            .map_err(|e| resolution_failed(name, &format!("not a DNS name: {e}")))?;
        let resolvers = crate::dns::stub::resolvers(dns).await;
        let mut types = vec![RecordType::A];
        if dns.ipv6 {
            types.push(RecordType::AAAA);
        }
        let mut addrs: Vec<IpAddr> = Vec::new();
        let mut errors: Vec<String> = Vec::new();
        for qtype in types {
            match crate::dns::stub::lookup(self, &resolvers, &fqdn, qtype, dns.query_timeout).await
            {
                Ok(answer) => {
                    match classify(&answer.exchange.msg, &fqdn, qtype, &Name::root(), false) {
                        Reply::Answer { records, .. } => {
                            for ip in records.iter().filter_map(address_of) {
                                if !addrs.contains(&ip) {
                                    addrs.push(ip);
                                }
                            }
                        }
                        Reply::Bad(why) => {
                            errors.push(format!("{qtype} from {}: {why}", answer.resolver))
                        }
                        _ => {}
                    }
                }
                Err(e) => errors.push(format!("{qtype}: {e}")),
            }
        }
        if addrs.is_empty() {
            let why = if errors.is_empty() {
                "no A or AAAA records at the configured resolvers".to_owned()
            } else {
                errors.join("; ")
            };
            return Err(resolution_failed(name, &why));
        }
        Ok(addrs)
    }

    /// The roots to verify against: the system roots plus the certificates
    /// of `ca_file`, if any. An unreadable `ca_file` is an error (the check
    /// cannot tell anything meaningful without it).
    pub(crate) async fn trust_roots(&self, ca_file: Option<&Path>) -> Result<TrustRoots, Finding> {
        let system = self.system_roots().await;
        let mut findings = Vec::new();
        if let Some(why) = &system.unavailable {
            let severity = if ca_file.is_some() {
                Severity::Info
            } else {
                Severity::Warning
            };
            findings.push(Finding::new(
                codes::TLS_SYSTEM_ROOTS_UNAVAILABLE,
                severity,
                format!("the system's trusted root certificates could not be loaded: {why}"),
            ));
        }
        let Some(path) = ca_file else {
            return Ok(TrustRoots {
                store: Arc::clone(&system.store),
                findings,
            });
        };
        let store = self.ca_file_roots(path, &system.store).await?;
        Ok(TrustRoots { store, findings })
    }

    async fn system_roots(&self) -> &SystemRoots {
        let use_system = self.shared.use_system_roots;
        self.shared
            .system_roots
            .get_or_init(|| async move {
                if !use_system {
                    return SystemRoots {
                        store: Arc::new(RootCertStore::empty()),
                        unavailable: None,
                    };
                }
                match tokio::task::spawn_blocking(load_system_roots).await {
                    Ok(roots) => roots,
                    Err(e) => SystemRoots {
                        store: Arc::new(RootCertStore::empty()),
                        unavailable: Some(format!("the loader failed: {e}")),
                    },
                }
            })
            .await
    }

    async fn ca_file_roots(
        &self,
        path: &Path,
        system: &Arc<RootCertStore>,
    ) -> Result<Arc<RootCertStore>, Finding> {
        let invalid = |why: String| {
            Finding::new(
                codes::TLS_CA_FILE_INVALID,
                Severity::Warning,
                format!("the CA file {} cannot be used: {why}", path.display()),
            )
        };
        if let Some(hit) = self.lock_ca_files().get(path)
            && hit.checked.elapsed() < CA_FILE_RECHECK
        {
            return Ok(Arc::clone(&hit.store));
        }
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        let stamp = (meta.modified().ok(), meta.len());
        if let Some(hit) = self.lock_ca_files().get_mut(path)
            && hit.stamp == stamp
        {
            hit.checked = std::time::Instant::now();
            return Ok(Arc::clone(&hit.store));
        }
        let owned = path.to_owned();
        let certs = tokio::task::spawn_blocking(move || keepup_trust::read_ca_file(&owned))
            .await
            .map_err(|e| invalid(format!("the reader failed: {e}")))?
            .map_err(|e| invalid(e.to_string()))?;
        let mut store = RootCertStore {
            roots: system.roots.clone(),
        };
        let (added, _ignored) = store.add_parsable_certificates(certs);
        if added == 0 {
            return Err(invalid("it holds no usable PEM certificate".into()));
        }
        let store = Arc::new(store);
        self.lock_ca_files().insert(
            path.to_owned(),
            CachedCaFile {
                stamp,
                store: Arc::clone(&store),
                checked: std::time::Instant::now(),
            },
        );
        Ok(store)
    }

    /// Gives probes a durable memory (the daemon's store), so that what
    /// they learn survives a restart. Set once; false if one was set
    /// already.
    pub fn remember_in(&self, memory: Arc<dyn crate::ProbeMemory>) -> bool {
        self.shared.memory.set(memory).is_ok()
    }

    /// What the durable memory holds under `kind`/`key` (read off the
    /// async runtime); nothing without a memory.
    pub(crate) async fn recall(&self, kind: &'static str, key: &str) -> Option<String> {
        let memory = self.shared.memory.get()?.clone();
        let key = key.to_owned();
        tokio::task::spawn_blocking(move || memory.recall(kind, &key))
            .await
            .ok()
            .flatten()
    }

    /// Writes to the durable memory (off the async runtime), if any.
    pub(crate) async fn remember(&self, kind: &'static str, key: &str, value: String) {
        let Some(memory) = self.shared.memory.get().cloned() else {
            return;
        };
        let key = key.to_owned();
        let _ = tokio::task::spawn_blocking(move || memory.remember(kind, &key, value)).await;
    }

    fn lock_ca_files(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, CachedCaFile>> {
        // The map is always left consistent, so a poisoned lock is usable.
        self.shared
            .ca_files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn load_system_roots() -> SystemRoots {
    let loaded = keepup_trust::load_system_roots();
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(loaded.certs);
    let unavailable = match loaded.unavailable {
        None if added == 0 => Some("no usable root certificate found".to_owned()),
        other => other,
    };
    SystemRoots {
        store: Arc::new(store),
        unavailable,
    }
}

fn resolution_failed(name: &str, why: &str) -> Fail {
    Fail::Finding(Finding::new(
        codes::DNS_RESOLUTION_FAILED,
        Severity::Critical,
        format!("{name} does not resolve: {why}"),
    ))
}

/// Lowercase, without brackets around IPv6 literals and without a trailing
/// dot.
pub(crate) fn normalize_host(host: &str) -> String {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[tokio::test]
    async fn literals_overrides_and_invalid_names() {
        let ctx = ProbeContext::builder()
            .resolve_override("Shop.Test.", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
            .build();
        let r = ctx.resolve("[::1]", 443).await.ok().unwrap();
        assert_eq!(r.addrs, vec!["[::1]:443".parse().unwrap()]);
        assert!(r.dns.is_none());
        let r = ctx.resolve("shop.test", 80).await.ok().unwrap();
        assert_eq!(r.addrs, vec!["127.0.0.1:80".parse().unwrap()]);
        assert!(r.dns.is_some());
        match ctx.resolve("shop.invalid", 80).await {
            Err(Fail::Finding(f)) => {
                assert_eq!(f.code, codes::DNS_RESOLUTION_FAILED);
                assert!(f.text.starts_with("shop.invalid does not resolve"));
            }
            _ => panic!("shop.invalid resolved"),
        }
    }

    #[tokio::test]
    async fn ca_file_problems_are_findings_and_good_files_are_cached() {
        let ctx = ProbeContext::builder().system_roots(false).build();
        let missing = ctx
            .trust_roots(Some(Path::new("/nonexistent/ca.pem")))
            .await;
        assert_eq!(missing.err().unwrap().code, codes::TLS_CA_FILE_INVALID);

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        assert!(ctx.trust_roots(Some(&junk)).await.is_err());

        let ca = keepup_testkit::pki::CertAuthority::new("Test Root").unwrap();
        let good = ca.root_pem_file().unwrap();
        let first = ctx.trust_roots(Some(good.path())).await.ok().unwrap();
        assert_eq!(first.store.len(), 1);
        assert!(first.findings.is_empty());
        let second = ctx.trust_roots(Some(good.path())).await.ok().unwrap();
        assert!(Arc::ptr_eq(&first.store, &second.store));
    }
}
