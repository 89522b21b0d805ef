//! `notation-signet`: a Notary Project plugin (contract 1.0) that signs with
//! signet's local keys, so `notation sign --plugin signet --id KEY` signs
//! through signet — or, with the plugin config `url=https://signer…`, through
//! a Signet signing service: `notation sign --plugin signet --id PROFILE
//! --plugin-config url=https://signer.example.com --plugin-config
//! repository=registry.example.com/app IMAGE`. The service then builds the
//! whole envelope (capability `SIGNATURE_GENERATOR.ENVELOPE`), per-job
//! certificate, job attributes and timestamp included; the credential comes
//! from `token_file=…` or `$SIGNET_SIGNER_TOKEN`, extra TLS roots from
//! `ca_file=…`.
//!
//! The key id is the name of a key in signet's `signingkeys.json`. The config
//! directory is the `config_dir` plugin config value, else `$SIGNET_CONFIG`,
//! else signet's default. Commands: `get-plugin-metadata`, `describe-key`,
//! `generate-signature`; the request is JSON on stdin, the response JSON on
//! stdout, an error JSON on stderr with exit status 1.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    path::PathBuf,
    process::ExitCode,
};

use notary::{
    crypto::{PrivateKey, Signer as _},
    plugin::{hash_algorithm_name, proto},
    x509,
};

#[allow(dead_code)]
#[path = "../config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../signer_client.rs"]
mod signer_client;

/// The most this plugin reads from stdin.
const MAX_REQUEST: u64 = 64 * 1024 * 1024;

struct Failure(proto::ErrorResponse);

fn fail(code: &str, message: impl Into<String>) -> Failure {
    Failure(proto::ErrorResponse {
        error_code: code.into(),
        error_message: message.into(),
        error_metadata: BTreeMap::new(),
    })
}

fn validation(message: impl Into<String>) -> Failure {
    fail(proto::ERROR_CODE_VALIDATION, message)
}

fn parse<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(input).map_err(|e| validation(format!("failed to parse the request: {e}")))
}

fn contract(version: &str) -> Result<(), Failure> {
    if version != proto::CONTRACT_VERSION {
        return Err(fail(
            proto::ERROR_CODE_UNSUPPORTED_CONTRACT_VERSION,
            format!("{version:?} is not a supported notary plugin contract version"),
        ));
    }
    Ok(())
}

/// The key named `id`, its certificate chain (DER, leaf first).
fn load(id: &str, plugin_config: &BTreeMap<String, String>) -> Result<(PrivateKey, Vec<Vec<u8>>), Failure> {
    if id.is_empty() {
        return Err(validation("keyId cannot be empty"));
    }
    let explicit = plugin_config.get("config_dir").map(PathBuf::from).or_else(|| {
        std::env::var_os("SIGNET_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let generic = |e: anyhow::Error| fail(proto::ERROR_CODE_GENERIC, format!("{e:#}"));
    let config = config::ConfigDir::resolve(explicit).map_err(generic)?;
    let keys = config.load_signing_keys().map_err(generic)?;
    let suite = keys.get(Some(id)).map_err(|e| validation(format!("{e:#}")))?;
    let (Some(key_path), Some(cert_path)) = (&suite.key_path, &suite.cert_path) else {
        return Err(validation(format!(
            "signet key {id:?} is not a local key (it has no keyPath and certPath)"
        )));
    };
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| {
            fail(
                proto::ERROR_CODE_ACCESS_DENIED,
                format!("reading {}: {e}", p.display()),
            )
        })
    };
    let key = PrivateKey::from_pem(&read(key_path)?).map_err(|e| {
        fail(
            proto::ERROR_CODE_GENERIC,
            format!("loading {}: {e}", key_path.display()),
        )
    })?;
    let chain = x509::read_certificates(&read(cert_path)?).map_err(|e| {
        fail(
            proto::ERROR_CODE_GENERIC,
            format!("reading {}: {e}", cert_path.display()),
        )
    })?;
    Ok((key, chain.iter().map(|c| c.der().to_vec()).collect()))
}

fn handle(command: &str, input: &[u8]) -> Result<Vec<u8>, Failure> {
    let out = |v: &dyn erased::Json| v.to_json();
    match command {
        proto::COMMAND_GET_METADATA => {
            let req: proto::GetMetadataRequest = if input.iter().all(u8::is_ascii_whitespace) {
                proto::GetMetadataRequest::default()
            } else {
                parse(input)?
            };
            // With a service URL the service builds the whole envelope.
            let capability = if req.plugin_config.contains_key("url") {
                proto::CAPABILITY_ENVELOPE_GENERATOR
            } else {
                proto::CAPABILITY_SIGNATURE_GENERATOR
            };
            Ok(out(&proto::GetMetadataResponse {
                name: "signet".into(),
                description: "Signs with signet's local keys (signingkeys.json) or through a Signet signing service (plugin config url=…)".into(),
                version: env!("CARGO_PKG_VERSION").into(),
                url: "https://github.com/notaryproject/specifications".into(),
                supported_contract_versions: vec![proto::CONTRACT_VERSION.into()],
                capabilities: vec![capability.into()],
            }))
        }
        proto::COMMAND_GENERATE_ENVELOPE => {
            let req: proto::GenerateEnvelopeRequest = parse(input)?;
            contract(&req.contract_version)?;
            remote_envelope(req).map(|r| out(&r))
        }
        proto::COMMAND_DESCRIBE_KEY => {
            let req: proto::DescribeKeyRequest = parse(input)?;
            contract(&req.contract_version)?;
            let (key, _) = load(&req.key_id, &req.plugin_config)?;
            Ok(out(&proto::DescribeKeyResponse {
                key_id: req.key_id,
                key_spec: key.key_spec().to_string(),
            }))
        }
        proto::COMMAND_GENERATE_SIGNATURE => {
            let req: proto::GenerateSignatureRequest = parse(input)?;
            contract(&req.contract_version)?;
            let (key, chain) = load(&req.key_id, &req.plugin_config)?;
            let spec = key.key_spec();
            if req.key_spec != spec.to_string() {
                return Err(validation(format!(
                    "keySpec {:?} does not match key {:?}, which is {spec}",
                    req.key_spec, req.key_id
                )));
            }
            let hash = hash_algorithm_name(spec).map_err(|e| validation(e.to_string()))?;
            if req.hash_algorithm != hash {
                return Err(validation(format!(
                    "hashAlgorithm {:?} does not match key spec {spec}, which needs {hash}",
                    req.hash_algorithm
                )));
            }
            let alg = spec
                .signature_algorithm()
                .map_err(|e| validation(e.to_string()))?;
            let signature = key
                .sign(&req.payload)
                .map_err(|e| fail(proto::ERROR_CODE_GENERIC, e.to_string()))?;
            Ok(out(&proto::GenerateSignatureResponse {
                key_id: req.key_id,
                signature,
                signing_algorithm: alg.spec_name().into(),
                certificate_chain: chain,
            }))
        }
        proto::COMMAND_VERIFY_SIGNATURE => Err(validation(format!(
            "command {command:?} is not supported by this plugin"
        ))),
        other => Err(validation(format!("unknown command {other:?}"))),
    }
}

/// `generate-envelope` through the signing service: the key id is the
/// profile, `repository` (plugin config) what the service's rules match.
fn remote_envelope(req: proto::GenerateEnvelopeRequest) -> Result<proto::GenerateEnvelopeResponse, Failure> {
    let config = &req.plugin_config;
    let Some(url) = config.get("url") else {
        return Err(validation(
            "generate-envelope needs the plugin config url=<signing service URL>",
        ));
    };
    let Some(repository) = config.get("repository") else {
        return Err(validation(
            "the signing service authorises per repository: add --plugin-config repository=<registry/repository>",
        ));
    };
    if req.payload_type != notary::envelope::PAYLOAD_CONTENT_TYPE {
        return Err(validation(format!(
            "payloadType {:?} is not supported",
            req.payload_type
        )));
    }
    if req.expiry_duration_in_seconds != 0 {
        return Err(validation(
            "the signing profile fixes the signature's expiry: leave out --expiry",
        ));
    }
    #[derive(serde::Deserialize)]
    struct Payload {
        #[serde(rename = "targetArtifact")]
        target_artifact: notary::Descriptor,
    }
    let payload: Payload = serde_json::from_slice(&req.payload)
        .map_err(|e| validation(format!("the payload is not a Notary Project payload: {e}")))?;
    let generic = |e: anyhow::Error| fail(proto::ERROR_CODE_GENERIC, format!("{e:#}"));
    let client = signer_client::Client::new(
        url,
        config.get("token_file").map(std::path::Path::new),
        config.get("ca_file").map(std::path::Path::new),
    )
    .map_err(generic)?;
    let answer = client
        .post(
            "/v1/sign",
            &serde_json::json!({
                "profile": req.key_id,
                "repository": repository,
                "descriptor": payload.target_artifact,
            }),
        )
        .map_err(|e| fail(proto::ERROR_CODE_ACCESS_DENIED, format!("{e:#}")))?;
    let signed: signer_client::SignResponse = serde_json::from_value(answer)
        .map_err(|e| fail(proto::ERROR_CODE_GENERIC, format!("the service's answer: {e}")))?;
    if signed.envelope_media_type != req.signature_envelope_type {
        return Err(validation(format!(
            "profile {:?} produces {} envelopes; sign with the matching --signature-format",
            req.key_id, signed.envelope_media_type
        )));
    }
    use base64::Engine as _;
    let envelope = base64::engine::general_purpose::STANDARD
        .decode(&signed.envelope)
        .map_err(|e| {
            fail(
                proto::ERROR_CODE_GENERIC,
                format!("the envelope is not base64: {e}"),
            )
        })?;
    Ok(proto::GenerateEnvelopeResponse {
        signature_envelope: envelope,
        signature_envelope_type: signed.envelope_media_type,
        annotations: BTreeMap::new(),
    })
}

/// Serialising the protocol's own types cannot fail; this keeps `handle` short.
mod erased {
    /// Anything serialisable as JSON.
    pub trait Json {
        /// The JSON bytes.
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap_or_default()
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        eprintln!("usage: notation-signet <get-plugin-metadata|describe-key|generate-signature>");
        return ExitCode::FAILURE;
    };
    if command == "version" || command == "--version" {
        println!("notation-signet {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().take(MAX_REQUEST).read_to_end(&mut input) {
        let _ = serde_json::to_writer(
            std::io::stderr(),
            &fail(proto::ERROR_CODE_GENERIC, format!("reading stdin: {e}")).0,
        );
        return ExitCode::FAILURE;
    }
    match handle(command, &input) {
        Ok(bytes) => {
            let mut stdout = std::io::stdout();
            if stdout.write_all(&bytes).and_then(|()| stdout.flush()).is_err() {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(Failure(e)) => {
            let _ = serde_json::to_writer(std::io::stderr(), &e);
            ExitCode::FAILURE
        }
    }
}
