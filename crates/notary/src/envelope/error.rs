//! The one error type of the envelope module: what went wrong while parsing,
//! producing or verifying a signature envelope, worded so that the message
//! alone tells a user which part of the envelope is at fault.

use crate::{
    algorithm::{KeySpec, SignatureAlgorithm},
    crypto::CryptoError,
};

/// An envelope could not be parsed, produced or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The media type names no envelope format this crate reads.
    #[error("signature envelope format with media type \"{0}\" is not supported")]
    UnsupportedMediaType(String),
    /// The bytes are not a well-formed envelope of the declared format
    /// (syntax, encoding, structure, duplicate keys).
    #[error("malformed {format} signature envelope: {reason}")]
    Malformed {
        /// `jws` or `cose`.
        format: &'static str,
        /// What is wrong, naming the member or field.
        reason: String,
    },
    /// A protected (signed) header is missing, has the wrong type or breaks
    /// the Notary Project rules (crit list, signing scheme, times).
    #[error("invalid protected header: {0}")]
    InvalidProtectedHeader(String),
    /// An unprotected header is present but malformed.
    #[error("invalid unprotected header: {0}")]
    InvalidUnprotectedHeader(String),
    /// The declared signature algorithm is not one the Notary Project allows.
    #[error("signature algorithm {0} is not supported")]
    UnsupportedAlgorithm(String),
    /// The envelope carries no certificate chain (`x5c` / `x5chain`).
    #[error("certificate chain is not present in the signature envelope")]
    MissingCertificateChain,
    /// A certificate in the chain is not a well-formed DER X.509 certificate.
    #[error("malformed certificate #{index} in the certificate chain: {reason}")]
    MalformedCertificate {
        /// Position in the chain, 0 for the leaf.
        index: usize,
        /// The parser's complaint.
        reason: String,
    },
    /// The leaf certificate's key is not one the Notary Project allows.
    #[error("unsupported key in the signing certificate: {0}")]
    UnsupportedKey(CryptoError),
    /// The declared algorithm does not match the signing certificate's key.
    #[error(
        "signature algorithm {declared} does not match the signing certificate's {key} key, which requires {}",
        expected.map(|a| a.to_string()).unwrap_or_else(|| "an unsupported algorithm".into())
    )]
    AlgorithmMismatch {
        /// The algorithm the envelope declares.
        declared: SignatureAlgorithm,
        /// The key in the leaf certificate.
        key: KeySpec,
        /// The algorithm that key requires.
        expected: Option<SignatureAlgorithm>,
    },
    /// The signature does not verify over the signed content with the leaf key.
    #[error(
        "signature is invalid: the {algorithm} signature does not match the signed content \
         and the signing certificate's key (the payload, protected header, signature or certificate was altered)"
    )]
    InvalidSignature {
        /// The algorithm used to check.
        algorithm: SignatureAlgorithm,
    },
    /// The payload is not a Notary Project payload `{"targetArtifact": …}`.
    #[error("invalid signature payload: {0}")]
    InvalidPayload(String),
    /// A sign request cannot be honoured.
    #[error("invalid sign request: {0}")]
    InvalidSignRequest(String),
    /// The signer failed to sign, or produced a signature that does not verify.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The timestamp authority gave no usable token over the new signature.
    #[error("timestamping failed: {0}")]
    Timestamping(String),
}

impl EnvelopeError {
    pub(crate) fn jws(reason: impl Into<String>) -> Self {
        Self::Malformed {
            format: "jws",
            reason: reason.into(),
        }
    }

    pub(crate) fn cose(reason: impl Into<String>) -> Self {
        Self::Malformed {
            format: "cose",
            reason: reason.into(),
        }
    }
}
