//! Profiles made through the API, at the service level (no HTTP): what a
//! definition may be, versions, CA continuity, delete, start-up, and two
//! replicas on one database (SQLite and PostgreSQL).
#![allow(clippy::unwrap_used)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use notary::{Descriptor, Digest, algorithm::KeySpec, crypto::PrivateKey};
use serde_json::{Value, json};
use testkit::postgres::Postgres;

use super::*;
use crate::{
    Config,
    auth::Method,
    service::{Origin, SignRequest, SignResponse},
};

/// A CA: its key file and its certificate (PEM).
struct Ca {
    key: PathBuf,
    pem: String,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = testkit::pki::self_signed(&testkit::pki::CertOptions::root(name), &key.serialize_pem());
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), &cert.pem).unwrap();
    Ca {
        key: key_file,
        pem: cert.pem,
    }
}

/// A configuration in `dir` on `database`: a file profile `release`, a
/// rule letting `token:ci` sign with `new` and `fresh` (which do not exist
/// yet), an allowed (fake) PKCS#11 module.
fn config(dir: &Path, database: &str) -> Config {
    ca(dir, "file-ca");
    std::fs::write(
        dir.join("checkpoint.key"),
        PrivateKey::generate(KeySpec::Ec(256))
            .unwrap()
            .to_pkcs8_pem()
            .unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("fake-pkcs11.so"), "not a shared library").unwrap();
    let path = dir.join("signer.yaml");
    std::fs::write(
        &path,
        format!(
            "tls: {{certFile: t, keyFile: t}}
http: {{listen: 127.0.0.1:1}}
database: {database}
audit: {{checkpointKey: {{type: file, path: checkpoint.key}}}}
pkcs11Modules: [fake-pkcs11.so]
rules:
  - {{name: admin, identities: [{{method: token, subject: admin}}], admin: true}}
  - {{name: ci, identities: [{{method: token, subject: ci}}], profiles: [new, fresh, release], repositories: ['registry.example.com/**']}}
profiles:
  - {{name: release, key: {{type: file, path: file-ca.key}}, certificateChain: file-ca.pem}}
"
        ),
    )
    .unwrap();
    Config::load(&path).unwrap()
}

fn token(subject: &str) -> Identity {
    Identity {
        method: Method::Token,
        subject: subject.into(),
        issuer: None,
        claims: BTreeMap::new(),
    }
}

/// A per-job profile on `ca`'s key, the chain inline, with `extra` fields.
fn body(ca: &Ca, extra: Value) -> Vec<u8> {
    let mut b = json!({
        "key": {"type": "file", "path": ca.key},
        "certificateChainPem": ca.pem,
        "subject": "CN=new,O=Acme,ST=WA,C=US",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v.clone();
        }
    }
    b.to_string().into_bytes()
}

/// A refused definition: what, profile name, body, status, words the message has.
type Case<'a> = (&'a str, &'a str, Vec<u8>, u16, Vec<&'a str>);

async fn sign(s: &Service, profile: &str, n: u32) -> Result<SignResponse, ApiError> {
    let descriptor = Descriptor::new(
        "application/vnd.oci.image.manifest.v1+json".to_string(),
        Digest::sha256(format!("artifact {n}").as_bytes()),
        1000,
    );
    let req = SignRequest {
        profile: profile.into(),
        repository: "registry.example.com/team/app".into(),
        descriptor,
        push: false,
    };
    s.sign(&token("ci"), req, &Origin::default()).await
}

#[tokio::test]
async fn a_bad_definition_is_refused_with_a_clear_message_and_nothing_is_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = config(dir, &format!("sqlite://{}", dir.join("s.db").display()));
    let service = Service::open(&config).await.unwrap();
    let admin = token("admin");
    let ca1 = ca(dir, "ca1");
    let ca2 = ca(dir, "ca2");
    let secret = dir.join("secret.key");
    std::fs::write(
        &secret,
        "-----BEGIN TOP SECRET-----\nc2VjcmV0LXZhbHVl\n-----END TOP SECRET-----\n",
    )
    .unwrap();
    let pin = dir.join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    let link = dir.join("link-to-module.so");
    std::os::unix::fs::symlink(dir.join("fake-pkcs11.so"), &link).unwrap();
    let pkcs11 = |module: &Path| json!({"key": {"type": "pkcs11", "module": module, "tokenLabel": "t", "keyLabel": "k", "pinFile": pin}});

    let cases: Vec<Case<'_>> = vec![
        (
            "unknown field",
            "new",
            body(&ca1, json!({"sneaky": true})),
            400,
            vec!["unknown field `sneaky`"],
        ),
        (
            "version given",
            "new",
            body(&ca1, json!({"version": 7})),
            400,
            vec!["numbers the versions"],
        ),
        (
            "other name",
            "new",
            body(&ca1, json!({"name": "other"})),
            400,
            vec!["\"other\"", "URL names \"new\""],
        ),
        ("not an object", "new", b"[1]".to_vec(), 400, vec!["JSON object"]),
        ("not JSON", "new", b"{".to_vec(), 400, vec!["not valid JSON"]),
        (
            "bad name",
            "Bad_Name",
            body(&ca1, json!({})),
            400,
            vec!["Bad_Name"],
        ),
        (
            "bad format",
            "new",
            body(&ca1, json!({"format": "xml"})),
            400,
            vec!["format \"xml\" is not jws or cose"],
        ),
        (
            "relative key path",
            "new",
            body(&ca1, json!({"key": {"type": "file", "path": "ca1.key"}})),
            400,
            vec!["key.path", "absolute"],
        ),
        (
            "missing key file",
            "new",
            body(
                &ca1,
                json!({"key": {"type": "file", "path": "/nonexistent/ca.key"}}),
            ),
            400,
            vec!["/nonexistent/ca.key", "cannot read"],
        ),
        (
            "a device as key file",
            "new",
            body(&ca1, json!({"key": {"type": "file", "path": "/dev/zero"}})),
            400,
            vec!["/dev/zero", "not a regular file"],
        ),
        (
            "not a key",
            "new",
            body(&ca1, json!({"key": {"type": "file", "path": secret}})),
            400,
            vec!["does not hold a usable private key"],
        ),
        (
            "chain not of the key",
            "new",
            body(&ca1, json!({"certificateChainPem": ca2.pem})),
            400,
            vec!["is not the key of certificate"],
        ),
        (
            "chain file that is no chain",
            "new",
            body(
                &ca1,
                json!({"certificateChainPem": null, "certificateChain": secret}),
            ),
            400,
            vec!["no certificate chain in it"],
        ),
        (
            "no chain",
            "new",
            body(&ca1, json!({"certificateChainPem": null})),
            400,
            vec!["required"],
        ),
        (
            "two chains",
            "new",
            body(&ca1, json!({"certificateChain": dir.join("ca1.pem")})),
            400,
            vec!["not both"],
        ),
        (
            "a module the file does not allow",
            "new",
            body(&ca1, pkcs11(Path::new("/usr/lib/x86_64-linux-gnu/libc.so.6"))),
            400,
            vec!["not an allowed PKCS#11 module", "fake-pkcs11.so", "pkcs11Modules"],
        ),
        (
            // Allowed (the same file under another name), then refused by the loader.
            "an allowed module that is no module",
            "new",
            body(&ca1, pkcs11(&link)),
            400,
            vec!["cannot load PKCS#11 module"],
        ),
        (
            "a file profile",
            "release",
            body(&ca1, json!({})),
            409,
            vec!["configuration file"],
        ),
    ];
    let mut failures = Vec::new();
    for (what, name, b, status, words) in &cases {
        match service.put_profile(&admin, name, b).await {
            Ok(_) => failures.push(format!("{what}: accepted")),
            Err(e) => {
                eprintln!("{what}: {} {}", e.status, e.message);
                if e.status != *status || !words.iter().all(|w| e.message.contains(w)) {
                    failures.push(format!(
                        "{what}: got {} {:?}, want {status} with {words:?}",
                        e.status, e.message
                    ));
                }
                if e.message.contains("TOP SECRET") || e.message.contains("c2VjcmV0") {
                    failures.push(format!("{what}: the message quotes the file: {}", e.message));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");

    // Nothing stored, nothing audited, nothing served.
    assert!(service.store.stored_profiles().await.unwrap().is_empty());
    assert!(
        service
            .store
            .last_entry("profile.change", "new")
            .await
            .unwrap()
            .is_none()
    );
    let names: Vec<String> = service.profiles().by_name.keys().cloned().collect();
    assert_eq!(names, ["release"]);
    // The file's profile cannot be deleted either.
    let e = service.delete_profile(&admin, "release").await.unwrap_err();
    assert_eq!(e.status, 409, "{e}");
    let e = service.delete_profile(&admin, "nothing").await.unwrap_err();
    assert_eq!(e.status, 404, "{e}");
    service.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_profiles_sign_change_retire_and_reach_other_replicas() {
    let tmp = tempfile::tempdir().unwrap();
    replicas(
        tmp.path(),
        &format!("sqlite://{}", tmp.path().join("s.db").display()),
    )
    .await;
    match Postgres::why_unavailable() {
        None => {
            let pg = Postgres::start();
            let tmp = tempfile::tempdir().unwrap();
            replicas(tmp.path(), &pg.create_database("profiles")).await;
        }
        Some(why) => eprintln!("\n*** PostgreSQL NOT TESTED (api profiles on replicas): {why} ***\n"),
    }
}

async fn replicas(dir: &Path, url: &str) {
    eprintln!("replicas on {url}");
    let config = config(dir, url);
    let a = Service::open(&config).await.unwrap();
    let b = Service::open(&config).await.unwrap();
    let admin = token("admin");
    let ca1 = ca(dir, "ca1");
    let ca2 = ca(dir, "ca2");

    // Created on A (the chain given as a path), served by A at once, by B
    // once it polls.
    let put = a
        .put_profile(
            &admin,
            "new",
            &body(
                &ca1,
                json!({"certificateChainPem": null, "certificateChain": dir.join("ca1.pem")}),
            ),
        )
        .await
        .unwrap();
    assert!(put.created);
    assert_eq!(put.profile.config.version, 1);
    assert_eq!(sign(&a, "new", 1).await.unwrap().profile_version, 1);
    assert_eq!(sign(&b, "new", 2).await.unwrap_err().status, 404);
    assert!(b.refresh_profiles().await.unwrap());
    assert!(!b.refresh_profiles().await.unwrap(), "nothing changed since");
    assert_eq!(sign(&b, "new", 2).await.unwrap().profile_version, 1);
    // The chain is stored inline, so the file no longer matters.
    let row = a.store.stored_profile("new").await.unwrap().unwrap();
    let stored: Value = serde_json::from_str(&row.definition).unwrap();
    assert!(stored.get("certificateChain").is_none(), "{stored}");
    assert!(
        stored["certificateChainPem"]
            .as_str()
            .unwrap()
            .contains("BEGIN CERTIFICATE")
    );

    // Changed: version 2, in the signatures of both replicas.
    let put = a
        .put_profile(&admin, "new", &body(&ca1, json!({"leafKey": "ecdsa-p384"})))
        .await
        .unwrap();
    assert!(!put.created);
    assert_eq!(put.profile.config.version, 2);
    assert!(b.refresh_profiles().await.unwrap());
    assert_eq!(sign(&b, "new", 3).await.unwrap().profile_version, 2);

    // It has issued certificates: its CA and mode stay (409, nothing stored).
    let e = a
        .put_profile(&admin, "new", &body(&ca2, json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.status, 409, "{e}");
    assert!(e.message.contains("CA certificate cannot change"), "{e}");
    let e = a
        .put_profile(&admin, "new", &body(&ca1, json!({"mode": "fixed"})))
        .await
        .unwrap_err();
    assert_eq!(e.status, 409, "{e}");
    assert_eq!(a.store.stored_profile("new").await.unwrap().unwrap().version, 2);
    // One that signed nothing yet may move to another CA.
    a.put_profile(&admin, "fresh", &body(&ca1, json!({})))
        .await
        .unwrap();
    let put = a
        .put_profile(&admin, "fresh", &body(&ca2, json!({})))
        .await
        .unwrap();
    assert_eq!(put.profile.config.version, 2);

    // Deleted: signs nothing more on either replica, but stays loaded for
    // its CRL and OCSP.
    a.delete_profile(&admin, "new").await.unwrap();
    let e = sign(&a, "new", 4).await.unwrap_err();
    assert_eq!(e.status, 404);
    assert!(e.message.contains("was deleted"), "{e}");
    assert!(a.profiles().by_name["new"].is_deleted());
    assert!(b.refresh_profiles().await.unwrap());
    assert!(b.profiles().by_name["new"].is_deleted());
    assert_eq!(sign(&b, "new", 4).await.unwrap_err().status, 404);
    let e = a.delete_profile(&admin, "new").await.unwrap_err();
    assert_eq!(e.status, 404, "{e}");
    // Put back (same CA): version 3.
    let put = b
        .put_profile(&admin, "new", &body(&ca1, json!({})))
        .await
        .unwrap();
    assert!(!put.created);
    assert_eq!(put.profile.config.version, 3);
    assert!(a.refresh_profiles().await.unwrap());
    assert_eq!(sign(&a, "new", 5).await.unwrap().profile_version, 3);

    // A restart finds them.
    a.store.close().await;
    b.store.close().await;
    let c = Service::open(&config).await.unwrap();
    let live = c.profiles();
    let versions: Vec<(&str, i64, bool)> = live
        .by_name
        .values()
        .map(|p| (p.config.name.as_str(), p.config.version, p.is_deleted()))
        .collect();
    assert_eq!(
        versions,
        [("fresh", 2, false), ("new", 3, false), ("release", 1, false)]
    );
    assert_eq!(sign(&c, "new", 6).await.unwrap().profile_version, 3);

    // The audit log has every change, by the admin, and verifies.
    let mut changes = Vec::new();
    for e in c.store.audit_entries(0, 1000).await.unwrap() {
        if e.subject == "new" && e.kind.starts_with("profile.") {
            changes.push((
                e.kind.clone(),
                e.actor.clone(),
                e.data["version"].as_i64().unwrap(),
            ));
        }
    }
    let admin_id = "token:admin".to_string();
    assert_eq!(
        changes,
        [
            ("profile.change".to_string(), admin_id.clone(), 1),
            ("profile.change".to_string(), admin_id.clone(), 2),
            ("profile.delete".to_string(), admin_id.clone(), 2),
            ("profile.change".to_string(), admin_id, 3),
        ]
    );
    let report = c.store.verify_audit(&[]).await.unwrap();
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!(report.profiles, 2);
    c.store.close().await;
}

#[tokio::test]
async fn a_stored_profile_that_cannot_be_opened_is_not_served_and_the_rest_is() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = config(dir, &format!("sqlite://{}", dir.join("s.db").display()));
    let admin = token("admin");
    let ca1 = ca(dir, "ca1");
    let service = Service::open(&config).await.unwrap();
    service
        .put_profile(&admin, "new", &body(&ca1, json!({})))
        .await
        .unwrap();
    // A stored profile naming a module the file does not allow (the file
    // changed since, or the row was written behind the service's back).
    let definition = json!({"name": "hsm", "certificateChainPem": ca1.pem,
        "key": {"type": "pkcs11", "module": dir.join("elsewhere.so"), "tokenLabel": "t", "keyLabel": "k", "pinEnv": "PIN"}});
    service
        .store
        .submit(Write::PutProfile(ProfileWrite {
            name: "hsm".into(),
            version: 1,
            previous: None,
            definition: crate::store::audit::canonical(&definition),
            data: json!({}),
            actor: "test".into(),
        }))
        .await
        .unwrap();
    service.store.close().await;

    // The key file is gone when the service starts again.
    std::fs::rename(&ca1.key, dir.join("moved.key")).unwrap();
    let service = Service::open(&config).await.unwrap();
    let live = service.profiles();
    assert!(live.by_name.contains_key("release"));
    assert!(
        live.unavailable["new"].1.contains("cannot read"),
        "{:?}",
        live.unavailable
    );
    assert!(
        live.unavailable["hsm"]
            .1
            .contains("not an allowed PKCS#11 module"),
        "checked before anything is loaded: {:?}",
        live.unavailable
    );
    let e = sign(&service, "new", 1).await.unwrap_err();
    assert_eq!(e.status, 503, "{e}");
    assert!(sign(&service, "release", 1).await.is_ok());
    // Fixed through the API: served again.
    std::fs::rename(dir.join("moved.key"), &ca1.key).unwrap();
    let put = service
        .put_profile(&admin, "new", &body(&ca1, json!({})))
        .await
        .unwrap();
    assert_eq!(put.profile.config.version, 2);
    assert!(!service.profiles().unavailable.contains_key("new"));
    assert_eq!(sign(&service, "new", 2).await.unwrap().profile_version, 2);
    service.store.close().await;
}
