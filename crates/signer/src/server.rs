//! The HTTP layer: routes, authentication, errors as JSON, health and
//! metrics. Handlers decode, call [`Service`], encode.
//!
//! Public (no credentials, as verifiers fetch them): CRLs, OCSP, the TSA,
//! certificate chains, the digest revocation list, health, metrics, the
//! OpenAPI document. Everything else needs an API token, an OIDC JWT or a
//! client certificate, and admin endpoints (revocation, tokens, the audit
//! log, creating and changing profiles) need a rule with `admin: true`.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use base64::Engine as _;
use https::{PeerCertificates, TlsFiles};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use tracing::{info, warn};

use crate::{
    Error,
    auth::{self, Identity, Method},
    config::Config,
    pki,
    profiles::Source,
    service::{ApiError, Origin, ProfileKind, REVOCATION_VALIDITY, Service, SignRequest, rfc3339},
    store::{JobFilter, Write},
};

/// The OpenAPI document served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);
/// How long a token lookup is reused (a revoked token stops working on
/// other replicas within this; on the replica that revoked it at once).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);
/// The largest OCSP request or timestamp query.
const MAX_DER_BODY: usize = 16 * 1024;

struct AppState {
    service: Service,
    shutting_down: AtomicBool,
    tokens: Mutex<HashMap<String, (Instant, Option<crate::store::Token>)>>,
    max_body: usize,
}

/// A running signing service.
pub struct Server {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    state: Arc<AppState>,
    listener: https::Listener,
    http: Option<tokio::net::TcpListener>,
    /// The plain-HTTP listener's address, if configured.
    pub http_addr: Option<SocketAddr>,
    request_timeout: Duration,
    checkpoint_interval: Duration,
}

impl Server {
    /// Opens keys, storage and the listening socket.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        let service = Service::open(config).await?;
        let tls = TlsFiles {
            cert_file: config.tls.cert_file.clone(),
            key_file: config.tls.key_file.clone(),
            client_ca_file: config.tls.client_ca_file.clone(),
        };
        let listener = https::Listener::bind(config.listen, &tls).await?;
        let http = match &config.http {
            Some(h) => Some(
                tokio::net::TcpListener::bind(h.listen)
                    .await
                    .map_err(|e| Error::io("listen on", std::path::Path::new(&h.listen.to_string()), e))?,
            ),
            None => None,
        };
        let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
        Ok(Self {
            local_addr: listener.local_addr,
            http,
            http_addr,
            state: Arc::new(AppState {
                service,
                shutting_down: AtomicBool::new(false),
                tokens: Mutex::new(HashMap::new()),
                max_body: config.limits.max_body,
            }),
            listener,
            request_timeout: config.limits.request_timeout,
            checkpoint_interval: config.audit.checkpoint_interval,
        })
    }

    /// Serves until `shutdown`, then refuses new connections, fails
    /// `/readyz`, lets requests in flight finish (each is durable once
    /// answered), writes a last checkpoint and closes the store.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let app = router(self.state.clone(), self.request_timeout);
        let state = self.state.clone();
        let checkpoints = tokio::spawn(checkpoint_loop(self.state.clone(), self.checkpoint_interval));
        let profiles = tokio::spawn(profile_refresh_loop(self.state.clone()));
        let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
        let public = match self.http {
            Some(listener) => {
                let app = public_router(self.state.clone(), self.request_timeout);
                Some(tokio::spawn(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = http_stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        warn!("the plain-HTTP listener failed: {e}");
                    }
                }))
            }
            None => None,
        };
        let flag = self.state.clone();
        self.listener
            .serve(
                app,
                shutdown,
                move || flag.shutting_down.store(true, Ordering::SeqCst),
                DRAIN_TIMEOUT,
            )
            .await;
        checkpoints.abort();
        profiles.abort();
        let _ = stop_http.send(());
        if let Some(p) = public {
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, p).await;
        }
        if let Err(e) = state.service.checkpoint().await {
            warn!("final audit checkpoint failed: {e}");
        }
        state.service.store.close().await;
        info!("signer stopped");
        Ok(())
    }
}

async fn checkpoint_loop(state: Arc<AppState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match state.service.checkpoint().await {
            Ok(()) => {
                state.service.metrics.checkpoints.inc();
            }
            Err(e) => warn!("audit checkpoint failed: {e}"),
        }
    }
}

/// Picks up profiles other replicas made, changed or deleted.
async fn profile_refresh_loop(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(crate::profiles::PROFILE_REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = state.service.refresh_profiles().await {
            warn!("reading the stored signing profiles failed: {e}");
        }
    }
}

/// The public, signed documents: what the plain-HTTP listener serves, and
/// part of the HTTPS API too.
fn public_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/profiles", get(list_profiles))
        .route("/v1/profiles/{name}/certificates", get(profile_certificates))
        .route("/v1/profiles/{name}/crl", get(profile_crl))
        .route("/v1/revocations/digests", get(list_revoked_digests))
        .route("/v1/tsa/certificates", get(tsa_certificates))
        .route("/tsa", post(timestamp).layer(DefaultBodyLimit::max(MAX_DER_BODY)))
        .route(
            "/ocsp/{profile}",
            post(ocsp_post).layer(DefaultBodyLimit::max(MAX_DER_BODY)),
        )
        .route("/ocsp/{profile}/{*request}", get(ocsp_get))
        .route("/healthz", get(|| async { "ok" }))
}

fn public_router(state: Arc<AppState>, timeout: Duration) -> Router {
    public_routes()
        .fallback(|| async {
            ApiError::not_found("this listener serves CRLs, OCSP, the TSA and certificates only")
        })
        .layer(axum::middleware::from_fn(move |req, next| {
            deadline(req, next, timeout)
        }))
        .with_state(state)
}

fn router(state: Arc<AppState>, timeout: Duration) -> Router {
    let max_body = state.max_body;
    public_routes()
        .route("/v1/sign", post(sign))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(get_job))
        .route("/v1/jobs/{id}/envelope", get(get_envelope))
        .route("/v1/jobs/{id}/revoke", post(revoke_job))
        .route(
            "/v1/profiles/{name}",
            get(get_profile).put(put_profile).delete(delete_profile),
        )
        .route("/v1/profiles/{name}/revoke", post(revoke_profile))
        .route("/v1/revocations/digests", post(revoke_digest))
        .route("/v1/tokens", get(list_tokens).post(create_token))
        .route("/v1/tokens/{name}", delete(revoke_token))
        .route("/v1/audit", get(export_audit))
        .route("/v1/whoami", get(whoami))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint; see /openapi.json") })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(move |req, next| {
            deadline(req, next, timeout)
        }))
        .with_state(state)
}

async fn deadline(req: axum::extract::Request, next: axum::middleware::Next, timeout: Duration) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            504,
            "timeout",
            format!("the request did not finish within {timeout:?}"),
        )
        .into_response(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// The caller's address and User-Agent.
fn origin(addr: SocketAddr, headers: &HeaderMap) -> Origin {
    Origin {
        client_addr: addr.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(256)
            .collect(),
    }
}

/// Authenticates the request: bearer API token, bearer OIDC JWT, or client
/// certificate, in that order. Failures are audited.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: &PeerCertificates,
    origin: &Origin,
    path: &str,
) -> Result<Identity, ApiError> {
    let result = identify(state, headers, peer).await;
    match result {
        Ok(who) => Ok(who),
        Err(e) => {
            state.service.metrics.auth_failures.inc();
            Err(state.service.refuse_unauthenticated(origin, path, e).await)
        }
    }
}

async fn identify(
    state: &AppState,
    headers: &HeaderMap,
    peer: &PeerCertificates,
) -> Result<Identity, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthenticated("the Authorization header is not ASCII"))?;
        let Some(bearer) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(ApiError::unauthenticated(
                "the Authorization header must be `Bearer <API token or OIDC JWT>`",
            ));
        };
        let bearer = bearer.trim();
        if auth::looks_like_token(bearer) {
            return token_identity(state, bearer).await;
        }
        let Some(oidc) = &state.service.oidc else {
            return Err(ApiError::unauthenticated(
                "the bearer credential is not an API token (sgt_…) and no OIDC issuer is configured",
            ));
        };
        return oidc.verify(bearer).await.map_err(|e| {
            let status = e.status();
            let code = if status == 401 {
                "unauthenticated"
            } else {
                "unavailable"
            };
            ApiError::new(status, code, format!("OIDC token refused: {e}"))
        });
    }
    if let Some(leaf) = peer.leaf() {
        return auth::identity_from_certificate(leaf)
            .map_err(|e| ApiError::unauthenticated(format!("client certificate: {e}")));
    }
    Err(ApiError::unauthenticated(
        "no credentials: send `Authorization: Bearer <API token or OIDC JWT>` or a client certificate",
    ))
}

async fn token_identity(state: &AppState, token: &str) -> Result<Identity, ApiError> {
    let hash = auth::hash_token(token);
    let cached = state.tokens.lock().ok().and_then(|c| {
        c.get(&hash)
            .filter(|(at, _)| at.elapsed() < TOKEN_CACHE_TTL)
            .map(|(_, t)| t.clone())
    });
    let record = match cached {
        Some(r) => r,
        None => {
            let r = state.service.store.token_by_hash(&hash).await?;
            if let Ok(mut c) = state.tokens.lock() {
                if c.len() > 10_000 {
                    c.clear();
                }
                c.insert(hash, (Instant::now(), r.clone()));
            }
            r
        }
    };
    let Some(t) = record else {
        return Err(ApiError::unauthenticated("unknown API token"));
    };
    if t.revoked_at.is_some() {
        return Err(ApiError::unauthenticated(format!(
            "API token {:?} was revoked",
            t.name
        )));
    }
    if let Some(exp) = t.expires_at
        && exp <= OffsetDateTime::now_utc()
    {
        return Err(ApiError::unauthenticated(format!(
            "API token {:?} expired at {}",
            t.name,
            rfc3339(exp)
        )));
    }
    Ok(Identity {
        method: Method::Token,
        subject: t.identity.clone(),
        issuer: None,
        claims: [("token".to_owned(), t.name.clone())].into_iter().collect(),
    })
}

/// The authenticated caller of a request and where it came from; a
/// handler that takes it runs only for authenticated requests (failures
/// are answered 401 and audited).
struct Caller {
    who: Identity,
    origin: Origin,
}

impl axum::extract::FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let peer = parts
            .extensions
            .get::<PeerCertificates>()
            .cloned()
            .unwrap_or_default();
        let origin = origin(addr, &parts.headers);
        let path = parts.uri.path().chars().take(256).collect::<String>();
        let who = authenticate(state, &parts.headers, &peer, &origin, &path).await?;
        Ok(Self { who, origin })
    }
}

/// A [`Caller`] that a rule with `admin: true` names; others get 403 (audited).
struct Admin(Caller);

impl axum::extract::FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if let Err(denied) = state.service.rules.authorize_admin(&caller.who) {
            let error = ApiError::forbidden(denied.message);
            state
                .service
                .audit_refusal(
                    caller.who.display(),
                    parts.uri.path().to_owned(),
                    &caller.origin,
                    &error,
                    json!({}),
                )
                .await?;
            return Err(error);
        }
        Ok(Self(caller))
    }
}

/// 415 unless the body is JSON (or says nothing).
fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && !ct.starts_with("application/json")
    {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            format!("the body must be application/json, not {ct}"),
        ));
    }
    Ok(())
}

fn parse_json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    json_content_type(headers)?;
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON for this endpoint: {e}")))
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // axum reports the limit only in its message.
        let over = format!("{e:?}").contains("LengthLimitError") || e.to_string().contains("length limit");
        if over {
            ApiError::new(
                413,
                "payload_too_large",
                format!("the body is larger than limits.maxBody ({limit} bytes)"),
            )
        } else {
            ApiError::bad_request(format!("the body could not be read: {e}"))
        }
    })
}

async fn sign(
    State(state): State<Arc<AppState>>,
    Caller { who, origin }: Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Json<crate::service::SignResponse>, ApiError> {
    if state.shutting_down.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable(
            "the service is shutting down; retry on another replica",
        ));
    }
    let parsed = match read_body(body, state.max_body).await {
        Ok(bytes) => parse_json::<SignRequest>(&headers, &bytes),
        Err(e) => Err(e),
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => {
            state
                .service
                .audit_refusal(who.display(), "/v1/sign".into(), &origin, &e, json!({}))
                .await?;
            return Err(e);
        }
    };
    Ok(Json(state.service.sign(&who, req, &origin).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JobQuery {
    profile: Option<String>,
    identity: Option<String>,
    repository: Option<String>,
    digest: Option<String>,
    since: Option<String>,
    until: Option<String>,
    revoked: Option<bool>,
    limit: Option<u32>,
    before: Option<String>,
}

fn parse_time(name: &str, s: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| ApiError::bad_request(format!("{name}: {s:?} is not an RFC 3339 time: {e}")))
}

async fn list_jobs(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    query: Result<Query<JobQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let is_admin = state.service.rules.authorize_admin(&who).is_ok();
    // Non-admins see their own jobs only.
    let identity = if is_admin { q.identity } else { Some(who.display()) };
    let filter = JobFilter {
        profile: q.profile,
        identity,
        repository: q.repository,
        digest: q.digest,
        since: q.since.as_deref().map(|s| parse_time("since", s)).transpose()?,
        until: q.until.as_deref().map(|s| parse_time("until", s)).transpose()?,
        revoked: q.revoked,
        limit: q.limit.map(|l| l.clamp(1, 1000)),
        before: q.before,
    };
    let jobs = state.service.store.jobs(&filter).await?;
    Ok(Json(json!({"jobs": jobs})).into_response())
}

async fn job_for(state: &AppState, who: &Identity, id: &str) -> Result<crate::store::Job, ApiError> {
    let job = state
        .service
        .store
        .job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no job {id:?}")))?;
    if job.identity != who.display() && state.service.rules.authorize_admin(who).is_err() {
        return Err(ApiError::not_found(format!("no job {id:?}")));
    }
    Ok(job)
}

async fn get_job(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller.who;
    Ok(Json(job_for(&state, &who, &id).await?).into_response())
}

async fn get_envelope(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let job = job_for(&state, &who, &id).await?;
    Ok((
        [(header::CONTENT_TYPE, job.envelope_media_type.clone())],
        job.envelope,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RevokeBody {
    reason: String,
    #[serde(default)]
    effective_from: Option<String>,
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.trim().is_empty() || reason.len() > 1024 {
        return Err(ApiError::bad_request("reason must be 1-1024 characters"));
    }
    Ok(())
}

async fn revoke_job(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let b: RevokeBody = parse_json(&headers, &body)?;
    check_reason(&b.reason)?;
    let receipt = state
        .service
        .store
        .submit(Write::RevokeJob {
            id: id.clone(),
            reason: b.reason,
            actor: who.display(),
        })
        .await?;
    info!(job = %id, actor = %who.display(), "job revoked");
    Ok(Json(json!({"revoked": receipt.affected, "auditSeq": receipt.seq})).into_response())
}

async fn revoke_profile(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let live = state.service.profiles();
    // A profile this replica could not open can still be revoked.
    if !live.by_name.contains_key(&name) && !live.unavailable.contains_key(&name) {
        return Err(ApiError::not_found(format!("no signing profile {name:?}")));
    }
    let b: RevokeBody = parse_json(&headers, &body)?;
    check_reason(&b.reason)?;
    let from = match &b.effective_from {
        Some(s) => parse_time("effectiveFrom", s)?,
        None => OffsetDateTime::now_utc(),
    };
    let receipt = state
        .service
        .store
        .submit(Write::RevokeProfile {
            profile: name.clone(),
            effective_from: from,
            reason: b.reason,
            actor: who.display(),
        })
        .await?;
    state.service.revocations_changed().await;
    info!(profile = %name, actor = %who.display(), "profile revoked from {}", rfc3339(from));
    Ok(
        Json(json!({"revoked": receipt.affected, "effectiveFrom": rfc3339(from), "auditSeq": receipt.seq}))
            .into_response(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestRevokeBody {
    digest: notary::Digest,
    reason: String,
}

async fn revoke_digest(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let b: DigestRevokeBody = parse_json(&headers, &body)?;
    check_reason(&b.reason)?;
    let receipt = state
        .service
        .store
        .submit(Write::RevokeDigest {
            digest: b.digest.to_string(),
            reason: b.reason,
            actor: who.display(),
        })
        .await?;
    state.service.revocations_changed().await;
    info!(digest = %b.digest, actor = %who.display(), "digest revoked");
    Ok(Json(json!({"revoked": receipt.affected, "auditSeq": receipt.seq})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatQuery {
    format: Option<String>,
}

async fn list_revoked_digests(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let digests = state.service.store.revoked_digests().await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(json!({"digests": digests})).into_response()),
        // The admission webhook's `revocationList` file format.
        Some("text") => {
            let mut out = String::from("# revoked image digests, from the Signet signing service\n");
            for d in &digests {
                out.push_str(&format!("{}  # {}\n", d.digest, d.reason.replace('\n', " ")));
            }
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "format {other:?} is not json or text"
        ))),
    }
}

/// A profile as `GET /v1/profiles` lists it.
fn profile_json(state: &AppState, p: &crate::service::Profile) -> serde_json::Value {
    let (mode, crl, ocsp) = match &p.kind {
        ProfileKind::PerJob {
            crl_url, ocsp_url, ..
        } => ("perJob", Some(crl_url.clone()), Some(ocsp_url.clone())),
        ProfileKind::Fixed { .. } => ("fixed", None, None),
    };
    let (source, deleted_at) = match &p.source {
        Source::Configuration => ("configuration", None),
        Source::Api { deleted_at, .. } => ("api", *deleted_at),
    };
    json!({
        "name": p.config.name,
        "version": p.config.version,
        "source": source,
        "state": if deleted_at.is_some() { "deleted" } else { "active" },
        "deletedAt": deleted_at.map(rfc3339),
        "mode": mode,
        "format": p.format.name(),
        "signingScheme": p.scheme.as_str(),
        "timestamped": p.config.timestamp && state.service.tsa.is_some(),
        "crlUrl": crl,
        "ocspUrl": ocsp,
    })
}

async fn list_profiles(State(state): State<Arc<AppState>>) -> Response {
    let live = state.service.profiles();
    let mut profiles: Vec<_> = live.by_name.values().map(|p| profile_json(&state, p)).collect();
    // API-made profiles this replica could not open: named, not explained
    // (this list is public; the log says why).
    profiles.extend(
        live.unavailable
            .keys()
            .map(|name| json!({"name": name, "source": "api", "state": "unavailable"})),
    );
    Json(json!({"profiles": profiles})).into_response()
}

/// `GET /v1/profiles/{name}` (admin): the profile and, for one made
/// through the API, its stored definition (what a PUT sends back, changed).
async fn get_profile(
    _: Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let live = state.service.profiles();
    let mut answer = match live.by_name.get(&name) {
        Some(p) => profile_json(&state, p),
        None if live.unavailable.contains_key(&name) => {
            json!({"name": name, "source": "api", "state": "unavailable"})
        }
        None => return Err(ApiError::not_found(format!("no signing profile {name:?}"))),
    };
    if answer["source"] == "api"
        && let Some(row) = state.service.store.stored_profile(&name).await?
    {
        answer["version"] = json!(row.version);
        answer["definition"] = serde_json::from_str(&row.definition).unwrap_or(serde_json::Value::Null);
        answer["createdAt"] = json!(rfc3339(row.created_at));
        answer["updatedAt"] = json!(rfc3339(row.updated_at));
    }
    Ok(Json(answer).into_response())
}

/// `PUT /v1/profiles/{name}` (admin): 201 when created, 200 when replaced.
async fn put_profile(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    json_content_type(&headers)?;
    let put = state.service.put_profile(&caller.who, &name, &body).await?;
    let mut answer = profile_json(&state, &put.profile);
    answer["created"] = json!(put.created);
    answer["auditSeq"] = json!(put.audit_seq);
    let status = if put.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(answer)).into_response())
}

/// `DELETE /v1/profiles/{name}` (admin): API-made profiles only; it signs
/// nothing more, its CRL and OCSP keep answering.
async fn delete_profile(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let receipt = state.service.delete_profile(&caller.who, &name).await?;
    Ok(Json(json!({"deleted": name, "auditSeq": receipt.seq})).into_response())
}

fn pem_chain(chain: &[Vec<u8>]) -> String {
    chain.iter().map(|der| notary::x509::der_to_pem(der)).collect()
}

fn profile(state: &AppState, name: &str) -> Result<Arc<crate::service::Profile>, ApiError> {
    state
        .service
        .profiles()
        .by_name
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no signing profile {name:?}")))
}

async fn profile_certificates(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let p = profile(&state, &name)?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        pem_chain(p.chain()),
    )
        .into_response())
}

async fn tsa_certificates(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let tsa = state
        .service
        .tsa
        .as_ref()
        .ok_or_else(|| ApiError::not_found("no timestamp authority is configured"))?;
    Ok((
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        pem_chain(&tsa.issuer.chain),
    )
        .into_response())
}

fn issuer_of(p: &crate::service::Profile) -> Result<&pki::Issuer, ApiError> {
    match &p.kind {
        ProfileKind::PerJob { issuer, .. } => Ok(issuer),
        ProfileKind::Fixed { .. } => Err(ApiError::not_found(format!(
            "profile {:?} signs with a fixed certificate: it issues no certificates, so it has no CRL or OCSP responder",
            p.config.name
        ))),
    }
}

fn revoked_entry(serial_hex: &str, at: OffsetDateTime, reason: &str) -> Option<pki::RevokedCert> {
    Some(pki::RevokedCert {
        serial: hex::decode(serial_hex).ok()?,
        revoked_at: at,
        reason: reason_code(reason),
    })
}

/// A free-text reason is kept in the audit log; CRL and OCSP carry a code
/// when the text names one (`keyCompromise: …`), else none.
fn reason_code(reason: &str) -> Option<pki::Reason> {
    let code = reason.split([':', ' ']).next().unwrap_or("");
    code.parse().ok()
}

async fn profile_crl(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name = name.strip_suffix(".crl").unwrap_or(&name).to_owned();
    let p = profile(&state, &name)?;
    let issuer = issuer_of(&p)?;
    let revoked = state.service.store.revoked_certs(&name).await?;
    let entries: Vec<pki::RevokedCert> = revoked
        .iter()
        .filter_map(|r| revoked_entry(&r.serial_hex, r.revoked_at, &r.reason))
        .collect();
    let now = OffsetDateTime::now_utc();
    let (number, _) = state.service.store.head().await?;
    let next = now + time::Duration::seconds(REVOCATION_VALIDITY.as_secs() as i64);
    let crl = pki::crl(issuer, number.max(1), now, next, &entries)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-crl".to_owned()),
            (
                header::CACHE_CONTROL,
                format!("max-age={}", REVOCATION_VALIDITY.as_secs() / 2),
            ),
        ],
        crl,
    )
        .into_response())
}

async fn ocsp_post(State(state): State<Arc<AppState>>, Path(profile): Path<String>, body: Bytes) -> Response {
    ocsp(&state, &profile, &body).await
}

async fn ocsp_get(
    State(state): State<Arc<AppState>>,
    Path((profile, request)): Path<(String, String)>,
) -> Response {
    // RFC 6960 A.1: base64 of the DER request, URL-encoded, in the path
    // (axum has already percent-decoded it).
    let der = base64::engine::general_purpose::STANDARD
        .decode(request.as_bytes())
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(request.as_bytes()));
    match der {
        Ok(der) => ocsp(&state, &profile, &der).await,
        Err(_) => ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::MalformedRequest)),
    }
}

fn ocsp_reply(der: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/ocsp-response")], der).into_response()
}

async fn ocsp(state: &AppState, profile: &str, der: &[u8]) -> Response {
    let Some(p) = state.service.profiles().by_name.get(profile).cloned() else {
        return ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::Unauthorized));
    };
    let ProfileKind::PerJob { issuer, .. } = &p.kind else {
        return ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::Unauthorized));
    };
    let req = match pki::parse_ocsp_request(der) {
        Ok(r) => r,
        Err(e) => {
            info!("malformed OCSP request: {e}");
            return ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::MalformedRequest));
        }
    };
    let mut answers = Vec::new();
    for id in req.ids {
        if !issuer.issued(&id) {
            return ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::Unauthorized));
        }
        let status = match state
            .service
            .store
            .cert_status(profile, &hex::encode(&id.serial))
            .await
        {
            Ok(Some(crate::store::CertState::Good)) => pki::CertStatus::Good,
            Ok(Some(crate::store::CertState::Revoked { at, reason })) => pki::CertStatus::Revoked {
                at,
                reason: reason_code(&reason),
            },
            Ok(None) => pki::CertStatus::Unknown,
            Err(e) => {
                warn!("OCSP status lookup failed: {e}");
                return ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::TryLater));
            }
        };
        answers.push((id, status));
    }
    let now = OffsetDateTime::now_utc();
    let next = now + time::Duration::seconds(REVOCATION_VALIDITY.as_secs() as i64);
    match pki::ocsp_response(issuer, &answers, now, next, req.nonce.as_deref()) {
        Ok(der) => ocsp_reply(der),
        Err(e) => {
            warn!("OCSP response failed: {e}");
            ocsp_reply(pki::ocsp_error(pki::OcspErrorStatus::InternalError))
        }
    }
}

async fn timestamp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(tsa) = state.service.tsa.clone() else {
        return Err(ApiError::not_found("no timestamp authority is configured"));
    };
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
        && ct != "application/timestamp-query"
    {
        return Err(ApiError::new(
            415,
            "unsupported_media_type",
            format!("the body must be application/timestamp-query, not {ct}"),
        ));
    }
    let answer = match pki::parse_timestamp_request(&body) {
        Ok(req) => {
            let serial = pki::random_serial().map_err(|e| ApiError::internal(e.to_string()))?;
            tokio::task::spawn_blocking(move || {
                pki::timestamp_response(&tsa, &req, &serial, OffsetDateTime::now_utc())
            })
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
        }
        Err(e) => Err(e),
    };
    // RFC 3161: a request the TSA will not grant gets a TimeStampResp
    // with status rejection and the reason, not an HTTP error.
    let reply = match answer {
        Ok(reply) => reply,
        Err(e) => {
            info!("timestamp request rejected: {e}");
            pki::timestamp_rejection(e.tsa_failure().unwrap_or(pki::TsaFailure::SystemFailure))
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/timestamp-reply")], reply).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenBody {
    name: String,
    identity: String,
    #[serde(default)]
    expires_in: Option<String>,
}

async fn create_token(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = caller.who;
    let b: TokenBody = parse_json(&headers, &body)?;
    let expires_at = b
        .expires_in
        .as_deref()
        .map(|s| https::parse_duration(s).map_err(ApiError::bad_request))
        .transpose()?
        .map(|d| OffsetDateTime::now_utc() + time::Duration::seconds(d.as_secs() as i64));
    let (token, record) =
        crate::service::new_token(&b.name, &b.identity, expires_at).map_err(ApiError::bad_request)?;
    state
        .service
        .store
        .submit(Write::CreateToken {
            token: record,
            actor: who.display(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"name": b.name, "identity": b.identity, "token": token, "expiresAt": expires_at.map(rfc3339)})),
    )
        .into_response())
}

async fn revoke_token(
    Admin(caller): Admin,
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let who = caller.who;
    state
        .service
        .store
        .submit(Write::RevokeToken {
            name: name.clone(),
            actor: who.display(),
        })
        .await?;
    if let Ok(mut c) = state.tokens.lock() {
        c.clear();
    }
    Ok(Json(json!({"revoked": name})).into_response())
}

async fn list_tokens(_: Admin, State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let tokens: Vec<_> = state
        .service
        .store
        .tokens()
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "name": t.name,
                "identity": t.identity,
                "createdAt": rfc3339(t.created_at),
                "expiresAt": t.expires_at.map(rfc3339),
                "revokedAt": t.revoked_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({"tokens": tokens})).into_response())
}

async fn export_audit(_: Admin, State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let mut out = Vec::new();
    state.service.store.export_audit(&mut out).await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], out).into_response())
}

async fn whoami(caller: Caller, State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let who = caller.who;
    let admin = state.service.rules.authorize_admin(&who).is_ok();
    Ok(Json(json!({"identity": who.display(), "details": who, "admin": admin})).into_response())
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match state.service.store.head().await {
        Ok(_) => "ok".into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("database: {e}")).into_response(),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.service.metrics.encode(),
    )
        .into_response()
}
