//! The pure halves of revocation checking: CRL parsing and decisions with the
//! e2e CRL vectors (INDEX.md §1.6) and notation-core-go's CRL vectors
//! (§3.2, K03–K10), and OCSP requests/responses with the e2e OCSP vectors
//! (§1.7). OCSP responses are made offline by `openssl ocsp` (the same
//! program upstream runs as responder) — THESE TESTS NEED THE `openssl`
//! COMMAND and fail when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use notary::{
    revocation::{
        CertStatus, ChainStatus, RevocationEndpoints, chain_status,
        crl::{self, Crl, CrlError, CrlVerdict, certificate_freshest_crl_urls},
        ocsp::{self, CertIdHash, OcspError, OcspVerdict},
    },
    x509::{Certificate, read_certificates},
};
use testkit::revocation::{OcspState, ocsp_index, require_openssl};
use time::{OffsetDateTime, macros::datetime};

fn crl_chain() -> Vec<Certificate> {
    read_certificates(&testkit::read_vector("e2e/config/crl/certchain_with_crl.pem")).unwrap()
}

fn ocsp_chain() -> Vec<Certificate> {
    read_certificates(&testkit::read_vector("e2e/config/ocsp/certchain_with_ocsp.pem")).unwrap()
}

fn crl(name: &str) -> Crl {
    Crl::from_der(&testkit::read_vector(&format!("e2e/config/crl/{name}"))).unwrap()
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

// ---------------------------------------------------------------- endpoints

#[test]
fn vector_chains_name_their_endpoints() {
    let chain = crl_chain();
    assert_eq!(
        RevocationEndpoints::of(&chain[0]).crl,
        ["http://localhost:10086/leaf.crl"]
    );
    let inter = RevocationEndpoints::of(&chain[1]);
    assert_eq!(inter.crl, ["http://localhost:10086/intermediate.crl"]);
    assert_eq!(inter.ocsp, ["http://localhost.test/ocsp"]);
    assert!(RevocationEndpoints::of(&chain[2]).is_empty());
    assert_eq!(
        RevocationEndpoints::of(&ocsp_chain()[0]).ocsp,
        ["http://localhost:10087"]
    );
}

// ---------------------------------------------------------------- CRL (R01–R05)

#[test]
fn r01_leaf_and_intermediate_crls_say_good() {
    let chain = crl_chain();
    assert_eq!(
        crl::check(&chain[0], &chain[1], &crl("leaf.crl"), None, now()),
        Ok(CrlVerdict::Good)
    );
    assert_eq!(
        crl::check(&chain[1], &chain[2], &crl("intermediate.crl"), None, now()),
        Ok(CrlVerdict::Good)
    );
}

#[test]
fn r02_leaf_revoked_crl_lists_serial_1000() {
    let chain = crl_chain();
    let v = crl::check(&chain[0], &chain[1], &crl("leaf_revoked.crl"), None, now()).unwrap();
    assert!(matches!(v, CrlVerdict::Revoked { .. }), "{v:?}");
    // The same CRL says nothing about another serial.
    assert_eq!(
        crl::check(&chain[1], &chain[1], &crl("leaf_revoked.crl"), None, now()).map_err(|_| ()),
        Err(()),
        "the intermediate is not the leaf CRL's subject issuer"
    );
}

#[test]
fn r03_intermediate_revoked_crl_lists_serial_1002() {
    let chain = crl_chain();
    let v = crl::check(
        &chain[1],
        &chain[2],
        &crl("intermediate_revoked.crl"),
        None,
        now(),
    )
    .unwrap();
    assert!(matches!(v, CrlVerdict::Revoked { .. }), "{v:?}");
}

#[test]
fn r04_expired_crl_has_the_upstream_dates_and_is_refused() {
    let expired = crl("leaf_expired.crl");
    assert_eq!(expired.this_update(), datetime!(2023-12-24 08:15:42 UTC));
    assert_eq!(expired.next_update(), Some(datetime!(2023-12-25 08:15:42 UTC)));
    let chain = crl_chain();
    assert!(crl::check(&chain[0], &chain[1], &expired, None, now()).is_err());
    // A current CRL checked at a time past its nextUpdate is expired too.
    let later = datetime!(2125-01-01 00:00 UTC);
    assert!(matches!(
        crl::check(&chain[0], &chain[1], &crl("leaf.crl"), None, later),
        Err(CrlError::Expired { .. })
    ));
}

#[test]
fn crl_from_the_wrong_issuer_is_refused() {
    let chain = crl_chain();
    assert!(matches!(
        crl::check(&chain[0], &chain[2], &crl("leaf.crl"), None, now()),
        Err(CrlError::IssuerMismatch { .. })
    ));
}

#[test]
fn crl_with_a_flipped_signature_bit_is_refused() {
    let chain = crl_chain();
    let mut der = testkit::read_vector("e2e/config/crl/leaf.crl");
    let last = der.len() - 1;
    der[last] ^= 1;
    let bad = Crl::from_der(&der).unwrap();
    assert!(matches!(
        crl::check(&chain[0], &chain[1], &bad, None, now()),
        Err(CrlError::BadSignature { .. })
    ));
}

#[test]
fn garbage_is_a_malformed_crl() {
    let e = Crl::from_der(b"invalid crl").unwrap_err();
    assert!(e.to_string().starts_with("x509: malformed crl"), "{e}");
}

// ---------------------------------------------------------------- delta CRLs (K03–K10)

fn core_cert(name: &str) -> Certificate {
    read_certificates(&testkit::read_vector(&format!("core-go/revocation/crl/{name}")))
        .unwrap()
        .remove(0)
}

#[test]
fn k03_certificate_with_delta_crl_names_one_url() {
    let urls = certificate_freshest_crl_urls(&core_cert("certificateWithDeltaCRL.cer")).unwrap();
    assert_eq!(urls.len(), 1, "{urls:?}");
    assert!(urls[0].starts_with("http://localhost:80"), "{urls:?}");
}

#[test]
fn k04_zero_delta_urls() {
    assert_eq!(
        certificate_freshest_crl_urls(&core_cert("certificateWithZeroDeltaCRLURL.cer")).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn k05_non_uri_delta_name_gives_no_url() {
    assert!(
        certificate_freshest_crl_urls(&core_cert("certificateWithNonURIDeltaCRL.cer"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn k06_incomplete_freshest_crl_is_invalid() {
    let e =
        certificate_freshest_crl_urls(&core_cert("certificateWithIncompleteFreshestCRL.cer")).unwrap_err();
    assert_eq!(e.to_string(), "x509: invalid CRL distribution point");
}

#[test]
fn k07_incomplete_freshest_crl_2_gives_no_url() {
    assert!(
        certificate_freshest_crl_urls(&core_cert("certificateWithIncompleteFreshestCRL2.cer"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn k08_two_delta_urls() {
    let urls = certificate_freshest_crl_urls(&core_cert("certificateWith2DeltaCRL.cer")).unwrap();
    assert_eq!(urls.len(), 2, "{urls:?}");
}

#[test]
fn k09_base_crl_with_multiple_freshest_crls() {
    let base = Crl::from_der(&testkit::read_vector(
        "core-go/revocation/crl/crlWithMultipleFreshestCRLs.crl",
    ))
    .unwrap();
    assert!(!base.is_delta());
    let urls = base.freshest_crl_urls().unwrap();
    assert!(urls.len() >= 2, "{urls:?}");
}

#[test]
fn k10_delta_crl_is_a_delta() {
    let delta = Crl::from_der(&testkit::read_vector("core-go/revocation/crl/delta.crl")).unwrap();
    assert!(delta.is_delta());
    assert!(delta.base_number().is_some());
}

// ---------------------------------------------------------------- chain folding

#[test]
fn chain_status_prefers_revoked_over_unknown() {
    let chain = crl_chain();
    let statuses = [
        CertStatus::Unknown {
            detail: "down".into(),
        },
        CertStatus::Revoked { detail: "r".into() },
        CertStatus::NonRevokable,
    ];
    assert_eq!(
        chain_status(&chain, &statuses),
        ChainStatus::Revoked(chain[1].subject())
    );
    let statuses = [
        CertStatus::Good,
        CertStatus::Unknown { detail: "d".into() },
        CertStatus::NonRevokable,
    ];
    assert_eq!(
        chain_status(&chain, &statuses),
        ChainStatus::Unknown(chain[1].subject())
    );
}

// ---------------------------------------------------------------- OCSP (O01–O03)

struct Ocsp {
    dir: tempfile::TempDir,
}

impl Ocsp {
    fn new(state: OcspState) -> Self {
        require_openssl();
        let dir = tempfile::tempdir().unwrap();
        let src = testkit::vector("e2e/config/ocsp");
        for f in [
            "root.crt", "root.key", "ocsp.crt", "ocsp.key", "leaf.crt", "leaf.key",
        ] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        std::fs::write(dir.path().join("index.txt"), ocsp_index(state)).unwrap();
        Self { dir }
    }

    /// `openssl ocsp` answers `request` offline, signed by `signer` (a
    /// file stem: `ocsp` delegated responder, `root` the CA itself, `leaf`
    /// someone without OCSPSigning).
    fn respond(&self, request: &[u8], signer: &str) -> Vec<u8> {
        let d = self.dir.path();
        std::fs::write(d.join("req.der"), request).unwrap();
        let out = Command::new("openssl")
            .current_dir(d)
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "root.crt",
                "-reqin",
                "req.der",
                "-respout",
                "resp.der",
            ])
            .args([
                "-rsigner",
                &format!("{signer}.crt"),
                "-rkey",
                &format!("{signer}.key"),
                "-ndays",
                "1",
            ])
            .output()
            .expect("run openssl ocsp");
        assert!(
            out.status.success(),
            "openssl ocsp failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(d.join("resp.der")).unwrap()
    }
}

fn ask(state: OcspState, hash: CertIdHash, signer: &str) -> Result<OcspVerdict, OcspError> {
    let chain = ocsp_chain();
    let req = ocsp::request(&chain[0], &chain[1], hash).unwrap();
    let resp = Ocsp::new(state).respond(&req, signer);
    ocsp::check_response(&resp, &chain[0], &chain[1], now())
}

#[test]
fn o01_good_with_sha256_and_sha1_cert_ids() {
    assert_eq!(
        ask(OcspState::Good, CertIdHash::Sha256, "ocsp"),
        Ok(OcspVerdict::Good)
    );
    assert_eq!(
        ask(OcspState::Good, CertIdHash::Sha1, "ocsp"),
        Ok(OcspVerdict::Good)
    );
}

#[test]
fn o02_revoked() {
    let v = ask(OcspState::Revoked, CertIdHash::Sha256, "ocsp").unwrap();
    assert!(matches!(v, OcspVerdict::Revoked { .. }), "{v:?}");
}

#[test]
fn o03_empty_index_is_unknown() {
    assert_eq!(
        ask(OcspState::Unknown, CertIdHash::Sha256, "ocsp"),
        Ok(OcspVerdict::Unknown)
    );
}

#[test]
fn response_signed_by_the_ca_itself_is_accepted() {
    assert_eq!(
        ask(OcspState::Good, CertIdHash::Sha256, "root"),
        Ok(OcspVerdict::Good)
    );
}

#[test]
fn response_signed_by_a_certificate_without_ocsp_signing_is_refused() {
    let e = ask(OcspState::Good, CertIdHash::Sha256, "leaf").unwrap_err();
    assert!(matches!(e, OcspError::BadSignature(_)), "{e:?}");
}

#[test]
fn tampered_response_is_refused() {
    let chain = ocsp_chain();
    let req = ocsp::request(&chain[0], &chain[1], CertIdHash::Sha256).unwrap();
    let ocsp = Ocsp::new(OcspState::Good);
    let mut resp = ocsp.respond(&req, "ocsp");
    // Flip the signature's last bit: it ends right before the embedded
    // responder certificate and its two long-form headers
    // (`[0] EXPLICIT` and `SEQUENCE OF`, 4 bytes each).
    let responder = std::fs::read(ocsp.dir.path().join("ocsp.crt")).unwrap();
    let responder = read_certificates(&responder).unwrap().remove(0);
    let pos = resp
        .windows(responder.der().len())
        .position(|w| w == responder.der())
        .expect("the responder certificate is embedded");
    resp[pos - 9] ^= 1;
    let e = ocsp::check_response(&resp, &chain[0], &chain[1], now()).unwrap_err();
    assert!(matches!(e, OcspError::BadSignature(_)), "{e:?}");
}

#[test]
fn response_about_another_certificate_does_not_match() {
    let chain = ocsp_chain();
    let req = ocsp::request(&chain[0], &chain[1], CertIdHash::Sha256).unwrap();
    let resp = Ocsp::new(OcspState::Good).respond(&req, "ocsp");
    // Ask about the CRL fixture's leaf (another serial, another issuer).
    let other = crl_chain();
    assert!(ocsp::check_response(&resp, &other[0], &chain[1], now()).is_err());
}

#[test]
fn response_after_next_update_is_expired() {
    let chain = ocsp_chain();
    let req = ocsp::request(&chain[0], &chain[1], CertIdHash::Sha256).unwrap();
    let resp = Ocsp::new(OcspState::Good).respond(&req, "ocsp");
    let later = now() + time::Duration::days(2);
    let e = ocsp::check_response(&resp, &chain[0], &chain[1], later).unwrap_err();
    assert!(matches!(e, OcspError::Expired(_)), "{e:?}");
}

#[test]
fn unsuccessful_status_and_garbage_are_errors() {
    let chain = ocsp_chain();
    // OCSPResponse { responseStatus unauthorized(6) }
    let unauthorized = [0x30, 0x03, 0x0a, 0x01, 0x06];
    assert_eq!(
        ocsp::check_response(&unauthorized, &chain[0], &chain[1], now()),
        Err(OcspError::Status("unauthorized"))
    );
    assert!(matches!(
        ocsp::check_response(b"<html>", &chain[0], &chain[1], now()),
        Err(OcspError::Malformed(_))
    ));
}

// ---------------------------------------------------------------- base + delta CRL decisions

mod delta {
    use aws_lc_rs::{
        rand::SystemRandom,
        signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair},
    };
    use der::{Decode, Encode, asn1::OctetString};
    use notary::{
        algorithm::KeySpec,
        crypto::PrivateKey,
        revocation::crl::{self, Crl, CrlError, CrlVerdict},
        x509::Certificate,
    };
    use rcgen::RevocationReason;
    use testkit::revocation::{Endpoints, LEAF_SERIAL, RevocableChain};
    use x509_cert::{crl::CertificateList, ext::Extension};

    struct Pki {
        chain: RevocableChain,
        intermediate_key_pem: String,
    }

    fn pki() -> Pki {
        let keys: Vec<String> = (0..3)
            .map(|_| {
                PrivateKey::generate(KeySpec::Ec(256))
                    .unwrap()
                    .to_pkcs8_pem()
                    .unwrap()
            })
            .collect();
        let endpoints = Endpoints {
            leaf_ocsp: None,
            crl_base: Some("http://127.0.0.1:9/crl".into()),
        };
        let chain = RevocableChain::new([&keys[0], &keys[1], &keys[2]], &endpoints);
        Pki {
            chain,
            intermediate_key_pem: keys[1].clone(),
        }
    }

    fn certs(p: &Pki) -> (Certificate, Certificate) {
        (
            Certificate::from_der(p.chain.leaf.der().to_vec()).unwrap(),
            Certificate::from_der(p.chain.intermediate.der().to_vec()).unwrap(),
        )
    }

    fn next_year() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc() + time::Duration::days(365)
    }

    fn int_ext(oid: &str, critical: bool, n: u64) -> Extension {
        Extension {
            extn_id: oid.parse().unwrap(),
            critical,
            extn_value: OctetString::new(n.to_der().unwrap()).unwrap(),
        }
    }

    /// Rewrites an rcgen CRL into a delta CRL (CRL number `number`, Delta CRL
    /// Indicator naming `base`, or none) and signs it again with the intermediate.
    fn make_delta(p: &Pki, crl_der: &[u8], number: u64, base: Option<u64>) -> Crl {
        let mut list: CertificateList = CertificateList::from_der(crl_der).unwrap();
        let mut exts = vec![int_ext("2.5.29.20", false, number)];
        if let Some(base) = base {
            exts.push(int_ext("2.5.29.27", true, base));
        }
        list.tbs_cert_list.crl_extensions = Some(exts);
        let tbs = list.tbs_cert_list.to_der().unwrap();
        let pkcs8 = der::pem::decode_vec(p.intermediate_key_pem.as_bytes()).unwrap().1;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8).unwrap();
        let sig = key.sign(&SystemRandom::new(), &tbs).unwrap();
        list.signature = der::asn1::BitString::from_bytes(sig.as_ref()).unwrap();
        Crl::from_der(&list.to_der().unwrap()).unwrap()
    }

    fn base(p: &Pki, revoked: &[u64], reason: Option<RevocationReason>) -> Crl {
        Crl::from_der(&p.chain.leaf_crl(revoked, reason, next_year())).unwrap()
    }

    #[test]
    fn delta_revocation_overrides_a_clean_base() {
        let p = pki();
        let (leaf, issuer) = certs(&p);
        let base = base(&p, &[], None);
        let delta = make_delta(
            &p,
            &p.chain
                .leaf_crl(&[LEAF_SERIAL], Some(RevocationReason::KeyCompromise), next_year()),
            8,
            Some(7),
        );
        assert!(delta.is_delta());
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(crl::check(&leaf, &issuer, &base, None, now), Ok(CrlVerdict::Good));
        let v = crl::check(&leaf, &issuer, &base, Some(&delta), now).unwrap();
        assert!(
            matches!(
                v,
                CrlVerdict::Revoked {
                    reason: Some(x509_cert::ext::pkix::CrlReason::KeyCompromise),
                    ..
                }
            ),
            "{v:?}"
        );
    }

    #[test]
    fn certificate_hold_counts_as_revoked_until_removed_from_crl() {
        let p = pki();
        let (leaf, issuer) = certs(&p);
        let now = time::OffsetDateTime::now_utc();
        let held = base(&p, &[LEAF_SERIAL], Some(RevocationReason::CertificateHold));
        assert!(matches!(
            crl::check(&leaf, &issuer, &held, None, now),
            Ok(CrlVerdict::Revoked { .. })
        ));
        let removed = make_delta(
            &p,
            &p.chain
                .leaf_crl(&[LEAF_SERIAL], Some(RevocationReason::RemoveFromCrl), next_year()),
            8,
            Some(7),
        );
        assert_eq!(
            crl::check(&leaf, &issuer, &held, Some(&removed), now),
            Ok(CrlVerdict::Good)
        );
    }

    #[test]
    fn a_delta_must_be_a_delta_and_newer_than_its_base() {
        let p = pki();
        let (leaf, issuer) = certs(&p);
        let now = time::OffsetDateTime::now_utc();
        let base = base(&p, &[], None);
        let not_delta = make_delta(&p, &p.chain.leaf_crl(&[], None, next_year()), 8, None);
        assert!(matches!(
            crl::check(&leaf, &issuer, &base, Some(&not_delta), now),
            Err(CrlError::BadDelta(_))
        ));
        let stale = make_delta(&p, &p.chain.leaf_crl(&[], None, next_year()), 7, Some(7));
        assert!(matches!(
            crl::check(&leaf, &issuer, &base, Some(&stale), now),
            Err(CrlError::BadDelta(_))
        ));
        // A delta passed as the base is refused too.
        assert!(matches!(
            crl::check(&leaf, &issuer, &stale, None, now),
            Err(CrlError::BadDelta(_))
        ));
    }
}
