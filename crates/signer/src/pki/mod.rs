//! The service's PKI: per-job leaf certificates, CRLs, OCSP responses, RFC 3161 timestamps.
//!
//! Every CA and TSA signature goes through [`notary::crypto::Signer`], whose
//! signatures are JOSE-shaped (ECDSA `r || s`, RSASSA-PSS with a salt as long
//! as the hash); [`Issuer`] turns them into what X.509, CRLs, OCSP and CMS
//! carry: ECDSA as a DER `Ecdsa-Sig-Value` under `ecdsa-with-SHA256/384/512`,
//! RSA under `id-RSASSA-PSS` with explicit parameters (hash, MGF1 with the
//! same hash, salt length = hash length) — the exact parameter bytes Go's
//! `crypto/x509` accepts.
//!
//! All structures are written directly as DER ([`asn1`]), with the issuer's
//! name, key identifier and algorithm identifier computed once per
//! [`Issuer`]: issuing a leaf costs one signature plus a few microseconds.
//!
//! | module   | what                                                        |
//! |----------|-------------------------------------------------------------|
//! | [`leaf`] | leaf, CA and TSA certificates                               |
//! | [`crl`]  | X.509 v2 CRLs                                               |
//! | [`ocsp`] | RFC 6960 request parsing and responses                      |
//! | [`tsa`]  | RFC 3161 request parsing, responses and tokens              |

mod asn1;
pub mod crl;
pub mod leaf;
pub mod ocsp;
pub mod tsa;

#[cfg(test)]
mod tests;

use std::{fmt, str::FromStr, sync::Arc};

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use notary::{
    algorithm::{KeySpec, SignatureAlgorithm},
    crypto::Signer,
};

pub use crl::{RevokedCert, crl};
pub use leaf::{LeafRequest, generate_ca, generate_tsa_certificate, issue_leaf, random_serial};
pub use ocsp::{
    CertId, CertStatus, HashAlg, OcspErrorStatus, OcspRequest, ocsp_error, ocsp_response, parse_ocsp_request,
};
pub use tsa::{
    TimestampHash, TimestampRequest, Tsa, TsaFailure, parse_timestamp_request, timestamp_rejection,
    timestamp_response, timestamp_token,
};

/// Something in the PKI module went wrong; the text names the input or step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A certificate (of an issuer chain) could not be parsed or used.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The signer does not hold the key of the issuer certificate.
    #[error("issuer: {0}")]
    Issuer(String),
    /// The CA or TSA signer failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// A subject distinguished name did not parse.
    #[error("subject {subject:?}: {reason}")]
    Subject {
        /// The text given.
        subject: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A certificate, CRL or response request has a bad field (serial, key, validity, URL…).
    #[error("{0}")]
    Invalid(String),
    /// An OCSP request was malformed or asks for something unsupported.
    #[error("OCSP request: {0}")]
    OcspRequest(String),
    /// A timestamp request was refused; `failure` is the RFC 3161 failure to report.
    #[error("timestamp request: {reason}")]
    TimestampRequest {
        /// The PKIFailureInfo bit to answer with ([`timestamp_rejection`]).
        failure: TsaFailure,
        /// What was wrong.
        reason: String,
    },
}

impl PkiError {
    /// For a refused timestamp request, the failure to put in the rejection.
    pub fn tsa_failure(&self) -> Option<TsaFailure> {
        match self {
            Self::TimestampRequest { failure, .. } => Some(*failure),
            _ => None,
        }
    }
}

/// Why a certificate was revoked (RFC 5280 CRLReason), as CRLs and OCSP carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `unspecified` (0).
    Unspecified,
    /// `keyCompromise` (1).
    KeyCompromise,
    /// `cACompromise` (2).
    CaCompromise,
    /// `affiliationChanged` (3).
    AffiliationChanged,
    /// `superseded` (4).
    Superseded,
    /// `cessationOfOperation` (5).
    CessationOfOperation,
    /// `certificateHold` (6).
    CertificateHold,
    /// `privilegeWithdrawn` (9).
    PrivilegeWithdrawn,
}

impl Reason {
    /// Every reason, in code order.
    pub const ALL: [Reason; 8] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name: `keyCompromise`, `cACompromise`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "keyCompromise",
            Self::CaCompromise => "cACompromise",
            Self::AffiliationChanged => "affiliationChanged",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessationOfOperation",
            Self::CertificateHold => "certificateHold",
            Self::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::CaCompromise => 2,
            Self::AffiliationChanged => 3,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
            Self::CertificateHold => 6,
            Self::PrivilegeWithdrawn => 9,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Reason {
    type Err = PkiError;

    /// Parses the RFC 5280 name, ignoring ASCII case (so `caCompromise` works too).
    fn from_str(s: &str) -> Result<Self, PkiError> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                PkiError::Invalid(format!(
                    "unknown revocation reason {s:?} (expected one of {})",
                    Self::ALL.map(Reason::as_str).join(", ")
                ))
            })
    }
}

impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) mod oids {
    use const_oid::ObjectIdentifier as O;

    pub(crate) const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub(crate) const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub(crate) const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub(crate) const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    pub(crate) const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub(crate) const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub(crate) const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
    pub(crate) const RSA_PSS: O = O::new_unwrap("1.2.840.113549.1.1.10");
    pub(crate) const MGF1: O = O::new_unwrap("1.2.840.113549.1.1.8");
    pub(crate) const SUBJECT_KEY_ID: O = O::new_unwrap("2.5.29.14");
    pub(crate) const KEY_USAGE: O = O::new_unwrap("2.5.29.15");
    pub(crate) const BASIC_CONSTRAINTS: O = O::new_unwrap("2.5.29.19");
    pub(crate) const CRL_NUMBER: O = O::new_unwrap("2.5.29.20");
    pub(crate) const CRL_REASON: O = O::new_unwrap("2.5.29.21");
    pub(crate) const CRL_DP: O = O::new_unwrap("2.5.29.31");
    pub(crate) const AUTHORITY_KEY_ID: O = O::new_unwrap("2.5.29.35");
    pub(crate) const EXT_KEY_USAGE: O = O::new_unwrap("2.5.29.37");
    pub(crate) const AIA: O = O::new_unwrap("1.3.6.1.5.5.7.1.1");
    pub(crate) const AD_OCSP: O = O::new_unwrap("1.3.6.1.5.5.7.48.1");
    pub(crate) const KP_CODE_SIGNING: O = O::new_unwrap("1.3.6.1.5.5.7.3.3");
    pub(crate) const KP_TIME_STAMPING: O = O::new_unwrap("1.3.6.1.5.5.7.3.8");
}

/// A CA (or TSA) that signs through a [`Signer`], with what every structure
/// it signs needs precomputed.
#[derive(Clone)]
pub struct Issuer {
    /// Its certificate, DER.
    pub certificate: Vec<u8>,
    /// Its certificate first, then up to and including the root, DER.
    pub chain: Vec<Vec<u8>>,
    /// The key, possibly in an HSM.
    pub signer: Arc<dyn Signer>,
    cached: Arc<Cached>,
}

/// The issuer's parts, computed once.
struct Cached {
    /// The certificate's subject Name, DER, exactly as in the certificate.
    name: Vec<u8>,
    /// The certificate's issuer Name, DER (for CMS signer identifiers).
    issuer_name: Vec<u8>,
    /// The certificate's serial number, INTEGER content octets.
    serial: Vec<u8>,
    /// The subject key identifier (the extension's, else SHA-1 of the key).
    key_id: Vec<u8>,
    /// The signature AlgorithmIdentifier, DER.
    signature_alg: Vec<u8>,
    /// The hash the signer's algorithm uses (CMS digest algorithm).
    hash: SignatureHash,
    /// The signer's algorithm.
    algorithm: SignatureAlgorithm,
    name_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha1: Vec<u8>,
    key_sha256: Vec<u8>,
    /// The certificate's SPKI, DER.
    spki: Vec<u8>,
}

/// The hash inside a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureHash {
    Sha256,
    Sha384,
    Sha512,
}

impl SignatureHash {
    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("key", &self.signer.key_spec().to_string())
            .field("chain_len", &self.chain.len())
            .field("key_id", &hex::encode(&self.cached.key_id))
            .finish_non_exhaustive()
    }
}

pub(crate) fn sha1(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

/// The AlgorithmIdentifier DER and hash for a signer's key spec.
pub(crate) fn signature_algorithm(
    spec: KeySpec,
) -> Result<(Vec<u8>, SignatureHash, SignatureAlgorithm), PkiError> {
    let alg = spec
        .signature_algorithm()
        .map_err(|e| PkiError::Issuer(format!("unsupported key {spec}: {e}")))?;
    let (der, hash) = match alg {
        SignatureAlgorithm::EcdsaSha256 => (asn1::alg_absent(&oids::ECDSA_SHA256), SignatureHash::Sha256),
        SignatureAlgorithm::EcdsaSha384 => (asn1::alg_absent(&oids::ECDSA_SHA384), SignatureHash::Sha384),
        SignatureAlgorithm::EcdsaSha512 => (asn1::alg_absent(&oids::ECDSA_SHA512), SignatureHash::Sha512),
        SignatureAlgorithm::RsaPssSha256 => (pss(SignatureHash::Sha256, 32), SignatureHash::Sha256),
        SignatureAlgorithm::RsaPssSha384 => (pss(SignatureHash::Sha384, 48), SignatureHash::Sha384),
        SignatureAlgorithm::RsaPssSha512 => (pss(SignatureHash::Sha512, 64), SignatureHash::Sha512),
    };
    Ok((der, hash, alg))
}

/// `id-RSASSA-PSS` with explicit parameters, byte for byte what Go expects.
fn pss(hash: SignatureHash, salt: u8) -> Vec<u8> {
    let hash_alg = asn1::alg_null(&hash.oid());
    let mgf = asn1::seq(&[&asn1::oid(&oids::MGF1), &hash_alg]);
    let params = asn1::seq(&[
        &asn1::tlv(asn1::ctx(0), &hash_alg),
        &asn1::tlv(asn1::ctx(1), &mgf),
        &asn1::tlv(asn1::ctx(2), &asn1::small_uint(u64::from(salt))),
    ]);
    asn1::seq(&[&asn1::oid(&oids::RSA_PSS), &params])
}

/// Turns a JOSE signature into the X.509/CMS form: ECDSA `r || s` becomes a
/// DER `Ecdsa-Sig-Value`; RSA-PSS stays as it is.
pub(crate) fn x509_signature(alg: SignatureAlgorithm, jose: Vec<u8>) -> Result<Vec<u8>, PkiError> {
    let width = match alg {
        SignatureAlgorithm::EcdsaSha256 => 32,
        SignatureAlgorithm::EcdsaSha384 => 48,
        SignatureAlgorithm::EcdsaSha512 => 66,
        _ => return Ok(jose),
    };
    if jose.len() != 2 * width {
        return Err(PkiError::Signing(format!(
            "ECDSA signature of {} bytes, expected {}",
            jose.len(),
            2 * width
        )));
    }
    let (r, s) = jose.split_at(width);
    Ok(asn1::seq(&[&asn1::uint(r), &asn1::uint(s)]))
}

/// The contents of a certificate's subjectPublicKey BIT STRING.
pub(crate) fn spki_key_bits(spki: &[u8]) -> Result<&[u8], String> {
    let outer = asn1::single(spki, asn1::SEQUENCE, "SubjectPublicKeyInfo")?;
    let mut r = outer.reader();
    r.expect(asn1::SEQUENCE, "algorithm")?;
    let key = r.expect(asn1::BIT_STRING, "subjectPublicKey")?;
    r.finish("SubjectPublicKeyInfo")?;
    match key.content.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err("subjectPublicKey has unused bits".into()),
    }
}

/// Checks that `signer` holds the key of `certificate`: signs a probe and
/// verifies it with the certificate's public key (an HSM or file key
/// configured next to the wrong certificate is caught at start, not at the
/// first signature a verifier refuses).
pub fn check_key_matches(
    certificate: &notary::x509::Certificate,
    signer: &dyn Signer,
) -> Result<(), PkiError> {
    let spec = signer.key_spec();
    let algorithm = spec
        .signature_algorithm()
        .map_err(|e| PkiError::Issuer(format!("unsupported key {spec}: {e}")))?;
    let probe = b"signet key probe";
    let sig = signer.sign(probe).map_err(|e| PkiError::Signing(e.to_string()))?;
    notary::crypto::verify(algorithm, &certificate.spki_der(), probe, &sig).map_err(|_| {
        PkiError::Issuer(format!(
            "the signer's key ({spec}) is not the key of certificate {:?}",
            certificate.subject()
        ))
    })
}

impl Issuer {
    /// An issuer from its chain (its certificate first, DER) and its key;
    /// checks that `signer` holds the key of `chain[0]` by signing a probe.
    pub fn new(chain: Vec<Vec<u8>>, signer: Arc<dyn Signer>) -> Result<Self, PkiError> {
        let certificate = chain
            .first()
            .cloned()
            .ok_or_else(|| PkiError::Issuer("empty certificate chain".into()))?;
        let cert = notary::x509::Certificate::from_der(certificate.clone())
            .map_err(|e| PkiError::Certificate(e.to_string()))?;
        let spki = cert.spki_der();
        let (signature_alg, hash, algorithm) = signature_algorithm(signer.key_spec())?;
        check_key_matches(&cert, signer.as_ref())?;
        let key_bits = spki_key_bits(&spki).map_err(PkiError::Certificate)?.to_vec();
        let (serial, issuer_name, key_id) = leaf::cert_parts(&certificate)?;
        let key_id = key_id.unwrap_or_else(|| sha1(&key_bits));
        let name = cert.raw_subject().to_vec();
        let cached = Cached {
            name_sha1: sha1(&name),
            name_sha256: sha256(&name),
            key_sha1: sha1(&key_bits),
            key_sha256: sha256(&key_bits),
            name,
            issuer_name,
            serial,
            key_id,
            signature_alg,
            hash,
            algorithm,
            spki,
        };
        Ok(Self {
            certificate,
            chain,
            signer,
            cached: Arc::new(cached),
        })
    }

    /// The issuer's subject key identifier (what its leaves' AKI carry).
    pub fn key_id(&self) -> &[u8] {
        &self.cached.key_id
    }

    /// The issuer's subject Name, DER.
    pub fn name_der(&self) -> &[u8] {
        &self.cached.name
    }

    /// Signs `tbs` and wraps it as `SEQUENCE { tbs, algorithm, BIT STRING signature }`.
    pub(crate) fn sign_structure(&self, tbs: &[u8]) -> Result<Vec<u8>, PkiError> {
        let sig = self.sign_raw(tbs)?;
        Ok(asn1::seq(&[tbs, &self.cached.signature_alg, &asn1::bits(&sig)]))
    }

    /// Signs `message`, giving the X.509/CMS signature encoding.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, PkiError> {
        let jose = self
            .signer
            .sign(message)
            .map_err(|e| PkiError::Signing(e.to_string()))?;
        x509_signature(self.cached.algorithm, jose)
    }
}
