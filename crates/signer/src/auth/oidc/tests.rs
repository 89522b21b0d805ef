use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

const ISS: &str = "https://token.actions.githubusercontent.com";
const AUD: &str = "signet";

struct TestKey {
    kid: String,
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Value,
    /// The public key's SPKI DER (for the alg-confusion test).
    public_der: Vec<u8>,
}

fn es256(kid: &str) -> TestKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let public_der = pair.public_key().as_der().unwrap().as_ref().to_vec();
    key(
        kid,
        Algorithm::ES256,
        EncodingKey::from_ec_der(pkcs8.as_ref()),
        public_der,
    )
}

fn rs256(kid: &str) -> TestKey {
    let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = pair.as_der().unwrap();
    let public_der = pair.public_key().as_der().unwrap().as_ref().to_vec();
    let pkcs1 = pkcs1_from_pkcs8(pkcs8.as_ref());
    key(
        kid,
        Algorithm::RS256,
        EncodingKey::from_rsa_der(&pkcs1),
        public_der,
    )
}

/// jsonwebtoken signs with PKCS#1 RSA keys; aws-lc-rs exports PKCS#8, whose
/// last element is the PKCS#1 key (`30 82 LL LL …` up to the end).
fn pkcs1_from_pkcs8(pkcs8: &[u8]) -> Vec<u8> {
    (1..pkcs8.len() - 4)
        .find(|&i| {
            let len = (usize::from(pkcs8[i + 2]) << 8) | usize::from(pkcs8[i + 3]);
            pkcs8[i] == 0x30 && pkcs8[i + 1] == 0x82 && i + 4 + len == pkcs8.len()
        })
        .map(|i| pkcs8[i..].to_vec())
        .unwrap()
}

fn key(kid: &str, alg: Algorithm, enc: EncodingKey, public_der: Vec<u8>) -> TestKey {
    let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&enc, alg).unwrap()).unwrap();
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    TestKey {
        kid: kid.into(),
        alg,
        enc,
        jwk,
        public_der,
    }
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }).to_string()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISS,
        "aud": AUD,
        "sub": "repo:acme/app:ref:refs/heads/main",
        "exp": now() + 600,
        "iat": now() - 5,
        "nbf": now() - 5,
        "repository": "acme/app",
        "ref": "refs/heads/main",
        "run_number": 42,
        "runner_environment": "github-hosted",
        "ephemeral": true,
        "groups": ["a", "b"],
        "nested": { "x": 1 },
        "nothing": null,
    })
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.enc).unwrap()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn config(extra: Value) -> OidcConfig {
    let mut base = json!({ "issuer": ISS, "audience": AUD });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    verifier: OidcVerifier,
}

async fn with_file(keys: &[&TestKey]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(keys)).unwrap();
    let verifier = OidcVerifier::new(config(json!({ "jwksFile": path })))
        .await
        .unwrap();
    Fixture {
        _dir: dir,
        path,
        verifier,
    }
}

async fn refused(verifier: &OidcVerifier, jwt: &str) -> String {
    verifier.verify(jwt).await.unwrap_err().to_string()
}

#[tokio::test]
async fn es256_and_rs256_verify_and_claims_are_mapped() {
    let (ec, rsa) = (es256("ec-1"), rs256("rsa-1"));
    let f = with_file(&[&ec, &rsa]).await;
    assert_eq!(f.verifier.issuer(), ISS);
    for key in [&ec, &rsa] {
        let id = f.verifier.verify(&sign(key, &claims())).await.unwrap();
        assert_eq!(id.method, Method::Oidc);
        assert_eq!(id.subject, "repo:acme/app:ref:refs/heads/main");
        assert_eq!(id.issuer.as_deref(), Some(ISS));
        assert_eq!(
            id.display(),
            "oidc:https://token.actions.githubusercontent.com#repo:acme/app:ref:refs/heads/main"
        );
        assert_eq!(id.claims["repository"], "acme/app");
        assert_eq!(id.claims["run_number"], "42");
        assert_eq!(id.claims["ephemeral"], "true");
        assert_eq!(id.claims["aud"], AUD);
        assert!(!id.claims.contains_key("groups"));
        assert!(!id.claims.contains_key("nested"));
        assert!(!id.claims.contains_key("nothing"));
    }
    // aud as an array containing the audience.
    let mut c = claims();
    c["aud"] = json!(["other", AUD]);
    assert!(f.verifier.verify(&sign(&ec, &c)).await.is_ok());
    // Within the leeway.
    let mut c = claims();
    c["exp"] = json!(now() - 30);
    assert!(f.verifier.verify(&sign(&ec, &c)).await.is_ok());
}

#[tokio::test]
async fn a_single_key_needs_no_kid_but_several_do() {
    let ec = es256("only");
    let f = with_file(&[&ec]).await;
    let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims(), &ec.enc).unwrap();
    assert!(f.verifier.verify(&no_kid).await.is_ok());

    let f = with_file(&[&ec, &es256("other")]).await;
    assert_eq!(
        refused(&f.verifier, &no_kid).await,
        format!("the token names no kid, but the JWKS of {ISS} has 2 keys")
    );
}

#[tokio::test]
async fn claim_refusals() {
    let ec = es256("ec-1");
    let f = with_file(&[&ec]).await;
    let with = |k: &str, v: Value| {
        let mut c = claims();
        c[k] = v;
        sign(&ec, &c)
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        sign(&ec, &c)
    };
    let v = &f.verifier;
    assert_eq!(
        refused(v, &with("exp", json!(now() - 3600))).await,
        "the token has expired"
    );
    assert_eq!(
        refused(v, &with("nbf", json!(now() + 3600))).await,
        "the token is not valid yet (nbf is in the future)"
    );
    assert_eq!(
        refused(v, &with("iat", json!(now() + 3600))).await,
        "the token was issued in the future (iat is after now)"
    );
    assert_eq!(
        refused(v, &with("aud", json!("someone-else"))).await,
        "the token's audience \"someone-else\" is not \"signet\""
    );
    assert_eq!(
        refused(v, &with("aud", json!(["a", "b"]))).await,
        "the token's audience [\"a\", \"b\"] is not \"signet\""
    );
    assert_eq!(
        refused(v, &with("iss", json!("https://evil.example"))).await,
        "the token's issuer \"https://evil.example\" is not \"https://token.actions.githubusercontent.com\""
    );
    assert!(
        refused(v, &with("iss", json!([ISS])))
            .await
            .starts_with("the token's issuer [\"https://token.actions.githubusercontent.com\"] is not"),
    );
    assert_eq!(refused(v, &without("exp")).await, "the token has no exp claim");
    assert_eq!(refused(v, &without("aud")).await, "the token has no aud claim");
    assert_eq!(refused(v, &without("sub")).await, "the token has no sub claim");
    assert_eq!(
        refused(v, &with("exp", json!("soon"))).await,
        "the token's exp claim is invalid"
    );
}

#[tokio::test]
async fn signature_and_algorithm_refusals() {
    let (ec, rsa) = (es256("ec-1"), rs256("rsa-1"));
    let f = with_file(&[&ec, &rsa]).await;
    let v = &f.verifier;

    // Forged: signed by another key under a known kid.
    let mut forger = es256("ec-1");
    forger.kid = "ec-1".into();
    assert_eq!(
        refused(v, &sign(&forger, &claims())).await,
        "the token's signature does not verify with the signing key kid=\"ec-1\" (EC P-256, alg ES256)"
    );
    // Tampered claims under a genuine signature.
    let genuine = sign(&ec, &claims());
    let mut parts: Vec<&str> = genuine.split('.').collect();
    let mut c = claims();
    c["sub"] = json!("repo:acme/admin:ref:refs/heads/main");
    let tampered_claims = b64(&c);
    parts[1] = &tampered_claims;
    assert!(
        refused(v, &parts.join("."))
            .await
            .starts_with("the token's signature does not verify")
    );

    // alg none, hand-built.
    let none = format!("eyJhbGciOiJub25lIn0.{}.", b64(&claims()));
    assert_eq!(
        refused(v, &none).await,
        "alg none is not accepted: the token must be signed"
    );
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "NONE", "kid": "ec-1"})),
        b64(&claims())
    );
    assert_eq!(
        refused(v, &none).await,
        "alg none is not accepted: the token must be signed"
    );

    // Algorithm confusion: HS256 keyed with the RSA public key.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let confused =
        jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&rsa.public_der)).unwrap();
    assert_eq!(
        refused(v, &confused).await,
        "alg \"HS256\" is not accepted; the accepted algorithms are RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA"
    );
    // Also keyed with the JWK's `n` bytes.
    let n = URL_SAFE_NO_PAD.decode(rsa.jwk["n"].as_str().unwrap()).unwrap();
    let confused = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&n)).unwrap();
    assert!(
        refused(v, &confused)
            .await
            .starts_with("alg \"HS256\" is not accepted")
    );

    // ES256 header naming the RSA key; RS256 key asked for PS256 (the JWK says RS256).
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rsa-1".into());
    let mismatched = jsonwebtoken::encode(&header, &claims(), &ec.enc).unwrap();
    assert_eq!(
        refused(v, &mismatched).await,
        "alg ES256 does not fit the signing key kid=\"rsa-1\" (RSA, alg RS256)"
    );
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("rsa-1".into());
    let pss = jsonwebtoken::encode(&header, &claims(), &rsa.enc).unwrap();
    assert!(refused(v, &pss).await.starts_with("alg PS256 does not fit"));

    // Unsupported and critical headers.
    let es512 = format!("{}.{}.AAAA", b64(&json!({"alg": "ES512"})), b64(&claims()));
    assert!(
        refused(v, &es512)
            .await
            .starts_with("alg \"ES512\" is not accepted")
    );
    let crit = format!(
        "{}.{}.AAAA",
        b64(&json!({"alg": "ES256", "kid": "ec-1", "crit": ["b64"], "b64": false})),
        b64(&claims())
    );
    assert!(refused(v, &crit).await.contains("crit"));
}

#[tokio::test]
async fn garbage_and_oversized_tokens() {
    let ec = es256("ec-1");
    let f = with_file(&[&ec]).await;
    let v = &f.verifier;
    let genuine = sign(&ec, &claims());
    let truncated = &genuine[..genuine.len() - 10];
    assert!(
        refused(v, truncated)
            .await
            .starts_with("the token's signature does not verify")
    );
    let cut = &genuine[..genuine.rfind('.').unwrap()];
    assert_eq!(
        refused(v, cut).await,
        "the token is malformed: a JWT has 3 dot-separated parts, this one has 2"
    );
    for garbage in [
        "",
        "garbage",
        "a.b.c",
        "....",
        "eyJ.eyJ.x",
        "e30.e30.e30",
        "W10.e30.",
    ] {
        let e = refused(v, garbage).await;
        assert!(e.starts_with("the token is malformed"), "{garbage:?}: {e}");
    }
    let mut big = claims();
    big["padding"] = json!("x".repeat(MAX_JWT_SIZE));
    let e = refused(v, &sign(&ec, &big)).await;
    assert!(
        e.starts_with("the token is ") && e.ends_with("bytes; at most 16384 are accepted"),
        "{e}"
    );
}

#[tokio::test]
async fn unknown_kid_refetches_the_file_once() {
    let (a, b) = (es256("a"), es256("b"));
    let f = with_file(&[&a]).await;
    // Rotation: the new key appears in the file; the unknown kid refetches.
    std::fs::write(&f.path, jwks(&[&a, &b])).unwrap();
    assert!(f.verifier.verify(&sign(&b, &claims())).await.is_ok());
    // Another unknown kid within 30 s: no refetch, refused.
    let c = es256("c");
    std::fs::write(&f.path, jwks(&[&a, &b, &c])).unwrap();
    assert_eq!(
        refused(&f.verifier, &sign(&c, &claims())).await,
        format!("unknown signing key kid=\"c\" for issuer {ISS}")
    );
}

#[tokio::test]
async fn unknown_kid_is_refused_after_the_refetch() {
    let a = es256("a");
    let f = with_file(&[&a]).await;
    assert_eq!(
        refused(&f.verifier, &sign(&es256("zzz"), &claims())).await,
        format!("unknown signing key kid=\"zzz\" for issuer {ISS}")
    );
}

/// A tiny HTTP/1.1 responder serving `body` (changeable) and counting requests.
struct JwksServer {
    url: String,
    body: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
}

async fn serve(body: String) -> JwksServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks", listener.local_addr().unwrap());
    let shared = Arc::new(Mutex::new((200u16, body)));
    let hits = Arc::new(AtomicUsize::new(0));
    let (state, counter) = (Arc::clone(&shared), Arc::clone(&hits));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (status, body) = state.lock().unwrap().clone();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    JwksServer {
        url,
        body: shared,
        hits,
    }
}

#[tokio::test]
async fn jwks_from_a_url_and_key_rotation() {
    let (a, b) = (rs256("a"), es256("b"));
    let server = serve(jwks(&[&a])).await;
    let verifier = OidcVerifier::new(config(json!({ "jwksUrl": server.url })))
        .await
        .unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    assert!(verifier.verify(&sign(&a, &claims())).await.is_ok());
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);

    // Rotation: b appears at the URL and is accepted after one refetch.
    server.body.lock().unwrap().1 = jwks(&[&a, &b]);
    assert!(verifier.verify(&sign(&b, &claims())).await.is_ok());
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);

    // Rate limit: another unknown kid within 30 s does not refetch.
    let e = verifier.verify(&sign(&es256("z"), &claims())).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("unknown signing key kid=\"z\" for issuer {ISS}")
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn jwks_load_failures() {
    let server = serve("not json".into()).await;
    let e = OidcVerifier::new(config(json!({ "jwksUrl": server.url })))
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "the JWKS at {} could not be fetched: not JSON",
            server.url
        )),
        "{e}"
    );
    assert_eq!(e.status(), 503);

    *server.body.lock().unwrap() = (404, "{}".into());
    let e = OidcVerifier::new(config(json!({ "jwksUrl": server.url })))
        .await
        .unwrap_err();
    assert!(e.to_string().ends_with("HTTP status 404 Not Found"), "{e}");

    // Only symmetric and encryption keys: nothing usable.
    let only_bad = json!({ "keys": [
        { "kty": "oct", "k": "c2VjcmV0", "kid": "hmac" },
        { "kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB" },
    ]})
    .to_string();
    *server.body.lock().unwrap() = (200, only_bad);
    let e = OidcVerifier::new(config(json!({ "jwksUrl": server.url })))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("none of its 2 keys is a usable signing key"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; MAX_JWKS_SIZE as usize + 1]).unwrap();
    let e = OidcVerifier::new(config(json!({ "jwksFile": big })))
        .await
        .unwrap_err();
    assert!(e.to_string().ends_with("larger than 1048576 bytes"), "{e}");

    let e = OidcVerifier::new(config(json!({ "jwksFile": dir.path().join("missing.json") })))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("could not be fetched"), "{e}");
}

#[tokio::test]
async fn configuration_checks() {
    let e = OidcVerifier::new(config(json!({}))).await.unwrap_err();
    assert!(
        e.to_string().contains("exactly one of jwksFile and jwksUrl"),
        "{e}"
    );
    let e = OidcVerifier::new(config(json!({ "jwksFile": "/x", "jwksUrl": "https://x" })))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("exactly one of jwksFile and jwksUrl"),
        "{e}"
    );
    for url in [
        "http://example.com/jwks",
        "http://localhost/jwks",
        "ftp://127.0.0.1/x",
    ] {
        let e = OidcVerifier::new(config(json!({ "jwksUrl": url })))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("must be https://"), "{url}: {e}");
        assert_eq!(e.status(), 500);
    }
    let e = OidcVerifier::new(config(json!({ "jwksFile": "/x", "leeway": "2h" })))
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("leeway 7200s is more than the allowed 600s"),
        "{e}"
    );
    let c =
        config(json!({ "jwksFile": "/x", "leeway": "2m", "refresh": "1h", "subjectClaim": "repository" }));
    assert_eq!(c.leeway, Duration::from_secs(120));
    assert_eq!(c.refresh, Duration::from_secs(3600));
    let c = config(json!({ "jwksFile": "/x" }));
    assert_eq!(
        (c.leeway, c.refresh),
        (Duration::from_secs(60), Duration::from_secs(300))
    );
    let unknown = json!({ "issuer": ISS, "audience": AUD, "jwksFile": "/x", "algs": ["HS256"] });
    assert!(serde_json::from_value::<OidcConfig>(unknown).is_err());
    let yaml: OidcConfig = serde_saphyr::from_str(
        "issuer: https://gitlab.example.com\naudience: signet\njwksFile: /x\nleeway: 30s\n",
    )
    .unwrap();
    assert_eq!(yaml.leeway, Duration::from_secs(30));
}

#[tokio::test]
async fn subject_claim_replaces_sub() {
    let ec = es256("ec-1");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks(&[&ec])).unwrap();
    let v = OidcVerifier::new(config(json!({ "jwksFile": path, "subjectClaim": "repository" })))
        .await
        .unwrap();
    assert_eq!(v.verify(&sign(&ec, &claims())).await.unwrap().subject, "acme/app");
    let mut c = claims();
    c.as_object_mut().unwrap().remove("repository");
    assert_eq!(
        refused(&v, &sign(&ec, &c)).await,
        "the token has no repository claim"
    );
}

#[tokio::test]
async fn several_issuers() {
    let (gh, gl) = (es256("gh"), es256("gl"));
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (dir.path().join("gh.json"), dir.path().join("gl.json"));
    std::fs::write(&p1, jwks(&[&gh])).unwrap();
    std::fs::write(&p2, jwks(&[&gl])).unwrap();
    let gitlab = "https://gitlab.example.com";
    let oidc = Oidc::new(vec![
        config(json!({ "jwksFile": p1 })),
        config(json!({ "issuer": gitlab, "jwksFile": p2 })),
    ])
    .await
    .unwrap();
    assert_eq!(oidc.issuers().collect::<Vec<_>>(), [ISS, gitlab]);

    assert_eq!(
        oidc.verify(&sign(&gh, &claims()))
            .await
            .unwrap()
            .issuer
            .as_deref(),
        Some(ISS)
    );
    let mut c = claims();
    c["iss"] = json!(gitlab);
    c["sub"] = json!("project_path:acme/app:ref_type:branch:ref:main");
    let id = oidc.verify(&sign(&gl, &c)).await.unwrap();
    assert_eq!(
        id.display(),
        "oidc:https://gitlab.example.com#project_path:acme/app:ref_type:branch:ref:main"
    );
    // GitLab's key does not verify a GitHub-issued token.
    let e = oidc.verify(&sign(&gl, &claims())).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("unknown signing key kid=\"gl\" for issuer {ISS}")
    );

    c["iss"] = json!("https://evil.example");
    assert_eq!(
        oidc.verify(&sign(&gl, &c)).await.unwrap_err().to_string(),
        "the token's issuer \"https://evil.example\" is not a configured OIDC issuer"
    );
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(
        oidc.verify(&sign(&gl, &c)).await.unwrap_err().to_string(),
        "the token has no iss claim"
    );
    let none = format!("eyJhbGciOiJub25lIn0.{}.", b64(&claims()));
    assert_eq!(
        oidc.verify(&none).await.unwrap_err().to_string(),
        "alg none is not accepted: the token must be signed"
    );

    let e = Oidc::new(vec![
        config(json!({ "jwksFile": p1 })),
        config(json!({ "jwksFile": p2 })),
    ])
    .await
    .unwrap_err();
    assert!(e.to_string().contains("configured twice"), "{e}");
}

#[tokio::test]
async fn periodic_refresh_drops_removed_keys() {
    let (a, b) = (es256("a"), es256("b"));
    let server = serve(jwks(&[&a])).await;
    let v = OidcVerifier::new(config(json!({ "jwksUrl": server.url, "refresh": "1s" })))
        .await
        .unwrap();
    assert!(v.verify(&sign(&a, &claims())).await.is_ok());
    server.body.lock().unwrap().1 = jwks(&[&b]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The periodic reload brings b in (no kid refetch needed) …
    assert!(v.verify(&sign(&b, &claims())).await.is_ok());
    assert_eq!(server.hits.load(Ordering::SeqCst), 2);
    // … and drops a: refused after one kid refetch.
    assert!(
        refused(&v, &sign(&a, &claims()))
            .await
            .starts_with("unknown signing key kid=\"a\"")
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn eddsa_and_pss_keys() {
    use aws_lc_rs::signature::Ed25519KeyPair;
    let pair = Ed25519KeyPair::generate().unwrap();
    let pkcs8 = pair.to_pkcs8v1().unwrap();
    let ed = TestKey {
        kid: "ed".into(),
        alg: Algorithm::EdDSA,
        enc: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()) }),
        public_der: Vec::new(),
    };
    // An RSA JWK without alg serves every RSA algorithm, PSS included.
    let mut rsa = rs256("rsa");
    rsa.jwk.as_object_mut().unwrap().remove("alg");
    rsa.alg = Algorithm::PS256;
    let f = with_file(&[&ed, &rsa]).await;
    assert!(f.verifier.verify(&sign(&ed, &claims())).await.is_ok());
    assert!(f.verifier.verify(&sign(&rsa, &claims())).await.is_ok());
    rsa.alg = Algorithm::RS512;
    assert!(f.verifier.verify(&sign(&rsa, &claims())).await.is_ok());
    // EdDSA header naming the RSA key.
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("rsa".into());
    let wrong = jsonwebtoken::encode(&header, &claims(), &ed.enc).unwrap();
    assert_eq!(
        refused(&f.verifier, &wrong).await,
        "alg EdDSA does not fit the signing key kid=\"rsa\" (RSA)"
    );
}
