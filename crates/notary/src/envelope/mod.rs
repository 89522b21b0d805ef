//! Signature envelopes (stub: being written).

/// An envelope could not be parsed, produced or verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {}
