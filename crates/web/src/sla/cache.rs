//! The SLA accounting of a contract's period, kept for the pages and the
//! API: accounting a period reads every result and incident of it from
//! the store, far too much for each view of `/sla` or each poll of
//! `/api/v1/sla`.
//!
//! A closed period's figures no longer move, so they are kept until the
//! configuration is reloaded (a reload may change the contract); the
//! running period's are kept [`RUNNING_TTL_MS`], and shown as measured
//! then. The entries are bounded ([`MAX_ENTRIES`]); a request that finds
//! none accounts the period itself, outside the lock.

use keepup_config::Config;
use keepup_config::contract::Contract;
use keepup_model::Timestamp;
use keepup_monitor::sla::SlaError;
use keepup_sla::{Figures, Input, Window};
use keepup_store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How long the running period's figures are reused.
pub const RUNNING_TTL_MS: i64 = 60_000;
/// Periods kept at most (contracts times periods viewed).
pub const MAX_ENTRIES: usize = 256;

/// One period accounted.
#[derive(Debug, Clone)]
pub struct Accounted {
    /// When it was measured up to (the running period's figures end here).
    pub measured_at: Timestamp,
    /// What the store held for it.
    pub input: Arc<Input>,
    /// Its figures.
    pub figures: Figures,
}

/// Accounted periods by contract and period label, for one configuration.
#[derive(Default)]
pub struct SlaCache {
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The configuration the entries were accounted under.
    config: Option<Arc<Config>>,
    by_period: HashMap<(String, String), Kept>,
}

struct Kept {
    accounted: Accounted,
    /// The period had ended when it was measured: its figures are final.
    closed: bool,
}

impl SlaCache {
    /// `contract` over `window` as accounted at `now` or, when kept and
    /// still good, earlier (blocking: may read the store).
    pub fn account(
        &self,
        store: &Store,
        config: &Arc<Config>,
        contract: &Contract,
        window: &Window,
        now: Timestamp,
    ) -> Result<Accounted, SlaError> {
        let key = (contract.id.clone(), window.label.clone());
        if let Some(kept) = self.kept(config, &key, now) {
            return Ok(kept);
        }
        let (input, figures) =
            keepup_monitor::sla::account_window(store, config, contract, window, now)?;
        let accounted = Accounted {
            measured_at: now,
            input: Arc::new(input),
            figures,
        };
        let closed = now >= window.to;
        self.keep(config, key, closed, accounted.clone());
        Ok(accounted)
    }

    fn kept(
        &self,
        config: &Arc<Config>,
        key: &(String, String),
        now: Timestamp,
    ) -> Option<Accounted> {
        let mut entries = lock(&self.inner);
        entries.follow(config);
        let kept = entries.by_period.get(key)?;
        kept.good_at(now).then(|| kept.accounted.clone())
    }

    fn keep(&self, config: &Arc<Config>, key: (String, String), closed: bool, a: Accounted) {
        let mut entries = lock(&self.inner);
        entries.follow(config);
        if entries.by_period.len() >= MAX_ENTRIES && !entries.by_period.contains_key(&key) {
            // Expired running periods first, then the least recently measured.
            let now = a.measured_at;
            entries.by_period.retain(|_, kept| kept.good_at(now));
            while entries.by_period.len() >= MAX_ENTRIES {
                let Some(oldest) = entries
                    .by_period
                    .iter()
                    .min_by_key(|(_, kept)| kept.accounted.measured_at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                entries.by_period.remove(&oldest);
            }
        }
        entries.by_period.insert(
            key,
            Kept {
                accounted: a,
                closed,
            },
        );
    }
}

impl Entries {
    /// Forgets everything accounted under another configuration.
    fn follow(&mut self, config: &Arc<Config>) {
        if !self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config)) {
            self.by_period.clear();
            self.config = Some(config.clone());
        }
    }
}

impl Kept {
    /// Whether it may stand for its period at `now`: final figures, or
    /// ones measured less than the TTL ago.
    fn good_at(&self, now: Timestamp) -> bool {
        let measured = self.accounted.measured_at;
        self.closed || (measured <= now && now - measured < RUNNING_TTL_MS)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"[[site]]
id = "shop"
[[site.check]]
id = "job"
kind = "heartbeat"
token = "job-token-1234"
period = "1h"
[[contract]]
id = "front"
name = "Front"
site = "shop"
down_when = "job"
target = 99.9
"#;

    fn config(dir: &std::path::Path) -> Arc<Config> {
        Arc::new(
            keepup_config::load_str(SOURCE, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
        )
    }

    impl SlaCache {
        fn len(&self) -> usize {
            lock(&self.inner).by_period.len()
        }
    }

    #[test]
    fn the_running_period_is_kept_a_minute_closed_ones_until_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db")).unwrap();
        let config = config(dir.path());
        let contract = &config.contracts[0];
        let cache = SlaCache::default();
        let t0: Timestamp = 1_790_000_000_000;
        let running = Window::period_at(contract, t0).unwrap();
        let closed = Window::period_at(contract, running.from - 1).unwrap();
        let measured = |window: &Window, config: &Arc<Config>, now| {
            cache
                .account(&store, config, contract, window, now)
                .unwrap()
                .measured_at
        };

        assert_eq!(measured(&running, &config, t0), t0);
        assert_eq!(measured(&running, &config, t0 + 59_000), t0, "kept");
        assert_eq!(
            measured(&running, &config, t0 + RUNNING_TTL_MS),
            t0 + RUNNING_TTL_MS,
            "a minute later: measured again"
        );
        assert_eq!(measured(&closed, &config, t0), t0);
        assert_eq!(
            measured(&closed, &config, t0 + 30 * 86_400_000),
            t0,
            "final"
        );

        // A reload gives a new configuration: everything is measured again.
        let reloaded = self::config(dir.path());
        assert_eq!(measured(&closed, &reloaded, t0 + 1), t0 + 1);
        assert_eq!(cache.len(), 1, "the old configuration's entries are gone");
    }

    #[test]
    fn the_entries_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db")).unwrap();
        let config = config(dir.path());
        let contract = &config.contracts[0];
        let cache = SlaCache::default();
        let now: Timestamp = 1_790_000_000_000;
        let mut window = Window::period_at(contract, now).unwrap();
        for _ in 0..MAX_ENTRIES + 20 {
            cache
                .account(&store, &config, contract, &window, now)
                .unwrap();
            window = Window::period_at(contract, window.from - 1).unwrap();
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        // The newest period asked for is kept.
        let newest = Window::period_at(contract, window.to).unwrap();
        assert!(
            lock(&cache.inner)
                .by_period
                .contains_key(&(contract.id.clone(), newest.label))
        );
    }
}
