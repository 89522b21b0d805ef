//! OCSP (RFC 6960): building a request and deciding a response.
//!
//! [`request`] encodes an unsigned `OCSPRequest` for one certificate with no
//! nonce (as notation sends it). [`check_response`] accepts a response only
//! when it is `successful`, of type `id-pkix-ocsp-basic`, signed either by
//! the issuer itself or by a delegated responder that the issuer certified
//! with `id-kp-OCSPSigning`, and holds a `SingleResponse` whose `CertID`
//! (SHA-1 or SHA-256 hashes of the issuer's name and key, and the serial)
//! matches the certificate, with `nextUpdate` (when present) not passed.
//!
//! The ASN.1 types are written here with `der` derive: the RustCrypto
//! `x509-ocsp` crate does not yet build against the `der` 0.8 line we use.

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use der::{
    Decode, Encode, Sequence, Tag, Tagged,
    asn1::{Any, BitString, GeneralizedTime, Null, OctetString},
};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::{ext::pkix::CrlReason, serial_number::SerialNumber};

use super::{der_time, verify_signed};
use crate::x509::Certificate;

const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const OID_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// The media type of an OCSP request body.
pub const REQUEST_CONTENT_TYPE: &str = "application/ocsp-request";
/// The media type of an OCSP response body.
pub const RESPONSE_CONTENT_TYPE: &str = "application/ocsp-response";

/// Why an OCSP exchange gave no answer. Every variant means "fall back to
/// CRL if possible"; a revoked or unknown status is an [`OcspVerdict`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The request could not be encoded (bad certificate).
    #[error("failed to create OCSP request: {0}")]
    Request(String),
    /// The response is not DER of the expected shape.
    #[error("failed to parse OCSP response: {0}")]
    Malformed(String),
    /// The responder answered with a non-successful status.
    #[error("OCSP response status is {0}")]
    Status(&'static str),
    /// The response is not signed by the issuer or an authorised responder.
    #[error("bad OCSP signature: {0}")]
    BadSignature(String),
    /// No SingleResponse is about this certificate.
    #[error("no OCSP response matches the certificate's CertID")]
    NoMatchingResponse,
    /// `nextUpdate` has passed.
    #[error("expired OCSP response: nextUpdate {0} has passed")]
    Expired(String),
}

/// The hash used for `CertID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertIdHash {
    /// SHA-1, the RFC 5019 profile's choice and the most widely served.
    Sha1,
    /// SHA-256, what notation sends.
    Sha256,
}

impl CertIdHash {
    fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => OID_SHA1,
            Self::Sha256 => OID_SHA256,
        }
    }

    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            o if o == OID_SHA1 => Some(Self::Sha1),
            o if o == OID_SHA256 => Some(Self::Sha256),
            _ => None,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// What a verified OCSP response says about the certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspVerdict {
    /// `good`.
    Good,
    /// `revoked`, with the time and reason when given.
    Revoked {
        /// revocationTime.
        revoked_at: OffsetDateTime,
        /// revocationReason, when present.
        reason: Option<CrlReason>,
    },
    /// `unknown`: the responder does not know the certificate.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct CertId {
    hash_algorithm: AlgorithmIdentifierOwned,
    issuer_name_hash: OctetString,
    issuer_key_hash: OctetString,
    serial_number: SerialNumber,
}

#[derive(Clone, Debug, Sequence)]
struct Request {
    req_cert: CertId,
}

#[derive(Clone, Debug, Sequence)]
struct TbsRequest {
    request_list: Vec<Request>,
}

#[derive(Clone, Debug, Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct OcspResponse {
    response_status: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

#[derive(Clone, Debug, Sequence)]
struct BasicOcspResponse {
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    responder_id: Any,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponse>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct SingleResponse {
    cert_id: CertId,
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<CrlReason>,
}

fn cert_id(cert: &Certificate, issuer: &Certificate, hash: CertIdHash) -> Result<CertId, OcspError> {
    let bad = |e: der::Error| OcspError::Request(e.to_string());
    let spki = SubjectPublicKeyInfoOwned::from_der(&issuer.spki_der()).map_err(bad)?;
    let parsed = x509_cert::Certificate::from_der(cert.der()).map_err(bad)?;
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash.oid(),
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(hash.digest(issuer.raw_subject())).map_err(bad)?,
        issuer_key_hash: OctetString::new(hash.digest(spki.subject_public_key.raw_bytes())).map_err(bad)?,
        serial_number: parsed.tbs_certificate().serial_number().clone(),
    })
}

/// The DER `OCSPRequest` asking about `cert`, issued by `issuer`.
pub fn request(cert: &Certificate, issuer: &Certificate, hash: CertIdHash) -> Result<Vec<u8>, OcspError> {
    let req = OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer, hash)?,
            }],
        },
    };
    req.to_der().map_err(|e| OcspError::Request(e.to_string()))
}

/// Verifies an OCSP response `body` about `cert` (issued by `issuer`) at `now`.
pub fn check_response(
    body: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: OffsetDateTime,
) -> Result<OcspVerdict, OcspError> {
    let malformed = |e: der::Error| OcspError::Malformed(e.to_string());
    let resp = OcspResponse::from_der(body).map_err(malformed)?;
    if resp.response_status.tag() != Tag::Enumerated {
        return Err(OcspError::Malformed("responseStatus is not an ENUMERATED".into()));
    }
    let status = match resp.response_status.value() {
        [0] => None,
        [1] => Some("malformedRequest"),
        [2] => Some("internalError"),
        [3] => Some("tryLater"),
        [5] => Some("sigRequired"),
        [6] => Some("unauthorized"),
        _ => Some("not a known status"),
    };
    if let Some(s) = status {
        return Err(OcspError::Status(s));
    }
    let bytes = resp
        .response_bytes
        .ok_or_else(|| OcspError::Malformed("successful response without responseBytes".into()))?;
    if bytes.response_type != OID_OCSP_BASIC {
        return Err(OcspError::Malformed(format!(
            "unsupported response type {}",
            bytes.response_type
        )));
    }
    let basic_der = bytes.response.as_bytes();
    let basic = BasicOcspResponse::from_der(basic_der).map_err(malformed)?;
    let data_der = basic.tbs_response_data.to_der().map_err(malformed)?;
    let data = ResponseData::from_der(&data_der).map_err(malformed)?;

    let signer = responder(&basic, issuer, now)?;
    verify_signed(basic_der, &basic.signature_algorithm, &signer)
        .map_err(|e| OcspError::BadSignature(e.to_string()))?;

    for single in &data.responses {
        let Some(hash) = CertIdHash::from_oid(single.cert_id.hash_algorithm.oid) else {
            continue;
        };
        if single.cert_id != cert_id(cert, issuer, hash)? {
            continue;
        }
        if let Some(next) = single.next_update {
            let next = der_time(next.to_unix_duration());
            if now > next {
                return Err(OcspError::Expired(next.to_string()));
            }
        }
        return cert_status(&single.cert_status);
    }
    Err(OcspError::NoMatchingResponse)
}

/// The certificate whose key must have signed the response: the issuer, or
/// the first embedded certificate when it is a delegated responder.
fn responder(
    basic: &BasicOcspResponse,
    issuer: &Certificate,
    now: OffsetDateTime,
) -> Result<Certificate, OcspError> {
    let Some(first) = basic.certs.as_ref().and_then(|c| c.first()) else {
        return Ok(issuer.clone());
    };
    let der = first.to_der().map_err(|e| OcspError::Malformed(e.to_string()))?;
    let cert = Certificate::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    if cert.der() == issuer.der() {
        return Ok(cert);
    }
    cert.verify_signature_with(issuer).map_err(|e| {
        OcspError::BadSignature(format!("responder certificate is not issued by the CA: {e}"))
    })?;
    let delegated = cert
        .extended_key_usage()
        .is_some_and(|eku| eku.usages.contains(&OID_KP_OCSP_SIGNING));
    if !delegated {
        return Err(OcspError::BadSignature(
            "responder certificate lacks the OCSPSigning extended key usage".into(),
        ));
    }
    if !cert.is_valid_at(now) {
        return Err(OcspError::BadSignature(
            "responder certificate is not valid now".into(),
        ));
    }
    Ok(cert)
}

fn cert_status(any: &Any) -> Result<OcspVerdict, OcspError> {
    let malformed = |e: der::Error| OcspError::Malformed(e.to_string());
    match any.tag() {
        Tag::ContextSpecific { number, .. } if number.value() == 0 => Ok(OcspVerdict::Good),
        Tag::ContextSpecific { number, .. } if number.value() == 2 => Ok(OcspVerdict::Unknown),
        Tag::ContextSpecific {
            number,
            constructed: true,
        } if number.value() == 1 => {
            let seq = Any::new(Tag::Sequence, any.value()).map_err(malformed)?;
            let info = RevokedInfo::from_der(&seq.to_der().map_err(malformed)?).map_err(malformed)?;
            Ok(OcspVerdict::Revoked {
                revoked_at: der_time(info.revocation_time.to_unix_duration()),
                reason: info.revocation_reason,
            })
        }
        other => Err(OcspError::Malformed(format!("unexpected certStatus tag {other}"))),
    }
}
