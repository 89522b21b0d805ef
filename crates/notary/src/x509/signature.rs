//! Checking the signature on a certificate with its issuer's public key.
//!
//! The accepted algorithms are those Go's `crypto/x509` verifies without
//! special settings: RSA PKCS#1 v1.5 and RSASSA-PSS with SHA-256/384/512,
//! ECDSA with SHA-256/384/512 and Ed25519. SHA-1 and MD5 are refused as
//! insecure, as the Notary Project specification requires. RSASSA-PSS
//! parameters must be the plain ones (MGF1 with the same hash, salt as long as
//! the hash, trailer 1), which is all Go accepts. Failure texts are Go's, since
//! notation users see them inside chain errors.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tagged as _, asn1::AnyRef};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::CertificateError;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// A hash function a certificate signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            o if o == SHA256 => Some(Self::Sha256),
            o if o == SHA384 => Some(Self::Sha384),
            o if o == SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn len(self) -> u32 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// The signature algorithm of a certificate, as far as verification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with the standard parameters for the hash.
    RsaPss(Hash),
    /// ECDSA (DER-encoded signature).
    Ecdsa(Hash),
    /// Ed25519.
    Ed25519,
    /// Known but insecure (SHA-1, MD5, MD2); the Go name.
    Insecure(&'static str),
    /// Anything else; the OID.
    Unsupported(String),
}

impl SignatureAlgorithm {
    /// Classifies an AlgorithmIdentifier.
    pub(crate) fn from_algorithm_identifier(alg: &AlgorithmIdentifierOwned) -> Self {
        let oid = alg.oid.to_string();
        match oid.as_str() {
            "1.2.840.113549.1.1.11" => Self::RsaPkcs1(Hash::Sha256),
            "1.2.840.113549.1.1.12" => Self::RsaPkcs1(Hash::Sha384),
            "1.2.840.113549.1.1.13" => Self::RsaPkcs1(Hash::Sha512),
            "1.2.840.10045.4.3.2" => Self::Ecdsa(Hash::Sha256),
            "1.2.840.10045.4.3.3" => Self::Ecdsa(Hash::Sha384),
            "1.2.840.10045.4.3.4" => Self::Ecdsa(Hash::Sha512),
            "1.3.101.112" => Self::Ed25519,
            "1.2.840.113549.1.1.10" => match pss_hash(alg) {
                Some(hash) => Self::RsaPss(hash),
                None => Self::Unsupported(format!("{oid} with non-standard parameters")),
            },
            "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => Self::Insecure("SHA1-RSA"),
            "1.2.840.113549.1.1.4" => Self::Insecure("MD5-RSA"),
            "1.2.840.113549.1.1.2" => Self::Insecure("MD2-RSA"),
            "1.2.840.10045.4.1" => Self::Insecure("ECDSA-SHA1"),
            "1.2.840.10040.4.3" => Self::Insecure("DSA-SHA1"),
            _ => Self::Unsupported(oid),
        }
    }

    /// The name Go gives the algorithm (`SHA256-RSA`, `ECDSA-SHA384`, …).
    pub(crate) fn name(&self) -> String {
        let bits = |h: &Hash| match h {
            Hash::Sha256 => 256,
            Hash::Sha384 => 384,
            Hash::Sha512 => 512,
        };
        match self {
            Self::RsaPkcs1(h) => format!("SHA{}-RSA", bits(h)),
            Self::RsaPss(h) => format!("SHA{}-RSAPSS", bits(h)),
            Self::Ecdsa(h) => format!("ECDSA-SHA{}", bits(h)),
            Self::Ed25519 => "Ed25519".to_string(),
            Self::Insecure(name) => (*name).to_string(),
            Self::Unsupported(oid) => oid.clone(),
        }
    }
}

/// The hash of RSASSA-PSS parameters when they are the standard ones.
fn pss_hash(alg: &AlgorithmIdentifierOwned) -> Option<Hash> {
    #[derive(der::Sequence)]
    struct PssParams {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        hash: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
        mask_gen: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
        salt_length: Option<u32>,
        #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
        trailer: Option<u32>,
    }
    let params_der = alg.parameters.as_ref()?.to_der().ok()?;
    let params = PssParams::from_der(&params_der).ok()?;
    let hash_alg = params.hash?;
    let hash = Hash::from_oid(hash_alg.oid)?;
    if !null_or_absent(hash_alg.parameters.as_ref()) {
        return None;
    }
    let mgf = params.mask_gen?;
    if mgf.oid != MGF1 {
        return None;
    }
    let mgf_hash_der = mgf.parameters.as_ref()?.to_der().ok()?;
    let mgf_hash = AlgorithmIdentifierOwned::from_der(&mgf_hash_der).ok()?;
    if Hash::from_oid(mgf_hash.oid)? != hash || !null_or_absent(mgf_hash.parameters.as_ref()) {
        return None;
    }
    if params.salt_length? != hash.len() || params.trailer.unwrap_or(1) != 1 {
        return None;
    }
    Some(hash)
}

fn null_or_absent(params: Option<&der::Any>) -> bool {
    params.is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
}

/// Go's error text for a bad signature by this kind of key.
fn failure(key_kind: KeyKind) -> CertificateError {
    CertificateError::BadSignature(
        match key_kind {
            KeyKind::Rsa => "crypto/rsa: verification error",
            KeyKind::Ec(_) => "x509: ECDSA verification failure",
            KeyKind::Ed25519 => "x509: Ed25519 verification failure",
        }
        .to_string(),
    )
}

#[derive(Debug, Clone, Copy)]
enum KeyKind {
    Rsa,
    Ec(u32),
    Ed25519,
}

/// Verifies `signature` over `signed` (a TBSCertificate) with `issuer_spki`.
pub(crate) fn verify(
    alg: &SignatureAlgorithm,
    issuer_spki: &SubjectPublicKeyInfoOwned,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), CertificateError> {
    let key_kind = match issuer_spki.algorithm.oid {
        o if o == RSA_ENCRYPTION => KeyKind::Rsa,
        o if o == ED25519 => KeyKind::Ed25519,
        o if o == EC_PUBLIC_KEY => {
            let curve = issuer_spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(c) if c == SECP256R1 => KeyKind::Ec(256),
                Some(c) if c == SECP384R1 => KeyKind::Ec(384),
                Some(c) if c == SECP521R1 => KeyKind::Ec(521),
                _ => {
                    return Err(CertificateError::UnsupportedAlgorithm(
                        "issuer EC curve".to_string(),
                    ));
                }
            }
        }
        other => {
            return Err(CertificateError::UnsupportedAlgorithm(format!(
                "issuer key type {other}"
            )));
        }
    };
    let verification: &'static dyn VerificationAlgorithm = match (alg, key_kind) {
        (SignatureAlgorithm::Insecure(name), _) => {
            return Err(CertificateError::InsecureAlgorithm((*name).to_string()));
        }
        (SignatureAlgorithm::Unsupported(what), _) => {
            return Err(CertificateError::UnsupportedAlgorithm(what.clone()));
        }
        (SignatureAlgorithm::RsaPkcs1(h), KeyKind::Rsa) => match h {
            Hash::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            Hash::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        },
        (SignatureAlgorithm::RsaPss(h), KeyKind::Rsa) => match h {
            Hash::Sha256 => &signature::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => &signature::RSA_PSS_2048_8192_SHA384,
            Hash::Sha512 => &signature::RSA_PSS_2048_8192_SHA512,
        },
        (SignatureAlgorithm::Ecdsa(h), KeyKind::Ec(curve)) => match (curve, h) {
            (256, Hash::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (256, Hash::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
            (256, Hash::Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
            (384, Hash::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
            (384, Hash::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (384, Hash::Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
            (_, Hash::Sha256) => &signature::ECDSA_P521_SHA256_ASN1,
            (_, Hash::Sha384) => &signature::ECDSA_P521_SHA384_ASN1,
            (_, Hash::Sha512) => &signature::ECDSA_P521_SHA512_ASN1,
        },
        (SignatureAlgorithm::Ed25519, KeyKind::Ed25519) => &signature::ED25519,
        (alg, key) => {
            let wanted = match alg {
                SignatureAlgorithm::Ecdsa(_) => "an ECDSA",
                SignatureAlgorithm::Ed25519 => "an Ed25519",
                _ => "an RSA",
            };
            let have = match key {
                KeyKind::Rsa => "*rsa.PublicKey",
                KeyKind::Ec(_) => "*ecdsa.PublicKey",
                KeyKind::Ed25519 => "ed25519.PublicKey",
            };
            return Err(CertificateError::BadSignature(format!(
                "x509: signature algorithm specifies {wanted} public key, but have public key of type {have}"
            )));
        }
    };
    let key_bytes = issuer_spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CertificateError::Malformed("public key has unused bits".to_string()))?;
    UnparsedPublicKey::new(verification, key_bytes)
        .verify(signed, signature)
        .map_err(|_| failure(key_kind))
}

/// The TBSCertificate bytes exactly as signed, the signature algorithm and
/// the signature value, read without re-encoding anything.
pub(crate) fn split_certificate(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CertificateError> {
    #[derive(der::Sequence)]
    struct RawCertificate<'a> {
        tbs: AnyRef<'a>,
        algorithm: AnyRef<'a>,
        signature: der::asn1::BitStringRef<'a>,
    }
    let raw = RawCertificate::from_der(der).map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let tbs = raw
        .tbs
        .to_der()
        .map_err(|e| CertificateError::Malformed(e.to_string()))?;
    let sig = raw
        .signature
        .as_bytes()
        .ok_or_else(|| CertificateError::Malformed("signature has unused bits".to_string()))?
        .to_vec();
    Ok((tbs, sig))
}
