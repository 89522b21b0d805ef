//! The HTTP under the registry client: connections, requests, redirects and
//! body reads, for a blocking caller.
//!
//! Each calling thread gets its own single-threaded tokio runtime, driven only
//! while that thread waits for an answer, and its own kept-alive connections:
//! a request costs no hop to another thread and back.
//!
//! Requests go straight to hyper's HTTP/1.1 connection (`hyper::client::conn`)
//! over a TCP socket, with rustls on top for `https://`. A request through
//! reqwest costs about three times the CPU of the same request on the
//! connection directly (URL re-parsing, its redirect and retry layers, its
//! pool), and a batch `signet verify` is bound by CPU on a small machine. What
//! reqwest would add is done here: kept-alive connections per origin (reused
//! for [`POOL_IDLE_TIMEOUT`] at most), redirects (at most [`MAX_REDIRECTS`],
//! `Authorization` dropped when a redirect leaves the origin, never from
//! `https` down to `http`), one resend of a read that met a connection the
//! registry had closed while it sat idle. The one thing left to reqwest is
//! proxies: a URL that `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` (minus
//! `NO_PROXY`) send through a proxy goes through a reqwest client, which
//! follows those variables the same way.

use std::{
    collections::HashMap,
    io::Read,
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::{
    body::{Body as _, Frame, Incoming},
    client::conn::http1::SendRequest,
};
use hyper_util::{
    client::proxy::matcher::{Intercept, Matcher},
    rt::TokioIo,
};
use reqwest::{
    Method, StatusCode, Url,
    header::{self, HeaderMap, HeaderValue},
};
use tracing::debug;

use super::client::{Client, Request, upload_timeout};
use crate::{Error, error::chain};

/// How long an idle connection is kept for reuse. A thread's runtime only
/// runs while that thread waits for an answer, so a connection the registry
/// closed in the meantime is noticed only when it is used again (see
/// [`closed_under_us`]); this age, checked when a connection is taken for a
/// request, bounds how stale a reused connection can be.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept per origin and thread.
const MAX_IDLE_PER_ORIGIN: usize = 4;
/// Redirects followed for one request (reqwest's default too).
pub(crate) const MAX_REDIRECTS: usize = 10;

/// A request body.
pub(crate) enum Payload {
    None,
    Bytes(Vec<u8>),
    /// A streamed body of exactly this many bytes; sent once, never retried.
    /// Its request may take longer than the timeout: see [`upload_timeout`].
    Stream(Box<dyn Read + Send>, u64),
}

/// What a direct connection sends.
type SendBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// Where a connection goes: scheme, host and port.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Origin {
    https: bool,
    host: String,
    port: u16,
}

impl Origin {
    fn of(url: &Url) -> Option<Self> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Self {
            https,
            host: url.host_str()?.to_owned(),
            port: url.port_or_known_default()?,
        })
    }
}

/// A kept-alive connection waiting for its next request.
struct Idle {
    send: SendRequest<SendBody>,
    since: Instant,
}

/// One thread's HTTP machinery: a single-threaded runtime, driven only while
/// that thread waits for an answer, the connections that live on it (a
/// connection must be used from the runtime it was opened on), and the
/// reqwest clients for proxied URLs.
pub(crate) struct Local {
    runtime: Option<tokio::runtime::Runtime>,
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    /// For proxied `https://` URLs.
    proxied_tls: OnceLock<reqwest::Client>,
    /// For proxied `http://` URLs.
    proxied_plain: OnceLock<reqwest::Client>,
}

impl Local {
    pub(crate) fn new() -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            // A thread waits on its own few connections: the default
            // 1 024-event buffer is 16 KiB per thread for nothing.
            .max_io_events_per_tick(64)
            .build()
            .map_err(|e| Error::Config(format!("cannot start the HTTP runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
            idle: Mutex::new(HashMap::new()),
            proxied_tls: OnceLock::new(),
            proxied_plain: OnceLock::new(),
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        match &self.runtime {
            Some(rt) => rt,
            None => unreachable!("the runtime lives as long as its Local"),
        }
    }

    /// Runs `f` to completion on this thread. The future is boxed: tokio's
    /// `block_on` moves it a few times on its way to being polled, and each
    /// move is a copy in the stack frame (a request's future held five).
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime().block_on(Box::pin(f))
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Vec<Idle>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The most recently used live connection to `origin`, if one is idle.
    fn checkout(&self, origin: &Origin) -> Option<SendRequest<SendBody>> {
        let mut idle = self.idle();
        let list = idle.get_mut(origin)?;
        while let Some(c) = list.pop() {
            if c.since.elapsed() < POOL_IDLE_TIMEOUT && !c.send.is_closed() {
                return Some(c.send);
            }
        }
        None
    }

    fn checkin(&self, origin: Origin, send: SendRequest<SendBody>) {
        if send.is_closed() {
            return;
        }
        let mut idle = self.idle();
        let list = idle.entry(origin).or_default();
        if list.len() >= MAX_IDLE_PER_ORIGIN {
            list.remove(0);
        }
        list.push(Idle {
            send,
            since: Instant::now(),
        });
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        // Connections first: their tasks live on the runtime.
        self.idle().clear();
        // A client may be dropped on a thread that drives async tasks (a
        // service replacing its configuration); a runtime dropped there the
        // ordinary way would panic.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An answer's body, from a direct connection or through reqwest.
type RecvBody = UnsyncBoxBody<Bytes, BoxError>;

/// A registry's answer. The body is read by blocking on the runtime of the
/// thread that sent the request; a direct connection goes back to the
/// thread's idle connections once its body has been read to the end.
pub(crate) struct Response {
    status: StatusCode,
    headers: HeaderMap,
    /// Where the answer came from: the request's URL, or the last redirect's.
    url: Url,
    body: RecvBody,
    local: Arc<Local>,
    timeout: Duration,
    /// Bytes of a chunk received but not yet read.
    pending: Bytes,
    /// The body's end was seen.
    ended: bool,
    /// The connection the answer came on, for reuse.
    conn: Option<(Origin, SendRequest<SendBody>)>,
}

impl Response {
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// The body's length as the server announced it (`Content-Length`).
    pub(crate) fn content_length(&self) -> Option<u64> {
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
    }

    /// Up to `buf.len()` bytes of the body; 0 at its end. Waiting longer
    /// than the timeout for the next bytes is [`std::io::ErrorKind::TimedOut`].
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.is_empty() {
            if self.ended {
                return Ok(0);
            }
            let (timeout, body) = (self.timeout, &mut self.body);
            match self
                .local
                .block_on(async { tokio::time::timeout(timeout, body.frame()).await })
            {
                Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
                Ok(None) => {
                    self.ended = true;
                    return Ok(0);
                }
                // reqwest's own timeout, on a proxied answer.
                Ok(Some(Err(e)))
                    if e.downcast_ref::<reqwest::Error>()
                        .is_some_and(reqwest::Error::is_timeout) =>
                {
                    return Err(std::io::ErrorKind::TimedOut.into());
                }
                Ok(Some(Err(e))) => return Err(std::io::Error::other(chain(&*e))),
                // Trailers carry nothing a registry client reads.
                Ok(Some(Ok(frame))) => self.pending = frame.into_data().unwrap_or_default(),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending.split_to(n));
        Ok(n)
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        let Some((origin, send)) = self.conn.take() else {
            return;
        };
        // A connection whose answer was not read to the end has bytes of it
        // still coming: it cannot carry another request.
        if self.ended || self.body.is_end_stream() {
            self.local.checkin(origin, send);
        }
    }
}

/// Why a request on a direct connection failed.
enum Failure {
    /// The whole request (connect, send, answer's head) took too long.
    Timeout,
    /// The host name does not resolve, or no address accepted a connection.
    Connect(String),
    /// The TLS handshake failed.
    Tls(std::io::Error),
    /// The HTTP exchange failed.
    Http(hyper::Error),
}

/// The proxies the environment asks for, read once per process; `None` when
/// no proxy variable is set (the common case, which then costs nothing per
/// request).
fn proxies() -> Option<&'static Matcher> {
    static PROXIES: OnceLock<Option<Matcher>> = OnceLock::new();
    PROXIES
        .get_or_init(|| {
            let set = [
                "ALL_PROXY",
                "all_proxy",
                "HTTPS_PROXY",
                "https_proxy",
                "HTTP_PROXY",
                "http_proxy",
            ]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
            set.then(Matcher::from_env)
        })
        .as_ref()
}

/// Where the environment's proxy variables send `url`, if anywhere.
fn intercept(url: &Url) -> Option<Intercept> {
    let matcher = proxies()?;
    matcher.intercept(&url.as_str().parse::<hyper::Uri>().ok()?)
}

/// "the proxy SCHEME://HOST:PORT", as an error names `proxy`: never the
/// proxy's credentials.
fn proxy_name(proxy: &Intercept) -> String {
    let uri = proxy.uri();
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host)) => format!("the proxy {scheme}://{host}{port}"),
        _ => "a proxy".into(),
    }
}

impl Client {
    /// Sends one request as given (the authentication dance is the
    /// caller's), following redirects.
    pub(crate) fn execute(
        &self,
        req: &Request<'_>,
        auth: Option<String>,
        body: Payload,
    ) -> Result<Response, Error> {
        let mut headers = HeaderMap::new();
        for (name, value) in &req.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), v);
            }
        }
        if let Some(auth) = auth {
            let mut v = HeaderValue::from_str(&auth).map_err(|_| Error::Unauthorized {
                registry: req.registry.to_owned(),
                reason: "the credential contains characters that cannot be sent in an HTTP header".into(),
            })?;
            v.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, v);
        }
        let timeout = match &body {
            Payload::Stream(_, size) => upload_timeout(self.inner.timeout, *size),
            _ => self.inner.timeout,
        };
        if let Payload::Stream(_, size) = &body {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(*size));
        }
        let local = self.local()?;
        if let Some(proxy) = intercept(&req.url) {
            return self.execute_proxied(&local, &proxy, req, headers, body, timeout);
        }
        let mut method = req.method.clone();
        let mut url = req.url.clone();
        // A streamed body can be sent once; the others again after a redirect.
        let (mut body, mut stream) = match body {
            Payload::None => (None, None),
            Payload::Bytes(b) => (Some(Bytes::from(b)), None),
            Payload::Stream(reader, _) => (None, Some(reader)),
        };
        let mut hops = 0;
        loop {
            let sent_stream = stream.is_some();
            let resp = self.exchange(
                req.registry,
                &local,
                &method,
                &url,
                &headers,
                &body,
                stream.take(),
                timeout,
            )?;
            let Some(next) = redirect(&resp) else {
                return Ok(resp);
            };
            // A streamed upload cannot be sent again: its redirect is the
            // answer (as reqwest does).
            if sent_stream {
                return Ok(resp);
            }
            hops += 1;
            if hops > MAX_REDIRECTS {
                return Err(Error::Http {
                    url: req.url.to_string(),
                    reason: format!("more than {MAX_REDIRECTS} redirects"),
                });
            }
            let target = follow(&url, next).map_err(|reason| Error::Http {
                url: url.to_string(),
                reason,
            })?;
            // Credentials are for the origin that asked for them.
            if target.origin() != url.origin() {
                headers.remove(header::AUTHORIZATION);
            }
            // 303, and 301/302 after a POST: the next request is a GET
            // without body (what browsers, curl and reqwest do).
            let status = resp.status();
            if status == StatusCode::SEE_OTHER && method != Method::HEAD
                || matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && method == Method::POST
            {
                method = Method::GET;
                body = None;
                headers.remove(header::CONTENT_LENGTH);
                headers.remove(header::CONTENT_TYPE);
            }
            debug!(from = %url, to = %target, %status, "following a redirect");
            url = target;
        }
    }

    fn count_request(&self) {
        self.inner
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// One request and the head of its answer on a direct connection: a
    /// kept-alive one when the thread has one to the origin, else a new one.
    /// A read that meets a kept-alive connection the registry had closed is
    /// sent again, once, on a new connection.
    #[allow(clippy::too_many_arguments)]
    fn exchange(
        &self,
        registry: &str,
        local: &Arc<Local>,
        method: &Method,
        url: &Url,
        headers: &HeaderMap,
        body: &Option<Bytes>,
        stream: Option<Box<dyn Read + Send>>,
        timeout: Duration,
    ) -> Result<Response, Error> {
        let origin = Origin::of(url).ok_or_else(|| Error::Http {
            url: url.to_string(),
            reason: "not an http(s) URL".into(),
        })?;
        let tls = if origin.https {
            Some(self.tls_config()?)
        } else {
            None
        };
        let request = self.build_request(method, url, &origin, headers, body, stream)?;
        let resend = matches!(*method, Method::GET | Method::HEAD);
        let pooled = local.checkout(&origin);
        let reused = pooled.is_some();
        debug!(%method, %url, reused, "registry request");
        self.count_request();
        let mut result = self.round_trip(local, &origin, tls.as_ref(), pooled, request, timeout);
        if reused && resend && matches!(&result, Err(Failure::Http(e)) if closed_under_us(e)) {
            debug!(%url, "the registry had closed the connection; sending again on a new one");
            self.count_request();
            let again = self.build_request(method, url, &origin, headers, body, None)?;
            result = self.round_trip(local, &origin, tls.as_ref(), None, again, timeout);
        }
        match result {
            Ok((resp, send)) => {
                let (parts, incoming) = resp.into_parts();
                Ok(Response {
                    status: parts.status,
                    headers: parts.headers,
                    url: url.clone(),
                    body: incoming.map_err(BoxError::from).boxed_unsync(),
                    local: local.clone(),
                    timeout: self.inner.timeout,
                    pending: Bytes::new(),
                    ended: false,
                    conn: Some((origin, send)),
                })
            }
            Err(f) => Err(self.failure(registry, url, f, timeout)),
        }
    }

    fn build_request(
        &self,
        method: &Method,
        url: &Url,
        origin: &Origin,
        headers: &HeaderMap,
        body: &Option<Bytes>,
        stream: Option<Box<dyn Read + Send>>,
    ) -> Result<hyper::Request<SendBody>, Error> {
        let body: SendBody = match (stream, body) {
            (Some(reader), _) => {
                StreamBody::new(read_chunks(reader).map(|c| c.map(Frame::data))).boxed_unsync()
            }
            (None, Some(bytes)) => Full::new(bytes.clone()).map_err(|e| match e {}).boxed_unsync(),
            (None, None) => Empty::new().map_err(|e| match e {}).boxed_unsync(),
        };
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let host = match url.port() {
            Some(port) => format!("{}:{port}", origin.host),
            None => origin.host.clone(),
        };
        let mut request = hyper::Request::builder()
            .method(method.clone())
            .uri(target)
            .body(body)
            .map_err(|e| Error::Http {
                url: url.to_string(),
                reason: format!("cannot build the request: {e}"),
            })?;
        let h = request.headers_mut();
        h.clone_from(headers);
        h.insert(
            header::HOST,
            HeaderValue::from_str(&host).map_err(|_| Error::Http {
                url: url.to_string(),
                reason: "the host cannot be sent in an HTTP header".into(),
            })?,
        );
        if let Ok(ua) = HeaderValue::from_str(&self.inner.user_agent) {
            h.insert(header::USER_AGENT, ua);
        }
        Ok(request)
    }

    /// Sends `request` on `pooled` (when it is still usable) or on a new
    /// connection, and waits for the answer's head.
    fn round_trip(
        &self,
        local: &Arc<Local>,
        origin: &Origin,
        tls: Option<&Arc<rustls::ClientConfig>>,
        pooled: Option<SendRequest<SendBody>>,
        request: hyper::Request<SendBody>,
        timeout: Duration,
    ) -> Result<(hyper::Response<Incoming>, SendRequest<SendBody>), Failure> {
        let connect_timeout = self.inner.connect_timeout;
        let work = async {
            let ready = match pooled {
                Some(mut send) => send.ready().await.is_ok().then_some(send),
                None => None,
            };
            let mut send = match ready {
                Some(send) => send,
                // Boxed: inline, a new connection's state (TCP and TLS
                // setup) made every request's future 8 KiB, connection or not.
                None => Box::pin(connect(local, origin, tls, connect_timeout)).await?,
            };
            let resp = send.send_request(request).await.map_err(Failure::Http)?;
            Ok((resp, send))
        };
        local.block_on(async {
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or(Err(Failure::Timeout))
        })
    }

    fn failure(&self, registry: &str, url: &Url, failure: Failure, timeout: Duration) -> Error {
        match failure {
            Failure::Timeout => Error::Timeout {
                url: url.to_string(),
                timeout,
            },
            Failure::Connect(reason) => Error::Http {
                url: url.to_string(),
                reason,
            },
            Failure::Tls(e) => self.transport_error(registry, url, &chain(&e), false),
            Failure::Http(e) => self.transport_error(registry, url, &chain(&e), e.is_timeout()),
        }
    }

    /// `execute` through a proxy, with reqwest (which follows redirects
    /// itself).
    fn execute_proxied(
        &self,
        local: &Arc<Local>,
        proxy: &Intercept,
        req: &Request<'_>,
        headers: HeaderMap,
        body: Payload,
        timeout: Duration,
    ) -> Result<Response, Error> {
        let mut builder = self
            .proxied_client(local, &req.url)?
            .request(req.method.clone(), req.url.clone())
            .headers(headers)
            .timeout(timeout);
        builder = match body {
            Payload::None => builder,
            Payload::Bytes(b) => builder.body(b),
            Payload::Stream(reader, _) => builder.body(reqwest::Body::wrap_stream(read_chunks(reader))),
        };
        debug!(method = %req.method, url = %req.url, "registry request through a proxy");
        self.count_request();
        let sent = local.block_on(async { tokio::time::timeout(timeout, builder.send()).await });
        match sent {
            Ok(Ok(resp)) => Ok(Response {
                status: resp.status(),
                headers: resp.headers().clone(),
                url: resp.url().clone(),
                body: hyper::Response::<reqwest::Body>::from(resp)
                    .into_body()
                    .map_err(BoxError::from)
                    .boxed_unsync(),
                local: local.clone(),
                timeout: self.inner.timeout,
                pending: Bytes::new(),
                ended: false,
                conn: None,
            }),
            Ok(Err(e)) => {
                let text = format!(
                    "{} (sent through {} that the environment's proxy variables name; NO_PROXY lists hosts reached directly)",
                    chain(&e),
                    proxy_name(proxy)
                );
                Err(self.transport_error(req.registry, &req.url, &text, e.is_timeout()))
            }
            Err(_) => Err(Error::Timeout {
                url: req.url.to_string(),
                timeout,
            }),
        }
    }

    /// The calling thread's reqwest client for proxied `url`s, built the
    /// first time it is needed.
    fn proxied_client(&self, local: &Local, url: &Url) -> Result<reqwest::Client, Error> {
        let tls = url.scheme() == "https";
        let cell = if tls {
            &local.proxied_tls
        } else {
            &local.proxied_plain
        };
        if let Some(c) = cell.get() {
            return Ok(c.clone());
        }
        let builder = reqwest::Client::builder()
            .user_agent(self.inner.user_agent.clone())
            .connect_timeout(self.inner.connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .http1_only();
        let builder = if tls {
            builder.tls_backend_preconfigured((*self.tls_config()?).clone())
        } else {
            builder.tls_certs_only(Vec::new())
        };
        let built = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", chain(&e))))?;
        Ok(cell.get_or_init(|| built).clone())
    }
}

/// A new connection to `origin` (TLS for `https`), its HTTP/1.1 state
/// machine running as a task on the thread's runtime.
async fn connect(
    local: &Local,
    origin: &Origin,
    tls: Option<&Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
) -> Result<SendRequest<SendBody>, Failure> {
    // `host:port`, an IPv6 address in brackets: what `lookup_host` parses.
    let target = format!("{}:{}", origin.host, origin.port);
    let addrs: Vec<SocketAddr> =
        match tokio::time::timeout(connect_timeout, tokio::net::lookup_host(&target)).await {
            Err(_) => return Err(Failure::Connect(format!("resolving {} timed out", origin.host))),
            Ok(Err(e)) => return Err(Failure::Connect(format!("cannot resolve {}: {e}", origin.host))),
            Ok(Ok(a)) => a.collect(),
        };
    let mut last = format!("{} has no address", origin.host);
    let mut tcp = None;
    for addr in addrs {
        match tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                tcp = Some(s);
                break;
            }
            Ok(Err(e)) => last = format!("cannot connect to {addr}: {e}"),
            Err(_) => last = format!("connecting to {addr} timed out after {connect_timeout:?}"),
        }
    }
    let tcp = tcp.ok_or(Failure::Connect(last))?;
    // Requests are small and answered at once: no Nagle delay.
    let _ = tcp.set_nodelay(true);
    match tls {
        None => run_http1(local, TokioIo::new(tcp)).await,
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from(
                origin
                    .host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned(),
            )
            .map_err(|e| Failure::Connect(format!("{} is not a TLS server name: {e}", origin.host)))?;
            let stream = tokio::time::timeout(
                connect_timeout,
                tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
            )
            .await
            .map_err(|_| Failure::Connect(format!("the TLS handshake with {} timed out", origin.host)))?
            .map_err(Failure::Tls)?;
            run_http1(local, TokioIo::new(stream)).await
        }
    }
}

/// HTTP/1.1 over `io`: the connection's state machine runs as a task on the
/// thread's runtime; requests go through the handle returned.
async fn run_http1<T>(local: &Local, io: T) -> Result<SendRequest<SendBody>, Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(Failure::Http)?;
    local.runtime().spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}

/// Where a redirect from `from` to `location` goes: a URL relative to
/// `from` is resolved; `https` is never followed down to plain `http`.
fn follow(from: &Url, location: &str) -> Result<Url, String> {
    let target = from
        .join(location)
        .map_err(|e| format!("redirected to {location:?}, which is not a URL: {e}"))?;
    match (from.scheme(), target.scheme()) {
        ("https", "https") | ("http", "http" | "https") => Ok(target),
        (_, scheme) => Err(format!(
            "redirected to {target}: a {scheme} URL is not followed from {}",
            from.scheme()
        )),
    }
}

/// The `Location` of a redirect answer.
fn redirect(resp: &Response) -> Option<&str> {
    matches!(
        resp.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
    .then(|| resp.headers().get(header::LOCATION)?.to_str().ok())
    .flatten()
}

/// Whether `e` says the connection was closed before any answer came: what
/// reusing a kept-alive connection that the server has since closed gives.
fn closed_under_us(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// `reader` as a stream of chunks for a request body. Reads block the
/// sending thread's runtime, which has nothing else to do meanwhile: the
/// thread is waiting for this one request.
fn read_chunks(
    mut reader: Box<dyn Read + Send>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::poll_fn(move |_| {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            return match reader.read(&mut buf) {
                Ok(0) => std::task::Poll::Ready(None),
                Ok(n) => {
                    buf.truncate(n);
                    std::task::Poll::Ready(Some(Ok(Bytes::from(buf))))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => std::task::Poll::Ready(Some(Err(e))),
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_targets() {
        let from = Url::parse("https://r.example/v2/a/blobs/sha256:00").unwrap();
        let to = |l: &str| follow(&from, l);
        assert_eq!(
            to("/storage/x?sig=1").unwrap().as_str(),
            "https://r.example/storage/x?sig=1"
        );
        assert_eq!(
            to("https://cdn.example/x").unwrap().as_str(),
            "https://cdn.example/x"
        );
        let down = to("http://cdn.example/x").unwrap_err();
        assert!(down.contains("not followed from https"), "{down}");
        assert!(to("ftp://cdn.example/x").is_err());
        assert!(to("http://[::1").is_err());
        let plain = Url::parse("http://127.0.0.1:5000/v2/").unwrap();
        assert_eq!(follow(&plain, "https://cdn.example/x").unwrap().scheme(), "https");
    }

    #[test]
    fn origins() {
        let o = |u: &str| Origin::of(&Url::parse(u).unwrap());
        assert_eq!(o("https://r.example/v2/").unwrap().port, 443);
        assert_eq!(o("http://r.example/v2/").unwrap().port, 80);
        assert_eq!(o("http://[::1]:5000/v2/").unwrap().host, "[::1]");
        assert!(o("ftp://r.example/").is_none());
        assert_ne!(o("http://r.example/"), o("https://r.example/"));
    }
}
