//! The plugin protocol's JSON messages (contract version 1.0), field for
//! field as `notation-plugin-framework-go` declares them.
//!
//! Byte fields (`payload`, `signature`, certificates, envelopes) travel as
//! standard base64 with padding, as Go's `encoding/json` writes `[]byte`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The contract version this host speaks.
pub const CONTRACT_VERSION: &str = "1.0";

/// `get-plugin-metadata`.
pub const COMMAND_GET_METADATA: &str = "get-plugin-metadata";
/// `describe-key`.
pub const COMMAND_DESCRIBE_KEY: &str = "describe-key";
/// `generate-signature`.
pub const COMMAND_GENERATE_SIGNATURE: &str = "generate-signature";
/// `generate-envelope`.
pub const COMMAND_GENERATE_ENVELOPE: &str = "generate-envelope";
/// `verify-signature`.
pub const COMMAND_VERIFY_SIGNATURE: &str = "verify-signature";

/// `SIGNATURE_GENERATOR.RAW`: the plugin makes raw signatures.
pub const CAPABILITY_SIGNATURE_GENERATOR: &str = "SIGNATURE_GENERATOR.RAW";
/// `SIGNATURE_GENERATOR.ENVELOPE`: the plugin makes whole envelopes.
pub const CAPABILITY_ENVELOPE_GENERATOR: &str = "SIGNATURE_GENERATOR.ENVELOPE";
/// `SIGNATURE_VERIFIER.TRUSTED_IDENTITY`: the plugin checks trusted identities.
pub const CAPABILITY_TRUSTED_IDENTITY_VERIFIER: &str = "SIGNATURE_VERIFIER.TRUSTED_IDENTITY";
/// `SIGNATURE_VERIFIER.REVOCATION_CHECK`: the plugin checks revocation.
pub const CAPABILITY_REVOCATION_CHECK_VERIFIER: &str = "SIGNATURE_VERIFIER.REVOCATION_CHECK";

/// `VALIDATION_ERROR`.
pub const ERROR_CODE_VALIDATION: &str = "VALIDATION_ERROR";
/// `UNSUPPORTED_CONTRACT_VERSION`.
pub const ERROR_CODE_UNSUPPORTED_CONTRACT_VERSION: &str = "UNSUPPORTED_CONTRACT_VERSION";
/// `ACCESS_DENIED`.
pub const ERROR_CODE_ACCESS_DENIED: &str = "ACCESS_DENIED";
/// `ERROR`: anything else.
pub const ERROR_CODE_GENERIC: &str = "ERROR";

/// Base64 (standard, padded) for `Vec<u8>`, as Go encodes `[]byte`.
pub mod b64 {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes bytes as base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    /// Reads base64 (`null` reads as empty, as Go does).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        STANDARD
            .decode(s.unwrap_or_default())
            .map_err(serde::de::Error::custom)
    }
}

/// Base64 for a list of byte strings (certificate chains).
pub mod b64_list {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    /// Writes each entry as base64.
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for item in v {
            seq.serialize_element(&STANDARD.encode(item))?;
        }
        seq.end()
    }

    /// Reads a list of base64 strings (`null` reads as empty).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v: Option<Vec<String>> = Option::deserialize(d)?;
        v.unwrap_or_default()
            .iter()
            .map(|s| STANDARD.decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

/// `get-plugin-metadata` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMetadataRequest {
    /// Plugin configuration the user passed.
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_config: BTreeMap<String, String>,
}

/// `get-plugin-metadata` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetMetadataResponse {
    /// The plugin's name; its executable is `notation-<name>`.
    #[serde(default)]
    pub name: String,
    /// One line on what the plugin does.
    #[serde(default)]
    pub description: String,
    /// The plugin's version (SemVer).
    #[serde(default)]
    pub version: String,
    /// Where to learn more.
    #[serde(default)]
    pub url: String,
    /// Contract versions the plugin speaks.
    #[serde(
        rename = "supportedContractVersions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub supported_contract_versions: Vec<String>,
    /// What the plugin can do (`SIGNATURE_GENERATOR.RAW`, …).
    #[serde(default)]
    pub capabilities: Vec<String>,
}

impl GetMetadataResponse {
    /// Whether the plugin declares `capability`.
    pub fn has_capability(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// notation's metadata checks: every field present and contract 1.0 supported.
    pub fn validate(&self) -> Result<(), String> {
        let missing = [
            (self.name.is_empty(), "empty name"),
            (self.description.is_empty(), "empty description"),
            (self.version.is_empty(), "empty version"),
            (self.url.is_empty(), "empty url"),
            (self.capabilities.is_empty(), "empty capabilities"),
            (
                self.supported_contract_versions.is_empty(),
                "supported contract versions not specified",
            ),
        ];
        if let Some((_, m)) = missing.iter().find(|(bad, _)| *bad) {
            return Err((*m).to_owned());
        }
        if !self
            .supported_contract_versions
            .iter()
            .any(|v| v == CONTRACT_VERSION)
        {
            return Err(format!(
                "contract version {CONTRACT_VERSION:?} is not in the list of the plugin supported versions {:?}",
                self.supported_contract_versions
            ));
        }
        Ok(())
    }
}

/// `describe-key` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeKeyRequest {
    /// Always [`CONTRACT_VERSION`].
    #[serde(rename = "contractVersion")]
    pub contract_version: String,
    /// The key the user named with `--id`.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// Plugin configuration the user passed.
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_config: BTreeMap<String, String>,
}

/// `describe-key` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribeKeyResponse {
    /// The key id, echoed.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// `RSA-2048` … `EC-521`.
    #[serde(rename = "keySpec")]
    pub key_spec: String,
}

/// `generate-signature` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSignatureRequest {
    /// Always [`CONTRACT_VERSION`].
    #[serde(rename = "contractVersion")]
    pub contract_version: String,
    /// The key to sign with.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// The key spec `describe-key` returned.
    #[serde(rename = "keySpec")]
    pub key_spec: String,
    /// `SHA-256`, `SHA-384` or `SHA-512`.
    #[serde(rename = "hashAlgorithm")]
    pub hash_algorithm: String,
    /// The bytes to sign (the envelope's signing input).
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// Plugin configuration the user passed.
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_config: BTreeMap<String, String>,
}

/// `generate-signature` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSignatureResponse {
    /// The key that signed, echoed.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// The raw signature (ECDSA as `r || s`).
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// `RSASSA-PSS-SHA-256` … `ECDSA-SHA-512`.
    #[serde(rename = "signingAlgorithm")]
    pub signing_algorithm: String,
    /// The certificate chain, DER, leaf first.
    #[serde(rename = "certificateChain", with = "b64_list")]
    pub certificate_chain: Vec<Vec<u8>>,
}

/// `generate-envelope` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateEnvelopeRequest {
    /// Always [`CONTRACT_VERSION`].
    #[serde(rename = "contractVersion")]
    pub contract_version: String,
    /// The key to sign with.
    #[serde(rename = "keyId")]
    pub key_id: String,
    /// The payload's media type (the Notary Project payload).
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The envelope media type wanted.
    #[serde(rename = "signatureEnvelopeType")]
    pub signature_envelope_type: String,
    /// The payload.
    #[serde(with = "b64")]
    pub payload: Vec<u8>,
    /// The signature's lifetime, if any.
    #[serde(rename = "expiryDurationInSeconds", default, skip_serializing_if = "is_zero")]
    pub expiry_duration_in_seconds: u64,
    /// Plugin configuration the user passed.
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_config: BTreeMap<String, String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// `generate-envelope` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateEnvelopeResponse {
    /// The envelope bytes.
    #[serde(rename = "signatureEnvelope", with = "b64")]
    pub signature_envelope: Vec<u8>,
    /// The envelope's media type.
    #[serde(rename = "signatureEnvelopeType")]
    pub signature_envelope_type: String,
    /// Annotations for the signature manifest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `verify-signature` request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifySignatureRequest {
    /// Always [`CONTRACT_VERSION`].
    #[serde(rename = "contractVersion")]
    pub contract_version: String,
    /// The signature to verify.
    pub signature: Signature,
    /// The parts of the trust policy the plugin needs.
    #[serde(rename = "trustPolicy")]
    pub trust_policy: TrustPolicy,
    /// Plugin configuration the user passed.
    #[serde(rename = "pluginConfig", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plugin_config: BTreeMap<String, String>,
}

/// The signature as `verify-signature` describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Signed attributes.
    #[serde(rename = "criticalAttributes")]
    pub critical_attributes: CriticalAttributes,
    /// Extended critical attributes the host did not process.
    #[serde(rename = "unprocessedAttributes", default)]
    pub unprocessed_attributes: Vec<String>,
    /// The certificate chain, DER, leaf first.
    #[serde(rename = "certificateChain", with = "b64_list")]
    pub certificate_chain: Vec<Vec<u8>>,
}

/// The signed attributes a plugin sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CriticalAttributes {
    /// The payload content type.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// The signing scheme.
    #[serde(rename = "signingScheme")]
    pub signing_scheme: String,
    /// The expiry, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    /// The authentic signing time (signing-authority scheme), RFC 3339.
    #[serde(
        rename = "authenticSigningTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub authentic_signing_time: Option<String>,
    /// Extended critical attributes, by name.
    #[serde(
        rename = "extendedAttributes",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub extended_attributes: BTreeMap<String, serde_json::Value>,
}

/// The trust policy parts a plugin sees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustPolicy {
    /// The statement's trusted identities.
    #[serde(rename = "trustedIdentities", default)]
    pub trusted_identities: Vec<String>,
    /// The capabilities the plugin is asked to verify.
    #[serde(rename = "signatureVerification", default)]
    pub signature_verification: Vec<String>,
}

/// `verify-signature` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifySignatureResponse {
    /// One result per capability verified.
    #[serde(rename = "verificationResults", default)]
    pub verification_results: BTreeMap<String, Option<VerificationResult>>,
    /// The extended critical attributes the plugin processed.
    #[serde(rename = "processedAttributes", default)]
    pub processed_attributes: Vec<serde_json::Value>,
}

/// One capability's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationResult {
    /// Whether the check passed.
    #[serde(default)]
    pub success: bool,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The error a plugin writes to stderr when a command fails.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// `VALIDATION_ERROR`, `ACCESS_DENIED`, `ERROR`, …
    #[serde(rename = "errorCode", default)]
    pub error_code: String,
    /// What went wrong.
    #[serde(rename = "errorMessage", default, skip_serializing_if = "String::is_empty")]
    pub error_message: String,
    /// Extra detail.
    #[serde(rename = "errorMetadata", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_metadata: BTreeMap<String, String>,
}
