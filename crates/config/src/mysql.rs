//! The check kind `mysql` (MySQL and MariaDB): a server's health,
//! connections, replication and Galera cluster state, from keepup itself
//! over the MySQL protocol.
//!
//! ```toml
//! [[site.check]]
//! id = "db"
//! kind = "mysql"
//! host = "db2.shop.example"
//! port = 3306                       # default
//! user = "keepup"                   # default "root"; needs REPLICATION CLIENT (SLAVE MONITOR on MariaDB)
//! password_env = "MYSQL_MONITOR_PW" # or password_file; none: no password
//! tls = "require"                   # "disable" | "prefer" | "require"; default as for postgres
//! database = "shop"                # the schema logged into and sized; none: all
//! role = "replica"                  # or "primary"; left out: either
//! lag = { warn = "30s", crit = "5m" }           # Seconds_Behind_Master (default)
//! connections = { warn = "80%", crit = "95%" }  # Threads_connected of max_connections (default)
//! cluster_size = 3                  # Galera: nodes expected, at least
//! ```

use toml::Spanned;

use crate::database::{DbRole, DbServer, DbTls, above};
use crate::load::{Defaults, Loader};
use crate::threshold::{RawThreshold, Threshold, Unit};

/// `kind = "mysql"`
#[derive(Debug, Clone)]
pub struct MysqlSpec {
    /// Where and how to connect (user defaults to `root`).
    pub server: DbServer,
    /// The schema the session logs into, whose size is measured; none:
    /// every schema's size.
    pub database: Option<String>,
    /// The role the server must have: a replica has replication
    /// configured, a primary has none.
    pub role: Option<DbRole>,
    /// A replica's `Seconds_Behind_Master`, in seconds.
    pub lag: Threshold,
    /// `Threads_connected` as a percentage of `max_connections`.
    pub connections: Threshold,
    /// Galera: the cluster's nodes expected at least.
    pub cluster_size: Option<u32>,
    /// Whether the run measures the database's size: only when a
    /// forecast follows it (summing `information_schema` opens every
    /// table's statistics: not a cost to pay every run for nothing).
    pub measure_size: bool,
}

crate::database::raw_db_check! {
    /// `kind = "mysql"` as written.
    RawMysql {
        database: Option<Spanned<String>>,
        lag: Option<Spanned<RawThreshold>>,
        connections: Option<Spanned<RawThreshold>>,
        cluster_size: Option<Spanned<i64>>,
    }
}

impl Loader<'_> {
    pub(crate) fn mysql(
        &mut self,
        raw: RawMysql,
        path: &str,
        defaults: &Defaults,
    ) -> Option<MysqlSpec> {
        let server = self.db_server(
            raw.server_keys(),
            path,
            crate::backup::DatabaseKind::Mysql.default_port(),
            &[DbTls::Disable, DbTls::Prefer, DbTls::Require],
            &defaults.tls,
        );
        let mut ok = true;
        let role = self.db_role(raw.role.as_ref(), path, &mut ok);
        let database = match &raw.database {
            // A schema name is at most 64 characters, sent NUL-terminated.
            Some(d)
                if d.get_ref().is_empty()
                    || d.get_ref().contains('\0')
                    || d.get_ref().chars().count() > 64 =>
            {
                self.rep.report(
                    d.span(),
                    &format!("{path}.database"),
                    "the database name must be 1 to 64 characters, without NUL",
                    None,
                );
                ok = false;
                None
            }
            Some(d) => Some(d.get_ref().clone()),
            None => None,
        };
        let cluster_size = match &raw.cluster_size {
            None => None,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(v) if v >= 1 => Some(v),
                _ => {
                    self.rep.report(
                        n.span(),
                        &format!("{path}.cluster_size"),
                        format!("invalid cluster size {}", n.get_ref()),
                        Some("write the Galera nodes expected, 1 or more".into()),
                    );
                    ok = false;
                    None
                }
            },
        };
        let lag = self.db_threshold(
            raw.lag.as_ref(),
            &format!("{path}.lag"),
            &[Unit::Seconds],
            above(30.0, 300.0, Unit::Seconds),
        );
        let connections = self.db_threshold(
            raw.connections.as_ref(),
            &format!("{path}.connections"),
            &[Unit::Percent],
            above(80.0, 95.0, Unit::Percent),
        );
        let (mut server, lag, connections) = (server?, lag?, connections?);
        server.user.get_or_insert_with(|| "root".to_owned());
        ok.then_some(MysqlSpec {
            server,
            database,
            role,
            lag,
            connections,
            cluster_size,
            measure_size: false,
        })
    }
}
