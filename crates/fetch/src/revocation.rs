//! OCSP and CRL over HTTP: the network half of `notary::revocation`.
//!
//! [`HttpRevocationChecker`] checks every certificate of a chain except the
//! root (which the trust store vouches for directly) against the next
//! certificate, its issuer, as notation does: OCSP first, and when OCSP
//! gives no answer (responder down, slow, broken or `unknown`) the CRL
//! distribution points. A certificate naming neither is non-revokable. The
//! certificates are checked in parallel, one thread each.
//!
//! CRLs can be kept in an on-disk [`CrlCache`] (one file per URL, named by
//! its SHA-256). A cached CRL is used until its `nextUpdate`; an expired one
//! is fetched again. OCSP answers are not cached.
//!
//! Requests are bounded: OCSP bodies by [`OCSP_MAX_BODY`], CRLs by
//! [`CRL_MAX_BODY`], and every request by the caller's timeout.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use notary::{
    revocation::{
        CertStatus, Method, RevocationChecker, RevocationEndpoints,
        crl::{self, Crl, CrlVerdict},
        describe,
        ocsp::{self, CertIdHash, OcspVerdict},
    },
    x509::Certificate,
};
use time::OffsetDateTime;

use crate::http::{Client, Limits};

/// Largest OCSP response accepted (notation allows far less; 1 MiB is ample).
pub const OCSP_MAX_BODY: u64 = 1024 * 1024;
/// Largest CRL accepted.
pub const CRL_MAX_BODY: u64 = 32 * 1024 * 1024;

/// How many network requests and cache lookups a checker made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// OCSP requests sent.
    pub ocsp: u64,
    /// CRL GETs sent (base and delta).
    pub crl: u64,
    /// CRLs served from the cache.
    pub cache_hits: u64,
    /// Cached CRLs found expired and fetched again.
    pub cache_expired: u64,
}

#[derive(Debug, Default)]
struct Counters {
    ocsp: AtomicU64,
    crl: AtomicU64,
    cache_hits: AtomicU64,
    cache_expired: AtomicU64,
}

/// Revocation checking over HTTP with an optional CRL file cache.
#[derive(Debug)]
pub struct HttpRevocationChecker {
    ocsp_client: Client,
    crl_client: Client,
    crl_cache: Option<CrlCache>,
    counters: Counters,
}

impl HttpRevocationChecker {
    /// A checker whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            ocsp_client: Client::new(Limits {
                timeout,
                max_body: OCSP_MAX_BODY,
            }),
            crl_client: Client::new(Limits {
                timeout,
                max_body: CRL_MAX_BODY,
            }),
            crl_cache: None,
            counters: Counters::default(),
        }
    }

    /// Keeps fetched CRLs in `cache`.
    pub fn with_crl_cache(mut self, cache: CrlCache) -> Self {
        self.crl_cache = Some(cache);
        self
    }

    /// Requests made so far.
    pub fn requests(&self) -> RequestCounts {
        RequestCounts {
            ocsp: self.counters.ocsp.load(Ordering::Relaxed),
            crl: self.counters.crl.load(Ordering::Relaxed),
            cache_hits: self.counters.cache_hits.load(Ordering::Relaxed),
            cache_expired: self.counters.cache_expired.load(Ordering::Relaxed),
        }
    }

    /// The status of `chain[index]`, checked against its issuer `chain[index + 1]`.
    fn check_one(&self, index: usize, cert: &Certificate, issuer: &Certificate) -> CertStatus {
        let endpoints = RevocationEndpoints::of(cert);
        if endpoints.is_empty() {
            return CertStatus::NonRevokable;
        }
        let mut problems = Vec::new();
        for url in &endpoints.ocsp {
            match self.ocsp(url, cert, issuer) {
                Ok(OcspVerdict::Good) => return CertStatus::Good,
                Ok(OcspVerdict::Revoked { revoked_at, reason }) => {
                    let why = reason.map(crl::reason_name).unwrap_or("unspecified");
                    tracing::debug!(url, %revoked_at, why, "certificate #{} revoked via OCSP", index + 1);
                    return CertStatus::Revoked {
                        detail: describe(index, cert, Method::Ocsp, url, "certificate is revoked via OCSP"),
                    };
                }
                Ok(OcspVerdict::Unknown) => {
                    problems.push(describe(
                        index,
                        cert,
                        Method::Ocsp,
                        url,
                        "certificate status is unknown",
                    ));
                }
                Err(e) => problems.push(describe(index, cert, Method::Ocsp, url, &e)),
            }
        }
        if !endpoints.ocsp.is_empty() && !endpoints.crl.is_empty() {
            tracing::warn!(
                "OCSP check failed with unknown error and fallback to CRL check for certificate #{}: {}",
                index + 1,
                problems.join("; ")
            );
        }
        for url in &endpoints.crl {
            match self.crl(url, cert, issuer) {
                Ok(CrlVerdict::Good) => return CertStatus::Good,
                Ok(CrlVerdict::Revoked { reason, revoked_at }) => {
                    let why = reason.map(crl::reason_name).unwrap_or("unspecified");
                    let what = format!("certificate is revoked via CRL (reason {why}, at {revoked_at})");
                    return CertStatus::Revoked {
                        detail: describe(index, cert, Method::Crl, url, &what),
                    };
                }
                Err(e) => problems.push(describe(index, cert, Method::Crl, url, &e)),
            }
        }
        CertStatus::Unknown {
            detail: problems.join("; "),
        }
    }

    fn ocsp(&self, url: &str, cert: &Certificate, issuer: &Certificate) -> Result<OcspVerdict, String> {
        let req = ocsp::request(cert, issuer, CertIdHash::Sha256).map_err(|e| e.to_string())?;
        self.counters.ocsp.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .ocsp_client
            .post(url, ocsp::REQUEST_CONTENT_TYPE, req)
            .map_err(|e| e.to_string())?;
        tracing::debug!(
            url,
            content_type = resp.content_type.as_deref(),
            "OCSP response received"
        );
        ocsp::check_response(&resp.body, cert, issuer, OffsetDateTime::now_utc()).map_err(|e| e.to_string())
    }

    fn crl(&self, url: &str, cert: &Certificate, issuer: &Certificate) -> Result<CrlVerdict, String> {
        let now = OffsetDateTime::now_utc();
        if let Some(cache) = &self.crl_cache
            && let Some((base, delta)) = cache.get(url)
        {
            let expiry = [Some(&base), delta.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(Crl::next_update)
                .min();
            match expiry {
                Some(at) if now > at => {
                    self.counters.cache_expired.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(url, "CRL bundle retrieved from file cache has expired at {at}");
                }
                _ => {
                    if let Ok(v) = crl::check(cert, issuer, &base, delta.as_ref(), now) {
                        self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(v);
                    }
                    tracing::info!(
                        url,
                        "CRL bundle retrieved from file cache is not usable; fetching again"
                    );
                }
            }
        }
        let (base, delta) = self.fetch_bundle(url)?;
        let verdict = crl::check(cert, issuer, &base, delta.as_ref(), now).map_err(|e| e.to_string())?;
        if let Some(cache) = &self.crl_cache
            && let Err(e) = cache.put(url, &base, delta.as_ref())
        {
            tracing::warn!(url, "failed to store CRL in the file cache: {e}");
        }
        Ok(verdict)
    }

    fn fetch_bundle(&self, url: &str) -> Result<(Crl, Option<Crl>), String> {
        let base = self.fetch_crl(url)?;
        let urls = base
            .freshest_crl_urls()
            .map_err(|e| format!("failed to parse Freshest CRL extension: {e}"))?;
        let mut last = None;
        for delta_url in &urls {
            match self.fetch_crl(delta_url) {
                Ok(delta) => return Ok((base, Some(delta))),
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) => Err(e),
            None => Ok((base, None)),
        }
    }

    fn fetch_crl(&self, url: &str) -> Result<Crl, String> {
        self.counters.crl.fetch_add(1, Ordering::Relaxed);
        let resp = self
            .crl_client
            .get(url)
            .map_err(|e| format!("failed to retrieve CRL: {e}"))?;
        Crl::from_der(&resp.body).map_err(|e| format!("failed to retrieve CRL: {e}"))
    }
}

impl RevocationChecker for HttpRevocationChecker {
    fn check(&self, chain: &[Certificate]) -> Vec<CertStatus> {
        let n = chain.len();
        if n == 0 {
            return Vec::new();
        }
        let mut out: Vec<CertStatus> = std::thread::scope(|s| {
            let handles: Vec<_> = chain
                .windows(2)
                .enumerate()
                .map(|(i, pair)| s.spawn(move || self.check_one(i, &pair[0], &pair[1])))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| CertStatus::Unknown {
                        detail: "revocation check panicked".into(),
                    })
                })
                .collect()
        });
        // The root (or a lone self-signed certificate) is trusted directly.
        out.push(CertStatus::NonRevokable);
        out
    }
}

/// A directory of fetched CRLs, one file per URL (plus one for its delta CRL).
#[derive(Debug, Clone)]
pub struct CrlCache {
    dir: PathBuf,
}

impl CrlCache {
    /// A cache in `dir`, created on first store.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding the base CRL fetched from `url`.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, url.as_bytes());
        self.dir.join(format!("{}.crl", hex::encode(digest.as_ref())))
    }

    fn delta_path_for(&self, url: &str) -> PathBuf {
        self.path_for(url).with_extension("delta.crl")
    }

    /// The cached base CRL (and delta CRL) for `url`, if present and parsable.
    pub fn get(&self, url: &str) -> Option<(Crl, Option<Crl>)> {
        let base = Crl::from_der(&std::fs::read(self.path_for(url)).ok()?).ok()?;
        let delta = match std::fs::read(self.delta_path_for(url)) {
            Ok(bytes) => Some(Crl::from_der(&bytes).ok()?),
            Err(_) => None,
        };
        Some((base, delta))
    }

    /// Stores `base` (and `delta`) for `url`, replacing what was there.
    pub fn put(&self, url: &str, base: &Crl, delta: Option<&Crl>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        write_atomic(&self.path_for(url), base.der())?;
        let delta_path = self.delta_path_for(url);
        match delta {
            Some(d) => write_atomic(&delta_path, d.der()),
            None => match std::fs::remove_file(&delta_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
