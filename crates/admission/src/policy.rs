//! `ClusterImagePolicy` and `ImagePolicy` documents: which images must be
//! signed by whom, and what happens when they are not.
//!
//! ```yaml
//! apiVersion: signet.dev/v1alpha1
//! kind: ClusterImagePolicy        # or ImagePolicy, with metadata.namespace
//! metadata: { name: production }
//! spec:
//!   images: ["registry.example.com/prod/**"]
//!   mode: enforce                 # enforce | warn | audit
//!   mutateToDigest: true
//!   failurePolicy: Fail           # Fail | Ignore (verification could not finish)
//!   verification:                 # a Notary Project trust policy statement
//!     signatureVerification: { level: strict }
//!     trustStores: ["ca:production"]
//!     trustedIdentities: ["*"]
//!   exemptions: { namespaces: [sandbox], images: ["registry.example.com/prod/debug-*"] }
//! ```
//!
//! Selection: an `ImagePolicy` of the object's namespace wins over every
//! `ClusterImagePolicy`; among those of one kind the most specific image
//! pattern wins ([`Glob::specificity`]), then the name in alphabetical order.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use notary::policy::TrustPolicyDocument;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Error, glob::Glob};

/// The API version of policy documents.
pub const API_VERSION: &str = "signet.dev/v1alpha1";
/// The largest policy file read.
const MAX_POLICY_FILE: u64 = 1024 * 1024;
/// The most policy documents in a directory.
const MAX_POLICIES: usize = 1000;

/// What happens when an image fails verification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse the object.
    #[default]
    Enforce,
    /// Admit it with a warning shown to the user.
    Warn,
    /// Admit it silently; the failure is only logged and annotated.
    Audit,
}

impl Mode {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Warn => "warn",
            Self::Audit => "audit",
        }
    }
}

/// What happens when verification cannot finish (registry down, deadline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum FailurePolicy {
    /// Treat it as a failed verification (fail closed).
    #[default]
    Fail,
    /// Admit the image with a warning (fail open).
    Ignore,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Document {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    images: Vec<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default = "yes")]
    mutate_to_digest: bool,
    #[serde(default)]
    failure_policy: FailurePolicy,
    verification: Value,
    #[serde(default)]
    exemptions: Exemptions,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exemptions {
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    images: Vec<String>,
}

/// One policy, checked and ready to use.
#[derive(Debug)]
pub struct Policy {
    /// `ClusterImagePolicy/<name>` or `ImagePolicy/<namespace>/<name>`.
    pub id: String,
    /// `metadata.name`.
    pub name: String,
    /// The namespace of an `ImagePolicy`; `None` for a cluster policy.
    pub namespace: Option<String>,
    /// Image patterns.
    pub images: Vec<Glob>,
    /// Enforce, warn or audit.
    pub mode: Mode,
    /// Whether verified tags are pinned to their digest by `/mutate`.
    pub mutate_to_digest: bool,
    /// Fail closed or open when verification cannot finish.
    pub failure_policy: FailurePolicy,
    /// The trust policy: one statement, scope `*`.
    pub trust_policy: TrustPolicyDocument,
    /// Namespaces this policy does not apply to.
    pub exempt_namespaces: BTreeSet<String>,
    /// Images this policy does not apply to.
    pub exempt_images: Vec<Glob>,
}

impl Policy {
    fn best_match(&self, name: &str) -> Option<usize> {
        self.images
            .iter()
            .filter(|g| g.matches(name))
            .map(Glob::specificity)
            .max()
    }

    /// Whether `name` is exempt under this policy in `namespace`.
    pub fn exempts(&self, namespace: Option<&str>, name: &str) -> Option<String> {
        if let Some(ns) = namespace.filter(|ns| self.exempt_namespaces.contains(*ns)) {
            return Some(format!("namespace {ns} is exempt from policy {}", self.id));
        }
        self.exempt_images
            .iter()
            .find(|g| g.matches(name))
            .map(|g| format!("image pattern {} is exempt from policy {}", g.as_str(), self.id))
    }
}

/// Every policy of the directory, with a version that changes whenever any
/// file does.
#[derive(Debug, Default)]
pub struct PolicySet {
    policies: Vec<std::sync::Arc<Policy>>,
    /// SHA-256 over the files' names and contents.
    pub version: String,
}

impl PolicySet {
    /// Reads every `*.yaml`, `*.yml` and `*.json` file of `dir` (hidden
    /// entries, such as a ConfigMap volume's `..data`, are skipped). Any
    /// invalid document makes the whole set invalid.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the policy directory", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read the policy directory", dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.')
                || !(name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
            {
                continue;
            }
            if !path.is_file() {
                continue;
            }
            files.insert(name, crate::read_bounded(&path, MAX_POLICY_FILE)?);
        }
        Self::from_files(dir, &files)
    }

    /// Builds the set from `(file name, contents)` pairs.
    pub fn from_files(dir: &Path, files: &BTreeMap<String, String>) -> Result<Self, Error> {
        let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut policies: Vec<std::sync::Arc<Policy>> = Vec::new();
        let mut ids = BTreeSet::new();
        for (name, text) in files {
            hash.update(name.as_bytes());
            hash.update(&[0]);
            hash.update(text.as_bytes());
            hash.update(&[0]);
            let path = dir.join(name);
            let invalid = |message: String| Error::Policy {
                path: path.clone(),
                message,
            };
            let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| invalid(e.to_string()))?;
            for doc in docs.into_iter().filter(|d| !d.is_null()) {
                let policy = parse_policy(doc).map_err(&invalid)?;
                if !ids.insert(policy.id.clone()) {
                    return Err(invalid(format!("{} is defined twice", policy.id)));
                }
                policies.push(std::sync::Arc::new(policy));
                if policies.len() > MAX_POLICIES {
                    return Err(invalid(format!("more than {MAX_POLICIES} policies")));
                }
            }
        }
        Ok(Self {
            policies,
            version: hex::encode(hash.finish().as_ref()),
        })
    }

    /// How many policies there are.
    pub fn len(&self) -> usize {
        self.policies.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// The policy for the image `name` (`registry/repository`) in `namespace`.
    pub fn select(&self, namespace: Option<&str>, name: &str) -> Option<&std::sync::Arc<Policy>> {
        let best = |namespaced: bool| {
            self.policies
                .iter()
                .filter(|p| match (&p.namespace, namespace) {
                    (Some(pn), Some(ns)) => namespaced && pn == ns,
                    (None, _) => !namespaced,
                    (Some(_), None) => false,
                })
                .filter_map(|p| p.best_match(name).map(|s| (s, p)))
                // Highest specificity first; among equals the first name.
                .max_by(|(a, pa), (b, pb)| a.cmp(b).then_with(|| pb.name.cmp(&pa.name)))
                .map(|(_, p)| p)
        };
        best(true).or_else(|| best(false))
    }
}

fn parse_policy(doc: Value) -> Result<Policy, String> {
    let doc: Document = serde_json::from_value(doc).map_err(|e| e.to_string())?;
    if doc.api_version != API_VERSION {
        return Err(format!(
            "apiVersion {:?} is not supported: use {API_VERSION}",
            doc.api_version
        ));
    }
    let name = doc.metadata.name;
    if name.is_empty() {
        return Err("metadata.name is empty".into());
    }
    let (id, namespace) = match doc.kind.as_str() {
        "ClusterImagePolicy" => {
            if doc.metadata.namespace.is_some() {
                return Err(format!(
                    "ClusterImagePolicy {name}: a cluster policy has no namespace"
                ));
            }
            (format!("ClusterImagePolicy/{name}"), None)
        }
        "ImagePolicy" => {
            let Some(ns) = doc.metadata.namespace.filter(|n| !n.is_empty()) else {
                return Err(format!("ImagePolicy {name}: metadata.namespace is required"));
            };
            (format!("ImagePolicy/{ns}/{name}"), Some(ns))
        }
        other => {
            return Err(format!(
                "kind {other:?} is not a policy: use ClusterImagePolicy or ImagePolicy"
            ));
        }
    };
    let spec = doc.spec;
    if spec.images.is_empty() {
        return Err(format!("{id}: spec.images is empty"));
    }
    let images = spec
        .images
        .iter()
        .map(|p| Glob::new(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{id}: {e}"))?;
    let exempt_images = spec
        .exemptions
        .images
        .iter()
        .map(|p| Glob::new(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{id}: {e}"))?;
    let Value::Object(mut statement) = spec.verification else {
        return Err(format!(
            "{id}: spec.verification must be a trust policy statement (an object)"
        ));
    };
    for key in ["name", "registryScopes"] {
        if statement.contains_key(key) {
            return Err(format!(
                "{id}: spec.verification.{key} is set by the policy itself; leave it out"
            ));
        }
    }
    statement.insert("name".into(), Value::String(name.clone()));
    statement.insert("registryScopes".into(), json!(["*"]));
    let document = json!({ "version": "1.0", "trustPolicies": [statement] });
    let bytes = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
    let trust_policy =
        TrustPolicyDocument::from_json(&bytes).map_err(|e| format!("{id}: spec.verification: {e}"))?;
    Ok(Policy {
        id,
        name,
        namespace,
        images,
        mode: spec.mode,
        mutate_to_digest: spec.mutate_to_digest,
        failure_policy: spec.failure_policy,
        trust_policy,
        exempt_namespaces: spec.exemptions.namespaces.into_iter().collect(),
        exempt_images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFY: &str = "verification: {signatureVerification: {level: strict}, trustStores: ['ca:prod'], trustedIdentities: ['*']}";

    fn set(files: &[(&str, &str)]) -> Result<PolicySet, Error> {
        let files = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        PolicySet::from_files(Path::new("/policies"), &files)
    }

    fn cluster(name: &str, images: &str) -> String {
        format!(
            "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: {name}}}\nspec:\n  images: {images}\n  {VERIFY}\n"
        )
    }

    #[test]
    fn most_specific_wins_and_namespace_policies_come_first() {
        let ns = format!(
            "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {{name: team, namespace: team-a}}\nspec:\n  images: ['**']\n  mode: warn\n  {VERIFY}\n"
        );
        let s = set(&[
            (
                "a.yaml",
                &format!(
                    "{}---\n{}",
                    cluster("wide", "['ghcr.io/**']"),
                    cluster("narrow", "['ghcr.io/acme/*']")
                ),
            ),
            ("b.json", &ns),
        ])
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.select(None, "ghcr.io/acme/app").unwrap().name, "narrow");
        assert_eq!(s.select(Some("other"), "ghcr.io/x/y").unwrap().name, "wide");
        assert_eq!(s.select(Some("team-a"), "ghcr.io/acme/app").unwrap().name, "team");
        assert!(s.select(None, "docker.io/library/nginx").is_none());
        assert_eq!(
            s.select(Some("team-a"), "docker.io/library/nginx").unwrap().mode,
            Mode::Warn
        );
    }

    #[test]
    fn version_follows_content() {
        let a = set(&[("a.yaml", &cluster("p", "['**']"))]).unwrap();
        let b = set(&[("a.yaml", &cluster("p", "['ghcr.io/**']"))]).unwrap();
        let c = set(&[("a.yaml", &cluster("p", "['**']"))]).unwrap();
        assert_ne!(a.version, b.version);
        assert_eq!(a.version, c.version);
    }

    #[test]
    fn invalid_documents_are_refused_with_the_reason() {
        let cases = [
            (cluster("p", "[]"), "spec.images is empty"),
            (cluster("p", "['a@sha256:00']"), "leave out tags and digests"),
            (cluster("p", "['**']").replace("v1alpha1", "v1"), "apiVersion"),
            (
                cluster("p", "['**']").replace("ClusterImagePolicy", "Pod"),
                "is not a policy",
            ),
            (
                cluster("p", "['**']").replace("ClusterImagePolicy", "ImagePolicy"),
                "metadata.namespace is required",
            ),
            (
                cluster("p", "['**']").replace("level: strict", "level: strictest"),
                "spec.verification",
            ),
            (
                cluster("p", "['**']").replace("trustStores: ['ca:prod'], ", ""),
                "spec.verification",
            ),
            (
                cluster("p", "['**']")
                    .replace("mode:", "mood:")
                    .replace("spec:\n", "spec:\n  mood: warn\n"),
                "mood",
            ),
            (
                format!("{}---\n{}", cluster("p", "['**']"), cluster("p", "['a/**']")),
                "defined twice",
            ),
            ("{".to_owned(), "a.yaml"),
        ];
        for (text, expected) in cases {
            let e = set(&[("a.yaml", &text)]).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}\n→ {e}");
            assert!(e.contains("/policies/a.yaml"), "{e}");
        }
    }

    #[test]
    fn exemptions() {
        let text = format!(
            "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: p}}\nspec:\n  images: ['**']\n  exemptions: {{namespaces: [dev], images: ['ghcr.io/acme/debug-*']}}\n  {VERIFY}\n"
        );
        let s = set(&[("a.yaml", &text)]).unwrap();
        let p = s.select(None, "ghcr.io/acme/app").unwrap();
        assert!(p.exempts(Some("dev"), "ghcr.io/acme/app").is_some());
        assert!(p.exempts(Some("prod"), "ghcr.io/acme/debug-shell").is_some());
        assert!(p.exempts(Some("prod"), "ghcr.io/acme/app").is_none());
    }
}
