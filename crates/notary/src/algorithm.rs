//! Key specs and signature algorithms, and the mapping between them.
//!
//! The Notary Project signature specification fixes the signature algorithm by
//! the signing key: RSA keys sign with RSASSA-PSS and ECDSA keys with the hash
//! that matches the curve. A verifier must reject an envelope whose declared
//! algorithm does not match the key in its signing certificate.
//!
//! | key            | algorithm        | JWS `alg` | COSE `alg` |
//! |----------------|------------------|-----------|------------|
//! | RSA 2048       | RSASSA-PSS SHA-256 | PS256   | -37        |
//! | RSA 3072       | RSASSA-PSS SHA-384 | PS384   | -38        |
//! | RSA 4096       | RSASSA-PSS SHA-512 | PS512   | -39        |
//! | EC P-256       | ECDSA SHA-256    | ES256     | -7         |
//! | EC P-384       | ECDSA SHA-384    | ES384     | -35        |
//! | EC P-521       | ECDSA SHA-512    | ES512     | -36        |

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, asn1::UintRef};
use spki::SubjectPublicKeyInfoRef;

use crate::crypto::CryptoError;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");

/// The type and size of a key, which decide its signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySpec {
    /// An RSA key with a modulus of this many bits (2048, 3072 or 4096).
    Rsa(u32),
    /// An elliptic-curve key on this NIST curve (256, 384 or 521).
    Ec(u32),
}

impl KeySpec {
    /// Every key spec the Notary Project supports, in the CLI's order.
    pub const ALL: [KeySpec; 6] = [
        KeySpec::Rsa(2048),
        KeySpec::Rsa(3072),
        KeySpec::Rsa(4096),
        KeySpec::Ec(256),
        KeySpec::Ec(384),
        KeySpec::Ec(521),
    ];

    /// The key spec of a DER `SubjectPublicKeyInfo`.
    ///
    /// Unsupported key types and sizes are errors: the spec allows only the six
    /// sizes above (RSA moduli must be exactly 2048, 3072 or 4096 bits).
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, CryptoError> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        let key_bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| CryptoError::MalformedKey("public key has unused bits".into()))?;
        if spki.algorithm.oid == RSA_ENCRYPTION {
            let bits = rsa_modulus_bits(key_bytes)?;
            match bits {
                2048 | 3072 | 4096 => Ok(KeySpec::Rsa(bits)),
                other => Err(CryptoError::UnsupportedKey(format!("RSA key size {other} bits"))),
            }
        } else if spki.algorithm.oid == EC_PUBLIC_KEY {
            let curve = spki
                .algorithm
                .parameters
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| CryptoError::MalformedKey("EC key without a named curve".into()))?;
            match curve {
                c if c == SECP256R1 => Ok(KeySpec::Ec(256)),
                c if c == SECP384R1 => Ok(KeySpec::Ec(384)),
                c if c == SECP521R1 => Ok(KeySpec::Ec(521)),
                other => Err(CryptoError::UnsupportedKey(format!("EC curve {other}"))),
            }
        } else {
            Err(CryptoError::UnsupportedKey(format!(
                "key algorithm {}",
                spki.algorithm.oid
            )))
        }
    }

    /// The signature algorithm the spec assigns to this key.
    pub fn signature_algorithm(self) -> Result<SignatureAlgorithm, CryptoError> {
        Ok(match self {
            KeySpec::Rsa(2048) => SignatureAlgorithm::RsaPssSha256,
            KeySpec::Rsa(3072) => SignatureAlgorithm::RsaPssSha384,
            KeySpec::Rsa(4096) => SignatureAlgorithm::RsaPssSha512,
            KeySpec::Ec(256) => SignatureAlgorithm::EcdsaSha256,
            KeySpec::Ec(384) => SignatureAlgorithm::EcdsaSha384,
            KeySpec::Ec(521) => SignatureAlgorithm::EcdsaSha512,
            other => return Err(CryptoError::UnsupportedKey(other.to_string())),
        })
    }

    /// The CLI's name for the key spec: `rsa-2048` … `ec-521`.
    pub fn cli_name(self) -> String {
        match self {
            KeySpec::Rsa(b) => format!("rsa-{b}"),
            KeySpec::Ec(b) => format!("ec-{b}"),
        }
    }

    /// Parses the CLI's name (`rsa-2048`, `ec-256`, …).
    pub fn from_cli_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.cli_name() == s)
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Rsa(b) => write!(f, "RSA-{b}"),
            KeySpec::Ec(b) => write!(f, "EC-{b}"),
        }
    }
}

fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<u32, CryptoError> {
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        _exponent: UintRef<'a>,
    }
    let key = RsaPublicKey::from_der(rsa_public_key)
        .map_err(|e| CryptoError::MalformedKey(format!("RSA public key: {e}")))?;
    let m = key.modulus.as_bytes();
    let lead = m.first().copied().unwrap_or(0);
    Ok((m.len() as u32).saturating_sub(1) * 8 + (8 - lead.leading_zeros()))
}

/// A signature algorithm the Notary Project allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// RSASSA-PSS with SHA-256 (salt length 32).
    RsaPssSha256,
    /// RSASSA-PSS with SHA-384 (salt length 48).
    RsaPssSha384,
    /// RSASSA-PSS with SHA-512 (salt length 64).
    RsaPssSha512,
    /// ECDSA on P-256 with SHA-256.
    EcdsaSha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaSha384,
    /// ECDSA on P-521 with SHA-512.
    EcdsaSha512,
}

impl SignatureAlgorithm {
    /// Every supported algorithm.
    pub const ALL: [SignatureAlgorithm; 6] = [
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::EcdsaSha512,
    ];

    /// The JWS `alg` header value.
    pub fn jws_name(self) -> &'static str {
        match self {
            Self::RsaPssSha256 => "PS256",
            Self::RsaPssSha384 => "PS384",
            Self::RsaPssSha512 => "PS512",
            Self::EcdsaSha256 => "ES256",
            Self::EcdsaSha384 => "ES384",
            Self::EcdsaSha512 => "ES512",
        }
    }

    /// The algorithm for a JWS `alg` value.
    pub fn from_jws_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.jws_name() == s)
    }

    /// The COSE `alg` label value (RFC 9053 / IANA COSE registry).
    pub fn cose_id(self) -> i64 {
        match self {
            Self::RsaPssSha256 => -37,
            Self::RsaPssSha384 => -38,
            Self::RsaPssSha512 => -39,
            Self::EcdsaSha256 => -7,
            Self::EcdsaSha384 => -35,
            Self::EcdsaSha512 => -36,
        }
    }

    /// The algorithm for a COSE `alg` value.
    pub fn from_cose_id(id: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.cose_id() == id)
    }

    /// Whether a key of `spec` may make signatures with this algorithm.
    pub fn matches_key(self, spec: KeySpec) -> bool {
        spec.signature_algorithm().ok() == Some(self)
    }

    /// The name as the spec and notation print it, e.g. `RSASSA-PSS-SHA-256`.
    pub fn spec_name(self) -> &'static str {
        match self {
            Self::RsaPssSha256 => "RSASSA-PSS-SHA-256",
            Self::RsaPssSha384 => "RSASSA-PSS-SHA-384",
            Self::RsaPssSha512 => "RSASSA-PSS-SHA-512",
            Self::EcdsaSha256 => "ECDSA-SHA-256",
            Self::EcdsaSha384 => "ECDSA-SHA-384",
            Self::EcdsaSha512 => "ECDSA-SHA-512",
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec_name())
    }
}
