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

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::{env_or, run, signet};
use serde_json::json;
use testkit::{
    admission::{AdmissionServer, pod_review},
    registry::{Kind, Options, Registry},
};

const DEADLINE: Duration = Duration::from_secs(8);

struct Stats {
    n: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
    late: usize,
}

fn stats(mut latencies: Vec<Duration>, errors: usize) -> Stats {
    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
        latencies.get(i).copied().unwrap_or_default()
    };
    Stats {
        n: latencies.len(),
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        errors,
        late: latencies.iter().filter(|l| **l > DEADLINE).count(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

fn print_row(name: &str, offered: &str, achieved: f64, s: &Stats) {
    println!(
        "| {name} | {offered} | {achieved:.0} | {} | {} | {} | {} | {} | {} | {} |",
        s.n,
        ms(s.p50),
        ms(s.p90),
        ms(s.p99),
        ms(s.max),
        s.errors,
        s.late
    );
}

async fn send(client: &reqwest::Client, url: &str, body: &bytes_body::Body) -> bool {
    match client
        .post(url)
        .header("content-type", "application/json")
        .body(body.0.clone())
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(b) => serde_json::from_slice::<serde_json::Value>(&b)
                .is_ok_and(|doc| doc["response"]["allowed"] == serde_json::Value::Bool(true)),
            Err(_) => false,
        },
        _ => false,
    }
}

mod bytes_body {
    /// A request body shared by every request of a phase.
    #[derive(Clone)]
    pub struct Body(pub Vec<u8>);
}

/// Open loop: `count` requests at `rate` per second, bodies from `bodies` in
/// turn. A plain thread paces the requests (tokio's timer ticks in whole
/// milliseconds, which would add up to 1 ms of lateness to each), spawning
/// each onto the runtime when it is due.
fn open_loop(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    bodies: &[bytes_body::Body],
    rate: f64,
    count: usize,
) -> (Stats, f64) {
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let client = client.clone();
        let url = url.to_owned();
        let body = bodies[i % bodies.len()].clone();
        tasks.push(rt.spawn(async move {
            let ok = send(&client, &url, &body).await;
            (ok, due.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut errors = 0;
    rt.block_on(async {
        for t in tasks {
            let (ok, latency) = t.await.unwrap();
            if !ok {
                errors += 1;
            }
            latencies.push(latency);
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    (stats(latencies, errors), count as f64 / elapsed)
}

/// Closed loop: `concurrency` clients, each sending as soon as its answer came, for `seconds`.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    body: &bytes_body::Body,
    concurrency: usize,
    seconds: f64,
) -> (Stats, f64) {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < end {
                let t = Instant::now();
                if !send(&client, &url, &body).await {
                    errors += 1;
                }
                latencies.push(t.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    let n = latencies.len() as f64;
    (stats(latencies, errors), n / started.elapsed().as_secs_f64())
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
    let body = |image: &str| {
        bytes_body::Body(
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
        &client,
        &url,
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
    let (s, achieved) = open_loop(&runtime, &client, &url, std::slice::from_ref(&warm), rate, count);
    print_row("warm (cached)", &format!("{rate:.0}"), achieved, &s);
    assert_eq!(s.errors, 0, "warm requests failed");
    assert_eq!(s.late, 0);

    let (s, achieved) = runtime.block_on(closed_loop(&client, &url, &warm, 32, seconds.min(5.0)));
    print_row("warm, 32 clients closed loop (peak)", "-", achieved, &s);
    assert_eq!(s.errors, 0);

    let verifications = server.metric("signet_admission_verifications_total");
    let cold_rate = 20.0;
    let (s, achieved) = open_loop(
        &runtime,
        &client,
        &url,
        &cold_bodies,
        cold_rate,
        cold_bodies.len(),
    );
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
