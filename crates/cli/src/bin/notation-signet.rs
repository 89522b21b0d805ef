//! `notation-signet`: a Notary Project plugin (contract 1.0) that signs with
//! signet's local keys, so `notation sign --plugin signet --id KEY` signs
//! through signet.
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
        proto::COMMAND_GET_METADATA => Ok(out(&proto::GetMetadataResponse {
            name: "signet".into(),
            description: "Signs with signet's local keys (signingkeys.json)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            url: "https://github.com/notaryproject/specifications".into(),
            supported_contract_versions: vec![proto::CONTRACT_VERSION.into()],
            capabilities: vec![proto::CAPABILITY_SIGNATURE_GENERATOR.into()],
        })),
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
        proto::COMMAND_GENERATE_ENVELOPE | proto::COMMAND_VERIFY_SIGNATURE => Err(validation(format!(
            "command {command:?} is not supported by this plugin"
        ))),
        other => Err(validation(format!("unknown command {other:?}"))),
    }
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
