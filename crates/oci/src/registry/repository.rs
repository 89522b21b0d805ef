//! One repository on a registry as an [`ArtifactStore`], following the
//! distribution specification 1.1 (`/v2/<name>/manifests|blobs|referrers|tags`).
//!
//! Every descriptor-addressed read is checked: the size is refused before the
//! request when it is over the caller's limit, at most `size + 1` bytes are
//! read whatever `Content-Length` says, and the bytes must hash to the digest.
//! Referrers come from the referrers API when the registry has it, else from
//! the `sha256-<hex>` tag schema; when a pushed manifest has a `subject` and
//! the registry does not index it (no `OCI-Subject` answer header, no
//! referrers API), the tag-schema index is maintained as oras-go and notation
//! do, so that either tool finds what the other pushed.

use std::io::{Read, Write};

use notary::{Descriptor, Digest};
use reqwest::{
    Method, StatusCode, Url,
    header::{self, HeaderName},
};
use tracing::{debug, warn};

use super::{
    client::{Access, Client, Request},
    reference::Reference,
    transport::{Payload, Response},
};
use crate::{
    ArtifactStore, Error, MAX_MANIFEST_SIZE,
    manifest::{ImageIndex, MEDIA_TYPE_OCI_INDEX, ManifestProbe, is_manifest_media_type, to_go_json},
    reference::validate_tag,
    store::Hasher,
};

/// The most referrers read from a registry for one subject.
pub const MAX_REFERRERS: usize = 1000;
/// The most pages of a paginated referrers or tags listing followed.
pub const MAX_PAGES: usize = 10;
/// The most tags listed.
pub const MAX_TAGS: usize = 10_000;
/// The largest tags-list page read.
const MAX_TAGS_PAGE: u64 = 4 * 1024 * 1024;

/// Every manifest media type this crate reads, for `Accept`.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A repository on a registry, e.g. `ghcr.io/org/app`. Cheap to clone; what it
/// learns (tokens, referrers capability) is kept in its [`Client`].
#[derive(Clone)]
pub struct Repository {
    client: Client,
    reference: Reference,
    key: String,
}

impl Repository {
    pub(crate) fn new(client: Client, reference: Reference) -> Self {
        let key = reference.repository_path();
        Self {
            client,
            reference,
            key,
        }
    }

    /// The reference this repository was opened with.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }

    /// `Some(true)` once the referrers API answered, `Some(false)` after it
    /// was found missing (and the tag schema used), `None` before asking.
    pub fn referrers_api(&self) -> Option<bool> {
        self.client.referrers_capability(&self.key)
    }

    /// The repository's tags, following `Link` pagination, at most
    /// [`MAX_TAGS`] of them (and [`MAX_PAGES`] × 1000 per request).
    pub fn tags(&self) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct TagList {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut url = self.url("tags/list?n=1000")?;
        for page in 0.. {
            if page == MAX_PAGES * 10 {
                warn!(repository = %self.key, "stopped listing tags after {page} pages");
                break;
            }
            let mut resp = self.send(Method::GET, url.clone(), Access::Pull, Vec::new(), Payload::None)?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Err(Error::ReferenceNotFound {
                    reference: self.key.clone(),
                });
            }
            if !resp.status().is_success() {
                return Err(self.status_error(&Method::GET, resp));
            }
            let next = next_link(&resp, &url);
            let bytes = self.client.read_capped(&url, &mut resp, MAX_TAGS_PAGE)?;
            if bytes.len() as u64 > MAX_TAGS_PAGE {
                return Err(self.protocol(format!("the tag list page {url} is larger than 4 MiB")));
            }
            let list: TagList = serde_json::from_slice(&bytes)
                .map_err(|e| Error::json(format!("tag list of {}", self.key), e))?;
            tags.extend(list.tags.unwrap_or_default());
            if tags.len() >= MAX_TAGS {
                warn!(repository = %self.key, limit = MAX_TAGS, "stopped listing tags at the limit");
                tags.truncate(MAX_TAGS);
                break;
            }
            match next {
                Some(n) => url = n,
                None => break,
            }
        }
        Ok(tags)
    }

    fn registry(&self) -> &str {
        self.reference.registry()
    }

    /// `<base>/v2/<repository>/<path>`.
    fn url(&self, path: &str) -> Result<Url, Error> {
        self.client.url(
            self.registry(),
            &format!("/v2/{}/{path}", self.reference.repository()),
        )
    }

    fn scope(&self, access: Access) -> String {
        let actions = match access {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        };
        format!("repository:{}:{actions}", self.reference.repository())
    }

    fn send(
        &self,
        method: Method,
        url: Url,
        access: Access,
        headers: Vec<(HeaderName, String)>,
        body: Payload,
    ) -> Result<Response, Error> {
        self.client.send(Request {
            method,
            url,
            registry: self.registry(),
            scope: Some(self.scope(access)),
            headers,
            body,
        })
    }

    fn status_error(&self, method: &Method, resp: Response) -> Error {
        self.client.status_error(self.registry(), method, resp)
    }

    fn protocol(&self, reason: String) -> Error {
        Error::Protocol {
            registry: self.registry().to_owned(),
            reason,
        }
    }

    /// `manifests/<digest>` for manifest media types, `blobs/<digest>` otherwise.
    fn content_url(&self, desc: &Descriptor) -> Result<Url, Error> {
        let kind = if is_manifest_media_type(&desc.media_type) {
            "manifests"
        } else {
            "blobs"
        };
        self.url(&format!("{kind}/{}", desc.digest))
    }

    /// GETs the content of `desc`, refusing it before the request when over `max`.
    fn get_content(&self, desc: &Descriptor, max: u64) -> Result<(Url, Response), Error> {
        if desc.size > max {
            return Err(Error::TooLarge {
                digest: desc.digest.clone(),
                size: desc.size,
                limit: max,
            });
        }
        let url = self.content_url(desc)?;
        let headers = if is_manifest_media_type(&desc.media_type) {
            vec![(header::ACCEPT, format!("{}, {MANIFEST_ACCEPT}", desc.media_type))]
        } else {
            Vec::new()
        };
        let resp = self.send(Method::GET, url.clone(), Access::Pull, headers, Payload::None)?;
        match resp.status() {
            s if s.is_success() => Ok((url, resp)),
            StatusCode::NOT_FOUND => Err(Error::BlobNotFound {
                digest: desc.digest.clone(),
            }),
            _ => Err(self.status_error(&Method::GET, resp)),
        }
    }

    /// GETs the manifest `target` (tag or digest) with at most
    /// [`MAX_MANIFEST_SIZE`] bytes; `None` on 404.
    fn get_manifest(&self, target: &str, accept: &str) -> Result<Option<(Response, Vec<u8>)>, Error> {
        let url = self.url(&format!("manifests/{target}"))?;
        let mut resp = self.send(
            Method::GET,
            url.clone(),
            Access::Pull,
            vec![(header::ACCEPT, accept.to_owned())],
            Payload::None,
        )?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.status_error(&Method::GET, resp));
        }
        let bytes = self.client.read_capped(&url, &mut resp, MAX_MANIFEST_SIZE)?;
        if bytes.len() as u64 > MAX_MANIFEST_SIZE {
            return Err(self.protocol(format!(
                "manifest {target} is larger than the {MAX_MANIFEST_SIZE}-byte limit; refusing it"
            )));
        }
        Ok(Some((resp, bytes)))
    }

    /// PUTs a manifest under `target` (its digest or a tag). Returns whether
    /// the registry answered with `OCI-Subject` (it indexed the subject).
    fn put_manifest(&self, media_type: &str, bytes: &[u8], target: &str) -> Result<bool, Error> {
        let url = self.url(&format!("manifests/{target}"))?;
        let resp = self.send(
            Method::PUT,
            url,
            Access::Push,
            vec![(header::CONTENT_TYPE, media_type.to_owned())],
            Payload::Bytes(bytes.to_vec()),
        )?;
        if !resp.status().is_success() {
            return Err(self.status_error(&Method::PUT, resp));
        }
        Ok(resp.headers().contains_key("oci-subject"))
    }

    /// Starts an upload; returns the absolute upload URL.
    fn start_upload(&self) -> Result<Url, Error> {
        let url = self.url("blobs/uploads/")?;
        let resp = self.send(
            Method::POST,
            url.clone(),
            Access::Push,
            Vec::new(),
            Payload::Bytes(Vec::new()),
        )?;
        if resp.status() != StatusCode::ACCEPTED && !resp.status().is_success() {
            return Err(self.status_error(&Method::POST, resp));
        }
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol(format!("POST {url} answered without a Location header")))?;
        url.join(location)
            .map_err(|e| self.protocol(format!("upload location {location:?} is not a URL: {e}")))
    }

    /// The upload URL with `digest=` appended, for the monolithic PUT.
    fn finish_url(mut location: Url, digest: &Digest) -> Url {
        location.query_pairs_mut().append_pair("digest", digest.as_str());
        location
    }

    fn push_blob(&self, desc: &Descriptor, bytes: &[u8]) -> Result<(), Error> {
        if self.exists(desc)? {
            debug!(digest = %desc.digest, "blob already in the registry");
            return Ok(());
        }
        let url = Self::finish_url(self.start_upload()?, &desc.digest);
        let resp = self.send(
            Method::PUT,
            url,
            Access::Push,
            vec![(header::CONTENT_TYPE, "application/octet-stream".to_owned())],
            Payload::Bytes(bytes.to_vec()),
        )?;
        if !resp.status().is_success() {
            return Err(self.status_error(&Method::PUT, resp));
        }
        Ok(())
    }

    /// After pushing a manifest with a subject to a registry that did not
    /// index it: adds it to the subject's `sha256-<hex>` tag-schema index.
    fn index_referrer(
        &self,
        manifest: &Descriptor,
        probe: &ManifestProbe,
        subject: &Digest,
    ) -> Result<(), Error> {
        match self.referrers_api() {
            Some(true) => return Ok(()),
            Some(false) => {}
            None => {
                // One look decides: a registry with the API indexes by itself.
                if self.referrers_from_api(subject, None)?.is_some() {
                    return Ok(());
                }
            }
        }
        let tag = tag_schema_tag(subject);
        let (mut index, superseded) = match self.get_manifest(&tag, MEDIA_TYPE_OCI_INDEX)? {
            None => (ImageIndex::empty(), None),
            Some((_, bytes)) => (
                serde_json::from_slice(&bytes)
                    .map_err(|e| Error::json(format!("referrers index {tag} in {}", self.key), e))?,
                Some(Digest::sha256(&bytes)),
            ),
        };
        if index.manifests.iter().any(|d| d.digest == manifest.digest) {
            return Ok(());
        }
        index.manifests.push(Descriptor {
            artifact_type: probe.effective_artifact_type().map(str::to_owned),
            annotations: probe.annotations.clone().filter(|a| !a.is_empty()),
            ..Descriptor::new(
                manifest.media_type.clone(),
                manifest.digest.clone(),
                manifest.size,
            )
        });
        if index.media_type.is_none() {
            index.media_type = Some(MEDIA_TYPE_OCI_INDEX.to_owned());
        }
        let bytes = to_go_json(&index).map_err(|e| Error::json(format!("referrers index {tag}"), e))?;
        self.put_manifest(MEDIA_TYPE_OCI_INDEX, &bytes, &tag)?;
        debug!(%subject, %tag, "updated the referrers tag-schema index");
        if let Some(old) = superseded {
            self.delete_superseded_index(&old);
        }
        Ok(())
    }

    /// Deletes the tag-schema index the new one replaced, as oras-go does, so
    /// a registry without the referrers API does not keep one untagged index
    /// per signature ever pushed. Best effort: a registry that refuses
    /// deletes (405, 403) keeps it, which is harmless.
    fn delete_superseded_index(&self, old: &Digest) {
        let result = self
            .url(&format!("manifests/{old}"))
            .and_then(|url| self.send(Method::DELETE, url, Access::Push, Vec::new(), Payload::None));
        match result {
            Ok(resp) if resp.status().is_success() => debug!(%old, "deleted the superseded referrers index"),
            Ok(resp) => {
                debug!(%old, status = %resp.status(), "the registry kept the superseded referrers index")
            }
            Err(e) => debug!(%old, "could not delete the superseded referrers index: {e}"),
        }
    }

    /// The referrers API: `Some(list)` when the registry has it, `None` when
    /// it does not (404, 400, 405, 501, or an answer that is not an index).
    fn referrers_from_api(
        &self,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<Vec<Descriptor>>, Error> {
        let mut url = self.url(&format!("referrers/{subject}"))?;
        if let Some(at) = artifact_type {
            url.query_pairs_mut().append_pair("artifactType", at);
        }
        let mut found: Vec<Descriptor> = Vec::new();
        let mut seen_pages = std::collections::HashSet::new();
        for page in 0..MAX_PAGES {
            // A registry whose pages link back to one already read is looping:
            // what was listed so far is all there is.
            if !seen_pages.insert(url.to_string()) {
                warn!(%subject, %url, "referrers pages link back to a page already read; stopping");
                return Ok(Some(found));
            }
            let mut resp = self.send(
                Method::GET,
                url.clone(),
                Access::Pull,
                vec![(header::ACCEPT, MEDIA_TYPE_OCI_INDEX.to_owned())],
                Payload::None,
            )?;
            let status = resp.status();
            if page == 0
                && matches!(
                    status,
                    StatusCode::NOT_FOUND
                        | StatusCode::BAD_REQUEST
                        | StatusCode::METHOD_NOT_ALLOWED
                        | StatusCode::NOT_IMPLEMENTED
                )
            {
                self.client.set_referrers_capability(&self.key, false);
                return Ok(None);
            }
            if !status.is_success() {
                return Err(self.status_error(&Method::GET, resp));
            }
            let is_index = resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.split(';').next().unwrap_or_default().trim() == MEDIA_TYPE_OCI_INDEX);
            if !is_index {
                if page == 0 {
                    self.client.set_referrers_capability(&self.key, false);
                    return Ok(None);
                }
                return Err(self.protocol(format!("referrers page {url} is not an OCI image index")));
            }
            self.client.set_referrers_capability(&self.key, true);
            let next = next_link(&resp, &url);
            let bytes = self.client.read_capped(&url, &mut resp, MAX_MANIFEST_SIZE)?;
            if bytes.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(self.protocol(format!(
                    "referrers page {url} is larger than {MAX_MANIFEST_SIZE} bytes"
                )));
            }
            let index: ImageIndex = serde_json::from_slice(&bytes)
                .map_err(|e| Error::json(format!("referrers of {subject} in {}", self.key), e))?;
            for desc in index.manifests {
                if !found.iter().any(|d| d.digest == desc.digest) {
                    found.push(desc);
                }
            }
            if found.len() >= MAX_REFERRERS {
                if found.len() > MAX_REFERRERS || next.is_some() {
                    warn!(%subject, limit = MAX_REFERRERS, "artifact has more referrers than the limit; only the first ones are used");
                }
                found.truncate(MAX_REFERRERS);
                return Ok(Some(found));
            }
            match next {
                Some(n) => url = n,
                None => return Ok(Some(found)),
            }
        }
        warn!(%subject, pages = MAX_PAGES, "stopped following referrers pages at the limit");
        Ok(Some(found))
    }

    /// The referrers the `sha256-<hex>` tag-schema index lists.
    fn referrers_from_tag(&self, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
        let tag = tag_schema_tag(subject);
        let Some((_, bytes)) = self.get_manifest(&tag, MEDIA_TYPE_OCI_INDEX)? else {
            return Ok(Vec::new());
        };
        let mut index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::json(format!("referrers index {tag} in {}", self.key), e))?;
        if index.manifests.len() > MAX_REFERRERS {
            warn!(%subject, limit = MAX_REFERRERS, "artifact has more referrers than the limit; only the first ones are used");
            index.manifests.truncate(MAX_REFERRERS);
        }
        Ok(index.manifests)
    }

    /// Resolves by GET when HEAD does not tell the digest.
    fn resolve_by_get(&self, reference: &str, expected: Option<&Digest>) -> Result<Descriptor, Error> {
        let Some((resp, bytes)) = self.get_manifest(reference, MANIFEST_ACCEPT)? else {
            return Err(self.not_found(reference));
        };
        let header_digest = header_str(&resp, "docker-content-digest").and_then(|d| Digest::parse(&d).ok());
        let algorithm = expected
            .or(header_digest.as_ref())
            .map_or(notary::descriptor::DigestAlgorithm::Sha256, Digest::algorithm);
        let actual = Digest::compute(algorithm, &bytes);
        if let Some(want) = expected.or(header_digest.as_ref())
            && *want != actual
        {
            return Err(Error::DigestMismatch {
                expected: want.clone(),
                actual,
            });
        }
        let media_type = content_type(&resp)
            .filter(|ct| is_manifest_media_type(ct))
            .or_else(|| {
                serde_json::from_slice::<ManifestProbe>(&bytes)
                    .ok()
                    .and_then(|p| p.media_type)
            })
            .ok_or(Error::UnknownMediaType {
                digest: actual.clone(),
            })?;
        Ok(Descriptor::new(media_type, actual, bytes.len() as u64))
    }

    fn not_found(&self, target: &str) -> Error {
        let sep = if target.contains(':') { '@' } else { ':' };
        Error::ReferenceNotFound {
            reference: format!("{}{sep}{target}", self.key),
        }
    }
}

impl ArtifactStore for Repository {
    /// `HEAD /v2/<name>/manifests/<reference>`: digest from
    /// `Docker-Content-Digest`, size from `Content-Length`, media type from
    /// `Content-Type`; a GET (hashing what it reads) when HEAD does not say.
    /// A digest reference must come back as that digest.
    fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        let expected = if reference.contains(':') {
            Some(Digest::parse(reference)?)
        } else {
            validate_tag(reference)?;
            None
        };
        let url = self.url(&format!("manifests/{reference}"))?;
        let resp = self.send(
            Method::HEAD,
            url,
            Access::Pull,
            vec![(header::ACCEPT, MANIFEST_ACCEPT.to_owned())],
            Payload::None,
        )?;
        match resp.status() {
            StatusCode::NOT_FOUND => return Err(self.not_found(reference)),
            s if s.is_success() => {
                let digest = header_str(&resp, "docker-content-digest").and_then(|d| Digest::parse(&d).ok());
                let size = header_str(&resp, "content-length").and_then(|l| l.parse::<u64>().ok());
                let media_type = content_type(&resp).filter(|ct| is_manifest_media_type(ct));
                if let (Some(digest), Some(size), Some(media_type)) = (digest, size, media_type) {
                    if let Some(want) = &expected
                        && *want != digest
                    {
                        return Err(Error::DigestMismatch {
                            expected: want.clone(),
                            actual: digest,
                        });
                    }
                    return Ok(Descriptor::new(media_type, digest, size));
                }
            }
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                return Err(self.status_error(&Method::HEAD, resp));
            }
            s if s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED => {
                return Err(self.status_error(&Method::HEAD, resp));
            }
            _ => {}
        }
        self.resolve_by_get(reference, expected.as_ref())
    }

    fn fetch(&self, desc: &Descriptor, max_size: u64) -> Result<Vec<u8>, Error> {
        let (url, mut resp) = self.get_content(desc, max_size)?;
        let bytes = self.client.read_capped(&url, &mut resp, desc.size)?;
        if bytes.len() as u64 != desc.size {
            return Err(Error::SizeMismatch {
                digest: desc.digest.clone(),
                expected: desc.size,
                actual: bytes.len() as u64,
            });
        }
        let actual = Digest::compute(desc.digest.algorithm(), &bytes);
        if actual != desc.digest {
            return Err(Error::DigestMismatch {
                expected: desc.digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Manifests: `PUT /manifests/<digest>` (then the tag-schema index when
    /// the manifest has a subject the registry did not index). Blobs: nothing
    /// when `HEAD` finds them, else a monolithic upload (POST, then PUT).
    fn push(&mut self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let desc = Descriptor::of(media_type, bytes);
        if !is_manifest_media_type(media_type) {
            self.push_blob(&desc, bytes)?;
            return Ok(desc);
        }
        let probe: ManifestProbe = serde_json::from_slice(bytes).map_err(|e| Error::InvalidManifest {
            digest: desc.digest.clone(),
            reason: format!("not a JSON manifest: {e}"),
        })?;
        let indexed = self.put_manifest(media_type, bytes, desc.digest.as_str())?;
        if let Some(subject) = &probe.subject {
            if indexed {
                self.client.set_referrers_capability(&self.key, true);
            } else {
                self.index_referrer(&desc, &probe, &subject.digest)?;
            }
        }
        Ok(desc)
    }

    /// Reads the manifest by digest and PUTs the same bytes under `tag`.
    fn tag(&mut self, desc: &Descriptor, tag: &str) -> Result<(), Error> {
        validate_tag(tag)?;
        let plain = Descriptor::new(desc.media_type.clone(), desc.digest.clone(), desc.size);
        let bytes = self.fetch(&plain, MAX_MANIFEST_SIZE)?;
        self.put_manifest(&desc.media_type, &bytes, tag)?;
        Ok(())
    }

    /// The referrers API when the registry has it, else the tag schema; the
    /// artifact type is filtered here too (servers may ignore the filter).
    fn referrers(&self, subject: &Digest, artifact_type: Option<&str>) -> Result<Vec<Descriptor>, Error> {
        let mut found = match self.referrers_api() {
            Some(false) => None,
            _ => self.referrers_from_api(subject, artifact_type)?,
        };
        if found.is_none() {
            found = Some(self.referrers_from_tag(subject)?);
        }
        let mut found = found.unwrap_or_default();
        if let Some(at) = artifact_type {
            found.retain(|d| d.artifact_type.as_deref() == Some(at));
        }
        Ok(found)
    }

    fn exists(&self, desc: &Descriptor) -> Result<bool, Error> {
        let url = self.content_url(desc)?;
        let headers = if is_manifest_media_type(&desc.media_type) {
            vec![(header::ACCEPT, format!("{}, {MANIFEST_ACCEPT}", desc.media_type))]
        } else {
            Vec::new()
        };
        let resp = self.send(Method::HEAD, url, Access::Pull, headers, Payload::None)?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.status_error(&Method::HEAD, resp)),
        }
    }

    /// Streams the blob: a stall longer than the timeout fails, a large blob
    /// that keeps coming may take longer than it.
    fn fetch_to(&self, desc: &Descriptor, out: &mut dyn Write) -> Result<(), Error> {
        let (url, mut resp) = self.get_content(desc, u64::MAX)?;
        let mut hasher = Hasher::new(desc.digest.algorithm());
        let read = self
            .client
            .read_stream(&url, &mut resp, desc.size.saturating_add(1), false, |chunk| {
                hasher.update(chunk);
                out.write_all(chunk)
                    .map_err(|e| Error::io("write", format!("<output for {}>", desc.digest), e))
            })?;
        hasher.check(desc, read)
    }

    /// Blobs are streamed: one monolithic PUT whose body is exactly
    /// `desc.size` bytes read from `content` (hashed on the way; a mismatch
    /// is reported as such, and the registry refuses the upload too). The
    /// upload may take the timeout plus one second per 256 KiB.
    fn push_from(&mut self, desc: &Descriptor, content: &mut dyn Read) -> Result<(), Error> {
        if is_manifest_media_type(&desc.media_type) {
            let bytes = crate::store::read_exact_size(desc, content, MAX_MANIFEST_SIZE)?;
            self.push(&desc.media_type, &bytes)?;
            return Ok(());
        }
        if self.exists(desc)? {
            return Ok(());
        }
        let url = Self::finish_url(self.start_upload()?, &desc.digest);
        let (reader, mut writer) =
            std::io::pipe().map_err(|e| Error::io("create", format!("<pipe for {}>", desc.digest), e))?;
        let size = desc.size;
        let (sent, copied) = std::thread::scope(|scope| {
            let this = &*self;
            let url = url.clone();
            let upload = scope.spawn(move || {
                this.send(
                    Method::PUT,
                    url,
                    Access::Push,
                    vec![(header::CONTENT_TYPE, "application/octet-stream".to_owned())],
                    Payload::Stream(Box::new(reader), size),
                )
            });
            let mut hasher = Hasher::new(desc.digest.algorithm());
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            let copied = loop {
                let want =
                    usize::try_from((size.saturating_add(1) - total).min(buf.len() as u64)).unwrap_or(0);
                if want == 0 {
                    break Ok(total);
                }
                match content.read(&mut buf[..want]) {
                    Ok(0) => break Ok(total),
                    Ok(n) => {
                        total += n as u64;
                        if total > size {
                            break Ok(total);
                        }
                        hasher.update(&buf[..n]);
                        if writer.write_all(&buf[..n]).is_err() {
                            // The upload ended early; its result says why.
                            break Ok(total);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(Error::io("read", format!("<content of {}>", desc.digest), e)),
                }
            };
            drop(writer);
            let sent = upload
                .join()
                .unwrap_or_else(|_| Err(self.protocol("the upload thread panicked".into())));
            (sent, copied.and_then(|total| hasher.check(desc, total)))
        });
        copied?;
        let resp = sent?;
        if !resp.status().is_success() {
            return Err(self.status_error(&Method::PUT, resp));
        }
        Ok(())
    }
}

/// The tag-schema tag of `subject`: `<alg>-<hex>`.
fn tag_schema_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().name(), subject.encoded())
}

fn header_str(resp: &Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
}

/// The media type of `Content-Type`, without parameters.
fn content_type(resp: &Response) -> Option<String> {
    header_str(resp, "content-type").map(|ct| ct.split(';').next().unwrap_or_default().trim().to_owned())
}

/// The `rel="next"` target of the `Link` headers of `resp`, resolved against `base`.
fn next_link(resp: &Response, base: &Url) -> Option<Url> {
    parse_next_link(
        resp.headers()
            .get_all(header::LINK)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        base,
    )
}

/// `<url>; rel="next"` among comma-separated links (RFC 8288), resolved
/// against `base`; a link to another origin is ignored.
fn parse_next_link<'a>(values: impl Iterator<Item = &'a str>, base: &Url) -> Option<Url> {
    values.flat_map(|v| v.split(',')).find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.replace(' ', "");
            p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = base.join(target).ok()?;
        // Credentials go with every page: never to another origin.
        if url.origin() != base.origin() {
            warn!(link = %url, "ignoring a pagination link to another host");
            return None;
        }
        Some(url)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn next_links() {
        let base = Url::parse("https://reg.example/v2/app/referrers/sha256:aa?artifactType=x").unwrap();
        let next = |v: &[&str]| parse_next_link(v.iter().copied(), &base).map(|u| u.to_string());
        assert_eq!(
            next(&[r#"</v2/app/referrers/sha256:aa?last=b&n=10>; rel="next""#]).as_deref(),
            Some("https://reg.example/v2/app/referrers/sha256:aa?last=b&n=10")
        );
        assert_eq!(
            next(&[r#"<https://reg.example/p>; rel="prev", <https://reg.example/q>; rel = "next""#])
                .as_deref(),
            Some("https://reg.example/q")
        );
        assert_eq!(
            next(&["</p>; rel=next"]).as_deref(),
            Some("https://reg.example/p")
        );
        assert_eq!(next(&[r#"<https://a.example/p>; rel="prev""#]), None);
        assert_eq!(next(&["garbage"]), None);
        assert_eq!(
            next(&[r#"<https://evil.example/p>; rel="next""#]),
            None,
            "another host"
        );
        assert_eq!(
            next(&[r#"<http://reg.example/p>; rel="next""#]),
            None,
            "another scheme"
        );
        assert_eq!(next(&[]), None);
    }
}
