//! keepup's persistence: results, rollups and retention in SQLite (WAL).
