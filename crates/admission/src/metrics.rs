//! Prometheus metrics, served at `/metrics`.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Labels of a decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `validate`, `mutate`, `gatekeeper_verify`, `gatekeeper_mutate`.
    pub endpoint: &'static str,
    /// `allowed`, `denied`, `error`.
    pub result: &'static str,
}

/// Every metric the server keeps.
pub struct Metrics {
    registry: Registry,
    /// Requests answered, by endpoint and result.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Verifications run (cache misses that reached a registry).
    pub verifications: Counter,
    /// Tag or digest resolutions run.
    pub resolutions: Counter,
    /// Verification results served from the cache.
    pub cache_hits: Counter,
    /// Checks that ran out of time.
    pub deadline_exceeded: Counter,
    /// Failed reloads of policies, trust stores or the revocation list.
    pub reload_errors: Counter,
    /// How long a verification took.
    pub verify_seconds: Histogram,
    /// How long a request took, by endpoint.
    pub request_seconds: Family<DecisionLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The prefix of the admission server's metrics.
pub const ADMISSION_PREFIX: &str = "signet_admission";

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ]
    .into_iter()
}

impl Metrics {
    /// Registers every metric, named `signet_admission_*`.
    pub fn new() -> Self {
        Self::with_prefix(ADMISSION_PREFIX)
    }

    /// Registers every metric, named `<prefix>_*` (the node agent uses `signet_node`).
    pub fn with_prefix(prefix: &str) -> Self {
        let mut registry = Registry::with_prefix(prefix);
        let decisions = Family::<DecisionLabels, Counter>::default();
        let verifications = Counter::default();
        let resolutions = Counter::default();
        let cache_hits = Counter::default();
        let deadline_exceeded = Counter::default();
        let reload_errors = Counter::default();
        let verify_seconds = Histogram::new(latency_buckets());
        let request_seconds =
            Family::<DecisionLabels, Histogram>::new_with_constructor(|| Histogram::new(latency_buckets()));
        registry.register(
            "decisions",
            "Requests answered, by endpoint and result",
            decisions.clone(),
        );
        registry.register(
            "verifications",
            "Signature verifications run against a registry (cache misses)",
            verifications.clone(),
        );
        registry.register(
            "resolutions",
            "Tag or digest lookups run against a registry",
            resolutions.clone(),
        );
        registry.register(
            "cache_hits",
            "Verification results served from the cache",
            cache_hits.clone(),
        );
        registry.register(
            "deadline_exceeded",
            "Image checks that did not finish before the request deadline",
            deadline_exceeded.clone(),
        );
        registry.register(
            "reload_errors",
            "Failed reloads of policies, trust stores or the revocation list",
            reload_errors.clone(),
        );
        registry.register(
            "verify_seconds",
            "Time a verification took",
            verify_seconds.clone(),
        );
        registry.register("request_seconds", "Time a request took", request_seconds.clone());
        Self {
            registry,
            decisions,
            verifications,
            resolutions,
            cache_hits,
            deadline_exceeded,
            reload_errors,
            verify_seconds,
            request_seconds,
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String does not fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
