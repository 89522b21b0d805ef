//! Signing with a timestamper: the token lands in the unsigned header of both
//! envelope formats, over the raw signature bytes, and a token that does not
//! fit the signature is refused. The tokens come from a real `openssl ts` TSA.
#![allow(clippy::unwrap_used)]

use base64::{Engine, engine::general_purpose::STANDARD};
use notary::{
    Descriptor,
    algorithm::KeySpec,
    crypto::PrivateKey,
    envelope::{self, Envelope, EnvelopeError, EnvelopeFormat, SignRequest, SigningScheme, payload_for},
    timestamp::{Rfc3161Verifier, TimestampRequest, TimestampResponse, TimestampVerifier},
    x509::Certificate,
};
use time::OffsetDateTime;

fn key_and_cert() -> (PrivateKey, Vec<u8>) {
    let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let cert = testkit::pki::self_signed_leaf("signet timestamp test", &key.to_pkcs8_pem().unwrap());
    (key, cert.der)
}

/// A token from `tsa` over `bytes`, through a real request and response.
fn token(tsa: &testkit::tsa::Tsa, bytes: &[u8]) -> Vec<u8> {
    let req = TimestampRequest::new(bytes).unwrap();
    let resp = TimestampResponse::parse(&tsa.reply(&req.to_der().unwrap())).unwrap();
    resp.validate(&req).unwrap();
    resp.token.unwrap()
}

fn request<'a>(
    format: EnvelopeFormat,
    key: &'a PrivateKey,
    cert: &[u8],
    timestamper: Option<&'a dyn envelope::Timestamper>,
) -> SignRequest<'a> {
    SignRequest {
        format,
        payload: payload_for(&Descriptor::of("application/octet-stream", b"blob")),
        signing_time: OffsetDateTime::now_utc(),
        expiry: None,
        signing_scheme: SigningScheme::X509,
        extended: Vec::new(),
        signing_agent: Some("signet/test".into()),
        certificate_chain: vec![cert.to_vec()],
        signer: key,
        timestamper,
    }
}

#[test]
fn the_token_is_written_into_the_unsigned_header() {
    let tsa = testkit::tsa::Tsa::start();
    let root = Certificate::from_der(tsa.root.der.clone()).unwrap();
    let (key, cert) = key_and_cert();
    for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
        let seen = std::cell::RefCell::new(Vec::new());
        let stamp = |sig: &[u8]| -> Result<Vec<u8>, String> {
            let t = token(&tsa, sig);
            *seen.borrow_mut() = t.clone();
            Ok(t)
        };
        let bytes = envelope::sign(&request(format, &key, &cert, Some(&stamp))).unwrap();
        let env = Envelope::parse(format.media_type(), &bytes).unwrap();
        let got = env.unsigned.timestamp_signature.clone().unwrap();
        assert_eq!(got, *seen.borrow(), "{format:?}");
        // Over the raw signature bytes, and it verifies against the TSA root.
        Rfc3161Verifier
            .verify(&got, &env.signature, std::slice::from_ref(&root))
            .unwrap();
        env.verify_signature().unwrap();

        match format {
            EnvelopeFormat::Jws => {
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                let b64 = json["header"]["io.cncf.notary.timestampSignature"]
                    .as_str()
                    .unwrap();
                assert_eq!(STANDARD.decode(b64).unwrap(), got);
            }
            EnvelopeFormat::Cose => {
                let value: ciborium::Value = ciborium::from_reader(bytes.as_slice()).unwrap();
                let ciborium::Value::Tag(18, inner) = value else {
                    panic!("not tag 18")
                };
                let ciborium::Value::Array(items) = *inner else {
                    panic!("not an array")
                };
                let ciborium::Value::Map(unprotected) = &items[1] else {
                    panic!("no map")
                };
                let found = unprotected.iter().find_map(|(k, v)| match (k, v) {
                    (ciborium::Value::Text(k), ciborium::Value::Bytes(v))
                        if k == "io.cncf.notary.timestampSignature" =>
                    {
                        Some(v.clone())
                    }
                    _ => None,
                });
                assert_eq!(found.unwrap(), got);
            }
        }
    }
}

#[test]
fn without_a_timestamper_there_is_no_token() {
    let (key, cert) = key_and_cert();
    for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
        let bytes = envelope::sign(&request(format, &key, &cert, None)).unwrap();
        let env = Envelope::parse(format.media_type(), &bytes).unwrap();
        assert_eq!(env.unsigned.timestamp_signature, None);
    }
}

#[test]
fn a_token_over_other_bytes_is_refused() {
    let tsa = testkit::tsa::Tsa::start();
    let (key, cert) = key_and_cert();
    let other = tsa.token_over(b"a different signature");
    for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
        let stamp = |_: &[u8]| -> Result<Vec<u8>, String> { Ok(other.clone()) };
        let err = envelope::sign(&request(format, &key, &cert, Some(&stamp))).unwrap_err();
        assert!(matches!(err, EnvelopeError::Timestamping(_)), "{err:?}");
        assert!(err.to_string().contains("mismatched message"), "{err}");
    }
}

#[test]
fn a_failing_timestamper_fails_the_signing() {
    let (key, cert) = key_and_cert();
    let stamp = |_: &[u8]| -> Result<Vec<u8>, String> { Err("the TSA is down".into()) };
    let err = envelope::sign(&request(EnvelopeFormat::Jws, &key, &cert, Some(&stamp))).unwrap_err();
    assert_eq!(err.to_string(), "timestamping failed: the TSA is down");
    let garbage = |_: &[u8]| -> Result<Vec<u8>, String> { Ok(b"not a token".to_vec()) };
    let err = envelope::sign(&request(EnvelopeFormat::Cose, &key, &cert, Some(&garbage))).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("timestamping failed: the timestamp token does not fit"),
        "{err}"
    );
}
