//! `signet key`: the signing keys in signingkeys.json.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use notary::{crypto::PrivateKey, x509};

use crate::config::{ConfigDir, KeySuite};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List signing keys; `*` marks the default.
    #[command(alias = "ls")]
    List,
    /// Add a key (PKCS#8, PKCS#1 or SEC1 PEM) and its certificate chain (PEM, leaf first).
    Add(Add),
    /// Delete signing keys (the key files stay on disk).
    #[command(alias = "rm")]
    Delete {
        /// Key names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Make a key the default signing key.
    Default {
        /// Key name.
        name: String,
    },
}

#[derive(Debug, ClapArgs)]
pub struct Add {
    /// Name for the key.
    pub name: String,
    /// Private key file.
    #[arg(long = "key", value_name = "FILE")]
    pub key_path: PathBuf,
    /// Certificate chain file, leaf first.
    #[arg(long = "cert", value_name = "FILE")]
    pub cert_path: PathBuf,
    /// Make it the default signing key.
    #[arg(long)]
    pub default: bool,
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    let mut keys = config.load_signing_keys()?;
    match cmd {
        Command::List => {
            if keys.keys.is_empty() {
                eprintln!("No signing keys. Create one with `signet cert generate-test NAME --default`.");
            }
            for k in &keys.keys {
                let mark = if keys.default.as_deref() == Some(k.name.as_str()) {
                    "*"
                } else {
                    " "
                };
                let detail = match (&k.key_path, &k.plugin_name) {
                    (Some(p), _) => p.display().to_string(),
                    (None, Some(plugin)) => format!("plugin {plugin}"),
                    _ => String::new(),
                };
                println!("{mark} {}\t{detail}", k.name);
            }
        }
        Command::Add(a) => {
            if keys.keys.iter().any(|k| k.name == a.name) {
                bail!("signing key {:?} already exists", a.name);
            }
            let key_path = absolute(&a.key_path)?;
            let cert_path = absolute(&a.cert_path)?;
            check_key_pair(&key_path, &cert_path)?;
            keys.keys.push(KeySuite {
                name: a.name.clone(),
                key_path: Some(key_path),
                cert_path: Some(cert_path),
                id: None,
                plugin_name: None,
                plugin_config: None,
            });
            if a.default {
                keys.default = Some(a.name.clone());
            }
            config.save_signing_keys(&keys)?;
            println!(
                "{}: added to the key list{}",
                a.name,
                if a.default { " as the default" } else { "" }
            );
        }
        Command::Delete { names } => {
            for name in &names {
                let before = keys.keys.len();
                keys.keys.retain(|k| &k.name != name);
                if keys.keys.len() == before {
                    bail!("signing key {name:?} not found");
                }
                if keys.default.as_deref() == Some(name.as_str()) {
                    keys.default = None;
                }
            }
            config.save_signing_keys(&keys)?;
            for name in names {
                println!("Removed {name} from the signing key list. The key files were not deleted.");
            }
        }
        Command::Default { name } => {
            if !keys.keys.iter().any(|k| k.name == name) {
                bail!("signing key {name:?} not found");
            }
            keys.default = Some(name.clone());
            config.save_signing_keys(&keys)?;
            println!("{name}: marked as the default signing key");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("cannot open {}", p.display()))
}

/// Refuses a key whose public half is not the leaf certificate's.
pub fn check_key_pair(key_path: &std::path::Path, cert_path: &std::path::Path) -> Result<()> {
    let key = PrivateKey::from_pem(&std::fs::read(key_path)?)
        .with_context(|| format!("reading key {}", key_path.display()))?;
    let chain = x509::read_certificates(&std::fs::read(cert_path)?)
        .with_context(|| format!("reading certificates {}", cert_path.display()))?;
    let leaf = chain
        .first()
        .context("the certificate file holds no certificate")?;
    if leaf.spki_der() != key.public_key_spki_der()? {
        bail!(
            "the key {} does not match the leaf certificate in {} (subject {})",
            key_path.display(),
            cert_path.display(),
            leaf.subject()
        );
    }
    Ok(())
}
