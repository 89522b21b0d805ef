//! `signet runtime scan`: which images on this node are revoked or unsigned
//! now. Revocation does not stop running containers, so operators need this
//! list to act on.

use std::{io::Read, path::PathBuf, process::ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Args as ClapArgs, Subcommand};
use serde_json::{Value, json};

use crate::output::Format;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask the node agent about every image in use and list those it would
    /// refuse now (revoked digests, unsigned, failing policy).
    #[command(after_help = "Examples:
  crictl images -o json | signet runtime scan -
  signet runtime scan images.txt --socket /run/signet/node.sock --output json

Input: crictl's `images -o json` (repoDigests are used), or lines of
NAME@sha256:DIGEST (`ctr -n k8s.io images ls -q` prints NAME, so pair it
with the digest column). Exit status 1 when any image would be refused.")]
    Scan(ScanArgs),
}

#[derive(Debug, ClapArgs)]
pub struct ScanArgs {
    /// The image list, or - for stdin.
    pub input: PathBuf,
    /// The node agent's socket.
    #[arg(long, default_value = "/run/signet/node.sock")]
    pub socket: PathBuf,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

pub fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Scan(a) => scan(a),
    }
}

/// `(name, digest)` pairs from crictl JSON or `name@digest` lines.
pub fn parse_images(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut push = |r: &str| -> Result<()> {
        let (name, digest) = r.rsplit_once('@').with_context(|| {
            format!("{r:?} has no @sha256:… digest; the scan needs what is running, by digest")
        })?;
        out.push((name.to_owned(), digest.to_owned()));
        Ok(())
    };
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        let images = doc["images"]
            .as_array()
            .context("JSON input must be crictl's {\"images\": [...]}")?;
        for image in images {
            for d in image["repoDigests"].as_array().into_iter().flatten() {
                if let Some(d) = d.as_str() {
                    push(d)?;
                }
            }
        }
    } else {
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            push(line.split_whitespace().next().unwrap_or_default())?;
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn scan(a: ScanArgs) -> Result<ExitCode> {
    let mut text = String::new();
    if a.input.as_os_str() == "-" {
        std::io::stdin()
            .take(64 * 1024 * 1024)
            .read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(&a.input).with_context(|| format!("reading {}", a.input.display()))?;
    }
    let images = parse_images(&text)?;
    if images.is_empty() {
        bail!("no image with a digest in {}", a.input.display());
    }
    let mut results = Vec::new();
    for (name, digest) in &images {
        let answer = crate::node_client::ask(&a.socket, name, digest, std::time::Duration::from_secs(30))
            .map_err(anyhow::Error::msg)?;
        results.push((name, digest, answer));
    }
    let refused = results.iter().filter(|(_, _, r)| !r.allow).count();
    match a.output {
        Format::Json => crate::output::json(&json!({
            "scanned": results.len(),
            "refused": refused,
            "images": results.iter().map(|(n, d, r)| json!({"name": n, "digest": d, "allowed": r.allow, "reason": r.reason, "bundleVersion": r.bundle_version})).collect::<Vec<_>>(),
        })),
        Format::Text => {
            for (n, d, r) in &results {
                if !r.allow {
                    println!("REFUSED  {n}@{d}\n         {}", r.reason);
                }
            }
            println!("{} images scanned, {refused} would be refused now", results.len());
        }
    }
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crictl_json_and_lines() {
        let d = format!("sha256:{}", "a".repeat(64));
        let json = format!(
            r#"{{"images":[{{"id":"x","repoTags":["r/a:1"],"repoDigests":["r/a@{d}","r/a@{d}"]}},{{"id":"y","repoDigests":[]}}]}}"#
        );
        assert_eq!(parse_images(&json).unwrap(), vec![("r/a".to_owned(), d.clone())]);
        let lines = format!("# running\nr/b@{d}\n\nr/c:tag@{d} extra\n");
        assert_eq!(parse_images(&lines).unwrap().len(), 2);
        assert!(parse_images("r/a:latest").is_err());
    }
}
