//! `[store] url`: where a PostgreSQL store is and how keepup logs in to it
//! ([`PostgresStore`]), read beside `[store] path` (the SQLite file).
//!
//! The URL names the server, the user and the database
//! (`postgres://keepup@db.example:5432/keepup`); the password never goes in
//! it (a URL with one is refused without echoing it) but comes from
//! `password_env` or `password_file`. TLS is `tls = "disable" | "require"`
//! (no `prefer`: a server that declines TLS would be sent the password in
//! clear), with `ca_file` for a private CA.
//!
//! Until every part of the store runs on PostgreSQL (issue 19), a
//! configuration with `url` is refused at load with "not yet supported",
//! after every other problem of the table has been reported: a half-working
//! store would be worse than none.

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use crate::database::{DbTls, is_loopback_host};
use crate::load::Loader;
use crate::raw::RawStore;
use crate::spec::Secret;

/// The PostgreSQL server a store lives in.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresStore {
    /// Host name or IP address (also the TLS server name).
    pub host: String,
    /// Port (5432 when the URL has none).
    pub port: u16,
    /// The user keepup logs in as.
    pub user: String,
    /// The database holding keepup's tables.
    pub database: String,
    /// From `password_env` or `password_file`; `None`: the server trusts
    /// the user without one.
    pub password: Option<Secret>,
    /// `disable` or `require`.
    pub tls: DbTls,
    /// CA certificates for the server's certificate (`None`: the system's).
    pub ca_file: Option<PathBuf>,
}

impl PostgresStore {
    /// `host:port` as shown in messages (never the user's password, which
    /// is not here).
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What a store URL says, before the password and TLS keys join it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoreUrl {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
}

/// Why a store URL is refused. The messages never quote the URL: it may
/// hold a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StoreUrlError {
    #[error("the URL must start with postgres:// or postgresql://")]
    Scheme,
    #[error("the URL holds a password, which keepup does not read from the configuration file")]
    Password,
    #[error("the URL names no user (postgres://USER@host/database)")]
    NoUser,
    #[error("the URL names no host")]
    NoHost,
    #[error("the URL's host is neither a host name nor an IP address")]
    BadHost,
    #[error("the URL's port is not a number from 1 to 65535")]
    BadPort,
    #[error("the URL names no database (postgres://user@host/DATABASE)")]
    NoDatabase,
    #[error(
        "the URL has parameters (`?...`) or a fragment; TLS is set with `tls` and `ca_file`, the password with `password_env` or `password_file`"
    )]
    Parameters,
    #[error(
        "the URL's user or database holds a character keepup does not accept there (%, /, @, :, spaces or control characters)"
    )]
    BadName,
}

/// Parses `postgres://user@host[:port]/database`.
pub(crate) fn parse_store_url(url: &str) -> Result<StoreUrl, StoreUrlError> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or(StoreUrlError::Scheme)?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // The user part ends at the last `@`: a password may hold one.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if userinfo.is_some_and(|u| u.contains(':')) {
        return Err(StoreUrlError::Password);
    }
    if path.contains(['?', '#']) || hostport.contains(['?', '#']) {
        return Err(StoreUrlError::Parameters);
    }
    let user = userinfo.ok_or(StoreUrlError::NoUser)?;
    if user.is_empty() {
        return Err(StoreUrlError::NoUser);
    }
    let (host, port) = split_host_port(hostport)?;
    if path.is_empty() {
        return Err(StoreUrlError::NoDatabase);
    }
    let plain = |s: &str| {
        !s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "%/@:".contains(c))
    };
    if !plain(user) || !plain(path) {
        return Err(StoreUrlError::BadName);
    }
    Ok(StoreUrl {
        host,
        port,
        user: user.to_owned(),
        database: path.to_owned(),
    })
}

fn split_host_port(hostport: &str) -> Result<(String, u16), StoreUrlError> {
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(StoreUrlError::BadHost)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(StoreUrlError::BadHost);
        }
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or(StoreUrlError::BadHost)?),
            ),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(StoreUrlError::NoHost);
    }
    let name_ok = host.parse::<std::net::IpAddr>().is_ok()
        || (host.len() <= 253
            && host.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }));
    if !name_ok {
        return Err(StoreUrlError::BadHost);
    }
    let port = match port {
        None => 5432,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(StoreUrlError::BadPort)?,
    };
    Ok((host.to_owned(), port))
}

impl Loader<'_> {
    /// `[store] url` with its password and TLS keys; `None` without `url`
    /// (and then none of those keys may be written) or when something is
    /// wrong (reported). A good one is reported "not yet supported", so
    /// the load fails still; lifting that is the one change the finished
    /// PostgreSQL store needs here.
    pub(crate) fn postgres_store(&mut self, store: &RawStore) -> Option<PostgresStore> {
        let Some(url) = &store.url else {
            for (key, span) in [
                (
                    "password_env",
                    store.password_env.as_ref().map(Spanned::span),
                ),
                (
                    "password_file",
                    store.password_file.as_ref().map(Spanned::span),
                ),
                ("tls", store.tls.as_ref().map(Spanned::span)),
                ("ca_file", store.ca_file.as_ref().map(Spanned::span)),
            ] {
                if let Some(span) = span {
                    self.rep.report(
                        span,
                        &format!("store.{key}"),
                        format!(
                            "`{key}` goes with `url` (a PostgreSQL store); an SQLite store has none"
                        ),
                        None,
                    );
                }
            }
            return None;
        };
        let mut ok = true;
        if let Some(path) = &store.path {
            self.rep.report(
                path.span(),
                "store.path",
                "give `path` (an SQLite file) or `url` (PostgreSQL), not both",
                None,
            );
            ok = false;
        }
        let parsed = match parse_store_url(url.get_ref()) {
            Ok(p) => Some(p),
            Err(why) => {
                let hint = match why {
                    StoreUrlError::Password => Some(
                        "remove it from the URL and give `password_env = \"NAME\"` or `password_file = \"path\"`"
                            .to_owned(),
                    ),
                    _ => Some("write postgres://user@host:5432/database".to_owned()),
                };
                self.rep
                    .report(url.span(), "store.url", why.to_string(), hint);
                None
            }
        };
        let password = self.optional_secret(
            store.password_env.as_ref(),
            store.password_file.as_ref(),
            "store",
            "password",
            &mut ok,
        );
        let tls = match &store.tls {
            None => None,
            Some(t) => match t.get_ref().as_str() {
                "disable" => Some(DbTls::Disable),
                "require" => Some(DbTls::Require),
                other => {
                    self.rep.report(
                        t.span(),
                        "store.tls",
                        format!("unknown TLS mode {other:?}"),
                        Some("use \"disable\" or \"require\"".into()),
                    );
                    ok = false;
                    None
                }
            },
        };
        let ca_file = match &store.ca_file {
            Some(f) => {
                let p = self.ca_file(f, "store.ca_file");
                ok &= p.is_some();
                p
            }
            None => None,
        };
        let parsed = parsed?;
        let loopback = is_loopback_host(&parsed.host);
        // Off loopback TLS is the default; a password in clear is written
        // on purpose or not at all.
        let tls = match (tls, &store.tls) {
            (Some(t), _) => t,
            (None, Some(_)) => return None,
            (None, None) if loopback => DbTls::Disable,
            (None, None) => DbTls::Require,
        };
        if ca_file.is_some() && tls == DbTls::Disable {
            let span = store.ca_file.as_ref().map_or(0..0, Spanned::span);
            self.rep.report(
                span,
                "store.ca_file",
                "`ca_file` has no use with tls = \"disable\"",
                Some("write tls = \"require\", or remove `ca_file`".into()),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        let pg = PostgresStore {
            host: parsed.host,
            port: parsed.port,
            user: parsed.user,
            database: parsed.database,
            password,
            tls,
            ca_file,
        };
        self.not_yet_supported(url.span(), &pg);
        Some(pg)
    }

    /// The refusal of a good `url` while the PostgreSQL store is being
    /// built (issue 19).
    fn not_yet_supported(&mut self, span: Range<usize>, pg: &PostgresStore) {
        self.rep.report(
            span,
            "store.url",
            format!(
                "not yet supported: a PostgreSQL store (database {:?} on {}); this keepup keeps its data in SQLite only",
                pg.database,
                pg.address()
            ),
            Some("remove `url` and its keys to use the SQLite file `path` (default keepup.db)".into()),
        );
    }
}
