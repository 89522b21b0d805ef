//! Raw signatures: verifying with a public key, signing with a private key.
//!
//! Every private-key operation in Signet goes through [`Signer`]; the local
//! implementation, [`PrivateKey`], holds an aws-lc-rs key pair. Envelope
//! signatures use the encodings JOSE and COSE require: RSASSA-PSS with a salt
//! as long as the hash, and ECDSA as the fixed-width `r || s` concatenation.

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::{KeyPair as RsaKeyPair, KeySize},
    signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey},
};
use der::Decode;
use spki::SubjectPublicKeyInfoRef;

use crate::algorithm::{KeySpec, SignatureAlgorithm};

/// A key could not be used, or a raw signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key's encoding could not be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The key type or size is not one the Notary Project allows.
    #[error("unsupported key: {0}")]
    UnsupportedKey(String),
    /// The signature does not verify with the key.
    #[error("signature verification failed: the signature does not match the signing key and content")]
    BadSignature,
    /// The private-key operation failed.
    #[error("signing failed: {0}")]
    SigningFailed(String),
}

/// Something that makes raw signatures: a local key, an HSM, a plugin.
pub trait Signer: Send + Sync {
    /// The key's type and size, which fix the signature algorithm.
    fn key_spec(&self) -> KeySpec;
    /// Signs `message` with the algorithm [`KeySpec::signature_algorithm`] gives.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Whether the signer supplies the certificate chain itself, with the
    /// signature (a plugin's `generate-signature`), so a sign request may
    /// leave its chain empty. Default: no.
    fn supplies_certificate_chain(&self) -> bool {
        false
    }
    /// The certificate chain that came with the latest signature, DER, leaf
    /// first; `None` (the default) means the sign request's chain is used.
    fn signed_certificate_chain(&self) -> Option<Vec<Vec<u8>>> {
        None
    }
}

/// Verifies a raw signature over `message` with the key in `spki_der`.
pub fn verify(
    alg: SignatureAlgorithm,
    spki_der: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    let spki =
        SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CryptoError::MalformedKey("public key has unused bits".into()))?;
    verify_raw(alg, key, message, sig)
}

/// Verifies with the raw public key bytes (the SPKI bit string contents).
pub fn verify_raw(
    alg: SignatureAlgorithm,
    public_key: &[u8],
    message: &[u8],
    sig: &[u8],
) -> Result<(), CryptoError> {
    UnparsedPublicKey::new(verification_algorithm(alg), public_key)
        .verify(message, sig)
        .map_err(|_| CryptoError::BadSignature)
}

fn verification_algorithm(alg: SignatureAlgorithm) -> &'static dyn signature::VerificationAlgorithm {
    match alg {
        SignatureAlgorithm::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureAlgorithm::RsaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureAlgorithm::RsaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        SignatureAlgorithm::EcdsaSha256 => &signature::ECDSA_P256_SHA256_FIXED,
        SignatureAlgorithm::EcdsaSha384 => &signature::ECDSA_P384_SHA384_FIXED,
        SignatureAlgorithm::EcdsaSha512 => &signature::ECDSA_P521_SHA512_FIXED,
    }
}

fn ecdsa_signing(bits: u32) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match bits {
        256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        521 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
        _ => None,
    }
}

enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

/// A private key held in memory, for local signing.
pub struct PrivateKey {
    spec: KeySpec,
    pair: KeyPairKind,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.spec)
    }
}

impl PrivateKey {
    /// Generates a fresh key of `spec`.
    pub fn generate(spec: KeySpec) -> Result<Self, CryptoError> {
        let pair = match spec {
            KeySpec::Rsa(bits) => {
                let size = match bits {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    _ => return Err(CryptoError::UnsupportedKey(spec.to_string())),
                };
                KeyPairKind::Rsa(
                    RsaKeyPair::generate(size).map_err(|e| CryptoError::SigningFailed(e.to_string()))?,
                )
            }
            KeySpec::Ec(bits) => {
                let alg = ecdsa_signing(bits).ok_or_else(|| CryptoError::UnsupportedKey(spec.to_string()))?;
                KeyPairKind::Ec(
                    EcdsaKeyPair::generate(alg).map_err(|e| CryptoError::SigningFailed(e.to_string()))?,
                )
            }
        };
        Ok(Self { spec, pair })
    }

    /// Loads a key from PEM (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CryptoError> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| CryptoError::MalformedKey("key file is not PEM text".into()))?;
        let (label, der) = der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| CryptoError::MalformedKey(format!("PEM: {e}")))?;
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(&der),
            "RSA PRIVATE KEY" => {
                let pair =
                    RsaKeyPair::from_der(&der).map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
                Self::from_rsa(pair)
            }
            "EC PRIVATE KEY" => Self::from_ec_der(&der),
            other => Err(CryptoError::MalformedKey(format!(
                "unexpected PEM label {other:?}"
            ))),
        }
    }

    /// Loads a PKCS#8 DER key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            return Self::from_rsa(pair);
        }
        Self::from_ec_der(der)
    }

    fn from_rsa(pair: RsaKeyPair) -> Result<Self, CryptoError> {
        let spec = KeySpec::from_spki_der(
            pair.public_key()
                .as_der()
                .map_err(|e| CryptoError::MalformedKey(e.to_string()))?
                .as_ref(),
        )?;
        Ok(Self {
            spec,
            pair: KeyPairKind::Rsa(pair),
        })
    }

    fn from_ec_der(der: &[u8]) -> Result<Self, CryptoError> {
        for bits in [256, 384, 521] {
            let Some(alg) = ecdsa_signing(bits) else { continue };
            if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg, der) {
                return Ok(Self {
                    spec: KeySpec::Ec(bits),
                    pair: KeyPairKind::Ec(pair),
                });
            }
        }
        Err(CryptoError::MalformedKey(
            "not an RSA or EC P-256/P-384/P-521 private key".into(),
        ))
    }

    /// The key as PKCS#8 PEM (`PRIVATE KEY`).
    pub fn to_pkcs8_pem(&self) -> Result<String, CryptoError> {
        let der = match &self.pair {
            KeyPairKind::Rsa(k) => k.as_der().map(|d| d.as_ref().to_vec()),
            KeyPairKind::Ec(k) => k.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|e| CryptoError::MalformedKey(e.to_string()))?;
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &der)
            .map_err(|e| CryptoError::MalformedKey(e.to_string()))
    }

    /// The public key as a DER `SubjectPublicKeyInfo`.
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>, CryptoError> {
        match &self.pair {
            KeyPairKind::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            KeyPairKind::Ec(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|e| CryptoError::MalformedKey(e.to_string()))
    }
}

impl Signer for PrivateKey {
    fn key_spec(&self) -> KeySpec {
        self.spec
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let rng = SystemRandom::new();
        match &self.pair {
            KeyPairKind::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match self.spec {
                    KeySpec::Rsa(2048) => &signature::RSA_PSS_SHA256,
                    KeySpec::Rsa(3072) => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, message, &mut sig)
                    .map_err(|e| CryptoError::SigningFailed(e.to_string()))?;
                Ok(sig)
            }
            KeyPairKind::Ec(k) => k
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| CryptoError::SigningFailed(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_spec_signs_and_verifies() {
        for spec in KeySpec::ALL {
            let key = PrivateKey::generate(spec).unwrap();
            assert_eq!(key.key_spec(), spec);
            let spki = key.public_key_spki_der().unwrap();
            assert_eq!(KeySpec::from_spki_der(&spki).unwrap(), spec);
            let alg = spec.signature_algorithm().unwrap();
            let sig = key.sign(b"hello").unwrap();
            verify(alg, &spki, b"hello", &sig).unwrap();
            assert_eq!(verify(alg, &spki, b"hellp", &sig), Err(CryptoError::BadSignature));
            let reloaded = PrivateKey::from_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
            assert_eq!(reloaded.public_key_spki_der().unwrap(), spki);
        }
    }
}
