//! `signet verify` against `notation verify` on the same registry, timed by
//! hyperfine in one run, reported as ratios.
//!
//! ```text
//! cargo bench -p signet-cli --bench registry_verify            # 100 images
//! BENCH_IMAGES=20 BENCH_KIND=distribution cargo bench -p signet-cli --bench registry_verify
//! BENCH_HOLD=1 cargo bench -p signet-cli --bench registry_verify < /dev/tty  # set up, print the commands, keep the registry until stdin closes
//! ```
//!
//! Starts a registry on loopback (testkit: `referrers` = go-containerregistry's
//! registry with the referrers API, the default; `distribution` = Debian's
//! docker-registry, tag fallback), pushes N distinct images, signs each with
//! signet (JWS, ECDSA P-256) and then measures:
//! 1. one image: `signet verify REF` vs `notation verify REF`;
//! 2. a batch: one `signet verify REF1 … REFN` vs N `notation verify` calls.
//!
//! It also counts the HTTP requests one cold verify sends (the registry's own
//! request log), for both tools. Without `--bench` (as `cargo test
//! --all-targets` runs it) it does a smoke run: 2 images, each command once,
//! checked for success — so the commands the benchmark times are known to work.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};
use testkit::registry::{Kind, Options, Registry};

struct Bench {
    root: tempfile::TempDir,
    reg: Registry,
}

impl Bench {
    /// The tools as timed: copies of `signet` and `notation` in the bench's
    /// own directory, as a package manager or `install` leaves them. On this
    /// machine's kernel a binary as its linker wrote it maps measurably
    /// slower than the same bytes written by one sequential copy (interleaved
    /// runs: 0.8–1.9 ms more for one `signet verify`, ~1 ms for `notation
    /// verify`); both tools get the same treatment.
    fn installed(&self, tool: &str) -> PathBuf {
        let dir = self.root.path().join("bin");
        let dest = dir.join(tool);
        if !dest.exists() {
            let source = match tool {
                "signet" => PathBuf::from(env!("CARGO_BIN_EXE_signet")),
                _ => testkit::notation::binary(),
            };
            fs::create_dir_all(&dir).unwrap();
            fs::copy(&source, &dest).unwrap();
        }
        dest
    }

    fn config(&self) -> PathBuf {
        self.root.path().join("xdg/notation")
    }

    fn signet(&self) -> Command {
        let mut c = Command::new(self.installed("signet"));
        c.arg("--config-dir").arg(self.config());
        c.env("DOCKER_CONFIG", self.root.path().join("docker"));
        c
    }

    /// `signet verify` of `refs`, as a hyperfine command line.
    fn signet_verify_line(&self, refs: &[String]) -> String {
        format!(
            "{} --config-dir {} verify --insecure-registry {} {}",
            self.installed("signet").display(),
            self.config().display(),
            self.reg.host(),
            refs.join(" ")
        )
    }

    /// `notation verify` of one image, as a command line.
    fn notation_verify_line(&self, reference: &str) -> String {
        format!(
            "{} verify --insecure-registry {reference}",
            self.installed("notation").display()
        )
    }

    fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            (
                "XDG_CONFIG_HOME".into(),
                self.root.path().join("xdg").display().to_string(),
            ),
            ("HOME".into(), self.root.path().display().to_string()),
            (
                "DOCKER_CONFIG".into(),
                self.root.path().join("docker").display().to_string(),
            ),
        ]
    }
}

/// Runs `c`, which must succeed; returns its stdout.
fn run_ok(c: &mut Command, what: &str) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn setup(kind: Kind, images: usize) -> (Bench, Vec<String>) {
    let reg = Registry::start(kind, Options::default());
    let b = Bench {
        root: tempfile::tempdir().unwrap(),
        reg,
    };
    fs::create_dir_all(b.config()).unwrap();
    let mut c = b.signet();
    c.args([
        "cert",
        "generate-test",
        "bench",
        "--key-type",
        "ec-256",
        "--default",
    ]);
    run_ok(&mut c, "signet cert generate-test");
    fs::write(
        b.config().join("trustpolicy.json"),
        json!({"version":"1.0","trustPolicies":[{"name":"bench","registryScopes":["*"],
            "signatureVerification":{"level":"strict"},"trustStores":["ca:bench"],"trustedIdentities":["*"]}]})
        .to_string(),
    )
    .unwrap();
    let mut refs = Vec::new();
    for i in 0..images {
        let image = b.reg.seed_image(&format!("bench/app{i}"), "v1");
        refs.push(image.reference);
    }
    for r in &refs {
        let mut c = b.signet();
        c.args(["sign", r, "--insecure-registry", b.reg.host()]);
        run_ok(&mut c, "signet sign");
    }
    (b, refs)
}

fn hyperfine(b: &Bench, runs: usize, warmup: usize, commands: &[(&str, String)], export: &Path) -> Vec<f64> {
    let mut c = Command::new("hyperfine");
    c.args([
        "--style",
        "basic",
        "-N",
        "--warmup",
        &warmup.to_string(),
        "--runs",
        &runs.to_string(),
    ])
    .arg("--export-json")
    .arg(export)
    .envs(b.env_vars());
    for (name, cmd) in commands {
        c.args(["-n", name, cmd]);
    }
    let status = c
        .status()
        .expect("hyperfine is required: apt-get install hyperfine");
    assert!(status.success(), "hyperfine failed");
    let doc: Value = serde_json::from_slice(&fs::read(export).unwrap()).unwrap();
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mean"].as_f64().unwrap())
        .collect()
}

/// Requests the registry served while `c` ran.
fn requests(b: &Bench, mut c: Command, what: &str) -> usize {
    let before = b.reg.request_count();
    run_ok(c.envs(b.env_vars()), what);
    // The registry logs after answering; give the log a moment to flush.
    std::thread::sleep(std::time::Duration::from_millis(200));
    b.reg.request_count() - before
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let kind = match std::env::var("BENCH_KIND").as_deref() {
        Ok("distribution") => Kind::Distribution,
        _ => Kind::Referrers,
    };
    let n: usize = if bench {
        std::env::var("BENCH_IMAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100)
    } else {
        2
    };
    let (b, refs) = setup(kind, n);
    if std::env::var_os("BENCH_HOLD").is_some() {
        // For profiling by hand: print what the benchmark would run, keep the
        // registry up until stdin closes.
        for (k, v) in b.env_vars() {
            println!("export {k}={v}");
        }
        println!("{}", b.signet_verify_line(&refs[..1]));
        println!("{}", b.notation_verify_line(&refs[0]));
        fs::write(b.root.path().join("refs"), refs.join(" ")).unwrap();
        println!("refs in {}", b.root.path().join("refs").display());
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        return;
    }

    // Cold-verify request counts, both tools, one image each.
    let mut c = b.signet();
    c.args(["verify", &refs[0], "--insecure-registry", b.reg.host()]);
    let signet_requests = requests(&b, c, "signet verify");
    let mut c = Command::new(b.installed("notation"));
    c.args(["verify", "--insecure-registry", &refs[0]]);
    let notation_requests = requests(&b, c, "notation verify");
    println!("HTTP requests for one cold verify: signet {signet_requests}, notation {notation_requests}");

    if !bench {
        // Smoke: the batch form works too.
        let mut c = b.signet();
        c.arg("verify")
            .args(&refs)
            .args(["--insecure-registry", b.reg.host()]);
        run_ok(c.envs(b.env_vars()), "signet verify (batch)");
        println!(
            "registry_verify: smoke run passed (run `cargo bench -p signet-cli --bench registry_verify` for numbers)"
        );
        return;
    }

    let export = b.root.path().join("hyperfine.json");
    let one = hyperfine(
        &b,
        30,
        3,
        &[
            ("signet verify (1 image)", b.signet_verify_line(&refs[..1])),
            ("notation verify (1 image)", b.notation_verify_line(&refs[0])),
        ],
        &export,
    );
    let script = b.root.path().join("notation-batch.sh");
    let mut body = String::from("#!/bin/sh\nset -e\n");
    for r in &refs {
        body.push_str(&format!("{} >/dev/null\n", b.notation_verify_line(r)));
    }
    fs::write(&script, body).unwrap();
    let batch = hyperfine(
        &b,
        5,
        1,
        &[
            ("signet verify (batch)", b.signet_verify_line(&refs)),
            ("notation verify x N", format!("sh {}", script.display())),
        ],
        &export,
    );
    println!();
    println!(
        "| case ({n} images in batch, {kind:?} registry) | signet (ms) | notation (ms) | notation / signet |"
    );
    println!("|---|---|---|---|");
    println!(
        "| one image | {:.1} | {:.1} | {:.1}x |",
        one[0] * 1e3,
        one[1] * 1e3,
        one[1] / one[0]
    );
    println!(
        "| batch of {n} | {:.1} | {:.1} | {:.1}x |",
        batch[0] * 1e3,
        batch[1] * 1e3,
        batch[1] / batch[0]
    );
    println!("| HTTP requests, one cold verify | {signet_requests} | {notation_requests} | |");
    println!("{}", symbol_order_report(&b.installed("signet")));
}

/// How much of `crates/cli/signet.order` (see `crates/cli/build.rs`) the timed
/// `signet` still defines: names go stale with toolchain and dependency
/// updates, and the start-up the order saves goes with them.
fn symbol_order_report(signet: &Path) -> String {
    let listed =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("signet.order")).unwrap_or_default();
    let listed: Vec<&str> = listed.lines().filter(|l| !l.is_empty()).collect();
    let nm = match Command::new("nm").arg("--defined-only").arg(signet).output() {
        Ok(out) if out.status.success() => out.stdout,
        _ => return "symbol order: not checked (no `nm`)".into(),
    };
    let defined: std::collections::HashSet<&str> = std::str::from_utf8(&nm)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let found = listed.iter().filter(|name| defined.contains(*name)).count();
    let stale = if found * 10 < listed.len() * 9 {
        " — stale: run scripts/symbol-order"
    } else {
        ""
    };
    format!(
        "symbol order: {found} of the {} functions in crates/cli/signet.order are in this signet{stale}",
        listed.len()
    )
}
