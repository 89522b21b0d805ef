//! Trust stores against the upstream vectors (INDEX.md §2 C01–C04, §4.1
//! G01–G11) plus store management in a temporary config directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use notary::{
    algorithm::KeySpec,
    crypto::PrivateKey,
    truststore::{DirTrustStore, TrustStore, TrustStoreError, TrustStoreType, load_trust_stores},
    x509::{read_certificates, validate_trust_store_certificates},
};

/// `go/verifier` is a notation config dir.
fn go_store() -> DirTrustStore {
    DirTrustStore::new(testkit::vector("go/verifier"))
}

#[track_caller]
fn err_of(ty: TrustStoreType, name: &str) -> String {
    go_store()
        .certificates(ty, name)
        .expect_err("expected an error")
        .to_string()
}

#[track_caller]
fn assert_contains(text: &str, expected: &str) {
    assert!(text.contains(expected), "{text:?}\ndoes not contain {expected:?}");
}

#[test]
fn g01_g02_valid_stores_load() {
    assert_eq!(
        go_store()
            .certificates(TrustStoreType::Ca, "valid-trust-store")
            .unwrap()
            .len(),
        6
    );
    assert_eq!(
        go_store()
            .certificates(TrustStoreType::Ca, "valid-trust-store-self-signed")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn g03_invalid_certificate_file() {
    assert_contains(
        &err_of(TrustStoreType::Ca, "trust-store-with-invalid-certs"),
        "failed to read the trusted certificate invalid in trust store trust-store-with-invalid-certs of type ca",
    );
}

#[test]
fn g04_leaf_certificate_in_ca_store() {
    assert_contains(
        &err_of(TrustStoreType::Ca, "trust-store-with-leaf-certs"),
        "failed to validate the trusted certificate non-ca.crt in trust store trust-store-with-leaf-certs of type ca",
    );
    let certs = read_certificates(&testkit::read_vector(
        "go/verifier/truststore/x509/ca/trust-store-with-leaf-certs/non-ca.crt",
    ))
    .unwrap();
    assert_contains(
        &validate_trust_store_certificates(&certs).unwrap_err().to_string(),
        r#"certificate with subject "CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US" is not a CA certificate or self-signed signing certificate"#,
    );
}

#[test]
fn g05_leaf_in_single_file() {
    assert_contains(
        &err_of(TrustStoreType::Ca, "trust-store-with-leaf-certs-in-single-file"),
        "failed to validate the trusted certificate RootAndLeafCerts.crt in trust store trust-store-with-leaf-certs-in-single-file of type ca",
    );
}

#[test]
fn g06_globalsign_der_is_a_valid_anchor() {
    let certs = read_certificates(&testkit::read_vector(
        "go/verifier/truststore/x509/ca/valid-trust-store/GlobalSign.der",
    ))
    .unwrap();
    validate_trust_store_certificates(&certs).unwrap();
}

#[test]
fn g07_tsa_store_loads() {
    assert_eq!(
        go_store()
            .certificates(TrustStoreType::Tsa, "test-timestamp")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn g08_tsa_store_with_non_ca() {
    assert_contains(
        &err_of(TrustStoreType::Tsa, "test-nonCA"),
        r#"trusted certificate wabbit-networks.io.crt in trust store test-nonCA of type tsa is invalid: certificate with subject "CN=wabbit-networks.io,O=Notary,L=Seattle,ST=WA,C=US" is not a root CA certificate: x509: invalid signature: parent certificate cannot sign this kind of certificate"#,
    );
}

#[test]
fn g09_tsa_store_with_non_self_issued() {
    assert_contains(
        &err_of(TrustStoreType::Tsa, "test-nonSelfIssued"),
        r#"trusted certificate nonSelfIssued.crt in trust store test-nonSelfIssued of type tsa is invalid: certificate with subject "CN=Notation Test Revokable RSA Chain Cert 2,O=Notary,L=Seattle,ST=WA,C=US" is not a root CA certificate: issuer (CN=Notation Test Revokable RSA Chain Cert Root,O=Notary,L=Seattle,ST=WA,C=US) and subject (CN=Notation Test Revokable RSA Chain Cert 2,O=Notary,L=Seattle,ST=WA,C=US) are not the same"#,
    );
}

#[test]
fn g10_g11_stores_per_signing_scheme() {
    let store = go_store();
    let entries = vec![
        "ca:valid-trust-store".to_string(),
        "signingAuthority:valid-trust-store".to_string(),
        "tsa:test-timestamp".to_string(),
        "ca:valid-trust-store".to_string(),
    ];
    let ca = TrustStoreType::for_signing_scheme("notary.x509").unwrap();
    assert_eq!(load_trust_stores(&store, ca, "p", &entries).unwrap().len(), 6);
    let sa = TrustStoreType::for_signing_scheme("notary.x509.signingAuthority").unwrap();
    assert_eq!(load_trust_stores(&store, sa, "p", &entries).unwrap().len(), 3);
    let tsa = TrustStoreType::tsa_for_signing_scheme("notary.x509").unwrap();
    assert_eq!(load_trust_stores(&store, tsa, "p", &entries).unwrap().len(), 1);
    assert_contains(
        &TrustStoreType::tsa_for_signing_scheme("notary.x509.signingAuthority")
            .unwrap_err()
            .to_string(),
        "error while loading the TSA trust store, signing scheme must be notary.x509, but got notary.x509.signingAuthority",
    );
    let bad = vec!["ca-valid-trust-store".to_string()];
    assert_contains(
        &load_trust_stores(&store, ca, "p", &bad).unwrap_err().to_string(),
        "is missing separator in trust store value",
    );
}

#[test]
fn missing_store_and_bad_names() {
    assert_contains(
        &err_of(TrustStoreType::Ca, "no-such-store"),
        r#"the trust store "no-such-store" of type "ca" does not exist"#,
    );
    for name in ["../ca", "a/b", "", "..", "x y"] {
        let err = go_store().certificates(TrustStoreType::Ca, name).unwrap_err();
        assert!(
            matches!(err, TrustStoreError::InvalidStoreName(_)),
            "{name}: {err}"
        );
    }
}

#[test]
fn store_with_subdirectory_is_rejected() {
    // The upstream `trust-store-with-directories` sits outside a type
    // directory, so build the same shape here.
    let dir = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(dir.path());
    let path = store.store_dir(TrustStoreType::Ca, "s").unwrap();
    std::fs::create_dir_all(path.join("sub-dir")).unwrap();
    std::fs::write(
        path.join("root.crt"),
        testkit::read_vector("cli/truststore/NotationTestRoot.pem"),
    )
    .unwrap();
    assert_contains(
        &store
            .certificates(TrustStoreType::Ca, "s")
            .unwrap_err()
            .to_string(),
        "trusted certificate sub-dir in trust store s of type ca is not a regular file (directories or symlinks are not supported)",
    );
}

#[test]
fn empty_store_and_oversized_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(dir.path());
    let path = store.store_dir(TrustStoreType::Ca, "s").unwrap();
    std::fs::create_dir_all(&path).unwrap();
    assert_contains(
        &store
            .certificates(TrustStoreType::Ca, "s")
            .unwrap_err()
            .to_string(),
        r#"no x509 certificates were found in trust store "s" of type "ca""#,
    );
    std::fs::write(path.join("big.pem"), vec![b'A'; 2 * 1024 * 1024]).unwrap();
    assert!(matches!(
        store.certificates(TrustStoreType::Ca, "s").unwrap_err(),
        TrustStoreError::FileTooLarge { .. }
    ));
}

// ---- store management: C01–C04 ----

#[test]
fn c01_add_invalid_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(dir.path());
    let err = store
        .add_certificate(
            TrustStoreType::Ca,
            "test",
            "invalid.txt",
            &testkit::read_vector("cli/truststore/invalid.txt"),
        )
        .unwrap_err();
    assert_contains(&err.to_string(), "x509: malformed certificate");
}

#[test]
fn c02_add_existing_certificate() {
    // The vector config dir already holds ca/test/self-signed.crt; nothing is written.
    let store = DirTrustStore::new(testkit::vector("cli/truststore"));
    let err = store
        .add_certificate(
            TrustStoreType::Ca,
            "test",
            "self-signed.crt",
            &testkit::read_vector("cli/truststore/self-signed.crt"),
        )
        .unwrap_err();
    assert_contains(&err.to_string(), "certificate already exists in the Trust Store");
}

#[test]
fn c03_add_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(dir.path());
    let err = store
        .add_certificate(
            TrustStoreType::Ca,
            "test",
            "Empty.txt",
            &testkit::read_vector("cli/internal-testdata/Empty.txt"),
        )
        .unwrap_err();
    assert_contains(&err.to_string(), "no valid certificate found in the file");
}

#[test]
fn c04_delete_missing_store() {
    let store = DirTrustStore::new(testkit::vector("cli/truststore"));
    let err = store
        .delete_all(TrustStoreType::Tsa, "test")
        .unwrap_err()
        .to_string();
    assert_contains(&err, "stat ");
    assert_contains(&err, "truststore/x509/tsa/test: no such file or directory");
}

#[test]
fn add_list_delete_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = DirTrustStore::new(dir.path());
    let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let cert = notary::x509::generate_test_certificate("roundtrip", &key).unwrap();
    let path = store
        .add_certificate(TrustStoreType::Ca, "rt", "rt.crt", cert.to_pem().as_bytes())
        .unwrap();
    assert!(path.ends_with("truststore/x509/ca/rt/rt.crt"));
    store
        .add_certificate(
            TrustStoreType::Tsa,
            "t",
            "root.pem",
            &testkit::read_vector("e2e/config/timestamp/globalsignTSARoot.cer"),
        )
        .unwrap();
    // A leaf may not go into a tsa store.
    let err = store
        .add_certificate(TrustStoreType::Tsa, "t", "leaf.pem", cert.der())
        .unwrap_err();
    assert_contains(&err.to_string(), "is not a root CA certificate");
    assert!(
        store
            .add_certificate(TrustStoreType::Ca, "rt", "../x.crt", cert.der())
            .is_err()
    );
    assert!(
        store
            .add_certificate(TrustStoreType::Ca, "../rt", "x.crt", cert.der())
            .is_err()
    );

    assert_eq!(
        store.store_names(TrustStoreType::Ca).unwrap(),
        vec!["rt".to_string()]
    );
    let listed = store.list(None, None).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].0, TrustStoreType::Ca);
    assert_eq!(store.certificates(TrustStoreType::Ca, "rt").unwrap(), vec![cert]);

    store
        .delete_certificate(TrustStoreType::Ca, "rt", "rt.crt")
        .unwrap();
    assert!(store.store_names(TrustStoreType::Ca).unwrap().is_empty());
    store.delete_all(TrustStoreType::Tsa, "t").unwrap();
    assert!(store.list(None, None).unwrap().is_empty());
}

#[test]
fn type_names_round_trip() {
    for ty in TrustStoreType::ALL {
        assert_eq!(ty.as_str().parse::<TrustStoreType>().unwrap(), ty);
    }
    assert!("CA".parse::<TrustStoreType>().is_err());
}
