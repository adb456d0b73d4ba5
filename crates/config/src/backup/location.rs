//! Where a repository lives, written the way restic writes it, so that an
//! operator can paste the same string into `restic -r`. Parsed when the
//! configuration is loaded (a target's `repository`), so `keepup validate`
//! refuses what a backup run would; the backup crate's storage backends
//! take the parsed [`Location`].
//!
//! | form | meaning |
//! |------|---------|
//! | `/srv/backup`, `backup`, `local:/srv/backup` | a directory on this machine |
//! | `sftp:user@host:/srv/restic` | SFTP over `ssh`, absolute path |
//! | `sftp:user@host:restic` | SFTP, path relative to the login directory |
//! | `sftp://user@host:2222//srv/restic` | URL form: port, `//` = absolute |
//! | `sftp://user@host:2222/restic` | URL form, relative path |
//! | `rest:http://host:8000/repo/` | restic REST server protocol v2 |
//! | `rest:https://user@host:8000/repo/` | same over TLS, basic auth user |
//! | `s3:https://host[:port]/bucket[/prefix]` | S3-compatible storage (path-style) |
//! | `s3:http://127.0.0.1:9000/bucket/prefix` | same without TLS (MinIO on loopback) |
//! | `s3:s3.amazonaws.com/bucket/prefix`, `s3://host/bucket` | restic's short forms: https |
//!
//! Passwords never appear in a location: `rest:https://user:pw@...` is
//! refused (the REST password comes from the target's options, resolved from
//! env or a file), and so are S3 credentials (`s3:https://KEY:SECRET@...`);
//! neither is quoted in the error. Host and user names that could be read
//! by `ssh` as an option (a leading `-`) or that carry control characters
//! are refused, and so is any other `scheme:` (restic's `b2:`, `azure:`...,
//! or a typo), rather than taken for a local directory of that name.

use std::fmt;
use std::path::PathBuf;

/// A parsed repository location. [`fmt::Display`] renders it back in
/// restic's syntax (never with a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine.
    Local {
        /// The repository directory.
        path: PathBuf,
    },
    /// A directory on an SFTP server, reached by running `ssh`.
    Sftp {
        /// Login name; `None` lets ssh choose (its config or the local user).
        user: Option<String>,
        /// Host name or IP address (without brackets).
        host: String,
        /// Port from the URL form; `None` = the target options' `ssh_port`
        /// or ssh's default.
        port: Option<u16>,
        /// Repository directory; relative paths are relative to the login
        /// directory (as with restic).
        path: String,
    },
    /// A restic REST server (protocol v2).
    Rest {
        /// `https` (true) or `http`.
        tls: bool,
        /// Basic-auth user; the password is in the target options.
        user: Option<String>,
        /// Host name or IP address (without brackets).
        host: String,
        /// TCP port (default 80 / 443).
        port: u16,
        /// Base path, starting and ending with `/`.
        path: String,
    },
    /// A bucket (and key prefix) on S3-compatible storage, addressed
    /// path-style (`host/bucket/key`).
    S3 {
        /// `https` (true) or `http`.
        tls: bool,
        /// Host name or IP address of the endpoint (without brackets).
        host: String,
        /// Port as written; `None` = 443 / 80.
        port: Option<u16>,
        /// Bucket name.
        bucket: String,
        /// Key prefix of the repository's objects, without leading or
        /// trailing `/` (restic's `path.Clean`); empty = the bucket's root.
        prefix: String,
    },
}

/// Why a location string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Nothing given.
    #[error("the repository is empty")]
    Empty,
    /// A restic backend keepup does not speak, or a typo in the scheme
    /// (only the scheme is quoted: the rest may hold credentials).
    #[error(
        "unsupported repository type {0:?}: keepup supports local paths, sftp:, rest: and s3: locations"
    )]
    Unsupported(String),
    /// The sftp location is malformed.
    #[error("invalid sftp location: {0}")]
    Sftp(String),
    /// The REST location is malformed.
    #[error("invalid rest location: {0}")]
    Rest(String),
    /// The S3 location is malformed.
    #[error("invalid s3 location: {0}")]
    S3(String),
    /// Credentials were written into an S3 location.
    #[error(
        "an s3: repository must not contain credentials ('@'): give them by reference (the target's s3_access_key_id_env/_file and s3_secret_access_key_env/_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )]
    CredentialsInUrl,
    /// A password was written into the location.
    #[error(
        "the rest location contains a password: put the password in the target's rest_password_env or rest_password_file, not in the URL"
    )]
    PasswordInUrl,
    /// The local path is malformed.
    #[error("invalid local location: {0}")]
    Local(String),
}

impl Location {
    /// Parses a location in restic's syntax (see the module documentation).
    pub fn parse(s: &str) -> Result<Location, LocationError> {
        if s.trim().is_empty() {
            return Err(LocationError::Empty);
        }
        if s.chars().any(char::is_control) {
            return Err(LocationError::Local(
                "control characters are not allowed".into(),
            ));
        }
        if let Some(rest) = s.strip_prefix("sftp://") {
            return parse_sftp_url(rest);
        }
        if let Some(rest) = s.strip_prefix("sftp:") {
            return parse_sftp_short(rest);
        }
        if let Some(rest) = s.strip_prefix("rest:") {
            return parse_rest(rest);
        }
        if let Some(rest) = s.strip_prefix("s3:") {
            return parse_s3(rest);
        }
        if let Some(rest) = s.strip_prefix("local:") {
            if rest.is_empty() {
                return Err(LocationError::Local("no path after \"local:\"".into()));
            }
            return Ok(Location::Local {
                path: PathBuf::from(rest),
            });
        }
        // restic's other backends (`b2:`, `azure:`, `rclone:`...) and
        // misspelt schemes; a one-letter prefix is left to be a path.
        if let Some((scheme, _)) = s.split_once(':')
            && scheme.len() > 1
            && !scheme.contains('/')
        {
            return Err(LocationError::Unsupported(scheme.to_owned()));
        }
        Ok(Location::Local {
            path: PathBuf::from(s),
        })
    }

    /// A short kind name: `local`, `sftp`, `rest` or `s3`.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Local { .. } => "local",
            Location::Sftp { .. } => "sftp",
            Location::Rest { .. } => "rest",
            Location::S3 { .. } => "s3",
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local { path } => write!(f, "local:{}", path.display()),
            Location::Sftp {
                user,
                host,
                port,
                path,
            } => {
                // The URL form says everything; the short one cannot carry a
                // port or an IPv6 address.
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                let short = format!("sftp:{user}{host}:{path}");
                // The short form only when it reads back as the same
                // location (odd characters in a user or host name can make
                // it ambiguous; found by fuzzing).
                if port.is_none()
                    && !host.contains(':')
                    && Location::parse(&short).is_ok_and(|l| l == *self)
                {
                    write!(f, "{short}")
                } else {
                    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                    write!(f, "sftp://{user}{}{port}/{path}", bracket(host))
                }
            }
            Location::Rest {
                tls,
                user,
                host,
                port,
                path,
            } => {
                let scheme = if *tls { "https" } else { "http" };
                let user = user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
                write!(f, "rest:{scheme}://{user}{}:{port}{path}", bracket(host))
            }
            Location::S3 {
                tls,
                host,
                port,
                bucket,
                prefix,
            } => {
                let scheme = if *tls { "https" } else { "http" };
                let port = port.map(|p| format!(":{p}")).unwrap_or_default();
                let prefix = if prefix.is_empty() {
                    String::new()
                } else {
                    format!("/{prefix}")
                };
                write!(f, "s3:{scheme}://{}{port}/{bucket}{prefix}", bracket(host))
            }
        }
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A host name or address ssh and TCP can use; `err` builds the error.
fn check_host(host: &str, err: fn(String) -> LocationError) -> Result<(), LocationError> {
    if host.is_empty() {
        return Err(err("no host name".into()));
    }
    if host.starts_with('-') {
        return Err(err(format!("host {host:?} starts with '-'")));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '/' | '@' | '[' | ']' | '?' | '#' | '\\'))
    {
        return Err(err(format!("host {host:?} contains a forbidden character")));
    }
    Ok(())
}

fn check_user(user: &str, err: fn(String) -> LocationError) -> Result<(), LocationError> {
    if user.is_empty() {
        return Err(err("empty user name before '@'".into()));
    }
    if user.starts_with('-') {
        return Err(err(format!("user {user:?} starts with '-'")));
    }
    if user.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(err(format!("user {user:?} contains a forbidden character")));
    }
    Ok(())
}

/// Splits `host[:port]` or `[v6][:port]`.
fn split_host_port(
    hp: &str,
    err: fn(String) -> LocationError,
) -> Result<(String, Option<u16>), LocationError> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(err(format!("unclosed '[' in {hp:?}")));
        };
        match after {
            "" => (h, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(err(format!("unexpected {after:?} after ']'"))),
            },
        }
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => {
                return Err(err(format!(
                    "IPv6 address {hp:?} must be written in brackets, like [::1]"
                )));
            }
            None => (hp, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(err(format!("invalid port {p:?}"))),
        },
    };
    check_host(host, err)?;
    Ok((host.to_owned(), port))
}

fn check_sftp_path(path: &str) -> Result<(), LocationError> {
    if path.is_empty() || path == "/" {
        return Err(LocationError::Sftp("no repository directory given".into()));
    }
    if path.starts_with('~') {
        // As restic: most SFTP servers do not expand `~`.
        return Err(LocationError::Sftp(
            "the path starts with '~', which SFTP servers do not expand; use a relative path (relative to the login directory)".into(),
        ));
    }
    Ok(())
}

/// `sftp:[user@]host:path`: as restic, the first ':' (outside brackets)
/// ends `user@host`, and the last '@' in that separates the user (which may
/// itself contain '@').
fn parse_sftp_short(s: &str) -> Result<Location, LocationError> {
    let mut in_brackets = false;
    let mut colon = None;
    for (i, c) in s.char_indices() {
        match c {
            '[' => in_brackets = true,
            ']' => in_brackets = false,
            ':' if !in_brackets => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(colon) = colon else {
        return Err(LocationError::Sftp(
            "expected sftp:user@host:/path (host and path separated by ':')".into(),
        ));
    };
    let (user_host, path) = (&s[..colon], &s[colon + 1..]);
    // `user:password@host:/path` splits at the password's ':'; refuse it
    // before any part of it can be quoted in a message.
    if path.rfind('@').is_some_and(|at| path[at..].contains(':')) {
        return Err(sftp_password());
    }
    let (user, host) = match user_host.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, user_host),
    };
    let host = match host.strip_prefix('[') {
        Some(h) => h
            .strip_suffix(']')
            .ok_or_else(|| LocationError::Sftp("unclosed '['".into()))?,
        None => host,
    };
    if let Some(u) = user {
        check_user(u, LocationError::Sftp)?;
    }
    check_host(host, LocationError::Sftp)?;
    check_sftp_path(path)?;
    Ok(Location::Sftp {
        user: user.map(str::to_owned),
        host: host.to_owned(),
        port: None,
        path: path.to_owned(),
    })
}

/// The error for a password written into an sftp location (it is never
/// quoted).
fn sftp_password() -> LocationError {
    LocationError::Sftp(
        "a password in the location is not supported: use an SSH key (ssh_identity_file)".into(),
    )
}

/// `sftp://[user@]host[:port]/path` (after the `sftp://`): the path is what
/// follows the first '/', so `//abs` is absolute and `/rel` relative.
fn parse_sftp_url(s: &str) -> Result<Location, LocationError> {
    let Some((authority, path)) = s.split_once('/') else {
        return Err(LocationError::Sftp(
            "no directory: expected sftp://user@host:port//absolute/path".into(),
        ));
    };
    // A password with a '/' moves the '@' into the path: refuse before any
    // part of it can be quoted in a message.
    if authority.contains(':') && path.contains('@') {
        return Err(sftp_password());
    }
    if authority.contains(['?', '#']) || path.contains(['?', '#']) {
        return Err(LocationError::Sftp(
            "query strings and fragments are not allowed".into(),
        ));
    }
    let (user, hp) = match authority.rsplit_once('@') {
        Some((u, hp)) => {
            if u.contains(':') {
                return Err(sftp_password());
            }
            check_user(u, LocationError::Sftp)?;
            (Some(u.to_owned()), hp)
        }
        None => (None, authority),
    };
    let (host, port) = split_host_port(hp, LocationError::Sftp)?;
    check_sftp_path(path)?;
    Ok(Location::Sftp {
        user,
        host,
        port,
        path: path.to_owned(),
    })
}

/// `rest:http(s)://[user@]host[:port][/path/]`.
fn parse_rest(s: &str) -> Result<Location, LocationError> {
    let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(LocationError::Rest(
            "expected rest:http://host:port/path/ or rest:https://...".into(),
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // A password with a '/' moves the '@' into the path (and could pass for
    // a host and port): refuse before any part of it can be quoted.
    if path.contains('@') {
        return Err(LocationError::PasswordInUrl);
    }
    if path.contains(['?', '#']) || authority.contains(['?', '#']) {
        return Err(LocationError::Rest(
            "query strings and fragments are not allowed".into(),
        ));
    }
    if path.chars().any(|c| c.is_whitespace() || c == '%') {
        return Err(LocationError::Rest(format!(
            "path {path:?} contains a space or a '%'"
        )));
    }
    let (user, hp) = match authority.rsplit_once('@') {
        Some((u, hp)) => {
            if u.contains(':') {
                return Err(LocationError::PasswordInUrl);
            }
            check_user(u, LocationError::Rest)?;
            (Some(u.to_owned()), hp)
        }
        None => (None, authority),
    };
    let (host, port) = split_host_port(hp, LocationError::Rest)?;
    let mut path = path.to_owned();
    if !path.ends_with('/') {
        path.push('/');
    }
    Ok(Location::Rest {
        tls,
        user,
        host,
        port: port.unwrap_or(if tls { 443 } else { 80 }),
        path,
    })
}

/// `s3:http(s)://host[:port]/bucket[/prefix]`, or restic's short forms
/// `s3://host/bucket[/prefix]` and `s3:host/bucket[/prefix]` (https).
fn parse_s3(s: &str) -> Result<Location, LocationError> {
    let (tls, rest) = if let Some(r) = s.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = s.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = s.strip_prefix("//") {
        (true, r)
    } else {
        (true, s)
    };
    // Before anything that could quote a part in a message: a secret key
    // may contain '/', so the authority cannot be told from the path.
    if rest.contains('@') {
        return Err(LocationError::CredentialsInUrl);
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    if authority.contains(['?', '#']) || path.contains(['?', '#']) {
        return Err(LocationError::S3(
            "query strings and fragments are not allowed".into(),
        ));
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || c == '%' || c == '\\')
    {
        return Err(LocationError::S3(
            "the bucket or prefix contains a space, a '%' or a '\\'".into(),
        ));
    }
    let (host, port) = split_host_port(authority, LocationError::S3)?;
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    check_bucket(bucket)?;
    Ok(Location::S3 {
        tls,
        host,
        port,
        bucket: bucket.to_owned(),
        prefix: clean_prefix(prefix)?,
    })
}

/// A bucket name S3-compatible servers accept and that needs no escaping
/// in a path: letters, digits, `.`, `-`, `_` (AWS itself is stricter).
fn check_bucket(bucket: &str) -> Result<(), LocationError> {
    if bucket.is_empty() {
        return Err(LocationError::S3(
            "no bucket: expected s3:https://host/bucket/prefix".into(),
        ));
    }
    if bucket.len() > 255
        || bucket.starts_with(['-', '.'])
        || !bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(LocationError::S3(format!(
            "invalid bucket name {bucket:?} (letters, digits, '.', '-' and '_')"
        )));
    }
    Ok(())
}

/// The prefix as restic's `path.Clean` leaves it, without the leading and
/// trailing `/`: empty and `.` segments dropped; `..` refused.
fn clean_prefix(prefix: &str) -> Result<String, LocationError> {
    let mut parts = Vec::new();
    for seg in prefix.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(LocationError::S3(
                    "'..' is not allowed in the prefix".into(),
                ));
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sftp(user: Option<&str>, host: &str, port: Option<u16>, path: &str) -> Location {
        Location::Sftp {
            user: user.map(str::to_owned),
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn local_forms() {
        assert_eq!(
            Location::parse("/srv/backup").unwrap(),
            Location::Local {
                path: "/srv/backup".into()
            }
        );
        assert_eq!(
            Location::parse("local:/srv/b").unwrap(),
            Location::Local {
                path: "/srv/b".into()
            }
        );
        assert_eq!(
            Location::parse("rel/dir").unwrap(),
            Location::Local {
                path: "rel/dir".into()
            }
        );
        assert_eq!(
            Location::parse("local:").unwrap_err(),
            LocationError::Local("no path after \"local:\"".into())
        );
        assert_eq!(Location::parse("  ").unwrap_err(), LocationError::Empty);
        for (text, scheme) in [("b2:bucket:path", "b2"), ("sfpt:host:/r", "sfpt")] {
            assert!(
                matches!(Location::parse(text), Err(LocationError::Unsupported(ref s)) if s == scheme),
                "{text}"
            );
        }
        // A one-letter prefix is a path, not a scheme.
        assert_eq!(
            Location::parse("c:/x").unwrap(),
            Location::Local {
                path: "c:/x".into()
            }
        );
        assert!(Location::parse("/srv/a\nb").is_err());
    }

    #[test]
    fn sftp_short_form() {
        assert_eq!(
            Location::parse("sftp:backup@host.example:/srv/restic").unwrap(),
            sftp(Some("backup"), "host.example", None, "/srv/restic")
        );
        assert_eq!(
            Location::parse("sftp:host:repo").unwrap(),
            sftp(None, "host", None, "repo")
        );
        assert_eq!(
            Location::parse("sftp:a@b@host:/r").unwrap(),
            sftp(Some("a@b"), "host", None, "/r")
        );
        assert_eq!(
            Location::parse("sftp:u@host:/p@x").unwrap(),
            sftp(Some("u"), "host", None, "/p@x")
        );
        assert_eq!(
            Location::parse("sftp:u@[::1]:/r").unwrap(),
            sftp(Some("u"), "::1", None, "/r")
        );
        for bad in [
            "sftp:host",
            "sftp:host:",
            "sftp:-oProxyCommand=x:/r",
            "sftp:-u@host:/r",
            "sftp:@host:/r",
            "sftp:u@host:~/r",
            "sftp::/r",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(LocationError::Sftp(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sftp_url_form() {
        assert_eq!(
            Location::parse("sftp://u@host:2222//srv/restic").unwrap(),
            sftp(Some("u"), "host", Some(2222), "/srv/restic")
        );
        assert_eq!(
            Location::parse("sftp://host/repo").unwrap(),
            sftp(None, "host", None, "repo")
        );
        assert_eq!(
            Location::parse("sftp://u@[::1]:22//r").unwrap(),
            sftp(Some("u"), "::1", Some(22), "/r")
        );
        for bad in [
            "sftp://host",
            "sftp://host/",
            "sftp://u:pw@host//r",
            "sftp://host:0//r",
            "sftp://host:99999//r",
            "sftp://host:x//r",
            "sftp://::1//r",
            "sftp://[::1//r",
            "sftp://-host//r",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(LocationError::Sftp(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rest_forms() {
        assert_eq!(
            Location::parse("rest:http://127.0.0.1:8000/repo").unwrap(),
            Location::Rest {
                tls: false,
                user: None,
                host: "127.0.0.1".into(),
                port: 8000,
                path: "/repo/".into()
            }
        );
        assert_eq!(
            Location::parse("rest:https://bob@backup.example/").unwrap(),
            Location::Rest {
                tls: true,
                user: Some("bob".into()),
                host: "backup.example".into(),
                port: 443,
                path: "/".into()
            }
        );
        assert_eq!(
            Location::parse("rest:http://[::1]:8000").unwrap(),
            Location::Rest {
                tls: false,
                user: None,
                host: "::1".into(),
                port: 8000,
                path: "/".into()
            }
        );
        assert_eq!(
            Location::parse("rest:https://bob:secret@h/").unwrap_err(),
            LocationError::PasswordInUrl
        );
        // The password must not leak into the message either.
        let msg = Location::parse("rest:https://bob:secret@h/")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("secret"));
        // Nor a password with a '/' in it, which moves the '@' past the
        // first '/' (and once parsed as host "bob", port 1234).
        for (loc, secret) in [
            ("rest:https://bob:pw9x/cret@h/", "pw9x"),
            ("rest:https://bob:1234/x@h/", "1234"),
            ("sftp://bob:pw9x/cret@h//srv", "pw9x"),
            ("sftp:bob:pw9x/cret@h:/srv", "pw9x"),
            ("sftp:bob:pw9xcret@h:/srv", "pw9x"),
        ] {
            let err = Location::parse(loc).expect_err(loc);
            assert!(!err.to_string().contains(secret), "{loc}: {err}");
        }
        for bad in [
            "rest:ftp://h/",
            "rest:h:8000/",
            "rest:http://",
            "rest:http://h:port/",
            "rest:http://h/?x=1",
            "rest:http://h/a b/",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(LocationError::Rest(_))),
                "{bad}"
            );
        }
    }

    fn s3(tls: bool, host: &str, port: Option<u16>, bucket: &str, prefix: &str) -> Location {
        Location::S3 {
            tls,
            host: host.into(),
            port,
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn s3_forms() {
        for (text, want) in [
            (
                "s3:http://127.0.0.1:9000/bucket/prefix",
                s3(false, "127.0.0.1", Some(9000), "bucket", "prefix"),
            ),
            (
                "s3:https://minio.example/backups",
                s3(true, "minio.example", None, "backups", ""),
            ),
            (
                "s3:https://minio.example/backups/",
                s3(true, "minio.example", None, "backups", ""),
            ),
            (
                "s3:https://[::1]:9000/b/shop/db//./x/",
                s3(true, "::1", Some(9000), "b", "shop/db/x"),
            ),
            // restic's short forms mean https.
            (
                "s3:s3.amazonaws.com/bucket/restic",
                s3(true, "s3.amazonaws.com", None, "bucket", "restic"),
            ),
            (
                "s3://s3.eu-central-1.amazonaws.com:443/my_bucket",
                s3(
                    true,
                    "s3.eu-central-1.amazonaws.com",
                    Some(443),
                    "my_bucket",
                    "",
                ),
            ),
        ] {
            assert_eq!(Location::parse(text).unwrap(), want, "{text}");
        }
        for bad in [
            "s3:",
            "s3:http://",
            "s3:http://host",
            "s3:http://host/",
            "s3:http://host:0/b",
            "s3:http://host:x/b",
            "s3:http://-host/b",
            "s3:http://host/-b",
            "s3:http://host/b%20c",
            "s3:http://host/b/p?x=1",
            "s3:http://host/b/a b",
            "s3:http://host/b/../x",
            "s3:http://host/B!",
        ] {
            assert!(
                matches!(Location::parse(bad), Err(LocationError::S3(_))),
                "{bad}: {:?}",
                Location::parse(bad)
            );
        }
    }

    #[test]
    fn s3_credentials_in_the_url_are_refused_without_echo() {
        for bad in [
            "s3:https://AKIAEXAMPLE:wJalrXUtnFEMI@host/bucket",
            "s3:http://AKIAEXAMPLE@127.0.0.1:9000/bucket",
            "s3:AKIAEXAMPLE:wJalrXUtnFEMI@host/bucket",
            "s3:https://AKIAEXAMPLE:wJalr/XUtnFEMI@host/bucket",
        ] {
            let err = Location::parse(bad).unwrap_err();
            assert_eq!(err, LocationError::CredentialsInUrl, "{bad}");
            let msg = err.to_string();
            assert!(!msg.contains("wJalrXUtnFEMI"), "{msg}");
            assert!(!msg.contains("AKIAEXAMPLE"), "{msg}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "local:/srv/backup",
            "sftp:u@host:/srv/restic",
            "sftp:host:repo",
            "sftp://u@host:2222//srv/restic",
            "sftp://u@[::1]//r",
            "rest:http://127.0.0.1:8000/repo/",
            "rest:https://bob@[::1]:443/",
            "s3:http://127.0.0.1:9000/bucket/prefix",
            "s3:https://s3.amazonaws.com/bucket",
            "s3:https://[::1]:9000/b/a/b/c",
        ] {
            let loc = Location::parse(s).unwrap();
            assert_eq!(loc.to_string(), s);
            assert_eq!(Location::parse(&loc.to_string()).unwrap(), loc);
        }
    }
}
