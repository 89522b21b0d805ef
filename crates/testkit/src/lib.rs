//! Test support for Signet: where the upstream vectors are, and test PKI.
//!
//! Tests read the Notary Project vectors from `../shared/vectors` relative to
//! the repository root; this crate finds that directory and fails loudly,
//! naming the path it tried, when it is missing, so no test passes silently
//! without its data. It also starts the real peers tests run against on loopback:
//! registries ([`registry`], and the deliberately bad [`hostile`] one), a TSA,
//! an OCSP responder, and notation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

pub mod pki;
pub mod revocation;

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// `../shared/vectors/notation` next to the repository; panics with the path
/// it tried when the vectors are not there.
pub fn vectors() -> PathBuf {
    let dir = repo_root().join("../shared/vectors/notation");
    assert!(
        dir.join("INDEX.md").is_file(),
        "upstream Notary Project vectors not found at {} — tests need ../shared/vectors next to the repository",
        dir.display()
    );
    dir
}

/// A path inside the notation vectors.
pub fn vector(rel: &str) -> PathBuf {
    let p = vectors().join(rel);
    assert!(p.exists(), "vector file missing: {}", p.display());
    p
}

/// The bytes of a vector file.
pub fn read_vector(rel: &str) -> Vec<u8> {
    std::fs::read(vector(rel)).unwrap()
}
pub mod admission;
pub mod containerd;
pub mod hostile;
mod httpd;
pub mod notation;
pub mod postgres;
pub mod registry;
pub mod signer;
pub mod softhsm;
pub mod tls;
pub mod tsa;

/// The first line a child process prints on `out` (a server announcing its
/// address), waiting at most `timeout`; empty when none came. The reader
/// keeps draining `out` afterwards so the child never blocks on a full pipe.
pub fn read_first_line(
    out: impl std::io::Read + Send + 'static,
    timeout: std::time::Duration,
) -> (String, std::thread::JoinHandle<()>) {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = std::io::BufReader::new(out).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let _ = tx.send(first);
        for _ in lines {}
    });
    (rx.recv_timeout(timeout).unwrap_or_default(), reader)
}

/// The sum of the samples of metric `name` (every label set) in a
/// Prometheus text exposition.
pub fn metric_sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
