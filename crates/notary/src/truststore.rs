//! Trust stores: named sets of trusted certificates, laid out as notation lays
//! them out.
//!
//! A trust store is `<config dir>/truststore/x509/<type>/<name>/`, holding
//! certificate files (PEM or DER, one or several certificates each). The type
//! is `ca`, `signingAuthority` or `tsa`. Verification only ever needs "the
//! certificates of this store", so [`TrustStore`] has that one method; the
//! directory implementation, [`DirTrustStore`], also manages stores for the
//! CLI (`cert add/list/delete`).
//!
//! Loading follows notation-go: store names must match `[a-zA-Z0-9_.-]+`
//! (which also keeps them inside the config directory), the store must be a
//! real directory, every entry must be a regular file (no subdirectories, no
//! symlinks), each file must parse and pass the trust-store certificate checks
//! ([`crate::x509::root`]), and an empty store is an error. Files are read up to
//! [`MAX_CERT_FILE_SIZE`] bytes.

use std::{
    fmt, io,
    path::{Path, PathBuf},
    str::FromStr,
};

use crate::x509::{
    Certificate, CertificateError, read_certificates,
    root::{check_root_ca_certificate, validate_trust_store_certificates},
};

/// The largest certificate file a trust store may hold.
pub const MAX_CERT_FILE_SIZE: u64 = 1024 * 1024;

/// The kind of a trust store, which decides what its certificates may anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrustStoreType {
    /// Certificate authorities for the `notary.x509` signing scheme.
    Ca,
    /// Signing authorities for the `notary.x509.signingAuthority` scheme.
    SigningAuthority,
    /// Timestamping authorities' root certificates.
    Tsa,
}

impl TrustStoreType {
    /// Every type, in notation's order.
    pub const ALL: [TrustStoreType; 3] = [Self::Ca, Self::SigningAuthority, Self::Tsa];

    /// The directory and policy name: `ca`, `signingAuthority` or `tsa`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::SigningAuthority => "signingAuthority",
            Self::Tsa => "tsa",
        }
    }

    /// The store type that anchors signatures of `signing_scheme`
    /// (`notary.x509` → `ca`, `notary.x509.signingAuthority` → `signingAuthority`).
    pub fn for_signing_scheme(signing_scheme: &str) -> Result<Self, TrustStoreError> {
        match signing_scheme {
            "notary.x509" => Ok(Self::Ca),
            "notary.x509.signingAuthority" => Ok(Self::SigningAuthority),
            other => Err(TrustStoreError::UnrecognizedSigningScheme(other.to_string())),
        }
    }

    /// The store type that anchors timestamps for `signing_scheme`: only
    /// `notary.x509` signatures may use TSA stores.
    pub fn tsa_for_signing_scheme(signing_scheme: &str) -> Result<Self, TrustStoreError> {
        match signing_scheme {
            "notary.x509" => Ok(Self::Tsa),
            other => Err(TrustStoreError::TsaNotAllowed(other.to_string())),
        }
    }
}

impl fmt::Display for TrustStoreType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TrustStoreType {
    type Err = TrustStoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| TrustStoreError::UnsupportedType(s.to_string()))
    }
}

/// A trust store could not be read, or holds unacceptable certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustStoreError {
    /// The store type is not `ca`, `signingAuthority` or `tsa`.
    #[error("unsupported trust store type: {0}")]
    UnsupportedType(String),
    /// The store name has characters outside `[a-zA-Z0-9_.-]`.
    #[error("trust store name needs to follow [a-zA-Z0-9_.-]+ format, {0} is invalid")]
    InvalidStoreName(String),
    /// A certificate file name is empty, `.`/`..`, or contains a path separator.
    #[error("certificate file name {0:?} is invalid: it must be a plain file name")]
    InvalidFileName(String),
    /// The named store does not exist.
    #[error("the trust store {name:?} of type {ty:?} does not exist")]
    NotFound {
        /// The store name.
        name: String,
        /// The store type.
        ty: String,
    },
    /// The store path is not a directory, or is a symlink.
    #[error(
        "the trust store {name} of type {ty} with path {} is not a regular directory (symlinks are not supported)",
        path.display()
    )]
    NotADirectory {
        /// The store name.
        name: String,
        /// The store type.
        ty: TrustStoreType,
        /// The store path.
        path: PathBuf,
    },
    /// A store entry is a directory or a symlink.
    #[error(
        "trusted certificate {file} in trust store {name} of type {ty} is not a regular file (directories or symlinks are not supported)"
    )]
    NotARegularFile {
        /// The entry name.
        file: String,
        /// The store name.
        name: String,
        /// The store type.
        ty: TrustStoreType,
    },
    /// A certificate file could not be read or parsed.
    #[error("failed to read the trusted certificate {file} in trust store {name} of type {ty}: {source}")]
    ReadCertificate {
        /// The file name.
        file: String,
        /// The store name.
        name: String,
        /// The store type.
        ty: TrustStoreType,
        /// Why.
        source: CertificateError,
    },
    /// A certificate file holds a certificate that may not be a trust anchor.
    #[error("failed to validate the trusted certificate {file} in trust store {name} of type {ty}: {source}")]
    ValidateCertificate {
        /// The file name.
        file: String,
        /// The store name.
        name: String,
        /// The store type.
        ty: TrustStoreType,
        /// Why.
        source: CertificateError,
    },
    /// A `tsa` store holds a certificate that is not a root CA certificate.
    #[error("trusted certificate {file} in trust store {name} of type {ty} is invalid: {source}")]
    InvalidTsaCertificate {
        /// The file name.
        file: String,
        /// The store name.
        name: String,
        /// The store type.
        ty: TrustStoreType,
        /// Why.
        source: CertificateError,
    },
    /// The store holds no certificate.
    #[error("no x509 certificates were found in trust store {name:?} of type {ty:?}")]
    Empty {
        /// The store name.
        name: String,
        /// The store type.
        ty: String,
    },
    /// A certificate file is larger than [`MAX_CERT_FILE_SIZE`].
    #[error("certificate file {} is larger than the limit of {limit} bytes", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// A file to add has no certificate or a bad one.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// Adding a certificate whose file name is already in the store.
    #[error("certificate already exists in the Trust Store")]
    AlreadyExists,
    /// A trust policy's trust store entry lacks the `type:name` separator.
    #[error(
        "error while loading the trust store, trust policy statement {policy:?} is missing separator in trust store value {entry:?}. The required format is <TrustStoreType>:<TrustStoreName>"
    )]
    MissingSeparator {
        /// The policy statement name.
        policy: String,
        /// The offending entry.
        entry: String,
    },
    /// The signing scheme is not one notation knows.
    #[error("error while loading the trust store, unrecognized signing scheme {0:?}")]
    UnrecognizedSigningScheme(String),
    /// TSA stores were requested for a scheme other than `notary.x509`.
    #[error("error while loading the TSA trust store, signing scheme must be notary.x509, but got {0}")]
    TsaNotAllowed(String),
    /// A file-system operation failed.
    #[error("{op} {}: {}", path.display(), go_io_text(source))]
    Io {
        /// The operation (`stat`, `open`, `read`, `write`, `remove`, `mkdir`).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Go's text for common I/O errors, so messages match notation's.
fn go_io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

fn io_error<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TrustStoreError + 'a {
    move |source| TrustStoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether `name` matches `[a-zA-Z0-9_.-]+` (notation's rule for store names).
pub fn is_valid_store_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn check_store_name(name: &str) -> Result<(), TrustStoreError> {
    if is_valid_store_name(name) && name != "." && name != ".." {
        Ok(())
    } else {
        Err(TrustStoreError::InvalidStoreName(name.to_string()))
    }
}

fn check_file_name(name: &str) -> Result<(), TrustStoreError> {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0'])
        || Path::new(name).components().count() != 1;
    if bad {
        Err(TrustStoreError::InvalidFileName(name.to_string()))
    } else {
        Ok(())
    }
}

/// Something that hands out the certificates of a named trust store.
///
/// One method is all verification needs; implementations may read a
/// directory, a Kubernetes object or memory.
pub trait TrustStore: Send + Sync {
    /// The certificates of store `name` of type `ty`, checked as trust anchors.
    fn certificates(&self, ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError>;
}

/// A [`TrustStore`] that reads each store of `inner` once and then answers
/// from memory: for a process that verifies many artifacts (a batch `verify`,
/// later the admission webhook) against trust stores that do not change while
/// it runs. Only successes are kept, so a store that is fixed on disk after a
/// failure is read again.
pub struct CachedTrustStore<T> {
    inner: T,
    cache: std::sync::Mutex<std::collections::HashMap<(TrustStoreType, String), Vec<Certificate>>>,
}

impl<T: TrustStore> CachedTrustStore<T> {
    /// Caches what `inner` answers.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl<T: TrustStore> TrustStore for CachedTrustStore<T> {
    fn certificates(&self, ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError> {
        let key = (ty, name.to_owned());
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(hit);
        }
        let certificates = self.inner.certificates(ty, name)?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, certificates.clone());
        }
        Ok(certificates)
    }
}

mod dir;
mod load;

pub use dir::DirTrustStore;
pub use load::load_trust_stores;
