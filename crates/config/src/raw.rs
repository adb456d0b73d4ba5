//! The configuration as written: serde structs that mirror the TOML, with
//! spans on the values that need a located error after parsing. `load`
//! turns these into the validated types of `spec`.

use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// A duration written as `"90s"`, `"5m"`, `"1h 30m"`, `"7d"` or a number of
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a duration such as \"30s\", \"5m\", \"2h\", \"7d\" or a number of seconds",
                )
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                u64::try_from(v)
                    .map(|s| Dur(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Ok(Dur(Duration::from_secs(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Duration::try_from_secs_f64(v).map(Dur).map_err(|_| {
                    E::custom("a duration must be a finite, non-negative number of seconds")
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                humantime::parse_duration(v).map(Dur).map_err(|e| {
                    E::custom(format!(
                        "invalid duration {v:?}: {e}; write e.g. \"30s\", \"5m\", \"2h\", \"7d\""
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub public_url: Option<Spanned<String>>,
    pub ack_key_env: Option<Spanned<String>>,
    pub ack_key_file: Option<Spanned<String>>,
    pub metrics_token_file: Option<Spanned<String>>,
    pub metrics_allow: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_connections: Option<Spanned<usize>>,
    pub max_connections_per_address: Option<Spanned<usize>>,
    pub request_head_timeout: Option<Spanned<Dur>>,
    pub trusted_proxies: Option<Spanned<Vec<Spanned<String>>>>,
    pub session_idle: Option<Spanned<Dur>>,
    pub session_max: Option<Spanned<Dur>>,
    pub login_attempts_per_minute: Option<Spanned<u32>>,
    pub lockout_after: Option<Spanned<u32>>,
    pub lockout_for: Option<Spanned<Dur>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub tls: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub raw_retention: Option<Dur>,
    pub minute_retention: Option<Spanned<Dur>>,
    pub rollup_retention: Option<Dur>,
    pub audit_retention: Option<Spanned<Dur>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScheduler {
    pub concurrency: Option<Spanned<usize>>,
    pub cpu_workers: Option<Spanned<usize>>,
}

/// `[connectivity]`: reference targets that tell keepup whether its own
/// network works.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnectivity {
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    pub interval: Option<Spanned<Dur>>,
}

/// `[self_monitoring]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSelfMonitoring {
    pub max_lag: Option<Spanned<Dur>>,
    pub heartbeat_url: Option<Spanned<String>>,
    pub heartbeat_url_env: Option<Spanned<String>>,
    pub heartbeat_url_file: Option<Spanned<String>>,
    pub heartbeat_every: Option<Spanned<Dur>>,
    pub interval: Option<Spanned<Dur>>,
}

/// `[defaults.tls]`, `[site.check.tls]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub ca_file: Option<Spanned<String>>,
    pub verify: Option<bool>,
    pub warn_days: Option<Spanned<f64>>,
    pub crit_days: Option<Spanned<f64>>,
    pub warn_fraction: Option<Spanned<f64>>,
    pub crit_fraction: Option<Spanned<f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDefaults {
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    pub user_agent: Option<String>,
    pub max_body_bytes: Option<u64>,
    pub max_redirects: Option<u32>,
    pub tls: Option<RawTls>,
    pub failure_threshold: Option<Spanned<u32>>,
    pub success_threshold: Option<Spanned<u32>>,
    pub retry_interval: Option<Spanned<Dur>>,
    pub incident_on_degraded: Option<bool>,
    pub flap_changes: Option<u32>,
    pub flap_window: Option<Spanned<Dur>>,
}

/// The keys every check has, whatever its kind.
pub(crate) const COMMON_CHECK_KEYS: &[&str] = &[
    "id",
    "kind",
    "name",
    "interval",
    "timeout",
    "tags",
    "depends_on",
    "failure_threshold",
    "success_threshold",
    "retry_interval",
    "incident_on_degraded",
    "flap_changes",
    "runbook",
    "flap_window",
    "forecast",
];

/// The kinds known to this build.
pub(crate) const CHECK_KINDS: &[&str] = &[
    "http",
    "tcp",
    "tls",
    "heartbeat",
    "domain",
    "delegation",
    "dns",
    "dnsbl",
    "ping",
    "page",
    "security_txt",
    "chain",
    "smtp",
    "imap",
    "pop3",
    "scenario",
    "login",
    "browser",
    "nagios",
    "postgres",
    "prometheus",
    "host",
    "ssh",
    "redis",
    "mysql",
    "ftp",
    "elasticsearch",
    "nginx_status",
    "apache_status",
    "tomcat_status",
    "varnish",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommon {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub name: Option<String>,
    pub interval: Option<Spanned<Dur>>,
    pub timeout: Option<Spanned<Dur>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    pub failure_threshold: Option<Spanned<u32>>,
    pub success_threshold: Option<Spanned<u32>>,
    pub retry_interval: Option<Spanned<Dur>>,
    pub incident_on_degraded: Option<bool>,
    pub flap_changes: Option<u32>,
    pub flap_window: Option<Spanned<Dur>>,
    pub runbook: Option<Spanned<crate::runbook::RawNote>>,
    pub forecast: Option<Spanned<crate::forecast::RawForecast>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    pub token: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub period: Spanned<Dur>,
    pub grace: Option<Dur>,
}
