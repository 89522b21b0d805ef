//! OCI image manifests and image indexes, and the media types and annotation
//! keys that Notary signatures use.
//!
//! The structs serialise their fields in the order of the Go `ocispec` structs
//! (with the same `omitempty` choices), because a signature manifest's digest
//! is what a registry stores and what other tools see: Signet must produce the
//! bytes notation produces, not merely equivalent JSON.

use std::collections::BTreeMap;

use notary::{Descriptor, Digest};
use serde::{Deserialize, Deserializer, Serialize};

/// OCI image manifest media type.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest (schema 2) media type.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The OCI empty JSON descriptor's media type, used for configs of artifacts.
pub const MEDIA_TYPE_EMPTY_JSON: &str = "application/vnd.oci.empty.v1+json";
/// The content of the empty JSON blob, `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";
/// The empty JSON blob, base64-encoded, as carried in the descriptor's `data`.
pub const EMPTY_JSON_DATA: &str = "e30=";
/// Artifact type of Notary Project signatures (also the legacy config media type).
pub const ARTIFACT_TYPE_NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";

/// Annotation holding the JSON array of SHA-256 thumbprints of the signing chain.
pub const ANNOTATION_THUMBPRINT_S256: &str = "io.cncf.notary.x509chain.thumbprint#S256";
/// Annotation holding the creation time (for signatures, the signing time in UTC).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Annotation that names a manifest in an OCI layout's `index.json` (its tag).
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Whether `media_type` is a manifest or an index (content a tag can point at).
pub fn is_manifest_media_type(media_type: &str) -> bool {
    is_index_media_type(media_type)
        || media_type == MEDIA_TYPE_OCI_MANIFEST
        || media_type == MEDIA_TYPE_DOCKER_MANIFEST
}

/// Whether `media_type` is an image index or a Docker manifest list.
pub fn is_index_media_type(media_type: &str) -> bool {
    media_type == MEDIA_TYPE_OCI_INDEX || media_type == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

/// The OCI empty descriptor: `{}` as `application/vnd.oci.empty.v1+json`, with
/// its content inlined as `data` (what notation puts in `config`).
pub fn empty_descriptor() -> Descriptor {
    Descriptor {
        data: Some(EMPTY_JSON_DATA.to_owned()),
        ..Descriptor::of(MEDIA_TYPE_EMPTY_JSON, EMPTY_JSON)
    }
}

/// Whether `desc` is the empty descriptor (media type, digest and size; `data`
/// is optional and, when present, must be `e30=`).
pub fn is_empty_descriptor(desc: &Descriptor) -> bool {
    desc.same_content(&empty_descriptor()) && desc.data.as_deref().is_none_or(|d| d == EMPTY_JSON_DATA)
}

/// Serialises `value` the way Go's `encoding/json` does.
///
/// Field order comes from the struct definitions; on top of that Go escapes
/// `<`, `>`, `&`, U+2028 and U+2029 inside strings. Those characters can only
/// occur inside JSON strings, so replacing them after serialisation is exact.
pub fn to_go_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    notary::to_go_json(value)
}

/// An OCI image manifest (image-spec 1.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.manifest.v1+json` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, for artifacts that are not container images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers (for a signature: exactly one, the envelope).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (for a signature: the signed artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// An OCI image index (image-spec 1.1); also the shape of a layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// `application/vnd.oci.image.index.v1+json` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact type, when the index is an artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests this index lists.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub manifests: Vec<Descriptor>,
    /// The manifest this index refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

impl ImageIndex {
    /// An index with no manifests, carrying the OCI index media type.
    pub fn empty() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_OCI_INDEX.to_owned()),
            artifact_type: None,
            manifests: Vec::new(),
            subject: None,
            annotations: None,
        }
    }
}

/// Any manifest or index, read only for the fields that decide whether it is a
/// referrer of something: its subject, artifact type, config media type and
/// annotations, plus the children of an index.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestProbe {
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub config: Option<ConfigProbe>,
    #[serde(default)]
    pub subject: Option<SubjectProbe>,
    #[serde(default)]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub manifests: Vec<Descriptor>,
}

/// The only field of a config descriptor the referrers logic needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConfigProbe {
    pub media_type: String,
}

/// The only field of a subject the referrers logic needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubjectProbe {
    pub digest: Digest,
}

impl ManifestProbe {
    /// The artifact type the referrers API reports: `artifactType`, or the
    /// config media type when that is absent.
    pub fn effective_artifact_type(&self) -> Option<&str> {
        self.artifact_type
            .as_deref()
            .or(self.config.as_ref().map(|c| c.media_type.as_str()))
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn go_json_escapes_html_characters() {
        let m = BTreeMap::from([("k".to_owned(), "<a&b>\u{2028}".to_owned())]);
        assert_eq!(
            String::from_utf8(to_go_json(&m).unwrap()).unwrap(),
            r#"{"k":"\u003ca\u0026b\u003e\u2028"}"#
        );
    }

    #[test]
    fn empty_descriptor_is_recognised() {
        let e = empty_descriptor();
        assert!(is_empty_descriptor(&e));
        assert!(is_empty_descriptor(&Descriptor {
            data: None,
            ..e.clone()
        }));
        assert!(!is_empty_descriptor(&Descriptor {
            media_type: ARTIFACT_TYPE_NOTARY_SIGNATURE.into(),
            ..e.clone()
        }));
        assert!(!is_empty_descriptor(&Descriptor {
            data: Some("e31=".into()),
            ..e
        }));
    }

    #[test]
    fn manifest_tolerates_null_layers_and_serialises_an_array() {
        let m: ImageManifest = serde_json::from_str(
            r#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":null}"#,
        )
        .unwrap();
        assert!(m.layers.is_empty());
        assert!(serde_json::to_string(&m).unwrap().contains(r#""layers":[]"#));
    }

    #[test]
    fn probe_falls_back_to_config_media_type() {
        let p: ManifestProbe = serde_json::from_str(r#"{"config":{"mediaType":"x"}}"#).unwrap();
        assert_eq!(p.effective_artifact_type(), Some("x"));
        let p: ManifestProbe =
            serde_json::from_str(r#"{"artifactType":"y","config":{"mediaType":"x"}}"#).unwrap();
        assert_eq!(p.effective_artifact_type(), Some("y"));
    }
}
