//! HTTPS serving for Signet's long-running services (admission webhook,
//! signing service): one rustls listener with optional client certificates,
//! the serving certificate re-read when its files change, and a graceful
//! drain on shutdown.
//!
//! It owns sockets and TLS only. Routes, state and what a client certificate
//! means belong to the service: each request carries the verified client
//! chain as a [`PeerCertificates`] extension.

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpListener;
use tower::ServiceExt;
use tracing::{info, warn};

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving certificate and, optionally, the CA that client certificates
/// must chain to.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// PEM CA certificates for client certificates. Connections without a
    /// certificate are still accepted; handlers decide what that means.
    pub client_ca_file: Option<PathBuf>,
}

/// The TLS listener could not be set up, or a certificate could not be reloaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or socket operation failed.
    #[error("cannot {action} {target}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or address.
        target: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The serving certificate, its key or the client CA is unusable.
    #[error("TLS: {0}")]
    Tls(String),
}

fn io(action: &'static str, target: impl std::fmt::Display, source: std::io::Error) -> Error {
    Error::Io {
        action,
        target: target.to_string(),
        source,
    }
}

/// The client certificate chain the connection presented (leaf first) and
/// the TLS layer verified against [`TlsFiles::client_ca_file`]; empty when
/// the client sent none. Inserted into every request's extensions.
#[derive(Debug, Clone, Default)]
pub struct PeerCertificates(pub Arc<Vec<CertificateDer<'static>>>);

impl PeerCertificates {
    /// Whether the client authenticated with a certificate.
    pub fn authenticated(&self) -> bool {
        !self.0.is_empty()
    }

    /// The client's own certificate, DER.
    pub fn leaf(&self) -> Option<&[u8]> {
        self.0.first().map(|c| c.as_ref())
    }
}

/// A bound HTTPS listener.
pub struct Listener {
    /// The address it listens on.
    pub local_addr: SocketAddr,
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    certs: Arc<CertReloader>,
}

impl Listener {
    /// Loads the certificate files and binds `addr`.
    pub async fn bind(addr: SocketAddr, tls: &TlsFiles) -> Result<Self, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let certs = Arc::new(CertReloader::load(
            &tls.cert_file,
            &tls.key_file,
            provider.clone(),
        )?);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let builder = match &tls.client_ca_file {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certificates(ca)? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(certs.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| io("listen on", addr, e))?;
        let local_addr = listener.local_addr().map_err(|e| io("listen on", addr, e))?;
        Ok(Self {
            local_addr,
            listener,
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certs,
        })
    }

    /// The serving certificate, to re-read it (from any thread) with
    /// [`Certificates::reload`].
    pub fn certificates(&self) -> Certificates {
        Certificates(self.certs.clone())
    }

    /// Serves `app` until `shutdown` completes, then stops accepting, calls
    /// `on_shutdown` (services flip `/readyz` there) and lets requests in
    /// flight finish for at most `drain`.
    pub async fn serve(
        self,
        app: Router,
        shutdown: impl Future<Output = ()>,
        on_shutdown: impl FnOnce(),
        drain: Duration,
    ) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = self.acceptor.clone();
                    let app = app.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                info!(%peer, "TLS handshake failed: {e}");
                                return;
                            }
                            Err(_) => {
                                info!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                        let chain: Vec<CertificateDer<'static>> = tls
                            .get_ref()
                            .1
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default();
                        let peer_certs = PeerCertificates(Arc::new(chain));
                        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(peer_certs.clone());
                            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                            app.clone().oneshot(req)
                        });
                        let connection = builder.serve_connection(TokioIo::new(tls), service);
                        if let Err(e) = watcher.watch(connection.into_owned()).await {
                            info!(%peer, "connection ended: {e}");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        info!("shutting down: no new connections; finishing requests in flight");
        on_shutdown();
        drop(self.listener);
        if tokio::time::timeout(drain, graceful.shutdown()).await.is_err() {
            warn!("requests still in flight after {drain:?}; closing them");
        }
    }
}

/// A handle on the serving certificate.
#[derive(Clone)]
pub struct Certificates(Arc<CertReloader>);

impl Certificates {
    /// Re-reads the certificate and key files if they changed; `Ok(true)`
    /// when a new pair is in use. On error the previous pair stays.
    pub fn reload(&self) -> Result<bool, Error> {
        self.0.reload()
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The serving certificate, re-read when its files change (cert-manager
/// renewals land without a restart).
#[derive(Debug)]
struct CertReloader {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Vec<u8>, Arc<CertifiedKey>)>,
}

impl CertReloader {
    fn load(cert_file: &Path, key_file: &Path, provider: Arc<CryptoProvider>) -> Result<Self, Error> {
        let (stamp, key) = load_certified_key(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            provider,
            current: RwLock::new((stamp, key)),
        })
    }

    fn reload(&self) -> Result<bool, Error> {
        let stamp = file_stamp(&self.cert_file, &self.key_file)?;
        if self.current.read().map(|c| c.0 == stamp).unwrap_or(false) {
            return Ok(false);
        }
        let (stamp, key) = load_certified_key(&self.cert_file, &self.key_file, &self.provider)?;
        if let Ok(mut c) = self.current.write() {
            *c = (stamp, key);
        }
        info!(cert = %self.cert_file.display(), "serving certificate reloaded");
        Ok(true)
    }
}

impl ResolvesServerCert for CertReloader {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.1.clone())
    }
}

fn file_stamp(cert_file: &Path, key_file: &Path) -> Result<Vec<u8>, Error> {
    let mut stamp = std::fs::read(cert_file).map_err(|e| io("read", cert_file.display(), e))?;
    stamp.extend(std::fs::read(key_file).map_err(|e| io("read", key_file.display(), e))?);
    Ok(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &stamp)
        .as_ref()
        .to_vec())
}

/// Reads every PEM certificate in `path`; at least one.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{}: no PEM certificate found",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> Result<(Vec<u8>, Arc<CertifiedKey>), Error> {
    let stamp = file_stamp(cert_file, key_file)?;
    let certs = read_certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| Error::Tls(format!("{}: {e}", key_file.display())))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| Error::Tls(format!("{}: {e}", key_file.display())))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match().map_err(|e| {
        Error::Tls(format!(
            "{} does not belong to {}: {e}",
            key_file.display(),
            cert_file.display()
        ))
    })?;
    Ok((stamp, Arc::new(certified)))
}

/// Reads a UTF-8 configuration file of at most `limit` bytes; a larger one
/// is an `InvalidData` error saying so.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(text)
}

/// Parses a configuration duration: a whole number and a unit, `500ms`,
/// `3s`, `2m`, `1h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("invalid duration {s:?}: expected a whole number and a unit, e.g. 500ms, 3s, 2m, 1h, 7d")
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86_400)),
        _ => {
            return Err(format!(
                "invalid duration {s:?}: the unit must be ms, s, m, h or d"
            ));
        }
    };
    Ok(d)
}

/// Serde `deserialize_with` for [`parse_duration`] strings.
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// Serde `deserialize_with` for an optional [`parse_duration`] string.
pub fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = <Option<String> as serde::Deserialize>::deserialize(d)?;
    s.map(|s| parse_duration(&s).map_err(serde::de::Error::custom))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert!(parse_duration("3").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert!(parse_duration("s").is_err());
    }
}
