//! API tokens: `sgt_` + 43 characters of base64url (32 random bytes).
//!
//! The store keeps only [`hash_token`] of a token; the secret is shown once,
//! when it is made.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The prefix every API token starts with.
pub const TOKEN_PREFIX: &str = "sgt_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// A fresh API token: `sgt_` followed by 32 bytes from the system CSPRNG in
/// unpadded base64url (43 characters).
pub fn generate_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    // AWS-LC aborts the process itself when the system has no entropy, so
    // this error is unreachable in practice; never fall back to weaker bytes.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        tracing::error!("the system random number generator failed; cannot make a token");
        std::process::abort();
    }
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The hex SHA-256 of `token`, the form kept at rest and looked up.
///
/// A fast, unsalted hash is right here: tokens are 256 bits from a CSPRNG, so
/// there is nothing to brute-force or look up in a dictionary, and a
/// deterministic hash lets the server find the token by its hash (a password
/// hash such as Argon2 would only cost CPU on every request).
pub fn hash_token(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Whether a bearer credential is an API token (`sgt_…`) rather than a JWT.
pub fn looks_like_token(bearer: &str) -> bool {
    bearer.starts_with(TOKEN_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format() {
        let t = generate_token();
        assert!(looks_like_token(&t));
        assert_eq!(t.len(), 4 + 43);
        assert!(
            t[4..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&t[4..]).unwrap().len(), 32);
        assert!(!looks_like_token("eyJhbGciOiJSUzI1NiJ9.e30.x"));
    }

    #[test]
    fn hash_is_stable_and_distinct() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash_token(&a).len(), 64);
    }
}
