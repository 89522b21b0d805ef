//! RFC 3161 timestamp countersignatures, behind a trait.
//!
//! A Notary Project signature may carry a timestamp token over its signature
//! bytes (`io.cncf.notary.timestampSignature`). Verifying one means parsing
//! CMS, checking the TSA's chain against the `tsa` trust store and comparing
//! the message imprint; that implementation arrives with the timestamping
//! work. Until a [`TimestampVerifier`] is configured the verifier reports a
//! timestamp it was asked to check as *not checked*, which fails closed under
//! an enforced authentic-timestamp check — it never pretends a token is good.

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
    /// Whether the whole range `time ± accuracy` lies after `t`.
    pub fn bounded_after(&self, t: OffsetDateTime) -> bool {
        self.time - self.accuracy > t
    }

    /// Whether the whole range `time ± accuracy` lies before `t`.
    pub fn bounded_before(&self, t: OffsetDateTime) -> bool {
        self.time + self.accuracy < t
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

/// Verifies an RFC 3161 timestamp token.
pub trait TimestampVerifier: Send + Sync {
    /// Checks that `token` is a valid timestamp over `signature` by a TSA that
    /// chains to one of `tsa_roots`; returns the time it vouches for.
    fn verify(
        &self,
        token: &[u8],
        signature: &[u8],
        tsa_roots: &[Certificate],
    ) -> Result<VerifiedTimestamp, String>;
}
