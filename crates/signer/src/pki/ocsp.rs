//! OCSP (RFC 6960): parsing requests, answering them.
//!
//! Requests are read with a bounded DER reader (size, number of CertIDs and
//! nonce length are capped); signed requests are accepted and their
//! signature ignored. Responses are `BasicOCSPResponse`s signed directly by
//! the CA, with `responderID byKey`, no embedded certificates, one
//! `SingleResponse` per answer and the request's nonce echoed.

use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

use super::{Issuer, PkiError, Reason, asn1, oids, sha1};

/// Largest OCSP request accepted, in bytes.
pub const MAX_REQUEST_SIZE: usize = 64 * 1024;
/// Most CertIDs accepted in one request.
pub const MAX_REQUEST_IDS: usize = 64;
/// Longest nonce extension value accepted, in bytes.
pub const MAX_NONCE_LEN: usize = 128;

const OID_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const OID_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");

/// The hash a CertID uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1 (RFC 5019; what OpenSSL sends by default).
    Sha1,
    /// SHA-256 (what notation sends).
    Sha256,
}

impl HashAlg {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1,
            Self::Sha256 => oids::SHA256,
        }
    }
}

/// An OCSP `CertID`: which certificate of which issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertId {
    /// The hash of the two issuer hashes.
    pub hash_algorithm: HashAlg,
    /// Hash of the issuer's subject Name DER.
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's subjectPublicKey bits.
    pub issuer_key_hash: Vec<u8>,
    /// The serial number: INTEGER content octets with leading zero bytes
    /// removed, so for positive serials the big-endian magnitude (compare
    /// with a stored serial after stripping its leading zeros).
    pub serial: Vec<u8>,
}

/// A parsed `OCSPRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspRequest {
    /// The certificates asked about, in request order.
    pub ids: Vec<CertId>,
    /// The nonce extension's `extnValue` contents, exactly as sent (for
    /// RFC 8954 clients, the DER of an OCTET STRING); echo it with
    /// [`ocsp_response`].
    pub nonce: Option<Vec<u8>>,
}

/// The answer about one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertStatus {
    /// Issued by this CA and not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When.
        at: OffsetDateTime,
        /// Why, when known.
        reason: Option<Reason>,
    },
    /// Not known to this responder.
    Unknown,
}

/// The unsuccessful OCSP response statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspErrorStatus {
    /// `malformedRequest` (1).
    MalformedRequest,
    /// `internalError` (2).
    InternalError,
    /// `tryLater` (3).
    TryLater,
    /// `unauthorized` (6).
    Unauthorized,
}

/// Parses a DER `OCSPRequest` (a POST body, or a GET path's base64 decoded).
pub fn parse_ocsp_request(der: &[u8]) -> Result<OcspRequest, PkiError> {
    if der.len() > MAX_REQUEST_SIZE {
        return Err(PkiError::OcspRequest(format!(
            "{} bytes, more than the {MAX_REQUEST_SIZE} accepted",
            der.len()
        )));
    }
    parse(der).map_err(PkiError::OcspRequest)
}

fn parse(der: &[u8]) -> Result<OcspRequest, String> {
    let outer = asn1::single(der, asn1::SEQUENCE, "OCSPRequest")?;
    let mut r = outer.reader();
    let tbs = r.expect(asn1::SEQUENCE, "tbsRequest")?;
    // optionalSignature [0]: accepted, not checked.
    r.optional(asn1::ctx(0))?;
    r.finish("OCSPRequest")?;

    let mut t = tbs.reader();
    if let Some(v) = t.optional(asn1::ctx(0))? {
        let version = asn1::single(v.content, asn1::INTEGER, "version")?;
        if version.content != [0] {
            return Err("unsupported version".into());
        }
    }
    t.optional(asn1::ctx(1))?;
    let list = t.expect(asn1::SEQUENCE, "requestList")?;
    let exts = t.optional(asn1::ctx(2))?;
    t.finish("tbsRequest")?;

    let mut ids = Vec::new();
    let mut l = list.reader();
    while !l.is_empty() {
        if ids.len() >= MAX_REQUEST_IDS {
            return Err(format!("more than {MAX_REQUEST_IDS} certificates asked about"));
        }
        let req = l.expect(asn1::SEQUENCE, "Request")?;
        let mut q = req.reader();
        let id = q.expect(asn1::SEQUENCE, "reqCert")?;
        q.optional(asn1::ctx(0))?;
        q.finish("Request")?;
        ids.push(cert_id(id)?);
    }
    if ids.is_empty() {
        return Err("requestList is empty".into());
    }

    let mut nonce = None;
    if let Some(exts) = exts {
        let list = asn1::single(exts.content, asn1::SEQUENCE, "requestExtensions")?;
        let mut e = list.reader();
        while !e.is_empty() {
            let ext = e.expect(asn1::SEQUENCE, "Extension")?;
            let mut x = ext.reader();
            let id = x.oid("extnID")?;
            x.optional(asn1::BOOLEAN)?;
            let value = x.expect(asn1::OCTET_STRING, "extnValue")?;
            x.finish("Extension")?;
            if id == OID_NONCE {
                if value.content.is_empty() || value.content.len() > MAX_NONCE_LEN {
                    return Err(format!(
                        "nonce of {} bytes (1 to {MAX_NONCE_LEN} accepted)",
                        value.content.len()
                    ));
                }
                nonce = Some(value.content.to_vec());
            }
        }
    }
    Ok(OcspRequest { ids, nonce })
}

fn cert_id(t: asn1::Tlv<'_>) -> Result<CertId, String> {
    let mut r = t.reader();
    let alg = r.expect(asn1::SEQUENCE, "hashAlgorithm")?;
    let mut a = alg.reader();
    let oid = a.oid("hashAlgorithm")?;
    if let Some(p) = a.optional(asn1::NULL)?
        && !p.content.is_empty()
    {
        return Err("hashAlgorithm parameters are not NULL".into());
    }
    a.finish("hashAlgorithm")?;
    let (hash_algorithm, len) = match oid {
        o if o == oids::SHA1 => (HashAlg::Sha1, 20),
        o if o == oids::SHA256 => (HashAlg::Sha256, 32),
        other => return Err(format!("unsupported CertID hash algorithm {other}")),
    };
    let name = r.expect(asn1::OCTET_STRING, "issuerNameHash")?;
    let key = r.expect(asn1::OCTET_STRING, "issuerKeyHash")?;
    if name.content.len() != len || key.content.len() != len {
        return Err("CertID hashes have the wrong length for their algorithm".into());
    }
    let serial = r.integer("serialNumber")?;
    r.finish("CertID")?;
    if serial.len() > 64 {
        return Err("serialNumber is too long".into());
    }
    Ok(CertId {
        hash_algorithm,
        issuer_name_hash: name.content.to_vec(),
        issuer_key_hash: key.content.to_vec(),
        serial: asn1::strip_zeros(serial).to_vec(),
    })
}

impl Issuer {
    /// Whether `id` names this issuer (its name and key hashes match, SHA-1 or SHA-256).
    pub fn issued(&self, id: &CertId) -> bool {
        let c = &self.cached;
        match id.hash_algorithm {
            HashAlg::Sha1 => id.issuer_name_hash == c.name_sha1 && id.issuer_key_hash == c.key_sha1,
            HashAlg::Sha256 => id.issuer_name_hash == c.name_sha256 && id.issuer_key_hash == c.key_sha256,
        }
    }
}

fn encode_cert_id(id: &CertId) -> Vec<u8> {
    // Positive serials get their sign byte back; we never issue negative ones.
    let serial = asn1::uint(&id.serial);
    asn1::seq(&[
        &asn1::alg_null(&id.hash_algorithm.oid()),
        &asn1::octets(&id.issuer_name_hash),
        &asn1::octets(&id.issuer_key_hash),
        &serial,
    ])
}

/// A successful OCSP response from `issuer` (signing directly, responderID
/// byKey) with one SingleResponse per answer (thisUpdate = `produced_at`),
/// echoing `nonce` (the request's nonce extension value) when given.
pub fn ocsp_response(
    issuer: &Issuer,
    answers: &[(CertId, CertStatus)],
    produced_at: OffsetDateTime,
    next_update: OffsetDateTime,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, PkiError> {
    if answers.is_empty() {
        return Err(PkiError::Invalid("OCSP response: no answers".into()));
    }
    if next_update <= produced_at {
        return Err(PkiError::Invalid(format!(
            "OCSP response: nextUpdate {next_update} is not after producedAt {produced_at}"
        )));
    }
    let this_update = asn1::generalized_time(produced_at);
    let next = asn1::tlv(asn1::ctx(0), &asn1::generalized_time(next_update));
    let mut singles = Vec::with_capacity(answers.len() * 128);
    for (id, status) in answers {
        let status = match status {
            CertStatus::Good => vec![asn1::ctx_prim(0), 0],
            CertStatus::Unknown => vec![asn1::ctx_prim(2), 0],
            CertStatus::Revoked { at, reason } => {
                let reason = reason
                    .map(|r| asn1::tlv(asn1::ctx(0), &asn1::tlv(asn1::ENUMERATED, &[r.code()])))
                    .unwrap_or_default();
                asn1::cons(asn1::ctx(1), &[&asn1::generalized_time(*at), &reason])
            }
        };
        singles.extend(asn1::seq(&[&encode_cert_id(id), &status, &this_update, &next]));
    }
    let key_hash = sha1(super::spki_key_bits(&issuer.cached.spki).map_err(PkiError::Certificate)?);
    let responder_id = asn1::tlv(asn1::ctx(2), &asn1::octets(&key_hash));
    let extensions = match nonce {
        Some(n) => asn1::tlv(
            asn1::ctx(1),
            &asn1::seq(&[&super::leaf::extension(&OID_NONCE, false, n)]),
        ),
        None => Vec::new(),
    };
    let data = asn1::seq(&[
        &responder_id,
        &asn1::generalized_time(produced_at),
        &asn1::tlv(asn1::SEQUENCE, &singles),
        &extensions,
    ]);
    let basic = issuer.sign_structure(&data)?;
    let bytes = asn1::seq(&[&asn1::oid(&OID_OCSP_BASIC), &asn1::octets(&basic)]);
    Ok(asn1::seq(&[
        &[asn1::ENUMERATED, 1, 0],
        &asn1::tlv(asn1::ctx(0), &bytes),
    ]))
}

/// An unsuccessful OCSP response with `status` (no responseBytes).
pub fn ocsp_error(status: OcspErrorStatus) -> Vec<u8> {
    let code = match status {
        OcspErrorStatus::MalformedRequest => 1,
        OcspErrorStatus::InternalError => 2,
        OcspErrorStatus::TryLater => 3,
        OcspErrorStatus::Unauthorized => 6,
    };
    vec![asn1::SEQUENCE, 3, asn1::ENUMERATED, 1, code]
}
