//! The containerd verifier's decision latency, end to end as containerd
//! pays it — process start, the descriptor on stdin, the question to the
//! node agent over its Unix socket, the answer — warm (the agent has judged
//! the image before) and cold (a signed image never seen), next to the pull
//! time of the same images by a real containerd from the same loopback
//! registry, in one run.
//!
//! ```text
//! cargo bench -p signet-cli --bench node_verifier
//! BENCH_WARM=500 BENCH_COLD=50 cargo bench -p signet-cli --bench node_verifier
//! ```
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke
//! run: 5 warm, 2 cold, every answer checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use common::{env_or, run, signet};
use serde_json::json;
use testkit::registry::{Kind, OCI_MANIFEST, Options, Registry, SeededImage};

/// One decision, as containerd asks it (stdout read, as containerd does);
/// returns (allowed, wall time).
fn decide(config: &Path, name: &str, image: &SeededImage) -> (bool, Duration) {
    let descriptor = json!({ "mediaType": OCI_MANIFEST, "digest": image.digest, "size": image.size });
    let started = Instant::now();
    let out = testkit::containerd::invoke_verifier(
        Path::new(env!("CARGO_BIN_EXE_signet-containerd-verifier")),
        config,
        name,
        &image.digest,
        &descriptor,
    );
    (out.status.success(), started.elapsed())
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    (at(0.5), at(0.99), *v.last().unwrap())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let warm_n = if bench { env_or("BENCH_WARM", 300) } else { 5 };
    let cold_n = if bench { env_or("BENCH_COLD", 40) } else { 2 };

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().to_path_buf();
    let config = dir.join("config");
    let reg = Registry::start(Kind::Referrers, Options::default());
    for key in ["images", "bundles"] {
        let mut c = signet(&config);
        c.args(["cert", "generate-test", key, "--key-type", "ec-256"]);
        run(c);
    }
    let images: Vec<SeededImage> = (0..=cold_n)
        .map(|i| {
            let img = reg.seed_pullable_image(&format!("bench/app{i}"), "v1");
            let mut c = signet(&config);
            c.args([
                "sign",
                &img.reference,
                "--key",
                "images",
                "--insecure-registry",
                reg.host(),
            ]);
            run(c);
            img
        })
        .collect();
    let name = |i: usize| format!("{}/bench/app{i}:v1", reg.host());

    // The bundle, the agent, the verifier's configuration.
    std::fs::write(
        dir.join("policy.yaml"),
        format!(
            "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: bench}}\nspec:\n  images: ['{}/bench/*']\n  verification:\n    signatureVerification: {{level: strict}}\n    trustStores: ['ca:images']\n    trustedIdentities: ['*']\n",
            reg.host()
        ),
    )
    .unwrap();
    let bundle = dir.join("bundle.json");
    let mut c = signet(&config);
    c.args(["bundle", "create", "--bundle-version", "1", "--policy"])
        .arg(dir.join("policy.yaml"))
        .arg("--trust-store")
        .arg(format!(
            "ca:images={}",
            config.join("localkeys/images.crt").display()
        ))
        .arg("-o")
        .arg(&bundle);
    run(c);
    let mut c = signet(&config);
    c.args(["bundle", "sign"]).arg(&bundle).args(["--key", "bundles"]);
    run(c);
    let socket = dir.join("run/node.sock");
    let node_config = dir.join("node.json");
    std::fs::write(
        &node_config,
        json!({
            "socket": socket,
            "stateDir": dir.join("state"),
            "bundle": {
                "source": format!("file://{}", bundle.display()),
                "trustRoot": config.join("localkeys/bundles.crt"),
                "identities": ["x509.subject: C=US, ST=WA, L=Seattle, O=Notary, CN=bundles"],
                "pollInterval": "30s",
            },
            "registry": { "insecure": [reg.host()] },
        })
        .to_string(),
    )
    .unwrap();
    let _agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["serve", "node", "--config"])
            .arg(&node_config)
            .env("RUST_LOG", "warn")
            .spawn()
            .unwrap(),
    );
    let verifier_config = dir.join("verifier.json");
    std::fs::write(
        &verifier_config,
        json!({ "socket": socket, "mode": "enforce" }).to_string(),
    )
    .unwrap();
    let started = Instant::now();
    while !decide(&verifier_config, &name(0), &images[0]).0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the agent never allowed the signed image"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Warm: the same image again and again.
    let warm: Vec<Duration> = (0..warm_n)
        .map(|_| {
            let (ok, t) = decide(&verifier_config, &name(0), &images[0]);
            assert!(ok);
            t
        })
        .collect();
    // Cold: each image once.
    let cold: Vec<Duration> = (1..=cold_n)
        .map(|i| {
            let (ok, t) = decide(&verifier_config, &name(i), &images[i]);
            assert!(ok, "cold image {i} refused");
            t
        })
        .collect();
    // `true` as the verifier: the process-start floor on this machine.
    let floor: Vec<Duration> = (0..warm_n.min(100))
        .map(|_| {
            let t = Instant::now();
            assert!(Command::new("true").status().unwrap().success());
            t.elapsed()
        })
        .collect();

    println!(
        "signet-containerd-verifier decision, end to end (process start + stdin + agent over its socket); ms"
    );
    println!("| case | n | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    for (label, v) in [
        ("warm (agent has judged the image)", warm),
        ("cold (signed image never seen)", cold),
        ("`true` (process start floor)", floor),
    ] {
        let n = v.len();
        let (p50, p99, max) = percentiles(v);
        println!("| {label} | {n} | {} | {} | {} |", ms(p50), ms(p99), ms(max));
    }

    // The same images pulled by containerd from the same registry, no verifier.
    match testkit::containerd::Containerd::start(testkit::containerd::Options::default()) {
        Ok(ctd) => {
            let pulls: Vec<Duration> = (1..=cold_n)
                .map(|i| {
                    let t = Instant::now();
                    let out = ctd.pull(&name(i), true);
                    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
                    t.elapsed()
                })
                .collect();
            let n = pulls.len();
            let (p50, p99, max) = percentiles(pulls);
            println!(
                "| `ctr image pull` of the cold images (containerd v2.4.2, no verifier) | {n} | {} | {} | {} |",
                ms(p50),
                ms(p99),
                ms(max)
            );
        }
        Err(e) => println!("\n*** containerd cannot run here, no pull times: {e} ***"),
    }
    let _: PathBuf = dir;
}
