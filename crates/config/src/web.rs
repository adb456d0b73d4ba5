//! `[server]`'s keys for the web's security: sessions, login limits and
//! the optional TLS listener.
//!
//! ```toml
//! [server]
//! session_idle = "12h"              # a session unused this long ends (at least 1m)
//! session_max = "7d"                # and every session ends this long after login
//! login_attempts_per_minute = 10    # per client address (a burst of as many, then refilled)
//! lockout_after = 5                 # failed logins in a row lock the account ...
//! lockout_for = "15m"               # ... for this long
//! tls_cert = "/etc/keepup/tls/cert.pem"   # both: the listener speaks HTTPS only
//! tls_key = "/etc/keepup/tls/key.pem"     # (both files read again on SIGHUP)
//! ```

use crate::load::Loader;
use crate::raw::Dur;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// Shortest `session_idle` accepted: a session's last use is recorded at
/// most once a minute (store `sessions.rs`).
pub const MIN_SESSION_IDLE: Duration = Duration::from_secs(60);

/// Sessions, login limits and TLS, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct WebSecurity {
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// Every session ends this long after its login.
    pub session_max: Duration,
    /// Login attempts one client address may make per minute (and at once).
    pub login_attempts_per_minute: u32,
    /// Failed logins in a row that lock an account.
    pub lockout_after: u32,
    /// How long a locked account stays locked.
    pub lockout_for: Duration,
    /// The listener's certificate chain and key (PEM), when it speaks HTTPS.
    pub tls: Option<TlsFiles>,
}

/// Where the listener's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

impl Default for WebSecurity {
    fn default() -> Self {
        WebSecurity {
            session_idle: Duration::from_secs(12 * 3600),
            session_max: Duration::from_secs(7 * 86_400),
            login_attempts_per_minute: 10,
            lockout_after: 5,
            lockout_for: Duration::from_secs(15 * 60),
            tls: None,
        }
    }
}

/// The `[server]` keys of [`WebSecurity`], as written.
#[derive(Debug, Default)]
pub(crate) struct RawWebSecurity<'a> {
    pub session_idle: Option<&'a Spanned<Dur>>,
    pub session_max: Option<&'a Spanned<Dur>>,
    pub login_attempts_per_minute: Option<&'a Spanned<u32>>,
    pub lockout_after: Option<&'a Spanned<u32>>,
    pub lockout_for: Option<&'a Spanned<Dur>>,
    pub tls_cert: Option<&'a Spanned<String>>,
    pub tls_key: Option<&'a Spanned<String>>,
}

impl Loader<'_> {
    /// Validates the web's security keys.
    pub(crate) fn web_security(&mut self, raw: RawWebSecurity<'_>) -> WebSecurity {
        let mut web = WebSecurity::default();
        if let Some(d) = raw.session_idle {
            web.session_idle = self.positive(d, "server.session_idle");
            // A session's last use is written at most once a minute, so a
            // shorter idle time would end sessions in active use.
            if web.session_idle < MIN_SESSION_IDLE {
                self.rep.report(
                    d.span(),
                    "server.session_idle",
                    "must be at least 1m (a session's use is recorded once a minute)",
                    Some("write \"1m\" or more".into()),
                );
            }
        }
        if let Some(d) = raw.session_max {
            web.session_max = self.positive(d, "server.session_max");
        }
        // Compared whichever of the two is written (the other's default
        // counts too): a session cannot end before it could go idle.
        if web.session_max < web.session_idle {
            match (raw.session_max, raw.session_idle) {
                (Some(max), _) => self.rep.report(
                    max.span(),
                    "server.session_max",
                    "a session cannot end before it has been idle for session_idle",
                    Some(format!(
                        "write at least {}",
                        humantime::format_duration(web.session_idle)
                    )),
                ),
                (None, Some(idle)) => self.rep.report(
                    idle.span(),
                    "server.session_idle",
                    "longer than session_max (every session ends that long after login)",
                    Some(format!(
                        "write at most {}, or raise session_max",
                        humantime::format_duration(web.session_max)
                    )),
                ),
                (None, None) => {}
            }
        }
        for (value, key, field) in [
            (
                raw.login_attempts_per_minute,
                "server.login_attempts_per_minute",
                &mut web.login_attempts_per_minute,
            ),
            (
                raw.lockout_after,
                "server.lockout_after",
                &mut web.lockout_after,
            ),
        ] {
            if let Some(v) = value {
                if *v.get_ref() == 0 {
                    self.rep.report(v.span(), key, "must be at least 1", None);
                } else {
                    *field = *v.get_ref();
                }
            }
        }
        if let Some(d) = raw.lockout_for {
            web.lockout_for = self.positive(d, "server.lockout_for");
        }
        web.tls = match (raw.tls_cert, raw.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: self.resolve_path(cert.get_ref()),
                key: self.resolve_path(key.get_ref()),
            }),
            (Some(one), None) | (None, Some(one)) => {
                let key = if raw.tls_cert.is_some() {
                    "server.tls_cert"
                } else {
                    "server.tls_key"
                };
                self.rep.report(
                    one.span(),
                    key,
                    "tls_cert and tls_key go together",
                    Some("set both (PEM files), or neither for plain HTTP".into()),
                );
                None
            }
        };
        web
    }
}
