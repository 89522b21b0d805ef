//! The config directory, laid out as notation lays out its own.
//!
//! ```text
//! <config>/signingkeys.json            signing keys and the default key
//! <config>/localkeys/<name>.key|.crt   keys made by `signet cert generate-test`
//! <config>/truststore/x509/<type>/<store>/*.crt
//! <config>/trustpolicy.json            trust policy (trustpolicy.oci.json is read first if present)
//! ```
//!
//! Because the layout is notation's, `signet --config-dir ~/.config/notation`
//! works on an existing notation setup, and the other way round.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// File names inside the config directory.
pub const SIGNING_KEYS: &str = "signingkeys.json";
pub const TRUST_POLICY: &str = "trustpolicy.json";
pub const OCI_TRUST_POLICY: &str = "trustpolicy.oci.json";
pub const LOCAL_KEYS: &str = "localkeys";

/// The config directory.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    root: PathBuf,
}

impl ConfigDir {
    /// `--config-dir`, else `$SIGNET_CONFIG` (clap handles both), else the XDG default.
    pub fn resolve(explicit: Option<PathBuf>) -> Result<Self> {
        let root = match explicit {
            Some(p) => p,
            None => default_dir()?,
        };
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The trust policy file in force: `trustpolicy.oci.json` if present, else `trustpolicy.json`.
    pub fn trust_policy_path(&self) -> PathBuf {
        let oci = self.path(OCI_TRUST_POLICY);
        if oci.is_file() {
            oci
        } else {
            self.path(TRUST_POLICY)
        }
    }

    pub fn load_signing_keys(&self) -> Result<SigningKeys> {
        let path = self.path(SIGNING_KEYS);
        if !path.exists() {
            return Ok(SigningKeys::default());
        }
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let keys: SigningKeys =
            serde_json::from_slice(&bytes).with_context(|| format!("malformed {}", path.display()))?;
        keys.validate()
            .with_context(|| format!("malformed {SIGNING_KEYS}"))?;
        Ok(keys)
    }

    pub fn save_signing_keys(&self, keys: &SigningKeys) -> Result<()> {
        keys.validate()?;
        let mut json = serde_json::to_vec_pretty(keys)?;
        json.push(b'\n');
        write_atomic(&self.path(SIGNING_KEYS), &json)
    }
}

fn default_dir() -> Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("signet"));
    }
    let home = std::env::var_os("HOME").filter(|v| !v.is_empty()).context(
        "cannot find a config directory: set --config-dir, SIGNET_CONFIG, XDG_CONFIG_HOME or HOME",
    )?;
    Ok(PathBuf::from(home).join(".config").join("signet"))
}

/// Writes `bytes` to `path` through a temporary file and a rename, creating parents.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `signingkeys.json`, field for field as notation writes it.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SigningKeys {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(default)]
    pub keys: Vec<KeySuite>,
}

/// One named signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeySuite {
    pub name: String,
    #[serde(rename = "keyPath", default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    #[serde(rename = "certPath", default, skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// Plugin-backed keys (notation's `id`, `pluginName`, `pluginConfig`) are
    /// kept so a shared config file round-trips; signing with them arrives
    /// with the plugin host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "pluginName", default, skip_serializing_if = "Option::is_none")]
    pub plugin_name: Option<String>,
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "Option::is_none")]
    pub plugin_config: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SigningKeys {
    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        for k in &self.keys {
            if !names.insert(k.name.as_str()) {
                bail!("multiple keys with name '{}' found", k.name);
            }
        }
        if let Some(d) = &self.default
            && !names.contains(d.as_str())
        {
            bail!("default key '{d}' not found");
        }
        Ok(())
    }

    pub fn get(&self, name: Option<&str>) -> Result<&KeySuite> {
        let name = match name.or(self.default.as_deref()) {
            Some(n) => n,
            None => bail!(
                "no signing key given and no default key set: pass --key NAME, or create one with `signet cert generate-test NAME --default`"
            ),
        };
        self.keys
            .iter()
            .find(|k| k.name == name)
            .with_context(|| format!("signing key {name:?} not found: `signet key list` shows the keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/vectors/notation")
            .join(rel)
    }

    #[test]
    fn notation_signing_keys_files() {
        // G15–G17: notation's own signingkeys.json files load, or fail with notation's words.
        let ok: SigningKeys =
            serde_json::from_slice(&fs::read(vector("go/config/valid/signingkeys.json")).unwrap()).unwrap();
        ok.validate().unwrap();
        assert_eq!(ok.default.as_deref(), Some("wabbit-networks"));
        assert_eq!(ok.keys.len(), 3);
        let ext = ok.keys.iter().find(|k| k.name == "external-key").unwrap();
        assert_eq!(ext.plugin_name.as_deref(), Some("pluginX"));
        // round trip keeps plugin keys
        let again: SigningKeys = serde_json::from_slice(&serde_json::to_vec(&ok).unwrap()).unwrap();
        assert_eq!(again.keys.len(), 3);

        for (dir, msg) in [
            (
                "malformed-duplicate",
                "multiple keys with name 'wabbit-networks' found",
            ),
            (
                "malformed-invalid-default",
                "default key 'missing-default' not found",
            ),
        ] {
            let keys: SigningKeys = serde_json::from_slice(
                &fs::read(vector(&format!("go/config/{dir}/signingkeys.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(keys.validate().unwrap_err().to_string(), msg);
        }
    }
}
