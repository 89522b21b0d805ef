//! Where an artifact lives, as every command takes it: a registry reference
//! (`registry/repository:tag`, `…@sha256:…`) or, with `--oci-layout`, an OCI
//! image layout on disk (`DIR:TAG`, `DIR@sha256:…`).
//!
//! Both open as an [`ArtifactStore`], so sign, verify, ls, inspect, discover
//! and copy are written once. The registry side needs a client: TLS roots,
//! plain-HTTP registries (`--insecure-registry` or `insecureRegistries` in the
//! config directory's `config.json`, notation's file) and credentials
//! (`--username`/`--password`, else docker's `config.json` and its credential
//! helpers). The client is built only when a registry is actually named, so
//! offline commands never read credentials.

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use notary::{Descriptor, Digest};
use oci::{
    ArtifactStore, LayoutReference, OciLayout, Target,
    registry::{
        Client, ClientConfig, Credential, CredentialStore, DockerConfig, Reference, StaticCredentials,
    },
};
use serde::Deserialize;

use crate::config::ConfigDir;

// Flags of every command that may reach a registry.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct RegistryArgs {
    /// Reach this registry over plain HTTP instead of HTTPS (HOST[:PORT]).
    /// Repeatable; also read from `insecureRegistries` in <config>/config.json.
    /// For test registries only: nothing on the wire is protected.
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// Also trust this CA (PEM) for registry TLS, on top of the system roots. Repeatable.
    #[arg(long = "ca-file", value_name = "FILE")]
    pub ca_file: Vec<PathBuf>,
    /// Registry username; without it, credentials come from docker's
    /// config.json (`signet login`, `docker login`) and its credential helpers.
    #[arg(short = 'u', long, env = "SIGNET_USERNAME")]
    pub username: Option<String>,
    /// Registry password or token, with --username.
    #[arg(short = 'p', long, env = "SIGNET_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Give up on a registry request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub registry_timeout: u64,
}

// The one artifact of a command: `REFERENCE` in a registry, or
// `--oci-layout DIR:TAG|DIR@DIGEST`, and the registry flags.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, Clone, ClapArgs)]
pub struct ArtifactArgs {
    /// The artifact in a registry: REGISTRY/REPOSITORY:TAG or
    /// REGISTRY/REPOSITORY@sha256:HEX. A tag is resolved to the digest it
    /// points at now.
    #[arg(value_name = "REFERENCE", required_unless_present = "oci_layout")]
    pub reference: Option<String>,
    /// The artifact in an OCI image layout on disk instead: `DIR:TAG` or
    /// `DIR@sha256:HEX`.
    #[arg(
        long = "oci-layout",
        value_name = "DIR:TAG|DIR@DIGEST",
        conflicts_with = "reference"
    )]
    pub oci_layout: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl ArtifactArgs {
    /// Where the artifact is.
    pub fn location(&self) -> Result<Location> {
        Location::one(self.reference.as_deref(), self.oci_layout.as_deref())
    }

    /// The registry client factory for `location` (which gets --username).
    pub fn registries<'a>(&'a self, config: &'a ConfigDir, location: &Location) -> Registries<'a> {
        Registries::new(
            config,
            &self.registry,
            location.registry_host().into_iter().collect(),
        )
    }

    /// Opens the store holding the artifact and resolves its tag or digest:
    /// what the read-only commands (ls, inspect, discover) start from.
    pub fn open_resolved(&self, config: &ConfigDir) -> Result<Resolved> {
        let location = self.location()?;
        let registries = self.registries(config, &location);
        let store = location.open(&registries)?;
        let target = store.resolve(location.target())?;
        let shown = location.shown(&target.digest);
        Ok(Resolved { store, target, shown })
    }
}

/// An artifact found in its store.
pub struct Resolved {
    /// Where it lives.
    pub store: Box<dyn ArtifactStore + Send + Sync>,
    /// Its manifest's descriptor.
    pub target: Descriptor,
    /// How to show it: `<name>@<digest>`.
    pub shown: String,
}

/// notation's `config.json` in the config directory: only the fields signet reads.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolConfig {
    #[serde(default)]
    insecure_registries: Vec<String>,
}

/// docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`), where
/// `signet login`, `docker login` and notation keep registry credentials;
/// `None` when neither variable gives it a place.
pub fn docker_config() -> Option<DockerConfig> {
    DockerConfig::default_path().map(DockerConfig::open)
}

/// Builds the registry client on first use.
pub struct Registries<'a> {
    config: &'a ConfigDir,
    args: &'a RegistryArgs,
    named: Vec<String>,
    client: OnceLock<Client>,
}

impl<'a> Registries<'a> {
    /// `named`: the registries the command line names (they get --username).
    pub fn new(config: &'a ConfigDir, args: &'a RegistryArgs, named: Vec<String>) -> Self {
        Self {
            config,
            args,
            named,
            client: OnceLock::new(),
        }
    }

    /// The client, built now if it was not yet.
    pub fn client(&self) -> Result<&Client> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let client = build_client(self.config, self.args, &self.named)?;
        Ok(self.client.get_or_init(|| client))
    }

    /// HTTP requests sent so far (0 when no registry was reached).
    pub fn request_count(&self) -> u64 {
        self.client.get().map_or(0, Client::request_count)
    }
}

/// The client for `args` and the config directory's `config.json`.
pub fn build_client(config: &ConfigDir, args: &RegistryArgs, named: &[String]) -> Result<Client> {
    let tool = read_tool_config(config)?;
    // --username/--password for every registry the command names (each a
    // StaticCredentials in front of the next), docker's credentials for the rest.
    let mut credentials: Option<Arc<dyn CredentialStore>> =
        docker_config().map(|d| Arc::new(d) as Arc<dyn CredentialStore>);
    match (&args.username, &args.password) {
        (Some(username), Some(password)) => {
            let credential = Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            };
            for registry in named {
                credentials = Some(Arc::new(StaticCredentials::new(
                    registry.clone(),
                    credential.clone(),
                    credentials,
                )));
            }
        }
        (Some(_), None) => bail!("--username requires --password (or SIGNET_PASSWORD)"),
        _ => {}
    }
    let mut insecure = args.insecure_registry.clone();
    insecure.extend(tool.insecure_registries);
    for file in &args.ca_file {
        if !file.is_file() {
            bail!("--ca-file {}: no such file", file.display());
        }
    }
    Client::new(ClientConfig {
        insecure_registries: insecure,
        ca_files: args.ca_file.clone(),
        credentials,
        timeout: Duration::from_secs(args.registry_timeout.max(1)),
        ..ClientConfig::default()
    })
    .context("cannot set up the registry client")
}

fn read_tool_config(config: &ConfigDir) -> Result<ToolConfig> {
    let path = config.path("config.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| format!("malformed {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ToolConfig::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// An artifact named on the command line.
#[derive(Debug, Clone)]
pub enum Location {
    /// In a registry.
    Registry(Reference),
    /// In an OCI image layout on disk.
    Layout(LayoutReference),
}

impl Location {
    /// A registry reference.
    pub fn registry(raw: &str) -> Result<Self> {
        // The parser's error already names the reference and what is wrong.
        Ok(Self::Registry(Reference::parse(raw)?))
    }

    /// An OCI layout reference.
    pub fn layout(raw: &str) -> Result<Self> {
        Ok(Self::Layout(LayoutReference::parse(raw)?))
    }

    /// The one artifact of a command that takes `REFERENCE` or `--oci-layout`.
    pub fn one(reference: Option<&str>, layout: Option<&str>) -> Result<Self> {
        match (reference, layout) {
            (Some(r), None) => Self::registry(r),
            (None, Some(l)) => Self::layout(l),
            (Some(_), Some(_)) => bail!("give either a registry REFERENCE or --oci-layout, not both"),
            (None, None) => {
                bail!(
                    "missing the artifact: give a registry REFERENCE (registry/repository:tag or @sha256:…) or --oci-layout DIR:TAG"
                )
            }
        }
    }

    /// The registry this location names, if any.
    pub fn registry_host(&self) -> Option<String> {
        match self {
            Self::Registry(r) => Some(r.registry().to_owned()),
            Self::Layout(_) => None,
        }
    }

    /// The tag or digest to resolve.
    pub fn target(&self) -> &str {
        match self {
            Self::Registry(r) => r.target(),
            Self::Layout(l) => l.target.as_str(),
        }
    }

    /// The digest a registry reference names, if it names one.
    pub fn registry_digest(&self) -> Option<&Digest> {
        match self {
            Self::Registry(r) => r.digest(),
            Self::Layout(_) => None,
        }
    }

    /// Whether the artifact is named by a (mutable) tag.
    pub fn is_tag(&self) -> bool {
        match self {
            Self::Registry(r) => r.digest().is_none(),
            Self::Layout(l) => matches!(l.target, Target::Tag(_)),
        }
    }

    /// What comes before `@digest` when the artifact is shown: the repository
    /// (`registry/repository`) or the layout directory.
    pub fn name(&self) -> String {
        match self {
            Self::Registry(r) => r.repository_path(),
            Self::Layout(l) => l.path.display().to_string(),
        }
    }

    /// `<name>@<digest>`: how the artifact is shown once resolved.
    pub fn shown(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }

    /// The trust-policy scope: `registry/repository`, or for a layout the
    /// `--scope` given, else `local/<directory name>`.
    pub fn scope(&self, explicit: Option<&str>) -> Result<String> {
        if let Some(s) = explicit {
            return Ok(s.to_owned());
        }
        match self {
            Self::Registry(r) => Ok(r.repository_path()),
            Self::Layout(l) => crate::commands::verify::default_scope(l),
        }
    }

    /// Opens the store holding the artifact.
    pub fn open(&self, registries: &Registries<'_>) -> Result<Box<dyn ArtifactStore + Send + Sync>> {
        Ok(match self {
            Self::Registry(r) => Box::new(registries.client()?.repository(r)),
            Self::Layout(l) => Box::new(OciLayout::open(l.path.as_path())?),
        })
    }

    /// Opens the store for writing: an OCI layout that does not exist yet is created.
    pub fn open_for_write(
        &self,
        registries: &Registries<'_>,
    ) -> Result<Box<dyn ArtifactStore + Send + Sync>> {
        Ok(match self {
            Self::Registry(r) => Box::new(registries.client()?.repository(r)),
            Self::Layout(l) => Box::new(OciLayout::create(l.path.as_path())?),
        })
    }
}

/// The warning notation prints when a tag is signed.
pub fn warn_mutable_tag(location: &Location) {
    if location.is_tag() {
        eprintln!(
            "Warning: Always sign the artifact using digest(@sha256:...) rather than a tag(:{}) because tags are mutable and a tag reference can point to a different artifact than the one signed.",
            location.target()
        );
    }
}
