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
