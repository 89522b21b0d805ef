#![allow(clippy::unwrap_used, clippy::expect_used)]
//! RFC 3161 timestamp verification against the upstream vectors: notation-go's
//! authentic-timestamp cases (INDEX.md §4.2, T01–T17) through the verifier,
//! tspclient-go's token and CMS cases (§5, S01–S19, S32–S37) at token level,
//! and notation-core-go's K24.

use std::collections::BTreeMap;

use base64::Engine as _;
use notary::{
    Descriptor, Digest,
    policy::{TrustPolicyDocument, ValidationType},
    revocation::{CertStatus, RevocationChecker},
    timestamp::{
        MessageImprint, Rfc3161Verifier, SignedToken, TimestampError, TimestampRequest, TimestampResponse,
        TimestampStep, TimestampVerifier,
    },
    truststore::{DirTrustStore, TrustStore, TrustStoreError, TrustStoreType},
    verifier::{CheckStatus, Outcome, Verifier, VerifyRequest},
    x509::{Certificate, read_certificates},
};
use time::{Duration, OffsetDateTime, macros::datetime};

const JWS: &str = "application/jose+json";
const COSE: &str = "application/cose";
const REF: &str =
    "localhost:5000/net-monitor@sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";

// ---------------------------------------------------------------- T01–T17

fn target() -> Descriptor {
    Descriptor::new(
        "application/vnd.docker.distribution.manifest.v2+json",
        Digest::parse("sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda").unwrap(),
        528,
    )
}

fn policy_with(stores: &[&str], verify_timestamp: &str) -> TrustPolicyDocument {
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "test-timestamp",
            "registryScopes": ["*"],
            // notation-go's cases call the timestamp check directly; logging
            // authenticity lets the run reach it for signers no store trusts.
            "signatureVerification": {
                "level": "strict",
                "override": { "authenticity": "log" },
                "verifyTimestamp": verify_timestamp,
            },
            "trustStores": stores,
            "trustedIdentities": ["*"],
        }]
    });
    TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

fn default_policy() -> TrustPolicyDocument {
    policy_with(&["ca:valid-trust-store", "tsa:test-timestamp"], "always")
}

fn sig_env(name: &str) -> Vec<u8> {
    testkit::read_vector(&format!("go/verifier/timestamp/sigEnv/{name}"))
}

/// Every certificate checks out: the upstream cases have no revocation
/// responder, and the GlobalSign TSA chain names OCSP and CRL endpoints.
struct AllGood;

impl RevocationChecker for AllGood {
    fn check(&self, chain: &[Certificate]) -> Vec<CertStatus> {
        chain.iter().map(|_| CertStatus::Good).collect()
    }
}

/// A TSA trust store that exists but holds nothing (T14's dummy store).
struct EmptyTsaStore(DirTrustStore);

impl TrustStore for EmptyTsaStore {
    fn certificates(&self, ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError> {
        match ty {
            TrustStoreType::Tsa => Ok(Vec::new()),
            _ => self.0.certificates(ty, name),
        }
    }
}

fn verify_in(
    store: &dyn TrustStore,
    policy: &TrustPolicyDocument,
    envelope: &[u8],
    media_type: &str,
) -> Outcome {
    let target = target();
    let none = BTreeMap::new();
    Verifier::new(policy, store)
        .with_timestamp_verifier(&Rfc3161Verifier)
        .with_revocation_checker(&AllGood)
        .verify(&VerifyRequest {
            artifact_reference: REF,
            target: &target,
            envelope_media_type: media_type,
            envelope,
            user_metadata: &none,
        })
}

fn verify(policy: &TrustPolicyDocument, envelope: &[u8], media_type: &str) -> Outcome {
    verify_in(
        &DirTrustStore::new(testkit::vector("go/verifier")),
        policy,
        envelope,
        media_type,
    )
}

fn timestamp_result(o: &Outcome) -> &CheckStatus {
    &o.results
        .iter()
        .find(|r| r.check == ValidationType::AuthenticTimestamp)
        .unwrap_or_else(|| panic!("no authenticTimestamp result in {o:#?}"))
        .status
}

#[track_caller]
fn passes(o: &Outcome) {
    assert!(
        matches!(timestamp_result(o), CheckStatus::Passed(_)),
        "authenticTimestamp: {o:#?}"
    );
}

#[track_caller]
fn fails(o: &Outcome, words: &str) {
    match timestamp_result(o) {
        CheckStatus::Failed(m) => assert!(m.contains(words), "failed with {m:?}, expected {words:?}"),
        other => panic!("expected a failure containing {words:?}, got {other:?}"),
    }
}

/// withoutTimestamp.sig with `token` as its (unsigned) timestamp countersignature.
fn without_timestamp_plus(token: &[u8]) -> Vec<u8> {
    let mut jws: serde_json::Value = serde_json::from_slice(&sig_env("withoutTimestamp.sig")).unwrap();
    jws["header"]["io.cncf.notary.timestampSignature"] =
        base64::engine::general_purpose::STANDARD.encode(token).into();
    serde_json::to_vec(&jws).unwrap()
}

fn countersignature(name: &str) -> Vec<u8> {
    testkit::read_vector(&format!("go/verifier/timestamp/countersignature/{name}"))
}

#[test]
fn t01_jws_with_timestamp() {
    passes(&verify(&default_policy(), &sig_env("jwsWithTimestamp.sig"), JWS));
}

#[test]
fn t02_cose_with_timestamp() {
    passes(&verify(
        &default_policy(),
        &sig_env("coseWithTimestamp.sig"),
        COSE,
    ));
}

#[test]
fn t03_jws_expired_signer_with_timestamp_inside_validity() {
    passes(&verify(
        &default_policy(),
        &sig_env("jwsExpiredWithTimestamp.sig"),
        JWS,
    ));
}

#[test]
fn t04_cose_expired_signer_with_timestamp_inside_validity() {
    passes(&verify(
        &default_policy(),
        &sig_env("coseExpiredWithTimestamp.sig"),
        COSE,
    ));
}

#[test]
fn t05_after_cert_expiry() {
    let policy = policy_with(&["ca:valid-trust-store", "tsa:test-timestamp"], "afterCertExpiry");
    passes(&verify(&policy, &sig_env("coseWithTimestamp.sig"), COSE));
}

#[test]
fn t06_tsa_store_without_separator() {
    // The policy itself is refused when parsed, before any verification.
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "test-timestamp", "registryScopes": ["*"],
            "signatureVerification": { "level": "strict", "verifyTimestamp": "always" },
            "trustStores": ["ca:valid-trust-store", "tsa"], "trustedIdentities": ["*"],
        }]
    });
    // notation words it `"test-timestamp" is missing separator in trust store
    // value "tsa"`; the policy module's wording differs in its first half.
    let err = TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"tsa\". The required format is <TrustStoreType>:<TrustStoreName>"),
        "{err}"
    );
}

#[test]
fn t07_expired_signer_without_tsa_store() {
    let policy = policy_with(&["ca:valid-trust-store"], "always");
    fails(
        &verify(&policy, &sig_env("coseExpiredWithTimestamp.sig"), COSE),
        "verification time is after certificate \"CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US\" validity period, it was expired at \"Tue, 18 Jun 2024 07:30:31 +0000\"",
    );
}

#[test]
fn t08_without_timestamp() {
    fails(
        &verify(&default_policy(), &sig_env("withoutTimestamp.sig"), JWS),
        "no timestamp countersignature was found in the signature envelope",
    );
}

#[test]
fn t09_token_with_invalid_content_type() {
    let env = without_timestamp_plus(&countersignature("TimeStampTokenWithInvalideContentType.p7s"));
    fails(
        &verify(&default_policy(), &env, JWS),
        "failed to parse timestamp countersignature with error: unexpected content type: 1.2.840.113549.1.7.1. Expected to be id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)",
    );
}

#[test]
fn t10_token_with_invalid_tstinfo() {
    let env = without_timestamp_plus(&countersignature("TimeStampTokenWithInvalidTSTInfo.p7s"));
    fails(
        &verify(&default_policy(), &env, JWS),
        "failed to get the timestamp TSTInfo with error: cannot unmarshal TSTInfo from timestamp token: asn1: structure error: tags don't match",
    );
}

/// The verifier's wording of a failed step, for cases whose envelope cannot
/// pass the integrity check (their signature bytes were replaced).
fn authentic_timestamp_error(token: &[u8], signature: &[u8], roots: &[Certificate]) -> String {
    let f = match Rfc3161Verifier.timestamp(token, signature) {
        Ok(_) => Rfc3161Verifier.verify(token, signature, roots).unwrap_err(),
        Err(f) => f,
    };
    let prefix = match f.step {
        TimestampStep::Parse => "failed to parse timestamp countersignature",
        TimestampStep::Info => "failed to get the timestamp TSTInfo",
        TimestampStep::Validate => "failed to get timestamp from timestamp countersignature",
        _ => "failed to verify the timestamp countersignature",
    };
    format!("{prefix} with error: {}", f.error)
}

fn tsa_test_timestamp_roots() -> Vec<Certificate> {
    read_certificates(&testkit::read_vector(
        "go/verifier/truststore/x509/tsa/test-timestamp/globalsignRoot.cer",
    ))
    .unwrap()
}

#[test]
fn t11_mismatched_signature() {
    let msg = authentic_timestamp_error(
        &countersignature("TimeStampToken.p7s"),
        b"mismatch",
        &tsa_test_timestamp_roots(),
    );
    assert!(
        msg.contains("failed to get timestamp from timestamp countersignature with error: invalid TSTInfo: mismatched message"),
        "{msg}"
    );
}

#[test]
fn t12_token_without_certificate() {
    let msg = authentic_timestamp_error(
        &countersignature("TimeStampTokenWithoutCertificate.p7s"),
        b"notation",
        &tsa_test_timestamp_roots(),
    );
    assert!(
        msg.contains("failed to verify the timestamp countersignature with error: failed to verify signed token: signing certificate not found in the timestamp token"),
        "{msg}"
    );
}

#[test]
fn t13_tsa_store_does_not_exist() {
    let policy = policy_with(&["ca:valid-trust-store", "tsa:does-not-exist"], "always");
    fails(
        &verify(&policy, &sig_env("coseWithTimestamp.sig"), COSE),
        "failed to load tsa trust store with error: the trust store \"does-not-exist\" of type \"tsa\" does not exist",
    );
}

#[test]
fn t14_empty_tsa_store() {
    let store = EmptyTsaStore(DirTrustStore::new(testkit::vector("go/verifier")));
    fails(
        &verify_in(&store, &default_policy(), &sig_env("coseWithTimestamp.sig"), COSE),
        "no trusted TSA certificate found in trust store",
    );
}

#[test]
fn t15_tsa_root_mismatch() {
    let policy = policy_with(&["ca:valid-trust-store", "tsa:test-mismatch"], "always");
    fails(
        &verify(&policy, &sig_env("coseWithTimestamp.sig"), COSE),
        "failed to verify the timestamp countersignature with error: failed to verify signed token: cms verification failure: x509: certificate signed by unknown authority",
    );
}

#[test]
fn t16_timestamp_before_not_before() {
    fails(
        &verify(&default_policy(), &sig_env("timestampBeforeNotBefore.sig"), JWS),
        "timestamp can be before certificate \"CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US\" validity period, it will be valid from \"Fri, 18 Sep 2099 11:54:34 +0000\"",
    );
}

#[test]
fn t17_timestamp_after_not_after() {
    fails(
        &verify(&default_policy(), &sig_env("timestampAfterNotAfter.sig"), COSE),
        "timestamp can be after certificate \"CN=testTSA,O=Notary,L=Seattle,ST=WA,C=US\" validity period, it was expired at \"Tue, 18 Sep 2001 11:54:34 +0000\"",
    );
}

// ---------------------------------------------------------------- S01–S19

fn tsp(name: &str) -> Vec<u8> {
    testkit::read_vector(&format!("tspclient-go/testdata/{name}"))
}

fn token(name: &str) -> SignedToken {
    SignedToken::parse(&tsp(name)).unwrap()
}

fn global_sign_r3() -> Vec<Certificate> {
    read_certificates(&tsp("GlobalSignRootCA.crt")).unwrap()
}

/// Verifies a token as tspclient-go's tests do: roots R3, at the token's genTime.
fn verify_token(name: &str) -> Result<Vec<Certificate>, TimestampError> {
    let t = token(name);
    let at = t.info().unwrap().gen_time;
    t.verify(&global_sign_r3(), at)
}

#[track_caller]
fn token_fails(name: &str, words: &str) {
    let err = verify_token(name).unwrap_err().to_string();
    assert!(err.contains(words), "{name}: {err:?} does not contain {words:?}");
}

#[test]
fn s01_token_verifies() {
    let t = token("TimeStampToken.p7s");
    assert_eq!(t.certificates().len(), 4);
    let info = t.info().unwrap();
    assert_eq!(info.gen_time, datetime!(2021-09-17 14:09:10 UTC));
    assert_eq!(info.accuracy, Duration::SECOND);
    assert_eq!(info.policy, "1.3.6.1.4.1.4146.2.3");
    assert_eq!(info.nonce, None);
    assert_eq!(
        hex::encode(&info.hashed_message),
        "8326f4709d401dfabfa78302fb1cdea0f18048a44040c212bd8e28da6bc651c7"
    );
    let chain = verify_token("TimeStampToken.p7s").unwrap();
    assert!(chain.len() >= 2);
    assert_eq!(chain.last(), global_sign_r3().first());
}

#[test]
fn s02_one_good_signer_is_enough() {
    verify_token("TimeStampTokenWithValidAndInvalidSignerInfos.p7s").unwrap();
}

#[test]
fn s03_without_certificate() {
    token_fails(
        "TimeStampTokenWithoutCertificate.p7s",
        "failed to verify signed token: signing certificate not found in the timestamp token",
    );
}

#[test]
fn s04_invalid_signature() {
    token_fails(
        "TimeStampTokenWithInvalidSignature.p7s",
        "failed to verify signed token: cms verification failure: crypto/rsa: verification error",
    );
}

#[test]
fn s05_no_roots() {
    let t = token("TimeStampToken.p7s");
    let err = t.verify(&[], OffsetDateTime::now_utc()).unwrap_err().to_string();
    assert!(
        err.contains("failed to verify signed token: tsa root certificate pool cannot be nil"),
        "{err}"
    );
}

#[test]
fn s06_invalid_content_type() {
    let err = SignedToken::parse(&tsp("TimeStampTokenWithInvalideContentType.p7s")).unwrap_err();
    assert!(
        err.to_string().contains(
            "unexpected content type: 1.2.840.113549.1.7.1. Expected to be id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)"
        ),
        "{err}"
    );
}

#[test]
fn s07_invalid_tstinfo() {
    let err = token("TimeStampTokenWithInvalidTSTInfo.p7s")
        .info()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "cannot unmarshal TSTInfo from timestamp token: asn1: structure error: tags don't match"
        ),
        "{err}"
    );
}

#[test]
fn s08_without_signing_certificate() {
    token_fails(
        "TimeStampTokenWithoutSigningCertificate.p7s",
        "failed to get SigningCertificateV2 from signed attributes: attribute not found",
    );
}

#[test]
fn s09_wrong_issuer_choice_tag() {
    token_fails(
        "TimeStampTokenWithWrongSigningCertificateV2IssuerChoiceTag.p7s",
        "issuer name is missing in IssuerSerial",
    );
}

// S10 (issuerSerial is optional) is a unit test of `SigningCertificate` in
// src/timestamp/token.rs: upstream never verifies that token's signature,
// which does not verify.

#[test]
fn s11_sha1_cert_hash() {
    token_fails(
        "TimeStampTokenWithSHA1CertHash.p7s",
        "unsupported certificate hash algorithm in SigningCertificateV2 attribute",
    );
}

#[test]
fn s12_mismatched_cert_hash() {
    token_fails(
        "TimeStampTokenWithMismatchCertHash.p7s",
        "signing certificate hash does not match CertHash in signed attribute",
    );
}

#[test]
fn s13_invalid_signing_certificate_v2() {
    token_fails(
        "TimeStampTokenWithInvalidSigningCertificateV2.p7s",
        "failed to get SigningCertificateV2 from signed attributes: asn1: syntax error: sequence truncated",
    );
}

#[test]
fn s14_signing_certificate_v2_without_certificate() {
    token_fails(
        "TimeStampTokenWithSigningCertificateV2NoCert.p7s",
        "signingCertificateV2 does not contain any certificate",
    );
}

#[test]
fn s15_signing_certificate_v1_alone_is_not_accepted() {
    token_fails(
        "TimeStampTokenWithSigningCertificateV1.p7s",
        "failed to get SigningCertificateV2 from signed attributes: attribute not found",
    );
}

#[test]
fn s16_validate_matching_message() {
    let info = token("TimeStampToken.p7s").info().unwrap();
    let ts = info.validate(b"notation").unwrap();
    assert_eq!(ts.time, datetime!(2021-09-17 14:09:10 UTC));
    assert_eq!(ts.accuracy, Duration::SECOND);
    assert_eq!(
        info.range(),
        (
            datetime!(2021-09-17 14:09:09 UTC),
            datetime!(2021-09-17 14:09:11 UTC)
        )
    );
}

#[test]
fn s17_validate_mismatched_message() {
    let err = token("TimeStampToken.p7s")
        .info()
        .unwrap()
        .validate(b"invalid")
        .unwrap_err();
    assert!(
        err.to_string().contains("invalid TSTInfo: mismatched message"),
        "{err}"
    );
}

#[test]
fn s18_tstinfo_version_2() {
    let err = token("TimeStampTokenWithTSTInfoVersion2.p7s")
        .info()
        .unwrap()
        .validate(b"notation")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid TSTInfo: timestamp token info version must be 1, but got 2"),
        "{err}"
    );
}

#[test]
fn s19_sha1_imprint() {
    let err = token("SHA1TimeStampToken.p7s")
        .info()
        .unwrap()
        .validate(b"notation")
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid TSTInfo: unrecognized hash algorithm: 1.2.840.113549.1.1.5"),
        "{err}"
    );
}

// ---------------------------------------------------------------- S32–S37 (CMS level)

fn cms(name: &str) -> Vec<u8> {
    testkit::read_vector(&format!("tspclient-go/internal-cms/{name}"))
}

/// Parses and verifies an internal-cms token with `roots` at `at`.
fn verify_cms(
    name: &str,
    roots: &[Certificate],
    at: OffsetDateTime,
) -> Result<Vec<Certificate>, TimestampError> {
    SignedToken::parse(&cms(name))?.verify(roots, at)
}

#[test]
fn s32_cms_token_chain() {
    let t = SignedToken::parse(&cms("TimeStampToken.p7s")).unwrap();
    assert_eq!(t.certificates().len(), 4);
    let at = datetime!(2022-01-01 00:00 UTC);
    let roots = read_certificates(&cms("GlobalSignRootCA.crt")).unwrap();
    let chain = t.verify(&roots, at).unwrap();
    assert_eq!(chain.first(), t.certificates().first());
    assert!(verify_cms("TimeStampToken.p7s", &[], at).is_err());
}

#[test]
fn s33_corrupted_content() {
    let mut der = cms("TimeStampToken.p7s");
    // Change one byte of the TSTInfo's serial number: the message digest no longer matches.
    let t = SignedToken::parse(&der).unwrap();
    let serial = t.info().unwrap().serial_number;
    let pos = der
        .windows(serial.len())
        .position(|w| w == serial.as_slice())
        .unwrap();
    der[pos + serial.len() - 1] ^= 0x01;
    let at = datetime!(2022-01-01 00:00 UTC);
    let roots = read_certificates(&cms("GlobalSignRootCA.crt")).unwrap();
    let err = SignedToken::parse(&der)
        .unwrap()
        .verify(&roots, at)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cms verification failure"), "{err}");
}

#[test]
fn s34_invalid_certificates() {
    let err = SignedToken::parse(&cms("TimeStampTokenWithInvalidCertificates.p7s")).unwrap_err();
    assert!(err.to_string().contains("cms: syntax error"), "{err}");
}

/// The roots of the `Verify` table: the last certificate in TimeStampToken.p7s.
fn last_cert_root() -> Vec<Certificate> {
    let t = SignedToken::parse(&cms("TimeStampToken.p7s")).unwrap();
    t.certificates().last().cloned().into_iter().collect()
}

#[test]
fn s35_verify_table() {
    let at = datetime!(2024-01-09 00:00 UTC);
    let roots = last_cert_root();
    for bad in [
        "TimeStampTokenWithoutCertificate.p7s",
        "TimeStampTokenWithoutSigner.p7s",
        "TimeStampTokenWithSignerVersion2.p7s",
        "Sha1SignedData.p7s",
        "TimeStampTokenWithInvalidSignature.p7s",
        "SignedDataWithoutSignedAttributes.p7s",
        "TimeStampTokenWithInvalidContentType.p7s",
    ] {
        assert!(verify_cms(bad, &roots, at).is_err(), "{bad} verified");
    }
    verify_cms("TimeStampTokenWithAnInvalidAndAValidSignerInfo.p7s", &roots, at).unwrap();
    // Found by its sid, the signer is unknown (a unit test of the CMS layer);
    // the token layer finds it by its ESSCertIDv2 and accepts it.
    verify_cms("TimeStampTokenWithUnknownSignerIssuer.p7s", &roots, at).unwrap();
}

#[test]
fn s36_signer_version_2() {
    let at = datetime!(2024-01-09 00:00 UTC);
    let err = verify_cms("TimeStampTokenWithSignerVersion2.p7s", &last_cert_root(), at).unwrap_err();
    assert!(err.to_string().contains("invalid signer info version"), "{err}");
}

// S37 (the signed-attribute checks) is a unit test in src/timestamp/cms.rs:
// upstream checks those tokens' attributes alone, and their signatures do not verify.

// ---------------------------------------------------------------- S18–S30 (responses)

/// A granted TimeStampResp around `token` (DER).
fn granted(token: &[u8]) -> TimestampResponse {
    TimestampResponse {
        status: 0,
        status_strings: Vec::new(),
        fail_info: Vec::new(),
        token: Some(token.to_vec()),
    }
}

fn empty_request() -> TimestampRequest {
    TimestampRequest {
        message_imprint: MessageImprint {
            hash_algorithm: String::new(),
            parameters: None,
            hashed_message: Vec::new(),
        },
        policy: None,
        nonce: None,
        cert_req: false,
    }
}

/// Request{v1, SHA-256("notation") with NULL parameters, no nonce}.
fn notation_request(cert_req: bool) -> TimestampRequest {
    let mut req = TimestampRequest::new(b"notation")
        .unwrap()
        .with_cert_req(cert_req);
    req.nonce = None;
    req
}

#[track_caller]
fn response_fails(resp: &TimestampResponse, req: &TimestampRequest, words: &str) {
    let err = resp.validate(req).unwrap_err().to_string();
    assert!(err.contains(words), "{err:?} does not contain {words:?}");
}

#[test]
fn s18_response_with_tstinfo_version_2() {
    response_fails(
        &granted(&tsp("TimeStampTokenWithTSTInfoVersion2.p7s")),
        &empty_request(),
        "invalid timestamping response: timestamp token info version must be 1, but got 2",
    );
}

#[test]
fn s20_policy_mismatch() {
    let mut req = empty_request();
    req.policy = Some("1".into());
    response_fails(
        &granted(&tsp("TimeStampToken.p7s")),
        &req,
        "invalid timestamping response: policy in response 1.3.6.1.4.1.4146.2.3 does not match policy in request 1",
    );
}

#[test]
fn s21_imprint_mismatch() {
    response_fails(
        &granted(&tsp("TimeStampToken.p7s")),
        &empty_request(),
        "invalid timestamping response: message imprint in response",
    );
}

#[test]
fn s22_nonce_mismatch() {
    let mut req = notation_request(true);
    req.nonce = Some(vec![0x00, 0xf7, 0xe0]); // 63456
    response_fails(
        &granted(&tsp("TimeStampToken.p7s")),
        &req,
        "invalid timestamping response: nonce in response <nil> does not match nonce in request 63456",
    );
}

#[test]
fn s23_cert_req_without_certificate() {
    response_fails(
        &granted(&tsp("TimeStampTokenWithoutCertificate.p7s")),
        &notation_request(true),
        "invalid timestamping response: certReq is True in request, but did not find any TSA signing certificate in the response",
    );
}

#[test]
fn s24_certificates_not_requested() {
    response_fails(
        &granted(&tsp("TimeStampToken.p7s")),
        &notation_request(false),
        "invalid timestamping response: certReq is False in request, but certificates field is included in the response",
    );
}

#[test]
fn s25_s26_matching_responses() {
    let req = notation_request(true).with_policy("1.3.6.1.4.1.4146.2.3");
    granted(&tsp("TimeStampToken.p7s")).validate(&req).unwrap();
    let req = notation_request(false).with_policy("1.3.6.1.4.1.4146.2.3");
    granted(&tsp("TimeStampTokenWithoutCertificate.p7s"))
        .validate(&req)
        .unwrap();
}

#[test]
fn s27_response_with_invalid_tstinfo() {
    response_fails(
        &granted(&tsp("TimeStampTokenWithInvalidTSTInfo.p7s")),
        &empty_request(),
        "invalid timestamping response: cannot unmarshal TSTInfo",
    );
}

#[test]
fn s28_granted_response() {
    let resp = TimestampResponse::parse(&tsp("granted.tsq")).unwrap();
    assert_eq!(resp.status, 0);
    let token = resp.signed_token().unwrap();
    assert_eq!(token.certificates().len(), 4);
    assert_eq!(
        token.certificates()[0].sha256_thumbprint(),
        "13d6e9c420ff6d4e2754728c68e77882656467db9a190f816597f67fb6ccc6f9"
    );
    token
        .verify(&global_sign_r3(), datetime!(2022-01-01 00:00 UTC))
        .unwrap();
    let ts = token.info().unwrap().validate(b"notation").unwrap();
    assert_eq!(ts.time, datetime!(2021-09-18 11:54:34 UTC));
    assert_eq!(ts.accuracy, Duration::SECOND);
}

#[test]
fn s29_rejection() {
    let resp = TimestampResponse::parse(&tsp("rejection.tsq")).unwrap();
    let err = resp.signed_token().unwrap_err().to_string();
    assert!(
        err.contains("invalid timestamping response: invalid response with status code 2: rejected. Failure info: unrecognized or unsupported Algorithm Identifier"),
        "{err}"
    );
}

#[test]
fn s30_malformed() {
    let err = TimestampResponse::parse(&tsp("malformed.tsq"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("asn1: structure error"), "{err}");
}

#[test]
fn request_encodes_as_der() {
    let req = TimestampRequest::new(b"notation").unwrap();
    let der = req.to_der().unwrap();
    assert_eq!(der.first(), Some(&0x30));
    // SHA-256 OID then NULL, then the imprint.
    let imprint = hex::decode("8326f4709d401dfabfa78302fb1cdea0f18048a44040c212bd8e28da6bc651c7").unwrap();
    assert!(der.windows(32).any(|w| w == imprint.as_slice()));
    assert!(der.ends_with(&[0x01, 0x01, 0xff]), "certReq TRUE last");
}

// ---------------------------------------------------------------- K24

#[test]
fn k24_token_from_unknown_authority() {
    let t = SignedToken::parse(&testkit::read_vector(
        "core-go/timestamp/TimeStampTokenWithInvalidSignature.p7s",
    ))
    .unwrap();
    let roots = read_certificates(&testkit::read_vector("core-go/timestamp/tsaRootCert.cer")).unwrap();
    let at = t.info().unwrap().gen_time;
    let err = t.verify(&roots, at).unwrap_err().to_string();
    assert!(
        err.contains("failed to verify signed token: cms verification failure: x509: certificate signed by unknown authority"),
        "{err}"
    );
}

// ---------------------------------------------------------------- robustness

proptest::proptest! {
    /// Corrupted tokens are refused with an error, never a panic.
    #[test]
    fn corrupted_tokens_never_panic(pos in 0usize..6800, byte in proptest::prelude::any::<u8>(), cut in 0usize..7000) {
        let mut der = tsp("TimeStampToken.p7s");
        if let Some(b) = der.get_mut(pos) {
            *b = byte;
        }
        der.truncate(cut.max(1));
        if let Ok(t) = SignedToken::parse(&der) {
            let _ = t.info().map(|i| i.validate(b"notation"));
            let _ = t.verify(&global_sign_r3(), datetime!(2021-09-17 14:09:10 UTC));
        }
        let _ = TimestampResponse::parse(&der);
    }
}
