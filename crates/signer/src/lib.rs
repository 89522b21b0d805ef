//! Signet's signing service: build machines get signatures, never keys.
//!
//! ```text
//!  client (token | mTLS | OIDC JWT) ──► auth ──► rules (deny by default)
//!                                                  │
//!                                 profile ◄────────┘
//!                                    │ key backend (file | PKCS#11)
//!                                    ▼
//!      fresh leaf key ─► pki::issue_leaf (CA key signs; CRL DP + OCSP URL of the service)
//!                                    ▼
//!      notary::envelope::sign (+ built-in RFC 3161 TSA) ─► store (job + audit entry, group commit)
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod keys;
pub mod pki;
pub mod store;
