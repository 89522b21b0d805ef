//! Throwaway TLS material for servers the tests start on loopback: a CA and
//! a server certificate for `localhost` / `127.0.0.1`, and client
//! certificates for mutual TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

/// A CA and what it issued, written to files.
pub struct TlsFiles {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// The CA certificate file.
    pub ca_file: PathBuf,
    /// The issued certificate file.
    pub cert_file: PathBuf,
    /// Its private key file (PKCS#8 PEM).
    pub key_file: PathBuf,
}

impl TlsFiles {
    /// The certificate and key in one PEM (what `reqwest::Identity::from_pem` takes).
    pub fn identity_pem(&self) -> Vec<u8> {
        let mut pem = std::fs::read(&self.cert_file).unwrap();
        pem.extend(std::fs::read(&self.key_file).unwrap());
        pem
    }
}

fn ca(common_name: &str) -> (String, Issuer<'static, KeyPair>) {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name.push(DnType::CommonName, common_name);
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    (ca_cert.pem(), Issuer::new(ca_params, ca_key))
}

fn write(dir: &Path, prefix: &str, ca_pem: String, cert_pem: String, key_pem: String) -> TlsFiles {
    let files = TlsFiles {
        ca_pem,
        ca_file: dir.join(format!("{prefix}ca.pem")),
        cert_file: dir.join(format!("{prefix}cert.pem")),
        key_file: dir.join(format!("{prefix}key.pem")),
    };
    std::fs::write(&files.ca_file, &files.ca_pem).unwrap();
    std::fs::write(&files.cert_file, cert_pem).unwrap();
    std::fs::write(&files.key_file, key_pem).unwrap();
    files
}

/// A new CA and a server certificate for `localhost` and `127.0.0.1`,
/// written to `dir` as `<prefix>ca.pem`, `<prefix>cert.pem`, `<prefix>key.pem`.
pub fn server(dir: &Path, prefix: &str) -> TlsFiles {
    let (ca_pem, issuer) = ca(&format!("signet-testkit {prefix}server CA"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("server key");
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).expect("server params");
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    params.distinguished_name.push(DnType::CommonName, "localhost");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer).expect("server certificate");
    write(dir, prefix, ca_pem, cert.pem(), key.serialize_pem())
}

/// A new CA and a client certificate (`clientAuth`) with common name `cn`,
/// written to `dir` as `<prefix>ca.pem`, `<prefix>cert.pem`, `<prefix>key.pem`.
pub fn client(dir: &Path, prefix: &str, cn: &str) -> TlsFiles {
    let (ca_pem, issuer) = ca(&format!("signet-testkit {prefix}client CA"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).expect("client certificate");
    write(dir, prefix, ca_pem, cert.pem(), key.serialize_pem())
}

/// A tiny HTTPS file server on loopback (rustls, HTTP/1.1, one request per
/// connection): `GET /<name>` answers what [`HttpsFiles::serve`] put there,
/// anything else 404. Its certificate is for `localhost` / `127.0.0.1`,
/// issued by [`HttpsFiles::tls`]'s CA. Stops when dropped.
pub struct HttpsFiles {
    /// The server's CA, certificate and key.
    pub tls: TlsFiles,
    port: u16,
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl HttpsFiles {
    /// Starts the server with its own CA under `dir`.
    pub fn start(dir: &Path) -> Self {
        use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
        use std::{
            io::{Read, Write},
            sync::{Arc, Mutex, atomic::AtomicBool},
        };

        let tls = server(dir, "https-files-");
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&tls.key_file).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<std::collections::HashMap<String, Vec<u8>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (f, s) = (files.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                let Ok((tcp, _)) = listener.accept() else {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    continue;
                };
                let _ = tcp.set_nonblocking(false);
                let _ = tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut stream = rustls::StreamOwned::new(conn, tcp);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let path = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_owned();
                let body = f.lock().unwrap().get(&path).cloned();
                let response = match body {
                    Some(b) => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        r.extend(b);
                        r
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
                    }
                };
                let _ = stream.write_all(&response);
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
        });
        Self {
            tls,
            port,
            files,
            stop,
        }
    }

    /// Serves `bytes` at `/<name>`.
    pub fn serve(&self, name: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(name.to_owned(), bytes);
    }

    /// `https://localhost:PORT/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!("https://localhost:{}/{name}", self.port)
    }
}

impl Drop for HttpsFiles {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
