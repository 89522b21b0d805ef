//! `signet serve admission`: the real server (the `signet` binary) on
//! loopback, asked over HTTPS exactly as the Kubernetes API server and
//! Gatekeeper ask it — AdmissionReview v1 and ProviderRequest JSON bodies —
//! about images in a real registry signed by signet and by notation.
//!
//! No API server can run here, so the tests play its part: they POST the
//! review, decode the JSONPatch and check what it would apply.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::Barrier,
    time::{Duration, Instant},
};

use base64::Engine as _;
use common::{Env, expect};
use serde_json::{Value, json};
use testkit::{
    admission::{AdmissionServer, pod_review, pod_spec, review},
    hostile::HostileRegistry,
    registry::{Kind, Options, Registry},
    tls::TlsFiles,
};

/// A registry with signed and unsigned images, and the server in front of it.
struct Fixture {
    env: Env,
    reg: Registry,
    server: AdmissionServer,
    /// Where policies live (the server re-reads it).
    policy_dir: PathBuf,
    revocation_list: PathBuf,
}

const POLICY_HEADER: &str = "apiVersion: signet.dev/v1alpha1\n";

fn verification(stores: &[&str]) -> String {
    format!(
        "  verification:\n    signatureVerification: {{level: strict}}\n    trustStores: {}\n    trustedIdentities: ['*']\n",
        serde_json::to_string(stores).unwrap()
    )
}

impl Fixture {
    /// Starts the registry and the server; `extra_policies` are appended to
    /// the policy file (YAML documents).
    fn start(extra_policies: &str) -> Self {
        let reg = Registry::start(Kind::Referrers, Options::default());
        let env = Env::shared_with_notation();
        expect(
            &env.signet(&["cert", "generate-test", "signet-key", "--key-type", "ec-256"]),
            true,
            &[],
        );
        expect(
            &env.notation(&["cert", "generate-test", "notation-key"]),
            true,
            &[],
        );
        let policy_dir = env.root.join("policies");
        fs::create_dir_all(&policy_dir).unwrap();
        let host = reg.host().to_owned();
        let stores = ["ca:signet-key", "ca:notation-key"];
        let policies = format!(
            "{POLICY_HEADER}kind: ClusterImagePolicy\nmetadata: {{name: signed}}\nspec:\n  images: ['{host}/signed/**']\n{}---\n\
             {POLICY_HEADER}kind: ClusterImagePolicy\nmetadata: {{name: warned}}\nspec:\n  images: ['{host}/warned/*']\n  mode: warn\n{}---\n\
             {POLICY_HEADER}kind: ImagePolicy\nmetadata: {{name: relaxed, namespace: audited}}\nspec:\n  images: ['**']\n  mode: audit\n{}{extra_policies}",
            verification(&stores),
            verification(&stores),
            verification(&stores),
        );
        fs::write(policy_dir.join("policies.yaml"), policies).unwrap();
        let revocation_list = env.root.join("revoked.txt");
        fs::write(&revocation_list, "# revoked image digests\n").unwrap();
        let server = start_server(&env, &policy_dir, &revocation_list, &[&host]);
        Self {
            env,
            reg,
            server,
            policy_dir,
            revocation_list,
        }
    }

    /// Pushes `repo:v1` and signs it with `signer` ("signet", "notation" or
    /// "none"); returns the tag reference and the digest.
    fn image(&self, repo: &str, signer: &str) -> (String, String) {
        let seeded = self.reg.seed_image(repo, "v1");
        let by_tag = format!("{}/{repo}:v1", self.reg.host());
        match signer {
            "signet" => expect(
                &self.env.signet(&[
                    "sign",
                    &seeded.reference,
                    "--key",
                    "signet-key",
                    "--insecure-registry",
                    self.reg.host(),
                ]),
                true,
                &["Successfully signed"],
            ),
            "notation" => expect(
                &self.env.notation(&[
                    "sign",
                    "--key",
                    "notation-key",
                    "--signature-format",
                    "cose",
                    "--insecure-registry",
                    &seeded.reference,
                ]),
                true,
                &["Successfully signed"],
            ),
            _ => {}
        }
        (by_tag, seeded.digest)
    }
}

/// Starts the server on `policy_dir` with the trust stores of `env`,
/// reaching `insecure` registries over plain HTTP.
fn start_server(env: &Env, policy_dir: &Path, revocation_list: &Path, insecure: &[&str]) -> AdmissionServer {
    start_server_with(env, policy_dir, revocation_list, insecure, json!({}))
}

/// [`start_server`] with `overrides` merged into the configuration (top-level keys).
fn start_server_with(
    env: &Env,
    policy_dir: &Path,
    revocation_list: &Path,
    insecure: &[&str],
    overrides: Value,
) -> AdmissionServer {
    let mut config = json!({
        "policyDir": policy_dir,
        "trustDir": env.config,
        "revocationList": revocation_list,
        "exemptNamespaces": ["kube-system", "sandbox"],
        "deadline": "3s",
        "gatekeeperDeadline": "2s",
        "reloadInterval": "200ms",
        "registry": { "insecure": insecure, "timeout": "5s", "concurrency": 8 },
    });
    for (k, v) in overrides.as_object().into_iter().flatten() {
        config[k] = v.clone();
    }
    AdmissionServer::start(
        Path::new(env!("CARGO_BIN_EXE_signet")),
        &env.root.join("admission"),
        config,
    )
}

/// POSTs an AdmissionReview and returns its `response`.
fn ask(s: &AdmissionServer, path: &str, review: &Value) -> Value {
    let (status, doc) = s.post(path, review);
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(doc["kind"], "AdmissionReview");
    assert_eq!(doc["response"]["uid"], review["request"]["uid"]);
    eprintln!("{path} → {}", doc["response"]);
    doc["response"].clone()
}

/// Asks `/validate` about a Pod running `image` until it is denied (at most
/// `within`); returns the last answer and how long it took.
fn until_denied(s: &AdmissionServer, image: &str, within: Duration) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let r = ask(s, "/validate", &pod_review("default", &[("containers", image)]));
        if r["allowed"] == false || started.elapsed() > within {
            return (r, started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// POSTs a ProviderRequest for `keys`, presenting `identity`.
fn provider(
    s: &AdmissionServer,
    path: &str,
    keys: &[&str],
    identity: Option<&TlsFiles>,
) -> reqwest::blocking::Response {
    let body = json!({
        "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
        "kind": "ProviderRequest",
        "request": { "keys": keys },
    });
    s.client(identity).post(s.url(path)).json(&body).send().unwrap()
}

/// The JSONPatch of a response, decoded.
fn patch(response: &Value) -> Vec<Value> {
    match response["patch"].as_str() {
        None => Vec::new(),
        Some(b64) => {
            assert_eq!(response["patchType"], "JSONPatch");
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        }
    }
}

fn message(response: &Value) -> String {
    response["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn webhook_admits_signed_images_pins_them_and_refuses_the_rest() {
    let f = Fixture::start("");
    let (by_signet, signet_digest) = f.image("signed/app", "signet");
    let (by_notation, notation_digest) = f.image("signed/sidecar", "notation");
    let (unsigned, _) = f.image("signed/unsigned", "none");
    let s = &f.server;

    // Signed by signet and by notation → allowed, each tag pinned to its digest.
    let r = ask(
        s,
        "/mutate",
        &pod_review(
            "default",
            &[("containers", &by_signet), ("initContainers", &by_notation)],
        ),
    );
    assert_eq!(r["allowed"], true, "{r}");
    let ops = patch(&r);
    assert_eq!(
        ops,
        vec![
            json!({"op": "replace", "path": "/spec/containers/0/image", "value": format!("{by_signet}@{signet_digest}")}),
            json!({"op": "replace", "path": "/spec/initContainers/0/image", "value": format!("{by_notation}@{notation_digest}")}),
        ]
    );
    // The validating endpoint gives the same answer without a patch, and the
    // pinned form (tag@digest) verifies too — what a reinvocation sees.
    let r = ask(
        s,
        "/validate",
        &pod_review("default", &[("containers", &by_signet)]),
    );
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("patch").is_none());
    let pinned = format!("{by_signet}@{signet_digest}");
    let r = ask(s, "/mutate", &pod_review("default", &[("containers", &pinned)]));
    assert_eq!(r["allowed"], true, "{r}");
    assert!(patch(&r).is_empty(), "a digest is not patched again: {r}");
    let images: Value = serde_json::from_str(r["auditAnnotations"]["images"].as_str().unwrap()).unwrap();
    assert_eq!(images[0]["result"], "verified");
    assert_eq!(images[0]["policy"], "ClusterImagePolicy/signed");

    // Unsigned → denied, naming the container, the image and why.
    let r = ask(
        s,
        "/validate",
        &pod_review(
            "default",
            &[("containers", &by_signet), ("containers", &unsigned)],
        ),
    );
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(r["status"]["code"], 403);
    let m = message(&r);
    assert!(
        m.contains(&format!("containers[1] \"containers-1\": image {unsigned}")),
        "{m}"
    );
    assert!(m.contains("no signature is associated with"), "{m}");
    assert!(m.contains("(policy ClusterImagePolicy/signed)"), "{m}");
    assert!(!m.contains(&by_signet), "only the failing image is named: {m}");
    // The mutating endpoint refuses too, and patches nothing.
    let r = ask(s, "/mutate", &pod_review("default", &[("containers", &unsigned)]));
    assert_eq!(r["allowed"], false);
    assert!(r.get("patch").is_none());

    // Workload kinds are checked themselves: Deployment and CronJob.
    let deployment = review(
        "Deployment",
        "apps",
        "default",
        json!({ "kind": "Deployment", "spec": { "template": { "spec": pod_spec(&[("containers", &unsigned)]) } } }),
    );
    let r = ask(s, "/validate", &deployment);
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains(&unsigned));
    let cronjob = review(
        "CronJob",
        "batch",
        "default",
        json!({ "kind": "CronJob", "spec": { "jobTemplate": { "spec": { "template": { "spec": pod_spec(&[("containers", &by_notation)]) } } } } }),
    );
    let r = ask(s, "/mutate", &cronjob);
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(
        patch(&r),
        vec![
            json!({"op": "replace", "path": "/spec/jobTemplate/spec/template/spec/containers/0/image", "value": format!("{by_notation}@{notation_digest}")})
        ]
    );

    // An ephemeral container added through pods/ephemeralcontainers: only the
    // added container is judged.
    let old = json!({ "kind": "Pod", "spec": pod_spec(&[("containers", &by_signet)]) });
    let mut new_spec = pod_spec(&[("containers", &by_signet)]);
    new_spec["ephemeralContainers"] = json!([{ "name": "debugger", "image": unsigned }]);
    let mut update = pod_review("default", &[]);
    update["request"]["operation"] = json!("UPDATE");
    update["request"]["subResource"] = json!("ephemeralcontainers");
    update["request"]["object"] = json!({ "kind": "Pod", "spec": new_spec });
    update["request"]["oldObject"] = old;
    let r = ask(s, "/validate", &update);
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains("ephemeralContainers[0] \"debugger\""), "{r}");
    update["request"]["object"]["spec"]["ephemeralContainers"][0]["image"] = json!(by_notation);
    let r = ask(s, "/mutate", &update);
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(patch(&r)[0]["path"], "/spec/ephemeralContainers/0/image");

    // Warn mode: allowed, with a warning the user sees.
    let (warned, _) = f.image("warned/app", "none");
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &warned)]));
    assert_eq!(r["allowed"], true, "{r}");
    let warnings = r["warnings"].as_array().unwrap();
    assert!(warnings[0].as_str().unwrap().contains(&warned), "{r}");
    assert!(warnings[0].as_str().unwrap().contains("no signature"), "{r}");

    // Audit mode (a namespace policy beats the cluster policy): allowed
    // silently, the failure in the audit annotations.
    let r = ask(
        s,
        "/validate",
        &pod_review("audited", &[("containers", &unsigned)]),
    );
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("warnings").is_none(), "{r}");
    assert!(
        r["auditAnnotations"]["audit-failures"]
            .as_str()
            .unwrap()
            .contains(&unsigned),
        "{r}"
    );

    // Exempt namespace: allowed without looking.
    let requests = f.reg.request_count();
    let r = ask(
        s,
        "/validate",
        &pod_review("sandbox", &[("containers", &unsigned)]),
    );
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(
        f.reg.request_count(),
        requests,
        "an exempt namespace costs no registry request"
    );

    // No policy matches → denied by default.
    let other = format!("{}/elsewhere/app:v1", f.reg.host());
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &other)]));
    assert_eq!(r["allowed"], false);
    assert!(message(&r).contains("no image policy matches"), "{r}");

    // dryRun: the same answer.
    let mut dry = pod_review("default", &[("containers", &unsigned)]);
    dry["request"]["dryRun"] = json!(true);
    assert_eq!(ask(s, "/validate", &dry)["allowed"], false);

    // DELETE is not judged.
    let mut delete = pod_review("default", &[("containers", &unsigned)]);
    delete["request"]["operation"] = json!("DELETE");
    assert_eq!(ask(s, "/validate", &delete)["allowed"], true);

    // Revocation: the digest goes on the list; within a reload the cached
    // "verified" no longer counts.
    let before = ask(
        s,
        "/validate",
        &pod_review("default", &[("containers", &by_signet)]),
    );
    assert_eq!(before["allowed"], true);
    fs::write(&f.revocation_list, format!("{signet_digest}  # leaked build\n")).unwrap();
    let (r, took) = until_denied(s, &by_signet, Duration::from_secs(10));
    assert_eq!(r["allowed"], false, "revocation not applied within 10 s: {r}");
    assert!(message(&r).contains("is on the revocation list"), "{r}");
    eprintln!("revocation took effect after {took:?}");
    // A pinned reference to the revoked digest is refused before the registry is asked.
    let requests = f.reg.request_count();
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &pinned)]));
    assert_eq!(r["allowed"], false);
    assert_eq!(f.reg.request_count(), requests);
    // The other images are unaffected.
    assert_eq!(
        ask(
            s,
            "/validate",
            &pod_review("default", &[("containers", &by_notation)])
        )["allowed"],
        true
    );

    // Policy reload: the warned repository becomes enforced without a restart.
    let text = fs::read_to_string(f.policy_dir.join("policies.yaml")).unwrap();
    fs::write(
        f.policy_dir.join("policies.yaml"),
        text.replace("  mode: warn\n", ""),
    )
    .unwrap();
    let (r, _) = until_denied(s, &warned, Duration::from_secs(10));
    assert_eq!(r["allowed"], false, "policy change not applied within 10 s: {r}");
    // A broken policy file is refused and the previous policies stay.
    fs::write(
        f.policy_dir.join("broken.yaml"),
        "apiVersion: signet.dev/v1alpha1\nkind: Nonsense\n",
    )
    .unwrap();
    let started = Instant::now();
    while s.metric("signet_admission_reload_errors_total") < 1.0
        && started.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(s.metric("signet_admission_reload_errors_total") >= 1.0);
    assert_eq!(
        ask(
            s,
            "/validate",
            &pod_review("default", &[("containers", &by_notation)])
        )["allowed"],
        true
    );
    let log = fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("keeping the previous policies"), "{log}");
    assert!(log.contains("broken.yaml"), "{log}");
}

#[test]
fn bad_requests_get_clear_errors() {
    let f = Fixture::start("");
    let s = &f.server;
    let client = s.client(None);
    let r = client
        .post(s.url("/validate"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().unwrap().contains("not an AdmissionReview"));
    // Larger than 8 MiB: refused before it is parsed.
    let huge = vec![b' '; 9 * 1024 * 1024];
    let r = client.post(s.url("/validate")).body(huge).send().unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Another API version: answered, refused, with the reason.
    let mut v1beta1 = pod_review("default", &[("containers", "x/y:1")]);
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (status, doc) = s.post("/validate", &v1beta1);
    assert_eq!(status, 200);
    assert_eq!(doc["response"]["allowed"], false);
    assert!(
        doc["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("admission.k8s.io/v1")
    );
    // A container without an image, and an invalid reference.
    let r = ask(
        s,
        "/validate",
        &pod_review("default", &[("containers", "ghcr.io/Acme/app:1")]),
    );
    assert_eq!(r["allowed"], false);
    assert!(message(&r).contains("invalid image reference"), "{r}");
    let mut no_image = pod_review("default", &[]);
    no_image["request"]["object"]["spec"] = json!({ "containers": [{ "name": "x" }] });
    let r = ask(s, "/validate", &no_image);
    assert_eq!(r["allowed"], false);
    assert!(message(&r).contains("has no image"), "{r}");
    // Health and readiness.
    assert_eq!(
        client.get(s.url("/healthz")).send().unwrap().text().unwrap(),
        "ok"
    );
    assert_eq!(
        client.get(s.url("/readyz")).send().unwrap().status().as_u16(),
        200
    );
}

#[test]
fn registry_down_or_hanging_follows_the_failure_policy_within_the_deadline() {
    let hostile = HostileRegistry::start();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    }; // closed again: nothing listens there
    let extra = format!(
        "---\n{POLICY_HEADER}kind: ClusterImagePolicy\nmetadata: {{name: closed}}\nspec:\n  images: ['{dead}/closed/*', '{}/stall/*']\n{}\
         ---\n{POLICY_HEADER}kind: ClusterImagePolicy\nmetadata: {{name: open}}\nspec:\n  images: ['{dead}/open/*']\n  failurePolicy: Ignore\n{}",
        hostile.host(),
        verification(&["ca:signet-key"]),
        verification(&["ca:signet-key"]),
    );
    let env = Env::shared_with_notation();
    expect(
        &env.signet(&["cert", "generate-test", "signet-key", "--key-type", "ec-256"]),
        true,
        &[],
    );
    let policy_dir = env.root.join("policies");
    fs::create_dir_all(&policy_dir).unwrap();
    fs::write(policy_dir.join("p.yaml"), extra.trim_start_matches("---\n")).unwrap();
    let revoked = env.root.join("revoked.txt");
    fs::write(&revoked, "").unwrap();
    // Both hosts are reached over plain HTTP.
    let s = &start_server(&env, &policy_dir, &revoked, &[&dead, hostile.host()]);

    // Down, fail closed → denied, saying why.
    let closed = format!("{dead}/closed/app:v1");
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &closed)]));
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains("cannot resolve"), "{r}");
    // Down, fail open → allowed with a warning.
    let open = format!("{dead}/open/app:v1");
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &open)]));
    assert_eq!(r["allowed"], true, "{r}");
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("failurePolicy Ignore"),
        "{r}"
    );
    // Hanging: answered within the API server's budget (?timeout=2s → 1 s).
    let stalled = format!("{}/stall/connection:v1", hostile.host());
    let started = Instant::now();
    let r = ask(
        s,
        "/validate?timeout=2s",
        &pod_review("default", &[("containers", &stalled)]),
    );
    let took = started.elapsed();
    assert_eq!(r["allowed"], false, "{r}");
    assert!(message(&r).contains("did not finish before the deadline"), "{r}");
    assert!(
        took < Duration::from_millis(1900),
        "answered after {took:?}, past the caller's 2 s timeout"
    );
    eprintln!("hanging registry answered in {took:?}");
    // And the configured deadline (3 s) without a ?timeout=.
    let started = Instant::now();
    let r = ask(
        s,
        "/validate",
        &pod_review("default", &[("containers", &stalled)]),
    );
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        started.elapsed() < Duration::from_millis(3900),
        "{:?}",
        started.elapsed()
    );
    // Gatekeeper's budget (2 s here): a per-key error, not a hang.
    let started = Instant::now();
    let resp = provider(s, "/gatekeeper/verify", &[&stalled], Some(&s.gatekeeper));
    let doc: Value = resp.json().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert!(
        doc["response"]["items"][0]["error"]
            .as_str()
            .unwrap()
            .contains("deadline"),
        "{doc}"
    );
    assert!(s.metric("signet_admission_deadline_exceeded_total") >= 3.0);
}

#[test]
fn gatekeeper_provider_over_mutual_tls() {
    let f = Fixture::start("");
    let (signed, digest) = f.image("signed/app", "signet");
    let (unsigned, _) = f.image("signed/unsigned", "none");
    let s = &f.server;

    let resp = provider(
        s,
        "/gatekeeper/verify",
        &[&signed, &unsigned, &format!("[audited]{unsigned}")],
        Some(&s.gatekeeper),
    );
    assert_eq!(resp.status().as_u16(), 200);
    let doc: Value = resp.json().unwrap();
    eprintln!("{doc:#}");
    assert_eq!(doc["apiVersion"], "externaldata.gatekeeper.sh/v1beta1");
    assert_eq!(doc["kind"], "ProviderResponse");
    assert_eq!(doc["response"]["idempotent"], false);
    let items = doc["response"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["key"], signed.as_str());
    let ok = &items[0]["value"];
    assert_eq!(ok["isSuccess"], true);
    let report = &ok["verifierReports"][0];
    assert_eq!(report["isSuccess"], true);
    assert_eq!(report["verifierType"], "notation");
    assert_eq!(report["artifactType"], "application/vnd.cncf.notary.signature");
    assert_eq!(report["subject"], format!("{signed}@{digest}"));
    assert!(
        report["extensions"]["SN"]
            .as_str()
            .unwrap()
            .contains("CN=signet-key"),
        "{report}"
    );
    assert!(report["referenceDigest"].as_str().unwrap().starts_with("sha256:"));
    let bad = &items[1]["value"];
    assert_eq!(bad["isSuccess"], false);
    assert!(
        bad["verifierReports"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no signature"),
        "{bad}"
    );
    // The namespaced key follows the namespace's audit policy.
    assert_eq!(items[2]["key"], format!("[audited]{unsigned}"));
    assert_eq!(items[2]["value"]["isSuccess"], true);
    assert_eq!(
        items[2]["value"]["verifierReports"][0]["extensions"]["verified"],
        false
    );

    let resp = provider(
        s,
        "/gatekeeper/mutate",
        &[&signed, &unsigned],
        Some(&s.gatekeeper),
    );
    let doc: Value = resp.json().unwrap();
    assert_eq!(doc["response"]["idempotent"], true);
    let items = doc["response"]["items"].as_array().unwrap();
    assert_eq!(items[0]["value"], format!("{signed}@{digest}"));
    assert!(
        items[1]["error"].as_str().unwrap().contains("not pinned"),
        "{doc}"
    );

    // No client certificate → 403; a certificate from another CA → no TLS session.
    let resp = provider(s, "/gatekeeper/verify", &[&signed], None);
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("client certificate"));
    let stranger = testkit::tls::client(&f.env.root, "stranger-", "gatekeeper-webhook");
    let body = json!({"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest", "request": {"keys": [signed]}});
    let refused = s
        .client(Some(&stranger))
        .post(s.url("/gatekeeper/verify"))
        .json(&body)
        .send();
    assert!(refused.is_err() || refused.unwrap().status().as_u16() != 200);
    // Malformed request → systemError.
    let r = s
        .client(Some(&s.gatekeeper))
        .post(s.url("/gatekeeper/verify"))
        .body("[]")
        .send()
        .unwrap();
    let doc: Value = r.json().unwrap();
    assert!(
        doc["response"]["systemError"]
            .as_str()
            .unwrap()
            .contains("not a ProviderRequest"),
        "{doc}"
    );
}

#[test]
fn identical_concurrent_cold_lookups_run_one_verification() {
    let f = Fixture::start("");
    let (signed, _) = f.image("signed/burst", "signet");
    let s = &f.server;
    let verifications = s.metric("signet_admission_verifications_total");
    let resolutions = s.metric("signet_admission_resolutions_total");
    let requests = f.reg.request_count();
    let body = pod_review("default", &[("containers", &signed)]);
    let barrier = Barrier::new(100);
    let clients: Vec<_> = (0..100).map(|_| s.client(None)).collect();
    let allowed: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = clients
            .iter()
            .map(|c| {
                let barrier = &barrier;
                let body = &body;
                let url = s.url("/validate");
                scope.spawn(move || {
                    barrier.wait();
                    let doc: Value = c.post(url).json(body).send().unwrap().json().unwrap();
                    doc["response"]["allowed"] == true
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(allowed.iter().all(|a| *a), "{allowed:?}");
    assert_eq!(
        s.metric("signet_admission_verifications_total") - verifications,
        1.0
    );
    assert_eq!(s.metric("signet_admission_resolutions_total") - resolutions, 1.0);
    let used = f.reg.request_count() - requests;
    eprintln!("100 identical cold lookups: 1 verification, {used} registry requests");
    assert!(used <= 6, "{used} registry requests for one verification");
}

#[test]
fn a_revoked_signing_certificate_is_denied_within_the_cache_ttl() {
    // A root → intermediate → leaf chain whose certificates name a CRL
    // server on loopback; the leaf signs the image.
    let crls = testkit::revocation::HttpServer::start(0);
    let chain = testkit::revocation::RevocableChain::generate(&testkit::revocation::Endpoints {
        leaf_ocsp: None,
        crl_base: Some(crls.url("").trim_end_matches('/').to_owned()),
    });
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(30);
    crls.serve("leaf.crl", chain.leaf_crl(&[], None, far));
    crls.serve("intermediate.crl", chain.intermediate_crl(&[], far));

    let reg = Registry::start(Kind::Referrers, Options::default());
    let env = Env::shared_with_notation();
    fs::write(env.root.join("leaf.key"), &chain.leaf_key_pem).unwrap();
    fs::write(env.root.join("chain.pem"), chain.pem_chain()).unwrap();
    expect(
        &env.signet(&[
            "key",
            "add",
            "pipeline",
            "--key",
            "leaf.key",
            "--cert",
            "chain.pem",
        ]),
        true,
        &[],
    );
    let store = env.config.join("truststore/x509/ca/pipeline");
    fs::create_dir_all(&store).unwrap();
    fs::write(store.join("root.pem"), chain.root.pem()).unwrap();
    let seeded = reg.seed_image("pipeline/app", "v1");
    expect(
        &env.signet(&[
            "sign",
            &seeded.reference,
            "--key",
            "pipeline",
            "--insecure-registry",
            reg.host(),
        ]),
        true,
        &["Successfully signed"],
    );

    let policy_dir = env.root.join("policies");
    fs::create_dir_all(&policy_dir).unwrap();
    fs::write(
        policy_dir.join("p.yaml"),
        format!(
            "{POLICY_HEADER}kind: ClusterImagePolicy\nmetadata: {{name: pipeline}}\nspec:\n  images: ['{}/pipeline/*']\n{}",
            reg.host(),
            verification(&["ca:pipeline"])
        ),
    )
    .unwrap();
    let revoked = env.root.join("revoked.txt");
    fs::write(&revoked, "").unwrap();
    // Verified results are kept 2 s here (2 min by default): how late a
    // revoked certificate can still be admitted.
    let s = &start_server_with(
        &env,
        &policy_dir,
        &revoked,
        &[reg.host()],
        json!({ "cache": { "ttl": "2s" } }),
    );
    let image = format!("{}/pipeline/app:v1", reg.host());
    let r = ask(s, "/validate", &pod_review("default", &[("containers", &image)]));
    assert_eq!(r["allowed"], true, "{r}");
    assert!(crls.hits("leaf.crl") >= 1, "the CRL was consulted");

    // The leaf is revoked: once the cached result expires, the image is refused.
    crls.serve(
        "leaf.crl",
        chain.leaf_crl(&[testkit::revocation::LEAF_SERIAL], None, far),
    );
    let (r, took) = until_denied(s, &image, Duration::from_secs(15));
    assert_eq!(r["allowed"], false, "still admitted 15 s after revocation: {r}");
    let m = message(&r);
    assert!(
        m.contains("revocation validation failed") || m.contains("revoked"),
        "{m}"
    );
    eprintln!("certificate revocation took effect after {took:?}");
}

#[test]
fn a_renewed_serving_certificate_is_used_without_a_restart() {
    let f = Fixture::start("");
    let s = &f.server;
    assert_eq!(
        s.client(None)
            .get(s.url("/healthz"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // cert-manager renews: new files in place (here from a new CA, so the
    // change is visible to a client).
    let renewed = testkit::tls::server(&f.env.root, "renewed-");
    fs::copy(&renewed.cert_file, &s.tls.cert_file).unwrap();
    fs::copy(&renewed.key_file, &s.tls.key_file).unwrap();
    let ca = reqwest::Certificate::from_pem(renewed.ca_pem.as_bytes()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    loop {
        if client.get(s.url("/healthz")).send().is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the renewed certificate was not served within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("renewed certificate served after {:?}", started.elapsed());
    let log = fs::read_to_string(&s.log).unwrap();
    assert!(log.contains("serving certificate reloaded"), "{log}");
}
