//! The check kind `redis`: a Redis server's health, memory and replication,
//! from keepup itself over RESP.
//!
//! ```toml
//! [[site.check]]
//! id = "cache"
//! kind = "redis"
//! host = "cache1.shop.example"
//! port = 6379                       # default
//! user = "monitor"                  # an ACL user (Redis 6+); left out: the default user
//! password_env = "REDIS_PW"         # or password_file; none: no AUTH
//! tls = "require"                   # "disable" (default) | "require": TLS from the first byte;
//!                                   # a password off loopback needs `tls` written (AUTH is plain text)
//! role = "primary"                  # or "replica"; left out: either
//! replicas = 1                      # primary: online replicas expected (at least)
//! lag = { warn = "30s", crit = "1m" }          # replica: since the master was last heard (an idle one PINGs every 10 s)
//! lag_bytes = { warn = "1MiB", crit = "64MiB" } # primary: each replica's offset behind
//! memory = { warn = "80%", crit = "95%" }       # used_memory of maxmemory, when set
//! ```

use toml::Spanned;

use crate::database::{DbRole, DbServer, DbTls, above};
use crate::load::{Defaults, Loader};
use crate::threshold::{RawThreshold, Threshold, Unit};

/// Redis's standard port.
pub const REDIS_PORT: u16 = 6379;

/// `kind = "redis"`
#[derive(Debug, Clone)]
pub struct RedisSpec {
    /// Where and how to connect (no user: the default user).
    pub server: DbServer,
    /// The role the server must have, if any.
    pub role: Option<DbRole>,
    /// On a primary: the online replicas expected at least.
    pub replicas: Option<u32>,
    /// On a replica: seconds since the master was last heard (an idle
    /// master only PINGs every `repl-ping-replica-period`, 10 s by
    /// default); on a primary: each replica's seconds since its last
    /// acknowledgement, judged only when its offset is behind or unknown.
    pub lag: Threshold,
    /// On a primary: each replica's replication offset behind the
    /// master's, in bytes.
    pub lag_bytes: Threshold,
    /// `used_memory` as a share of `maxmemory` (not judged without one).
    pub memory: Threshold,
}

crate::database::raw_db_check! {
    /// `kind = "redis"` as written.
    RawRedis {
        replicas: Option<Spanned<i64>>,
        lag: Option<Spanned<RawThreshold>>,
        lag_bytes: Option<Spanned<RawThreshold>>,
        memory: Option<Spanned<RawThreshold>>,
    }
}

impl Loader<'_> {
    pub(crate) fn redis(
        &mut self,
        raw: RawRedis,
        path: &str,
        defaults: &Defaults,
    ) -> Option<RedisSpec> {
        let server = self.db_server(
            raw.server_keys(),
            path,
            REDIS_PORT,
            &[DbTls::Disable, DbTls::Require],
            &defaults.tls,
        );
        let mut ok = true;
        if let (Some(u), None) = (&raw.user, &server.as_ref().and_then(|s| s.password.clone())) {
            self.rep.report(
                u.span(),
                &format!("{path}.user"),
                "an ACL user logs in with a password",
                Some("add `password_env` or `password_file`, or leave `user` out".into()),
            );
            ok = false;
        }
        let role = self.db_role(raw.role.as_ref(), path, &mut ok);
        let replicas = self.replica_count(raw.replicas.as_ref(), role, path);
        ok &= raw.replicas.is_none() || replicas.is_some();
        let lag = self.db_threshold(
            raw.lag.as_ref(),
            &format!("{path}.lag"),
            &[Unit::Seconds],
            // Above the master's 10 s repl-ping-replica-period, which is
            // how often an idle master is heard at all.
            above(30.0, 60.0, Unit::Seconds),
        );
        let lag_bytes = self.db_threshold(
            raw.lag_bytes.as_ref(),
            &format!("{path}.lag_bytes"),
            &[Unit::Bytes],
            above(1024.0 * 1024.0, 64.0 * 1024.0 * 1024.0, Unit::Bytes),
        );
        let memory = self.db_threshold(
            raw.memory.as_ref(),
            &format!("{path}.memory"),
            &[Unit::Percent],
            above(80.0, 95.0, Unit::Percent),
        );
        let (server, lag, lag_bytes, memory) = (server?, lag?, lag_bytes?, memory?);
        ok.then_some(RedisSpec {
            server,
            role,
            replicas,
            lag,
            lag_bytes,
            memory,
        })
    }
}
