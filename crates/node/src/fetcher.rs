//! Fetching a bundle from where it is published and checking its signature
//! against the pinned root: `https://…/bundle.json` (+ `.sig`),
//! `file:///…/bundle.json` (+ `.sig`), `oci://registry/repository:tag`.

use std::{
    io::Read,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use oci::{ArtifactStore, ImageManifest, registry::Reference};

use crate::bundle::{self, Bundle, BundleError, BundleTrust};

/// Fetches bundles; one per process.
pub struct Fetcher {
    client: oci::registry::Client,
    checker: fetch::revocation::HttpRevocationChecker,
    timeout: Duration,
    ca_files: Vec<PathBuf>,
    /// For `https://` sources: built on first use (loading the system roots
    /// and the CA files once, not at every poll).
    http: OnceLock<reqwest::blocking::Client>,
}

impl Fetcher {
    /// `client` reaches registries; HTTPS sources use the system roots plus `ca_files`.
    pub fn new(client: oci::registry::Client, timeout: Duration, ca_files: Vec<PathBuf>) -> Self {
        Self {
            client,
            checker: fetch::revocation::HttpRevocationChecker::new(timeout),
            timeout,
            ca_files,
            http: OnceLock::new(),
        }
    }

    fn http(&self) -> Result<&reqwest::blocking::Client, BundleError> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(self.timeout)
            .no_proxy();
        for ca in &self.ca_files {
            let pem = std::fs::read(ca).map_err(|e| BundleError::Fetch(format!("{}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| BundleError::Fetch(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| BundleError::Fetch(e.to_string()))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// The bundle at `source`, its signature verified against `trust`.
    pub fn fetch(&self, source: &str, trust: &BundleTrust) -> Result<Bundle, BundleError> {
        if let Some(reference) = source.strip_prefix("oci://") {
            return self.fetch_oci(reference, trust);
        }
        let (bytes, sig) = if let Some(path) = source.strip_prefix("file://") {
            let path = Path::new(path);
            (
                read_bounded(path, bundle::MAX_SIZE)?,
                read_bounded(&signature_path(path), bundle::MAX_SIGNATURE_SIZE)?,
            )
        } else if source.starts_with("https://") || source.starts_with("http://") {
            (
                self.get(source, bundle::MAX_SIZE)?,
                self.get(&format!("{source}.sig"), bundle::MAX_SIGNATURE_SIZE)?,
            )
        } else {
            return Err(BundleError::Fetch(format!(
                "unsupported bundle source {source:?}: use https://, file:// or oci://"
            )));
        };
        trust.verify_detached(&self.checker, &bytes, bundle::envelope_media_type(&sig), &sig)
    }

    fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>, BundleError> {
        let client = self.http()?;
        let response = client
            .get(url)
            .send()
            .map_err(|e| BundleError::Fetch(format!("{url}: {}", oci::error::chain(&e))))?;
        if !response.status().is_success() {
            return Err(BundleError::Fetch(format!("{url}: HTTP {}", response.status())));
        }
        let mut bytes = Vec::new();
        response
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| BundleError::Fetch(format!("{url}: {e}")))?;
        if bytes.len() as u64 > limit {
            return Err(BundleError::TooLarge);
        }
        Ok(bytes)
    }

    fn fetch_oci(&self, reference: &str, trust: &BundleTrust) -> Result<Bundle, BundleError> {
        let fetch_err = |e: oci::Error| BundleError::Fetch(format!("{reference}: {e}"));
        let r = Reference::parse(reference).map_err(fetch_err)?;
        let repo = self.client.repository(&r);
        let target = repo.resolve(r.target()).map_err(fetch_err)?;
        let verifier = trust.verifier(&self.checker);
        let shown = format!("{}@{}", r.repository_path(), target.digest);
        let report = oci::verify_artifact(
            &verifier,
            &repo,
            &target,
            &r.repository_path(),
            shown,
            &Default::default(),
        )
        .map_err(|e| BundleError::Signature(e.to_string()))?;
        if report.accepted().is_none() {
            let reasons: Vec<String> = report
                .outcomes
                .iter()
                .filter_map(|(_, o)| match &o.verdict {
                    notary::verifier::Verdict::Failed { check, reason } => {
                        Some(format!("{} validation failed: {reason}", check.as_str()))
                    }
                    notary::verifier::Verdict::Inconclusive { reason } => Some(reason.clone()),
                    _ => None,
                })
                .collect();
            return Err(BundleError::Signature(reasons.join("; ")));
        }
        let manifest = repo.fetch(&target, oci::MAX_MANIFEST_SIZE).map_err(fetch_err)?;
        let manifest: ImageManifest = serde_json::from_slice(&manifest)
            .map_err(|e| BundleError::Invalid(format!("bundle manifest: {e}")))?;
        let layer = match manifest.layers.as_slice() {
            [l] if l.media_type == bundle::MEDIA_TYPE => l.clone(),
            _ => {
                return Err(BundleError::Invalid(format!(
                    "{reference} is not a verifier bundle: expected one layer of {}",
                    bundle::MEDIA_TYPE
                )));
            }
        };
        if layer.size > bundle::MAX_SIZE {
            return Err(BundleError::TooLarge);
        }
        let bytes = repo.fetch(&layer, bundle::MAX_SIZE).map_err(fetch_err)?;
        Bundle::parse(&bytes)
    }
}

/// `<path>.sig`: where a file or URL bundle's detached signature is.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".sig");
    PathBuf::from(p)
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BundleError> {
    let file =
        std::fs::File::open(path).map_err(|e| BundleError::Fetch(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| BundleError::Fetch(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(BundleError::TooLarge);
    }
    Ok(bytes)
}
