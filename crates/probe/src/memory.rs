//! Where probes keep what they learned and must not forget at a restart:
//! a page's change baseline (a change made while keepup was down is still
//! a change), registry answers and the refreshed RDAP bootstrap (a restart
//! storm must not ask every registry again). The daemon backs it with its
//! store; without one (`keepup check`, tests that want a clean slate)
//! probes remember in memory only.
//!
//! The trait is synchronous and small on purpose: an entry is a JSON text
//! under a kind and a key, and the probe owning the kind decides what it
//! holds. Probes call it off the async runtime.

/// A durable place for probe state.
pub trait ProbeMemory: Send + Sync {
    /// The text remembered under `kind`/`key`, if any. A failure to read
    /// is logged by the implementation and reads as nothing.
    fn recall(&self, kind: &'static str, key: &str) -> Option<String>;

    /// Remembers `value` under `kind`/`key`. A failure to write is logged
    /// by the implementation; the probe carries on with what it knows.
    fn remember(&self, kind: &'static str, key: &str, value: String);
}
