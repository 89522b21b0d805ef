//! The storage boundary: what signing and verification need from wherever
//! artifacts live.
//!
//! Two very different back ends sit behind this trait: an OCI image layout on
//! disk ([`crate::OciLayout`]) and, in a later issue, a registry reached over
//! HTTPS. The trait is shaped by what notation's `Repository` needs — resolve,
//! fetch, push, tag, list referrers — and by what both back ends can do
//! cheaply. Everything is addressed by descriptor, so a back end can check every
//! byte it hands out against the digest it was asked for; size limits are the
//! caller's to choose because only the caller knows what it is fetching.

use notary::{Descriptor, Digest};

use crate::Error;

/// The largest manifest (or index) this crate reads: 4 MiB, as distribution-spec
/// and notation use.
pub const MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// The largest signature envelope this crate reads: 32 MiB, as notation uses.
pub const MAX_ENVELOPE_SIZE: u64 = 32 * 1024 * 1024;
/// The most signatures examined for one artifact, as notation's verifier uses.
pub const MAX_SIGNATURES: usize = 100;

/// Content-addressed storage of manifests and blobs, with tags and referrers.
pub trait ArtifactStore {
    /// Resolves a tag or a digest (`sha256:…`) to the descriptor of a manifest.
    fn resolve(&self, reference: &str) -> Result<Descriptor, Error>;

    /// Fetches the content `desc` names. Refuses `desc.size > max_size` before
    /// reading anything, and checks the size and digest of what it read.
    fn fetch(&self, desc: &Descriptor, max_size: u64) -> Result<Vec<u8>, Error>;

    /// Stores `bytes` as content of `media_type` and returns its descriptor
    /// (media type, digest, size). Pushing the same bytes twice is harmless.
    fn push(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error>;

    /// Points `tag` at the manifest `desc`, replacing what it pointed at before.
    fn tag(&mut self, desc: &Descriptor, tag: &str) -> Result<(), Error>;

    /// The manifests whose `subject` is `subject`, as the referrers API lists
    /// them: each descriptor carries `artifactType` (the manifest's, or its
    /// config media type when it has none) and the manifest's annotations.
    /// When `artifact_type` is given, only referrers of that type are returned.
    fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>, Error>;
}
