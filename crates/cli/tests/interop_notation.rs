//! Interoperability with the reference CLI `notation` (v1.3.2, built by
//! `./scripts/install-peers`; a missing binary fails the tests).
//!
//! Both tools share one config directory — signet's layout is notation's:
//! `notation` runs with `XDG_CONFIG_HOME=<tmp>/xdg`, `signet` with
//! `--config-dir <tmp>/xdg/notation` — so the same keys, trust store and trust
//! policy serve both. Each case signs an image in an OCI layout with one tool
//! and verifies it with the other (JWS and COSE, RSA and ECDSA keys), with and
//! without an RFC 3161 timestamp from a real TSA on loopback.
//!
//! notation v1.3.2 has no `blob` commands (they arrived in notation 2.0), so
//! blob signatures are not exercised here.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::Output,
    time::Duration as StdDuration,
};

use common::{Env, expect, text};
use notary::{algorithm::KeySpec, crypto::PrivateKey};
use serde_json::Value;
use testkit::{
    pki::{self, CertOptions},
    tsa::Tsa,
};
use time::{Duration, OffsetDateTime};

const NOTATION_VERIFIED: &str = "Successfully verified signature for";
const NOTATION_FAILED: &str = "signature verification failed for all the signatures";
const FORMATS: [&str; 2] = ["jws", "cose"];

/// An image in an OCI layout: the directory and the digest of its `v1` manifest.
struct Image {
    dir: PathBuf,
    digest: String,
}

impl Image {
    /// `<dir>@<digest>`, the reference both tools take.
    fn reference(&self) -> String {
        format!("{}@{}", self.dir.display(), self.digest)
    }

    /// The digests in `index.json` other than the image's: the signature manifests.
    fn signature_manifests(&self) -> Vec<String> {
        let index: Value = serde_json::from_slice(&fs::read(self.dir.join("index.json")).unwrap()).unwrap();
        index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .filter(|d| *d != self.digest)
            .collect()
    }
}

/// A shared config directory, trust policy and helpers to run both tools.
struct Interop {
    env: Env,
}

impl Interop {
    fn new() -> Self {
        Self {
            env: Env::shared_with_notation(),
        }
    }

    /// A fresh copy of the unsigned e2e layout named `name`.
    fn image(&self, name: &str) -> Image {
        let dir = self.env.layout("e2e", name);
        let index: Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
        Image { dir, digest }
    }

    /// Writes `trustpolicy.json` (read by both tools): every scope, strict,
    /// trusting `stores`.
    fn policy(&self, stores: &[&str]) {
        self.env.trust_all(stores);
    }

    fn signet(&self, args: &[&str]) -> Output {
        self.env.signet(args)
    }

    fn notation(&self, args: &[&str]) -> Output {
        self.env.notation(args)
    }

    /// `signet cert generate-test NAME --key-type KEY_TYPE`: key `NAME`, trust store `ca:NAME`.
    fn signet_test_key(&self, name: &str, key_type: &str) {
        let out = self.signet(&["cert", "generate-test", name, "--key-type", key_type]);
        expect(&out, true, &[]);
    }

    /// `notation cert generate-test NAME` (RSA): key `NAME`, trust store `ca:NAME`.
    fn notation_test_key(&self, name: &str) {
        let out = self.notation(&["cert", "generate-test", name]);
        expect(&out, true, &[]);
    }

    /// `signet sign` with key `key`; returns the signature manifest digest it printed.
    fn signet_sign(&self, image: &Image, key: &str, format: &str, extra: &[&str]) -> String {
        let reference = image.reference();
        let mut args = vec![
            "sign",
            "--oci-layout",
            &reference,
            "--key",
            key,
            "--signature-format",
            format,
        ];
        args.extend_from_slice(extra);
        let out = self.signet(&args);
        expect(&out, true, &["Successfully signed"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("Pushed the signature to "))
            .and_then(|l| l.rsplit('@').next())
            .unwrap_or_else(|| panic!("signet sign printed no signature digest:\n{}", text(&out)))
            .trim()
            .to_owned()
    }

    /// `notation sign --oci-layout` with key `key`; returns the signature
    /// manifest it added to the layout.
    fn notation_sign(&self, image: &Image, key: &str, format: &str, extra: &[&str]) -> String {
        let before = image.signature_manifests();
        let reference = image.reference();
        let mut args = vec!["sign", "--oci-layout", "--key", key, "--signature-format", format];
        args.extend_from_slice(extra);
        args.push(&reference);
        let out = self.notation(&args);
        expect(&out, true, &["Successfully signed"]);
        let added: Vec<_> = image
            .signature_manifests()
            .into_iter()
            .filter(|d| !before.contains(d))
            .collect();
        assert_eq!(added.len(), 1, "notation sign added {added:?} to index.json");
        added[0].clone()
    }

    /// `notation verify --oci-layout --scope local/<dir name> <dir>@<digest>`.
    fn notation_verify(&self, image: &Image) -> Output {
        let scope = format!("local/{}", image.dir.file_name().unwrap().to_str().unwrap());
        self.notation(&["verify", "--oci-layout", "--scope", &scope, &image.reference()])
    }

    /// `notation ls --oci-layout`: must list `signature`.
    fn notation_lists(&self, image: &Image, signature: &str) {
        let out = self.notation(&["ls", "--oci-layout", &image.reference()]);
        expect(&out, true, &["application/vnd.cncf.notary.signature", signature]);
    }

    /// `signet verify -o json`: its exit status and report.
    fn signet_verify(&self, image: &Image) -> (bool, Value) {
        let out = self.signet(&["verify", "--oci-layout", &image.reference(), "-o", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("signet verify -o json printed no JSON ({e}):\n{}", text(&out)));
        (out.status.success(), report)
    }

    /// `signet verify` succeeds with `verified: true`; returns the report.
    fn signet_verifies(&self, image: &Image) -> Value {
        let (ok, report) = self.signet_verify(image);
        assert!(ok, "signet verify failed: {report:#}");
        assert_eq!(report["verified"], true, "{report:#}");
        report
    }

    /// `signet ls`: must list `signature`.
    fn signet_lists(&self, image: &Image, signature: &str) {
        let out = self.signet(&["ls", "--oci-layout", &image.reference()]);
        expect(&out, true, &["application/vnd.cncf.notary.signature", signature]);
    }

    /// A TSA on loopback whose root is in trust store `tsa:tsa`; returns it
    /// and the path of its root certificate (for `--timestamp-root-cert`).
    fn tsa(&self) -> (Tsa, PathBuf) {
        let tsa = Tsa::start();
        let store = self.env.config.join("truststore/x509/tsa/tsa");
        fs::create_dir_all(&store).unwrap();
        fs::write(store.join("tsa-root.crt"), &tsa.root.pem).unwrap();
        let root = self.env.root.join("tsa-root.pem");
        tsa.write_root(&root);
        (tsa, root)
    }
}

/// The `authenticTimestamp` result of the (single) signature in a report.
fn authentic_timestamp(report: &Value) -> Value {
    report
        .pointer("/signatures/0/results")
        .and_then(Value::as_array)
        .and_then(|r| r.iter().find(|r| r["type"] == "authenticTimestamp"))
        .cloned()
        .unwrap_or_else(|| panic!("no authenticTimestamp result in {report:#}"))
}

#[track_caller]
fn assert_timestamped(report: &Value) {
    let at = authentic_timestamp(report);
    assert_eq!(at["result"], "passed", "{at:#}");
    assert!(
        at["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("timestamped at"),
        "the signature was not verified as timestamped: {at:#}"
    );
}

// ----------------------------------------------------- (1) sign ↔ verify

#[test]
fn signet_signs_and_notation_verifies_and_lists() {
    let t = Interop::new();
    t.signet_test_key("signet-ec", "ec-256");
    t.signet_test_key("signet-rsa", "rsa-3072");
    t.policy(&["ca:signet-ec", "ca:signet-rsa"]);
    for key in ["signet-ec", "signet-rsa"] {
        for format in FORMATS {
            let image = t.image(&format!("{key}-{format}"));
            let signature = t.signet_sign(&image, key, format, &[]);
            expect(&t.notation_verify(&image), true, &[NOTATION_VERIFIED]);
            t.notation_lists(&image, &signature);
            // And signet still agrees with itself on the same layout.
            t.signet_verifies(&image);
        }
    }
}

#[test]
fn notation_signs_and_signet_verifies_and_lists() {
    let t = Interop::new();
    // notation's own test key (RSA), and an ECDSA key signet generated that
    // notation finds through the shared signingkeys.json.
    t.notation_test_key("notation-rsa");
    t.signet_test_key("signet-ec", "ec-256");
    t.policy(&["ca:notation-rsa", "ca:signet-ec"]);
    for key in ["notation-rsa", "signet-ec"] {
        for format in FORMATS {
            let image = t.image(&format!("{key}-{format}"));
            let signature = t.notation_sign(&image, key, format, &[]);
            let report = t.signet_verifies(&image);
            assert_eq!(report["signatures"][0]["signature"], signature, "{report:#}");
            t.signet_lists(&image, &signature);
            expect(&t.notation_verify(&image), true, &[NOTATION_VERIFIED]);
        }
    }
}

// --------------------------------------------- (2) an untrusted certificate

#[test]
fn both_refuse_when_the_trust_store_holds_another_certificate() {
    let t = Interop::new();
    t.signet_test_key("signer", "ec-256");
    t.notation_test_key("notation-signer");
    t.signet_test_key("other", "ec-256");
    t.policy(&["ca:signer", "ca:notation-signer"]);
    let by_signet = t.image("by-signet");
    t.signet_sign(&by_signet, "signer", "jws", &[]);
    let by_notation = t.image("by-notation");
    t.notation_sign(&by_notation, "notation-signer", "cose", &[]);
    for image in [&by_signet, &by_notation] {
        expect(&t.notation_verify(image), true, &[NOTATION_VERIFIED]);
        t.signet_verifies(image);
    }

    // Replace both trusted certificates with one that signed nothing.
    let other = fs::read(t.env.config.join("truststore/x509/ca/other/other.crt")).unwrap();
    for store in ["signer", "notation-signer"] {
        let cert = t
            .env
            .config
            .join(format!("truststore/x509/ca/{store}/{store}.crt"));
        assert!(cert.is_file(), "{} missing", cert.display());
        fs::write(&cert, &other).unwrap();
    }
    for image in [&by_signet, &by_notation] {
        expect(&t.notation_verify(image), false, &[NOTATION_FAILED]);
        let (ok, report) = t.signet_verify(image);
        assert!(!ok, "signet verified with the wrong trust store: {report:#}");
        assert_eq!(report["verified"], false, "{report:#}");
    }
}

// ------------------------------------------------------- (3) timestamped

#[test]
fn timestamped_signatures_verify_both_ways() {
    let t = Interop::new();
    let (tsa, tsa_root) = t.tsa();
    let tsa_root = tsa_root.to_str().unwrap();
    let url = tsa.url();
    let ts_flags = ["--timestamp-url", &url, "--timestamp-root-cert", tsa_root];
    t.signet_test_key("signet-ec", "ec-256");
    t.notation_test_key("notation-rsa");
    t.policy(&["ca:signet-ec", "ca:notation-rsa", "tsa:tsa"]);
    for format in FORMATS {
        let image = t.image(&format!("signet-{format}"));
        let before = tsa.requests();
        t.signet_sign(&image, "signet-ec", format, &ts_flags);
        assert_eq!(tsa.requests(), before + 1, "signet did not ask the TSA");
        expect(&t.notation_verify(&image), true, &[NOTATION_VERIFIED]);
        assert_timestamped(&t.signet_verifies(&image));

        let image = t.image(&format!("notation-{format}"));
        let before = tsa.requests();
        t.notation_sign(&image, "notation-rsa", format, &ts_flags);
        assert_eq!(tsa.requests(), before + 1, "notation did not ask the TSA");
        assert_timestamped(&t.signet_verifies(&image));
        expect(&t.notation_verify(&image), true, &[NOTATION_VERIFIED]);
    }
}

// ------------------------------- (4) expired signing certificate + timestamp

/// Adds a key `name` whose certificate (issued by a fresh root, trusted as
/// `ca:<name>`) is valid until `not_after`.
fn short_lived_key(t: &Interop, name: &str, not_after: OffsetDateTime) {
    let root_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let leaf_key = PrivateKey::generate(KeySpec::Ec(256)).unwrap();
    let leaf = CertOptions {
        not_before: OffsetDateTime::now_utc() - Duration::hours(1),
        not_after,
        ..CertOptions::leaf("Signet Interop Short-Lived Signer")
    };
    let chain = pki::chain_with(
        &root_key.to_pkcs8_pem().unwrap(),
        None,
        &leaf_key.to_pkcs8_pem().unwrap(),
        &leaf,
    );
    let key_path = t.env.root.join(format!("{name}.key"));
    let cert_path = t.env.root.join(format!("{name}.crt"));
    fs::write(&key_path, leaf_key.to_pkcs8_pem().unwrap()).unwrap();
    fs::write(&cert_path, format!("{}{}", chain.leaf.pem, chain.root.pem)).unwrap();
    let out = t.signet(&[
        "key",
        "add",
        name,
        "--key",
        key_path.to_str().unwrap(),
        "--cert",
        cert_path.to_str().unwrap(),
    ]);
    expect(&out, true, &[]);
    let store = t.env.config.join(format!("truststore/x509/ca/{name}"));
    fs::create_dir_all(&store).unwrap();
    fs::write(store.join("root.crt"), &chain.root.pem).unwrap();
}

fn sleep_until(when: OffsetDateTime) {
    let wait = when - OffsetDateTime::now_utc();
    std::thread::sleep(StdDuration::try_from(wait).unwrap_or_default());
}

#[test]
fn an_expired_certificate_verifies_both_ways_only_with_a_timestamp() {
    let t = Interop::new();
    let (tsa, tsa_root) = t.tsa();
    let tsa_root = tsa_root.to_str().unwrap();
    let url = tsa.url();
    let ts_flags = ["--timestamp-url", &url, "--timestamp-root-cert", tsa_root];
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    // Long enough to sign four times on a loaded machine.
    let not_after = now + Duration::seconds(10);
    short_lived_key(&t, "short", not_after);
    t.policy(&["ca:short", "tsa:tsa"]);

    let mut signed: Vec<(Image, bool)> = Vec::new();
    for format in FORMATS {
        let image = t.image(&format!("signet-ts-{format}"));
        t.signet_sign(&image, "short", format, &ts_flags);
        signed.push((image, true));
        let image = t.image(&format!("notation-ts-{format}"));
        t.notation_sign(&image, "short", format, &ts_flags);
        signed.push((image, true));
    }
    let image = t.image("signet-plain");
    t.signet_sign(&image, "short", "jws", &[]);
    signed.push((image, false));
    let image = t.image("notation-plain");
    t.notation_sign(&image, "short", "cose", &[]);
    signed.push((image, false));
    assert!(
        OffsetDateTime::now_utc() < not_after,
        "signing took too long: the certificate expired before the test could sign"
    );
    sleep_until(not_after + Duration::milliseconds(1500));

    for (image, timestamped) in &signed {
        let name = image.dir.display();
        let (ok, report) = t.signet_verify(image);
        let notation = t.notation_verify(image);
        if *timestamped {
            assert!(
                ok,
                "{name}: signet refused an expired but timestamped signature: {report:#}"
            );
            assert_timestamped(&report);
            expect(&notation, true, &[NOTATION_VERIFIED]);
        } else {
            assert!(
                !ok,
                "{name}: signet accepted an expired certificate without a timestamp: {report:#}"
            );
            assert_eq!(authentic_timestamp(&report)["result"], "failed", "{report:#}");
            expect(&notation, false, &[NOTATION_FAILED]);
        }
    }
}

/// The interop tests need the real notation binary; this fails, telling how
/// to install it, when it is missing.
#[test]
fn notation_is_installed() {
    let bin: PathBuf = testkit::notation::binary();
    assert!(Path::new(&bin).is_file());
    let out = std::process::Command::new(&bin).arg("version").output().unwrap();
    let version = text(&out);
    assert!(
        version.contains(testkit::notation::VERSION),
        "{} is not notation {}: {version}\nrun ./scripts/install-peers",
        bin.display(),
        testkit::notation::VERSION
    );
}
