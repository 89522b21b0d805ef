//! Real OCI registries on loopback, for tests that push, pull and sign.
//!
//! Two kinds, both real registries started as child processes:
//!
//! - [`Kind::Referrers`]: `signet-ocireg` (our small Go program in
//!   `scripts/peers/signet-ocireg`, built by `./scripts/install-peers` into
//!   [`peers_bin`]): go-containerregistry's `pkg/registry` with the OCI 1.1
//!   referrers API (`GET /v2/<name>/referrers/<digest>`) switched on.
//! - [`Kind::Distribution`]: Debian's `docker-registry` (distribution 2.8,
//!   `/usr/bin/docker-registry`), which has no referrers API: clients fall
//!   back to the `sha256-<hex>` tag schema.
//!
//! [`Options`] add TLS (a CA generated per registry; [`Registry::ca_file`])
//! and authentication: HTTP basic auth (both kinds) or, for distribution, the
//! Docker token flow against a token server testkit runs in-process (ES256
//! JWTs with an `x5c` header). [`Registry::request_count`] counts what the
//! registry served (from its log), not counting start-up probes and
//! [`Registry::seed_image`]. Dropping a [`Registry`] kills the process and
//! removes its files.

use std::{
    collections::HashSet,
    fs::File,
    io,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    digest,
    rand::{SecureRandom, SystemRandom},
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

use crate::httpd;

pub use crate::notation::peers_bin;

/// Where Debian's `docker-registry` is installed.
pub const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
/// The `service` the distribution registry and the token server agree on.
pub const TOKEN_SERVICE: &str = "signet-test";
/// The `iss` of the tokens the token server issues.
pub const TOKEN_ISSUER: &str = "signet-testkit";
/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The `Accept` header [`Registry::request`] sends for manifests: without
/// it, distribution 2.8 answers 404 for an OCI manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// Which registry to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `signet-ocireg`: go-containerregistry's registry with the OCI 1.1 referrers API.
    Referrers,
    /// Debian `docker-registry` 2.8 (distribution v2), no referrers API:
    /// clients use the `sha256-<hex>` tag fallback.
    Distribution,
}

/// How to run it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve HTTPS with a certificate for `127.0.0.1` and `localhost` issued
    /// by a fresh CA ([`Registry::ca_file`]).
    pub tls: bool,
    pub auth: Auth,
}

/// Authentication the registry demands.
#[derive(Debug, Clone, Default)]
pub enum Auth {
    #[default]
    None,
    /// HTTP basic auth on every request, `/v2/` included.
    Basic { username: String, password: String },
    /// Distribution only: `auth: token` with a token server testkit runs,
    /// which checks these credentials (HTTP basic auth on
    /// `GET /token?service=…&scope=…`, or an OAuth2 password grant on
    /// `POST /token`). A password grant with `access_type=offline` also
    /// returns a `refresh_token`; `POST /token` with
    /// `grant_type=refresh_token` and a refresh token it issued (or one from
    /// [`Registry::issue_refresh_token`]) returns an access token for the
    /// requested scope, and an unknown one is refused with 401
    /// (`invalid_grant`).
    Token { username: String, password: String },
}

/// An image [`Registry::seed_image`] pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededImage {
    /// `sha256:<hex>` of the image manifest.
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: u64,
    /// [`OCI_MANIFEST`].
    pub media_type: String,
    /// `host/repo@digest`.
    pub reference: String,
}

/// A response from [`Registry::request`].
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running registry; dropping it kills the process and removes its files.
pub struct Registry {
    kind: Kind,
    host: String,
    child: Child,
    dir: tempfile::TempDir,
    ca_file: Option<PathBuf>,
    credentials: Option<(String, String)>,
    token_server: Option<TokenServer>,
    client: reqwest::blocking::Client,
    /// Log lines written by start-up probes and seeding, not counted.
    uncounted: AtomicUsize,
}

impl Registry {
    /// Starts a registry of `kind` on a free loopback port and waits until
    /// `GET /v2/` answers (401 counts). Panics, naming the path tried and
    /// how to install it, when the registry binary is missing.
    pub fn start(kind: Kind, opts: Options) -> Registry {
        if matches!(opts.auth, Auth::Token { .. }) {
            assert!(
                kind == Kind::Distribution,
                "Auth::Token is only supported with Kind::Distribution"
            );
        }
        let binary = binary(kind);
        let dir = tempfile::Builder::new()
            .prefix("signet-registry-")
            .tempdir()
            .expect("registry temp dir");
        let tls = opts.tls.then(|| crate::tls::server(dir.path(), ""));
        let credentials = match &opts.auth {
            Auth::None => None,
            Auth::Basic { username, password } | Auth::Token { username, password } => {
                Some((username.clone(), password.clone()))
            }
        };
        let token_server = match &opts.auth {
            Auth::Token { username, password } => Some(TokenServer::start(username, password)),
            _ => None,
        };
        let client = client(tls.as_ref().map(|t| t.ca_pem.as_str()));
        let scheme = if opts.tls { "https" } else { "http" };

        let mut last_failure = String::new();
        for _attempt in 0..5 {
            let spawned = match kind {
                Kind::Referrers => spawn_ocireg(&binary, dir.path(), tls.as_ref(), &opts.auth),
                Kind::Distribution => spawn_distribution(
                    &binary,
                    dir.path(),
                    tls.as_ref(),
                    &opts.auth,
                    token_server.as_ref(),
                ),
            };
            let (mut child, host) = match spawned {
                Ok(x) => x,
                Err(e) => {
                    last_failure = e;
                    continue;
                }
            };
            let instance = (kind == Kind::Distribution).then(|| dir.path().display().to_string());
            match wait_ready(&client, scheme, &host, &mut child, instance.as_deref()) {
                Ok(()) => {
                    let registry = Registry {
                        kind,
                        host,
                        child,
                        ca_file: tls.as_ref().map(|t| t.ca_file.clone()),
                        dir,
                        credentials,
                        token_server,
                        client,
                        uncounted: AtomicUsize::new(0),
                    };
                    registry.settle_uncounted();
                    return registry;
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_failure = format!("{e}\n{}", read_logs(dir.path()));
                }
            }
        }
        panic!(
            "{} ({}) did not start: {last_failure}",
            binary.display(),
            match kind {
                Kind::Referrers => "signet-ocireg",
                Kind::Distribution => "docker-registry",
            }
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.ca_file.is_some() { "https" } else { "http" }
    }

    /// PEM of the CA that issued the server certificate (SANs IP 127.0.0.1
    /// and DNS localhost), when TLS is on.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// The username and password basic or token auth checks.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Pushes a small image of its own (a random 512-byte layer, an OCI image
    /// config, an OCI image manifest) to `repo`, tagged `tag`.
    pub fn seed_image(&self, repo: &str, tag: &str) -> SeededImage {
        let mut layer = vec![0u8; 512];
        SystemRandom::new().fill(&mut layer).expect("random layer");
        self.seed_with_layer(repo, tag, &layer, "amd64")
    }

    /// Pushes `layer` (as `application/vnd.oci.image.layer.v1.tar`), a
    /// `linux`/`arch` config naming it, and the manifest, tagged `tag`.
    fn seed_with_layer(&self, repo: &str, tag: &str, layer: &[u8], arch: &str) -> SeededImage {
        let layer_digest = self.push_blob(repo, layer);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))
        .unwrap();
        let config_digest = self.push_blob(repo, &config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": [{
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": layer_digest,
                "size": layer.len(),
            }],
        }))
        .unwrap();
        let digest = self.push_manifest(repo, tag, OCI_MANIFEST, &manifest);
        SeededImage {
            reference: format!("{}/{repo}@{digest}", self.host),
            digest,
            size: manifest.len() as u64,
            media_type: OCI_MANIFEST.to_string(),
        }
    }

    /// Pushes an image a real client can pull *and unpack* (containerd's
    /// `ctr image pull` does both) to `repo`, tagged `tag`: one uncompressed
    /// tar layer (`application/vnd.oci.image.layer.v1.tar`) holding a single
    /// file of random content, so every call makes a distinct image, and an
    /// OCI image config for `linux` on this machine's architecture
    /// ([`oci_arch`]) whose `diff_ids` name that layer. [`Registry::seed_image`]
    /// is not unpackable: its layer is 512 random bytes, not a tar.
    pub fn seed_pullable_image(&self, repo: &str, tag: &str) -> SeededImage {
        let mut nonce = [0u8; 16];
        SystemRandom::new().fill(&mut nonce).expect("random content");
        let layer = tar_of_one_file("signet-seed.txt", format!("{}\n", hex::encode(nonce)).as_bytes());
        self.seed_with_layer(repo, tag, &layer, oci_arch())
    }

    /// Uploads `bytes` as a blob of `repo` (POST then PUT); returns its
    /// digest. Not counted by [`Registry::request_count`].
    pub fn push_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let before = self.logged_requests();
        let digest = sha256_digest(bytes);
        let started = self.send(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            repo,
            None,
            Vec::new(),
        );
        assert_eq!(started.status, 202, "start upload to {repo}: {started:?}");
        let location = started.header("location").expect("upload Location").to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let done = self.send(
            "PUT",
            &put,
            repo,
            Some("application/octet-stream"),
            bytes.to_vec(),
        );
        assert_eq!(done.status, 201, "finish upload of {digest} to {repo}: {done:?}");
        self.uncount_since(before);
        digest
    }

    /// Puts a manifest under `reference` (tag or digest); returns its digest.
    /// Not counted by [`Registry::request_count`].
    pub fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> String {
        let before = self.logged_requests();
        let digest = sha256_digest(bytes);
        let put = self.send(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            repo,
            Some(media_type),
            bytes.to_vec(),
        );
        assert_eq!(put.status, 201, "push manifest {reference} to {repo}: {put:?}");
        if let Some(d) = put.header("docker-content-digest") {
            assert_eq!(d, digest, "registry digest of the manifest pushed to {repo}");
        }
        self.uncount_since(before);
        digest
    }

    /// One request with the registry's credentials (basic auth, or a token
    /// minted for `repository:<repo>:pull,push` when the path names a
    /// repository): for tests checking what a client left in the registry.
    /// Counted by [`Registry::request_count`].
    pub fn request(&self, method: &str, path: &str) -> Reply {
        let repo = repo_of(path).unwrap_or_default();
        self.send(method, path, &repo, None, Vec::new())
    }

    fn send(
        &self,
        method: &str,
        path_or_url: &str,
        repo: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}://{}{path_or_url}", self.scheme(), self.host)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
        let mut req = self.client.request(method, &url);
        if url.contains("/manifests/") {
            req = req.header("Accept", MANIFEST_ACCEPT);
        }
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        req = match (&self.credentials, &self.token_server) {
            (Some((u, p)), None) => req.basic_auth(u, Some(p)),
            (Some((u, _)), Some(ts)) => {
                let scopes = if repo.is_empty() {
                    Vec::new()
                } else {
                    vec![format!("repository:{repo}:pull,push,delete")]
                };
                req.bearer_auth(ts.signer.mint(u, &scopes))
            }
            _ => req,
        };
        let resp = req.body(body).send().unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).to_string()))
            .collect();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// How many requests the registry has served, from its log
    /// (`signet-ocireg`'s stderr, `docker-registry`'s access log), not
    /// counting start-up probes and [`Registry::seed_image`] /
    /// [`Registry::push_blob`] / [`Registry::push_manifest`].
    ///
    /// `signet-ocireg` logs a request before it sends the response, so the
    /// count is exact; `docker-registry` logs just after, so for it this waits
    /// until the log has been quiet for 50 ms.
    pub fn request_count(&self) -> usize {
        self.logged_requests()
            .saturating_sub(self.uncounted.load(Ordering::SeqCst))
    }

    /// Requests the token server answered (0 unless [`Auth::Token`]), every
    /// grant type included. [`Registry::issue_refresh_token`] is not a request.
    pub fn token_request_count(&self) -> usize {
        self.token_server
            .as_ref()
            .map_or(0, |t| t.requests.load(Ordering::SeqCst))
    }

    /// A refresh token the token server accepts for `grant_type=refresh_token`
    /// (what `docker login` stores as `identitytoken`), for the registry's
    /// user. Panics unless the registry runs with [`Auth::Token`].
    pub fn issue_refresh_token(&self) -> String {
        self.token_server
            .as_ref()
            .expect("issue_refresh_token needs Auth::Token")
            .issue_refresh_token()
    }

    /// The directory holding the registry's config, storage and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The registry's logs so far (for failure messages).
    pub fn logs(&self) -> String {
        read_logs(self.dir.path())
    }

    fn logged_requests(&self) -> usize {
        match self.kind {
            Kind::Referrers => count_log_lines(self.kind, self.dir.path()),
            Kind::Distribution => {
                let mut last = count_log_lines(self.kind, self.dir.path());
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let now = count_log_lines(self.kind, self.dir.path());
                    if now == last {
                        return now;
                    }
                    last = now;
                }
            }
        }
    }

    /// Start-up: nothing so far is counted.
    fn settle_uncounted(&self) {
        self.uncounted.store(self.logged_requests(), Ordering::SeqCst);
    }

    /// Our own requests since `before` (a [`Registry::logged_requests`]) are not counted.
    fn uncount_since(&self, before: usize) {
        let now = self.logged_requests();
        self.uncounted
            .fetch_add(now.saturating_sub(before), Ordering::SeqCst);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The registry binary of `kind`; panics naming the path and the install step.
fn binary(kind: Kind) -> PathBuf {
    binary_in(&peers_bin(), Path::new(DOCKER_REGISTRY), kind)
}

fn binary_in(peers: &Path, docker_registry: &Path, kind: Kind) -> PathBuf {
    match kind {
        Kind::Referrers => {
            let path = peers.join("signet-ocireg");
            assert!(
                path.is_file(),
                "signet-ocireg not found at {}: run ./scripts/install-peers (it builds scripts/peers/signet-ocireg; \
                 or point SIGNET_PEERS_BIN at the directory holding it)",
                path.display()
            );
            path
        }
        Kind::Distribution => {
            let path = docker_registry.to_path_buf();
            assert!(
                path.is_file(),
                "docker-registry (distribution 2.8) not found at {}: run `apt-get install docker-registry` \
                 (./scripts/test installs it)",
                path.display()
            );
            path
        }
    }
}

/// The repository a `/v2/<name>/(manifests|blobs|tags|referrers)/…` path names.
fn repo_of(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let i = parts
        .iter()
        .rposition(|p| matches!(*p, "manifests" | "blobs" | "tags" | "referrers"))?;
    (i > 0).then(|| parts[..i].join("/"))
}

/// This machine's architecture as OCI names it (`amd64`, `arm64`, …).
pub fn oci_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// A POSIX ustar archive holding one regular file `name` (mode 0644) with
/// `contents`, closed by the two zero blocks.
fn tar_of_one_file(name: &str, contents: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100, "tar name too long: {name}");
    let mut header = [0u8; 512];
    let mut put = |offset: usize, field: &[u8]| header[offset..offset + field.len()].copy_from_slice(field);
    put(0, name.as_bytes());
    put(100, b"0000644\0");
    put(108, b"0000000\0");
    put(116, b"0000000\0");
    put(124, format!("{:011o}\0", contents.len()).as_bytes());
    put(136, b"00000000000\0");
    put(148, b"        ");
    put(156, b"0");
    put(257, b"ustar\0");
    put(263, b"00");
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(contents);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(digest::digest(&digest::SHA256, bytes)))
}

fn client(ca_pem: Option<&str>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = ca_pem {
        let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("registry CA");
        builder = builder.tls_certs_only([ca]);
    }
    builder.build().expect("HTTP client")
}

fn spawn_ocireg(
    binary: &Path,
    dir: &Path,
    tls: Option<&crate::tls::TlsFiles>,
    auth: &Auth,
) -> Result<(Child, String), String> {
    let addr_file = dir.join("addr");
    let _ = std::fs::remove_file(&addr_file);
    let blobs = dir.join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let mut cmd = Command::new(binary);
    cmd.arg("--addr")
        .arg("127.0.0.1:0")
        .arg("--addr-file")
        .arg(&addr_file)
        .arg("--blob-dir")
        .arg(&blobs);
    if let Some(t) = tls {
        cmd.arg("--tls-cert")
            .arg(&t.cert_file)
            .arg("--tls-key")
            .arg(&t.key_file);
    }
    if let Auth::Basic { username, password } = auth {
        cmd.arg("--user").arg(username).arg("--password").arg(password);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(dir.join("requests.log")).unwrap());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            return Ok((child, text.trim().to_string()));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("signet-ocireg exited with {status}\n{}", read_logs(dir)));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("signet-ocireg did not write its address within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn spawn_distribution(
    binary: &Path,
    dir: &Path,
    tls: Option<&crate::tls::TlsFiles>,
    auth: &Auth,
    token_server: Option<&TokenServer>,
) -> Result<(Child, String), String> {
    let port = crate::revocation::free_port();
    let host = format!("127.0.0.1:{port}");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut secret = [0u8; 16];
    SystemRandom::new().fill(&mut secret).unwrap();
    let instance = dir.display().to_string();
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: false\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {host}\n  secret: {}\n  headers:\n    {INSTANCE_HEADER}: [\"{instance}\"]\n",
        data.display(),
        hex::encode(secret)
    );
    if let Some(t) = tls {
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            t.cert_file.display(),
            t.key_file.display()
        ));
    }
    match auth {
        Auth::None => {}
        Auth::Basic { username, password } => {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            let path = dir.join("htpasswd");
            std::fs::write(&path, format!("{username}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: signet-test\n    path: {}\n",
                path.display()
            ));
        }
        Auth::Token { .. } => {
            let ts = token_server.expect("token server");
            let bundle = dir.join("token-signer.pem");
            std::fs::write(&bundle, &ts.signer.cert_pem).unwrap();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    \
                 issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                ts.server.addr(),
                bundle.display()
            ));
        }
    }
    let config_path = dir.join("config.yml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = Command::new(binary);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("serve")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(File::create(dir.join("access.log")).unwrap())
        .stderr(File::create(dir.join("registry.log")).unwrap());
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    Ok((child, host))
}

/// docker-registry adds this header (`http.headers`) with its temp dir as
/// value, so start-up knows the answer on a port picked up front came from
/// this process and not another one that took the port.
const INSTANCE_HEADER: &str = "X-Signet-Instance";

fn wait_ready(
    client: &reqwest::blocking::Client,
    scheme: &str,
    host: &str,
    child: &mut Child,
    instance: Option<&str>,
) -> Result<(), String> {
    let url = format!("{scheme}://{host}/v2/");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the registry exited with {status} before answering {url}"
            ));
        }
        match client.get(&url).timeout(Duration::from_secs(2)).send() {
            Ok(r) if matches!(r.status().as_u16(), 200 | 401) => {
                let theirs = r.headers().get(INSTANCE_HEADER).and_then(|v| v.to_str().ok());
                if instance.is_none() || theirs == instance {
                    return Ok(());
                }
                return Err(format!("{url} is answered by another server (port taken)"));
            }
            Ok(r) => last = format!("GET {url} answered {}", r.status()),
            Err(e) => last = format!("GET {url}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(format!("no answer from {url} within 20 s (last: {last})"))
}

fn read_logs(dir: &Path) -> String {
    ["requests.log", "registry.log", "access.log"]
        .iter()
        .filter_map(|f| {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .map(|t| format!("--- {f}\n{t}"))
        })
        .collect()
}

fn count_log_lines(kind: Kind, dir: &Path) -> usize {
    let (file, is_request): (&str, fn(&str) -> bool) = match kind {
        Kind::Referrers => ("requests.log", |l| l.starts_with("signet-ocireg: ")),
        Kind::Distribution => ("access.log", |l| l.contains(" HTTP/")),
    };
    std::fs::read_to_string(dir.join(file))
        .map(|t| t.lines().filter(|l| is_request(l)).count())
        .unwrap_or(0)
}

/// The key and self-signed certificate the token server signs with; the
/// certificate is the registry's `rootcertbundle`.
struct TokenSigner {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    cert_pem: String,
}

impl TokenSigner {
    fn new() -> TokenSigner {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("token key");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "signet-testkit token signer");
        let cert = params.self_signed(&key).expect("token certificate");
        TokenSigner {
            key: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der())
                .expect("token key (PKCS#8)"),
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
        }
    }

    /// An ES256 JWT for `subject` granting each `type:name:actions` scope.
    fn mint(&self, subject: &str, scopes: &[String]) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .filter_map(|s| {
                let (ty, rest) = s.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                let actions: Vec<&str> = actions.split(',').filter(|a| !a.is_empty()).collect();
                Some(serde_json::json!({"type": ty, "name": name, "actions": actions}))
            })
            .collect();
        let mut jti = [0u8; 16];
        SystemRandom::new().fill(&mut jti).unwrap();
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.cert_der)],
        });
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": TOKEN_SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": hex::encode(jti),
            "access": access,
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign token");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

/// The Docker token server: `GET /token` with HTTP basic auth, or
/// `POST /token` with an OAuth2 password or refresh-token grant.
struct TokenServer {
    server: httpd::Server,
    signer: Arc<TokenSigner>,
    requests: Arc<AtomicUsize>,
    refresh_tokens: Arc<RefreshTokens>,
}

/// The refresh tokens the token server issued (all for its one user).
#[derive(Default)]
struct RefreshTokens(Mutex<HashSet<String>>);

impl RefreshTokens {
    fn issue(&self) -> String {
        let mut raw = [0u8; 24];
        SystemRandom::new().fill(&mut raw).unwrap();
        let token = format!("signet-refresh-{}", hex::encode(raw));
        self.0.lock().unwrap().insert(token.clone());
        token
    }

    fn knows(&self, token: &str) -> bool {
        self.0.lock().unwrap().contains(token)
    }
}

impl TokenServer {
    fn start(username: &str, password: &str) -> TokenServer {
        let signer = Arc::new(TokenSigner::new());
        let requests = Arc::new(AtomicUsize::new(0));
        let refresh_tokens = Arc::new(RefreshTokens::default());
        let (s, r, rt) = (
            Arc::clone(&signer),
            Arc::clone(&requests),
            Arc::clone(&refresh_tokens),
        );
        let (user, pass) = (username.to_string(), password.to_string());
        let server = httpd::Server::start("token server", 32, move |mut conn, stop: &AtomicBool| {
            let Ok(req) = httpd::read_request(&mut conn, stop, Duration::from_secs(10)) else {
                return;
            };
            r.fetch_add(1, Ordering::SeqCst);
            let _ = answer_token(&mut conn, &req, &s, &rt, &user, &pass);
        });
        TokenServer {
            server,
            signer,
            requests,
            refresh_tokens,
        }
    }

    fn issue_refresh_token(&self) -> String {
        self.refresh_tokens.issue()
    }
}

fn answer_token(
    conn: &mut TcpStream,
    req: &httpd::Request,
    signer: &TokenSigner,
    refresh_tokens: &RefreshTokens,
    user: &str,
    pass: &str,
) -> io::Result<()> {
    let json = "application/json";
    if req.path() != "/token" {
        return httpd::respond(
            conn,
            &req.method,
            404,
            json,
            &[],
            br#"{"errors":[{"code":"NOT_FOUND"}]}"#,
        );
    }
    // A password grant with `access_type=offline` also gets a refresh token.
    let mut offline = false;
    let (params, creds) = match req.method.as_str() {
        "GET" => {
            let params = form_params(req.query());
            let creds = req
                .header("authorization")
                .and_then(|h| h.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
            (params, creds)
        }
        "POST" => {
            let params = form_params(&String::from_utf8_lossy(&req.body));
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let bad_request =
                |conn: &mut TcpStream, body: &[u8]| httpd::respond(conn, "POST", 400, json, &[], body);
            // The spec makes `service` and `client_id` required on every POST.
            if get("service").is_none() || get("client_id").is_none_or(|c| c.is_empty()) {
                return bad_request(
                    conn,
                    br#"{"error":"invalid_request","error_description":"service and client_id are required"}"#,
                );
            }
            let creds = match get("grant_type").as_deref() {
                Some("password") => {
                    offline = get("access_type").as_deref() == Some("offline");
                    get("username").zip(get("password"))
                }
                Some("refresh_token") => {
                    let Some(refresh) = get("refresh_token") else {
                        return bad_request(
                            conn,
                            br#"{"error":"invalid_request","error_description":"refresh_token is required"}"#,
                        );
                    };
                    if !refresh_tokens.knows(&refresh) {
                        return httpd::respond(
                            conn,
                            "POST",
                            401,
                            json,
                            &[],
                            br#"{"error":"invalid_grant","error_description":"unknown refresh token","errors":[{"code":"UNAUTHORIZED","message":"unknown refresh token"}]}"#,
                        );
                    }
                    Some((user.to_string(), pass.to_string()))
                }
                _ => return bad_request(conn, br#"{"error":"unsupported_grant_type"}"#),
            };
            (params, creds)
        }
        _ => return httpd::respond(conn, &req.method, 405, json, &[], b"{}"),
    };
    if creds.as_ref().map(|(u, p)| (u.as_str(), p.as_str())) != Some((user, pass)) {
        return httpd::respond(
            conn,
            &req.method,
            401,
            json,
            &[(
                "WWW-Authenticate",
                "Basic realm=\"signet-testkit token server\"".to_string(),
            )],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
        );
    }
    // GET repeats `scope`; the OAuth2 form separates scopes with spaces.
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    let token = signer.mint(user, &scopes);
    let issued_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let mut body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": 300,
        "issued_at": issued_at,
    });
    if offline {
        body["refresh_token"] = refresh_tokens.issue().into();
    }
    httpd::respond(conn, &req.method, 200, json, &[], body.to_string().as_bytes())
}

/// `a=b&c=d` with percent-decoding and `+` as space.
fn form_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_of_paths() {
        assert_eq!(repo_of("/v2/a/b/manifests/v1").as_deref(), Some("a/b"));
        assert_eq!(repo_of("/v2/x/referrers/sha256:00").as_deref(), Some("x"));
        assert_eq!(repo_of("/v2/"), None);
    }

    #[test]
    #[should_panic(
        expected = "signet-ocireg not found at /nonexistent/signet-ocireg: run ./scripts/install-peers"
    )]
    fn missing_ocireg_panics_loudly() {
        binary_in(
            Path::new("/nonexistent"),
            Path::new(DOCKER_REGISTRY),
            Kind::Referrers,
        );
    }

    #[test]
    #[should_panic(expected = "docker-registry (distribution 2.8) not found at /nonexistent/docker-registry")]
    fn missing_docker_registry_panics_loudly() {
        binary_in(
            Path::new("/nonexistent"),
            Path::new("/nonexistent/docker-registry"),
            Kind::Distribution,
        );
    }

    #[test]
    fn one_file_tar_is_what_tar_reads() {
        let tar = tar_of_one_file("a.txt", b"hello\n");
        assert_eq!(tar.len(), 512 * 4);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.tar");
        std::fs::write(&path, &tar).unwrap();
        let listed = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&path)
            .output()
            .expect("run tar");
        assert!(listed.status.success(), "{listed:?}");
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(
            text.contains("-rw-r--r--") && text.contains(" 6 ") && text.ends_with("a.txt\n"),
            "{text}"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
            "repository:a/b:pull,push"
        );
        assert_eq!(percent_decode("a+b%"), "a b%");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn token_is_a_verifiable_es256_jwt() {
        let signer = TokenSigner::new();
        let token = signer.mint("alice", &["repository:a/b:pull,push".to_string()]);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["access"][0]["name"], "a/b");
        assert_eq!(claims["access"][0]["actions"][1], "push");
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert_eq!(sig.len(), 64, "raw r||s");
        let public = aws_lc_rs::signature::KeyPair::public_key(&signer.key);
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            public.as_ref(),
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .unwrap();
    }
}
