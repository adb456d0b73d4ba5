//! The check kind `tcp`: connect, optionally send a line, optionally match
//! the banner. Its configuration as written, as validated, and the
//! validation between the two.

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::load::{Loader, first_line};

/// `kind = "tcp"`
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Text sent after connecting (e.g. `"QUIT\r\n"`), optional.
    pub send: Option<String>,
    /// Regex the first bytes from the server must match, optional.
    pub expect_banner: Option<Regex>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub host: Spanned<String>,
    pub port: Spanned<i64>,
    pub send: Option<String>,
    pub expect_banner: Option<Spanned<String>>,
}

impl Loader<'_> {
    pub(crate) fn tcp(&mut self, raw: RawTcp, path: &str) -> Option<TcpSpec> {
        let port = self.port(&raw.port, path)?;
        let host = self.host(&raw.host, path)?;
        let expect_banner = match &raw.expect_banner {
            None => None,
            Some(r) => match regex::RegexBuilder::new(r.get_ref())
                .size_limit(1 << 20)
                .build()
            {
                Ok(re) => Some(re),
                Err(e) => {
                    self.rep.report(
                        r.span(),
                        &format!("{path}.expect_banner"),
                        format!("invalid regex: {}", first_line(&e.to_string())),
                        None,
                    );
                    return None;
                }
            },
        };
        Some(TcpSpec {
            host,
            port,
            send: raw.send,
            expect_banner,
        })
    }
}
