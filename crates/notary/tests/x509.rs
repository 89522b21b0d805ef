//! Certificate reading, chain rules and root checks against the upstream
//! vectors (INDEX.md §2, §3.3, §1.4) and generated chains for every key spec.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use notary::{
    algorithm::KeySpec,
    crypto::PrivateKey,
    x509::{
        Certificate, CertificateError, generate_test_certificate, is_root_certificate, read_certificates,
        read_root_certificate, validate_code_signing_chain, validate_timestamping_chain,
    },
};
use testkit::pki::{self, Ca, CertOptions};
use time::{Duration, OffsetDateTime, macros::datetime};

fn certs(rel: &str) -> Vec<Certificate> {
    read_certificates(&testkit::read_vector(rel)).unwrap()
}

fn cert(rel: &str) -> Certificate {
    let mut all = certs(rel);
    assert_eq!(all.len(), 1, "{rel}");
    all.remove(0)
}

fn der(bytes: &[u8]) -> Certificate {
    Certificate::from_der(bytes.to_vec()).unwrap()
}

fn key_pem(spec: KeySpec) -> String {
    PrivateKey::generate(spec).unwrap().to_pkcs8_pem().unwrap()
}

fn chain_of(c: &pki::Chain) -> Vec<Certificate> {
    c.ders().iter().map(|d| der(d)).collect()
}

#[track_caller]
fn assert_err_contains(result: Result<(), CertificateError>, expected: &str) {
    let err = result.expect_err("expected an error").to_string();
    assert!(
        err.contains(expected),
        "error {err:?}\ndoes not contain {expected:?}"
    );
}

// ---- reading: K11–K15, C03, TS03 ----

#[test]
fn k11_to_k14_read_pem_and_der() {
    let k11 = certs("core-go/x509/pem.crt");
    assert_eq!(k11.len(), 1);
    assert_eq!(
        k11[0].subject(),
        "CN=GlobalSign,OU=GlobalSign Root CA - R3,O=GlobalSign"
    );
    assert_eq!(certs("core-go/x509/multi-pem.crt").len(), 2);
    assert_eq!(certs("core-go/x509/der.der").len(), 1);
    assert_eq!(certs("core-go/x509/multi-der.der").len(), 2);
}

#[test]
fn k15_invalid_is_an_error() {
    assert!(read_certificates(&testkit::read_vector("core-go/x509/invalid")).is_err());
}

#[test]
fn c03_empty_file() {
    let err = read_certificates(&testkit::read_vector("cli/internal-testdata/Empty.txt")).unwrap_err();
    assert!(
        err.to_string().contains("no valid certificate found in the file"),
        "{err}"
    );
}

#[test]
fn ts03_empty_pem_block_is_malformed() {
    let err = read_certificates(&testkit::read_vector("e2e/config/timestamp/invalid.crt")).unwrap_err();
    assert!(err.to_string().contains("x509: malformed certificate"), "{err}");
}

// ---- certificate facts ----

#[test]
fn e2e_certificate_facts() {
    let c = cert("e2e/config/localkeys/e2e.crt");
    assert_eq!(c.subject(), "CN=e2e,O=Notary,L=Seattle,ST=WA,C=US");
    assert_eq!(c.issuer(), c.subject());
    assert_eq!(
        c.sha256_thumbprint(),
        "e38aea13f2b051f7183cca64a51ee676f4d4456f41d9fecf15eb367efc7343b9"
    );
    assert_eq!(c.key_spec().unwrap(), KeySpec::Rsa(2048));
    assert!(c.is_self_signed());
    assert!(!c.is_ca());
    assert_eq!(c.extended_key_usage().unwrap().names(), vec!["CodeSigning"]);
    let pem = c.to_pem();
    assert_eq!(read_certificates(pem.as_bytes()).unwrap()[0], c);

    let expired = cert("e2e/config/localkeys/expired_e2e.crt");
    assert_eq!(expired.subject(), "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU");
    assert_eq!(expired.not_before(), datetime!(2023-06-26 06:10:00 UTC));
    assert_eq!(expired.not_after(), datetime!(2023-06-27 06:10:00 UTC));
}

// ---- timestamping chains: K16–K20 ----

fn tsa_chain() -> (Certificate, Certificate, Certificate) {
    (
        cert("core-go/x509/timestamp_leaf.crt"),
        cert("core-go/x509/timestamp_intermediate.crt"),
        cert("core-go/x509/timestamp_root.crt"),
    )
}

#[test]
fn k16_timestamping_chain_is_valid() {
    let (leaf, inter, root) = tsa_chain();
    validate_timestamping_chain(&[leaf, inter, root]).unwrap();
}

#[test]
fn k17_leaf_alone() {
    let (leaf, _, _) = tsa_chain();
    assert_err_contains(
        validate_timestamping_chain(&[leaf]),
        r#"invalid self-signed certificate. subject: "CN=DigiCert Timestamp 2023,O=DigiCert\\, Inc.,C=US". Error: crypto/rsa: verification error"#,
    );
}

#[test]
fn k18_missing_root() {
    let (leaf, inter, _) = tsa_chain();
    assert_err_contains(
        validate_timestamping_chain(&[leaf, inter]),
        r#"root certificate with subject "CN=DigiCert Trusted G4 RSA4096 SHA256 TimeStamping CA,O=DigiCert\\, Inc.,C=US" is invalid or not self-signed. Certificate chain must end with a valid self-signed root certificate. Error: crypto/rsa: verification error"#,
    );
}

#[test]
fn k19_self_signed_leaf_in_chain() {
    let (_, _, root) = tsa_chain();
    assert_err_contains(
        validate_timestamping_chain(&[root.clone(), root]),
        r#"leaf certificate with subject "CN=DigiCert Trusted Root G4,OU=www.digicert.com,O=DigiCert Inc,C=US" is self-signed. Certificate chain must not contain self-signed leaf certificate"#,
    );
}

#[test]
fn k20_self_signed_intermediate() {
    let (leaf, inter, root) = tsa_chain();
    assert_err_contains(
        validate_timestamping_chain(&[leaf, inter, root.clone(), root]),
        r#"intermediate certificate with subject "CN=DigiCert Trusted Root G4,OU=www.digicert.com,O=DigiCert Inc,C=US" is self-signed. Certificate chain must not contain self-signed intermediate certificate"#,
    );
}

// ---- code-signing chains: K21, K22 ----

#[test]
fn k21_minimal_self_signed_leaf() {
    let c = cert("core-go/x509/openssl-minimum-self-signed.pem");
    validate_code_signing_chain(&[c], Some(OffsetDateTime::now_utc())).unwrap();
}

#[test]
fn k22_empty_chain() {
    assert_err_contains(
        validate_code_signing_chain(&[], None),
        "certificate chain must contain at least one certificate",
    );
    assert_err_contains(
        validate_timestamping_chain(&[]),
        "certificate chain must contain at least one certificate",
    );
}

#[test]
fn e2e_cert_is_a_valid_self_signed_chain() {
    let c = cert("e2e/config/localkeys/e2e.crt");
    validate_code_signing_chain(&[c], Some(datetime!(2023-01-01 00:00:00 UTC))).unwrap();
}

#[test]
fn expired_at_signing_time() {
    let c = cert("e2e/config/localkeys/expired_e2e.crt");
    assert_err_contains(
        validate_code_signing_chain(&[c], Some(datetime!(2024-01-01 00:00:00 UTC))),
        r#"certificate with subject "O=Internet Widgits Pty Ltd,ST=Some-State,C=AU" was invalid at signing time of 2024-01-01 00:00:00 +0000 UTC. Certificate is valid from [2023-06-26 06:10:00 +0000 UTC] to [2023-06-27 06:10:00 +0000 UTC]"#,
    );
}

// ---- root checks: C05–C08, TS03–TS07 ----

#[test]
fn c05_to_c08_is_root_certificate() {
    assert!(is_root_certificate(&cert("cli/internal-testdata/tsaRootCA.cer")).unwrap());
    let c06 = is_root_certificate(&cert("cli/internal-testdata/intermediate.pem")).unwrap_err();
    assert!(
        c06.to_string().contains("crypto/rsa: verification error"),
        "{c06}"
    );
    let c07 = is_root_certificate(&cert("cli/internal-testdata/self-signed.crt")).unwrap_err();
    assert!(
        c07.to_string()
            .contains("x509: invalid signature: parent certificate cannot sign this kind of certificate"),
        "{c07}"
    );
    assert!(!is_root_certificate(&cert("cli/internal-testdata/notSelfIssued.crt")).unwrap());
}

fn root_file(name: &str) -> Result<Certificate, CertificateError> {
    let rel = format!("e2e/config/timestamp/{name}");
    read_root_certificate(&testkit::read_vector(&rel), &rel)
}

#[test]
fn ts01_ts02_valid_tsa_roots() {
    root_file("DigiCertTSARootSHA384.cer").unwrap();
    root_file("globalsignTSARoot.cer").unwrap();
}

#[test]
fn ts03_to_ts07_root_file_errors() {
    let msg = |name: &str| root_file(name).unwrap_err().to_string();
    assert!(msg("invalid.crt").contains("x509: malformed certificate"));
    let ts04 = msg("Empty.txt");
    assert!(ts04.contains("cannot find any certificate from"), "{ts04}");
    assert!(ts04.contains("Expecting single x509 root certificate in PEM or DER format from the file"));
    let ts05 = msg("CertChain.pem");
    assert!(ts05.contains("found more than one certificates"), "{ts05}");
    assert!(ts05.contains("Expecting single x509 root certificate in PEM or DER format from the file"));
    let ts06 = msg("intermediate.pem");
    assert!(
        ts06.contains("failed to check root certificate with error: crypto/rsa: verification error"),
        "{ts06}"
    );
    let ts07 = msg("notSelfIssued.crt");
    assert!(
        ts07.contains("is not a root certificate. Expecting single x509 root certificate in PEM or DER format from the file"),
        "{ts07}"
    );
}

// ---- generated chains for every key spec ----

#[test]
fn generated_chains_validate_for_every_key_spec() {
    for spec in KeySpec::ALL {
        let (root, inter, leaf) = (key_pem(spec), key_pem(spec), key_pem(spec));
        // The generate-test template starts its validity at "now", whole seconds.
        let signing_time = Some(OffsetDateTime::now_utc() + Duration::seconds(1));
        let with = pki::code_signing_chain(&root, Some(&inter), &leaf);
        validate_code_signing_chain(&chain_of(&with), signing_time).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let without = pki::code_signing_chain(&root, None, &leaf);
        validate_code_signing_chain(&chain_of(&without), signing_time)
            .unwrap_or_else(|e| panic!("{spec}: {e}"));
        let tsa = pki::timestamping_chain(&root, Some(&inter), &leaf);
        validate_timestamping_chain(&chain_of(&tsa)).unwrap_or_else(|e| panic!("{spec}: {e}"));
        let ss = der(&pki::self_signed_leaf("test", &leaf).der);
        let signing_time = Some(ss.not_before());
        assert_eq!(ss.key_spec().unwrap(), spec);
        validate_code_signing_chain(&[ss], signing_time).unwrap_or_else(|e| panic!("{spec}: {e}"));
    }
}

#[test]
fn generate_test_certificate_matches_notation_template() {
    for spec in [KeySpec::Rsa(2048), KeySpec::Ec(256), KeySpec::Ec(521)] {
        let key = PrivateKey::generate(spec).unwrap();
        let c = generate_test_certificate("wabbit-networks.io", &key).unwrap();
        assert_eq!(c.subject(), "CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US");
        assert_eq!(c.spki_der(), key.public_key_spki_der().unwrap());
        assert!(c.is_self_signed() && !c.is_ca() && c.basic_constraints().is_none());
        assert_eq!(c.not_after() - c.not_before(), Duration::days(1));
        assert!(c.key_usage().unwrap().critical);
        validate_code_signing_chain(&[c], Some(OffsetDateTime::now_utc())).unwrap();
    }
}

// ---- negative generated cases ----

struct Keys {
    root: String,
    inter: String,
    leaf: String,
}

fn keys() -> Keys {
    Keys {
        root: key_pem(KeySpec::Ec(256)),
        inter: key_pem(KeySpec::Ec(256)),
        leaf: key_pem(KeySpec::Ec(256)),
    }
}

fn chain_with_leaf(opts: &CertOptions) -> Vec<Certificate> {
    let k = keys();
    chain_of(&pki::chain_with(&k.root, Some(&k.inter), &k.leaf, opts))
}

#[test]
fn wrong_order_is_rejected() {
    let k = keys();
    let mut chain = chain_of(&pki::code_signing_chain(&k.root, Some(&k.inter), &k.leaf));
    chain.swap(0, 1);
    assert_err_contains(
        validate_code_signing_chain(&chain, None),
        r#"invalid certificates or certificate with subject "CN=Test Intermediate,O=Notary,L=Seattle,ST=WA,C=US" is not issued by "CN=Test Leaf,O=Notary,L=Seattle,ST=WA,C=US""#,
    );
}

#[test]
fn missing_root_is_rejected() {
    let k = keys();
    let mut chain = chain_of(&pki::code_signing_chain(&k.root, Some(&k.inter), &k.leaf));
    chain.pop();
    assert_err_contains(
        validate_code_signing_chain(&chain, None),
        r#"root certificate with subject "CN=Test Intermediate,O=Notary,L=Seattle,ST=WA,C=US" is invalid or not self-signed. Certificate chain must end with a valid self-signed root certificate. Error: x509: ECDSA verification failure"#,
    );
}

#[test]
fn leaf_with_ca_true_is_rejected() {
    let opts = CertOptions {
        ca: Ca::Yes(None),
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        "if the basic constraints extension is present, the ca field must be set to false",
    );
}

#[test]
fn leaf_without_digital_signature_is_rejected() {
    let opts = CertOptions {
        key_usage: Some(pki::ku::KEY_ENCIPHERMENT),
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        r#"The key usage must have the bit positions for "Digital Signature" set"#,
    );
    let opts = CertOptions {
        key_usage: Some(pki::ku::DIGITAL_SIGNATURE | pki::ku::KEY_CERT_SIGN),
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        r#"The key usage must be "Digital Signature" only, but found "CertSign""#,
    );
}

#[test]
fn leaf_key_usage_must_be_present_and_critical() {
    let opts = CertOptions {
        key_usage: None,
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        "key usage extension must be present",
    );
    let opts = CertOptions {
        key_usage_critical: false,
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        "key usage extension must be marked critical",
    );
}

#[test]
fn leaf_eku_server_auth_is_rejected() {
    let opts = CertOptions {
        eku: Some(vec![pki::eku::CODE_SIGNING, pki::eku::SERVER_AUTH]),
        ..CertOptions::leaf("Test Leaf")
    };
    assert_err_contains(
        validate_code_signing_chain(&chain_with_leaf(&opts), None),
        r#"certificate with subject "CN=Test Leaf,O=Notary,L=Seattle,ST=WA,C=US": extended key usage must not contain ServerAuth eku"#,
    );
}

#[test]
fn leaf_expired_at_signing_time_is_rejected() {
    let opts = CertOptions {
        not_before: datetime!(2020-01-01 00:00:00 UTC),
        not_after: datetime!(2021-01-01 00:00:00 UTC),
        ..CertOptions::leaf("Test Leaf")
    };
    let chain = chain_with_leaf(&opts);
    validate_code_signing_chain(&chain, Some(datetime!(2020-06-01 00:00:00 UTC))).unwrap_err(); // CA not yet valid
    assert_err_contains(
        validate_code_signing_chain(&chain, Some(OffsetDateTime::now_utc())),
        r#"certificate with subject "CN=Test Leaf,O=Notary,L=Seattle,ST=WA,C=US" was invalid at signing time of"#,
    );
}

#[test]
fn rsa_1024_leaf_is_rejected() {
    let root_key = key_pem(KeySpec::Rsa(2048));
    let root = pki::self_signed(&CertOptions::root("Test Root"), &root_key);
    let leaf = pki::issue_for_public_key(&CertOptions::leaf("Small"), &pki::rsa_1024_public_key(), &root);
    assert_err_contains(
        validate_code_signing_chain(&[der(&leaf.der), der(&root.der)], None),
        "rsa key size 1024 bits is not supported",
    );
}

#[test]
fn intermediate_without_key_cert_sign_is_rejected() {
    let k = keys();
    let root = pki::self_signed(&CertOptions::root("Test Root"), &k.root);
    let opts = CertOptions {
        key_usage: Some(pki::ku::CRL_SIGN),
        ..CertOptions::intermediate("Test Intermediate")
    };
    let inter = pki::issue(&opts, &k.inter, &root);
    let leaf = pki::issue(&CertOptions::leaf("Test Leaf"), &k.leaf, &inter);
    // Go's CheckSignatureFrom refuses a parent without keyCertSign first.
    assert_err_contains(
        validate_code_signing_chain(&[der(&leaf.der), der(&inter.der), der(&root.der)], None),
        "x509: invalid signature: parent certificate cannot sign this kind of certificate",
    );
}

#[test]
fn path_length_is_honoured() {
    let k = keys();
    let root = pki::self_signed(
        &CertOptions {
            ca: Ca::Yes(Some(0)),
            ..CertOptions::root("Test Root")
        },
        &k.root,
    );
    let inter = pki::issue(&CertOptions::intermediate("Test Intermediate"), &k.inter, &root);
    let leaf = pki::issue(&CertOptions::leaf("Test Leaf"), &k.leaf, &inter);
    assert_err_contains(
        validate_code_signing_chain(&[der(&leaf.der), der(&inter.der), der(&root.der)], None),
        r#"certificate with subject "CN=Test Root,O=Notary,L=Seattle,ST=WA,C=US": expected path length of 1 but certificate has path length 0 instead"#,
    );
}

#[test]
fn timestamping_leaf_needs_critical_time_stamping_eku_only() {
    let opts = CertOptions {
        eku_critical: false,
        ..CertOptions::tsa_leaf("Test TSA")
    };
    assert_err_contains(
        validate_timestamping_chain(&chain_with_leaf(&opts)),
        "must have extended key usage extension marked as critical",
    );
    assert_err_contains(
        validate_timestamping_chain(&chain_with_leaf(&CertOptions::leaf("Test TSA"))),
        "must have and only have Timestamping as extended key usage",
    );
}

#[test]
fn code_signing_self_signed_leaf_not_self_issued() {
    let c = cert("cli/internal-testdata/notSelfIssued.crt");
    assert_err_contains(
        validate_code_signing_chain(&[c], None),
        r#"invalid self-signed certificate. subject: "CN=test,O=Notary,L=Seattle,ST=WA,C=US". Error: issuer(CN=test,O=Notary,L=,ST=,C=US) and subject(CN=test,O=Notary,L=Seattle,ST=WA,C=US) are not the same"#,
    );
}
