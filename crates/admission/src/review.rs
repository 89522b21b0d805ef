//! `admission.k8s.io/v1` AdmissionReview: which images an object runs, and
//! the answer (allowed, status, warnings, audit annotations, JSONPatch).
//!
//! Workload kinds are checked themselves (their pod template), so a refusal
//! shows at `kubectl apply` rather than in a ReplicaSet's events.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::info;

use crate::engine::{Effect, Engine, ImageCheck, Outcome};

/// The API version of AdmissionReview.
pub const API_VERSION: &str = "admission.k8s.io/v1";
/// Container lists of a pod spec.
pub const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
/// The most images checked in one object.
const MAX_IMAGES: usize = 256;

/// The incoming review.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// Must be `admission.k8s.io/v1`.
    pub api_version: String,
    /// Must be `AdmissionReview`.
    pub kind: String,
    /// The request.
    pub request: Option<AdmissionRequest>,
}

/// `request` of an AdmissionReview.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// The kind of the object.
    pub kind: GroupVersionKind,
    /// The subresource, e.g. `ephemeralcontainers`.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// The object's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The object's name (may be empty on CREATE with generateName).
    #[serde(default)]
    pub name: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: String,
    /// The object as it will be.
    #[serde(default)]
    pub object: Option<Value>,
    /// The object as it was (UPDATE).
    #[serde(default)]
    pub old_object: Option<Value>,
    /// A dry run: nothing may be persisted (signet persists nothing either way).
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `group`, `version`, `kind`.
#[derive(Debug, Deserialize)]
pub struct GroupVersionKind {
    /// API group (empty for the core group).
    #[serde(default)]
    pub group: String,
    /// Version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// Where the pod spec of `kind` lives, as a JSON pointer.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" => {
            "/spec/template/spec"
        }
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// One container image in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    /// JSON pointer to the `image` field.
    pub pointer: String,
    /// `containers[0] "app"`, for messages.
    pub label: String,
    /// The image reference.
    pub image: String,
}

/// The images `request` asks to run. For the `ephemeralcontainers`
/// subresource only ephemeral containers added by this request count.
pub fn images(request: &AdmissionRequest) -> Result<Vec<ContainerImage>, String> {
    let Some(base) = pod_spec_pointer(&request.kind.kind) else {
        return Ok(Vec::new());
    };
    let Some(object) = &request.object else {
        return Err("the request has no object".into());
    };
    let Some(spec) = object.pointer(base) else {
        return Ok(Vec::new());
    };
    let ephemeral_only = request.sub_resource.as_deref() == Some("ephemeralcontainers");
    let known_ephemeral: Vec<&str> = if ephemeral_only {
        request
            .old_object
            .as_ref()
            .and_then(|o| o.pointer(&format!("{base}/ephemeralContainers")))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for list in CONTAINER_LISTS {
        if ephemeral_only && list != "ephemeralContainers" {
            continue;
        }
        let Some(containers) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        for (i, c) in containers.iter().enumerate() {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            if ephemeral_only && known_ephemeral.contains(&name) {
                continue;
            }
            let Some(image) = c.get("image").and_then(Value::as_str) else {
                return Err(format!("{list}[{i}] {name:?} has no image"));
            };
            out.push(ContainerImage {
                pointer: format!("{base}/{list}/{i}/image"),
                label: format!("{list}[{i}] {name:?}"),
                image: image.to_owned(),
            });
            if out.len() > MAX_IMAGES {
                return Err(format!(
                    "the object names more than {MAX_IMAGES} container images"
                ));
            }
        }
    }
    Ok(out)
}

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/validate`: no patch.
    Validate,
    /// `/mutate`: the same decision, plus a JSONPatch pinning verified tags.
    Mutate,
}

/// Answers `review` by `deadline`. Returns the response document and whether
/// the object was allowed.
pub async fn answer(
    engine: &Arc<Engine>,
    review: AdmissionReview,
    endpoint: Endpoint,
    deadline: Instant,
) -> (Value, bool) {
    let Some(request) = review.request else {
        return (json!({"error": "the AdmissionReview has no request"}), false);
    };
    let uid = request.uid.clone();
    if review.api_version != API_VERSION || review.kind != "AdmissionReview" {
        let message = format!(
            "unsupported review {}/{}: signet answers {API_VERSION} AdmissionReview",
            review.api_version, review.kind
        );
        return (respond(&uid, deny(400, &message)), false);
    }
    if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") {
        return (respond(&uid, json!({ "allowed": true })), true);
    }
    let containers = match images(&request) {
        Ok(c) => c,
        Err(message) => return (respond(&uid, deny(400, &format!("signet: {message}"))), false),
    };
    let namespace = request.namespace.as_deref().filter(|n| !n.is_empty());
    let checks = check_all(
        engine,
        containers.iter().map(|c| c.image.clone()),
        namespace,
        deadline,
    )
    .await;
    let mut denials = Vec::new();
    let mut warnings = Vec::new();
    let mut audit = Vec::new();
    let mut patch = Vec::new();
    for c in &containers {
        let Some(check) = checks.get(&c.image) else {
            continue;
        };
        match check.effect() {
            Effect::Allow => {}
            Effect::Deny(m) => denials.push(format!("{}: {m}", c.label)),
            Effect::Warn(m) => warnings.push(format!("signet: {}: {m}", c.label)),
            Effect::Audit(m) => audit.push(format!("{}: {m}", c.label)),
        }
        if let (Endpoint::Mutate, Some(pinned)) = (endpoint, &check.pinned) {
            patch.push(json!({ "op": "replace", "path": c.pointer, "value": pinned }));
        }
    }
    let allowed = denials.is_empty();
    let summary: Vec<Value> = checks.values().map(check_summary).collect();
    info!(
        uid = %uid,
        kind = %request.kind.kind,
        namespace = namespace.unwrap_or_default(),
        name = request.name.as_deref().unwrap_or_default(),
        operation = %request.operation,
        dry_run = request.dry_run.unwrap_or(false),
        allowed,
        images = %serde_json::to_string(&summary).unwrap_or_default(),
        "admission decision"
    );
    let mut response = if allowed {
        json!({ "allowed": true })
    } else {
        deny(403, &format!("signet: {}", denials.join("; ")))
    };
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "images".into(),
        Value::String(serde_json::to_string(&summary).unwrap_or_default()),
    );
    if !audit.is_empty() {
        annotations.insert("audit-failures".into(), Value::String(audit.join("; ")));
    }
    response["auditAnnotations"] = Value::Object(annotations);
    if allowed && !patch.is_empty() {
        response["patchType"] = json!("JSONPatch");
        let bytes = serde_json::to_vec(&patch).unwrap_or_default();
        response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    (respond(&uid, response), allowed)
}

/// Checks every distinct image concurrently.
pub async fn check_all(
    engine: &Arc<Engine>,
    images: impl Iterator<Item = String>,
    namespace: Option<&str>,
    deadline: Instant,
) -> BTreeMap<String, ImageCheck> {
    // Checked concurrently on this task: no spawn, no hop to another worker
    // on the (usual) all-cached path.
    let mut unique = Vec::new();
    for image in images {
        if !unique.contains(&image) {
            unique.push(image);
        }
    }
    let checks = futures_util::future::join_all(
        unique
            .iter()
            .map(|image| engine.check(image, namespace, deadline)),
    )
    .await;
    checks.into_iter().map(|c| (c.image.clone(), c)).collect()
}

fn check_summary(c: &ImageCheck) -> Value {
    let (result, detail) = match &c.outcome {
        Outcome::Verified(v) => ("verified", v.subject.clone().unwrap_or_default()),
        Outcome::Exempt(r) => ("exempt", r.clone()),
        Outcome::Failed(r) => ("failed", r.clone()),
        Outcome::Unavailable(r, _) => ("unavailable", r.clone()),
    };
    json!({ "image": c.image, "digest": c.digest, "policy": c.policy, "mode": c.mode.as_str(), "result": result, "detail": detail })
}

fn deny(code: u16, message: &str) -> Value {
    let reason = if code == 403 { "Forbidden" } else { "BadRequest" };
    json!({
        "allowed": false,
        "status": { "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code }
    })
}

fn respond(uid: &str, mut response: Value) -> Value {
    response["uid"] = json!(uid);
    json!({ "apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, object: Value, sub: Option<&str>, old: Option<Value>) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "u", "kind": {"group": "", "version": "v1", "kind": kind},
            "subResource": sub, "namespace": "ns", "operation": "UPDATE",
            "object": object, "oldObject": old
        }))
        .unwrap()
    }

    #[test]
    fn every_container_list_of_every_kind() {
        let spec = json!({"containers": [{"name": "a", "image": "x/a:1"}], "initContainers": [{"name": "i", "image": "x/i:1"}], "ephemeralContainers": [{"name": "e", "image": "x/e:1"}]});
        for (kind, object) in [
            ("Pod", json!({ "spec": spec })),
            ("Deployment", json!({ "spec": { "template": { "spec": spec } } })),
            (
                "CronJob",
                json!({ "spec": { "jobTemplate": { "spec": { "template": { "spec": spec } } } } }),
            ),
        ] {
            let got = images(&request(kind, object, None, None)).unwrap();
            let pointers: Vec<_> = got.iter().map(|c| c.pointer.as_str()).collect();
            let base = pod_spec_pointer(kind).unwrap();
            assert_eq!(
                pointers,
                [
                    format!("{base}/containers/0/image"),
                    format!("{base}/initContainers/0/image"),
                    format!("{base}/ephemeralContainers/0/image")
                ],
                "{kind}"
            );
        }
        assert!(
            images(&request("ConfigMap", json!({}), None, None))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_ephemeral_subresource_checks_only_added_containers() {
        let old = json!({"spec": {"containers": [{"name": "a", "image": "x/a"}], "ephemeralContainers": [{"name": "e1", "image": "x/old"}]}});
        let new = json!({"spec": {"containers": [{"name": "a", "image": "x/a"}], "ephemeralContainers": [{"name": "e1", "image": "x/old"}, {"name": "e2", "image": "x/debug"}]}});
        let got = images(&request("Pod", new, Some("ephemeralcontainers"), Some(old))).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].image, "x/debug");
        assert_eq!(got[0].pointer, "/spec/ephemeralContainers/1/image");
    }

    #[test]
    fn a_container_without_image_is_an_error() {
        let e = images(&request(
            "Pod",
            json!({"spec": {"containers": [{"name": "a"}]}}),
            None,
            None,
        ))
        .unwrap_err();
        assert!(e.contains("containers[0] \"a\" has no image"), "{e}");
    }
}
