//! The HTTPS server: routes, TLS (with optional client certificates),
//! reloading, graceful shutdown.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{error, info, warn};

use crate::{
    Error,
    config::Config,
    engine::Engine,
    gatekeeper::{self, Provider},
    metrics::{DecisionLabels, Metrics},
    review::{self, Endpoint},
};

/// The largest AdmissionReview accepted (an object and its old version).
pub const MAX_REVIEW_BODY: usize = 8 * 1024 * 1024;
/// The largest ProviderRequest accepted.
pub const MAX_PROVIDER_BODY: usize = 1024 * 1024;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(25);
/// Kept off the API server's `?timeout=` so the answer arrives in time.
const TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

struct AppState {
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    deadline: Duration,
    gatekeeper_deadline: Duration,
    client_auth: bool,
    shutting_down: AtomicBool,
}

/// Whether the connection presented a client certificate the configured CA issued.
#[derive(Clone, Copy)]
struct PeerCertificate(bool);

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    state: Arc<AppState>,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    certs: Arc<CertReloader>,
    reload_interval: Duration,
}

impl Server {
    /// Loads everything `config` names and binds the listening socket.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        let metrics = Arc::new(Metrics::new());
        let engine = Arc::new(Engine::new(&config.engine(), metrics.clone())?);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = Arc::new(CertReloader::load(
            &config.tls.cert_file,
            &config.tls.key_file,
            provider.clone(),
        )?);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &config.tls.client_ca_file {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certificates(ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut tls = builder.with_cert_resolver(certs.clone());
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::io("listen on", Path::new(&config.listen.to_string()), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("listen on", Path::new(&config.listen.to_string()), e))?;
        Ok(Self {
            local_addr,
            state: Arc::new(AppState {
                engine,
                metrics,
                deadline: config.deadline,
                gatekeeper_deadline: config.gatekeeper_deadline,
                client_auth: config.tls.client_ca_file.is_some(),
                shutting_down: AtomicBool::new(false),
            }),
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            certs,
            reload_interval: config.reload_interval,
        })
    }

    /// Serves until `shutdown` completes, then stops accepting, answers
    /// `/readyz` with 503 and lets in-flight requests finish (at most 25 s).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let app = router(self.state.clone());
        let reloader = tokio::spawn(reload_loop(
            self.state.clone(),
            self.certs.clone(),
            self.reload_interval,
        ));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    let app = app.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                info!(%peer, "TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                info!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let authenticated = tls.get_ref().1.peer_certificates().is_some_and(|c| !c.is_empty());
                        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(PeerCertificate(authenticated));
                            app.clone().oneshot(req)
                        });
                        let connection = builder.serve_connection(TokioIo::new(tls), service);
                        if let Err(e) = watcher.watch(connection.into_owned()).await {
                            info!(%peer, "connection ended: {e}");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        info!("shutting down: no new connections; finishing requests in flight");
        self.state.shutting_down.store(true, Ordering::SeqCst);
        drop(self.listener);
        reloader.abort();
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
            .await
            .is_err()
        {
            warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
        }
        Ok(())
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/validate",
            post(validate).layer(DefaultBodyLimit::max(MAX_REVIEW_BODY)),
        )
        .route(
            "/mutate",
            post(mutate).layer(DefaultBodyLimit::max(MAX_REVIEW_BODY)),
        )
        .route(
            "/gatekeeper/verify",
            post(gatekeeper_verify).layer(DefaultBodyLimit::max(MAX_PROVIDER_BODY)),
        )
        .route(
            "/gatekeeper/mutate",
            post(gatekeeper_mutate).layer(DefaultBodyLimit::max(MAX_PROVIDER_BODY)),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response()
    } else {
        "ok".into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct WebhookQuery {
    timeout: Option<String>,
}

async fn validate(
    State(state): State<Arc<AppState>>,
    Query(q): Query<WebhookQuery>,
    body: Bytes,
) -> Response {
    webhook(state, q, body, Endpoint::Validate).await
}

async fn mutate(State(state): State<Arc<AppState>>, Query(q): Query<WebhookQuery>, body: Bytes) -> Response {
    webhook(state, q, body, Endpoint::Mutate).await
}

async fn webhook(state: Arc<AppState>, q: WebhookQuery, body: Bytes, endpoint: Endpoint) -> Response {
    let started = Instant::now();
    let name = match endpoint {
        Endpoint::Validate => "validate",
        Endpoint::Mutate => "mutate",
    };
    let mut budget = state.deadline;
    if let Some(t) = q.timeout.as_deref().and_then(parse_go_duration) {
        budget = budget.min(t.saturating_sub(TIMEOUT_MARGIN).max(Duration::from_millis(100)));
    }
    let review: review::AdmissionReview = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            state.record(name, "error", started);
            return bad_request(format!("the body is not an AdmissionReview: {e}"));
        }
    };
    let (document, allowed) = review::answer(&state.engine, review, endpoint, started + budget).await;
    state.record(name, if allowed { "allowed" } else { "denied" }, started);
    json_response(&document)
}

async fn gatekeeper_verify(
    State(state): State<Arc<AppState>>,
    axum::Extension(peer): axum::Extension<PeerCertificate>,
    body: Bytes,
) -> Response {
    provider(state, peer, body, Provider::Verify).await
}

async fn gatekeeper_mutate(
    State(state): State<Arc<AppState>>,
    axum::Extension(peer): axum::Extension<PeerCertificate>,
    body: Bytes,
) -> Response {
    provider(state, peer, body, Provider::Mutate).await
}

async fn provider(state: Arc<AppState>, peer: PeerCertificate, body: Bytes, provider: Provider) -> Response {
    let started = Instant::now();
    let name = match provider {
        Provider::Verify => "gatekeeper_verify",
        Provider::Mutate => "gatekeeper_mutate",
    };
    if !state.client_auth {
        state.record(name, "error", started);
        return (
            StatusCode::FORBIDDEN,
            "the Gatekeeper provider needs tls.clientCAFile: Gatekeeper's client certificate is checked against it",
        )
            .into_response();
    }
    if !peer.0 {
        state.record(name, "error", started);
        return (
            StatusCode::FORBIDDEN,
            "a client certificate issued by tls.clientCAFile is required for /gatekeeper/*",
        )
            .into_response();
    }
    let request: gatekeeper::ProviderRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            state.record(name, "error", started);
            return json_response(&gatekeeper::system_error(&format!(
                "the body is not a ProviderRequest: {e}"
            )));
        }
    };
    let document = gatekeeper::answer(
        &state.engine,
        request,
        provider,
        started + state.gatekeeper_deadline,
    )
    .await;
    state.record(name, "allowed", started);
    json_response(&document)
}

impl AppState {
    fn record(&self, endpoint: &'static str, result: &'static str, started: Instant) {
        let labels = DecisionLabels { endpoint, result };
        self.metrics.decisions.get_or_create(&labels).inc();
        self.metrics
            .request_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
}

fn json_response(document: &Value) -> Response {
    match serde_json::to_vec(document) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, message).into_response()
}

/// Parses a Go duration as the API server writes it in `?timeout=`:
/// `10s`, `1m0s`, `500ms`, `1.5s`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest.get(..n)?.parse().ok()?;
        rest = rest.get(n..)?;
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest.get(..u)?;
        rest = rest.get(u..)?;
        total += value
            * match unit {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 1e-3,
                "us" | "µs" => 1e-6,
                "ns" => 1e-9,
                _ => return None,
            };
    }
    Duration::try_from_secs_f64(total).ok()
}

async fn reload_loop(state: Arc<AppState>, certs: Arc<CertReloader>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let engine = state.engine.clone();
        let certs = certs.clone();
        let result = tokio::task::spawn_blocking(move || (engine.reload(), certs.reload())).await;
        match result {
            Ok((policies, certificate)) => {
                if let Err(e) = policies {
                    state.metrics.reload_errors.inc();
                    error!("keeping the previous policies: {e}");
                }
                if let Err(e) = certificate {
                    state.metrics.reload_errors.inc();
                    error!("keeping the previous serving certificate: {e}");
                }
            }
            Err(e) => error!("reload task failed: {e}"),
        }
    }
}

/// The serving certificate, re-read when its files change (cert-manager
/// renewals land without a restart).
#[derive(Debug)]
struct CertReloader {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Vec<u8>, Arc<CertifiedKey>)>,
}

impl CertReloader {
    fn load(cert_file: &Path, key_file: &Path, provider: Arc<CryptoProvider>) -> Result<Self, Error> {
        let (stamp, key) = load_certified_key(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: RwLock::new((stamp, key)),
        })
    }

    fn reload(&self) -> Result<bool, Error> {
        let stamp = file_stamp(&self.cert_file, &self.key_file)?;
        if self.current.read().map(|c| c.0 == stamp).unwrap_or(false) {
            return Ok(false);
        }
        let (stamp, key) = load_certified_key(&self.cert_file, &self.key_file, &self.provider)?;
        if let Ok(mut c) = self.current.write() {
            *c = (stamp, key);
        }
        info!(cert = %self.cert_file.display(), "serving certificate reloaded");
        Ok(true)
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.1.clone())
    }
}

fn file_stamp(cert_file: &Path, key_file: &Path) -> Result<Vec<u8>, Error> {
    let mut stamp = std::fs::read(cert_file).map_err(|e| Error::io("read", cert_file, e))?;
    stamp.extend(std::fs::read(key_file).map_err(|e| Error::io("read", key_file, e))?);
    Ok(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &stamp)
        .as_ref()
        .to_vec())
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<(Vec<u8>, Arc<CertifiedKey>), Error> {
    let stamp = file_stamp(cert_file, key_file)?;
    let certs = read_certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| Error::Tls(format!("{}: {e}", key_file.display())))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::Tls(format!("{}: {e}", key_file.display())))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|e| {
        Error::Tls(format!(
            "{} does not belong to {}: {e}",
            key_file.display(),
            cert_file.display()
        ))
    })?;
    Ok((stamp, Arc::new(certified)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("ten"), None);
        assert_eq!(parse_go_duration("10"), None);
        assert_eq!(parse_go_duration(""), None);
    }
}
