//! `signet serve`: the long-running services.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The signing service: signatures for every pipeline, keys for none.
    ///
    /// HTTPS JSON API (`/openapi.json`): `POST /v1/sign` with an API token,
    /// an OIDC JWT or a client certificate; per-job certificates with the
    /// service's CRL and OCSP responder; a built-in RFC 3161 TSA (`/tsa`);
    /// jobs, revocation and a hash-chained audit log in SQLite or
    /// PostgreSQL. SIGTERM stops accepting, fails `/readyz`, finishes the
    /// requests in flight (each answered job is durable) and writes a last
    /// audit checkpoint.
    #[command(after_help = signer::config::HELP)]
    Signer {
        /// The service's configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Kubernetes admission: AdmissionReview webhook (`/validate`, `/mutate`)
    /// and Gatekeeper external-data provider (`/gatekeeper/verify`,
    /// `/gatekeeper/mutate`) over HTTPS.
    ///
    /// Policies (`ClusterImagePolicy`, `ImagePolicy`), trust stores, the
    /// revocation list and the serving certificate are re-read when they
    /// change; no restart needed. SIGTERM stops accepting, fails `/readyz`
    /// and lets requests in flight finish. Logs one line per decision
    /// (`RUST_LOG` sets the level; default info).
    #[command(after_help = "Examples:
  signet serve admission --config /etc/signet/admission.yaml
  RUST_LOG=signet=debug,admission=debug signet serve admission --config admission.yaml

See deploy/ for the Kubernetes manifests and deploy/README.md for the
configuration file, the policy format and certificate rotation.")]
    Admission {
        /// The server's configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// The node agent: polls the signed verifier config bundle (pinned root,
    /// rollback and freeze refused), keeps a verification cache, and answers
    /// pull decisions for `signet-containerd-verifier` on a Unix socket only
    /// root can reach.
    #[command(after_help = "Example:
  signet serve node --config /etc/signet/node.yaml

node.yaml:
  socket: /run/signet/node.sock
  stateDir: /var/lib/signet/node
  bundle:
    source: oci://registry.example.com/signet/bundle:current   # or https://…/bundle.json, file:///…
    trustRoot: /etc/signet/bundle-root.pem
    identities: [\"x509.subject: C=US, ST=WA, O=Example, CN=bundles\"]
    pollInterval: 30s
    maxAge: 24h
  metricsListen: 127.0.0.1:9464")]
    Node {
        /// The agent's configuration file (YAML).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Signer { config } => {
            signer::run(&config, |addr| {
                // Printed on stdout for supervisors and tests that start the
                // server on port 0.
                println!("signet signer listening on https://{addr}");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Node { config } => {
            node::agent::run(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admission { config } => {
            admission::run(&config, |addr| {
                // Printed on stdout for supervisors and tests that start the
                // server on port 0.
                println!("signet admission listening on https://{addr}");
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
