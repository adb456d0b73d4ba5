//! Read-only connections beside the store's one read-write connection.
//!
//! SQLite in WAL mode lets any number of readers run while one writer
//! writes, each reader seeing the database as of its read's start. The
//! [`Store`](crate::Store) keeps its read-write connection behind a mutex
//! (writes must be serialized anyway); history reads that pages run for
//! many clients at once (rollups, status spans, results, incident lists)
//! go through this pool instead, so fifty page loads neither queue behind
//! one connection nor wait for a batch of results being written.
//!
//! Connections are opened on first need, up to a fixed number, and reused;
//! a caller finding them all busy waits for one to come back. Each has a
//! small page cache of its own: the pool's memory is bounded by the number
//! of connections, not by the number of callers.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::Fail;

/// Read-only connections kept at most. More than the cores of a small
/// server, so that a reader waiting on the disk does not hold the others
/// up; few enough that their page caches stay a few MiB.
pub(crate) const MAX_READERS: usize = 4;

/// Page cache per reader, in KiB (SQLite's negative `cache_size`).
const READER_CACHE_KIB: i64 = 2 * 1024;

/// The pool of read-only connections on one database file.
pub(crate) struct Readers {
    path: PathBuf,
    max: usize,
    idle: Mutex<Idle>,
    returned: Condvar,
}

/// Connections not in use, and how many exist in all.
struct Idle {
    connections: Vec<Connection>,
    opened: usize,
}

impl Readers {
    /// A pool on the database at `path` (already opened and migrated by
    /// the read-write connection), opening at most `max` connections.
    pub(crate) fn new(path: &Path, max: usize) -> Readers {
        Readers {
            path: path.to_owned(),
            max: max.max(1),
            idle: Mutex::new(Idle {
                connections: Vec::new(),
                opened: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Runs `f` on a read-only connection, waiting for one if all are busy.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let mut lease = self.lease()?;
        match lease.connection.as_mut() {
            Some(conn) => f(conn),
            None => Err(Fail::Corrupt("reader lease without a connection".into())),
        }
    }

    /// How many connections are open now (idle or in use).
    pub(crate) fn opened(&self) -> usize {
        self.lock().opened
    }

    fn lock(&self) -> MutexGuard<'_, Idle> {
        // A panic while the lock was held cannot leave `Idle` half
        // changed: every change under it is a single push, pop or count.
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lease(&self) -> Result<Lease<'_>, Fail> {
        let mut idle = self.lock();
        loop {
            if let Some(connection) = idle.connections.pop() {
                return Ok(Lease {
                    readers: self,
                    connection: Some(connection),
                });
            }
            if idle.opened < self.max {
                idle.opened += 1;
                drop(idle);
                return match open_reader(&self.path) {
                    Ok(connection) => Ok(Lease {
                        readers: self,
                        connection: Some(connection),
                    }),
                    Err(e) => {
                        self.lock().opened -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            idle = self
                .returned
                .wait(idle)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// A connection taken from the pool; it goes back when dropped, also when
/// the reader panicked (an unfinished read transaction rolls back when its
/// `Transaction` is dropped, before this).
struct Lease<'a> {
    readers: &'a Readers,
    connection: Option<Connection>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.readers.lock().connections.push(connection);
            self.readers.returned.notify_one();
        }
    }
}

fn open_reader(path: &Path) -> Result<Connection, Fail> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A reader waits only for a checkpoint's brief exclusive moments.
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}
