//! The crate's one error type, nested by category.

use crate::{
    crypto::CryptoError, envelope::EnvelopeError, policy::TrustPolicyError, truststore::TrustStoreError,
    x509::CertificateError,
};

/// Everything that can go wrong in this crate, by category.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A signature envelope could not be parsed, produced or verified.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// A certificate or certificate chain broke the Notary Project rules.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// A trust store could not be read or holds unacceptable certificates.
    #[error(transparent)]
    TrustStore(#[from] TrustStoreError),
    /// A trust policy document is malformed or has no statement for an artifact.
    #[error(transparent)]
    TrustPolicy(#[from] TrustPolicyError),
    /// A key could not be used, or a raw signature did not verify.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A digest or descriptor is malformed.
    #[error(transparent)]
    Descriptor(#[from] crate::descriptor::DescriptorError),
}
