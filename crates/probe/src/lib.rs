//! keepup's probes: one module per protocol, each ending in an Outcome.
