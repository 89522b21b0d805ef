//! `signet signer`: set up the signing service and manage its API tokens
//! on the host that runs it (straight on its database, as its operator).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;
use signer::{Config, store::Write};
use time::OffsetDateTime;

use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a working development setup in DIR: a generated test CA, a
    /// TSA, a checkpoint key, a TLS certificate, a SQLite database, an
    /// admin API token (DIR/admin.token), and the trust store and trust
    /// policy verifiers need (DIR/trust).
    #[command(after_help = "Example:
  signet signer init ./signer
  signet serve signer --config ./signer/signer.yaml &
  SIGNET_SIGNER_TOKEN=$(signet signer token create --config ./signer/signer.yaml --name ci --identity ci) \\
    signet sign --oci-layout ./layout:v1 --remote https://127.0.0.1:8443 --remote-ca-file ./signer/tls/ca.pem
  signet verify --config-dir ./signer/trust --oci-layout ./layout:v1")]
    Init {
        /// The directory to create (must not hold a setup yet).
        dir: PathBuf,
        /// The address the service will listen on (HTTPS).
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Where it serves CRLs, OCSP and the TSA over plain HTTP (default:
        /// the next port after --listen's).
        #[arg(long)]
        http_listen: Option<SocketAddr>,
    },
    /// API tokens: create (printed once, stored hashed), revoke, list.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token. Only the token is printed on stdout (text output),
    /// so `TOKEN=$(signet signer token create …)` works.
    Create {
        /// The service's configuration file (its database is used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The token's name (unique; used to revoke it).
        #[arg(long)]
        name: String,
        /// The identity subject the service's rules match (`method: token`).
        #[arg(long)]
        identity: String,
        /// Lifetime, e.g. 90d; none by default.
        #[arg(long, value_parser = https::parse_duration)]
        expires_in: Option<std::time::Duration>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Revoke a token: requests with it are refused from now on (other
    /// replicas within 5 s).
    Revoke {
        /// The service's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The token's name.
        name: String,
    },
    /// List tokens (never the secrets).
    #[command(alias = "ls")]
    List {
        /// The service's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens the store the configuration names.
pub fn open_store(rt: &tokio::runtime::Runtime, config: &std::path::Path) -> Result<signer::store::Store> {
    let cfg = Config::load(config)?;
    rt.block_on(signer::store::Store::open(cfg.database_url()))
        .with_context(|| format!("opening the database of {}", config.display()))
}

/// Who is acting, for the audit log.
fn operator() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Init {
            dir,
            listen,
            http_listen,
        } => {
            let http_listen =
                http_listen.unwrap_or_else(|| SocketAddr::new(listen.ip(), listen.port().saturating_add(1)));
            let rt = runtime()?;
            let made = rt.block_on(signer::init::init(&dir, listen, http_listen))?;
            println!("Created a development signing service in {}", dir.display());
            println!("  configuration: {}", made.config.display());
            println!("  admin token:   {} (also in admin.token)", made.admin_token);
            println!("  TLS CA:        {}", made.tls_ca.display());
            println!("  verifier trust store and policy: {}", made.trust_dir.display());
            println!("Start it: signet serve signer --config {}", made.config.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Create {
            config,
            name,
            identity,
            expires_in,
            output,
        }) => {
            let rt = runtime()?;
            let store = open_store(&rt, &config)?;
            let expires_at = expires_in.map(|d| OffsetDateTime::now_utc() + d);
            let (token, record) =
                signer::service::new_token(&name, &identity, expires_at).map_err(anyhow::Error::msg)?;
            rt.block_on(store.submit(Write::CreateToken {
                token: record,
                actor: operator(),
            }))?;
            rt.block_on(store.close());
            match output {
                Format::Text => println!("{token}"),
                Format::Json => crate::output::json(&json!({
                    "name": name,
                    "identity": identity,
                    "token": token,
                    "expiresAt": expires_at.map(signer::service::rfc3339),
                })),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::Revoke { config, name }) => {
            let rt = runtime()?;
            let store = open_store(&rt, &config)?;
            rt.block_on(store.submit(Write::RevokeToken {
                name: name.clone(),
                actor: operator(),
            }))?;
            rt.block_on(store.close());
            println!("Revoked token {name:?}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Token(TokenCommand::List { config, output }) => {
            let rt = runtime()?;
            let store = open_store(&rt, &config)?;
            let tokens = rt.block_on(store.tokens())?;
            rt.block_on(store.close());
            match output {
                Format::Text => {
                    if tokens.is_empty() {
                        println!("No tokens.");
                    }
                    for t in &tokens {
                        let state = match (t.revoked_at, t.expires_at) {
                            (Some(_), _) => "revoked".to_owned(),
                            (None, Some(e)) if e <= OffsetDateTime::now_utc() => "expired".to_owned(),
                            (None, Some(e)) => format!("expires {}", signer::service::rfc3339(e)),
                            (None, None) => "active".to_owned(),
                        };
                        println!("{}\t{}\t{state}", t.name, t.identity);
                    }
                }
                Format::Json => crate::output::json(&json!({"tokens": tokens.iter().map(|t| json!({
                    "name": t.name,
                    "identity": t.identity,
                    "createdAt": signer::service::rfc3339(t.created_at),
                    "expiresAt": t.expires_at.map(signer::service::rfc3339),
                    "revokedAt": t.revoked_at.map(signer::service::rfc3339),
                })).collect::<Vec<_>>()})),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
