//! RFC 3161 requests and responses: building a `TimeStampReq` and checking
//! that a `TimeStampResp` answers it (tspclient-go's `NewRequest` and
//! `Response.Validate`). Sending the request is the caller's business.

use aws_lc_rs::{digest, rand};
use const_oid::ObjectIdentifier;

use super::{
    SignedToken, TimestampError,
    asn1::{self, Reader},
    cms::SHA256,
};

/// The DER of ASN.1 NULL, the parameters every hash AlgorithmIdentifier carries here.
const NULL: [u8; 2] = [0x05, 0x00];

/// A message imprint: hash algorithm (with its encoded parameters) and hash value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageImprint {
    /// The hash algorithm, dotted OID.
    pub hash_algorithm: String,
    /// The DER of the algorithm parameters, when present (normally NULL).
    pub parameters: Option<Vec<u8>>,
    /// The hash value.
    pub hashed_message: Vec<u8>,
}

/// A `TimeStampReq` (RFC 3161 2.4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// What the TSA is asked to timestamp.
    pub message_imprint: MessageImprint,
    /// The TSA policy asked for, dotted OID.
    pub policy: Option<String>,
    /// The nonce, as positive big-endian INTEGER content octets.
    pub nonce: Option<Vec<u8>>,
    /// Whether the TSA should include its signing certificate.
    pub cert_req: bool,
}

impl TimestampRequest {
    /// A request over SHA-256 of `content` with a random 159-bit nonce,
    /// asking for the TSA certificate — tspclient-go's `NewRequest` defaults.
    pub fn new(content: &[u8]) -> Result<Self, TimestampError> {
        let mut nonce = [0u8; 20];
        rand::fill(&mut nonce)
            .map_err(|_| TimestampError::MalformedRequest("failed to generate nonce".into()))?;
        // Below 2^159, so positive and without a sign byte.
        if let Some(first) = nonce.first_mut() {
            *first &= 0x7f;
        }
        let nonce = minimal_positive(&nonce);
        Ok(Self {
            message_imprint: MessageImprint {
                hash_algorithm: SHA256.to_string(),
                parameters: Some(NULL.to_vec()),
                hashed_message: digest::digest(&digest::SHA256, content).as_ref().to_vec(),
            },
            policy: None,
            nonce: Some(nonce),
            cert_req: true,
        })
    }

    /// Asks for TSA policy `policy` (dotted OID).
    pub fn with_policy(mut self, policy: &str) -> Self {
        self.policy = Some(policy.to_owned());
        self
    }

    /// Sets whether the TSA certificate is asked for.
    pub fn with_cert_req(mut self, cert_req: bool) -> Self {
        self.cert_req = cert_req;
        self
    }

    /// The DER encoding, ready to POST as `application/timestamp-query`.
    pub fn to_der(&self) -> Result<Vec<u8>, TimestampError> {
        let bad = |m: String| TimestampError::MalformedRequest(m);
        let alg_oid = oid(&self.message_imprint.hash_algorithm).map_err(bad)?;
        let mut alg = tlv(asn1::OID, alg_oid.as_bytes());
        alg.extend_from_slice(self.message_imprint.parameters.as_deref().unwrap_or_default());
        let mut imprint = tlv(asn1::SEQUENCE, &alg);
        imprint.extend(tlv(asn1::OCTET_STRING, &self.message_imprint.hashed_message));
        let mut body = tlv(asn1::INTEGER, &[1]);
        body.extend(tlv(asn1::SEQUENCE, &imprint));
        if let Some(policy) = &self.policy {
            body.extend(tlv(asn1::OID, oid(policy).map_err(bad)?.as_bytes()));
        }
        if let Some(nonce) = &self.nonce {
            asn1::check_integer(nonce).map_err(bad)?;
            body.extend(tlv(asn1::INTEGER, nonce));
        }
        if self.cert_req {
            body.extend(tlv(asn1::BOOLEAN, &[0xff]));
        }
        Ok(tlv(asn1::SEQUENCE, &body))
    }
}

fn oid(dotted: &str) -> Result<ObjectIdentifier, String> {
    ObjectIdentifier::new(dotted).map_err(|e| format!("invalid object identifier {dotted:?}: {e}"))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend(asn1::length_octets(content.len()));
    out.extend_from_slice(content);
    out
}

/// INTEGER content octets for a non-negative big-endian magnitude.
fn minimal_positive(bytes: &[u8]) -> Vec<u8> {
    let trimmed = asn1::unsigned_magnitude(bytes);
    let mut out = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
    out
}

/// A `TimeStampResp` (RFC 3161 2.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampResponse {
    /// The PKIStatus (0 granted, 1 granted with modifications, 2 rejection, …).
    pub status: i64,
    /// The status strings, if any.
    pub status_strings: Vec<String>,
    /// The PKIFailureInfo bit string's bytes (bit 0 is the first byte's top bit).
    pub fail_info: Vec<u8>,
    /// The TimeStampToken's bytes, when present.
    pub token: Option<Vec<u8>>,
}

/// PKIFailureInfo bits and their texts, in tspclient-go's order.
const FAILURES: [(usize, &str); 8] = [
    (0, "unrecognized or unsupported Algorithm Identifier"),
    (2, "transaction not permitted or supported"),
    (5, "the data submitted has the wrong format"),
    (14, "the TSA's time source is not available"),
    (15, "the requested TSA policy is not supported by the TSA"),
    (16, "the requested extension is not supported by the TSA"),
    (
        17,
        "the additional information requested could not be understood or is not available",
    ),
    (25, "the request cannot be handled due to system failure"),
];

impl TimestampResponse {
    /// Parses a DER `TimeStampResp` (`application/timestamp-reply`).
    pub fn parse(der: &[u8]) -> Result<Self, TimestampError> {
        Self::decode(der).map_err(TimestampError::InvalidResponse)
    }

    fn decode(der: &[u8]) -> Result<Self, String> {
        let outer = Reader::new(der).expect(asn1::SEQUENCE, "Response")?;
        let mut r = outer.reader();
        let status_info = r.expect(asn1::SEQUENCE, "StatusInfo")?;
        let mut s = status_info.reader();
        let status = s.small_int("Status")?;
        let mut status_strings = Vec::new();
        if let Some(texts) = s.optional(asn1::SEQUENCE)? {
            let mut t = texts.reader();
            while !t.is_empty() {
                let text = t.expect(0x0c, "StatusString")?;
                status_strings.push(String::from_utf8_lossy(text.content).into_owned());
            }
        }
        let fail_info = match s.optional(0x03)? {
            Some(bits) => bits.content.get(1..).unwrap_or_default().to_vec(),
            None => Vec::new(),
        };
        let token = if r.is_empty() {
            None
        } else {
            Some(r.any()?.full.to_vec())
        };
        Ok(Self {
            status,
            status_strings,
            fail_info,
            token,
        })
    }

    fn status_error(&self) -> Option<String> {
        if self.status == 0 || self.status == 1 {
            return None;
        }
        let name = match self.status {
            2 => "rejected".to_owned(),
            3 => "the request body part has not yet been processed, expect to hear more later".to_owned(),
            4 => "warning: a revocation is imminent".to_owned(),
            5 => "a revocation has occurred".to_owned(),
            other => format!("unknown PKIStatus {other}"),
        };
        let failures: Vec<&str> = FAILURES
            .iter()
            .filter(|(bit, _)| {
                self.fail_info
                    .get(bit / 8)
                    .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
            })
            .map(|(_, text)| *text)
            .collect();
        let mut msg = format!("invalid response with status code {}: {name}", self.status);
        if !failures.is_empty() {
            msg.push_str(&format!(". Failure info: {}", failures.join("; ")));
        }
        Some(msg)
    }

    /// The token, once the status says one was granted.
    pub fn signed_token(&self) -> Result<SignedToken, TimestampError> {
        if let Some(e) = self.status_error() {
            return Err(TimestampError::InvalidResponse(e));
        }
        SignedToken::parse(self.token.as_deref().unwrap_or_default())
    }

    /// Checks that the response grants a token answering `req`: version,
    /// policy, message imprint, nonce and the certificate request.
    pub fn validate(&self, req: &TimestampRequest) -> Result<(), TimestampError> {
        let invalid = TimestampError::InvalidResponse;
        let token = self.signed_token().map_err(|e| match e {
            e @ TimestampError::InvalidResponse(_) => e,
            other => invalid(other.to_string()),
        })?;
        let info = token.info().map_err(|e| invalid(e.to_string()))?;
        if info.version != 1 {
            return Err(invalid(format!(
                "timestamp token info version must be 1, but got {}",
                info.version
            )));
        }
        if let Some(policy) = &req.policy
            && *policy != info.policy
        {
            return Err(invalid(format!(
                "policy in response {} does not match policy in request {policy}",
                info.policy
            )));
        }
        let have = MessageImprint {
            hash_algorithm: info.hash_algorithm.clone(),
            parameters: info.hash_parameters.clone(),
            hashed_message: info.hashed_message.clone(),
        };
        if have != req.message_imprint {
            return Err(invalid(format!(
                "message imprint in response {} does not match with request {}",
                describe(&have),
                describe(&req.message_imprint)
            )));
        }
        if let Some(nonce) = &req.nonce {
            let same = info
                .nonce
                .as_deref()
                .is_some_and(|n| asn1::unsigned_magnitude(n) == asn1::unsigned_magnitude(nonce));
            if !same {
                return Err(invalid(format!(
                    "nonce in response {} does not match nonce in request {}",
                    info.nonce.as_deref().map_or("<nil>".to_owned(), integer),
                    integer(nonce)
                )));
            }
        }
        if req.cert_req {
            if token.has_signing_certificate() {
                return Ok(());
            }
            return Err(invalid(
                "certReq is True in request, but did not find any TSA signing certificate in the response"
                    .into(),
            ));
        }
        if !token.certificates().is_empty() {
            return Err(invalid(
                "certReq is False in request, but certificates field is included in the response".into(),
            ));
        }
        Ok(())
    }
}

/// An INTEGER's content octets in decimal (hex for more than 128 bits), as Go prints a `big.Int`.
fn integer(bytes: &[u8]) -> String {
    let magnitude = asn1::unsigned_magnitude(bytes);
    if magnitude.len() <= 16 {
        let v = magnitude.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
        v.to_string()
    } else {
        format!("0x{}", hex::encode(magnitude))
    }
}

fn describe(m: &MessageImprint) -> String {
    format!(
        "{{HashAlgorithm:{} Parameters:{} HashedMessage:{}}}",
        m.hash_algorithm,
        m.parameters.as_deref().map_or("<none>".to_owned(), hex::encode),
        hex::encode(&m.hashed_message)
    )
}
