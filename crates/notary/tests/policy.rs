//! Trust policy documents against notation's vectors: every e2e policy file
//! with its expected outcome (INDEX §1.2 E06–E29, §1.3 P01–P23), the
//! notation-go unit cases (M05–M11, M30–M39), scope selection, round trips,
//! duplicate members, and never panicking on hostile input.

use notary::policy::{
    Action, BlobTrustPolicyDocument, DistinguishedName, StoreType, TrustPolicyDocument, TrustPolicyError,
    TrustedIdentity, ValidationType, VerificationLevel, VerifyTimestamp, subject_matches, verify_identities,
};
use proptest::prelude::*;

const DIR: &str = "e2e/config/trustpolicies/";
const SUBJECT: &str = "CN=SomeCN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US";

fn load(file: &str) -> Result<TrustPolicyDocument, TrustPolicyError> {
    TrustPolicyDocument::from_json(&testkit::read_vector(&format!("{DIR}{file}")))
}

fn load_err(file: &str) -> String {
    load(file).map(|_| ()).expect_err(file).to_string()
}

/// Policies that load (verify-time outcomes, e.g. E18 or E22, are the verifier's).
const VALID: &[&str] = &[
    "any_registry_scope_trust_policy.json",
    "audit_trustpolicy.json",
    "generate_test_trustpolicy.json",
    "invalid_registry_scope_trustpolicy.json",
    "invalid_trust_store_trustpolicy.json",
    "invalid_trusted_identity_trustpolicy.json",
    "multi_statements_with_wildcard_registry_scope_trustpolicy.json",
    "multiple_registry_scope_trustpolicy.json",
    "multiple_trust_store_trustpolicy.json",
    "multiple_trusted_identity_trustpolicy.json",
    "overlapped_trust_store_trustpolicy.json",
    "override_audit_trustpolicy.json",
    "override_permissive_trustpolicy.json",
    "override_strict_trustpolicy.json",
    "permissive_trustpolicy.json",
    "quickstart_trustpolicy.json",
    "registry_scope_trustpolicy.json",
    "skip_trustpolicy.json",
    "timestamp_after_cert_expiry_trustpolicy.json",
    "timestamp_trustpolicy.json",
    "trustpolicy.json",
    "valid_trusted_identity_trustpolicy.json",
];

/// Policies notation rejects, with (a substring of) its message.
const INVALID: &[(&str, &str)] = &[
    (
        "empty_registry_scope_trustpolicy.json",
        "oci trust policy statement \"e2e\" has zero registry scopes, it must specify registry scopes with at least one value",
    ),
    (
        "empty_trusted_identity_trustpolicy.json",
        "trust policy statement \"e2e\" has an empty trusted identity",
    ),
    ("invalid_format_trustpolicy.json", "malformed trust policy"),
    (
        "malformed_registry_scope_trustpolicy.json",
        r#"registry scope "localhost:5000\\test-repo" is not valid, make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository or a local scope like local/myOCILayout"#,
    ),
    (
        "malformed_trust_store_trustpolicy.json",
        "trust policy statement \"e2e\" uses an unsupported trust store name \"\" in trust store value \"ca:\". Named store name needs to follow [a-zA-Z0-9_.-]+ format",
    ),
    (
        "malformed_trusted_identity_trustpolicy.json",
        "trust policy statement \"e2e\" has trusted identity \"x509.subject CN=e2e,O=Notary,L=Seattle,ST=WA,C=US\" missing separator",
    ),
    (
        "missing_organization_trusted_identity_trustpolicy.json",
        "distinguished name (DN) \" CN=e2e,L=Seattle,ST=WA,C=US\" has no mandatory RDN attribute for \"O\", it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum",
    ),
    (
        "missing_state_trusted_identity_trustpolicy.json",
        "distinguished name (DN) \" CN=e2e,O=Notary,L=Seattle,C=US\" has no mandatory RDN attribute for \"ST\", it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum",
    ),
    (
        "missing_country_trusted_identity_trustpolicy.json",
        "distinguished name (DN) \" CN=e2e,O=Notary,L=Seattle,ST=WA\" has no mandatory RDN attribute for \"C\", it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum",
    ),
    (
        "multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json",
        "registry scope \"*\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement",
    ),
    (
        "multi_statements_with_the_same_name_trustpolicy.json",
        "multiple oci trust policy statements use the same name \"e2e\", statement names must be unique",
    ),
    (
        "multi_statements_with_the_same_registry_scope_trustpolicy.json",
        "registry scope \"localhost:5000/test-repo8\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement",
    ),
    (
        "overlapped_registry_scope_trustpolicy.json",
        "registry scope \"localhost:5000/test-repo6\" is present in multiple oci trust policy statements",
    ),
    (
        "overlapped_trusted_identity_trustpolicy.json",
        "trust policy statement \"e2e\" has overlapping x509 trustedIdentities",
    ),
    (
        "override_integrity_for_permissive_trustpolicy.json",
        "\"integrity\" verification can not be overridden in custom signature verification",
    ),
    (
        "unset_trust_store_trustpolicy.json",
        "trust policy statement \"e2e\" is either missing trust stores or trusted identities, both must be specified",
    ),
    (
        "unset_trusted_identity_trustpolicy.json",
        "trust policy statement \"e2e\" is either missing trust stores or trusted identities, both must be specified",
    ),
    (
        "wildcard_plus_other_registry_scope_trustpolicy.json",
        "trust policy statement \"e2e\" uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values",
    ),
    (
        "wildcard_plus_other_trusted_identity_trustpolicy.json",
        "trust policy statement \"e2e\" uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values",
    ),
    (
        "wildcard_trust_store_trustpolicy.json",
        "trust policy statement \"e2e\" has malformed trust store value \"*\". The required format is <TrustStoreType>:<TrustStoreName>",
    ),
];

/// Blob policies (no registry scopes): as OCI documents they are refused.
const BLOB: &[&str] = &[
    "e2e/config/trustpolicies/blob_trust_policy.json",
    "e2e/blob/trustpolicies/trustpolicy.blob.json",
];

#[test]
fn every_vector_policy_file_is_classified() {
    let dir = testkit::vector(DIR);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("vector dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    for f in &files {
        let known = VALID.contains(&f.as_str())
            || INVALID.iter().any(|(n, _)| n == f)
            || BLOB.iter().any(|b| b.ends_with(&format!("/{f}")));
        assert!(known, "unclassified vector {f}");
    }
}

#[test]
fn valid_vectors_load() {
    for f in VALID {
        load(f).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

#[test]
fn invalid_vectors_fail_with_notation_text() {
    for (f, want) in INVALID {
        let got = load_err(f);
        assert!(got.contains(want), "{f}:\n got  {got}\n want {want}");
    }
}

#[test]
fn exact_messages_p09_p10_p11_e15_e25() {
    assert_eq!(
        load_err("multi_statements_with_the_same_name_trustpolicy.json"),
        "multiple oci trust policy statements use the same name \"e2e\", statement names must be unique"
    );
    assert_eq!(
        load_err("multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json"),
        "registry scope \"*\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement"
    );
    assert_eq!(
        load_err("override_integrity_for_permissive_trustpolicy.json"),
        "oci trust policy: trust policy statement \"e2e\" has invalid signatureVerification: \"integrity\" verification can not be overridden in custom signature verification"
    );
    assert_eq!(
        load_err("overlapped_trusted_identity_trustpolicy.json"),
        "oci trust policy: trust policy statement \"e2e\" has overlapping x509 trustedIdentities, \"x509.subject: CN=e2e,O=Notary,ST=WA,C=US\" overlaps with \"x509.subject: CN=e2e,O=Notary,L=Seattle,ST=WA,C=US\""
    );
}

#[test]
fn levels_overrides_and_timestamp_options() {
    let doc = load("override_audit_trustpolicy.json").expect("valid");
    let sv = &doc.statements[0].signature_verification;
    assert_eq!(sv.level, VerificationLevel::Audit);
    assert_eq!(sv.action(ValidationType::Integrity), Action::Enforce);
    assert_eq!(sv.action(ValidationType::Authenticity), Action::Enforce);
    let doc = load("permissive_trustpolicy.json").expect("valid");
    let sv = &doc.statements[0].signature_verification;
    assert_eq!(sv.action(ValidationType::Expiry), Action::Log);
    assert_eq!(sv.verify_timestamp, VerifyTimestamp::Always);
    let doc = load("timestamp_after_cert_expiry_trustpolicy.json").expect("valid");
    let s = &doc.statements[0];
    assert_eq!(
        s.signature_verification.verify_timestamp,
        VerifyTimestamp::AfterCertExpiry
    );
    assert_eq!(s.trust_stores[1].store_type, StoreType::Tsa);
    let doc = load("skip_trustpolicy.json").expect("valid");
    assert_eq!(
        doc.statements[0]
            .signature_verification
            .action(ValidationType::Integrity),
        Action::Skip
    );
    assert!(doc.statements[0].trust_stores.is_empty());
}

fn policy_with(level: &str, stores: &str, identities: &str) -> Result<TrustPolicyDocument, TrustPolicyError> {
    let json = format!(
        r#"{{"version":"1.0","trustPolicies":[{{"name":"test-statement-name","registryScopes":["registry.acme-rockets.io/software/net-monitor"],
        "signatureVerification":{{"level":"{level}"}},"trustStores":{stores},"trustedIdentities":{identities}}}]}}"#
    );
    TrustPolicyDocument::from_json(json.as_bytes())
}

#[test]
fn notation_go_statement_rules_m05_m07_m08_t06() {
    let err = |l, s, i| policy_with(l, s, i).map(|_| ()).expect_err("invalid").to_string();
    // M05/T06: notation reports these at verify time; here the document is refused up front.
    let m05 = err(
        "strict",
        r#"["ca:valid-trust-store-2","signingAuthority"]"#,
        r#"["*"]"#,
    );
    assert!(m05.contains("\"test-statement-name\" has malformed trust store value \"signingAuthority\". The required format is <TrustStoreType>:<TrustStoreName>"), "{m05}");
    let t06 = err("strict", r#"["ca:valid-trust-store","tsa"]"#, r#"["*"]"#);
    assert!(
        t06.contains("trust store value \"tsa\". The required format is <TrustStoreType>:<TrustStoreName>")
    );
    assert!(err("strict", r#"["ca:s"]"#, r#"["x509.subject"]"#)
        .contains("trust policy statement \"test-statement-name\" has trusted identity \"x509.subject\" missing separator"));
    assert!(err("strict", r#"["ca:s"]"#, r#"["x509.subject:"]"#)
        .contains("trust policy statement \"test-statement-name\" has trusted identity \"x509.subject:\" without an identity value"));
    assert!(
        err("strict", r#"["invalid:s"]"#, r#"["*"]"#)
            .contains("uses an unsupported trust store type \"invalid\" in trust store value \"invalid:s\"")
    );
    assert!(err("strict", r#"["ca:.."]"#, r#"["*"]"#).contains("unsupported trust store name \"..\""));
    assert_eq!(
        err("skip", r#"["ca:s"]"#, "[]"),
        "oci trust policy: trust policy statement \"test-statement-name\" is set to skip signature verification but configured with trust stores and/or trusted identities, remove them if signature verification needs to be skipped"
    );
    assert!(
        err("bogus", r#"["ca:s"]"#, r#"["*"]"#).ends_with("invalid signature verification level \"bogus\"")
    );
    assert!(
        err("", r#"["ca:s"]"#, r#"["*"]"#)
            .ends_with("signature verification level is empty or missing in the trust policy statement")
    );
    assert!(
        err("strict", r#"["ca:s"]"#, r#"["x509.subject:,,,"]"#).contains(
            "parsing distinguished name (DN) \",,,\" failed with err: incomplete type, value pair."
        )
    );
    assert!(
        err("strict", r#"["ca:s"]"#, r#"["x509.subject:C=US,C=IN"]"#)
            .contains("has duplicate RDN attribute for \"C\"")
    );
    // Other prefixes are left to plugins; duplicated stores are tolerated (P21).
    policy_with(
        "strict",
        r#"["ca:s","ca:s"]"#,
        r#"["nonX509Prefix:my-custom-identity"]"#,
    )
    .expect("valid");
}

#[test]
fn document_rules() {
    let err = |j: &str| {
        TrustPolicyDocument::from_json(j.as_bytes())
            .map(|_| ())
            .expect_err(j)
            .to_string()
    };
    assert_eq!(
        err(r#"{"trustPolicies":[]}"#),
        "oci trust policy document has empty version, version must be specified"
    );
    assert_eq!(
        err(r#"{"version":"2.0"}"#),
        "oci trust policy document uses unsupported version \"2.0\""
    );
    assert_eq!(
        err(r#"{"version":"1.0","trustPolicies":[]}"#),
        "oci trust policy document can not have zero trust policy statements"
    );
    assert_eq!(
        err(r#"{"version":"1.0","trustPolicies":[{"registryScopes":["*"]}]}"#),
        "oci trust policy: a trust policy statement is missing a name, every statement requires a name"
    );
    assert!(err(r#"{"version":1}"#).contains("malformed trust policy"));
    assert!(err("").contains("malformed trust policy"));
    assert!(err("[]").contains("malformed trust policy"));
}

#[test]
fn duplicate_members_are_rejected() {
    let base = String::from_utf8(testkit::read_vector(&format!("{DIR}trustpolicy.json"))).expect("utf8");
    for dup in [
        base.replacen(
            "\"version\": \"1.0\",",
            "\"version\": \"1.0\", \"version\": \"1.0\",",
            1,
        ),
        base.replacen(
            "\"level\" : \"strict\"",
            "\"level\" : \"skip\", \"level\" : \"strict\"",
            1,
        ),
        base.replacen("\"name\": \"e2e\",", "\"name\": \"e2e\", \"Name\": \"other\",", 1),
        base.replacen("\"name\": \"e2e\",", "\"name\": \"e2e\", \"x\": 1, \"x\": 2,", 1),
    ] {
        assert_ne!(dup, base);
        let got = TrustPolicyDocument::from_json(dup.as_bytes());
        assert!(
            matches!(got, Err(TrustPolicyError::DuplicateKey { .. })),
            "{got:?}"
        );
    }
    // Unknown members are ignored and member names fold case, as in Go.
    let lenient = base.replacen("\"version\"", "\"extra\": {\"a\": [1]}, \"Version\"", 1);
    TrustPolicyDocument::from_json(lenient.as_bytes()).expect("valid");
}

#[test]
fn scope_selection() {
    let doc = load("multi_statements_with_wildcard_registry_scope_trustpolicy.json").expect("valid");
    assert_eq!(
        doc.statement_for("localhost:5000/test-repo9")
            .expect("exact")
            .name,
        "e2e"
    );
    assert_eq!(
        doc.statement_for("localhost:5000/test-repo")
            .expect("wildcard")
            .name,
        "e2e2"
    );
    assert_eq!(
        doc.statement_for("localhost:5000/test-repo99")
            .expect("wildcard")
            .name,
        "e2e2"
    );
    let doc = load("multiple_registry_scope_trustpolicy.json").expect("valid");
    assert_eq!(
        doc.statement_for("localhost:5000/test-repo2")
            .expect("exact")
            .name,
        "e2e"
    );
    for miss in [
        "localhost:5000/test-repo",
        "localhost:5000/test-repo2/sub",
        "localhost:5000",
        "local/e2e",
    ] {
        assert!(doc.statement_for(miss).is_err(), "{miss}");
    }
    let local = br#"{"version":"1.0","trustPolicies":[{"name":"l","registryScopes":["local/e2e"],"signatureVerification":{"level":"strict"},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}]}"#;
    let doc = TrustPolicyDocument::from_json(local).expect("valid");
    assert_eq!(doc.statement_for("local/e2e").expect("local").name, "l");
    let digest = "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9";
    assert_eq!(
        doc.statement_for_artifact(&format!("local/e2e@{digest}"))
            .expect("local")
            .name,
        "l"
    );
}

#[test]
fn m10_no_applicable_statement() {
    let doc = load("registry_scope_trustpolicy.json").expect("valid");
    let reference = "non-existent-domain.com/repo@sha256:73c803930ea3ba1e54bc25c2bdc53edd0284c62ed651fe7b00369da519a3c333";
    assert_eq!(
        doc.statement_for_artifact(reference)
            .map(|_| ())
            .expect_err("no statement")
            .to_string(),
        "artifact \"non-existent-domain.com/repo@sha256:73c803930ea3ba1e54bc25c2bdc53edd0284c62ed651fe7b00369da519a3c333\" has no applicable oci trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes. To create a trust policy, see: https://notaryproject.dev/docs/quickstart/#create-a-trust-policy"
    );
    // P08 is the same error for a scope that does not cover the artifact.
    let p08 = load("invalid_registry_scope_trustpolicy.json").expect("valid");
    assert!(p08.statement_for("localhost:5000/e2e").is_err());
}

#[test]
fn m11_bad_artifact_references() {
    let doc = load("trustpolicy.json").expect("valid");
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
        assert!(doc.statement_for_artifact(bad).is_err(), "{bad:?}");
    }
}

fn identities(list: &[&str]) -> Vec<TrustedIdentity> {
    let json: Vec<String> = list.iter().map(|i| format!("{i:?}")).collect();
    let doc =
        policy_with("strict", r#"["ca:s"]"#, &format!("[{}]", json.join(","))).expect("valid identities");
    doc.statements[0].trusted_identities.clone()
}

#[test]
fn m30_m39_identity_matching() {
    let x509 = "x509.subject:C=US,O=SomeOrg,ST=WA";
    let other = "nonX509Prefix:my-custom-identity";
    let ind = "x509.subject:C=IND,O=SomeOrg,ST=TS";
    let matches = |ids: &[&str]| subject_matches(&identities(ids), SUBJECT).expect("parsable subject");
    assert!(matches(&[x509]), "M30");
    assert!(matches(&[x509, other]), "M31");
    assert!(matches(&[x509, ind]), "M32");
    assert!(!matches(&[other]), "M33");
    assert!(matches(&["*"]), "M34");
    assert!(!matches(&[ind]), "M35");
    assert!(!matches(&[ind, other]), "M36");
    assert!(!matches(&[ind, "x509.subject:C=LOL,O=LOL,ST=LOL"]), "M37");
    // M38: such an identity cannot even be written into a policy.
    assert!(
        DistinguishedName::parse("C=bad=#identity,O=LOL,ST=LOL").is_err(),
        "M38"
    );
    // M39: Go prints bad-cert.pem's subject as below; notation cannot parse it.
    let bad = "CN=Bad=#CN,OU=SomeOU,O=SomeOrg,L=Seattle,ST=WA,C=US";
    assert!(subject_matches(&identities(&[x509, other]), bad).is_err(), "M39");
}

#[test]
fn verify_identities_messages_m06_e22() {
    let ids = identities(&["x509.subject:CN=LOL,O=DummyOrg,L=Hyderabad,ST=TG,C=IN"]);
    assert_eq!(
        verify_identities("test-statement-name", &ids, SUBJECT)
            .map(|_| ())
            .expect_err("M06")
            .to_string(),
        "signing certificate from the digital signature does not match the X.509 trusted identities [map[\"C\":\"IN\" \"CN\":\"LOL\" \"L\":\"Hyderabad\" \"O\":\"DummyOrg\" \"ST\":\"TG\"]] defined in the trust policy \"test-statement-name\""
    );
    let e22 = load("invalid_trusted_identity_trustpolicy.json").expect("valid");
    let e2e_subject = "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US";
    assert!(!subject_matches(&e22.statements[0].trusted_identities, e2e_subject).expect("parsable"));
    let e06 = load("valid_trusted_identity_trustpolicy.json").expect("valid");
    assert!(subject_matches(&e06.statements[0].trusted_identities, e2e_subject).expect("parsable"));
    let e08 = load("multiple_trusted_identity_trustpolicy.json").expect("valid");
    let widgits = "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU";
    assert!(subject_matches(&e08.statements[0].trusted_identities, widgits).expect("parsable"));
    // A subject without the mandatory attributes cannot be matched by x509 identities.
    let err = verify_identities("s", &e06.statements[0].trusted_identities, "CN=alpine")
        .map(|_| ())
        .expect_err("no O");
    assert!(
        err.to_string()
            .starts_with("error while parsing the certificate subject from the digital signature. error : ")
    );
}

#[test]
fn escaped_dns_match_like_go() {
    let ids = identities(&[r#"x509.subject: C=US, ST=WA, O=Acme\, Inc., OU=Sec\+Tools"#]);
    assert!(subject_matches(&ids, r"CN=x,OU=Sec\+Tools,O=Acme\, Inc.,ST=WA,C=US").expect("parsable"));
    assert!(!subject_matches(&ids, r"CN=x,OU=Sec,O=Acme\, Inc.,ST=WA,C=US").expect("parsable"));
}

#[test]
fn blob_policies_p20_b07_p23() {
    for path in BLOB {
        let bytes = testkit::read_vector(path);
        assert!(
            TrustPolicyDocument::from_json(&bytes).is_err(),
            "{path} has no registry scopes"
        );
        let doc = BlobTrustPolicyDocument::from_json(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(doc.global_statement().is_ok());
        let again = BlobTrustPolicyDocument::from_json(doc.to_json_pretty().as_bytes()).expect("round trip");
        assert_eq!(again, doc);
    }
    let doc = BlobTrustPolicyDocument::from_json(&testkit::read_vector(BLOB[1])).expect("valid");
    assert_eq!(
        doc.global_statement().expect("global").name,
        "test-blob-global-statement"
    );
    assert_eq!(
        doc.statement_named("test-blob-with-timestamping")
            .expect("named")
            .trust_stores
            .len(),
        2
    );
    assert!(doc.statement_named("nope").is_err());
    // P23: `blob policy show` after `blob policy init` prints exactly this.
    let expected = String::from_utf8(testkit::read_vector(
        "e2e/expected/blob-policy/init-example-policy.json",
    ))
    .expect("utf8");
    let doc = BlobTrustPolicyDocument::from_json(expected.as_bytes()).expect("valid");
    assert_eq!(doc.to_json_pretty(), expected.trim_end());
}

#[test]
fn round_trip_and_example() {
    for f in VALID {
        let doc = load(f).expect("valid");
        let again = TrustPolicyDocument::from_json(doc.to_json_pretty().as_bytes())
            .unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(again, doc, "{f}");
        again.validate().expect("validate");
    }
    let doc = TrustPolicyDocument::example("wabbit-networks.io", None);
    doc.validate().expect("example");
    assert_eq!(
        doc.statement_for("any.io/repo").expect("wildcard").trust_stores[0].to_string(),
        "ca:wabbit-networks.io"
    );
    let doc =
        TrustPolicyDocument::example("signingAuthority:acme", Some("x509.subject: C=US, ST=WA, O=Acme"));
    doc.validate().expect("example");
    assert!(matches!(
        doc.statements[0].trusted_identities[0],
        TrustedIdentity::X509Subject(_)
    ));
    assert!(TrustPolicyDocument::example("ca:", None).validate().is_err());
    // Hand-built documents are held to the same rules.
    let mut doc = load("trustpolicy.json").expect("valid");
    doc.statements.push(doc.statements[0].clone());
    assert!(doc.validate().is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = TrustPolicyDocument::from_json(&bytes);
        let _ = BlobTrustPolicyDocument::from_json(&bytes);
    }

    #[test]
    fn mutated_vectors_never_panic(file in 0..VALID.len(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut bytes = testkit::read_vector(&format!("{DIR}{}", VALID[file]));
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(doc) = TrustPolicyDocument::from_json(&bytes) {
            let _ = doc.statement_for("localhost:5000/test-repo");
            let _ = subject_matches(&doc.statements[0].trusted_identities, SUBJECT);
        }
    }

    #[test]
    fn random_dns_never_panic(s in "[ -~é]{0,40}") {
        let _ = DistinguishedName::parse(&s);
        let _ = subject_matches(&[TrustedIdentity::Any], &s);
    }
}
