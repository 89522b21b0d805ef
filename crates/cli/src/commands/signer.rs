//! `signet signer`: set up the signing service and manage its API tokens
//! on the host that runs it (straight on its database, as its operator),
//! and its signing profiles from anywhere (through its API, as an admin).

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
    /// Signing profiles through the service's API (an admin's credential):
    /// put, get, list, delete. Profiles in the configuration file are
    /// listed but changed only there.
    #[command(subcommand)]
    Profile(ProfileCommand),
}

// How to reach the service's API.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// The signing service's URL (https://signer.example.com:8443).
    #[arg(long, value_name = "URL")]
    remote: String,
    /// A file holding an admin's API token or OIDC JWT (default:
    /// $SIGNET_SIGNER_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the service's TLS certificate,
    /// besides the system roots.
    #[arg(long, value_name = "FILE")]
    remote_ca_file: Option<PathBuf>,
}

impl ServiceArgs {
    fn client(&self) -> Result<crate::signer_client::Client> {
        crate::signer_client::Client::new(
            &self.remote,
            self.token_file.as_deref(),
            self.remote_ca_file.as_deref(),
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create or replace profile NAME (`PUT /v1/profiles/NAME`): each
    /// change is a new version, which signatures carry.
    #[command(after_help = "Example (the key path is on the service's host):
  cat > team-a.yaml <<EOF
  key: {type: file, path: /etc/signet/team-a-ca.key}
  subject: CN=team-a,O=Acme,ST=WA,C=US
  EOF
  signet signer profile put team-a --file team-a.yaml --certificate-chain team-a-ca.pem \\
    --remote https://signer.example.com:8443")]
    Put {
        /// The profile's name.
        name: String,
        /// The definition (YAML or JSON): a profile as the configuration
        /// file gives it, without name and version; paths are absolute
        /// paths on the service's host.
        #[arg(long, short = 'f', value_name = "FILE")]
        file: PathBuf,
        /// A local PEM file with the certificate chain, sent inline
        /// (`certificateChainPem`).
        #[arg(long, value_name = "FILE")]
        certificate_chain: Option<PathBuf>,
        #[command(flatten)]
        service: ServiceArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Show profile NAME and, for one made through the API, its definition (JSON).
    Get {
        /// The profile's name.
        name: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
    /// List the profiles: name, version, source (configuration or api), state.
    #[command(alias = "ls")]
    List {
        #[command(flatten)]
        service: ServiceArgs,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Delete profile NAME (made through the API): it signs nothing more,
    /// but its CRL and OCSP keep answering for the certificates it issued.
    Delete {
        /// The profile's name.
        name: String,
        #[command(flatten)]
        service: ServiceArgs,
    },
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

/// `signet signer profile …`: the API, as an admin.
fn profile(command: ProfileCommand) -> Result<ExitCode> {
    use reqwest::Method;
    match command {
        ProfileCommand::Put {
            name,
            file,
            certificate_chain,
            service,
            output,
        } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut definition: serde_json::Value = serde_saphyr::from_str(&text)
                .with_context(|| format!("{}: not YAML or JSON", file.display()))?;
            if let Some(chain) = certificate_chain {
                let pem = std::fs::read_to_string(&chain)
                    .with_context(|| format!("reading {}", chain.display()))?;
                let Some(map) = definition.as_object_mut() else {
                    anyhow::bail!("{}: the definition must be a mapping (key: …)", file.display());
                };
                map.remove("certificateChain");
                map.insert("certificateChainPem".into(), pem.into());
            }
            let answer =
                service
                    .client()?
                    .call(Method::PUT, &format!("/v1/profiles/{name}"), Some(&definition))?;
            match output {
                Format::Text => println!(
                    "{} profile {name:?}: version {} (audit entry {})",
                    if answer["created"] == true {
                        "Created"
                    } else {
                        "Changed"
                    },
                    answer["version"],
                    answer["auditSeq"]
                ),
                Format::Json => crate::output::json(&answer),
            }
        }
        ProfileCommand::Get { name, service } => {
            let answer = service
                .client()?
                .call(Method::GET, &format!("/v1/profiles/{name}"), None)?;
            crate::output::json(&answer);
        }
        ProfileCommand::List { service, output } => {
            let answer = service.client()?.call(Method::GET, "/v1/profiles", None)?;
            match output {
                Format::Text => {
                    let profiles = answer["profiles"].as_array().cloned().unwrap_or_default();
                    if profiles.is_empty() {
                        println!("No profiles.");
                    }
                    for p in &profiles {
                        let text = |k: &str| p[k].as_str().unwrap_or("-").to_owned();
                        let version = p["version"].as_i64().map_or("-".to_owned(), |v| v.to_string());
                        println!(
                            "{}\t{version}\t{}\t{}",
                            text("name"),
                            text("source"),
                            text("state")
                        );
                    }
                }
                Format::Json => crate::output::json(&answer),
            }
        }
        ProfileCommand::Delete { name, service } => {
            service
                .client()?
                .call(Method::DELETE, &format!("/v1/profiles/{name}"), None)?;
            println!("Deleted profile {name:?}: it signs nothing more (its CRL and OCSP keep answering)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Profile(command) => profile(command),
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
