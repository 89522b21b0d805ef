//! `HttpTimestamper` against a real `openssl ts` TSA on loopback.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fetch::tsa::{HttpTimestamper, TsaError};
use notary::{
    timestamp::{Rfc3161Verifier, SignedToken, TimestampRequest, TimestampVerifier},
    x509::Certificate,
};
use testkit::tsa::{Mode, Tsa};

const SIGNATURE: &[u8] = b"the raw signature bytes";

fn root(tsa: &Tsa) -> Certificate {
    Certificate::from_der(tsa.root.der.clone()).unwrap()
}

fn stamper(tsa: &Tsa) -> HttpTimestamper {
    HttpTimestamper::new(tsa.url(), vec![root(tsa)])
}

#[test]
fn grants_a_token_over_the_signature() {
    let tsa = Tsa::start();
    let token = stamper(&tsa).timestamp(SIGNATURE).unwrap();
    assert_eq!(tsa.requests(), 1);
    let signed = SignedToken::parse(&token).unwrap();
    let info = signed.info().unwrap();
    assert_eq!(info.policy, testkit::tsa::POLICY);
    let ts = info.validate(SIGNATURE).unwrap();
    let now = time::OffsetDateTime::now_utc();
    assert!(
        (now - ts.time).abs() < time::Duration::minutes(1),
        "genTime {}",
        ts.time
    );
    let verified = Rfc3161Verifier.verify(&token, SIGNATURE, &[root(&tsa)]).unwrap();
    assert_eq!(verified.tsa_chain[0].der(), tsa.leaf.der.as_slice());
    // A token over these bytes is no token over others.
    assert!(info.validate(b"other bytes").is_err());
}

#[test]
fn the_envelope_timestamper_trait_is_implemented() {
    let tsa = Tsa::start();
    let t = stamper(&tsa);
    let dynamic: &dyn notary::envelope::Timestamper = &t;
    let token = dynamic.timestamp(SIGNATURE).unwrap();
    assert!(SignedToken::parse(&token).is_ok());
}

#[test]
fn a_token_from_an_untrusted_tsa_is_refused() {
    let tsa = Tsa::start();
    let other = Tsa::start();
    let t = HttpTimestamper::new(tsa.url(), vec![root(&other)]);
    let err = t.timestamp(SIGNATURE).unwrap_err();
    assert!(matches!(err, TsaError::Verify(_)), "{err:?}");
    assert!(err.to_string().contains("failed to verify signed token"), "{err}");
}

#[test]
fn no_roots_is_an_error_before_any_request() {
    let tsa = Tsa::start();
    let t = HttpTimestamper::new(tsa.url(), Vec::new());
    assert!(matches!(t.timestamp(SIGNATURE), Err(TsaError::NoRoots)));
    assert_eq!(tsa.requests(), 0);
}

#[test]
fn rejection_is_reported_with_its_status() {
    let tsa = Tsa::start();
    tsa.set_mode(Mode::Reject);
    let err = stamper(&tsa).timestamp(SIGNATURE).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid timestamping response: invalid response with status code 2: rejected. Failure info: unrecognized or unsupported Algorithm Identifier"
    );
}

#[test]
fn garbage_is_an_invalid_response() {
    let tsa = Tsa::start();
    tsa.set_mode(Mode::Garbage);
    let err = stamper(&tsa).timestamp(SIGNATURE).unwrap_err();
    assert!(matches!(err, TsaError::Response(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("invalid timestamping response:"),
        "{err}"
    );
}

#[test]
fn the_reply_content_type_is_required() {
    let tsa = Tsa::start();
    tsa.set_mode(Mode::WrongContentType);
    let err = stamper(&tsa).timestamp(SIGNATURE).unwrap_err();
    assert!(matches!(err, TsaError::ContentType { .. }), "{err:?}");
    assert!(err.to_string().contains("\"text/plain\""), "{err}");
}

#[test]
fn a_response_for_other_bytes_is_refused() {
    let tsa = Tsa::start();
    // A genuine response, but to a request over different bytes.
    let other = TimestampRequest::new(b"some other signature").unwrap();
    tsa.set_mode(Mode::Fixed(tsa.reply(&other.to_der().unwrap())));
    let err = stamper(&tsa).timestamp(SIGNATURE).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid timestamping response: message imprint in response"),
        "{err}"
    );
}

#[test]
fn a_replayed_response_fails_the_nonce_check() {
    let tsa = Tsa::start();
    // Same bytes, other request: the nonce differs.
    let earlier = TimestampRequest::new(SIGNATURE).unwrap();
    tsa.set_mode(Mode::Fixed(tsa.reply(&earlier.to_der().unwrap())));
    let err = stamper(&tsa).timestamp(SIGNATURE).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid timestamping response: nonce in response"),
        "{err}"
    );
}

#[test]
fn a_stalling_tsa_times_out() {
    let tsa = Tsa::start();
    tsa.set_mode(Mode::Stall);
    let t = HttpTimestamper::with_timeout(tsa.url(), vec![root(&tsa)], Duration::from_secs(1));
    let start = Instant::now();
    let err = t.timestamp(SIGNATURE).unwrap_err();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(matches!(err, TsaError::Http(_)), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[test]
fn a_tsa_that_is_down_fails_fast() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let tsa = Tsa::start();
    let t = HttpTimestamper::new(format!("http://127.0.0.1:{port}/"), vec![root(&tsa)]);
    let start = Instant::now();
    let err = t.timestamp(SIGNATURE).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(matches!(err, TsaError::Http(_)), "{err:?}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn only_http_urls() {
    let tsa = Tsa::start();
    let t = HttpTimestamper::new("file:///etc/passwd", vec![root(&tsa)]);
    let err = t.timestamp(SIGNATURE).unwrap_err();
    assert!(err.to_string().contains("only http:// URLs"), "{err}");
}
