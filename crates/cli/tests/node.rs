//! On the node: the signed verifier config bundle, `signet serve node`, and
//! `signet-containerd-verifier` invoked exactly as containerd's bindir
//! plugin invokes it (`-name`, `-digest`, `-stdin-media-type`, the OCI
//! descriptor on stdin, exit 0 = allow), against images in a real registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use common::{Env, expect, text};
use serde_json::{Value, json};
use testkit::registry::{Kind, Options, Registry};

const BUNDLE_SIGNER: &str = "x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=bundles";
const POLL: Duration = Duration::from_millis(300);

struct Node {
    env: Env,
    reg: Registry,
    dir: PathBuf,
    agent: Option<Child>,
    next_version: u64,
    metrics_port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop_agent();
    }
}

impl Node {
    fn new() -> Self {
        let reg = Registry::start(Kind::Referrers, Options::default());
        let env = Env::shared_with_notation();
        for (name, ty) in [
            ("images", "ec-256"),
            ("bundles", "ec-256"),
            ("intruder", "ec-256"),
        ] {
            expect(
                &env.signet(&["cert", "generate-test", name, "--key-type", ty]),
                true,
                &[],
            );
        }
        let dir = env.root.join("node");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("policy.yaml"),
            format!(
                "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: node}}\nspec:\n  images: ['{}/**']\n  verification:\n    signatureVerification: {{level: strict}}\n    trustStores: ['ca:images']\n    trustedIdentities: ['*']\n",
                reg.host()
            ),
        )
        .unwrap();
        Self {
            env,
            reg,
            dir,
            agent: None,
            next_version: 1,
            metrics_port: testkit::revocation::free_port(),
        }
    }

    fn cert(&self, key: &str) -> PathBuf {
        self.env.config.join(format!("localkeys/{key}.crt"))
    }

    /// `signet bundle create` (+ sign with `signer`) into `bundle.json`; returns the version.
    fn publish(&mut self, revoked: &[&str], expires_in: &str, signer: &str) -> u64 {
        let version = self.next_version;
        self.next_version += 1;
        self.publish_version(version, revoked, expires_in, signer);
        version
    }

    fn publish_version(&self, version: u64, revoked: &[&str], expires_in: &str, signer: &str) {
        let (bundle, sig) = self.stage(version, revoked, expires_in, signer);
        self.serve_files(&bundle, &sig);
    }

    /// `signet bundle create` + `signet bundle sign`; the bundle and its signature.
    fn stage(&self, version: u64, revoked: &[&str], expires_in: &str, signer: &str) -> (Vec<u8>, Vec<u8>) {
        let revoked_file = self.dir.join("revoked.txt");
        fs::write(&revoked_file, revoked.join("\n")).unwrap();
        let trust = format!("ca:images={}", self.cert("images").display());
        let staged = self.dir.join(format!("staged-{version}.json"));
        expect(
            &self.env.signet(&[
                "bundle",
                "create",
                "--bundle-version",
                &version.to_string(),
                "--expires-in",
                expires_in,
                "--policy",
                self.dir.join("policy.yaml").to_str().unwrap(),
                "--trust-store",
                &trust,
                "--revoked",
                revoked_file.to_str().unwrap(),
                "-o",
                staged.to_str().unwrap(),
            ]),
            true,
            &[],
        );
        expect(
            &self
                .env
                .signet(&["bundle", "sign", staged.to_str().unwrap(), "--key", signer]),
            true,
            &["Signed bundle"],
        );
        (
            fs::read(&staged).unwrap(),
            fs::read(format!("{}.sig", staged.display())).unwrap(),
        )
    }

    /// The bundle and its signature as they are published now.
    fn published(&self) -> [(&'static str, Vec<u8>); 2] {
        ["bundle.json", "bundle.json.sig"].map(|name| (name, fs::read(self.dir.join(name)).unwrap()))
    }

    /// Puts `bundle` and `sig` where the agent polls (signature first, then the bundle, each atomically).
    fn serve_files(&self, bundle: &[u8], sig: &[u8]) {
        for (name, bytes) in [("bundle.json.sig", sig), ("bundle.json", bundle)] {
            let tmp = self.dir.join(format!("{name}.tmp"));
            fs::write(&tmp, bytes).unwrap();
            fs::rename(&tmp, self.dir.join(name)).unwrap();
        }
    }

    /// `signet bundle verify SOURCE --trust-root ROOT --identity <bundle signer> EXTRA…`.
    fn bundle_verify(&self, source: &str, root: &std::path::Path, extra: &[&str]) -> Output {
        let mut args = vec![
            "bundle",
            "verify",
            source,
            "--trust-root",
            root.to_str().unwrap(),
            "--identity",
            BUNDLE_SIGNER,
        ];
        args.extend_from_slice(extra);
        self.env.signet(&args)
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("run/node.sock")
    }

    fn node_config(&self) -> PathBuf {
        let path = self.dir.join("node.json");
        let config = json!({
            "socket": self.socket(),
            "stateDir": self.dir.join("state"),
            "bundle": {
                "source": format!("file://{}", self.dir.join("bundle.json").display()),
                "trustRoot": self.cert("bundles"),
                "identities": [BUNDLE_SIGNER],
                "pollInterval": format!("{}ms", POLL.as_millis()),
            },
            "registry": { "insecure": [self.reg.host()], "timeout": "5s" },
            "metricsListen": format!("127.0.0.1:{}", self.metrics_port),
        });
        fs::write(&path, config.to_string()).unwrap();
        path
    }

    fn start_agent(&mut self) {
        // A killed agent leaves its socket file behind.
        let _ = fs::remove_file(self.socket());
        let log = fs::File::create(self.dir.join("agent.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["serve", "node", "--config"])
            .arg(self.node_config())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agent = Some(child);
        let started = Instant::now();
        while !self.socket().exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the agent did not start:\n{}",
                self.agent_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop_agent(&mut self) {
        if let Some(mut c) = self.agent.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn agent_log(&self) -> String {
        fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// Runs the verifier as containerd does for `name` pinned at `digest` (size `size`).
    fn pull_check(&self, name: &str, digest: &str, size: u64, mode: &str) -> Output {
        let config = self.dir.join(format!("verifier-{mode}.json"));
        fs::write(
            &config,
            json!({ "socket": self.socket(), "timeoutMs": 5000, "mode": mode }).to_string(),
        )
        .unwrap();
        let descriptor =
            json!({ "mediaType": testkit::registry::OCI_MANIFEST, "digest": digest, "size": size });
        let out = verifier(&config, name, digest, &descriptor);
        eprintln!(
            "verifier {name} ({mode}) → {:?}\n{}",
            out.status.code(),
            text(&out)
        );
        out
    }

    fn sign_image(&self, reference: &str) {
        expect(
            &self.env.signet(&[
                "sign",
                reference,
                "--key",
                "images",
                "--insecure-registry",
                self.reg.host(),
            ]),
            true,
            &["Successfully signed"],
        );
    }

    /// Waits until a check of the image comes out as `allowed` (at most 10 s); returns how long it took.
    fn until(&self, name: &str, digest: &str, size: u64, allowed: bool) -> Duration {
        let started = Instant::now();
        loop {
            let out = self.pull_check(name, digest, size, "enforce");
            if out.status.success() == allowed {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no change in 10 s:\n{}",
                self.agent_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `signet-containerd-verifier` run as containerd runs it, configured by `config`.
fn verifier(config: &std::path::Path, name: &str, digest: &str, descriptor: &Value) -> Output {
    testkit::containerd::invoke_verifier(
        std::path::Path::new(env!("CARGO_BIN_EXE_signet-containerd-verifier")),
        config,
        name,
        digest,
        descriptor,
    )
}

/// The OCI descriptor of `image`, as containerd passes it on stdin.
fn descriptor(image: &testkit::registry::SeededImage) -> Value {
    json!({ "mediaType": image.media_type, "digest": image.digest, "size": image.size })
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn pull_decisions_follow_the_signed_bundle() {
    let mut n = Node::new();
    let signed = n.reg.seed_image("apps/signed", "v1");
    n.sign_image(&signed.reference);
    let unsigned = n.reg.seed_image("apps/unsigned", "v1");
    let signed_name = format!("{}/apps/signed:v1", n.reg.host());
    let unsigned_name = format!("{}/apps/unsigned:v1", n.reg.host());

    // No bundle yet: enforce refuses everything, saying why.
    n.start_agent();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(n.socket()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the socket is the owner's alone");
        let dir_mode = fs::metadata(n.socket().parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
    let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no verifier config bundle"),
        "{}",
        text(&out)
    );

    // Version 1: the signed image pulls, the unsigned one does not.
    let v1 = n.publish(&[], "1h", "bundles");
    n.until(&signed_name, &signed.digest, signed.size, true);
    let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
    assert!(stdout(&out).contains("signet: allowed"), "{}", text(&out));
    let out = n.pull_check(&unsigned_name, &unsigned.digest, unsigned.size, "enforce");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("no signature is associated"),
        "{}",
        text(&out)
    );
    // warn and audit modes let it through and say so.
    for mode in ["warn", "audit"] {
        let out = n.pull_check(&unsigned_name, &unsigned.digest, unsigned.size, mode);
        assert!(out.status.success(), "{}", text(&out));
        assert!(stdout(&out).contains("would refuse"), "{}", text(&out));
    }
    // The descriptor on stdin must match -digest: a mismatch is refused unasked.
    let config = n.dir.join("verifier-enforce.json");
    let out = verifier(&config, &signed_name, &signed.digest, &descriptor(&unsigned));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stdout(&out).contains("the descriptor on stdin names"),
        "{}",
        text(&out)
    );

    // Version 2 revokes the signed image's digest: refused within one poll interval.
    let v2 = n.publish(&[&signed.digest], "1h", "bundles");
    let took = n.until(&signed_name, &signed.digest, signed.size, false);
    eprintln!("revocation reached the decision {took:?} after the bundle changed (poll interval {POLL:?})");
    assert!(took < POLL * 4, "revocation took {took:?}");
    let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
    assert!(stdout(&out).contains("revocation list"), "{}", text(&out));

    // Attacks on the bundle: each is refused and version 2 stays in force.
    let v2_bundle = fs::read(n.dir.join("bundle.json")).unwrap();
    let v2_sig = fs::read(n.dir.join("bundle.json.sig")).unwrap();
    type Attack = Box<dyn Fn(&mut Node)>;
    let attacks: Vec<(&str, Attack)> = vec![
        (
            "rollback",
            Box::new(move |n: &mut Node| n.publish_version(v1, &[], "1h", "bundles")),
        ),
        (
            "wrong signer",
            Box::new(|n: &mut Node| {
                n.publish(&[], "1h", "intruder");
            }),
        ),
        (
            "expired",
            Box::new(|n: &mut Node| {
                // Signed while valid, offered only after it expired.
                let v = n.next_version;
                n.next_version += 1;
                let (b, s) = n.stage(v, &[], "1s", "bundles");
                std::thread::sleep(Duration::from_millis(1500));
                n.serve_files(&b, &s);
            }),
        ),
        ("truncated", {
            let (b, s) = (v2_bundle.clone(), v2_sig.clone());
            Box::new(move |n: &mut Node| n.serve_files(&b[..b.len() / 2], &s))
        }),
        ("oversized", {
            let s = v2_sig.clone();
            Box::new(move |n: &mut Node| n.serve_files(&vec![b' '; 5 * 1024 * 1024], &s))
        }),
    ];
    let refusals = |n: &Node| n.agent_log().matches("bundle not taken").count();
    for (name, attack) in attacks {
        attack(&mut n);
        // Two polls after the attack is in place: the agent has looked at it.
        let before = refusals(&n);
        let started = Instant::now();
        while refusals(&n) < before + 2 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: the revoked image must stay refused\n{}",
            text(&out)
        );
        let unsigned_out = n.pull_check(&unsigned_name, &unsigned.digest, unsigned.size, "enforce");
        assert_eq!(unsigned_out.status.code(), Some(1), "{name}");
        eprintln!("{name}: refused");
    }
    let log = n.agent_log();
    for word in ["rollback", "bundle signature refused", "expired", "larger than"] {
        assert!(log.contains(word), "the agent log lacks {word:?}:\n{log}");
    }
    // The same checks from the command line, as an operator runs them.
    n.serve_files(&v2_bundle, &v2_sig);
    let source = n.dir.join("bundle.json");
    let source = source.to_str().unwrap();
    let root = n.cert("bundles");
    let out = n.bundle_verify(source, &root, &["--min-version", &v2.to_string()]);
    expect(&out, true, &["version 2"]);
    let out = n.bundle_verify(source, &n.cert("intruder"), &[]);
    expect(&out, false, &["bundle signature refused"]);
    let out = n.bundle_verify(source, &root, &["--min-version", "99"]);
    expect(&out, false, &["rollback"]);

    // A restarted agent keeps version 2 (from its state directory), even
    // with the feed gone.
    n.stop_agent();
    // Agent down: enforce refuses, audit allows with a message.
    let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("unavailable"), "{}", text(&out));
    let out = n.pull_check(&unsigned_name, &unsigned.digest, unsigned.size, "audit");
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("allowed unverified in audit mode"),
        "{}",
        text(&out)
    );
    fs::remove_file(n.dir.join("bundle.json")).unwrap();
    n.start_agent();
    let out = n.pull_check(&signed_name, &signed.digest, signed.size, "enforce");
    assert!(
        stdout(&out).contains("revocation list"),
        "{}\n{}",
        text(&out),
        n.agent_log()
    );

    // Direct mode: the verifier judges in its own process from a node
    // configuration (its own state directory), no agent asked.
    let third = n.reg.seed_image("apps/third", "v1");
    n.sign_image(&third.reference);
    let direct_config = n.dir.join("node-direct.json");
    let mut doc: Value = serde_json::from_slice(&fs::read(n.node_config()).unwrap()).unwrap();
    doc["stateDir"] = json!(n.dir.join("state-direct"));
    doc["socket"] = json!(n.dir.join("nowhere.sock"));
    fs::write(&direct_config, doc.to_string()).unwrap();
    n.serve_files(&v2_bundle, &v2_sig);
    let direct = |name: &str, image: &testkit::registry::SeededImage| {
        let config = n.dir.join("verifier-direct.json");
        fs::write(
            &config,
            json!({ "direct": direct_config, "mode": "enforce" }).to_string(),
        )
        .unwrap();
        verifier(&config, name, &image.digest, &descriptor(image))
    };
    let out = direct(&format!("{}/apps/third:v1", n.reg.host()), &third);
    assert!(out.status.success(), "{}", text(&out));
    let out = direct(&signed_name, &signed);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout(&out).contains("revocation list"), "{}", text(&out));

    // The agent's metrics: decisions ran through its engine, and the refused bundles were counted.
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{}/metrics", n.metrics_port))
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("signet_node_verifications_total"), "{metrics}");
    assert!(metrics.contains("signet_node_reload_errors_total"), "{metrics}");

    // runtime scan: the running images, by digest; the revoked one is listed.
    let list = n.dir.join("running.txt");
    fs::write(
        &list,
        format!(
            "{}@{}\n{}@{}\n",
            signed_name.trim_end_matches(":v1"),
            signed.digest,
            unsigned_name.trim_end_matches(":v1"),
            unsigned.digest
        ),
    )
    .unwrap();
    let out = n.env.signet(&[
        "runtime",
        "scan",
        list.to_str().unwrap(),
        "--socket",
        n.socket().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["scanned"], 2);
    assert_eq!(doc["refused"], 2);
}

#[test]
fn a_stale_bundle_fails_closed() {
    let mut n = Node::new();
    let signed = n.reg.seed_image("apps/signed", "v1");
    n.sign_image(&signed.reference);
    let name = format!("{}/apps/signed:v1", n.reg.host());
    n.publish(&[], "3s", "bundles");
    n.start_agent();
    n.until(&name, &signed.digest, signed.size, true);
    // The feed stops; the bundle in force expires: refused, with the reason.
    let started = Instant::now();
    n.until(&name, &signed.digest, signed.size, false);
    eprintln!("refused {:?} after the feed stopped", started.elapsed());
    let out = n.pull_check(&name, &signed.digest, signed.size, "enforce");
    assert!(stdout(&out).contains("stale"), "{}", text(&out));
}

#[test]
fn the_bundle_travels_as_a_signed_oci_artifact() {
    let mut n = Node::new();
    n.publish(&[], "1h", "bundles");
    let reference = format!("{}/signet/bundle:current", n.reg.host());
    let out = n.env.signet(&[
        "bundle",
        "publish",
        n.dir.join("bundle.json").to_str().unwrap(),
        &reference,
        "--key",
        "bundles",
        "--insecure-registry",
        n.reg.host(),
    ]);
    expect(&out, true, &["Published bundle version 1"]);
    let source = format!("oci://{reference}");
    let out = n.bundle_verify(
        &source,
        &n.cert("bundles"),
        &["--insecure-registry", n.reg.host()],
    );
    expect(&out, true, &["version 1"]);
    // notation verifies the bundle artifact's signature too.
    n.env.trust_all(&["ca:bundles"]);
    let out = n.env.notation(&["verify", "--insecure-registry", &reference]);
    expect(&out, true, &["Successfully verified"]);
    // And an agent polls it from there.
    let signed = n.reg.seed_image("apps/signed", "v1");
    n.sign_image(&signed.reference);
    let config = n.node_config();
    let mut doc: Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    doc["bundle"]["source"] = json!(source);
    fs::write(&config, doc.to_string()).unwrap();
    let log = fs::File::create(n.dir.join("agent.log")).unwrap();
    n.agent = Some(
        Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["serve", "node", "--config"])
            .arg(&config)
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let name = format!("{}/apps/signed:v1", n.reg.host());
    let started = Instant::now();
    while !n.socket().exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    n.until(&name, &signed.digest, signed.size, true);
}

/// The real thing: containerd 2.x pulls through its transfer service, and
/// its bindir plugin runs `signet-containerd-verifier`, which asks the agent.
#[test]
fn containerd_pulls_only_what_the_node_agent_allows() {
    use std::os::unix::fs::PermissionsExt;
    use testkit::containerd::{Containerd, Options};

    let mut n = Node::new();
    let signed = n.reg.seed_pullable_image("apps/signed", "v1");
    n.sign_image(&signed.reference);
    let other = n.reg.seed_pullable_image("apps/other", "v1");
    n.sign_image(&other.reference);
    n.reg.seed_pullable_image("apps/unsigned", "v1");
    let host = n.reg.host().to_owned();
    n.publish(&[], "1h", "bundles");
    n.start_agent();
    n.until(
        &format!("{host}/apps/signed:v1"),
        &signed.digest,
        signed.size,
        true,
    );

    // containerd passes the verifier nothing but its flags: a wrapper in
    // bin_dir points it at its configuration.
    let verifiers = n.dir.join("verifiers");
    fs::create_dir_all(&verifiers).unwrap();
    let config = n.dir.join("containerd-verifier.json");
    let socket = n.socket();
    let set_mode = |mode: &str| {
        fs::write(
            &config,
            json!({ "socket": socket, "timeoutMs": 3000, "mode": mode }).to_string(),
        )
        .unwrap();
    };
    set_mode("enforce");
    let wrapper = verifiers.join("signet");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nSIGNET_CONTAINERD_VERIFIER_CONFIG='{}' exec '{}' \"$@\"\n",
            config.display(),
            env!("CARGO_BIN_EXE_signet-containerd-verifier")
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    let ctd = match Containerd::start(Options {
        verifier_dir: Some(verifiers.clone()),
        per_verifier_timeout: Duration::from_secs(10),
    }) {
        Ok(c) => c,
        Err(e) => panic!(
            "\n*** containerd cannot run here: {e} ***\n(the verifier is still tested as containerd invokes it in pull_decisions_follow_the_signed_bundle)\n"
        ),
    };

    // Signed: pulled. Unsigned: refused with signet's reason.
    let out = ctd.pull(&format!("{host}/apps/signed:v1"), true);
    expect(&out, true, &[]);
    let out = ctd.pull(&format!("{host}/apps/unsigned:v1"), true);
    expect(
        &out,
        false,
        &[
            "image verifier bindir blocked pull",
            "signet: refused",
            "no signature is associated",
        ],
    );
    assert!(
        !ctd.images().iter().any(|i| i.contains("unsigned")),
        "{:?}",
        ctd.images()
    );

    // The digest is revoked in a new bundle: refused within one poll interval.
    n.publish(&[&signed.digest], "1h", "bundles");
    let changed = Instant::now();
    let out = loop {
        let out = ctd.pull(&format!("{host}/apps/signed:v1"), true);
        if !out.status.success() || changed.elapsed() > Duration::from_secs(10) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = changed.elapsed();
    expect(&out, false, &["signet: refused", "revocation list"]);
    eprintln!(
        "containerd refused the revoked digest {took:?} after the bundle changed (poll interval {POLL:?})"
    );
    assert!(took < POLL * 4, "{took:?}");

    // Agent down: enforce refuses; audit allows, and says so in containerd's log.
    n.stop_agent();
    let out = ctd.pull(&format!("{host}/apps/other:v1"), true);
    expect(&out, false, &["signet: refused", "unavailable"]);
    set_mode("audit");
    let out = ctd.pull(&format!("{host}/apps/other:v1"), true);
    expect(&out, true, &[]);
    assert!(ctd.log().contains("allowed unverified"), "{}", ctd.log());
}

#[test]
fn the_bundle_is_fetched_over_http_with_its_detached_signature() {
    let mut n = Node::new();
    n.publish(&[], "1h", "bundles");
    let web = testkit::revocation::HttpServer::start(0);
    for (name, bytes) in n.published() {
        web.serve(name, bytes);
    }
    let url = web.url("bundle.json");
    let root = n.cert("bundles");
    let verify = || n.bundle_verify(&url, &root, &[]);
    let out = verify();
    expect(&out, true, &["version 1"]);
    // A tampered copy on the server is refused.
    let mut tampered = fs::read(n.dir.join("bundle.json")).unwrap();
    let at = tampered.iter().position(|b| *b == b'1').unwrap();
    tampered[at] = b'2';
    web.serve("bundle.json", tampered);
    let out = verify();
    expect(&out, false, &["integrity validation failed"]);
    // Missing signature: refused, naming the URL.
    web.route("bundle.json.sig", testkit::revocation::Route::Status(404));
    let out = verify();
    expect(&out, false, &["bundle.json.sig", "404"]);
}

#[test]
fn the_bundle_is_fetched_over_https_with_the_given_ca() {
    let mut n = Node::new();
    n.publish(&[], "1h", "bundles");
    let web = testkit::tls::HttpsFiles::start(&n.env.root);
    for (name, bytes) in n.published() {
        web.serve(name, bytes);
    }
    let url = web.url("bundle.json");
    let root = n.cert("bundles");
    let args = |extra: &[&str]| n.bundle_verify(&url, &root, extra);
    // Without the server's CA: refused, naming the certificate problem.
    let out = args(&[]);
    expect(&out, false, &["cannot fetch the bundle", "certificate"]);
    // With it: verified.
    let out = args(&["--ca-file", web.tls.ca_file.to_str().unwrap()]);
    expect(&out, true, &["version 1"]);
}
