//! `signet discover`: the referrers graph of an artifact — signatures, SBOMs,
//! attestations and what refers to them — as a tree or JSON (like `oras
//! discover`).
//!
//! The walk is bounded: at most [`MAX_DEPTH`] levels and [`MAX_NODES`]
//! referrers in all, so a registry that answers with a cycle or an endless
//! graph cannot keep the command running.

use std::{collections::HashSet, process::ExitCode};

use anyhow::Result;
use clap::Args as ClapArgs;
use notary::{Descriptor, Digest};
use oci::ArtifactStore;
use serde_json::{Value, json};

use crate::{
    commands::inspect::Node,
    output::Format,
    target::{ArtifactArgs, Resolved},
};

/// How deep the walk goes by default (referrers of referrers of …).
pub const MAX_DEPTH: usize = 4;
/// The most referrers listed in all.
pub const MAX_NODES: usize = 1000;

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(flatten)]
    pub artifact: ArtifactArgs,
    /// Only referrers of this artifact type (at the first level).
    #[arg(long, value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// How many levels of referrers to follow.
    #[arg(long, default_value_t = MAX_DEPTH, value_parser = clap::value_parser!(usize))]
    pub depth: usize,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

/// One referrer and what refers to it.
struct Referrer {
    desc: Descriptor,
    children: Vec<Referrer>,
}

pub fn run(config: &crate::config::ConfigDir, args: Args) -> Result<ExitCode> {
    let Resolved { store, target, shown } = args.artifact.open_resolved(config)?;
    let mut seen = HashSet::from([target.digest.clone()]);
    let mut budget = MAX_NODES;
    let referrers = walk(
        store.as_ref(),
        &target.digest,
        args.artifact_type.as_deref(),
        args.depth.min(16),
        &mut seen,
        &mut budget,
    )?;
    if budget == 0 {
        eprintln!("Warning: stopped after {MAX_NODES} referrers; the graph is larger");
    }
    match args.output {
        Format::Json => crate::output::json(&json!({
            "reference": shown,
            "mediaType": target.media_type,
            "digest": target.digest.as_str(),
            "size": target.size,
            "referrers": referrers.iter().map(referrer_json).collect::<Vec<_>>(),
        })),
        Format::Text if referrers.is_empty() => println!("{shown} has no referrers"),
        Format::Text => {
            let mut root = Node::new(shown);
            add_grouped(&mut root, &referrers);
            let mut out = String::new();
            root.render(&mut out);
            print!("{out}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The referrers of `subject`, `depth` levels deep, each digest once.
fn walk(
    store: &dyn ArtifactStore,
    subject: &Digest,
    artifact_type: Option<&str>,
    depth: usize,
    seen: &mut HashSet<Digest>,
    budget: &mut usize,
) -> Result<Vec<Referrer>> {
    if depth == 0 || *budget == 0 {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for desc in store.referrers(subject, artifact_type)? {
        if *budget == 0 {
            break;
        }
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        *budget -= 1;
        let children = walk(store, &desc.digest, None, depth - 1, seen, budget)?;
        out.push(Referrer { desc, children });
    }
    Ok(out)
}

/// Adds `referrers` under `node`, grouped by artifact type as oras shows them.
fn add_grouped(node: &mut Node, referrers: &[Referrer]) {
    let mut types: Vec<&str> = Vec::new();
    for r in referrers {
        let t = artifact_type(&r.desc);
        if !types.contains(&t) {
            types.push(t);
        }
    }
    for t in types {
        let group = node.add(t);
        for r in referrers.iter().filter(|r| artifact_type(&r.desc) == t) {
            let child = group.add(r.desc.digest.as_str());
            add_grouped(child, &r.children);
        }
    }
}

fn artifact_type(desc: &Descriptor) -> &str {
    desc.artifact_type.as_deref().unwrap_or("<unknown>")
}

fn referrer_json(r: &Referrer) -> Value {
    json!({
        "digest": r.desc.digest.as_str(),
        "mediaType": r.desc.media_type,
        "artifactType": r.desc.artifact_type,
        "size": r.desc.size,
        "annotations": r.desc.annotations,
        "referrers": r.children.iter().map(referrer_json).collect::<Vec<_>>(),
    })
}
