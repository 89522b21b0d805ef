//! What `deploy/` ships is read by the server's own parsers: the
//! configuration in the ConfigMap, and the example policies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use admission::{config::Config, policy::PolicySet};
use serde_json::Value;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

/// The `data` of the ConfigMap named `name` in `file`.
fn config_map(file: &str, name: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(deploy(file)).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let cm = docs
        .into_iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no ConfigMap {name} in {file}"));
    serde_json::from_value(cm["data"].clone()).unwrap()
}

#[test]
fn the_shipped_configuration_parses() {
    let data = config_map("server/02-config.yaml", "signet-admission-config");
    let config: Config = serde_saphyr::from_str(&data["admission.yaml"]).unwrap();
    assert_eq!(config.listen.port(), 8443);
    assert!(config.exempt_namespaces.iter().any(|n| n == "kube-system"));
    assert!(
        config.gatekeeper_deadline < Duration::from_secs(3),
        "under Gatekeeper's 3 s budget"
    );
    // The webhook timeout in deploy/webhooks.yaml is 10 s: the server answers before it.
    assert!(config.deadline < Duration::from_secs(10));
}

#[test]
fn the_example_policies_are_valid() {
    let files = config_map("server/03-policies.yaml", "signet-policies");
    let set = PolicySet::from_files(Path::new("/etc/signet/policies"), &files).unwrap();
    assert!(set.len() >= 3, "{} policies", set.len());
}
