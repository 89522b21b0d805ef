//! The built-in RFC 3161 timestamp authority.
//!
//! [`parse_timestamp_request`] reads a `TimeStampReq` (bounded; SHA-256/384/512
//! imprints of the right length only); [`timestamp_response`] answers it with
//! a granted `TimeStampResp` whose token is a CMS SignedData over a TSTInfo,
//! signed through the TSA's [`Signer`](notary::crypto::Signer) with the signed
//! attributes contentType, signingTime, messageDigest and
//! signingCertificateV2 (ESSCertIDv2, SHA-256 of the TSA certificate, with
//! issuerSerial); [`timestamp_token`] makes the token directly for the
//! service's own signing path. Refusals are [`timestamp_rejection`]s.

use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

use super::{Issuer, PkiError, asn1, leaf, oids, sha256};

/// Largest timestamp request accepted, in bytes.
pub const MAX_REQUEST_SIZE: usize = 16 * 1024;
/// Longest nonce accepted, in INTEGER content octets.
pub const MAX_NONCE_LEN: usize = 64;

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// The hash of a message imprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampHash {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-384 (48 bytes).
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl TimestampHash {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// The algorithm for an OID, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.oid() == *oid)
    }

    /// The digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// A parsed `TimeStampReq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// The imprint's hash algorithm.
    pub hash_algorithm: TimestampHash,
    /// The imprint's hash value (length checked against the algorithm).
    pub hashed_message: Vec<u8>,
    /// The policy asked for, if any.
    pub policy: Option<ObjectIdentifier>,
    /// The nonce, INTEGER content octets, echoed verbatim.
    pub nonce: Option<Vec<u8>>,
    /// Whether the TSA certificates should be in the token.
    pub cert_req: bool,
}

/// A timestamp authority: its certificate, chain and key, and its policy.
#[derive(Debug, Clone)]
pub struct Tsa {
    /// The TSA certificate (EKU timeStamping), its chain up to the root, its signer.
    pub issuer: Issuer,
    /// The TSA policy OID written into every TSTInfo.
    pub policy: ObjectIdentifier,
}

/// RFC 3161 PKIFailureInfo values a rejection can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsaFailure {
    /// `badAlg`: unrecognized or unsupported algorithm.
    BadAlg,
    /// `badRequest`: transaction not permitted or supported.
    BadRequest,
    /// `badDataFormat`: the data submitted has the wrong format.
    BadDataFormat,
    /// `timeNotAvailable`: the TSA's time source is not available.
    TimeNotAvailable,
    /// `unacceptedPolicy`: the requested policy is not supported.
    UnacceptedPolicy,
    /// `unacceptedExtension`: the requested extension is not supported.
    UnacceptedExtension,
    /// `systemFailure`: the request cannot be handled due to system failure.
    SystemFailure,
}

impl TsaFailure {
    /// The PKIFailureInfo bit number.
    pub fn bit(self) -> u8 {
        match self {
            Self::BadAlg => 0,
            Self::BadRequest => 2,
            Self::BadDataFormat => 5,
            Self::TimeNotAvailable => 14,
            Self::UnacceptedPolicy => 15,
            Self::UnacceptedExtension => 16,
            Self::SystemFailure => 25,
        }
    }

    /// The RFC 3161 name (`badAlg`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadRequest => "badRequest",
            Self::BadDataFormat => "badDataFormat",
            Self::TimeNotAvailable => "timeNotAvailable",
            Self::UnacceptedPolicy => "unacceptedPolicy",
            Self::UnacceptedExtension => "unacceptedExtension",
            Self::SystemFailure => "systemFailure",
        }
    }
}

fn refuse(failure: TsaFailure, reason: impl Into<String>) -> PkiError {
    PkiError::TimestampRequest {
        failure,
        reason: reason.into(),
    }
}

/// Parses a DER `TimeStampReq`. Errors carry the [`TsaFailure`] to answer with.
pub fn parse_timestamp_request(der: &[u8]) -> Result<TimestampRequest, PkiError> {
    if der.len() > MAX_REQUEST_SIZE {
        return Err(refuse(
            TsaFailure::BadDataFormat,
            format!("{} bytes, more than the {MAX_REQUEST_SIZE} accepted", der.len()),
        ));
    }
    let bad = |e: String| refuse(TsaFailure::BadDataFormat, e);
    let outer = asn1::single(der, asn1::SEQUENCE, "TimeStampReq").map_err(bad)?;
    let mut r = outer.reader();
    let version = r.integer("version").map_err(bad)?;
    if version != [1] {
        return Err(refuse(TsaFailure::BadRequest, "version must be 1"));
    }
    let imprint = r.expect(asn1::SEQUENCE, "messageImprint").map_err(bad)?;
    let mut m = imprint.reader();
    let alg = m.expect(asn1::SEQUENCE, "hashAlgorithm").map_err(bad)?;
    let mut a = alg.reader();
    let oid = a.oid("hashAlgorithm").map_err(bad)?;
    if let Some(p) = a.optional(asn1::NULL).map_err(bad)?
        && !p.content.is_empty()
    {
        return Err(bad("hashAlgorithm parameters are not NULL".into()));
    }
    a.finish("hashAlgorithm").map_err(bad)?;
    let hash_algorithm = TimestampHash::from_oid(&oid).ok_or_else(|| {
        refuse(
            TsaFailure::BadAlg,
            format!("unsupported hash algorithm {oid} (SHA-256, SHA-384 and SHA-512 are accepted)"),
        )
    })?;
    let hashed = m.expect(asn1::OCTET_STRING, "hashedMessage").map_err(bad)?;
    m.finish("messageImprint").map_err(bad)?;
    if hashed.content.len() != hash_algorithm.digest_len() {
        return Err(bad(format!(
            "hashedMessage is {} bytes; {hash_algorithm:?} gives {}",
            hashed.content.len(),
            hash_algorithm.digest_len()
        )));
    }
    let policy = match r.peek_tag() {
        Some(asn1::OID) => Some(r.oid("reqPolicy").map_err(bad)?),
        _ => None,
    };
    let nonce = match r.peek_tag() {
        Some(asn1::INTEGER) => {
            let n = r.integer("nonce").map_err(bad)?;
            if n.len() > MAX_NONCE_LEN {
                return Err(bad(format!("nonce longer than {MAX_NONCE_LEN} bytes")));
            }
            Some(n.to_vec())
        }
        _ => None,
    };
    let cert_req = match r.optional(asn1::BOOLEAN).map_err(bad)? {
        Some(b) => match b.content {
            [0] => false,
            [0xff] => true,
            _ => return Err(bad("certReq is not a DER BOOLEAN".into())),
        },
        None => false,
    };
    if r.optional(asn1::ctx(0)).map_err(bad)?.is_some() {
        return Err(refuse(
            TsaFailure::UnacceptedExtension,
            "request extensions are not supported",
        ));
    }
    r.finish("TimeStampReq").map_err(bad)?;
    Ok(TimestampRequest {
        hash_algorithm,
        hashed_message: hashed.content.to_vec(),
        policy,
        nonce,
        cert_req,
    })
}

/// A granted `TimeStampResp` answering `req`: the token echoes the nonce and
/// carries the TSA chain when `req.cert_req`. A request for another policy
/// is refused with [`TsaFailure::UnacceptedPolicy`].
pub fn timestamp_response(
    tsa: &Tsa,
    req: &TimestampRequest,
    serial: &[u8],
    gen_time: OffsetDateTime,
) -> Result<Vec<u8>, PkiError> {
    if let Some(p) = req.policy
        && p != tsa.policy
    {
        return Err(refuse(
            TsaFailure::UnacceptedPolicy,
            format!("policy {p} asked for; this TSA issues under {}", tsa.policy),
        ));
    }
    let token = token(
        tsa,
        req.hash_algorithm,
        &req.hashed_message,
        req.nonce.as_deref(),
        req.cert_req,
        serial,
        gen_time,
    )?;
    let granted = asn1::seq(&[&[asn1::INTEGER, 1, 0]]);
    Ok(asn1::seq(&[&granted, &token]))
}

/// A rejection `TimeStampResp` (status rejection, with the failure bit and its name).
pub fn timestamp_rejection(failure: TsaFailure) -> Vec<u8> {
    let text = asn1::seq(&[&asn1::tlv(asn1::UTF8_STRING, failure.as_str().as_bytes())]);
    let status = asn1::seq(&[&[asn1::INTEGER, 1, 2], &text, &asn1::named_bits(&[failure.bit()])]);
    asn1::seq(&[&status])
}

/// The DER TimeStampToken (CMS ContentInfo) over `hashed_message`, with the
/// TSA chain included and no nonce: for the service's own signing path.
pub fn timestamp_token(
    tsa: &Tsa,
    hash_algorithm: TimestampHash,
    hashed_message: &[u8],
    serial: &[u8],
    gen_time: OffsetDateTime,
) -> Result<Vec<u8>, PkiError> {
    token(tsa, hash_algorithm, hashed_message, None, true, serial, gen_time)
}

impl notary::envelope::Timestamper for Tsa {
    /// A token over SHA-256 of `signature`, now, with a random serial.
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String> {
        let serial = leaf::random_serial().map_err(|e| e.to_string())?;
        timestamp_token(
            self,
            TimestampHash::Sha256,
            &sha256(signature),
            &serial,
            OffsetDateTime::now_utc(),
        )
        .map_err(|e| e.to_string())
    }

    /// Built here for these bytes; the pki tests check its tokens with
    /// notary's parser and with `openssl ts -verify`.
    fn built_in(&self) -> bool {
        true
    }
}

fn attribute(oid: &ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    asn1::seq(&[&asn1::oid(oid), &asn1::tlv(asn1::SET, value)])
}

#[allow(clippy::too_many_arguments)]
fn token(
    tsa: &Tsa,
    hash_algorithm: TimestampHash,
    hashed_message: &[u8],
    nonce: Option<&[u8]>,
    include_certs: bool,
    serial: &[u8],
    gen_time: OffsetDateTime,
) -> Result<Vec<u8>, PkiError> {
    if hashed_message.len() != hash_algorithm.digest_len() {
        return Err(refuse(
            TsaFailure::BadDataFormat,
            format!(
                "hashedMessage is {} bytes; {hash_algorithm:?} gives {}",
                hashed_message.len(),
                hash_algorithm.digest_len()
            ),
        ));
    }
    let serial = leaf::check_serial(serial).map_err(|e| PkiError::Invalid(format!("timestamp: {e}")))?;
    if let Some(n) = nonce {
        asn1::check_integer(n).map_err(|e| PkiError::Invalid(format!("timestamp nonce: {e}")))?;
    }
    let issuer = &tsa.issuer;
    let cached = &issuer.cached;

    // TSTInfo.
    let imprint = asn1::seq(&[
        &asn1::alg_null(&hash_algorithm.oid()),
        &asn1::octets(hashed_message),
    ]);
    let accuracy = asn1::seq(&[&asn1::small_uint(1)]);
    let nonce = nonce.map(|n| asn1::tlv(asn1::INTEGER, n)).unwrap_or_default();
    let tst_info = asn1::seq(&[
        &[asn1::INTEGER, 1, 1],
        &asn1::oid(&tsa.policy),
        &imprint,
        &asn1::uint(&serial),
        &asn1::generalized_time(gen_time),
        &accuracy,
        &nonce,
    ]);

    // Signed attributes, DER SET OF: sorted by encoding.
    let digest_alg = asn1::alg_absent(&cached.hash.oid());
    let cert_hash = sha256(&issuer.certificate);
    let issuer_serial = asn1::seq(&[
        &asn1::seq(&[&asn1::tlv(asn1::ctx(4), &cached.issuer_name)]),
        &asn1::tlv(asn1::INTEGER, &cached.serial),
    ]);
    let ess_cert_id = asn1::seq(&[&asn1::octets(&cert_hash), &issuer_serial]);
    let mut attrs = [
        attribute(&OID_CONTENT_TYPE, &asn1::oid(&OID_TST_INFO)),
        attribute(&OID_SIGNING_TIME, &asn1::x509_time(gen_time)),
        attribute(&OID_MESSAGE_DIGEST, &asn1::octets(&cached.hash.digest(&tst_info))),
        attribute(
            &OID_SIGNING_CERTIFICATE_V2,
            &asn1::seq(&[&asn1::seq(&[&ess_cert_id])]),
        ),
    ];
    attrs.sort();
    let attr_refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
    let signed_attrs = asn1::cons(asn1::SET, &attr_refs);
    let signature = issuer.sign_raw(&signed_attrs)?;
    let implicit_attrs = asn1::cons(asn1::ctx(0), &attr_refs);

    let sid = asn1::seq(&[&cached.issuer_name, &asn1::tlv(asn1::INTEGER, &cached.serial)]);
    let signer_info = asn1::seq(&[
        &[asn1::INTEGER, 1, 1],
        &sid,
        &digest_alg,
        &implicit_attrs,
        &cached.signature_alg,
        &asn1::octets(&signature),
    ]);

    let encap = asn1::seq(&[
        &asn1::oid(&OID_TST_INFO),
        &asn1::tlv(asn1::ctx(0), &asn1::octets(&tst_info)),
    ]);
    let certs = if include_certs {
        let refs: Vec<&[u8]> = issuer.chain.iter().map(Vec::as_slice).collect();
        asn1::cons(asn1::ctx(0), &refs)
    } else {
        Vec::new()
    };
    let signed_data = asn1::seq(&[
        &[asn1::INTEGER, 1, 3],
        &asn1::tlv(asn1::SET, &digest_alg),
        &encap,
        &certs,
        &asn1::tlv(asn1::SET, &signer_info),
    ]);
    Ok(asn1::seq(&[
        &asn1::oid(&OID_SIGNED_DATA),
        &asn1::tlv(asn1::ctx(0), &signed_data),
    ]))
}
