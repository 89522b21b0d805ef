//! `signet bundle`: the verifier config bundle nodes enforce — create it,
//! sign it, publish it, show it, verify it as a node would.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use node::bundle::{self, Bundle, BundleTrust};
use notary::{Descriptor, envelope::EnvelopeFormat};
use oci::manifest::{ImageManifest, MEDIA_TYPE_OCI_MANIFEST, empty_descriptor, to_go_json};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    commands::sign::{self, SigningKey},
    config::{ConfigDir, write_atomic},
    output::Format,
    target::{Location, Registries, RegistryArgs},
};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Assemble a bundle from policy files, trust-store certificates and a
    /// list of revoked digests.
    #[command(after_help = "Example:
  signet bundle create --bundle-version 8 --expires-in 24h --policy policies.yaml \\
      --trust-store ca:production=prod-root.pem --revoked revoked.txt -o bundle.json")]
    Create(CreateArgs),
    /// Sign a bundle file: writes FILE.sig (a detached Notary Project
    /// envelope), to publish next to it over HTTPS.
    Sign(SignArgs),
    /// Push a bundle to a registry as an OCI artifact and sign it there.
    #[command(after_help = "Example:
  signet bundle publish bundle.json registry.example.com/signet/bundle:current --key bundles")]
    Publish(PublishArgs),
    /// Print a bundle's contents (a file, or a bundle in a registry, unverified).
    Show(ShowArgs),
    /// Verify a bundle as a node does: signature against a pinned root and
    /// identity, expiry, age, and (with --min-version) rollback.
    #[command(after_help = "Examples:
  signet bundle verify file:///srv/bundle.json --trust-root bundles-root.pem \\
      --identity 'x509.subject: C=US, ST=WA, O=Example, CN=bundles'
  signet bundle verify oci://registry.example.com/signet/bundle:current --trust-root root.pem --identity ...")]
    Verify(VerifyArgs),
}

#[derive(Debug, ClapArgs)]
pub struct CreateArgs {
    /// The bundle version: must be higher than every version nodes have seen.
    #[arg(long = "bundle-version", value_name = "N")]
    pub bundle_version: u64,
    /// How long the bundle is valid (nodes refuse it afterwards and fail closed).
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub expires_in: std::time::Duration,
    /// A YAML or JSON file of ClusterImagePolicy documents. Repeatable.
    #[arg(long = "policy", value_name = "FILE")]
    pub policies: Vec<PathBuf>,
    /// A trust store certificate: TYPE:NAME=FILE (PEM), e.g. ca:production=root.pem. Repeatable.
    #[arg(long = "trust-store", value_name = "TYPE:NAME=FILE")]
    pub trust_stores: Vec<String>,
    /// A file of revoked digests, one sha256:… per line (# comments).
    #[arg(long)]
    pub revoked: Option<PathBuf>,
    /// Where to write the bundle (default: stdout).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, ClapArgs)]
pub struct SignArgs {
    /// The bundle file.
    pub file: PathBuf,
    /// Signing key name (default: the default key).
    #[arg(short, long)]
    pub key: Option<String>,
    /// jws or cose.
    #[arg(long, default_value = "jws")]
    pub signature_format: String,
}

#[derive(Debug, ClapArgs)]
pub struct PublishArgs {
    /// The bundle file.
    pub file: PathBuf,
    /// Where to push it: REGISTRY/REPOSITORY:TAG.
    pub reference: String,
    /// Signing key name (default: the default key).
    #[arg(short, long)]
    pub key: Option<String>,
    /// jws or cose.
    #[arg(long, default_value = "jws")]
    pub signature_format: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, ClapArgs)]
pub struct ShowArgs {
    /// A bundle file.
    pub file: PathBuf,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, ClapArgs)]
pub struct VerifyArgs {
    /// file:///…/bundle.json, https://…/bundle.json or oci://REGISTRY/REPOSITORY:TAG
    /// (a plain path is taken as a file).
    pub source: String,
    /// PEM root certificate(s) of the bundle signer.
    #[arg(long, value_name = "FILE")]
    pub trust_root: PathBuf,
    /// An identity allowed to sign bundles (x509.subject: …). Repeatable.
    #[arg(long = "identity", required = true)]
    pub identities: Vec<String>,
    /// Refuse versions lower than this (what a node already has).
    #[arg(long)]
    pub min_version: Option<u64>,
    /// Refuse bundles issued longer ago than this.
    #[arg(long, value_parser = parse_duration)]
    pub max_age: Option<std::time::Duration>,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    admission::config::parse_duration(s)
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Create(a) => create(a),
        Command::Sign(a) => sign_file(config, a),
        Command::Publish(a) => publish(config, a),
        Command::Show(a) => show(a),
        Command::Verify(a) => verify(config, a),
    }
}

fn create(a: CreateArgs) -> Result<ExitCode> {
    let mut policies = Vec::new();
    for p in &a.policies {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
            .with_context(|| format!("{} is not YAML or JSON", p.display()))?;
        policies.extend(docs.into_iter().filter(|d| !d.is_null()));
    }
    let mut trust_stores: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &a.trust_stores {
        let (store, file) = t
            .split_once('=')
            .with_context(|| format!("--trust-store {t:?}: expected TYPE:NAME=FILE"))?;
        let pem = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
        trust_stores.entry(store.to_owned()).or_default().push(pem);
    }
    let revoked_digests = match &a.revoked {
        None => Vec::new(),
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("reading {}", p.display()))?
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
    };
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let expires = now + time::Duration::try_from(a.expires_in).context("--expires-in is too long")?;
    let b = Bundle {
        api_version: admission::policy::API_VERSION.into(),
        kind: "VerifierBundle".into(),
        version: a.bundle_version,
        issued_at: now.format(&Rfc3339)?,
        expires_at: expires.format(&Rfc3339)?,
        policies,
        trust_stores,
        revoked_digests,
    };
    let bytes = b.to_bytes();
    // Everything a node would refuse is refused here first.
    Bundle::parse(&bytes).context("the bundle would be refused")?;
    match &a.output {
        Some(path) => {
            write_atomic(path, &bytes)?;
            eprintln!(
                "Wrote bundle version {} ({} policies, {} trust stores, {} revoked digests, expires {}) to {}",
                b.version,
                b.policies.len(),
                b.trust_stores.len(),
                b.revoked_digests.len(),
                b.expires_at,
                path.display()
            );
        }
        None => print!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(ExitCode::SUCCESS)
}

fn read_bundle(path: &PathBuf) -> Result<(Vec<u8>, Bundle)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let b = Bundle::parse(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok((bytes, b))
}

fn format_named(name: &str) -> Result<EnvelopeFormat> {
    EnvelopeFormat::from_name(name)
        .with_context(|| format!("unknown signature format {name:?}: use jws or cose"))
}

fn sign_file(config: &ConfigDir, a: SignArgs) -> Result<ExitCode> {
    let (bytes, b) = read_bundle(&a.file)?;
    let target = Descriptor::of(bundle::MEDIA_TYPE, &bytes);
    let signed = sign::sign_envelope(
        config,
        a.key.as_deref(),
        format_named(&a.signature_format)?,
        None,
        &target,
        None,
    )?;
    let sig = node::fetcher::signature_path(&a.file);
    write_atomic(&sig, &signed.bytes)?;
    println!(
        "Signed bundle version {} ({}); signature written to {}",
        b.version,
        target.digest,
        sig.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn publish(config: &ConfigDir, a: PublishArgs) -> Result<ExitCode> {
    let (bytes, b) = read_bundle(&a.file)?;
    let location = Location::registry(&a.reference)?;
    let registries = Registries::new(
        config,
        &a.registry,
        location.registry_host().into_iter().collect(),
    );
    let mut store = location.open_for_write(&registries)?;
    let config_blob = empty_descriptor();
    store.push(&config_blob.media_type, oci::manifest::EMPTY_JSON)?;
    let layer = store.push(bundle::MEDIA_TYPE, &bytes)?;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_owned()),
        artifact_type: Some(bundle::ARTIFACT_TYPE.to_owned()),
        config: config_blob,
        layers: vec![layer],
        subject: None,
        annotations: Some(BTreeMap::from([(
            "org.opencontainers.image.version".to_owned(),
            b.version.to_string(),
        )])),
    };
    let manifest_bytes = to_go_json(&manifest)?;
    let desc = store.push(MEDIA_TYPE_OCI_MANIFEST, &manifest_bytes)?;
    let tag = match &location {
        Location::Registry(r) => r.tag().unwrap_or("latest").to_owned(),
        Location::Layout(_) => bail!("publish takes a registry reference"),
    };
    store.tag(&desc, &tag)?;
    let signed = sign::sign_artifact(
        config,
        store.as_mut(),
        desc.digest.as_str(),
        SigningKey::Named(a.key.as_deref()),
        format_named(&a.signature_format)?,
        None,
        &BTreeMap::new(),
        None,
    )?;
    println!(
        "Published bundle version {} to {}@{} (signature {})",
        b.version,
        location.name(),
        desc.digest,
        signed.signature_manifest.digest
    );
    Ok(ExitCode::SUCCESS)
}

fn summary(b: &Bundle) -> Value {
    let policies: Vec<Value> = b
        .policies
        .iter()
        .map(|p| {
            json!(format!(
                "{}/{}",
                p["kind"].as_str().unwrap_or("?"),
                p["metadata"]["name"].as_str().unwrap_or("?")
            ))
        })
        .collect();
    json!({
        "version": b.version,
        "issuedAt": b.issued_at,
        "expiresAt": b.expires_at,
        "policies": policies,
        "trustStores": b.trust_stores.iter().map(|(k, v)| json!({"name": k, "certificates": v.len()})).collect::<Vec<_>>(),
        "revokedDigests": b.revoked_digests,
    })
}

fn print_summary(b: &Bundle, format: Format) {
    match format {
        Format::Json => crate::output::json(&summary(b)),
        Format::Text => {
            println!("Bundle version {}", b.version);
            println!("  issued   {}", b.issued_at);
            println!("  expires  {}", b.expires_at);
            for p in &b.policies {
                println!(
                    "  policy   {}/{}",
                    p["kind"].as_str().unwrap_or("?"),
                    p["metadata"]["name"].as_str().unwrap_or("?")
                );
            }
            for (k, v) in &b.trust_stores {
                println!("  trust    {k} ({} certificates)", v.len());
            }
            println!("  revoked  {} digests", b.revoked_digests.len());
            for d in &b.revoked_digests {
                println!("           {d}");
            }
        }
    }
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let (_, b) = read_bundle(&a.file)?;
    print_summary(&b, a.output);
    Ok(ExitCode::SUCCESS)
}

fn verify(config: &ConfigDir, a: VerifyArgs) -> Result<ExitCode> {
    let source = if a.source.contains("://") {
        a.source.clone()
    } else {
        let path = std::fs::canonicalize(&a.source).with_context(|| format!("reading {}", a.source))?;
        format!("file://{}", path.display())
    };
    let root = std::fs::read(&a.trust_root).with_context(|| format!("reading {}", a.trust_root.display()))?;
    let trust = BundleTrust::new(&root, &a.identities)?;
    let hosts = source
        .strip_prefix("oci://")
        .and_then(|r| oci::registry::Reference::parse(r).ok())
        .map(|r| vec![r.registry().to_owned()])
        .unwrap_or_default();
    let client = crate::target::build_client(config, &a.registry, &hosts)?;
    let timeout = std::time::Duration::from_secs(a.registry.registry_timeout.max(1));
    let fetcher = node::fetcher::Fetcher::new(client, timeout, a.registry.ca_file.clone());
    let b = fetcher.fetch(&source, &trust)?;
    let max_age = a.max_age.map(time::Duration::try_from).transpose()?;
    if let Some(min) = a.min_version
        && b.version < min
    {
        bail!(
            "bundle version {} refused: version {min} is required (rollback)",
            b.version
        );
    }
    bundle::check_fresh(&b, OffsetDateTime::now_utc(), max_age)?;
    if a.output == Format::Text {
        println!(
            "Bundle signature verified; version {} is valid until {}",
            b.version, b.expires_at
        );
    }
    print_summary(&b, a.output);
    Ok(ExitCode::SUCCESS)
}
