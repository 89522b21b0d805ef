//! A small blocking HTTP client with hard limits.
//!
//! Every request has a total timeout and every response body is read up to a
//! byte limit; a larger body is an error, never a partial read. Only `http://`
//! URLs are followed: revocation and timestamp endpoints are plain HTTP by
//! the spec (their payloads are signed), and refusing other schemes keeps a
//! certificate from steering the verifier to `file://` or elsewhere.

use std::{
    io::Read,
    sync::{Arc, OnceLock},
    time::Duration,
};

/// Limits for one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Whole-request deadline (connect, send, receive).
    pub timeout: Duration,
    /// Largest response body accepted, in bytes.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_body: 10 * 1024 * 1024,
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not an `http://` URL.
    #[error("refusing to fetch {0:?}: only http:// URLs are used for OCSP, CRL and TSA endpoints")]
    Scheme(String),
    /// Connecting, sending or receiving failed (includes timeouts).
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with a non-2xx status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body exceeded the limit.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
}

/// A response: its content type and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// A blocking HTTP client with [`Limits`].
///
/// The underlying client (and the runtime thread a blocking reqwest client
/// runs) is only made on the first request: most verifications never fetch a
/// CRL or ask an OCSP responder, and should not pay for it.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<OnceLock<reqwest::blocking::Client>>,
    limits: Limits,
}

impl Client {
    /// A client with these limits. No redirects are followed.
    pub fn new(limits: Limits) -> Self {
        Self {
            inner: Arc::new(OnceLock::new()),
            limits,
        }
    }

    /// The reqwest client, made now if it was not yet.
    fn http(&self, url: &str) -> Result<&reqwest::blocking::Client, HttpError> {
        if let Some(c) = self.inner.get() {
            return Ok(c);
        }
        let built = reqwest::blocking::Client::builder()
            .timeout(self.limits.timeout)
            .connect_timeout(self.limits.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("signet/", env!("CARGO_PKG_VERSION")))
            // Only http:// is fetched (check_scheme): no roots to load, which
            // would otherwise cost every request a read of the system
            // certificate store.
            .tls_certs_only(Vec::new())
            .build()
            .map_err(|e| HttpError::Transport {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(self.inner.get_or_init(|| built))
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// `GET url`.
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        check_scheme(url)?;
        let resp = self.http(url)?.get(url).send().map_err(|e| transport(url, e))?;
        self.finish(url, resp)
    }

    /// `POST url` with `body` of `content_type`.
    pub fn post(&self, url: &str, content_type: &str, body: Vec<u8>) -> Result<Response, HttpError> {
        check_scheme(url)?;
        let resp = self
            .http(url)?
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .map_err(|e| transport(url, e))?;
        self.finish(url, resp)
    }

    fn finish(&self, url: &str, resp: reqwest::blocking::Response) -> Result<Response, HttpError> {
        let status = resp.status();
        if !status.is_success() {
            return Err(HttpError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limit = self.limits.max_body;
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(HttpError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let mut body = Vec::new();
        resp.take(limit + 1)
            .read_to_end(&mut body)
            .map_err(|e| HttpError::Transport {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        if body.len() as u64 > limit {
            return Err(HttpError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        Ok(Response { content_type, body })
    }
}

fn check_scheme(url: &str) -> Result<(), HttpError> {
    if url.len() > 7 && url[..7].eq_ignore_ascii_case("http://") {
        Ok(())
    } else {
        Err(HttpError::Scheme(url.to_owned()))
    }
}

fn transport(url: &str, e: reqwest::Error) -> HttpError {
    let reason = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        // reqwest's own text ("error sending request …") hides the cause,
        // e.g. "Connection refused", in its source chain.
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            reason.push_str(": ");
            reason.push_str(&s.to_string());
            source = s.source();
        }
        reason
    };
    HttpError::Transport {
        url: url.to_owned(),
        reason,
    }
}
