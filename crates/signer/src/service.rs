//! What the service does, without HTTP: authorise, sign, record, revoke.
//!
//! Handlers in [`crate::server`] decode a request, call one method here and
//! encode the answer; every refusal and every signature is written to the
//! store (and so to the audit log) before the caller hears about it.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use notary::{
    Descriptor,
    algorithm::KeySpec,
    crypto::{PrivateKey, Signer},
    envelope::{self, EnvelopeFormat, ExtendedAttribute, SigningScheme},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::{
    Error,
    auth::{Identity, Rules},
    config::{Config, Mode, ProfileConfig},
    keys, pki,
    store::{NewJob, Store, Write},
};

/// The signed extended attribute naming the profile.
pub const ATTR_PROFILE: &str = "dev.signet.signer.profile";
/// The signed extended attribute naming the profile version.
pub const ATTR_PROFILE_VERSION: &str = "dev.signet.signer.profileVersion";
/// The signed extended attribute naming the job.
pub const ATTR_JOB: &str = "dev.signet.signer.job";
/// The signing agent written into every envelope.
pub const SIGNING_AGENT: &str = concat!("signet-signer/", env!("CARGO_PKG_VERSION"));

/// The key spec of a `leafKey` name.
pub fn leaf_key_spec(name: &str) -> Option<KeySpec> {
    Some(match name {
        "ecdsa-p256" => KeySpec::Ec(256),
        "ecdsa-p384" => KeySpec::Ec(384),
        "ecdsa-p521" => KeySpec::Ec(521),
        "rsa-2048" => KeySpec::Rsa(2048),
        "rsa-3072" => KeySpec::Rsa(3072),
        "rsa-4096" => KeySpec::Rsa(4096),
        _ => return None,
    })
}

/// A profile ready to sign.
#[derive(Clone)]
pub struct Profile {
    /// As configured.
    pub config: ProfileConfig,
    /// The envelope format.
    pub format: EnvelopeFormat,
    /// The signing scheme.
    pub scheme: SigningScheme,
    /// How certificates are obtained.
    pub kind: ProfileKind,
    /// The registry client pushes go through, if the profile pushes.
    pub registry: Option<oci::registry::Client>,
    /// The configuration file, or the API (and the database).
    pub source: crate::profiles::Source,
}

/// Per-job certificates or one fixed certificate.
#[derive(Clone)]
pub enum ProfileKind {
    /// A fresh key and leaf per job.
    PerJob {
        /// The profile's CA.
        issuer: pki::Issuer,
        /// The fresh keys' type.
        leaf_key: KeySpec,
        /// The leaves' subject.
        subject: String,
        /// Where the profile's CRL is published.
        crl_url: String,
        /// Where the profile's OCSP responder answers.
        ocsp_url: String,
    },
    /// One key and certificate chain for every job.
    Fixed {
        /// The key.
        signer: Arc<dyn Signer>,
        /// Its chain, leaf first.
        chain: Vec<Vec<u8>>,
    },
}

impl Profile {
    /// Opens the profile's key and checks it against its chain.
    pub fn open(config: &ProfileConfig, public_url: &str) -> Result<Self, Error> {
        let bad = |message: String| Error::Profile {
            name: config.name.clone(),
            message,
        };
        let chain = match (&config.certificate_chain, &config.certificate_chain_pem) {
            (Some(path), _) => read_pem_chain(path).map_err(bad)?,
            (None, Some(pem)) => parse_pem_chain(pem.as_bytes()).map_err(bad)?,
            (None, None) => return Err(bad("no certificateChain".into())),
        };
        let key = keys::open(&config.key).map_err(|e| bad(e.to_string()))?;
        Self::assemble(config, chain, key.signer, public_url).map_err(bad)
    }

    /// The profile from its opened key and its chain (DER, leaf first):
    /// checks that the key is the chain's first certificate's — the one
    /// path every profile takes, from the file or from the API.
    pub fn assemble(
        config: &ProfileConfig,
        chain: Vec<Vec<u8>>,
        key: Arc<dyn Signer>,
        public_url: &str,
    ) -> Result<Self, String> {
        let format = EnvelopeFormat::from_name(&config.format)
            .ok_or_else(|| format!("unknown format {:?}", config.format))?;
        let scheme = SigningScheme::from_name(&config.signing_scheme)
            .ok_or_else(|| format!("unknown signing scheme {:?}", config.signing_scheme))?;
        let kind = match config.mode {
            Mode::PerJob => {
                let issuer = pki::Issuer::new(chain, key).map_err(|e| e.to_string())?;
                ProfileKind::PerJob {
                    issuer,
                    leaf_key: leaf_key_spec(&config.leaf_key)
                        .ok_or_else(|| format!("unknown leafKey {:?}", config.leaf_key))?,
                    subject: config
                        .subject
                        .clone()
                        .unwrap_or_else(|| format!("CN={},O=Signet,ST=WA,C=US", config.name)),
                    crl_url: format!("{public_url}/v1/profiles/{}/crl", config.name),
                    ocsp_url: format!("{public_url}/ocsp/{}", config.name),
                }
            }
            Mode::Fixed => {
                // The leaf must hold the key.
                let leaf = chain
                    .first()
                    .ok_or_else(|| "the certificate chain is empty".to_string())?;
                let cert = notary::x509::Certificate::from_der(leaf.clone()).map_err(|e| e.to_string())?;
                pki::check_key_matches(&cert, key.as_ref()).map_err(|e| e.to_string())?;
                ProfileKind::Fixed { signer: key, chain }
            }
        };
        let registry = match &config.push {
            Some(push) => {
                let client = oci::registry::Client::new(oci::registry::ClientConfig::from_service_config(
                    &push.insecure,
                    &push.ca_files,
                    push.docker_config.as_deref(),
                    push.timeout,
                    SIGNING_AGENT,
                ))
                .map_err(|e| format!("push: {e}"))?;
                Some(client)
            }
            None => None,
        };
        Ok(Self {
            config: config.clone(),
            format,
            scheme,
            kind,
            registry,
            source: crate::profiles::Source::Configuration,
        })
    }

    /// The CA (per-job) or signing (fixed) certificate chain, DER.
    pub fn chain(&self) -> &[Vec<u8>] {
        match &self.kind {
            ProfileKind::PerJob { issuer, .. } => &issuer.chain,
            ProfileKind::Fixed { chain, .. } => chain,
        }
    }
}

/// Reads every certificate in a PEM file, DER, in file order.
pub fn read_pem_chain(path: &std::path::Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_pem_chain(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Every certificate in PEM text, DER, in order.
pub fn parse_pem_chain(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let certs = notary::x509::read_certificates(text).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs.iter().map(|c| c.der().to_vec()).collect())
}

/// A refusal or failure, as the client will see it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// A stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message)
    }
    /// 401.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "unauthenticated", message)
    }
    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }
    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    /// 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "conflict", message)
    }
    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message)
    }
    /// 503.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message)
    }
    /// Any status.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        match e {
            E::NotFound(m) => ApiError::not_found(m),
            E::Conflict(m) => ApiError::conflict(m),
            E::Closed => ApiError::unavailable("the service is shutting down"),
            other => ApiError::internal(format!("storage: {other}")),
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address.
    pub client_addr: String,
    /// Its User-Agent header.
    pub user_agent: String,
}

/// `POST /v1/sign`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignRequest {
    /// The profile to sign with.
    pub profile: String,
    /// `registry/repository` the artifact lives in (what rules match).
    pub repository: String,
    /// The artifact: media type, digest, size (annotations are signed too).
    pub descriptor: Descriptor,
    /// Push the signature to `repository` with the service's own registry
    /// credentials (the profile must have `push:`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub push: bool,
}

/// The answer to a [`SignRequest`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    /// The job's id (revoke it with `POST /v1/jobs/{id}/revoke`).
    pub job_id: String,
    /// The profile.
    pub profile: String,
    /// The profile version.
    pub profile_version: i64,
    /// The envelope's media type.
    pub envelope_media_type: String,
    /// The envelope, base64.
    pub envelope: String,
    /// The per-job certificate's serial (hex), if the profile issues them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial: Option<String>,
    /// When the job was signed (RFC 3339).
    pub signed_at: String,
    /// The audit entry recording the job.
    pub audit_seq: u64,
    /// The signature manifest the service pushed (requests with `push`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_manifest: Option<Descriptor>,
}

/// Everything the handlers need.
pub struct Service {
    /// Storage and audit log.
    pub store: Store,
    /// Profiles by name: the file's and the API's, swapped whole when one
    /// changes (see [`Service::profiles`]).
    pub(crate) profiles: std::sync::RwLock<Arc<crate::profiles::ProfileSet>>,
    /// What profiles made through the API may be.
    pub(crate) catalog: crate::profiles::Catalog,
    /// The stored profiles' generation last loaded ([`Service::refresh_profiles`]).
    pub(crate) profiles_seen: tokio::sync::Mutex<Option<crate::store::ProfilesGeneration>>,
    /// The built-in TSA.
    pub tsa: Option<Arc<pki::Tsa>>,
    /// Authorisation.
    pub rules: Rules,
    /// OIDC verification, if configured.
    pub oidc: Option<crate::auth::Oidc>,
    /// The checkpoint key and its id.
    pub checkpoint: (Arc<dyn Signer>, String),
    /// Metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Limits signing work in progress.
    pub signing: tokio::sync::Semaphore,
    /// Revoked profiles and digests, re-read at most every
    /// [`REVOCATION_REFRESH`] (and at once after a revocation here).
    revocations: tokio::sync::Mutex<Option<(std::time::Instant, Arc<Revocations>)>>,
}

/// How stale the in-memory view of revoked profiles and digests may be
/// (other replicas' revocations). A job signed in that window under a
/// revoked profile or digest is still stored revoked.
pub const REVOCATION_REFRESH: Duration = Duration::from_secs(1);

/// Revoked profiles and digests, as sign requests check them.
#[derive(Debug, Default)]
pub struct Revocations {
    /// Profile → its revocation.
    pub profiles: BTreeMap<String, crate::store::ProfileRevocation>,
    /// Revoked digests.
    pub digests: std::collections::HashSet<String>,
}

impl Service {
    /// Opens keys, the store and the OIDC issuers named by `config`.
    pub async fn open(config: &Config) -> Result<Self, Error> {
        let public_url = config.revocation_url();
        let mut profiles = BTreeMap::new();
        for p in &config.profiles {
            let profile = Profile::open(p, &public_url)?;
            profiles.insert(p.name.clone(), Arc::new(profile));
        }
        let tsa = match &config.tsa {
            Some(t) => {
                let key = keys::open(&t.key).map_err(|e| Error::Tsa(e.to_string()))?;
                let chain = read_pem_chain(&t.certificate_chain).map_err(Error::Tsa)?;
                let issuer = pki::Issuer::new(chain, key.signer).map_err(|e| Error::Tsa(e.to_string()))?;
                let policy = t
                    .policy
                    .parse()
                    .map_err(|e| Error::Tsa(format!("policy {:?}: {e}", t.policy)))?;
                Some(Arc::new(pki::Tsa { issuer, policy }))
            }
            None => None,
        };
        let rules = Rules::new(config.rules.clone()).map_err(|e| Error::Rules(e.to_string()))?;
        let oidc = if config.auth.oidc.is_empty() {
            None
        } else {
            Some(
                crate::auth::Oidc::new(config.auth.oidc.clone())
                    .await
                    .map_err(|e| Error::Oidc(e.to_string()))?,
            )
        };
        let checkpoint_key = keys::open(&config.audit.checkpoint_key)
            .map_err(|e| Error::Audit(format!("checkpointKey: {e}")))?;
        let key_id = key_id(&checkpoint_key.public_key_spki);
        let store = Store::open(config.database_url())
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
        record_profile_changes(&store, &profiles).await?;
        let service = Self {
            store,
            profiles: std::sync::RwLock::new(Arc::new(crate::profiles::ProfileSet::new(profiles))),
            catalog: crate::profiles::Catalog::new(config),
            profiles_seen: tokio::sync::Mutex::new(None),
            tsa,
            rules,
            oidc,
            checkpoint: (checkpoint_key.signer, key_id),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            signing: tokio::sync::Semaphore::new(config.limits.concurrency),
            revocations: tokio::sync::Mutex::new(None),
        };
        service.load_stored_profiles().await?;
        service.warn_about_rules(&config.rules);
        Ok(service)
    }

    /// Signs `req` for `who`, or refuses (and audits the refusal).
    pub async fn sign(
        &self,
        who: &Identity,
        req: SignRequest,
        origin: &Origin,
    ) -> Result<SignResponse, ApiError> {
        let started = std::time::Instant::now();
        let result = self.sign_inner(who, req, origin).await;
        let outcome = match &result {
            Ok(_) => "signed",
            Err(e) if e.status == 403 => "refused",
            Err(e) if e.status < 500 => "invalid",
            Err(_) => "error",
        };
        self.metrics.sign(outcome, started.elapsed());
        result
    }

    async fn sign_inner(
        &self,
        who: &Identity,
        req: SignRequest,
        origin: &Origin,
    ) -> Result<SignResponse, ApiError> {
        if let Err(m) = validate_repository(&req.repository) {
            return Err(self.refuse(who, &req, origin, ApiError::bad_request(m)).await);
        }
        if req.descriptor.media_type.is_empty() || req.descriptor.media_type.len() > 255 {
            let e = ApiError::bad_request("descriptor.mediaType must be 1-255 characters");
            return Err(self.refuse(who, &req, origin, e).await);
        }
        let profile = match self.profiles().signing(&req.profile) {
            Ok(p) => p,
            Err(e) => return Err(self.refuse(who, &req, origin, e).await),
        };
        if let Err(denied) = self.rules.authorize_sign(who, &req.profile, &req.repository) {
            return Err(self
                .refuse(who, &req, origin, ApiError::forbidden(denied.message))
                .await);
        }
        let now = OffsetDateTime::now_utc();
        let revoked = self.revocations().await?;
        if let Some(r) = revoked.profiles.get(&req.profile)
            && r.effective_from <= now
        {
            return Err(self
                .refuse(
                    who,
                    &req,
                    origin,
                    ApiError::forbidden(format!(
                        "profile {:?} was revoked from {} ({}): it signs nothing any more",
                        req.profile,
                        rfc3339(r.effective_from),
                        r.reason
                    )),
                )
                .await);
        }
        if revoked.digests.contains(req.descriptor.digest.as_str()) {
            return Err(self
                .refuse(
                    who,
                    &req,
                    origin,
                    ApiError::forbidden(format!(
                        "digest {} is revoked: it is not signed again",
                        req.descriptor.digest
                    )),
                )
                .await);
        }
        if req.push && profile.registry.is_none() {
            let e = ApiError::bad_request(format!(
                "profile {:?} does not push signatures (no push: in its configuration); push it yourself, or leave out \"push\"",
                req.profile
            ));
            return Err(self.refuse(who, &req, origin, e).await);
        }
        let _permit = self
            .signing
            .acquire()
            .await
            .map_err(|_| ApiError::unavailable("the service is shutting down"))?;
        let job_id = uuid::Uuid::now_v7().to_string();
        let tsa = if profile.config.timestamp {
            self.tsa.clone()
        } else {
            None
        };
        let descriptor = req.descriptor.clone();
        let id = job_id.clone();
        let p = profile.clone();
        let signed = tokio::task::spawn_blocking(move || produce(&p, tsa.as_deref(), &descriptor, &id, now))
            .await
            .map_err(|e| ApiError::internal(format!("signing task failed: {e}")))?
            .map_err(|e| {
                warn!(profile = %req.profile, "signing failed: {e}");
                ApiError::internal(format!("signing failed: {e}"))
            })?;
        let job = NewJob {
            id: job_id.clone(),
            created_at: now,
            identity: who.display(),
            profile: req.profile.clone(),
            profile_version: profile.config.version,
            repository: req.repository.clone(),
            digest: req.descriptor.digest.to_string(),
            media_type: req.descriptor.media_type.clone(),
            size: i64::try_from(req.descriptor.size).unwrap_or(i64::MAX),
            client_addr: origin.client_addr.clone(),
            user_agent: origin.user_agent.clone(),
            cert_serial: signed.serial.clone(),
            envelope_media_type: profile.format.media_type().to_owned(),
            envelope: signed.envelope.clone(),
        };
        let receipt = self.store.submit(Write::Job(job)).await?;
        info!(job = %job_id, identity = %who.display(), profile = %req.profile, repository = %req.repository, digest = %req.descriptor.digest, "signed");
        let signature_manifest = match (&profile.registry, req.push) {
            (Some(client), true) => Some(
                push(client, &req, profile.format.media_type(), &signed, now)
                    .await
                    .map_err(|e| {
                        ApiError::new(
                            502,
                            "push_failed",
                            format!(
                                "signed as job {job_id}, but pushing the signature to {} failed: {e}; fetch it from /v1/jobs/{job_id}/envelope",
                                req.repository
                            ),
                        )
                    })?,
            ),
            _ => None,
        };
        use base64::Engine as _;
        Ok(SignResponse {
            job_id,
            profile: req.profile,
            profile_version: profile.config.version,
            envelope_media_type: profile.format.media_type().to_owned(),
            envelope: base64::engine::general_purpose::STANDARD.encode(&signed.envelope),
            certificate_serial: signed.serial,
            signed_at: rfc3339(now),
            audit_seq: receipt.seq,
            signature_manifest,
        })
    }

    /// The revoked profiles and digests, read from the store when the copy
    /// here is older than [`REVOCATION_REFRESH`] (one reader at a time).
    pub async fn revocations(&self) -> Result<Arc<Revocations>, ApiError> {
        let mut cached = self.revocations.lock().await;
        if let Some((at, r)) = cached.as_ref()
            && at.elapsed() < REVOCATION_REFRESH
        {
            return Ok(r.clone());
        }
        let mut fresh = Revocations::default();
        for r in self.store.profile_revocations().await? {
            fresh.profiles.insert(r.profile.clone(), r);
        }
        fresh.digests = self
            .store
            .revoked_digests()
            .await?
            .into_iter()
            .map(|d| d.digest)
            .collect();
        let fresh = Arc::new(fresh);
        *cached = Some((std::time::Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Drops the cached revocations (after a revocation by this replica).
    pub async fn revocations_changed(&self) {
        *self.revocations.lock().await = None;
    }

    /// Appends a `refusal` entry: who (`actor`), what (`subject`), the
    /// status and reason of `error`, where the request came from, and the
    /// fields of `extra` (a JSON object) — every refusal's one shape.
    pub async fn audit_refusal(
        &self,
        actor: String,
        subject: String,
        origin: &Origin,
        error: &ApiError,
        extra: serde_json::Value,
    ) -> Result<crate::store::Receipt, crate::store::StoreError> {
        let mut data = json!({
            "status": error.status,
            "reason": error.message,
            "clientAddr": origin.client_addr,
            "userAgent": origin.user_agent,
        });
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        let event = crate::store::AuditEvent {
            kind: "refusal".into(),
            actor,
            subject,
            data,
        };
        self.store.submit(Write::Audit(event)).await
    }

    /// Records a refused sign request in the audit log and hands the error
    /// back (or 503 when the refusal could not be recorded).
    pub async fn refuse(
        &self,
        who: &Identity,
        req: &SignRequest,
        origin: &Origin,
        error: ApiError,
    ) -> ApiError {
        let recorded = self
            .audit_refusal(
                who.display(),
                format!("{}@{}", req.repository, req.descriptor.digest),
                origin,
                &error,
                json!({
                    "profile": req.profile,
                    "repository": req.repository,
                    "digest": req.descriptor.digest.to_string(),
                }),
            )
            .await;
        if let Err(e) = recorded {
            warn!("could not audit a refusal: {e}");
            return ApiError::unavailable(format!("the refusal could not be recorded: {e}"));
        }
        info!(identity = %who.display(), profile = %req.profile, repository = %req.repository, "refused: {}", error.message);
        error
    }

    /// Records a refused authentication (no identity yet).
    pub async fn refuse_unauthenticated(&self, origin: &Origin, path: &str, error: ApiError) -> ApiError {
        let recorded = self
            .audit_refusal("anonymous".into(), path.to_owned(), origin, &error, json!({}))
            .await;
        if let Err(e) = recorded {
            warn!("could not audit a refusal: {e}");
        }
        error
    }

    /// Signs the audit head if it moved since the last checkpoint.
    pub async fn checkpoint(&self) -> Result<(), ApiError> {
        self.store
            .checkpoint(self.checkpoint.0.as_ref(), &self.checkpoint.1)
            .await?;
        Ok(())
    }
}

/// Pushes the envelope next to the artifact as notation does (a referrer
/// with `subject`, or the tag fallback), with the service's credentials.
async fn push(
    client: &oci::registry::Client,
    req: &SignRequest,
    media_type: &str,
    signed: &Signed,
    now: OffsetDateTime,
) -> Result<Descriptor, String> {
    let reference = oci::registry::Reference::parse(&format!("{}@{}", req.repository, req.descriptor.digest))
        .map_err(|e| e.to_string())?;
    let mut repository = client.repository(&reference);
    let thumbprints = oci::signature::chain_thumbprints(&signed.chain);
    let subject = Descriptor::new(
        req.descriptor.media_type.clone(),
        req.descriptor.digest.clone(),
        req.descriptor.size,
    );
    let (media_type, envelope) = (media_type.to_owned(), signed.envelope.clone());
    tokio::task::spawn_blocking(move || {
        oci::signature::push_notary_signature(
            &mut repository,
            &subject,
            &media_type,
            &envelope,
            &thumbprints,
            now,
            std::collections::BTreeMap::new(),
        )
        .map_err(|e| oci::error::chain(&e))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// What identifies a profile's configuration in the audit log: a change to
/// any of it (a new key or chain, another subject, format, validity, push
/// target) is a `profile.change` entry — when the service starts (the
/// file's profiles) or when an admin makes it (through the API).
pub(crate) fn profile_fingerprint(p: &Profile) -> serde_json::Value {
    let chain = oci::signature::chain_thumbprints(p.chain());
    let c = &p.config;
    json!({
        "version": c.version,
        "mode": match c.mode { Mode::PerJob => "perJob", Mode::Fixed => "fixed" },
        "format": p.format.name(),
        "signingScheme": p.scheme.as_str(),
        "certificateChainSha256": chain,
        "subject": c.subject,
        "leafKey": c.leaf_key,
        "certificateValiditySeconds": c.certificate_validity.as_secs(),
        "signatureValiditySeconds": c.signature_validity.map(|d| d.as_secs()),
        "timestamp": c.timestamp,
        "push": c.push.as_ref().map(|p| json!({"insecure": p.insecure, "dockerConfig": p.docker_config})),
    })
}

/// Audits every profile whose configuration differs from the last one
/// recorded (or that was never recorded).
async fn record_profile_changes(
    store: &Store,
    profiles: &BTreeMap<String, Arc<Profile>>,
) -> Result<(), Error> {
    for (name, profile) in profiles {
        let now = profile_fingerprint(profile);
        let last = store
            .last_entry("profile.change", name)
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
        if last.as_ref().map(|e| &e.data) == Some(&now) {
            continue;
        }
        let used = store
            .audited_profile_version(name)
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
        if used >= profile.config.version {
            warn!(
                profile = %name,
                "profile {name:?} changed but its version did not grow: version {} was already used (signatures carry the version); raise `version:` to at least {}",
                profile.config.version,
                used + 1
            );
        }
        info!(profile = %name, "profile configuration changed; audited");
        store
            .submit(Write::Audit(crate::store::AuditEvent {
                kind: "profile.change".into(),
                actor: "configuration".into(),
                subject: name.clone(),
                data: now,
            }))
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
    }
    Ok(())
}

/// Output of [`produce`].
pub struct Signed {
    /// The envelope bytes.
    pub envelope: Vec<u8>,
    /// The certificate chain in it, DER, leaf first.
    pub chain: Vec<Vec<u8>>,
    /// The per-job certificate's serial, hex.
    pub serial: Option<String>,
}

/// Makes the envelope for one job: a fresh key and leaf (per-job profiles),
/// the signed extended attributes, the built-in TSA's timestamp.
pub fn produce(
    profile: &Profile,
    tsa: Option<&pki::Tsa>,
    descriptor: &Descriptor,
    job_id: &str,
    now: OffsetDateTime,
) -> Result<Signed, String> {
    let payload = envelope::payload_for(descriptor);
    let extended = vec![
        ExtendedAttribute {
            key: ATTR_PROFILE.into(),
            value: json!(profile.config.name),
            critical: false,
        },
        ExtendedAttribute {
            key: ATTR_PROFILE_VERSION.into(),
            value: json!(profile.config.version.to_string()),
            critical: false,
        },
        ExtendedAttribute {
            key: ATTR_JOB.into(),
            value: json!(job_id),
            critical: false,
        },
    ];
    let expiry = profile
        .config
        .signature_validity
        .map(|d| now + time::Duration::seconds(i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 2)));
    // The built-in TSA timestamps the signature bytes (SHA-256) in-process.
    let timestamper_ref: Option<&dyn envelope::Timestamper> = tsa.map(|t| t as &dyn envelope::Timestamper);
    // Per-job profiles sign with a fresh key; it must outlive the request.
    let fresh_key: PrivateKey;
    let (signer, certificate_chain, serial): (&dyn Signer, Vec<Vec<u8>>, Option<String>) = match &profile.kind
    {
        ProfileKind::PerJob {
            issuer,
            leaf_key,
            subject,
            crl_url,
            ocsp_url,
        } => {
            fresh_key = PrivateKey::generate(*leaf_key).map_err(|e| e.to_string())?;
            let spki = fresh_key.public_key_spki_der().map_err(|e| e.to_string())?;
            let serial = pki::random_serial().map_err(|e| e.to_string())?;
            let validity = profile.config.certificate_validity;
            let leaf = pki::issue_leaf(
                issuer,
                &pki::LeafRequest {
                    serial: &serial,
                    subject,
                    public_key_spki: &spki,
                    not_before: now - time::Duration::minutes(5),
                    not_after: now
                        + time::Duration::seconds(i64::try_from(validity.as_secs()).unwrap_or(86_400)),
                    crl_url: Some(crl_url),
                    ocsp_url: Some(ocsp_url),
                },
            )
            .map_err(|e| e.to_string())?;
            let mut chain = Vec::with_capacity(issuer.chain.len() + 1);
            chain.push(leaf);
            chain.extend(issuer.chain.iter().cloned());
            (&fresh_key, chain, Some(hex::encode(serial)))
        }
        ProfileKind::Fixed { signer, chain } => (signer.as_ref(), chain.clone(), None),
    };
    let request = envelope::SignRequest {
        format: profile.format,
        payload,
        signing_time: now,
        expiry,
        signing_scheme: profile.scheme,
        extended,
        signing_agent: Some(SIGNING_AGENT.into()),
        certificate_chain,
        signer,
        timestamper: timestamper_ref,
    };
    let envelope = envelope::sign(&request).map_err(|e| e.to_string())?;
    Ok(Signed {
        envelope,
        chain: request.certificate_chain,
        serial,
    })
}

/// The id of a checkpoint key: hex SHA-256 of its SPKI, first 16 bytes.
pub fn key_id(spki: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki);
    hex::encode(&d.as_ref()[..16])
}

/// RFC 3339, UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `registry/repository`, lowercase path components as the distribution
/// spec allows, optional port; no tag or digest.
pub fn validate_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() || repository.len() > 255 {
        return Err("repository must be 1-255 characters, e.g. registry.example.com/team/app".into());
    }
    if repository.contains(['@', ' ', '\t', '\n']) || repository.ends_with('/') || repository.starts_with('/')
    {
        return Err(format!(
            "repository {repository:?} must be registry/repository without tag or digest"
        ));
    }
    let Some((_, path)) = repository.split_once('/') else {
        return Err(format!(
            "repository {repository:?} must name the registry too, e.g. registry.example.com/{repository}"
        ));
    };
    if path.contains(':') {
        return Err(format!(
            "repository {repository:?} must not carry a tag; the descriptor names the content"
        ));
    }
    let ok = path.split('/').all(|c| {
        !c.is_empty()
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    });
    if !ok {
        return Err(format!(
            "repository {repository:?}: path components are lowercase letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// The next-update window of CRLs and OCSP responses: verifiers that cache
/// them (notation caches CRLs until nextUpdate) see a revocation within it.
pub const REVOCATION_VALIDITY: Duration = Duration::from_secs(300);

/// A fresh API token and the record the store keeps (its hash only).
pub fn new_token(
    name: &str,
    identity: &str,
    expires_at: Option<OffsetDateTime>,
) -> Result<(String, crate::store::NewToken), String> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(format!(
            "token name {name:?} must be 1-64 characters of letters, digits, '.', '_', '-'"
        ));
    }
    if identity.trim().is_empty() || identity.len() > 256 {
        return Err("the token's identity must be 1-256 characters".into());
    }
    let token = crate::auth::generate_token();
    let record = crate::store::NewToken {
        name: name.to_owned(),
        identity: identity.to_owned(),
        hash: crate::auth::hash_token(&token),
        expires_at,
    };
    Ok((token, record))
}
