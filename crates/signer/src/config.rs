//! The service's configuration file (YAML or JSON).
//!
//! Paths are relative to the file's directory. Everything is validated
//! before a port is bound: a bad file exits with a message naming the key.

use std::{net::SocketAddr, path::Path, path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::{
    Error,
    auth::{OidcConfig, RuleConfig},
    keys::KeyConfig,
};

/// `signet serve signer --help`'s examples, with a configuration file that
/// a unit test loads (so the help cannot drift from what the parser takes).
pub const HELP: &str = "Examples:
  signet signer init ./signer && signet serve signer --config ./signer/signer.yaml
  RUST_LOG=signer=debug signet serve signer --config /etc/signet/signer.yaml

signer.yaml (paths relative to the file):
  listen: 0.0.0.0:8443
  publicUrl: https://signer.example.com
  http: {listen: 0.0.0.0:8080, url: http://signer.example.com:8080}   # CRL, OCSP, TSA
  tls: {certFile: tls.pem, keyFile: tls.key, clientCAFile: clients-ca.pem}
  database: postgres://signer@db/signer            # default sqlite://signer.db
  auth:
    oidc: [{issuer: https://token.actions.githubusercontent.com, audience: signet,
            jwksUrl: https://token.actions.githubusercontent.com/.well-known/jwks}]
  rules:
    - name: release-from-main
      identities: [{method: oidc, claims: {repository: acme/app, ref: refs/heads/main}}]
      profiles: [release]
      repositories: [registry.example.com/acme/**]
    - {name: ops, identities: [{method: token, subject: ops}], admin: true}
  profiles:                                        # more: PUT /v1/profiles/{name} (admin)
    - name: release
      key: {type: pkcs11, module: /usr/lib/softhsm/libsofthsm2.so,
            tokenLabel: signing, keyLabel: release-ca, pinEnv: HSM_PIN}
      certificateChain: release-ca.pem
      subject: CN=release,O=Acme,ST=WA,C=US
  pkcs11Modules: [/opt/cloudhsm/lib/libcloudhsm_pkcs11.so]  # API-made profiles may use these too
  tsa: {key: {type: file, path: tsa.key}, certificateChain: tsa-chain.pem}
  audit: {checkpointKey: {type: file, path: checkpoint.key}, checkpointInterval: 60s}

See the README (Signing service) for every key, rules, revocation and the audit log.";

/// The largest configuration file read.
const MAX_CONFIG: u64 = 1024 * 1024;

/// `signet serve signer --config FILE`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Where to listen (default 127.0.0.1:8443).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The base URL clients and verifiers reach the service at; CRL
    /// distribution points and OCSP URLs in per-job certificates point
    /// under it (default `https://<listen>`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Serving certificate and optional client CA (mTLS).
    pub tls: TlsConfig,
    /// An optional plain-HTTP listener for the public, signed documents
    /// only — CRLs, OCSP, the TSA, certificate chains — which verifiers
    /// fetch without trusting the service's TLS certificate (RFC 5280
    /// distribution points are usually http://). When set, per-job
    /// certificates point their CRL and OCSP URLs here.
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// `sqlite:///var/lib/signet/signer.db`, `sqlite://signer.db` (relative
    /// to the configuration file; the default) or `postgres://…`.
    #[serde(default)]
    pub database: Option<String>,
    /// How callers authenticate besides API tokens and client certificates.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Who may sign what; nothing is allowed that no rule allows.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// The signing profiles the file defines (authoritative: the API
    /// cannot change them). Admins may add more through the API
    /// (`PUT /v1/profiles/{name}`); those live in the database.
    #[serde(default)]
    pub profiles: Vec<ProfileConfig>,
    /// PKCS#11 modules that profiles made through the API may use, besides
    /// the modules this file's own keys use. A module is a shared library
    /// loaded into the service's process, so an API call can never name
    /// one the file does not allow.
    #[serde(default)]
    pub pkcs11_modules: Vec<PathBuf>,
    /// The built-in RFC 3161 timestamp authority (`POST /tsa`).
    #[serde(default)]
    pub tsa: Option<TsaConfig>,
    /// The key that signs audit checkpoints, and how often.
    pub audit: AuditConfig,
    /// Request limits.
    #[serde(default)]
    pub limits: Limits,
}

/// The serving certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
    /// PEM CA for client certificates; enables mTLS identities.
    #[serde(default, rename = "clientCAFile")]
    pub client_ca_file: Option<PathBuf>,
}

/// The plain-HTTP listener for public documents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpConfig {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The base URL verifiers reach it at (default `http://<listen>`).
    #[serde(default)]
    pub url: Option<String>,
}

/// Authentication besides API tokens and client certificates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    /// OIDC issuers whose JWTs are accepted (CI systems).
    #[serde(default)]
    pub oidc: Vec<OidcConfig>,
}

/// How a profile gets certificates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// A fresh key and leaf certificate per job, issued by the profile's CA
    /// key (default): revoking a job is a CRL/OCSP entry.
    #[default]
    PerJob,
    /// The profile's key signs every envelope with its one certificate.
    Fixed,
}

/// A signing profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfileConfig {
    /// The profile's name (`[a-z0-9][a-z0-9._-]*`).
    pub name: String,
    /// Bumped when the profile changes; travels in every signature. Set
    /// in the file for the file's profiles; the service numbers the
    /// versions of profiles made through the API (each change adds one).
    #[serde(default = "one")]
    pub version: i64,
    /// `perJob` (default) or `fixed`.
    #[serde(default)]
    pub mode: Mode,
    /// The key: the CA key (perJob) or the signing key (fixed).
    pub key: KeyConfig,
    /// PEM file with the chain of the key's certificate, up to the root:
    /// the CA (perJob) or the signing certificate (fixed). Exactly one of
    /// this and `certificateChainPem`.
    #[serde(default)]
    pub certificate_chain: Option<PathBuf>,
    /// The same chain as PEM text (what API callers usually send: a path
    /// is one on the service's host).
    #[serde(default)]
    pub certificate_chain_pem: Option<String>,
    /// `jws` (default) or `cose`.
    #[serde(default = "default_format")]
    pub format: String,
    /// `notary.x509` (default) or `notary.x509.signingAuthority`.
    #[serde(default = "default_scheme")]
    pub signing_scheme: String,
    /// perJob: the leaf certificates' subject (default
    /// `CN=<name>,O=Signet,ST=WA,C=US`; trust policies pin it).
    #[serde(default)]
    pub subject: Option<String>,
    /// perJob: the fresh key's type: `ecdsa-p256` (default), `ecdsa-p384`,
    /// `ecdsa-p521`, `rsa-2048`, `rsa-3072`, `rsa-4096`.
    #[serde(default = "default_leaf_key")]
    pub leaf_key: String,
    /// perJob: how long a leaf certificate is valid (default 24h). The
    /// built-in TSA timestamps every signature, so it still verifies after
    /// the leaf expires.
    #[serde(
        default = "default_certificate_validity",
        deserialize_with = "https::duration"
    )]
    pub certificate_validity: Duration,
    /// The signature's own expiry (`io.cncf.notary.expiry`); none by default.
    #[serde(default, deserialize_with = "https::optional_duration")]
    pub signature_validity: Option<Duration>,
    /// Timestamp every signature with the built-in TSA (default true when a
    /// TSA is configured).
    #[serde(default = "yes")]
    pub timestamp: bool,
    /// Lets sign requests ask the service to push the signature itself
    /// (`"push": true`), with the service's own registry credentials —
    /// give it a robot account that may push to the repositories the
    /// profile's rules allow, nothing more.
    #[serde(default)]
    pub push: Option<PushConfig>,
}

/// How the service reaches registries to push signatures.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PushConfig {
    /// Registries (`host:port`) reached over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Extra PEM roots for registries' TLS certificates.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// A directory with a docker `config.json` holding the credentials.
    #[serde(default)]
    pub docker_config: Option<PathBuf>,
    /// The most one registry request may take (default 30s).
    #[serde(default = "default_push_timeout", deserialize_with = "https::duration")]
    pub timeout: Duration,
}

/// The built-in timestamp authority.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TsaConfig {
    /// The TSA's key.
    pub key: KeyConfig,
    /// PEM chain of the TSA certificate (EKU timeStamping), up to its root.
    pub certificate_chain: PathBuf,
    /// The TSA policy OID put in every token (default 1.3.6.1.4.1.57264.2.1).
    #[serde(default = "default_tsa_policy")]
    pub policy: String,
}

/// The audit log's checkpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditConfig {
    /// The key that signs checkpoints.
    pub checkpoint_key: KeyConfig,
    /// How often the head is checkpointed (default 60s).
    #[serde(default = "default_checkpoint_interval", deserialize_with = "https::duration")]
    pub checkpoint_interval: Duration,
}

/// Request limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// The largest request body (default 64 KiB).
    #[serde(default = "default_max_body")]
    pub max_body: usize,
    /// How long one request may take (default 30s).
    #[serde(default = "default_request_timeout", deserialize_with = "https::duration")]
    pub request_timeout: Duration,
    /// Signing requests in progress at once (default 1024); more wait.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body: default_max_body(),
            request_timeout: default_request_timeout(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}
fn one() -> i64 {
    1
}
fn yes() -> bool {
    true
}
fn default_format() -> String {
    "jws".into()
}
fn default_scheme() -> String {
    "notary.x509".into()
}
fn default_leaf_key() -> String {
    "ecdsa-p256".into()
}
fn default_certificate_validity() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_tsa_policy() -> String {
    "1.3.6.1.4.1.57264.2.1".into()
}
fn default_push_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_concurrency() -> usize {
    1024
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = read_bounded(path, MAX_CONFIG)?;
        let mut config: Config = serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        config.check().map_err(|message| Error::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// The database URL: as configured, a relative SQLite path resolved
    /// against the configuration file's directory, `sqlite://signer.db`
    /// there by default ([`Config::load`] fills it in).
    pub fn database_url(&self) -> &str {
        self.database.as_deref().unwrap_or_default()
    }

    /// The base URL the service is reached at, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("https://{}", self.listen),
        }
    }

    /// The base URL of CRLs and OCSP: the plain-HTTP listener's if there is
    /// one, else [`Config::public_url`].
    pub fn revocation_url(&self) -> String {
        match &self.http {
            Some(HttpConfig { url: Some(u), .. }) => u.trim_end_matches('/').to_owned(),
            Some(HttpConfig { listen, .. }) => format!("http://{listen}"),
            None => self.public_url(),
        }
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let fix_key = |k: &mut KeyConfig| match k {
            KeyConfig::File { path } => fix(path),
            KeyConfig::Pkcs11 { pin_file, .. } => {
                if let Some(p) = pin_file {
                    fix(p);
                }
            }
        };
        fix(&mut self.tls.cert_file);
        fix(&mut self.tls.key_file);
        if let Some(p) = &mut self.tls.client_ca_file {
            fix(p);
        }
        self.pkcs11_modules.iter_mut().for_each(fix);
        for p in &mut self.profiles {
            fix_key(&mut p.key);
            if let Some(c) = &mut p.certificate_chain {
                fix(c);
            }
            if let Some(push) = &mut p.push {
                push.ca_files.iter_mut().for_each(fix);
                if let Some(d) = &mut push.docker_config {
                    fix(d);
                }
            }
        }
        if let Some(t) = &mut self.tsa {
            fix_key(&mut t.key);
            fix(&mut t.certificate_chain);
        }
        fix_key(&mut self.audit.checkpoint_key);
        for o in &mut self.auth.oidc {
            if let Some(p) = &mut o.jwks_file {
                fix(p);
            }
            if let Some(p) = &mut o.jwks_ca_file {
                fix(p);
            }
        }
        // A relative SQLite path is relative to the configuration file.
        match &self.database {
            None => self.database = Some(format!("sqlite://{}", base.join("signer.db").display())),
            Some(url) => {
                if let Some(path) = url.strip_prefix("sqlite://")
                    && !path.starts_with('/')
                    && !path.starts_with(':')
                {
                    self.database = Some(format!("sqlite://{}", base.join(path).display()));
                }
            }
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.http.is_none()
            && let Some(p) = self.profiles.iter().find(|p| p.mode == Mode::PerJob)
        {
            return Err(per_job_needs_http(&p.name));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.profiles {
            p.check()?;
            if !seen.insert(p.name.as_str()) {
                return Err(format!("profiles: {:?} is defined twice", p.name));
            }
        }
        // Rules may name profiles that do not exist yet: admins create
        // them through the API. The service warns at start-up about names
        // that exist nowhere.
        if self.limits.max_body < 1024 {
            return Err("limits.maxBody must be at least 1024".into());
        }
        if self.limits.concurrency == 0 {
            return Err("limits.concurrency must be at least 1".into());
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!("publicUrl {url:?} must start with https:// or http://"));
        }
        if let Some(HttpConfig { url: Some(url), .. }) = &self.http
            && !url.starts_with("http://")
        {
            return Err(format!("http.url {url:?} must start with http://"));
        }
        Ok(())
    }
}

impl ProfileConfig {
    /// What can be checked without opening anything: the name, version,
    /// format, scheme, leaf key type, validity and where the chain is.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.name;
        valid_profile_name(name).map_err(|e| format!("profiles: {e}"))?;
        if self.version < 1 {
            return Err(format!("profile {name:?}: version must be at least 1"));
        }
        if notary::envelope::EnvelopeFormat::from_name(&self.format).is_none() {
            return Err(format!(
                "profile {name:?}: format {:?} is not jws or cose",
                self.format
            ));
        }
        if notary::envelope::SigningScheme::from_name(&self.signing_scheme).is_none() {
            return Err(format!(
                "profile {name:?}: signingScheme {:?} is not notary.x509 or notary.x509.signingAuthority",
                self.signing_scheme
            ));
        }
        if crate::service::leaf_key_spec(&self.leaf_key).is_none() {
            return Err(format!(
                "profile {name:?}: leafKey {:?} is not one of ecdsa-p256, ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096",
                self.leaf_key
            ));
        }
        if self.certificate_validity < Duration::from_secs(60) {
            return Err(format!(
                "profile {name:?}: certificateValidity must be at least 1m"
            ));
        }
        match (&self.certificate_chain, &self.certificate_chain_pem) {
            (Some(_), Some(_)) => Err(format!(
                "profile {name:?}: give certificateChain (a PEM file) or certificateChainPem (the PEM text), not both"
            )),
            (None, None) => Err(format!(
                "profile {name:?}: certificateChain (a PEM file) or certificateChainPem (the PEM text) is required"
            )),
            _ => Ok(()),
        }
    }
}

/// Why a per-job profile needs the plain-HTTP listener.
pub(crate) fn per_job_needs_http(name: &str) -> String {
    format!(
        "profile {name:?} issues per-job certificates, whose CRL and OCSP URLs verifiers fetch over plain HTTP only (notation does too): add `http: {{listen: 0.0.0.0:8080, url: http://signer.example.com:8080}}`"
    )
}

/// Profile names go into URLs and signatures: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn valid_profile_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "profile name {name:?} must be 1-64 characters of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
        ))
    }
}

/// Reads a configuration file of at most `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<String, Error> {
    https::read_bounded(path, limit).map_err(|e| Error::io("read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration part of [`HELP`].
    fn example() -> &'static str {
        let start = HELP
            .find("signer.yaml (paths relative to the file):\n")
            .unwrap_or(0);
        let body = &HELP[start..];
        let body = &body[body.find('\n').unwrap_or(0) + 1..];
        &body[..body.find("\n\nSee the README").unwrap_or(body.len())]
    }

    #[test]
    fn the_help_example_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.yaml");
        std::fs::write(&path, example()).unwrap();
        let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}\n{}", example()));
        assert_eq!(c.profiles[0].name, "release");
        assert_eq!(
            c.profiles[0].certificate_chain.as_deref(),
            Some(dir.path().join("release-ca.pem").as_path())
        );
        assert_eq!(
            c.pkcs11_modules,
            [PathBuf::from("/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")]
        );
        assert_eq!(c.revocation_url(), "http://signer.example.com:8080");
        assert_eq!(c.limits.max_body, 64 * 1024);
        assert_eq!(c.auth.oidc.len(), 1);
    }

    #[test]
    fn bad_configurations_name_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.yaml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(&path).unwrap_err().to_string()
        };
        let base = "tls: {certFile: c, keyFile: k}\nhttp: {listen: 127.0.0.1:8080}\naudit: {checkpointKey: {type: file, path: k}}\n";
        let e = load(&format!(
            "{base}profiles: [{{name: p, key: {{type: file, path: k}}}}]\n"
        ));
        assert!(e.contains("certificateChain") && e.contains("required"), "{e}");
        let e = load(&format!(
            "{base}profiles: [{{name: p, key: {{type: file, path: k}}, certificateChain: c, certificateChainPem: x}}]\n"
        ));
        assert!(e.contains("not both"), "{e}");
        let e = load(
            "tls: {certFile: c, keyFile: k}\naudit: {checkpointKey: {type: file, path: k}}\nprofiles: [{name: p, key: {type: file, path: k}, certificateChain: c}]\n",
        );
        assert!(e.contains("plain HTTP") && e.contains("http:"), "{e}");
        let e = load(&format!(
            "{base}profiles: [{{name: Bad_Name, key: {{type: file, path: k}}, certificateChain: c}}]\n"
        ));
        assert!(e.contains("Bad_Name"), "{e}");
        let e = load(&format!(
            "{base}profiles: [{{name: p, key: {{type: file, path: k}}, certificateChain: c, format: xml}}]\n"
        ));
        assert!(e.contains("xml"), "{e}");
        let e = load(&format!(
            "{base}profiles: [{{name: p, key: {{type: file, path: k}}, certificateChain: c}}]\nlisten: nope\n"
        ));
        assert!(e.contains("listen") || e.contains("nope"), "{e}");
        let e = load(&format!(
            "{base}profiles: [{{name: p, key: {{type: file, path: k}}, certificateChain: c}}]\nlimts: {{}}\n"
        ));
        assert!(e.contains("limts"), "{e}");
    }

    #[test]
    fn rules_may_name_profiles_made_later_through_the_api() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.yaml");
        // No profile in the file at all, a rule naming one that does not
        // exist yet, and PKCS#11 modules relative to the file.
        std::fs::write(
            &path,
            "tls: {certFile: c, keyFile: k}\naudit: {checkpointKey: {type: file, path: k}}\nrules: [{name: r, identities: [{method: token, subject: ci}], profiles: [later], repositories: ['**']}]\npkcs11Modules: [lib/hsm.so]\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert!(c.profiles.is_empty());
        assert_eq!(c.rules[0].profiles, ["later"]);
        assert_eq!(c.pkcs11_modules, [dir.path().join("lib/hsm.so")]);
    }

    #[test]
    fn relative_sqlite_paths_follow_the_configuration_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signer.yaml");
        std::fs::write(
            &path,
            "tls: {certFile: c, keyFile: k}\nhttp: {listen: 127.0.0.1:8080}\naudit: {checkpointKey: {type: file, path: k}}\nprofiles: [{name: p, key: {type: file, path: k}, certificateChain: c}]\ndatabase: sqlite://data/s.db\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.database.unwrap(),
            format!("sqlite://{}", dir.path().join("data/s.db").display())
        );
    }
}
