//! What envelope verification costs on top of the raw signature check.
//!
//! For each of the six key specs and both formats: "raw" is
//! `crypto::verify` over the same signing input and signature; "envelope" is
//! `Envelope::parse` + `verify_signature` + code-signing chain validation of
//! the envelope's self-signed rcgen certificate. The difference is the price
//! of JSON/CBOR decoding, the format rules and the certificate parsing.
//! Sample sizes are small: the suite machine has two cores.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{hint::black_box, time::Duration};

use criterion::{Criterion, criterion_group, criterion_main};
use notary::{
    Descriptor,
    algorithm::KeySpec,
    crypto::{self, PrivateKey, Signer},
    envelope::{Envelope, EnvelopeFormat, SignRequest, SigningScheme, payload_for, sign},
    x509::{Certificate, validate_code_signing_chain},
};
use time::OffsetDateTime;

fn self_signed_cert(key: &PrivateKey) -> Vec<u8> {
    testkit::pki::self_signed_leaf("signet bench", &key.to_pkcs8_pem().unwrap()).der
}

/// The whole envelope path: parse, signature, chain rules.
/// The verifier's integrity check: parse, chain decode + rules, signature.
fn verify_envelope(media_type: &str, bytes: &[u8]) {
    notary::verifier::check_integrity(media_type, bytes).unwrap();
}

fn bench(c: &mut Criterion) {
    let target = Descriptor::of("application/vnd.oci.image.manifest.v1+json", b"bench artifact");
    for spec in KeySpec::ALL {
        let key = PrivateKey::generate(spec).unwrap();
        let cert = self_signed_cert(&key);
        let spki = key.public_key_spki_der().unwrap();
        let alg = spec.signature_algorithm().unwrap();
        for format in [EnvelopeFormat::Jws, EnvelopeFormat::Cose] {
            let req = SignRequest {
                format,
                payload: payload_for(&target),
                signing_time: OffsetDateTime::now_utc(),
                expiry: None,
                signing_scheme: SigningScheme::X509,
                extended: Vec::new(),
                signing_agent: Some("signet-bench".into()),
                certificate_chain: vec![cert.clone()],
                signer: &key,
                timestamper: None,
            };
            let bytes = sign(&req).unwrap();
            let media_type = format.media_type();
            let env = Envelope::parse(media_type, &bytes).unwrap();
            let (input, signature) = (env.signing_input().to_vec(), env.signature.clone());
            verify_envelope(media_type, &bytes);

            let mut group = c.benchmark_group(format!("{}/{}", spec.cli_name(), format.name()));
            group.bench_function("raw signature verify", |b| {
                b.iter(|| {
                    crypto::verify(alg, black_box(&spki), black_box(&input), black_box(&signature)).unwrap()
                })
            });
            group.bench_function("whole envelope verify", |b| {
                b.iter(|| verify_envelope(media_type, black_box(&bytes)))
            });
            // Where the rest goes: the parse alone, and certificate decoding plus
            // the chain rules alone.
            group.bench_function("part: envelope parse", |b| {
                b.iter(|| Envelope::parse(media_type, black_box(&bytes)).unwrap())
            });
            group.bench_function("part: chain decode + rules", |b| {
                b.iter(|| {
                    let chain = env
                        .certificate_chain
                        .iter()
                        .map(|der| Certificate::from_der(der.clone()))
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap();
                    validate_code_signing_chain(&chain, None).unwrap();
                })
            });
            group.finish();
            // Keep the key alive until its envelope's benchmarks are done.
            let _ = key.key_spec();
        }
    }
}

// Short by default so the whole table runs in a few minutes on 2 cores;
// `cargo bench … -- --sample-size 50 --measurement-time 5` for tighter numbers.
criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
