//! Signet's signing service: build machines get signatures, never keys.
//!
//! ```text
//!  client (token | mTLS | OIDC JWT) ──► auth ──► rules (deny by default)
//!                                                  │
//!                                 profile ◄────────┘
//!                                    │ key backend (file | PKCS#11)
//!                                    ▼
//!      fresh leaf key ─► pki::issue_leaf (CA key signs; CRL DP + OCSP URL of the service)
//!                                    ▼
//!      notary::envelope::sign (+ built-in RFC 3161 TSA) ─► store (job + audit entry, group commit)
//! ```
//!
//! [`server`] is the HTTP layer, [`service`] what it calls; [`pki`] makes
//! certificates, CRLs, OCSP responses and timestamps; [`keys`] opens keys
//! (files, PKCS#11); [`auth`] turns credentials into identities and rules
//! into decisions; [`profiles`] holds the live signing profiles — the
//! configuration file's and those admins make through the API; [`store`]
//! keeps jobs, tokens, revocations, API-made profiles and the hash-chained
//! audit log in SQLite or PostgreSQL.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod init;
pub mod keys;
pub mod metrics;
pub mod pki;
pub mod profiles;
pub mod server;
pub mod service;
pub mod store;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use server::Server;

/// Everything that stops the service from starting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
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
    /// A signing profile cannot be used.
    #[error("profile {name:?}: {message}")]
    Profile {
        /// The profile.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The timestamp authority cannot be used.
    #[error("tsa: {0}")]
    Tsa(String),
    /// The rules are invalid.
    #[error("rules: {0}")]
    Rules(String),
    /// An OIDC issuer cannot be used.
    #[error("auth.oidc: {0}")]
    Oidc(String),
    /// The audit configuration cannot be used.
    #[error("audit: {0}")]
    Audit(String),
    /// The database cannot be opened.
    #[error("database: {0}")]
    Store(String),
    /// TLS or the listening socket.
    #[error(transparent)]
    Https(#[from] https::Error),
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

/// Runs the service described by the configuration file `path` until
/// SIGTERM or Ctrl-C. `on_listen` is told the bound address.
pub fn run(path: &Path, on_listen: impl FnOnce(std::net::SocketAddr)) -> Result<(), Error> {
    let config = Config::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("signet-signer")
        .build()
        .map_err(|e| Error::io("start the runtime for", path, e))?;
    runtime.block_on(async {
        let server = Server::bind(&config).await?;
        on_listen(server.local_addr);
        server.serve(https::shutdown_signal()).await
    })
}
