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

/// What wrk reported.
struct Wrk {
    rate: f64,
    requests: u64,
    non_2xx: u64,
    p50: String,
    p90: String,
    p99: String,
    max: String,
}

/// Runs wrk against `url` for `seconds` with `connections`, POSTing `body`.
fn wrk(url: &str, bearer: &str, body: &[u8], connections: usize, seconds: f64) -> Option<Wrk> {
    if std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .is_err()
    {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("post.lua");
    let lua_string = |s: &str| format!("[==[{s}]==]");
    fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = {}\n",
            lua_string(std::str::from_utf8(body).unwrap()),
            lua_string(&format!("Bearer {bearer}"))
        ),
    )
    .unwrap();
    let out = std::process::Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{}s", seconds.max(1.0) as u64),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix(prefix)
                    .map(|r| r.split_whitespace().next().unwrap_or("").to_owned())
            })
            .unwrap_or_default()
    };
    let ms = |v: String| {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let n: f64 = n.parse().unwrap_or(f64::NAN);
        let factor = match unit {
            "us" => 0.001,
            "ms" => 1.0,
            "s" => 1000.0,
            "m" => 60_000.0,
            _ => f64::NAN,
        };
        format!("{:.3}", n * factor)
    };
    let max = text
        .lines()
        .find(|l| l.trim_start().starts_with("Latency"))
        .and_then(|l| l.split_whitespace().nth(3).map(str::to_owned))
        .unwrap_or_default();
    Some(Wrk {
        rate: field("Requests/sec:").parse().unwrap_or(0.0),
        requests: text
            .lines()
            .find(|l| l.contains("requests in"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
            .unwrap_or(0),
        non_2xx: field("Non-2xx or 3xx responses:").parse().unwrap_or(0),
        p50: ms(field("50%")),
        p90: ms(field("90%")),
        p99: ms(field("99%")),
        max: ms(max),
    })
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
    // The same peak measured with wrk (C, one thread): a lighter load
    // generator leaves the server more of the two cores.
    println!();
    println!("peak with wrk (1 thread, {clients} connections, {seconds:.0} s; latencies in ms):");
    println!("| profile | durable sig/s | requests | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    let mut wrk_peak = Vec::new();
    for (profile, raw) in [("p256", raw_p256), ("p256-notsa", raw_p256), ("rsa3072", raw_rsa)] {
        let before = server.metric("signet_signer_signs_total");
        let Some(w) = wrk(
            &server.url("/v1/sign"),
            target.bearer.as_deref().unwrap_or(""),
            &body(profile).0,
            clients,
            seconds,
        ) else {
            println!(
                "!!! wrk is not installed (Debian package wrk; scripts/test installs it): the wrk phase did not run"
            );
            break;
        };
        let signed = server.metric("signet_signer_signs_total") - before;
        assert_eq!(w.non_2xx, 0, "{profile}: wrk saw failed requests");
        assert!(
            signed as u64 >= w.requests,
            "{profile}: wrk counted {} answers, the server signed {signed}",
            w.requests
        );
        println!(
            "| {profile} | {:.0} | {} | {} | {} | {} | {} |",
            w.rate, w.requests, w.p50, w.p90, w.p99, w.max
        );
        wrk_peak.push((profile, w.rate, raw));
    }
    println!();
    for (profile, achieved, raw) in &wrk_peak {
        println!(
            "{profile} (wrk): {achieved:.0} durable signatures/s = {:.3} × the raw sign rate of its key type ({raw:.0}/s)",
            achieved / raw
        );
    }
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
