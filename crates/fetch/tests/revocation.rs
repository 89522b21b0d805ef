//! Revocation checking end to end over real HTTP: the e2e CRL fixture
//! (INDEX.md §1.6, R01–R05) served by a loopback HTTP server, the e2e OCSP
//! fixture (§1.7, O01–O03) answered by a real `openssl ocsp` responder, and
//! the failure modes (responder down, slower than the timeout, expired CRL)
//! under the strict, permissive and audit levels.
//!
//! Signatures are made at run time with the vector leaf key and chain, as
//! upstream's e2e suite does. The vector certificates name
//! `localhost:10086` (CRL) and `localhost:10087` (OCSP), so every test here
//! binds those ports, one test at a time ([`testkit::revocation::fixed_ports`]).
//! THE OCSP TESTS NEED THE `openssl` COMMAND and fail when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use fetch::revocation::{CrlCache, HttpRevocationChecker, RequestCounts};
use notary::{
    Descriptor,
    crypto::PrivateKey,
    envelope::{EnvelopeFormat, SignRequest, SigningScheme, payload_for, sign},
    policy::{Action, TrustPolicyDocument, ValidationType},
    truststore::DirTrustStore,
    verifier::{CheckStatus, Outcome, Verdict, Verifier, VerifyRequest},
    x509::read_certificates,
};
use testkit::revocation::{
    HttpServer, OcspResponder, OcspState, Route, VECTOR_CRL_PORT, VECTOR_OCSP_PORT, fixed_ports,
};

const LEAF_CRL_URL: &str = "http://localhost:10086/leaf.crl";
const LEVELS: [&str; 3] = ["strict", "permissive", "audit"];
const LEAF_SUBJECT: &str = "CN=LeafCert,OU=OrgUnit,O=Organization,L=City,ST=State,C=US";

/// A signed artifact and a notation config dir trusting the fixture's root.
struct Fixture {
    config: tempfile::TempDir,
    target: Descriptor,
    envelope: Vec<u8>,
    media_type: &'static str,
}

impl Fixture {
    /// Signs with `<dir>/leaf.key` and `<dir>/<chain>`; trusts `<dir>/root.crt` as `ca:e2e`.
    fn new(dir: &str, chain: &str) -> Self {
        let key = PrivateKey::from_pem(&testkit::read_vector(&format!("{dir}/leaf.key"))).unwrap();
        let chain = read_certificates(&testkit::read_vector(&format!("{dir}/{chain}"))).unwrap();
        let target = Descriptor::of(
            "application/vnd.oci.image.manifest.v1+json",
            b"revocation e2e artifact",
        );
        let envelope = sign(&SignRequest {
            format: EnvelopeFormat::Jws,
            payload: payload_for(&target),
            signing_time: time::OffsetDateTime::now_utc(),
            expiry: None,
            signing_scheme: SigningScheme::X509,
            extended: vec![],
            signing_agent: Some("signet/test".into()),
            certificate_chain: chain.iter().map(|c| c.der().to_vec()).collect(),
            signer: &key,
            timestamper: None,
        })
        .unwrap();
        let config = tempfile::tempdir().unwrap();
        let store = config.path().join("truststore/x509/ca/e2e");
        std::fs::create_dir_all(&store).unwrap();
        std::fs::copy(
            testkit::vector(&format!("{dir}/root.crt")),
            store.join("root.crt"),
        )
        .unwrap();
        Self {
            config,
            target,
            envelope,
            media_type: EnvelopeFormat::Jws.media_type(),
        }
    }

    fn crl() -> Self {
        Self::new("e2e/config/crl", "certchain_with_crl.pem")
    }

    fn ocsp() -> Self {
        Self::new("e2e/config/ocsp", "certchain_with_ocsp.pem")
    }

    fn verify(&self, level: &str, checker: &HttpRevocationChecker) -> Outcome {
        let policy = TrustPolicyDocument::from_json(
            format!(
                r#"{{"version":"1.0","trustPolicies":[{{"name":"e2e","registryScopes":["*"],
                "signatureVerification":{{"level":"{level}"}},"trustStores":["ca:e2e"],"trustedIdentities":["*"]}}]}}"#
            )
            .as_bytes(),
        )
        .unwrap();
        let store = DirTrustStore::new(self.config.path());
        let reference = format!("localhost:5000/e2e@{}", self.target.digest);
        Verifier::new(&policy, &store)
            .with_revocation_checker(checker)
            .verify(&VerifyRequest {
                artifact_reference: &reference,
                target: &self.target,
                envelope_media_type: self.media_type,
                envelope: &self.envelope,
                user_metadata: &BTreeMap::new(),
            })
    }

    fn cache(&self) -> CrlCache {
        CrlCache::new(self.config.path().join("crl"))
    }
}

fn checker(timeout: Duration) -> HttpRevocationChecker {
    HttpRevocationChecker::new(timeout)
}

fn revocation(o: &Outcome) -> (Action, CheckStatus) {
    let r = o
        .results
        .iter()
        .find(|r| r.check == ValidationType::Revocation)
        .unwrap_or_else(|| panic!("no revocation result in {o:?}"));
    (r.action, r.status.clone())
}

/// Asserts `level`'s outcome when revocation fails with a message containing `needle`:
/// strict fails on it; permissive and audit log it and verify.
fn assert_revocation_fails(level: &str, o: &Outcome, needle: &str) {
    let (action, status) = revocation(o);
    let CheckStatus::Failed(msg) = &status else {
        panic!("{level}: revocation {status:?}")
    };
    assert!(msg.contains(needle), "{level}: {msg:?} lacks {needle:?}");
    match level {
        "strict" => {
            assert_eq!(action, Action::Enforce);
            assert!(
                matches!(&o.verdict, Verdict::Failed { check: ValidationType::Revocation, reason } if reason.contains(needle)),
                "{level}: {:?}",
                o.verdict
            );
        }
        _ => {
            assert_eq!(action, Action::Log, "{level}");
            assert_eq!(o.verdict, Verdict::Verified, "{level}");
        }
    }
}

fn assert_verified(level: &str, o: &Outcome) {
    assert_eq!(o.verdict, Verdict::Verified, "{level}: {o:?}");
    assert!(
        matches!(revocation(o).1, CheckStatus::Passed(_)),
        "{level}: {:?}",
        revocation(o)
    );
}

fn crl_server(leaf: &str, intermediate: &str) -> HttpServer {
    let server = HttpServer::start(VECTOR_CRL_PORT);
    server.serve(
        "leaf.crl",
        testkit::read_vector(&format!("e2e/config/crl/{leaf}")),
    );
    server.serve(
        "intermediate.crl",
        testkit::read_vector(&format!("e2e/config/crl/{intermediate}")),
    );
    server
}

// ---------------------------------------------------------------- CRL: R01–R05

#[test]
fn r01_good_crls_verify_then_the_cache_serves_them() {
    let _ports = fixed_ports();
    let server = crl_server("leaf.crl", "intermediate.crl");
    let fx = Fixture::crl();
    let checker = checker(Duration::from_secs(5)).with_crl_cache(fx.cache());
    let t = Instant::now();
    assert_verified("strict", &fx.verify("strict", &checker));
    let cold = t.elapsed();
    // Cold: one GET per CRL; the intermediate's OCSP URL (localhost.test) fails first.
    assert_eq!(
        checker.requests(),
        RequestCounts {
            ocsp: 1,
            crl: 2,
            cache_hits: 0,
            cache_expired: 0
        }
    );
    assert_eq!((server.hits("leaf.crl"), server.hits("intermediate.crl")), (1, 1));
    assert!(fx.cache().path_for(LEAF_CRL_URL).is_file());
    let t = Instant::now();
    for level in LEVELS {
        assert_verified(level, &fx.verify(level, &checker));
    }
    let warm = t.elapsed() / 3;
    // Warm: no CRL request at all.
    assert_eq!(server.total_hits(), 2);
    assert_eq!(checker.requests().cache_hits, 6);
    eprintln!("R01 timing: cold {cold:?}, warm {warm:?} per verification");
}

#[test]
fn r02_revoked_leaf() {
    let _ports = fixed_ports();
    let _server = crl_server("leaf_revoked.crl", "intermediate.crl");
    let fx = Fixture::crl();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(level, &o, "is revoked");
        assert_revocation_fails(
            level,
            &o,
            &format!("signing certificate with subject {LEAF_SUBJECT:?} is revoked"),
        );
        assert_revocation_fails(
            level,
            &o,
            "revocation method CRL at URL \"http://localhost:10086/leaf.crl\"",
        );
    }
}

#[test]
fn r03_revoked_intermediate() {
    let _ports = fixed_ports();
    let _server = crl_server("leaf.crl", "intermediate_revoked.crl");
    let fx = Fixture::crl();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(
            level,
            &o,
            "CN=IntermediateCA,OU=OrgUnit,O=Organization,L=City,ST=State,C=US\" is revoked",
        );
    }
}

/// Seeds the cache with the expired leaf CRL, as upstream's R04/R05 do.
fn seed_expired(fx: &Fixture) {
    let cache = fx.cache();
    std::fs::create_dir_all(cache.dir()).unwrap();
    std::fs::write(
        cache.path_for(LEAF_CRL_URL),
        testkit::read_vector("e2e/config/crl/leaf_expired.crl"),
    )
    .unwrap();
}

#[test]
fn r04_expired_cached_crl_is_fetched_again() {
    let _ports = fixed_ports();
    let server = crl_server("leaf.crl", "intermediate.crl");
    let fx = Fixture::crl();
    seed_expired(&fx);
    let checker = checker(Duration::from_secs(5)).with_crl_cache(fx.cache());
    assert_verified("strict", &fx.verify("strict", &checker));
    assert_eq!(checker.requests().cache_expired, 1);
    assert_eq!(server.hits("leaf.crl"), 1, "a new GET of /leaf.crl");
    // The fresh CRL replaced the expired one.
    let (base, _) = fx.cache().get(LEAF_CRL_URL).unwrap();
    assert!(base.next_update().unwrap() > time::OffsetDateTime::now_utc());
}

#[test]
fn r05_expired_cached_crl_then_revoked() {
    let _ports = fixed_ports();
    let server = crl_server("leaf_revoked.crl", "intermediate.crl");
    let fx = Fixture::crl();
    for level in LEVELS {
        seed_expired(&fx);
        let checker = checker(Duration::from_secs(5)).with_crl_cache(fx.cache());
        assert_revocation_fails(level, &fx.verify(level, &checker), "is revoked");
        assert_eq!(checker.requests().cache_expired, 1);
    }
    assert_eq!(server.hits("leaf.crl"), 3);
}

#[test]
fn expired_crl_served_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let _server = crl_server("leaf_expired.crl", "intermediate.crl");
    let fx = Fixture::crl();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(level, &o, "revocation status is unknown");
    }
}

#[test]
fn crl_server_down_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let fx = Fixture::crl();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(2)));
        assert_revocation_fails(level, &o, "revocation status is unknown");
        assert_revocation_fails(level, &o, "failed to retrieve CRL");
    }
}

#[test]
fn crl_server_refusing_or_404_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let server = crl_server("leaf.crl", "intermediate.crl");
    server.route("leaf.crl", Route::Refuse);
    server.route("intermediate.crl", Route::Status(404));
    let fx = Fixture::crl();
    let o = fx.verify("strict", &checker(Duration::from_secs(2)));
    assert_revocation_fails("strict", &o, "revocation status is unknown");
}

#[test]
fn crl_server_slower_than_the_timeout_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let server = crl_server("leaf.crl", "intermediate.crl");
    let slow = testkit::read_vector("e2e/config/crl/leaf.crl");
    server.route("leaf.crl", Route::Stall(Duration::from_secs(4), slow));
    let fx = Fixture::crl();
    let t = Instant::now();
    let o = fx.verify("strict", &checker(Duration::from_millis(500)));
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    assert_revocation_fails("strict", &o, "revocation status is unknown");
}

// ---------------------------------------------------------------- OCSP: O01–O03

#[test]
fn o01_good() {
    let _ports = fixed_ports();
    let responder = OcspResponder::start(VECTOR_OCSP_PORT, OcspState::Good);
    let fx = Fixture::ocsp();
    for level in LEVELS {
        let checker = checker(Duration::from_secs(5));
        let t = Instant::now();
        let o = fx.verify(level, &checker);
        assert_eq!(
            o.verdict,
            Verdict::Verified,
            "{level}: {o:?}\n{}",
            responder.log()
        );
        assert!(
            matches!(revocation(&o).1, CheckStatus::Passed(_)),
            "{level}: {o:?}"
        );
        assert_eq!(
            checker.requests(),
            RequestCounts {
                ocsp: 1,
                ..Default::default()
            }
        );
        eprintln!(
            "O01 {level}: one OCSP round trip, verification took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn o02_revoked() {
    let _ports = fixed_ports();
    let _responder = OcspResponder::start(VECTOR_OCSP_PORT, OcspState::Revoked);
    let fx = Fixture::ocsp();
    let upstream = format!(
        "Certificate #1 in chain with subject {LEAF_SUBJECT:?} encountered an error for revocation method OCSP at URL \"http://localhost:10087\": certificate is revoked via OCSP"
    );
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(level, &o, &upstream);
    }
}

#[test]
fn o03_unknown() {
    let _ports = fixed_ports();
    let _responder = OcspResponder::start(VECTOR_OCSP_PORT, OcspState::Unknown);
    let fx = Fixture::ocsp();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(
            level,
            &o,
            &format!("signing certificate with subject {LEAF_SUBJECT:?} revocation status is unknown"),
        );
    }
}

#[test]
fn ocsp_responder_down_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let fx = Fixture::ocsp();
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(2)));
        assert_revocation_fails(level, &o, "revocation status is unknown");
    }
}

#[test]
fn ocsp_responder_slower_than_the_timeout_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let server = HttpServer::start(VECTOR_OCSP_PORT);
    server.route("/", Route::Stall(Duration::from_secs(4), Vec::new()));
    let fx = Fixture::ocsp();
    let t = Instant::now();
    let o = fx.verify("strict", &checker(Duration::from_millis(500)));
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    assert_eq!(server.hits("/"), 1);
    assert_revocation_fails("strict", &o, "revocation status is unknown");
    assert_revocation_fails("strict", &o, "timed out");
}

#[test]
fn ocsp_responder_answering_garbage_makes_the_status_unknown() {
    let _ports = fixed_ports();
    let server = HttpServer::start(VECTOR_OCSP_PORT);
    server.route("/", Route::Bytes(b"<html>".to_vec(), "text/html".into()));
    let fx = Fixture::ocsp();
    let o = fx.verify("permissive", &checker(Duration::from_secs(2)));
    assert_revocation_fails("permissive", &o, "failed to parse OCSP response");
}

// ---------------------------------------------------------------- generated chains, ports chosen at run time

use notary::algorithm::KeySpec;
use testkit::revocation::{Endpoints, INTERMEDIATE_SERIAL, LEAF_SERIAL, RevocableChain, free_port};

fn key_pem() -> String {
    PrivateKey::generate(KeySpec::Ec(256))
        .unwrap()
        .to_pkcs8_pem()
        .unwrap()
}

/// A signed artifact from a generated chain, and its trust store.
fn generated(endpoints: &Endpoints) -> (RevocableChain, Fixture) {
    let (r, i, l) = (key_pem(), key_pem(), key_pem());
    let chain = RevocableChain::new([&r, &i, &l], endpoints);
    let key = PrivateKey::from_pem(chain.leaf_key_pem.as_bytes()).unwrap();
    let target = Descriptor::of(
        "application/vnd.oci.image.manifest.v1+json",
        b"generated revocation artifact",
    );
    let envelope = sign(&SignRequest {
        format: EnvelopeFormat::Cose,
        payload: payload_for(&target),
        signing_time: time::OffsetDateTime::now_utc(),
        expiry: None,
        signing_scheme: SigningScheme::X509,
        extended: vec![],
        signing_agent: Some("signet/test".into()),
        certificate_chain: chain.ders(),
        signer: &key,
        timestamper: None,
    })
    .unwrap();
    let config = tempfile::tempdir().unwrap();
    let store = config.path().join("truststore/x509/ca/e2e");
    std::fs::create_dir_all(&store).unwrap();
    std::fs::write(store.join("root.crt"), chain.root.pem()).unwrap();
    (
        chain,
        Fixture {
            config,
            target,
            envelope,
            media_type: EnvelopeFormat::Cose.media_type(),
        },
    )
}

fn in_a_year() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc() + time::Duration::days(365)
}

fn serve_crls(server: &HttpServer, chain: &RevocableChain, leaf_revoked: bool) {
    let revoked: &[u64] = if leaf_revoked { &[LEAF_SERIAL] } else { &[] };
    server.serve(
        "leaf.crl",
        chain.leaf_crl(revoked, Some(rcgen::RevocationReason::KeyCompromise), in_a_year()),
    );
    server.serve("intermediate.crl", chain.intermediate_crl(&[], in_a_year()));
}

#[test]
fn generated_crl_chain_cold_then_warm_cache() {
    let server = HttpServer::start(0);
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: None,
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, false);
    let checker = checker(Duration::from_secs(5)).with_crl_cache(fx.cache());
    let t = Instant::now();
    assert_verified("strict", &fx.verify("strict", &checker));
    let cold = t.elapsed();
    assert_eq!(
        checker.requests(),
        RequestCounts {
            crl: 2,
            ..Default::default()
        }
    );
    let t = Instant::now();
    assert_verified("strict", &fx.verify("strict", &checker));
    let warm = t.elapsed();
    assert_eq!(
        checker.requests(),
        RequestCounts {
            crl: 2,
            cache_hits: 2,
            ..Default::default()
        }
    );
    assert_eq!(server.total_hits(), 2);
    eprintln!("generated CRL chain: cold {cold:?} (2 GETs, in parallel), warm {warm:?} (0 requests)");
}

#[test]
fn generated_leaf_revoked_by_crl_names_the_reason() {
    let server = HttpServer::start(0);
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: None,
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, true);
    for level in LEVELS {
        let o = fx.verify(level, &checker(Duration::from_secs(5)));
        assert_revocation_fails(level, &o, "certificate is revoked via CRL (reason keyCompromise");
    }
}

#[test]
fn generated_revoked_intermediate() {
    let server = HttpServer::start(0);
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: None,
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, false);
    server.serve(
        "intermediate.crl",
        chain.intermediate_crl(&[INTERMEDIATE_SERIAL], in_a_year()),
    );
    let o = fx.verify("strict", &checker(Duration::from_secs(5)));
    assert_revocation_fails("strict", &o, "\"CN=Revocation Intermediate");
    assert_revocation_fails("strict", &o, "is revoked");
}

#[test]
fn generated_ocsp_good_needs_no_crl_for_the_leaf() {
    let server = HttpServer::start(0);
    let port = free_port();
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: Some(format!("http://127.0.0.1:{port}")),
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, true);
    let responder = chain.ocsp_responder(port, OcspState::Good);
    let checker = checker(Duration::from_secs(5));
    let o = fx.verify("strict", &checker);
    assert_eq!(
        o.verdict,
        Verdict::Verified,
        "{:?}\n{}",
        revocation(&o),
        responder.log()
    );
    // OCSP answered for the leaf (its revoked CRL is never read); the intermediate has only a CRL.
    assert_eq!(
        checker.requests(),
        RequestCounts {
            ocsp: 1,
            crl: 1,
            ..Default::default()
        }
    );
    assert_eq!((server.hits("leaf.crl"), server.hits("intermediate.crl")), (0, 1));
}

#[test]
fn generated_ocsp_revoked_is_final_without_crl_fallback() {
    let server = HttpServer::start(0);
    let port = free_port();
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: Some(format!("http://127.0.0.1:{port}")),
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, false);
    let _responder = chain.ocsp_responder(port, OcspState::Revoked);
    let o = fx.verify("strict", &checker(Duration::from_secs(5)));
    assert_revocation_fails("strict", &o, "certificate is revoked via OCSP");
    assert_eq!(server.hits("leaf.crl"), 0);
}

#[test]
fn generated_ocsp_unknown_falls_back_to_crl() {
    let server = HttpServer::start(0);
    let port = free_port();
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: Some(format!("http://127.0.0.1:{port}")),
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, true);
    let _responder = chain.ocsp_responder(port, OcspState::Unknown);
    let o = fx.verify("strict", &checker(Duration::from_secs(5)));
    assert_revocation_fails("strict", &o, "certificate is revoked via CRL");
    assert_eq!(server.hits("leaf.crl"), 1);
}

#[test]
fn generated_ocsp_down_or_slow_falls_back_to_crl() {
    // Down: nothing listens on the OCSP port.
    let server = HttpServer::start(0);
    let port = free_port();
    let endpoints = Endpoints {
        leaf_ocsp: Some(format!("http://127.0.0.1:{port}/ocsp")),
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    };
    let (chain, fx) = generated(&endpoints);
    serve_crls(&server, &chain, false);
    let checker_down = checker(Duration::from_secs(2));
    assert_verified("strict", &fx.verify("strict", &checker_down));
    assert_eq!(
        checker_down.requests(),
        RequestCounts {
            ocsp: 1,
            crl: 2,
            ..Default::default()
        }
    );

    // Slow: the OCSP path stalls past the timeout; the CRL answers.
    let slow = HttpServer::start(0);
    slow.route("ocsp", Route::Stall(Duration::from_secs(4), Vec::new()));
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: Some(slow.url("ocsp")),
        ..endpoints
    });
    serve_crls(&server, &chain, false);
    let t = Instant::now();
    assert_verified(
        "strict",
        &fx.verify("strict", &checker(Duration::from_millis(500))),
    );
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    assert_eq!(slow.hits("ocsp"), 1);
}

#[test]
fn generated_crl_past_next_update_is_unknown_and_not_cached_as_good() {
    let server = HttpServer::start(0);
    let (chain, fx) = generated(&Endpoints {
        leaf_ocsp: None,
        crl_base: Some(server.url("").trim_end_matches('/').into()),
    });
    serve_crls(&server, &chain, false);
    let stale = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    server.serve("leaf.crl", chain.leaf_crl(&[], None, stale));
    let checker = checker(Duration::from_secs(5)).with_crl_cache(fx.cache());
    for level in LEVELS {
        assert_revocation_fails(level, &fx.verify(level, &checker), "expired CRL");
    }
    assert_eq!(
        server.hits("leaf.crl"),
        3,
        "an expired CRL is never served from the cache"
    );
}
