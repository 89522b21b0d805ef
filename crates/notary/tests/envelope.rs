//! Envelope integration tests: every upstream envelope parses and verifies,
//! the conformance vectors are reproduced byte for byte, every key spec round
//! trips in both formats, tampering is caught with a message that names it,
//! each format rule is enforced, and garbage never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ciborium::Value as Cbor;
use notary::{
    Descriptor,
    algorithm::{KeySpec, SignatureAlgorithm},
    crypto::{PrivateKey, Signer},
    envelope::{
        Envelope, EnvelopeError, EnvelopeFormat, ExtendedAttribute, MEDIA_TYPE_COSE, MEDIA_TYPE_JWS,
        PAYLOAD_CONTENT_TYPE, SignRequest, SigningScheme, payload_for, sign,
    },
};
use proptest::prelude::*;
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset, macros::datetime};

// ---------------------------------------------------------------- helpers

fn vector(rel: &str) -> Vec<u8> {
    testkit::read_vector(rel)
}

fn parse_and_verify(media_type: &str, bytes: &[u8]) -> Envelope {
    let env = Envelope::parse(media_type, bytes).unwrap_or_else(|e| panic!("parse: {e}"));
    env.verify_signature().unwrap_or_else(|e| panic!("verify: {e}"));
    env
}

/// Parse and verify, returning the first error as text.
fn check(media_type: &str, bytes: &[u8]) -> Result<Envelope, String> {
    let env = Envelope::parse(media_type, bytes).map_err(|e| e.to_string())?;
    env.verify_signature().map_err(|e| e.to_string())?;
    Ok(env)
}

fn media_type_of_content(bytes: &[u8]) -> &'static str {
    if bytes.first() == Some(&b'{') {
        MEDIA_TYPE_JWS
    } else {
        MEDIA_TYPE_COSE
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// A self-signed code-signing certificate for `key`, made by rcgen.
fn self_signed_cert(key: &PrivateKey) -> Vec<u8> {
    testkit::pki::self_signed_leaf("signet envelope test", &key.to_pkcs8_pem().unwrap()).der
}

struct TestKey {
    key: PrivateKey,
    cert: Vec<u8>,
}

/// One key and certificate per key spec, generated once per test binary.
fn keys() -> &'static [TestKey] {
    static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        KeySpec::ALL
            .into_iter()
            .map(|spec| {
                let key = PrivateKey::generate(spec).unwrap();
                let cert = self_signed_cert(&key);
                TestKey { key, cert }
            })
            .collect()
    })
}

fn test_key(spec: KeySpec) -> &'static TestKey {
    keys().iter().find(|k| k.key.key_spec() == spec).unwrap()
}

fn target() -> Descriptor {
    let mut d = Descriptor::of(
        "application/vnd.oci.image.manifest.v1+json",
        b"signet test artifact",
    );
    d.annotations = Some(BTreeMap::from([(
        "io.wabbit-networks.buildId".into(),
        "123".into(),
    )]));
    d
}

fn request<'a>(format: EnvelopeFormat, k: &'a TestKey) -> SignRequest<'a> {
    SignRequest {
        format,
        payload: payload_for(&target()),
        signing_time: datetime!(2024-05-01 10:20:30.123 +02:00),
        expiry: Some(datetime!(2124-05-01 10:20:30 UTC)),
        signing_scheme: SigningScheme::X509,
        extended: vec![ExtendedAttribute {
            key: "signedCritKey1".into(),
            value: json!("critical value"),
            critical: true,
        }],
        signing_agent: Some("signet/test".into()),
        certificate_chain: vec![k.cert.clone()],
        signer: &k.key,
        timestamper: None,
    }
}

fn formats() -> [EnvelopeFormat; 2] {
    [EnvelopeFormat::Jws, EnvelopeFormat::Cose]
}

// ---------------------------------------------------------- upstream envelopes

/// Every (manifest digest, layer media type, layer blob path) of signature
/// manifests in an OCI layout.
fn signature_layers(layout: &Path) -> Vec<(String, String, PathBuf)> {
    let blobs = layout.join("blobs/sha256");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let path = entry.unwrap().path();
        let Ok(doc) = serde_json::from_slice::<Value>(&std::fs::read(&path).unwrap()) else {
            continue;
        };
        let is_signature = doc["config"]["mediaType"] == "application/vnd.cncf.notary.signature"
            || doc["artifactType"] == "application/vnd.cncf.notary.signature";
        if !is_signature || doc["subject"].is_null() {
            continue;
        }
        for layer in doc["layers"].as_array().unwrap() {
            let digest = layer["digest"].as_str().unwrap();
            let hex = digest.strip_prefix("sha256:").unwrap();
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                layer["mediaType"].as_str().unwrap().to_owned(),
                blobs.join(hex),
            ));
        }
    }
    out
}

#[test]
fn every_e2e_layout_envelope_parses_and_verifies() {
    let root = testkit::vector("e2e/oci_layout");
    let mut verified = BTreeMap::new();
    for layout in std::fs::read_dir(&root).unwrap() {
        let layout = layout.unwrap().path();
        for (_manifest, media_type, blob) in signature_layers(&layout) {
            let bytes = std::fs::read(&blob).unwrap();
            let name = blob.file_name().unwrap().to_string_lossy().into_owned();
            if media_type == "application/vnd.oci.image.layer.v1.tar" {
                // L5: the signature layer is not an envelope at all.
                let err = Envelope::parse(&media_type, &bytes).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    "signature envelope format with media type \"application/vnd.oci.image.layer.v1.tar\" is not supported"
                );
                verified.insert(name, None);
                continue;
            }
            let env = parse_and_verify(&media_type, &bytes);
            verified.insert(name, Some(env));
        }
    }
    let get = |prefix: &str| -> &Envelope {
        verified
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .and_then(|(_, v)| v.as_ref())
            .unwrap_or_else(|| panic!("envelope {prefix} not found"))
    };
    assert!(verified.keys().any(|k| k.starts_with("9a8decdf")), "L5 tar layer");

    // L2: JWS PS256, signingTime with +08:00, no expiry, signingAgent Notation/1.0.0.
    let l2 = get("c9af07e0");
    assert_eq!(l2.format, EnvelopeFormat::Jws);
    assert_eq!(l2.algorithm, SignatureAlgorithm::RsaPssSha256);
    assert_eq!(l2.signed.signing_scheme, SigningScheme::X509);
    let st = l2.signed.signing_time.unwrap();
    assert_eq!(rfc3339(st), "2023-06-27T13:30:33+08:00");
    assert_eq!(st.offset(), UtcOffset::from_hms(8, 0, 0).unwrap());
    assert_eq!(l2.signed.expiry, None);
    assert_eq!(l2.unsigned.signing_agent.as_deref(), Some("Notation/1.0.0"));
    assert_eq!(l2.unsigned.timestamp_signature, None);
    assert_eq!(
        l2.certificate_chain,
        vec![pem_to_der(&vector("e2e/config/localkeys/e2e.crt"))]
    );
    let t = l2.target_artifact().unwrap();
    assert_eq!(
        t.digest.as_str(),
        "sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9"
    );
    assert_eq!(t.size, 517);
    assert_eq!(t.media_type, "application/vnd.oci.image.manifest.v1+json");

    // L3's second signature.
    let l3 = get("a5433363");
    assert_eq!(rfc3339(l3.signed.signing_time.unwrap()), "2025-02-17T08:17:09Z");
    assert_eq!(
        l3.unsigned.signing_agent.as_deref(),
        Some("notation-go/1.3.0+unreleased")
    );

    // L4: expiry 60 s after signing, offset kept.
    let l4 = get("b5f92756");
    let expiry = l4.signed.expiry.unwrap();
    assert_eq!(rfc3339(expiry), "2023-06-27T13:21:21+08:00");
    assert_eq!(expiry.offset(), UtcOffset::from_hms(8, 0, 0).unwrap());
    assert_eq!(
        rfc3339(l4.signed.signing_time.unwrap()),
        "2023-06-27T13:20:21+08:00"
    );

    // L6: signed by the expired certificate.
    let l6 = get("8513a5ba");
    assert_eq!(
        l6.certificate_chain,
        vec![pem_to_der(&vector("e2e/config/localkeys/expired_e2e.crt"))]
    );

    // L7: timestamped; L8: pretty-printed, timestamp token is "invalid\n".
    let l7 = get("603ff134");
    assert!(l7.unsigned.timestamp_signature.as_ref().unwrap().len() > 1000);
    assert_eq!(rfc3339(l7.signed.expiry.unwrap()), "2025-01-21T12:39:46Z");
    let l8 = get("8d2e70ff");
    assert_eq!(
        l8.unsigned.timestamp_signature.as_deref(),
        Some(&b"invalid\n"[..])
    );
    assert_eq!(
        l8.target_artifact().unwrap().annotations.unwrap()["purpose"],
        "e2e"
    );
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).unwrap()
}

#[test]
fn go_mock_envelopes_parse_and_verify() {
    let dir = testkit::vector("go/mock");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        count += 1;
        if name.ends_with("_invalid_sig_env.json") {
            // M02: the payload ends with a `=` pad, which base64url-without-padding forbids.
            let err = Envelope::parse(MEDIA_TYPE_JWS, &bytes).unwrap_err().to_string();
            assert!(
                err.contains("\"payload\" is not base64url without padding"),
                "{name}: {err}"
            );
            continue;
        }
        let env = parse_and_verify(MEDIA_TYPE_JWS, &bytes);
        env.target_artifact().unwrap();
        if let Some(v) = name
            .strip_prefix("ca_compatible_pluginver_sig_env_")
            .or_else(|| name.strip_prefix("ca_incompatible_pluginver_sig_env_"))
        {
            assert_eq!(
                env.signed.verification_plugin.as_deref(),
                Some("io.cncf.notary.plugin.unittest.mock")
            );
            assert_eq!(
                env.signed.verification_plugin_min_version.as_deref(),
                v.strip_suffix(".json")
            );
            assert!(
                env.signed.extended.is_empty(),
                "{name}: plugin keys are not extended"
            );
        }
    }
    assert_eq!(count, 17);

    // The `io.cncf.notary.SigningAgent` spelling is accepted like Go accepts it.
    let ca = parse_and_verify(MEDIA_TYPE_JWS, &vector("go/mock/ca_valid_sig_env.json"));
    assert!(ca.unsigned.signing_agent.is_some());
    assert_eq!(ca.algorithm, SignatureAlgorithm::RsaPssSha384);
    assert_eq!(ca.certificate_chain.len(), 2);
    assert_eq!(rfc3339(ca.signed.expiry.unwrap()), "2120-11-09T07:00:00Z");

    let sa = parse_and_verify(MEDIA_TYPE_JWS, &vector("go/mock/sa_valid_sig_env.json"));
    assert_eq!(sa.signed.signing_scheme, SigningScheme::X509SigningAuthority);
    assert_eq!(sa.signed.signing_time, None);
    assert_eq!(
        rfc3339(sa.signed.authentic_signing_time.unwrap()),
        "2020-11-09T07:00:00Z"
    );
    assert_eq!(
        sa.signed.effective_signing_time(),
        sa.signed.authentic_signing_time
    );

    let plugin = parse_and_verify(MEDIA_TYPE_JWS, &vector("go/mock/sa_plugin_sig_env.json"));
    assert_eq!(plugin.signed.verification_plugin.as_deref(), Some("plugin-name"));
    assert_eq!(
        plugin.signed.extended,
        vec![ExtendedAttribute {
            key: "SomeKey".into(),
            value: json!("SomeValue"),
            critical: true
        }]
    );

    let meta = parse_and_verify(MEDIA_TYPE_JWS, &vector("go/mock/sig_env_with_metadata.json"));
    let t = meta.target_artifact().unwrap();
    assert_eq!(t.annotations.unwrap()["io.wabbit-networks.buildId"], "123");
    assert_eq!(
        rfc3339(meta.signed.signing_time.unwrap()),
        "2023-01-11T10:02:54-08:00"
    );
}

#[test]
fn timestamp_sig_envs_parse_and_verify() {
    let cases = [
        ("jwsWithTimestamp.sig", EnvelopeFormat::Jws, true),
        ("jwsExpiredWithTimestamp.sig", EnvelopeFormat::Jws, true),
        ("withoutTimestamp.sig", EnvelopeFormat::Jws, false),
        ("timestampBeforeNotBefore.sig", EnvelopeFormat::Jws, true),
        ("coseWithTimestamp.sig", EnvelopeFormat::Cose, true),
        ("coseExpiredWithTimestamp.sig", EnvelopeFormat::Cose, true),
        ("timestampAfterNotAfter.sig", EnvelopeFormat::Cose, true),
    ];
    for (file, format, timestamped) in cases {
        let bytes = vector(&format!("go/verifier/timestamp/sigEnv/{file}"));
        let media_type = media_type_of_content(&bytes);
        assert_eq!(media_type, format.media_type(), "{file}");
        let env = parse_and_verify(media_type, &bytes);
        assert_eq!(env.format, format);
        assert_eq!(env.unsigned.timestamp_signature.is_some(), timestamped, "{file}");
        let t = env.target_artifact().unwrap();
        assert_eq!(
            t.digest.as_str(),
            "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda",
            "{file}"
        );
        assert_eq!(t.size, 528);
    }
}

#[test]
fn go_internal_and_blob_envelopes_parse_and_verify() {
    let jws = parse_and_verify(MEDIA_TYPE_JWS, &vector("go/internal/jws_signature.sig"));
    assert_eq!(
        rfc3339(jws.signed.signing_time.unwrap()),
        "2023-03-14T16:10:02+08:00"
    );
    let cose = parse_and_verify(MEDIA_TYPE_COSE, &vector("go/internal/cose_signature.sig"));
    assert_eq!(rfc3339(cose.signed.signing_time.unwrap()), "2023-03-14T04:45:22Z");
    assert_eq!(cose.algorithm, SignatureAlgorithm::RsaPssSha256);
    assert_eq!(jws.target_artifact().unwrap(), cose.target_artifact().unwrap());

    for (file, media_type, time) in [
        ("blob.jws.sig", MEDIA_TYPE_JWS, "2024-12-31T08:05:29Z"),
        ("blob.cose.sig", MEDIA_TYPE_COSE, "2025-01-07T08:42:43Z"),
    ] {
        let env = parse_and_verify(media_type, &vector(&format!("e2e/signatures/{file}")));
        assert_eq!(rfc3339(env.signed.signing_time.unwrap()), time);
        assert!(env.unsigned.timestamp_signature.is_some());
        let t = env.target_artifact().unwrap();
        assert_eq!(t.media_type, "application/octet-stream");
        assert_eq!(
            t.digest.as_str(),
            "sha256:c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"
        );
        assert_eq!(t.size, 11357);
    }

    let malformed = vector("e2e/signatures/malformed.jws.sig");
    let err = Envelope::parse(MEDIA_TYPE_JWS, &malformed).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed jws signature envelope: not valid JSON"),
        "{err}"
    );
    assert!(Envelope::parse(MEDIA_TYPE_COSE, &malformed).is_err());
}

#[test]
fn unsupported_media_type_message_is_notations() {
    let err = Envelope::parse("application/unsupported+json", b"{}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "signature envelope format with media type \"application/unsupported+json\" is not supported"
    );
    assert_eq!(
        EnvelopeFormat::from_media_type(MEDIA_TYPE_COSE),
        Some(EnvelopeFormat::Cose)
    );
    assert_eq!(EnvelopeFormat::Jws.name(), "jws");
    assert_eq!(
        SigningScheme::X509SigningAuthority.as_str(),
        "notary.x509.signingAuthority"
    );
}

// ------------------------------------------------------------ conformance

#[test]
fn k01_jws_conformance_protected_and_payload_byte_for_byte() {
    let vector: Value = serde_json::from_slice(&vector("core-go/signature/jws/conformance.json")).unwrap();
    // The vector has no x5c, so parsing it must say so.
    let raw = serde_json::to_vec(&vector).unwrap();
    assert_eq!(
        Envelope::parse(MEDIA_TYPE_JWS, &raw).unwrap_err(),
        EnvelopeError::MissingCertificateChain
    );

    let k = test_key(KeySpec::Ec(256));
    let signed_value = |v: &str| json!(v);
    let mut extended = vec![ExtendedAttribute {
        key: "signedCritKey1".into(),
        value: signed_value("signedCritValue1"),
        critical: true,
    }];
    for i in 1..=4 {
        extended.push(ExtendedAttribute {
            key: format!("signedKey{i}"),
            value: signed_value("signedValue1"),
            critical: false,
        });
    }
    let req = SignRequest {
        format: EnvelopeFormat::Jws,
        payload: br#"{"key":"hello JWS"}"#.to_vec(),
        signing_time: datetime!(2022-08-29 13:50:00 UTC),
        expiry: Some(datetime!(2099-08-29 13:50:00 UTC) + time::Duration::hours(24)),
        signing_scheme: SigningScheme::X509,
        extended,
        signing_agent: Some("NotationConformanceTest/1.0.0".into()),
        certificate_chain: vec![k.cert.clone()],
        signer: &k.key,
        timestamper: None,
    };
    let out: Value = serde_json::from_slice(&sign(&req).unwrap()).unwrap();
    assert_eq!(out["protected"], vector["protected"]);
    assert_eq!(out["payload"], vector["payload"]);
    assert_eq!(
        out["header"]["io.cncf.notary.signingAgent"],
        vector["header"]["io.cncf.notary.signingAgent"]
    );
}

#[test]
fn k02_cose_conformance_byte_for_byte() {
    let vector: Value = serde_json::from_slice(&vector("core-go/signature/cose/conformance.json")).unwrap();
    let expected = hex::decode(vector["expectedOutput"]["cborHex"].as_str().unwrap()).unwrap();
    let k = test_key(KeySpec::Rsa(3072));
    let req = SignRequest {
        format: EnvelopeFormat::Cose,
        payload: b"hello COSE".to_vec(),
        signing_time: OffsetDateTime::from_unix_timestamp(1661321924).unwrap(),
        expiry: Some(OffsetDateTime::from_unix_timestamp(1661408324).unwrap()),
        signing_scheme: SigningScheme::X509,
        extended: vec![
            ExtendedAttribute {
                key: "signedCritKey1".into(),
                value: json!("signedCritValue1"),
                critical: true,
            },
            ExtendedAttribute {
                key: "signedKey1".into(),
                value: json!("signedValue1"),
                critical: false,
            },
        ],
        signing_agent: Some("NotationConformanceTest/1.0.0".into()),
        certificate_chain: vec![k.cert.clone()],
        signer: &k.key,
        timestamper: None,
    };
    let ours = sign(&req).unwrap();

    // (a) Without x5chain and with the vector's fixed signature, the bytes match.
    let Cbor::Tag(18, inner) = ciborium::from_reader::<Cbor, _>(ours.as_slice()).unwrap() else {
        panic!("not tagged")
    };
    let Cbor::Array(mut items) = *inner else {
        panic!("not an array")
    };
    let Cbor::Map(unprotected) = &mut items[1] else {
        panic!("unprotected")
    };
    unprotected.retain(|(k, _)| *k != Cbor::Integer(33.into()));
    let Cbor::Tag(18, expected_inner) = ciborium::from_reader::<Cbor, _>(expected.as_slice()).unwrap() else {
        panic!()
    };
    let Cbor::Array(expected_items) = *expected_inner else {
        panic!()
    };
    items[3] = expected_items[3].clone();
    let mut rebuilt = Vec::new();
    ciborium::into_writer(&Cbor::Tag(18, Box::new(Cbor::Array(items))), &mut rebuilt).unwrap();
    assert_eq!(hex::encode_upper(&rebuilt), hex::encode_upper(&expected));

    // (b) Our own envelope verifies with the request's values.
    let env = parse_and_verify(MEDIA_TYPE_COSE, &ours);
    assert_eq!(env.payload, b"hello COSE");
    assert_eq!(env.payload_content_type, PAYLOAD_CONTENT_TYPE);
    assert_eq!(env.signed.signing_time.unwrap().unix_timestamp(), 1661321924);
    assert_eq!(env.signed.expiry.unwrap().unix_timestamp(), 1661408324);
    assert_eq!(env.signed.extended.len(), 2);
    assert!(
        env.signed
            .extended
            .iter()
            .any(|a| a.key == "signedCritKey1" && a.critical)
    );
    assert!(
        env.signed
            .extended
            .iter()
            .any(|a| a.key == "signedKey1" && !a.critical)
    );
    assert_eq!(
        env.unsigned.signing_agent.as_deref(),
        Some("NotationConformanceTest/1.0.0")
    );
}

// ------------------------------------------------------------- round trips

fn flip(bytes: &mut [u8], at: usize) {
    let i = at % bytes.len();
    bytes[i] ^= 0x01;
}

/// Flips a byte inside the leaf's public key, so the certificate still
/// parses (or not) but no longer holds the signing key.
fn flip_public_key(cert: &mut [u8], key: &PrivateKey) {
    let spki = key.public_key_spki_der().unwrap();
    let at = cert
        .windows(spki.len())
        .position(|w| w == spki.as_slice())
        .unwrap();
    // The last byte of the SPKI is in the key bits (RSA: exponent; EC: point y).
    // For RSA, flip in the modulus instead: a third of the way in.
    let offset = if matches!(key.key_spec(), KeySpec::Rsa(_)) {
        spki.len() / 3
    } else {
        spki.len() - 1
    };
    cert[at + offset] ^= 0x01;
}

fn jws_parts(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

fn decode_member(env: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(env[name].as_str().unwrap()).unwrap()
}

fn set_member(env: &mut Value, name: &str, bytes: &[u8]) {
    env[name] = Value::String(URL_SAFE_NO_PAD.encode(bytes));
}

fn cose_items(bytes: &[u8]) -> Vec<Cbor> {
    let Cbor::Tag(18, inner) = ciborium::from_reader::<Cbor, _>(bytes).unwrap() else {
        panic!()
    };
    let Cbor::Array(items) = *inner else { panic!() };
    items
}

fn cose_bytes(items: Vec<Cbor>) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&Cbor::Tag(18, Box::new(Cbor::Array(items))), &mut out).unwrap();
    out
}

fn cose_bstr(items: &mut [Cbor], i: usize) -> &mut Vec<u8> {
    match &mut items[i] {
        Cbor::Bytes(b) => b,
        _ => panic!("not a bstr"),
    }
}

fn cose_leaf(items: &mut [Cbor]) -> &mut Vec<u8> {
    let Cbor::Map(m) = &mut items[1] else { panic!() };
    let (_, chain) = m
        .iter_mut()
        .find(|(k, _)| *k == Cbor::Integer(33.into()))
        .unwrap();
    let Cbor::Array(certs) = chain else { panic!() };
    let Cbor::Bytes(leaf) = &mut certs[0] else {
        panic!()
    };
    leaf
}

fn expect_err(media_type: &str, bytes: &[u8], what: &str, any_of: &[&str]) {
    let err = check(media_type, bytes)
        .err()
        .unwrap_or_else(|| panic!("{what}: tampering not detected"));
    assert!(
        any_of.iter().any(|s| err.contains(s)),
        "{what}: unexpected error {err:?}"
    );
}

const SIG_INVALID: &str = "signature is invalid";

#[test]
fn every_key_spec_round_trips_in_both_formats_and_tampering_is_caught() {
    for k in keys() {
        for format in formats() {
            let what = format!("{} {}", k.key.key_spec(), format.name());
            let req = request(format, k);
            let bytes = sign(&req).unwrap();
            let mt = format.media_type();
            let env = parse_and_verify(mt, &bytes);
            assert_eq!(
                env.algorithm,
                k.key.key_spec().signature_algorithm().unwrap(),
                "{what}"
            );
            assert_eq!(env.target_artifact().unwrap(), target().sanitized(), "{what}");
            assert_eq!(env.certificate_chain, vec![k.cert.clone()]);
            assert_eq!(env.unsigned.signing_agent.as_deref(), Some("signet/test"));
            // Truncated to seconds; JWS keeps the offset, COSE carries epoch seconds.
            let st = env.signed.signing_time.unwrap();
            assert_eq!(st, datetime!(2024-05-01 10:20:30 +02:00), "{what}");
            if format == EnvelopeFormat::Jws {
                assert_eq!(st.offset(), UtcOffset::from_hms(2, 0, 0).unwrap());
            }
            assert_eq!(env.signed.extended[0].key, "signedCritKey1");
            assert!(env.signed.extended[0].critical);

            match format {
                EnvelopeFormat::Jws => tamper_jws(&bytes, k, &what),
                EnvelopeFormat::Cose => tamper_cose(&bytes, k, &what),
            }
            raw_flips(mt, &bytes, &env);
        }
    }
}

fn tamper_jws(bytes: &[u8], k: &TestKey, what: &str) {
    let orig = jws_parts(bytes);
    let mt = MEDIA_TYPE_JWS;

    // (a) payload: a change that keeps it JSON, and a byte flip.
    let mut env = orig.clone();
    let payload = String::from_utf8(decode_member(&env, "payload")).unwrap();
    set_member(&mut env, "payload", payload.replace("123", "124").as_bytes());
    expect_err(
        mt,
        &serde_json::to_vec(&env).unwrap(),
        &format!("{what} payload"),
        &[SIG_INVALID],
    );
    let mut p = decode_member(&orig, "payload");
    flip(&mut p, 5);
    let mut env = orig.clone();
    set_member(&mut env, "payload", &p);
    expect_err(
        mt,
        &serde_json::to_vec(&env).unwrap(),
        &format!("{what} payload flip"),
        &["payload", SIG_INVALID],
    );

    // (b) protected header: a semantic change and a byte flip.
    let mut env = orig.clone();
    let header = String::from_utf8(decode_member(&env, "protected")).unwrap();
    set_member(
        &mut env,
        "protected",
        header.replace("2024-05-01", "2024-05-02").as_bytes(),
    );
    expect_err(
        mt,
        &serde_json::to_vec(&env).unwrap(),
        &format!("{what} protected"),
        &[SIG_INVALID],
    );
    let mut h = decode_member(&orig, "protected");
    flip(&mut h, 0);
    let mut env = orig.clone();
    set_member(&mut env, "protected", &h);
    expect_err(
        mt,
        &serde_json::to_vec(&env).unwrap(),
        &format!("{what} protected flip"),
        &["protected header"],
    );

    // (c) signature.
    let mut s = decode_member(&orig, "signature");
    flip(&mut s, 7);
    let mut env = orig.clone();
    set_member(&mut env, "signature", &s);
    expect_err(
        mt,
        &serde_json::to_vec(&env).unwrap(),
        &format!("{what} signature"),
        &[SIG_INVALID],
    );

    // (d) certificate: the leaf's key, and the DER header.
    for spoil in [0usize, 1] {
        let mut cert = k.cert.clone();
        if spoil == 0 {
            flip_public_key(&mut cert, &k.key);
        } else {
            cert[0] ^= 0x20;
        }
        let mut env = orig.clone();
        env["header"]["x5c"][0] = Value::String(STANDARD.encode(&cert));
        expect_err(
            mt,
            &serde_json::to_vec(&env).unwrap(),
            &format!("{what} certificate {spoil}"),
            &[SIG_INVALID, "malformed certificate #0", "unsupported key"],
        );
    }
}

fn tamper_cose(bytes: &[u8], k: &TestKey, what: &str) {
    let orig = cose_items(bytes);
    let mt = MEDIA_TYPE_COSE;

    let mut items = orig.clone();
    flip(cose_bstr(&mut items, 2), 3);
    expect_err(mt, &cose_bytes(items), &format!("{what} payload"), &[SIG_INVALID]);

    // The last protected bytes are inside a text value: still valid CBOR.
    let mut items = orig.clone();
    let p = cose_bstr(&mut items, 0);
    let at = p.len() - 2;
    flip(p, at);
    expect_err(
        mt,
        &cose_bytes(items),
        &format!("{what} protected"),
        &[SIG_INVALID, "protected header"],
    );
    let mut items = orig.clone();
    flip(cose_bstr(&mut items, 0), 0);
    expect_err(
        mt,
        &cose_bytes(items),
        &format!("{what} protected flip"),
        &["protected header"],
    );

    let mut items = orig.clone();
    flip(cose_bstr(&mut items, 3), 9);
    expect_err(
        mt,
        &cose_bytes(items),
        &format!("{what} signature"),
        &[SIG_INVALID],
    );

    let mut items = orig.clone();
    flip_public_key(cose_leaf(&mut items), &k.key);
    expect_err(
        mt,
        &cose_bytes(items),
        &format!("{what} certificate"),
        &[SIG_INVALID, "malformed certificate #0", "unsupported key"],
    );
    let mut items = orig.clone();
    cose_leaf(&mut items)[0] ^= 0x20;
    expect_err(
        mt,
        &cose_bytes(items),
        &format!("{what} certificate header"),
        &["malformed certificate #0"],
    );
}

/// Raw bit flips over the serialised envelope: each must fail, or leave what
/// was signed (and by whom) unchanged; flips in the unsigned parts (the signing
/// agent, a certificate's own signature) are allowed to pass here.
fn raw_flips(media_type: &str, bytes: &[u8], orig: &Envelope) {
    let step = (bytes.len() / 97).max(1);
    for at in (0..bytes.len()).step_by(step) {
        let mut b = bytes.to_vec();
        b[at] ^= 0x04;
        if let Ok(env) = check(media_type, &b) {
            assert_eq!(env.signing_input(), orig.signing_input(), "flip at {at}");
            assert_eq!(env.payload, orig.payload);
            assert_eq!(env.signed, orig.signed);
            assert_eq!(env.signature, orig.signature);
        }
    }
}

#[test]
fn algorithm_must_match_the_certificate_key() {
    let rsa = test_key(KeySpec::Rsa(2048));
    let ec = test_key(KeySpec::Ec(256));
    // Signed by the RSA key but carrying the EC certificate.
    let mut req = request(EnvelopeFormat::Jws, rsa);
    req.certificate_chain = vec![ec.cert.clone()];
    let err = sign(&req).unwrap_err().to_string();
    assert!(
        err.contains("RSASSA-PSS-SHA-256 does not match the signing certificate's EC-256 key, which requires ECDSA-SHA-256"),
        "{err}"
    );
    // Swap the certificate after signing.
    let good = sign(&request(EnvelopeFormat::Cose, rsa)).unwrap();
    let mut items = cose_items(&good);
    *cose_leaf(&mut items) = ec.cert.clone();
    let env = Envelope::parse(MEDIA_TYPE_COSE, &cose_bytes(items)).unwrap();
    assert!(matches!(
        env.verify_signature(),
        Err(EnvelopeError::AlgorithmMismatch {
            key: KeySpec::Ec(256),
            ..
        })
    ));
}

#[test]
fn sign_request_rules() {
    let k = test_key(KeySpec::Ec(256));
    type Change = Box<dyn Fn(&mut SignRequest)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|r| r.payload.clear()), "the payload is empty"),
        (
            Box::new(|r| r.certificate_chain.clear()),
            "the certificate chain is empty",
        ),
        (
            Box::new(|r| r.expiry = Some(r.signing_time)),
            "expiry cannot be equal to or before",
        ),
        (
            Box::new(|r| {
                r.extended.push(ExtendedAttribute {
                    key: "io.cncf.notary.expiry".into(),
                    value: json!("x"),
                    critical: false,
                })
            }),
            "reserved by the specification",
        ),
        (
            Box::new(|r| r.extended.push(r.extended[0].clone())),
            "is given twice",
        ),
    ];
    for format in formats() {
        for (change, message) in &cases {
            let mut req = request(format, k);
            change(&mut req);
            let err = sign(&req).unwrap_err().to_string();
            assert!(err.contains(message), "{format:?}: {err}");
        }
    }
    let mut req = request(EnvelopeFormat::Jws, k);
    req.payload = b"not json".to_vec();
    assert!(
        sign(&req)
            .unwrap_err()
            .to_string()
            .contains("must be a JSON object")
    );
    // COSE takes any payload bytes.
    let mut req = request(EnvelopeFormat::Cose, k);
    req.payload = b"not json".to_vec();
    let env = parse_and_verify(MEDIA_TYPE_COSE, &sign(&req).unwrap());
    assert!(
        env.target_artifact()
            .unwrap_err()
            .to_string()
            .contains("invalid signature payload")
    );
}

#[test]
fn signing_authority_scheme_round_trips() {
    let k = test_key(KeySpec::Ec(384));
    for format in formats() {
        let mut req = request(format, k);
        req.signing_scheme = SigningScheme::X509SigningAuthority;
        req.expiry = None;
        req.extended.push(ExtendedAttribute {
            key: "io.cncf.notary.verificationPlugin".into(),
            value: json!("com.example.plugin"),
            critical: true,
        });
        let env = parse_and_verify(format.media_type(), &sign(&req).unwrap());
        assert_eq!(env.signed.signing_scheme, SigningScheme::X509SigningAuthority);
        assert_eq!(env.signed.signing_time, None);
        assert!(env.signed.authentic_signing_time.is_some());
        assert_eq!(
            env.signed.verification_plugin.as_deref(),
            Some("com.example.plugin")
        );
        assert_eq!(env.signed.extended.len(), 1);
    }
}

#[test]
fn jws_output_shape_matches_notation() {
    let k = test_key(KeySpec::Ec(256));
    let bytes = sign(&request(EnvelopeFormat::Jws, k)).unwrap();
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.starts_with(r#"{"payload":""#), "{text}");
    let env = jws_parts(&bytes);
    let keys: Vec<&str> = env.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["payload", "protected", "header", "signature"]);
    let header = String::from_utf8(decode_member(&env, "protected")).unwrap();
    assert_eq!(
        header,
        r#"{"alg":"ES256","crit":["io.cncf.notary.signingScheme","signedCritKey1","io.cncf.notary.expiry"],"cty":"application/vnd.cncf.notary.payload.v1+json","io.cncf.notary.expiry":"2124-05-01T10:20:30Z","io.cncf.notary.signingScheme":"notary.x509","io.cncf.notary.signingTime":"2024-05-01T10:20:30+02:00","signedCritKey1":"critical value"}"#
    );
    let payload = String::from_utf8(decode_member(&env, "payload")).unwrap();
    assert!(
        payload.starts_with(r#"{"targetArtifact":{"mediaType":"#),
        "{payload}"
    );
}

// ------------------------------------------------------------ format rules

const T0: &str = "2024-01-01T00:00:00Z";
const SCHEME: &str = "io.cncf.notary.signingScheme";

fn base_protected() -> Value {
    json!({
        "alg": "ES256",
        "crit": [SCHEME],
        "cty": PAYLOAD_CONTENT_TYPE,
        SCHEME: "notary.x509",
        "io.cncf.notary.signingTime": T0,
    })
}

fn jws_with(protected: &[u8], header: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "payload": URL_SAFE_NO_PAD.encode(payload_for(&target())),
        "protected": URL_SAFE_NO_PAD.encode(protected),
        "header": header,
        "signature": URL_SAFE_NO_PAD.encode(b"not a real signature"),
    }))
    .unwrap()
}

fn good_header() -> Value {
    json!({"x5c": [STANDARD.encode(&test_key(KeySpec::Ec(256)).cert)]})
}

fn parse_err(media_type: &str, bytes: &[u8]) -> String {
    Envelope::parse(media_type, bytes).unwrap_err().to_string()
}

#[test]
fn jws_protected_header_rules() {
    type Change = fn(&mut Value);
    let cases: [(Change, &str); 20] = [
        (
            |h| drop(h.as_object_mut().unwrap().remove("crit")),
            "invalid protected header: \"crit\" is missing",
        ),
        (|h| h["crit"] = json!([]), "\"crit\" is empty"),
        (
            |h| h["crit"] = json!(SCHEME),
            "\"crit\" must be an array of strings",
        ),
        (
            |h| h["crit"] = json!([SCHEME, "absent"]),
            "\"absent\" is marked critical but not present",
        ),
        (
            |h| h["crit"] = json!([SCHEME, "alg"]),
            "\"alg\" must not be listed in \"crit\"",
        ),
        (
            |h| h["crit"] = json!([SCHEME, SCHEME]),
            "is listed twice in \"crit\"",
        ),
        (
            |h| h["io.cncf.notary.expiry"] = json!("2025-01-01T00:00:00Z"),
            "these required headers are not marked as critical: [\"io.cncf.notary.expiry\"]",
        ),
        (
            |h| {
                h["SomeKey"] = json!("v");
                h["crit"] = json!(["SomeKey"]);
            },
            "not marked as critical: [\"io.cncf.notary.signingScheme\"]",
        ),
        (
            |h| drop(h.as_object_mut().unwrap().remove("io.cncf.notary.signingTime")),
            "\"io.cncf.notary.signingTime\" must be present for the notary.x509 signing scheme",
        ),
        (
            |h| h["io.cncf.notary.authenticSigningTime"] = json!(T0),
            "\"io.cncf.notary.authenticSigningTime\" must not be present for the notary.x509 signing scheme",
        ),
        (
            |h| h[SCHEME] = json!("notary.x509.signingAuthority"),
            "\"io.cncf.notary.signingTime\" must not be present for the notary.x509.signingAuthority signing scheme",
        ),
        (
            |h| {
                h[SCHEME] = json!("notary.x509.signingAuthority");
                let m = h.as_object_mut().unwrap();
                let t = m.remove("io.cncf.notary.signingTime").unwrap();
                m.insert("io.cncf.notary.authenticSigningTime".into(), t);
            },
            "not marked as critical: [\"io.cncf.notary.authenticSigningTime\"]",
        ),
        (
            |h| h[SCHEME] = json!("notary.default"),
            "unsupported signing scheme \"notary.default\"",
        ),
        (
            |h| h["alg"] = json!("HS256"),
            "signature algorithm \"HS256\" is not supported",
        ),
        (
            |h| drop(h.as_object_mut().unwrap().remove("alg")),
            "\"alg\" is missing",
        ),
        (
            |h| h["cty"] = json!("application/json"),
            "content type \"application/json\" is not supported",
        ),
        (
            |h| drop(h.as_object_mut().unwrap().remove("cty")),
            "content type (cty) is missing",
        ),
        (
            |h| {
                h["io.cncf.notary.expiry"] = json!("2023-12-31T23:59:59Z");
                h["crit"] = json!([SCHEME, "io.cncf.notary.expiry"]);
            },
            "cannot be equal to or before the signing time",
        ),
        (
            |h| h["io.cncf.notary.signingTime"] = json!("yesterday"),
            "is not an RFC 3339 time",
        ),
        (
            |h| {
                h["io.cncf.notary.verificationPlugin"] = json!(7);
            },
            "\"io.cncf.notary.verificationPlugin\" must be a string",
        ),
    ];
    // The base header itself is fine (the signature is not, which parse does not check).
    let base = Envelope::parse(
        MEDIA_TYPE_JWS,
        &jws_with(&serde_json::to_vec(&base_protected()).unwrap(), good_header()),
    )
    .unwrap();
    assert!(matches!(
        base.verify_signature(),
        Err(EnvelopeError::InvalidSignature { .. })
    ));
    for (change, message) in cases {
        let mut h = base_protected();
        change(&mut h);
        let err = parse_err(
            MEDIA_TYPE_JWS,
            &jws_with(&serde_json::to_vec(&h).unwrap(), good_header()),
        );
        assert!(err.contains(message), "want {message:?}, got {err:?}");
    }
    // Times with offsets keep them; fractional seconds parse.
    let mut h = base_protected();
    h["io.cncf.notary.signingTime"] = json!("2024-01-01T00:00:00.5-08:00");
    let env = Envelope::parse(
        MEDIA_TYPE_JWS,
        &jws_with(&serde_json::to_vec(&h).unwrap(), good_header()),
    )
    .unwrap();
    assert_eq!(
        env.signed.signing_time.unwrap().offset(),
        UtcOffset::from_hms(-8, 0, 0).unwrap()
    );
    // Duplicate keys in the protected header.
    let dup = br#"{"alg":"ES256","alg":"PS256","crit":["io.cncf.notary.signingScheme"]}"#;
    let err = parse_err(MEDIA_TYPE_JWS, &jws_with(dup, good_header()));
    assert!(err.contains("duplicate key \"alg\""), "{err}");
}

#[test]
fn jws_structure_rules() {
    let protected = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&base_protected()).unwrap());
    let payload = URL_SAFE_NO_PAD.encode(payload_for(&target()));
    let cert = STANDARD.encode(&test_key(KeySpec::Ec(256)).cert);
    let env = |extra: &str, header: &str| {
        format!(
            r#"{{"payload":"{payload}","protected":"{protected}","header":{header},"signature":"c2ln"{extra}}}"#
        )
        .into_bytes()
    };
    let header = format!(r#"{{"x5c":["{cert}"]}}"#);
    assert!(Envelope::parse(MEDIA_TYPE_JWS, &env("", &header)).is_ok());
    // Unknown top-level and unprotected members are ignored, as in Go.
    assert!(
        Envelope::parse(
            MEDIA_TYPE_JWS,
            &env(r#","other":1"#, &format!(r#"{{"x5c":["{cert}"],"kid":"x"}}"#))
        )
        .is_ok()
    );

    let cases: Vec<(Vec<u8>, &str)> = vec![
        (env(r#","payload":"e30""#, &header), "duplicate key \"payload\""),
        (
            env(r#","Payload":"e30""#, &header),
            "member \"payload\" appears more than once",
        ),
        (
            env("", &format!(r#"{{"x5c":["{cert}"],"X5C":[]}}"#)),
            "member \"x5c\" appears more than once",
        ),
        (
            env(r#","signatures":[]"#, &header),
            "general JWS JSON serialisation",
        ),
        (env("", "{}"), "certificate chain is not present"),
        (env("", r#"{"x5c":[]}"#), "certificate chain is not present"),
        (env("", r#"{"x5c":"abc"}"#), "\"x5c\" must be an array"),
        (
            // Two bytes without their `=` pad.
            env("", &format!(r#"{{"x5c":["{cert}","AAE"]}}"#)),
            "x5c[1] is not padded base64",
        ),
        (env("", r#"{"x5c":["AAAA"]}"#), "malformed certificate #0"),
        (env("", "[]"), "\"header\" must be a JSON object"),
        (
            env(
                "",
                &format!(r#"{{"x5c":["{cert}"],"io.cncf.notary.timestampSignature":5}}"#),
            ),
            "timestampSignature\" must be a base64 string",
        ),
        (b"[]".to_vec(), "the envelope must be a JSON object"),
        (b"{\"payload\":\"e30\"}".to_vec(), "\"protected\" is missing"),
    ];
    for (bytes, message) in cases {
        let err = parse_err(MEDIA_TYPE_JWS, &bytes);
        assert!(err.contains(message), "want {message:?}, got {err:?}");
    }
    let replace = |from: &str, to: &str| {
        env("", &header)
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .replacen(from, to, 1)
    };
    let err = parse_err(
        MEDIA_TYPE_JWS,
        replace(r#""signature":"c2ln""#, r#""signature":"""#).as_bytes(),
    );
    assert!(err.contains("\"signature\" is empty"), "{err}");
    let err = parse_err(
        MEDIA_TYPE_JWS,
        replace(r#""signature":"c2ln""#, r#""signature":"c2ln=""#).as_bytes(),
    );
    assert!(
        err.contains("\"signature\" is not base64url without padding"),
        "{err}"
    );
    let err = parse_err(
        MEDIA_TYPE_JWS,
        replace(&payload, &URL_SAFE_NO_PAD.encode("[1]")).as_bytes(),
    );
    assert!(err.contains("\"payload\" must be a JSON object"), "{err}");
}

fn cose_protected_base() -> Vec<(Cbor, Cbor)> {
    vec![
        (Cbor::Integer(1.into()), Cbor::Integer((-7).into())),
        (
            Cbor::Integer(2.into()),
            Cbor::Array(vec![Cbor::Text(SCHEME.into())]),
        ),
        (Cbor::Integer(3.into()), Cbor::Text(PAYLOAD_CONTENT_TYPE.into())),
        (Cbor::Text(SCHEME.into()), Cbor::Text("notary.x509".into())),
        (
            Cbor::Text("io.cncf.notary.signingTime".into()),
            Cbor::Tag(1, Box::new(Cbor::Integer(1_700_000_000.into()))),
        ),
    ]
}

fn cose_unprotected_base() -> Vec<(Cbor, Cbor)> {
    vec![(
        Cbor::Integer(33.into()),
        Cbor::Array(vec![Cbor::Bytes(test_key(KeySpec::Ec(256)).cert.clone())]),
    )]
}

fn cose_with(protected: Vec<(Cbor, Cbor)>, unprotected: Vec<(Cbor, Cbor)>) -> Vec<Cbor> {
    let mut p = Vec::new();
    ciborium::into_writer(&Cbor::Map(protected), &mut p).unwrap();
    vec![
        Cbor::Bytes(p),
        Cbor::Map(unprotected),
        Cbor::Bytes(payload_for(&target())),
        Cbor::Bytes(b"not a real signature".to_vec()),
    ]
}

#[test]
fn cose_rules() {
    let ok = cose_with(cose_protected_base(), cose_unprotected_base());
    let env = Envelope::parse(MEDIA_TYPE_COSE, &cose_bytes(ok.clone())).unwrap();
    assert_eq!(env.signed.signing_time.unwrap().unix_timestamp(), 1_700_000_000);
    assert!(matches!(
        env.verify_signature(),
        Err(EnvelopeError::InvalidSignature { .. })
    ));

    let encode = |v: &Cbor| {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    };
    let untagged = encode(&Cbor::Array(ok.clone()));
    assert!(parse_err(MEDIA_TYPE_COSE, &untagged).contains("must be CBOR tag 18"));
    let wrong_tag = encode(&Cbor::Tag(98, Box::new(Cbor::Array(ok.clone()))));
    assert!(parse_err(MEDIA_TYPE_COSE, &wrong_tag).contains("CBOR tag 98, expected 18"));
    let three = cose_bytes(ok[..3].to_vec());
    assert!(parse_err(MEDIA_TYPE_COSE, &three).contains("must have 4 elements, found 3"));
    let mut trailing = cose_bytes(ok.clone());
    trailing.push(0);
    assert!(parse_err(MEDIA_TYPE_COSE, &trailing).contains("1 trailing bytes after the envelope"));
    let mut detached = ok.clone();
    detached[2] = Cbor::Null;
    assert!(
        parse_err(MEDIA_TYPE_COSE, &cose_bytes(detached)).contains("detached payloads are not supported")
    );

    type Edit = fn(&mut Vec<(Cbor, Cbor)>, &mut Vec<(Cbor, Cbor)>);
    let cases: [(Edit, &str); 12] = [
        (
            |p, _| p.push((Cbor::Integer(1.into()), Cbor::Integer((-7).into()))),
            "duplicate key 1 in a map in the protected header",
        ),
        (
            |_, u| u.push((Cbor::Integer(33.into()), Cbor::Array(vec![]))),
            "duplicate key 33 in a map in the envelope",
        ),
        (
            |p, _| p[0].1 = Cbor::Integer((-257).into()),
            "signature algorithm COSE -257 is not supported",
        ),
        (
            |p, _| p[0].1 = Cbor::Text("ES256".into()),
            "alg (1) must be an integer",
        ),
        (
            |p, _| p[1].1 = Cbor::Array(vec![Cbor::Text(SCHEME.into()), Cbor::Integer(4.into())]),
            "crit (2) lists 4: only text labels are supported",
        ),
        (
            |p, _| p.push((Cbor::Integer(4.into()), Cbor::Bytes(vec![1]))),
            "unsupported protected header label 4",
        ),
        (
            |p, _| p[4].1 = Cbor::Integer(1_700_000_000.into()),
            "must be a CBOR tag 1 (epoch) date/time",
        ),
        (
            |p, _| p[4].1 = Cbor::Tag(1, Box::new(Cbor::Text(T0.into()))),
            "must be a tag-1 time with integer seconds",
        ),
        (
            |p, _| p[2].1 = Cbor::Integer(50.into()),
            "content type (3) must be a text string",
        ),
        (
            |p, _| p.push((Cbor::Text("ext".into()), Cbor::Bytes(vec![1]))),
            "extended attribute \"ext\" has a value with no JSON equivalent",
        ),
        (
            |_, u| u[0].1 = Cbor::Bytes(test_key(KeySpec::Ec(256)).cert.clone()),
            "x5chain (33) must be an array of certificates",
        ),
        (
            |p, u| u.push((Cbor::Integer(3.into()), p[2].1.clone())),
            "label 3 is in both the protected and the unprotected header",
        ),
    ];
    for (edit, message) in cases {
        let (mut p, mut u) = (cose_protected_base(), cose_unprotected_base());
        edit(&mut p, &mut u);
        let err = parse_err(MEDIA_TYPE_COSE, &cose_bytes(cose_with(p, u)));
        assert!(err.contains(message), "want {message:?}, got {err:?}");
    }
    let err = parse_err(
        MEDIA_TYPE_COSE,
        &cose_bytes(cose_with(cose_protected_base(), vec![])),
    );
    assert_eq!(err, "certificate chain is not present in the signature envelope");
    let mut u = cose_unprotected_base();
    u.push((
        Cbor::Text("io.cncf.notary.signingAgent".into()),
        Cbor::Integer(1.into()),
    ));
    let err = parse_err(MEDIA_TYPE_COSE, &cose_bytes(cose_with(cose_protected_base(), u)));
    assert!(err.contains("signingAgent\" must be a text string"), "{err}");
}

// ------------------------------------------------------- garbage and fuzzing

/// Valid envelopes to mutate: our own in both formats and two upstream ones.
fn samples() -> &'static [(&'static str, Vec<u8>)] {
    static SAMPLES: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let k = test_key(KeySpec::Ec(256));
        vec![
            (MEDIA_TYPE_JWS, sign(&request(EnvelopeFormat::Jws, k)).unwrap()),
            (MEDIA_TYPE_COSE, sign(&request(EnvelopeFormat::Cose, k)).unwrap()),
            (MEDIA_TYPE_JWS, vector("go/internal/jws_signature.sig")),
            (MEDIA_TYPE_COSE, vector("go/internal/cose_signature.sig")),
        ]
    })
}

fn exercise(media_type: &str, bytes: &[u8]) {
    if let Ok(env) = Envelope::parse(media_type, bytes) {
        let _ = env.verify_signature();
        let _ = env.target_artifact();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(MEDIA_TYPE_JWS, &bytes);
        exercise(MEDIA_TYPE_COSE, &bytes);
        let mut tagged = vec![0xd2, 0x84];
        tagged.extend_from_slice(&bytes);
        exercise(MEDIA_TYPE_COSE, &tagged);
    }

    #[test]
    fn mutated_envelopes_never_panic(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..4), 1..6),
    ) {
        let (media_type, original) = &samples()[which];
        let mut bytes = original.clone();
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at % bytes.len();
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
        }
        exercise(media_type, &bytes);
    }
}
