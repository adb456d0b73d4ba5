//! SSH checks: the server's banner and host key, with the key proven.
//!
//! keepup speaks SSH's transport layer (RFC 4253) up to the server's signed
//! key exchange reply and no further: banners, both KEXINITs, then
//! curve25519-sha256 (RFC 8731). The server signs the exchange hash with
//! its host key; keepup verifies that signature (ssh-ed25519,
//! ecdsa-sha2-nistp256, rsa-sha2-512/256, with aws-lc-rs), so the
//! fingerprint it reports belongs to a key the server holds, not just one
//! it names. The fingerprint is SHA-256 over the key blob, in unpadded
//! base64, as `ssh-keygen -lf` prints it. Nothing is encrypted or
//! authenticated afterwards: keepup disconnects.
//!
//! Reads are bounded: the banner lines to 255 bytes and 32 lines, a packet
//! to [`MAX_PACKET_BYTES`], every wait to the check's deadline.

use aws_lc_rs::{agreement, digest, rand, signature};
use keepup_config::SshSpec;
use keepup_model::text::base64;
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::util::{Fail, connect_first, escape_received, failed, finish, io_reason, ms};

/// A packet larger than this is refused (RFC 4253 asks implementations to
/// take 35,000 bytes; a KEXINIT or an RSA host key is far smaller).
pub const MAX_PACKET_BYTES: usize = 64 * 1024;

/// What keepup says it is.
const CLIENT_VERSION: &str = concat!("SSH-2.0-keepup_", env!("CARGO_PKG_VERSION"));

/// The key exchange keepup does (its pre-standard name too).
const KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org";

/// Ciphers, MACs and compression offered only so that a server finds
/// something in common: the exchange stops before any is used.
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr";
const MACS: &str =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512";
const COMPRESSION: &str = "none,zlib@openssh.com";

const MSG_DISCONNECT: u8 = 1;
const MSG_IGNORE: u8 = 2;
const MSG_UNIMPLEMENTED: u8 = 3;
const MSG_DEBUG: u8 = 4;
const MSG_KEXINIT: u8 = 20;
const MSG_KEX_ECDH_INIT: u8 = 30;
const MSG_KEX_ECDH_REPLY: u8 = 31;

/// Runs one SSH check.
pub async fn probe(spec: &SshSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let resolution = match ctx.resolve(&spec.host, spec.port).await {
        Ok(r) => r,
        Err(fail) => return failed(&ctx, fail, started),
    };
    let mut timing = TimingBreakdown {
        dns_ms: resolution.dns.map(ms),
        ..TimingBreakdown::default()
    };
    let first = match attempt(&ctx, &resolution.addrs, &spec.host_key_algorithms).await {
        Ok(a) => a,
        Err(fail) => return failed(&ctx, fail, started),
    };
    timing.connect_ms = Some(ms(first.connect));
    let mut outcome = Outcome::new(Status::Up, "");
    outcome
        .evidence
        .insert("remote_address", first.remote.to_string());
    let mut proven = match first.exchange {
        Ok(proven) => proven,
        Err(fail) => {
            timing.total_ms = Some(ms(started.elapsed()));
            outcome.evidence.timing = Some(timing);
            outcome.push(fail.into_finding(&ctx));
            return finish(outcome, String::new(), started);
        }
    };
    let mut shown = vec![proven.key()];
    let mut unproven = Vec::new();
    if let Some(pinned) = &spec.host_key_sha256
        && *pinned != proven.fingerprint
        && spec.host_key_algorithms.len() > 1
    {
        // A server with several host keys shows the one of the first
        // algorithm both sides know; the pinned key may be another of
        // its keys, each proven by a key exchange of its own.
        let mut tried = vec![key_type_of(proven.algorithm)];
        let others: Vec<&'static str> = spec
            .host_key_algorithms
            .iter()
            .copied()
            .filter(|a| proven.offered_host_keys.split(',').any(|o| o == *a))
            .collect();
        for algorithm in others {
            if tried.contains(&key_type_of(algorithm)) {
                continue;
            }
            tried.push(key_type_of(algorithm));
            let exchange = match attempt(&ctx, &resolution.addrs, &[algorithm]).await {
                Ok(a) => a.exchange,
                Err(fail) => Err(fail),
            };
            match exchange {
                Ok(other) if other.fingerprint == *pinned => {
                    proven = other;
                    break;
                }
                Ok(other) => shown.push(other.key()),
                Err(fail) => {
                    unproven.push(format!("{algorithm}: {}", fail.into_finding(&ctx).text))
                }
            }
        }
    }
    timing.total_ms = Some(ms(started.elapsed()));
    outcome.evidence.timing = Some(timing);
    let evidence = &mut outcome.evidence;
    evidence.insert("banner", proven.banner.clone());
    evidence.insert("kex", proven.kex.clone());
    evidence.insert("host_key_algorithm", proven.algorithm);
    evidence.insert("host_key_sha256", format!("SHA256:{}", proven.fingerprint));
    let key = proven.key();
    let ok = match &spec.host_key_sha256 {
        Some(pinned) if *pinned == proven.fingerprint => format!("host key {key} as pinned"),
        Some(pinned) => {
            let mut text = format!(
                "the host key changed: the server proved {}, the pinned key is SHA256:{pinned}",
                shown.join(" and ")
            );
            if !unproven.is_empty() {
                text.push_str(&format!(" (not proven: {})", unproven.join("; ")));
            }
            outcome.push(Finding::new(
                codes::SSH_HOST_KEY_CHANGED,
                Severity::Critical,
                text,
            ));
            String::new()
        }
        None => format!("host key {key}"),
    };
    finish(outcome, ok, started)
}

/// One connection and key exchange offering `host_key_algorithms`.
struct Attempt {
    remote: std::net::SocketAddr,
    connect: std::time::Duration,
    exchange: Result<Proven, Fail>,
}

/// Connects, exchanges keys and disconnects; a failed connection is the
/// error, a failed exchange is in the [`Attempt`].
async fn attempt(
    ctx: &ProbeContext,
    addrs: &[std::net::SocketAddr],
    host_key_algorithms: &[&'static str],
) -> Result<Attempt, Fail> {
    let connected = connect_first(ctx, addrs).await?;
    let mut stream = BufReader::new(connected.stream);
    let exchange = match ctx
        .within(
            "exchanging keys",
            exchange(&mut stream, host_key_algorithms),
        )
        .await
    {
        Ok(result) => result,
        Err(timeout) => Err(timeout),
    };
    // Polite, and not waited for: the answer is in.
    let _ = tokio::time::timeout_at(
        ctx.deadline_within(std::time::Duration::from_millis(200)),
        stream.get_mut().write_all(&disconnect()),
    )
    .await;
    Ok(Attempt {
        remote: connected.remote,
        connect: connected.elapsed,
        exchange,
    })
}

/// The key type a host key algorithm signs with (both RSA algorithms
/// use one `ssh-rsa` key).
fn key_type_of(algorithm: &str) -> &str {
    match algorithm {
        "rsa-sha2-512" | "rsa-sha2-256" => "ssh-rsa",
        other => other,
    }
}

/// What the exchange proved.
struct Proven {
    banner: String,
    kex: String,
    algorithm: &'static str,
    key_type: String,
    fingerprint: String,
    /// The host key algorithms the server's KEXINIT offered.
    offered_host_keys: String,
}

impl Proven {
    /// `ssh-ed25519 SHA256:...`
    fn key(&self) -> String {
        format!("{} SHA256:{}", self.key_type, self.fingerprint)
    }
}

/// SHA-256 over the key blob in unpadded base64, as `ssh-keygen -lf`
/// prints it (without `SHA256:`).
fn fingerprint(host_key: &[u8]) -> String {
    base64(digest::digest(&digest::SHA256, host_key).as_ref())
        .trim_end_matches('=')
        .to_owned()
}

async fn exchange<S>(
    stream: &mut BufReader<S>,
    host_key_algorithms: &[&'static str],
) -> Result<Proven, Fail>
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let io = |what: &str, e: std::io::Error| protocol(format!("{what}: {}", io_reason(&e)));
    stream
        .get_mut()
        .write_all(format!("{CLIENT_VERSION}\r\n").as_bytes())
        .await
        .map_err(|e| io("sending the version", e))?;
    let banner = read_banner(stream).await?;
    let client_kexinit = kexinit(host_key_algorithms)?;
    stream
        .get_mut()
        .write_all(&packet(&client_kexinit))
        .await
        .map_err(|e| io("sending KEXINIT", e))?;
    let server_kexinit = read_message(stream, MSG_KEXINIT).await?;
    let offered = ServerOffer::parse(&server_kexinit)?;
    let kex = choose(KEX, &offered.kex).ok_or_else(|| {
        Fail::Finding(Finding::new(
            codes::SSH_NO_COMMON_ALGORITHM,
            Severity::Critical,
            format!(
                "the server offers no key exchange keepup verifies (it offers {}; keepup: curve25519-sha256)",
                offered.kex
            ),
        ))
    })?;
    let algorithm = host_key_algorithms
        .iter()
        .copied()
        .find(|a| offered.host_key.split(',').any(|o| o == *a))
        .ok_or_else(|| {
            Fail::Finding(Finding::new(
                codes::SSH_NO_COMMON_ALGORITHM,
                Severity::Critical,
                format!(
                    "the server offers no host key algorithm keepup asks for (it offers {}; keepup: {})",
                    offered.host_key,
                    host_key_algorithms.join(",")
                ),
            ))
        })?;

    let rng = rand::SystemRandom::new();
    let private = agreement::EphemeralPrivateKey::generate(&agreement::X25519, &rng)
        .map_err(|_| internal("cannot make an X25519 key"))?;
    let public = private
        .compute_public_key()
        .map_err(|_| internal("cannot compute the X25519 public key"))?;
    let mut init = vec![MSG_KEX_ECDH_INIT];
    put_string(&mut init, public.as_ref());
    stream
        .get_mut()
        .write_all(&packet(&init))
        .await
        .map_err(|e| io("sending the key exchange", e))?;
    let reply = read_message(stream, MSG_KEX_ECDH_REPLY).await?;
    let mut r = Reader(&reply[1..]);
    let host_key = r.string()?;
    let server_public = r.string()?;
    let signature_blob = r.string()?;
    let shared = agreement::agree_ephemeral(
        private,
        agreement::UnparsedPublicKey::new(&agreement::X25519, server_public),
        (),
        |k| Ok(k.to_vec()),
    )
    .map_err(|()| protocol("the server's key exchange value is not an X25519 public key".into()))?;

    let mut hashed = Vec::new();
    put_string(&mut hashed, CLIENT_VERSION.as_bytes());
    put_string(&mut hashed, banner.as_bytes());
    put_string(&mut hashed, &client_kexinit);
    put_string(&mut hashed, &server_kexinit);
    put_string(&mut hashed, host_key);
    put_string(&mut hashed, public.as_ref());
    put_string(&mut hashed, server_public);
    put_mpint(&mut hashed, &shared);
    let exchange_hash = digest::digest(&digest::SHA256, &hashed);
    let key_type = verify(algorithm, host_key, signature_blob, exchange_hash.as_ref())?;
    Ok(Proven {
        banner,
        kex: kex.to_owned(),
        algorithm,
        key_type,
        fingerprint: fingerprint(host_key),
        offered_host_keys: offered.host_key,
    })
}

/// Verifies the server's signature of the exchange hash with `host_key`;
/// returns the key's type.
fn verify(
    algorithm: &str,
    host_key: &[u8],
    signature_blob: &[u8],
    exchange_hash: &[u8],
) -> Result<String, Fail> {
    let mut key = Reader(host_key);
    let key_type = String::from_utf8_lossy(key.string()?).into_owned();
    let mut sig = Reader(signature_blob);
    let sig_algorithm = String::from_utf8_lossy(sig.string()?).into_owned();
    let sig_data = sig.string()?;
    if sig_algorithm != algorithm {
        return Err(invalid_signature(format!(
            "the server signed with {sig_algorithm}, not the agreed {algorithm}"
        )));
    }
    let verified = match algorithm {
        "ssh-ed25519" if key_type == "ssh-ed25519" => {
            let public = key.string()?;
            signature::UnparsedPublicKey::new(&signature::ED25519, public)
                .verify(exchange_hash, sig_data)
                .is_ok()
        }
        "ecdsa-sha2-nistp256" if key_type == "ecdsa-sha2-nistp256" => {
            let _curve = key.string()?;
            let point = key.string()?;
            let mut rs = Reader(sig_data);
            let (r, s) = (rs.string()?, rs.string()?);
            let mut fixed = Vec::with_capacity(64);
            for part in [r, s] {
                let part = strip_zeros(part);
                if part.len() > 32 {
                    return Err(invalid_signature(
                        "an ECDSA signature value is too long".into(),
                    ));
                }
                fixed.extend(std::iter::repeat_n(0u8, 32 - part.len()));
                fixed.extend_from_slice(part);
            }
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(exchange_hash, &fixed)
                .is_ok()
        }
        "rsa-sha2-512" | "rsa-sha2-256" if key_type == "ssh-rsa" => {
            let e = strip_zeros(key.string()?);
            let n = strip_zeros(key.string()?);
            let bits = rsa_bits(n);
            if bits < 2048 {
                return Err(Fail::Finding(Finding::new(
                    codes::SSH_HOST_KEY_WEAK,
                    Severity::Critical,
                    format!(
                        "the server's RSA host key SHA256:{} has {bits} bits; keepup trusts RSA keys of 2048 bits or more",
                        fingerprint(host_key)
                    ),
                )));
            }
            let params = if algorithm == "rsa-sha2-512" {
                &signature::RSA_PKCS1_2048_8192_SHA512
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(params, exchange_hash, sig_data)
                .is_ok()
        }
        _ => {
            return Err(invalid_signature(format!(
                "the server sent a {key_type} key for {algorithm}"
            )));
        }
    };
    if verified {
        Ok(key_type)
    } else {
        Err(invalid_signature(format!(
            "the server's {algorithm} signature of the key exchange does not verify with the {key_type} key it sent"
        )))
    }
}

/// The length in bits of an RSA modulus without leading zero bytes.
fn rsa_bits(n: &[u8]) -> usize {
    match n.first() {
        Some(top) => n.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    }
}

/// The server's identification line (RFC 4253 4.2): lines before it are
/// skipped, at most 32 of them.
async fn read_banner<S: AsyncRead + Unpin>(stream: &mut BufReader<S>) -> Result<String, Fail> {
    for _ in 0..32 {
        let mut line = Vec::new();
        loop {
            let byte = stream.read_u8().await.map_err(|e| {
                protocol(format!(
                    "the connection ended before an SSH version line: {}",
                    io_reason(&e)
                ))
            })?;
            if byte == b'\n' {
                break;
            }
            if line.len() >= 255 {
                return Err(protocol(format!(
                    "not an SSH server: a line longer than 255 bytes ({}…)",
                    escape_received(&line, 40)
                )));
            }
            line.push(byte);
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.starts_with(b"SSH-") {
            let text = String::from_utf8_lossy(&line).into_owned();
            if !(text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-")) {
                return Err(protocol(format!(
                    "the server speaks an SSH version keepup does not: {}",
                    escape_received(&line, 80)
                )));
            }
            return Ok(text);
        }
    }
    Err(protocol(
        "not an SSH server: no SSH version line in the first 32 lines".into(),
    ))
}

/// The next message of type `wanted`, skipping IGNORE, DEBUG and
/// UNIMPLEMENTED; a DISCONNECT or anything else is a protocol error.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut BufReader<S>,
    wanted: u8,
) -> Result<Vec<u8>, Fail> {
    for _ in 0..64 {
        let length = stream
            .read_u32()
            .await
            .map_err(|e| protocol(format!("the connection ended: {}", io_reason(&e))))?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if !(5..=MAX_PACKET_BYTES).contains(&length) {
            return Err(protocol(format!(
                "a packet of {length} bytes (at most {MAX_PACKET_BYTES})"
            )));
        }
        let mut body = vec![0u8; length];
        stream
            .read_exact(&mut body)
            .await
            .map_err(|e| protocol(format!("a packet broke off: {}", io_reason(&e))))?;
        let padding = usize::from(body[0]);
        if padding + 2 > length {
            return Err(protocol(
                "a packet's padding is longer than the packet".into(),
            ));
        }
        let payload = body[1..length - padding].to_vec();
        match payload[0] {
            t if t == wanted => return Ok(payload),
            MSG_IGNORE | MSG_DEBUG | MSG_UNIMPLEMENTED => continue,
            MSG_DISCONNECT => {
                let mut r = Reader(&payload[1..]);
                let _code = r.u32();
                let reason = r
                    .string()
                    .map(|s| escape_received(s, 200))
                    .unwrap_or_default();
                return Err(protocol(format!(
                    "the server disconnected during the key exchange: {reason}"
                )));
            }
            other => {
                return Err(protocol(format!(
                    "message {other} where message {wanted} was expected"
                )));
            }
        }
    }
    Err(protocol(
        "more than 64 messages before the key exchange".into(),
    ))
}

/// What the server's KEXINIT offers.
struct ServerOffer {
    kex: String,
    host_key: String,
}

impl ServerOffer {
    fn parse(payload: &[u8]) -> Result<Self, Fail> {
        let mut r = Reader(payload.get(17..).unwrap_or_default());
        let kex = String::from_utf8_lossy(r.string()?).into_owned();
        let host_key = String::from_utf8_lossy(r.string()?).into_owned();
        Ok(Self { kex, host_key })
    }
}

/// The first of `ours` (comma-separated) that `theirs` has.
fn choose<'a>(ours: &'a str, theirs: &str) -> Option<&'a str> {
    ours.split(',').find(|o| theirs.split(',').any(|t| t == *o))
}

/// keepup's KEXINIT payload.
fn kexinit(host_key_algorithms: &[&str]) -> Result<Vec<u8>, Fail> {
    let mut cookie = [0u8; 16];
    rand::fill(&mut cookie).map_err(|_| internal("no random bytes for the cookie"))?;
    let mut p = vec![MSG_KEXINIT];
    p.extend_from_slice(&cookie);
    let host_keys = host_key_algorithms.join(",");
    for list in [
        KEX,
        &host_keys,
        CIPHERS,
        CIPHERS,
        MACS,
        MACS,
        COMPRESSION,
        COMPRESSION,
        "",
        "",
    ] {
        put_string(&mut p, list.as_bytes());
    }
    p.push(0); // first_kex_packet_follows
    p.extend_from_slice(&0u32.to_be_bytes());
    Ok(p)
}

/// `payload` framed as an unencrypted binary packet (RFC 4253 6).
fn packet(payload: &[u8]) -> Vec<u8> {
    let mut padding = 8 - (5 + payload.len()) % 8;
    if padding < 4 {
        padding += 8;
    }
    let length = 1 + payload.len() + padding;
    let mut out = Vec::with_capacity(4 + length);
    out.extend_from_slice(&(length as u32).to_be_bytes());
    out.push(padding as u8);
    out.extend_from_slice(payload);
    out.extend(std::iter::repeat_n(0u8, padding));
    out
}

/// SSH_MSG_DISCONNECT, "by application".
fn disconnect() -> Vec<u8> {
    let mut p = vec![MSG_DISCONNECT];
    p.extend_from_slice(&11u32.to_be_bytes());
    put_string(&mut p, b"keepup check done");
    put_string(&mut p, b"");
    packet(&p)
}

fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
}

/// `bytes` (an unsigned big-endian number) as an mpint.
fn put_mpint(out: &mut Vec<u8>, bytes: &[u8]) {
    let bytes = strip_zeros(bytes);
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        out.extend_from_slice(&(bytes.len() as u32 + 1).to_be_bytes());
        out.push(0);
    } else {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Reads SSH's wire types from a message.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, Fail> {
        let (head, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or_else(|| protocol("a message ends too early".into()))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Result<&'a [u8], Fail> {
        let length = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        if length > self.0.len() {
            return Err(protocol("a string runs past the end of its message".into()));
        }
        let (s, rest) = self.0.split_at(length);
        self.0 = rest;
        Ok(s)
    }
}

fn protocol(text: String) -> Fail {
    Fail::Finding(Finding::new(
        codes::SSH_PROTOCOL_ERROR,
        Severity::Critical,
        text,
    ))
}

fn invalid_signature(text: String) -> Fail {
    Fail::Finding(Finding::new(
        codes::SSH_SIGNATURE_INVALID,
        Severity::Critical,
        text,
    ))
}

fn internal(text: &str) -> Fail {
    Fail::Finding(Finding::new(
        codes::PROBE_INTERNAL_ERROR,
        Severity::Warning,
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_padded_to_whole_blocks_and_mpints_keep_their_sign() {
        for n in 0..40 {
            let p = packet(&vec![7u8; n]);
            assert_eq!(p.len() % 8, 0, "{n}");
            assert!(usize::from(p[4]) >= 4);
        }
        let mut out = Vec::new();
        put_mpint(&mut out, &[0, 0, 0x80, 1]);
        assert_eq!(out, vec![0, 0, 0, 3, 0, 0x80, 1]);
        let mut out = Vec::new();
        put_mpint(&mut out, &[0, 0x7f]);
        assert_eq!(out, vec![0, 0, 0, 1, 0x7f]);
        assert_eq!(
            choose(
                KEX,
                "diffie-hellman-group14-sha256,curve25519-sha256@libssh.org"
            ),
            Some("curve25519-sha256@libssh.org")
        );
    }
}
