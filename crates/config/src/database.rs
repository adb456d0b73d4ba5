//! What the database and cache checks (`postgres`, `mysql`, `redis`) share
//! in their configuration: where the server is and how to log in
//! ([`DbServer`]), how TLS is reached ([`DbTls`]), the role a server is
//! expected to have ([`DbRole`]), an operator's query ([`CustomQuery`]),
//! and the thresholds of what they measure (the shared
//! [`crate::threshold`] type, alerting above their levels).
//!
//! Each kind's own keys live in its module (`postgres.rs`, ...); this one
//! only reads the keys they have in common, so the three behave alike.

use toml::Spanned;

use crate::load::Loader;
use crate::raw::RawTls;
use crate::spec::Secret;
use crate::threshold::{Accepts, Direction, RawThreshold, Threshold, Unit};
use crate::tls::TlsOptions;

/// The server a database check talks to, and who it logs in as.
#[derive(Debug, Clone, PartialEq)]
pub struct DbServer {
    /// Host name or IP (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// Login user, if the protocol has one.
    pub user: Option<String>,
    /// Password, from the environment or a file only; sent on the wire and
    /// nowhere else.
    pub password: Option<Secret>,
    /// How TLS is reached.
    pub tls: DbTls,
    /// Certificate verification (`[site.check.certificate]`).
    pub certificate: TlsOptions,
}

/// How a database connection reaches TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbTls {
    /// Plain text only.
    Disable,
    /// TLS when the server offers it, plain text otherwise (libpq's and
    /// the MySQL client's default; with a password only towards loopback,
    /// where it is the default, elsewhere the default is `Require`).
    Prefer,
    /// TLS or nothing.
    Require,
}

impl DbTls {
    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DbTls::Disable => "disable",
            DbTls::Prefer => "prefer",
            DbTls::Require => "require",
        }
    }
}

/// Whether `host` names this machine (`localhost`, 127.0.0.0/8, ::1), where
/// a password sent without TLS does not cross a network.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The replication role a server is expected to have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbRole {
    /// Accepts writes; replicas follow it.
    Primary,
    /// Follows a primary.
    Replica,
}

impl DbRole {
    /// The value as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DbRole::Primary => "primary",
            DbRole::Replica => "replica",
        }
    }
}

/// `query` and `expect`: a query of the operator's and its expected
/// answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomQuery {
    /// One SQL statement.
    pub sql: String,
    /// The first column of the first row, as text; `None`: the query must
    /// only succeed.
    pub expect: Option<String>,
}

/// Declares the raw keys of a database check kind: the server, login
/// and TLS keys every database check has (read by
/// [`Loader::db_server`] from `server_keys()`) and `role`, then the
/// kind's own. One list, so the three kinds accept the same keys; a macro
/// because `serde(flatten)` loses the spans that errors point at and
/// cannot deny unknown keys.
macro_rules! raw_db_check {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            host: toml::Spanned<String>,
            port: Option<toml::Spanned<i64>>,
            user: Option<toml::Spanned<String>>,
            password_env: Option<toml::Spanned<String>>,
            password_file: Option<toml::Spanned<String>>,
            tls: Option<toml::Spanned<String>>,
            certificate: Option<crate::raw::RawTls>,
            role: Option<toml::Spanned<String>>,
            $($field: $ty,)*
        }

        impl $name {
            /// The keys [`Loader::db_server`](crate::load::Loader) reads.
            fn server_keys(&self) -> crate::database::RawDbServer<'_> {
                crate::database::RawDbServer {
                    host: &self.host,
                    port: self.port.as_ref(),
                    user: self.user.as_ref(),
                    password_env: self.password_env.as_ref(),
                    password_file: self.password_file.as_ref(),
                    tls: self.tls.as_ref(),
                    certificate: self.certificate.as_ref(),
                }
            }
        }
    };
}
pub(crate) use raw_db_check;

/// The keys every database check has, as written.
pub(crate) struct RawDbServer<'a> {
    pub host: &'a Spanned<String>,
    pub port: Option<&'a Spanned<i64>>,
    pub user: Option<&'a Spanned<String>>,
    pub password_env: Option<&'a Spanned<String>>,
    pub password_file: Option<&'a Spanned<String>>,
    pub tls: Option<&'a Spanned<String>>,
    pub certificate: Option<&'a RawTls>,
}

impl Loader<'_> {
    /// The server, login and TLS keys of a database check at `path`;
    /// `tls_modes` are the modes its protocol supports.
    pub(crate) fn db_server(
        &mut self,
        raw: RawDbServer<'_>,
        path: &str,
        default_port: u16,
        tls_modes: &[DbTls],
        default_tls: &RawTls,
    ) -> Option<DbServer> {
        let mut ok = true;
        let host = self.host(raw.host, path);
        let port = match raw.port {
            Some(p) => self.port(p, path),
            None => Some(default_port),
        };
        let tls = match raw.tls {
            None => Some(if tls_modes.contains(&DbTls::Prefer) {
                DbTls::Prefer
            } else {
                DbTls::Disable
            }),
            Some(t) => {
                let mode = tls_modes.iter().find(|m| m.as_str() == t.get_ref());
                if mode.is_none() {
                    let known: Vec<String> = tls_modes
                        .iter()
                        .map(|m| format!("{:?}", m.as_str()))
                        .collect();
                    self.rep.report(
                        t.span(),
                        &format!("{path}.tls"),
                        format!("unknown TLS mode {:?}", t.get_ref()),
                        Some(format!(
                            "use {}; certificate options go in [site.check.certificate]",
                            known.join(", ")
                        )),
                    );
                }
                mode.copied()
            }
        };
        let user = match raw.user {
            Some(u) if u.get_ref().is_empty() || u.get_ref().contains(['\0', '\r', '\n']) => {
                self.rep.report(
                    u.span(),
                    &format!("{path}.user"),
                    "the user name must be non-empty, without line breaks or NUL",
                    None,
                );
                ok = false;
                None
            }
            Some(u) => Some(u.get_ref().clone()),
            None => None,
        };
        let password = self.optional_secret(
            raw.password_env,
            raw.password_file,
            path,
            "password",
            &mut ok,
        );
        if password
            .as_ref()
            .is_some_and(|p| p.expose().contains(['\0', '\r', '\n']))
        {
            let span = raw
                .password_env
                .or(raw.password_file)
                .map_or(0..0, Spanned::span);
            self.rep.report(
                span,
                &format!("{path}.password"),
                "the password contains a line break or NUL, which the protocol cannot carry",
                None,
            );
            ok = false;
        }
        let certificate =
            self.tls_options(raw.certificate, default_tls, &format!("{path}.certificate"));
        let (host, port, mut tls, certificate) = (host?, port?, tls?, certificate?);
        // A password goes in clear only where the operator wrote so: under
        // `prefer` whoever answers "no TLS" (an attacker on the path too)
        // would be sent it, as libpq and the MySQL client do.
        if password.is_some() && !is_loopback_host(&host) {
            match (raw.tls, tls) {
                (None, DbTls::Prefer) => tls = DbTls::Require,
                (None, DbTls::Disable) => {
                    let span = raw
                        .password_env
                        .or(raw.password_file)
                        .map_or(0..0, Spanned::span);
                    self.rep.report(
                        span,
                        &format!("{path}.password"),
                        "the password would cross the network in clear (tls is \"disable\" by default)",
                        Some("write tls = \"require\", or tls = \"disable\" to send it in clear on purpose".into()),
                    );
                    ok = false;
                }
                (Some(t), DbTls::Prefer) => {
                    self.rep.report(
                        t.span(),
                        &format!("{path}.tls"),
                        "\"prefer\" sends the password in clear to a server (or anyone on the path) that declines TLS",
                        Some("write \"require\", or \"disable\" to send it in clear on purpose".into()),
                    );
                    ok = false;
                }
                _ => {}
            }
        }
        ok.then_some(DbServer {
            host,
            port,
            user,
            password,
            tls,
            certificate,
        })
    }

    /// `role = "primary" | "replica"`; a value written wrong clears `ok`.
    pub(crate) fn db_role(
        &mut self,
        raw: Option<&Spanned<String>>,
        path: &str,
        ok: &mut bool,
    ) -> Option<DbRole> {
        let r = raw?;
        match r.get_ref().as_str() {
            "primary" => Some(DbRole::Primary),
            "replica" => Some(DbRole::Replica),
            other => {
                self.rep.report(
                    r.span(),
                    &format!("{path}.role"),
                    format!("unknown role {other:?}"),
                    Some("use \"primary\" or \"replica\", or leave it out to accept either".into()),
                );
                *ok = false;
                None
            }
        }
    }

    /// `replicas = N`: the replicas a primary should have, at least; not
    /// with `role = "replica"`.
    pub(crate) fn replica_count(
        &mut self,
        raw: Option<&Spanned<i64>>,
        role: Option<DbRole>,
        path: &str,
    ) -> Option<u32> {
        let n = raw?;
        if role == Some(DbRole::Replica) {
            self.rep.report(
                n.span(),
                &format!("{path}.replicas"),
                "a replica has no replicas of its own to count",
                Some("`replicas` goes with role = \"primary\"".into()),
            );
            return None;
        }
        match u32::try_from(*n.get_ref()) {
            Ok(v) => Some(v),
            Err(_) => {
                self.rep.report(
                    n.span(),
                    &format!("{path}.replicas"),
                    format!("invalid replica count {}", n.get_ref()),
                    Some("write a count of 0 or more".into()),
                );
                None
            }
        }
    }

    /// A threshold of this check at `key`, in one of `units`, alerting
    /// above its levels; `default` when it is not written.
    pub(crate) fn db_threshold(
        &mut self,
        raw: Option<&Spanned<RawThreshold>>,
        key: &str,
        units: &[Unit],
        default: Threshold,
    ) -> Option<Threshold> {
        match raw {
            None => Some(default),
            Some(raw) => crate::threshold::threshold(
                &mut self.rep,
                raw,
                key,
                Accepts {
                    units,
                    direction: Direction::Above,
                },
            ),
        }
    }
}

/// A threshold alerting above `warn` and `crit`, in `unit`: the defaults
/// of the database checks' measures.
pub(crate) fn above(warn: f64, crit: f64, unit: Unit) -> Threshold {
    Threshold {
        warn: Some(warn),
        crit: Some(crit),
        unit,
        direction: Direction::Above,
    }
}
