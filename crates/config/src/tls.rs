//! The check kind `tls` and the certificate options every TLS-speaking kind
//! shares (`[defaults.tls]`, `[site.check.tls]`): their configuration as
//! written, as validated, and the validation between the two.

use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

use crate::load::{Defaults, Loader};
use crate::raw::RawTls;

/// Certificate expiry thresholds. A certificate warns when its remaining
/// validity is below `min(warn_days, warn_fraction × lifetime)`, and is
/// critical below `min(crit_days, crit_fraction × lifetime)`: whichever is
/// stricter, so a 47-day certificate does not warn for most of its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CertThresholds {
    /// Warn when fewer days remain (default 30).
    pub warn_days: f64,
    /// Critical when fewer days remain (default 7).
    pub crit_days: f64,
    /// Warn when less than this fraction of the lifetime remains (default 1/3).
    pub warn_fraction: f64,
    /// Critical when less than this fraction remains (default 0.1).
    pub crit_fraction: f64,
}

impl Default for CertThresholds {
    fn default() -> Self {
        Self {
            warn_days: 30.0,
            crit_days: 7.0,
            warn_fraction: 1.0 / 3.0,
            crit_fraction: 0.1,
        }
    }
}

/// How a TLS peer is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM), in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Whether chain/hostname problems fail the check (default true).
    pub verify: bool,
    /// Expiry thresholds.
    pub thresholds: CertThresholds,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            verify: true,
            thresholds: CertThresholds::default(),
        }
    }
}

/// `kind = "tls"`
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// Host name (also the SNI and the name the certificate must match).
    pub host: String,
    /// Port (default 443).
    pub port: u16,
    /// Check every A/AAAA address behind the name (default true).
    pub all_addresses: bool,
    /// Verification options and thresholds.
    pub tls: TlsOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTlsCheck {
    pub host: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub all_addresses: Option<bool>,
    pub tls: Option<RawTls>,
}

impl Loader<'_> {
    pub(crate) fn tls_check(
        &mut self,
        raw: RawTlsCheck,
        path: &str,
        defaults: &Defaults,
    ) -> Option<TlsSpec> {
        let port = match &raw.port {
            Some(p) => self.port(p, path)?,
            None => 443,
        };
        let host = self.host(&raw.host, path)?;
        let tls = self.tls_options(raw.tls.as_ref(), &defaults.tls, &format!("{path}.tls"))?;
        Some(TlsSpec {
            host,
            port,
            all_addresses: raw.all_addresses.unwrap_or(true),
            tls,
        })
    }

    /// Certificate options of the table `table` (e.g. `site[0].check[1].tls`)
    /// over `[defaults.tls]`.
    pub(crate) fn tls_options(
        &mut self,
        raw: Option<&RawTls>,
        defaults: &RawTls,
        table: &str,
    ) -> Option<TlsOptions> {
        let pick = |f: fn(&RawTls) -> Option<&Spanned<f64>>| {
            raw.and_then(f).or_else(|| f(defaults)).cloned()
        };
        let base = CertThresholds::default();
        let mut ok = true;
        let mut value =
            |s: Option<Spanned<f64>>, default: f64, max: f64, key: &str, this: &mut Self| match s {
                None => default,
                Some(v) if *v.get_ref() >= 0.0 && *v.get_ref() <= max => *v.get_ref(),
                Some(v) => {
                    this.rep.report(
                        v.span(),
                        &format!("{table}.{key}"),
                        format!("must be between 0 and {max}"),
                        None,
                    );
                    ok = false;
                    default
                }
            };
        let thresholds = CertThresholds {
            warn_days: value(
                pick(|t| t.warn_days.as_ref()),
                base.warn_days,
                3650.0,
                "warn_days",
                self,
            ),
            crit_days: value(
                pick(|t| t.crit_days.as_ref()),
                base.crit_days,
                3650.0,
                "crit_days",
                self,
            ),
            warn_fraction: value(
                pick(|t| t.warn_fraction.as_ref()),
                base.warn_fraction,
                1.0,
                "warn_fraction",
                self,
            ),
            crit_fraction: value(
                pick(|t| t.crit_fraction.as_ref()),
                base.crit_fraction,
                1.0,
                "crit_fraction",
                self,
            ),
        };
        let ca = raw
            .and_then(|t| t.ca_file.as_ref())
            .or(defaults.ca_file.as_ref());
        let ca_file = match ca {
            None => None,
            Some(f) => {
                let p = self.ca_file(f, &format!("{table}.ca_file"));
                ok &= p.is_some();
                p
            }
        };
        let verify = raw
            .and_then(|t| t.verify)
            .or(defaults.verify)
            .unwrap_or(true);
        ok.then_some(TlsOptions {
            ca_file,
            verify,
            thresholds,
        })
    }

    /// A readable PEM file of CA certificates, resolved against the config's
    /// directory; a problem is reported at `key`.
    pub(crate) fn ca_file(&mut self, f: &Spanned<String>, key: &str) -> Option<PathBuf> {
        let p = self.resolve_path(f.get_ref());
        match std::fs::read_to_string(&p) {
            Ok(text) if text.contains("-----BEGIN CERTIFICATE-----") => Some(p),
            Ok(_) => {
                self.rep.report(
                    f.span(),
                    key,
                    format!("{} holds no PEM certificate", p.display()),
                    None,
                );
                None
            }
            Err(e) => {
                self.rep.report(
                    f.span(),
                    key,
                    format!("cannot read {}: {e}", p.display()),
                    None,
                );
                None
            }
        }
    }
}
