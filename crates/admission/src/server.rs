//! The HTTPS server: routes, TLS (with optional client certificates),
//! reloading, graceful shutdown.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{
        Arc,
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
use https::{Certificates, PeerCertificates, TlsFiles};
use serde::Deserialize;
use serde_json::Value;
use tracing::error;

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

/// A running server.
pub struct Server {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    state: Arc<AppState>,
    listener: https::Listener,
    reload_interval: Duration,
}

impl Server {
    /// Loads everything `config` names and binds the listening socket.
    pub async fn bind(config: &Config) -> Result<Self, Error> {
        let metrics = Arc::new(Metrics::new());
        let engine = Arc::new(Engine::new(&config.engine(), metrics.clone())?);
        let tls = TlsFiles {
            cert_file: config.tls.cert_file.clone(),
            key_file: config.tls.key_file.clone(),
            client_ca_file: config.tls.client_ca_file.clone(),
        };
        let listener = https::Listener::bind(config.listen, &tls).await?;
        Ok(Self {
            local_addr: listener.local_addr,
            state: Arc::new(AppState {
                engine,
                metrics,
                deadline: config.deadline,
                gatekeeper_deadline: config.gatekeeper_deadline,
                client_auth: config.tls.client_ca_file.is_some(),
                shutting_down: AtomicBool::new(false),
            }),
            listener,
            reload_interval: config.reload_interval,
        })
    }

    /// Serves until `shutdown` completes, then stops accepting, answers
    /// `/readyz` with 503 and lets in-flight requests finish (at most 25 s).
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let app = router(self.state.clone());
        let reloader = tokio::spawn(reload_loop(
            self.state.clone(),
            self.listener.certificates(),
            self.reload_interval,
        ));
        let state = self.state.clone();
        self.listener
            .serve(
                app,
                shutdown,
                move || state.shutting_down.store(true, Ordering::SeqCst),
                DRAIN_TIMEOUT,
            )
            .await;
        reloader.abort();
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
    axum::Extension(peer): axum::Extension<PeerCertificates>,
    body: Bytes,
) -> Response {
    provider(state, peer, body, Provider::Verify).await
}

async fn gatekeeper_mutate(
    State(state): State<Arc<AppState>>,
    axum::Extension(peer): axum::Extension<PeerCertificates>,
    body: Bytes,
) -> Response {
    provider(state, peer, body, Provider::Mutate).await
}

async fn provider(state: Arc<AppState>, peer: PeerCertificates, body: Bytes, provider: Provider) -> Response {
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
    if !peer.authenticated() {
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

async fn reload_loop(state: Arc<AppState>, certs: Certificates, every: Duration) {
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
