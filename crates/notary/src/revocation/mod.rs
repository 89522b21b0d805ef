//! Revocation checking, behind a trait.
//!
//! The verification procedure checks every certificate of the signing chain
//! (and of a timestamp's TSA chain) with OCSP first, then CRL. Fetching those
//! needs the network, which this crate never touches, so the check goes
//! through [`RevocationChecker`]. The CLI, the webhook and the node agent plug
//! in an HTTP implementation; tests plug in fakes that fail on purpose.
//!
//! Without a checker the verifier still tells the truth: a chain whose
//! certificates carry no OCSP or CRL endpoint cannot be revoked at all (the
//! Notary Project calls this "non-revokable", and notation treats it as OK);
//! any other chain is reported as **not checked**, which fails closed when
//! the trust policy enforces revocation.
//!
//! The pure halves of the two protocols live here too: [`crl`] parses and
//! decides certificate revocation lists, [`ocsp`] builds RFC 6960 requests
//! and verifies responses. Neither fetches anything.

pub mod crl;
pub mod ocsp;

use const_oid::ObjectIdentifier;
use der::Decode;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, CrlDistributionPoints, name::DistributionPointName, name::GeneralName,
};

use crate::x509::{
    Certificate, CertificateError,
    signature::{SignatureAlgorithm, verify},
};

const OID_AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
const OID_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const OID_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");

/// The revocation state of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    /// A responder or CRL said the certificate is good.
    Good,
    /// The certificate has no OCSP or CRL endpoint, so it cannot be revoked.
    NonRevokable,
    /// The certificate is revoked.
    Revoked {
        /// Why, as the responder or CRL put it (reason code, time), if known.
        detail: String,
    },
    /// The state could not be learnt (responder down, timeout, bad response).
    Unknown {
        /// What went wrong.
        detail: String,
    },
}

/// Looks up the revocation state of each certificate in a chain.
///
/// The shape is one call per chain rather than per certificate because OCSP
/// requests need the issuer of each certificate, and because an
/// implementation may want to fetch in parallel.
pub trait RevocationChecker: Send + Sync {
    /// One status per certificate of `chain` (leaf first), in order.
    fn check(&self, chain: &[Certificate]) -> Vec<CertStatus>;
}

/// Where a certificate says its revocation state can be found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationEndpoints {
    /// OCSP responder URLs from the Authority Information Access extension.
    pub ocsp: Vec<String>,
    /// CRL distribution point URLs.
    pub crl: Vec<String>,
}

impl RevocationEndpoints {
    /// Reads the endpoints of `cert`; unparsable extensions give no endpoints.
    pub fn of(cert: &Certificate) -> Self {
        let mut out = Self::default();
        let Ok(parsed) = x509_cert::Certificate::from_der(cert.der()) else {
            return out;
        };
        for ext in parsed.tbs_certificate().extensions().into_iter().flatten() {
            let bytes = ext.extn_value.as_bytes();
            if ext.extn_id == OID_AIA
                && let Ok(aia) = AuthorityInfoAccessSyntax::from_der(bytes)
            {
                for ad in aia.0 {
                    if let (true, GeneralName::UniformResourceIdentifier(uri)) =
                        (ad.access_method == OID_OCSP, ad.access_location)
                    {
                        out.ocsp.push(uri.to_string());
                    }
                }
            } else if ext.extn_id == OID_CRL_DP
                && let Ok(dps) = CrlDistributionPoints::from_der(bytes)
            {
                for dp in dps.0 {
                    if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                        for name in names {
                            if let GeneralName::UniformResourceIdentifier(uri) = name {
                                out.crl.push(uri.to_string());
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Whether the certificate names no endpoint at all.
    pub fn is_empty(&self) -> bool {
        self.ocsp.is_empty() && self.crl.is_empty()
    }
}

/// The combined verdict over a chain, as notation computes it: any revoked
/// certificate makes the chain revoked; otherwise any unknown makes it unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainStatus {
    /// Every certificate is good or non-revokable.
    Ok,
    /// The certificate with this subject is revoked.
    Revoked(String),
    /// The state of the certificate with this subject is unknown.
    Unknown(String),
}

/// Folds per-certificate results into the chain verdict (root last).
pub fn chain_status(chain: &[Certificate], statuses: &[CertStatus]) -> ChainStatus {
    if statuses.len() != chain.len() {
        return ChainStatus::Unknown(format!(
            "revocation checker returned {} results for a chain of {} certificates",
            statuses.len(),
            chain.len()
        ));
    }
    let mut unknown = None;
    for (cert, status) in chain.iter().zip(statuses).rev() {
        match status {
            CertStatus::Good | CertStatus::NonRevokable => {}
            CertStatus::Revoked { .. } => return ChainStatus::Revoked(cert.subject()),
            CertStatus::Unknown { .. } => unknown = Some(cert.subject()),
        }
    }
    match unknown {
        Some(subject) => ChainStatus::Unknown(subject),
        None => ChainStatus::Ok,
    }
}

/// How a certificate's status was learnt, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Online Certificate Status Protocol.
    Ocsp,
    /// Certificate revocation list.
    Crl,
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ocsp => "OCSP",
            Self::Crl => "CRL",
        })
    }
}

/// notation's wording of a per-certificate revocation problem:
/// `Certificate #1 in chain with subject "…" encountered an error for
/// revocation method OCSP at URL "…": certificate is revoked via OCSP`.
/// `index` is 0-based (leaf = 0); the text counts from 1.
pub fn describe(index: usize, cert: &Certificate, method: Method, url: &str, what: &str) -> String {
    format!(
        "Certificate #{} in chain with subject {:?} encountered an error for revocation method {method} at URL {url:?}: {what}",
        index + 1,
        cert.subject()
    )
}

/// Verifies a `SIGNED{…}` structure (SEQUENCE of to-be-signed, algorithm,
/// BIT STRING) with `signer`'s public key.
pub(crate) fn verify_signed(
    der: &[u8],
    alg: &AlgorithmIdentifierOwned,
    signer: &Certificate,
) -> Result<(), CertificateError> {
    #[derive(der::Sequence)]
    struct RawSigned<'a> {
        tbs: der::asn1::AnyRef<'a>,
        algorithm: der::asn1::AnyRef<'a>,
        signature: der::asn1::BitStringRef<'a>,
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        certs: Option<der::asn1::AnyRef<'a>>,
    }
    let malformed = |e: der::Error| CertificateError::Malformed(e.to_string());
    let raw = RawSigned::from_der(der).map_err(malformed)?;
    let tbs = der::Encode::to_der(&raw.tbs).map_err(malformed)?;
    let sig = raw
        .signature
        .as_bytes()
        .ok_or_else(|| CertificateError::Malformed("signature has unused bits".into()))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&signer.spki_der())
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    verify(
        &SignatureAlgorithm::from_algorithm_identifier(alg),
        &spki,
        &tbs,
        sig,
    )
}

/// An X.509 `Time` as an `OffsetDateTime`.
pub(crate) fn to_offset(t: &x509_cert::time::Time) -> OffsetDateTime {
    der_time(t.to_unix_duration())
}

pub(crate) fn der_time(d: std::time::Duration) -> OffsetDateTime {
    i64::try_from(d.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
