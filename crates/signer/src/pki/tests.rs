#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end checks of the PKI module against notary's verifier and the
//! `openssl` CLI.

use std::{collections::BTreeMap, path::Path, process::Command, sync::Arc, time::Instant};

use notary::{
    Descriptor,
    algorithm::KeySpec,
    crypto::{PrivateKey, Signer},
    envelope::{EnvelopeFormat, SignRequest, SigningScheme, payload_for, sign},
    policy::{TrustPolicyDocument, ValidationType},
    revocation::{
        CertStatus as NotaryStatus, RevocationChecker,
        crl::{Crl, CrlVerdict, check as crl_check},
        ocsp::{CertIdHash, OcspVerdict, check_response, request as ocsp_request},
    },
    timestamp::{Rfc3161Verifier, TimestampVerifier},
    truststore::{TrustStore, TrustStoreError, TrustStoreType},
    verifier::{Verdict, Verifier, VerifyRequest},
    x509::{Certificate, validate_code_signing_chain, validate_timestamping_chain},
};
use time::{Duration, OffsetDateTime};

use super::*;

const CRL_URL: &str = "http://signer.example/crl/default.crl";
const OCSP_URL: &str = "http://signer.example/ocsp/default";

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

fn ca(spec: KeySpec) -> Issuer {
    let key = Arc::new(PrivateKey::generate(spec).unwrap());
    let spki = key.public_key_spki_der().unwrap();
    let cert = generate_ca(
        "CN=Signet Test Root,O=Example,ST=WA,C=US",
        key.as_ref(),
        &spki,
        Duration::days(365),
    )
    .unwrap();
    Issuer::new(vec![cert], key).unwrap()
}

struct Job {
    key: PrivateKey,
    cert: Vec<u8>,
    serial: Vec<u8>,
}

fn job(issuer: &Issuer, serial_byte: u8) -> Job {
    let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let spki = key.public_key_spki_der().unwrap();
    let mut serial = vec![serial_byte; 16];
    serial[0] &= 0x7f;
    let t = now();
    let cert = issue_leaf(
        issuer,
        &LeafRequest {
            serial: &serial,
            subject: "CN=build 42,O=Example,ST=WA,C=US",
            public_key_spki: &spki,
            not_before: t - Duration::minutes(1),
            not_after: t + Duration::hours(1),
            crl_url: Some(CRL_URL),
            ocsp_url: Some(OCSP_URL),
        },
    )
    .unwrap();
    Job { key, cert, serial }
}

fn cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der.to_vec()).unwrap()
}

fn tsa(root: &Issuer) -> Tsa {
    let key = Arc::new(PrivateKey::generate(KeySpec::Ec(256)).unwrap());
    let spki = key.public_key_spki_der().unwrap();
    let tsa_cert = generate_tsa_certificate(
        root,
        "CN=Signet TSA,O=Example,C=US",
        &spki,
        &[0x11; 16],
        Duration::days(365),
    )
    .unwrap();
    let mut chain = vec![tsa_cert];
    chain.extend(root.chain.iter().cloned());
    Tsa {
        issuer: Issuer::new(chain, key).unwrap(),
        policy: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.2.1"),
    }
}

#[test]
fn leaf_chains_validate_for_code_signing() {
    for spec in [
        KeySpec::Ec(256),
        KeySpec::Ec(384),
        KeySpec::Ec(521),
        KeySpec::Rsa(2048),
        KeySpec::Rsa(3072),
    ] {
        let issuer = ca(spec);
        let leaf = job(&issuer, 0x42);
        let chain = [cert(&leaf.cert), cert(&issuer.certificate)];
        validate_code_signing_chain(&chain, Some(now())).unwrap_or_else(|e| panic!("{spec}: {e}"));
        assert_eq!(chain[0].version(), 3);
        assert_eq!(chain[0].subject(), "CN=build 42,O=Example,ST=WA,C=US");
        assert_eq!(chain[1].subject(), "CN=Signet Test Root,O=Example,ST=WA,C=US");
        assert_eq!(chain[0].serial_hex(), hex::encode(&leaf.serial));
        let endpoints = notary::revocation::RevocationEndpoints::of(&chain[0]);
        assert_eq!(endpoints.crl, [CRL_URL]);
        assert_eq!(endpoints.ocsp, [OCSP_URL]);
        assert!(notary::x509::is_root_certificate(&chain[1]).unwrap_or(false) || chain[1].is_self_signed());
    }
}

#[test]
fn issuer_refuses_a_foreign_key() {
    let issuer = ca(KeySpec::Ec(256));
    let other: Arc<dyn Signer> = Arc::new(PrivateKey::generate(KeySpec::Ec(256)).unwrap());
    let err = Issuer::new(issuer.chain.clone(), other).unwrap_err();
    assert!(matches!(err, PkiError::Issuer(_)), "{err}");
    assert!(Issuer::new(Vec::new(), issuer.signer.clone()).is_err());
}

#[test]
fn leaf_request_checks() {
    let issuer = ca(KeySpec::Ec(256));
    let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let spki = key.public_key_spki_der().unwrap();
    let t = now();
    let ok = LeafRequest {
        serial: &[1, 2, 3],
        subject: "CN=x",
        public_key_spki: &spki,
        not_before: t,
        not_after: t + Duration::hours(1),
        crl_url: None,
        ocsp_url: None,
    };
    assert!(issue_leaf(&issuer, &ok).is_ok());
    for bad in [
        LeafRequest {
            serial: &[0],
            ..ok.clone()
        },
        LeafRequest {
            serial: &[0x80; 20],
            ..ok.clone()
        },
        LeafRequest {
            subject: "CN",
            ..ok.clone()
        },
        LeafRequest {
            public_key_spki: b"junk",
            ..ok.clone()
        },
        LeafRequest {
            not_after: t,
            ..ok.clone()
        },
        LeafRequest {
            crl_url: Some("not a url"),
            ..ok.clone()
        },
    ] {
        assert!(issue_leaf(&issuer, &bad).is_err(), "{bad:?}");
    }
}

#[test]
fn issuance_speed() {
    let issuer = ca(KeySpec::Ec(256));
    let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let spki = key.public_key_spki_der().unwrap();
    let t = now();
    let n = 1000u32;
    let start = Instant::now();
    for i in 0..n {
        let mut serial = [0x5a; 16];
        serial[12..].copy_from_slice(&i.to_be_bytes());
        let der = issue_leaf(
            &issuer,
            &LeafRequest {
                serial: &serial,
                subject: "CN=build,O=Example,ST=WA,C=US",
                public_key_spki: &spki,
                not_before: t,
                not_after: t + Duration::hours(1),
                crl_url: Some(CRL_URL),
                ocsp_url: Some(OCSP_URL),
            },
        )
        .unwrap();
        assert!(der.len() > 300);
    }
    let per = start.elapsed() / n;
    eprintln!("issue_leaf (P-256 CA, P-256 leaf): {per:?} per leaf over {n} leaves");
}

/// A trust store in memory: `ca:test` and `tsa:test` hold the root.
struct Store(Vec<u8>);

impl TrustStore for Store {
    fn certificates(&self, _ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError> {
        assert_eq!(name, "test");
        Ok(vec![cert(&self.0)])
    }
}

/// Revocation from one CRL per issuer, as the service publishes it.
struct CrlChecker {
    crl: Vec<u8>,
    at: OffsetDateTime,
}

impl RevocationChecker for CrlChecker {
    fn check(&self, chain: &[Certificate]) -> Vec<NotaryStatus> {
        let crl = Crl::from_der(&self.crl).unwrap();
        chain
            .iter()
            .enumerate()
            .map(|(i, c)| match chain.get(i + 1) {
                None => NotaryStatus::NonRevokable,
                Some(parent) => match crl_check(c, parent, &crl, None, self.at) {
                    Ok(CrlVerdict::Good) => NotaryStatus::Good,
                    Ok(CrlVerdict::Revoked { .. }) => NotaryStatus::Revoked { detail: "CRL".into() },
                    Err(e) => NotaryStatus::Unknown {
                        detail: e.to_string(),
                    },
                },
            })
            .collect()
    }
}

fn policy() -> TrustPolicyDocument {
    let doc = serde_json::json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "signet",
            "registryScopes": ["*"],
            "signatureVerification": { "level": "strict", "verifyTimestamp": "always" },
            "trustStores": ["ca:test", "tsa:test"],
            "trustedIdentities": ["*"],
        }]
    });
    TrustPolicyDocument::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap()
}

#[test]
fn envelopes_verify_and_crl_revocation_is_honoured() {
    for spec in [KeySpec::Ec(256), KeySpec::Rsa(3072)] {
        let issuer = ca(spec);
        let tsa = tsa(&issuer);
        let leaf = job(&issuer, 0x21);
        let target = Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"an image");
        for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
            let envelope = sign(&SignRequest {
                format,
                payload: payload_for(&target),
                signing_time: now(),
                expiry: None,
                signing_scheme: SigningScheme::X509,
                extended: Vec::new(),
                signing_agent: Some("signet/test".into()),
                certificate_chain: vec![leaf.cert.clone(), issuer.certificate.clone()],
                signer: &leaf.key,
                timestamper: Some(&tsa),
            })
            .unwrap();
            let reference = format!("localhost:5000/app@{}", target.digest);
            let t = now();
            let other = RevokedCert {
                serial: vec![9; 16],
                revoked_at: t - Duration::minutes(1),
                reason: Some(Reason::Superseded),
            };
            let this = RevokedCert {
                serial: leaf.serial.clone(),
                revoked_at: t - Duration::minutes(1),
                reason: Some(Reason::KeyCompromise),
            };
            for (revoked, expect_ok) in [
                (vec![], true),
                (vec![other.clone()], true),
                (vec![other.clone(), this.clone()], false),
            ] {
                let crl_der = crl(
                    &issuer,
                    7,
                    t - Duration::minutes(1),
                    t + Duration::hours(1),
                    &revoked,
                )
                .unwrap();
                let checker = CrlChecker { crl: crl_der, at: t };
                let store = Store(issuer.certificate.clone());
                let policy = policy();
                let none = BTreeMap::new();
                let outcome = Verifier::new(&policy, &store)
                    .with_timestamp_verifier(&Rfc3161Verifier)
                    .with_revocation_checker(&checker)
                    .verify(&VerifyRequest {
                        artifact_reference: &reference,
                        target: &target,
                        envelope_media_type: format.media_type(),
                        envelope: &envelope,
                        user_metadata: &none,
                    });
                if expect_ok {
                    assert_eq!(
                        outcome.verdict,
                        Verdict::Verified,
                        "{spec} {format:?}: {outcome:#?}"
                    );
                } else {
                    assert!(
                        matches!(
                            &outcome.verdict,
                            Verdict::Failed {
                                check: ValidationType::Revocation,
                                ..
                            }
                        ),
                        "{spec} {format:?}: {outcome:#?}"
                    );
                }
            }
        }
    }
}

#[test]
fn crl_contents() {
    let issuer = ca(KeySpec::Ec(256));
    let leaf = job(&issuer, 0x33);
    let t = now();
    let revoked = [RevokedCert {
        serial: leaf.serial.clone(),
        revoked_at: t - Duration::minutes(3),
        reason: Some(Reason::CessationOfOperation),
    }];
    let der = crl(&issuer, 300, t, t + Duration::hours(1), &revoked).unwrap();
    let parsed = Crl::from_der(&der).unwrap();
    assert_eq!(parsed.number(), Some(vec![1, 44]));
    assert_eq!(parsed.revoked_count(), 1);
    let verdict = crl_check(&cert(&leaf.cert), &cert(&issuer.certificate), &parsed, None, t).unwrap();
    assert_eq!(
        verdict,
        CrlVerdict::Revoked {
            reason: Some(x509_cert::ext::pkix::CrlReason::CessationOfOperation),
            revoked_at: t - Duration::minutes(3),
        }
    );
    assert!(crl(&issuer, 1, t, t, &[]).is_err());
    for r in Reason::ALL {
        assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
    }
    assert_eq!("keyCompromise".parse::<Reason>().unwrap(), Reason::KeyCompromise);
    assert_eq!("caCompromise".parse::<Reason>().unwrap(), Reason::CaCompromise);
    assert!("nope".parse::<Reason>().is_err());
}

#[test]
fn ocsp_round_trip_with_notary() {
    for spec in [KeySpec::Ec(256), KeySpec::Ec(384), KeySpec::Rsa(2048)] {
        let issuer = ca(spec);
        let leaf = job(&issuer, 0x44);
        let (leaf_cert, ca_cert) = (cert(&leaf.cert), cert(&issuer.certificate));
        let t = now();
        for hash in [CertIdHash::Sha1, CertIdHash::Sha256] {
            let req = parse_ocsp_request(&ocsp_request(&leaf_cert, &ca_cert, hash).unwrap()).unwrap();
            assert_eq!(req.ids.len(), 1);
            assert_eq!(req.nonce, None);
            let id = &req.ids[0];
            assert!(issuer.issued(id), "{spec} {hash:?}");
            assert_eq!(id.serial, leaf.serial);
            assert!(!ca(KeySpec::Ec(256)).issued(id));

            let good = ocsp_response(
                &issuer,
                &[(id.clone(), CertStatus::Good)],
                t,
                t + Duration::hours(1),
                None,
            )
            .unwrap();
            assert_eq!(
                check_response(&good, &leaf_cert, &ca_cert, t).unwrap(),
                OcspVerdict::Good
            );

            let at = t - Duration::minutes(2);
            let revoked = ocsp_response(
                &issuer,
                &[(
                    id.clone(),
                    CertStatus::Revoked {
                        at,
                        reason: Some(Reason::KeyCompromise),
                    },
                )],
                t,
                t + Duration::hours(1),
                None,
            )
            .unwrap();
            assert_eq!(
                check_response(&revoked, &leaf_cert, &ca_cert, t).unwrap(),
                OcspVerdict::Revoked {
                    revoked_at: at,
                    reason: Some(x509_cert::ext::pkix::CrlReason::KeyCompromise)
                }
            );
            let unknown = ocsp_response(
                &issuer,
                &[(id.clone(), CertStatus::Unknown)],
                t,
                t + Duration::hours(1),
                None,
            )
            .unwrap();
            assert_eq!(
                check_response(&unknown, &leaf_cert, &ca_cert, t).unwrap(),
                OcspVerdict::Unknown
            );
        }
    }
}

#[test]
fn ocsp_errors_and_nonce() {
    let err = ocsp_error(OcspErrorStatus::TryLater);
    let issuer = ca(KeySpec::Ec(256));
    let leaf = job(&issuer, 0x45);
    let (leaf_cert, ca_cert) = (cert(&leaf.cert), cert(&issuer.certificate));
    assert!(check_response(&err, &leaf_cert, &ca_cert, now()).is_err());
    assert_eq!(
        ocsp_error(OcspErrorStatus::MalformedRequest),
        [0x30, 3, 0x0a, 1, 1]
    );

    // A request with a nonce extension, as OpenSSL sends it.
    let plain = ocsp_request(&leaf_cert, &ca_cert, CertIdHash::Sha1).unwrap();
    let nonce_value = asn1::octets(&[0xab; 16]);
    let with_nonce = add_nonce(&plain, &nonce_value);
    let req = parse_ocsp_request(&with_nonce).unwrap();
    assert_eq!(req.nonce.as_deref(), Some(nonce_value.as_slice()));
    let t = now();
    let resp = ocsp_response(
        &issuer,
        &[(req.ids[0].clone(), CertStatus::Good)],
        t,
        t + Duration::hours(1),
        req.nonce.as_deref(),
    )
    .unwrap();
    assert_eq!(
        check_response(&resp, &leaf_cert, &ca_cert, t).unwrap(),
        OcspVerdict::Good
    );
    let mut echoed = asn1::oid(&const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2"));
    echoed.extend(asn1::octets(&nonce_value));
    assert!(
        resp.windows(echoed.len()).any(|w| w == echoed),
        "nonce not echoed"
    );
}

/// Adds `requestExtensions [2] { nonce }` to an unsigned OCSPRequest.
fn add_nonce(req: &[u8], nonce_value: &[u8]) -> Vec<u8> {
    let outer = asn1::single(req, asn1::SEQUENCE, "req").unwrap();
    let tbs = outer.reader().expect(asn1::SEQUENCE, "tbs").unwrap();
    let ext = leaf::extension(
        &const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2"),
        false,
        nonce_value,
    );
    let exts = asn1::tlv(asn1::ctx(2), &asn1::seq(&[&ext]));
    let tbs = asn1::seq(&[tbs.content, &exts]);
    asn1::seq(&[&tbs])
}

#[test]
fn timestamps_verify_with_notary() {
    for spec in [KeySpec::Ec(256), KeySpec::Rsa(2048)] {
        let root = ca(spec);
        let tsa = tsa(&root);
        validate_timestamping_chain(&tsa.issuer.chain.iter().map(|c| cert(c)).collect::<Vec<_>>()).unwrap();
        let signature = b"the signature bytes";
        let t = now();
        let token = timestamp_token(&tsa, TimestampHash::Sha256, &sha256(signature), &[7; 8], t).unwrap();
        let verified = Rfc3161Verifier
            .verify(&token, signature, &[cert(&root.certificate)])
            .unwrap();
        assert_eq!(verified.timestamp.time, t);
        assert_eq!(verified.tsa_chain.len(), 2);
        assert!(
            Rfc3161Verifier
                .verify(&token, b"other", &[cert(&root.certificate)])
                .is_err()
        );

        // Request/response round trip with notary's client side.
        let req = notary::timestamp::TimestampRequest::new(b"content").unwrap();
        let parsed = parse_timestamp_request(&req.to_der().unwrap()).unwrap();
        assert!(parsed.cert_req);
        assert_eq!(parsed.nonce, req.nonce);
        let resp = timestamp_response(&tsa, &parsed, &[1, 2, 3], t).unwrap();
        let resp = notary::timestamp::TimestampResponse::parse(&resp).unwrap();
        resp.validate(&req).unwrap();
        let token = resp.signed_token().unwrap();
        assert_eq!(token.info().unwrap().nonce, req.nonce);
        assert!(token.has_signing_certificate());

        // Policy mismatch, rejections.
        let other_policy = notary::timestamp::TimestampRequest::new(b"content")
            .unwrap()
            .with_policy("1.2.3.4");
        let parsed = parse_timestamp_request(&other_policy.to_der().unwrap()).unwrap();
        let err = timestamp_response(&tsa, &parsed, &[1], t).unwrap_err();
        assert_eq!(err.tsa_failure(), Some(TsaFailure::UnacceptedPolicy));
        let rejection = timestamp_rejection(TsaFailure::BadAlg);
        assert!(
            notary::timestamp::TimestampResponse::parse(&rejection)
                .and_then(|r| r.validate(&req))
                .is_err()
        );
    }
}

#[test]
fn timestamp_request_hashes() {
    let mut req = notary::timestamp::TimestampRequest::new(b"x").unwrap();
    req.message_imprint.hash_algorithm = "1.3.14.3.2.26".into(); // SHA-1
    req.message_imprint.hashed_message = vec![0; 20];
    let err = parse_timestamp_request(&req.to_der().unwrap()).unwrap_err();
    assert_eq!(err.tsa_failure(), Some(TsaFailure::BadAlg), "{err}");
    req.message_imprint.hash_algorithm = "2.16.840.1.101.3.4.2.2".into(); // SHA-384, wrong length
    let err = parse_timestamp_request(&req.to_der().unwrap()).unwrap_err();
    assert_eq!(err.tsa_failure(), Some(TsaFailure::BadDataFormat), "{err}");
    req.message_imprint.hashed_message = vec![0; 48];
    let ok = parse_timestamp_request(&req.to_der().unwrap()).unwrap();
    assert_eq!(ok.hash_algorithm, TimestampHash::Sha384);
    req.message_imprint.hash_algorithm = "2.16.840.1.101.3.4.2.3".into();
    req.message_imprint.hashed_message = vec![0; 64];
    assert_eq!(
        parse_timestamp_request(&req.to_der().unwrap())
            .unwrap()
            .hash_algorithm,
        TimestampHash::Sha512
    );
}

/// Deterministic xorshift for the garbage loops.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn parsers_survive_garbage() {
    let issuer = ca(KeySpec::Ec(256));
    let leaf = job(&issuer, 0x46);
    let ocsp_valid = add_nonce(
        &ocsp_request(&cert(&leaf.cert), &cert(&issuer.certificate), CertIdHash::Sha256).unwrap(),
        &asn1::octets(&[1; 16]),
    );
    let ts_valid = notary::timestamp::TimestampRequest::new(b"x")
        .unwrap()
        .to_der()
        .unwrap();
    assert!(parse_ocsp_request(&ocsp_valid).is_ok());
    assert!(parse_timestamp_request(&ts_valid).is_ok());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for valid in [&ocsp_valid, &ts_valid] {
        for cut in 0..valid.len() {
            assert!(parse_ocsp_request(&valid[..cut]).is_err());
            assert!(parse_timestamp_request(&valid[..cut]).is_err());
        }
        for _ in 0..5000 {
            let mut m = valid.to_vec();
            for _ in 0..(1 + rng.next() % 4) {
                let i = (rng.next() as usize) % m.len();
                m[i] ^= 1 << (rng.next() % 8);
            }
            let _ = parse_ocsp_request(&m);
            let _ = parse_timestamp_request(&m);
            let mut extended = valid.to_vec();
            let n = (rng.next() % 8) as usize + 1;
            extended.extend(rng.bytes(n));
            assert!(parse_ocsp_request(&extended).is_err());
            assert!(parse_timestamp_request(&extended).is_err());
        }
    }
    for _ in 0..20000 {
        let n = (rng.next() % 200) as usize;
        let mut junk = rng.bytes(n);
        if rng.next().is_multiple_of(2)
            && let Some(b) = junk.first_mut()
        {
            *b = 0x30;
        }
        let _ = parse_ocsp_request(&junk);
        let _ = parse_timestamp_request(&junk);
    }
    let huge = vec![0x30; 1 << 20];
    assert!(parse_ocsp_request(&huge).is_err());
    assert!(parse_timestamp_request(&huge).is_err());
    // Deep length claims.
    assert!(parse_ocsp_request(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
}

// ------------------------------------------------------------------ openssl

fn openssl(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    let out = match Command::new("openssl").args(args).current_dir(dir).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIPPING openssl checks: cannot run openssl: {e}");
            return None;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

fn pem(der: &[u8]) -> String {
    cert(der).to_pem()
}

#[test]
fn openssl_accepts_everything() {
    for spec in [KeySpec::Ec(256), KeySpec::Rsa(2048)] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let issuer = ca(spec);
        let leaf = job(&issuer, 0x51);
        std::fs::write(d.join("ca.pem"), pem(&issuer.certificate)).unwrap();
        std::fs::write(d.join("leaf.pem"), pem(&leaf.cert)).unwrap();

        let Some((ok, text)) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]) else {
            return;
        };
        assert!(ok, "{text}");
        for want in [
            "Version: 3",
            "Digital Signature",
            "Code Signing",
            "CA:FALSE",
            "X509v3 Subject Key Identifier",
            "X509v3 Authority Key Identifier",
            CRL_URL,
            OCSP_URL,
        ] {
            assert!(text.contains(want), "{spec}: missing {want:?} in\n{text}");
        }
        let (ok, text) = openssl(d, &["verify", "-CAfile", "ca.pem", "-purpose", "any", "leaf.pem"]).unwrap();
        assert!(ok && text.contains("OK"), "{spec}: {text}");

        // CRL.
        let t = now();
        let revoked = [RevokedCert {
            serial: leaf.serial.clone(),
            revoked_at: t - Duration::minutes(1),
            reason: Some(Reason::KeyCompromise),
        }];
        std::fs::write(
            d.join("crl.der"),
            crl(&issuer, 5, t, t + Duration::hours(1), &revoked).unwrap(),
        )
        .unwrap();
        let (ok, text) = openssl(
            d,
            &[
                "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout", "-text",
            ],
        )
        .unwrap();
        assert!(ok && text.contains("verify OK"), "{spec}: {text}");
        assert!(text.contains("Key Compromise"), "{text}");

        // OCSP: an openssl request (with nonce), our responses.
        let (ok, text) = openssl(
            d,
            &[
                "ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-reqout", "req.der",
            ],
        )
        .unwrap();
        assert!(ok, "{text}");
        let req = parse_ocsp_request(&std::fs::read(d.join("req.der")).unwrap()).unwrap();
        assert!(req.nonce.is_some());
        assert!(issuer.issued(&req.ids[0]));
        for (status, word) in [
            (CertStatus::Good, ": good"),
            (
                CertStatus::Revoked {
                    at: t - Duration::minutes(1),
                    reason: Some(Reason::KeyCompromise),
                },
                ": revoked",
            ),
        ] {
            let resp = ocsp_response(
                &issuer,
                &[(req.ids[0].clone(), status)],
                t,
                t + Duration::hours(1),
                req.nonce.as_deref(),
            )
            .unwrap();
            std::fs::write(d.join("resp.der"), resp).unwrap();
            let (ok, text) = openssl(
                d,
                &[
                    "ocsp",
                    "-respin",
                    "resp.der",
                    "-reqin",
                    "req.der",
                    "-no_nonce",
                    "-CAfile",
                    "ca.pem",
                    "-issuer",
                    "ca.pem",
                    "-cert",
                    "leaf.pem",
                    "-resp_text",
                ],
            )
            .unwrap();
            assert!(ok, "{spec}: {text}");
            assert!(text.contains("Response verify OK"), "{spec}: {text}");
            assert!(text.contains(word), "{spec}: {text}");
            assert!(
                !text.contains("Nonce Verify error") && !text.contains("WARNING"),
                "{spec}: {text}"
            );
        }

        // TSA.
        let tsa = tsa(&issuer);
        std::fs::write(d.join("tsa.pem"), pem(&tsa.issuer.certificate)).unwrap();
        std::fs::write(d.join("data.txt"), b"some data to timestamp\n").unwrap();
        let (ok, text) = openssl(
            d,
            &[
                "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "tsq.der",
            ],
        )
        .unwrap();
        assert!(ok, "{text}");
        let req = parse_timestamp_request(&std::fs::read(d.join("tsq.der")).unwrap()).unwrap();
        assert!(req.cert_req && req.nonce.is_some());
        let resp = timestamp_response(&tsa, &req, &[0x12, 0x34], t).unwrap();
        std::fs::write(d.join("tsr.der"), resp).unwrap();
        let (ok, text) = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-in",
                "tsr.der",
                "-queryfile",
                "tsq.der",
                "-CAfile",
                "ca.pem",
                "-untrusted",
                "tsa.pem",
            ],
        )
        .unwrap();
        assert!(ok && text.contains("Verification: OK"), "{spec}: {text}");
        let (ok, text) = openssl(
            d,
            &[
                "ts",
                "-verify",
                "-in",
                "tsr.der",
                "-data",
                "data.txt",
                "-CAfile",
                "ca.pem",
                "-untrusted",
                "tsa.pem",
            ],
        )
        .unwrap();
        assert!(ok && text.contains("Verification: OK"), "{spec}: {text}");
        std::fs::write(d.join("rej.der"), timestamp_rejection(TsaFailure::BadAlg)).unwrap();
        let (_, text) = openssl(d, &["ts", "-reply", "-in", "rej.der", "-text"]).unwrap();
        assert!(
            text.contains("Rejected") && text.contains("unrecognized or unsupported algorithm"),
            "{text}"
        );
    }
}
