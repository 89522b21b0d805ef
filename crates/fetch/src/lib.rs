//! Network fetchers for the `notary` crate's traits.
//!
//! `notary` never opens a socket: revocation checking and timestamping go
//! through its `RevocationChecker` and timestamp traits. This crate is the
//! implementation the CLI (and later the services) plug in: plain HTTP, as
//! the Notary Project specifies for OCSP, CRL and TSA endpoints, with every
//! response size and every request time bounded.
#![warn(missing_docs)]

pub mod http;
pub mod revocation;
pub mod tsa;
