//! A registry client: OCI distribution-spec 1.1 over HTTPS, blocking.
//!
//! ```text
//!   Reference::parse("ghcr.io/org/app:v1")
//!        |
//!   Client (one per process: connection pool, challenges, token cache,
//!        |  referrers capability per repository)
//!        v
//!   Repository ──implements──> ArtifactStore (resolve, fetch, push, tag,
//!                               referrers, exists, fetch_to, push_from)
//! ```
//!
//! Why hand-written on hyper rather than an OCI client crate: signing
//! must see the `OCI-Subject` header of a manifest push to decide whether the
//! `sha256-<hex>` referrers index has to be maintained (registries without
//! the referrers API, e.g. distribution 2.8), and verification must stay
//! bounded in bytes, requests and time against a hostile registry. Both need
//! control over each request.
//!
//! * transport: HTTPS with rustls (system roots plus
//!   [`ClientConfig::ca_files`]); plain HTTP only for
//!   [`ClientConfig::insecure_registries`]; a whole-request timeout;
//! * authentication: anonymous first, then Basic or the bearer token flow as
//!   the registry's challenge says, with credentials from a
//!   [`CredentialStore`] ([`DockerConfig`], [`StaticCredentials`]); learned
//!   once per registry, then sent up front, and never retried in a loop: a
//!   wrong password is one [`crate::Error::Unauthorized`] after at most one
//!   credentialed retry;
//! * every body read is capped: manifests and indexes at
//!   [`crate::MAX_MANIFEST_SIZE`], token answers at 1 MiB, error bodies at
//!   64 KiB, tag-list pages at 4 MiB; listings stop at [`MAX_REFERRERS`],
//!   [`MAX_PAGES`] and [`MAX_TAGS`].

mod auth;
mod client;
mod docker_config;
mod reference;
mod repository;
mod transport;

pub use auth::{Challenge, Credential, CredentialStore, StaticCredentials, parse_challenge};
pub use client::{Client, ClientConfig};
pub use docker_config::DockerConfig;
pub use reference::{DOCKER_HUB, Reference};
pub use repository::{MAX_PAGES, MAX_REFERRERS, MAX_TAGS, Repository};
