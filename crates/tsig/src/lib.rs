//! TSIG (RFC 8945) on DNS messages in their wire form: signing a request or
//! an answer, and checking the signature of one received.
//!
//! The MAC covers the message as sent without its TSIG record (with the
//! original ID and one additional record fewer), preceded by the request's
//! MAC when the message answers a signed request, and followed by the TSIG
//! variables (§4.3). Working on the wire bytes rather than on a parsed
//! message means that what is checked is exactly what travelled. HMAC-SHA256
//! and HMAC-SHA512 with aws-lc-rs (hickory-proto's own signer needs its
//! dnssec feature).
//!
//! Used by keepup's `dns` recovery step, which signs updates and checks the
//! answers, and by the demo's DNS server, which checks updates and signs its
//! answers. Not a DNS client or server itself; no I/O here.

use aws_lc_rs::hmac;
use hickory_proto::op::{Header, Message, Query};
use hickory_proto::rr::rdata::tsig::{TSIG, TsigAlgorithm, make_tsig_record};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

pub use hickory_proto::rr::rdata::tsig::TsigError;

/// The clock skew a signature tolerates (RFC 8945 recommends 300 s).
pub const FUDGE: u16 = 300;

/// The length of a DNS header.
const HEADER_LEN: usize = 12;

/// The HMAC algorithms a [`Key`] can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// `hmac-sha256`.
    HmacSha256,
    /// `hmac-sha512`.
    HmacSha512,
}

impl Algorithm {
    fn wire(self) -> TsigAlgorithm {
        match self {
            Algorithm::HmacSha256 => TsigAlgorithm::HmacSha256,
            Algorithm::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }
}

/// Why a message could not be signed or read.
#[derive(Debug, thiserror::Error)]
pub enum TsigFailure {
    /// The key's name is not a domain name.
    #[error("the TSIG key name {0:?} is not a domain name")]
    KeyName(String),
    /// The message is not a DNS message, or its TSIG record is malformed.
    #[error("not a well-formed DNS message: {0}")]
    Malformed(String),
}

/// Why a signature is not accepted (RFC 8945 §5.2 and §5.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Signed with another key, or this key with another algorithm: BADKEY.
    #[error("signed with another key ({0})")]
    OtherKey(String),
    /// Signed outside the allowed clock skew: BADTIME.
    #[error("its time is outside the allowed clock skew")]
    BadTime,
    /// The MAC does not match: BADSIG.
    #[error("the MAC does not match the key's")]
    BadSig,
}

impl Rejection {
    /// The TSIG error code that says so.
    pub fn code(&self) -> TsigError {
        match self {
            Rejection::OtherKey(_) => TsigError::BadKey,
            Rejection::BadTime => TsigError::BadTime,
            Rejection::BadSig => TsigError::BadSig,
        }
    }
}

/// A TSIG key: its name as both ends know it, its algorithm and secret.
pub struct Key {
    name: Name,
    algorithm: Algorithm,
    hmac: hmac::Key,
}

impl std::fmt::Debug for Key {
    // Never the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name.to_ascii())
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// A received message's TSIG record and the bytes its MAC covers.
#[derive(Debug)]
pub struct Signed {
    /// The name of the key it was signed with.
    pub key_name: Name,
    /// The TSIG record's data.
    pub tsig: TSIG,
    covered: Vec<u8>,
}

impl Key {
    /// A key named `name` (`"keepup-update"` or `"keepup-update."`) with
    /// the decoded `secret`.
    pub fn new(name: &str, algorithm: Algorithm, secret: &[u8]) -> Result<Key, TsigFailure> {
        let fqdn = if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        };
        let name = Name::from_ascii(&fqdn).map_err(|_| TsigFailure::KeyName(name.to_owned()))?;
        Ok(Key {
            name,
            algorithm,
            hmac: hmac::Key::new(algorithm.hmac(), secret),
        })
    }

    /// The key's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// `unsigned` (a whole message without TSIG) with a TSIG record signed
    /// at `time` appended, and the MAC. An answer to a signed request
    /// passes the request's MAC as `request_mac`; `error` is the TSIG
    /// error an answer reports (BADTIME is signed, RFC 8945 §5.2.3).
    pub fn sign(
        &self,
        unsigned: &[u8],
        request_mac: Option<&[u8]>,
        time: u64,
        error: Option<TsigError>,
    ) -> Result<(Vec<u8>, Vec<u8>), TsigFailure> {
        let header = Header::read(&mut BinDecoder::new(unsigned)).map_err(malformed)?;
        let tsig = TSIG::new(
            self.algorithm.wire(),
            time,
            FUDGE,
            Vec::new(),
            header.metadata.id,
            error,
            Vec::new(),
        );
        let mut covered = Vec::with_capacity(unsigned.len() + 128);
        let mut encoder = BinEncoder::new(&mut covered);
        emit_request_mac(&mut encoder, request_mac)?;
        encoder.emit_vec(unsigned).map_err(malformed)?;
        tsig.emit_tsig_for_mac(&mut encoder, &self.name)
            .map_err(malformed)?;
        let mac = hmac::sign(&self.hmac, &covered).as_ref().to_vec();
        let wire = append_tsig(unsigned, &self.name, tsig.set_mac(mac.clone()))?;
        Ok((wire, mac))
    }

    /// Checks a received message's signature against this key at `now`
    /// (seconds since the epoch).
    pub fn verify(&self, signed: &Signed, now: u64) -> Result<(), Rejection> {
        if signed.key_name != self.name || signed.tsig.algorithm != self.algorithm.wire() {
            return Err(Rejection::OtherKey(signed.key_name.to_ascii()));
        }
        // The MAC first: a forged message must not learn about the time.
        hmac::verify(&self.hmac, &signed.covered, &signed.tsig.mac)
            .map_err(|_| Rejection::BadSig)?;
        if now.abs_diff(signed.tsig.time) > u64::from(signed.tsig.fudge) {
            return Err(Rejection::BadTime);
        }
        Ok(())
    }
}

/// A message's TSIG record (its last additional record) with what its MAC
/// covers, or `None` when the message is not signed. An answer to a signed
/// request passes the request's MAC.
pub fn signed_parts(
    wire: &[u8],
    request_mac: Option<&[u8]>,
) -> Result<Option<Signed>, TsigFailure> {
    let mut decoder = BinDecoder::new(wire);
    let mut header = Header::read(&mut decoder).map_err(malformed)?;
    let counts = header.counts;
    if counts.additionals == 0 {
        return Ok(None);
    }
    let op = header.metadata.op_code;
    for _ in 0..counts.queries {
        Query::read(&mut decoder).map_err(malformed)?;
    }
    Message::read_records(
        &mut decoder,
        usize::from(counts.answers) + usize::from(counts.authorities),
        false,
        op,
    )
    .map_err(malformed)?;
    Message::read_records(&mut decoder, usize::from(counts.additionals - 1), true, op)
        .map_err(malformed)?;
    let tsig_start = wire.len() - decoder.len();
    // Read as a plain record: without hickory's dnssec feature a TSIG
    // record is not set apart as the message's signature.
    let last = Record::read(&mut decoder).map_err(malformed)?;
    let RData::TSIG(tsig) = last.data else {
        return Ok(None);
    };
    if !decoder.is_empty() {
        return Err(TsigFailure::Malformed("bytes after the TSIG record".into()));
    }
    header.metadata.id = tsig.oid;
    header.counts.additionals = counts.additionals - 1;
    let mut covered = Vec::with_capacity(wire.len() + 128);
    let mut encoder = BinEncoder::new(&mut covered);
    emit_request_mac(&mut encoder, request_mac)?;
    header.emit(&mut encoder).map_err(malformed)?;
    encoder
        .emit_vec(&wire[HEADER_LEN..tsig_start])
        .map_err(malformed)?;
    tsig.emit_tsig_for_mac(&mut encoder, &last.name)
        .map_err(malformed)?;
    Ok(Some(Signed {
        key_name: last.name,
        tsig,
        covered,
    }))
}

/// `unsigned` with an unsigned TSIG record reporting `error` (BADKEY and
/// BADSIG answers carry no MAC, RFC 8945 §5.3.2), for the key named
/// `key_name`.
pub fn unsigned_error(
    unsigned: &[u8],
    key_name: &Name,
    algorithm: TsigAlgorithm,
    time: u64,
    error: TsigError,
) -> Result<Vec<u8>, TsigFailure> {
    let header = Header::read(&mut BinDecoder::new(unsigned)).map_err(malformed)?;
    let tsig = TSIG::new(
        algorithm,
        time,
        FUDGE,
        Vec::new(),
        header.metadata.id,
        Some(error),
        Vec::new(),
    );
    append_tsig(unsigned, key_name, tsig)
}

fn emit_request_mac(
    encoder: &mut BinEncoder<'_>,
    request_mac: Option<&[u8]>,
) -> Result<(), TsigFailure> {
    if let Some(mac) = request_mac {
        let len = u16::try_from(mac.len())
            .map_err(|_| TsigFailure::Malformed("request MAC too long".into()))?;
        encoder.emit_u16(len).map_err(malformed)?;
        encoder.emit_vec(mac).map_err(malformed)?;
    }
    Ok(())
}

/// `unsigned` with the TSIG record appended and ARCOUNT raised by one.
fn append_tsig(unsigned: &[u8], key_name: &Name, tsig: TSIG) -> Result<Vec<u8>, TsigFailure> {
    if unsigned.len() < HEADER_LEN {
        return Err(TsigFailure::Malformed("shorter than a header".into()));
    }
    let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]])
        .checked_add(1)
        .ok_or_else(|| TsigFailure::Malformed("too many additional records".into()))?;
    let mut record = Vec::with_capacity(128);
    make_tsig_record(key_name.clone(), tsig)
        .emit(&mut BinEncoder::new(&mut record))
        .map_err(malformed)?;
    let mut wire = Vec::with_capacity(unsigned.len() + record.len());
    wire.extend_from_slice(unsigned);
    wire[10..12].copy_from_slice(&arcount.to_be_bytes());
    wire.extend_from_slice(&record);
    Ok(wire)
}

fn malformed(e: impl std::fmt::Display) -> TsigFailure {
    TsigFailure::Malformed(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode};

    fn update() -> Vec<u8> {
        let mut msg = Message::new(4242, MessageType::Query, OpCode::Update);
        msg.add_query(Query::query(
            Name::from_ascii("shop.test.").unwrap_or_else(|_| Name::root()),
            hickory_proto::rr::RecordType::SOA,
        ));
        msg.to_vec().unwrap_or_default()
    }

    #[test]
    fn a_signed_request_and_its_signed_answer_verify_and_a_changed_byte_does_not() {
        let key = Key::new("k", Algorithm::HmacSha256, b"0123456789abcdef").ok();
        let Some(key) = key else { panic!("key") };
        let (wire, mac) = key.sign(&update(), None, 1_000, None).unwrap_or_default();
        let signed = signed_parts(&wire, None).ok().flatten();
        let Some(signed) = signed else {
            panic!("no TSIG found")
        };
        assert_eq!(key.verify(&signed, 1_100), Ok(()));
        assert_eq!(key.verify(&signed, 1_000 + 301), Err(Rejection::BadTime));

        let mut answer = update();
        answer[2] |= 0x80;
        let (signed_answer, _) = key
            .sign(&answer, Some(&mac), 1_000, None)
            .unwrap_or_default();
        let parts = signed_parts(&signed_answer, Some(&mac)).ok().flatten();
        let Some(parts) = parts else {
            panic!("no TSIG found")
        };
        assert_eq!(key.verify(&parts, 1_000), Ok(()));
        // The same answer checked as if it answered another request.
        let other = signed_parts(&signed_answer, Some(&[0u8; 32]))
            .ok()
            .flatten();
        let Some(other) = other else {
            panic!("no TSIG found")
        };
        assert_eq!(key.verify(&other, 1_000), Err(Rejection::BadSig));

        let mut tampered = wire.clone();
        tampered[3] ^= 0x01;
        let parts = signed_parts(&tampered, None).ok().flatten();
        let Some(parts) = parts else {
            panic!("no TSIG found")
        };
        assert_eq!(key.verify(&parts, 1_000), Err(Rejection::BadSig));

        let wrong = Key::new("k", Algorithm::HmacSha256, b"another secret!!").ok();
        let Some(wrong) = wrong else { panic!("key") };
        assert_eq!(wrong.verify(&signed, 1_000), Err(Rejection::BadSig));
        let other_name = Key::new("j", Algorithm::HmacSha256, b"0123456789abcdef").ok();
        let Some(other_name) = other_name else {
            panic!("key")
        };
        assert!(matches!(
            other_name.verify(&signed, 1_000),
            Err(Rejection::OtherKey(_))
        ));
    }

    #[test]
    fn an_unsigned_message_has_no_parts() {
        assert!(matches!(signed_parts(&update(), None), Ok(None)));
        assert!(signed_parts(&[1, 2, 3], None).is_err());
    }
}
