//! RFC 3161 timestamping over HTTP, at signing time.
//!
//! [`HttpTimestamper`] does what notation does before it accepts a token
//! (tspclient-go's `HTTPTimestamper` and notation-core-go's `Timestamp`):
//!
//! ```text
//!  TimestampRequest::new(signature)          SHA-256 imprint, random nonce, certReq
//!  POST application/timestamp-query ──► TSA  bounded in time and size
//!  require application/timestamp-reply
//!  TimestampResponse::parse + validate(req)  status, version, policy, imprint, nonce, certReq
//!  TstInfo::validate(signature)              the token is over these bytes
//!  SignedToken::verify(roots, genTime)       CMS signature, ESSCertIDv2, chain, EKU
//!  x509::validate_timestamping_chain         Notary Project TSA certificate rules
//! ```
//!
//! Only then is the token's DER handed back to be written into the envelope.

use std::time::Duration;

use notary::{
    timestamp::{SignedToken, TimestampError, TimestampRequest, TimestampResponse},
    x509::{self, Certificate, CertificateError},
};

use crate::http::{Client, HttpError, Limits};

/// The media type of a `TimeStampReq`.
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// The media type of a `TimeStampResp`.
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";
/// The largest TSA response accepted (a token with a few certificates is a few KiB).
pub const MAX_RESPONSE: u64 = 1024 * 1024;
/// The default whole-request deadline, tspclient-go's.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no token was obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsaError {
    /// No root certificate was given to verify the TSA's tokens against.
    #[error("no TSA root certificate is configured")]
    NoRoots,
    /// The request could not be built.
    #[error(transparent)]
    Request(TimestampError),
    /// The HTTP exchange failed (transport, timeout, status, size, scheme).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The TSA answered with something other than `application/timestamp-reply`.
    #[error("{url} answered with content type {content_type:?}, expected \"application/timestamp-reply\"")]
    ContentType {
        /// The TSA URL.
        url: String,
        /// The content type it sent (empty if none).
        content_type: String,
    },
    /// The response is malformed, not granted, or does not answer the request.
    #[error(transparent)]
    Response(TimestampError),
    /// The token does not verify against the TSA root at its genTime.
    #[error(transparent)]
    Verify(TimestampError),
    /// The TSA certificate chain breaks the Notary Project requirements.
    #[error("failed to validate the timestamping certificate chain with error: {0}")]
    Chain(CertificateError),
}

/// Timestamps signatures with an RFC 3161 TSA over plain HTTP and checks each
/// token against the TSA root(s) before returning it.
#[derive(Debug, Clone)]
pub struct HttpTimestamper {
    client: Client,
    url: String,
    roots: Vec<Certificate>,
}

impl HttpTimestamper {
    /// A timestamper for the TSA at `url` (`http://` only) whose tokens must
    /// chain to one of `roots`, with the default timeout and [`MAX_RESPONSE`].
    pub fn new(url: impl Into<String>, roots: Vec<Certificate>) -> Self {
        Self::with_timeout(url, roots, DEFAULT_TIMEOUT)
    }

    /// Like [`new`](Self::new) with a whole-request deadline of `timeout`.
    pub fn with_timeout(url: impl Into<String>, roots: Vec<Certificate>, timeout: Duration) -> Self {
        let client = Client::new(Limits {
            timeout,
            max_body: MAX_RESPONSE,
        });
        Self::with_client(client, url, roots)
    }

    /// A timestamper using an existing `client` (and its limits).
    pub fn with_client(client: Client, url: impl Into<String>, roots: Vec<Certificate>) -> Self {
        Self {
            client,
            url: url.into(),
            roots,
        }
    }

    /// The TSA URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Obtains a token over `signature` and verifies it; returns the token's DER.
    pub fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, TsaError> {
        if self.roots.is_empty() {
            return Err(TsaError::NoRoots);
        }
        let request = TimestampRequest::new(signature).map_err(TsaError::Request)?;
        let body = request.to_der().map_err(TsaError::Request)?;
        tracing::debug!(url = %self.url, "requesting an RFC 3161 timestamp");
        let response = self.client.post(&self.url, QUERY_MEDIA_TYPE, body)?;
        let content_type = response.content_type.unwrap_or_default();
        if !is_reply(&content_type) {
            return Err(TsaError::ContentType {
                url: self.url.clone(),
                content_type,
            });
        }
        let parsed = TimestampResponse::parse(&response.body).map_err(TsaError::Response)?;
        parsed.validate(&request).map_err(TsaError::Response)?;
        let der = parsed.token.ok_or_else(|| {
            TsaError::Response(TimestampError::InvalidResponse(
                "the response carries no token".into(),
            ))
        })?;
        let token = SignedToken::parse(&der).map_err(TsaError::Response)?;
        let info = token.info().map_err(TsaError::Response)?;
        let stamped = info.validate(signature).map_err(TsaError::Response)?;
        let chain = token
            .verify(&self.roots, stamped.time)
            .map_err(TsaError::Verify)?;
        x509::validate_timestamping_chain(&chain).map_err(TsaError::Chain)?;
        Ok(der)
    }
}

impl notary::envelope::Timestamper for HttpTimestamper {
    fn timestamp(&self, signature: &[u8]) -> Result<Vec<u8>, String> {
        HttpTimestamper::timestamp(self, signature).map_err(|e| match e {
            // HTTP errors name the URL already.
            TsaError::Http(_) => e.to_string(),
            _ => format!("TSA {}: {e}", self.url),
        })
    }
}

/// `application/timestamp-reply`, ignoring case and any parameters.
fn is_reply(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(REPLY_MEDIA_TYPE))
}

#[cfg(test)]
mod tests {
    use super::is_reply;

    #[test]
    fn reply_media_type() {
        assert!(is_reply("application/timestamp-reply"));
        assert!(is_reply("Application/Timestamp-Reply; charset=binary"));
        assert!(!is_reply("application/timestamp-query"));
        assert!(!is_reply(""));
    }
}
