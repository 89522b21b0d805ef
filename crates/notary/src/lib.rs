//! Notary Project signatures as pure logic.
//!
//! This crate owns the formats and rules of the [Notary Project
//! specifications](https://github.com/notaryproject/specifications): it parses
//! and produces signature envelopes (JWS flattened JSON and COSE_Sign1), checks
//! X.509 certificate chains against the code-signing rules, loads trust stores
//! laid out as notation lays them out, parses and validates `trustpolicy.json`,
//! and runs the verification procedure, returning an [`verifier::Outcome`] with
//! one result per check.
//!
//! What it does **not** do: it never opens a socket, never reads a registry and
//! never prints. Fetching a CRL, asking an OCSP responder or a timestamp
//! authority goes through the small traits in [`revocation`] and [`timestamp`],
//! so the same code runs in a CLI, an admission webhook and a node agent, and
//! tests can inject faults. Reading an OCI layout or a registry is the `oci`
//! crate's job; the only I/O here is reading trust stores and policies from a
//! config directory the caller names.
//!
//! ```text
//!  envelope bytes ──► envelope::Envelope::parse ──► integrity (signature, chain rules)
//!                                                      │
//!  trustpolicy.json ─► policy::TrustPolicyDocument ────┤  statement for the artifact's scope
//!  truststore/x509 ──► truststore::DirTrustStore ──────┤  authenticity, identities
//!                                                      ▼
//!                     verifier::Verifier ──► expiry ─► authentic timestamp ─► revocation
//!                                                      │
//!                                                      ▼
//!                                             verifier::Outcome
//! ```
#![warn(missing_docs)]

pub mod algorithm;
pub mod crypto;
pub mod descriptor;
pub mod envelope;
mod error;
pub mod plugin;
pub mod policy;
pub mod revocation;
pub mod timestamp;
pub mod truststore;
pub mod verifier;
pub mod x509;

pub use descriptor::{Descriptor, Digest};
pub use envelope::to_go_json;
pub use error::Error;
