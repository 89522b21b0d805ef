//! Where a signing job's CPU goes, step by step, in this process (no HTTP,
//! no database): the fresh key, the leaf certificate, the envelope (which
//! also verifies itself), the built-in TSA's token and its check, and the
//! whole per-job pipeline with and without the timestamp — next to a raw
//! P-256 signature.
//!
//! ```text
//! cargo bench -p signet-signer --bench sign_pipeline
//! ```
//! Without `--bench` (as `cargo test --all-targets` runs it) each step runs
//! a few times only.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use notary::{
    algorithm::KeySpec,
    crypto::{PrivateKey, Signer},
    envelope::{self, EnvelopeFormat, SignRequest, SigningScheme, Timestamper as _},
    timestamp::TimestampVerifier as _,
};
use signer::{config::ProfileConfig, pki, service};
use time::OffsetDateTime;

fn time(name: &str, n: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(10) {
        f();
    }
    let started = Instant::now();
    for _ in 0..n {
        f();
    }
    let per = started.elapsed() / n as u32;
    println!("| {name} | {:.1} |", per.as_secs_f64() * 1e6);
    per
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 3000 } else { 20 };
    let dir = tempfile::tempdir().unwrap();

    let ca_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let ca_spki = ca_key.public_key_spki_der().unwrap();
    let ca = pki::generate_ca(
        "CN=Bench CA,O=Signet,C=US",
        &ca_key,
        &ca_spki,
        time::Duration::days(30),
    )
    .unwrap();
    std::fs::write(dir.path().join("ca.key"), ca_key.to_pkcs8_pem().unwrap()).unwrap();
    let ca_pem = notary::x509::Certificate::from_der(ca.clone()).unwrap().to_pem();
    std::fs::write(dir.path().join("ca.pem"), &ca_pem).unwrap();
    let issuer = pki::Issuer::new(vec![ca.clone()], Arc::new(ca_key)).unwrap();

    let tsa_root_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let tsa_root_spki = tsa_root_key.public_key_spki_der().unwrap();
    let tsa_root = pki::generate_ca(
        "CN=Bench TSA Root",
        &tsa_root_key,
        &tsa_root_spki,
        time::Duration::days(30),
    )
    .unwrap();
    let tsa_root_issuer = pki::Issuer::new(vec![tsa_root.clone()], Arc::new(tsa_root_key)).unwrap();
    let tsa_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let tsa_cert = pki::generate_tsa_certificate(
        &tsa_root_issuer,
        "CN=Bench TSA",
        &tsa_key.public_key_spki_der().unwrap(),
        &pki::random_serial().unwrap(),
        time::Duration::days(30),
    )
    .unwrap();
    let tsa = pki::Tsa {
        issuer: pki::Issuer::new(vec![tsa_cert, tsa_root], Arc::new(tsa_key)).unwrap(),
        policy: "1.3.6.1.4.1.57264.2.1".parse().unwrap(),
    };

    let config: ProfileConfig = serde_json::from_value(serde_json::json!({
        "name": "bench",
        "key": {"type": "file", "path": dir.path().join("ca.key")},
        "certificateChain": dir.path().join("ca.pem"),
    }))
    .unwrap();
    let profile = service::Profile::open(&config, "http://127.0.0.1:1").unwrap();
    let descriptor = notary::Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"bench");

    println!("one signing job's steps, in this process, µs each (mean of {n}):");
    println!("| step | µs |");
    println!("|---|---|");
    let leaf_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    time("raw ECDSA P-256 signature", n, || {
        leaf_key.sign(b"{\"targetArtifact\":{}}").unwrap();
    });
    time("fresh P-256 key", n, || {
        PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    });
    let spki = leaf_key.public_key_spki_der().unwrap();
    let now = OffsetDateTime::now_utc();
    let issue = || {
        pki::issue_leaf(
            &issuer,
            &pki::LeafRequest {
                serial: &pki::random_serial().unwrap(),
                subject: "CN=bench,O=Signet,ST=WA,C=US",
                public_key_spki: &spki,
                not_before: now - time::Duration::minutes(5),
                not_after: now + time::Duration::hours(24),
                crl_url: Some("http://127.0.0.1:1/crl"),
                ocsp_url: Some("http://127.0.0.1:1/ocsp"),
            },
        )
        .unwrap()
    };
    let leaf = issue();
    time("leaf certificate (CA signs)", n, || {
        issue();
    });
    let sign = |timestamper: Option<&dyn envelope::Timestamper>| {
        envelope::sign(&SignRequest {
            format: EnvelopeFormat::Jws,
            payload: envelope::payload_for(&descriptor),
            signing_time: now,
            expiry: None,
            signing_scheme: SigningScheme::X509,
            extended: Vec::new(),
            signing_agent: Some("bench".into()),
            certificate_chain: vec![leaf.clone(), ca.clone()],
            signer: &leaf_key,
            timestamper,
        })
        .unwrap()
    };
    time("JWS envelope (sign + parse + verify)", n, || {
        sign(None);
    });
    let produced = sign(None);
    let media_type = EnvelopeFormat::Jws.media_type();
    time("  of which: parse the produced envelope", n, || {
        envelope::Envelope::parse(media_type, &produced).unwrap();
    });
    let parsed = envelope::Envelope::parse(media_type, &produced).unwrap();
    time("  of which: verify its signature (leaf from x5c)", n, || {
        parsed.verify_signature().unwrap();
    });
    time("  of which: the raw ECDSA P-256 verification", n, || {
        parsed.verify_signature_with_spki(&spki).unwrap();
    });
    let signature = [7u8; 64];
    let token = tsa.timestamp(&signature).unwrap();
    time("TSA token (CMS, TSA signs)", n, || {
        tsa.timestamp(&signature).unwrap();
    });
    time("TSA token check (notary parses and verifies it)", n, || {
        notary::timestamp::Rfc3161Verifier
            .timestamp(&token, &signature)
            .unwrap();
    });
    time("JWS envelope with the TSA's timestamp", n, || {
        sign(Some(&tsa));
    });
    time("whole job: key, leaf, envelope (no timestamp)", n, || {
        service::produce(&profile, None, &descriptor, "job", now).unwrap();
    });
    time("whole job: key, leaf, envelope, timestamp", n, || {
        service::produce(&profile, Some(&tsa), &descriptor, "job", now).unwrap();
    });
}
