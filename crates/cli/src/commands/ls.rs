//! `signet ls`: the signatures of an artifact, as a tree (notation's format).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use oci::{ArtifactStore, LayoutReference, OciLayout, manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE, signature};
use serde_json::json;

use crate::output::Format;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The artifact: `DIR:TAG` or `DIR@sha256:HEX` in an OCI image layout.
    #[arg(long = "oci-layout", value_name = "DIR:TAG|DIR@DIGEST")]
    pub oci_layout: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let reference = LayoutReference::parse(&args.oci_layout)?;
    let layout = OciLayout::open(&reference.path)?;
    let target = layout.resolve(reference.target.as_str())?;
    let shown = format!("{}@{}", reference.path.display(), target.digest);
    let signatures = signature::list_signatures(&layout, &target)?;
    match args.output {
        Format::Json => crate::output::json(&json!({
            "reference": shown,
            "signatures": signatures.iter().map(|s| json!({
                "digest": s.manifest.digest.as_str(),
                "mediaType": s.manifest.media_type,
                "artifactType": ARTIFACT_TYPE_NOTARY_SIGNATURE,
                "envelopeMediaType": s.envelope.media_type,
                "annotations": s.manifest.annotations,
            })).collect::<Vec<_>>(),
        })),
        Format::Text if signatures.is_empty() => println!("{shown} has no associated signatures"),
        Format::Text => {
            println!("{shown}");
            println!("└── {ARTIFACT_TYPE_NOTARY_SIGNATURE}");
            for (i, s) in signatures.iter().enumerate() {
                let branch = if i + 1 == signatures.len() {
                    "└──"
                } else {
                    "├──"
                };
                println!("    {branch} {}", s.manifest.digest);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
