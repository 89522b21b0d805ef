//! `signet sign` / `signet blob sign` with `--timestamp-url` and
//! `--timestamp-root-cert` against a real `openssl ts` TSA on loopback, and
//! verification that uses the timestamp — above all for a signing
//! certificate that has expired since (it verifies only with a timestamp).
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration as StdDuration, Instant},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use common::{Env, expect, text};
use notary::{algorithm::KeySpec, crypto::PrivateKey};
use serde_json::{Value, json};
use testkit::{
    pki::{self, CertOptions},
    tsa::{Mode, Tsa},
};
use time::{Duration, OffsetDateTime};

/// A config directory with a signing key (chain to root `ca:signet`), the
/// TSA root in `tsa:tsa`, and trust policies (OCI and blob) using both.
struct Setup {
    env: Env,
    tsa: Tsa,
    tsa_root: PathBuf,
    leaf_not_after: OffsetDateTime,
}

fn setup(leaf: CertOptions) -> Setup {
    let env = Env::new();
    let tsa = Tsa::start();
    let root_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let leaf_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let chain = pki::chain_with(
        &root_key.to_pkcs8_pem().unwrap(),
        None,
        &leaf_key.to_pkcs8_pem().unwrap(),
        &leaf,
    );
    let key_path = env.root.join("signer.key");
    let cert_path = env.root.join("signer.crt");
    fs::write(&key_path, leaf_key.to_pkcs8_pem().unwrap()).unwrap();
    fs::write(&cert_path, format!("{}{}", chain.leaf.pem, chain.root.pem)).unwrap();
    let out = env.signet(&[
        "key",
        "add",
        "signer",
        "--key",
        key_path.to_str().unwrap(),
        "--cert",
        cert_path.to_str().unwrap(),
        "--default",
    ]);
    expect(&out, true, &[]);

    let ca = env.config.join("truststore/x509/ca/signet");
    fs::create_dir_all(&ca).unwrap();
    fs::write(ca.join("root.crt"), &chain.root.pem).unwrap();
    let tsa_store = env.config.join("truststore/x509/tsa/tsa");
    fs::create_dir_all(&tsa_store).unwrap();
    fs::write(tsa_store.join("tsa-root.crt"), &tsa.root.pem).unwrap();
    let tsa_root = env.root.join("tsa-root.pem");
    tsa.write_root(&tsa_root);
    let s = Setup {
        env,
        tsa,
        tsa_root,
        leaf_not_after: leaf.not_after,
    };
    s.policies(true);
    s
}

impl Setup {
    /// Installs the OCI and blob trust policies, with or without `tsa:tsa`.
    fn policies(&self, with_tsa: bool) {
        let mut stores = vec!["ca:signet"];
        if with_tsa {
            stores.push("tsa:tsa");
        }
        let statement = json!({
            "name": "signet",
            "registryScopes": ["*"],
            "signatureVerification": { "level": "strict" },
            "trustStores": stores,
            "trustedIdentities": ["*"],
        });
        let oci = json!({ "version": "1.0", "trustPolicies": [statement] });
        fs::write(self.env.config.join("trustpolicy.json"), oci.to_string()).unwrap();
        let mut blob = statement.clone();
        let obj = blob.as_object_mut().unwrap();
        obj.remove("registryScopes");
        obj.insert("globalPolicy".into(), json!(true));
        let blob = json!({ "version": "1.0", "trustPolicies": [blob] });
        fs::write(self.env.config.join("trustpolicy.blob.json"), blob.to_string()).unwrap();
    }

    fn ts_flags(&self) -> [String; 4] {
        [
            "--timestamp-url".into(),
            self.tsa.url(),
            "--timestamp-root-cert".into(),
            self.tsa_root.display().to_string(),
        ]
    }

    /// `signet blob sign` of a fresh file `<name>`; returns the file and signature paths.
    fn blob_sign(&self, name: &str, format: &str, timestamp: bool) -> (PathBuf, PathBuf) {
        let file = self.env.root.join(name);
        fs::write(&file, format!("blob {name}")).unwrap();
        let mut args: Vec<String> = vec![
            "blob".into(),
            "sign".into(),
            file.display().to_string(),
            "--signature-format".into(),
            format.into(),
        ];
        if timestamp {
            args.extend(self.ts_flags());
        }
        let out = self.signet(&args);
        expect(&out, true, &["Successfully signed"]);
        let sig = self.env.root.join(format!("{name}.{format}.sig"));
        assert!(sig.is_file());
        (file, sig)
    }

    fn blob_verify(&self, file: &Path, sig: &Path) -> (bool, Value) {
        let out = self.signet(&[
            "blob".into(),
            "verify".into(),
            file.display().to_string(),
            "--signature".into(),
            sig.display().to_string(),
            "-o".into(),
            "json".into(),
        ]);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("blob verify -o json printed no JSON ({e}):\n{}", text(&out)));
        (out.status.success(), v)
    }

    fn signet(&self, args: &[String]) -> std::process::Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.env.signet(&args)
    }
}

/// The `authenticTimestamp` result object of a verify JSON report.
fn authentic_timestamp(report: &Value) -> Value {
    let results = report
        .pointer("/signatures/0/results")
        .or_else(|| report.get("results"))
        .unwrap_or_else(|| panic!("no results in {report:#}"));
    results
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "authenticTimestamp")
        .cloned()
        .unwrap_or_else(|| panic!("no authenticTimestamp result in {report:#}"))
}

/// A token in an envelope's unsigned header.
fn token_in(sig: &Path, format: &str) -> Vec<u8> {
    let media = if format == "jws" {
        "application/jose+json"
    } else {
        "application/cose"
    };
    let env = notary::envelope::Envelope::parse(media, &fs::read(sig).unwrap()).unwrap();
    env.unsigned
        .timestamp_signature
        .expect("the envelope carries no timestamp token")
}

// --------------------------------------------------------------- (1) signing

#[test]
fn sign_with_timestamp_and_verify_uses_it() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    for format in ["jws", "cose"] {
        let layout = s.env.layout("e2e", &format!("layout-{format}"));
        let reference = format!("{}:v1", layout.display());
        let mut args: Vec<String> = vec![
            "sign".into(),
            "--oci-layout".into(),
            reference.clone(),
            "--signature-format".into(),
            format.into(),
        ];
        args.extend(s.ts_flags());
        let before = s.tsa.requests();
        expect(&s.signet(&args), true, &["Successfully signed"]);
        assert_eq!(s.tsa.requests(), before + 1);

        let out = s
            .env
            .signet(&["verify", "--oci-layout", &reference, "-o", "json"]);
        expect(&out, true, &[]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["verified"], true, "{report:#}");
        let at = authentic_timestamp(&report);
        assert_eq!(at["result"], "passed", "{at:#}");
        assert!(
            at["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("timestamped at"),
            "{at:#}"
        );
    }
}

#[test]
fn blob_sign_with_timestamp_carries_a_verified_token() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    for format in ["jws", "cose"] {
        let (file, sig) = s.blob_sign(&format!("data-{format}.txt"), format, true);
        let token = token_in(&sig, format);
        assert!(!token.is_empty());
        let (ok, report) = s.blob_verify(&file, &sig);
        assert!(ok, "{report:#}");
        let at = authentic_timestamp(&report);
        assert_eq!(at["result"], "passed", "{at:#}");
        assert!(
            at["message"].as_str().unwrap().starts_with("timestamped at"),
            "{at:#}"
        );
    }
}

// --------------------------------------------- (2) expired signing certificate

#[test]
fn an_expired_certificate_verifies_only_with_a_timestamp() {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let leaf = CertOptions {
        not_before: now - Duration::hours(1),
        // Long enough to set up and sign four times on a loaded machine.
        not_after: now + Duration::seconds(6),
        ..CertOptions::leaf("Signet Short-Lived Signer")
    };
    let s = setup(leaf);
    let signed: Vec<_> = ["jws", "cose"]
        .into_iter()
        .flat_map(|f| {
            [
                (f, true, s.blob_sign(&format!("ts-{f}.txt"), f, true)),
                (f, false, s.blob_sign(&format!("plain-{f}.txt"), f, false)),
            ]
        })
        .collect();
    assert!(
        OffsetDateTime::now_utc() < s.leaf_not_after,
        "signing took too long: the certificate expired before the test could sign"
    );
    // Wait for the signing certificate to expire.
    let wait = s.leaf_not_after - OffsetDateTime::now_utc() + Duration::milliseconds(1500);
    std::thread::sleep(StdDuration::try_from(wait).unwrap_or_default());

    for (format, timestamped, (file, sig)) in &signed {
        let (ok, report) = s.blob_verify(file, sig);
        let at = authentic_timestamp(&report);
        if *timestamped {
            assert!(
                ok,
                "{format}: an expired certificate with a timestamp must verify: {report:#}"
            );
            assert_eq!(at["result"], "passed", "{at:#}");
            assert!(
                at["message"].as_str().unwrap().starts_with("timestamped at"),
                "{at:#}"
            );
        } else {
            assert!(
                !ok,
                "{format}: an expired certificate without a timestamp must fail: {report:#}"
            );
            assert_eq!(at["result"], "failed", "{at:#}");
            assert_eq!(
                at["message"], "no timestamp countersignature was found in the signature envelope",
                "{at:#}"
            );
        }
    }

    // Without a TSA trust store the timestamp is not used: the expiry decides.
    s.policies(false);
    for (format, _, (file, sig)) in &signed {
        let (ok, report) = s.blob_verify(file, sig);
        assert!(!ok, "{format}: {report:#}");
        let at = authentic_timestamp(&report);
        assert_eq!(at["result"], "failed", "{at:#}");
        assert!(at["message"].as_str().unwrap().contains("expired"), "{at:#}");
    }
}

// ---------------------------------------------------- (3) forged / mismatched

#[test]
fn a_substituted_token_fails_verification() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let (file, sig) = s.blob_sign("data.txt", "jws", true);
    // A genuine token from the same TSA, over some other signature.
    let other = s.tsa.token_over(b"another signature");
    let mut env: Value = serde_json::from_slice(&fs::read(&sig).unwrap()).unwrap();
    env["header"]["io.cncf.notary.timestampSignature"] = Value::String(STANDARD.encode(other));
    fs::write(&sig, serde_json::to_vec(&env).unwrap()).unwrap();
    let (ok, report) = s.blob_verify(&file, &sig);
    assert!(!ok, "{report:#}");
    let at = authentic_timestamp(&report);
    assert_eq!(at["result"], "failed", "{at:#}");
    assert_eq!(
        at["message"],
        "failed to get timestamp from timestamp countersignature with error: invalid TSTInfo: mismatched message",
        "{at:#}"
    );
}

#[test]
fn a_response_to_another_request_fails_signing() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let other = notary::timestamp::TimestampRequest::new(b"another signature").unwrap();
    s.tsa.set_mode(Mode::Fixed(s.tsa.reply(&other.to_der().unwrap())));
    for format in ["jws", "cose"] {
        let file = s.env.root.join(format!("data-{format}.txt"));
        fs::write(&file, "data").unwrap();
        let mut args: Vec<String> = vec![
            "blob".into(),
            "sign".into(),
            file.display().to_string(),
            "--signature-format".into(),
            format.into(),
        ];
        args.extend(s.ts_flags());
        let out = s.signet(&args);
        expect(
            &out,
            false,
            &[
                "timestamping failed",
                "invalid timestamping response: message imprint in response",
            ],
        );
        assert!(
            !s.env
                .root
                .join(format!("data-{format}.txt.{format}.sig"))
                .exists()
        );
    }
}

#[test]
fn garbage_and_rejection_fail_signing_clearly() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let file = s.env.root.join("data.txt");
    fs::write(&file, "data").unwrap();
    let mut args: Vec<String> = vec!["blob".into(), "sign".into(), file.display().to_string()];
    args.extend(s.ts_flags());
    s.tsa.set_mode(Mode::Garbage);
    expect(
        &s.signet(&args),
        false,
        &["timestamping failed", "invalid timestamping response"],
    );
    s.tsa.set_mode(Mode::Reject);
    expect(
        &s.signet(&args),
        false,
        &["invalid response with status code 2: rejected"],
    );
    s.tsa.set_mode(Mode::WrongContentType);
    expect(
        &s.signet(&args),
        false,
        &["expected \"application/timestamp-reply\""],
    );
    assert!(!s.env.root.join("data.txt.jws.sig").exists());
}

#[test]
fn a_tsa_root_that_does_not_match_fails_signing() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let file = s.env.root.join("data.txt");
    fs::write(&file, "data").unwrap();
    let ts01 = testkit::vector("e2e/config/timestamp/DigiCertTSARootSHA384.cer");
    let out = s.env.signet(&[
        "blob",
        "sign",
        file.to_str().unwrap(),
        "--timestamp-url",
        &s.tsa.url(),
        "--timestamp-root-cert",
        ts01.to_str().unwrap(),
    ]);
    // TS01 is accepted as a root file; the token does not chain to it.
    expect(&out, false, &["failed to verify signed token"]);
}

// ------------------------------------------------------ (4) TSA down / stall

#[test]
fn a_tsa_that_is_down_or_stalls_fails_signing_within_the_timeout() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let file = s.env.root.join("data.txt");
    fs::write(&file, "data").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = format!("http://127.0.0.1:{port}/");
    let root = s.tsa_root.to_str().unwrap();
    let start = Instant::now();
    let out = s.env.signet(&[
        "blob",
        "sign",
        file.to_str().unwrap(),
        "--timestamp-url",
        &down,
        "--timestamp-root-cert",
        root,
    ]);
    expect(
        &out,
        false,
        &["timestamping failed", &format!("127.0.0.1:{port}")],
    );
    assert!(start.elapsed() < StdDuration::from_secs(4));

    s.tsa.set_mode(Mode::Stall);
    let start = Instant::now();
    let out = s.env.signet(&[
        "blob",
        "sign",
        file.to_str().unwrap(),
        "--timestamp-url",
        &s.tsa.url(),
        "--timestamp-root-cert",
        root,
    ]);
    let took = start.elapsed();
    expect(&out, false, &["timestamping failed", "timed out"]);
    assert!(took < StdDuration::from_secs(9), "took {took:?}");
    assert!(!s.env.root.join("data.txt.jws.sig").exists());
}

// ---------------------------------------------- (5) --timestamp-root-cert file

#[test]
fn ts03_to_ts07_timestamp_root_cert_files() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let file = s.env.root.join("data.txt");
    fs::write(&file, "data").unwrap();
    let layout = s.env.layout("e2e", "layout");
    let reference = format!("{}:v1", layout.display());
    let cases: [(&str, &[&str]); 5] = [
        ("invalid.crt", &["x509: malformed certificate"]),
        (
            "Empty.txt",
            &[
                "cannot find any certificate from",
                "Expecting single x509 root certificate in PEM or DER format from the file",
            ],
        ),
        (
            "CertChain.pem",
            &[
                "found more than one certificates",
                "Expecting single x509 root certificate in PEM or DER format from the file",
            ],
        ),
        (
            "intermediate.pem",
            &["failed to check root certificate with error: crypto/rsa: verification error"],
        ),
        (
            "notSelfIssued.crt",
            &[
                "is not a root certificate. Expecting single x509 root certificate in PEM or DER format from the file",
            ],
        ),
    ];
    for (name, words) in cases {
        let path = testkit::vector(&format!("e2e/config/timestamp/{name}"));
        let path = path.to_str().unwrap();
        let url = s.tsa.url();
        let blob = s.env.signet(&[
            "blob",
            "sign",
            file.to_str().unwrap(),
            "--timestamp-url",
            &url,
            "--timestamp-root-cert",
            path,
        ]);
        expect(&blob, false, words);
        let sign = s.env.signet(&[
            "sign",
            "--oci-layout",
            &reference,
            "--timestamp-url",
            &url,
            "--timestamp-root-cert",
            path,
        ]);
        expect(&sign, false, words);
    }
    assert_eq!(
        s.tsa.requests(),
        0,
        "a bad root file must stop signing before the TSA is asked"
    );
}

#[test]
fn both_timestamp_flags_or_neither() {
    let s = setup(CertOptions::leaf("Signet Timestamp Test"));
    let file = s.env.root.join("data.txt");
    fs::write(&file, "data").unwrap();
    let url = s.tsa.url();
    let root = s.tsa_root.to_str().unwrap();
    let f = file.to_str().unwrap();
    let out = s.env.signet(&["blob", "sign", f, "--timestamp-url", &url]);
    expect(&out, false, &["--timestamp-root-cert"]);
    let out = s.env.signet(&["blob", "sign", f, "--timestamp-root-cert", root]);
    expect(&out, false, &["--timestamp-url"]);
    let layout = s.env.layout("e2e", "layout");
    let reference = format!("{}:v1", layout.display());
    let out = s
        .env
        .signet(&["sign", "--oci-layout", &reference, "--timestamp-url", &url]);
    expect(&out, false, &["--timestamp-root-cert"]);
    assert_eq!(s.tsa.requests(), 0);
}
