//! Notary signature manifests: building and pushing them, and finding them
//! again.
//!
//! Two styles exist in the wild and both are read:
//!
//! * OCI 1.1 (notation-go's main branch, the G13 vector):
//!   `artifactType = application/vnd.cncf.notary.signature`, `config` = the
//!   empty descriptor with `"data":"e30="`, one layer (the envelope), `subject`.
//! * Config media type (every notation 1.x release up to v1.3.2, every e2e
//!   layout, and what Signet writes): no `artifactType`,
//!   `config.mediaType = application/vnd.cncf.notary.signature` (blob `{}`).
//!
//! Signet writes the second style because notation 1.x finds signatures in
//! an OCI layout by `config.mediaType` only (notation-go v1.3.2
//! `signatureReferrers`): an OCI 1.1-style signature in a layout is invisible
//! to `notation verify --oci-layout`, while newer notation reads both styles.
//!
//! As in notation-go, a manifest of the OCI 1.1 style whose config is not the
//! empty descriptor is skipped with a warning, and a signature manifest without
//! exactly one layer is an error. The envelope itself is not looked at here:
//! deciding whether its media type is an envelope format is the verifier's job.

use std::collections::BTreeMap;

use notary::{Descriptor, Digest};
use time::{OffsetDateTime, UtcOffset};
use tracing::warn;

use crate::{
    ArtifactStore, Error, MAX_ENVELOPE_SIZE, MAX_MANIFEST_SIZE, MAX_SIGNATURES,
    manifest::{
        ANNOTATION_CREATED, ANNOTATION_THUMBPRINT_S256, ARTIFACT_TYPE_NOTARY_SIGNATURE, EMPTY_JSON,
        ImageManifest, MEDIA_TYPE_EMPTY_JSON, MEDIA_TYPE_OCI_MANIFEST, empty_descriptor, is_empty_descriptor,
        to_go_json,
    },
};

/// A signature of an artifact: its manifest and the envelope blob it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRef {
    /// The signature manifest, with its artifact type and annotations.
    pub manifest: Descriptor,
    /// The manifest's single layer: the signature envelope.
    pub envelope: Descriptor,
    /// The manifest's `subject` (media type, digest, size): the artifact as
    /// the signer's tool described it when it pushed the signature.
    pub subject: Descriptor,
}

/// Builds the OCI 1.1 signature manifest for `envelope` over `subject`, byte for
/// byte as notation-go's main branch does (G13). Returns the manifest JSON and the envelope's descriptor.
///
/// The subject is reduced to media type, digest and size; `annotations`
/// (usually [`thumbprint_annotation`] and [`created_annotation`]) are left out
/// of the manifest when empty.
pub fn signature_manifest(
    subject: &Descriptor,
    envelope_media_type: &str,
    envelope: &[u8],
    annotations: BTreeMap<String, String>,
) -> (Vec<u8>, Descriptor) {
    build_manifest(
        Some(ARTIFACT_TYPE_NOTARY_SIGNATURE.to_owned()),
        empty_descriptor(),
        subject,
        envelope_media_type,
        envelope,
        annotations,
    )
}

/// Builds the signature manifest notation 1.x (up to v1.3.2) pushes for
/// `envelope` over `subject`, byte for byte: no `artifactType`, and `config`
/// is `{}` labelled `application/vnd.cncf.notary.signature` (no `data`).
/// Otherwise as [`signature_manifest`].
pub fn config_media_type_signature_manifest(
    subject: &Descriptor,
    envelope_media_type: &str,
    envelope: &[u8],
    annotations: BTreeMap<String, String>,
) -> (Vec<u8>, Descriptor) {
    build_manifest(
        None,
        Descriptor::of(ARTIFACT_TYPE_NOTARY_SIGNATURE, EMPTY_JSON),
        subject,
        envelope_media_type,
        envelope,
        annotations,
    )
}

/// The two manifest styles differ only in `artifactType` and `config`.
fn build_manifest(
    artifact_type: Option<String>,
    config: Descriptor,
    subject: &Descriptor,
    envelope_media_type: &str,
    envelope: &[u8],
    annotations: BTreeMap<String, String>,
) -> (Vec<u8>, Descriptor) {
    let envelope_desc = Descriptor::of(envelope_media_type, envelope);
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_OCI_MANIFEST.to_owned()),
        artifact_type,
        config,
        layers: vec![envelope_desc.clone()],
        subject: Some(Descriptor::new(
            subject.media_type.clone(),
            subject.digest.clone(),
            subject.size,
        )),
        annotations: (!annotations.is_empty()).then_some(annotations),
    };
    // Strings, integers and string maps always serialise; there is no input
    // that makes this fail.
    #[allow(clippy::expect_used)]
    let bytes = to_go_json(&manifest).expect("a manifest of strings and integers serialises");
    (bytes, envelope_desc)
}

/// Pushes a signature of `subject` to `store` in the style notation 1.x
/// writes ([`config_media_type_signature_manifest`]): the `{}` config blob, the
/// envelope blob, then the manifest (in that order, so the manifest never
/// refers to content the store lacks). Returns the manifest's descriptor.
pub fn push_signature(
    store: &mut dyn ArtifactStore,
    subject: &Descriptor,
    envelope_media_type: &str,
    envelope: &[u8],
    annotations: BTreeMap<String, String>,
) -> Result<Descriptor, Error> {
    let (manifest, _) =
        config_media_type_signature_manifest(subject, envelope_media_type, envelope, annotations);
    store.push(MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON)?;
    store.push(envelope_media_type, envelope)?;
    store.push(MEDIA_TYPE_OCI_MANIFEST, &manifest)
}

/// Pushes `envelope` next to `subject` as notation does (see
/// [`push_signature`]), its manifest annotated with the signing chain's
/// thumbprints (`cert_sha256_hex`, leaf first, as [`chain_thumbprints`]
/// makes them), the signing time, and `annotations` (a plugin's, say).
pub fn push_notary_signature(
    store: &mut dyn ArtifactStore,
    subject: &Descriptor,
    envelope_media_type: &str,
    envelope: &[u8],
    cert_sha256_hex: &[String],
    signing_time: OffsetDateTime,
    mut annotations: BTreeMap<String, String>,
) -> Result<Descriptor, Error> {
    let (k, v) = thumbprint_annotation(cert_sha256_hex);
    annotations.insert(k, v);
    let (k, v) = created_annotation(signing_time);
    annotations.insert(k, v);
    push_signature(store, subject, envelope_media_type, envelope, annotations)
}

/// The lowercase-hex SHA-256 of each DER certificate of `chain`, in order.
pub fn chain_thumbprints(chain: &[Vec<u8>]) -> Vec<String> {
    chain
        .iter()
        .map(|der| Digest::sha256(der).encoded().to_owned())
        .collect()
}

/// The `io.cncf.notary.x509chain.thumbprint#S256` annotation: its key, and as
/// value a JSON array of the lowercase-hex SHA-256 of each certificate in the
/// chain, leaf first — e.g. `["e38aea13…"]`.
pub fn thumbprint_annotation(cert_sha256_hex: &[String]) -> (String, String) {
    let value = String::from_utf8(to_go_json(&cert_sha256_hex).unwrap_or_default()).unwrap_or_default();
    (ANNOTATION_THUMBPRINT_S256.to_owned(), value)
}

/// The `org.opencontainers.image.created` annotation for a signature made at
/// `signing_time`: UTC, RFC 3339, whole seconds (`2023-03-14T08:10:02Z`).
pub fn created_annotation(signing_time: OffsetDateTime) -> (String, String) {
    let t = signing_time.to_offset(UtcOffset::UTC);
    let value = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    (ANNOTATION_CREATED.to_owned(), value)
}

/// The Notary signatures of `subject` in `store`, in the order the store lists
/// its referrers, at most [`MAX_SIGNATURES`] of them.
///
/// Each signature manifest is fetched (at most [`MAX_MANIFEST_SIZE`] bytes) and
/// checked for shape; the returned manifest descriptor carries the artifact type
/// and the annotations the manifest itself has, not what a referrers listing
/// claimed. Manifests that are not signature manifests of `subject` are skipped
/// with a warning; a signature manifest that is not an OCI image manifest or
/// does not have exactly one layer is an error, as in notation.
///
/// A verifier that stops at the first good signature should instead walk
/// [`signature_candidates`] and call [`load_signature`] on each, so that a
/// registry with many signatures costs one manifest request per signature tried.
pub fn list_signatures(store: &dyn ArtifactStore, subject: &Descriptor) -> Result<Vec<SignatureRef>, Error> {
    let mut signatures = Vec::new();
    for candidate in signature_candidates(store, &subject.digest)? {
        if let Some(signature) = load_signature(store, &subject.digest, &candidate)? {
            signatures.push(signature);
        }
    }
    Ok(signatures)
}

/// The referrers of `subject` with the Notary signature artifact type, as the
/// store lists them (nothing fetched yet), at most [`MAX_SIGNATURES`] of them
/// (with a warning when there are more).
pub fn signature_candidates(store: &dyn ArtifactStore, subject: &Digest) -> Result<Vec<Descriptor>, Error> {
    let mut referrers = store.referrers(subject, Some(ARTIFACT_TYPE_NOTARY_SIGNATURE))?;
    if referrers.len() > MAX_SIGNATURES {
        warn!(
            %subject,
            limit = MAX_SIGNATURES,
            "artifact has more signatures than the limit; only the first ones are examined"
        );
        referrers.truncate(MAX_SIGNATURES);
    }
    Ok(referrers)
}

/// Fetches and checks one signature manifest listed by [`signature_candidates`].
///
/// `Ok(None)`: not a Notary signature manifest of `subject` (logged, skip it).
/// `Err`: the manifest cannot be read, or it is a signature manifest of the
/// wrong media type or without exactly one layer, as in notation.
pub fn load_signature(
    store: &dyn ArtifactStore,
    subject: &Digest,
    candidate: &Descriptor,
) -> Result<Option<SignatureRef>, Error> {
    if candidate.media_type != MEDIA_TYPE_OCI_MANIFEST {
        return Err(Error::SignatureMediaType {
            digest: candidate.digest.clone(),
            expected: MEDIA_TYPE_OCI_MANIFEST,
            actual: candidate.media_type.clone(),
        });
    }
    let plain = Descriptor::new(
        candidate.media_type.clone(),
        candidate.digest.clone(),
        candidate.size,
    );
    let bytes = store.fetch(&plain, MAX_MANIFEST_SIZE)?;
    let manifest: ImageManifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::json(format!("signature manifest {}", candidate.digest), e))?;

    let style_ok = match manifest.artifact_type.as_deref() {
        None => manifest.config.media_type == ARTIFACT_TYPE_NOTARY_SIGNATURE,
        Some(ARTIFACT_TYPE_NOTARY_SIGNATURE) => {
            let empty = is_empty_descriptor(&manifest.config);
            if !empty {
                warn!(
                    manifest = %candidate.digest,
                    config = %manifest.config.media_type,
                    "skipping signature manifest: artifactType is the Notary signature but config is not the empty descriptor"
                );
            }
            empty
        }
        Some(_) => false,
    };
    if !style_ok {
        warn!(manifest = %candidate.digest, "skipping referrer: not a Notary signature manifest");
        return Ok(None);
    }
    let Some(written) = manifest.subject.filter(|s| s.digest == *subject) else {
        warn!(manifest = %candidate.digest, %subject, "skipping referrer: its subject is another artifact");
        return Ok(None);
    };
    let [envelope] =
        <[Descriptor; 1]>::try_from(manifest.layers).map_err(|layers| Error::SignatureLayerCount {
            manifest: candidate.digest.clone(),
            count: layers.len(),
        })?;
    Ok(Some(SignatureRef {
        subject: Descriptor::new(written.media_type, written.digest, written.size),
        manifest: Descriptor {
            artifact_type: Some(ARTIFACT_TYPE_NOTARY_SIGNATURE.to_owned()),
            annotations: manifest.annotations.filter(|a| !a.is_empty()),
            ..plain
        },
        envelope,
    }))
}

/// Fetches the envelope of `signature` (at most [`MAX_ENVELOPE_SIZE`] bytes,
/// size and digest checked).
pub fn fetch_envelope(store: &dyn ArtifactStore, signature: &SignatureRef) -> Result<Vec<u8>, Error> {
    store.fetch(&signature.envelope, MAX_ENVELOPE_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn created_annotation_is_utc_whole_seconds() {
        let (k, v) = created_annotation(datetime!(2023-03-14 16:10:02.987 +08:00));
        assert_eq!(k, ANNOTATION_CREATED);
        assert_eq!(v, "2023-03-14T08:10:02Z");
    }

    #[test]
    fn thumbprint_annotation_is_a_json_array_string() {
        let (k, v) = thumbprint_annotation(&["ab".into(), "cd".into()]);
        assert_eq!(k, ANNOTATION_THUMBPRINT_S256);
        assert_eq!(v, r#"["ab","cd"]"#);
    }
}
