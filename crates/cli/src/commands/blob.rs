//! `signet blob`: detached signatures of arbitrary files, as `notation blob`
//! makes them — `<file name>.<jws|cose>.sig` next to the file (or in a chosen
//! directory), verified against the blob trust policy `trustpolicy.blob.json`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args as ClapArgs, Subcommand};
use notary::{
    Descriptor,
    envelope::{Envelope, EnvelopeFormat},
    policy::{
        BlobTrustPolicyDocument, BlobTrustPolicyStatement, TrustPolicyDocument, TrustPolicyStatement,
        ValidationType, VerificationLevel,
    },
    verifier::{Outcome, Verdict, VerifyRequest},
};
use serde_json::{Value, json};
use time::Duration;

use crate::{
    commands::{
        inspect::{self, InspectFormat, SignatureView},
        sign::{self, parse_duration, parse_kv},
    },
    config::{ConfigDir, write_atomic},
    output::Format,
};

/// The blob trust policy file in the config directory.
pub const BLOB_TRUST_POLICY: &str = "trustpolicy.blob.json";

/// The repository blobs are verified as: the one-statement policy built from a
/// blob statement covers every scope (`*`), so only its syntax matters.
const BLOB_SCOPE: &str = "local/blob";

const DEFAULT_MEDIA_TYPE: &str = "application/octet-stream";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign a file, writing a detached signature `<file name>.<format>.sig`.
    Sign(SignArgs),
    /// Verify a file's detached signature against the blob trust policy.
    Verify(VerifyArgs),
    /// Show what a detached signature says (signer, times, signed digest).
    Inspect(InspectArgs),
    /// Manage the blob trust policy (trustpolicy.blob.json).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, ClapArgs)]
pub struct SignArgs {
    /// The file to sign.
    pub file: PathBuf,
    /// Signing key name (see `signet key list`); default: the default key.
    #[arg(short, long)]
    pub key: Option<String>,
    /// Envelope format; also the middle part of the signature file name.
    #[arg(long, default_value = "jws", value_parser = ["jws", "cose"])]
    pub signature_format: String,
    /// Media type recorded for the file in the signed payload.
    #[arg(long, default_value = DEFAULT_MEDIA_TYPE, value_name = "TYPE")]
    pub media_type: String,
    /// Signature lifetime, e.g. 24h, 30d, 90m; none by default.
    #[arg(short, long, value_parser = parse_duration)]
    pub expiry: Option<Duration>,
    /// Metadata to sign into the payload as annotations, KEY=VALUE. Repeatable.
    #[arg(short = 'm', long = "user-metadata", value_parser = parse_kv)]
    pub user_metadata: Vec<(String, String)>,
    /// Directory to write the signature to. Default: the file's directory.
    #[arg(long, value_name = "DIR")]
    pub signature_directory: Option<PathBuf>,
    /// Overwrite an existing signature file.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub timestamp: sign::TimestampArgs,
}

#[derive(Debug, ClapArgs)]
pub struct VerifyArgs {
    /// The file whose signature to verify.
    pub file: PathBuf,
    /// The signature file, named `<anything>.<jws|cose>.sig`.
    #[arg(short, long, value_name = "SIG")]
    pub signature: PathBuf,
    /// The blob trust policy statement to verify against. Default: the
    /// statement marked `globalPolicy`.
    #[arg(long, value_name = "NAME")]
    pub policy_name: Option<String>,
    /// The media type the signature must state for the file. Default: any.
    #[arg(long, value_name = "TYPE")]
    pub media_type: Option<String>,
    /// Metadata the signature must carry, KEY=VALUE. Repeatable.
    #[arg(short = 'm', long = "user-metadata", value_parser = parse_kv)]
    pub user_metadata: Vec<(String, String)>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, ClapArgs)]
pub struct InspectArgs {
    /// The signature file, named `<anything>.<jws|cose>.sig`.
    pub signature: String,
    /// Output format: `tree` (the default; `text` is accepted as an alias) or `json`.
    #[arg(short, long, default_value = "tree", value_parser = inspect::parse_format, value_name = "tree|json")]
    pub output: InspectFormat,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Write a blob trust policy with one strict statement.
    Init(PolicyInit),
    /// Validate a blob trust policy file and install it.
    Import {
        /// The blob trust policy JSON file.
        file: PathBuf,
        /// Replace an existing blob trust policy.
        #[arg(long)]
        force: bool,
    },
    /// Print the installed blob trust policy (exactly as stored).
    Show,
}

#[derive(Debug, ClapArgs)]
pub struct PolicyInit {
    /// Name of the statement.
    #[arg(short, long)]
    pub name: String,
    /// Trust stores, `TYPE:NAME` (e.g. `ca:acme`). Repeatable; at least one.
    #[arg(long = "trust-store", required = true, value_name = "TYPE:NAME")]
    pub trust_stores: Vec<String>,
    /// Trusted identities: `x509.subject: C=US, ST=WA, O=Acme` or `*`.
    /// Repeatable; at least one.
    #[arg(long = "trusted-identity", required = true, value_name = "IDENTITY")]
    pub trusted_identities: Vec<String>,
    /// Mark the statement as the global policy (used when verify names none).
    #[arg(long)]
    pub global: bool,
    /// Replace an existing blob trust policy.
    #[arg(long)]
    pub force: bool,
}

pub fn run(config: &ConfigDir, cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Sign(args) => run_sign(config, args),
        Command::Verify(args) => run_verify(config, args),
        Command::Inspect(args) => run_inspect(args),
        Command::Policy(cmd) => run_policy(config, cmd),
    }
}

// ---------------------------------------------------------------------------
// sign

fn run_sign(config: &ConfigDir, args: SignArgs) -> Result<ExitCode> {
    if args.media_type.is_empty() {
        bail!("--media-type cannot be empty");
    }
    let format = EnvelopeFormat::from_name(&args.signature_format)
        .with_context(|| format!("unknown signature format {:?}", args.signature_format))?;
    let file_name = args
        .file
        .file_name()
        .with_context(|| format!("{} does not name a file", args.file.display()))?;
    let directory = match &args.signature_directory {
        Some(d) if d.as_os_str().is_empty() => bail!("signature directory cannot be empty"),
        Some(d) => d.clone(),
        None => args.file.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut sig_name = file_name.to_os_string();
    sig_name.push(format!(".{}.sig", format.name()));
    let sig_path = directory.join(sig_name);

    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut target = Descriptor::of(args.media_type.clone(), &bytes);
    let metadata: BTreeMap<String, String> = args.user_metadata.into_iter().collect();
    target.annotations = (!metadata.is_empty()).then_some(metadata);

    if sig_path.exists() {
        if !args.force {
            bail!(
                "the signature file {} already exists; pass --force to overwrite it",
                sig_path.display()
            );
        }
        eprintln!("Warning: existing signature file will be overwritten");
    }
    let timestamper = args.timestamp.timestamper()?;
    let signed = sign::sign_envelope(
        config,
        args.key.as_deref(),
        format,
        args.expiry,
        &target,
        timestamper
            .as_ref()
            .map(|t| t as &dyn notary::envelope::Timestamper),
    )?;
    write_atomic(&sig_path, &signed.bytes)
        .with_context(|| format!("failed to write signature to file {}", sig_path.display()))?;
    println!("Successfully signed {}", args.file.display());
    println!("Signature file written to {}", sig_path.display());
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// signature file names

/// The envelope media type a signature file name declares, by notation's rules:
/// the extension must be `.sig` and the part before it the format.
pub fn signature_media_type(path: &Path) -> Result<&'static str> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext_ok = Path::new(&name)
        .extension()
        .is_some_and(|e| e.to_string_lossy().eq_ignore_ascii_case("sig"));
    if !ext_ok {
        bail!("invalid signature filename {name}. The file extension must be .sig");
    }
    let parts: Vec<&str> = name.split('.').collect();
    if parts.len() < 3 {
        bail!(
            "invalid signature filename {name}. A valid signature file name must contain signature format and .sig file extension"
        );
    }
    let format = parts[parts.len() - 2].to_lowercase();
    match format.as_str() {
        "jws" => Ok(EnvelopeFormat::Jws.media_type()),
        "cose" => Ok(EnvelopeFormat::Cose.media_type()),
        _ => bail!(
            "signature format {} not supported\nSupported signature envelope formats are \"jws\" and \"cose\"",
            go_quote(&format)
        ),
    }
}

/// Go's `%q` for the plain strings file names give.
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

// ---------------------------------------------------------------------------
// inspect

fn run_inspect(args: InspectArgs) -> Result<ExitCode> {
    let path = Path::new(&args.signature);
    let media_type = signature_media_type(path)?;
    let bytes = std::fs::read(path).context("failed to read signature file")?;
    let envelope = Envelope::parse(media_type, &bytes).context("failed to parse signature")?;
    let view = SignatureView::new(media_type, &envelope)?;
    match args.output {
        InspectFormat::Tree => {
            let mut out = String::new();
            view.tree(&args.signature).render(&mut out);
            print!("{out}");
        }
        InspectFormat::Json => inspect::print_go_json(&view.json(None)),
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------
// verify

fn run_verify(config: &ConfigDir, args: VerifyArgs) -> Result<ExitCode> {
    if args.media_type.as_deref() == Some("") {
        bail!("--media-type is set but with empty value");
    }
    // notation's order: the blob, the signature, the policy, then the name rules.
    let blob = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let sig_bytes =
        std::fs::read(&args.signature).with_context(|| format!("reading {}", args.signature.display()))?;
    let doc = load_blob_policy(config)?;
    let sig_media_type = signature_media_type(&args.signature)?;
    let statement = match &args.policy_name {
        Some(name) => doc.statement_named(name),
        None => doc.global_statement(),
    }
    .map_err(|e| anyhow!("signature verification failed: {e}"))?;
    tracing::debug!(
        name = %statement.name,
        "Verify signature of media type {sig_media_type} against blob trust policy statement"
    );

    // Without --media-type any media type is accepted, as in notation: take the
    // one the signature states; digest and size are always compared.
    let media_type = match &args.media_type {
        Some(m) => m.clone(),
        None => Envelope::parse(sig_media_type, &sig_bytes)
            .ok()
            .and_then(|e| e.target_artifact().ok())
            .map(|d| d.media_type)
            .unwrap_or_else(|| DEFAULT_MEDIA_TYPE.to_owned()),
    };
    let target = Descriptor::of(media_type, &blob);
    let artifact_reference = format!("{BLOB_SCOPE}@{}", target.digest);
    let policy = oci_policy(statement);
    let context = super::verify::VerifyContext::new(config)?;
    let verifier = context.verifier(&policy);
    let metadata: BTreeMap<String, String> = args.user_metadata.into_iter().collect();
    let outcome = verifier.verify(&VerifyRequest {
        artifact_reference: &artifact_reference,
        target: &target,
        envelope_media_type: sig_media_type,
        envelope: &sig_bytes,
        user_metadata: &metadata,
    });
    let shown = args.file.display().to_string();
    let failure = failure_reason(&outcome, &target, sig_media_type, &sig_bytes);
    match args.output {
        Format::Json => crate::output::json(&verify_json(
            &shown,
            &args.signature,
            &target,
            &outcome,
            failure.as_deref(),
        )),
        Format::Text => {
            for r in outcome.logged_failures() {
                eprintln!(
                    "Warning: {} was set to \"log\" and failed with error: {}",
                    r.check.as_str(),
                    r.failure().unwrap_or_default()
                );
            }
            match (&failure, &outcome.verdict) {
                (Some(reason), _) => eprintln!("Error: signature verification failed: {reason}"),
                (None, Verdict::Skipped) => {
                    println!("Trust policy is configured to skip signature verification for {shown}")
                }
                (None, _) => println!("Successfully verified signature for {shown}"),
            }
        }
    }
    Ok(if failure.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `trustpolicy.blob.json`, parsed and validated.
fn load_blob_policy(config: &ConfigDir) -> Result<BlobTrustPolicyDocument> {
    let path = config.path(BLOB_TRUST_POLICY);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "trust policy is not present. To create a trust policy, see: https://notaryproject.dev/docs/quickstart/#create-a-trust-policy"
        ),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    BlobTrustPolicyDocument::from_json(&bytes)
        .with_context(|| format!("invalid blob trust policy {}", path.display()))
}

/// A one-statement OCI policy equivalent to blob statement `s`, covering every scope.
fn oci_policy(s: &BlobTrustPolicyStatement) -> TrustPolicyDocument {
    TrustPolicyDocument {
        version: "1.0".to_owned(),
        statements: vec![TrustPolicyStatement {
            name: s.name.clone(),
            registry_scopes: vec!["*".to_owned()],
            signature_verification: s.signature_verification.clone(),
            trust_stores: s.trust_stores.clone(),
            trusted_identities: s.trusted_identities.clone(),
        }],
    }
}

/// Why verification failed, worded as notation words it; `None` when accepted.
fn failure_reason(
    outcome: &Outcome,
    target: &Descriptor,
    sig_media_type: &str,
    sig_bytes: &[u8],
) -> Option<String> {
    match &outcome.verdict {
        Verdict::Verified | Verdict::Skipped => None,
        Verdict::Inconclusive { reason } => Some(reason.clone()),
        Verdict::Failed { check, reason } => {
            // The signed payload names other content than the given blob.
            let mismatch = *check == ValidationType::Integrity
                && outcome
                    .envelope
                    .clone()
                    .or_else(|| Envelope::parse(sig_media_type, sig_bytes).ok())
                    .and_then(|e| e.target_artifact().ok())
                    .is_some_and(|signed| !signed.same_content(target));
            if mismatch {
                Some("integrity check failed. signature does not match the given blob".to_owned())
            } else {
                Some(reason.clone())
            }
        }
    }
}

fn verify_json(
    blob: &str,
    signature: &Path,
    target: &Descriptor,
    outcome: &Outcome,
    failure: Option<&str>,
) -> Value {
    let results = super::verify::results_json(outcome);
    let verdict = match (&outcome.verdict, failure) {
        (Verdict::Skipped, _) => "skipped",
        (_, None) => "verified",
        (Verdict::Inconclusive { .. }, Some(_)) => "inconclusive",
        (_, Some(_)) => "failed",
    };
    json!({
        "blob": blob,
        "signature": signature.display().to_string(),
        "digest": target.digest.as_str(),
        "mediaType": target.media_type,
        "verified": failure.is_none(),
        "trustPolicy": outcome.policy_name,
        "level": outcome.level.map(VerificationLevel::name),
        "verdict": verdict,
        "reason": failure,
        "results": results,
    })
}

// ---------------------------------------------------------------------------
// policy

fn run_policy(config: &ConfigDir, cmd: PolicyCommand) -> Result<ExitCode> {
    let dest = config.path(BLOB_TRUST_POLICY);
    match cmd {
        PolicyCommand::Init(init) => {
            let doc = json!({
                "version": "1.0",
                "trustPolicies": [{
                    "name": init.name,
                    "signatureVerification": { "level": "strict" },
                    "trustStores": init.trust_stores,
                    "trustedIdentities": init.trusted_identities,
                    "globalPolicy": init.global,
                }]
            });
            let bytes = serde_json::to_vec(&doc).context("encoding the blob trust policy")?;
            let doc = BlobTrustPolicyDocument::from_json(&bytes).context("invalid blob policy")?;
            confirm_overwrite(&dest, init.force)?;
            write_atomic(&dest, doc.to_json_pretty().as_bytes())
                .context("failed to write blob trust policy configuration")?;
            println!(
                "Successfully initialized blob trust policy file to {}.",
                dest.display()
            );
        }
        PolicyCommand::Import { file, force } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("failed to read blob trust policy file {}", file.display()))?;
            serde_json::from_slice::<Value>(&bytes)
                .context("failed to parse blob trust policy configuration")?;
            BlobTrustPolicyDocument::from_json(&bytes)
                .context("failed to validate blob trust policy configuration")?;
            confirm_overwrite(&dest, force)?;
            write_atomic(&dest, &bytes).context("failed to write blob trust policy configuration")?;
            println!(
                "Successfully imported blob trust policy configuration to {}.",
                dest.display()
            );
        }
        PolicyCommand::Show => {
            let bytes = match std::fs::read(&dest) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                    "failed to show blob trust policy as the configuration does not exist.\nYou can import one using `signet blob policy import <path-to-policy.json>`"
                ),
                Err(e) => return Err(e).context("failed to show blob trust policy"),
            };
            use std::io::Write;
            std::io::stdout().write_all(&bytes).context("writing to stdout")?;
            if let Err(e) = BlobTrustPolicyDocument::from_json(&bytes) {
                eprintln!(
                    "Existing blob trust policy configuration is invalid, you may update or create a new one via `signet blob policy import <path-to-policy.json>`."
                );
                return Err(e).context("existing blob trust policy configuration is invalid");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses to replace an existing blob policy without `--force` (there is no prompt).
fn confirm_overwrite(dest: &Path, force: bool) -> Result<()> {
    if dest.exists() {
        if !force {
            bail!(
                "the blob trust policy configuration already exists at {}; pass --force to overwrite it",
                dest.display()
            );
        }
        eprintln!("Warning: existing blob trust policy configuration will be overwritten");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signature_file_names() {
        assert_eq!(
            signature_media_type(Path::new("a/blob.txt.jws.sig")).unwrap(),
            "application/jose+json"
        );
        assert_eq!(
            signature_media_type(Path::new("blob.COSE.SIG")).unwrap(),
            "application/cose"
        );
        let e = signature_media_type(Path::new("blobFile.txt.jws.invalid")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid signature filename blobFile.txt.jws.invalid. The file extension must be .sig"
        );
        let e = signature_media_type(Path::new("d/blobFile.sig")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid signature filename blobFile.sig. A valid signature file name must contain signature format and .sig file extension"
        );
        let e = signature_media_type(Path::new("hello.unknown.sig")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "signature format \"unknown\" not supported\nSupported signature envelope formats are \"jws\" and \"cose\""
        );
    }
}
