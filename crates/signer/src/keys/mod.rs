//! Key backends: PKCS#8 files (development) and PKCS#11 tokens (HSMs), behind `notary::crypto::Signer`.
//!
//! [`open`] turns a profile's [`KeyConfig`] into an [`OpenedKey`]: a
//! [`Signer`] that makes JOSE/COSE-style signatures (ECDSA as fixed-width
//! `r || s`, RSA as RSASSA-PSS with salt = hash length) and the key's public
//! key as a DER `SubjectPublicKeyInfo`, for the certificates the service
//! issues to it.
//!
//! PKCS#11 keys never leave the token: see [`Pkcs11Key`] for how contexts,
//! logins and sessions are shared, and why every signature is verified
//! before it is returned.

use std::path::PathBuf;
use std::sync::Arc;

use notary::crypto::{PrivateKey, Signer};

mod pkcs11;

pub use pkcs11::Pkcs11Key;

#[cfg(test)]
mod tests;

/// Where a profile's signing key lives.
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KeyConfig {
    /// PKCS#8 PEM private key file (development).
    File {
        /// The PEM file (`PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`).
        path: PathBuf,
    },
    /// A key on a PKCS#11 token.
    Pkcs11 {
        /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
        module: PathBuf,
        /// The token's label (`CKA_LABEL` of the token, as `C_GetTokenInfo` gives it).
        #[serde(rename = "tokenLabel")]
        token_label: String,
        /// `CKA_LABEL` of the private key (and of its public key object).
        #[serde(rename = "keyLabel")]
        key_label: String,
        /// A file holding the user PIN (one line; trailing newline ignored).
        #[serde(default, rename = "pinFile")]
        pin_file: Option<PathBuf>,
        /// The name of the environment variable holding the user PIN.
        #[serde(default, rename = "pinEnv")]
        pin_env: Option<String>,
        /// Most sessions open on the token for this key at once (default 4).
        #[serde(default)]
        sessions: Option<usize>,
    },
}

/// A key ready to sign.
#[derive(Clone)]
pub struct OpenedKey {
    /// Makes the signatures.
    pub signer: Arc<dyn Signer>,
    /// The public key, DER `SubjectPublicKeyInfo`.
    pub public_key_spki: Vec<u8>,
}

impl std::fmt::Debug for OpenedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedKey")
            .field("key_spec", &self.signer.key_spec())
            .field("public_key_spki", &self.public_key_spki.len())
            .finish()
    }
}

/// A key could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a usable private key.
    #[error("key file {} does not hold a usable private key: {reason}", path.display())]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key configuration is inconsistent.
    #[error("key configuration: {0}")]
    Config(String),
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("cannot load PKCS#11 module {}: {reason}", module.display())]
    Module {
        /// The module path.
        module: PathBuf,
        /// Why.
        reason: String,
    },
    /// No token has the configured label.
    #[error("PKCS#11 token {token:?} not found in module {} (tokens present: {})", module.display(), list(available))]
    TokenNotFound {
        /// The label looked for.
        token: String,
        /// The module.
        module: PathBuf,
        /// The labels of the tokens present.
        available: Vec<String>,
    },
    /// No private key has the configured label.
    #[error(
        "private key {key:?} not found on PKCS#11 token {token:?} (private keys present: {})",
        list(available)
    )]
    KeyNotFound {
        /// The key label looked for.
        key: String,
        /// The token.
        token: String,
        /// The labels of the private keys on the token.
        available: Vec<String>,
    },
    /// Several private keys have the configured label.
    #[error("{count} private keys are labelled {key:?} on PKCS#11 token {token:?}: labels must be unique")]
    AmbiguousKey {
        /// The key label.
        key: String,
        /// The token.
        token: String,
        /// How many match.
        count: usize,
    },
    /// The public key could not be found or read.
    #[error("public key of {key:?} on PKCS#11 token {token:?}: {reason}")]
    PublicKey {
        /// The key label.
        key: String,
        /// The token.
        token: String,
        /// Why.
        reason: String,
    },
    /// No PIN is configured, or its source is empty or unreadable.
    #[error("PIN for PKCS#11 token {token:?} missing: {reason}")]
    PinMissing {
        /// The token.
        token: String,
        /// Why.
        reason: String,
    },
    /// The token refused the PIN.
    #[error("PKCS#11 token {token:?} refused the user PIN: {reason}")]
    PinRejected {
        /// The token.
        token: String,
        /// What the token said (incorrect, locked, …).
        reason: String,
    },
    /// The key's type or size is not one the Notary Project signs with, or
    /// the token lacks the mechanism it needs.
    #[error("unsupported key {key:?}: {reason}")]
    UnsupportedKey {
        /// The key (label or file).
        key: String,
        /// Why.
        reason: String,
    },
    /// The test signature made when opening the key failed or did not verify
    /// with the public key (wrong public key object, token fault).
    #[error("key {key:?} failed its signing self-test: {reason}")]
    SelfTest {
        /// The key label.
        key: String,
        /// Why.
        reason: String,
    },
    /// Another PKCS#11 call failed.
    #[error("PKCS#11 {operation} on token {token:?} failed: {reason}")]
    Pkcs11 {
        /// What was being done.
        operation: String,
        /// The token.
        token: String,
        /// The error.
        reason: String,
    },
}

fn list(labels: &[String]) -> String {
    if labels.is_empty() {
        "none".to_string()
    } else {
        labels
            .iter()
            .map(|l| format!("{l:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Opens the key `config` names.
///
/// PKCS#11 keys log in, find the key and its public key object, and make
/// and verify one test signature, so configuration mistakes show up here
/// rather than at the first sign request.
pub fn open(config: &KeyConfig) -> Result<OpenedKey, KeyError> {
    match config {
        KeyConfig::File { path } => open_file(path),
        KeyConfig::Pkcs11 {
            module,
            token_label,
            key_label,
            pin_file,
            pin_env,
            sessions,
        } => {
            let pin = read_pin(token_label, pin_file.as_deref(), pin_env.as_deref())?;
            let sessions = sessions.unwrap_or(4);
            if sessions == 0 {
                return Err(KeyError::Config("sessions must be at least 1".into()));
            }
            let key = Pkcs11Key::open(module, token_label, key_label, pin, sessions)?;
            let public_key_spki = key.public_key_spki().to_vec();
            Ok(OpenedKey {
                signer: Arc::new(key),
                public_key_spki,
            })
        }
    }
}

fn open_file(path: &std::path::Path) -> Result<OpenedKey, KeyError> {
    let pem = std::fs::read(path).map_err(|source| KeyError::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let bad = |reason: String| KeyError::BadKeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let key = PrivateKey::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
    key.key_spec()
        .signature_algorithm()
        .map_err(|e| bad(e.to_string()))?;
    let public_key_spki = key.public_key_spki_der().map_err(|e| bad(e.to_string()))?;
    tracing::info!(path = %path.display(), key_spec = %key.key_spec(), "opened key file");
    Ok(OpenedKey {
        signer: Arc::new(key),
        public_key_spki,
    })
}

/// Reads the PIN from exactly one of its configured sources.
fn read_pin(
    token: &str,
    pin_file: Option<&std::path::Path>,
    pin_env: Option<&str>,
) -> Result<cryptoki::types::AuthPin, KeyError> {
    let missing = |reason: String| KeyError::PinMissing {
        token: token.to_string(),
        reason,
    };
    let pin = match (pin_file, pin_env) {
        (Some(_), Some(_)) => {
            return Err(KeyError::Config(format!(
                "token {token:?}: set pinFile or pinEnv, not both"
            )));
        }
        (None, None) => return Err(missing("set pinFile or pinEnv".into())),
        (Some(file), None) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| missing(format!("cannot read PIN file {}: {e}", file.display())))?;
            let pin = text.trim_end_matches(['\r', '\n']).to_string();
            if pin.is_empty() {
                return Err(missing(format!("PIN file {} is empty", file.display())));
            }
            pin
        }
        (None, Some(var)) => match std::env::var(var) {
            Ok(pin) if !pin.is_empty() => pin,
            Ok(_) => return Err(missing(format!("environment variable {var} is empty"))),
            Err(_) => return Err(missing(format!("environment variable {var} is not set"))),
        },
    };
    Ok(cryptoki::types::AuthPin::from(pin))
}
