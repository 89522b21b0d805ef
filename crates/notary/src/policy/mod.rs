//! Trust policy (stub: being written).

/// A trust policy is invalid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustPolicyError {}
