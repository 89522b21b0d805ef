#![allow(clippy::unwrap_used)]
//! The verification procedure against notation-go's verifier vectors
//! (INDEX.md §4.3: M01–M12, M25–M29), with notation-go's own config
//! directory `go/verifier` as the trust store.

use std::collections::BTreeMap;

use notary::{
    Descriptor, Digest,
    policy::{Action, TrustPolicyDocument, ValidationType},
    truststore::DirTrustStore,
    verifier::{CheckStatus, Outcome, Verdict, Verifier, VerifyRequest},
};

const REF: &str = "registry.acme-rockets.io/software/net-monitor@sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";

fn target() -> Descriptor {
    Descriptor::new(
        "application/vnd.docker.distribution.manifest.v2+json",
        Digest::parse("sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e").unwrap(),
        528,
    )
}

fn policy(level: &str, stores: &[&str], identities: &[&str]) -> TrustPolicyDocument {
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "test-statement-name",
            "registryScopes": ["registry.acme-rockets.io/software/net-monitor"],
            "signatureVerification": { "level": level },
            "trustStores": stores,
            "trustedIdentities": identities,
        }]
    });
    TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

fn default_policy(level: &str) -> TrustPolicyDocument {
    policy(
        level,
        &["ca:valid-trust-store", "signingAuthority:valid-trust-store"],
        &["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"],
    )
}

fn verify_with(policy: &TrustPolicyDocument, file: &str, media_type: &str, reference: &str) -> Outcome {
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector(&format!("go/mock/{file}"));
    let target = target();
    let none = BTreeMap::new();
    Verifier::new(policy, &store).verify(&VerifyRequest {
        artifact_reference: reference,
        target: &target,
        envelope_media_type: media_type,
        envelope: &envelope,
        user_metadata: &none,
    })
}

fn verify(policy: &TrustPolicyDocument, file: &str) -> Outcome {
    verify_with(policy, file, "application/jose+json", REF)
}

fn result(o: &Outcome, check: ValidationType) -> &CheckStatus {
    &o.results
        .iter()
        .find(|r| r.check == check)
        .unwrap_or_else(|| panic!("no {check:?} result in {o:#?}"))
        .status
}

#[track_caller]
fn failed_with(o: &Outcome, check: ValidationType, words: &str) {
    match result(o, check) {
        CheckStatus::Failed(m) | CheckStatus::NotChecked(m) => {
            assert!(
                m.contains(words),
                "{check:?} failed with {m:?}, expected it to contain {words:?}"
            )
        }
        other => panic!("{check:?} should have failed, got {other:?}"),
    }
}

const SCHEMES: [&str; 2] = ["ca", "sa"];

#[test]
fn m01_valid_envelopes_verify_at_every_level() {
    for scheme in SCHEMES {
        for level in ["strict", "permissive", "audit"] {
            let o = verify(&default_policy(level), &format!("{scheme}_valid_sig_env.json"));
            assert_eq!(o.verdict, Verdict::Verified, "{scheme} at {level}: {o:#?}");
            for check in [
                ValidationType::Integrity,
                ValidationType::Authenticity,
                ValidationType::Expiry,
            ] {
                assert!(
                    matches!(result(&o, check), CheckStatus::Passed(_)),
                    "{scheme} {level} {check:?}: {o:#?}"
                );
            }
        }
    }
}

#[test]
fn m02_padded_base64url_fails_integrity() {
    for scheme in SCHEMES {
        for level in ["strict", "permissive", "audit"] {
            let o = verify(&default_policy(level), &format!("{scheme}_invalid_sig_env.json"));
            assert!(
                matches!(
                    o.verdict,
                    Verdict::Failed {
                        check: ValidationType::Integrity,
                        ..
                    }
                ),
                "{o:#?}"
            );
            failed_with(&o, ValidationType::Integrity, "base64url without padding");
        }
    }
}

#[test]
fn m03_expired_signature() {
    for scheme in SCHEMES {
        let strict = verify(
            &default_policy("strict"),
            &format!("{scheme}_expired_sig_env.json"),
        );
        failed_with(
            &strict,
            ValidationType::Expiry,
            "digital signature has expired on \"Fri, 29 Jul 2022 23:59:00 +0000\"",
        );
        assert!(matches!(
            strict.verdict,
            Verdict::Failed {
                check: ValidationType::Expiry,
                ..
            }
        ));
        // permissive and audit only log expiry
        for level in ["permissive", "audit"] {
            let o = verify(&default_policy(level), &format!("{scheme}_expired_sig_env.json"));
            failed_with(&o, ValidationType::Expiry, "digital signature has expired");
            assert_eq!(o.verdict, Verdict::Verified, "{level}");
            assert!(
                o.logged_failures()
                    .any(|r| r.check == ValidationType::Expiry && r.action == Action::Log)
            );
        }
    }
}

#[test]
fn m04_untrusted_store_fails_authenticity() {
    let p = policy(
        "strict",
        &["ca:valid-trust-store-2", "signingAuthority:valid-trust-store-2"],
        &["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"],
    );
    for scheme in SCHEMES {
        let o = verify(&p, &format!("{scheme}_valid_sig_env.json"));
        failed_with(
            &o,
            ValidationType::Authenticity,
            "the signature's certificate chain does not contain any trusted certificate",
        );
        assert!(matches!(
            o.verdict,
            Verdict::Failed {
                check: ValidationType::Authenticity,
                ..
            }
        ));
    }
    // audit logs it and accepts
    let p = policy(
        "audit",
        &["ca:valid-trust-store-2", "signingAuthority:valid-trust-store-2"],
        &["x509.subject:CN=Notation Test Root,O=Notary,L=Seattle,ST=WA,C=US"],
    );
    assert_eq!(verify(&p, "ca_valid_sig_env.json").verdict, Verdict::Verified);
}

#[test]
fn m06_identity_mismatch() {
    let p = policy(
        "strict",
        &["ca:valid-trust-store", "signingAuthority:valid-trust-store"],
        &["x509.subject:CN=LOL,O=DummyOrg,L=Hyderabad,ST=TG,C=IN"],
    );
    for scheme in SCHEMES {
        let o = verify(&p, &format!("{scheme}_valid_sig_env.json"));
        failed_with(
            &o,
            ValidationType::Authenticity,
            "signing certificate from the digital signature does not match the X.509 trusted identities [map[\"C\":\"IN\" \"CN\":\"LOL\" \"L\":\"Hyderabad\" \"O\":\"DummyOrg\" \"ST\":\"TG\"]] defined in the trust policy \"test-statement-name\"",
        );
    }
}

#[test]
fn missing_trust_store_is_inconclusive_not_failed() {
    let p = policy("strict", &["ca:does-not-exist"], &["*"]);
    let o = verify(&p, "ca_valid_sig_env.json");
    failed_with(
        &o,
        ValidationType::Authenticity,
        "the trust store \"does-not-exist\" of type \"ca\" does not exist",
    );
    assert!(matches!(o.verdict, Verdict::Inconclusive { .. }), "{o:#?}");
}

#[test]
fn m09_unsupported_media_type() {
    let o = verify_with(
        &default_policy("strict"),
        "ca_valid_sig_env.json",
        "application/unsupported+json",
        REF,
    );
    failed_with(
        &o,
        ValidationType::Integrity,
        "unable to parse the digital signature, error : signature envelope format with media type \"application/unsupported+json\" is not supported",
    );
}

#[test]
fn m10_m11_references() {
    let o = verify_with(
        &default_policy("strict"),
        "ca_valid_sig_env.json",
        "application/jose+json",
        "non-existent-domain.com/repo@sha256:73c803930ea3ba1e54bc25c2bdc53edd0284c62ed651fe7b00369da519a3c333",
    );
    assert_eq!(
        o.verdict,
        Verdict::Inconclusive {
            reason: "artifact \"non-existent-domain.com/repo@sha256:73c803930ea3ba1e54bc25c2bdc53edd0284c62ed651fe7b00369da519a3c333\" has no applicable oci trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes. To create a trust policy, see: https://notaryproject.dev/docs/quickstart/#create-a-trust-policy".into()
        }
    );
    for bad in [
        "",
        "invaliduri",
        "domain.com/repository@sha256:",
        "domain.com/repository@sha256",
        "domain.com/repository@",
        "domain.com/repository",
        "domain.com/repositorysha256:digest",
        "domain.com/repositorysha256digest",
        "repository@sha256:digest",
    ] {
        let o = verify_with(
            &default_policy("strict"),
            "ca_valid_sig_env.json",
            "application/jose+json",
            bad,
        );
        assert!(
            matches!(o.verdict, Verdict::Inconclusive { .. }),
            "{bad:?} should be refused: {o:#?}"
        );
        assert!(o.results.is_empty());
    }
}

#[test]
fn m12_signature_requiring_a_missing_plugin_is_refused() {
    for scheme in SCHEMES {
        let o = verify(
            &default_policy("strict"),
            &format!("{scheme}_plugin_sig_env.json"),
        );
        match &o.verdict {
            Verdict::Inconclusive { reason } => assert!(
                reason.contains("error while locating the verification plugin \"plugin-name\", make sure the plugin is installed successfully before verifying the signature"),
                "{reason}"
            ),
            other => panic!("expected inconclusive, got {other:?}"),
        }
        assert!(!o.is_accepted());
    }
}

#[test]
fn content_descriptor_mismatch_is_refused() {
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector("go/mock/ca_valid_sig_env.json");
    let p = default_policy("strict");
    let mut other = target();
    other.size = 529;
    let none = BTreeMap::new();
    let o = Verifier::new(&p, &store).verify(&VerifyRequest {
        artifact_reference: REF,
        target: &other,
        envelope_media_type: "application/jose+json",
        envelope: &envelope,
        user_metadata: &none,
    });
    assert!(
        matches!(&o.verdict, Verdict::Failed { reason, .. } if reason.contains("content descriptor mismatch")),
        "{o:#?}"
    );
}

#[test]
fn m25_m29_user_metadata() {
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector("go/mock/sig_env_with_metadata.json");
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "metadata", "registryScopes": ["*"],
            "signatureVerification": { "level": "audit" },
            "trustStores": ["ca:valid-trust-store"], "trustedIdentities": ["*"],
        }]
    });
    let p = TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
    let target = Descriptor::new(
        "application/vnd.docker.distribution.manifest.v2+json",
        Digest::parse("sha256:5a07385af4e6b6af81b0ebfd435aedccdfa3507f0609c658209e1aba57159b2b").unwrap(),
        942,
    );
    let reference =
        "localhost:5000/net-monitor@sha256:5a07385af4e6b6af81b0ebfd435aedccdfa3507f0609c658209e1aba57159b2b";
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
    let cases: &[Case] = &[
        ("M25", &[], true),
        ("M26", &[("io.wabbit-networks.buildId", "123")], true),
        ("M27", &[("io.wabbit-networks.buildId", "321")], false),
        (
            "M28",
            &[
                ("io.wabbit-networks.buildId", "123"),
                ("io.wabbit-networks.buildTime", "1672944615"),
            ],
            true,
        ),
        (
            "M29",
            &[
                ("io.wabbit-networks.buildId", "123"),
                ("io.wabbit-networks.buildTime", "1"),
            ],
            false,
        ),
    ];
    for (id, wanted, ok) in cases {
        let metadata: BTreeMap<String, String> = wanted
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let o = Verifier::new(&p, &store).verify(&VerifyRequest {
            artifact_reference: reference,
            target: &target,
            envelope_media_type: "application/jose+json",
            envelope: &envelope,
            user_metadata: &metadata,
        });
        assert_eq!(o.is_accepted(), *ok, "{id}: {o:#?}");
    }
}

#[test]
fn skip_level_reads_nothing() {
    let p = policy("skip", &[], &[]);
    let o = verify_with(&p, "ca_invalid_sig_env.json", "application/jose+json", REF);
    assert_eq!(o.verdict, Verdict::Skipped);
    assert!(o.results.is_empty());
}

#[test]
fn verification_time_is_injectable() {
    // At a time before the leaf's validity, the authentic-timestamp check fails (no TSA configured).
    let p = default_policy("strict");
    let store = DirTrustStore::new(testkit::vector("go/verifier"));
    let envelope = testkit::read_vector("go/mock/ca_valid_sig_env.json");
    let target = target();
    let none = BTreeMap::new();
    let o = Verifier::new(&p, &store)
        .at_time(time::macros::datetime!(2019-01-01 0:00 UTC))
        .verify(&VerifyRequest {
            artifact_reference: REF,
            target: &target,
            envelope_media_type: "application/jose+json",
            envelope: &envelope,
            user_metadata: &none,
        });
    failed_with(
        &o,
        ValidationType::AuthenticTimestamp,
        "verification time is before certificate",
    );
}

/// Every key type × envelope format: sign → verify through the whole
/// procedure; then a flipped byte in payload, protected header, signature or
/// certificate must fail integrity or authenticity — never pass, never panic.
#[test]
fn round_trip_and_tamper_every_key_type_and_format() {
    use notary::{
        algorithm::KeySpec,
        crypto::PrivateKey,
        envelope::{self, EnvelopeFormat, SignRequest, SigningScheme},
        x509,
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(tmp.path());
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{ "name": "rt", "registryScopes": ["*"], "signatureVerification": { "level": "strict" },
                            "trustStores": ["ca:rt"], "trustedIdentities": ["*"] }]
    });
    let policy = TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
    let target = Descriptor::of(
        "application/vnd.oci.image.manifest.v1+json",
        b"{\"round\":\"trip\"}",
    );
    let reference = format!("example.com/rt@{}", target.digest);
    let none = BTreeMap::new();
    for spec in KeySpec::ALL {
        let key = PrivateKey::generate(spec).unwrap();
        let cert = x509::generate_test_certificate(&format!("rt-{}", spec.cli_name()), &key).unwrap();
        store
            .add_certificate(
                notary::truststore::TrustStoreType::Ca,
                "rt",
                &format!("{}.crt", spec.cli_name()),
                cert.to_pem().as_bytes(),
            )
            .unwrap();
        for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
            let bytes = envelope::sign(&SignRequest {
                format,
                payload: envelope::payload_for(&target),
                signing_time: time::OffsetDateTime::now_utc(),
                expiry: None,
                signing_scheme: SigningScheme::X509,
                extended: Vec::new(),
                signing_agent: Some("signet-test".into()),
                certificate_chain: vec![cert.der().to_vec()],
                signer: &key,
                timestamper: None,
            })
            .unwrap();
            let run = |bytes: &[u8]| {
                Verifier::new(&policy, &store).verify(&VerifyRequest {
                    artifact_reference: &reference,
                    target: &target,
                    envelope_media_type: format.media_type(),
                    envelope: bytes,
                    user_metadata: &none,
                })
            };
            let ok = run(&bytes);
            assert_eq!(ok.verdict, Verdict::Verified, "{spec} {format:?}: {ok:#?}");

            // Flip one byte at many positions across the whole envelope: every
            // outcome is a refusal naming integrity or authenticity, or — when
            // the flip hit bytes outside what is signed (e.g. the signing agent)
            // — still a verified signature over the same content.
            let env = envelope::Envelope::parse(format.media_type(), &bytes).unwrap();
            let step = (bytes.len() / 97).max(1);
            for i in (0..bytes.len()).step_by(step) {
                let mut bad = bytes.clone();
                bad[i] ^= 0x01;
                let o = run(&bad);
                match &o.verdict {
                    Verdict::Verified => {
                        let again = envelope::Envelope::parse(format.media_type(), &bad).unwrap();
                        assert_eq!(
                            again.signing_input(),
                            env.signing_input(),
                            "{spec} {format:?} byte {i}: signed bytes changed yet verified"
                        );
                        assert_eq!(
                            again.certificate_chain, env.certificate_chain,
                            "{spec} {format:?} byte {i}: chain changed yet verified"
                        );
                    }
                    Verdict::Failed { check, reason } => {
                        assert!(
                            matches!(check, ValidationType::Integrity | ValidationType::Authenticity),
                            "{spec} {format:?} byte {i}: failed at {check:?}: {reason}"
                        );
                        assert!(!reason.is_empty());
                    }
                    other => panic!("{spec} {format:?} byte {i}: {other:?}"),
                }
            }
        }
    }
}
