//! `signet signer init DIR`: a working development setup in one directory —
//! generated test CA, TSA, checkpoint key, TLS certificate, SQLite
//! database, an admin token, and the trust store and trust policy that
//! `signet verify` and `notation verify` need for its signatures.
//!
//! Keys are written as PKCS#8 files (mode 0600). For production, point the
//! profiles at a PKCS#11 token instead (see the README).

use std::path::{Path, PathBuf};

use notary::{algorithm::KeySpec, crypto::PrivateKey};
use serde_json::json;
use time::OffsetDateTime;

use crate::{Error, pki};

/// What [`init`] made.
#[derive(Debug)]
pub struct Initialized {
    /// The configuration file.
    pub config: PathBuf,
    /// The admin API token (also in `admin.token`).
    pub admin_token: String,
    /// A notation-style configuration directory (trust store + trust policy).
    pub trust_dir: PathBuf,
    /// The TLS CA certificate clients must trust (`tls/ca.pem`).
    pub tls_ca: PathBuf,
}

/// The leaf subject of the generated `default` profile.
pub const DEFAULT_SUBJECT: &str = "CN=signet-default,O=Signet Dev,ST=WA,C=US";

fn write(path: &Path, bytes: impl AsRef<[u8]>, secret: bool) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::io("write", path, e))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io("chmod", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

fn key_file(dir: &Path, name: &str, spec: KeySpec) -> Result<PrivateKey, Error> {
    let key = PrivateKey::generate(spec).map_err(|e| Error::Tsa(format!("key generation: {e}")))?;
    let text = key
        .to_pkcs8_pem()
        .map_err(|e| Error::Tsa(format!("key encoding: {e}")))?;
    write(&dir.join(name), text, true)?;
    Ok(key)
}

fn gen_err(e: impl std::fmt::Display) -> Error {
    Error::Tsa(format!("certificate generation: {e}"))
}

/// Creates the setup in `dir` (which must not hold a configuration yet).
/// `listen` is where the service will listen (HTTPS), `http_listen` where
/// it serves CRLs, OCSP and the TSA over plain HTTP.
pub async fn init(
    dir: &Path,
    listen: std::net::SocketAddr,
    http_listen: std::net::SocketAddr,
) -> Result<Initialized, Error> {
    let config_path = dir.join("signer.yaml");
    if config_path.exists() {
        return Err(Error::Config {
            path: config_path,
            message: "already exists; init does not overwrite a setup".into(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    let dir = &dir.canonicalize().map_err(|e| Error::io("resolve", dir, e))?;
    let config_path = dir.join("signer.yaml");
    let ten_years = time::Duration::days(3650);

    // The profile's CA: a generated test CA.
    let ca_key = key_file(dir, "keys/ca.key", KeySpec::Ec(256))?;
    let ca_spki = ca_key.public_key_spki_der().map_err(gen_err)?;
    let ca = pki::generate_ca(
        "CN=Signet Dev Signing CA,O=Signet Dev,ST=WA,C=US",
        &ca_key,
        &ca_spki,
        ten_years,
    )
    .map_err(gen_err)?;
    write(&dir.join("certs/ca.pem"), notary::x509::der_to_pem(&ca), false)?;

    // The TSA: a root and a timestamping leaf.
    let tsa_root_key = PrivateKey::generate(KeySpec::Ec(256)).map_err(gen_err)?;
    let tsa_root_spki = tsa_root_key.public_key_spki_der().map_err(gen_err)?;
    let tsa_root = pki::generate_ca(
        "CN=Signet Dev TSA Root,O=Signet Dev,ST=WA,C=US",
        &tsa_root_key,
        &tsa_root_spki,
        ten_years,
    )
    .map_err(gen_err)?;
    let tsa_key = key_file(dir, "keys/tsa.key", KeySpec::Ec(256))?;
    let tsa_root_issuer =
        pki::Issuer::new(vec![tsa_root.clone()], std::sync::Arc::new(tsa_root_key)).map_err(gen_err)?;
    let tsa_spki = tsa_key.public_key_spki_der().map_err(gen_err)?;
    let tsa_cert = pki::generate_tsa_certificate(
        &tsa_root_issuer,
        "CN=Signet Dev TSA,O=Signet Dev,ST=WA,C=US",
        &tsa_spki,
        &pki::random_serial().map_err(gen_err)?,
        ten_years,
    )
    .map_err(gen_err)?;
    write(
        &dir.join("certs/tsa.pem"),
        format!(
            "{}{}",
            notary::x509::der_to_pem(&tsa_cert),
            notary::x509::der_to_pem(&tsa_root)
        ),
        false,
    )?;

    // The checkpoint key.
    key_file(dir, "keys/checkpoint.key", KeySpec::Ec(256))?;

    // TLS: a CA and a serving certificate for the listen address and localhost.
    let (tls_ca_pem, tls_cert_pem, tls_key_pem) = tls_certificates(listen).map_err(gen_err)?;
    write(&dir.join("tls/ca.pem"), tls_ca_pem, false)?;
    write(&dir.join("tls/server.pem"), tls_cert_pem, false)?;
    write(&dir.join("tls/server.key"), tls_key_pem, true)?;

    // Trust store and policy for verifiers (notation's directory layout).
    let trust_dir = dir.join("trust");
    write(
        &trust_dir.join("truststore/x509/ca/signet/ca.pem"),
        notary::x509::der_to_pem(&ca),
        false,
    )?;
    write(
        &trust_dir.join("truststore/x509/tsa/signet-tsa/root.pem"),
        notary::x509::der_to_pem(&tsa_root),
        false,
    )?;
    let policy = json!({
        "version": "1.0",
        "trustPolicies": [{
            "name": "signet-default",
            "registryScopes": ["*"],
            "signatureVerification": {"level": "strict"},
            "trustStores": ["ca:signet", "tsa:signet-tsa"],
            "trustedIdentities": [format!("x509.subject: {}", DEFAULT_SUBJECT.replace(',', ", "))],
        }]
    });
    write(
        &trust_dir.join("trustpolicy.json"),
        serde_json::to_vec_pretty(&policy).unwrap_or_default(),
        false,
    )?;
    let config = format!(
        r#"# Generated by `signet signer init` on {now}: a development setup.
# Keys are files here; use `key: {{type: pkcs11, …}}` for an HSM in production.
listen: {listen}
# CRLs, OCSP, the TSA and certificate chains, over plain HTTP (verifiers fetch
# per-job certificates' CRL and OCSP URLs over http:// only).
http: {{listen: {http}}}
tls:
  certFile: tls/server.pem
  keyFile: tls/server.key
database: sqlite://signer.db
profiles:
  - name: default
    mode: perJob
    key: {{type: file, path: keys/ca.key}}
    certificateChain: certs/ca.pem
    subject: "{subject}"
    format: jws
    certificateValidity: 24h
tsa:
  key: {{type: file, path: keys/tsa.key}}
  certificateChain: certs/tsa.pem
audit:
  checkpointKey: {{type: file, path: keys/checkpoint.key}}
  checkpointInterval: 60s
rules:
  - name: admin
    identities: [{{method: token, subject: admin}}]
    profiles: ["*"]
    repositories: ["**"]
    admin: true
  - name: ci
    identities: [{{method: token, subject: ci}}]
    profiles: [default]
    repositories: ["**"]
"#,
        now = crate::service::rfc3339(OffsetDateTime::now_utc()),
        subject = DEFAULT_SUBJECT,
        http = http_listen,
    );
    write(&config_path, config, false)?;

    // The database and the first admin token.
    let store = crate::store::Store::open(&format!("sqlite://{}", dir.join("signer.db").display()))
        .await
        .map_err(|e| Error::Store(e.to_string()))?;
    let (token, record) = crate::service::new_token("admin", "admin", None).map_err(Error::Rules)?;
    store
        .submit(crate::store::Write::CreateToken {
            token: record,
            actor: "signet signer init".into(),
        })
        .await
        .map_err(|e| Error::Store(e.to_string()))?;
    store.close().await;
    write(&dir.join("admin.token"), &token, true)?;
    Ok(Initialized {
        config: config_path,
        admin_token: token,
        trust_dir,
        tls_ca: dir.join("tls/ca.pem"),
    })
}

/// A TLS CA and a serving certificate for `listen`'s IP and localhost, PEM.
fn tls_certificates(listen: std::net::SocketAddr) -> Result<(String, String, String), rcgen::Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Signet Dev TLS CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "signet signer");
    params.subject_alt_names.push(SanType::IpAddress(listen.ip()));
    if !listen.ip().is_loopback() {
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    }
    params.not_after = OffsetDateTime::now_utc() + time::Duration::days(825);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}
