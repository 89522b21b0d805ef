//! The HTTP side of the registry client: transport (TLS, timeouts), the
//! authentication dance, bounded body reads and error messages.
//!
//! Authentication follows what docker and oras do, with two rules of our own:
//!
//! * learn once, then send up front: after the first 401 from a registry its
//!   challenge is remembered, and every later request carries the credential
//!   (Basic) or a cached token for its scope (Bearer), so verifying an image
//!   costs one challenge per registry, not one per request;
//! * never loop: a request is retried at most once with fresh credentials;
//!   a second 401 is [`Error::Unauthorized`] with what to do about it.
//!
//! Credentials are never sent over plain HTTP to a host that is neither
//! loopback nor listed in [`ClientConfig::insecure_registries`]; the
//! `Authorization` header is dropped when a redirect leaves the origin (blob
//! downloads are redirected to object storage).
//!
//! The interface is blocking; the HTTP underneath (see [`super::transport`])
//! is async, driven on the calling thread. Works from any thread that is not
//! itself driving async tasks — the services call it from `spawn_blocking`.

use std::{
    collections::{HashMap, HashSet},
    fs,
    io::Read,
    net::IpAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use base64::Engine;
use reqwest::{Method, StatusCode, Url, header};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use thread_local::ThreadLocal;
use tracing::debug;

use super::{
    auth::{Challenge, Credential, CredentialStore, parse_challenge},
    reference::{DOCKER_HUB, Reference},
    repository::Repository,
    transport::{Local, Payload, Response},
};
use crate::Error;

/// The largest token server answer read.
const MAX_TOKEN_RESPONSE: u64 = 1024 * 1024;
/// The largest CA file read.
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;
/// The largest error body read (for its message).
const MAX_ERROR_BODY: u64 = 64 * 1024;
/// How long a token without `expires_in` is used.
const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(60);
/// The longest registry message quoted in an error.
const MAX_MESSAGE_CHARS: usize = 512;

/// How a [`Client`] reaches registries.
#[derive(Clone)]
pub struct ClientConfig {
    /// Registries (`host:port`) reached over plain HTTP (notation's
    /// `--insecure-registry`); every other one over HTTPS.
    pub insecure_registries: Vec<String>,
    /// Extra PEM root certificates, trusted on top of the system roots.
    pub ca_files: Vec<PathBuf>,
    /// Where credentials come from; `None` is anonymous only.
    pub credentials: Option<Arc<dyn CredentialStore>>,
    /// The most one request (connect, send, read the answer) may take.
    pub timeout: Duration,
    /// The most connecting may take.
    pub connect_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            ca_files: Vec::new(),
            credentials: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            user_agent: format!("signet/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientConfig {
    /// What the services' configuration files give (the admission
    /// webhook's `registry:`, a signing profile's `push:`): plain-HTTP
    /// registries, extra roots, credentials from the docker `config.json`
    /// in `docker_config_dir` (anonymous without one), and one timeout for
    /// connecting and for each request.
    pub fn from_service_config(
        insecure_registries: &[String],
        ca_files: &[PathBuf],
        docker_config_dir: Option<&std::path::Path>,
        timeout: Duration,
        user_agent: &str,
    ) -> Self {
        let credentials = docker_config_dir.map(|dir| {
            Arc::new(super::DockerConfig::open(dir.join("config.json"))) as Arc<dyn CredentialStore>
        });
        Self {
            insecure_registries: insecure_registries.to_vec(),
            ca_files: ca_files.to_vec(),
            credentials,
            timeout,
            connect_timeout: timeout,
            user_agent: user_agent.to_owned(),
        }
    }
}

/// A registry client. One per process: clones share the connection pool, the
/// learned challenges, the token cache and the referrers capability of each
/// repository.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Each calling thread's runtime and HTTP clients.
    local: ThreadLocal<Arc<Local>>,
    /// The TLS configuration of every thread's `https://` client: the system
    /// roots plus the CA files, built on first use — loading the system
    /// roots costs more than a whole verify against a plain-HTTP registry —
    /// and shared, so that the roots are loaded once per process.
    tls_config: OnceLock<Arc<rustls::ClientConfig>>,
    extra_roots: Vec<CertificateDer<'static>>,
    pub(super) user_agent: String,
    pub(super) connect_timeout: Duration,
    insecure: HashSet<String>,
    credentials: Option<Arc<dyn CredentialStore>>,
    pub(super) timeout: Duration,
    /// HTTP requests sent (redirects and resends included).
    pub(super) requests: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The challenge each registry answered with, once it did.
    challenges: HashMap<String, Challenge>,
    /// Bearer tokens by (registry, scope), with when to stop using them.
    tokens: HashMap<(String, String), (String, Instant)>,
    /// Credentials looked up so far (a helper is run once per registry).
    credentials: HashMap<String, Option<Credential>>,
    /// Whether the referrers API answered, by `registry/repository`.
    referrers: HashMap<String, bool>,
    /// `scheme://host/` by registry, parsed once: a URL's host is the costly
    /// part to parse (IDNA), and a verify sends several requests per registry.
    bases: HashMap<String, Url>,
}

/// What a request needs from the registry: read, or read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Pull,
    Push,
}

/// One request to a registry, rebuilt for the credentialed retry.
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub registry: &'a str,
    /// `repository:<name>:pull[,push]`, or `None` for `/v2/`.
    pub scope: Option<String>,
    pub headers: Vec<(header::HeaderName, String)>,
    pub body: Payload,
}

/// How a request was authorised.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sent {
    Anonymous,
    Basic,
    Bearer,
}

impl Client {
    /// Builds a client: rustls with the system roots plus `config.ca_files`.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let mut certs = Vec::new();
        for path in &config.ca_files {
            let mut pem = Vec::new();
            fs::File::open(path)
                .and_then(|f| f.take(MAX_CA_FILE + 1).read_to_end(&mut pem))
                .map_err(|e| Error::io("read", path, e))?;
            if pem.len() as u64 > MAX_CA_FILE {
                return Err(Error::Config(format!(
                    "{}: larger than 4 MiB, not a CA file",
                    path.display()
                )));
            }
            let found = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    Error::Config(format!("{}: not a PEM certificate bundle: {e}", path.display()))
                })?;
            if found.is_empty() {
                return Err(Error::Config(format!(
                    "{}: no PEM certificate in it",
                    path.display()
                )));
            }
            certs.extend(found);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                local: ThreadLocal::new(),
                tls_config: OnceLock::new(),
                extra_roots: certs,
                user_agent: config.user_agent,
                connect_timeout: config.connect_timeout,
                insecure: config.insecure_registries.into_iter().collect(),
                credentials: config.credentials,
                timeout: config.timeout,
                requests: AtomicU64::new(0),
                state: Mutex::new(State::default()),
            }),
        })
    }

    /// The calling thread's runtime and clients, made on its first request.
    pub(super) fn local(&self) -> Result<Arc<Local>, Error> {
        self.inner
            .local
            .get_or_try(|| Local::new().map(Arc::new))
            .cloned()
    }

    /// The TLS configuration shared by every thread's `https://` client.
    pub(super) fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        if let Some(c) = self.inner.tls_config.get() {
            return Ok(c.clone());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = if self.inner.extra_roots.is_empty() {
            rustls_platform_verifier::Verifier::new(provider.clone())
        } else {
            rustls_platform_verifier::Verifier::new_with_extra_roots(
                self.inner.extra_roots.clone(),
                provider.clone(),
            )
        }
        .map_err(|e| Error::Config(format!("cannot load the system's root certificates: {e}")))?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("cannot configure TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(self.inner.tls_config.get_or_init(|| Arc::new(config)).clone())
    }

    /// The repository `reference` names, reached through this client.
    pub fn repository(&self, reference: &Reference) -> Repository {
        Repository::new(self.clone(), reference.clone())
    }

    /// HTTP requests sent so far, all of them: 401s and token requests included.
    pub fn request_count(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Checks `credential` against `registry` (`GET /v2/`, with the token flow
    /// when the registry asks for it). `Err(Error::Unauthorized)` when refused.
    pub fn login(&self, registry: &str, credential: &Credential) -> Result<(), Error> {
        {
            let mut st = self.state();
            st.credentials
                .insert(registry.to_owned(), Some(credential.clone()));
            st.tokens.retain(|(r, _), _| r != registry);
        }
        let url = self.url(registry, "/v2/")?;
        let resp = self.send(Request {
            method: Method::GET,
            url,
            registry,
            scope: None,
            headers: Vec::new(),
            body: Payload::None,
        })?;
        if resp.status().is_success() {
            // As `docker login`: a registry that does not ask for credentials
            // accepts the login too.
            return Ok(());
        }
        Err(self.status_error(registry, &Method::GET, resp))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain caches behind; keep going.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `registry` is reached over plain HTTP.
    pub(crate) fn is_insecure(&self, registry: &str) -> bool {
        self.inner.insecure.contains(registry)
    }

    /// `scheme://host/path` for `registry` (Docker Hub's API is at
    /// `registry-1.docker.io`); `path` may end in `?query`.
    pub(crate) fn url(&self, registry: &str, path: &str) -> Result<Url, Error> {
        let mut url = self.base_url(registry)?;
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        url.set_path(path);
        url.set_query(query);
        Ok(url)
    }

    /// `scheme://host/` for `registry`, parsed on first use.
    fn base_url(&self, registry: &str) -> Result<Url, Error> {
        if let Some(base) = self.state().bases.get(registry) {
            return Ok(base.clone());
        }
        let scheme = if self.is_insecure(registry) {
            "http"
        } else {
            "https"
        };
        let host = if registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            registry
        };
        let raw = format!("{scheme}://{host}/");
        let base = Url::parse(&raw).map_err(|e| Error::Protocol {
            registry: registry.to_owned(),
            reason: format!("cannot build URL {raw:?}: {e}"),
        })?;
        // Paths are set on this base: a "registry" that carried a path, query
        // or user of its own would lose it silently.
        if base.path() != "/" || base.query().is_some() || !base.username().is_empty() {
            return Err(Error::Protocol {
                registry: registry.to_owned(),
                reason: format!("{registry:?} is not a registry host"),
            });
        }
        self.state().bases.insert(registry.to_owned(), base.clone());
        Ok(base)
    }

    pub(crate) fn referrers_capability(&self, key: &str) -> Option<bool> {
        self.state().referrers.get(key).copied()
    }

    pub(crate) fn set_referrers_capability(&self, key: &str, supported: bool) {
        self.state().referrers.insert(key.to_owned(), supported);
    }

    /// The credential for `registry`, asked of the store once.
    fn credential(&self, registry: &str) -> Result<Option<Credential>, Error> {
        if let Some(c) = self.state().credentials.get(registry) {
            return Ok(c.clone());
        }
        let found = match &self.inner.credentials {
            Some(store) => store.get(registry)?,
            None => None,
        };
        self.state()
            .credentials
            .insert(registry.to_owned(), found.clone());
        Ok(found)
    }

    /// Sends `req`, authenticating as the registry asks (see the module docs).
    /// Any status other than 401 is returned for the caller to judge.
    pub(crate) fn send(&self, mut req: Request<'_>) -> Result<Response, Error> {
        let registry = req.registry;
        // A URL the registry handed out (upload location, pagination) on
        // another origin gets no credentials.
        if req.url.origin() != self.base_url(registry)?.origin() {
            let body = std::mem::replace(&mut req.body, Payload::None);
            return self.execute(&req, None, body);
        }
        let (auth, sent) = self.upfront_auth(registry, req.scope.as_deref())?;
        let streamed = matches!(req.body, Payload::Stream(..));
        let first_body = match &mut req.body {
            Payload::Bytes(b) => Payload::Bytes(b.clone()),
            Payload::Stream(..) => std::mem::replace(&mut req.body, Payload::None),
            Payload::None => Payload::None,
        };
        let resp = self.execute(&req, auth, first_body)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let status = resp.status();
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let message = self.error_message(resp);
        let Some(challenge) = challenge else {
            return Err(Error::Unauthorized {
                registry: registry.to_owned(),
                reason: format!(
                    "{} {}: {status} without a usable WWW-Authenticate challenge{}",
                    req.method,
                    req.url,
                    suffix(&message)
                ),
            });
        };
        self.state()
            .challenges
            .insert(registry.to_owned(), challenge.clone());
        let credential = self.credential(registry)?;
        // Basic credentials sent up front and refused will be refused again; a
        // streamed body cannot be sent twice.
        if sent == Sent::Basic || streamed {
            return Err(self.refused(registry, credential.is_some(), status, &message));
        }
        let auth = match &challenge {
            Challenge::Basic => match &credential {
                Some(Credential::Basic { username, password }) => {
                    self.check_plaintext(registry, &req.url)?;
                    basic_header(username, password)
                }
                Some(Credential::IdentityToken(_)) => {
                    return Err(Error::Unauthorized {
                        registry: registry.to_owned(),
                        reason: "the registry asks for a user name and password (Basic auth), but the stored credential is an identity token: log in again with a user name and password".into(),
                    });
                }
                None => return Err(self.refused(registry, false, status, &message)),
            },
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = req.scope.clone().or_else(|| scope.clone());
                self.state()
                    .tokens
                    .remove(&(registry.to_owned(), scope.clone().unwrap_or_default()));
                let token = self.fetch_token(
                    registry,
                    realm,
                    service.as_deref(),
                    scope.as_deref(),
                    credential.as_ref(),
                )?;
                bearer_header(&token)
            }
        };
        let body = std::mem::replace(&mut req.body, Payload::None);
        let resp = self.execute(&req, Some(auth), body)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let status = resp.status();
            let message = self.error_message(resp);
            return Err(self.refused(registry, credential.is_some(), status, &message));
        }
        Ok(resp)
    }

    /// The `Authorization` header to send before being asked, once the
    /// registry's challenge is known.
    fn upfront_auth(&self, registry: &str, scope: Option<&str>) -> Result<(Option<String>, Sent), Error> {
        let challenge = self.state().challenges.get(registry).cloned();
        match challenge {
            None => Ok((None, Sent::Anonymous)),
            Some(Challenge::Basic) => match self.credential(registry)? {
                Some(Credential::Basic { username, password }) => {
                    Ok((Some(basic_header(&username, &password)), Sent::Basic))
                }
                _ => Ok((None, Sent::Anonymous)),
            },
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = (registry.to_owned(), scope.unwrap_or_default().to_owned());
                let cached = self
                    .state()
                    .tokens
                    .get(&key)
                    .filter(|(_, until)| Instant::now() < *until)
                    .map(|(t, _)| t.clone());
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let credential = self.credential(registry)?;
                        self.fetch_token(registry, &realm, service.as_deref(), scope, credential.as_ref())?
                    }
                };
                Ok((Some(bearer_header(&token)), Sent::Bearer))
            }
        }
    }

    /// Asks the token server `realm` for a token for `scope`, and caches it.
    fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: Option<&str>,
        credential: Option<&Credential>,
    ) -> Result<String, Error> {
        let mut url = Url::parse(realm).map_err(|e| Error::Protocol {
            registry: registry.to_owned(),
            reason: format!("the token realm {realm:?} is not a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Protocol {
                registry: registry.to_owned(),
                reason: format!("the token realm {realm:?} is not an http(s) URL"),
            });
        }
        if credential.is_some() {
            self.check_plaintext(registry, &url)?;
        }
        let (method, body, auth) = match credential {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = Url::parse("x:").map_err(|e| Error::Config(e.to_string()))?;
                {
                    let mut q = form.query_pairs_mut();
                    q.append_pair("grant_type", "refresh_token");
                    q.append_pair("refresh_token", refresh);
                    q.append_pair("client_id", "signet");
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    if let Some(s) = scope {
                        q.append_pair("scope", s);
                    }
                }
                let body = form.query().unwrap_or_default().to_owned();
                (Method::POST, Payload::Bytes(body.into_bytes()), None)
            }
            other => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    if let Some(s) = scope {
                        q.append_pair("scope", s);
                    }
                }
                let auth = match other {
                    Some(Credential::Basic { username, password }) => Some(basic_header(username, password)),
                    _ => None,
                };
                (Method::GET, Payload::None, auth)
            }
        };
        let headers = if method == Method::POST {
            vec![(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".to_owned(),
            )]
        } else {
            Vec::new()
        };
        let req = Request {
            method,
            url,
            registry,
            scope: None,
            headers,
            body: Payload::None,
        };
        let mut resp = self.execute(&req, auth, body)?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let message = self.error_message(resp);
            return Err(self.refused(registry, credential.is_some(), status, &message));
        }
        if !status.is_success() {
            return Err(self.status_error(registry, &req.method, resp));
        }
        let bytes = self.read_capped(&req.url, &mut resp, MAX_TOKEN_RESPONSE)?;
        if bytes.len() as u64 > MAX_TOKEN_RESPONSE {
            return Err(Error::Protocol {
                registry: registry.to_owned(),
                reason: format!("the token server {realm} answered with more than 1 MiB"),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let parsed: TokenResponse = serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
            registry: registry.to_owned(),
            reason: format!("the token server {realm} answered with invalid JSON: {e}"),
        })?;
        let token = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| Error::Protocol {
                registry: registry.to_owned(),
                reason: format!("the token server {realm} answered without a token"),
            })?;
        let ttl = parsed
            .expires_in
            .filter(|s| *s > 0)
            .map_or(DEFAULT_TOKEN_TTL, Duration::from_secs);
        // Stop using a token a little before it expires.
        let until = Instant::now() + ttl.saturating_sub(ttl / 10);
        self.state().tokens.insert(
            (registry.to_owned(), scope.unwrap_or_default().to_owned()),
            (token.clone(), until),
        );
        debug!(%registry, scope = scope.unwrap_or_default(), "got a registry token");
        Ok(token)
    }

    /// Refuses to send credentials in clear text to a remote host nobody
    /// declared insecure.
    fn check_plaintext(&self, registry: &str, url: &Url) -> Result<(), Error> {
        if url.scheme() != "http" {
            return Ok(());
        }
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        if loopback || self.is_insecure(registry) || self.is_insecure(&authority) {
            return Ok(());
        }
        Err(Error::Unauthorized {
            registry: registry.to_owned(),
            reason: format!(
                "refusing to send credentials over plain HTTP to {url}; use HTTPS, or list {authority} as an insecure registry if that is really intended"
            ),
        })
    }

    /// The error for a 401 that stands after everything allowed was tried.
    fn refused(&self, registry: &str, had_credentials: bool, status: StatusCode, message: &str) -> Error {
        let what = match self.state().credentials.get(registry) {
            Some(Some(Credential::IdentityToken(_))) => "the identity token (it may have expired)",
            _ => "the username and password",
        };
        let reason = if had_credentials {
            format!(
                "authentication failed ({status}{}): check {what}, or run `signet login {registry}`",
                suffix(message)
            )
        } else {
            format!(
                "authentication required ({status}{}): run `signet login {registry}` or pass --username and --password",
                suffix(message)
            )
        };
        Error::Unauthorized {
            registry: registry.to_owned(),
            reason,
        }
    }

    /// Maps a transport failure (`text`: the error and its causes) to the
    /// error a user can act on.
    pub(super) fn transport_error(&self, registry: &str, url: &Url, text: &str, timed_out: bool) -> Error {
        let text = text.to_owned();
        if timed_out {
            return Error::Timeout {
                url: url.to_string(),
                timeout: self.inner.timeout,
            };
        }
        let lower = text.to_ascii_lowercase();
        let tls = url.scheme() == "https"
            && [
                "certificate",
                "tls",
                "handshake",
                "invalidcontenttype",
                "corrupt message",
                "unknownissuer",
            ]
            .iter()
            .any(|w| lower.contains(w));
        if tls {
            let plain_http = lower.contains("invalidcontenttype") || lower.contains("corrupt message");
            let hint = if plain_http {
                format!(
                    "the server does not speak TLS: if this registry serves plain HTTP, pass --insecure-registry {registry}"
                )
            } else if lower.contains("certificate") || lower.contains("unknownissuer") {
                format!(
                    "if its certificate comes from a private CA, pass that CA's PEM file with --ca-file; if this registry serves plain HTTP, pass --insecure-registry {registry}"
                )
            } else {
                format!("if this registry serves plain HTTP, pass --insecure-registry {registry}")
            };
            return Error::Tls {
                registry: registry.to_owned(),
                reason: text,
                hint,
            };
        }
        Error::Http {
            url: url.to_string(),
            reason: text,
        }
    }

    /// Reads at most `limit + 1` bytes of `resp` (so that the caller can tell
    /// "exactly at the limit" from "over it"), within the request timeout.
    pub(crate) fn read_capped(&self, url: &Url, resp: &mut Response, limit: u64) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        self.read_stream(url, resp, limit.saturating_add(1), true, |chunk| {
            out.extend_from_slice(chunk);
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads at most `limit` bytes of `resp`, handing each chunk to `sink`.
    /// Any single read waiting longer than the timeout is an error; with
    /// `whole`, so is the whole read taking longer (for the small bounded
    /// documents; a large blob may legitimately take longer, as long as it
    /// keeps coming).
    pub(crate) fn read_stream(
        &self,
        url: &Url,
        resp: &mut Response,
        limit: u64,
        whole: bool,
        mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let started = Instant::now();
        // Most answers (manifests, indexes, envelopes) are a few KiB: size the
        // buffer to what the server announces, never over 64 KiB.
        let length = resp.content_length();
        let announced = length.unwrap_or(u64::MAX).saturating_add(1);
        let size = announced.clamp(4 * 1024, 64 * 1024).min(limit.max(1));
        let mut buf = vec![0u8; usize::try_from(size).unwrap_or(64 * 1024)];
        let mut total = 0u64;
        let timeout = |_: ()| Error::Timeout {
            url: url.to_string(),
            timeout: self.inner.timeout,
        };
        while total < limit {
            let want = usize::try_from((limit - total).min(buf.len() as u64)).unwrap_or(buf.len());
            let n = match resp.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(timeout(())),
                Err(e) => {
                    return Err(Error::Http {
                        url: url.to_string(),
                        reason: format!("reading the answer failed: {e}"),
                    });
                }
            };
            total += n as u64;
            sink(&buf[..n])?;
            if whole && started.elapsed() > self.inner.timeout {
                return Err(timeout(()));
            }
            // All the announced bytes are in: the HTTP layer delivers no more
            // than Content-Length, so asking again would only wait for the
            // end-of-body signal.
            if length == Some(total) {
                break;
            }
        }
        Ok(total)
    }

    /// The registry's error text from a failed response (bounded).
    pub(crate) fn error_message(&self, mut resp: Response) -> String {
        let url = resp.url().clone();
        let Ok(bytes) = self.read_capped(&url, &mut resp, MAX_ERROR_BODY) else {
            return String::new();
        };
        registry_message(&bytes)
    }

    /// The error for an unexpected status (403 is [`Error::Denied`]).
    pub(crate) fn status_error(&self, registry: &str, method: &Method, resp: Response) -> Error {
        let status = resp.status();
        let url = resp.url().to_string();
        let message = self.error_message(resp);
        if status == StatusCode::FORBIDDEN {
            return Error::Denied {
                registry: registry.to_owned(),
                reason: format!(
                    "{method} {url}: {status}{}: the credentials are valid but lack permission for this",
                    suffix(&message)
                ),
            };
        }
        if status == StatusCode::UNAUTHORIZED {
            return self.refused(registry, true, status, &message);
        }
        Error::Status {
            method: method.to_string(),
            url,
            status: status.to_string(),
            message,
        }
    }
}

/// The time allowed for a streamed upload of `size` bytes: the timeout, plus
/// one second per 256 KiB (a floor of 256 KiB/s that a stalled upload misses).
pub(crate) fn upload_timeout(timeout: Duration, size: u64) -> Duration {
    timeout.saturating_add(Duration::from_secs(size / (256 * 1024)))
}

/// `errors[].code: message` of a distribution-spec error body, else the
/// body's first line when it is short text.
pub(crate) fn registry_message(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorEntry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let text = match serde_json::from_slice::<Errors>(bytes) {
        Ok(e) => e
            .errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{}: {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MESSAGE_CHARS)
        .collect();
    clean
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

fn basic_header(username: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    format!("Basic {encoded}")
}

fn bearer_header(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages_are_extracted_and_bounded() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"DENIED","message":"no"},{"code":"X"}]}"#),
            "DENIED: no; X"
        );
        assert_eq!(registry_message(b"plain text\nmore"), "plain text");
        assert_eq!(registry_message(&[b'a'; 5000]).len(), MAX_MESSAGE_CHARS);
    }
}
