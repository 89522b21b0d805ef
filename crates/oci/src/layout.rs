//! An OCI image layout on disk (image-spec 1.1, `image-layout.md`).
//!
//! ```text
//! <root>/oci-layout        {"imageLayoutVersion":"1.0.0"}
//! <root>/index.json        an image index; tags are ref.name annotations
//! <root>/blobs/<alg>/<hex> content, named by its digest
//! ```
//!
//! The layout behaves like notation's OCI-layout store (oras-go `oci.Store`):
//! every manifest pushed is listed in `index.json` (untagged unless tagged),
//! a tag is an `org.opencontainers.image.ref.name` annotation, and referrers
//! are found by reading manifests and looking at their `subject`. Files are
//! written to a temporary name and renamed into place, so a crash never leaves
//! a half-written blob or index behind. Concurrent writers to one layout are not
//! coordinated: the last `index.json` written wins.
//!
//! Blob paths are built from validated [`Digest`]s only (algorithm from a fixed
//! list, lowercase hex), so no descriptor can name a file outside `blobs/`.

use std::{
    collections::{BTreeMap, HashSet},
    fs::{self, File},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use notary::{Descriptor, Digest};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::{
    ArtifactStore, Error, MAX_MANIFEST_SIZE, MAX_SIGNATURES,
    manifest::{
        ANNOTATION_REF_NAME, ImageIndex, MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, ManifestProbe,
        is_manifest_media_type, to_go_json,
    },
    reference::validate_tag,
    store::{Hasher, read_exact_size},
};

/// The file that marks a directory as an OCI image layout.
pub const LAYOUT_FILE: &str = "oci-layout";
/// The layout's top-level image index.
pub const INDEX_FILE: &str = "index.json";
/// The only `imageLayoutVersion` there is.
pub const LAYOUT_VERSION: &str = "1.0.0";
/// How many manifests [`OciLayout::referrers`] reads while looking for
/// referrers before it stops (with a warning): ten for every signature the
/// verifier will examine. It bounds the work a huge or hostile layout causes.
pub const MAX_REFERRER_CANDIDATES: usize = MAX_SIGNATURES * 10;
/// The largest `index.json` (and `oci-layout`) read, like any other manifest.
const MAX_INDEX_SIZE: u64 = MAX_MANIFEST_SIZE;

/// The `oci-layout` marker file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayoutMarker {
    #[serde(default)]
    image_layout_version: String,
}

/// An OCI image layout directory, opened for reading and writing.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
    index: ImageIndex,
}

impl OciLayout {
    /// Opens an existing layout: `dir` must hold an `oci-layout` file with
    /// version `1.0.0` and an `index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let root = dir.as_ref().to_path_buf();
        let marker_path = root.join(LAYOUT_FILE);
        let marker = read_limited(&marker_path, MAX_INDEX_SIZE).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotALayout {
                root: root.clone(),
                missing: LAYOUT_FILE,
            },
            _ => Error::io("read", &marker_path, e),
        })?;
        let marker: LayoutMarker =
            serde_json::from_slice(&marker).map_err(|e| Error::json(marker_path.display().to_string(), e))?;
        if marker.image_layout_version != LAYOUT_VERSION {
            return Err(Error::UnsupportedLayoutVersion {
                path: marker_path,
                version: marker.image_layout_version,
            });
        }
        let index = read_index(&root)?;
        Ok(Self { root, index })
    }

    /// Creates a layout in `dir` (creating the directory as needed) with an
    /// empty `index.json`; opens it instead when `dir` already is a layout.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let root = dir.as_ref().to_path_buf();
        if root.join(LAYOUT_FILE).exists() {
            return Self::open(root);
        }
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| Error::io("create", &blobs, e))?;
        if !root.join(INDEX_FILE).exists() {
            write_json(&root.join(INDEX_FILE), &ImageIndex::empty())?;
        }
        let marker = LayoutMarker {
            image_layout_version: LAYOUT_VERSION.to_owned(),
        };
        write_json(&root.join(LAYOUT_FILE), &marker)?;
        Self::open(root)
    }

    /// The layout directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout's `index.json` as last read or written by this handle.
    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// Every tag in `index.json` with the descriptor it points at, in file order.
    pub fn tags(&self) -> Vec<(String, Descriptor)> {
        self.index
            .manifests
            .iter()
            .filter_map(|d| Some((ref_name(d)?.to_owned(), d.clone())))
            .collect()
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().name())
            .join(digest.encoded())
    }

    /// Resolves a digest that `index.json` does not list by reading the blob:
    /// its `mediaType` field says what it is.
    fn resolve_blob(&self, digest: &Digest) -> Result<Descriptor, Error> {
        let path = self.blob_path(digest);
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::ReferenceNotFound {
                    reference: digest.to_string(),
                });
            }
            Err(e) => return Err(Error::io("read", path, e)),
        };
        // The media type is not known yet; any manifest type will do for fetch.
        let bytes = self.fetch(
            &Descriptor::new(MEDIA_TYPE_OCI_MANIFEST, digest.clone(), len),
            MAX_MANIFEST_SIZE,
        )?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct MediaTypeOnly {
            media_type: Option<String>,
        }
        let probe: MediaTypeOnly = serde_json::from_slice(&bytes).map_err(|_| Error::UnknownMediaType {
            digest: digest.clone(),
        })?;
        match probe.media_type {
            Some(mt) if !mt.is_empty() => Ok(Descriptor::new(mt, digest.clone(), len)),
            _ => Err(Error::UnknownMediaType {
                digest: digest.clone(),
            }),
        }
    }

    /// Writes `bytes` as the blob `digest` unless that very content is there
    /// already; a damaged blob of the same name is replaced.
    fn write_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), Error> {
        let path = self.blob_path(digest);
        let present = fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64)
            && fs::read(&path).is_ok_and(|existing| existing == bytes);
        if present {
            return Ok(());
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        }
        write_atomic(&path, bytes)
    }

    /// Re-reads `index.json`, lets `change` edit it, and writes it back when
    /// `change` says it changed something.
    fn update_index(&mut self, change: impl FnOnce(&mut ImageIndex) -> bool) -> Result<(), Error> {
        let mut index = read_index(&self.root)?;
        if change(&mut index) {
            write_json(&self.root.join(INDEX_FILE), &index)?;
        }
        self.index = index;
        Ok(())
    }

    /// Reads the manifest `desc` for referrer discovery. Failures are logged
    /// and skipped: one broken manifest must not hide the signatures of an
    /// unrelated artifact.
    fn probe(&self, desc: &Descriptor) -> Option<ManifestProbe> {
        let plain = Descriptor::new(desc.media_type.clone(), desc.digest.clone(), desc.size);
        let bytes = match self.fetch(&plain, MAX_MANIFEST_SIZE) {
            Ok(b) => b,
            Err(Error::BlobNotFound { digest }) => {
                debug!(%digest, "manifest listed in the layout is absent; skipped while looking for referrers");
                return None;
            }
            Err(e) => {
                warn!(digest = %desc.digest, error = %e, "unreadable manifest skipped while looking for referrers");
                return None;
            }
        };
        match serde_json::from_slice(&bytes) {
            Ok(p) => Some(p),
            Err(e) => {
                warn!(digest = %desc.digest, error = %e, "malformed manifest skipped while looking for referrers");
                None
            }
        }
    }

    /// Reads one candidate referrer unless it was read already, is not an OCI
    /// manifest or index, or the budget is spent.
    fn scan_one(&self, desc: &Descriptor, read: &mut HashSet<Digest>, budget: &mut usize) -> Scan {
        let is_oci = desc.media_type == MEDIA_TYPE_OCI_MANIFEST || desc.media_type == MEDIA_TYPE_OCI_INDEX;
        if !is_oci || read.contains(&desc.digest) {
            return Scan::Skip;
        }
        if *budget == 0 {
            return Scan::Stop;
        }
        *budget -= 1;
        read.insert(desc.digest.clone());
        match self.probe(desc) {
            Some(p) => Scan::Read(p),
            None => Scan::Skip,
        }
    }

    /// The descriptors listed by the referrers tag-schema index
    /// (`<alg>-<hex>`) for `subject`, if the layout has one. In a layout that
    /// index is only a hint (the subject scan is authoritative), so an
    /// unreadable one is logged and ignored.
    fn tag_schema_referrers(&self, subject: &Digest) -> Option<(Digest, Vec<Descriptor>)> {
        let tag = format!("{}-{}", subject.algorithm().name(), subject.encoded());
        let entry = self
            .index
            .manifests
            .iter()
            .find(|d| ref_name(d) == Some(tag.as_str()))?;
        let plain = Descriptor::new(entry.media_type.clone(), entry.digest.clone(), entry.size);
        let listed = self
            .fetch(&plain, MAX_MANIFEST_SIZE)
            .and_then(|bytes| {
                serde_json::from_slice::<ImageIndex>(&bytes)
                    .map_err(|e| Error::json(format!("referrers index {}", entry.digest), e))
            })
            .map(|index| index.manifests);
        match listed {
            Ok(listed) => Some((entry.digest.clone(), listed)),
            Err(e) => {
                warn!(%tag, error = %e, "ignoring unreadable referrers tag-schema index");
                None
            }
        }
    }
}

impl ArtifactStore for OciLayout {
    /// A digest resolves to `{mediaType, digest, size}` (from `index.json`, or
    /// from the blob itself when `index.json` does not list it); a tag resolves
    /// to its `index.json` entry as written, annotations and platform included.
    fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        if reference.contains(':') {
            let digest = Digest::parse(reference)?;
            return match self.index.manifests.iter().find(|d| d.digest == digest) {
                Some(d) => Ok(Descriptor::new(d.media_type.clone(), d.digest.clone(), d.size)),
                None => self.resolve_blob(&digest),
            };
        }
        validate_tag(reference)?;
        self.index
            .manifests
            .iter()
            .find(|d| ref_name(d) == Some(reference))
            .cloned()
            .ok_or_else(|| Error::ReferenceNotFound {
                reference: reference.to_owned(),
            })
    }

    fn fetch(&self, desc: &Descriptor, max_size: u64) -> Result<Vec<u8>, Error> {
        let digest = &desc.digest;
        if desc.size > max_size {
            return Err(Error::TooLarge {
                digest: digest.clone(),
                size: desc.size,
                limit: max_size,
            });
        }
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound {
                digest: digest.clone(),
            },
            _ => Error::io("open", &path, e),
        })?;
        let len = file.metadata().map_err(|e| Error::io("read", &path, e))?.len();
        let size_mismatch = |actual| Error::SizeMismatch {
            digest: digest.clone(),
            expected: desc.size,
            actual,
        };
        if len != desc.size {
            return Err(size_mismatch(len));
        }
        // desc.size <= max_size, which callers keep far below usize::MAX.
        let mut bytes = Vec::with_capacity(usize::try_from(desc.size).unwrap_or(0));
        // One byte more than expected, to notice a file that grew meanwhile.
        file.take(desc.size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &path, e))?;
        if bytes.len() as u64 != desc.size {
            return Err(size_mismatch(bytes.len() as u64));
        }
        let actual = Digest::compute(digest.algorithm(), &bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Stores the blob; a manifest or index is also listed in `index.json`
    /// (untagged, with its `artifactType` and annotations), as oras does.
    fn push(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let desc = Descriptor::of(media_type, bytes);
        let entry = if is_manifest_media_type(media_type) {
            let probe: ManifestProbe = serde_json::from_slice(bytes).map_err(|e| Error::InvalidManifest {
                digest: desc.digest.clone(),
                reason: format!("not a JSON manifest: {e}"),
            })?;
            if let Some(declared) = probe.media_type.as_deref().filter(|mt| *mt != media_type) {
                return Err(Error::InvalidManifest {
                    digest: desc.digest.clone(),
                    reason: format!("pushed as {media_type:?} but its mediaType field says {declared:?}"),
                });
            }
            Some(Descriptor {
                artifact_type: probe.artifact_type,
                annotations: probe.annotations.filter(|a| !a.is_empty()),
                ..desc.clone()
            })
        } else {
            None
        };
        self.write_blob(&desc.digest, bytes)?;
        if let Some(entry) = entry {
            self.update_index(|index| {
                if index.manifests.iter().any(|d| d.digest == entry.digest) {
                    return false;
                }
                index.manifests.push(entry);
                true
            })?;
        }
        Ok(desc)
    }

    /// Points `tag` at `desc`. A manifest the tag pointed at before stays in
    /// `index.json`, untagged, as oras leaves it.
    fn tag(&mut self, desc: &Descriptor, tag: &str) -> Result<(), Error> {
        validate_tag(tag)?;
        if !self.blob_path(&desc.digest).is_file() {
            return Err(Error::BlobNotFound {
                digest: desc.digest.clone(),
            });
        }
        let mut entry = desc.clone();
        entry
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(ANNOTATION_REF_NAME.to_owned(), tag.to_owned());
        self.update_index(|index| {
            let mut untagged = Vec::new();
            index.manifests.retain(|d| {
                if ref_name(d) == Some(tag) {
                    untagged.push(d.clone());
                    false
                } else {
                    true
                }
            });
            for mut old in untagged {
                let still_listed =
                    old.digest == entry.digest || index.manifests.iter().any(|d| d.digest == old.digest);
                if !still_listed {
                    strip_ref_name(&mut old);
                    index.manifests.push(old);
                }
            }
            // An untagged entry for the same digest becomes the tagged one.
            match index
                .manifests
                .iter()
                .position(|d| d.digest == entry.digest && ref_name(d).is_none())
            {
                Some(i) => index.manifests[i] = entry,
                None => index.manifests.push(entry),
            }
            true
        })
    }

    /// Reads the tag-schema referrers index (`sha256-<hex>`) if there is one,
    /// then every manifest listed in `index.json` and, one level down, in the
    /// image indexes it lists, keeping those whose `subject` is `subject`.
    /// At most [`MAX_REFERRER_CANDIDATES`] manifests are read.
    fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>, Error> {
        let mut found: Vec<Descriptor> = Vec::new();
        let mut found_digests: HashSet<Digest> = HashSet::new();
        let mut read: HashSet<Digest> = HashSet::new();
        if let Some((index_digest, listed)) = self.tag_schema_referrers(subject) {
            read.insert(index_digest);
            for d in listed.into_iter().take(MAX_REFERRER_CANDIDATES) {
                if found_digests.insert(d.digest.clone()) {
                    found.push(d);
                }
            }
        }

        let mut budget = MAX_REFERRER_CANDIDATES;
        let mut record = |desc: &Descriptor, probe: &ManifestProbe, found: &mut Vec<Descriptor>| {
            let is_referrer = probe.subject.as_ref().is_some_and(|s| s.digest == *subject);
            if is_referrer && found_digests.insert(desc.digest.clone()) {
                found.push(Descriptor {
                    artifact_type: probe.effective_artifact_type().map(str::to_owned),
                    annotations: probe.annotations.clone().filter(|a| !a.is_empty()),
                    ..Descriptor::new(desc.media_type.clone(), desc.digest.clone(), desc.size)
                });
            }
        };
        let mut stopped = false;
        'scan: for top in &self.index.manifests {
            let children = match self.scan_one(top, &mut read, &mut budget) {
                Scan::Stop => {
                    stopped = true;
                    break 'scan;
                }
                Scan::Skip => continue,
                Scan::Read(probe) => {
                    record(top, &probe, &mut found);
                    probe.manifests
                }
            };
            for child in &children {
                match self.scan_one(child, &mut read, &mut budget) {
                    Scan::Stop => {
                        stopped = true;
                        break 'scan;
                    }
                    Scan::Skip => {}
                    Scan::Read(probe) => record(child, &probe, &mut found),
                }
            }
        }
        if stopped {
            warn!(
                %subject,
                limit = MAX_REFERRER_CANDIDATES,
                "stopped looking for referrers: the layout has more manifests than the limit"
            );
        }

        if let Some(at) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(at));
        }
        Ok(found)
    }

    /// Whether the blob file is there with the right size (not re-hashed).
    fn exists(&self, desc: &Descriptor) -> Result<bool, Error> {
        let path = self.blob_path(&desc.digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.is_file() && m.len() == desc.size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// Streams the blob file to `out`, hashing on the way.
    fn fetch_to(&self, desc: &Descriptor, out: &mut dyn Write) -> Result<(), Error> {
        let path = self.blob_path(&desc.digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound {
                digest: desc.digest.clone(),
            },
            _ => Error::io("open", &path, e),
        })?;
        copy_checked(
            desc,
            &mut file.take(desc.size.saturating_add(1)),
            |e| Error::io("read", &path, e),
            |chunk| {
                out.write_all(chunk)
                    .map_err(|e| Error::io("write", format!("<output for {}>", desc.digest), e))
            },
        )
    }

    /// Blobs are written to a temporary file while being hashed and renamed
    /// into place only when size and digest match; manifests go through
    /// [`ArtifactStore::push`] (they are small, and listed in `index.json`).
    fn push_from(&mut self, desc: &Descriptor, content: &mut dyn Read) -> Result<(), Error> {
        if is_manifest_media_type(&desc.media_type) {
            let bytes = read_exact_size(desc, content, MAX_MANIFEST_SIZE)?;
            self.push(&desc.media_type, &bytes)?;
            return Ok(());
        }
        if self.exists(desc)? {
            return Ok(());
        }
        let path = self.blob_path(&desc.digest);
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let tmp = temp_name(&path);
        let result = (|| {
            let mut f = File::create_new(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
            copy_checked(
                desc,
                &mut content.take(desc.size.saturating_add(1)),
                |e| Error::io("read", format!("<content of {}>", desc.digest), e),
                |chunk| f.write_all(chunk).map_err(|e| Error::io("write", &tmp, e)),
            )?;
            f.sync_all().map_err(|e| Error::io("write", &tmp, e))?;
            fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &path, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// What [`OciLayout::scan_one`] made of a candidate.
enum Scan {
    /// Not a candidate, already read, or unreadable.
    Skip,
    /// The read budget is spent.
    Stop,
    /// Read and parsed.
    Read(ManifestProbe),
}

/// The tag of an `index.json` entry.
fn ref_name(desc: &Descriptor) -> Option<&str> {
    desc.annotations
        .as_ref()?
        .get(ANNOTATION_REF_NAME)
        .map(String::as_str)
}

fn strip_ref_name(desc: &mut Descriptor) {
    if let Some(a) = desc.annotations.as_mut() {
        a.remove(ANNOTATION_REF_NAME);
        if a.is_empty() {
            desc.annotations = None;
        }
    }
}

fn read_index(root: &Path) -> Result<ImageIndex, Error> {
    let path = root.join(INDEX_FILE);
    let bytes = read_limited(&path, MAX_INDEX_SIZE).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::NotALayout {
            root: root.to_path_buf(),
            missing: INDEX_FILE,
        },
        io::ErrorKind::FileTooLarge => Error::InvalidJson {
            what: path.display().to_string(),
            source: serde::de::Error::custom(format!("larger than {MAX_INDEX_SIZE} bytes")),
        },
        _ => Error::io("read", &path, e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::json(path.display().to_string(), e))
}

/// Reads a whole file, refusing one larger than `limit`.
fn read_limited(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(io::ErrorKind::FileTooLarge, "file too large"));
    }
    Ok(bytes)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let bytes = to_go_json(value).map_err(|e| Error::json(path.display().to_string(), e))?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk and
/// renames it over `path`, so readers see the old content or the new, never a
/// mixture.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_name(path);
    let result = (|| {
        let mut f = File::create_new(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io("write", &tmp, e))?;
        f.sync_all().map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| Error::io("rename into place", path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    } else if let Ok(d) = File::open(dir) {
        // Persist the rename itself; best effort, not every platform allows it.
        let _ = d.sync_all();
    }
    result
}

/// Reads `reader` to its end into `sink`, hashing on the way, then checks
/// the size and digest against `desc` (the caller bounds `reader` to
/// `desc.size + 1` bytes, so a longer stream is caught without reading it all).
fn copy_checked(
    desc: &Descriptor,
    reader: &mut dyn Read,
    read_error: impl Fn(io::Error) -> Error,
    mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut hasher = Hasher::new(desc.digest.algorithm());
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(e)),
        };
        total += n as u64;
        hasher.update(&buf[..n]);
        sink(&buf[..n])?;
    }
    hasher.check(desc, total)
}

/// A temporary name next to `path`, unique within this process and across processes.
fn temp_name(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}
