//! The registries testkit starts: each kind with and without TLS and auth
//! answers the distribution API as a client will see it, and the hostile
//! registry misbehaves as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::Read,
    time::{Duration, Instant},
};

use reqwest::blocking::{Client, RequestBuilder};
use testkit::{
    hostile::{self, HostileRegistry},
    registry::{self, Auth, Kind, OCI_INDEX, OCI_MANIFEST, Options, Registry, sha256_digest},
};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret pass";

fn client(reg: &Registry) -> Client {
    let mut b = Client::builder().no_proxy().timeout(Duration::from_secs(10));
    if let Some(ca) = reg.ca_file() {
        let pem = std::fs::read(ca).unwrap();
        b = b.tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()]);
    }
    b.build().unwrap()
}

fn url(reg: &Registry, path: &str) -> String {
    let scheme = if reg.ca_file().is_some() { "https" } else { "http" };
    format!("{scheme}://{}{path}", reg.host())
}

/// `key="value"` parameters of a `WWW-Authenticate: Bearer …` challenge.
fn challenge_param(challenge: &str, key: &str) -> String {
    let start = challenge.find(&format!("{key}=\"")).unwrap() + key.len() + 2;
    let len = challenge[start..].find('"').unwrap();
    challenge[start..start + len].to_string()
}

/// How a test client authenticates a request for `scope`, the way a real
/// client does: nothing, basic auth, or (`token`) the token dance: a
/// challenge from `/v2/`, a wrong then a right password at the realm.
fn authed(reg: &Registry, token: bool, c: &Client, req: RequestBuilder, scope: &str) -> RequestBuilder {
    let Some((u, p)) = reg.credentials() else {
        return req;
    };
    if !token {
        return req.basic_auth(u, Some(p));
    }
    let challenge = c.get(url(reg, "/v2/")).send().unwrap();
    assert_eq!(challenge.status(), 401);
    let www = challenge.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(www.starts_with("Bearer "), "{www}");
    let realm = challenge_param(&www, "realm");
    let service = challenge_param(&www, "service");
    assert_eq!(service, registry::TOKEN_SERVICE);
    let bad = c
        .get(format!("{realm}?service={service}&scope={}", encode(scope)))
        .basic_auth(u, Some("wrong"))
        .send()
        .unwrap();
    assert_eq!(bad.status(), 401, "token server takes a wrong password");
    let resp = c
        .get(format!("{realm}?service={service}&scope={}", encode(scope)))
        .basic_auth(u, Some(p))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json_body();
    assert_eq!(body["expires_in"], 300);
    assert_eq!(body["token"], body["access_token"]);
    req.bearer_auth(body["token"].as_str().unwrap())
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

trait JsonBody {
    fn json_body(self) -> serde_json::Value;
}

impl JsonBody for reqwest::blocking::Response {
    fn json_body(self) -> serde_json::Value {
        serde_json::from_slice(&self.bytes().unwrap()).unwrap()
    }
}

fn exercise(kind: Kind, tls: bool, auth: Auth) {
    let has_auth = !matches!(auth, Auth::None);
    let is_token = matches!(auth, Auth::Token { .. });
    let reg = Registry::start(kind, Options { tls, auth });
    assert_eq!(reg.kind(), kind);
    assert!(reg.host().starts_with("127.0.0.1:"));
    assert_eq!(reg.ca_file().is_some(), tls);
    assert_eq!(reg.request_count(), 0, "start-up probes are not counted");
    let c = client(&reg);

    let image = reg.seed_image("team/app", "v1");
    assert_eq!(image.media_type, OCI_MANIFEST);
    assert_eq!(
        image.reference,
        format!("{}/team/app@{}", reg.host(), image.digest)
    );
    assert_eq!(reg.request_count(), 0, "seeding is not counted");
    let other = reg.seed_image("team/app", "v2");
    assert_ne!(other.digest, image.digest, "each seeded image is distinct");

    let mut made = 0;
    let ping = c.get(url(&reg, "/v2/")).send().unwrap();
    made += 1;
    if has_auth {
        assert_eq!(ping.status(), 401);
        let www = ping.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            www.starts_with(if is_token { "Bearer " } else { "Basic " }),
            "{www}"
        );
        let anon = c
            .get(url(&reg, &format!("/v2/team/app/manifests/{}", image.digest)))
            .send()
            .unwrap();
        made += 1;
        assert_eq!(anon.status(), 401, "a manifest without credentials");
    } else {
        assert_eq!(ping.status(), 200);
    }

    let tokens_before = reg.token_request_count();
    let scope = "repository:team/app:pull";
    let req = authed(
        &reg,
        is_token,
        &c,
        c.get(url(&reg, &format!("/v2/team/app/manifests/{}", image.digest)))
            .header("Accept", OCI_MANIFEST),
        scope,
    );
    if is_token {
        made += 1; // the challenge
        assert_eq!(
            reg.token_request_count() - tokens_before,
            2,
            "wrong then right password"
        );
    } else {
        assert_eq!(reg.token_request_count(), 0);
    }
    let got = req.send().unwrap();
    made += 1;
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["docker-content-digest"].to_str().unwrap(),
        image.digest
    );
    let bytes = got.bytes().unwrap();
    assert_eq!(sha256_digest(&bytes), image.digest);
    assert_eq!(bytes.len() as u64, image.size);

    let head = authed(
        &reg,
        is_token,
        &c,
        c.head(url(&reg, "/v2/team/app/manifests/v1"))
            .header("Accept", OCI_MANIFEST),
        scope,
    )
    .send()
    .unwrap();
    made += 1 + usize::from(is_token);
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["docker-content-digest"].to_str().unwrap(),
        image.digest
    );

    // A Notary signature manifest (notation 1.x form) with a subject.
    let envelope = b"not really a JWS envelope".to_vec();
    let env_digest = reg.push_blob("team/app", &envelope);
    let cfg_digest = reg.push_blob("team/app", b"{}");
    let sig = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": hostile::NOTARY_SIGNATURE, "digest": cfg_digest, "size": 2},
        "layers": [{"mediaType": hostile::JWS_ENVELOPE, "digest": env_digest, "size": envelope.len()}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.size},
        "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    }))
    .unwrap();
    let sig_digest = sha256_digest(&sig);
    let tag = image.digest.replace(':', "-");
    let reference = if kind == Kind::Referrers {
        sig_digest.as_str()
    } else {
        tag.as_str()
    };
    assert_eq!(
        reg.push_manifest("team/app", reference, OCI_MANIFEST, &sig),
        sig_digest
    );

    let referrers = authed(
        &reg,
        is_token,
        &c,
        c.get(url(&reg, &format!("/v2/team/app/referrers/{}", image.digest))),
        scope,
    )
    .send()
    .unwrap();
    made += 1 + usize::from(is_token);
    match kind {
        Kind::Referrers => {
            assert_eq!(referrers.status(), 200);
            assert_eq!(referrers.headers()["content-type"].to_str().unwrap(), OCI_INDEX);
            let index = referrers.json_body();
            assert_eq!(index["mediaType"], OCI_INDEX);
            let list = index["manifests"].as_array().unwrap();
            assert_eq!(list.len(), 1, "{index}");
            assert_eq!(list[0]["digest"], sig_digest.as_str());
            assert_eq!(list[0]["artifactType"], hostile::NOTARY_SIGNATURE);
        }
        Kind::Distribution => {
            assert_eq!(referrers.status(), 404, "distribution 2.8 has no referrers API");
            let fallback = reg.request("GET", &format!("/v2/team/app/manifests/{tag}"));
            made += 1;
            assert_eq!(fallback.status, 200, "{fallback:?}");
            assert_eq!(sha256_digest(&fallback.body), sig_digest);
        }
    }
    let via_helper = reg.request("GET", &format!("/v2/team/app/blobs/{env_digest}"));
    made += 1;
    assert_eq!(via_helper.status, 200);
    assert_eq!(via_helper.body, envelope);

    assert_eq!(reg.request_count(), made, "requests counted\n{}", reg.logs());
}

fn basic() -> Auth {
    Auth::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

fn token() -> Auth {
    Auth::Token {
        username: USER.into(),
        password: PASSWORD.into(),
    }
}

#[test]
fn referrers_plain() {
    exercise(Kind::Referrers, false, Auth::None);
}

#[test]
fn referrers_tls() {
    exercise(Kind::Referrers, true, Auth::None);
}

#[test]
fn referrers_basic_tls() {
    exercise(Kind::Referrers, true, basic());
}

#[test]
fn referrers_basic_plain() {
    exercise(Kind::Referrers, false, basic());
}

#[test]
fn distribution_plain() {
    exercise(Kind::Distribution, false, Auth::None);
}

#[test]
fn distribution_tls() {
    exercise(Kind::Distribution, true, Auth::None);
}

#[test]
fn distribution_basic_tls() {
    exercise(Kind::Distribution, true, basic());
}

#[test]
fn distribution_basic_plain() {
    exercise(Kind::Distribution, false, basic());
}

#[test]
fn distribution_token_plain() {
    exercise(Kind::Distribution, false, token());
}

#[test]
fn distribution_token_tls() {
    exercise(Kind::Distribution, true, token());
}

/// The registry checks the token's signature and scopes: a pull-only token
/// cannot push, another repository's token cannot pull, a token signed by
/// another key is refused.
#[test]
fn distribution_token_scopes_are_enforced() {
    let reg = Registry::start(
        Kind::Distribution,
        Options {
            tls: false,
            auth: token(),
        },
    );
    let image = reg.seed_image("team/app", "v1");
    let c = client(&reg);
    let token_for = |scope: &str| -> String {
        let realm = format!("http://{}/token", token_realm_host(&reg, &c));
        let resp = c
            .get(format!(
                "{realm}?service={}&scope={}",
                registry::TOKEN_SERVICE,
                encode(scope)
            ))
            .basic_auth(USER, Some(PASSWORD))
            .send()
            .unwrap();
        resp.json_body()["token"].as_str().unwrap().to_string()
    };
    let manifest = url(&reg, &format!("/v2/team/app/manifests/{}", image.digest));
    let pull = token_for("repository:team/app:pull");
    let ok = c
        .get(&manifest)
        .header("Accept", OCI_MANIFEST)
        .bearer_auth(&pull)
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let push = c
        .put(url(&reg, "/v2/team/app/manifests/v9"))
        .header("Content-Type", OCI_MANIFEST)
        .bearer_auth(&pull)
        .body(ok.bytes().unwrap())
        .send()
        .unwrap();
    assert_eq!(push.status(), 401, "push with a pull-only token");
    let other = token_for("repository:other/repo:pull");
    let denied = c
        .get(&manifest)
        .header("Accept", OCI_MANIFEST)
        .bearer_auth(&other)
        .send()
        .unwrap();
    assert_eq!(denied.status(), 401, "another repository's token");
    // Re-sign the same claims with the wrong key: keep header and claims, break the signature.
    let mut parts: Vec<String> = pull.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let forged = parts.join(".");
    let refused = c
        .get(&manifest)
        .header("Accept", OCI_MANIFEST)
        .bearer_auth(&forged)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401, "a token with a broken signature");
    assert_eq!(reg.token_request_count(), 2);
}

/// The OAuth2 side of the token server: a password grant with
/// `access_type=offline` hands out a refresh token; `grant_type=refresh_token`
/// with it (or with [`Registry::issue_refresh_token`]) gets a working access
/// token for the requested scope; an unknown refresh token is refused.
#[test]
fn distribution_token_refresh_grant() {
    let reg = Registry::start(
        Kind::Distribution,
        Options {
            tls: false,
            auth: token(),
        },
    );
    let image = reg.seed_image("team/app", "v1");
    let c = client(&reg);
    let realm = format!("http://{}/token", token_realm_host(&reg, &c));
    let post = |form: &[(&str, &str)]| {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        c.post(&realm)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .unwrap()
    };
    let scope = "repository:team/app:pull";
    let common = [
        ("service", registry::TOKEN_SERVICE),
        ("client_id", "testkit"),
        ("scope", scope),
    ];
    let refresh_grant = |refresh: &str| {
        let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh)];
        form.extend(common);
        post(&form)
    };
    let manifest = url(&reg, &format!("/v2/team/app/manifests/{}", image.digest));
    let pulls_with = |token: &str| {
        c.get(&manifest)
            .header("Accept", OCI_MANIFEST)
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
    };

    // Password grant: a refresh token only when asked for offline access.
    let mut form = vec![
        ("grant_type", "password"),
        ("username", USER),
        ("password", PASSWORD),
    ];
    form.extend(common);
    let online = post(&form);
    assert_eq!(online.status(), 200);
    assert!(online.json_body().get("refresh_token").is_none());
    form.push(("access_type", "offline"));
    let offline = post(&form).json_body();
    let refresh = offline["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(pulls_with(offline["access_token"].as_str().unwrap()), 200);

    // Refresh grant with the token from the password grant and with one issued directly.
    for refresh in [refresh, reg.issue_refresh_token()] {
        let resp = refresh_grant(&refresh);
        assert_eq!(resp.status(), 200);
        let body = resp.json_body();
        assert_eq!(body["token"], body["access_token"]);
        assert_eq!(pulls_with(body["access_token"].as_str().unwrap()), 200);
    }

    // An unknown refresh token, or none, is refused.
    let unknown = refresh_grant("signet-refresh-bogus");
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.json_body()["error"], "invalid_grant");
    let mut form = vec![("grant_type", "refresh_token")];
    form.extend(common);
    assert_eq!(post(&form).status(), 400, "no refresh_token");
    assert_eq!(reg.token_request_count(), 6, "every grant is counted");
}

fn token_realm_host(reg: &Registry, c: &Client) -> String {
    let r = c.get(url(reg, "/v2/")).send().unwrap();
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_string();
    let realm = challenge_param(&www, "realm");
    realm
        .trim_start_matches("http://")
        .trim_end_matches("/token")
        .to_string()
}

#[test]
fn drop_stops_the_registry() {
    for kind in [Kind::Referrers, Kind::Distribution] {
        let reg = Registry::start(kind, Options::default());
        let host = reg.host().to_string();
        let dir = reg.dir().to_path_buf();
        drop(reg);
        assert!(
            std::net::TcpStream::connect(&host).is_err(),
            "{kind:?} still listens"
        );
        assert!(!dir.exists(), "{kind:?} left {}", dir.display());
    }
}

// --- the hostile registry -------------------------------------------------

fn hclient() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn hurl(h: &HostileRegistry, path: &str) -> String {
    format!("http://{}{path}", h.host())
}

#[test]
fn hostile_ping_and_unknown() {
    let h = HostileRegistry::start();
    let c = hclient();
    assert_eq!(c.get(hurl(&h, "/v2/")).send().unwrap().status(), 200);
    assert_eq!(
        c.get(hurl(&h, "/v2/nope/manifests/v1")).send().unwrap().status(),
        404
    );
    assert_eq!(h.request_count(), 2);
    assert_eq!(h.requests_for("/v2/nope/"), 1);
}

#[test]
fn hostile_oversized_streams_for_ever() {
    let h = HostileRegistry::start();
    let c = hclient();
    for repo in [hostile::OVERSIZED_MANIFEST, hostile::OVERSIZED_CHUNKED] {
        let path = format!("/v2/{repo}/manifests/v1");
        let head = c.head(hurl(&h, &path)).send().unwrap();
        assert_eq!(head.status(), 200);
        let mut resp = c.get(hurl(&h, &path)).send().unwrap();
        if repo == hostile::OVERSIZED_MANIFEST {
            assert_eq!(resp.content_length(), Some(hostile::OVERSIZED_LENGTH));
        } else {
            assert_eq!(resp.content_length(), None);
            assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        }
        // Read 2 MiB and walk away: the server keeps sending.
        let mut buf = vec![0u8; 2 * 1024 * 1024];
        resp.read_exact(&mut buf).unwrap();
        assert!(buf.starts_with(b"{\"junk\":\""));
    }
}

#[test]
fn hostile_mismatch() {
    let h = HostileRegistry::start();
    let c = hclient();
    let path = format!("/v2/{}/manifests/v1", hostile::MISMATCH_MANIFEST);
    let head = c.head(hurl(&h, &path)).send().unwrap();
    let claimed = head.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(claimed, h.subject_digest(hostile::MISMATCH_MANIFEST));
    let len: u64 = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(len > 100);
    for p in [
        path.clone(),
        format!("/v2/{}/manifests/{claimed}", hostile::MISMATCH_MANIFEST),
    ] {
        let got = c.get(hurl(&h, &p)).send().unwrap();
        assert_eq!(got.headers()["docker-content-digest"].to_str().unwrap(), claimed);
        let body = got.bytes().unwrap();
        assert_eq!(body.len() as u64, len);
        assert_ne!(sha256_digest(&body), claimed);
        let m: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(m["mediaType"], OCI_MANIFEST);
    }
}

fn signature_manifests(h: &HostileRegistry, c: &Client, repo: &str) -> Vec<serde_json::Value> {
    let subject = h.subject_digest(repo).to_string();
    let head = c
        .head(hurl(h, &format!("/v2/{repo}/manifests/latest")))
        .send()
        .unwrap();
    assert_eq!(head.headers()["docker-content-digest"].to_str().unwrap(), subject);
    assert_eq!(head.headers()["content-type"].to_str().unwrap(), OCI_MANIFEST);
    let resp = c
        .get(hurl(h, &format!("/v2/{repo}/referrers/{subject}")))
        .send()
        .unwrap();
    assert_eq!(resp.headers()["content-type"].to_str().unwrap(), OCI_INDEX);
    resp.json_body()["manifests"].as_array().unwrap().clone()
}

fn fetch_signature(h: &HostileRegistry, c: &Client, repo: &str, desc: &serde_json::Value) {
    assert_eq!(desc["artifactType"], hostile::NOTARY_SIGNATURE);
    let digest = desc["digest"].as_str().unwrap();
    let m = c
        .get(hurl(h, &format!("/v2/{repo}/manifests/{digest}")))
        .send()
        .unwrap();
    assert_eq!(m.status(), 200);
    let bytes = m.bytes().unwrap();
    assert_eq!(sha256_digest(&bytes), digest);
    let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest["config"]["mediaType"], hostile::NOTARY_SIGNATURE);
    assert_eq!(manifest["subject"]["digest"], h.subject_digest(repo));
    let layer = &manifest["layers"][0];
    assert_eq!(layer["mediaType"], hostile::JWS_ENVELOPE);
    let blob_digest = layer["digest"].as_str().unwrap();
    let blob = c
        .get(hurl(h, &format!("/v2/{repo}/blobs/{blob_digest}")))
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(blob.len(), 1024);
    assert_eq!(
        sha256_digest(&blob),
        blob_digest,
        "garbage, but with the right digest"
    );
}

#[test]
fn hostile_garbage_envelope_and_many_referrers() {
    let h = HostileRegistry::start();
    let c = hclient();
    let one = signature_manifests(&h, &c, hostile::GARBAGE_ENVELOPE);
    assert_eq!(one.len(), 1);
    fetch_signature(&h, &c, hostile::GARBAGE_ENVELOPE, &one[0]);

    let many = signature_manifests(&h, &c, hostile::MANY_REFERRERS);
    assert_eq!(many.len(), hostile::MANY_REFERRERS_COUNT);
    for d in many.iter().step_by(250) {
        fetch_signature(&h, &c, hostile::MANY_REFERRERS, d);
    }
    assert_eq!(h.requests_for("/v2/many/referrers/manifests/sha256:"), 4);
    assert_eq!(h.requests_for("/v2/many/referrers/manifests/"), 5);
}

#[test]
fn hostile_huge_referrers() {
    let h = HostileRegistry::start();
    let c = hclient();
    let subject = h.subject_digest(hostile::HUGE_REFERRERS);
    let resp = c
        .get(hurl(
            &h,
            &format!("/v2/{}/referrers/{subject}", hostile::HUGE_REFERRERS),
        ))
        .send()
        .unwrap();
    assert!(resp.content_length().unwrap() >= hostile::HUGE_REFERRERS_SIZE as u64);
    drop(resp);

    // A client that asks and never reads does not hold up the drop.
    use std::io::Write;
    let mut idle = std::net::TcpStream::connect(h.host()).unwrap();
    let path = format!("/v2/{}/referrers/{subject}", hostile::HUGE_REFERRERS);
    idle.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    drop(h);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        t.elapsed()
    );
}

#[test]
fn hostile_stalls_and_drop_does_not_wait_for_them() {
    let h = HostileRegistry::start();
    let c = Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let t = Instant::now();
    let err = c
        .get(hurl(
            &h,
            &format!("/v2/{}/manifests/v1", hostile::STALL_CONNECTION),
        ))
        .send()
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    let path = format!("/v2/{}/manifests/v1", hostile::STALL_BODY);
    let head = c.head(hurl(&h, &path)).send().unwrap();
    assert_eq!(head.status(), 200);
    let resp = c.get(hurl(&h, &path)).send().unwrap();
    assert_eq!(resp.status(), 200, "the head arrives");
    assert!(resp.content_length().unwrap() > 0);
    assert!(resp.bytes().is_err(), "the body never completes");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(h.requests_for("/v2/stall/"), 3);

    // Two more stalled connections left open: drop must not wait 60 s.
    let mut a = std::net::TcpStream::connect(h.host()).unwrap();
    let mut b = std::net::TcpStream::connect(h.host()).unwrap();
    use std::io::Write;
    a.write_all(
        format!(
            "GET /v2/{}/manifests/x HTTP/1.1\r\nHost: x\r\n\r\n",
            hostile::STALL_CONNECTION
        )
        .as_bytes(),
    )
    .unwrap();
    b.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(h);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        t.elapsed()
    );
}

/// The `rel="next"` target of a response's `Link` header, as sent.
fn next_link(resp: &reqwest::blocking::Response) -> Option<String> {
    let link = resp.headers().get("link")?.to_str().unwrap();
    assert!(link.ends_with(r#">; rel="next""#), "{link}");
    Some(
        link.strip_prefix('<')
            .unwrap()
            .split_once('>')
            .unwrap()
            .0
            .to_string(),
    )
}

fn referrers_page(h: &HostileRegistry, c: &Client, target: &str) -> (Vec<String>, Option<String>) {
    let resp = c.get(hurl(h, target)).send().unwrap();
    assert_eq!(resp.status(), 200, "{target}");
    assert_eq!(resp.headers()["content-type"].to_str().unwrap(), OCI_INDEX);
    let next = next_link(&resp);
    let digests = resp.json_body()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["artifactType"], hostile::NOTARY_SIGNATURE);
            d["digest"].as_str().unwrap().to_string()
        })
        .collect();
    (digests, next)
}

#[test]
fn hostile_paged_referrers() {
    let h = HostileRegistry::start();
    let c = hclient();
    let repo = hostile::PAGED_REFERRERS;
    let subject = h.subject_digest(repo).to_string();
    let mut target = Some(format!("/v2/{repo}/referrers/{subject}"));
    let mut pages = Vec::new();
    while let Some(t) = target.take() {
        assert!(pages.len() < 10, "pagination does not end: {pages:?}");
        let (digests, next) = referrers_page(&h, &c, &t);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&format!("/v2/{repo}/referrers/{subject}?n=2&last=sha256:")),
                "a relative distribution-spec link: {n}"
            );
        }
        pages.push(digests);
        target = next;
    }
    assert_eq!(pages.len(), hostile::PAGED_REFERRERS_PAGES, "{pages:?}");
    assert!(pages.iter().all(|p| p.len() == hostile::PAGED_REFERRERS_PER_PAGE));
    let all: std::collections::BTreeSet<_> = pages.iter().flatten().collect();
    assert_eq!(all.len(), 6, "distinct signatures on the pages");
    // Each listed signature is served.
    let d = &pages[2][1];
    let m = c
        .get(hurl(&h, &format!("/v2/{repo}/manifests/{d}")))
        .send()
        .unwrap();
    assert_eq!(sha256_digest(&m.bytes().unwrap()), *d);
    assert_eq!(h.requests_for(&format!("/v2/{repo}/referrers/")), 3);
}

#[test]
fn hostile_loop_and_crosshost_referrers() {
    let h = HostileRegistry::start();
    let c = hclient();
    let repo = hostile::LOOP_REFERRERS;
    let subject = h.subject_digest(repo).to_string();
    let first = format!("/v2/{repo}/referrers/{subject}");
    let (one, next) = referrers_page(&h, &c, &first);
    assert_eq!(next.as_deref(), Some(&*format!("{first}?page=2")));
    let (two, back) = referrers_page(&h, &c, &next.unwrap());
    assert_eq!(back.as_deref(), Some(&*format!("{first}?page=1")));
    let (again, _) = referrers_page(&h, &c, &back.unwrap());
    assert_eq!((one.len(), two.len()), (1, 1));
    assert_ne!(one, two);
    assert_eq!(again, one, "page 2 links back to page 1");

    let repo = hostile::CROSSHOST_REFERRERS;
    let subject = h.subject_digest(repo).to_string();
    let (half, next) = referrers_page(&h, &c, &format!("/v2/{repo}/referrers/{subject}"));
    assert_eq!(half.len(), hostile::CROSSHOST_REFERRERS_COUNT / 2);
    let next = next.unwrap();
    assert!(
        next.starts_with(&format!(
            "{}/v2/{repo}/referrers/{subject}?",
            hostile::CROSSHOST_NEXT
        )),
        "{next}"
    );
}

#[test]
fn hostile_nohead_manifest() {
    let h = HostileRegistry::start();
    let c = hclient();
    let repo = hostile::NOHEAD_MANIFEST;
    let subject = h.subject_digest(repo).to_string();
    for reference in ["v1", subject.as_str()] {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let head = c.head(hurl(&h, &path)).send().unwrap();
        assert_eq!(head.status(), 405, "HEAD {path}");
        assert!(head.headers().get("docker-content-digest").is_none());
        let got = c.get(hurl(&h, &path)).send().unwrap();
        assert_eq!(got.status(), 200, "GET {path}");
        assert_eq!(got.headers()["content-type"].to_str().unwrap(), OCI_MANIFEST);
        assert_eq!(sha256_digest(&got.bytes().unwrap()), subject);
    }
}
