//! OIDC JWTs from CI systems (GitHub Actions, GitLab `id_token`, …), checked
//! against the issuer's JWKS from a file or a URL.
//!
//! What is accepted, in the order it is checked:
//!
//! 1. at most [`MAX_JWT_SIZE`] bytes, three base64url parts, JSON objects;
//! 2. the header's `alg` is one of [`ACCEPTED_ALGORITHMS`] (never `none`,
//!    never `HS*`: a JWKS holds public keys, and HMAC with a public key as the
//!    secret is the classic algorithm-confusion forgery), and no `crit`;
//! 3. the key: by `kid` (required when the JWKS has more than one key); an
//!    unknown kid refetches the JWKS once, at most every 30 s; the key's type,
//!    curve and (if the JWK names one) `alg` must fit the header's alg;
//! 4. the signature (jsonwebtoken, with exactly the header's alg);
//! 5. `iss` equals the configured issuer (a string, exactly), `aud` (string or
//!    array) contains the configured audience, `exp` is required, `exp`, `nbf`
//!    and `iat` are checked with the configured leeway.
//!
//! The JWKS is reloaded every `refresh` (default 5 minutes); when a reload
//! fails, the keys already loaded stay in use.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::{AuthError, Identity, Method, quote};

/// The largest bearer JWT accepted.
pub const MAX_JWT_SIZE: usize = 16 * 1024;
/// The largest JWKS document accepted.
pub const MAX_JWKS_SIZE: u64 = 1024 * 1024;
/// Timeout for fetching a JWKS from a URL.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// An unknown kid refetches the JWKS at most this often.
pub const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The largest clock-skew leeway a configuration may set.
pub const MAX_LEEWAY: Duration = Duration::from_secs(600);
/// The JWS algorithms accepted in a token's header.
pub const ACCEPTED_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// One trusted OIDC issuer.
///
/// ```yaml
/// issuer: https://token.actions.githubusercontent.com
/// audience: signet
/// jwksUrl: https://token.actions.githubusercontent.com/.well-known/jwks
/// leeway: 60s
/// refresh: 5m
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcConfig {
    /// The `iss` value, compared exactly.
    pub issuer: String,
    /// The audience that must be in `aud`.
    pub audience: String,
    /// A JWKS file (exactly one of `jwksFile` and `jwksUrl`).
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL: `https://`, or `http://` only to a loopback IP address
    /// (127.0.0.0/8, `[::1]`).
    pub jwks_url: Option<String>,
    /// PEM CA certificates that are the only roots trusted for `jwksUrl`
    /// (default: the system's roots).
    #[serde(default)]
    pub jwks_ca_file: Option<PathBuf>,
    /// Clock skew allowed for `exp`, `nbf` and `iat` (`"60s"`, `"2m"`, or seconds).
    #[serde(default = "default_leeway", deserialize_with = "https::duration")]
    pub leeway: Duration,
    /// How often the JWKS is reloaded (default `"5m"`).
    #[serde(default = "default_refresh", deserialize_with = "https::duration")]
    pub refresh: Duration,
    /// The claim used as the identity's subject instead of `sub`.
    #[serde(default)]
    pub subject_claim: Option<String>,
}

fn default_leeway() -> Duration {
    Duration::from_secs(60)
}

fn default_refresh() -> Duration {
    Duration::from_secs(300)
}

// ---------------------------------------------------------------------------
// Unverified parsing

/// A JWT split and parsed, nothing verified yet.
struct Parts {
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

fn parse_unverified(jwt: &str) -> Result<Parts, AuthError> {
    if jwt.len() > MAX_JWT_SIZE {
        return Err(AuthError::TooLarge {
            size: jwt.len(),
            limit: MAX_JWT_SIZE,
        });
    }
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(AuthError::Malformed(format!(
            "a JWT has 3 dot-separated parts, this one has {}",
            parts.len()
        )));
    };
    let header = json_part("header", header)?;
    let claims = json_part("claims", claims)?;
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return Err(AuthError::Malformed("the signature is not base64url".into()));
    }
    Ok(Parts { header, claims })
}

fn json_part(what: &str, part: &str) -> Result<Map<String, Value>, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed(format!("the {what} is not base64url")))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AuthError::Malformed(format!("the {what} is not a JSON object"))),
        Err(_) => Err(AuthError::Malformed(format!("the {what} is not JSON"))),
    }
}

/// The header's alg, checked against the allow-list.
fn header_alg(header: &Map<String, Value>) -> Result<Algorithm, AuthError> {
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(AuthError::Malformed("the header's alg is not a string".into())),
        None => return Err(AuthError::Malformed("the header has no alg".into())),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::AlgNone);
    }
    if !ACCEPTED_ALGORITHMS.contains(&alg.as_str()) {
        return Err(AuthError::AlgNotAccepted {
            alg: quote(alg),
            accepted: ACCEPTED_ALGORITHMS.join(", "),
        });
    }
    alg.parse::<Algorithm>().map_err(|_| AuthError::AlgNotAccepted {
        alg: quote(alg),
        accepted: ACCEPTED_ALGORITHMS.join(", "),
    })
}

fn header_kid(header: &Map<String, Value>) -> Result<Option<&str>, AuthError> {
    match header.get("kid") {
        None => Ok(None),
        Some(Value::String(kid)) => Ok(Some(kid)),
        Some(_) => Err(AuthError::Malformed("the header's kid is not a string".into())),
    }
}

// ---------------------------------------------------------------------------
// Keys

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "EC P-256",
            KeyKind::P384 => "EC P-384",
            KeyKind::Ed25519 => "OKP Ed25519",
        }
    }

    fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa => matches!(
                alg,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ),
            KeyKind::P256 => alg == Algorithm::ES256,
            KeyKind::P384 => alg == Algorithm::ES384,
            KeyKind::Ed25519 => alg == Algorithm::EdDSA,
        }
    }
}

struct Key {
    kid: Option<String>,
    kind: KeyKind,
    /// The JWK's `alg`, if it names one.
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl Key {
    fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    fn describe(&self) -> String {
        let alg = self.alg.map(|a| format!(", alg {a:?}")).unwrap_or_default();
        match &self.kid {
            Some(kid) => format!("kid={} ({}{alg})", quote(kid), self.kind.name()),
            None => format!("without kid ({}{alg})", self.kind.name()),
        }
    }
}

struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// Parses a JWKS; keys that cannot verify an accepted JWS alg (encryption
    /// keys, symmetric `oct` keys, P-521, unknown types) are skipped.
    fn parse(bytes: &[u8]) -> Result<Self, String> {
        let doc: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err("not a JWKS: no \"keys\" array".into());
        };
        let mut keys = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_jwk(entry) {
                Ok(key) => keys.push(key),
                Err(why) => tracing::debug!(index = i, "skipping JWKS key: {why}"),
            }
        }
        if keys.is_empty() {
            return Err(format!(
                "none of its {} keys is a usable signing key (RSA, EC P-256/P-384 or Ed25519 for {})",
                entries.len(),
                ACCEPTED_ALGORITHMS.join(", ")
            ));
        }
        Ok(Self { keys })
    }
}

fn parse_jwk(entry: &Value) -> Result<Key, String> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    if let Some(usage) = field("use")
        && usage != "sig"
    {
        return Err(format!("use {usage:?}"));
    }
    let alg = match field("alg") {
        None => None,
        Some(a) if ACCEPTED_ALGORITHMS.contains(&a) => {
            Some(a.parse::<Algorithm>().map_err(|_| format!("alg {a:?}"))?)
        }
        Some(a) => return Err(format!("alg {a:?} is not accepted")),
    };
    let kid = field("kid").map(str::to_owned);
    let need = |name: &str| field(name).ok_or_else(|| format!("no {name:?}"));
    let (kind, decoding) = match (field("kty"), field("crv")) {
        (Some("RSA"), _) => (
            KeyKind::Rsa,
            DecodingKey::from_rsa_components(need("n")?, need("e")?).map_err(|e| e.to_string())?,
        ),
        (Some("EC"), Some(crv @ ("P-256" | "P-384"))) => {
            let (kind, len) = if crv == "P-256" {
                (KeyKind::P256, 32)
            } else {
                (KeyKind::P384, 48)
            };
            let (x, y) = (need("x")?, need("y")?);
            for c in [x, y] {
                if URL_SAFE_NO_PAD.decode(c).map(|b| b.len()) != Ok(len) {
                    return Err(format!("{crv} coordinate of the wrong size"));
                }
            }
            (
                kind,
                DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?,
            )
        }
        (Some("OKP"), Some("Ed25519")) => (
            KeyKind::Ed25519,
            DecodingKey::from_ed_components(need("x")?).map_err(|e| e.to_string())?,
        ),
        (kty, crv) => return Err(format!("kty {kty:?} crv {crv:?} is not a supported signing key")),
    };
    if let Some(a) = alg
        && !kind.fits(a)
    {
        return Err(format!("alg {a:?} does not fit a {} key", kind.name()));
    }
    Ok(Key {
        kid,
        kind,
        alg,
        decoding,
    })
}

// ---------------------------------------------------------------------------
// Where the JWKS comes from

enum Source {
    File(PathBuf),
    Url { url: String, client: reqwest::Client },
}

impl Source {
    fn new(config: &OidcConfig) -> Result<Self, AuthError> {
        let issuer = &config.issuer;
        match (&config.jwks_file, &config.jwks_url) {
            (Some(file), None) => {
                if config.jwks_ca_file.is_some() {
                    return Err(AuthError::Config(format!(
                        "OIDC issuer {issuer:?}: jwksCaFile only applies to jwksUrl"
                    )));
                }
                Ok(Source::File(file.clone()))
            }
            (None, Some(url)) => Ok(Source::Url {
                url: url.clone(),
                client: http_client(issuer, url, config.jwks_ca_file.as_deref())?,
            }),
            _ => Err(AuthError::Config(format!(
                "OIDC issuer {issuer:?}: give exactly one of jwksFile and jwksUrl"
            ))),
        }
    }

    fn location(&self) -> String {
        match self {
            Source::File(path) => path.display().to_string(),
            Source::Url { url, .. } => url.clone(),
        }
    }

    async fn load(&self) -> Result<KeySet, AuthError> {
        let bytes = match self {
            Source::File(path) => read_file(path).await,
            Source::Url { url, client } => fetch(client, url).await,
        };
        let fail = |message: String| AuthError::Jwks {
            location: self.location(),
            message,
        };
        KeySet::parse(&bytes.map_err(fail)?).map_err(fail)
    }
}

fn http_client(
    issuer: &str,
    url: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<reqwest::Client, AuthError> {
    let config = |message: String| AuthError::Config(format!("OIDC issuer {issuer:?}: {message}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| config(format!("jwksUrl {url:?}: {e}")))?;
    let loopback = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(config(format!(
                "jwksUrl {url:?} must be https:// (http:// only to a loopback IP address)"
            )));
        }
    }
    let mut builder = reqwest::Client::builder()
        .timeout(JWKS_FETCH_TIMEOUT)
        .connect_timeout(JWKS_FETCH_TIMEOUT)
        // A redirect could leave https or the loopback host: refuse them.
        .redirect(reqwest::redirect::Policy::none());
    if loopback {
        builder = builder.no_proxy();
    }
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| config(format!("jwksCaFile {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| config(format!("jwksCaFile {}: {e}", ca.display())))?;
        if certs.is_empty() {
            return Err(config(format!("jwksCaFile {}: no certificates", ca.display())));
        }
        builder = builder.tls_certs_only(certs);
    }
    builder
        .build()
        .map_err(|e| config(format!("cannot build the HTTP client: {e}")))
}

async fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use tokio::io::AsyncReadExt as _;
    let file = tokio::fs::File::open(path).await.map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_SIZE + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_JWKS_SIZE {
        return Err(format!("larger than {MAX_JWKS_SIZE} bytes"));
    }
    Ok(bytes)
}

async fn fetch(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url)
        .header(
            reqwest::header::ACCEPT,
            "application/json, application/jwk-set+json",
        )
        .send()
        .await
        .map_err(|e| error_chain(&e))?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()));
    }
    if response.content_length().is_some_and(|n| n > MAX_JWKS_SIZE) {
        return Err(format!("larger than {MAX_JWKS_SIZE} bytes"));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if (bytes.len() + chunk.len()) as u64 > MAX_JWKS_SIZE {
            return Err(format!("larger than {MAX_JWKS_SIZE} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

// ---------------------------------------------------------------------------
// The verifier

struct FetchTimes {
    /// When the key set in use was loaded.
    loaded_at: Instant,
    /// The last reload attempt, successful or not.
    attempted_at: Instant,
    /// The last refetch caused by an unknown kid.
    kid_refetch_at: Option<Instant>,
}

/// Verifies JWTs of one configured issuer.
pub struct OidcVerifier {
    config: OidcConfig,
    source: Source,
    keys: RwLock<Arc<KeySet>>,
    times: Mutex<FetchTimes>,
    /// Held while (re)loading the JWKS, so loads never overlap.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.config.issuer)
            .field("jwks", &self.source.location())
            .finish_non_exhaustive()
    }
}

impl OidcVerifier {
    /// Loads the issuer's JWKS (file or URL; at most 1 MiB; 10 s timeout).
    pub async fn new(config: OidcConfig) -> Result<Self, AuthError> {
        if config.issuer.is_empty() || config.audience.is_empty() {
            return Err(AuthError::Config(
                "an OIDC issuer needs a non-empty issuer and audience".into(),
            ));
        }
        if config.leeway > MAX_LEEWAY {
            return Err(AuthError::Config(format!(
                "OIDC issuer {:?}: leeway {:?} is more than the allowed {:?}",
                config.issuer, config.leeway, MAX_LEEWAY
            )));
        }
        if config.subject_claim.as_deref() == Some("") {
            return Err(AuthError::Config(format!(
                "OIDC issuer {:?}: subjectClaim is empty",
                config.issuer
            )));
        }
        let source = Source::new(&config)?;
        let keys = source.load().await?;
        let now = Instant::now();
        Ok(Self {
            config,
            source,
            keys: RwLock::new(Arc::new(keys)),
            times: Mutex::new(FetchTimes {
                loaded_at: now,
                attempted_at: now,
                kid_refetch_at: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The configured issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.config.issuer
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.keys.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn times(&self) -> std::sync::MutexGuard<'_, FetchTimes> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stale(&self) -> bool {
        let interval = self.config.refresh.max(Duration::from_secs(1));
        let times = self.times();
        times.loaded_at.elapsed() >= interval
            && times.attempted_at.elapsed() >= MIN_REFETCH_INTERVAL.min(interval)
    }

    /// Loads the JWKS and installs it; on failure the old keys stay.
    async fn reload(&self, why: &str) {
        self.times().attempted_at = Instant::now();
        match self.source.load().await {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                self.times().loaded_at = Instant::now();
            }
            Err(e) => tracing::warn!(issuer = %self.config.issuer, "{why}: keeping the old JWKS: {e}"),
        }
    }

    /// Reloads the JWKS when it is older than `refresh` (attempts at most
    /// every 30 s while the source is failing). Requests never wait for a
    /// periodic reload: while one is under way they use the current keys.
    async fn refresh_if_stale(&self) {
        if !self.stale() {
            return;
        }
        let Ok(_guard) = self.fetching.try_lock() else {
            return;
        };
        if self.stale() {
            self.reload("periodic JWKS reload").await;
        }
    }

    /// An unknown kid: refetch once, at most every 30 s, unless a concurrent
    /// request has just brought the kid in.
    async fn refetch_for_kid(&self, kid: &str) {
        let _guard = self.fetching.lock().await;
        if self.snapshot().keys.iter().any(|k| k.kid.as_deref() == Some(kid)) {
            return;
        }
        {
            let mut times = self.times();
            if times
                .kid_refetch_at
                .is_some_and(|t| t.elapsed() < MIN_REFETCH_INTERVAL)
            {
                return;
            }
            times.kid_refetch_at = Some(Instant::now());
        }
        self.reload("refetching the JWKS for an unknown kid").await;
    }

    /// Verifies `jwt` and maps it to an [`Identity`] (method `oidc`, subject
    /// `sub` or the configured subject claim, issuer `iss`).
    pub async fn verify(&self, jwt: &str) -> Result<Identity, AuthError> {
        let parts = parse_unverified(jwt)?;
        let alg = header_alg(&parts.header)?;
        if parts.header.contains_key("crit") {
            return Err(AuthError::Malformed(
                "the header has crit extensions, none of which are supported".into(),
            ));
        }
        let kid = header_kid(&parts.header)?;

        self.refresh_if_stale().await;
        let mut keys = self.snapshot();
        if let Some(kid) = kid
            && !keys.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
        {
            self.refetch_for_kid(kid).await;
            keys = self.snapshot();
        }
        let key = self.select(&keys, kid, alg)?;

        let mut validation = Validation::new(alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);

        let claims = match jsonwebtoken::decode::<Map<String, Value>>(jwt, &key.decoding, &validation) {
            Ok(data) => data.claims,
            Err(e) => return Err(self.map_error(e.kind(), key, &parts.claims)),
        };
        self.check_claims(&claims)?;
        self.identity(claims)
    }

    fn select<'k>(&self, keys: &'k KeySet, kid: Option<&str>, alg: Algorithm) -> Result<&'k Key, AuthError> {
        let candidates: Vec<&Key> = match kid {
            Some(kid) => keys
                .keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            None if keys.keys.len() == 1 => keys.keys.iter().collect(),
            None => {
                return Err(AuthError::KidRequired {
                    issuer: self.config.issuer.clone(),
                    keys: keys.keys.len(),
                });
            }
        };
        let Some(first) = candidates.first() else {
            return Err(AuthError::UnknownKid {
                kid: quote(kid.unwrap_or_default()),
                issuer: self.config.issuer.clone(),
            });
        };
        candidates
            .iter()
            .find(|k| k.fits(alg))
            .copied()
            .ok_or_else(|| AuthError::AlgKeyMismatch {
                alg: format!("{alg:?}"),
                key: first.describe(),
            })
    }

    fn map_error(&self, kind: &ErrorKind, key: &Key, unverified: &Map<String, Value>) -> AuthError {
        match kind {
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => AuthError::BadSignature { key: key.describe() },
            // Claims are only validated after the signature verified, so
            // quoting them back is quoting what the issuer signed.
            ErrorKind::InvalidAudience => AuthError::WrongAudience {
                got: describe_claim(unverified.get("aud")),
                expected: self.config.audience.clone(),
            },
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer {
                got: describe_claim(unverified.get("iss")),
                expected: self.config.issuer.clone(),
            },
            // jsonwebtoken calls a claim of the wrong type missing.
            ErrorKind::MissingRequiredClaim(c) if unverified.contains_key(c) => {
                AuthError::InvalidClaim(c.clone())
            }
            ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
            ErrorKind::InvalidClaimFormat(c) => AuthError::InvalidClaim(c.clone()),
            ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => AuthError::AlgKeyMismatch {
                alg: format!("{:?}", key.alg),
                key: key.describe(),
            },
            other => AuthError::Malformed(format!("{other:?}").chars().take(200).collect()),
        }
    }

    /// What jsonwebtoken leaves open: `iss` must be one string (not an
    /// array that contains it), `iat` not in the future.
    fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), AuthError> {
        match claims.get("iss") {
            Some(Value::String(iss)) if *iss == self.config.issuer => {}
            other => {
                return Err(AuthError::WrongIssuer {
                    got: describe_claim(other),
                    expected: self.config.issuer.clone(),
                });
            }
        }
        if let Some(iat) = claims.get("iat") {
            let iat = iat
                .as_f64()
                .ok_or_else(|| AuthError::InvalidClaim("iat".into()))?;
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            if iat > now + self.config.leeway.as_secs_f64() {
                return Err(AuthError::IssuedInFuture);
            }
        }
        Ok(())
    }

    fn identity(&self, claims: Map<String, Value>) -> Result<Identity, AuthError> {
        let subject_claim = self.config.subject_claim.as_deref().unwrap_or("sub");
        let subject = match claims.get(subject_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            None => return Err(AuthError::MissingClaim(subject_claim.to_owned())),
            Some(_) => return Err(AuthError::InvalidClaim(subject_claim.to_owned())),
        };
        let mut map = BTreeMap::new();
        for (name, value) in claims {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null | Value::Array(_) | Value::Object(_) => continue,
            };
            map.insert(name, text);
        }
        Ok(Identity {
            method: Method::Oidc,
            subject,
            issuer: Some(self.config.issuer.clone()),
            claims: map,
        })
    }
}

fn describe_claim(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".into(),
        Some(Value::String(s)) => quote(s),
        Some(Value::Array(items)) => {
            let items: Vec<String> = items
                .iter()
                .take(10)
                .map(|v| v.as_str().map(quote).unwrap_or_else(|| "(not a string)".into()))
                .collect();
            format!("[{}]", items.join(", "))
        }
        Some(_) => "(not a string)".into(),
    }
}

/// Every configured OIDC issuer; picks the verifier by the token's `iss`.
#[derive(Debug)]
pub struct Oidc {
    verifiers: Vec<OidcVerifier>,
}

impl Oidc {
    /// Loads every issuer's JWKS. Issuers must be distinct.
    pub async fn new(configs: Vec<OidcConfig>) -> Result<Self, AuthError> {
        let mut verifiers: Vec<OidcVerifier> = Vec::with_capacity(configs.len());
        for config in configs {
            if verifiers.iter().any(|v| v.issuer() == config.issuer) {
                return Err(AuthError::Config(format!(
                    "OIDC issuer {:?} is configured twice",
                    config.issuer
                )));
            }
            verifiers.push(OidcVerifier::new(config).await?);
        }
        Ok(Self { verifiers })
    }

    /// The configured issuers.
    pub fn issuers(&self) -> impl Iterator<Item = &str> {
        self.verifiers.iter().map(OidcVerifier::issuer)
    }

    /// Verifies `jwt` with the verifier of its (unverified) `iss` claim.
    pub async fn verify(&self, jwt: &str) -> Result<Identity, AuthError> {
        let parts = parse_unverified(jwt)?;
        // Header checks first, so `alg: none` is refused as such whatever the claims say.
        header_alg(&parts.header)?;
        let iss = match parts.claims.get("iss") {
            Some(Value::String(iss)) => iss,
            Some(_) => return Err(AuthError::InvalidClaim("iss".into())),
            None => return Err(AuthError::MissingClaim("iss".into())),
        };
        let verifier = self
            .verifiers
            .iter()
            .find(|v| v.issuer() == iss)
            .ok_or_else(|| AuthError::UnknownIssuer(quote(iss)))?;
        verifier.verify(jwt).await
    }
}

#[cfg(test)]
mod tests;
