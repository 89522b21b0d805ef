//! Self-signed test certificates like `notation cert generate-test` makes.
//!
//! The template is notation's: subject `CN=<name>,O=Notary,L=Seattle,ST=WA,C=US`,
//! valid from now for one day, key usage digitalSignature (critical), extended
//! key usage codeSigning, and no basic constraints. Such a certificate is a
//! valid single-certificate code-signing chain and its own trust anchor, so it
//! is for trying Signet out, never for production.

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
use time::{Duration, OffsetDateTime};

use super::{Certificate, CertificateError};
use crate::crypto::PrivateKey;

/// Generates a self-signed code-signing certificate for `key` with common name `name`.
pub fn generate_test_certificate(name: &str, key: &PrivateKey) -> Result<Certificate, CertificateError> {
    let generate = |e: &dyn std::fmt::Display| CertificateError::Generate(e.to_string());
    let pem = key.to_pkcs8_pem().map_err(|e| generate(&e))?;
    let key_pair = KeyPair::from_pem(&pem).map_err(|e| generate(&e))?;

    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    // Go's encoding order for these fields: C, ST, L, O, CN.
    params.distinguished_name.push(DnType::CountryName, "US");
    params.distinguished_name.push(DnType::StateOrProvinceName, "WA");
    params.distinguished_name.push(DnType::LocalityName, "Seattle");
    params.distinguished_name.push(DnType::OrganizationName, "Notary");
    params.distinguished_name.push(DnType::CommonName, name);
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|e| generate(&e))?;
    params.not_before = now;
    params.not_after = now + Duration::days(1);
    params.serial_number = Some(random_serial()?.into());
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];

    let cert = params.self_signed(&key_pair).map_err(|e| generate(&e))?;
    Certificate::from_der(cert.der().to_vec())
}

/// A positive, non-zero 63-bit serial number.
fn random_serial() -> Result<u64, CertificateError> {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| CertificateError::Generate("no randomness".into()))?;
    Ok((u64::from_be_bytes(bytes) >> 1).max(1))
}
