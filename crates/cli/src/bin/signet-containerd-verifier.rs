//! containerd's image verifier (the `io.containerd.image-verifier.v1.bindir`
//! plugin calls every executable in its `bin_dir`):
//!
//! ```text
//! signet-containerd-verifier -name REF -digest sha256:… -stdin-media-type application/vnd.oci.descriptor.v1+json
//! ```
//!
//! with the image's OCI descriptor on stdin. It asks the node agent (`signet
//! serve node`) over its Unix socket, prints the reason on stdout (containerd
//! shows it in the pull error) and exits 0 to allow the pull, 1 to refuse it.
//!
//! Configuration: the JSON file `$SIGNET_CONTAINERD_VERIFIER_CONFIG`
//! (default `/etc/signet/containerd-verifier.json`; absent = defaults):
//!
//! ```json
//! { "socket": "/run/signet/node.sock", "timeoutMs": 3000, "mode": "enforce",
//!   "direct": "/etc/signet/node.yaml" }
//! ```
//!
//! * `mode`: `enforce` refuses what the agent refuses, and refuses when the
//!   agent cannot answer in time (fail closed); `warn` and `audit` allow both,
//!   saying why on stdout / stderr.
//! * `direct`: verify in this process from that node configuration instead
//!   of asking an agent (no shared cache: every pull is a cold verification).

use std::{io::Read, path::PathBuf, process::ExitCode, time::Duration};

use node::protocol::{Request, Response};

#[path = "../node_client.rs"]
mod node_client;
use serde::Deserialize;

const DEFAULT_CONFIG: &str = "/etc/signet/containerd-verifier.json";
const MAX_STDIN: u64 = 1024 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Config {
    #[serde(default = "default_socket")]
    socket: PathBuf,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    direct: Option<PathBuf>,
}

fn default_socket() -> PathBuf {
    PathBuf::from("/run/signet/node.sock")
}
fn default_timeout() -> u64 {
    3000
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Enforce,
    Warn,
    Audit,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StdinDescriptor {
    #[serde(default)]
    media_type: Option<String>,
    digest: String,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            // A verifier that cannot even read its input refuses.
            println!("signet: refused: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<ExitCode, String> {
    let args = Args::parse(std::env::args().skip(1))?;
    let config = load_config()?;
    let mut stdin = Vec::new();
    std::io::stdin()
        .take(MAX_STDIN + 1)
        .read_to_end(&mut stdin)
        .map_err(|e| format!("cannot read stdin: {e}"))?;
    if stdin.len() as u64 > MAX_STDIN {
        return Err(format!("stdin larger than {MAX_STDIN} bytes"));
    }
    let mut media_type = None;
    if args.stdin_media_type.as_deref() == Some("application/vnd.oci.descriptor.v1+json") && !stdin.is_empty()
    {
        let d: StdinDescriptor =
            serde_json::from_slice(&stdin).map_err(|e| format!("stdin is not an OCI descriptor: {e}"))?;
        if d.digest != args.digest {
            return Err(format!(
                "the descriptor on stdin names {} but -digest is {}",
                d.digest, args.digest
            ));
        }
        media_type = d.media_type;
    }
    let request = Request {
        name: args.name.clone(),
        digest: args.digest.clone(),
        media_type,
    };
    let answer = match &config.direct {
        Some(path) => direct(path, &request),
        None => ask(&config, &request),
    };
    Ok(match answer {
        Ok(r) if r.allow => {
            println!("signet: allowed: {}", r.reason);
            ExitCode::SUCCESS
        }
        Ok(r) => match config.mode {
            Mode::Enforce => {
                println!("signet: refused: {}", r.reason);
                ExitCode::FAILURE
            }
            Mode::Warn | Mode::Audit => {
                println!(
                    "signet: allowed in {} mode, would refuse: {}",
                    mode_name(config.mode),
                    r.reason
                );
                eprintln!("signet: {} would be refused: {}", args.name, r.reason);
                ExitCode::SUCCESS
            }
        },
        Err(e) => match config.mode {
            Mode::Enforce => {
                println!("signet: refused: {e}; enforce mode refuses what it cannot verify");
                ExitCode::FAILURE
            }
            Mode::Warn | Mode::Audit => {
                println!(
                    "signet: allowed unverified in {} mode: {e}",
                    mode_name(config.mode)
                );
                eprintln!("signet: {} allowed unverified: {e}", args.name);
                ExitCode::SUCCESS
            }
        },
    })
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Enforce => "enforce",
        Mode::Warn => "warn",
        Mode::Audit => "audit",
    }
}

fn load_config() -> Result<Config, String> {
    let path = std::env::var_os("SIGNET_CONTAINERD_VERIFIER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("invalid {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(serde_json::from_str("{}").map_err(|e| e.to_string())?)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Asks the agent on `config.socket`.
fn ask(config: &Config, request: &Request) -> Result<Response, String> {
    node_client::ask_request(
        &config.socket,
        request,
        Duration::from_millis(config.timeout_ms.max(1)),
    )
}

/// Verifies in this process from the node configuration at `path`.
fn direct(path: &std::path::Path, request: &Request) -> Result<Response, String> {
    let config = node::agent::NodeConfig::load(path).map_err(|e| e.to_string())?;
    let agent = node::agent::Agent::new(config).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    if let Err(e) = agent.poll() {
        eprintln!("signet: bundle not refreshed: {e}");
    }
    Ok(runtime.block_on(agent.decide(request)))
}

struct Args {
    name: String,
    digest: String,
    stdin_media_type: Option<String>,
}

impl Args {
    /// Go's flag syntax: `-flag value`, `-flag=value`, `--flag value`.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Self, String> {
        let (mut name, mut digest, mut media) = (None, None, None);
        while let Some(arg) = args.next() {
            let flag = arg.trim_start_matches('-');
            let (key, value) = match flag.split_once('=') {
                Some((k, v)) => (k.to_owned(), v.to_owned()),
                None => (
                    flag.to_owned(),
                    args.next().ok_or_else(|| format!("flag {arg} needs a value"))?,
                ),
            };
            match key.as_str() {
                "name" => name = Some(value),
                "digest" => digest = Some(value),
                "stdin-media-type" => media = Some(value),
                _ => return Err(format!("unknown flag {arg}")),
            }
        }
        Ok(Self {
            name: name.ok_or("-name is required")?,
            digest: digest.ok_or("-digest is required")?,
            stdin_media_type: media,
        })
    }
}
