//! `signet policy`: the trust policy (trustpolicy.json, version 1.0).

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use notary::policy::TrustPolicyDocument;
use serde_json::json;

use crate::config::{ConfigDir, TRUST_POLICY, write_atomic};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a trust policy with one statement.
    Init(Init),
    /// Validate a trust policy file and install it.
    Import {
        /// The trust policy JSON file.
        file: PathBuf,
        /// Replace an existing policy without asking.
        #[arg(long)]
        force: bool,
    },
    /// Print the installed trust policy (exactly as stored).
    Show,
}

#[derive(Debug, ClapArgs)]
pub struct Init {
    /// Statement name.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Registry scopes the statement covers (`registry/repository`, `local/NAME`
    /// for OCI layouts, or `*` for everything). Repeatable.
    #[arg(long = "scope", default_value = "*")]
    pub scopes: Vec<String>,
    /// Trust stores, `TYPE:NAME` (e.g. `ca:acme`). Repeatable. Default: `ca:<default key name>`.
    #[arg(long = "trust-store")]
    pub trust_stores: Vec<String>,
    /// Trusted identities: `x509.subject:C=US,ST=WA,O=Acme` or `*`. Repeatable.
    #[arg(long = "trusted-identity", default_value = "*")]
    pub identities: Vec<String>,
    /// Verification level: strict, permissive, audit or skip.
    #[arg(long, default_value = "strict")]
    pub level: String,
    /// Replace an existing policy.
    #[arg(long)]
    pub force: bool,
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Init(init) => {
            let path = write_init(config, &init)?;
            println!("Successfully wrote trust policy to {}", path.display());
        }
        Command::Import { file, force } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            TrustPolicyDocument::from_json(&bytes)
                .context("failed to parse OCI trust policy configuration")?;
            let dest = config.path(TRUST_POLICY);
            if dest.exists() && !force {
                bail!(
                    "a trust policy already exists at {}; pass --force to replace it",
                    dest.display()
                );
            }
            write_atomic(&dest, &bytes)?;
            println!(
                "Successfully imported OCI trust policy configuration to {}",
                dest.display()
            );
        }
        Command::Show => {
            let path = config.trust_policy_path();
            let bytes = std::fs::read(&path).with_context(|| {
                format!("no trust policy at {}: create one with `signet policy init` or `signet policy import FILE`", path.display())
            })?;
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
            if let Err(e) = TrustPolicyDocument::from_json(&bytes) {
                eprintln!(
                    "Error: Existing OCI trust policy configuration is invalid, you may update or create a new one via `signet policy import <path-to-policy.json>`. {e}"
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds, validates and writes the single-statement policy `init` describes.
pub fn write_init(config: &ConfigDir, init: &Init) -> Result<PathBuf> {
    let dest = config.path(TRUST_POLICY);
    if dest.exists() && !init.force {
        bail!(
            "a trust policy already exists at {}; pass --force to replace it",
            dest.display()
        );
    }
    let mut stores = init.trust_stores.clone();
    if stores.is_empty() {
        let keys = config.load_signing_keys()?;
        let default = keys.default.context(
            "no --trust-store given and no default signing key to derive one from; pass --trust-store ca:NAME",
        )?;
        stores.push(format!("ca:{default}"));
    }
    let doc = json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": init.name,
            "registryScopes": init.scopes,
            "signatureVerification": { "level": init.level },
            "trustStores": stores,
            "trustedIdentities": init.identities,
        }]
    });
    let mut bytes = serde_json::to_vec_pretty(&doc)?;
    bytes.push(b'\n');
    TrustPolicyDocument::from_json(&bytes).context("the trust policy would be invalid")?;
    write_atomic(&dest, &bytes)?;
    Ok(dest)
}
