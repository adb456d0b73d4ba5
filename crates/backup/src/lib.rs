//! Backups that are proven to restore.
//!
//! A backup plan (from `[[backup]]` in the configuration) copies sources
//! (paths, database dumps streamed from `pg_dump`/`mysqldump`, any
//! command's output) into two or more restic-format repositories through
//! `rustic_core`, applies retention, verifies the repositories by reading a
//! share of their data, and restore-tests the latest snapshot. Every run,
//! check and restore test ends in an [`keepup_model::Outcome`], so a failed
//! or stale backup raises an incident like any other check.
//!
//! The repository format is restic's: the standalone `restic` tool lists,
//! checks and restores what keepup wrote, with or without keepup.
//!
//! `rustic_core` is synchronous; callers on an async runtime run this
//! crate's functions with `spawn_blocking` or on a thread of their own.

pub mod backend;
pub mod dbrestore;
pub mod dump;
