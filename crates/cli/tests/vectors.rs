#![allow(clippy::unwrap_used)]
//! The notation e2e vectors (INDEX.md §1), run through the `signet` binary.
//!
//! Each case lays out a config directory exactly as the upstream e2e suite
//! does — a trust policy from `e2e/config/trustpolicies`, trust store `ca:e2e`
//! holding the named certificates — copies the signed OCI layout, runs
//! `signet verify`, and checks the exit status and the words upstream asserts.

use std::{fs, process::Command};

mod common;

use common::{Env, expect, text};

/// (case id, trust policy file, certificates in ca:e2e, verifies?, words in the output)
type PolicyCase<'a> = (&'a str, &'a str, &'a [&'a str], bool, &'a [&'a str]);

const VERIFIED: &str = "Successfully verified signature for";
const FAILED: &str = "signature verification failed for all the signatures";

/// E06–E29: layout e2e-valid-signature against each trust policy.
#[test]
fn valid_signature_layout_against_policies() {
    let cases: &[PolicyCase] = &[
        (
            "E06",
            "valid_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            true,
            &[VERIFIED],
        ),
        (
            "E10",
            "trustpolicy.json",
            &["new_e2e.crt"],
            false,
            &["authenticity validation failed", FAILED],
        ),
        (
            "E11",
            "permissive_trustpolicy.json",
            &["new_e2e.crt"],
            false,
            &["authenticity validation failed", FAILED],
        ),
        (
            "E12",
            "audit_trustpolicy.json",
            &["new_e2e.crt"],
            true,
            &[
                VERIFIED,
                "Warning: authenticity was set to \"log\"",
                "the signature's certificate chain does not contain any trusted certificate",
            ],
        ),
        (
            "E13",
            "override_strict_trustpolicy.json",
            &["new_e2e.crt"],
            true,
            &[VERIFIED, "Warning: authenticity was set to \"log\""],
        ),
        (
            "E14",
            "override_permissive_trustpolicy.json",
            &["new_e2e.crt"],
            true,
            &[VERIFIED, "Warning: authenticity was set to \"log\""],
        ),
        (
            "E15",
            "override_integrity_for_permissive_trustpolicy.json",
            &["new_e2e.crt"],
            false,
            &["\"integrity\" verification can not be overridden in custom signature verification"],
        ),
        (
            "E16",
            "override_audit_trustpolicy.json",
            &["new_e2e.crt"],
            false,
            &["authenticity validation failed", FAILED],
        ),
        (
            "E17",
            "unset_trust_store_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" is either missing trust stores or trusted identities, both must be specified",
            ],
        ),
        (
            "E18",
            "invalid_trust_store_trustpolicy.json",
            &["e2e.crt"],
            false,
            &["the trust store \"invalid_store\" of type \"ca\" does not exist"],
        ),
        (
            "E19",
            "malformed_trust_store_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" uses an unsupported trust store name \"\" in trust store value \"ca:\". Named store name needs to follow [a-zA-Z0-9_.-]+ format",
            ],
        ),
        (
            "E20",
            "wildcard_trust_store_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" has malformed trust store value \"*\". The required format is <TrustStoreType>:<TrustStoreName>",
            ],
        ),
        (
            "E21",
            "unset_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" is either missing trust stores or trusted identities, both must be specified",
            ],
        ),
        (
            "E22",
            "invalid_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "signing certificate from the digital signature does not match the X.509 trusted identities",
                FAILED,
            ],
        ),
        (
            "E23",
            "malformed_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" has trusted identity \"x509.subject CN=e2e,O=Notary,L=Seattle,ST=WA,C=US\" missing separator",
            ],
        ),
        (
            "E24",
            "empty_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &["trust policy statement \"e2e\" has an empty trusted identity"],
        ),
        (
            "E25",
            "overlapped_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &["trust policy statement \"e2e\" has overlapping x509 trustedIdentities"],
        ),
        (
            "E26",
            "wildcard_plus_other_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "trust policy statement \"e2e\" uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values",
            ],
        ),
        (
            "E27",
            "missing_organization_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "distinguished name (DN) \" CN=e2e,L=Seattle,ST=WA,C=US\" has no mandatory RDN attribute for \"O\", it must contain 'C', 'ST' or 'S', and 'O' RDN attributes at a minimum",
            ],
        ),
        (
            "E28",
            "missing_state_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "distinguished name (DN) \" CN=e2e,O=Notary,L=Seattle,C=US\" has no mandatory RDN attribute for \"ST\"",
            ],
        ),
        (
            "E29",
            "missing_country_trusted_identity_trustpolicy.json",
            &["e2e.crt"],
            false,
            &[
                "distinguished name (DN) \" CN=e2e,O=Notary,L=Seattle,ST=WA\" has no mandatory RDN attribute for \"C\"",
            ],
        ),
    ];
    for (id, policy, certs, ok, words) in cases {
        eprintln!("=== {id}");
        let env = Env::new();
        env.policy(policy).trust("e2e", certs);
        let layout = env.layout("e2e-valid-signature", "e2e");
        let out = env.verify(&layout, "local/e2e");
        expect(&out, *ok, words);
    }
}

/// E07, E08: several stores and several identities.
#[test]
fn multiple_trust_stores_and_identities() {
    let env = Env::new();
    env.policy("multiple_trust_store_trustpolicy.json")
        .trust("e2e", &["e2e.crt"])
        .trust("e2e-new", &["new_e2e.crt"]);
    let layout = env.layout("e2e-valid-signature", "e2e");
    expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);

    let env = Env::new();
    env.policy("multiple_trusted_identity_trustpolicy.json")
        .trust("e2e", &["e2e.crt", "new_e2e.crt"]);
    let layout = env.layout("e2e-valid-signature", "e2e");
    expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);
}

/// E31–E36: a signature whose expiry passed.
#[test]
fn expired_signature_layout() {
    let cases: &[(&str, &str, bool, &[&str])] = &[
        (
            "E31",
            "trustpolicy.json",
            false,
            &["expiry validation failed.", FAILED],
        ),
        (
            "E32",
            "permissive_trustpolicy.json",
            true,
            &[
                VERIFIED,
                "expiry was set to \"log\" and failed with error: digital signature has expired",
            ],
        ),
        (
            "E33",
            "audit_trustpolicy.json",
            true,
            &[
                VERIFIED,
                "digital signature has expired",
                "expiry was set to \"log\"",
            ],
        ),
        (
            "E34",
            "override_strict_trustpolicy.json",
            true,
            &[VERIFIED, "expiry was set to \"log\""],
        ),
        (
            "E35",
            "override_permissive_trustpolicy.json",
            false,
            &["expiry validation failed.", FAILED],
        ),
        (
            "E36",
            "override_audit_trustpolicy.json",
            false,
            &["expiry validation failed.", FAILED],
        ),
    ];
    for (id, policy, ok, words) in cases {
        eprintln!("=== {id}");
        let env = Env::new();
        env.policy(policy).trust("e2e", &["e2e.crt"]);
        let layout = env.layout("e2e-expired-signature", "e2e");
        let out = env.verify(&layout, "local/e2e");
        expect(&out, *ok, words);
    }
    // The derived full message keeps the +08:00 offset the envelope was signed with.
    let env = Env::new();
    env.policy("trustpolicy.json").trust("e2e", &["e2e.crt"]);
    let layout = env.layout("e2e-expired-signature", "e2e");
    expect(
        &env.verify(&layout, "local/e2e"),
        false,
        &["digital signature has expired on \"Tue, 27 Jun 2023 13:21:21 +0800\""],
    );
}

/// E37–E40: the signature blob is not an envelope.
#[test]
fn invalid_signature_layout() {
    let cases: &[(&str, &str, bool, &[&str])] = &[
        (
            "E37",
            "trustpolicy.json",
            false,
            &[
                "integrity validation failed",
                FAILED,
                "signature envelope format with media type \"application/vnd.oci.image.layer.v1.tar\" is not supported",
            ],
        ),
        (
            "E38",
            "permissive_trustpolicy.json",
            false,
            &["integrity validation failed", FAILED],
        ),
        (
            "E39",
            "audit_trustpolicy.json",
            false,
            &["integrity validation failed", FAILED],
        ),
        (
            "E40",
            "skip_trustpolicy.json",
            true,
            &["Trust policy is configured to skip signature verification"],
        ),
    ];
    for (id, policy, ok, words) in cases {
        eprintln!("=== {id}");
        let env = Env::new();
        env.policy(policy).trust("e2e", &["e2e.crt"]);
        let layout = env.layout("e2e-invalid-signature", "e2e");
        expect(&env.verify(&layout, "local/e2e"), *ok, words);
    }
}

/// E41–E45: signed by a certificate that has since expired, no timestamp.
#[test]
fn expired_certificate_layout() {
    let expired_msg = "verification time is after certificate \"O=Internet Widgits Pty Ltd,ST=Some-State,C=AU\" validity period, it was expired at \"Tue, 27 Jun 2023 06:10:00 +0000\"";
    let cases: &[(&str, &str, bool, &[&str])] = &[
        (
            "E41",
            "trustpolicy.json",
            false,
            &["authenticTimestamp validation failed", FAILED],
        ),
        (
            "E42",
            "permissive_trustpolicy.json",
            true,
            &[
                VERIFIED,
                "Warning: authenticTimestamp was set to \"log\"",
                expired_msg,
            ],
        ),
        ("E43", "audit_trustpolicy.json", true, &[VERIFIED, expired_msg]),
        (
            "E44",
            "override_strict_trustpolicy.json",
            true,
            &[VERIFIED, expired_msg],
        ),
        (
            "E45",
            "trustpolicy.json",
            false,
            &["authenticTimestamp validation failed"],
        ),
    ];
    for (id, policy, ok, words) in cases {
        eprintln!("=== {id}");
        let env = Env::new();
        env.policy(policy).trust("e2e", &["expired_e2e.crt"]);
        let layout = env.layout("e2e-with-expired-cert", "e2e");
        expect(&env.verify(&layout, "local/e2e"), *ok, words);
    }
}

/// D01: two signatures, one trusted; the tag index lists only the first, the
/// second is found by its `subject`. The artifact verifies through the first.
#[test]
fn multiple_signatures_layout() {
    let env = Env::new();
    env.policy("trustpolicy.json").trust("e2e", &["e2e.crt"]);
    let layout = env.layout("e2e-valid-multiple-signatures", "e2e");
    expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);
    // With only testcert11's signature trusted-by-nobody, JSON shows both were examined.
    let env = Env::new();
    env.policy("trustpolicy.json").trust("e2e", &["new_e2e.crt"]);
    let layout = env.layout("e2e-valid-multiple-signatures", "e2e");
    let r = format!("{}:v1", layout.display());
    let out = env.signet(&[
        "verify",
        "--oci-layout",
        &r,
        "--scope",
        "local/e2e",
        "--output",
        "json",
    ]);
    assert!(!out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verified"], false);
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2, "{v:#}");
}

/// P01–P11: policy-level errors and registry scopes.
#[test]
fn registry_scopes() {
    let cases: &[(&str, &str, &str, bool, &[&str])] = &[
        (
            "P01",
            "empty_registry_scope_trustpolicy.json",
            "local/e2e",
            false,
            &["trust policy statement \"e2e\" has zero registry scopes"],
        ),
        (
            "P02",
            "malformed_registry_scope_trustpolicy.json",
            "local/e2e",
            false,
            &[
                "registry scope \"localhost:5000\\\\test-repo\" is not valid, make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository or a local scope like local/myOCILayout",
            ],
        ),
        (
            "P03",
            "registry_scope_trustpolicy.json",
            "localhost:5000/test-repo",
            true,
            &[VERIFIED],
        ),
        (
            "P04a",
            "multiple_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo2",
            true,
            &[VERIFIED],
        ),
        (
            "P04b",
            "multiple_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo3",
            true,
            &[VERIFIED],
        ),
        (
            "P05",
            "any_registry_scope_trust_policy.json",
            "localhost:5000/test-repo4",
            true,
            &[VERIFIED],
        ),
        (
            "P06",
            "overlapped_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo6",
            false,
            &[
                "registry scope \"localhost:5000/test-repo6\" is present in multiple oci trust policy statements",
            ],
        ),
        (
            "P07",
            "wildcard_plus_other_registry_scope_trustpolicy.json",
            "local/e2e",
            false,
            &[
                "trust policy statement \"e2e\" uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values",
            ],
        ),
        (
            "P08",
            "invalid_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo",
            false,
            &[
                "has no applicable oci trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes. To create a trust policy, see: https://notaryproject.dev/docs/quickstart/#create-a-trust-policy",
            ],
        ),
        (
            "P09",
            "multi_statements_with_the_same_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo8",
            false,
            &[
                "registry scope \"localhost:5000/test-repo8\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement",
            ],
        ),
        (
            "P10",
            "multi_statements_with_the_same_name_trustpolicy.json",
            "localhost:5000/test-repo10",
            false,
            &[
                "multiple oci trust policy statements use the same name \"e2e\", statement names must be unique",
            ],
        ),
        (
            "P11",
            "multi_statements_with_multi_wildcard_registry_scope_trustpolicy.json",
            "local/e2e",
            false,
            &[
                "registry scope \"*\" is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement",
            ],
        ),
        (
            "E09",
            "multi_statements_with_wildcard_registry_scope_trustpolicy.json",
            "localhost:5000/test-repo9",
            true,
            &[VERIFIED],
        ),
    ];
    for (id, policy, scope, ok, words) in cases {
        eprintln!("=== {id}");
        let env = Env::new();
        env.policy(policy).trust("e2e", &["e2e.crt"]);
        let layout = env.layout("e2e-valid-signature", "e2e");
        expect(&env.verify(&layout, scope), *ok, words);
    }
}

/// E04, E05, P15: sign at run time, then verify — JWS and COSE.
#[test]
fn runtime_sign_then_verify() {
    for format in ["jws", "cose"] {
        eprintln!("=== E04 {format}");
        let env = Env::new();
        env.policy("trustpolicy.json").trust("e2e", &["e2e.crt"]);
        env.e2e_key();
        let layout = env.layout("e2e", "e2e");
        let r = format!("{}:v1", layout.display());
        expect(
            &env.signet(&["sign", "--oci-layout", &r, "--signature-format", format]),
            true,
            &["Successfully signed"],
        );
        let out = env.verify(&layout, "local/e2e");
        expect(&out, true, &[VERIFIED]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!(
                "Successfully verified signature for {}@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9\n",
                layout.display()
            )
        );
    }

    eprintln!("=== E05");
    let env = Env::new();
    env.policy("trustpolicy.json").trust("e2e", &["e2e.crt"]);
    env.e2e_key();
    let layout = env.layout("e2e", "e2e");
    let r = format!("{}:v1", layout.display());
    expect(
        &env.signet(&["sign", "--oci-layout", &r, "--expiry", "2s"]),
        true,
        &["Successfully signed"],
    );
    std::thread::sleep(std::time::Duration::from_millis(2100));
    expect(
        &env.verify(&layout, "local/e2e"),
        false,
        &["expiry validation failed.", FAILED],
    );
}

/// P15: generate-test key + quickstart policy, JWS and COSE, all key types.
#[test]
fn generated_test_keys_sign_and_verify() {
    for (format, key_type) in [
        ("jws", "rsa-2048"),
        ("cose", "ec-256"),
        ("jws", "ec-521"),
        ("cose", "rsa-3072"),
    ] {
        eprintln!("=== P15 {format} {key_type}");
        let env = Env::new();
        env.policy("quickstart_trustpolicy.json");
        expect(
            &env.signet(&[
                "cert",
                "generate-test",
                "wabbit-networks.io",
                "--key-type",
                key_type,
                "--default",
            ]),
            true,
            &[],
        );
        let layout = env.layout("e2e", "e2e");
        let r = format!("{}:v1", layout.display());
        expect(
            &env.signet(&["sign", "--oci-layout", &r, "--signature-format", format]),
            true,
            &["Successfully signed"],
        );
        expect(&env.verify(&layout, "local/e2e"), true, &[VERIFIED]);
    }
}

/// An unsigned artifact is refused with a clear message (E01-like).
#[test]
fn unsigned_artifact_is_refused() {
    let env = Env::new();
    env.policy("trustpolicy.json").trust("e2e", &["e2e.crt"]);
    let layout = env.layout("e2e", "e2e");
    expect(
        &env.verify(&layout, "local/e2e"),
        false,
        &["no signature is associated with"],
    );
}

/// P16–P18: policy show / import.
#[test]
fn policy_show_and_import() {
    let env = Env::new();
    let policy = testkit::vector("e2e/config/trustpolicies/trustpolicy.json");
    let out = env.signet(&["policy", "import", policy.to_str().unwrap()]);
    expect(
        &out,
        true,
        &["Successfully imported OCI trust policy configuration to"],
    );
    let out = env.signet(&["policy", "show"]);
    expect(&out, true, &[]);
    assert_eq!(
        out.stdout,
        fs::read(&policy).unwrap(),
        "policy show prints the file exactly"
    );

    let bad = testkit::vector("e2e/config/trustpolicies/invalid_format_trustpolicy.json");
    expect(
        &env.signet(&["policy", "import", bad.to_str().unwrap(), "--force"]),
        false,
        &["failed to parse OCI trust policy configuration"],
    );
    fs::copy(&bad, env.config.join("trustpolicy.json")).unwrap();
    let out = env.signet(&["policy", "show"]);
    expect(
        &out,
        false,
        &["Existing OCI trust policy configuration is invalid"],
    );
    assert_eq!(out.stdout, fs::read(&bad).unwrap());
    for p in [
        "malformed_trust_store_trustpolicy.json",
        "malformed_trusted_identity_trustpolicy.json",
        "malformed_registry_scope_trustpolicy.json",
    ] {
        let f = testkit::vector(&format!("e2e/config/trustpolicies/{p}"));
        expect(
            &env.signet(&["policy", "import", f.to_str().unwrap(), "--force"]),
            false,
            &[],
        );
    }
}

/// `cert` commands: add, list, show, delete (C01-like bad input too).
#[test]
fn cert_commands() {
    let env = Env::new();
    let crt = testkit::vector("e2e/config/localkeys/e2e.crt");
    expect(
        &env.signet(&[
            "cert",
            "add",
            "--type",
            "ca",
            "--store",
            "e2e",
            crt.to_str().unwrap(),
        ]),
        true,
        &["Successfully added"],
    );
    expect(
        &env.signet(&[
            "cert",
            "add",
            "--type",
            "ca",
            "--store",
            "e2e",
            crt.to_str().unwrap(),
        ]),
        false,
        &["already exists"],
    );
    expect(&env.signet(&["cert", "list"]), true, &["ca:e2e"]);
    expect(
        &env.signet(&["cert", "show", "--type", "ca", "--store", "e2e", "e2e.crt"]),
        true,
        &[
            "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US",
            "e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9",
        ],
    );
    let expired = testkit::vector("e2e/config/localkeys/expired_e2e.crt");
    expect(
        &env.signet(&[
            "cert",
            "add",
            "--type",
            "ca",
            "--store",
            "e2e",
            expired.to_str().unwrap(),
        ]),
        true,
        &["Successfully added"],
    );
    let bad = testkit::vector("cli/truststore/invalid.txt");
    expect(
        &env.signet(&[
            "cert",
            "add",
            "--type",
            "ca",
            "--store",
            "e2e",
            bad.to_str().unwrap(),
        ]),
        false,
        &[],
    );
    expect(
        &env.signet(&[
            "cert",
            "add",
            "--type",
            "ca",
            "--store",
            "../escape",
            crt.to_str().unwrap(),
        ]),
        false,
        &[],
    );
    expect(
        &env.signet(&["cert", "delete", "--type", "ca", "--store", "e2e", "e2e.crt"]),
        true,
        &["Successfully deleted"],
    );
    expect(
        &env.signet(&["cert", "delete", "--type", "ca", "--store", "e2e", "--all"]),
        true,
        &["Successfully deleted"],
    );
}

/// `key` commands.
#[test]
fn key_commands() {
    let env = Env::new();
    expect(&env.signet(&["key", "list"]), true, &["No signing keys"]);
    expect(
        &env.signet(&["cert", "generate-test", "one", "--key-type", "ec-384"]),
        true,
        &["one: marked as the default signing key"],
    );
    expect(&env.signet(&["cert", "generate-test", "two"]), true, &[]);
    expect(&env.signet(&["key", "default", "two"]), true, &[]);
    expect(&env.signet(&["key", "list"]), true, &["* two", "  one"]);
    // A key that does not match its certificate is refused.
    let key = testkit::vector("e2e/config/localkeys/e2e.key");
    let crt = testkit::vector("e2e/config/localkeys/expired_e2e.crt");
    expect(
        &env.signet(&[
            "key",
            "add",
            "bad",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            crt.to_str().unwrap(),
        ]),
        false,
        &["does not match"],
    );
    expect(&env.signet(&["key", "delete", "two"]), true, &[]);
    expect(&env.signet(&["key", "delete", "nope"]), false, &["not found"]);
}

/// The README's quick start runs from nothing and ends verified.
#[test]
fn quickstart_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("qs");
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["quickstart", "--dir", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    for w in [
        "Step 1",
        "Step 5",
        "Successfully verified signature for",
        "refused",
    ] {
        assert!(all.contains(w), "quickstart output lacks {w:?}:\n{all}");
    }
}

/// E03, E30: `ls` prints notation's tree, exactly.
#[test]
fn list_signatures_exactly_as_notation() {
    let env = Env::new();
    for (layout, expected) in [
        ("e2e", "e2e/expected/list/e2e.oci-layout.no-signature.txt"),
        (
            "e2e-valid-signature",
            "e2e/expected/list/e2e-valid-signature.oci-layout.txt",
        ),
    ] {
        let dir = env.layout(layout, layout);
        let r = format!(
            "{}@sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9",
            dir.display()
        );
        let out = env.signet(&["ls", "--oci-layout", &r]);
        expect(&out, true, &[]);
        let want = String::from_utf8(testkit::read_vector(expected))
            .unwrap()
            .replace("{LAYOUT_PATH}", dir.to_str().unwrap());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            want.trim_end(),
            "{layout}"
        );
    }
    // Both signatures of the multi-signature layout, although its tag index lists one.
    let dir = env.layout("e2e-valid-multiple-signatures", "multi");
    let out = env.signet(&[
        "ls",
        "--oci-layout",
        &format!("{}:v1", dir.display()),
        "--output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2, "{v:#}");
}
