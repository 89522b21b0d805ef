//! `signet serve signer`: the real service (the `signet` binary) on
//! loopback with its CA key on a SoftHSM2 token, a real registry, JWKS
//! served over HTTP, SQLite and PostgreSQL; clients are `signet sign
//! --remote`, stock `notation` with the `notation-signet` plugin, and raw
//! HTTPS; verifiers are `signet verify` and `notation verify` with
//! revocation checking against the service's own CRL and OCSP responder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use base64::Engine as _;
use common::{Env, expect, text};
use notary::{algorithm::KeySpec, crypto::PrivateKey, crypto::Signer as _};
use serde_json::{Value, json};
use testkit::{
    registry::{Kind, Options, Registry},
    revocation::{HttpServer, Route},
    signer::SignerServer,
    softhsm::SoftHsm,
};

const SIGNET: &str = env!("CARGO_BIN_EXE_signet");
const PLUGIN: &str = env!("CARGO_BIN_EXE_notation-signet");
const ISSUER: &str = "https://ci.example.com";
const AUDIENCE: &str = "signet";
const SUBJECT: &str = "CN=release,O=Acme,ST=WA,C=US";
const HSM_PIN: &str = "4321";

/// Which database the service runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Db {
    Sqlite,
    Postgres,
}

/// An OIDC issuer: its signing key, served as a JWKS.
struct Issuer {
    key: PrivateKey,
    kid: String,
    jwks: HttpServer,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Issuer {
    fn start() -> Self {
        let key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
        let kid = "ci-key-1".to_owned();
        let jwks = HttpServer::start(0);
        let issuer = Self { key, kid, jwks };
        let body = json!({"keys": [issuer.jwk()]}).to_string().into_bytes();
        issuer
            .jwks
            .route("jwks.json", Route::Bytes(body, "application/json".into()));
        issuer
    }

    fn jwk(&self) -> Value {
        let spki = self.key.public_key_spki_der().unwrap();
        // An uncompressed P-256 point ends the SPKI: 0x04 || x || y.
        let point = &spki[spki.len() - 65..];
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
               "x": b64url(&point[1..33]), "y": b64url(&point[33..])})
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.jwks.port())
    }

    /// A JWT with `claims` over the standard ones, signed with `key` (ES256).
    fn token_with(&self, key: &PrivateKey, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64url(&sig))
    }

    fn claims(&self, overrides: Value) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut c = json!({
            "iss": ISSUER, "aud": AUDIENCE, "sub": "repo:acme/app:ref:refs/heads/main",
            "repository": "acme/app", "ref": "refs/heads/main", "workflow": "release",
            "iat": now, "nbf": now - 5, "exp": now + 300,
        });
        for (k, v) in overrides.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    fn token(&self, overrides: Value) -> String {
        self.token_with(
            &self.key,
            json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}),
            self.claims(overrides),
        )
    }
}

/// The service with everything around it.
struct Fixture {
    env: Env,
    reg: Registry,
    _hsm: SoftHsm,
    _pg: Option<testkit::postgres::Postgres>,
    issuer: Issuer,
    server: SignerServer,
    admin: String,
    /// The plain-HTTP base URL (CRLs, OCSP, TSA).
    http_url: String,
    ca_pem: String,
    tsa_root_pem: String,
}

fn write(path: &Path, text: &str) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    path.to_owned()
}

impl Fixture {
    fn start(db: Db) -> Self {
        let env = Env::shared_with_notation();
        let reg = Registry::start(Kind::Referrers, Options::default());
        let dir = env.root.join("signer");
        fs::create_dir_all(&dir).unwrap();

        // The profile's CA key lives on the token; its certificate is made
        // here from the same key before it is imported.
        let hsm = SoftHsm::start("signet", HSM_PIN);
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ca = testkit::pki::self_signed(
            &testkit::pki::CertOptions::root("Acme Release CA"),
            &ca_key.serialize_pem(),
        );
        hsm.import_key("release-ca", &ca_key.serialize_pem());
        let ca_file = write(&dir.join("ca.pem"), &ca.pem);

        // The TSA: a file key (the HSM holds the CA key).
        let tsa_root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let tsa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let tsa =
            testkit::pki::timestamping_chain(&tsa_root_key.serialize_pem(), None, &tsa_key.serialize_pem());
        let tsa_chain = write(&dir.join("tsa.pem"), &format!("{}{}", tsa.leaf.pem, tsa.root.pem));
        let tsa_key_file = write(&dir.join("tsa.key"), &tsa_key.serialize_pem());
        let checkpoint_key = write(
            &dir.join("checkpoint.key"),
            &PrivateKey::generate(KeySpec::Ec(256))
                .unwrap()
                .to_pkcs8_pem()
                .unwrap(),
        );

        let (pg, database) = match db {
            Db::Sqlite => (None, format!("sqlite://{}", dir.join("signer.db").display())),
            Db::Postgres => {
                let pg = testkit::postgres::Postgres::start();
                let url = pg.create_database("signer_e2e");
                (Some(pg), url)
            }
        };
        let issuer = Issuer::start();
        let host = reg.host().to_owned();
        let http_port = testkit::revocation::free_port();
        let config = json!({
            "database": database,
            "http": {"listen": format!("127.0.0.1:{http_port}")},
            "auth": {"oidc": [{"issuer": ISSUER, "audience": AUDIENCE, "jwksUrl": issuer.url()}]},
            "rules": [
                {"name": "admin", "identities": [{"method": "token", "subject": "admin"}],
                 "profiles": ["*"], "repositories": ["**"], "admin": true},
                {"name": "ci-token", "identities": [{"method": "token", "subject": "ci"}],
                 "profiles": ["release"], "repositories": [format!("{host}/team/**")]},
                {"name": "ci-oidc", "identities": [{"method": "oidc", "issuer": ISSUER,
                   "claims": {"repository": "acme/app", "ref": "refs/heads/main"}}],
                 "profiles": ["release"], "repositories": [format!("{host}/team/**")]},
                {"name": "builders", "identities": [{"method": "mtls", "subject": "*builder-7*"}],
                 "profiles": ["release"], "repositories": [format!("{host}/team/**")]},
            ],
            "profiles": [{
                "name": "release",
                "version": 3,
                "key": {"type": "pkcs11", "module": SoftHsm::module().unwrap(), "tokenLabel": "signet",
                        "keyLabel": "release-ca", "pinEnv": "SIGNET_HSM_PIN"},
                "certificateChain": ca_file,
                "subject": SUBJECT,
                "push": {"insecure": [host]},
            }],
            "tsa": {"key": {"type": "file", "path": tsa_key_file}, "certificateChain": tsa_chain},
            "audit": {"checkpointKey": {"type": "file", "path": checkpoint_key}, "checkpointInterval": "1s"},
        });
        let server = SignerServer::start(
            Path::new(SIGNET),
            &dir,
            config,
            &[
                ("SOFTHSM2_CONF", hsm.conf_path().to_str().unwrap()),
                ("SIGNET_HSM_PIN", HSM_PIN),
            ],
        );
        let admin = token_create(&server, "admin", "admin");
        Self {
            env,
            reg,
            _hsm: hsm,
            _pg: pg,
            issuer,
            server,
            admin,
            http_url: format!("http://127.0.0.1:{http_port}"),
            ca_pem: ca.pem,
            tsa_root_pem: tsa.root.pem,
        }
    }

    /// Trust store + strict policy (revocation enforced) for both verifiers.
    fn trust(&self) {
        let ca = self.env.config.join("truststore/x509/ca/acme-release");
        write(&ca.join("ca.pem"), &self.ca_pem);
        let tsa = self.env.config.join("truststore/x509/tsa/signet-tsa");
        write(&tsa.join("root.pem"), &self.tsa_root_pem);
        let policy = json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": "release",
                "registryScopes": ["*"],
                "signatureVerification": {"level": "strict"},
                "trustStores": ["ca:acme-release", "tsa:signet-tsa"],
                "trustedIdentities": [format!("x509.subject: {}", SUBJECT.replace(',', ", "))],
            }],
        });
        fs::write(self.env.config.join("trustpolicy.json"), policy.to_string()).unwrap();
        fs::write(self.env.config.join("trustpolicy.oci.json"), policy.to_string()).unwrap();
    }

    /// `signet sign REF --remote …` with `credential`.
    fn remote_sign(&self, reference: &str, credential: &str) -> std::process::Output {
        self.env.set_var("SIGNET_SIGNER_TOKEN", credential);
        let ca = self.server.tls.ca_file.to_str().unwrap().to_owned();
        let url = self.server.url("");
        let out = self.env.signet(&[
            "sign",
            reference,
            "--remote",
            &url,
            "--profile",
            "release",
            "--remote-ca-file",
            &ca,
            "--insecure-registry",
            self.reg.host(),
            "--output",
            "json",
        ]);
        self.env.unset_var("SIGNET_SIGNER_TOKEN");
        out
    }

    fn signet_verify(&self, reference: &str) -> std::process::Output {
        self.env
            .signet(&["verify", reference, "--insecure-registry", self.reg.host()])
    }

    fn notation_verify(&self, reference: &str) -> std::process::Output {
        self.env.notation(&["verify", "--insecure-registry", reference])
    }

    fn audit(&self) -> Vec<Value> {
        let r = self
            .server
            .client(None)
            .get(self.server.url("/v1/audit"))
            .bearer_auth(&self.admin)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text()
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// `signet signer token create` on the service's database.
fn token_create(server: &SignerServer, name: &str, identity: &str) -> String {
    let out = Command::new(SIGNET)
        .args(["signer", "token", "create", "--config"])
        .arg(&server.config_file)
        .args(["--name", name, "--identity", identity])
        .output()
        .unwrap();
    assert!(out.status.success(), "token create: {}", text(&out));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn audit_verify(server: &SignerServer) -> std::process::Output {
    let out = Command::new(SIGNET)
        .args(["audit", "verify", "--config"])
        .arg(&server.config_file)
        .output()
        .unwrap();
    eprintln!("$ signet audit verify\n{}", text(&out));
    out
}

fn job_id(out: &std::process::Output) -> String {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["jobId"].as_str().unwrap().to_owned()
}

fn end_to_end(db: Db) {
    let f = Fixture::start(db);
    let host = f.reg.host().to_owned();
    f.trust();

    // An API token, an OIDC JWT, and stock notation through the plugin.
    let ci = token_create(&f.server, "ci", "ci");
    let app = f.reg.seed_image("team/app", "v1");
    let signed = f.remote_sign(&app.reference, &ci);
    expect(&signed, true, &["jobId"]);
    let app_job = job_id(&signed);

    let api = f.reg.seed_image("team/api", "v1");
    let jwt = f.issuer.token(json!({}));
    let signed = f.remote_sign(&api.reference, &jwt);
    expect(&signed, true, &["jobId"]);
    let api_job = job_id(&signed);

    let tool = f.reg.seed_image("team/tool", "v1");
    expect(
        &f.env.signet(&["plugin", "install", "--file", PLUGIN]),
        true,
        &["Successfully installed plugin signet"],
    );
    f.env.set_var("SIGNET_SIGNER_TOKEN", &ci);
    let plugin_config = [
        format!("url={}", f.server.url("")),
        format!("repository={host}/team/tool"),
        format!("ca_file={}", f.server.tls.ca_file.display()),
    ];
    let mut args = vec![
        "sign",
        "--plugin",
        "signet",
        "--id",
        "release",
        "--insecure-registry",
    ];
    for c in &plugin_config {
        args.extend(["--plugin-config", c.as_str()]);
    }
    args.push(&tool.reference);
    expect(&f.env.notation(&args), true, &["Successfully signed"]);
    f.env.unset_var("SIGNET_SIGNER_TOKEN");

    // Both verifiers accept all three, revocation checked (CRL/OCSP of the service).
    for image in [&app, &api, &tool] {
        expect(
            &f.signet_verify(&image.reference),
            true,
            &["Successfully verified"],
        );
        expect(
            &f.notation_verify(&image.reference),
            true,
            &["Successfully verified"],
        );
    }

    // The job travels in the signature: inspect names it.
    let inspected = f
        .env
        .signet(&["inspect", &app.reference, "--insecure-registry", &host]);
    expect(
        &inspected,
        true,
        &[
            "dev.signet.signer.job",
            &app_job,
            "dev.signet.signer.profile",
            "release",
        ],
    );

    // The jobs API knows who signed what.
    let (status, jobs) = f
        .server
        .call("GET", "/v1/jobs?profile=release", Some(&f.admin), None);
    assert_eq!(status, 200, "{jobs}");
    let jobs = jobs["jobs"].as_array().unwrap().clone();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    // Others' jobs are not listed to a non-admin caller.
    let (_, mine) = f.server.call("GET", "/v1/jobs", Some(&ci), None);
    assert_eq!(
        mine["jobs"].as_array().unwrap().len(),
        2,
        "the ci token signed two: {mine}"
    );
    let api_row = jobs.iter().find(|j| j["id"] == api_job).unwrap();
    assert!(
        api_row["identity"].as_str().unwrap().starts_with("oidc:"),
        "{api_row}"
    );
    assert_eq!(api_row["digest"], api.digest);
    assert_eq!(api_row["profileVersion"], 3);

    // mTLS: the client certificate is the identity.
    let client = f.server.client(Some(&f.server.client_cert));
    let r = client
        .post(f.server.url("/v1/sign"))
        .json(&json!({"profile": "release", "repository": format!("{host}/team/app"),
                      "descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": app.digest, "size": 10}}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");

    // The service pushes the signature itself when asked (its own registry
    // credentials); the image then verifies like the others.
    let pushed = f.reg.seed_image("team/pushed", "v1");
    let (status, body) = f.server.call(
        "POST",
        "/v1/sign",
        Some(&ci),
        Some(
            &json!({"profile": "release", "repository": format!("{host}/team/pushed"), "push": true,
                     "descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "digest": pushed.digest, "size": pushed.size}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["signatureManifest"]["digest"].is_string(), "{body}");
    expect(
        &f.signet_verify(&pushed.reference),
        true,
        &["Successfully verified"],
    );
    expect(
        &f.notation_verify(&pushed.reference),
        true,
        &["Successfully verified"],
    );

    // The built-in TSA answers openssl's own request, and openssl verifies it.
    let data = write(&f.env.root.join("tsa-data.txt"), "timestamp me");
    let query = f.env.root.join("q.tsq");
    let status = Command::new("openssl")
        .args(["ts", "-query", "-sha256", "-cert", "-data"])
        .arg(&data)
        .arg("-out")
        .arg(&query)
        .status()
        .unwrap();
    assert!(status.success());
    let reply = reqwest::blocking::Client::new()
        .post(format!("{}/tsa", f.http_url))
        .header("content-type", "application/timestamp-query")
        .body(fs::read(&query).unwrap())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let reply_file = f.env.root.join("r.tsr");
    fs::write(&reply_file, &reply).unwrap();
    let root_file = write(&f.env.root.join("tsa-root.pem"), &f.tsa_root_pem);
    let tsa_chain = f.env.root.join("signer/tsa.pem");
    let verified = Command::new("openssl")
        .args(["ts", "-verify", "-in"])
        .arg(&reply_file)
        .arg("-data")
        .arg(&data)
        .arg("-CAfile")
        .arg(&root_file)
        .arg("-untrusted")
        .arg(&tsa_chain)
        .output()
        .unwrap();
    assert!(
        text(&verified).contains("Verification: OK"),
        "openssl ts -verify: {}",
        text(&verified)
    );

    // Revoking the app's job: both verifiers now fail the revocation check;
    // the other signatures still verify.
    let (status, body) = f.server.call(
        "POST",
        &format!("/v1/jobs/{app_job}/revoke"),
        Some(&f.admin),
        Some(&json!({"reason": "keyCompromise: build machine compromised"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], 1);
    let refused = f.signet_verify(&app.reference);
    expect(&refused, false, &["revoked"]);
    // notation prints the reason in its debug log only.
    let refused = f
        .env
        .notation(&["verify", "--debug", "--insecure-registry", &app.reference]);
    expect(&refused, false, &["revoked"]);
    expect(&f.signet_verify(&api.reference), true, &["Successfully verified"]);
    expect(
        &f.notation_verify(&api.reference),
        true,
        &["Successfully verified"],
    );

    // openssl asks the OCSP responder about the revoked leaf.
    let (_, job) = f
        .server
        .call("GET", &format!("/v1/jobs/{app_job}"), Some(&f.admin), None);
    assert!(job["revokedAt"].is_string(), "{job}");
    let envelope = f
        .server
        .client(None)
        .get(f.server.url(&format!("/v1/jobs/{app_job}/envelope")))
        .bearer_auth(&f.admin)
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    let env =
        notary::envelope::Envelope::parse(notary::envelope::EnvelopeFormat::Jws.media_type(), &envelope)
            .unwrap();
    let leaf = notary::x509::Certificate::from_der(env.certificate_chain[0].clone()).unwrap();
    let leaf_file = write(&f.env.root.join("leaf.pem"), &leaf.to_pem());
    let ca_file = write(&f.env.root.join("ca-for-ocsp.pem"), &f.ca_pem);
    let ocsp = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(&ca_file)
        .arg("-cert")
        .arg(&leaf_file)
        .arg("-CAfile")
        .arg(&ca_file)
        .arg("-url")
        .arg(format!("{}/ocsp/release", f.http_url))
        .output()
        .unwrap();
    assert!(text(&ocsp).contains(": revoked"), "openssl ocsp: {}", text(&ocsp));
    // The GET form (RFC 6960 A.1: URL-encoded base64 in the path) says the same.
    let request_file = f.env.root.join("ocsp-req.der");
    let made = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(&ca_file)
        .arg("-cert")
        .arg(&leaf_file)
        .arg("-reqout")
        .arg(&request_file)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(fs::read(&request_file).unwrap())
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let answer = reqwest::blocking::get(format!("{}/ocsp/release/{encoded}", f.http_url))
        .unwrap()
        .bytes()
        .unwrap();
    let answer_file = f.env.root.join("ocsp-get.der");
    fs::write(&answer_file, &answer).unwrap();
    let read = Command::new("openssl")
        .args(["ocsp", "-no_nonce", "-issuer"])
        .arg(&ca_file)
        .arg("-cert")
        .arg(&leaf_file)
        .arg("-CAfile")
        .arg(&ca_file)
        .arg("-respin")
        .arg(&answer_file)
        .output()
        .unwrap();
    assert!(
        text(&read).contains(": revoked"),
        "OCSP over GET: {}",
        text(&read)
    );

    // An identity without a rule: 403 naming what is missing, and audited.
    let intruder = token_create(&f.server, "intruder", "intruder");
    let other = f.reg.seed_image("team/other", "v1");
    let refused = f.remote_sign(&other.reference, &intruder);
    expect(&refused, false, &["403", "no rule"]);
    // A claim the rule does not allow (another branch): refused as well.
    let feature = f.issuer.token(json!({"ref": "refs/heads/feature"}));
    expect(&f.remote_sign(&other.reference, &feature), false, &["403"]);
    let audit = f.audit();
    let refusals: Vec<&Value> = audit
        .iter()
        .filter(|e| e["kind"] == "refusal" && e["actor"].as_str().unwrap_or("").contains("intruder"))
        .collect();
    assert_eq!(refusals.len(), 1, "the refusal must be audited once: {audit:?}");
    assert!(
        audit.iter().any(|e| e["kind"] == "revoke.job"),
        "the revocation must be audited"
    );
    let profile_changes: Vec<&Value> = audit.iter().filter(|e| e["kind"] == "profile.change").collect();
    assert_eq!(
        profile_changes.len(),
        1,
        "the profile is recorded once, at first start: {profile_changes:?}"
    );
    assert_eq!(profile_changes[0]["subject"], "release");
    assert_eq!(profile_changes[0]["data"]["version"], 3);
    let sign_entries = audit.iter().filter(|e| e["kind"] == "sign").count();
    assert_eq!(
        sign_entries, 5,
        "three images, one raw mTLS job, one pushed by the service"
    );

    // Revoking a digest revokes every job that signed it: both verifiers
    // refuse the image, and the revocation list names it.
    let (status, body) = f.server.call(
        "POST",
        "/v1/revocations/digests",
        Some(&f.admin),
        Some(&json!({"digest": api.digest, "reason": "superseded: rebuilt"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"], 1, "{body}");
    expect(&f.signet_verify(&api.reference), false, &["revoked"]);
    let refused = f
        .env
        .notation(&["verify", "--debug", "--insecure-registry", &api.reference]);
    expect(&refused, false, &["revoked"]);
    let list = reqwest::blocking::get(format!("{}/v1/revocations/digests?format=text", f.http_url))
        .unwrap()
        .text()
        .unwrap();
    assert!(list.contains(&api.digest), "{list}");
    // … and it is not signed again.
    let (status, body) = f.server.call(
        "POST",
        "/v1/sign",
        Some(&ci),
        Some(&json!({"profile": "release", "repository": format!("{host}/team/api"),
                     "descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": api.digest, "size": api.size}})),
    );
    assert_eq!(status, 403, "{body}");

    // Revoking the profile: it signs nothing more.
    let (status, body) = f.server.call(
        "POST",
        "/v1/profiles/release/revoke",
        Some(&f.admin),
        Some(&json!({"reason": "keyCompromise: CA key exposed"})),
    );
    assert_eq!(status, 200, "{body}");
    let late = f.reg.seed_image("team/late", "v1");
    expect(&f.remote_sign(&late.reference, &ci), false, &["403", "revoked"]);

    // The whole log verifies, in the database and as an export checked offline.
    expect(&audit_verify(&f.server), true, &["intact"]);
    let export = f.env.root.join("audit.jsonl");
    let out = Command::new(SIGNET)
        .args(["audit", "export", "--config"])
        .arg(&f.server.config_file)
        .arg("-f")
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = Command::new(SIGNET)
        .args(["audit", "verify", "--export"])
        .arg(&export)
        .arg("--public-key")
        .arg(f.env.root.join("signer/checkpoint.key"))
        .output()
        .unwrap();
    expect(&out, true, &["intact"]);
    let edited =
        fs::read_to_string(&export)
            .unwrap()
            .replacen("\"kind\":\"refusal\"", "\"kind\":\"refusa1\"", 1);
    fs::write(&export, edited).unwrap();
    let out = Command::new(SIGNET)
        .args(["audit", "verify", "--export"])
        .arg(&export)
        .arg("--public-key")
        .arg(f.env.root.join("signer/checkpoint.key"))
        .output()
        .unwrap();
    expect(&out, false, &["PROBLEM"]);
}

#[test]
fn end_to_end_with_sqlite() {
    end_to_end(Db::Sqlite);
}

#[test]
fn end_to_end_with_postgresql() {
    if !testkit::postgres::Postgres::available() {
        panic!("PostgreSQL is not installed (Debian package postgresql): scripts/test installs it");
    }
    end_to_end(Db::Postgres);
}

/// A small fixture for the tests that need no registry: file keys, SQLite or PostgreSQL.
fn plain_server(root: &Path, database: Option<String>) -> (SignerServer, String, Issuer) {
    let dir = root.join("signer");
    fs::create_dir_all(&dir).unwrap();
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ca = testkit::pki::self_signed(
        &testkit::pki::CertOptions::root("Plain CA"),
        &ca_key.serialize_pem(),
    );
    let ca_file = write(&dir.join("ca.pem"), &ca.pem);
    let ca_key_file = write(&dir.join("ca.key"), &ca_key.serialize_pem());
    let checkpoint_key = write(
        &dir.join("checkpoint.key"),
        &PrivateKey::generate(KeySpec::Ec(256))
            .unwrap()
            .to_pkcs8_pem()
            .unwrap(),
    );
    let issuer = Issuer::start();
    let database = database.unwrap_or_else(|| format!("sqlite://{}", dir.join("signer.db").display()));
    let config = json!({
        "database": database,
        "auth": {"oidc": [{"issuer": ISSUER, "audience": AUDIENCE, "jwksUrl": issuer.url()}]},
        "rules": [
            {"name": "admin", "identities": [{"method": "token", "subject": "admin"}],
             "profiles": ["*"], "repositories": ["**"], "admin": true},
            {"name": "ci", "identities": [{"method": "token", "subject": "ci"}, {"method": "oidc", "issuer": ISSUER}],
             "profiles": ["default"], "repositories": ["registry.example.com/**"]},
        ],
        "profiles": [{"name": "default", "key": {"type": "file", "path": ca_key_file}, "certificateChain": ca_file}],
        "audit": {"checkpointKey": {"type": "file", "path": checkpoint_key}, "checkpointInterval": "1s"},
    });
    let server = SignerServer::start(Path::new(SIGNET), &dir, config, &[]);
    let admin = token_create(&server, "admin", "admin");
    (server, admin, issuer)
}

fn sign_body(n: usize) -> Value {
    let digest = testkit::registry::sha256_digest(format!("artifact {n}").as_bytes());
    json!({"profile": "default", "repository": "registry.example.com/team/app",
           "descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 1000 + n}})
}

fn crash_safety(database: Option<String>, root: &Path) {
    let (mut server, admin, _issuer) = plain_server(root, database);
    let ci = token_create(&server, "ci", "ci");
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = server.client(None);
    let url = server.url("/v1/sign");
    let threads: Vec<_> = (0..50)
        .map(|t| {
            let (client, url, ci, acked, sent) = (
                client.clone(),
                url.clone(),
                ci.clone(),
                acked.clone(),
                sent.clone(),
            );
            std::thread::spawn(move || {
                for i in 0..20 {
                    let n = t * 20 + i;
                    sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Ok(r) = client.post(&url).bearer_auth(&ci).json(&sign_body(n)).send() else {
                        continue;
                    };
                    if r.status().as_u16() != 200 {
                        continue;
                    }
                    let Ok(v) = r.json::<Value>() else { continue };
                    acked.lock().unwrap().push((
                        v["jobId"].as_str().unwrap().to_owned(),
                        sign_body(n)["descriptor"]["digest"].as_str().unwrap().to_owned(),
                    ));
                }
            })
        })
        .collect();
    // Kill it mid-flight: after a few hundred acknowledgements.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();
    let at_kill = acked.lock().unwrap().len();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "sent {} requests, {} acknowledged ({} when the SIGKILL landed)",
        sent.load(std::sync::atomic::Ordering::SeqCst),
        acked.len(),
        at_kill
    );
    assert!(
        acked.len() >= 300 && acked.len() < 1000,
        "the kill must land mid-flight: {}",
        acked.len()
    );

    server.restart();
    let r = server
        .client(None)
        .get(server.url("/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let changes = r
        .text()
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"profile.change\""))
        .count();
    assert_eq!(changes, 1, "an unchanged profile is not audited again at restart");
    for (id, digest) in &acked {
        let (status, job) = server.call("GET", &format!("/v1/jobs/{id}"), Some(&admin), None);
        assert_eq!(status, 200, "acknowledged job {id} is lost: {job}");
        assert_eq!(job["digest"], *digest);
    }
    let out = audit_verify(&server);
    expect(&out, true, &["intact"]);
    let (first, _) = &acked[0];
    // A clean stop (SIGTERM) exits 0 after its last checkpoint.
    let stopped = server.terminate();
    assert!(stopped.success(), "SIGTERM: {stopped}");
    // Editing one row makes the audit fail, naming the job.
    tamper(&server, first);
    let out = audit_verify(&server);
    expect(&out, false, &["PROBLEM", first]);
}

/// Rewrites job `id`'s digest straight in the database.
fn tamper(server: &SignerServer, id: &str) {
    let config = fs::read_to_string(&server.config_file).unwrap();
    let config: Value = serde_json::from_str(&config).unwrap();
    let url = config["database"].as_str().unwrap();
    let forged = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let sql = format!("UPDATE jobs SET digest = '{forged}' WHERE id = '{id}'");
    let status = if let Some(path) = url.strip_prefix("sqlite://") {
        Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); n=c.execute(sys.argv[2]).rowcount; c.commit(); sys.exit(0 if n==1 else 3)",
                path,
                &sql,
            ])
            .status()
            .unwrap()
    } else {
        Command::new("psql")
            .args([url, "-v", "ON_ERROR_STOP=1", "-c", &sql])
            .status()
            .unwrap()
    };
    assert!(status.success(), "could not edit the database");
}

#[test]
fn kill_9_during_1000_concurrent_signs_loses_no_acknowledged_job() {
    let tmp = tempfile::tempdir().unwrap();
    crash_safety(None, tmp.path());
}

#[test]
fn kill_9_with_postgresql_loses_no_acknowledged_job() {
    if !testkit::postgres::Postgres::available() {
        panic!("PostgreSQL is not installed (Debian package postgresql): scripts/test installs it");
    }
    let pg = testkit::postgres::Postgres::start();
    let url = pg.create_database("signer_crash");
    let tmp = tempfile::tempdir().unwrap();
    crash_safety(Some(url), tmp.path());
}

#[test]
fn bad_input_gets_a_clear_4xx_and_nothing_is_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, admin, issuer) = plain_server(tmp.path(), None);
    let ci = token_create(&server, "ci", "ci");
    let client = server.client(None);
    let post = |bearer: Option<&str>, content_type: &str, body: Vec<u8>| {
        let mut r = client
            .post(server.url("/v1/sign"))
            .header("content-type", content_type)
            .body(body);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        let r = r.send().unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (status, text)
    };
    let json_body = |v: &Value| v.to_string().into_bytes();
    let mut cases: Vec<(&str, (u16, String), u16, &str)> = Vec::new();

    let big = vec![b' '; 200 * 1024];
    cases.push((
        "oversized body",
        post(Some(&ci), "application/json", big),
        413,
        "larger than",
    ));
    cases.push((
        "malformed JSON",
        post(Some(&ci), "application/json", b"{\"profile\": ".to_vec()),
        400,
        "not valid JSON",
    ));
    let mut wrong = sign_body(1);
    wrong["descriptor"]["digest"] = json!("sha256:1234");
    cases.push((
        "short digest",
        post(Some(&ci), "application/json", json_body(&wrong)),
        400,
        "digest",
    ));
    wrong["descriptor"]["digest"] = json!("md5:d41d8cd98f00b204e9800998ecf8427e");
    cases.push((
        "unknown digest algorithm",
        post(Some(&ci), "application/json", json_body(&wrong)),
        400,
        "digest",
    ));
    let mut extra = sign_body(1);
    extra["sneaky"] = json!(true);
    cases.push((
        "unknown field",
        post(Some(&ci), "application/json", json_body(&extra)),
        400,
        "sneaky",
    ));
    let mut repo = sign_body(1);
    repo["repository"] = json!("registry.example.com/Team/App:latest");
    cases.push((
        "bad repository",
        post(Some(&ci), "application/json", json_body(&repo)),
        400,
        "repository",
    ));
    cases.push((
        "wrong content type",
        post(Some(&ci), "text/plain", json_body(&sign_body(1))),
        415,
        "application/json",
    ));
    cases.push((
        "no credentials",
        post(None, "application/json", json_body(&sign_body(1))),
        401,
        "no credentials",
    ));
    cases.push((
        "unknown token",
        post(
            Some("sgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "application/json",
            json_body(&sign_body(1)),
        ),
        401,
        "unknown API token",
    ));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = issuer.token(json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200}));
    cases.push((
        "expired JWT",
        post(Some(&expired), "application/json", json_body(&sign_body(1))),
        401,
        "expired",
    ));
    let forger = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let forged = issuer.token_with(
        &forger,
        json!({"alg": "ES256", "typ": "JWT", "kid": issuer.kid}),
        issuer.claims(json!({})),
    );
    cases.push((
        "forged JWT",
        post(Some(&forged), "application/json", json_body(&sign_body(1))),
        401,
        "OIDC token refused",
    ));
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(issuer.claims(json!({})).to_string().as_bytes())
    );
    cases.push((
        "alg none",
        post(Some(&none), "application/json", json_body(&sign_body(1))),
        401,
        "none",
    ));
    let audience = issuer.token(json!({"aud": "someone-else"}));
    cases.push((
        "wrong audience",
        post(Some(&audience), "application/json", json_body(&sign_body(1))),
        401,
        "audience",
    ));
    let wrong_issuer = issuer.token(json!({"iss": "https://evil.example.com"}));
    cases.push((
        "unknown issuer",
        post(Some(&wrong_issuer), "application/json", json_body(&sign_body(1))),
        401,
        "evil.example.com",
    ));

    let mut failures = Vec::new();
    for (name, (status, body), want, words) in &cases {
        eprintln!("{name}: {status} {body}");
        if status != want || !body.to_lowercase().contains(&words.to_lowercase()) {
            failures.push(format!(
                "{name}: got {status} {body:?}, want {want} mentioning {words:?}"
            ));
        }
        if *status >= 400 && *status != 413 {
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            assert!(
                v["error"]["message"].is_string(),
                "{name}: errors are JSON with a message: {body}"
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Nothing signed, nothing stored but the audited refusals.
    let (status, jobs) = server.call("GET", "/v1/jobs", Some(&admin), None);
    assert_eq!(status, 200);
    assert_eq!(jobs["jobs"].as_array().unwrap().len(), 0, "{jobs}");
    let r = client
        .get(server.url("/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let audit: Vec<Value> = r
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = audit.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(!kinds.contains(&"sign"), "{kinds:?}");
    let refusals = kinds.iter().filter(|k| **k == "refusal").count();
    assert_eq!(refusals, cases.len(), "every refusal is audited once: {kinds:?}");
    expect(&audit_verify(&server), true, &["intact"]);
    assert!(server.metric("signet_signer_auth_failures") >= 7.0);
}

/// A CA for a test: its key file and certificate (PEM).
fn test_ca(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = testkit::pki::self_signed(&testkit::pki::CertOptions::root(name), &key.serialize_pem());
    let key_file = write(&dir.join(format!("{name}.key")), &key.serialize_pem());
    write(&dir.join(format!("{name}.pem")), &cert.pem);
    (key_file, cert.pem)
}

#[test]
fn profiles_made_through_the_api_sign_change_survive_a_restart_and_are_audited() {
    let env = Env::new();
    let reg = Registry::start(Kind::Referrers, Options::default());
    let host = reg.host().to_owned();
    let dir = env.root.join("signer");
    fs::create_dir_all(&dir).unwrap();
    let (file_key, _) = test_ca(&dir, "file-ca");
    let (new_key, new_pem) = test_ca(&dir, "api-ca");
    let (_, other_pem) = test_ca(&dir, "other-ca");
    let checkpoint_key = write(
        &dir.join("checkpoint.key"),
        &PrivateKey::generate(KeySpec::Ec(256))
            .unwrap()
            .to_pkcs8_pem()
            .unwrap(),
    );
    // The rule names "new" before it exists: admins create it later.
    let config = json!({
        "database": format!("sqlite://{}", dir.join("signer.db").display()),
        "rules": [
            {"name": "admin", "identities": [{"method": "token", "subject": "admin"}], "admin": true},
            {"name": "ci-new", "identities": [{"method": "token", "subject": "ci"}],
             "profiles": ["new"], "repositories": [format!("{host}/team/**")]},
        ],
        "profiles": [{"name": "default", "key": {"type": "file", "path": file_key},
                      "certificateChain": dir.join("file-ca.pem")}],
        "audit": {"checkpointKey": {"type": "file", "path": checkpoint_key}, "checkpointInterval": "1s"},
    });
    let mut server = SignerServer::start(Path::new(SIGNET), &dir, config, &[]);
    let admin = token_create(&server, "admin", "admin");
    let ci = token_create(&server, "ci", "ci");
    let subject = "CN=api,O=Acme,ST=WA,C=US";
    let definition = |extra: Value| {
        let mut d = json!({"key": {"type": "file", "path": new_key}, "certificateChainPem": new_pem,
                           "subject": subject});
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d
    };

    // Only admins; never a profile the configuration file defines.
    let (status, body) = server.call("PUT", "/v1/profiles/new", Some(&ci), Some(&definition(json!({}))));
    assert_eq!(status, 403, "{body}");
    let (status, body) = server.call(
        "PUT",
        "/v1/profiles/default",
        Some(&admin),
        Some(&definition(json!({}))),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("configuration file"),
        "{body}"
    );

    // Bad definitions: 400 with what is wrong, and nothing stored.
    let bad = [
        ("unknown field", definition(json!({"sneaky": true})), "sneaky"),
        (
            "missing key file",
            definition(json!({"key": {"type": "file", "path": dir.join("nope.key")}})),
            "nope.key",
        ),
        (
            "chain of another key",
            definition(json!({"certificateChainPem": other_pem})),
            "is not the key of certificate",
        ),
        (
            "PKCS#11 module the file does not allow",
            definition(
                json!({"key": {"type": "pkcs11", "module": "/usr/lib/x86_64-linux-gnu/libc.so.6",
                                      "tokenLabel": "t", "keyLabel": "k", "pinEnv": "PIN"}}),
            ),
            "pkcs11Modules",
        ),
    ];
    for (what, body, words) in &bad {
        let (status, answer) = server.call("PUT", "/v1/profiles/new", Some(&admin), Some(body));
        eprintln!("{what}: {status} {answer}");
        assert_eq!(status, 400, "{what}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{what}: {message}");
    }
    let names = |server: &SignerServer| -> Vec<(String, i64, String)> {
        let (_, list) = server.call("GET", "/v1/profiles", None, None);
        list["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["version"].as_i64().unwrap_or(0),
                    p["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(names(&server), [("default".into(), 1, "active".into())]);

    // Created: 201, version 1, and a client signs with it.
    let (status, body) = server.call(
        "PUT",
        "/v1/profiles/new",
        Some(&admin),
        Some(&definition(json!({}))),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        (body["version"].as_i64(), body["source"].as_str()),
        (Some(1), Some("api"))
    );
    let ca_dir = env.config.join("truststore/x509/ca/api");
    write(&ca_dir.join("ca.pem"), &new_pem);
    let policy = json!({"version": "1.0", "trustPolicies": [{
        "name": "api", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:api"], "trustedIdentities": [format!("x509.subject: {}", subject.replace(',', ", "))],
    }]});
    fs::write(env.config.join("trustpolicy.json"), policy.to_string()).unwrap();
    fs::write(env.config.join("trustpolicy.oci.json"), policy.to_string()).unwrap();
    let sign = |server: &SignerServer, reference: &str| {
        env.set_var("SIGNET_SIGNER_TOKEN", &ci);
        let out = env.signet(&[
            "sign",
            reference,
            "--remote",
            &server.url(""),
            "--profile",
            "new",
            "--remote-ca-file",
            server.tls.ca_file.to_str().unwrap(),
            "--insecure-registry",
            &host,
        ]);
        env.unset_var("SIGNET_SIGNER_TOKEN");
        out
    };
    let verify = |reference: &str| env.signet(&["verify", reference, "--insecure-registry", &host]);
    let first = reg.seed_image("team/first", "v1");
    expect(&sign(&server, &first.reference), true, &["Successfully signed"]);
    expect(&verify(&first.reference), true, &["Successfully verified"]);

    // Changed with the CLI (a YAML definition, the chain from a local
    // file): version 2, which the next signature carries.
    let yaml = write(
        &env.root.join("new.yaml"),
        &format!(
            "key: {{type: file, path: {}}}\nsubject: {subject}\nleafKey: ecdsa-p384\n",
            new_key.display()
        ),
    );
    let admin_cli = |args: &[&str]| {
        env.set_var("SIGNET_SIGNER_TOKEN", &admin);
        let url = server.url("");
        let mut all = vec!["signer", "profile"];
        all.extend_from_slice(args);
        all.extend([
            "--remote",
            &url,
            "--remote-ca-file",
            server.tls.ca_file.to_str().unwrap(),
        ]);
        let out = env.signet(&all);
        env.unset_var("SIGNET_SIGNER_TOKEN");
        out
    };
    let chain = dir.join("api-ca.pem");
    expect(
        &admin_cli(&[
            "put",
            "new",
            "--file",
            yaml.to_str().unwrap(),
            "--certificate-chain",
            chain.to_str().unwrap(),
        ]),
        true,
        &["Changed profile \"new\": version 2"],
    );
    expect(
        &admin_cli(&["list"]),
        true,
        &["default\t1\tconfiguration\tactive", "new\t2\tapi\tactive"],
    );
    let second = reg.seed_image("team/second", "v1");
    expect(&sign(&server, &second.reference), true, &["Successfully signed"]);
    expect(
        &env.signet(&["inspect", &second.reference, "--insecure-registry", &host]),
        true,
        &[
            "dev.signet.signer.profileVersion: 2",
            "dev.signet.signer.profile: new",
        ],
    );
    // Its definition, as stored (the chain inline), for the admin only.
    let (status, got) = server.call("GET", "/v1/profiles/new", Some(&admin), None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["definition"]["leafKey"], "ecdsa-p384");
    assert_eq!(server.call("GET", "/v1/profiles/new", Some(&ci), None).0, 403);

    // A restart: still there, still signing; the first signature still
    // verifies (its CRL and OCSP come from the restarted service).
    assert!(server.terminate().success());
    server.restart();
    assert_eq!(
        names(&server),
        [
            ("default".into(), 1, "active".into()),
            ("new".into(), 2, "active".into())
        ]
    );
    let third = reg.seed_image("team/third", "v1");
    expect(&sign(&server, &third.reference), true, &["Successfully signed"]);
    expect(&verify(&third.reference), true, &["Successfully verified"]);
    expect(&verify(&first.reference), true, &["Successfully verified"]);

    // Deleted: it signs nothing more, and what it signed still verifies.
    let (status, body) = server.call("DELETE", "/v1/profiles/new", Some(&admin), None);
    assert_eq!(status, 200, "{body}");
    let fourth = reg.seed_image("team/fourth", "v1");
    expect(&sign(&server, &fourth.reference), false, &["was deleted"]);
    expect(&verify(&third.reference), true, &["Successfully verified"]);
    assert_eq!(names(&server)[1], ("new".into(), 2, "deleted".into()));
    // … and its revocation data still answers: a job revoked now is refused.
    let (_, jobs) = server.call("GET", "/v1/jobs?profile=new", Some(&admin), None);
    let first_job = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["digest"] == first.digest)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = server.call(
        "POST",
        &format!("/v1/jobs/{first_job}/revoke"),
        Some(&admin),
        Some(&json!({"reason": "keyCompromise: build machine lost"})),
    );
    assert_eq!(status, 200, "{body}");
    expect(&verify(&first.reference), false, &["revoked"]);
    expect(&verify(&third.reference), true, &["Successfully verified"]);

    // Put back: 200 (replaced), version 3, signing again.
    let (status, body) = server.call(
        "PUT",
        "/v1/profiles/new",
        Some(&admin),
        Some(&definition(json!({}))),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["version"].as_i64(), body["created"].as_bool()),
        (Some(3), Some(false))
    );
    expect(&sign(&server, &fourth.reference), true, &["profile new v3"]);
    expect(&verify(&fourth.reference), true, &["Successfully verified"]);

    // Every change is in the audit log, by the admin, and the log verifies.
    let r = server
        .client(None)
        .get(server.url("/v1/audit"))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    let changes: Vec<(String, String, i64)> = r
        .text()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["subject"] == "new" && e["kind"].as_str().unwrap_or("").starts_with("profile."))
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["data"]["version"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("profile.change".into(), "token:admin".into(), 1),
            ("profile.change".into(), "token:admin".into(), 2),
            ("profile.delete".into(), "token:admin".into(), 2),
            ("profile.change".into(), "token:admin".into(), 3),
        ]
    );
    expect(
        &audit_verify(&server),
        true,
        &["intact", "1 stored profiles checked"],
    );
}

/// `signet signer init DIR` on free loopback ports, run by `signet`.
fn signer_init(mut signet: Command, dir: &Path) -> std::process::Output {
    signet
        .args(["signer", "init"])
        .arg(dir)
        .args([
            "--listen",
            &format!("127.0.0.1:{}", testkit::revocation::free_port()),
            "--http-listen",
            &format!("127.0.0.1:{}", testkit::revocation::free_port()),
        ])
        .output()
        .unwrap()
}

#[test]
fn init_makes_a_working_setup_and_the_openapi_document_lists_every_route() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dev");
    let out = signer_init(Command::new(SIGNET), &dir);
    expect(&out, true, &["admin token"]);
    // init refuses to overwrite.
    let again = Command::new(SIGNET)
        .args(["signer", "init"])
        .arg(&dir)
        .output()
        .unwrap();
    expect(&again, false, &["already exists"]);
    let config = dir.join("signer.yaml");
    let mut child = Command::new(SIGNET)
        .args(["serve", "signer", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (line, _reader) = testkit::read_first_line(child.stdout.take().unwrap(), Duration::from_secs(30));
    let addr = line
        .trim()
        .strip_prefix("signet signer listening on https://")
        .expect(&line)
        .to_owned();
    let ca = reqwest::Certificate::from_pem(&fs::read(dir.join("tls/ca.pem")).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let token = fs::read_to_string(dir.join("admin.token")).unwrap();
    let who: Value = client
        .get(format!("https://{addr}/v1/whoami"))
        .bearer_auth(token.trim())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(who["admin"], true, "{who}");
    let doc: Value = client
        .get(format!("https://{addr}/openapi.json"))
        .send()
        .unwrap()
        .json()
        .unwrap();

    // The README's flow: a CI token, sign an OCI layout through the service,
    // verify it with the trust store and policy init wrote (revocation
    // checked against the service's plain-HTTP CRL/OCSP).
    let out = Command::new(SIGNET)
        .args(["signer", "token", "create", "--config"])
        .arg(&config)
        .args(["--name", "ci", "--identity", "ci"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let ci = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let layout = tmp.path().join("layout");
    common::copy_dir(&testkit::vector("e2e/oci_layout/e2e"), &layout);
    let reference = format!("{}:v1", layout.display());
    let signed = Command::new(SIGNET)
        .args([
            "sign",
            "--oci-layout",
            &reference,
            "--remote",
            &format!("https://{addr}"),
            "--remote-ca-file",
        ])
        .arg(dir.join("tls/ca.pem"))
        .env("SIGNET_SIGNER_TOKEN", &ci)
        .output()
        .unwrap();
    expect(&signed, true, &["Successfully signed", "profile default"]);
    let verified = Command::new(SIGNET)
        .arg("--config-dir")
        .arg(dir.join("trust"))
        .args(["verify", "--oci-layout", &reference])
        .output()
        .unwrap();
    expect(&verified, true, &["Successfully verified"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let source: Vec<&str> = include_str!("../../signer/src/server.rs").lines().collect();
    let mut checked = 0;
    for (i, line) in source.iter().enumerate() {
        if !line.trim_start().starts_with(".route(") {
            continue;
        }
        // `.route("/path", …)`, or rustfmt's `.route(` with the path on the next line.
        let holder = if line.contains('"') { line } else { source[i + 1] };
        let route = holder
            .split('"')
            .nth(1)
            .unwrap()
            .replace("{*request}", "{request}");
        assert!(
            paths.contains_key(&route),
            "route {route} is missing from openapi.json"
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes found in server.rs");
}

/// `signet signer|serve|audit` run `signet-server` in place of `signet`
/// (same process, found next to `signet`, else on `PATH`), and say what is
/// missing when it is nowhere.
#[test]
fn service_commands_run_signet_server_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let alone = tmp.path().join("bin");
    fs::create_dir(&alone).unwrap();
    let signet = alone.join("signet");
    fs::copy(SIGNET, &signet).unwrap();
    let server = Path::new(SIGNET).with_file_name("signet-server");
    let dir = tmp.path().join("dev");
    let init = |path: &std::ffi::OsStr| {
        let mut cmd = Command::new(&signet);
        cmd.env("PATH", path);
        signer_init(cmd, &dir)
    };
    // Nowhere: a clear error, nothing made.
    let out = init(std::ffi::OsStr::new("/nonexistent"));
    expect(
        &out,
        false,
        &["signet-server", "neither next to this signet", "cargo install"],
    );
    assert!(!dir.exists());
    // On PATH.
    let out = init(server.parent().unwrap().as_os_str());
    expect(&out, true, &["admin token"]);
    // The service runs in the process `signet` started as.
    let mut child = Command::new(&signet)
        .args(["serve", "signer", "--config"])
        .arg(dir.join("signer.yaml"))
        .env("PATH", server.parent().unwrap())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (line, _reader) = testkit::read_first_line(child.stdout.take().unwrap(), Duration::from_secs(30));
    let exe = fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    let environ = fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(line.starts_with("signet signer listening on https://"), "{line}");
    assert_eq!(exe, fs::canonicalize(&server).unwrap());
    // It told signet-server its version, and a signet-server of another
    // version (an old install on PATH) refuses to run for it.
    let told = format!("SIGNET_CALLER_VERSION={}", env!("CARGO_PKG_VERSION"));
    assert!(
        environ.split(|b| *b == 0).any(|v| v == told.as_bytes()),
        "{told} not passed"
    );
    let mut cmd = Command::new(&server);
    cmd.env("SIGNET_CALLER_VERSION", "0.0.1-old");
    let out = signer_init(cmd, &tmp.path().join("skew"));
    expect(
        &out,
        false,
        &[
            &format!("is version {}", env!("CARGO_PKG_VERSION")),
            "the signet that started it is version 0.0.1-old",
            "Install the two together",
        ],
    );
    assert!(!tmp.path().join("skew").exists());
}
