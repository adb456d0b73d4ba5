//! A scenario's cookie jar: the basics of RFC 6265 a shop session needs
//! (host-only and domain cookies, path, expiry by `Expires`/`Max-Age`,
//! `Secure`; `HttpOnly` is irrelevant without scripts) and bounds on the
//! number and size of cookies, so that a hostile server cannot grow it.
//!
//! Without a public-suffix list, a `Domain` of a single label (`com`) or
//! an IP address is taken only as the host's own (host-only) and refused
//! from any other host, so no server sets cookies for a whole TLD. A
//! cookie with a control character is dropped alone; the others are sent.

use std::time::{Duration, SystemTime};

use http::Uri;

/// Cookies kept at most; a new one past this evicts the oldest.
const MAX_COOKIES: usize = 64;
/// A `Set-Cookie` longer than this is ignored (browsers use 4096).
const MAX_COOKIE_BYTES: usize = 4096;
/// A cookie lives at most this long, whatever it asks (RFC 6265bis caps
/// `Max-Age` and `Expires` at 400 days too).
const MAX_COOKIE_AGE: Duration = Duration::from_secs(400 * 86_400);

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
    /// Takes the `Set-Cookie` values of a response to `url`; the names of
    /// the cookies it set (not those it deleted or refused).
    pub(crate) fn store<'h>(
        &mut self,
        url: &Uri,
        set_cookies: impl Iterator<Item = &'h [u8]>,
    ) -> Vec<String> {
        let mut set = Vec::new();
        let Some(host) = url.host().map(|h| h.to_ascii_lowercase()) else {
            return set;
        };
        for raw in set_cookies {
            if raw.len() > MAX_COOKIE_BYTES {
                continue;
            }
            let Ok(text) = std::str::from_utf8(raw) else {
                continue;
            };
            if let Some(cookie) = parse(text, &host, url.path())
                && let Some(name) = self.put(cookie)
            {
                set.push(name);
            }
        }
        set
    }

    /// Keeps `cookie`, replacing its older self; its name unless it was a
    /// deletion.
    fn put(&mut self, cookie: Cookie) -> Option<String> {
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if cookie.expires.is_some_and(|at| at <= SystemTime::now()) {
            return None; // an expiry in the past deletes it
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        let name = cookie.name.clone();
        self.cookies.push(cookie);
        Some(name)
    }

    /// The live cookies a request to `url` carries, longer paths first
    /// (as RFC 6265 §5.4 orders them), then oldest first.
    fn for_url(&self, url: &Uri) -> Vec<&Cookie> {
        let Some(host) = url.host().map(|h| h.to_ascii_lowercase()) else {
            return Vec::new();
        };
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
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        matching
    }

    /// The `Cookie` header value for a request to `url`, if any cookie
    /// applies.
    pub(crate) fn header_for(&self, url: &Uri) -> Option<String> {
        let matching = self.for_url(url);
        if matching.is_empty() {
            return None;
        }
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The value of the cookie `name` a request to `url` would carry.
    pub(crate) fn value(&self, name: &str, url: &Uri) -> Option<&str> {
        self.for_url(url)
            .into_iter()
            .filter(|c| c.name == name)
            .max_by_key(|c| c.path.len()) // the newest of the most specific
            .map(|c| c.value.as_str())
    }
}

/// One `Set-Cookie` value received from `host` for `request_path`; `None`
/// when it is malformed or for a domain the host may not set.
fn parse(text: &str, host: &str, request_path: &str) -> Option<Cookie> {
    let mut parts = text.split(';');
    let (name, value) = parts.next()?.split_once('=')?;
    let name = name.trim();
    let value = value.trim().trim_matches('"');
    // Such a byte would make the whole Cookie header invalid.
    if name.is_empty()
        || [name, value]
            .iter()
            .any(|t| t.chars().any(char::is_control))
    {
        return None;
    }
    let mut cookie = Cookie {
        name: name.to_owned(),
        value: value.to_owned(),
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
                // A single label may be a public suffix (`com`), an address
                // has no subdomains: either is the host's own or nothing.
                let suffix_or_address =
                    !domain.contains('.') || domain.parse::<std::net::IpAddr>().is_ok();
                match (suffix_or_address, domain == host) {
                    (false, _) => {
                        cookie.domain = domain;
                        cookie.host_only = false;
                    }
                    (true, true) => {}
                    (true, false) => return None,
                }
            }
            "path" if val.starts_with('/') => cookie.path = val.to_owned(),
            "expires" => {
                if let Ok(at) = httpdate::parse_http_date(val) {
                    cookie.expires = Some(at.min(latest_expiry()));
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
            let age = Duration::from_secs(seconds.unsigned_abs()).min(MAX_COOKIE_AGE);
            SystemTime::now() + age
        });
    }
    Some(cookie)
}

/// The furthest expiry a cookie may have.
fn latest_expiry() -> SystemTime {
    SystemTime::now() + MAX_COOKIE_AGE
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
        assert_eq!(jar.value("gone", &uri("http://www.shop.test/")), None);
        // A later Max-Age=0 deletes a cookie.
        jar.store(
            &uri("http://www.shop.test/"),
            [&b"shop_session=x; Path=/; Max-Age=0"[..]].into_iter(),
        );
        assert_eq!(
            jar.value("shop_session", &uri("http://www.shop.test/")),
            None
        );
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
        let at = uri("http://shop.test/");
        assert_eq!(jar.value("big", &at), None);
        assert_eq!(jar.value("c199", &at), Some("v"));
        assert_eq!(jar.value("c0", &at), None);
    }

    #[test]
    fn a_huge_max_age_or_expires_keeps_the_cookie_at_most_400_days() {
        let mut jar = CookieJar::default();
        let set: [&[u8]; 3] = [
            b"a=1; Max-Age=9223372036854775807",
            b"b=2; Max-Age=18446744073709551615", // not an i64: no Max-Age
            b"c=3; Expires=Fri, 31 Dec 9999 23:59:59 GMT",
        ];
        jar.store(&uri("http://shop.test/"), set.into_iter());
        assert_eq!(
            jar.header_for(&uri("http://shop.test/")).as_deref(),
            Some("a=1; b=2; c=3")
        );
        let latest = latest_expiry();
        let expiring: Vec<&Cookie> = jar.cookies.iter().filter(|c| c.name != "b").collect();
        assert_eq!(expiring.len(), 2);
        assert!(
            expiring
                .iter()
                .all(|c| c.expires.is_some_and(|at| at <= latest))
        );
    }

    #[test]
    fn a_domain_of_one_label_or_an_address_is_only_the_hosts_own() {
        let mut jar = CookieJar::default();
        let set: [&[u8]; 3] = [
            b"tld=1; Domain=test",
            b"dot=2; Domain=.test",
            b"own=3; Domain=shop.test",
        ];
        jar.store(&uri("http://www.shop.test/"), set.into_iter());
        assert_eq!(jar.header_for(&uri("http://other.test/")), None);
        assert_eq!(
            jar.header_for(&uri("http://www.shop.test/")).as_deref(),
            Some("own=3")
        );
        // From the single-label host itself: kept, for that host alone.
        jar.store(
            &uri("http://localhost/"),
            [&b"local=4; Domain=localhost"[..]].into_iter(),
        );
        assert_eq!(
            jar.header_for(&uri("http://localhost/")).as_deref(),
            Some("local=4")
        );
        assert_eq!(jar.header_for(&uri("http://a.localhost/")), None);
        // An address sets cookies for itself only; a name cannot name one.
        let set: [&[u8]; 2] = [b"ip=5; Domain=127.0.0.1", b"other=6; Domain=0.0.1"];
        jar.store(&uri("http://127.0.0.1/"), set.into_iter());
        jar.store(
            &uri("http://x.127.0.0.1.test/"),
            [&b"name=7; Domain=127.0.0.1"[..]].into_iter(),
        );
        assert_eq!(
            jar.header_for(&uri("http://127.0.0.1/")).as_deref(),
            Some("ip=5")
        );
        assert_eq!(jar.header_for(&uri("http://x.127.0.0.1/")), None);
    }

    #[test]
    fn a_value_is_the_one_the_url_would_carry() {
        let mut jar = CookieJar::default();
        jar.store(
            &uri("http://www.shop.test/"),
            [&b"session=shop; Path=/"[..], b"old=1; Max-Age=1"].into_iter(),
        );
        jar.store(
            &uri("http://evil.test/"),
            [&b"session=evil; Path=/"[..]].into_iter(),
        );
        jar.store(
            &uri("http://www.shop.test/admin/x"),
            [&b"session=admin"[..]].into_iter(),
        );
        assert_eq!(
            jar.value("session", &uri("http://www.shop.test/")),
            Some("shop")
        );
        assert_eq!(
            jar.value("session", &uri("http://www.shop.test/admin/y")),
            Some("admin")
        );
        assert_eq!(
            jar.value("session", &uri("http://evil.test/")),
            Some("evil")
        );
        if let Some(c) = jar.cookies.iter_mut().find(|c| c.name == "old") {
            c.expires = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1));
        }
        assert_eq!(jar.value("old", &uri("http://www.shop.test/")), None);
    }

    #[test]
    fn a_cookie_with_a_control_character_is_dropped_alone() {
        let mut jar = CookieJar::default();
        jar.store(
            &uri("http://shop.test/"),
            [
                "bad=a\u{1}b".as_bytes(),
                b"good=1",
                "caf\u{e9}=cr\u{e8}me".as_bytes(),
            ]
            .into_iter(),
        );
        let header = jar
            .header_for(&uri("http://shop.test/"))
            .unwrap_or_default();
        assert_eq!(header, "good=1; caf\u{e9}=cr\u{e8}me");
    }
}
