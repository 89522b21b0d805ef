//! The storage boundary: what signing and verification need from wherever
//! artifacts live.
//!
//! Two very different back ends sit behind this trait: an OCI image layout on
//! disk ([`crate::OciLayout`]) and a registry reached over HTTPS
//! ([`crate::registry::Repository`]). The trait is shaped by what notation's
//! `Repository` needs — resolve, fetch, push, tag, list referrers — plus
//! streaming for blobs too large to hold in memory (`signet copy`), and by
//! what both back ends can do cheaply. Everything is addressed by descriptor, so a back end can check every
//! byte it hands out against the digest it was asked for; size limits are the
//! caller's to choose because only the caller knows what it is fetching.

use std::io::{Read, Write};

use notary::{Descriptor, Digest, descriptor::DigestAlgorithm};

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

    /// Whether the store holds the content `desc` names (a manifest or a blob).
    ///
    /// The default fetches it; back ends override it with something cheaper.
    fn exists(&self, desc: &Descriptor) -> Result<bool, Error> {
        match self.fetch(desc, desc.size) {
            Ok(_) => Ok(true),
            Err(Error::BlobNotFound { .. } | Error::ReferenceNotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes the content `desc` names to `out` as it arrives, for content too
    /// large to hold in memory (image layers). The size and digest are checked
    /// at the end: on a mismatch `out` has received bad bytes and the call
    /// returns the error, so write to a temporary place and keep it only on
    /// `Ok`.
    ///
    /// The default buffers the whole content through [`ArtifactStore::fetch`].
    fn fetch_to(&self, desc: &Descriptor, out: &mut dyn Write) -> Result<(), Error> {
        let bytes = self.fetch(desc, desc.size)?;
        out.write_all(&bytes)
            .map_err(|e| Error::io("write", format!("<output for {}>", desc.digest), e))
    }

    /// Stores exactly `desc.size` bytes read from `content` as the content
    /// `desc` names; fails (storing nothing) when they do not have that size
    /// and digest. Nothing is done when the store already has it.
    ///
    /// The default reads everything into memory and calls [`ArtifactStore::push`].
    fn push_from(&mut self, desc: &Descriptor, content: &mut dyn Read) -> Result<(), Error> {
        let bytes = read_exact_size(desc, content, u64::MAX)?;
        let pushed = self.push(&desc.media_type, &bytes)?;
        if pushed.digest != desc.digest {
            return Err(Error::DigestMismatch {
                expected: desc.digest.clone(),
                actual: pushed.digest,
            });
        }
        Ok(())
    }
}

/// Reads `desc.size` bytes of `content` (refusing more than `max`), checking
/// the size (one byte more is read to notice longer content) and the digest.
pub(crate) fn read_exact_size(desc: &Descriptor, content: &mut dyn Read, max: u64) -> Result<Vec<u8>, Error> {
    if desc.size > max {
        return Err(Error::TooLarge {
            digest: desc.digest.clone(),
            size: desc.size,
            limit: max,
        });
    }
    let mut bytes = Vec::new();
    content
        .take(desc.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", format!("<content of {}>", desc.digest), e))?;
    let mut hasher = Hasher::new(desc.digest.algorithm());
    hasher.update(&bytes);
    hasher.check(desc, bytes.len() as u64)?;
    Ok(bytes)
}

/// A digest computed piece by piece, for streamed content.
pub(crate) struct Hasher {
    algorithm: DigestAlgorithm,
    context: aws_lc_rs::digest::Context,
}

impl Hasher {
    pub(crate) fn new(algorithm: DigestAlgorithm) -> Self {
        let alg = match algorithm {
            DigestAlgorithm::Sha256 => &aws_lc_rs::digest::SHA256,
            DigestAlgorithm::Sha512 => &aws_lc_rs::digest::SHA512,
        };
        Self {
            algorithm,
            context: aws_lc_rs::digest::Context::new(alg),
        }
    }

    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.context.update(bytes);
    }

    /// Checks that `size` bytes were seen and that they hash to `desc.digest`.
    pub(crate) fn check(self, desc: &Descriptor, size: u64) -> Result<(), Error> {
        if size != desc.size {
            return Err(Error::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: size,
            });
        }
        let hex = hex_encode(self.context.finish().as_ref());
        let actual = Digest::parse(&format!("{}:{hex}", self.algorithm.name()))?;
        if actual != desc.digest {
            return Err(Error::DigestMismatch {
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
