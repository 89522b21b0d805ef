//! RFC 3161 timestamp countersignatures.
//!
//! A Notary Project signature may carry a timestamp token over its signature
//! bytes (`io.cncf.notary.timestampSignature`). Verifying one follows
//! notation-go and tspclient-go step by step, and each step has its own error
//! so the verifier can word failures as notation does:
//!
//! ```text
//!  token ─► SignedToken::parse ─► info() ─► TstInfo::validate(signature) ─► verify(tsa roots, genTime)
//!            (CMS, BER→DER)        (TSTInfo)   (version, imprint, accuracy)    (ESSCertIDv2, CMS signature,
//!                                                                               attributes, chain, EKU)
//! ```
//!
//! The verifier reaches this through the [`TimestampVerifier`] trait, whose
//! two methods mirror notation's order: everything that needs no trust store
//! first ([`TimestampVerifier::timestamp`]), then the TSA trust store is
//! loaded, then the full check ([`TimestampVerifier::verify`]).
//! [`Rfc3161Verifier`] is the implementation; a test may plug in another.
//! Nothing here talks to a TSA.

mod asn1;
mod cms;
mod error;
mod path;
mod response;
mod token;
mod tstinfo;

pub use error::TimestampError;
pub use response::{MessageImprint, TimestampRequest, TimestampResponse};
pub use token::SignedToken;
pub use tstinfo::TstInfo;

use time::{Duration, OffsetDateTime};

use crate::x509::Certificate;

/// The time a TSA vouches for, with its accuracy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// The TSA's `genTime`.
    pub time: OffsetDateTime,
    /// The TSA's stated accuracy (zero when absent).
    pub accuracy: Duration,
}

impl Timestamp {
    /// Whether the whole range `time ± accuracy` lies at or after `t`.
    pub fn bounded_after(&self, t: OffsetDateTime) -> bool {
        self.time - self.accuracy >= t
    }

    /// Whether the whole range `time ± accuracy` lies at or before `t`.
    pub fn bounded_before(&self, t: OffsetDateTime) -> bool {
        self.time + self.accuracy <= t
    }
}

/// A verified timestamp and the TSA chain that signed it.
#[derive(Debug, Clone)]
pub struct VerifiedTimestamp {
    /// The vouched-for time.
    pub timestamp: Timestamp,
    /// The TSA's certificate chain, leaf first, ending at a trusted root.
    pub tsa_chain: Vec<Certificate>,
}

/// The step of timestamp verification that failed; notation words each differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampStep {
    /// Parsing the token.
    Parse,
    /// Decoding its TSTInfo.
    Info,
    /// Checking the TSTInfo against the signature bytes.
    Validate,
    /// Verifying the token's signature and TSA chain.
    Verify,
}

/// A failed timestamp check: the step and the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct TimestampFailure {
    /// Where it failed.
    pub step: TimestampStep,
    /// Why.
    pub error: TimestampError,
}

impl TimestampFailure {
    fn at(step: TimestampStep) -> impl FnOnce(TimestampError) -> Self {
        move |error| Self { step, error }
    }
}

/// Verifies an RFC 3161 timestamp token over a signature.
///
/// Two methods because notation loads the TSA trust store only after the
/// token has been parsed and matched to the signature: a broken token is
/// reported as such even when the trust store is missing.
pub trait TimestampVerifier: Send + Sync {
    /// Parses `token` and checks it timestamps `signature`, without any trust
    /// decision; returns the time it claims.
    fn timestamp(&self, token: &[u8], signature: &[u8]) -> Result<Timestamp, TimestampFailure>;

    /// Checks that `token` is a valid timestamp over `signature` by a TSA that
    /// chains to one of `tsa_roots`; returns the time it vouches for.
    fn verify(
        &self,
        token: &[u8],
        signature: &[u8],
        tsa_roots: &[Certificate],
    ) -> Result<VerifiedTimestamp, TimestampFailure>;
}

/// The RFC 3161 [`TimestampVerifier`]: tspclient-go's checks, in notation's order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rfc3161Verifier;

impl Rfc3161Verifier {
    fn parse(token: &[u8], signature: &[u8]) -> Result<(SignedToken, Timestamp), TimestampFailure> {
        let signed = SignedToken::parse(token).map_err(TimestampFailure::at(TimestampStep::Parse))?;
        let info = signed.info().map_err(TimestampFailure::at(TimestampStep::Info))?;
        let timestamp = info
            .validate(signature)
            .map_err(TimestampFailure::at(TimestampStep::Validate))?;
        Ok((signed, timestamp))
    }
}

impl TimestampVerifier for Rfc3161Verifier {
    fn timestamp(&self, token: &[u8], signature: &[u8]) -> Result<Timestamp, TimestampFailure> {
        Self::parse(token, signature).map(|(_, t)| t)
    }

    fn verify(
        &self,
        token: &[u8],
        signature: &[u8],
        tsa_roots: &[Certificate],
    ) -> Result<VerifiedTimestamp, TimestampFailure> {
        let (signed, timestamp) = Self::parse(token, signature)?;
        let tsa_chain = signed
            .verify(tsa_roots, timestamp.time)
            .map_err(TimestampFailure::at(TimestampStep::Verify))?;
        Ok(VerifiedTimestamp { timestamp, tsa_chain })
    }
}
