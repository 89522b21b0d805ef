//! A deliberately bad OCI registry on loopback (plain HTTP), for the tests
//! that a client stays bounded in size, time and work against a hostile
//! server.
//!
//! `GET /v2/` answers 200. Everything else is chosen by repository name (the
//! consts below), for any tag or digest:
//!
//! | repository | behaviour |
//! | --- | --- |
//! | [`OVERSIZED_MANIFEST`] `oversized/manifest` | every request (HEAD/GET of manifests, blobs, referrers) announces `Content-Length: 64 MiB`; GET then streams junk for ever |
//! | [`OVERSIZED_CHUNKED`] `oversized/chunked` | the same without `Content-Length`: chunked, endless |
//! | [`MISMATCH_MANIFEST`] `mismatch/manifest` | HEAD of the manifest gives the true `Docker-Content-Digest` D; GET returns a valid manifest of the same length (and claims D) whose bytes do not hash to D |
//! | [`GARBAGE_ENVELOPE`] `garbage/envelope` | a real subject image; its referrers (an OCI index) list one Notary signature manifest whose envelope blob (`application/jose+json`) is 1 KiB of garbage with the correct digest |
//! | [`MANY_REFERRERS`] `many/referrers` | a real subject image whose referrers list 1 000 signature manifests, each fetchable with its own garbage envelope; count fetches with [`HostileRegistry::requests_for`]`("/v2/many/referrers/manifests/sha256:")` |
//! | [`STALL_CONNECTION`] `stall/connection` | reads the request and never answers (holds the socket 60 s or until drop) |
//! | [`STALL_BODY`] `stall/body` | HEAD answers truly; GET sends the head with `Content-Length` and half the body, then stalls (60 s or until drop) |
//! | [`HUGE_REFERRERS`] `huge/referrers` | a real subject image whose referrers response is an OCI index of 8 MiB (over a 4 MiB manifest limit) |
//! | [`PAGED_REFERRERS`] `paged/referrers` | a real subject image with 6 signature manifests, listed by the referrers API in 3 pages of 2 (distribution-spec pagination: `?n=2&last=<digest>`, each page but the last with `Link: </v2/paged/referrers/referrers/<subject>?n=2&last=<digest>>; rel="next"`, a relative URL) |
//! | [`LOOP_REFERRERS`] `loop/referrers` | a real subject image with 2 signature manifests; the referrers API answers `?page=1` (or no query) with the first and a next link to `?page=2`, and `?page=2` with the second and a next link back to `?page=1`: pagination that never ends |
//! | [`CROSSHOST_REFERRERS`] `crosshost/referrers` | a real subject image with 4 signature manifests; the referrers API lists the first 2 with a next link to another host, [`CROSSHOST_NEXT`] (`http://127.0.0.2:1/…`, where nothing listens), which would list the rest |
//! | [`NOHEAD_MANIFEST`] `nohead/manifest` | a real subject image, but every `HEAD` of a manifest answers 405 (no body); `GET` of manifests, blobs and referrers works |
//! | [`REDIRECT_BLOBS`] `redirect/blobs` | a real subject image behind Basic auth (any credentials; without an `Authorization` header every request answers 401 with a `Basic` challenge); `GET` of a blob answers `307` to object storage on another origin, `http://localhost:PORT/_storage/<digest>?X-Amz-Signature=…`, which serves the blob but answers 400 to a request that carries an `Authorization` header (as S3 does to a presigned URL) |
//! | [`REDIRECT_LOOP`] `redirect/loop` | `GET` of a blob answers `302` to itself, for ever |
//!
//! In the repositories with a real subject image, any tag resolves to it
//! (except `sha256-…` tags: 404), manifests and blobs are served by digest
//! with true `Docker-Content-Digest`, `Content-Type` and `Content-Length`,
//! and `GET /v2/<repo>/referrers/<digest>` answers an OCI index (empty for
//! other digests). Unknown repositories answer 404. Each connection serves
//! one request (`Connection: close`) on its own thread, at most 64 at once;
//! dropping the [`HostileRegistry`] stops and joins them all.

use std::{
    collections::HashMap,
    io::{self, Write},
    net::TcpStream,
    sync::{Arc, LazyLock, Mutex, atomic::AtomicBool, atomic::Ordering},
    time::{Duration, Instant},
};

use crate::{
    httpd,
    registry::{OCI_INDEX, OCI_MANIFEST, sha256_digest},
};

pub const OVERSIZED_MANIFEST: &str = "oversized/manifest";
pub const OVERSIZED_CHUNKED: &str = "oversized/chunked";
pub const MISMATCH_MANIFEST: &str = "mismatch/manifest";
pub const GARBAGE_ENVELOPE: &str = "garbage/envelope";
pub const MANY_REFERRERS: &str = "many/referrers";
pub const STALL_CONNECTION: &str = "stall/connection";
pub const STALL_BODY: &str = "stall/body";
pub const HUGE_REFERRERS: &str = "huge/referrers";
pub const PAGED_REFERRERS: &str = "paged/referrers";
pub const LOOP_REFERRERS: &str = "loop/referrers";
pub const CROSSHOST_REFERRERS: &str = "crosshost/referrers";
pub const NOHEAD_MANIFEST: &str = "nohead/manifest";
pub const REDIRECT_BLOBS: &str = "redirect/blobs";
pub const REDIRECT_LOOP: &str = "redirect/loop";
/// The path prefix of [`REDIRECT_BLOBS`]'s object storage.
pub const STORAGE_PREFIX: &str = "/_storage/";

/// The `Content-Length` the oversized repositories announce.
pub const OVERSIZED_LENGTH: u64 = 64 * 1024 * 1024;
/// How many signatures [`MANY_REFERRERS`] lists.
pub const MANY_REFERRERS_COUNT: usize = 1000;
/// How many pages [`PAGED_REFERRERS`] lists its signatures in.
pub const PAGED_REFERRERS_PAGES: usize = 3;
/// How many signatures each [`PAGED_REFERRERS`] page lists.
pub const PAGED_REFERRERS_PER_PAGE: usize = 2;
/// How many signatures [`CROSSHOST_REFERRERS`] has (its first page lists half).
pub const CROSSHOST_REFERRERS_COUNT: usize = 4;
/// The origin the [`CROSSHOST_REFERRERS`] next link points to (nothing listens there).
pub const CROSSHOST_NEXT: &str = "http://127.0.0.2:1";
/// The size of the [`HUGE_REFERRERS`] referrers response (at least).
pub const HUGE_REFERRERS_SIZE: usize = 8 * 1024 * 1024;
/// How long the stalling repositories hold a connection (unless dropped first).
pub const STALL: Duration = Duration::from_secs(60);
/// The Notary signature manifest's config media type.
pub const NOTARY_SIGNATURE: &str = "application/vnd.cncf.notary.signature";
/// The envelope media type of the garbage envelopes.
pub const JWS_ENVELOPE: &str = "application/jose+json";

/// A repository with a real subject image and its referrers.
struct Site {
    subject_digest: String,
    subject: Vec<u8>,
    manifests: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    /// The referrers index of the subject, or `None` to use [`HUGE_INDEX`].
    referrers: Option<Vec<u8>>,
    /// The descriptors of the signature manifests, in order (for the
    /// paginating repositories).
    signatures: Vec<serde_json::Value>,
}

struct State {
    sites: HashMap<&'static str, Site>,
    /// A manifest of the same length as the `mismatch/manifest` subject
    /// whose bytes differ.
    tampered: Vec<u8>,
    requests: Mutex<Vec<String>>,
}

/// The running hostile registry; dropping it stops it.
pub struct HostileRegistry {
    state: Arc<State>,
    server: httpd::Server,
    host: String,
}

impl HostileRegistry {
    pub fn start() -> HostileRegistry {
        let mut sites = HashMap::new();
        for repo in [
            MISMATCH_MANIFEST,
            STALL_BODY,
            HUGE_REFERRERS,
            GARBAGE_ENVELOPE,
            MANY_REFERRERS,
            PAGED_REFERRERS,
            LOOP_REFERRERS,
            CROSSHOST_REFERRERS,
            NOHEAD_MANIFEST,
            REDIRECT_BLOBS,
        ] {
            let signatures = match repo {
                GARBAGE_ENVELOPE => 1,
                MANY_REFERRERS => MANY_REFERRERS_COUNT,
                PAGED_REFERRERS => PAGED_REFERRERS_PAGES * PAGED_REFERRERS_PER_PAGE,
                LOOP_REFERRERS => 2,
                CROSSHOST_REFERRERS => CROSSHOST_REFERRERS_COUNT,
                _ => 0,
            };
            sites.insert(repo, site(repo, signatures, repo != HUGE_REFERRERS));
        }
        let subject = &sites[MISMATCH_MANIFEST].subject;
        let tampered = tamper(subject);
        let state = Arc::new(State {
            sites,
            tampered,
            requests: Mutex::default(),
        });
        let s = Arc::clone(&state);
        let server = httpd::Server::start("hostile registry", 64, move |mut conn, stop: &AtomicBool| {
            let Ok(req) = httpd::read_request(&mut conn, stop, Duration::from_secs(10)) else {
                return;
            };
            s.requests.lock().unwrap().push(req.path().to_string());
            let _ = serve(&s, &mut conn, &req, stop);
        });
        let host = server.addr().to_string();
        HostileRegistry { state, server, host }
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Requests received so far (counted once their head has been read).
    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Requests whose path starts with `path_prefix`.
    pub fn requests_for(&self, path_prefix: &str) -> usize {
        self.state
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(path_prefix))
            .count()
    }

    /// The digest of the subject image manifest of `repo` (one of the
    /// repositories with a real subject image).
    pub fn subject_digest(&self, repo: &str) -> &str {
        &self
            .state
            .sites
            .get(repo)
            .unwrap_or_else(|| panic!("{repo} has no subject image"))
            .subject_digest
    }

    /// The digests of the signature manifests of `repo` (one of the
    /// repositories with a real subject image), in the order its referrers
    /// list them.
    pub fn signature_digests(&self, repo: &str) -> Vec<String> {
        self.state
            .sites
            .get(repo)
            .unwrap_or_else(|| panic!("{repo} has no subject image"))
            .signatures
            .iter()
            .map(|d| d["digest"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The server's address as a `SocketAddr`.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }
}

/// `n` bytes derived from `seed` (SHA-256 in counter mode).
fn bytes_from(seed: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut i = 0u64;
    while out.len() < n {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{seed}/{i}").as_bytes());
        out.extend_from_slice(d.as_ref());
        i += 1;
    }
    out.truncate(n);
    out
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": media_type, "digest": sha256_digest(bytes), "size": bytes.len()})
}

fn index(manifests: Vec<serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    }))
    .unwrap()
}

/// A site for `repo`: a subject image and `signatures` signature manifests
/// with garbage envelopes referring to it.
fn site(repo: &str, signatures: usize, with_referrers: bool) -> Site {
    let mut blobs = HashMap::new();
    let mut manifests = HashMap::new();
    let layer = bytes_from(&format!("{repo}/layer"), 256);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&layer)]},
    }))
    .unwrap();
    let subject = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar", &layer)],
    }))
    .unwrap();
    let subject_digest = sha256_digest(&subject);
    blobs.insert(sha256_digest(&layer), layer);
    blobs.insert(sha256_digest(&config), config);
    manifests.insert(subject_digest.clone(), subject.clone());

    let empty_config = b"{}".to_vec();
    blobs.insert(sha256_digest(&empty_config), empty_config.clone());
    let mut referrers = Vec::new();
    for i in 0..signatures {
        let envelope = bytes_from(&format!("{repo}/envelope/{i}"), 1024);
        let annotations = serde_json::json!({
            "io.cncf.notary.x509chain.thumbprint#S256":
                format!("[\"{}\"]", hex::encode(bytes_from(&format!("{repo}/thumb/{i}"), 32))),
            "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
        });
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(NOTARY_SIGNATURE, &empty_config),
            "layers": [descriptor(JWS_ENVELOPE, &envelope)],
            "subject": descriptor(OCI_MANIFEST, &subject),
            "annotations": annotations,
        }))
        .unwrap();
        let mut d = descriptor(OCI_MANIFEST, &manifest);
        d["artifactType"] = NOTARY_SIGNATURE.into();
        d["annotations"] = annotations;
        referrers.push(d);
        blobs.insert(sha256_digest(&envelope), envelope);
        manifests.insert(sha256_digest(&manifest), manifest);
    }
    Site {
        subject_digest,
        subject,
        manifests,
        blobs,
        referrers: with_referrers.then(|| index(referrers.clone())),
        signatures: referrers,
    }
}

/// The same manifest with one hex digit of its layer digest changed: valid
/// JSON, same length, another hash.
fn tamper(manifest: &[u8]) -> Vec<u8> {
    let mut out = manifest.to_vec();
    let text = String::from_utf8_lossy(manifest).to_string();
    let at = text.rfind("sha256:").unwrap() + "sha256:".len();
    out[at] = if out[at] == b'0' { b'1' } else { b'0' };
    out
}

/// The [`HUGE_REFERRERS`] response: an OCI index of at least 8 MiB listing
/// signature manifests that do not exist.
static HUGE_INDEX: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut out = format!("{{\"schemaVersion\":2,\"mediaType\":\"{OCI_INDEX}\",\"manifests\":[").into_bytes();
    let mut i = 0u64;
    while out.len() < HUGE_REFERRERS_SIZE {
        if i > 0 {
            out.push(b',');
        }
        let digest = hex::encode(bytes_from(&format!("huge/{i}"), 32));
        out.extend_from_slice(
            format!(
                "{{\"mediaType\":\"{OCI_MANIFEST}\",\"digest\":\"sha256:{digest}\",\"size\":700,\
                 \"artifactType\":\"{NOTARY_SIGNATURE}\"}}"
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.extend_from_slice(b"]}");
    out
});

const JSON: &str = "application/json";

fn not_found(conn: &mut TcpStream, method: &str, code: &str) -> io::Result<()> {
    let body = format!(r#"{{"errors":[{{"code":"{code}","message":"not found"}}]}}"#);
    httpd::respond(conn, method, 404, JSON, &[], body.as_bytes())
}

/// Splits `/v2/<repo>/<endpoint>/<reference>`.
fn route(path: &str) -> Option<(String, &str, &str)> {
    let rest = path.strip_prefix("/v2/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let i = parts
        .iter()
        .rposition(|p| matches!(*p, "manifests" | "blobs" | "referrers" | "tags"))?;
    if i == 0 || i + 1 >= parts.len() {
        return None;
    }
    Some((parts[..i].join("/"), parts[i], parts[i + 1]))
}

fn serve(state: &State, conn: &mut TcpStream, req: &httpd::Request, stop: &AtomicBool) -> io::Result<()> {
    let method = req.method.as_str();
    let path = req.path();
    if path == "/v2/" || path == "/v2" {
        return httpd::respond(
            conn,
            method,
            200,
            JSON,
            &[("Docker-Distribution-API-Version", "registry/2.0".into())],
            b"{}",
        );
    }
    if let Some(digest) = path.strip_prefix(STORAGE_PREFIX) {
        return storage(state, conn, req, digest);
    }
    let Some((repo, endpoint, reference)) = route(path) else {
        return not_found(conn, method, "NAME_UNKNOWN");
    };
    match repo.as_str() {
        REDIRECT_LOOP if endpoint == "blobs" => {
            return httpd::respond(conn, method, 302, JSON, &[("Location", path.to_string())], b"");
        }
        REDIRECT_BLOBS if req.header("Authorization").is_none() => {
            let challenge = ("WWW-Authenticate", r#"Basic realm="hostile""#.to_string());
            return httpd::respond(
                conn,
                method,
                401,
                JSON,
                &[challenge],
                br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#,
            );
        }
        REDIRECT_BLOBS if endpoint == "blobs" && method == "GET" => {
            let port = conn.local_addr()?.port();
            let location = format!("http://localhost:{port}{STORAGE_PREFIX}{reference}?X-Amz-Signature=0123");
            return httpd::respond(conn, method, 307, JSON, &[("Location", location)], b"");
        }
        STALL_CONNECTION => {
            hold(stop);
            return Ok(());
        }
        OVERSIZED_MANIFEST | OVERSIZED_CHUNKED => {
            let chunked = repo == OVERSIZED_CHUNKED;
            let mut headers = vec![
                ("Content-Type", OCI_MANIFEST.to_string()),
                ("Docker-Content-Digest", sha256_digest(b"oversized")),
            ];
            if chunked {
                headers.push(("Transfer-Encoding", "chunked".into()));
            } else {
                headers.push(("Content-Length", OVERSIZED_LENGTH.to_string()));
            }
            conn.write_all(&httpd::head(200, &headers))?;
            if method != "HEAD" {
                endless(conn, chunked, stop);
            }
            return Ok(());
        }
        _ => {}
    }
    let Some(site) = state.sites.get(repo.as_str()) else {
        return not_found(conn, method, "NAME_UNKNOWN");
    };
    if !matches!(method, "GET" | "HEAD") {
        return httpd::respond(
            conn,
            method,
            405,
            JSON,
            &[],
            br#"{"errors":[{"code":"UNSUPPORTED"}]}"#,
        );
    }
    if repo == NOHEAD_MANIFEST && endpoint == "manifests" && method == "HEAD" {
        return httpd::respond(conn, method, 405, JSON, &[], b"");
    }
    if endpoint == "referrers"
        && reference == site.subject_digest
        && let Some((page, next)) = referrers_page(&repo, site, req.query())
    {
        let link = next.map(|n| ("Link", format!("<{n}>; rel=\"next\"")));
        return httpd::respond(conn, method, 200, OCI_INDEX, link.as_slice(), &page);
    }
    let (media_type, body): (&str, &[u8]) = match endpoint {
        "manifests" => {
            let found = if reference.starts_with("sha256:") {
                site.manifests.get(reference).map(Vec::as_slice)
            } else if reference.starts_with("sha256-") {
                None
            } else {
                Some(site.subject.as_slice())
            };
            match found {
                Some(m) => (OCI_MANIFEST, m),
                None => return not_found(conn, method, "MANIFEST_UNKNOWN"),
            }
        }
        "blobs" => match site.blobs.get(reference) {
            Some(b) => ("application/octet-stream", b.as_slice()),
            None => return not_found(conn, method, "BLOB_UNKNOWN"),
        },
        "referrers" if reference == site.subject_digest => (
            OCI_INDEX,
            site.referrers.as_deref().unwrap_or(HUGE_INDEX.as_slice()),
        ),
        "referrers" => (OCI_INDEX, EMPTY_INDEX.as_slice()),
        "tags" => {
            let list = format!(r#"{{"name":"{repo}","tags":["latest"]}}"#);
            return httpd::respond(conn, method, 200, JSON, &[], list.as_bytes());
        }
        _ => return not_found(conn, method, "NAME_UNKNOWN"),
    };
    let digest = sha256_digest(body);
    let headers = [("Docker-Content-Digest", digest)];
    if repo == STALL_BODY && method == "GET" {
        let mut head = vec![
            ("Content-Type", media_type.to_string()),
            ("Content-Length", body.len().to_string()),
        ];
        head.extend(headers);
        conn.write_all(&httpd::head(200, &head))?;
        conn.write_all(&body[..body.len() / 2])?;
        conn.flush()?;
        hold(stop);
        return Ok(());
    }
    let body = if repo == MISMATCH_MANIFEST
        && method == "GET"
        && endpoint == "manifests"
        && body == site.subject.as_slice()
    {
        state.tampered.as_slice()
    } else {
        body
    };
    // Written patiently: a client that stops reading a big body must not
    // keep the thread (and so the drop) waiting.
    let mut head = vec![
        ("Content-Type", media_type.to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    head.extend(headers);
    let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
    if patient_write(conn, &httpd::head(200, &head), stop) && method != "HEAD" {
        patient_write(conn, body, stop);
    }
    Ok(())
}

/// [`REDIRECT_BLOBS`]'s object storage: the blob, to a request without
/// credentials of its own (a presigned URL carries them in its query).
fn storage(state: &State, conn: &mut TcpStream, req: &httpd::Request, digest: &str) -> io::Result<()> {
    let method = req.method.as_str();
    if req.header("Authorization").is_some() {
        let body =
            b"<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>";
        return httpd::respond(conn, method, 400, "application/xml", &[], body);
    }
    match state.sites[REDIRECT_BLOBS].blobs.get(digest) {
        Some(blob) => httpd::respond(conn, method, 200, "application/octet-stream", &[], blob),
        None => not_found(conn, method, "BLOB_UNKNOWN"),
    }
}

/// The value of `key` in a query string.
fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// For the paginating repositories, the referrers page `query` asks for and
/// the next link; `None` for the others.
fn referrers_page(repo: &str, site: &Site, query: &str) -> Option<(Vec<u8>, Option<String>)> {
    let sigs = &site.signatures;
    let base = format!("/v2/{repo}/referrers/{}", site.subject_digest);
    match repo {
        PAGED_REFERRERS => {
            let start = match query_param(query, "last") {
                Some(last) => sigs
                    .iter()
                    .position(|d| d["digest"] == last)
                    .map_or(sigs.len(), |i| i + 1),
                None => 0,
            };
            let end = (start + PAGED_REFERRERS_PER_PAGE).min(sigs.len());
            let page = sigs[start..end].to_vec();
            let next = (end < sigs.len()).then(|| {
                let last = sigs[end - 1]["digest"].as_str().unwrap_or_default();
                format!("{base}?n={PAGED_REFERRERS_PER_PAGE}&last={last}")
            });
            Some((index(page), next))
        }
        LOOP_REFERRERS => {
            let second = query_param(query, "page") == Some("2");
            let (page, next) = if second { (1, 1) } else { (0, 2) };
            Some((
                index(vec![sigs[page].clone()]),
                Some(format!("{base}?page={next}")),
            ))
        }
        CROSSHOST_REFERRERS => {
            let half = sigs.len() / 2;
            Some((
                index(sigs[..half].to_vec()),
                Some(format!(
                    "{CROSSHOST_NEXT}{base}?n={half}&last={}",
                    sigs[half - 1]["digest"].as_str().unwrap_or_default()
                )),
            ))
        }
        _ => None,
    }
}

static EMPTY_INDEX: LazyLock<Vec<u8>> = LazyLock::new(|| index(Vec::new()));

/// Holds the connection for [`STALL`] or until the server stops.
fn hold(stop: &AtomicBool) {
    let until = Instant::now() + STALL;
    while Instant::now() < until && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Streams junk until the peer goes away or the server stops.
fn endless(conn: &mut TcpStream, chunked: bool, stop: &AtomicBool) {
    let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
    let mut junk = vec![b'x'; 8192];
    junk[..9].copy_from_slice(b"{\"junk\":\"");
    let mut first = true;
    loop {
        let payload: &[u8] = if first { &junk } else { &junk[9..] };
        first = false;
        let mut frame = Vec::with_capacity(payload.len() + 16);
        if chunked {
            frame.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
        }
        frame.extend_from_slice(payload);
        if chunked {
            frame.extend_from_slice(b"\r\n");
        }
        if !patient_write(conn, &frame, stop) {
            return;
        }
    }
}

/// Writes all of `buf`, waiting out a peer that does not read; false when
/// the peer is gone or the server stops.
fn patient_write(conn: &mut TcpStream, mut buf: &[u8], stop: &AtomicBool) -> bool {
    while !buf.is_empty() {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        match conn.write(buf) {
            Ok(0) => return false,
            Ok(n) => buf = &buf[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tampered_manifest_is_valid_json_of_the_same_length() {
        let s = site(MISMATCH_MANIFEST, 0, true);
        let t = tamper(&s.subject);
        assert_eq!(t.len(), s.subject.len());
        assert_ne!(sha256_digest(&t), s.subject_digest);
        serde_json::from_slice::<serde_json::Value>(&t).unwrap();
    }

    #[test]
    fn huge_index_is_json_over_8_mib() {
        assert!(HUGE_INDEX.len() >= HUGE_REFERRERS_SIZE);
        let v: serde_json::Value = serde_json::from_slice(&HUGE_INDEX).unwrap();
        assert!(v["manifests"].as_array().unwrap().len() > 10_000);
    }
}
