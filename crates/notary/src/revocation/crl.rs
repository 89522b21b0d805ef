//! Certificate revocation lists (RFC 5280 §5), checked the way notation does.
//!
//! A [`Crl`] is parsed from DER once; [`check`] then decides one certificate
//! against a base CRL and an optional delta CRL: both must be signed by the
//! certificate's issuer, name that issuer, carry a `nextUpdate` that has not
//! passed, and have no critical extension this module does not understand.
//! Fetching and caching the files is the caller's job (`fetch::revocation`).
//!
//! Entry semantics follow notation-core-go: `certificateHold` counts as
//! revoked, a later `removeFromCRL` entry (normally in the delta CRL) lifts
//! it, any other reason (or none) is a revocation.

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::{crl::CertificateList, ext::pkix::CrlReason};

use super::{to_offset, verify_signed};
use crate::x509::{Certificate, KeyUsageBit};

const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
const OID_FRESHEST_CRL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.46");
const OID_ISSUING_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");
const OID_CRL_REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");

/// Why a CRL could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    /// The bytes are not a DER CertificateList (Go's text).
    #[error("x509: malformed crl: {0}")]
    Malformed(String),
    /// A CRL distribution point extension did not parse (Go's text).
    #[error("x509: invalid CRL distribution point")]
    InvalidDistributionPoint,
    /// The CRL's signature does not verify with the issuer's key.
    #[error("CRL is not signed by CA {issuer}: {reason}")]
    BadSignature {
        /// The expected issuer's subject.
        issuer: String,
        /// What failed.
        reason: String,
    },
    /// The CRL names a different issuer than the certificate's.
    #[error("CRL issuer {crl_issuer} does not match the certificate's issuer {issuer}")]
    IssuerMismatch {
        /// The CRL's issuer.
        crl_issuer: String,
        /// The certificate's issuer.
        issuer: String,
    },
    /// The CRL has no `nextUpdate`, so its freshness cannot be judged.
    #[error("CRL NextUpdate is not set")]
    NoNextUpdate,
    /// `nextUpdate` has passed.
    #[error("expired CRL. Current time {now} is after CRL NextUpdate {next_update}")]
    Expired {
        /// The time checked.
        now: String,
        /// The CRL's nextUpdate.
        next_update: String,
    },
    /// A critical extension this module does not implement.
    #[error("unsupported critical extension found in CRL: {0}")]
    UnsupportedCriticalExtension(String),
    /// The delta CRL does not fit the base CRL.
    #[error("invalid delta CRL: {0}")]
    BadDelta(String),
}

/// A parsed certificate revocation list.
#[derive(Clone, Debug)]
pub struct Crl {
    der: Vec<u8>,
    list: CertificateList,
}

/// How the certificate stands in a CRL (or base + delta pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlVerdict {
    /// The serial is not listed (or was removed from the CRL).
    Good,
    /// The serial is listed.
    Revoked {
        /// The reason code, when the entry has one.
        reason: Option<CrlReason>,
        /// When the CA revoked it.
        revoked_at: OffsetDateTime,
    },
}

impl Crl {
    /// Parses a DER CertificateList.
    pub fn from_der(der: &[u8]) -> Result<Self, CrlError> {
        let list = CertificateList::from_der(der).map_err(|e| CrlError::Malformed(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            list,
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// `thisUpdate`.
    pub fn this_update(&self) -> OffsetDateTime {
        to_offset(&self.list.tbs_cert_list.this_update)
    }

    /// `nextUpdate`, when present.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.list.tbs_cert_list.next_update.as_ref().map(to_offset)
    }

    /// Whether the CRL is a delta CRL (has a Delta CRL Indicator).
    pub fn is_delta(&self) -> bool {
        self.extension(OID_DELTA_CRL_INDICATOR).is_some()
    }

    /// The CRL number's big-endian magnitude, when present.
    pub fn number(&self) -> Option<Vec<u8>> {
        uint_bytes(self.extension(OID_CRL_NUMBER)?)
    }

    /// For a delta CRL, the number of the base CRL it completes.
    pub fn base_number(&self) -> Option<Vec<u8>> {
        uint_bytes(self.extension(OID_DELTA_CRL_INDICATOR)?)
    }

    /// Delta CRL URLs from the CRL's own Freshest CRL extension.
    pub fn freshest_crl_urls(&self) -> Result<Vec<String>, CrlError> {
        self.extension(OID_FRESHEST_CRL)
            .map_or(Ok(Vec::new()), freshest_urls)
    }

    /// Number of entries in revokedCertificates.
    pub fn revoked_count(&self) -> usize {
        self.list
            .tbs_cert_list
            .revoked_certificates
            .as_ref()
            .map_or(0, Vec::len)
    }

    /// Checks that `issuer` signed this CRL, that it names `issuer`, that it
    /// is fresh at `now`, and that it has no unknown critical extension.
    pub fn validate(&self, issuer: &Certificate, now: OffsetDateTime) -> Result<(), CrlError> {
        let crl_issuer = self
            .list
            .tbs_cert_list
            .issuer
            .to_der()
            .map_err(|e| CrlError::Malformed(e.to_string()))?;
        if crl_issuer != issuer.raw_subject() {
            return Err(CrlError::IssuerMismatch {
                crl_issuer: self.list.tbs_cert_list.issuer.to_string(),
                issuer: issuer.subject(),
            });
        }
        if issuer.key_usage().is_some_and(|ku| !ku.has(KeyUsageBit::CrlSign)) {
            return Err(CrlError::BadSignature {
                issuer: issuer.subject(),
                reason: "issuer key usage lacks cRLSign".into(),
            });
        }
        verify_signed(&self.der, &self.list.signature_algorithm, issuer).map_err(|e| {
            CrlError::BadSignature {
                issuer: issuer.subject(),
                reason: e.to_string(),
            }
        })?;
        let next = self.next_update().ok_or(CrlError::NoNextUpdate)?;
        if now > next {
            return Err(CrlError::Expired {
                now: now.to_string(),
                next_update: next.to_string(),
            });
        }
        for ext in self.list.tbs_cert_list.crl_extensions.iter().flatten() {
            let known = [OID_DELTA_CRL_INDICATOR, OID_ISSUING_DP];
            if ext.critical && !known.contains(&ext.extn_id) {
                return Err(CrlError::UnsupportedCriticalExtension(ext.extn_id.to_string()));
            }
        }
        Ok(())
    }

    /// The entries for `cert`'s serial, in list order: (reason, date).
    fn entries_for(&self, cert: &Certificate) -> Vec<(Option<CrlReason>, OffsetDateTime)> {
        let want = trim_serial(&cert.serial_hex());
        let mut out = Vec::new();
        for entry in self.list.tbs_cert_list.revoked_certificates.iter().flatten() {
            if trim_serial(&hex::encode(entry.serial_number.as_bytes())) != want {
                continue;
            }
            let reason = entry
                .crl_entry_extensions
                .iter()
                .flatten()
                .find(|e| e.extn_id == OID_CRL_REASON)
                .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok());
            out.push((reason, to_offset(&entry.revocation_date)));
        }
        out
    }

    fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.list
            .tbs_cert_list
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes())
    }
}

/// Decides `cert` (issued by `issuer`) against `base` and an optional `delta`
/// CRL at time `now`. Both CRLs are validated first.
pub fn check(
    cert: &Certificate,
    issuer: &Certificate,
    base: &Crl,
    delta: Option<&Crl>,
    now: OffsetDateTime,
) -> Result<CrlVerdict, CrlError> {
    if base.is_delta() {
        return Err(CrlError::BadDelta("the base CRL is itself a delta CRL".into()));
    }
    if cert.raw_issuer() != issuer.raw_subject() {
        return Err(CrlError::IssuerMismatch {
            crl_issuer: issuer.subject(),
            issuer: cert.issuer(),
        });
    }
    base.validate(issuer, now)?;
    let mut entries = base.entries_for(cert);
    if let Some(delta) = delta {
        if !delta.is_delta() {
            return Err(CrlError::BadDelta("it has no Delta CRL Indicator".into()));
        }
        delta.validate(issuer, now)?;
        if let (Some(d), Some(b)) = (delta.number(), base.number())
            && cmp_uint(&d, &b).is_le()
        {
            return Err(CrlError::BadDelta(
                "its CRL number is not above the base CRL's".into(),
            ));
        }
        entries.extend(delta.entries_for(cert));
    }
    let mut verdict = CrlVerdict::Good;
    for (reason, revoked_at) in entries {
        verdict = match reason {
            Some(CrlReason::RemoveFromCRL) => CrlVerdict::Good,
            reason => CrlVerdict::Revoked { reason, revoked_at },
        };
    }
    Ok(verdict)
}

/// Delta CRL URLs named by a certificate's Freshest CRL extension.
///
/// A malformed extension is `x509: invalid CRL distribution point` as in Go;
/// distribution points without a URI full name are skipped.
pub fn certificate_freshest_crl_urls(cert: &Certificate) -> Result<Vec<String>, CrlError> {
    let parsed =
        x509_cert::Certificate::from_der(cert.der()).map_err(|e| CrlError::Malformed(e.to_string()))?;
    let ext = parsed
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|e| e.extn_id == OID_FRESHEST_CRL);
    ext.map_or(Ok(Vec::new()), |e| freshest_urls(e.extn_value.as_bytes()))
}

/// The name notation prints for a CRL reason code.
pub fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

/// Reads CRL distribution point URLs the way Go's `crypto/x509` does: a
/// point without a name is skipped, a name must be a `fullName`, and URIs are
/// read up to the first general name of another kind.
fn freshest_urls(value: &[u8]) -> Result<Vec<String>, CrlError> {
    const SEQUENCE: u8 = 0x30;
    const CTX0_CONSTRUCTED: u8 = 0xa0;
    const URI: u8 = 0x86;
    let invalid = || CrlError::InvalidDistributionPoint;
    let (tag, mut points, rest) = read_tlv(value).ok_or_else(invalid)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return Err(invalid());
    }
    let mut urls = Vec::new();
    while !points.is_empty() {
        let (tag, dp, rest) = read_tlv(points).ok_or_else(invalid)?;
        points = rest;
        if tag != SEQUENCE {
            return Err(invalid());
        }
        let Some((CTX0_CONSTRUCTED, dp_name, _)) = read_tlv(dp) else {
            continue;
        };
        let (tag, mut names, _) = read_tlv(dp_name).ok_or_else(invalid)?;
        if tag != CTX0_CONSTRUCTED {
            return Err(invalid());
        }
        while let Some((URI, uri, rest)) = read_tlv(names) {
            urls.push(String::from_utf8_lossy(uri).into_owned());
            names = rest;
        }
    }
    Ok(urls)
}

/// One DER TLV with a single-byte tag: (tag, value, rest).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

fn uint_bytes(value: &[u8]) -> Option<Vec<u8>> {
    let n = der::asn1::Uint::from_der(value).ok()?;
    Some(n.as_bytes().to_vec())
}

fn cmp_uint(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let strip = |x: &[u8]| x.iter().skip_while(|b| **b == 0).copied().collect::<Vec<_>>();
    let (a, b) = (strip(a), strip(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(&b))
}

fn trim_serial(hex: &str) -> String {
    let t = hex.trim_start_matches("00");
    if t.is_empty() { "0".into() } else { t.to_owned() }
}
