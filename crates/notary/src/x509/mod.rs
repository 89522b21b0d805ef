//! X.509 certificates (stub: being written).

/// A certificate or chain broke the rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {}
