//! Content descriptors and digests, as the OCI image specification defines them.
//!
//! The Notary Project payload names the signed artifact by its descriptor
//! (`{"targetArtifact": descriptor}`), so the descriptor type lives here, at the
//! bottom of the crate graph, and the `oci` crate reuses it.

use std::{collections::BTreeMap, fmt, str::FromStr};

use aws_lc_rs::digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A malformed digest or descriptor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The digest is not `algorithm:encoded`.
    #[error("invalid digest {0:?}: expected <algorithm>:<hex>, e.g. sha256:<64 hex digits>")]
    MalformedDigest(String),
    /// The digest algorithm is not one this implementation computes.
    #[error("unsupported digest algorithm {0:?}: only sha256 and sha512 are supported")]
    UnsupportedAlgorithm(String),
    /// The encoded part has the wrong length or characters for its algorithm.
    #[error("invalid digest {0:?}: the encoded part must be {1} lowercase hex characters")]
    BadEncoding(String, usize),
}

/// A content digest such as `sha256:b8479de3…`, validated on construction.
///
/// Only `sha256` and `sha512` are accepted, with lowercase hex of the exact
/// length, so two equal digests always compare equal as strings.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Digest algorithms the OCI image specification registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// SHA-256, the default everywhere.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as it appears before the colon.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    fn ring(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha256 => &digest::SHA256,
            Self::Sha512 => &digest::SHA512,
        }
    }
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Self, DescriptorError> {
        let (alg, hex) = s
            .split_once(':')
            .ok_or_else(|| DescriptorError::MalformedDigest(s.to_owned()))?;
        let alg = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            "" => return Err(DescriptorError::MalformedDigest(s.to_owned())),
            other => return Err(DescriptorError::UnsupportedAlgorithm(other.to_owned())),
        };
        let ok = hex.len() == alg.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !ok {
            return Err(DescriptorError::BadEncoding(s.to_owned(), alg.hex_len()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::compute(DigestAlgorithm::Sha256, bytes)
    }

    /// The digest of `bytes` with `alg`.
    pub fn compute(alg: DigestAlgorithm, bytes: &[u8]) -> Self {
        let d = digest::digest(alg.ring(), bytes);
        Self(format!("{}:{}", alg.name(), hex::encode(d.as_ref())))
    }

    /// Whether `bytes` hash to this digest.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        Self::compute(self.algorithm(), bytes) == *self
    }

    /// The algorithm part.
    pub fn algorithm(&self) -> DigestAlgorithm {
        if self.0.starts_with("sha512:") {
            DigestAlgorithm::Sha512
        } else {
            DigestAlgorithm::Sha256
        }
    }

    /// The hex part after the colon.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map(|(_, h)| h).unwrap_or_default()
    }

    /// The whole digest string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DescriptorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An OCI content descriptor.
///
/// Field order follows the Go `ocispec.Descriptor` struct so that documents
/// this crate writes are byte-identical to the ones notation writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// Alternative download locations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// The content itself, base64-encoded (used for the empty config `e30=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform of an image manifest in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
    /// The artifact type of the referenced manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `bytes` with `media_type`.
    pub fn of(media_type: impl Into<String>, bytes: &[u8]) -> Self {
        Self::new(media_type, Digest::sha256(bytes), bytes.len() as u64)
    }

    /// A descriptor with just the three required fields.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            data: None,
            platform: None,
            artifact_type: None,
        }
    }

    /// The descriptor as the Notary payload carries it: media type, digest,
    /// size and annotations only (what notation's `SanitizeTargetArtifact` keeps).
    pub fn sanitized(&self) -> Self {
        Self {
            annotations: self.annotations.clone().filter(|a| !a.is_empty()),
            ..Self::new(self.media_type.clone(), self.digest.clone(), self.size)
        }
    }

    /// Whether two descriptors name the same content: media type, digest and size.
    pub fn same_content(&self, other: &Self) -> bool {
        self.media_type == other.media_type && self.digest == other.digest && self.size == other.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_validation() {
        assert!(
            Digest::parse("sha256:b8479de3f88fb259a0a9ea82a5b2a052a1ef3c4ebbcfc61482d5ae4c831f8af9").is_ok()
        );
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "sha256:B8479DE3F88FB259A0A9EA82A5B2A052A1EF3C4EBBCFC61482D5AE4C831F8AF9",
            "sha256:b8479de3",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn descriptor_serialises_in_go_field_order() {
        let d = Descriptor::of("application/vnd.oci.empty.v1+json", b"{}");
        let d = Descriptor {
            data: Some("e30=".into()),
            ..d
        };
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="}"#
        );
    }
}
