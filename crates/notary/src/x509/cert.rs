//! The [`Certificate`] type and reading certificates from PEM or DER bytes.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use der::{Decode, Encode, Reader as _, SliceReader, asn1::AnyRef};
use time::OffsetDateTime;

use super::{
    CertificateError,
    extensions::{BasicConstraints, ExtendedKeyUsage, ExtensionInfo, Honoured, KeyUsage},
    name::DistinguishedName,
    signature::{self, SignatureAlgorithm},
};
use crate::algorithm::KeySpec;

/// An X.509 certificate: its DER bytes and the facts the Notary Project rules
/// look at, parsed once.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    inner: x509_cert::Certificate,
    tbs: Vec<u8>,
    signature: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    subject: DistinguishedName,
    issuer: DistinguishedName,
    raw_subject: Vec<u8>,
    raw_issuer: Vec<u8>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    extensions: Honoured,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("issuer", &self.issuer())
            .field("serial", &self.serial_hex())
            .field("sha256", &self.sha256_thumbprint())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

fn malformed(e: impl fmt::Display) -> CertificateError {
    CertificateError::Malformed(e.to_string())
}

fn to_offset_date_time(t: &x509_cert::time::Time) -> Result<OffsetDateTime, CertificateError> {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).map_err(malformed)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(malformed)
}

impl Certificate {
    /// Parses one DER certificate; trailing bytes are an error.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertificateError> {
        if der.is_empty() {
            return Err(CertificateError::Malformed("empty input".into()));
        }
        let inner = x509_cert::Certificate::from_der(&der).map_err(malformed)?;
        let (tbs, signature) = signature::split_certificate(&der)?;
        let tbs_cert = inner.tbs_certificate();
        let subject = DistinguishedName::from_name(tbs_cert.subject()).map_err(malformed)?;
        let issuer = DistinguishedName::from_name(tbs_cert.issuer()).map_err(malformed)?;
        let raw_subject = tbs_cert.subject().to_der().map_err(malformed)?;
        let raw_issuer = tbs_cert.issuer().to_der().map_err(malformed)?;
        let not_before = to_offset_date_time(&tbs_cert.validity().not_before)?;
        let not_after = to_offset_date_time(&tbs_cert.validity().not_after)?;
        let extensions = Honoured::parse(tbs_cert.extensions())?;
        let signature_algorithm = SignatureAlgorithm::from_algorithm_identifier(inner.signature_algorithm());
        Ok(Self {
            der,
            inner,
            tbs,
            signature,
            signature_algorithm,
            subject,
            issuer,
            raw_subject,
            raw_issuer,
            not_before,
            not_after,
            extensions,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`CERTIFICATE` block, 64-column lines, LF endings).
    pub fn to_pem(&self) -> String {
        der_to_pem(&self.der)
    }

    /// The subject in Go's `pkix.Name.String()` form, e.g. `CN=e2e,O=Notary,L=Seattle,ST=WA,C=US`.
    pub fn subject(&self) -> String {
        self.subject.go_string()
    }

    /// The issuer in Go's `pkix.Name.String()` form.
    pub fn issuer(&self) -> String {
        self.issuer.go_string()
    }

    /// The subject's common name, if it has a non-empty one.
    pub fn common_name(&self) -> Option<String> {
        self.subject
            .last_value(3)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// The DER of the subject name (compared byte for byte with issuers).
    pub fn raw_subject(&self) -> &[u8] {
        &self.raw_subject
    }

    /// The DER of the issuer name.
    pub fn raw_issuer(&self) -> &[u8] {
        &self.raw_issuer
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of the validity period (inclusive).
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Whether `t` lies within the validity period (both ends inclusive).
    pub fn is_valid_at(&self, t: OffsetDateTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// The serial number as lowercase hex of its big-endian bytes.
    pub fn serial_hex(&self) -> String {
        hex::encode(self.inner.tbs_certificate().serial_number().as_bytes())
    }

    /// The X.509 version (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.inner.tbs_certificate().version() as u8 + 1
    }

    /// Lowercase hex of SHA-256 over the DER (the `x509chain.thumbprint#S256` value).
    pub fn sha256_thumbprint(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, &self.der))
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> Vec<u8> {
        self.inner
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .unwrap_or_default()
    }

    /// The key spec of the certificate's public key; keys the specification
    /// does not allow are an error with notation's text.
    pub fn key_spec(&self) -> Result<KeySpec, CertificateError> {
        KeySpec::from_spki_der(&self.spki_der())
            .map_err(|_| CertificateError::UnsupportedKey(self.public_key_problem()))
    }

    /// A description of the public key such as `RSA 2048 bits` or `ECDSA P-256`.
    pub fn public_key_description(&self) -> String {
        match public_key_kind(&self.spki_der()) {
            PublicKeyKind::Rsa(bits) => format!("RSA {bits} bits"),
            PublicKeyKind::Ecdsa(bits) => format!("ECDSA P-{bits}"),
            PublicKeyKind::Ed25519 => "Ed25519".to_string(),
            PublicKeyKind::Other(what) => what,
        }
    }

    /// Go's text for a key `key_spec` refuses.
    fn public_key_problem(&self) -> String {
        match public_key_kind(&self.spki_der()) {
            PublicKeyKind::Rsa(bits) => format!("rsa key size {bits} bits is not supported"),
            PublicKeyKind::Ecdsa(bits) => format!("ecdsa key size {bits} bits is not supported"),
            _ => "unsupported public key type".to_string(),
        }
    }

    /// The name Go gives the signature algorithm (`SHA256-RSA`, `ECDSA-SHA384`, …).
    pub fn signature_algorithm_name(&self) -> String {
        self.signature_algorithm.name()
    }

    /// The basic constraints extension, if present.
    pub fn basic_constraints(&self) -> Option<BasicConstraints> {
        self.extensions.basic_constraints
    }

    /// The key usage extension, if present.
    pub fn key_usage(&self) -> Option<KeyUsage> {
        self.extensions.key_usage
    }

    /// The extended key usage extension, if present.
    pub fn extended_key_usage(&self) -> Option<&ExtendedKeyUsage> {
        self.extensions.extended_key_usage.as_ref()
    }

    /// Every extension, in certificate order.
    pub fn extensions(&self) -> &[ExtensionInfo] {
        &self.extensions.all
    }

    /// Whether basic constraints are present with `cA` set.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints().is_some_and(|bc| bc.ca)
    }

    /// Whether the subject and issuer names are the same bytes.
    pub fn is_self_issued(&self) -> bool {
        self.raw_subject == self.raw_issuer
    }

    /// Whether the certificate is self-issued and its signature verifies with
    /// its own key (no CA constraint is applied, as for a self-signed leaf).
    pub fn is_self_signed(&self) -> bool {
        self.is_self_issued() && self.verify_signature_with(self).is_ok()
    }

    /// Checks only the signature on this certificate with `issuer`'s public
    /// key (Go's `CheckSignature`).
    ///
    /// Successful checks are remembered (in a bounded process-wide set): a verifier
    /// sees the same signing chains over and over, and the answer for the
    /// same two certificates never changes.
    pub fn verify_signature_with(&self, issuer: &Certificate) -> Result<(), CertificateError> {
        let key = pair_key(&self.der, &issuer.der);
        if verified_pairs::contains(&key) {
            return Ok(());
        }
        signature::verify(
            &self.signature_algorithm,
            issuer.inner.tbs_certificate().subject_public_key_info(),
            &self.tbs,
            &self.signature,
        )?;
        verified_pairs::insert(key);
        Ok(())
    }

    /// Go's `CheckSignatureFrom`: `parent` must be allowed to sign certificates
    /// (basic constraints with `cA`, or a v1/v2 certificate; keyCertSign when
    /// key usage is present) and its key must verify this certificate's signature.
    pub fn check_signature_from(&self, parent: &Certificate) -> Result<(), CertificateError> {
        let bc = parent.basic_constraints();
        if (parent.version() == 3 && bc.is_none()) || bc.is_some_and(|bc| !bc.ca) {
            return Err(CertificateError::ParentCannotSign);
        }
        if let Some(ku) = parent.key_usage()
            && !ku.is_empty()
            && !ku.has(super::KeyUsageBit::KeyCertSign)
        {
            return Err(CertificateError::ParentCannotSign);
        }
        self.verify_signature_with(parent)
    }

    /// Whether `issuer` issued this certificate: [`check_signature_from`](Self::check_signature_from)
    /// succeeds and this certificate's issuer name is `issuer`'s subject name.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), CertificateError> {
        self.check_signature_from(issuer)?;
        if self.raw_issuer != issuer.raw_subject {
            return Err(CertificateError::Requirement(format!(
                "certificate with subject {} is not issued by {}",
                super::go_quote(&self.subject()),
                super::go_quote(&issuer.subject())
            )));
        }
        Ok(())
    }
}

enum PublicKeyKind {
    Rsa(usize),
    Ecdsa(usize),
    Ed25519,
    Other(String),
}

/// The type and size of a public key, sized the way Go reports them (RSA:
/// modulus bytes × 8).
fn public_key_kind(spki_der: &[u8]) -> PublicKeyKind {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: der::asn1::UintRef<'a>,
        _exponent: der::asn1::UintRef<'a>,
    }
    let Ok(spki) = spki::SubjectPublicKeyInfoRef::from_der(spki_der) else {
        return PublicKeyKind::Other("malformed public key".to_string());
    };
    match spki.algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.1.1" => {
            let bytes = spki.subject_public_key.as_bytes().unwrap_or_default();
            match RsaPublicKey::from_der(bytes) {
                Ok(key) => PublicKeyKind::Rsa(key.modulus.as_bytes().len() * 8),
                Err(_) => PublicKeyKind::Other("malformed RSA public key".to_string()),
            }
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok())
                .map(|o| o.to_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => PublicKeyKind::Ecdsa(256),
                Some("1.3.132.0.34") => PublicKeyKind::Ecdsa(384),
                Some("1.3.132.0.35") => PublicKeyKind::Ecdsa(521),
                Some("1.3.132.0.33") => PublicKeyKind::Ecdsa(224),
                Some(other) => PublicKeyKind::Other(format!("ECDSA curve {other}")),
                None => PublicKeyKind::Other("ECDSA without a named curve".to_string()),
            }
        }
        "1.3.101.112" => PublicKeyKind::Ed25519,
        other => PublicKeyKind::Other(format!("public key algorithm {other}")),
    }
}

/// The PEM `CERTIFICATE` block of a DER certificate (64-column lines, LF
/// endings), without parsing it.
pub fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Reads certificates as notation does: every PEM block when the input holds
/// PEM (each block, whatever its label, must be a certificate), otherwise one
/// or more concatenated DER certificates. Input without any certificate is an
/// error.
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
    let blocks = pem_blocks(bytes);
    let certs = if blocks.is_empty() {
        read_der_sequence(bytes)?
    } else {
        blocks
            .into_iter()
            .map(Certificate::from_der)
            .collect::<Result<Vec<_>, _>>()?
    };
    if certs.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    Ok(certs)
}

/// Concatenated DER certificates.
fn read_der_sequence(mut bytes: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
    let mut certs = Vec::new();
    while !bytes.is_empty() {
        let mut reader = SliceReader::new(bytes).map_err(malformed)?;
        AnyRef::decode(&mut reader).map_err(malformed)?;
        let len = usize::try_from(reader.position()).map_err(malformed)?;
        let (one, rest) = bytes
            .split_at_checked(len)
            .ok_or_else(|| malformed("truncated"))?;
        certs.push(Certificate::from_der(one.to_vec())?);
        bytes = rest;
    }
    Ok(certs)
}

/// The decoded contents of every PEM block, in order, the way Go's
/// `pem.Decode` finds them: text around blocks is ignored, and a block whose
/// body is not valid base64 is skipped.
fn pem_blocks(bytes: &[u8]) -> Vec<Vec<u8>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const DASHES: &[u8] = b"-----";
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(start) = find(rest, BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let Some(label_end) = find(after_begin, DASHES) else {
            break;
        };
        let label = &after_begin[..label_end];
        let body_start = &after_begin[label_end + DASHES.len()..];
        let mut end_marker = b"-----END ".to_vec();
        end_marker.extend_from_slice(label);
        end_marker.extend_from_slice(DASHES);
        let Some(end) = find(body_start, &end_marker) else {
            rest = body_start;
            continue;
        };
        let body = &body_start[..end];
        rest = &body_start[end + end_marker.len()..];
        if label.contains(&b'\n') {
            continue;
        }
        if let Some(decoded) = decode_pem_body(body) {
            out.push(decoded);
        }
    }
    out
}

/// Base64 of a PEM body, skipping RFC 1421 headers (`Key: value` lines before a blank line).
fn decode_pem_body(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut b64 = String::new();
    let mut lines = text.lines();
    if text.contains(':') {
        // Skip the header block up to the first empty line.
        for line in lines.by_ref() {
            if line.trim().is_empty() {
                break;
            }
        }
    }
    for line in lines {
        b64.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The cache key of a (certificate, issuer) pair: SHA-256 over both DERs,
/// each prefixed with its length so no two pairs share an encoding.
fn pair_key(child: &[u8], issuer: &[u8]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(&(child.len() as u64).to_be_bytes());
    ctx.update(child);
    ctx.update(&(issuer.len() as u64).to_be_bytes());
    ctx.update(issuer);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A bounded, process-wide memory of certificate signatures that verified.
///
/// Only successes are stored, keyed by the exact bytes of both certificates,
/// so an entry can never make a bad signature pass; a failure is always
/// recomputed. When full, the set is cleared rather than evicted piecemeal:
/// the working set of a verifier (its trusted chains) is small.
mod verified_pairs {
    use std::{
        collections::HashSet,
        sync::{Mutex, OnceLock},
    };

    const CAPACITY: usize = 4096;

    fn set() -> &'static Mutex<HashSet<[u8; 32]>> {
        static SET: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
        SET.get_or_init(|| Mutex::new(HashSet::new()))
    }

    pub(super) fn contains(key: &[u8; 32]) -> bool {
        set().lock().map(|s| s.contains(key)).unwrap_or(false)
    }

    pub(super) fn insert(key: [u8; 32]) {
        if let Ok(mut s) = set().lock() {
            if s.len() >= CAPACITY {
                s.clear();
            }
            s.insert(key);
        }
    }
}
