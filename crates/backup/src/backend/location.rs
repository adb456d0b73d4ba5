//! Where a repository lives, written the way restic writes it, so that an
//! operator can paste the same string into `restic -r`.
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
//!
//! Passwords never appear in a location: `rest:https://user:pw@...` is
//! refused (the REST password comes from the target's options, resolved from
//! env or a file). Host and user names that could be read by `ssh` as an
//! option (a leading `-`) or that carry control characters are refused.

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
}

/// Why a location string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    /// Nothing given.
    #[error("empty repository location")]
    Empty,
    /// A restic backend keepup does not speak.
    #[error(
        "unsupported repository type {0:?}: keepup supports local paths, sftp: and rest: locations"
    )]
    Unsupported(String),
    /// The sftp location is malformed.
    #[error("invalid sftp location: {0}")]
    Sftp(String),
    /// The REST location is malformed.
    #[error("invalid rest location: {0}")]
    Rest(String),
    /// A password was written into the location.
    #[error(
        "the rest location contains a password: put the password in the target's password_env or password_file, not in the URL"
    )]
    PasswordInUrl,
    /// The local path is malformed.
    #[error("invalid local location: {0}")]
    Local(String),
}

/// restic backends that exist but that keepup does not implement: named so
/// that `s3:...` is refused instead of becoming a local directory `s3:...`.
const UNSUPPORTED: &[&str] = &[
    "s3", "b2", "azure", "gs", "swift", "rclone", "opendal", "webdav", "ftp",
];

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
        if let Some(rest) = s.strip_prefix("local:") {
            if rest.is_empty() {
                return Err(LocationError::Local("no path after \"local:\"".into()));
            }
            return Ok(Location::Local {
                path: PathBuf::from(rest),
            });
        }
        if let Some((scheme, _)) = s.split_once(':')
            && UNSUPPORTED.contains(&scheme.to_ascii_lowercase().as_str())
        {
            return Err(LocationError::Unsupported(scheme.to_owned()));
        }
        Ok(Location::Local {
            path: PathBuf::from(s),
        })
    }

    /// A short kind name: `local`, `sftp` or `rest`.
    pub fn kind(&self) -> &'static str {
        match self {
            Location::Local { .. } => "local",
            Location::Sftp { .. } => "sftp",
            Location::Rest { .. } => "rest",
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

/// `sftp://[user@]host[:port]/path` (after the `sftp://`): the path is what
/// follows the first '/', so `//abs` is absolute and `/rel` relative.
fn parse_sftp_url(s: &str) -> Result<Location, LocationError> {
    let Some((authority, path)) = s.split_once('/') else {
        return Err(LocationError::Sftp(
            "no directory: expected sftp://user@host:port//absolute/path".into(),
        ));
    };
    if authority.contains(['?', '#']) || path.contains(['?', '#']) {
        return Err(LocationError::Sftp(
            "query strings and fragments are not allowed".into(),
        ));
    }
    let (user, hp) = match authority.rsplit_once('@') {
        Some((u, hp)) => {
            if u.contains(':') {
                return Err(LocationError::Sftp(
                    "a password in the URL is not supported: use an SSH key (ssh_identity_file)"
                        .into(),
                ));
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
        assert!(matches!(
            Location::parse("s3:s3.amazonaws.com/bucket"),
            Err(LocationError::Unsupported(s)) if s == "s3"
        ));
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
        ] {
            let loc = Location::parse(s).unwrap();
            assert_eq!(loc.to_string(), s);
            assert_eq!(Location::parse(&loc.to_string()).unwrap(), loc);
        }
    }
}
