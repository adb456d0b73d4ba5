//! The check kind `postgres`: a PostgreSQL server's health and replication,
//! from keepup itself over the PostgreSQL protocol.
//!
//! ```toml
//! [[site.check]]
//! id = "db"
//! kind = "postgres"
//! host = "db1.shop.example"
//! port = 5432                         # default
//! database = "postgres"               # default
//! user = "keepup"                     # default "postgres"
//! password_env = "PG_MONITOR_PASSWORD"   # or password_file; none: no password
//! tls = "require"                     # "disable" | "prefer" | "require"; default "prefer",
//!                                     # "require" with a password off loopback, where "prefer" is refused
//! role = "primary"                    # or "replica"; left out: either
//! replicas = 1                        # primary: streaming replicas expected (at least)
//! connections = { warn = "80%", crit = "95%" }   # of max_connections
//! lag = { warn = "30s", crit = "5m" }            # replay lag
//! lag_bytes = { warn = "16MiB", crit = "1GiB" }  # WAL not yet replayed
//! query = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Lock'"
//! expect = "0"                        # the first column of the first row, as text
//! [site.check.certificate]            # when TLS is used: ca_file, verify
//! ca_file = "db-ca.pem"
//! ```

use toml::Spanned;

use crate::database::{CustomQuery, DbRole, DbServer, DbTls, above};
use crate::load::{Defaults, Loader};
use crate::threshold::{RawThreshold, Threshold, Unit};

/// `kind = "postgres"`
#[derive(Debug, Clone)]
pub struct PostgresSpec {
    /// Where and how to connect (user defaults to `postgres`).
    pub server: DbServer,
    /// The database to connect to.
    pub database: String,
    /// The role the server must have, if any.
    pub role: Option<DbRole>,
    /// On a primary: the streaming replicas expected at least.
    pub replicas: Option<u32>,
    /// Client connections as a percentage of `max_connections`.
    pub connections: Threshold,
    /// Replay lag in seconds (on a replica, and of each replica on a
    /// primary).
    pub lag: Threshold,
    /// WAL received or sent but not yet replayed, in bytes.
    pub lag_bytes: Threshold,
    /// A query of the operator's, with its expected answer.
    pub query: Option<CustomQuery>,
    /// Whether the run measures the database's size
    /// (`pg_database_size` visits every file of the database): only when
    /// a forecast follows it.
    pub measure_size: bool,
}

crate::database::raw_db_check! {
    /// `kind = "postgres"` as written.
    RawPostgres {
        database: Option<Spanned<String>>,
        replicas: Option<Spanned<i64>>,
        connections: Option<Spanned<RawThreshold>>,
        lag: Option<Spanned<RawThreshold>>,
        lag_bytes: Option<Spanned<RawThreshold>>,
        query: Option<Spanned<String>>,
        expect: Option<Spanned<String>>,
    }
}

impl Loader<'_> {
    pub(crate) fn postgres(
        &mut self,
        raw: RawPostgres,
        path: &str,
        defaults: &Defaults,
    ) -> Option<PostgresSpec> {
        let mut ok = true;
        let server = self.db_server(
            raw.server_keys(),
            path,
            crate::backup::DatabaseKind::Postgres.default_port(),
            &[DbTls::Disable, DbTls::Prefer, DbTls::Require],
            &defaults.tls,
        );
        let database = match &raw.database {
            Some(d) if d.get_ref().is_empty() || d.get_ref().contains('\0') => {
                self.rep.report(
                    d.span(),
                    &format!("{path}.database"),
                    "the database name must be non-empty, without NUL",
                    None,
                );
                ok = false;
                String::new()
            }
            Some(d) => d.get_ref().clone(),
            None => "postgres".to_owned(),
        };
        let role = self.db_role(raw.role.as_ref(), path, &mut ok);
        let replicas = self.replica_count(raw.replicas.as_ref(), role, path);
        ok &= raw.replicas.is_none() || replicas.is_some();
        let connections = self.db_threshold(
            raw.connections.as_ref(),
            &format!("{path}.connections"),
            &[Unit::Percent],
            above(80.0, 95.0, Unit::Percent),
        );
        let lag = self.db_threshold(
            raw.lag.as_ref(),
            &format!("{path}.lag"),
            &[Unit::Seconds],
            above(30.0, 300.0, Unit::Seconds),
        );
        let lag_bytes = self.db_threshold(
            raw.lag_bytes.as_ref(),
            &format!("{path}.lag_bytes"),
            &[Unit::Bytes],
            above(
                16.0 * 1024.0 * 1024.0,
                1024.0 * 1024.0 * 1024.0,
                Unit::Bytes,
            ),
        );
        let query = match (&raw.query, &raw.expect) {
            (None, None) => None,
            (None, Some(e)) => {
                self.rep.report(
                    e.span(),
                    &format!("{path}.expect"),
                    "`expect` needs a `query` to compare with",
                    None,
                );
                ok = false;
                None
            }
            (Some(q), expect) => {
                let sql = q.get_ref().trim();
                if sql.is_empty() || sql.contains('\0') {
                    self.rep.report(
                        q.span(),
                        &format!("{path}.query"),
                        "the query must be non-empty, without NUL",
                        None,
                    );
                    ok = false;
                }
                Some(CustomQuery {
                    sql: sql.to_owned(),
                    expect: expect.as_ref().map(|e| e.get_ref().clone()),
                })
            }
        };
        let (mut server, connections, lag, lag_bytes) = (server?, connections?, lag?, lag_bytes?);
        server.user.get_or_insert_with(|| "postgres".to_owned());
        ok.then_some(PostgresSpec {
            server,
            database,
            role,
            replicas,
            connections,
            lag,
            lag_bytes,
            query,
            measure_size: false,
        })
    }
}
