//! The check kind `ssh`: an SSH server's banner and host key, proven by the
//! server's signature over a key exchange, against the fingerprint the
//! operator pinned. Its configuration as written, as validated, and the
//! validation between the two.

use serde::Deserialize;
use toml::Spanned;

use crate::load::Loader;

/// The host key algorithms keepup verifies, in the order it asks for them.
pub const HOST_KEY_ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "rsa-sha2-512",
    "rsa-sha2-256",
];

/// `kind = "ssh"`
#[derive(Debug, Clone, PartialEq)]
pub struct SshSpec {
    /// Host name or IP.
    pub host: String,
    /// Port (default 22).
    pub port: u16,
    /// The host key's SHA-256 fingerprint as `ssh-keygen -lf` prints it,
    /// without its `SHA256:` prefix; `None`: reported, not compared.
    pub host_key_sha256: Option<String>,
    /// The host key algorithms offered, in order of preference (the one
    /// configured, or all of [`HOST_KEY_ALGORITHMS`]).
    pub host_key_algorithms: Vec<&'static str>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSsh {
    pub host: Spanned<String>,
    pub port: Option<Spanned<i64>>,
    pub host_key_sha256: Option<Spanned<String>>,
    pub host_key_algorithm: Option<Spanned<String>>,
}

impl Loader<'_> {
    pub(crate) fn ssh(&mut self, raw: RawSsh, path: &str) -> Option<SshSpec> {
        let host = self.host(&raw.host, path);
        let port = match &raw.port {
            Some(p) => self.port(p, path),
            None => Some(22),
        };
        let mut ok = true;
        let host_key_sha256 = match &raw.host_key_sha256 {
            None => None,
            Some(fp) => {
                let text = fp.get_ref().trim();
                let bare = text.strip_prefix("SHA256:").unwrap_or(text);
                // 32 bytes in unpadded base64 are 43 characters.
                let valid = bare.len() == 43
                    && bare
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
                if !valid {
                    self.rep.report(
                        fp.span(),
                        &format!("{path}.host_key_sha256"),
                        format!("{text:?} is not a SHA-256 key fingerprint"),
                        Some(
                            "write it as `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` prints it, e.g. \"SHA256:uJ0n…\" (43 characters after SHA256:)"
                                .into(),
                        ),
                    );
                    ok = false;
                }
                Some(bare.to_owned())
            }
        };
        let host_key_algorithms = match &raw.host_key_algorithm {
            None => HOST_KEY_ALGORITHMS.to_vec(),
            Some(a) => match HOST_KEY_ALGORITHMS.iter().find(|k| **k == a.get_ref()) {
                Some(k) => vec![*k],
                None => {
                    self.rep.report(
                        a.span(),
                        &format!("{path}.host_key_algorithm"),
                        format!("unknown host key algorithm {:?}", a.get_ref()),
                        Some(format!("one of {}", HOST_KEY_ALGORITHMS.join(", "))),
                    );
                    ok = false;
                    Vec::new()
                }
            },
        };
        if !ok {
            return None;
        }
        Some(SshSpec {
            host: host?,
            port: port?,
            host_key_sha256,
            host_key_algorithms,
        })
    }
}
