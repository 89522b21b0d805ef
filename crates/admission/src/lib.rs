//! Kubernetes admission for Signet: only verified images reach the cluster.
//!
//! `signet serve admission --config FILE` runs one HTTPS server with
//!
//! * `POST /validate`, `POST /mutate` — `admission.k8s.io/v1` AdmissionReview
//!   for Pods and every pod-bearing workload kind ([`review`]);
//! * `POST /gatekeeper/verify`, `POST /gatekeeper/mutate` — Gatekeeper
//!   external data over mTLS ([`gatekeeper`]);
//! * `GET /healthz`, `/readyz`, `/metrics`.
//!
//! ```text
//!   review / gatekeeper ──> Engine::check(image, namespace, deadline)
//!                             ├─ policy selection (policy, glob)
//!                             ├─ tag → digest (cached, coalesced)
//!                             └─ verification (cached, coalesced, bounded)
//!                                  └─ oci::verify_artifact (notary verifier, registry client)
//! ```
#![warn(missing_docs)]

pub mod config;
pub mod engine;
pub mod gatekeeper;
pub use oci::glob;
pub mod metrics;
pub mod policy;
pub mod review;
pub mod server;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use engine::Engine;
pub use server::Server;

/// Everything that can stop the server from starting or reloading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is invalid.
    #[error("invalid configuration {}: {message}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A policy document is invalid.
    #[error("invalid policy in {}: {message}", .path.display())]
    Policy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The serving certificate, its key or the client CA is unusable, or
    /// the port cannot be bound.
    #[error(transparent)]
    Https(#[from] https::Error),
    /// The registry client could not be set up.
    #[error("registry client: {0}")]
    Registry(String),
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }
}

/// Reads a configuration or policy file of at most `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<String, Error> {
    https::read_bounded(path, limit).map_err(|e| Error::io("read", path, e))
}

/// Runs the server described by the configuration file `path` until SIGTERM
/// or Ctrl-C. `on_listen` is told the bound address once it accepts.
pub fn run(path: &Path, on_listen: impl FnOnce(std::net::SocketAddr)) -> Result<(), Error> {
    let config = Config::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("signet-admission")
        .build()
        .map_err(|e| Error::io("start the runtime for", path, e))?;
    runtime.block_on(async {
        let server = Server::bind(&config).await?;
        on_listen(server.local_addr);
        server.serve(https::shutdown_signal()).await
    })
}
