//! A real RFC 3161 Time Stamping Authority on loopback, backed by `openssl ts`.
//!
//! [`Tsa::start`] generates a TSA root CA and a TSA leaf (EKU timeStamping,
//! critical) with [`crate::pki`], writes an `openssl ts` configuration into
//! a fresh temporary directory and serves HTTP/1.1 on `127.0.0.1:<port>`:
//! every POST body is written to a file and answered with the output of
//! `openssl ts -reply` as `application/timestamp-reply`. [`Mode`] switches
//! the server to the failures tests need (rejection, garbage, a wrong content
//! type, a canned response, stalling). Dropping the [`Tsa`] stops it.
//!
//! The `openssl` binary is required: [`Tsa::start`] panics, saying so, when
//! it cannot be run, so a test never passes without a real TSA.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

use crate::pki::{self, Cert, CertOptions};

/// The TSA policy the server stamps with.
pub const POLICY: &str = "1.2.3.4.1";

/// How the server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A real token from `openssl ts -reply`.
    Grant,
    /// A `TimeStampResp` with status rejection (2), failInfo badAlg.
    Reject,
    /// Bytes that are no DER at all, labelled `application/timestamp-reply`.
    Garbage,
    /// A granted response labelled `text/plain`.
    WrongContentType,
    /// These exact bytes as `application/timestamp-reply`, whatever was asked.
    Fixed(Vec<u8>),
    /// Read the request and never answer (until the server is dropped).
    Stall,
}

/// A TimeStampResp: status rejection, failInfo bit 0 (badAlg).
pub const REJECTION: [u8; 11] = [0x30, 0x09, 0x30, 0x07, 0x02, 0x01, 0x02, 0x03, 0x02, 0x07, 0x80];

struct Shared {
    dir: PathBuf,
    mode: Mutex<Mode>,
    stop: AtomicBool,
    requests: AtomicUsize,
    counter: AtomicUsize,
}

/// A running TSA; dropping it stops the server and removes its files.
pub struct Tsa {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    /// The TSA root CA.
    pub root: Cert,
    /// The TSA signing certificate (issued by [`Tsa::root`]).
    pub leaf: Cert,
}

/// Panics unless the `openssl` CLI runs.
pub fn require_openssl() {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "the `openssl` command is required by the TSA tests (it signs the timestamp tokens) but could not be run; install OpenSSL"
    );
}

fn p256_key_pem() -> String {
    KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)
        .expect("generate P-256 key")
        .serialize_pem()
}

fn temp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "signet-tsa-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("create TSA temp dir");
    dir
}

impl Tsa {
    /// Starts a granting TSA with a freshly generated root and TSA certificate.
    pub fn start() -> Tsa {
        let root_key = p256_key_pem();
        let leaf_key = p256_key_pem();
        let root = pki::self_signed(&CertOptions::root("Test TSA Root"), &root_key);
        let leaf = pki::issue(&CertOptions::tsa_leaf("Test TSA"), &leaf_key, &root);
        Self::start_with(root, leaf)
    }

    /// Starts a granting TSA signing with `leaf` (its `key_pem` must be set),
    /// issued by `root`.
    pub fn start_with(root: Cert, leaf: Cert) -> Tsa {
        require_openssl();
        let dir = temp_dir();
        std::fs::write(dir.join("tsa.key"), &leaf.key_pem).unwrap();
        std::fs::write(dir.join("tsa.crt"), &leaf.pem).unwrap();
        std::fs::write(dir.join("root.crt"), &root.pem).unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        std::fs::write(dir.join("ts.cnf"), config(&dir)).unwrap();

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TSA listener");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            dir,
            mode: Mutex::new(Mode::Grant),
            stop: AtomicBool::new(false),
            requests: AtomicUsize::new(0),
            counter: AtomicUsize::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    let _ = serve(&s, stream);
                });
            }
        });
        Tsa {
            shared,
            addr,
            accept: Some(accept),
            root,
            leaf,
        }
    }

    /// `http://127.0.0.1:<port>/` — the TSA URL.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Switches how the server answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// How many requests have been received.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The directory holding the TSA's files (`root.crt`, `tsa.crt`, `ts.cnf`).
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Writes the TSA root certificate (PEM) to `path`.
    pub fn write_root(&self, path: &Path) {
        std::fs::write(path, &self.root.pem).unwrap();
    }

    /// Answers a DER `TimeStampReq` with `openssl ts -reply`, without HTTP;
    /// returns the DER `TimeStampResp`.
    pub fn reply(&self, query: &[u8]) -> Vec<u8> {
        reply(&self.shared, query)
    }

    /// A token (DER) over SHA-256 of `data`, made by `openssl ts -query` and
    /// `-reply`: for tests that need a genuine token over other bytes.
    pub fn token_over(&self, data: &[u8]) -> Vec<u8> {
        let n = self.shared.counter.fetch_add(1, Ordering::SeqCst);
        let dir = &self.shared.dir;
        let data_path = dir.join(format!("data-{n}"));
        let query_path = dir.join(format!("q-{n}.tsq"));
        let token_path = dir.join(format!("t-{n}.der"));
        std::fs::write(&data_path, data).unwrap();
        run_openssl(&[
            "ts",
            "-query",
            "-data",
            path_str(&data_path),
            "-sha256",
            "-cert",
            "-out",
            path_str(&query_path),
        ]);
        run_openssl(&[
            "ts",
            "-reply",
            "-config",
            path_str(&dir.join("ts.cnf")),
            "-queryfile",
            path_str(&query_path),
            "-token_out",
            "-out",
            path_str(&token_path),
        ]);
        std::fs::read(token_path).unwrap()
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        let _ = std::fs::remove_dir_all(&self.shared.dir);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn run_openssl(args: &[&str]) -> Vec<u8> {
    try_openssl(args).unwrap_or_else(|e| panic!("{e}"))
}

fn try_openssl(args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .map_err(|e| format!("the `openssl` command is required by the TSA tests: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "openssl {} failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

fn config(dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {d}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.crt
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {POLICY}
other_policies = 1.2.3.4.5
digests = sha256, sha384, sha512
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"
    )
}

fn reply(shared: &Shared, query: &[u8]) -> Vec<u8> {
    try_reply(shared, query).unwrap_or_else(|e| panic!("{e}"))
}

fn try_reply(shared: &Shared, query: &[u8]) -> Result<Vec<u8>, String> {
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    let query_path = shared.dir.join(format!("req-{n}.tsq"));
    let resp_path = shared.dir.join(format!("resp-{n}.tsr"));
    std::fs::write(&query_path, query).map_err(|e| e.to_string())?;
    let ran = try_openssl(&[
        "ts",
        "-reply",
        "-config",
        path_str(&shared.dir.join("ts.cnf")),
        "-queryfile",
        path_str(&query_path),
        "-out",
        path_str(&resp_path),
    ]);
    let resp = ran.and_then(|_| std::fs::read(&resp_path).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(query_path);
    let _ = std::fs::remove_file(resp_path);
    resp
}

/// Reads one HTTP/1.1 request: the body (by `Content-Length`).
fn read_request(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf.split_off(header_end);
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(body)
}

fn serve(shared: &Shared, mut stream: TcpStream) -> std::io::Result<()> {
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(());
    }
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = read_request(&mut stream)?;
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let mode = shared.mode.lock().unwrap().clone();
    let granted = |content_type: &'static str| match try_reply(shared, &body) {
        Ok(resp) => ("200 OK", content_type, resp),
        Err(e) => ("500 Internal Server Error", "text/plain", e.into_bytes()),
    };
    let (status, content_type, payload) = match mode {
        Mode::Grant => granted("application/timestamp-reply"),
        Mode::WrongContentType => granted("text/plain"),
        Mode::Reject => ("200 OK", "application/timestamp-reply", REJECTION.to_vec()),
        Mode::Garbage => (
            "200 OK",
            "application/timestamp-reply",
            b"this is not a timestamp response".to_vec(),
        ),
        Mode::Fixed(bytes) => ("200 OK", "application/timestamp-reply", bytes),
        Mode::Stall => {
            while !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&payload)?;
    stream.flush()
}
