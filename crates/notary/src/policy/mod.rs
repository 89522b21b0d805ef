//! Trust policy documents: which artifacts a policy covers, how strictly they
//! are verified, and which trust stores and identities they trust.
//!
//! This module ports notation's trust policy rules (notation-go
//! `verifier/trustpolicy`, `internal/pkix`, and the go-ldap DN parser it uses)
//! and words its errors as notation does, so messages can be compared with
//! notation's own. It parses and decides; reading the file, checking that
//! trust stores exist and verifying signatures are for the caller.
//!
//! ```text
//!  bytes ─► json (duplicate members refused) ─► notation's rules, in its order
//!        ─► TrustPolicyDocument ─► statement_for_artifact(ref) ─► TrustPolicyStatement
//!                                                      │
//!              signing cert subject ─► subject_matches(trusted_identities, subject)
//! ```
//!
//! - [`document`]: the OCI document, registry-scope selection, `policy init`'s example.
//! - [`blob`]: the blob document, selection by name or `globalPolicy`.
//! - [`level`]: levels, validation types, actions, overrides.
//! - [`identity`]: trust store references, trusted identities and matching.
//! - [`dn`]: RFC 4514 distinguished names with the Notary Project rules.

pub mod blob;
pub mod dn;
pub mod document;
mod error;
pub mod identity;
mod json;
pub mod level;
mod scope;
mod statement;

pub use blob::{BlobTrustPolicyDocument, BlobTrustPolicyStatement};
pub use dn::DistinguishedName;
pub use document::{TrustPolicyDocument, TrustPolicyStatement};
pub use error::TrustPolicyError;
pub use identity::{StoreType, TrustStoreRef, TrustedIdentity, subject_matches, verify_identities};
pub use level::{Action, SignatureVerification, ValidationType, VerificationLevel, VerifyTimestamp};
