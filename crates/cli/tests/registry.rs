//! Signatures in real registries, both ways with the reference CLI `notation`.
//!
//! Every case runs on two registries that the suite starts on loopback (see
//! `testkit::registry`):
//! - `Kind::Referrers`: go-containerregistry's registry with the OCI 1.1
//!   referrers API (zot, which the issue names, cannot be installed here: its
//!   Go module host is not reachable — see the README);
//! - `Kind::Distribution`: Debian's docker-registry 2.8 (distribution v2),
//!   which has no referrers API, so both tools use the `sha256-<hex>` tag
//!   fallback and maintain its index when they push.
//!
//! Both tools share one config directory (keys, trust store, trust policy):
//! what one signs, the other verifies and lists — JWS and COSE, RSA and ECDSA.
//! TLS, basic auth and the bearer-token flow run against the same servers.
#![allow(clippy::unwrap_used)]

mod common;

use std::{fs, process::Output, time::Instant};

use common::{Env, expect, text};
use serde_json::{Value, json};
use testkit::registry::{Auth, Kind, Options, Registry, SeededImage};

const NOTATION_VERIFIED: &str = "Successfully verified signature for";
const SIGNATURE_TYPE: &str = "application/vnd.cncf.notary.signature";

/// A registry, a shared config directory, and both tools pointed at it.
struct Setup {
    env: Env,
    reg: Registry,
}

impl Setup {
    fn new(kind: Kind, opts: Options) -> Self {
        let reg = Registry::start(kind, opts);
        let env = Env::shared_with_notation();
        if let Some((user, password)) = reg.credentials() {
            env.set_var("SIGNET_USERNAME", user);
            env.set_var("SIGNET_PASSWORD", password);
            env.set_var("NOTATION_USERNAME", user);
            env.set_var("NOTATION_PASSWORD", password);
        }
        if let Some(ca) = reg.ca_file() {
            // Go (notation) reads extra roots from SSL_CERT_FILE.
            env.set_var("SSL_CERT_FILE", ca.to_str().unwrap());
        }
        Self { env, reg }
    }

    fn plain(kind: Kind) -> Self {
        Self::new(kind, Options::default())
    }

    /// A TLS registry with basic auth as alice / wonderland (the credentials
    /// in the environment; its CA passed with `--ca-file`).
    fn tls_basic(kind: Kind) -> Self {
        Self::new(
            kind,
            Options {
                tls: true,
                auth: Auth::Basic {
                    username: "alice".into(),
                    password: "wonderland".into(),
                },
            },
        )
    }

    /// The flags that point signet at this registry.
    fn signet_flags(&self) -> Vec<String> {
        match self.reg.ca_file() {
            Some(ca) => vec!["--ca-file".into(), ca.to_str().unwrap().into()],
            None => vec!["--insecure-registry".into(), self.reg.host().into()],
        }
    }

    fn signet(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let flags = self.signet_flags();
        all.extend(flags.iter().map(String::as_str));
        self.env.signet(&all)
    }

    /// `notation ARGS REFERENCE` with `--insecure-registry` on a plain-HTTP registry.
    fn notation(&self, args: &[&str], reference: &str) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if self.reg.ca_file().is_none() {
            all.push("--insecure-registry");
        }
        all.push(reference);
        self.env.notation(&all)
    }

    fn image(&self, repo: &str) -> SeededImage {
        self.reg.seed_image(repo, "v1")
    }

    fn policy(&self, stores: &[&str]) {
        self.env.trust_all(stores);
    }

    fn signet_key(&self, name: &str, key_type: &str) {
        expect(
            &self
                .env
                .signet(&["cert", "generate-test", name, "--key-type", key_type]),
            true,
            &[],
        );
    }

    fn notation_key(&self, name: &str) {
        expect(&self.env.notation(&["cert", "generate-test", name]), true, &[]);
    }

    /// `signet sign`; returns the signature manifest digest.
    fn signet_sign(&self, reference: &str, key: &str, format: &str) -> String {
        let out = self.signet(&["sign", reference, "--key", key, "--signature-format", format]);
        expect(&out, true, &["Successfully signed"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let pushed = stdout
            .lines()
            .find_map(|l| l.strip_prefix("Pushed the signature to "))
            .unwrap_or_else(|| panic!("no signature digest printed:\n{}", text(&out)));
        pushed.rsplit('@').next().unwrap().trim().to_owned()
    }

    /// The signature manifest digests `signet ls -o json` lists.
    fn listed(&self, reference: &str) -> Vec<String> {
        let out = self.signet(&["ls", reference, "-o", "json"]);
        expect(&out, true, &[]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["digest"].as_str().unwrap().to_owned())
            .collect()
    }

    /// `notation sign`; returns the signature manifest it added (notation
    /// 1.3 does not print it), found by listing before and after.
    fn notation_sign(&self, reference: &str, key: &str, format: &str) -> String {
        let before = self.listed(reference);
        let out = self.notation(&["sign", "--key", key, "--signature-format", format], reference);
        expect(&out, true, &["Successfully signed"]);
        let added: Vec<String> = self
            .listed(reference)
            .into_iter()
            .filter(|d| !before.contains(d))
            .collect();
        assert_eq!(added.len(), 1, "notation sign added {added:?}");
        added[0].clone()
    }

    fn signet_verifies(&self, reference: &str) -> Value {
        let out = self.signet(&["verify", reference, "-o", "json"]);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("signet verify -o json printed no JSON ({e}):\n{}", text(&out)));
        assert!(out.status.success(), "signet verify failed: {report:#}");
        assert_eq!(report["verified"], true, "{report:#}");
        report
    }

    fn notation_verifies(&self, reference: &str) {
        expect(&self.notation(&["verify"], reference), true, &[NOTATION_VERIFIED]);
    }

    fn signet_lists(&self, reference: &str, signature: &str) {
        expect(
            &self.signet(&["ls", reference]),
            true,
            &[SIGNATURE_TYPE, signature],
        );
    }

    fn notation_lists(&self, reference: &str, signature: &str) {
        expect(
            &self.notation(&["ls"], reference),
            true,
            &[SIGNATURE_TYPE, signature],
        );
    }
}

/// signet signs → notation verifies and lists; notation signs → signet
/// verifies and lists: JWS and COSE, RSA and ECDSA, one image each.
fn interop_both_ways(kind: Kind) {
    let s = Setup::plain(kind);
    s.signet_key("signet-ec", "ec-256");
    s.signet_key("signet-rsa", "rsa-3072");
    s.notation_key("notation-rsa");
    s.policy(&["ca:signet-ec", "ca:signet-rsa", "ca:notation-rsa"]);
    for format in ["jws", "cose"] {
        for key in ["signet-ec", "signet-rsa"] {
            let image = s.image(&format!("by-signet/{key}-{format}"));
            let sig = s.signet_sign(&image.reference, key, format);
            s.notation_verifies(&image.reference);
            s.notation_lists(&image.reference, &sig);
            s.signet_lists(&image.reference, &sig);
            let report = s.signet_verifies(&image.reference);
            assert_eq!(report["signatures"][0]["signature"], sig.as_str(), "{report:#}");
        }
        // notation signs with its own RSA key and with signet's ECDSA key
        // (found through the shared signingkeys.json).
        for key in ["notation-rsa", "signet-ec"] {
            let image = s.image(&format!("by-notation/{key}-{format}"));
            let sig = s.notation_sign(&image.reference, key, format);
            assert!(sig.starts_with("sha256:"), "notation printed no signature digest");
            let report = s.signet_verifies(&image.reference);
            assert_eq!(report["signatures"][0]["signature"], sig.as_str(), "{report:#}");
            s.signet_lists(&image.reference, &sig);
            s.notation_lists(&image.reference, &sig);
        }
    }
}

#[test]
fn interop_on_a_registry_with_the_referrers_api() {
    interop_both_ways(Kind::Referrers);
}

#[test]
fn interop_on_a_registry_without_the_referrers_api() {
    interop_both_ways(Kind::Distribution);
}

/// Signing by tag signs the digest the tag points at, with a warning; both
/// signatures (signet's and notation's) then coexist in the tag-schema index
/// or the referrers listing.
fn sign_by_tag_and_coexist(kind: Kind) {
    let s = Setup::plain(kind);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("app");
    let by_tag = format!("{}/app:v1", s.reg.host());
    let out = s.signet(&["sign", &by_tag, "--key", "k"]);
    expect(&out, true, &["tags are mutable", &image.digest]);
    let sig2 = s.notation_sign(&image.reference, "k", "cose");
    let out = s.signet(&["ls", &by_tag, "-o", "json"]);
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digests: Vec<&str> = listed["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["digest"].as_str().unwrap())
        .collect();
    assert_eq!(digests.len(), 2, "{listed:#}");
    assert!(digests.contains(&sig2.as_str()), "{listed:#}");
    s.notation_verifies(&image.reference);
}

#[test]
fn sign_by_tag_then_notation_adds_a_second_signature_referrers_api() {
    sign_by_tag_and_coexist(Kind::Referrers);
}

#[test]
fn sign_by_tag_then_notation_adds_a_second_signature_tag_fallback() {
    sign_by_tag_and_coexist(Kind::Distribution);
}

#[test]
fn verify_many_images_at_once_reports_each() {
    let s = Setup::plain(Kind::Referrers);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let mut refs = Vec::new();
    for i in 0..6 {
        let image = s.image(&format!("many/app{i}"));
        s.signet_sign(&image.reference, "k", "jws");
        refs.push(image.reference);
    }
    let unsigned = s.image("many/unsigned").reference;
    let mut args: Vec<&str> = vec!["verify", "-o", "json"];
    args.extend(refs.iter().map(String::as_str));
    let out = s.signet(&args);
    expect(&out, true, &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verified"], true, "{doc:#}");
    assert_eq!(doc["results"].as_array().unwrap().len(), 6);

    // One unsigned image among them: exit 1, and only it fails.
    args.push(&unsigned);
    let out = s.signet(&args);
    assert!(!out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verified"], false);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    for r in &results[..6] {
        assert_eq!(r["verified"], true, "{r:#}");
    }
    assert_eq!(results[6]["verified"], false);
    assert!(
        results[6]["error"]
            .as_str()
            .unwrap()
            .contains("no signature is associated"),
        "{:#}",
        results[6]
    );
    // Text output: a line per image.
    let text_out = s.signet(&["verify", &refs[0], &unsigned]);
    expect(
        &text_out,
        false,
        &[
            "Successfully verified signature for",
            "no signature is associated",
        ],
    );
}

/// By digest, a verify asks for the referrers, the signature manifest and its
/// envelope — the fewest the protocol allows — and takes the artifact's media
/// type and size from the signature manifest's `subject`, which must then
/// match what was signed.
fn verify_by_digest(kind: Kind) {
    let s = Setup::plain(kind);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("bydigest/app");
    let sig = s.signet_sign(&image.reference, "k", "jws");
    let before = s.reg.request_count();
    let report = s.signet_verifies(&image.reference);
    let sent = s.reg.request_count() - before;
    // Without the referrers API, the probe for it comes first.
    let fewest = if kind == Kind::Referrers { 3 } else { 4 };
    assert_eq!(sent, fewest, "a verify by digest sent {sent} requests");
    assert_eq!(report["digest"], image.digest.as_str(), "{report:#}");
    s.notation_verifies(&image.reference);

    // An artifact that does not exist is reported as such, not as unsigned.
    let missing = format!("{}/bydigest/app@sha256:{}", s.reg.host(), "0".repeat(64));
    let out = s.signet(&["verify", &missing]);
    expect(&out, false, &["not found"]);

    // A signature manifest whose subject misdescribes the artifact (right
    // digest, wrong size) does not vouch for it: its signed payload says
    // otherwise.
    let fetched = s.reg.request("GET", &format!("/v2/bydigest/app/manifests/{sig}"));
    assert_eq!(fetched.status, 200);
    let mut manifest: Value = serde_json::from_slice(&fetched.body).unwrap();
    manifest["subject"]["size"] = json!(image.size + 1);
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let digest = testkit::registry::sha256_digest(&bytes);
    s.reg.push_manifest(
        "bydigest/app",
        &digest,
        "application/vnd.oci.image.manifest.v1+json",
        &bytes,
    );
    if kind == Kind::Distribution {
        // The tag-schema index lists referrers by hand: list the new one instead.
        let tag = image.digest.replace(':', "-");
        let index = s.reg.request("GET", &format!("/v2/bydigest/app/manifests/{tag}"));
        assert_eq!(index.status, 200);
        let mut index: Value = serde_json::from_slice(&index.body).unwrap();
        for m in index["manifests"].as_array_mut().unwrap() {
            if m["digest"] == sig.as_str() {
                m["digest"] = json!(digest);
                m["size"] = json!(bytes.len());
            }
        }
        s.reg.push_manifest(
            "bydigest/app",
            &tag,
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        );
    }
    let deleted = s
        .reg
        .request("DELETE", &format!("/v2/bydigest/app/manifests/{sig}"));
    assert!(deleted.status < 300, "cannot delete the signature: {deleted:?}");
    let out = s.signet(&["verify", &image.reference]);
    expect(
        &out,
        false,
        &[
            "content descriptor mismatch",
            &format!("{} bytes", image.size + 1),
        ],
    );
}

#[test]
fn verify_by_digest_referrers_api() {
    verify_by_digest(Kind::Referrers);
}

#[test]
fn verify_by_digest_tag_fallback() {
    verify_by_digest(Kind::Distribution);
}

/// What [`start_proxy`] saw.
#[derive(Default)]
struct ProxySeen {
    /// Plain-HTTP connections it forwarded (absolute-form request targets).
    relayed: std::sync::atomic::AtomicUsize,
    /// `CONNECT` tunnels it opened.
    tunnels: std::sync::atomic::AtomicUsize,
    /// Whether an `Authorization` header went through a tunnel in clear text.
    clear_credentials: std::sync::atomic::AtomicBool,
}

/// A forward proxy on loopback, as corporate networks run them: a request
/// head with an absolute-form target (`GET http://host/path`) is forwarded to
/// that host; `CONNECT host:port` opens a tunnel (`200`, then bytes both
/// ways), through which clients speak TLS to the registry. Lives until the
/// test process ends.
fn start_proxy() -> (String, std::sync::Arc<ProxySeen>) {
    use std::{
        io::{Read, Write},
        net::{Shutdown, TcpListener, TcpStream},
        sync::{Arc, atomic::Ordering},
    };
    /// Copies `from` to `to` until either side closes; flags an
    /// `Authorization` header seen in the bytes when `watch` is given.
    fn pump(mut from: TcpStream, mut to: TcpStream, watch: Option<&ProxySeen>) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(seen) = watch
                && buf[..n]
                    .to_ascii_lowercase()
                    .windows(b"authorization:".len())
                    .any(|w| w == b"authorization:")
            {
                seen.clear_credentials.store(true, Ordering::SeqCst);
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(ProxySeen::default());
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut client) = conn else { continue };
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let mut words = line.split(' ');
                let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let tunnel = method == "CONNECT";
                let host = if tunnel {
                    target
                } else {
                    match target.strip_prefix("http://").and_then(|r| r.split('/').next()) {
                        Some(host) => host,
                        None => return,
                    }
                };
                let Ok(mut upstream) = TcpStream::connect(host) else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
                    return;
                };
                if tunnel {
                    seen.tunnels.fetch_add(1, Ordering::SeqCst);
                    client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .unwrap();
                } else {
                    seen.relayed.fetch_add(1, Ordering::SeqCst);
                    upstream.write_all(&head).unwrap();
                }
                let (up, down) = (upstream.try_clone().unwrap(), client.try_clone().unwrap());
                let watched = Arc::clone(&seen);
                let forward = std::thread::spawn(move || pump(down, up, tunnel.then_some(&*watched)));
                pump(upstream, client, None);
                let _ = forward.join();
            });
        }
    });
    (addr, seen)
}

/// Points the process environment's proxy variables at nothing but `set`.
fn only_proxy_vars(s: &Setup, set: &[(&str, &str)]) {
    for var in [
        "ALL_PROXY",
        "all_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        s.env.set_var(var, "");
    }
    for (var, value) in set {
        s.env.set_var(var, value);
    }
}

/// `HTTP_PROXY` sends the requests through the proxy (signing and
/// verifying work through it); `NO_PROXY` naming the registry goes straight.
#[test]
fn an_http_proxy_from_the_environment_is_used() {
    use std::sync::atomic::Ordering;
    let s = Setup::plain(Kind::Referrers);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("proxied/app");
    let (proxy, seen) = start_proxy();
    only_proxy_vars(&s, &[("HTTP_PROXY", &format!("http://{proxy}"))]);
    s.signet_sign(&image.reference, "k", "jws");
    s.signet_verifies(&image.reference);
    let through = seen.relayed.load(Ordering::SeqCst);
    assert!(through > 0, "no connection went through the proxy");

    s.env.set_var("NO_PROXY", "127.0.0.1");
    s.signet_verifies(&image.reference);
    assert_eq!(
        seen.relayed.load(Ordering::SeqCst),
        through,
        "NO_PROXY names the registry: no proxy"
    );
}

/// `HTTPS_PROXY` and a TLS registry with basic auth: signet tunnels through
/// the proxy (`CONNECT`) and speaks TLS to the registry inside the tunnel,
/// with the `--ca-file` roots; signing, listing and verifying work, and the
/// proxy never sees the credentials.
#[test]
fn an_https_proxy_tunnels_to_a_tls_registry() {
    use std::sync::atomic::Ordering;
    let s = Setup::tls_basic(Kind::Referrers);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("tunnelled/app");
    let (proxy, seen) = start_proxy();
    only_proxy_vars(&s, &[("HTTPS_PROXY", &format!("http://{proxy}"))]);
    let sig = s.signet_sign(&image.reference, "k", "cose");
    assert_eq!(s.listed(&image.reference), vec![sig]);
    s.signet_verifies(&image.reference);
    assert!(
        seen.tunnels.load(Ordering::SeqCst) > 0,
        "no tunnel went through the proxy"
    );
    assert_eq!(
        seen.relayed.load(Ordering::SeqCst),
        0,
        "an https registry must be reached through a tunnel, not forwarded"
    );
    assert!(
        !seen.clear_credentials.load(Ordering::SeqCst),
        "the registry credentials crossed the proxy in clear text"
    );

    // A proxy that is not there: a clear error naming the registry and the
    // proxy (not its credentials), no hang.
    only_proxy_vars(&s, &[("HTTPS_PROXY", "http://user:secret@127.0.0.1:9")]);
    let out = s.signet(&["verify", &image.reference]);
    expect(
        &out,
        false,
        &[s.reg.host(), "through the proxy http://127.0.0.1:9 "],
    );
    assert!(!text(&out).contains("secret"), "{}", text(&out));
}

#[test]
fn discover_and_inspect_show_the_signature() {
    for kind in [Kind::Referrers, Kind::Distribution] {
        let s = Setup::plain(kind);
        s.signet_key("k", "ec-256");
        let image = s.image("app");
        let sig = s.signet_sign(&image.reference, "k", "cose");
        expect(
            &s.signet(&["discover", &image.reference]),
            true,
            &[SIGNATURE_TYPE, &sig],
        );
        let out = s.signet(&["discover", &image.reference, "-o", "json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["referrers"][0]["digest"], sig.as_str(), "{doc:#}");
        assert_eq!(doc["referrers"][0]["artifactType"], SIGNATURE_TYPE, "{doc:#}");
        expect(
            &s.signet(&["inspect", &image.reference]),
            true,
            &[
                "application/cose",
                "certificates",
                "signed artifact",
                &image.digest,
            ],
        );
    }
}

/// Referrers registry → docker-registry → OCI layout → back to a registry,
/// with signatures; at each stop both tools verify.
#[test]
fn copy_with_signatures_between_registries_and_layouts() {
    let a = Setup::plain(Kind::Referrers);
    let b = Registry::start(Kind::Distribution, Options::default());
    a.signet_key("k", "ec-256");
    a.notation_key("n");
    a.policy(&["ca:k", "ca:n"]);
    let image = a.image("src/app");
    a.signet_sign(&image.reference, "k", "jws");
    a.notation_sign(&image.reference, "n", "cose");

    let dst = format!("{}/mirror/app:v1", b.host());
    let out = a.env.signet(&[
        "copy",
        "--with-signatures",
        &image.reference,
        &dst,
        "--insecure-registry",
        a.reg.host(),
        "--insecure-registry",
        b.host(),
        "-o",
        "json",
    ]);
    expect(&out, true, &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["digest"], image.digest.as_str(), "{doc:#}");
    assert_eq!(doc["referrers"], 2, "{doc:#}");

    let copied = format!("{}/mirror/app@{}", b.host(), image.digest);
    let verify = a
        .env
        .signet(&["verify", &copied, "--insecure-registry", b.host()]);
    expect(&verify, true, &[NOTATION_VERIFIED]);
    expect(
        &a.env.notation(&["verify", "--insecure-registry", &copied]),
        true,
        &[NOTATION_VERIFIED],
    );
    let ls = a.env.notation(&["ls", "--insecure-registry", &copied]);
    assert_eq!(
        text(&ls).matches("sha256:").count(),
        3,
        "two signatures and the subject:\n{}",
        text(&ls)
    );

    // To an OCI layout, offline verification, then back into a registry.
    let layout = a.env.root.join("offline");
    let out = a.env.signet(&[
        "copy",
        "-r",
        "--to-oci-layout",
        &copied,
        layout.to_str().unwrap(),
        "--insecure-registry",
        b.host(),
    ]);
    expect(&out, true, &["Copied"]);
    let in_layout = format!("{}@{}", layout.display(), image.digest);
    expect(
        &a.env
            .signet(&["verify", "--oci-layout", &in_layout, "--scope", "local/offline"]),
        true,
        &[NOTATION_VERIFIED],
    );
    expect(
        &a.env
            .notation(&["verify", "--oci-layout", "--scope", "local/offline", &in_layout]),
        true,
        &[NOTATION_VERIFIED],
    );
    let back = format!("{}/restored/app:v1", a.reg.host());
    expect(
        &a.signet(&["copy", "-r", "--from-oci-layout", &in_layout, &back]),
        true,
        &["Copied"],
    );
    a.notation_verifies(&format!("{}/restored/app@{}", a.reg.host(), image.digest));
    // Copying again finds everything present.
    let again = a.signet(&["copy", "-r", "--from-oci-layout", &in_layout, &back, "-o", "json"]);
    let doc: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(doc["blobsCopied"], 0, "{doc:#}");
}

/// A multi-platform image (an OCI index of two images) signed by its index
/// digest, copied with its signature to a registry without the referrers API:
/// every child manifest arrives, and both tools verify the copy.
#[test]
fn copy_of_a_multi_platform_index_with_its_signature() {
    let a = Setup::plain(Kind::Referrers);
    let b = Registry::start(Kind::Distribution, Options::default());
    a.signet_key("k", "ec-256");
    a.policy(&["ca:k"]);
    let amd64 = a.reg.seed_image("multi/app", "amd64");
    let arm64 = a.reg.seed_image("multi/app", "arm64");
    let index = json!({
        "schemaVersion": 2,
        "mediaType": testkit::registry::OCI_INDEX,
        "manifests": [
            { "mediaType": amd64.media_type, "digest": amd64.digest, "size": amd64.size,
              "platform": { "architecture": "amd64", "os": "linux" } },
            { "mediaType": arm64.media_type, "digest": arm64.digest, "size": arm64.size,
              "platform": { "architecture": "arm64", "os": "linux" } },
        ],
    })
    .to_string();
    let index_digest = a
        .reg
        .push_manifest("multi/app", "v1", testkit::registry::OCI_INDEX, index.as_bytes());
    let src = format!("{}/multi/app@{index_digest}", a.reg.host());
    a.signet_sign(&src, "k", "cose");

    let out = a.env.signet(&[
        "copy",
        "-r",
        &src,
        &format!("{}/mirror/multi:v1", b.host()),
        "--insecure-registry",
        a.reg.host(),
        "--insecure-registry",
        b.host(),
        "-o",
        "json",
    ]);
    expect(&out, true, &[]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["manifests"], 4, "index, two images, the signature: {doc:#}");
    for child in [&amd64.digest, &arm64.digest, &index_digest] {
        let reply = b.request("HEAD", &format!("/v2/mirror/multi/manifests/{child}"));
        assert_eq!(reply.status, 200, "{child} missing at the destination");
    }
    let copied = format!("{}/mirror/multi@{index_digest}", b.host());
    expect(
        &a.env
            .signet(&["verify", &copied, "--insecure-registry", b.host()]),
        true,
        &[NOTATION_VERIFIED],
    );
    expect(
        &a.env.notation(&["verify", "--insecure-registry", &copied]),
        true,
        &[NOTATION_VERIFIED],
    );
}

// ------------------------------------------------------------ TLS and auth

fn tls_basic_auth(kind: Kind) {
    let s = Setup::tls_basic(kind);
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("secure/app");
    let sig = s.signet_sign(&image.reference, "k", "jws");
    s.signet_verifies(&image.reference);
    s.notation_verifies(&image.reference);
    s.notation_lists(&image.reference, &sig);

    // Without the CA: a TLS error that says what to do.
    s.env.unset_var("SSL_CERT_FILE");
    let out = s.env.signet(&["verify", &image.reference]);
    expect(&out, false, &[s.reg.host(), "certificate"]);

    // Wrong password: one clear error, no retry storm.
    s.env.set_var("SIGNET_PASSWORD", "wrong");
    let before = s.reg.request_count();
    let out = s.signet(&["verify", &image.reference]);
    expect(&out, false, &["authentication failed", s.reg.host()]);
    let sent = s.reg.request_count() - before;
    assert!(sent <= 3, "a failed login took {sent} requests");

    // No credentials: the same clear error.
    s.env.unset_var("SIGNET_USERNAME");
    s.env.unset_var("SIGNET_PASSWORD");
    let out = s.signet(&["ls", &image.reference]);
    expect(&out, false, &[s.reg.host()]);
    assert!(
        text(&out).contains("signet login") || text(&out).contains("authentication"),
        "{}",
        text(&out)
    );

    // signet login stores the credentials in docker's config.json; later
    // commands use them; logout removes them.
    let host = s.reg.host().to_owned();
    let ca = s.reg.ca_file().unwrap().to_str().unwrap().to_owned();
    expect(
        &s.env
            .signet(&["login", &host, "-u", "alice", "-p", "wrong", "--ca-file", &ca]),
        false,
        &["authentication failed"],
    );
    expect(
        &s.env.signet(&[
            "login",
            &host,
            "-u",
            "alice",
            "-p",
            "wonderland",
            "--ca-file",
            &ca,
        ]),
        true,
        &["Login Succeeded"],
    );
    let docker_config = fs::read_to_string(s.env.root.join("docker/config.json")).unwrap();
    assert!(docker_config.contains(&host), "{docker_config}");
    s.signet_verifies(&image.reference);
    expect(
        &s.env.signet(&["logout", &host]),
        true,
        &["Removing login credentials"],
    );
    expect(&s.signet(&["verify", &image.reference]), false, &[]);
}

#[test]
fn tls_and_basic_auth_on_a_registry_with_the_referrers_api() {
    tls_basic_auth(Kind::Referrers);
}

#[test]
fn tls_and_basic_auth_on_docker_registry() {
    tls_basic_auth(Kind::Distribution);
}

#[test]
fn bearer_token_flow_against_docker_registry() {
    let s = Setup::new(
        Kind::Distribution,
        Options {
            tls: false,
            auth: Auth::Token {
                username: "ci".into(),
                password: "s3cret".into(),
            },
        },
    );
    s.signet_key("k", "ec-256");
    s.policy(&["ca:k"]);
    let image = s.image("token/app");
    let sig = s.signet_sign(&image.reference, "k", "cose");
    let (tokens_before, registry_before) = (s.reg.token_request_count(), s.reg.request_count());
    s.notation_verifies(&image.reference);
    eprintln!(
        "notation verify with the bearer-token flow: {} registry requests, {} token requests",
        s.reg.request_count() - registry_before,
        s.reg.token_request_count() - tokens_before
    );
    s.notation_lists(&image.reference, &sig);
    let before = s.reg.token_request_count();
    let before_registry = s.reg.request_count();
    s.signet_verifies(&image.reference);
    let tokens = s.reg.token_request_count() - before;
    let requests = s.reg.request_count() - before_registry;
    eprintln!(
        "cold verify with the bearer-token flow: {requests} registry requests, {tokens} token requests"
    );
    assert_eq!(
        tokens, 1,
        "one verify asked the token server {tokens} times (tokens are cached per scope)"
    );
    // The 401 that tells the challenge, its retry with the token, then the
    // referrers API (404 here), the tag-schema index, the signature manifest
    // and the envelope.
    assert!(requests <= 6, "a cold verify took {requests} registry requests");
    s.env.set_var("SIGNET_PASSWORD", "wrong");
    let before = s.reg.token_request_count();
    let out = s.signet(&["verify", &image.reference]);
    expect(&out, false, &["authentication failed"]);
    assert!(
        s.reg.token_request_count() - before <= 2,
        "retry storm on the token server"
    );
}

// --------------------------------------------------------- hostile registry

#[test]
fn hostile_registry_gives_bounded_clear_errors() {
    use testkit::hostile::HostileRegistry;
    let h = HostileRegistry::start();
    let env = Env::shared_with_notation();
    expect(
        &env.signet(&["cert", "generate-test", "k", "--key-type", "ec-256"]),
        true,
        &[],
    );
    env.trust_all(&["ca:k"]);
    let host = h.host().to_owned();
    let cases: &[(&str, &[&str])] = &[
        ("oversized/manifest", &["larger than"]),
        ("oversized/chunked", &["larger than"]),
        ("garbage/envelope", &["signature verification failed"]),
        ("many/referrers", &["signature verification failed"]),
        ("stall/connection", &["within 3s", "stalled"]),
        ("stall/body", &["within 3s"]),
        ("huge/referrers", &["larger than 4194304"]),
    ];
    for (repo, words) in cases {
        let reference = format!("{host}/{repo}:v1");
        let started = Instant::now();
        let out = env.signet(&[
            "verify",
            &reference,
            "--insecure-registry",
            &host,
            "--registry-timeout",
            "3",
        ]);
        let took = started.elapsed();
        assert!(!out.status.success(), "{repo}: verified?\n{}", text(&out));
        let all = text(&out).to_lowercase();
        for w in *words {
            assert!(
                all.contains(&w.to_lowercase()),
                "{repo}: output lacks {w:?}:\n{all}"
            );
        }
        assert!(took.as_secs() < 20, "{repo}: took {took:?}");
    }
    // A manifest that does not hash to its digest: verify never reads the
    // subject's bytes (it signs and checks the descriptor), copy does.
    let out = env.signet(&[
        "copy",
        &format!("{host}/mismatch/manifest:v1"),
        "--to-oci-layout",
        env.root.join("out").to_str().unwrap(),
        "--insecure-registry",
        &host,
        "--registry-timeout",
        "3",
    ]);
    expect(&out, false, &["digest mismatch"]);
    let fetched = h.requests_for("/v2/many/referrers/manifests/sha256:");
    assert!(fetched <= 101, "examined {fetched} signature manifests of 1000");
}
