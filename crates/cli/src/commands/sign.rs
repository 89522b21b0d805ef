//! `signet sign`: sign an artifact with a local key.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use notary::{
    Descriptor,
    crypto::PrivateKey,
    envelope::{self, EnvelopeFormat, SignRequest, SigningScheme, Timestamper},
    x509,
};
use oci::{ArtifactStore, LayoutReference, OciLayout, signature};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::{
    config::ConfigDir,
    output::Format,
    target::{ArtifactArgs, warn_mutable_tag},
};

/// The signing agent written into every signature's unprotected header.
pub const SIGNING_AGENT: &str = concat!("signet/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub artifact: ArtifactArgs,
    /// Signing key name (see `signet key list`); default: the default key.
    #[arg(short, long, conflicts_with = "plugin")]
    pub key: Option<String>,
    #[command(flatten)]
    pub plugin: PluginArgs,
    /// Envelope format.
    #[arg(long, default_value = "jws", value_parser = ["jws", "cose"])]
    pub signature_format: String,
    /// Signature lifetime, e.g. 24h, 30d, 90m; none by default.
    #[arg(short, long, value_parser = parse_duration)]
    pub expiry: Option<Duration>,
    /// Metadata to sign into the payload as annotations, KEY=VALUE. Repeatable.
    #[arg(short = 'm', long = "user-metadata", value_parser = parse_kv)]
    pub user_metadata: Vec<(String, String)>,
    #[command(flatten)]
    pub timestamp: TimestampArgs,
    #[command(flatten)]
    pub remote: crate::commands::remote::RemoteArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

// `--plugin`, `--id` and `--plugin-config`: sign through a plugin.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct PluginArgs {
    /// Sign through this plugin (installed in <config>/plugins; see `signet plugin list`).
    #[arg(long, value_name = "NAME", requires = "id")]
    pub plugin: Option<String>,
    /// The key id the plugin signs with. Requires --plugin.
    #[arg(long, value_name = "KEY", requires = "plugin")]
    pub id: Option<String>,
    /// Configuration passed to the plugin, KEY=VALUE. Repeatable.
    #[arg(long = "plugin-config", value_name = "KEY=VALUE", value_parser = parse_kv, requires = "plugin")]
    pub plugin_config: Vec<(String, String)>,
}

/// Which key signs: a named key from `signingkeys.json` (local or
/// plugin-backed), or a plugin key given on the command line.
#[derive(Debug, Clone)]
pub enum SigningKey<'a> {
    /// A key from `signingkeys.json`; `None` for the default key.
    Named(Option<&'a str>),
    /// A plugin and the key id it signs with.
    Plugin(PluginKey),
}

/// A key held by a plugin.
#[derive(Debug, Clone)]
pub struct PluginKey {
    /// The plugin's name.
    pub plugin: String,
    /// The key id.
    pub id: String,
    /// `pluginConfig` for every request.
    pub config: BTreeMap<String, String>,
}

impl PluginArgs {
    /// The signing key these flags name, or `Named(key)` without `--plugin`.
    pub fn signing_key<'a>(&self, key: Option<&'a str>) -> SigningKey<'a> {
        match (&self.plugin, &self.id) {
            (Some(plugin), Some(id)) => SigningKey::Plugin(PluginKey {
                plugin: plugin.clone(),
                id: id.clone(),
                config: self.plugin_config.iter().cloned().collect(),
            }),
            _ => SigningKey::Named(key),
        }
    }
}

// `--timestamp-url` and `--timestamp-root-cert`, shared by `sign` and `blob sign`.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct TimestampArgs {
    /// RFC 3161 Timestamping Authority (TSA) server URL (http://); the
    /// signature is timestamped at signing time. Requires --timestamp-root-cert.
    #[arg(long, value_name = "URL", requires = "timestamp_root_cert")]
    pub timestamp_url: Option<String>,
    /// The TSA's root certificate (one self-signed certificate, PEM or DER):
    /// the token is verified against it before it is accepted. Requires
    /// --timestamp-url.
    #[arg(long, value_name = "FILE", requires = "timestamp_url")]
    pub timestamp_root_cert: Option<PathBuf>,
}

impl TimestampArgs {
    /// The timestamper these flags ask for, if any; the root certificate file
    /// is checked as notation checks it.
    pub fn timestamper(&self) -> Result<Option<fetch::tsa::HttpTimestamper>> {
        let (url, root_path) = match (&self.timestamp_url, &self.timestamp_root_cert) {
            (None, None) => return Ok(None),
            (Some(url), Some(root)) => (url, root),
            (Some(_), None) => bail!("--timestamp-url requires --timestamp-root-cert"),
            (None, Some(_)) => bail!("--timestamp-root-cert requires --timestamp-url"),
        };
        if url.is_empty() {
            bail!("--timestamp-url cannot be empty");
        }
        let bytes = std::fs::read(root_path)
            .with_context(|| format!("reading the TSA root certificate {}", root_path.display()))?;
        let root = x509::read_root_certificate(&bytes, &root_path.display().to_string())?;
        Ok(Some(fetch::tsa::HttpTimestamper::new(url.clone(), vec![root])))
    }
}

/// `24h`, `30m`, `2s`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 24h, 7d, 90m, 30s"))?;
    let d = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(format!("invalid duration unit in {s:?}: use s, m, h or d")),
    };
    if d <= Duration::ZERO {
        return Err("the expiry must be positive".into());
    }
    Ok(d)
}

/// `KEY=VALUE`.
pub fn parse_kv(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("invalid metadata {s:?}: expected KEY=VALUE")),
    }
}

/// What a signing produced.
pub struct Signed {
    pub target: Descriptor,
    pub signature_manifest: Descriptor,
}

pub fn run(config: &ConfigDir, args: Args) -> Result<ExitCode> {
    let location = args.artifact.location()?;
    warn_mutable_tag(&location);
    if args.remote.remote.is_some() {
        if args.key.is_some() || args.plugin.plugin.is_some() || args.timestamp.timestamp_url.is_some() {
            bail!(
                "--remote signs with the service's profile and timestamp authority: leave out --key, --plugin and --timestamp-url"
            );
        }
        if args.signature_format != "jws" || args.expiry.is_some() {
            bail!(
                "--remote: the profile fixes the envelope format and expiry; leave out --signature-format and --expiry"
            );
        }
        let metadata: BTreeMap<String, String> = args.user_metadata.iter().cloned().collect();
        return crate::commands::remote::sign(
            config,
            &args.artifact,
            &location,
            &args.remote,
            &metadata,
            args.output,
        );
    }
    let format = EnvelopeFormat::from_name(&args.signature_format)
        .with_context(|| format!("unknown signature format {:?}", args.signature_format))?;
    let metadata: BTreeMap<String, String> = args.user_metadata.iter().cloned().collect();
    let timestamper = args.timestamp.timestamper()?;
    let registries = args.artifact.registries(config, &location);
    let mut store = location.open(&registries)?;
    let signed = sign_artifact(
        config,
        store.as_mut(),
        location.target(),
        args.plugin.signing_key(args.key.as_deref()),
        format,
        args.expiry,
        &metadata,
        timestamper.as_ref().map(|t| t as &dyn Timestamper),
    )?;
    let shown = location.shown(&signed.target.digest);
    tracing::debug!(requests = registries.request_count(), "registry requests");
    match args.output {
        Format::Text => {
            println!("Successfully signed {shown}");
            println!(
                "Pushed the signature to {}@{}",
                location.name(),
                signed.signature_manifest.digest
            );
        }
        Format::Json => crate::output::json(&json!({
            "reference": shown,
            "digest": signed.target.digest.as_str(),
            "signature": signed.signature_manifest,
            "signatureFormat": format.name(),
        })),
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the artifact `reference` names in its layout with key `key_name`,
/// timestamping the signature with `timestamper` if given.
pub fn sign_layout(
    config: &ConfigDir,
    reference: &LayoutReference,
    key_name: Option<&str>,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    metadata: &BTreeMap<String, String>,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Signed> {
    sign_layout_with(
        config,
        reference,
        SigningKey::Named(key_name),
        format,
        expiry,
        metadata,
        timestamper,
    )
}

/// [`sign_layout`] with any [`SigningKey`], a plugin's included.
pub fn sign_layout_with(
    config: &ConfigDir,
    reference: &LayoutReference,
    key: SigningKey<'_>,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    metadata: &BTreeMap<String, String>,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Signed> {
    let mut layout = OciLayout::open(reference.path.as_path())?;
    sign_artifact(
        config,
        &mut layout,
        reference.target.as_str(),
        key,
        format,
        expiry,
        metadata,
        timestamper,
    )
}

/// Signs the artifact `target` (a tag or digest) names in `store` and pushes
/// the signature next to it; timestamps it with `timestamper` if given.
#[allow(clippy::too_many_arguments)]
pub fn sign_artifact(
    config: &ConfigDir,
    store: &mut dyn ArtifactStore,
    target: &str,
    key: SigningKey<'_>,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    metadata: &BTreeMap<String, String>,
    timestamper: Option<&dyn Timestamper>,
) -> Result<Signed> {
    let mut target = store.resolve(target)?;
    target.annotations = (!metadata.is_empty()).then(|| metadata.clone());
    let SignedEnvelope {
        bytes,
        thumbprints,
        signing_time: now,
        annotations: extra,
    } = sign_envelope_with(config, key, format, expiry, &target, timestamper)?;
    let subject = Descriptor::new(target.media_type.clone(), target.digest.clone(), target.size);
    let manifest = signature::push_notary_signature(
        store,
        &subject,
        format.media_type(),
        &bytes,
        &thumbprints,
        now,
        extra,
    )
    .context("cannot push the signature")?;
    Ok(Signed {
        target: subject,
        signature_manifest: manifest,
    })
}

/// An envelope produced by [`sign_envelope`].
pub struct SignedEnvelope {
    /// The envelope bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 thumbprints of the signing chain, leaf first.
    pub thumbprints: Vec<String>,
    /// The signing time written into the envelope.
    pub signing_time: OffsetDateTime,
    /// Annotations an envelope-generating plugin asked for on the signature manifest.
    pub annotations: BTreeMap<String, String>,
}

/// Signs a payload naming `target` with key `key_name` (default key if
/// `None`); with `timestamper`, the signature gets an RFC 3161 timestamp.
pub fn sign_envelope(
    config: &ConfigDir,
    key_name: Option<&str>,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    target: &Descriptor,
    timestamper: Option<&dyn Timestamper>,
) -> Result<SignedEnvelope> {
    sign_envelope_with(
        config,
        SigningKey::Named(key_name),
        format,
        expiry,
        target,
        timestamper,
    )
}

/// [`sign_envelope`] with any [`SigningKey`], a plugin's included.
pub fn sign_envelope_with(
    config: &ConfigDir,
    key: SigningKey<'_>,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    target: &Descriptor,
    timestamper: Option<&dyn Timestamper>,
) -> Result<SignedEnvelope> {
    let key_name = match key {
        SigningKey::Plugin(p) => return sign_with_plugin(config, &p, format, expiry, target, timestamper),
        SigningKey::Named(name) => name,
    };
    let keys = config.load_signing_keys()?;
    let suite = keys.get(key_name)?;
    let (Some(key_path), Some(cert_path)) = (&suite.key_path, &suite.cert_path) else {
        let (Some(plugin), Some(id)) = (&suite.plugin_name, &suite.id) else {
            bail!(
                "signing key {:?} has neither a key and certificate nor a plugin",
                suite.name
            );
        };
        let config_map = suite
            .plugin_config
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
        let key = PluginKey {
            plugin: plugin.clone(),
            id: id.clone(),
            config: config_map,
        };
        return sign_with_plugin(config, &key, format, expiry, target, timestamper);
    };
    let key = load_key(key_path)?;
    let chain = x509::read_certificates(
        &std::fs::read(cert_path).with_context(|| format!("reading {}", cert_path.display()))?,
    )
    .with_context(|| format!("reading certificates {}", cert_path.display()))?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    let request = SignRequest {
        format,
        payload: envelope::payload_for(target),
        signing_time: now,
        expiry: expiry.map(|d| now + d),
        signing_scheme: SigningScheme::X509,
        extended: Vec::new(),
        signing_agent: Some(SIGNING_AGENT.to_owned()),
        certificate_chain: chain.iter().map(|c| c.der().to_vec()).collect(),
        signer: &key,
        timestamper,
    };
    Ok(SignedEnvelope {
        bytes: envelope::sign(&request)?,
        thumbprints: chain.iter().map(|c| c.sha256_thumbprint()).collect(),
        signing_time: now,
        annotations: BTreeMap::new(),
    })
}

/// Signs through a plugin: `generate-signature` when the plugin makes raw
/// signatures (signet builds the envelope), else `generate-envelope`.
fn sign_with_plugin(
    config: &ConfigDir,
    key: &PluginKey,
    format: EnvelopeFormat,
    expiry: Option<Duration>,
    target: &Descriptor,
    timestamper: Option<&dyn Timestamper>,
) -> Result<SignedEnvelope> {
    use notary::plugin::{Plugin, PluginSigner, proto};
    let dir = crate::plugins::PluginDir::new(config.path("plugins"));
    let plugin = Plugin::find(&dir, &key.plugin).with_context(|| {
        format!(
            "failed to load plugin {:?} from {}",
            key.plugin,
            dir.root().display()
        )
    })?;
    let metadata = plugin
        .metadata(&key.config)
        .with_context(|| format!("plugin {:?}", key.plugin))?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc());
    if metadata.has_capability(proto::CAPABILITY_SIGNATURE_GENERATOR) {
        let signer = PluginSigner::new(plugin, &metadata, &key.id, key.config.clone())
            .with_context(|| format!("plugin {:?}, key {:?}", key.plugin, key.id))?;
        let request = SignRequest {
            format,
            payload: envelope::payload_for(target),
            signing_time: now,
            expiry: expiry.map(|d| now + d),
            signing_scheme: SigningScheme::X509,
            extended: Vec::new(),
            signing_agent: Some(SIGNING_AGENT.to_owned()),
            certificate_chain: Vec::new(),
            signer: &signer,
            timestamper,
        };
        let bytes = envelope::sign(&request)?;
        let chain = signer.certificate_chain().unwrap_or_default();
        let chain = x509::decode_code_signing_chain(&chain)
            .map_err(|e| anyhow::anyhow!("the plugin's certificate chain is invalid: {e}"))?;
        return Ok(SignedEnvelope {
            bytes,
            thumbprints: chain.iter().map(|c| c.sha256_thumbprint()).collect(),
            signing_time: now,
            annotations: BTreeMap::new(),
        });
    }
    if !metadata.has_capability(proto::CAPABILITY_ENVELOPE_GENERATOR) {
        bail!("plugin {:?} does not have signing capabilities", key.plugin);
    }
    if timestamper.is_some() {
        bail!(
            "plugin {:?} generates whole envelopes; timestamping them is not supported",
            key.plugin
        );
    }
    let expiry_secs = expiry.map_or(0, |d| u64::try_from(d.whole_seconds()).unwrap_or(0));
    let resp = plugin
        .generate_envelope(&proto::GenerateEnvelopeRequest {
            contract_version: proto::CONTRACT_VERSION.into(),
            key_id: key.id.clone(),
            payload_type: envelope::PAYLOAD_CONTENT_TYPE.into(),
            signature_envelope_type: format.media_type().into(),
            payload: envelope::payload_for(target),
            expiry_duration_in_seconds: expiry_secs,
            plugin_config: key.config.clone(),
        })
        .with_context(|| format!("plugin {:?}: generate-envelope", key.plugin))?;
    if resp.signature_envelope_type != format.media_type() {
        bail!(
            "signatureEnvelopeType in generateEnvelope response {:?} does not match request {:?}",
            resp.signature_envelope_type,
            format.media_type()
        );
    }
    let (env, chain) = notary::verifier::check_integrity(format.media_type(), &resp.signature_envelope)
        .map_err(|e| anyhow::anyhow!("the plugin's envelope is invalid: {e}"))?;
    let signed = env.target_artifact()?;
    if !signed.same_content(target) {
        bail!(
            "the plugin's envelope signs {} instead of {}",
            signed.digest,
            target.digest
        );
    }
    Ok(SignedEnvelope {
        bytes: resp.signature_envelope,
        thumbprints: chain.iter().map(|c| c.sha256_thumbprint()).collect(),
        signing_time: env.signed.effective_signing_time().unwrap_or(now),
        annotations: resp.annotations,
    })
}

fn load_key(path: &Path) -> Result<PrivateKey> {
    let pem = std::fs::read(path).with_context(|| format!("reading key {}", path.display()))?;
    PrivateKey::from_pem(&pem).with_context(|| format!("loading key {}", path.display()))
}
