//! Identities and authorisation: API tokens, mTLS client certificates, OIDC JWTs; rules.
//!
//! ```text
//!   Authorization: Bearer sgt_…   ──► token::hash_token ──► store lookup (server) ─┐
//!   TLS client certificate         ──► mtls::identity_from_certificate ───────────┤
//!   Authorization: Bearer eyJ…     ──► oidc::Oidc::verify (JWKS, iss, aud, exp) ───┤
//!                                                                                 ▼
//!                                     Identity ──► rules::Rules::authorize_sign / authorize_admin
//!                                                   (deny by default; a refusal names the near misses)
//! ```
//!
//! Every [`AuthError`] message is safe to send back to the client: it never
//! contains a token secret or key material.

pub mod mtls;
pub mod oidc;
pub mod rules;
pub mod token;

use std::collections::BTreeMap;

pub use mtls::identity_from_certificate;
pub use oidc::{Oidc, OidcConfig, OidcVerifier};
pub use rules::{Denied, IdentityMatch, RuleConfig, Rules};
pub use token::{generate_token, hash_token, looks_like_token};

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// An API token (`Authorization: Bearer sgt_…`).
    Token,
    /// A TLS client certificate.
    Mtls,
    /// An OIDC JWT from a CI system (`Authorization: Bearer eyJ…`).
    Oidc,
}

impl Method {
    /// The lowercase name (`token`, `mtls`, `oidc`).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Token => "token",
            Method::Mtls => "mtls",
            Method::Oidc => "oidc",
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Identity {
    /// How the caller authenticated.
    pub method: Method,
    /// token: the token's identity string; mtls: the certificate subject DN
    /// (RFC 4514); oidc: the `sub` claim (or the configured subject claim).
    pub subject: String,
    /// oidc: the `iss` claim; mtls: the issuer DN; token: none.
    pub issuer: Option<String>,
    /// oidc: string-valued claims (numbers and booleans stringified; arrays,
    /// objects and nulls skipped); mtls: `cn`, `san.dns`, `san.uri`,
    /// `san.email` (further SANs of a kind as `san.dns.1`, `san.dns.2`, …)
    /// and `sha256` (certificate fingerprint, hex); token: `token` (the token's name).
    pub claims: BTreeMap<String, String>,
}

impl Identity {
    /// One line for logs, jobs and the audit log: `token:ci-main`,
    /// `oidc:https://token.actions.githubusercontent.com#repo:acme/app:ref:refs/heads/main`,
    /// `mtls:CN=builder,O=Acme`. Control characters are escaped, so a
    /// crafted subject cannot forge log lines.
    pub fn display(&self) -> String {
        let raw = match (self.method, &self.issuer) {
            (Method::Oidc, Some(iss)) => format!("oidc:{iss}#{}", self.subject),
            (method, _) => format!("{method}:{}", self.subject),
        };
        escape_controls(&raw)
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// Escapes control characters (newlines, escapes, …) for one-line output.
pub(crate) fn escape_controls(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Shortens attacker-controlled text quoted in an error message.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 200;
    let escaped = escape_controls(s);
    if escaped.chars().count() <= MAX {
        format!("{escaped:?}")
    } else {
        let short: String = escaped.chars().take(MAX).collect();
        format!("{short:?}…")
    }
}

/// Why a caller could not be authenticated, or why the configuration is
/// unusable. Messages are safe to return to the client.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The bearer token is not a well-formed JWT.
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The bearer token exceeds the size limit.
    #[error("the token is {size} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The JWT header says `alg: none`.
    #[error("alg none is not accepted: the token must be signed")]
    AlgNone,
    /// The JWT header names an algorithm outside the allow-list (HS*, …).
    #[error("alg {alg} is not accepted; the accepted algorithms are {accepted}")]
    AlgNotAccepted {
        /// The header's alg (quoted).
        alg: String,
        /// The allow-list.
        accepted: String,
    },
    /// The header alg does not fit the JWK the token names.
    #[error("alg {alg} does not fit the signing key {key}")]
    AlgKeyMismatch {
        /// The header's alg.
        alg: String,
        /// The key: kid and type.
        key: String,
    },
    /// The token names no kid and the JWKS has several keys.
    #[error("the token names no kid, but the JWKS of {issuer} has {keys} keys")]
    KidRequired {
        /// The issuer.
        issuer: String,
        /// How many keys its JWKS has.
        keys: usize,
    },
    /// The token names a kid that is not in the issuer's JWKS (after a refetch).
    #[error("unknown signing key kid={kid} for issuer {issuer}")]
    UnknownKid {
        /// The kid (quoted).
        kid: String,
        /// The issuer.
        issuer: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error("the token's signature does not verify with the signing key {key}")]
    BadSignature {
        /// The key: kid and type.
        key: String,
    },
    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf is in the future)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future (iat is after now)")]
    IssuedInFuture,
    /// `aud` does not contain the configured audience.
    #[error("the token's audience {got} is not {expected:?}")]
    WrongAudience {
        /// The token's aud (quoted).
        got: String,
        /// The configured audience.
        expected: String,
    },
    /// `iss` is not the configured issuer.
    #[error("the token's issuer {got} is not {expected:?}")]
    WrongIssuer {
        /// The token's iss (quoted).
        got: String,
        /// The configured issuer.
        expected: String,
    },
    /// No configured OIDC issuer has this `iss`.
    #[error("the token's issuer {0} is not a configured OIDC issuer")]
    UnknownIssuer(String),
    /// A required claim is absent.
    #[error("the token has no {0} claim")]
    MissingClaim(String),
    /// A claim has the wrong type or shape.
    #[error("the token's {0} claim is invalid")]
    InvalidClaim(String),
    /// The JWKS could not be loaded.
    #[error("the JWKS at {location} could not be fetched: {message}")]
    Jwks {
        /// File path or URL.
        location: String,
        /// What went wrong.
        message: String,
    },
    /// The auth configuration (OIDC issuers, rules) is invalid.
    #[error("invalid auth configuration: {0}")]
    Config(String),
    /// The client certificate could not be read.
    #[error("the client certificate is unusable: {0}")]
    Certificate(String),
}

impl AuthError {
    /// The HTTP status to answer with: 401 for credentials that do not
    /// authenticate, 503 when the issuer's JWKS cannot be fetched, 500 for
    /// configuration errors.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Jwks { .. } => 503,
            AuthError::Config(_) => 500,
            _ => 401,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        let mut id = Identity {
            method: Method::Oidc,
            subject: "repo:acme/app:ref:refs/heads/main".into(),
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            claims: BTreeMap::new(),
        };
        assert_eq!(
            id.display(),
            "oidc:https://token.actions.githubusercontent.com#repo:acme/app:ref:refs/heads/main"
        );
        id.method = Method::Mtls;
        id.subject = "CN=builder,O=Acme".into();
        assert_eq!(id.display(), "mtls:CN=builder,O=Acme");
        id.method = Method::Token;
        id.issuer = None;
        id.subject = "ci-main\nforged".into();
        assert_eq!(id.display(), "token:ci-main\\nforged");
        assert_eq!(
            serde_json::to_value(&id).unwrap()["method"],
            serde_json::json!("token")
        );
    }
}
