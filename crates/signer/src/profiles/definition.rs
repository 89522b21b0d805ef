//! What a profile made through the API may be: the body of `PUT
//! /v1/profiles/{name}` ([`parse_definition`]), the checks the
//! configuration file decides ([`Catalog`]: its names, its PKCS#11
//! modules, its plain-HTTP listener), and opening it with messages that
//! name files without quoting them.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use serde_json::{Map, Value};

use crate::{
    config::{Config, Mode, ProfileConfig, per_job_needs_http},
    keys::{KeyConfig, KeyError},
    service::{Profile, parse_pem_chain},
    store::StoredProfile,
};

/// The largest key, PIN or certificate file an API-made profile may name.
const MAX_FILE: u64 = 1024 * 1024;

/// What a profile made through the API may be, as the configuration file
/// decides: which names are the file's, which PKCS#11 modules may be
/// loaded, where CRLs and OCSP are served.
#[derive(Debug, Clone)]
pub struct Catalog {
    revocation_url: String,
    http: bool,
    file_names: BTreeSet<String>,
    /// Allowed modules: as the file names them, and canonical (when they exist).
    modules: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Catalog {
    /// From the configuration file: the modules of every key it configures
    /// (profiles, TSA, checkpoint key) and `pkcs11Modules`.
    pub fn new(config: &Config) -> Self {
        let mut keys: Vec<&KeyConfig> = config.profiles.iter().map(|p| &p.key).collect();
        keys.extend(config.tsa.as_ref().map(|t| &t.key));
        keys.push(&config.audit.checkpoint_key);
        let mut modules: Vec<(PathBuf, Option<PathBuf>)> = Vec::new();
        let listed = keys
            .into_iter()
            .filter_map(|k| match k {
                KeyConfig::Pkcs11 { module, .. } => Some(module.clone()),
                KeyConfig::File { .. } => None,
            })
            .chain(config.pkcs11_modules.iter().cloned());
        for m in listed {
            if !modules.iter().any(|(given, _)| *given == m) {
                let canonical = m.canonicalize().ok();
                modules.push((m, canonical));
            }
        }
        Self {
            revocation_url: config.revocation_url(),
            http: config.http.is_some(),
            file_names: config.profiles.iter().map(|p| p.name.clone()).collect(),
            modules,
        }
    }

    /// Whether the configuration file defines `name`.
    pub fn is_file_profile(&self, name: &str) -> bool {
        self.file_names.contains(name)
    }

    /// Checks `config` without opening anything: the file's own checks,
    /// absolute paths, the PKCS#11 module allow-list, and the plain-HTTP
    /// listener per-job profiles need.
    pub fn check(&self, config: &ProfileConfig) -> Result<(), String> {
        config.check()?;
        if config.mode == Mode::PerJob && !self.http {
            return Err(per_job_needs_http(&config.name));
        }
        self.allows(config)
            .map_err(|m| format!("profile {:?}: {m}", config.name))
    }

    fn allows(&self, config: &ProfileConfig) -> Result<(), String> {
        let absolute = |field: &str, p: &Path| {
            if p.is_absolute() {
                Ok(())
            } else {
                Err(format!(
                    "{field} {:?} must be an absolute path (a file on the signing service's host)",
                    p.display().to_string()
                ))
            }
        };
        match &config.key {
            KeyConfig::File { path } => absolute("key.path", path)?,
            KeyConfig::Pkcs11 { module, pin_file, .. } => {
                absolute("key.module", module)?;
                if let Some(p) = pin_file {
                    absolute("key.pinFile", p)?;
                }
                self.module_allowed(module)?;
            }
        }
        if let Some(p) = &config.certificate_chain {
            absolute("certificateChain", p)?;
        }
        if let Some(push) = &config.push {
            for p in &push.ca_files {
                absolute("push.caFiles", p)?;
            }
            if let Some(p) = &push.docker_config {
                absolute("push.dockerConfig", p)?;
            }
        }
        Ok(())
    }

    fn module_allowed(&self, module: &Path) -> Result<(), String> {
        let canonical = module.canonicalize().ok();
        let allowed = self
            .modules
            .iter()
            .any(|(given, canon)| given == module || (canonical.is_some() && *canon == canonical));
        if allowed {
            return Ok(());
        }
        let list: Vec<String> = self
            .modules
            .iter()
            .map(|(m, _)| m.display().to_string())
            .collect();
        Err(format!(
            "key.module {:?} is not an allowed PKCS#11 module: a module is a shared library the service loads into its own process, so profiles made through the API may use only the modules the configuration file allows ({}); add it to `pkcs11Modules:` in the configuration file and restart",
            module.display().to_string(),
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        ))
    }

    /// Opens a profile made through the API ([`Catalog::check`], then the
    /// key and chain, then [`Profile::assemble`]); blocking (PKCS#11
    /// logins, file reads). The profile's source is left for the caller.
    pub fn open(&self, config: &ProfileConfig) -> Result<Profile, String> {
        self.check(config)?;
        let prefixed = |m: String| format!("profile {:?}: {m}", config.name);
        let chain = match (&config.certificate_chain, &config.certificate_chain_pem) {
            (Some(path), _) => {
                let bytes = read_small("certificateChain", path).map_err(prefixed)?;
                parse_pem_chain(&bytes).map_err(|_| {
                    prefixed(format!(
                        "certificateChain {}: no certificate chain in it (PEM or DER certificates)",
                        path.display()
                    ))
                })?
            }
            (None, Some(pem)) => {
                parse_pem_chain(pem.as_bytes()).map_err(|e| prefixed(format!("certificateChainPem: {e}")))?
            }
            (None, None) => return Err(prefixed("certificateChainPem is required".into())),
        };
        match &config.key {
            KeyConfig::File { path } => {
                read_small("key.path", path).map_err(prefixed)?;
            }
            KeyConfig::Pkcs11 {
                pin_file: Some(p), ..
            } => {
                read_small("key.pinFile", p).map_err(prefixed)?;
            }
            KeyConfig::Pkcs11 { .. } => {}
        }
        let key = crate::keys::open(&config.key).map_err(|e| prefixed(quiet(e)))?;
        Profile::assemble(config, chain, key.signer, &self.revocation_url).map_err(prefixed)
    }

    /// Opens a stored profile: its definition, at its version.
    pub fn open_stored(&self, row: &StoredProfile) -> Result<Profile, String> {
        let mut config: ProfileConfig = serde_json::from_str(&row.definition).map_err(|e| {
            format!(
                "profile {:?}: the stored definition does not parse: {e}",
                row.name
            )
        })?;
        if config.name != row.name {
            return Err(format!(
                "profile {:?}: the stored definition names {:?}",
                row.name, config.name
            ));
        }
        config.version = row.version;
        self.open(&config)
    }
}

/// A key or PIN or chain file, read only if it is a regular file of at
/// most [`MAX_FILE`] (never a device or a pipe).
fn read_small(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("{field}: cannot read {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(format!("{field}: {} is not a regular file", path.display()));
    }
    if meta.len() > MAX_FILE {
        return Err(format!(
            "{field}: {} is larger than {MAX_FILE} bytes",
            path.display()
        ));
    }
    std::fs::read(path).map_err(cannot)
}

/// A key error without anything read from the key file.
fn quiet(e: KeyError) -> String {
    match e {
        KeyError::BadKeyFile { path, .. } => format!(
            "key file {} does not hold a usable private key (PEM PKCS#8, RSA or EC, of a type and size the Notary Project signs with)",
            path.display()
        ),
        other => other.to_string(),
    }
}

/// Parses a `PUT /v1/profiles/{name}` body: a profile as the configuration
/// file gives it (JSON, camelCase), `name` optional (the URL's), no
/// `version` (the service numbers it). Also returns the body as given.
pub fn parse_definition(name: &str, body: &[u8]) -> Result<(ProfileConfig, Map<String, Value>), String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(mut map) = value else {
        return Err(
            "the body must be a JSON object: a profile as the configuration file gives it (camelCase keys)"
                .into(),
        );
    };
    match map.get("name") {
        None => {
            map.insert("name".into(), Value::String(name.to_owned()));
        }
        Some(Value::String(n)) if n == name => {}
        Some(other) => {
            return Err(format!(
                "the body names profile {other} but the URL names {name:?}"
            ));
        }
    }
    if map.contains_key("version") {
        return Err(
            "version: the service numbers the versions of profiles made through the API (each change adds one); leave it out"
                .into(),
        );
    }
    let config: ProfileConfig = serde_json::from_value(Value::Object(map.clone()))
        .map_err(|e| format!("the body is not a valid profile definition: {e}"))?;
    Ok((config, map))
}

/// The definition stored for `profile`, made from the body as given: the
/// chain inline (`certificateChainPem`), canonical JSON.
pub(super) fn stored_definition(mut body: Map<String, Value>, profile: &Profile) -> String {
    body.remove("certificateChain");
    let pem: String = profile
        .chain()
        .iter()
        .map(|der| notary::x509::der_to_pem(der))
        .collect();
    body.insert("certificateChainPem".into(), Value::String(pem));
    crate::store::audit::canonical(&Value::Object(body))
}
