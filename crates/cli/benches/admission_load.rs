//! Load on `signet serve admission` over HTTPS on loopback: warm-cache
//! latency at a fixed offered rate, peak warm throughput, and cold-cache
//! latency (every image never seen before) against a real registry.
//!
//! ```text
//! cargo bench -p signet-cli --bench admission_load
//! BENCH_RATE=2000 BENCH_SECONDS=10 BENCH_COLD=100 cargo bench -p signet-cli --bench admission_load
//! ```
//!
//! The generator is open-loop: request i is due at start + i/rate and its
//! latency is measured from when it was due, so a stalled server cannot hide
//! queueing (no coordinated omission). Generator and server share this
//! machine's cores. Every answer is checked (allowed, and within the
//! server's deadline). Without `--bench` (as `cargo test --all-targets`
//! runs it) it is a smoke run: 200 requests/s for 1 s, 3 cold images.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{path::Path, time::Duration};

use common::{
    env_or,
    load::{Body, Target, closed_loop, open_loop, print_row},
    run, signet,
};
use serde_json::json;
use testkit::{
    admission::{AdmissionServer, pod_review},
    registry::{Kind, Options, Registry},
};

const DEADLINE: Duration = Duration::from_secs(8);

/// An admission answer that allows the Pod.
fn allowed(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|doc| doc["response"]["allowed"] == serde_json::Value::Bool(true))
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let rate: f64 = if bench {
        env_or("BENCH_RATE", 2000.0)
    } else {
        200.0
    };
    let seconds: f64 = if bench { env_or("BENCH_SECONDS", 10.0) } else { 1.0 };
    let cold: usize = if bench { env_or("BENCH_COLD", 100) } else { 3 };

    let root = tempfile::tempdir().unwrap();
    let config = root.path().join("config");
    let reg = Registry::start(Kind::Referrers, Options::default());
    let mut c = signet(&config);
    c.args(["cert", "generate-test", "bench", "--key-type", "ec-256"]);
    run(c);
    let mut images = Vec::new();
    for i in 0..=cold {
        let seeded = reg.seed_image(&format!("bench/app{i}"), "v1");
        let mut c = signet(&config);
        c.args([
            "sign",
            &seeded.reference,
            "--key",
            "bench",
            "--insecure-registry",
            reg.host(),
        ]);
        run(c);
        images.push(format!("{}/bench/app{i}:v1", reg.host()));
    }
    let policy_dir = root.path().join("policies");
    std::fs::create_dir_all(&policy_dir).unwrap();
    std::fs::write(
        policy_dir.join("p.yaml"),
        format!(
            "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: bench}}\nspec:\n  images: ['{}/bench/*']\n  verification:\n    signatureVerification: {{level: strict}}\n    trustStores: ['ca:bench']\n    trustedIdentities: ['*']\n",
            reg.host()
        ),
    )
    .unwrap();
    let server = AdmissionServer::start(
        Path::new(env!("CARGO_BIN_EXE_signet")),
        &root.path().join("server"),
        json!({
            "policyDir": policy_dir,
            "trustDir": config,
            "deadline": format!("{}s", DEADLINE.as_secs()),
            "registry": { "insecure": [reg.host()] },
        }),
    );
    let ca = reqwest::Certificate::from_pem(server.tls.ca_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = server.url("/validate");
    let target = Target {
        client: client.clone(),
        url: url.clone(),
        bearer: None,
        check: allowed,
        deadline: DEADLINE,
    };
    let body = |image: &str| {
        Body(
            pod_review("default", &[("containers", image)])
                .to_string()
                .into_bytes(),
        )
    };
    let warm = body(&images[0]);
    let cold_bodies: Vec<_> = images[1..].iter().map(|i| body(i)).collect();

    let (_, answer) = server.post("/validate", &serde_json::from_slice(&warm.0).unwrap());
    assert_eq!(
        answer["response"]["allowed"], true,
        "the warm image is not admitted: {answer}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Warm the cache and the connection pool.
    let _ = open_loop(
        &runtime,
        &target,
        std::slice::from_ref(&warm),
        rate.min(500.0),
        (rate.min(500.0) / 2.0) as usize,
    );

    println!(
        "signet serve admission, /validate over HTTPS on loopback, one Pod with one container; latencies in ms"
    );
    println!(
        "| phase | offered req/s | achieved req/s | requests | p50 | p90 | p99 | max | errors | past deadline |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let count = (rate * seconds) as usize;
    let (s, achieved) = open_loop(&runtime, &target, std::slice::from_ref(&warm), rate, count);
    print_row("warm (cached)", &format!("{rate:.0}"), achieved, &s);
    assert_eq!(s.errors, 0, "warm requests failed");
    assert_eq!(s.late, 0);

    let (s, achieved) = runtime.block_on(closed_loop(&target, &warm, 32, seconds.min(5.0)));
    print_row("warm, 32 clients closed loop (peak)", "-", achieved, &s);
    assert_eq!(s.errors, 0);

    let verifications = server.metric("signet_admission_verifications_total");
    let cold_rate = 20.0;
    let (s, achieved) = open_loop(&runtime, &target, &cold_bodies, cold_rate, cold_bodies.len());
    print_row(
        "cold (new image each request)",
        &format!("{cold_rate:.0}"),
        achieved,
        &s,
    );
    assert_eq!(s.errors, 0, "cold requests failed");
    assert_eq!(s.late, 0);
    let ran = server.metric("signet_admission_verifications_total") - verifications;
    assert_eq!(
        ran as usize,
        cold_bodies.len(),
        "each cold request runs exactly one verification"
    );
    let over = server.metric("signet_admission_deadline_exceeded_total");
    println!("verifications during the cold phase: {ran}; checks past the deadline: {over}");
    assert_eq!(over, 0.0);
}
