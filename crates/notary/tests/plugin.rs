#![allow(clippy::unwrap_used)]
//! Verification through a verification plugin, against notation-go's plugin
//! vectors (INDEX.md §4.3: M12–M24), with a fake in-process plugin playing
//! the mock plugin's behaviours.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use notary::{
    Descriptor, Digest,
    plugin::{
        PluginError, PluginManager, PluginRunner,
        proto::{self, ErrorResponse, VerificationResult, VerifySignatureRequest, VerifySignatureResponse},
    },
    policy::{TrustPolicyDocument, ValidationType},
    truststore::DirTrustStore,
    verifier::{CheckStatus, Outcome, Verdict, Verifier, VerifyRequest},
};
use serde_json::json;

const REF: &str = "registry.acme-rockets.io/software/net-monitor@sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";
const TI: &str = proto::CAPABILITY_TRUSTED_IDENTITY_VERIFIER;
const RC: &str = proto::CAPABILITY_REVOCATION_CHECK_VERIFIER;
const FAIL: &str = "i feel like failing today";

/// The fake plugin: metadata, the verify-signature answer, and what it was asked.
#[derive(Clone)]
struct Fake {
    name: String,
    version: String,
    capabilities: Vec<String>,
    answer: Result<VerifySignatureResponse, ErrorResponse>,
    requests: Arc<Mutex<Vec<VerifySignatureRequest>>>,
}

impl Fake {
    fn new(caps: &[&str]) -> Self {
        Self {
            name: "plugin-name".into(),
            version: "1.0.0".into(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            answer: Ok(VerifySignatureResponse::default()),
            requests: Arc::default(),
        }
    }

    fn answering(mut self, results: &[(&str, bool)], processed: &[&str]) -> Self {
        self.answer = Ok(VerifySignatureResponse {
            verification_results: results
                .iter()
                .map(|(c, ok)| {
                    (
                        c.to_string(),
                        Some(VerificationResult {
                            success: *ok,
                            reason: (!ok).then(|| FAIL.to_owned()),
                        }),
                    )
                })
                .collect(),
            processed_attributes: processed.iter().map(|p| json!(p)).collect(),
        });
        self
    }

    fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl PluginRunner for Fake {
    fn run(&self, command: &str, request_json: &[u8]) -> Result<Vec<u8>, PluginError> {
        match command {
            proto::COMMAND_GET_METADATA => Ok(serde_json::to_vec(&proto::GetMetadataResponse {
                name: self.name.clone(),
                description: "mock".into(),
                version: self.version.clone(),
                url: "https://example.com".into(),
                supported_contract_versions: vec!["1.0".into()],
                capabilities: self.capabilities.clone(),
            })
            .unwrap()),
            proto::COMMAND_VERIFY_SIGNATURE => {
                let req: VerifySignatureRequest = serde_json::from_slice(request_json)
                    .map_err(|e| PluginError::Malformed(e.to_string()))?;
                self.requests.lock().unwrap().push(req);
                match &self.answer {
                    Ok(r) => Ok(serde_json::to_vec(r).unwrap()),
                    Err(e) => Err(PluginError::Plugin(e.clone())),
                }
            }
            other => Err(PluginError::Execution(format!("unexpected command {other}"))),
        }
    }
}

struct Manager(Option<Fake>);

impl PluginManager for Manager {
    fn get(&self, name: &str) -> Result<Box<dyn PluginRunner + '_>, PluginError> {
        match &self.0 {
            Some(f) if f.name == name => Ok(Box::new(f.clone())),
            _ => Err(PluginError::NotFound),
        }
    }
}

fn policy(level: &str, revocation_skip: bool) -> TrustPolicyDocument {
    let mut sv = json!({ "level": level });
    if revocation_skip {
        sv["override"] = json!({ "revocation": "skip" });
    }
    let doc = json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "test-statement-name",
            "registryScopes": ["registry.acme-rockets.io/software/net-monitor"],
            "signatureVerification": sv,
            "trustStores": ["ca:valid-trust-store", "signingAuthority:valid-trust-store"],
            "trustedIdentities": ["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"],
        }]
    });
    TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

fn verify_with(
    manager: Option<&Manager>,
    policy: &TrustPolicyDocument,
    file: &str,
    reference: &str,
    target: &Descriptor,
) -> Outcome {
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector(&format!("go/mock/{file}"));
    let none = BTreeMap::new();
    let mut v = Verifier::new(policy, &store);
    if let Some(m) = manager {
        v = v.with_plugins(m);
    }
    v.verify(&VerifyRequest {
        artifact_reference: reference,
        target,
        envelope_media_type: "application/jose+json",
        envelope: &envelope,
        user_metadata: &none,
    })
}

fn mock_target() -> Descriptor {
    Descriptor::new(
        "application/vnd.docker.distribution.manifest.v2+json",
        Digest::parse("sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e").unwrap(),
        528,
    )
}

/// Runs both plugin envelopes (ca, sa) at strict level with `fake`.
fn run(fake: Option<&Fake>, revocation_skip: bool) -> Vec<Outcome> {
    let manager = Manager(fake.cloned());
    let p = policy("strict", revocation_skip);
    ["ca", "sa"]
        .iter()
        .map(|s| {
            verify_with(
                Some(&manager),
                &p,
                &format!("{s}_plugin_sig_env.json"),
                REF,
                &mock_target(),
            )
        })
        .collect()
}

#[track_caller]
fn refused(o: &Outcome, words: &str) {
    let reason = match &o.verdict {
        Verdict::Failed { reason, .. } | Verdict::Inconclusive { reason } => reason,
        other => panic!("expected a refusal containing {words:?}, got {other:?}"),
    };
    assert_eq!(reason, words, "{o:#?}");
}

#[track_caller]
fn accepted(o: &Outcome) {
    assert_eq!(o.verdict, Verdict::Verified, "{o:#?}");
}

#[test]
fn m12_plugin_not_installed() {
    let text = "error while locating the verification plugin \"plugin-name\", make sure the plugin is installed successfully before verifying the signature. error: plugin not found";
    for o in run(None, false) {
        refused(&o, text);
    }
    // No plugin manager at all: the same words.
    let p = policy("strict", false);
    let o = verify_with(None, &p, "ca_plugin_sig_env.json", REF, &mock_target());
    refused(&o, text);
}

#[test]
fn m13_no_verification_capability() {
    let fake = Fake::new(&[proto::CAPABILITY_SIGNATURE_GENERATOR]);
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "digital signature requires plugin \"plugin-name\" with signature verification capabilities (\"SIGNATURE_VERIFIER.TRUSTED_IDENTITY\" and/or \"SIGNATURE_VERIFIER.REVOCATION_CHECK\") installed",
        );
    }
    assert_eq!(fake.calls(), 0);
}

#[test]
fn m14_trusted_identity_success() {
    let fake = Fake::new(&[TI]).answering(&[(TI, true)], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        accepted(&o);
    }
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(reqs.len(), 2);
    for r in reqs.iter() {
        assert_eq!(r.contract_version, "1.0");
        assert_eq!(r.signature.unprocessed_attributes, vec!["SomeKey".to_owned()]);
        assert_eq!(
            r.signature.critical_attributes.extended_attributes.get("SomeKey"),
            Some(&json!("SomeValue"))
        );
        assert_eq!(r.signature.certificate_chain.len(), 2);
        assert_eq!(r.trust_policy.signature_verification, vec![TI.to_owned()]);
        assert_eq!(
            r.trust_policy.trusted_identities,
            vec!["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US".to_owned()]
        );
        assert_eq!(
            r.signature.critical_attributes.content_type,
            "application/vnd.cncf.notary.payload.v1+json"
        );
    }
    assert_eq!(
        reqs[0].signature.critical_attributes.signing_scheme,
        "notary.x509"
    );
    assert!(
        reqs[0]
            .signature
            .critical_attributes
            .authentic_signing_time
            .is_none()
    );
    assert_eq!(
        reqs[1].signature.critical_attributes.signing_scheme,
        "notary.x509.signingAuthority"
    );
    assert!(
        reqs[1]
            .signature
            .critical_attributes
            .authentic_signing_time
            .is_some()
    );
}

#[test]
fn m15_trusted_identity_failure() {
    let fake = Fake::new(&[TI]).answering(&[(TI, false)], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "trusted identify verification by plugin \"plugin-name\" failed with reason \"i feel like failing today\"",
        );
        assert!(matches!(
            o.verdict,
            Verdict::Failed {
                check: ValidationType::Authenticity,
                ..
            }
        ));
    }
    // At audit level the failure is logged on the authenticity result.
    let manager = Manager(Some(fake));
    let o = verify_with(
        Some(&manager),
        &policy("audit", false),
        "ca_plugin_sig_env.json",
        REF,
        &mock_target(),
    );
    accepted(&o);
    let auth = o
        .results
        .iter()
        .find(|r| r.check == ValidationType::Authenticity)
        .unwrap();
    assert!(matches!(&auth.status, CheckStatus::Failed(m) if m.contains(FAIL)));
}

#[test]
fn m16_revocation_success() {
    let fake = Fake::new(&[RC]).answering(&[(RC, true)], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        accepted(&o);
        let rev = o
            .results
            .iter()
            .find(|r| r.check == ValidationType::Revocation)
            .unwrap();
        assert!(matches!(rev.status, CheckStatus::Passed(_)));
    }
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(reqs[0].trust_policy.signature_verification, vec![RC.to_owned()]);
}

#[test]
fn m17_revocation_failure() {
    let fake = Fake::new(&[RC]).answering(&[(RC, false)], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "revocation check by verification plugin \"plugin-name\" failed with reason \"i feel like failing today\"",
        );
        assert!(matches!(
            o.verdict,
            Verdict::Failed {
                check: ValidationType::Revocation,
                ..
            }
        ));
    }
}

#[test]
fn m18_both_capabilities() {
    let fake = Fake::new(&[TI, RC]).answering(&[(TI, true), (RC, true)], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        accepted(&o);
    }
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(
        reqs[0].trust_policy.signature_verification,
        vec![TI.to_owned(), RC.to_owned()]
    );
}

#[test]
fn m19_revocation_skipped_does_not_call_the_plugin() {
    let fake = Fake::new(&[RC]).answering(&[(RC, false)], &["SomeKey"]);
    for o in run(Some(&fake), true) {
        accepted(&o);
    }
    assert_eq!(fake.calls(), 0);
    // With both capabilities only the trusted identity is asked for.
    let fake = Fake::new(&[TI, RC]).answering(&[(TI, true)], &["SomeKey"]);
    for o in run(Some(&fake), true) {
        accepted(&o);
    }
    let reqs = fake.requests.lock().unwrap();
    assert_eq!(reqs[0].trust_policy.signature_verification, vec![TI.to_owned()]);
}

#[test]
fn m20_plugin_error() {
    let mut fake = Fake::new(&[TI]);
    fake.answer = Err(ErrorResponse {
        error_code: "ERROR".into(),
        error_message: "invalid plugin response".into(),
        error_metadata: BTreeMap::new(),
    });
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "failed to verify with plugin plugin-name: invalid plugin response",
        );
    }
}

#[test]
fn m21_unprocessed_critical_attribute() {
    let fake = Fake::new(&[TI]).answering(&[(TI, true)], &[]);
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "extended critical attribute \"SomeKey\" was not processed by the verification plugin \"plugin-name\" (all extended critical attributes must be processed by the verification plugin)",
        );
    }
}

#[test]
fn m22_empty_result_map() {
    let fake = Fake::new(&[TI]).answering(&[], &["SomeKey"]);
    for o in run(Some(&fake), false) {
        refused(
            &o,
            "verification plugin \"plugin-name\" failed to verify \"SIGNATURE_VERIFIER.TRUSTED_IDENTITY\"",
        );
    }
}

fn version_outcome(file: &str) -> Outcome {
    let mut fake = Fake::new(&[TI]).answering(&[(TI, true)], &[]);
    fake.name = "io.cncf.notary.plugin.unittest.mock".into();
    let manager = Manager(Some(fake));
    let doc = json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "wabbit-networks-images",
            "registryScopes": ["localhost:5000/net-monitor"],
            "signatureVerification": { "level": "strict" },
            "trustStores": ["ca:valid-trust-store"],
            "trustedIdentities": ["x509.subject: CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US"],
        }]
    });
    let p = TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
    let target = Descriptor::new(
        "application/vnd.oci.image.manifest.v1+json",
        Digest::parse("sha256:fe7e9333395060c2f5e63cf36a38fba10176f183b4163a5794e081a480abba5f").unwrap(),
        0,
    );
    verify_with(
        Some(&manager),
        &p,
        file,
        "localhost:5000/net-monitor@sha256:fe7e9333395060c2f5e63cf36a38fba10176f183b4163a5794e081a480abba5f",
        &target,
    )
}

#[test]
fn m23_incompatible_plugin_versions() {
    for v in ["1.0.9", "1.0.1", "1.2.3", "1.1.0-alpha"] {
        let o = version_outcome(&format!("ca_incompatible_pluginver_sig_env_{v}.json"));
        refused(
            &o,
            &format!(
                "found plugin io.cncf.notary.plugin.unittest.mock with version 1.0.0 but signature verification needs plugin version greater than or equal to {v}"
            ),
        );
    }
}

#[test]
fn m24_compatible_plugin_versions() {
    for v in ["0.0.9", "1.0.0-alpha", "1.0.0-alpha.beta", "1.0.0"] {
        let o = version_outcome(&format!("ca_compatible_pluginver_sig_env_{v}.json"));
        assert_eq!(
            o.results.first().map(|r| &r.status),
            Some(&CheckStatus::Passed(None)),
            "{v}: {o:#?}"
        );
        if let Verdict::Failed { reason, .. } | Verdict::Inconclusive { reason } = &o.verdict {
            assert!(!reason.contains("found plugin"), "{v}: {reason}");
            assert!(!reason.contains("plugin not found"), "{v}: {reason}");
        }
    }
}

#[test]
fn metadata_is_validated() {
    // A plugin whose metadata names another plugin is refused.
    let mut fake = Fake::new(&[TI]);
    fake.name = "other".into();
    struct Liar(Fake);
    impl PluginManager for Liar {
        fn get(&self, _: &str) -> Result<Box<dyn PluginRunner + '_>, PluginError> {
            Ok(Box::new(self.0.clone()))
        }
    }
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector("go/mock/ca_plugin_sig_env.json");
    let p = policy("strict", false);
    let liar = Liar(fake);
    let target = mock_target();
    let o = Verifier::new(&p, &store)
        .with_plugins(&liar)
        .verify(&VerifyRequest {
            artifact_reference: REF,
            target: &target,
            envelope_media_type: "application/jose+json",
            envelope: &envelope,
            user_metadata: &BTreeMap::new(),
        });
    refused(
        &o,
        "plugin executable file name must be \"notation-other\" instead of \"notation-plugin-name\"",
    );
}
