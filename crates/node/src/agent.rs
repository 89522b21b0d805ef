//! `signet serve node`: the node agent. It polls the verifier config bundle,
//! checks it against the pinned root (signature, version, expiry, age),
//! keeps it on disk, and answers pull decisions on a Unix socket only root
//! can reach, with the admission engine's cache and coalescing.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use admission::{
    Engine,
    config::EngineConfig,
    engine::{Effect, ImageCheck},
    metrics::Metrics,
};
use notary::Digest;
use oci::registry::Reference;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tracing::{error, info, warn};

use crate::{
    bundle::{self, Bundle, BundleError, BundleTrust},
    fetcher::Fetcher,
    protocol::{MAX_LINE, Request, Response},
};

/// `node.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    /// The Unix socket decisions are asked on (created 0600).
    pub socket: PathBuf,
    /// Where the bundle in force is kept (root-only).
    pub state_dir: PathBuf,
    /// Where the bundle comes from and who may sign it.
    pub bundle: BundleSource,
    /// What happens to an image no policy of the bundle matches.
    #[serde(default)]
    pub no_match: admission::config::NoMatch,
    /// The most one decision may take.
    #[serde(default = "default_deadline", deserialize_with = "duration")]
    pub decision_deadline: Duration,
    /// Verification cache.
    #[serde(default)]
    pub cache: admission::config::CacheConfig,
    /// Registry access.
    #[serde(default)]
    pub registry: admission::config::RegistryConfig,
    /// `ADDRESS:PORT` for Prometheus `/metrics` (plain HTTP), off when absent.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
}

/// Where the bundle comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleSource {
    /// `https://…/bundle.json` (signature at `…/bundle.json.sig`),
    /// `file:///…/bundle.json` (likewise), or `oci://registry/repository:tag`.
    pub source: String,
    /// PEM root certificate(s) of the bundle signer: the pinned root of trust.
    pub trust_root: PathBuf,
    /// Identities allowed to sign bundles (`x509.subject: …`).
    pub identities: Vec<String>,
    /// How often the source is polled.
    #[serde(default = "default_poll", deserialize_with = "duration")]
    pub poll_interval: Duration,
    /// Refuse bundles issued longer ago than this (a frozen feed).
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_age: Option<Duration>,
}

fn default_deadline() -> Duration {
    Duration::from_secs(2)
}
fn default_poll() -> Duration {
    Duration::from_secs(30)
}
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    admission::config::parse_duration(&s).map_err(serde::de::Error::custom)
}
fn opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Why the agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is unusable.
    #[error("invalid node configuration {}: {message}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file or socket operation failed.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The engine could not start.
    #[error(transparent)]
    Engine(#[from] admission::Error),
    /// The pinned trust is unusable.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> AgentError + 'a {
    move |source| AgentError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

impl NodeConfig {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, AgentError> {
        let text = std::fs::read_to_string(path).map_err(io("read", path))?;
        serde_saphyr::from_str(&text).map_err(|e| AgentError::Config {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }
}

/// The agent.
pub struct Agent {
    config: NodeConfig,
    trust: BundleTrust,
    engine: Engine,
    fetcher: Fetcher,
    current: Mutex<Option<Bundle>>,
}

impl Agent {
    /// Prepares the state directory, loads the bundle kept there (if any),
    /// and the engine over it.
    pub fn new(config: NodeConfig) -> Result<Self, AgentError> {
        let root = std::fs::read(&config.bundle.trust_root).map_err(io("read", &config.bundle.trust_root))?;
        let trust = BundleTrust::new(&root, &config.bundle.identities)?;
        let active = config.state_dir.join("active");
        std::fs::create_dir_all(active.join("policies")).map_err(io("create", &active))?;
        restrict(&config.state_dir, 0o700)?;
        let current = match std::fs::read(config.state_dir.join("bundle.json")) {
            Ok(bytes) => {
                let b = Bundle::parse(&bytes)?;
                info!(version = b.version, "bundle in force from the state directory");
                Some(b)
            }
            Err(_) => None,
        };
        if let Some(b) = &current {
            b.materialize(&active).map_err(io("write", &active))?;
        } else {
            Bundle::empty()
                .materialize(&active)
                .map_err(io("write", &active))?;
        }
        let engine = Engine::new(
            &EngineConfig {
                policy_dir: active.join("policies"),
                trust_dir: active.clone(),
                revocation_list: Some(active.join("revoked.txt")),
                // A node sees every pull, whatever the namespace.
                exempt_namespaces: Vec::new(),
                no_match: config.no_match,
                cache: config.cache.clone(),
                registry: config.registry.clone(),
                user_agent: format!("signet-node/{}", env!("CARGO_PKG_VERSION")),
            },
            Arc::new(Metrics::with_prefix("signet_node")),
        )?;
        let fetcher = Fetcher::new(
            engine.client().clone(),
            config.registry.timeout,
            config.registry.ca_files.clone(),
        );
        Ok(Self {
            config,
            trust,
            engine,
            fetcher,
            current: Mutex::new(current),
        })
    }

    /// The version of the bundle in force.
    pub fn version(&self) -> Option<u64> {
        self.current
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|b| b.version))
    }

    /// Fetches, checks and (when newer) installs the bundle. Blocking.
    pub fn poll(&self) -> Result<bool, BundleError> {
        let offered = self.fetcher.fetch(&self.config.bundle.source, &self.trust)?;
        let now = OffsetDateTime::now_utc();
        let mut current = self
            .current
            .lock()
            .map_err(|_| BundleError::Fetch("state lock poisoned".into()))?;
        if !bundle::check_succession(
            current.as_ref(),
            &offered,
            now,
            self.config.bundle.max_age.map(to_time),
        )? {
            return Ok(false);
        }
        let active = self.config.state_dir.join("active");
        offered
            .materialize(&active)
            .map_err(|e| BundleError::Fetch(format!("cannot write {}: {e}", active.display())))?;
        write_atomic(&self.config.state_dir.join("bundle.json"), &offered.to_bytes())
            .map_err(|e| BundleError::Fetch(format!("cannot keep the bundle: {e}")))?;
        self.engine
            .reload()
            .map_err(|e| BundleError::Invalid(format!("the engine refused the bundle: {e}")))?;
        info!(
            from = current.as_ref().map(|b| b.version),
            to = offered.version,
            revoked = offered.revoked_digests.len(),
            "verifier config bundle installed"
        );
        *current = Some(offered);
        Ok(true)
    }

    /// Answers one pull decision.
    pub async fn decide(&self, request: &Request) -> Response {
        let version = self.version();
        let deny = |reason: String| Response {
            allow: false,
            reason,
            bundle_version: version,
        };
        let stale = {
            let current = self.current.lock().ok();
            match current.as_deref().and_then(Option::as_ref) {
                None => Some("no verifier config bundle has been received yet".to_owned()),
                Some(b) => bundle::check_fresh(
                    b,
                    OffsetDateTime::now_utc(),
                    self.config.bundle.max_age.map(to_time),
                )
                .err()
                .map(|e| format!("the verifier config is stale: {e}")),
            }
        };
        if let Some(reason) = stale {
            return deny(reason);
        }
        let digest = match Digest::parse(&request.digest) {
            Ok(d) => d,
            Err(e) => return deny(format!("invalid digest {:?}: {e}", request.digest)),
        };
        let image = match Reference::parse(&request.name) {
            Ok(r) => r.with_digest(digest).to_string(),
            Err(e) => return deny(format!("invalid image name {:?}: {e}", request.name)),
        };
        let check: ImageCheck = self
            .engine
            .check(&image, None, Instant::now() + self.config.decision_deadline)
            .await;
        let (allow, reason) = match check.effect() {
            Effect::Allow => (true, format!("{image}: {}", describe(&check))),
            Effect::Warn(m) | Effect::Audit(m) => (true, format!("admitted by policy mode: {m}")),
            Effect::Deny(m) => (false, m),
        };
        Response {
            allow,
            reason,
            bundle_version: version,
        }
    }

    /// Serves until `shutdown`: the poll loop, the socket, and `/metrics`.
    pub async fn serve(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), AgentError> {
        let socket = self.config.socket.clone();
        if let Some(parent) = socket.parent()
            && !parent.exists()
        {
            // A directory made for the socket is root's alone; an existing
            // one (e.g. /run) is left as it is.
            std::fs::create_dir_all(parent).map_err(io("create", parent))?;
            restrict(parent, 0o700)?;
        }
        let _ = std::fs::remove_file(&socket);
        let listener = tokio::net::UnixListener::bind(&socket).map_err(io("listen on", &socket))?;
        restrict(&socket, 0o600)?;
        let ours = socket_id(&socket);
        info!(socket = %socket.display(), "node agent listening");
        let poller = {
            let agent = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(agent.config.bundle.poll_interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let a = agent.clone();
                    match tokio::task::spawn_blocking(move || a.poll()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            agent.engine.metrics.reload_errors.inc();
                            warn!("bundle not taken: {e}");
                        }
                        Err(e) => error!("bundle poll failed: {e}"),
                    }
                }
            })
        };
        let metrics_server = self
            .config
            .metrics_listen
            .map(|addr| tokio::spawn(serve_metrics(addr, self.engine.metrics.clone())));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let agent = self.clone();
                        tokio::spawn(async move { agent.connection(stream).await });
                    }
                    Err(e) => warn!("accept failed: {e}"),
                },
                () = &mut shutdown => break,
            }
        }
        poller.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        // Only the socket this agent made: a newer agent may have replaced it.
        if ours.is_some() && socket_id(&socket) == ours {
            let _ = std::fs::remove_file(&socket);
        }
        Ok(())
    }

    async fn connection(&self, stream: tokio::net::UnixStream) {
        use tokio::io::AsyncReadExt;
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        loop {
            let mut line = Vec::new();
            match (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)
                .await
            {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let too_long = line.len() > MAX_LINE;
            let response = if too_long {
                Response {
                    allow: false,
                    reason: format!("request longer than {MAX_LINE} bytes"),
                    bundle_version: self.version(),
                }
            } else {
                match serde_json::from_slice::<Request>(&line) {
                    Ok(req) => {
                        let r = self.decide(&req).await;
                        info!(name = %req.name, digest = %req.digest, allow = r.allow, reason = %r.reason, "pull decision");
                        r
                    }
                    Err(e) => Response {
                        allow: false,
                        reason: format!("malformed request: {e}"),
                        bundle_version: self.version(),
                    },
                }
            };
            let mut out = serde_json::to_vec(&response).unwrap_or_default();
            out.push(b'\n');
            if write.write_all(&out).await.is_err() || too_long {
                break;
            }
        }
    }
}

async fn serve_metrics(addr: SocketAddr, metrics: Arc<Metrics>) {
    use tokio::io::AsyncReadExt;
    let Ok(listener) = tokio::net::TcpListener::bind(addr).await else {
        error!(%addr, "cannot listen for /metrics");
        return;
    };
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
            let body = metrics.encode();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}

fn describe(check: &ImageCheck) -> String {
    match &check.outcome {
        admission::engine::Outcome::Verified(v) => format!(
            "verified (signature {}, signer {}, policy {})",
            v.signature,
            v.subject.as_deref().unwrap_or("-"),
            check.policy.as_deref().unwrap_or("-")
        ),
        admission::engine::Outcome::Exempt(r) => format!("not checked: {r}"),
        admission::engine::Outcome::Failed(r) | admission::engine::Outcome::Unavailable(r, _) => r.clone(),
    }
}

fn to_time(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The socket file's (device, inode).
#[cfg(unix)]
fn socket_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn socket_id(_: &Path) -> Option<(u64, u64)> {
    None
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), AgentError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io("restrict", path))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> Result<(), AgentError> {
    Ok(())
}

/// Runs the agent described by `path` until SIGTERM or Ctrl-C.
pub fn run(path: &Path) -> Result<(), AgentError> {
    let config = NodeConfig::load(path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("signet-node")
        .build()
        .map_err(io("start the runtime for", path))?;
    let agent = Arc::new(Agent::new(config)?);
    runtime.block_on(async move {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let shutdown = async {
            let term = async {
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! { () = shutdown => {}, () = term => {} }
        };
        agent.serve(shutdown).await
    })
}
