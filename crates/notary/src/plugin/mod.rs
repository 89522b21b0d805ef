//! The host side of the Notary Project plugin protocol (contract 1.0).
//!
//! A plugin is an executable, `notation-<name>`, that takes a command name as
//! its argument and a JSON request on stdin, and answers with JSON on stdout
//! (or an [`proto::ErrorResponse`] on stderr). This module holds the messages
//! ([`proto`]), a typed client ([`Plugin`]) over a [`PluginRunner`], the
//! SemVer comparison notation applies to `verificationPluginMinVersion`, and a
//! [`Signer`](crate::crypto::Signer) that signs through `generate-signature`.
//!
//! Spawning processes is not done here: the crate stays pure, and a caller
//! (the CLI) supplies the [`PluginRunner`] that runs a plugin and the
//! [`PluginManager`] that finds plugins by name. Tests inject fakes.

pub mod proto;
mod semver;

use std::{collections::BTreeMap, sync::Mutex};

pub use semver::{compare as compare_versions, is_valid as is_valid_version};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    algorithm::{KeySpec, SignatureAlgorithm},
    crypto::{CryptoError, Signer},
};

/// Why talking to a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// No plugin of that name is installed.
    #[error("plugin not found")]
    NotFound,
    /// The plugin answered a command with an error (its stderr JSON);
    /// shown as the plugin's message, as notation shows it.
    #[error("{}", if .0.error_message.is_empty() { &.0.error_code } else { &.0.error_message })]
    Plugin(proto::ErrorResponse),
    /// The plugin could not be run, timed out, or failed without a JSON error.
    #[error("{0}")]
    Execution(String),
    /// The plugin's output is not what the protocol requires.
    #[error("{0}")]
    Malformed(String),
}

/// Runs one plugin command: `notation-<name> <command>` with `request_json`
/// on stdin, returning stdout.
///
/// Implementations must bound what they read and how long they wait, and
/// turn a JSON error on stderr into [`PluginError::Plugin`].
pub trait PluginRunner: Send + Sync {
    /// Runs `command` with `request_json` on stdin and returns stdout.
    fn run(&self, command: &str, request_json: &[u8]) -> Result<Vec<u8>, PluginError>;
}

/// Finds installed plugins by name.
pub trait PluginManager: Send + Sync {
    /// A runner for the plugin `name`; [`PluginError::NotFound`] if none.
    fn get(&self, name: &str) -> Result<Box<dyn PluginRunner + '_>, PluginError>;
    /// The names of installed plugins, sorted.
    fn list(&self) -> Result<Vec<String>, PluginError> {
        Ok(Vec::new())
    }
}

/// A typed client for one plugin.
pub struct Plugin<'a> {
    name: String,
    runner: Box<dyn PluginRunner + 'a>,
}

impl std::fmt::Debug for Plugin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Plugin({})", self.name)
    }
}

impl<'a> Plugin<'a> {
    /// Wraps `runner`, which runs the plugin `name`.
    pub fn new(name: impl Into<String>, runner: Box<dyn PluginRunner + 'a>) -> Self {
        Self {
            name: name.into(),
            runner,
        }
    }

    /// Finds `name` through `manager`.
    pub fn find(manager: &'a dyn PluginManager, name: &str) -> Result<Self, PluginError> {
        Ok(Self::new(name, manager.get(name)?))
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        command: &str,
        req: &Req,
    ) -> Result<Resp, PluginError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| PluginError::Malformed(format!("failed to marshal request object: {e}")))?;
        let out = self.runner.run(command, &body)?;
        serde_json::from_slice(&out).map_err(|e| {
            PluginError::Malformed(format!(
                "failed to unmarshal the response of {command} command for plugin {}: {e}",
                self.name
            ))
        })
    }

    /// `get-plugin-metadata`, validated as notation validates it (fields
    /// present, contract 1.0 supported, name matching the executable).
    pub fn metadata(
        &self,
        plugin_config: &BTreeMap<String, String>,
    ) -> Result<proto::GetMetadataResponse, PluginError> {
        let resp: proto::GetMetadataResponse = self.call(
            proto::COMMAND_GET_METADATA,
            &proto::GetMetadataRequest {
                plugin_config: plugin_config.clone(),
            },
        )?;
        resp.validate().map_err(|e| {
            PluginError::Malformed(format!(
                "metadata validation failed for plugin {}: {e}",
                self.name
            ))
        })?;
        if resp.name != self.name {
            return Err(PluginError::Malformed(format!(
                "plugin executable file name must be \"notation-{}\" instead of \"notation-{}\"",
                resp.name, self.name
            )));
        }
        Ok(resp)
    }

    /// `describe-key`, checking that the key id is echoed and the key spec is one the spec allows.
    pub fn describe_key(
        &self,
        key_id: &str,
        plugin_config: &BTreeMap<String, String>,
    ) -> Result<(proto::DescribeKeyResponse, KeySpec), PluginError> {
        let resp: proto::DescribeKeyResponse = self.call(
            proto::COMMAND_DESCRIBE_KEY,
            &proto::DescribeKeyRequest {
                contract_version: proto::CONTRACT_VERSION.into(),
                key_id: key_id.into(),
                plugin_config: plugin_config.clone(),
            },
        )?;
        if resp.key_id != key_id {
            return Err(PluginError::Malformed(format!(
                "keyID in describeKey response \"{}\" does not match request \"{key_id}\"",
                resp.key_id
            )));
        }
        let spec = key_spec_from_name(&resp.key_spec).ok_or_else(|| {
            PluginError::Malformed(format!("key spec {:?} is not supported", resp.key_spec))
        })?;
        Ok((resp, spec))
    }

    /// `generate-signature`.
    pub fn generate_signature(
        &self,
        req: &proto::GenerateSignatureRequest,
    ) -> Result<proto::GenerateSignatureResponse, PluginError> {
        self.call(proto::COMMAND_GENERATE_SIGNATURE, req)
    }

    /// `generate-envelope`.
    pub fn generate_envelope(
        &self,
        req: &proto::GenerateEnvelopeRequest,
    ) -> Result<proto::GenerateEnvelopeResponse, PluginError> {
        self.call(proto::COMMAND_GENERATE_ENVELOPE, req)
    }

    /// `verify-signature`.
    pub fn verify_signature(
        &self,
        req: &proto::VerifySignatureRequest,
    ) -> Result<proto::VerifySignatureResponse, PluginError> {
        self.call(proto::COMMAND_VERIFY_SIGNATURE, req)
    }
}

/// The protocol's key spec name (`RSA-2048` … `EC-521`) as a [`KeySpec`].
pub fn key_spec_from_name(name: &str) -> Option<KeySpec> {
    KeySpec::ALL.into_iter().find(|k| k.to_string() == name)
}

/// The protocol's hash algorithm name for a key spec (`SHA-256` …).
pub fn hash_algorithm_name(spec: KeySpec) -> Result<&'static str, CryptoError> {
    Ok(match spec.signature_algorithm()? {
        SignatureAlgorithm::RsaPssSha256 | SignatureAlgorithm::EcdsaSha256 => "SHA-256",
        SignatureAlgorithm::RsaPssSha384 | SignatureAlgorithm::EcdsaSha384 => "SHA-384",
        SignatureAlgorithm::RsaPssSha512 | SignatureAlgorithm::EcdsaSha512 => "SHA-512",
    })
}

/// A [`Signer`] that signs through a plugin's `generate-signature`.
///
/// The certificate chain arrives with the signature, so a sign request using
/// it may leave its chain empty; the envelope is checked against the chain
/// the plugin returned before [`crate::envelope::sign`] returns it.
pub struct PluginSigner<'a> {
    plugin: Plugin<'a>,
    key_id: String,
    key_spec: KeySpec,
    plugin_config: BTreeMap<String, String>,
    chain: Mutex<Option<Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for PluginSigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PluginSigner({}, {}, {})",
            self.plugin.name, self.key_id, self.key_spec
        )
    }
}

impl<'a> PluginSigner<'a> {
    /// Asks `plugin` to describe `key_id` and returns a signer for it; the
    /// plugin must declare `SIGNATURE_GENERATOR.RAW` (`metadata` from [`Plugin::metadata`]).
    pub fn new(
        plugin: Plugin<'a>,
        metadata: &proto::GetMetadataResponse,
        key_id: &str,
        plugin_config: BTreeMap<String, String>,
    ) -> Result<Self, PluginError> {
        if !metadata.has_capability(proto::CAPABILITY_SIGNATURE_GENERATOR) {
            return Err(PluginError::Malformed(format!(
                "plugin {:?} does not have signature generator capability",
                plugin.name
            )));
        }
        let (_, key_spec) = plugin.describe_key(key_id, &plugin_config)?;
        Ok(Self {
            plugin,
            key_id: key_id.into(),
            key_spec,
            plugin_config,
            chain: Mutex::new(None),
        })
    }

    /// The certificate chain of the latest signature, if one was made.
    pub fn certificate_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.chain.lock().ok().and_then(|c| c.clone())
    }
}

impl Signer for PluginSigner<'_> {
    fn key_spec(&self) -> KeySpec {
        self.key_spec
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let fail = |m: String| CryptoError::SigningFailed(m);
        let alg = self.key_spec.signature_algorithm()?;
        let req = proto::GenerateSignatureRequest {
            contract_version: proto::CONTRACT_VERSION.into(),
            key_id: self.key_id.clone(),
            key_spec: self.key_spec.to_string(),
            hash_algorithm: hash_algorithm_name(self.key_spec)?.into(),
            payload: message.to_vec(),
            plugin_config: self.plugin_config.clone(),
        };
        let resp = self
            .plugin
            .generate_signature(&req)
            .map_err(|e| fail(format!("plugin {}: {e}", self.plugin.name)))?;
        if resp.key_id != self.key_id {
            return Err(fail(format!(
                "keyID in generateSignature response \"{}\" does not match request \"{}\"",
                resp.key_id, self.key_id
            )));
        }
        if resp.signing_algorithm != alg.spec_name() {
            return Err(fail(format!(
                "keySpec {:?} for key {:?} is not supported by signing algorithm {:?}",
                self.key_spec.to_string(),
                self.key_id,
                resp.signing_algorithm
            )));
        }
        if resp.certificate_chain.is_empty() {
            return Err(fail(
                "generateSignature response has an empty certificate chain".into(),
            ));
        }
        if let Ok(mut c) = self.chain.lock() {
            *c = Some(resp.certificate_chain);
        }
        Ok(resp.signature)
    }

    fn supplies_certificate_chain(&self) -> bool {
        true
    }

    fn signed_certificate_chain(&self) -> Option<Vec<Vec<u8>>> {
        self.certificate_chain()
    }
}
