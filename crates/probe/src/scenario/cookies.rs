//! A scenario's cookie jar: the basics of RFC 6265 a shop session needs
//! (host-only and domain cookies, path, expiry by `Expires`/`Max-Age`,
//! `Secure`; `HttpOnly` is irrelevant without scripts) and bounds on the
//! number and size of cookies, so that a hostile server cannot grow it.

use std::time::{Duration, SystemTime};

use http::Uri;

/// Cookies kept at most; a new one past this evicts the oldest.
const MAX_COOKIES: usize = 64;
/// A `Set-Cookie` longer than this is ignored (browsers use 4096).
const MAX_COOKIE_BYTES: usize = 4096;

#[derive(Debug, Clone)]
struct Cookie {
    name: String,
    value: String,
    /// Lowercase host or domain.
    domain: String,
    /// Sent only to `domain` itself, not its subdomains.
    host_only: bool,
    path: String,
    expires: Option<SystemTime>,
    secure: bool,
}

/// The cookies of one scenario run.
#[derive(Debug, Default)]
pub(crate) struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Takes the `Set-Cookie` values of a response to `url`.
    pub(crate) fn store<'h>(&mut self, url: &Uri, set_cookies: impl Iterator<Item = &'h [u8]>) {
        let Some(host) = url.host().map(|h| h.to_ascii_lowercase()) else {
            return;
        };
        for raw in set_cookies {
            if raw.len() > MAX_COOKIE_BYTES {
                continue;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                continue;
            };
            if let Some(cookie) = parse(text, &host, url.path()) {
                self.put(cookie);
            }
        }
    }

    fn put(&mut self, cookie: Cookie) {
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_some_and(|at| at <= SystemTime::now()) {
            return; // an expiry in the past deletes it
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(cookie);
    }

    /// The `Cookie` header value for a request to `url`, if any cookie
    /// applies (longer paths first, as RFC 6265 §5.4 orders them).
    pub(crate) fn header_for(&self, url: &Uri) -> Option<String> {
        let host = url.host()?.to_ascii_lowercase();
        let https = url.scheme_str() == Some("https");
        let path = if url.path().is_empty() {
            "/"
        } else {
            url.path()
        };
        let now = SystemTime::now();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                (if c.host_only {
                    c.domain == host
                } else {
                    domain_matches(&host, &c.domain)
                }) && path_matches(path, &c.path)
                    && (!c.secure || https)
                    && c.expires.is_none_or(|at| at > now)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The value of the cookie `name` (any domain; the last one set).
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .rev()
            .find(|c| c.name == name)
            .map(|c| c.value.as_str())
    }
}

/// One `Set-Cookie` value received from `host` for `request_path`; `None`
/// when it is malformed or for a domain the host may not set.
fn parse(text: &str, host: &str, request_path: &str) -> Option<Cookie> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_owned(),
        value: value.trim().trim_matches('"').to_owned(),
        domain: host.to_owned(),
        host_only: true,
        path: default_path(request_path),
        expires: None,
        secure: false,
    };
    let mut max_age = None;
    for attribute in parts {
        let (key, val) = match attribute.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (attribute.trim(), ""),
        };
        match key.to_ascii_lowercase().as_str() {
            "domain" if !val.is_empty() => {
                let domain = val.trim_start_matches('.').to_ascii_lowercase();
                if !domain_matches(host, &domain) {
                    return None; // a host may not set cookies for another
                }
                cookie.domain = domain;
                cookie.host_only = false;
            }
            "path" if val.starts_with('/') => cookie.path = val.to_owned(),
            "expires" => {
                if let Ok(at) = httpdate::parse_http_date(val) {
                    cookie.expires = Some(at);
                }
            }
            "max-age" => max_age = val.parse::<i64>().ok(),
            "secure" => cookie.secure = true,
            _ => {}
        }
    }
    // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
    if let Some(seconds) = max_age {
        cookie.expires = Some(if seconds <= 0 {
            SystemTime::UNIX_EPOCH
        } else {
            SystemTime::now() + Duration::from_secs(seconds.unsigned_abs())
        });
    }
    Some(cookie)
}

/// RFC 6265 §5.1.3: the host is the domain or a subdomain of it (an IP
/// address only matches itself).
fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host[..host.len() - domain.len()].ends_with('.')
            && host.parse::<std::net::IpAddr>().is_err())
}

/// RFC 6265 §5.1.4.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(request: &str) -> String {
    match request.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => request[..i].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn host_domain_path_secure_and_expiry_decide_what_is_sent() {
        let mut jar = CookieJar::default();
        let set: [&[u8]; 6] = [
            b"shop_session=abc; Path=/; HttpOnly; SameSite=Lax",
            b"wide=1; Domain=.shop.test; Path=/",
            b"cart=2; Path=/cart",
            b"safe=3; Secure",
            b"evil=4; Domain=other.test",
            b"gone=5; Max-Age=0",
        ];
        jar.store(&uri("http://www.shop.test/login"), set.into_iter());
        assert_eq!(
            jar.header_for(&uri("http://www.shop.test/")).as_deref(),
            Some("shop_session=abc; wide=1")
        );
        assert_eq!(
            jar.header_for(&uri("http://www.shop.test/cart/add"))
                .as_deref(),
            Some("cart=2; shop_session=abc; wide=1")
        );
        assert_eq!(
            jar.header_for(&uri("https://www.shop.test/x")).as_deref(),
            Some("shop_session=abc; wide=1; safe=3")
        );
        assert_eq!(
            jar.header_for(&uri("http://api.shop.test/")).as_deref(),
            Some("wide=1")
        );
        assert_eq!(jar.header_for(&uri("http://other.test/")), None);
        assert_eq!(jar.value("gone"), None);
        // A later Max-Age=0 deletes a cookie.
        jar.store(
            &uri("http://www.shop.test/"),
            [&b"shop_session=x; Path=/; Max-Age=0"[..]].into_iter(),
        );
        assert_eq!(jar.value("shop_session"), None);
    }

    #[test]
    fn the_jar_is_bounded() {
        let mut jar = CookieJar::default();
        let long = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        let many: Vec<String> = (0..200).map(|i| format!("c{i}=v")).collect();
        jar.store(
            &uri("http://shop.test/"),
            std::iter::once(long.as_bytes()).chain(many.iter().map(|s| s.as_bytes())),
        );
        assert_eq!(jar.cookies.len(), MAX_COOKIES);
        assert_eq!(jar.value("big"), None);
        assert_eq!(jar.value("c199"), Some("v"));
        assert_eq!(jar.value("c0"), None);
    }
}
