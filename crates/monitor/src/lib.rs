//! keepup's monitor: the scheduler that runs checks on time, heartbeats, and recording results.
