//! [`DirTrustStore`]: trust stores in a notation config directory.

use std::{
    fs,
    io::Read as _,
    path::{Path, PathBuf},
};

use super::{
    CertificateError, MAX_CERT_FILE_SIZE, TrustStore, TrustStoreError, TrustStoreType, check_file_name,
    check_root_ca_certificate, check_store_name, io_error, read_certificates,
    validate_trust_store_certificates,
};
use crate::x509::Certificate;

/// Trust stores under `<config dir>/truststore/x509/<type>/<name>/`.
#[derive(Debug, Clone)]
pub struct DirTrustStore {
    root: PathBuf,
}

impl DirTrustStore {
    /// Trust stores of the config directory `config_dir` (e.g. `~/.config/notation`).
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: config_dir.into(),
        }
    }

    /// `<config dir>/truststore/x509/<type>`.
    pub fn type_dir(&self, ty: TrustStoreType) -> PathBuf {
        self.root.join("truststore").join("x509").join(ty.as_str())
    }

    /// The directory of one store; the name is checked first.
    pub fn store_dir(&self, ty: TrustStoreType, name: &str) -> Result<PathBuf, TrustStoreError> {
        check_store_name(name)?;
        Ok(self.type_dir(ty).join(name))
    }

    /// The names of the stores of type `ty`, sorted; none when the type
    /// directory does not exist. Entries that are not valid store directories
    /// are left out.
    pub fn store_names(&self, ty: TrustStoreType) -> Result<Vec<String>, TrustStoreError> {
        let dir = self.type_dir(ty);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("open", &dir)(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error("read", &dir))?;
            let is_dir = entry
                .file_type()
                .map_err(io_error("stat", &entry.path()))?
                .is_dir();
            if let Some(name) = entry.file_name().to_str()
                && is_dir
                && check_store_name(name).is_ok()
            {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Adds the certificate file `bytes` as `<store>/<cert_file_name>`,
    /// creating the store if needed. Every certificate in the file is checked
    /// first, as loading the store would check it.
    pub fn add_certificate(
        &self,
        ty: TrustStoreType,
        store: &str,
        cert_file_name: &str,
        bytes: &[u8],
    ) -> Result<PathBuf, TrustStoreError> {
        let dir = self.store_dir(ty, store)?;
        check_file_name(cert_file_name)?;
        if bytes.len() as u64 > MAX_CERT_FILE_SIZE {
            return Err(TrustStoreError::FileTooLarge {
                path: PathBuf::from(cert_file_name),
                limit: MAX_CERT_FILE_SIZE,
            });
        }
        let certs = read_certificates(bytes)?;
        check_certificates(&certs, ty, store, cert_file_name)?;
        let path = dir.join(cert_file_name);
        if fs::symlink_metadata(&path).is_ok() {
            return Err(TrustStoreError::AlreadyExists);
        }
        fs::create_dir_all(&dir).map_err(io_error("mkdir", &dir))?;
        // create_new: never overwrite a file that appeared meanwhile.
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => TrustStoreError::AlreadyExists,
                _ => io_error("open", &path)(e),
            })?;
        std::io::Write::write_all(&mut file, bytes).map_err(io_error("write", &path))?;
        Ok(path)
    }

    /// Certificate files of the stores, as `(type, store name, path)` sorted by
    /// type, store and path; `ty` and `store` narrow the listing. Files that
    /// hold no readable certificate are left out, as notation does.
    pub fn list(
        &self,
        ty: Option<TrustStoreType>,
        store: Option<&str>,
    ) -> Result<Vec<(TrustStoreType, String, PathBuf)>, TrustStoreError> {
        if let Some(name) = store {
            check_store_name(name)?;
        }
        let types: Vec<TrustStoreType> = ty.map_or(TrustStoreType::ALL.to_vec(), |t| vec![t]);
        let mut out = Vec::new();
        for ty in types {
            let names = match store {
                Some(name) => vec![name.to_string()],
                None => self.store_names(ty)?,
            };
            for name in names {
                let dir = self.type_dir(ty).join(&name);
                let Ok(entries) = fs::read_dir(&dir) else { continue };
                let mut files = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(io_error("read", &dir))?;
                    let path = entry.path();
                    let regular = entry.file_type().map_err(io_error("stat", &path))?.is_file();
                    if regular && read_bounded(&path).is_ok_and(|b| read_certificates(&b).is_ok()) {
                        files.push(path);
                    }
                }
                files.sort();
                out.extend(files.into_iter().map(|p| (ty, name.clone(), p)));
            }
        }
        Ok(out)
    }

    /// Deletes one certificate file; the store directory goes too when it is
    /// left empty.
    pub fn delete_certificate(
        &self,
        ty: TrustStoreType,
        store: &str,
        file_name: &str,
    ) -> Result<PathBuf, TrustStoreError> {
        let dir = self.store_dir(ty, store)?;
        check_file_name(file_name)?;
        let path = dir.join(file_name);
        fs::symlink_metadata(&path).map_err(io_error("stat", &path))?;
        fs::remove_file(&path).map_err(io_error("remove", &path))?;
        if fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_none()) {
            // Best effort, as notation: a leftover empty directory is harmless.
            let _ = fs::remove_dir(&dir);
        }
        Ok(path)
    }

    /// Deletes a whole store; a store that does not exist is an error.
    pub fn delete_all(&self, ty: TrustStoreType, store: &str) -> Result<PathBuf, TrustStoreError> {
        let dir = self.store_dir(ty, store)?;
        fs::symlink_metadata(&dir).map_err(io_error("stat", &dir))?;
        fs::remove_dir_all(&dir).map_err(io_error("remove", &dir))?;
        Ok(dir)
    }
}

impl TrustStore for DirTrustStore {
    fn certificates(&self, ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError> {
        let dir = self.store_dir(ty, name)?;
        let meta = fs::symlink_metadata(&dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TrustStoreError::NotFound {
                name: name.to_string(),
                ty: ty.as_str().to_string(),
            },
            _ => io_error("stat", &dir)(e),
        })?;
        if !meta.is_dir() || meta.file_type().is_symlink() {
            return Err(TrustStoreError::NotADirectory {
                name: name.to_string(),
                ty,
                path: dir,
            });
        }
        let mut entries = fs::read_dir(&dir)
            .map_err(io_error("open", &dir))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io_error("read", &dir))?;
        // Go's os.ReadDir returns entries sorted by name.
        entries.sort_by_key(|e| e.file_name());
        let mut certificates = Vec::new();
        for entry in entries {
            let file = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let file_type = entry.file_type().map_err(io_error("stat", &path))?;
            if !file_type.is_file() {
                return Err(TrustStoreError::NotARegularFile {
                    file,
                    name: name.to_string(),
                    ty,
                });
            }
            let bytes = read_bounded(&path)?;
            let certs = match read_certificates(&bytes) {
                Ok(certs) => certs,
                // An empty file reads as no certificates in Go, which then
                // fails validation rather than reading.
                Err(CertificateError::NoCertificate) => Vec::new(),
                Err(source) => {
                    return Err(TrustStoreError::ReadCertificate {
                        file,
                        name: name.to_string(),
                        ty,
                        source,
                    });
                }
            };
            check_certificates(&certs, ty, name, &file)?;
            certificates.extend(certs);
        }
        if certificates.is_empty() {
            return Err(TrustStoreError::Empty {
                name: name.to_string(),
                ty: ty.as_str().to_string(),
            });
        }
        Ok(certificates)
    }
}

/// The checks every certificate file of a store must pass.
fn check_certificates(
    certs: &[Certificate],
    ty: TrustStoreType,
    name: &str,
    file: &str,
) -> Result<(), TrustStoreError> {
    validate_trust_store_certificates(certs).map_err(|source| TrustStoreError::ValidateCertificate {
        file: file.to_string(),
        name: name.to_string(),
        ty,
        source,
    })?;
    if ty == TrustStoreType::Tsa {
        for cert in certs {
            check_root_ca_certificate(cert).map_err(|source| TrustStoreError::InvalidTsaCertificate {
                file: file.to_string(),
                name: name.to_string(),
                ty,
                source,
            })?;
        }
    }
    Ok(())
}

/// Reads a file of at most [`MAX_CERT_FILE_SIZE`] bytes.
fn read_bounded(path: &Path) -> Result<Vec<u8>, TrustStoreError> {
    let file = fs::File::open(path).map_err(io_error("open", path))?;
    let mut bytes = Vec::new();
    file.take(MAX_CERT_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    if bytes.len() as u64 > MAX_CERT_FILE_SIZE {
        return Err(TrustStoreError::FileTooLarge {
            path: path.to_path_buf(),
            limit: MAX_CERT_FILE_SIZE,
        });
    }
    Ok(bytes)
}
