//! `signet ls`: the signatures of an artifact, as a tree (notation's format).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use oci::{manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE, signature};
use serde_json::json;

use crate::{
    output::Format,
    target::{ArtifactArgs, Resolved},
};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub artifact: ArtifactArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(config: &crate::config::ConfigDir, args: Args) -> Result<ExitCode> {
    let Resolved { store, target, shown } = args.artifact.open_resolved(config)?;
    let signatures = signature::list_signatures(store.as_ref(), &target)?;
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
