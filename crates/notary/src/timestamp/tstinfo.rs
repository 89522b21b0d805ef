//! The TSTInfo structure (RFC 3161 2.4.2): what a TSA vouches for.

use aws_lc_rs::digest;
use const_oid::ObjectIdentifier;
use time::{Duration, OffsetDateTime};

use super::{
    Timestamp, TimestampError,
    asn1::{self, Reader},
    cms::hash_for,
};

/// ETSI EN 319 422 baseline timestamp policy: no accuracy means one second.
const BASELINE_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.2023.1.1");

/// A decoded TSTInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TstInfo {
    /// The version; only 1 is valid.
    pub version: i64,
    /// The TSA policy, dotted OID.
    pub policy: String,
    /// The message-imprint hash algorithm, dotted OID.
    pub hash_algorithm: String,
    /// The DER of the message-imprint algorithm parameters, when present.
    pub hash_parameters: Option<Vec<u8>>,
    /// The message-imprint hash value.
    pub hashed_message: Vec<u8>,
    /// The serial number, big-endian INTEGER content octets.
    pub serial_number: Vec<u8>,
    /// The time the token was generated.
    pub gen_time: OffsetDateTime,
    /// The stated accuracy (zero when absent).
    pub accuracy: Duration,
    /// Whether the TSA claims strict ordering.
    pub ordering: bool,
    /// The nonce from the request, INTEGER content octets.
    pub nonce: Option<Vec<u8>>,
    /// The TSA's GeneralName, full DER of the `[0]` element.
    pub tsa: Option<Vec<u8>>,
}

impl TstInfo {
    /// Decodes a DER TSTInfo; errors are the bare ASN.1 problem.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let mut outer = Reader::new(der);
        let seq = outer.expect(asn1::SEQUENCE, "TSTInfo")?;
        let mut r = seq.reader();
        let version = r.small_int("Version")?;
        let policy = r.oid("Policy")?.to_string();
        let imprint = r.expect(asn1::SEQUENCE, "MessageImprint")?;
        let mut m = imprint.reader();
        let alg = m.expect(asn1::SEQUENCE, "AlgorithmIdentifier")?;
        let mut a = alg.reader();
        let hash_algorithm = a.oid("Algorithm")?.to_string();
        let hash_parameters = if a.is_empty() {
            None
        } else {
            Some(a.any()?.full.to_vec())
        };
        let hashed_message = m.expect(asn1::OCTET_STRING, "HashedMessage")?.content.to_vec();
        let serial_number = r.integer_bytes("SerialNumber")?.to_vec();
        let gen_time = asn1::generalized_time(r.expect(asn1::GENERALIZED_TIME, "Time")?.content)?;
        let accuracy = match r.optional(asn1::SEQUENCE)? {
            Some(acc) => accuracy(acc.reader())?,
            None => Duration::ZERO,
        };
        let ordering = match r.optional(asn1::BOOLEAN)? {
            Some(b) => match b.content {
                [0x00] => false,
                [0xff] => true,
                _ => return Err("asn1: syntax error: invalid boolean".into()),
            },
            None => false,
        };
        let nonce = match r.optional(asn1::INTEGER)? {
            Some(n) => {
                asn1::check_integer(n.content)?;
                Some(n.content.to_vec())
            }
            None => None,
        };
        let tsa = r.optional(0xa0)?.map(|t| t.full.to_vec());
        r.optional(0xa1)?;
        Ok(Self {
            version,
            policy,
            hash_algorithm,
            hash_parameters,
            hashed_message,
            serial_number,
            gen_time,
            accuracy,
            ordering,
            nonce,
            tsa,
        })
    }

    /// Checks the version, hash algorithm and message imprint against
    /// `message` (the bytes that were timestamped) and returns the time with
    /// its accuracy — one second under the baseline policy when none is stated.
    pub fn validate(&self, message: &[u8]) -> Result<Timestamp, TimestampError> {
        let invalid = |m: String| TimestampError::InvalidTstInfo(m);
        if self.version != 1 {
            return Err(invalid(format!(
                "timestamp token info version must be 1, but got {}",
                self.version
            )));
        }
        let hash = ObjectIdentifier::new(&self.hash_algorithm)
            .ok()
            .as_ref()
            .and_then(hash_for)
            .ok_or_else(|| invalid(format!("unrecognized hash algorithm: {}", self.hash_algorithm)))?;
        if digest::digest(hash, message).as_ref() != self.hashed_message.as_slice() {
            return Err(invalid("mismatched message".into()));
        }
        Ok(Timestamp {
            time: self.gen_time,
            accuracy: self.effective_accuracy(),
        })
    }

    /// The range the TSA vouches for: `genTime ± accuracy`.
    pub fn range(&self) -> (OffsetDateTime, OffsetDateTime) {
        let acc = self.effective_accuracy();
        (self.gen_time - acc, self.gen_time + acc)
    }

    fn effective_accuracy(&self) -> Duration {
        if self.accuracy.is_zero() && self.policy == BASELINE_POLICY.to_string() {
            Duration::SECOND
        } else {
            self.accuracy
        }
    }
}

/// `Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER OPTIONAL, micros [1] INTEGER OPTIONAL }`.
fn accuracy(mut r: Reader<'_>) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let parts = [(asn1::INTEGER, 1_000_000i64), (0x80, 1_000), (0x81, 1)];
    for (tag, micros) in parts {
        if let Some(tlv) = r.optional(tag)? {
            asn1::check_integer(tlv.content)?;
            let v = asn1::int_value(tlv.content)?;
            if !(0..=i64::from(u32::MAX)).contains(&v) {
                return Err("asn1: structure error: accuracy out of range".into());
            }
            total += Duration::microseconds(v * micros);
        }
    }
    Ok(total)
}
