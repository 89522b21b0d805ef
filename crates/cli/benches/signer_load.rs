//! Load on `signet serve signer` over HTTPS on loopback: durable
//! signatures per second (each answer means the job and its audit entry are
//! committed to SQLite with `synchronous=FULL`) and p50/p99 latency at a
//! fixed offered rate, for ECDSA P-256 per-job certificates (fresh key +
//! leaf per job, built-in TSA timestamp) and for a fixed RSA-3072 key —
//! next to the raw sign rate of the same key types measured in the same run
//! on the same two cores.
//!
//! ```text
//! cargo bench -p signet-cli --bench signer_load
//! BENCH_SECONDS=10 BENCH_RATE=1000 BENCH_CLIENTS=64 cargo bench -p signet-cli --bench signer_load
//! ```
//!
//! Generator and server share this machine's cores. Every answer is checked
//! (a job id and an envelope). Without `--bench` (as `cargo test
//! --all-targets` runs it) it is a smoke run of about a second per phase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    fs,
    path::Path,
    time::{Duration, Instant},
};

use common::{
    env_or,
    load::{Body, Target, closed_loop, open_loop, print_row},
};
use notary::{
    algorithm::KeySpec,
    crypto::{PrivateKey, Signer as _},
};
use serde_json::json;
use testkit::signer::SignerServer;

/// A sign response with a job id and an envelope.
fn signed(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .is_ok_and(|v| v["jobId"].is_string() && v["envelope"].as_str().is_some_and(|e| e.len() > 100))
}

/// Raw signatures per second of `spec` on `threads` threads for `seconds`.
fn raw_rate(spec: KeySpec, threads: usize, seconds: f64) -> f64 {
    let key = std::sync::Arc::new(PrivateKey::generate(spec).unwrap());
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let key = key.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < end {
                    key.sign(b"{\"targetArtifact\":{}}").unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let n: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    n as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let seconds: f64 = if bench { env_or("BENCH_SECONDS", 10.0) } else { 1.0 };
    let rate: f64 = if bench {
        env_or("BENCH_RATE", 1000.0)
    } else {
        100.0
    };
    let clients: usize = if bench { env_or("BENCH_CLIENTS", 64) } else { 8 };

    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("signer");
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    };
    let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ca = testkit::pki::self_signed(
        &testkit::pki::CertOptions::root("Bench CA"),
        &ca_key.serialize_pem(),
    );
    let rsa = PrivateKey::generate(KeySpec::Rsa(3072)).unwrap();
    let rsa_pem = rsa.to_pkcs8_pem().unwrap();
    let rsa_leaf = testkit::pki::issue(&testkit::pki::CertOptions::leaf("Bench RSA"), &rsa_pem, &ca);
    let tsa_root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let tsa_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let tsa = testkit::pki::timestamping_chain(&tsa_root_key.serialize_pem(), None, &tsa_key.serialize_pem());
    let config = json!({
        "database": format!("sqlite://{}", dir.join("signer.db").display()),
        "rules": [
            {"name": "admin", "identities": [{"method": "token", "subject": "admin"}],
             "profiles": ["*"], "repositories": ["**"], "admin": true},
            {"name": "bench", "identities": [{"method": "token", "subject": "bench"}],
             "profiles": ["*"], "repositories": ["registry.example.com/**"]},
        ],
        "profiles": [
            {"name": "p256", "key": {"type": "file", "path": write("ca.key", &ca_key.serialize_pem())},
             "certificateChain": write("ca.pem", &ca.pem)},
            {"name": "p256-notsa", "key": {"type": "file", "path": dir.join("ca.key")},
             "certificateChain": dir.join("ca.pem"), "timestamp": false},
            {"name": "rsa3072", "mode": "fixed", "key": {"type": "file", "path": write("rsa.key", &rsa_pem)},
             "certificateChain": write("rsa-chain.pem", &format!("{}{}", rsa_leaf.pem, ca.pem)), "timestamp": false},
        ],
        "tsa": {"key": {"type": "file", "path": write("tsa.key", &tsa_key.serialize_pem())},
                "certificateChain": write("tsa.pem", &format!("{}{}", tsa.leaf.pem, tsa.root.pem))},
        "audit": {"checkpointKey": {"type": "file", "path": dir.join("ca.key")}, "checkpointInterval": "5s"},
        "limits": {"concurrency": 1024},
    });
    let server = SignerServer::start(Path::new(env!("CARGO_BIN_EXE_signet")), &dir, config, &[]);
    let token = {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["signer", "token", "create", "--config"])
            .arg(&server.config_file)
            .args(["--name", "bench", "--identity", "bench"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let ca_cert = reqwest::Certificate::from_pem(server.tls.ca_pem.as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca_cert])
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let target = Target {
        client,
        url: server.url("/v1/sign"),
        bearer: Some(token),
        check: signed,
        deadline: Duration::from_secs(5),
    };
    let body = |profile: &str| {
        Body(
            json!({"profile": profile, "repository": "registry.example.com/team/app",
                   "descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "digest": testkit::registry::sha256_digest(b"bench"), "size": 1234}})
            .to_string()
            .into_bytes(),
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    println!(
        "raw signatures/s in this process, 2 threads (the machine's 2 cores), {:.0} s each:",
        seconds.min(3.0)
    );
    let raw_p256 = raw_rate(KeySpec::Ec(256), 2, seconds.min(3.0));
    let raw_rsa = raw_rate(KeySpec::Rsa(3072), 2, seconds.min(3.0));
    println!("  ECDSA P-256: {raw_p256:.0}/s   RSA-3072 (PSS): {raw_rsa:.0}/s");
    println!();
    println!(
        "signet serve signer, POST /v1/sign over HTTPS on loopback (SQLite WAL, synchronous=FULL, group commit); latencies in ms"
    );
    println!(
        "| profile / phase | offered req/s | durable sig/s | requests | p50 | p90 | p99 | max | errors | late (>5 s) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let jobs_before = server.metric("signet_signer_signs_total");
    let mut peak = Vec::new();
    let mut server_cpu: Vec<(&str, f64, f64)> = Vec::new();
    for (profile, raw) in [("p256", raw_p256), ("p256-notsa", raw_p256), ("rsa3072", raw_rsa)] {
        let b = body(profile);
        // Warm the connection pool.
        let _ = runtime.block_on(closed_loop(&target, &b, clients.min(16), 0.3));
        let cpu = server.cpu_seconds();
        let (s, achieved) = runtime.block_on(closed_loop(&target, &b, clients, seconds));
        let cpu = server.cpu_seconds() - cpu;
        server_cpu.push((profile, cpu * 1e6 / (s.n - s.errors).max(1) as f64, cpu / seconds));
        print_row(
            &format!("{profile}, {clients} clients closed loop (peak)"),
            "-",
            achieved,
            &s,
        );
        assert_eq!(s.errors, 0, "{profile}: sign requests failed");
        peak.push((profile, achieved, raw));
        let offered = if profile == "rsa3072" {
            (rate / 4.0).min(raw_rsa / 2.0)
        } else {
            rate
        };
        let count = (offered * seconds.min(5.0)) as usize;
        let (s, achieved) = open_loop(
            &runtime,
            &target,
            std::slice::from_ref(&b),
            offered,
            count.max(10),
        );
        print_row(
            &format!("{profile}, fixed rate"),
            &format!("{offered:.0}"),
            achieved,
            &s,
        );
        assert_eq!(s.errors, 0, "{profile}: sign requests failed");
    }
    println!();
    for (profile, achieved, raw) in &peak {
        println!(
            "{profile}: {achieved:.0} durable signatures/s = {:.3} × the raw sign rate of its key type ({raw:.0}/s)",
            achieved / raw
        );
    }
    for (profile, per_job, cores) in &server_cpu {
        println!(
            "{profile}: the server used {per_job:.0} µs of CPU per durable signature ({cores:.2} of the 2 cores; the load generator used most of the rest) → about {:.0} signatures/s if it had both cores",
            2e6 / per_job
        );
    }
    let signed_total = server.metric("signet_signer_signs_total") - jobs_before;
    println!("jobs signed during the run (server metric): {signed_total:.0}");
    // Every answered job is in the database and the audit chain holds.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["audit", "verify", "--config"])
        .arg(&server.config_file)
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
    assert!(out.status.success(), "audit verify failed after the load");
}
