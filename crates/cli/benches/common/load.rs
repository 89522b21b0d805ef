//! An HTTP load generator for the service benches: open loop at a fixed
//! offered rate (latency measured from when each request was due, so a
//! stalled server cannot hide queueing) and closed loop (peak throughput).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

/// A request body shared by every request of a phase.
#[derive(Clone)]
pub struct Body(pub Vec<u8>);

/// Where requests go and what a good answer is.
#[derive(Clone)]
pub struct Target {
    /// The client (keep-alive pool).
    pub client: reqwest::Client,
    /// The URL POSTed to.
    pub url: String,
    /// `Authorization: Bearer …`, if any.
    pub bearer: Option<String>,
    /// Whether a 2xx answer's body is the right answer.
    pub check: fn(&[u8]) -> bool,
    /// Answers later than this count as late.
    pub deadline: Duration,
}

/// Latency percentiles of a phase.
pub struct Stats {
    pub n: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub errors: usize,
    pub late: usize,
}

pub fn stats(mut latencies: Vec<Duration>, errors: usize, deadline: Duration) -> Stats {
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
        late: latencies.iter().filter(|l| **l > deadline).count(),
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// One markdown table row: phase, offered, achieved, n, p50, p90, p99, max, errors, late.
pub fn print_row(name: &str, offered: &str, achieved: f64, s: &Stats) {
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

async fn send(target: &Target, body: &Body) -> bool {
    let mut req = target
        .client
        .post(&target.url)
        .header("content-type", "application/json")
        .body(body.0.clone());
    if let Some(b) = &target.bearer {
        req = req.bearer_auth(b);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(b) => (target.check)(&b),
            Err(_) => false,
        },
        _ => false,
    }
}

/// Open loop: `count` requests at `rate` per second, bodies from `bodies` in
/// turn. A plain thread paces the requests (tokio's timer ticks in whole
/// milliseconds, which would add up to 1 ms of lateness to each), spawning
/// each onto the runtime when it is due.
pub fn open_loop(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    bodies: &[Body],
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
        let target = target.clone();
        let body = bodies[i % bodies.len()].clone();
        tasks.push(rt.spawn(async move {
            let ok = send(&target, &body).await;
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
    (stats(latencies, errors, target.deadline), count as f64 / elapsed)
}

/// Closed loop: `concurrency` clients, each sending as soon as its answer
/// came, for `seconds`; the rate is of good answers.
pub async fn closed_loop(target: &Target, body: &Body, concurrency: usize, seconds: f64) -> (Stats, f64) {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let target = target.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            while Instant::now() < end {
                let t = Instant::now();
                if !send(&target, &body).await {
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
    let good = (latencies.len() - errors) as f64;
    (
        stats(latencies, errors, target.deadline),
        good / started.elapsed().as_secs_f64(),
    )
}
