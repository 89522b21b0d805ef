//! Checks on certificates a user supplies as trust anchors: trust-store
//! certificates and the `--timestamp-root-cert` file.
//!
//! notation accepts into a `ca` or `signingAuthority` store any CA certificate
//! and any self-signed signing certificate; a `tsa` store takes only root CA
//! certificates. A timestamp root file must hold exactly one self-signed,
//! self-issued CA certificate. These functions carry notation's texts.

use super::{Certificate, CertificateError, go_quote, read_certificates};

/// Whether `cert` is a root certificate: it must verify its own signature as a
/// CA would (an error otherwise, such as a non-CA or a signature by another
/// key); `false` when it does but its issuer and subject names differ.
pub fn is_root_certificate(cert: &Certificate) -> Result<bool, CertificateError> {
    cert.check_signature_from(cert)?;
    Ok(cert.is_self_issued())
}

/// Reads the single root certificate of a `--timestamp-root-cert` file;
/// `source` names the file in messages.
pub fn read_root_certificate(bytes: &[u8], source: &str) -> Result<Certificate, CertificateError> {
    let mut certs = match read_certificates(bytes) {
        Ok(certs) => certs,
        Err(CertificateError::NoCertificate) => {
            return Err(CertificateError::NoRootCertificate(source.to_string()));
        }
        Err(e) => return Err(e),
    };
    if certs.len() > 1 {
        return Err(CertificateError::MultipleRootCertificates(source.to_string()));
    }
    let cert = certs
        .pop()
        .ok_or_else(|| CertificateError::NoRootCertificate(source.to_string()))?;
    match is_root_certificate(&cert) {
        Ok(true) => Ok(cert),
        Ok(false) => Err(CertificateError::NotRootCertificate(source.to_string())),
        Err(e) => Err(CertificateError::RootCheckFailed(Box::new(e))),
    }
}

/// notation-go's `ValidateCertificates` for `ca` and `signingAuthority`
/// stores: each certificate must be a CA certificate or self-signed.
pub fn validate_trust_store_certificates(certs: &[Certificate]) -> Result<(), CertificateError> {
    if certs.is_empty() {
        return Err(CertificateError::EmptyCertificateList);
    }
    for cert in certs {
        if !cert.is_ca() && cert.verify_signature_with(cert).is_err() {
            return Err(CertificateError::Requirement(format!(
                "certificate with subject {} is not a CA certificate or self-signed signing certificate",
                go_quote(&cert.subject())
            )));
        }
    }
    Ok(())
}

/// notation-go's check for `tsa` store certificates: a self-signed,
/// self-issued CA certificate.
pub fn check_root_ca_certificate(cert: &Certificate) -> Result<(), CertificateError> {
    if let Err(e) = cert.check_signature_from(cert) {
        return Err(CertificateError::Requirement(format!(
            "certificate with subject {} is not a root CA certificate: {e}",
            go_quote(&cert.subject())
        )));
    }
    if !cert.is_self_issued() {
        return Err(CertificateError::Requirement(format!(
            "certificate with subject {} is not a root CA certificate: issuer ({}) and subject ({}) are not the same",
            go_quote(&cert.subject()),
            cert.issuer(),
            cert.subject()
        )));
    }
    Ok(())
}
