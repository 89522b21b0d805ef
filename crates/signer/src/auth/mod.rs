//! Identities and authorisation: API tokens, mTLS client certificates, OIDC JWTs; rules.
