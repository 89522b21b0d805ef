//! Real revocation peers on loopback: an `openssl ocsp` responder and a tiny
//! HTTP/1.1 server for CRL files (which can also stall or refuse, to play a
//! responder that is down or slower than the client's timeout).
//!
//! Both stop when dropped. The upstream vector certificates have their
//! endpoints baked in (`http://localhost:10086/…` for CRLs,
//! `http://localhost:10087` for OCSP), so tests that use them must bind those
//! exact ports: take [`fixed_ports`] first so such tests run one at a time,
//! and expect a loud panic when something else holds the port.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// The CRL port named inside the e2e vector certificates.
pub const VECTOR_CRL_PORT: u16 = 10086;
/// The OCSP port named inside the e2e vector certificates.
pub const VECTOR_OCSP_PORT: u16 = 10087;

/// Held while a test uses [`VECTOR_CRL_PORT`] / [`VECTOR_OCSP_PORT`].
pub struct FixedPorts {
    _file: std::fs::File,
    _guard: MutexGuard<'static, ()>,
}

/// Serialises the tests that bind [`VECTOR_CRL_PORT`] / [`VECTOR_OCSP_PORT`]:
/// within this process by a mutex, and across processes (two `cargo test`
/// runs at once) by an exclusive lock on a file in the temp directory.
pub fn fixed_ports() -> FixedPorts {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = std::env::temp_dir().join("signet-vector-revocation-ports.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    FixedPorts {
        _file: file,
        _guard: guard,
    }
}

/// Panics loudly unless the `openssl` command is on PATH.
pub fn require_openssl() {
    let ok = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "THIS TEST NEEDS THE `openssl` COMMAND (the OCSP responder is `openssl ocsp`); install it (apt-get install openssl)"
    );
}

/// What the OCSP responder's index says about the vector leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspState {
    /// `V` line: good.
    Good,
    /// `R` line: revoked.
    Revoked,
    /// Empty index: unknown.
    Unknown,
}

const LEAF_INDEX_TAIL: &str = "21250121012109Z\t250214013720Z\t520D9B1364D98367711DA2B6A0A0F34B23E3D02A\tunknown\t/C=US/ST=State/L=City/O=Organization/OU=OrgUnit/CN=LeafCert";

/// The `index.txt` content of INDEX §1.7 for `state`.
pub fn ocsp_index(state: OcspState) -> String {
    match state {
        OcspState::Good => format!("V\t{LEAF_INDEX_TAIL}\n"),
        OcspState::Revoked => format!("R\t{LEAF_INDEX_TAIL}\n"),
        OcspState::Unknown => String::new(),
    }
}

/// An `openssl ocsp` responder for the e2e OCSP vectors.
pub struct OcspResponder {
    child: Child,
    probe: Vec<u8>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OcspResponder {
    /// Starts the responder on `port` with the vector CA, the
    /// vector responder certificate and an index in `state`; returns once the
    /// port accepts connections.
    pub fn start(port: u16, state: OcspState) -> Self {
        let src = crate::vector("e2e/config/ocsp");
        let read = |f: &str| std::fs::read_to_string(src.join(f)).unwrap();
        Self::start_with(
            port,
            &read("root.crt"),
            &read("ocsp.crt"),
            &read("ocsp.key"),
            &ocsp_index(state),
        )
    }

    /// Starts `openssl ocsp` on `port` (0 picks a free one) for the CA
    /// `ca_pem`, signing with `signer_pem` / `signer_key_pem`, with an
    /// `index.txt` of `index`; returns once it answers a request.
    pub fn start_with(port: u16, ca_pem: &str, signer_pem: &str, signer_key_pem: &str, index: &str) -> Self {
        require_openssl();
        let port = if port == 0 { free_port() } else { port };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("root.crt"), ca_pem).unwrap();
        std::fs::write(dir.path().join("ocsp.crt"), signer_pem).unwrap();
        std::fs::write(dir.path().join("ocsp.key"), signer_key_pem).unwrap();
        std::fs::write(dir.path().join("index.txt"), index).unwrap();
        std::fs::write(dir.path().join("index.txt.attr"), "unique_subject = no\n").unwrap();
        let out = Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "ocsp",
                "-issuer",
                "root.crt",
                "-serial",
                "1",
                "-no_nonce",
                "-reqout",
                "probe.der",
            ])
            .output()
            .expect("run openssl ocsp -reqout");
        assert!(
            out.status.success(),
            "openssl ocsp -reqout: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let probe = std::fs::read(dir.path().join("probe.der")).unwrap();
        assert_port_free(port);
        let child = Command::new("openssl")
            .current_dir(dir.path())
            // OpenSSL 3.0 takes a bare port here and listens on every interface.
            .args(["ocsp", "-port"])
            .arg(port.to_string())
            .args([
                "-index",
                "index.txt",
                "-CA",
                "root.crt",
                "-rsigner",
                "ocsp.crt",
                "-rkey",
                "ocsp.key",
            ])
            .args(["-nmin", "5", "-ignore_err"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("ocsp.log")).unwrap(),
            ))
            .spawn()
            .expect("spawn openssl ocsp");
        let mut me = Self {
            child,
            probe,
            port,
            _dir: dir,
        };
        me.wait_ready();
        me
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A connection closed without a request sends OpenSSL 3.0's
            // responder into a busy loop on EOF, so readiness is a real OCSP
            // exchange: a request about serial 1 that it answers.
            if let Ok(mut probe) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = probe.set_read_timeout(Some(Duration::from_secs(5)));
                let mut req = format!(
                    "POST / HTTP/1.0\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
                    self.probe.len()
                )
                .into_bytes();
                req.extend_from_slice(&self.probe);
                let mut answer = Vec::new();
                if probe.write_all(&req).is_ok()
                    && probe.read_to_end(&mut answer).is_ok()
                    && answer.starts_with(b"HTTP/")
                {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("ocsp.log")).unwrap_or_default();
                panic!("openssl ocsp exited early ({status}): {log}");
            }
            assert!(
                Instant::now() < deadline,
                "openssl ocsp did not accept on port {} within 15 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The responder's log (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("ocsp.log")).unwrap_or_default()
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_port_free(port: u16) {
    if port == 0 {
        return;
    }
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => drop(l),
        Err(e) => panic!(
            "port 127.0.0.1:{port} is taken ({e}); the vector certificates name it, so the test cannot run — stop whatever holds it"
        ),
    }
}

/// What the HTTP server does for one path.
#[derive(Debug, Clone)]
pub enum Route {
    /// 200 with these bytes and content type.
    Bytes(Vec<u8>, String),
    /// Wait this long before answering with the bytes (a slow peer).
    Stall(Duration, Vec<u8>),
    /// Answer with this status and no body.
    Status(u16),
    /// Close the connection without answering.
    Refuse,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    hits: HashMap<String, usize>,
}

/// A tiny HTTP/1.1 server on loopback; one thread per connection,
/// `Connection: close` on every answer.
pub struct HttpServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on `127.0.0.1:port` (0 picks a free port); panics loudly when
    /// the port is taken.
    pub fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:{port} for the test HTTP server: {e}"));
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Self {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:<port>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("http://localhost:{}/{}", self.port, name.trim_start_matches('/'))
    }

    /// Sets what `GET /<name>` (or POST) answers.
    pub fn route(&self, name: &str, route: Route) {
        let path = format!("/{}", name.trim_start_matches('/'));
        self.state.lock().unwrap().routes.insert(path, route);
    }

    /// Serves `bytes` at `/<name>` as `application/pkix-crl`.
    pub fn serve(&self, name: &str, bytes: Vec<u8>) {
        self.route(name, Route::Bytes(bytes, "application/pkix-crl".into()));
    }

    /// How many requests reached `/<name>`.
    pub fn hits(&self, name: &str) -> usize {
        let path = format!("/{}", name.trim_start_matches('/'));
        self.state.lock().unwrap().hits.get(&path).copied().unwrap_or(0)
    }

    /// Requests to all paths.
    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut content_length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            content_length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; content_length.min(1 << 20)];
    let _ = reader.read_exact(&mut body);
    let route = {
        let mut st = state.lock().unwrap();
        *st.hits.entry(path.clone()).or_default() += 1;
        st.routes.get(&path).cloned()
    };
    let mut conn = reader.into_inner();
    let (status, ctype, bytes) = match route {
        Some(Route::Bytes(b, ct)) => (200, ct, b),
        Some(Route::Stall(d, b)) => {
            std::thread::sleep(d);
            (200, "application/pkix-crl".into(), b)
        }
        Some(Route::Status(s)) => (s, "text/plain".into(), Vec::new()),
        Some(Route::Refuse) => return,
        None => (404, "text/plain".into(), Vec::new()),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&bytes);
    let _ = conn.flush();
}

/// Copies `rel` (a vector directory) into a fresh temp dir; returns both.
pub fn copy_vector_dir(rel: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::vector(rel);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let path = dir.path().to_path_buf();
    (dir, path)
}

// ---------------------------------------------------------------- generated chains

/// Where a generated chain's certificates say their status is.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// The leaf's OCSP responder (AIA), if any.
    pub leaf_ocsp: Option<String>,
    /// The base URL of the CRLs: the leaf names `<base>/leaf.crl`, the
    /// intermediate `<base>/intermediate.crl`.
    pub crl_base: Option<String>,
}

/// A root → intermediate → leaf code-signing chain whose certificates name
/// loopback revocation endpoints on ports chosen at run time.
pub struct RevocableChain {
    /// The root CA (trust anchor).
    pub root: rcgen::Certificate,
    /// The intermediate CA.
    pub intermediate: rcgen::Certificate,
    /// The code-signing leaf.
    pub leaf: rcgen::Certificate,
    /// The leaf's private key (PKCS#8 PEM).
    pub leaf_key_pem: String,
    root_key: rcgen::KeyPair,
    root_params: rcgen::CertificateParams,
    intermediate_key: rcgen::KeyPair,
    intermediate_key_pem: String,
    intermediate_params: rcgen::CertificateParams,
}

/// Serial numbers of the generated certificates.
pub const LEAF_SERIAL: u64 = 0x2A3B_4C5D;
/// Serial number of the generated intermediate.
pub const INTERMEDIATE_SERIAL: u64 = 0x2A3B_4C5E;

fn aia_ocsp_der(url: &str) -> Vec<u8> {
    let mut ad = vec![
        0x06,
        0x08,
        0x2b,
        0x06,
        0x01,
        0x05,
        0x05,
        0x07,
        0x30,
        0x01,
        0x86,
        url.len() as u8,
    ];
    ad.extend_from_slice(url.as_bytes());
    let mut access = vec![0x30, ad.len() as u8];
    access.extend(ad);
    let mut out = vec![0x30, access.len() as u8];
    out.extend(access);
    out
}

fn ca_params(cn: &str, serial: u64) -> rcgen::CertificateParams {
    use rcgen::{BasicConstraints, IsCa, KeyUsagePurpose};
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    for (ty, v) in crate::pki::notary_subject(cn) {
        p.distinguished_name.push(ty, v);
    }
    p.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    p.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(365);
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

impl RevocableChain {
    /// Issues the chain with the three PKCS#8 PEM keys (root, intermediate, leaf).
    pub fn new(keys: [&str; 3], endpoints: &Endpoints) -> Self {
        use rcgen::{
            CrlDistributionPoint, CustomExtension, ExtendedKeyUsagePurpose, Issuer, KeyPair, KeyUsagePurpose,
        };
        let root_key = KeyPair::from_pem(keys[0]).unwrap();
        let intermediate_key = KeyPair::from_pem(keys[1]).unwrap();
        let leaf_key = KeyPair::from_pem(keys[2]).unwrap();
        let root_params = ca_params("Revocation Root", 1);
        let root = root_params.self_signed(&root_key).unwrap();

        let mut intermediate_params = ca_params("Revocation Intermediate", INTERMEDIATE_SERIAL);
        if let Some(base) = &endpoints.crl_base {
            intermediate_params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![format!("{base}/intermediate.crl")],
            }];
        }
        let intermediate = intermediate_params
            .signed_by(&intermediate_key, &Issuer::from_params(&root_params, &root_key))
            .unwrap();

        let mut leaf_params = ca_params("Revocation Leaf", LEAF_SERIAL);
        leaf_params.is_ca = rcgen::IsCa::ExplicitNoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        if let Some(base) = &endpoints.crl_base {
            leaf_params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: vec![format!("{base}/leaf.crl")],
            }];
        }
        if let Some(url) = &endpoints.leaf_ocsp {
            leaf_params
                .custom_extensions
                .push(CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                    aia_ocsp_der(url),
                ));
        }
        let leaf = leaf_params
            .signed_by(
                &leaf_key,
                &Issuer::from_params(&intermediate_params, &intermediate_key),
            )
            .unwrap();
        Self {
            root,
            intermediate,
            leaf,
            leaf_key_pem: keys[2].to_owned(),
            root_key,
            root_params,
            intermediate_key,
            intermediate_key_pem: keys[1].to_owned(),
            intermediate_params,
        }
    }

    /// A chain with freshly generated ECDSA P-256 keys.
    pub fn generate(endpoints: &Endpoints) -> Self {
        let key = || {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .unwrap()
                .serialize_pem()
        };
        let (r, i, l) = (key(), key(), key());
        Self::new([&r, &i, &l], endpoints)
    }

    /// The chain as a signing key's certificate file holds it (PEM, leaf first).
    pub fn pem_chain(&self) -> String {
        [&self.leaf, &self.intermediate, &self.root]
            .iter()
            .map(|c| c.pem())
            .collect()
    }

    /// The chain as an envelope carries it (DER, leaf first).
    pub fn ders(&self) -> Vec<Vec<u8>> {
        [&self.leaf, &self.intermediate, &self.root]
            .iter()
            .map(|c| c.der().to_vec())
            .collect()
    }

    /// A CRL (DER) by the leaf's issuer (the intermediate), listing `revoked`
    /// serials with `reason`, valid until `next_update`.
    pub fn leaf_crl(
        &self,
        revoked: &[u64],
        reason: Option<rcgen::RevocationReason>,
        next_update: time::OffsetDateTime,
    ) -> Vec<u8> {
        crl(
            &self.intermediate_params,
            &self.intermediate_key,
            revoked,
            reason,
            next_update,
        )
    }

    /// A CRL (DER) by the root, about the intermediate.
    pub fn intermediate_crl(&self, revoked: &[u64], next_update: time::OffsetDateTime) -> Vec<u8> {
        crl(&self.root_params, &self.root_key, revoked, None, next_update)
    }

    /// Starts `openssl ocsp` on `port` (0 picks one) for the leaf, signed by
    /// the intermediate itself, in `state`.
    pub fn ocsp_responder(&self, port: u16, state: OcspState) -> OcspResponder {
        let serial = format!("{LEAF_SERIAL:08X}");
        let expiry = "351231235959Z";
        let subject = "/CN=Revocation Leaf";
        let index = match state {
            OcspState::Good => format!("V\t{expiry}\t\t{serial}\tunknown\t{subject}\n"),
            OcspState::Revoked => {
                format!("R\t{expiry}\t240101000000Z,keyCompromise\t{serial}\tunknown\t{subject}\n")
            }
            OcspState::Unknown => String::new(),
        };
        OcspResponder::start_with(
            port,
            &self.intermediate.pem(),
            &self.intermediate.pem(),
            &self.intermediate_key_pem,
            &index,
        )
    }
}

fn crl(
    issuer_params: &rcgen::CertificateParams,
    issuer_key: &rcgen::KeyPair,
    revoked: &[u64],
    reason: Option<rcgen::RevocationReason>,
    next_update: time::OffsetDateTime,
) -> Vec<u8> {
    let now = time::OffsetDateTime::now_utc();
    let params = rcgen::CertificateRevocationListParams {
        this_update: now - time::Duration::hours(1),
        next_update,
        crl_number: rcgen::SerialNumber::from(7u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from(*s),
                revocation_time: now - time::Duration::hours(2),
                reason_code: reason,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    params
        .signed_by(&rcgen::Issuer::from_params(issuer_params, issuer_key))
        .unwrap()
        .der()
        .to_vec()
}

/// A loopback port that was free a moment ago (for peers that must be told
/// their port up front, like `openssl ocsp`).
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
