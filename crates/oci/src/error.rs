//! The one error type of this crate.
//!
//! Every message names the thing that was wrong (the file, the digest, the
//! reference) so that a user reading it in a CLI or a webhook log can act on it
//! without a debugger.

use std::{io, path::PathBuf};

use notary::{Digest, descriptor::DescriptorError};

/// Everything that can go wrong while reading or writing OCI content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file an OCI image layout must have is not there.
    #[error("{} is not an OCI image layout: {} is missing", .root.display(), .missing)]
    NotALayout {
        /// The directory that was opened.
        root: PathBuf,
        /// The missing file, relative to `root` (`oci-layout` or `index.json`).
        missing: &'static str,
    },
    /// The `oci-layout` file names a layout version this crate does not read.
    #[error("unsupported OCI image layout version {version:?} in {}: only \"1.0.0\" is supported", .path.display())]
    UnsupportedLayoutVersion {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The `imageLayoutVersion` found (empty when absent).
        version: String,
    },
    /// Reading or writing a file failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done: "read", "write", "create", "rename" …
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// A JSON document (layout file, manifest, index) does not parse.
    #[error("{what} is not valid JSON of the expected shape: {source}")]
    InvalidJson {
        /// Which document, e.g. `manifest sha256:…` or `/path/index.json`.
        what: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A digest string is malformed or uses an unsupported algorithm.
    #[error(transparent)]
    InvalidDigest(#[from] DescriptorError),
    /// A tag does not follow the OCI tag grammar.
    #[error("invalid tag {0:?}: a tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{{0,127}}")]
    InvalidTag(String),
    /// No tag or digest by that name exists in the store.
    #[error("{reference}: not found")]
    ReferenceNotFound {
        /// The tag or digest that was looked up.
        reference: String,
    },
    /// A descriptor points to content the store does not hold.
    #[error("blob {digest} not found")]
    BlobNotFound {
        /// The digest of the missing content.
        digest: Digest,
    },
    /// Content is larger than the limit for its kind; it was not read.
    #[error("content {digest} is {size} bytes, over the {limit}-byte limit; refusing to read it")]
    TooLarge {
        /// The digest of the refused content.
        digest: Digest,
        /// Its size as the descriptor or store reports it.
        size: u64,
        /// The limit that applied.
        limit: u64,
    },
    /// Content does not have the size its descriptor claims.
    #[error(
        "size mismatch for {digest}: the descriptor says {expected} bytes but the content is {actual} bytes"
    )]
    SizeMismatch {
        /// The digest of the content.
        digest: Digest,
        /// The size in the descriptor.
        expected: u64,
        /// The size actually found.
        actual: u64,
    },
    /// Content does not hash to the digest its descriptor claims.
    #[error("digest mismatch: expected {expected}, but the content hashes to {actual}")]
    DigestMismatch {
        /// The digest in the descriptor.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// A blob was resolved by digest but does not say what it is.
    #[error("cannot resolve {digest}: it is not in index.json and its content has no mediaType field")]
    UnknownMediaType {
        /// The digest that was resolved.
        digest: Digest,
    },
    /// A manifest document is not what its media type promises.
    #[error("invalid manifest {digest}: {reason}")]
    InvalidManifest {
        /// The manifest's digest.
        digest: Digest,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature manifest does not have exactly one layer (the envelope).
    #[error("signature manifest {manifest} requires exactly one signature envelope blob, got {count}")]
    SignatureLayerCount {
        /// The signature manifest's digest.
        manifest: Digest,
        /// How many layers it has.
        count: usize,
    },
    /// A referrer with the Notary signature artifact type is not an OCI image manifest.
    #[error("signature manifest {digest} must have media type {expected:?}, got {actual:?}")]
    SignatureMediaType {
        /// The referrer's digest.
        digest: Digest,
        /// The required media type (OCI image manifest).
        expected: &'static str,
        /// The media type it has.
        actual: String,
    },
    /// An OCI-layout reference has no `:tag` or `@digest` part.
    #[error(
        "{0:?}: invalid reference: missing tag or digest. Expecting <file_path>:<tag> or <file_path>@<digest>"
    )]
    MissingReference(String),
    /// An OCI-layout reference has no directory part.
    #[error(
        "{0:?}: invalid reference: missing oci-layout file path. Expecting <file_path>:<tag> or <file_path>@<digest>"
    )]
    MissingLayoutPath(String),
    /// A registry reference (`[registry/]repository[:tag][@digest]`) is malformed.
    #[error("invalid reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it, with a hint when there is one.
        reason: String,
    },
    /// An HTTP request could not be sent or its answer not read (connection
    /// refused, DNS, reset…).
    #[error("request to {url} failed: {reason}")]
    Http {
        /// The URL asked for.
        url: String,
        /// The transport error, with its causes.
        reason: String,
    },
    /// A server did not answer within the configured time.
    #[error("no complete answer from {url} within {timeout:?}: the server is unreachable or stalled")]
    Timeout {
        /// The URL asked for.
        url: String,
        /// The limit that applied.
        timeout: std::time::Duration,
    },
    /// The TLS handshake with a registry failed.
    #[error("TLS handshake with {registry} failed: {reason}; {hint}")]
    Tls {
        /// The registry host (`host[:port]`).
        registry: String,
        /// The TLS error.
        reason: String,
        /// What to do about it (`--ca-file`, `--insecure-registry`).
        hint: String,
    },
    /// A registry answered with an unexpected status.
    #[error("{method} {url}: {status}{}", fmt_message(.message))]
    Status {
        /// The HTTP method.
        method: String,
        /// The URL asked for.
        url: String,
        /// The HTTP status, e.g. `500 Internal Server Error`.
        status: String,
        /// The registry's own error text (`errors[].code: message`), if any.
        message: String,
    },
    /// The registry refused the credentials (or asked for some and none were configured).
    #[error("{registry}: {reason}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// What happened and what to do.
        reason: String,
    },
    /// The registry knows who we are but refuses the operation (403).
    #[error("{registry}: access denied: {reason}")]
    Denied {
        /// The registry host.
        registry: String,
        /// What was refused, with the registry's message.
        reason: String,
    },
    /// A registry answer breaks the distribution specification.
    #[error("{registry}: unexpected answer: {reason}")]
    Protocol {
        /// The registry host.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// Reading or writing credentials (docker `config.json`, a credential helper) failed.
    #[error("credentials for {registry}: {reason}")]
    Credentials {
        /// The registry the credentials are for.
        registry: String,
        /// What went wrong.
        reason: String,
    },
    /// The client configuration is unusable (an unreadable CA file, …).
    #[error("registry client configuration: {0}")]
    Config(String),
}

fn fmt_message(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidJson`] for `what`.
    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Self::InvalidJson {
            what: what.into(),
            source,
        }
    }
}

/// An error with its causes, `a: b: c` (a cause whose text is already
/// there is not repeated). HTTP libraries keep the TLS or connection problem in
/// the causes.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        source = s.source();
    }
    out
}
