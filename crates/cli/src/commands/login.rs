//! `signet login` / `signet logout`: registry credentials in docker's
//! `config.json` (or the credential helper it names), where `docker`,
//! `notation` and `oras` read them too.

use std::{io::Read, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use oci::registry::{Credential, DockerConfig};

use crate::{config::ConfigDir, target::RegistryArgs};

#[derive(Debug, ClapArgs)]
pub struct LoginArgs {
    /// The registry, HOST[:PORT] (e.g. ghcr.io, localhost:5000).
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
    /// Read the password from standard input (keeps it out of the process list and shell history).
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_args: RegistryArgs,
}

#[derive(Debug, ClapArgs)]
pub struct LogoutArgs {
    /// The registry, HOST[:PORT].
    #[arg(value_name = "REGISTRY")]
    pub registry: String,
}

fn docker_config() -> Result<DockerConfig> {
    crate::target::docker_config().context("cannot find docker's config.json: set DOCKER_CONFIG or HOME")
}

pub fn login(config: &ConfigDir, mut args: LoginArgs) -> Result<ExitCode> {
    let registry = args.registry.trim_end_matches('/').to_owned();
    if registry.contains('/') {
        bail!("{registry:?}: give the registry host only (e.g. ghcr.io or localhost:5000), not a repository");
    }
    let Some(username) = args.registry_args.username.clone() else {
        bail!("--username is required (with --password, --password-stdin or SIGNET_PASSWORD)");
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("reading the password from standard input")?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        match args.registry_args.password.take() {
            Some(p) => p,
            None => bail!("a password is required: --password, --password-stdin or SIGNET_PASSWORD"),
        }
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let credential = Credential::Basic { username, password };
    // Check the credential against the registry before storing it; the
    // client must not pick up stored or flag credentials for this check.
    let check_args = RegistryArgs {
        username: None,
        password: None,
        ..args.registry_args.clone()
    };
    let client = crate::target::build_client(config, &check_args, &[])?;
    client
        .login(&registry, &credential)
        .with_context(|| format!("login to {registry} failed"))?;
    docker_config()?
        .store(&registry, &credential)
        .with_context(|| format!("cannot store the credentials for {registry}"))?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

pub fn logout(args: LogoutArgs) -> Result<ExitCode> {
    let registry = args.registry.trim_end_matches('/');
    if docker_config()?.erase(registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(ExitCode::SUCCESS)
}
