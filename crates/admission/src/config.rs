//! The server's configuration file (`signet serve admission --config FILE`).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::Error;

/// `admission.yaml`. Relative paths are resolved against the file's directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where to listen, `ADDRESS:PORT`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The serving certificate, and the CA of Gatekeeper's client certificate.
    pub tls: TlsConfig,
    /// The directory of `ClusterImagePolicy` / `ImagePolicy` documents.
    pub policy_dir: PathBuf,
    /// The trust stores, in notation's layout: `truststore/x509/<type>/<name>/*.pem`.
    pub trust_dir: PathBuf,
    /// A file of revoked image digests, one `sha256:…` per line (`#` comments).
    #[serde(default)]
    pub revocation_list: Option<PathBuf>,
    /// Namespaces never checked.
    #[serde(default)]
    pub exempt_namespaces: Vec<String>,
    /// What happens to an image no policy matches.
    #[serde(default)]
    pub no_match: NoMatch,
    /// The most a webhook answer may take; capped further by the API
    /// server's `?timeout=` (less one second).
    #[serde(default = "default_deadline", deserialize_with = "duration")]
    pub deadline: Duration,
    /// The most a Gatekeeper provider answer may take (Gatekeeper waits 3 s by default).
    #[serde(default = "default_gatekeeper_deadline", deserialize_with = "duration")]
    pub gatekeeper_deadline: Duration,
    /// How often the policy directory, the trust stores, the revocation list
    /// and the serving certificate are looked at for changes.
    #[serde(default = "default_reload", deserialize_with = "duration")]
    pub reload_interval: Duration,
    /// The verification cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// How registries are reached.
    #[serde(default)]
    pub registry: RegistryConfig,
}

/// TLS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates for client certificates. When set, `/gatekeeper/*`
    /// answer only clients presenting a certificate it issued; without it
    /// they answer no one.
    #[serde(default, rename = "clientCAFile")]
    pub client_ca_file: Option<PathBuf>,
}

/// What to do with an image no policy matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoMatch {
    /// Refuse it (the default).
    #[default]
    Deny,
    /// Let it through.
    Allow,
}

/// The verification cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CacheConfig {
    /// How many results are kept.
    #[serde(default = "default_cache_size")]
    pub size: u64,
    /// How long a verification result is used. Bounds how late a revoked
    /// certificate is noticed; the revocation list is checked on every request.
    #[serde(default = "default_ttl", deserialize_with = "duration")]
    pub ttl: Duration,
    /// How long a tag's digest is used before the registry is asked again.
    #[serde(default = "default_tag_ttl", deserialize_with = "duration")]
    pub tag_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            size: default_cache_size(),
            ttl: default_ttl(),
            tag_ttl: default_tag_ttl(),
        }
    }
}

/// How registries are reached.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryConfig {
    /// The most verifications running against registries at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The most one registry request may take.
    #[serde(default = "default_registry_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    /// Registries (`HOST:PORT`) reached over plain HTTP.
    #[serde(default)]
    pub insecure: Vec<String>,
    /// Extra PEM root certificates for registries.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// A directory holding a docker `config.json` with registry credentials.
    #[serde(default)]
    pub docker_config: Option<PathBuf>,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            timeout: default_registry_timeout(),
            insecure: Vec::new(),
            ca_files: Vec::new(),
            docker_config: None,
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8443))
}
fn default_deadline() -> Duration {
    Duration::from_secs(8)
}
fn default_gatekeeper_deadline() -> Duration {
    Duration::from_millis(2500)
}
fn default_reload() -> Duration {
    Duration::from_secs(2)
}
fn default_cache_size() -> u64 {
    10_000
}
fn default_ttl() -> Duration {
    Duration::from_secs(120)
}
fn default_tag_ttl() -> Duration {
    Duration::from_secs(30)
}
fn default_concurrency() -> usize {
    16
}
fn default_registry_timeout() -> Duration {
    Duration::from_secs(5)
}

/// What the decision engine needs: where policies, trust stores and the
/// revocation list are, what to do without a policy, caches and registries.
/// The admission server takes it from its [`Config`]; the node agent builds
/// it over the bundle it materialised.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The directory of policy documents.
    pub policy_dir: PathBuf,
    /// The trust stores (notation's layout).
    pub trust_dir: PathBuf,
    /// The file of revoked digests.
    pub revocation_list: Option<PathBuf>,
    /// Namespaces never checked.
    pub exempt_namespaces: Vec<String>,
    /// What happens to an image no policy matches.
    pub no_match: NoMatch,
    /// The verification cache.
    pub cache: CacheConfig,
    /// How registries are reached.
    pub registry: RegistryConfig,
    /// The `User-Agent` registries see.
    pub user_agent: String,
}

impl RegistryConfig {
    /// A registry client as configured: insecure registries, extra roots,
    /// credentials from the docker config directory, the timeout.
    pub fn client(&self, user_agent: &str) -> Result<oci::registry::Client, oci::Error> {
        oci::registry::Client::new(oci::registry::ClientConfig::from_service_config(
            &self.insecure,
            &self.ca_files,
            self.docker_config.as_deref(),
            self.timeout,
            user_agent,
        ))
    }
}

/// The largest configuration file read.
const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, Error> {
        let text = crate::read_bounded(path, MAX_CONFIG_SIZE)?;
        let mut config: Config = serde_saphyr::from_str(&text).map_err(|e| Error::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
        config.resolve_paths(base);
        config.check().map_err(|message| Error::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// The engine's part of the configuration.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            policy_dir: self.policy_dir.clone(),
            trust_dir: self.trust_dir.clone(),
            revocation_list: self.revocation_list.clone(),
            exempt_namespaces: self.exempt_namespaces.clone(),
            no_match: self.no_match,
            cache: self.cache.clone(),
            registry: self.registry.clone(),
            user_agent: format!("signet-admission/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    fn resolve_paths(&mut self, base: &std::path::Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.tls.cert_file);
        fix(&mut self.tls.key_file);
        if let Some(p) = &mut self.tls.client_ca_file {
            fix(p);
        }
        fix(&mut self.policy_dir);
        fix(&mut self.trust_dir);
        if let Some(p) = &mut self.revocation_list {
            fix(p);
        }
        for p in &mut self.registry.ca_files {
            fix(p);
        }
        if let Some(p) = &mut self.registry.docker_config {
            fix(p);
        }
    }

    fn check(&self) -> Result<(), String> {
        if self.deadline < Duration::from_millis(100) {
            return Err("deadline must be at least 100ms".into());
        }
        if self.gatekeeper_deadline < Duration::from_millis(100) {
            return Err("gatekeeperDeadline must be at least 100ms".into());
        }
        if self.registry.concurrency == 0 {
            return Err("registry.concurrency must be at least 1".into());
        }
        if self.reload_interval < Duration::from_millis(100) {
            return Err("reloadInterval must be at least 100ms".into());
        }
        Ok(())
    }
}

use https::duration;
pub use https::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_defaults_and_unknown_keys_are_refused() {
        let c: Config =
            serde_saphyr::from_str("tls: {certFile: c.pem, keyFile: k.pem}\npolicyDir: p\ntrustDir: t\n")
                .unwrap();
        assert_eq!(c.deadline, Duration::from_secs(8));
        assert_eq!(c.no_match, NoMatch::Deny);
        assert_eq!(c.cache.ttl, Duration::from_secs(120));
        let e = serde_saphyr::from_str::<Config>(
            "tls: {certFile: c.pem, keyFile: k.pem}\npolicyDir: p\ntrustDir: t\ndeadlin: 3s\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("deadlin"), "{e}");
    }
}
