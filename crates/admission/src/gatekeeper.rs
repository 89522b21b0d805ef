//! Gatekeeper external data: `externaldata.gatekeeper.sh/v1beta1`
//! ProviderRequest → ProviderResponse, one item per key.
//!
//! `/gatekeeper/verify` answers each image with a Ratify-compatible
//! verification result (`isSuccess`, `verifierReports`), so Ratify's
//! ConstraintTemplates work unchanged; `/gatekeeper/mutate` answers each
//! image with its digest-pinned form. A key may carry its namespace as
//! `[namespace]image` (Ratify's multi-tenancy form).

use std::{sync::Arc, time::Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::engine::{Effect, Engine, ImageCheck, Outcome};

/// The API version Gatekeeper speaks.
pub const API_VERSION: &str = "externaldata.gatekeeper.sh/v1beta1";
/// The most keys in one request.
pub const MAX_KEYS: usize = 1000;
/// The Ratify result version with the same shape.
const RATIFY_RESULT_VERSION: &str = "0.2.0";

/// A ProviderRequest.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRequest {
    /// Must be [`API_VERSION`].
    #[serde(default)]
    pub api_version: String,
    /// Must be `ProviderRequest`.
    #[serde(default)]
    pub kind: String,
    /// The keys.
    pub request: KeysRequest,
}

/// `request` of a ProviderRequest.
#[derive(Debug, Deserialize)]
pub struct KeysRequest {
    /// Image references, possibly `[namespace]`-prefixed.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// Which provider endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Verification results.
    Verify,
    /// Digest-pinned images.
    Mutate,
}

/// Splits `[namespace]image`.
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    if let Some(rest) = key.strip_prefix('[')
        && let Some((ns, image)) = rest.split_once(']')
    {
        return ((!ns.is_empty()).then_some(ns), image);
    }
    (None, key)
}

/// A response with only a system error.
pub fn system_error(message: &str) -> Value {
    json!({ "apiVersion": API_VERSION, "kind": "ProviderResponse", "response": { "systemError": message } })
}

/// Answers `request` by `deadline`.
pub async fn answer(
    engine: &Arc<Engine>,
    request: ProviderRequest,
    provider: Provider,
    deadline: Instant,
) -> Value {
    if request.api_version != API_VERSION || request.kind != "ProviderRequest" {
        return system_error(&format!(
            "unsupported request {}/{}: signet answers {API_VERSION} ProviderRequest",
            request.api_version, request.kind
        ));
    }
    let keys = request.request.keys;
    if keys.len() > MAX_KEYS {
        return system_error(&format!(
            "{} keys in one request; the most is {MAX_KEYS}",
            keys.len()
        ));
    }
    let checks = futures_util::future::join_all(keys.iter().map(|key| {
        let (namespace, image) = split_key(key);
        engine.check(image, namespace, deadline)
    }))
    .await;
    let items: Vec<Value> = keys
        .iter()
        .zip(checks)
        .map(|(key, check)| match provider {
            Provider::Verify => verify_item(key, &check),
            Provider::Mutate => mutate_item(key, &check),
        })
        .collect();
    json!({
        "apiVersion": API_VERSION,
        "kind": "ProviderResponse",
        // Verification results change (revocation, re-signing); pinning a
        // tag to a digest is idempotent, as Gatekeeper requires for mutation.
        "response": { "idempotent": provider == Provider::Mutate, "items": items }
    })
}

fn verify_item(key: &str, check: &ImageCheck) -> Value {
    let effect = check.effect();
    if let (Outcome::Unavailable(reason, _), Effect::Deny(_)) = (&check.outcome, &effect) {
        // Could not verify at all, and the policy fails closed: a per-key error.
        return json!({ "key": key, "error": format!("{}: {reason}", check.image) });
    }
    let subject = match &check.digest {
        Some(d) if !check.image.contains('@') => format!("{}@{d}", check.image),
        _ => check.image.clone(),
    };
    let (verified, message, signature, extensions) = match &check.outcome {
        Outcome::Verified(v) => (
            true,
            "signature verification success".to_owned(),
            Some(v.signature.clone()),
            json!({ "Issuer": v.issuer, "SN": v.subject, "trustPolicy": v.trust_policy, "signingTime": v.signing_time, "logged": v.logged }),
        ),
        Outcome::Exempt(r) => (false, format!("not verified: {r}"), None, json!({})),
        Outcome::Failed(r) | Outcome::Unavailable(r, _) => (false, r.clone(), None, json!({})),
    };
    let success = !matches!(effect, Effect::Deny(_));
    let mut extensions = extensions;
    extensions["policy"] = json!(check.policy);
    extensions["mode"] = json!(check.mode.as_str());
    extensions["verified"] = json!(verified);
    if let Effect::Warn(m) | Effect::Audit(m) = &effect {
        extensions["admittedBecause"] = json!(m);
    }
    let report = json!({
        "subject": subject,
        "isSuccess": success,
        "name": "signet",
        "verifierName": "signet",
        "type": "notation",
        "verifierType": "notation",
        "referenceDigest": signature,
        "artifactType": oci::manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE,
        "message": message,
        "extensions": extensions,
    });
    let timestamp = OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default();
    json!({
        "key": key,
        "value": {
            "version": RATIFY_RESULT_VERSION,
            "isSuccess": success,
            "timestamp": timestamp,
            "verifierReports": [report],
        }
    })
}

fn mutate_item(key: &str, check: &ImageCheck) -> Value {
    match (&check.outcome, &check.pinned) {
        (Outcome::Verified(_), Some(pinned)) => json!({ "key": key, "value": pinned }),
        // Already a digest, or the policy does not pin: unchanged.
        (Outcome::Verified(_) | Outcome::Exempt(_), _) => json!({ "key": key, "value": check.image }),
        (Outcome::Failed(r) | Outcome::Unavailable(r, _), _) => {
            json!({ "key": key, "error": format!("{}: not pinned: {r}", check.image) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_keys() {
        assert_eq!(split_key("[team-a]ghcr.io/a:1"), (Some("team-a"), "ghcr.io/a:1"));
        assert_eq!(split_key("ghcr.io/a:1"), (None, "ghcr.io/a:1"));
        assert_eq!(split_key("[]ghcr.io/a:1"), (None, "ghcr.io/a:1"));
        assert_eq!(split_key("[unclosed"), (None, "[unclosed"));
    }
}
