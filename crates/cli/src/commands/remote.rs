//! `signet sign --remote URL`: the thin client of the signing service.
//!
//! The artifact is resolved here (tag → digest), the service signs the
//! descriptor with a profile (the key never leaves it), and the signature is
//! pushed here, next to the artifact, with this machine's registry
//! credentials.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::Args as ClapArgs;
use notary::{Descriptor, envelope::Envelope};
use oci::signature;
use serde_json::json;

use crate::{
    config::ConfigDir,
    output::Format,
    signer_client::{Client, SignResponse},
    target::{ArtifactArgs, Location},
};

// `--remote` and its companions.
// (Not a doc comment: clap would make it the help text of each command that
// flattens this, since those commands' arguments are deferred.)
#[derive(Debug, Clone, Default, ClapArgs)]
pub struct RemoteArgs {
    /// Sign through a Signet signing service at this URL
    /// (https://signer.example.com) instead of a local key.
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// The service's signing profile. Requires --remote.
    #[arg(long, value_name = "NAME", requires = "remote", default_value = "default")]
    pub profile: String,
    /// A file holding the API token or OIDC JWT (default:
    /// $SIGNET_SIGNER_TOKEN).
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub token_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust for the service's TLS certificate,
    /// besides the system roots.
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub remote_ca_file: Option<PathBuf>,
    /// The repository the service's rules see (default: the reference's
    /// registry/repository, or local/<directory> for an OCI layout).
    #[arg(long, value_name = "REGISTRY/REPOSITORY", requires = "remote")]
    pub repository: Option<String>,
}

/// Signs through the service and pushes the signature.
pub fn sign(
    config: &ConfigDir,
    artifact: &ArtifactArgs,
    location: &Location,
    args: &RemoteArgs,
    metadata: &BTreeMap<String, String>,
    output: Format,
) -> Result<ExitCode> {
    let Some(url) = &args.remote else {
        bail!("--remote URL is required");
    };
    let client = Client::new(url, args.token_file.as_deref(), args.remote_ca_file.as_deref())?;
    let registries = artifact.registries(config, location);
    let mut store = location.open(&registries)?;
    let mut target = store.resolve(location.target())?;
    target.annotations = (!metadata.is_empty()).then(|| metadata.clone());
    let repository = match &args.repository {
        Some(r) => r.clone(),
        None => location.scope(None)?,
    };
    let answer = client.post(
        "/v1/sign",
        &json!({
            "profile": args.profile,
            "repository": repository,
            "descriptor": target.sanitized(),
        }),
    )?;
    let signed: SignResponse =
        serde_json::from_value(answer).context("the signing service's answer is not a sign response")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&signed.envelope)
        .context("the envelope in the answer is not base64")?;
    // Check what came back before pushing it: it parses, verifies, and
    // signs exactly the artifact that was asked for.
    let envelope = Envelope::parse(&signed.envelope_media_type, &bytes)
        .context("the signing service returned an envelope that does not parse")?;
    envelope
        .verify_signature()
        .context("the signing service returned an envelope that does not verify")?;
    let signed_target = envelope.target_artifact()?;
    if !signed_target.same_content(&target) {
        bail!(
            "the signing service signed {} instead of {}",
            signed_target.digest,
            target.digest
        );
    }
    let subject = Descriptor::new(target.media_type.clone(), target.digest.clone(), target.size);
    let manifest = signature::push_notary_signature(
        store.as_mut(),
        &subject,
        &signed.envelope_media_type,
        &bytes,
        &signature::chain_thumbprints(&envelope.certificate_chain),
        time::OffsetDateTime::now_utc(),
        BTreeMap::new(),
    )
    .context("cannot push the signature")?;
    let shown = location.shown(&subject.digest);
    match output {
        Format::Text => {
            println!(
                "Successfully signed {shown} (job {}, profile {} v{})",
                signed.job_id, signed.profile, signed.profile_version
            );
            println!("Pushed the signature to {}@{}", location.name(), manifest.digest);
        }
        Format::Json => crate::output::json(&json!({
            "reference": shown,
            "digest": subject.digest.as_str(),
            "signature": manifest,
            "jobId": signed.job_id,
            "profile": signed.profile,
            "profileVersion": signed.profile_version,
            "certificateSerial": signed.certificate_serial,
            "auditSeq": signed.audit_seq,
        })),
    }
    Ok(ExitCode::SUCCESS)
}
