//! `signet quickstart`: the whole job from nothing, one step at a time.
//!
//! Makes a sample image in an OCI layout, a test key trusted as `ca:<name>`,
//! signs the image, writes a trust policy and verifies — printing each step
//! and the command that does it on its own — then shows that an unsigned
//! image is refused. Everything lives under one directory, config included,
//! so it touches nothing else on the machine.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use notary::{Descriptor, algorithm::KeySpec, envelope::EnvelopeFormat};
use oci::{ArtifactStore, LayoutReference, OciLayout, manifest};
use serde_json::json;

use crate::{
    commands::{cert, policy, sign, verify},
    config::ConfigDir,
};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Working directory (created; must be empty or absent).
    /// Default: a new directory under the system temporary directory.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Key type of the test key.
    #[arg(long, default_value = "ec-256", value_parser = cert::parse_key_spec)]
    pub key_type: KeySpec,
    /// Envelope format.
    #[arg(long, default_value = "jws", value_parser = ["jws", "cose"])]
    pub signature_format: String,
}

const KEY_NAME: &str = "quickstart.example";

fn step(n: u32, what: &str, command: &str) {
    println!("\n== Step {n}: {what}");
    println!("   $ {command}");
}

pub fn run(args: Args) -> Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "signet-quickstart-{}",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos()
        )),
    };
    if dir.exists() && std::fs::read_dir(&dir)?.next().is_some() {
        bail!(
            "{} exists and is not empty; pass --dir with a new directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)?;
    let root = std::fs::canonicalize(&dir)?;
    let config = ConfigDir::resolve(Some(root.join("config")))?;
    let cfg = config.root().display().to_string();
    let image_dir = root.join("image");
    let format = EnvelopeFormat::from_name(&args.signature_format).context("unknown signature format")?;
    println!("Signet quickstart in {} (config dir {cfg})", root.display());

    step(
        1,
        "create a sample image in an OCI layout",
        &format!("(a small OCI artifact written to {})", image_dir.display()),
    );
    let target = sample_image(&image_dir, "v1", b"hello from signet\n")?;
    println!("   created {}:v1 -> {}", image_dir.display(), target.digest);

    step(
        2,
        "generate a test key and certificate, trusted as ca:quickstart.example",
        &format!(
            "signet --config-dir {cfg} cert generate-test {KEY_NAME} --key-type {} --default",
            args.key_type.cli_name()
        ),
    );
    cert::generate_test(
        &config,
        &cert::GenerateTest {
            name: KEY_NAME.into(),
            key_type: args.key_type,
            default: true,
        },
    )?;

    step(
        3,
        "sign the image",
        &format!(
            "signet --config-dir {cfg} sign --oci-layout {}:v1 --signature-format {}",
            image_dir.display(),
            format.name()
        ),
    );
    let reference = LayoutReference::parse(&format!("{}:v1", image_dir.display()))?;
    let signed = sign::sign_layout(&config, &reference, None, format, None, &BTreeMap::new(), None)?;
    println!(
        "   signed {}; signature manifest {}",
        signed.target.digest, signed.signature_manifest.digest
    );

    let identity = format!("x509.subject:CN={KEY_NAME},O=Notary,L=Seattle,ST=WA,C=US");
    step(
        4,
        "write a trust policy: images in local/image must be signed by that certificate",
        &format!(
            "signet --config-dir {cfg} policy init --scope local/image --trust-store ca:{KEY_NAME} --trusted-identity '{identity}'"
        ),
    );
    let path = policy::write_init(
        &config,
        &policy::Init {
            name: "quickstart".into(),
            scopes: vec!["local/image".into()],
            trust_stores: vec![format!("ca:{KEY_NAME}")],
            identities: vec![identity],
            level: "strict".into(),
            force: false,
        },
    )?;
    println!("   wrote {}", path.display());

    step(
        5,
        "verify the image",
        &format!(
            "signet --config-dir {cfg} verify --oci-layout {}:v1",
            image_dir.display()
        ),
    );
    let report = verify::verify_layout(&config, &reference, "local/image", &BTreeMap::new())?;
    let Some(i) = report.accepted else {
        bail!(
            "verification of the freshly signed image failed: {}",
            verify::report_json(&report)
        );
    };
    for r in &report.outcomes[i].1.results {
        let state = match &r.status {
            notary::verifier::CheckStatus::Passed(Some(note)) => format!("passed ({note})"),
            notary::verifier::CheckStatus::Passed(None) => "passed".into(),
            notary::verifier::CheckStatus::Failed(m) => format!("failed: {m}"),
            notary::verifier::CheckStatus::NotChecked(m) => format!("not checked: {m}"),
        };
        println!("   {:<20} {:<8} {state}", r.check.as_str(), r.action.as_str());
    }
    println!("   Successfully verified signature for {}", report.reference);

    step(
        6,
        "an unsigned image in the same scope is refused",
        &format!(
            "signet --config-dir {cfg} verify --oci-layout {}:unsigned",
            image_dir.display()
        ),
    );
    sample_image(&image_dir, "unsigned", b"nobody signed me\n")?;
    let unsigned = LayoutReference::parse(&format!("{}:unsigned", image_dir.display()))?;
    match verify::verify_layout(&config, &unsigned, "local/image", &BTreeMap::new()) {
        Ok(r) if r.accepted.is_some() => bail!("an unsigned image was accepted — this is a bug"),
        Ok(_) => println!("   refused: no signature verified"),
        Err(e) => println!("   refused: {e}"),
    }
    println!("\nDone. Try the commands above yourself, with --config-dir {cfg}.");
    Ok(ExitCode::SUCCESS)
}

/// Writes a one-layer OCI artifact tagged `tag` into the layout at `dir`.
pub fn sample_image(dir: &std::path::Path, tag: &str, content: &[u8]) -> Result<Descriptor> {
    let mut layout = OciLayout::create(dir)?;
    let config = layout.push(manifest::MEDIA_TYPE_EMPTY_JSON, b"{}")?;
    let layer = layout.push("text/plain", content)?;
    let doc = json!({
        "schemaVersion": 2,
        "mediaType": manifest::MEDIA_TYPE_OCI_MANIFEST,
        "artifactType": "application/vnd.signet.quickstart.v1",
        "config": { "mediaType": manifest::MEDIA_TYPE_EMPTY_JSON, "digest": config.digest, "size": 2, "data": "e30=" },
        "layers": [ { "mediaType": "text/plain", "digest": layer.digest, "size": layer.size,
                      "annotations": { "org.opencontainers.image.title": "hello.txt" } } ],
    });
    let bytes = serde_json::to_vec(&doc)?;
    let desc = layout.push(manifest::MEDIA_TYPE_OCI_MANIFEST, &bytes)?;
    layout.tag(&desc, tag)?;
    Ok(desc)
}
