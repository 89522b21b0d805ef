//! `signet audit`: check and export the signing service's audit log.

use std::{
    io::BufReader,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::Subcommand;
use serde_json::json;

use crate::{commands::signer::open_store, output::Format};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the hash chain, the signed checkpoints and (with --config)
    /// every job row against its audit entry. Exit 0 when intact, 1 with
    /// each problem listed (an edited, deleted, reordered or added entry or
    /// job, a truncated log, a bad checkpoint signature).
    #[command(after_help = "Examples:
  signet audit verify --config /etc/signet/signer.yaml
  signet audit verify --export audit.jsonl --public-key checkpoint.pub.pem")]
    Verify {
        /// The service's configuration file: its database is checked, and
        /// its checkpoint key is used unless --public-key is given.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "export",
            conflicts_with = "export"
        )]
        config: Option<PathBuf>,
        /// A JSON-lines export (`signet audit export`, `GET /v1/audit`) to check instead.
        #[arg(long, value_name = "FILE", requires = "public_key")]
        export: Option<PathBuf>,
        /// The checkpoint key's public key, certificate or private key
        /// (PEM). Repeatable (key rotation).
        #[arg(long, value_name = "FILE")]
        public_key: Vec<PathBuf>,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Write the audit log as JSON lines: every entry, then the checkpoints.
    Export {
        /// The service's configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Where to write (default stdout).
        #[arg(short = 'f', long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// The SPKI DER of a PEM public key, certificate or private key.
fn public_key(path: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if text.contains("BEGIN CERTIFICATE") {
        let certs = notary::x509::read_certificates(text.as_bytes())?;
        let cert = certs.first().context("no certificate")?;
        return Ok(cert.spki_der());
    }
    if text.contains("PRIVATE KEY") {
        let key = notary::crypto::PrivateKey::from_pem(text.as_bytes())?;
        return Ok(key.public_key_spki_der()?);
    }
    if let Some(body) = text
        .split("-----BEGIN PUBLIC KEY-----")
        .nth(1)
        .and_then(|b| b.split("-----END PUBLIC KEY-----").next())
    {
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .with_context(|| format!("{}: the PUBLIC KEY block is not base64", path.display()));
    }
    bail!(
        "{}: expected a PEM PUBLIC KEY, CERTIFICATE or PRIVATE KEY",
        path.display()
    )
}

fn keys(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>> {
    paths
        .iter()
        .map(|p| {
            let spki = public_key(p)?;
            Ok((signer::service::key_id(&spki), spki))
        })
        .collect()
}

pub fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Verify {
            config,
            export,
            public_key,
            output,
        } => {
            let mut keys = keys(&public_key)?;
            let report = match (config, export) {
                (Some(config), _) => {
                    if keys.is_empty() {
                        let cfg = signer::Config::load(&config)?;
                        let key = signer::keys::open(&cfg.audit.checkpoint_key).with_context(|| {
                            "opening audit.checkpointKey (or give --public-key)".to_string()
                        })?;
                        keys.push((signer::service::key_id(&key.public_key_spki), key.public_key_spki));
                    }
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    let store = open_store(&rt, &config)?;
                    let report = rt.block_on(store.verify_audit(&keys))?;
                    rt.block_on(store.close());
                    report
                }
                (None, Some(export)) => {
                    let file = std::fs::File::open(&export)
                        .with_context(|| format!("opening {}", export.display()))?;
                    signer::store::verify_export(BufReader::new(file), &keys)?
                }
                (None, None) => bail!("give --config or --export"),
            };
            let intact = report.problems.is_empty();
            match output {
                Format::Text => {
                    println!(
                        "{} entries, {} checkpoints, {} jobs, {} stored profiles checked",
                        report.entries, report.checkpoints, report.jobs, report.profiles
                    );
                    for p in &report.problems {
                        println!("PROBLEM: {p}");
                    }
                    if intact {
                        println!("The audit log is intact.");
                    } else {
                        println!(
                            "The audit log has been tampered with: {} problem(s).",
                            report.problems.len()
                        );
                    }
                }
                Format::Json => crate::output::json(&json!({
                    "intact": intact,
                    "report": report,
                })),
            }
            Ok(if intact {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Export { config, file } => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let store = open_store(&rt, &config)?;
            let n = match &file {
                Some(path) => {
                    let mut out = std::io::BufWriter::new(
                        std::fs::File::create(path)
                            .with_context(|| format!("creating {}", path.display()))?,
                    );
                    rt.block_on(store.export_audit(&mut out))?
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout());
                    rt.block_on(store.export_audit(&mut out))?
                }
            };
            rt.block_on(store.close());
            if file.is_some() {
                eprintln!("Exported {n} audit records");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
