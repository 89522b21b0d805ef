//! Prometheus metrics of the signing service (`/metrics`, `signet_signer_*`).

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Labels of request counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `signed`, `refused`, `invalid`, `error`.
    pub outcome: &'static str,
}

/// Labels of HTTP counters.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern.
    pub route: &'static str,
    /// The HTTP status.
    pub status: u16,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// Sign requests by outcome.
    pub signs: Family<OutcomeLabels, Counter>,
    /// Time from request to durable job, by outcome.
    pub sign_seconds: Family<OutcomeLabels, Histogram>,
    /// HTTP requests by route and status.
    pub requests: Family<RouteLabels, Counter>,
    /// Authentication failures.
    pub auth_failures: Counter,
    /// Audit checkpoints written.
    pub checkpoints: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, named `signet_signer_*`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("signet_signer");
        let signs = Family::<OutcomeLabels, Counter>::default();
        let sign_seconds = Family::<OutcomeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let requests = Family::<RouteLabels, Counter>::default();
        let auth_failures = Counter::default();
        let checkpoints = Counter::default();
        registry.register("signs", "Sign requests by outcome", signs.clone());
        registry.register(
            "sign_seconds",
            "Time from request to durable job, by outcome",
            sign_seconds.clone(),
        );
        registry.register("requests", "HTTP requests by route and status", requests.clone());
        registry.register(
            "auth_failures",
            "Requests refused at authentication",
            auth_failures.clone(),
        );
        registry.register(
            "checkpoints",
            "Signed audit checkpoints written",
            checkpoints.clone(),
        );
        Self {
            registry,
            signs,
            sign_seconds,
            requests,
            auth_failures,
            checkpoints,
        }
    }

    /// Counts one sign request.
    pub fn sign(&self, outcome: &'static str, took: Duration) {
        let labels = OutcomeLabels { outcome };
        self.signs.get_or_create(&labels).inc();
        self.sign_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
