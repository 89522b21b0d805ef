//! The decision engine shared by the webhook and the Gatekeeper provider:
//! policy selection, tag resolution, verification, and the caches in front
//! of them.
//!
//! * Results are cached by (image name, digest, policy, policy-set version,
//!   trust-store version, revocation-list version): any change to policies,
//!   trust stores or the revocation list makes every older result unusable.
//!   Verified results live `cache.ttl`, failures [`NEGATIVE_TTL`], errors
//!   (registry down) not at all.
//! * Identical concurrent lookups are coalesced: one resolution and one
//!   verification run, every waiter gets its result.
//! * The revocation list is checked on every request, cached or not.
//! * Registry work runs on blocking threads, at most `registry.concurrency`
//!   at a time; every answer is bounded by the caller's deadline.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use notary::{
    Descriptor,
    truststore::{CachedTrustStore, DirTrustStore},
    verifier::{Verdict, Verifier},
    x509::Certificate,
};
use oci::registry::{Client, Reference};
use tokio::sync::Semaphore;
use tracing::{info, warn};

use crate::{
    Error,
    config::{EngineConfig, NoMatch},
    metrics::Metrics,
    policy::{FailurePolicy, Mode, Policy, PolicySet},
};

/// How long a failed verification is remembered: short, so that an image
/// signed a moment later is admitted soon after.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// The largest revocation list read.
const MAX_REVOCATION_LIST: u64 = 16 * 1024 * 1024;
/// The most trust-store files fingerprinted.
const MAX_TRUST_FILES: usize = 10_000;

/// What the server knows at one moment: policies, trust stores and the
/// revocation list, each with its version.
pub struct Snapshot {
    /// The policies.
    pub policies: PolicySet,
    /// The trust stores.
    pub trust: Arc<CachedTrustStore<DirTrustStore>>,
    /// SHA-256 over the trust-store files.
    pub trust_version: String,
    /// Revoked digests.
    pub revoked: HashSet<String>,
    /// SHA-256 of the revocation list (empty without one).
    pub revocation_version: String,
}

/// A verification that finished (cached).
#[derive(Debug, Clone)]
pub enum Judgement {
    /// A signature was accepted.
    Verified(Arc<Verified>),
    /// The image is unsigned or no signature passes the policy.
    Failed(Arc<str>),
}

/// Details of the accepted signature.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The signature manifest's digest.
    pub signature: String,
    /// The trust policy statement (the image policy's name).
    pub trust_policy: String,
    /// Subject of the signing certificate (Go string form).
    pub subject: Option<String>,
    /// Its issuer.
    pub issuer: Option<String>,
    /// The signing time the envelope claims.
    pub signing_time: Option<String>,
    /// Logged (non-enforced) failures.
    pub logged: Vec<String>,
}

/// The result for one image.
#[derive(Debug, Clone)]
pub struct ImageCheck {
    /// The image as written in the object.
    pub image: String,
    /// The policy applied, by id.
    pub policy: Option<String>,
    /// Its mode (enforce when no policy applied).
    pub mode: Mode,
    /// What was found.
    pub outcome: Outcome,
    /// The digest the image resolved to.
    pub digest: Option<String>,
    /// `image@digest`, when the policy pins verified tags.
    pub pinned: Option<String>,
}

/// What checking an image found.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// A signature was accepted.
    Verified(Arc<Verified>),
    /// Not checked: an exemption, or `noMatch: allow`.
    Exempt(String),
    /// Verification failed, or the image may not run at all.
    Failed(String),
    /// Verification could not finish (registry down, deadline), with the
    /// policy's failure policy.
    Unavailable(String, FailurePolicy),
}

/// What the caller should do about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Admit.
    Allow,
    /// Admit, with this warning for the user.
    Warn(String),
    /// Admit; record this in the audit annotations and the log only.
    Audit(String),
    /// Refuse, for this reason.
    Deny(String),
}

impl ImageCheck {
    /// Applies the policy's mode and failure policy.
    pub fn effect(&self) -> Effect {
        let reason = match &self.outcome {
            Outcome::Verified(_) | Outcome::Exempt(_) => return Effect::Allow,
            Outcome::Unavailable(reason, FailurePolicy::Ignore) => {
                return Effect::Warn(format!(
                    "image {} was admitted unverified: {reason} (failurePolicy Ignore)",
                    self.image
                ));
            }
            Outcome::Failed(reason) | Outcome::Unavailable(reason, FailurePolicy::Fail) => reason,
        };
        let policy = self
            .policy
            .as_deref()
            .map(|p| format!(" (policy {p})"))
            .unwrap_or_default();
        let message = format!("image {}: {reason}{policy}", self.image);
        match self.mode {
            Mode::Enforce => Effect::Deny(message),
            Mode::Warn => Effect::Warn(message),
            Mode::Audit => Effect::Audit(message),
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct ResultKey {
    name: String,
    digest: String,
    policy: String,
    policies_version: String,
    trust_version: String,
    revocation_version: String,
}

struct Expiry {
    ttl: Duration,
}

impl moka::Expiry<ResultKey, Judgement> for Expiry {
    fn expire_after_create(&self, _: &ResultKey, value: &Judgement, _: Instant) -> Option<Duration> {
        Some(match value {
            Judgement::Verified(_) => self.ttl,
            Judgement::Failed(_) => self.ttl.min(NEGATIVE_TTL),
        })
    }
}

/// The engine. One per server; cheap to share behind an `Arc`.
pub struct Engine {
    policy_dir: PathBuf,
    trust_dir: PathBuf,
    revocation_list: Option<PathBuf>,
    exempt_namespaces: HashSet<String>,
    no_match: NoMatch,
    state: RwLock<Arc<Snapshot>>,
    client: Client,
    checker: Arc<fetch::revocation::HttpRevocationChecker>,
    tags: moka::future::Cache<String, Descriptor>,
    digests: moka::future::Cache<String, Descriptor>,
    results: moka::future::Cache<ResultKey, Judgement>,
    permits: Arc<Semaphore>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
}

impl Engine {
    /// Loads policies, trust stores and the revocation list named by `config`.
    pub fn new(config: &EngineConfig, metrics: Arc<Metrics>) -> Result<Self, Error> {
        let client = config
            .registry
            .client(&config.user_agent)
            .map_err(|e| Error::Registry(e.to_string()))?;
        let checker = fetch::revocation::HttpRevocationChecker::new(config.registry.timeout);
        let snapshot = load_snapshot(
            &config.policy_dir,
            &config.trust_dir,
            config.revocation_list.as_deref(),
        )?;
        let size = config.cache.size.max(1);
        Ok(Self {
            policy_dir: config.policy_dir.clone(),
            trust_dir: config.trust_dir.clone(),
            revocation_list: config.revocation_list.clone(),
            exempt_namespaces: config.exempt_namespaces.iter().cloned().collect(),
            no_match: config.no_match,
            state: RwLock::new(Arc::new(snapshot)),
            client,
            checker: Arc::new(checker),
            tags: moka::future::Cache::builder()
                .max_capacity(size)
                .time_to_live(config.cache.tag_ttl)
                .build(),
            digests: moka::future::Cache::builder()
                .max_capacity(size)
                .time_to_live(config.cache.ttl)
                .build(),
            results: moka::future::Cache::builder()
                .max_capacity(size)
                .expire_after(Expiry {
                    ttl: config.cache.ttl,
                })
                .build(),
            permits: Arc::new(Semaphore::new(config.registry.concurrency)),
            metrics,
        })
    }

    /// The registry client (one connection pool and token cache per process:
    /// the node agent fetches its bundle through it too).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads policies, trust stores and the revocation list; swaps them
    /// in when anything changed. On an error the previous snapshot stays.
    pub fn reload(&self) -> Result<bool, Error> {
        let next = load_snapshot(&self.policy_dir, &self.trust_dir, self.revocation_list.as_deref())?;
        let current = self.snapshot();
        if next.policies.version == current.policies.version
            && next.trust_version == current.trust_version
            && next.revocation_version == current.revocation_version
        {
            return Ok(false);
        }
        info!(
            policies = next.policies.len(),
            policy_version = %short(&next.policies.version),
            trust_version = %short(&next.trust_version),
            revoked = next.revoked.len(),
            "policies, trust stores or revocation list changed"
        );
        match self.state.write() {
            Ok(mut s) => *s = Arc::new(next),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(next),
        }
        Ok(true)
    }

    /// Checks one image for an object in `namespace`, answering by `deadline`.
    pub async fn check(&self, image: &str, namespace: Option<&str>, deadline: Instant) -> ImageCheck {
        let mut check = ImageCheck {
            image: image.to_owned(),
            policy: None,
            mode: Mode::Enforce,
            outcome: Outcome::Exempt(String::new()),
            digest: None,
            pinned: None,
        };
        let snapshot = self.snapshot();
        let reference = match Reference::parse(image) {
            Ok(r) => r,
            Err(e) => {
                check.outcome = Outcome::Failed(format!("invalid image reference: {e}"));
                return check;
            }
        };
        let name = reference.repository_path();
        if let Some(ns) = namespace.filter(|ns| self.exempt_namespaces.contains(*ns)) {
            check.outcome = Outcome::Exempt(format!("namespace {ns} is exempt"));
            return check;
        }
        let Some(policy) = snapshot.policies.select(namespace, &name).cloned() else {
            check.outcome = match self.no_match {
                NoMatch::Allow => Outcome::Exempt(format!("no image policy matches {name} (noMatch: allow)")),
                NoMatch::Deny => Outcome::Failed(format!(
                    "no image policy matches {name}; images without a policy are denied (noMatch: deny)"
                )),
            };
            return check;
        };
        check.policy = Some(policy.id.clone());
        check.mode = policy.mode;
        if let Some(reason) = policy.exempts(namespace, &name) {
            check.outcome = Outcome::Exempt(reason);
            return check;
        }
        let work = self.resolve_and_verify(&snapshot, &policy, &reference, &name);
        let (digest, judgement) = match tokio::time::timeout_at(deadline.into(), work).await {
            Ok(Ok(r)) => r,
            Ok(Err(reason)) => {
                check.outcome = Outcome::Unavailable(reason, policy.failure_policy);
                return check;
            }
            Err(_) => {
                self.metrics.deadline_exceeded.inc();
                check.outcome = Outcome::Unavailable(
                    "verification did not finish before the deadline".into(),
                    policy.failure_policy,
                );
                return check;
            }
        };
        if snapshot.revoked.contains(&digest) {
            check.outcome = Outcome::Failed(format!("digest {digest} is on the revocation list"));
            check.digest = Some(digest);
            return check;
        }
        check.outcome = match judgement {
            Judgement::Verified(v) => {
                if policy.mutate_to_digest && reference.digest().is_none() {
                    check.pinned = Some(format!("{image}@{digest}"));
                }
                Outcome::Verified(v)
            }
            Judgement::Failed(reason) => Outcome::Failed(reason.to_string()),
        };
        check.digest = Some(digest);
        check
    }

    async fn resolve_and_verify(
        &self,
        snapshot: &Arc<Snapshot>,
        policy: &Arc<Policy>,
        reference: &Reference,
        name: &str,
    ) -> Result<(String, Judgement), String> {
        if let Some(d) = reference.digest()
            && snapshot.revoked.contains(d.as_str())
        {
            // Refused before the registry is asked anything.
            return Ok((d.to_string(), Judgement::Failed("revoked".into())));
        }
        let target = self.resolve(reference).await?;
        let digest = target.digest.to_string();
        if snapshot.revoked.contains(&digest) {
            return Ok((digest, Judgement::Failed("revoked".into())));
        }
        let key = ResultKey {
            name: name.to_owned(),
            digest: digest.clone(),
            policy: policy.id.clone(),
            policies_version: snapshot.policies.version.clone(),
            trust_version: snapshot.trust_version.clone(),
            revocation_version: snapshot.revocation_version.clone(),
        };
        let init = {
            let snapshot = snapshot.clone();
            let policy = policy.clone();
            let reference = reference.with_digest(target.digest.clone());
            let client = self.client.clone();
            let checker = self.checker.clone();
            let permits = self.permits.clone();
            let metrics = self.metrics.clone();
            async move {
                let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                metrics.verifications.inc();
                let started = Instant::now();
                let result = tokio::task::spawn_blocking(move || {
                    verify_blocking(&snapshot, &policy, &client, &checker, &reference, &target)
                })
                .await
                .map_err(|e| format!("verification task failed: {e}"))?;
                metrics.verify_seconds.observe(started.elapsed().as_secs_f64());
                result
            }
        };
        let hit = self.results.contains_key(&key);
        let judgement = self
            .results
            .try_get_with(key, init)
            .await
            .map_err(|e| e.to_string())?;
        if hit {
            self.metrics.cache_hits.inc();
        }
        Ok((digest, judgement))
    }

    /// The descriptor of `reference`: a tag is looked up at most every
    /// `cache.tagTtl`, a digest every `cache.ttl`.
    async fn resolve(&self, reference: &Reference) -> Result<Descriptor, String> {
        let key = reference.to_string();
        let cache = if reference.digest().is_some() {
            &self.digests
        } else {
            &self.tags
        };
        let init = {
            let client = self.client.clone();
            let reference = reference.clone();
            let permits = self.permits.clone();
            let metrics = self.metrics.clone();
            async move {
                let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
                metrics.resolutions.inc();
                tokio::task::spawn_blocking(move || {
                    use oci::ArtifactStore;
                    client
                        .repository(&reference)
                        .resolve(reference.target())
                        .map_err(|e| format!("cannot resolve {reference}: {e}"))
                })
                .await
                .map_err(|e| format!("resolution task failed: {e}"))?
            }
        };
        cache.try_get_with(key, init).await.map_err(|e| e.to_string())
    }
}

fn verify_blocking(
    snapshot: &Snapshot,
    policy: &Policy,
    client: &Client,
    checker: &fetch::revocation::HttpRevocationChecker,
    reference: &Reference,
    target: &Descriptor,
) -> Result<Judgement, String> {
    let verifier = Verifier::new(&policy.trust_policy, snapshot.trust.as_ref())
        .with_timestamp_verifier(&notary::timestamp::Rfc3161Verifier)
        .with_revocation_checker(checker);
    let repository = client.repository(reference);
    let name = reference.repository_path();
    let shown = format!("{name}@{}", target.digest);
    match oci::verify_artifact(&verifier, &repository, target, &name, shown, &BTreeMap::new()) {
        Ok(report) => Ok(match report.accepted() {
            Some((sig, outcome)) => {
                let leaf = outcome
                    .envelope
                    .as_ref()
                    .and_then(|e| e.certificate_chain.first())
                    .and_then(|der| Certificate::from_der(der.clone()).ok());
                Judgement::Verified(Arc::new(Verified {
                    signature: sig.digest.to_string(),
                    trust_policy: outcome.policy_name.clone().unwrap_or_default(),
                    subject: leaf.as_ref().map(Certificate::subject),
                    issuer: leaf.as_ref().map(Certificate::issuer),
                    signing_time: outcome
                        .envelope
                        .as_ref()
                        .and_then(|e| e.signed.signing_time)
                        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                    logged: outcome
                        .logged_failures()
                        .map(|r| format!("{}: {}", r.check.as_str(), r.failure().unwrap_or_default()))
                        .collect(),
                }))
            }
            None => {
                let reasons: Vec<String> = report
                    .outcomes
                    .iter()
                    .filter_map(|(sig, o)| match &o.verdict {
                        Verdict::Failed { check, reason } => Some(format!(
                            "signature {}: {} validation failed: {reason}",
                            sig.digest,
                            check.as_str()
                        )),
                        Verdict::Inconclusive { reason } => Some(format!(
                            "signature {}: verification inconclusive: {reason}",
                            sig.digest
                        )),
                        _ => None,
                    })
                    .collect();
                Judgement::Failed(
                    format!(
                        "signature verification failed for all the signatures associated with {}: {}",
                        report.reference,
                        reasons.join("; ")
                    )
                    .into(),
                )
            }
        }),
        Err(e) if e.is_definite() => Ok(Judgement::Failed(e.to_string().into())),
        Err(e) => {
            warn!(image = %reference, "verification could not finish: {e}");
            Err(e.to_string())
        }
    }
}

fn load_snapshot(
    policy_dir: &Path,
    trust_dir: &Path,
    revocation_list: Option<&Path>,
) -> Result<Snapshot, Error> {
    let policies = PolicySet::load(policy_dir)?;
    let trust_version = fingerprint(&trust_dir.join("truststore"))?;
    let (revoked, revocation_version) = match revocation_list {
        None => (HashSet::new(), String::new()),
        Some(path) => {
            let text = crate::read_bounded(path, MAX_REVOCATION_LIST)?;
            let mut revoked = HashSet::new();
            for (i, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.is_empty() {
                    continue;
                }
                let digest = notary::Digest::parse(line).map_err(|e| Error::Config {
                    path: path.to_owned(),
                    message: format!("line {}: {e}", i + 1),
                })?;
                revoked.insert(digest.to_string());
            }
            (revoked, sha256_hex(text.as_bytes()))
        }
    };
    Ok(Snapshot {
        policies,
        trust: Arc::new(CachedTrustStore::new(DirTrustStore::new(trust_dir))),
        trust_version,
        revoked,
        revocation_version,
    })
}

/// SHA-256 over the names and contents of the files under `dir` (hidden
/// entries skipped, symbolic links followed); empty when `dir` is absent.
fn fingerprint(dir: &Path) -> Result<String, Error> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read the trust store directory", &d, e)),
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
            if files.len() > MAX_TRUST_FILES {
                return Err(Error::Config {
                    path: dir.to_owned(),
                    message: format!("more than {MAX_TRUST_FILES} files in the trust stores"),
                });
            }
        }
    }
    files.sort();
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for f in &files {
        let bytes = std::fs::read(f).map_err(|e| Error::io("read", f, e))?;
        hash.update(f.to_string_lossy().as_bytes());
        hash.update(&[0]);
        hash.update(&bytes);
    }
    Ok(hex::encode(hash.finish().as_ref()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes).as_ref())
}

fn short(v: &str) -> &str {
    v.get(..12).unwrap_or(v)
}
