//! `signet copy`: copy an artifact (an image, an index and all its platform
//! images) between registries and OCI layouts, optionally with its signatures
//! and every other referrer (`oras copy -r`).
//!
//! Content is copied bottom-up — blobs, then child manifests, then the
//! manifest — so the destination never holds a manifest whose content it
//! lacks, and what the destination already has is not copied again. Blobs
//! stream through a temporary file (never whole in memory) and are checked
//! against their digest on both sides. Signature manifests keep their
//! `subject`, so the destination lists them as referrers: through the
//! referrers API, or through the `sha256-<hex>` tag index that the registry
//! client maintains on registries without it.

use std::{
    collections::HashSet,
    io::{Seek, SeekFrom},
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use notary::{Descriptor, Digest};
use oci::{
    ArtifactStore, MAX_MANIFEST_SIZE,
    manifest::{ImageIndex, ImageManifest, is_index_media_type, is_manifest_media_type},
};
use serde_json::json;

use crate::{
    output::Format,
    target::{Location, Registries, RegistryArgs},
};

/// How many levels of referrers `--with-signatures` follows.
const MAX_REFERRER_DEPTH: usize = 4;
/// The most manifests one copy writes.
const MAX_MANIFESTS: usize = 10_000;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// What to copy: REGISTRY/REPOSITORY:TAG or …@sha256:HEX (or DIR:TAG with --from-oci-layout).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Where to: REGISTRY/REPOSITORY[:TAG] (or DIR[:TAG] with --to-oci-layout). Without a
    /// tag, the source's tag is used; without either, the copy is untagged (by digest).
    #[arg(value_name = "DESTINATION")]
    pub destination: String,
    /// SOURCE is an OCI image layout on disk.
    #[arg(long)]
    pub from_oci_layout: bool,
    /// DESTINATION is an OCI image layout on disk (created if missing).
    #[arg(long)]
    pub to_oci_layout: bool,
    /// Also copy the artifact's signatures and every other referrer, recursively.
    #[arg(short = 'r', long, alias = "recursive")]
    pub with_signatures: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What a copy did.
#[derive(Debug, Default)]
struct Stats {
    manifests: usize,
    blobs_copied: usize,
    blobs_skipped: usize,
    bytes: u64,
    referrers: usize,
}

struct Copier<'a> {
    src: &'a dyn ArtifactStore,
    dst: &'a mut dyn ArtifactStore,
    done: HashSet<Digest>,
    stats: Stats,
    progress: ProgressBar,
}

pub fn run(config: &crate::config::ConfigDir, args: Args) -> Result<ExitCode> {
    let (_, src_tag) = split_tag(&args.source, args.from_oci_layout);
    let source = if args.from_oci_layout {
        Location::layout(&args.source)?
    } else {
        Location::registry(&args.source)?
    };
    let (dst_raw, dst_tag) = split_tag(&args.destination, args.to_oci_layout);
    let tag = dst_tag.or(src_tag);
    let destination = if args.to_oci_layout {
        // A layout is addressed DIR:TAG; untagged, the copy is listed by digest only.
        Location::layout(&format!("{dst_raw}:{}", tag.as_deref().unwrap_or("latest")))?
    } else {
        Location::registry(&args.destination)?
    };
    let hosts = [source.registry_host(), destination.registry_host()]
        .into_iter()
        .flatten()
        .collect();
    let registries = Registries::new(config, &args.registry, hosts);
    let src = source.open(&registries)?;
    let mut dst = destination.open_for_write(&registries)?;
    let root = src.resolve(source.target())?;

    let progress = if console_is_interactive() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} {bytes} copied ({binary_bytes_per_sec}), {elapsed}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut copier = Copier {
        src: src.as_ref(),
        dst: dst.as_mut(),
        done: HashSet::new(),
        stats: Stats::default(),
        progress,
    };
    copier.copy_manifest(&root)?;
    if args.with_signatures {
        copier.copy_referrers(&root.digest, MAX_REFERRER_DEPTH)?;
    }
    if let Some(tag) = &tag {
        copier
            .dst
            .tag(&root, tag)
            .with_context(|| format!("cannot tag the copy {tag}"))?;
    }
    copier.progress.finish_and_clear();
    let stats = copier.stats;
    let shown_src = source.shown(&root.digest);
    let shown_dst = match &tag {
        Some(t) => format!("{}:{t}", destination.name()),
        None => destination.shown(&root.digest),
    };
    match args.output {
        Format::Text => {
            println!("Copied {shown_src} => {shown_dst}");
            println!(
                "{} manifests, {} blobs copied ({} bytes), {} already present{}",
                stats.manifests,
                stats.blobs_copied,
                stats.bytes,
                stats.blobs_skipped,
                if args.with_signatures {
                    format!(", {} referrers", stats.referrers)
                } else {
                    String::new()
                }
            );
            println!("Digest: {}", root.digest);
        }
        Format::Json => crate::output::json(&json!({
            "source": shown_src,
            "destination": shown_dst,
            "digest": root.digest.as_str(),
            "mediaType": root.media_type,
            "size": root.size,
            "manifests": stats.manifests,
            "blobsCopied": stats.blobs_copied,
            "blobsSkipped": stats.blobs_skipped,
            "bytesCopied": stats.bytes,
            "referrers": stats.referrers,
        })),
    }
    tracing::debug!(requests = registries.request_count(), "registry requests");
    Ok(ExitCode::SUCCESS)
}

/// Splits `raw` into what precedes an explicit `:tag` and the tag, if it has
/// one (a registry port or a digest is not a tag).
fn split_tag(raw: &str, layout: bool) -> (String, Option<String>) {
    if raw.contains('@') {
        return (raw.to_owned(), None);
    }
    let last_slash = if layout {
        0
    } else {
        raw.rfind('/').map_or(0, |i| i + 1)
    };
    match raw[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (raw[..at].to_owned(), Some(raw[at + 1..].to_owned()))
        }
        None => (raw.to_owned(), None),
    }
}

fn console_is_interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

impl Copier<'_> {
    /// Copies the manifest `desc` and everything it refers to.
    fn copy_manifest(&mut self, desc: &Descriptor) -> Result<()> {
        if self.done.contains(&desc.digest) {
            return Ok(());
        }
        if self.done.len() >= MAX_MANIFESTS {
            bail!("the artifact graph has more than {MAX_MANIFESTS} manifests; refusing to copy further");
        }
        if !is_manifest_media_type(&desc.media_type) {
            bail!(
                "{} has media type {:?}, which is not a manifest this tool copies",
                desc.digest,
                desc.media_type
            );
        }
        let plain = Descriptor::new(desc.media_type.clone(), desc.digest.clone(), desc.size);
        let bytes = self.src.fetch(&plain, MAX_MANIFEST_SIZE)?;
        if is_index_media_type(&desc.media_type) {
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .with_context(|| format!("index {} is not valid JSON", desc.digest))?;
            for child in &index.manifests {
                self.copy_manifest(child)?;
            }
        } else {
            let manifest: ImageManifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("manifest {} is not valid JSON", desc.digest))?;
            self.copy_blob(&manifest.config)?;
            for layer in &manifest.layers {
                self.copy_blob(layer)?;
            }
        }
        let pushed = self.dst.push(&desc.media_type, &bytes)?;
        if pushed.digest != desc.digest {
            bail!(
                "the destination stored {} as {}: the copy would not be byte-identical",
                desc.digest,
                pushed.digest
            );
        }
        self.stats.manifests += 1;
        self.done.insert(desc.digest.clone());
        Ok(())
    }

    /// Copies one blob unless the destination has it already.
    fn copy_blob(&mut self, desc: &Descriptor) -> Result<()> {
        if self.done.contains(&desc.digest) {
            return Ok(());
        }
        if self.dst.exists(desc)? {
            self.stats.blobs_skipped += 1;
            self.done.insert(desc.digest.clone());
            return Ok(());
        }
        self.progress.set_message(short(&desc.digest));
        let mut spool = tempfile::tempfile().context("cannot create a temporary file for the copy")?;
        self.src
            .fetch_to(desc, &mut spool)
            .with_context(|| format!("cannot read blob {}", desc.digest))?;
        spool
            .seek(SeekFrom::Start(0))
            .context("rewinding the temporary file")?;
        let mut counted = self.progress.wrap_read(spool);
        self.dst
            .push_from(desc, &mut counted)
            .with_context(|| format!("cannot write blob {}", desc.digest))?;
        self.stats.blobs_copied += 1;
        self.stats.bytes += desc.size;
        self.done.insert(desc.digest.clone());
        Ok(())
    }

    /// Copies what refers to `subject`, `depth` levels deep.
    fn copy_referrers(&mut self, subject: &Digest, depth: usize) -> Result<()> {
        if depth == 0 {
            return Ok(());
        }
        for referrer in self.src.referrers(subject, None)? {
            if self.done.contains(&referrer.digest) {
                continue;
            }
            self.copy_manifest(&referrer)?;
            self.stats.referrers += 1;
            self.copy_referrers(&referrer.digest, depth - 1)?;
        }
        Ok(())
    }
}

fn short(d: &Digest) -> String {
    let s = d.as_str();
    s.chars().take(19).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_tags() {
        assert_eq!(
            split_tag("localhost:5000/app", false),
            ("localhost:5000/app".into(), None)
        );
        assert_eq!(
            split_tag("localhost:5000/app:v1", false),
            ("localhost:5000/app".into(), Some("v1".into()))
        );
        assert_eq!(
            split_tag("reg/app@sha256:ab", false),
            ("reg/app@sha256:ab".into(), None)
        );
        assert_eq!(split_tag("./out", true), ("./out".into(), None));
        assert_eq!(split_tag("./out:v2", true), ("./out".into(), Some("v2".into())));
    }
}
