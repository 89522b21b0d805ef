//! `signet ls`: the signatures of an artifact, as a tree (notation's format).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args as ClapArgs;
use oci::{manifest::ARTIFACT_TYPE_NOTARY_SIGNATURE, signature};
use serde_json::json;

use crate::{
    output::Format,
    target::{Location, Registries},
};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The artifact in a registry: REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:HEX.
    #[arg(value_name = "REFERENCE", required_unless_present = "oci_layout")]
    pub reference: Option<String>,
    /// The artifact in an OCI image layout on disk instead: `DIR:TAG` or `DIR@sha256:HEX`.
    #[arg(
        long = "oci-layout",
        value_name = "DIR:TAG|DIR@DIGEST",
        conflicts_with = "reference"
    )]
    pub oci_layout: Option<String>,
    #[command(flatten)]
    pub registry: crate::target::RegistryArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(config: &crate::config::ConfigDir, args: Args) -> Result<ExitCode> {
    let location = Location::one(args.reference.as_deref(), args.oci_layout.as_deref())?;
    let registries = Registries::new(
        config,
        &args.registry,
        location.registry_host().into_iter().collect(),
    );
    let store = location.open(&registries)?;
    let target = store.resolve(location.target())?;
    let shown = format!("{}@{}", location.name(), target.digest);
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
