//! Credentials and the registry authentication challenge.
//!
//! A registry says how it wants to be authenticated in the `WWW-Authenticate`
//! header of a 401 (RFC 7235): `Basic realm="…"`, or `Bearer realm="…",
//! service="…",scope="…"` for the token flow of the distribution spec
//! (`docker/distribution` `token` auth, also used by Docker Hub, GHCR, ECR…).
//! The header is parsed here; the requests it leads to are the client's.

use std::{collections::BTreeMap, fmt, sync::Arc};

use crate::Error;

/// What a user authenticates with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A user name and a password (or a personal access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// A refresh token (docker's `identitytoken`), exchanged for access tokens
    /// with an OAuth2 `grant_type=refresh_token` POST to the token server.
    IdentityToken(String),
}

impl fmt::Debug for Credential {
    /// Never prints secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username:?}, <password>)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(<token>)"),
        }
    }
}

/// Where the client finds credentials for a registry host (`host[:port]`, or
/// `docker.io` for Docker Hub).
pub trait CredentialStore: Send + Sync {
    /// The credential for `registry`, or `None` to go anonymous.
    fn get(&self, registry: &str) -> Result<Option<Credential>, Error>;
}

/// Fixed credentials for one registry (from `--username`/`--password` or the
/// environment), tried before a fallback store; other registries go to the
/// fallback only.
pub struct StaticCredentials {
    registry: String,
    credential: Credential,
    fallback: Option<Arc<dyn CredentialStore>>,
}

impl StaticCredentials {
    /// `credential` for `registry`, and `fallback` for everything else.
    pub fn new(
        registry: impl Into<String>,
        credential: Credential,
        fallback: Option<Arc<dyn CredentialStore>>,
    ) -> Self {
        Self {
            registry: registry.into(),
            credential,
            fallback,
        }
    }
}

impl CredentialStore for StaticCredentials {
    fn get(&self, registry: &str) -> Result<Option<Credential>, Error> {
        if registry == self.registry {
            return Ok(Some(self.credential.clone()));
        }
        match &self.fallback {
            Some(f) => f.get(registry),
            None => Ok(None),
        }
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// HTTP Basic: send the user name and password.
    Basic,
    /// The token flow: ask `realm` for a token for `service` and a scope.
    Bearer {
        /// The token server URL.
        realm: String,
        /// The `service` parameter, passed back to the token server.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value. The scheme is case-insensitive;
/// parameter values may be quoted (with `\` escapes and commas inside) or
/// tokens. Unknown schemes give `None`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = match header.find(char::is_whitespace) {
        Some(i) => (&header[..i], header[i..].trim_start()),
        None => (header, ""),
    };
    let params = parse_params(rest);
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let realm = params.get("realm")?.clone();
        Some(Challenge::Bearer {
            realm,
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    } else {
        None
    }
}

/// `key=value, key="quoted, value"` into a map with lowercase keys.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let key = key.trim().to_ascii_lowercase();
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                value.push(n);
                            }
                        }
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_owned();
            }
        }
        if !key.is_empty() {
            out.entry(key).or_insert(value);
        }
        if chars.peek().is_none() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("basic"), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull,push".into()),
            })
        );
        // Case-insensitive scheme and keys, spaces, token values, escapes, unknown params.
        assert_eq!(
            parse_challenge(
                r#"BEARER  Realm = "http://127.0.0.1:1/t\"x" , error="insufficient_scope", Service=reg"#
            ),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/t\"x".into(),
                service: Some("reg".into()),
                scope: None,
            })
        );
        assert_eq!(parse_challenge("Bearer service=x"), None, "bearer needs a realm");
        assert_eq!(parse_challenge("Negotiate abc"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn static_credentials_fall_back() {
        struct One;
        impl CredentialStore for One {
            fn get(&self, r: &str) -> Result<Option<Credential>, Error> {
                Ok((r == "b").then(|| Credential::IdentityToken("t".into())))
            }
        }
        let c = Credential::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let s = StaticCredentials::new("a", c.clone(), Some(Arc::new(One)));
        assert_eq!(s.get("a").unwrap(), Some(c));
        assert_eq!(s.get("b").unwrap(), Some(Credential::IdentityToken("t".into())));
        assert_eq!(s.get("c").unwrap(), None);
        assert!(!format!("{:?}", s.get("a").unwrap()).contains("\"p\""));
    }
}
