//! The certificate-chain rules of the signature specification, for
//! code-signing chains (the envelope's `x5c`) and timestamping chains (the
//! TSA's certificates).
//!
//! A chain is ordered leaf first, root last. A single certificate must be a
//! self-signed leaf. A longer chain must have each certificate issued by the
//! next, end in a self-signed root, and contain no other self-signed
//! certificate. Leaf and CA certificates then get their own basic-constraints,
//! key-usage and extended-key-usage checks. The sequence and the texts follow
//! notation-core-go's `ValidateCodeSigningCertChain` and
//! `ValidateTimestampingCertChain`; note that the CA key sizes are not checked
//! and that `anyExtendedKeyUsage` is not refused on a code-signing leaf,
//! exactly as notation-core-go does.

use time::OffsetDateTime;

use super::{Certificate, CertificateError, KeyUsage, KeyUsageBit, extensions::EKU_TIME_STAMPING, go_quote};

/// Which chain the rules are applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    CodeSigning,
    Timestamping,
}

fn requirement(msg: String) -> CertificateError {
    CertificateError::Requirement(msg)
}

fn q(cert: &Certificate) -> String {
    go_quote(&cert.subject())
}

/// Validates a code-signing chain (leaf first) against the Notary Project
/// certificate requirements; with `signing_time`, every certificate must also
/// be valid at that time.
pub fn validate_code_signing_chain(
    chain: &[Certificate],
    signing_time: Option<OffsetDateTime>,
) -> Result<(), CertificateError> {
    validate_chain(chain, signing_time, Purpose::CodeSigning)
}

/// Validates a timestamping chain (TSA certificate first) against the Notary
/// Project certificate requirements. Validity at a time is the caller's check.
pub fn validate_timestamping_chain(chain: &[Certificate]) -> Result<(), CertificateError> {
    validate_chain(chain, None, Purpose::Timestamping)
}

fn validate_chain(
    chain: &[Certificate],
    signing_time: Option<OffsetDateTime>,
    purpose: Purpose,
) -> Result<(), CertificateError> {
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(CertificateError::EmptyChain);
    };
    if rest.is_empty() {
        return validate_self_signed_leaf(leaf, signing_time, purpose);
    }
    let last = chain.len() - 1;
    for (i, cert) in chain.iter().enumerate() {
        check_signing_time(cert, signing_time)?;
        if i == last {
            match is_issued_by(cert, cert) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(requirement(format!(
                        "root certificate with subject {} is not self-signed. Certificate chain must end with a valid self-signed root certificate",
                        q(cert)
                    )));
                }
                Err(e) => {
                    return Err(requirement(format!(
                        "root certificate with subject {} is invalid or not self-signed. Certificate chain must end with a valid self-signed root certificate. Error: {e}",
                        q(cert)
                    )));
                }
            }
        } else {
            // A self-signed certificate before the end would make the chain
            // ambiguous (an extra root, or a leaf that anchors itself).
            if is_issued_by(cert, cert).unwrap_or(false) {
                let which = if i == 0 { "leaf" } else { "intermediate" };
                return Err(requirement(format!(
                    "{which} certificate with subject {} is self-signed. Certificate chain must not contain self-signed {which} certificate",
                    q(cert)
                )));
            }
            let parent = chain.get(i + 1).ok_or(CertificateError::EmptyChain)?;
            match is_issued_by(cert, parent) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(requirement(format!(
                        "certificate with subject {} is not issued by {}",
                        q(cert),
                        q(parent)
                    )));
                }
                Err(e) => {
                    return Err(requirement(format!(
                        "invalid certificates or certificate with subject {} is not issued by {}. Error: {e}",
                        q(cert),
                        q(parent)
                    )));
                }
            }
        }
        if i == 0 {
            validate_leaf(cert, purpose)?;
        } else {
            validate_ca(cert, i - 1, purpose)?;
        }
    }
    Ok(())
}

/// Go's `isIssuedBy`: the signature check (with the CA constraint on the
/// parent) must pass; then the names decide.
fn is_issued_by(cert: &Certificate, parent: &Certificate) -> Result<bool, CertificateError> {
    cert.check_signature_from(parent)?;
    Ok(cert.raw_issuer() == parent.raw_subject())
}

/// A chain of one: the certificate signs itself and must meet the leaf rules.
fn validate_self_signed_leaf(
    cert: &Certificate,
    signing_time: Option<OffsetDateTime>,
    purpose: Purpose,
) -> Result<(), CertificateError> {
    if let Err(e) = cert.verify_signature_with(cert) {
        return Err(requirement(format!(
            "invalid self-signed certificate. subject: {}. Error: {e}",
            q(cert)
        )));
    }
    if !cert.is_self_issued() {
        // notation-core-go spells the two messages differently.
        let (issuer, subject) = (cert.issuer(), cert.subject());
        let detail = match purpose {
            Purpose::CodeSigning => format!("issuer({issuer}) and subject({subject}) are not the same"),
            Purpose::Timestamping => format!("issuer ({issuer}) and subject ({subject}) are not the same"),
        };
        return Err(requirement(format!(
            "invalid self-signed certificate. subject: {}. Error: {detail}",
            q(cert)
        )));
    }
    check_signing_time(cert, signing_time)?;
    validate_leaf(cert, purpose)
        .map_err(|e| requirement(format!("invalid self-signed certificate. Error: {e}")))
}

fn check_signing_time(
    cert: &Certificate,
    signing_time: Option<OffsetDateTime>,
) -> Result<(), CertificateError> {
    match signing_time {
        Some(t) if !cert.is_valid_at(t) => Err(CertificateError::NotValidAtSigningTime {
            subject: cert.subject(),
            signing_time: t,
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        }),
        _ => Ok(()),
    }
}

fn validate_ca(
    cert: &Certificate,
    expected_path_len: usize,
    purpose: Purpose,
) -> Result<(), CertificateError> {
    let Some(bc) = cert.basic_constraints().filter(|bc| bc.ca) else {
        return Err(requirement(format!(
            "certificate with subject {}: ca field in basic constraints must be present, critical, and set to true",
            q(cert)
        )));
    };
    if let Some(max) = bc.path_len
        && usize::from(max) < expected_path_len
    {
        return Err(requirement(format!(
            "certificate with subject {}: expected path length of {expected_path_len} but certificate has path length {max} instead",
            q(cert)
        )));
    }
    if !key_usage_present(cert, purpose)?.has(KeyUsageBit::KeyCertSign) {
        return Err(requirement(format!(
            "certificate with subject {}: key usage must have the bit positions for key cert sign set",
            q(cert)
        )));
    }
    Ok(())
}

fn validate_leaf(cert: &Certificate, purpose: Purpose) -> Result<(), CertificateError> {
    if cert.is_ca() {
        return Err(requirement(format!(
            "certificate with subject {}: if the basic constraints extension is present, the ca field must be set to false",
            q(cert)
        )));
    }
    let ku = key_usage_present(cert, purpose)?;
    leaf_key_usage(cert, ku)?;
    match purpose {
        Purpose::CodeSigning => code_signing_eku(cert)?,
        Purpose::Timestamping => timestamping_eku(cert)?,
    }
    cert.key_spec()
        .map(|_| ())
        .map_err(|e| requirement(format!("certificate with subject {}: {e}", q(cert))))
}

/// Key usage must be present; for code signing it must also be critical.
fn key_usage_present(cert: &Certificate, purpose: Purpose) -> Result<KeyUsage, CertificateError> {
    match cert.key_usage() {
        None => Err(requirement(format!(
            "certificate with subject {}: key usage extension must be present",
            q(cert)
        ))),
        Some(ku) if purpose == Purpose::CodeSigning && !ku.critical => Err(requirement(format!(
            "certificate with subject {}: key usage extension must be marked critical",
            q(cert)
        ))),
        Some(ku) => Ok(ku),
    }
}

fn leaf_key_usage(cert: &Certificate, ku: KeyUsage) -> Result<(), CertificateError> {
    if !ku.has(KeyUsageBit::DigitalSignature) {
        return Err(requirement(format!(
            "the certificate with subject {} is invalid. The key usage must have the bit positions for \"Digital Signature\" set",
            q(cert)
        )));
    }
    let forbidden: Vec<String> = [
        KeyUsageBit::KeyEncipherment,
        KeyUsageBit::DataEncipherment,
        KeyUsageBit::KeyAgreement,
        KeyUsageBit::KeyCertSign,
        KeyUsageBit::CrlSign,
        KeyUsageBit::EncipherOnly,
        KeyUsageBit::DecipherOnly,
    ]
    .into_iter()
    .filter(|b| ku.has(*b))
    .map(|b| format!("\"{}\"", b.name()))
    .collect();
    if !forbidden.is_empty() {
        return Err(requirement(format!(
            "the certificate with subject {} is invalid. The key usage must be \"Digital Signature\" only, but found {}",
            q(cert),
            forbidden.join(", ")
        )));
    }
    Ok(())
}

/// If present, the EKU must not name a usage that conflicts with code signing.
fn code_signing_eku(cert: &Certificate) -> Result<(), CertificateError> {
    const EXCLUDED: [&str; 5] = [
        "1.3.6.1.5.5.7.3.1", // serverAuth
        "1.3.6.1.5.5.7.3.2", // clientAuth
        "1.3.6.1.5.5.7.3.4", // emailProtection
        "1.3.6.1.5.5.7.3.8", // timeStamping
        "1.3.6.1.5.5.7.3.9", // OCSPSigning
    ];
    let Some(eku) = cert.extended_key_usage() else {
        return Ok(());
    };
    // Go reports the first excluded usage in its own list order, scanning
    // the certificate's usages in order.
    for usage in &eku.usages {
        let dotted = usage.to_string();
        if EXCLUDED.contains(&dotted.as_str()) {
            return Err(requirement(format!(
                "certificate with subject {}: extended key usage must not contain {} eku",
                q(cert),
                super::extensions::eku_name(usage)
            )));
        }
    }
    Ok(())
}

/// RFC 3161 2.3: exactly one usage, timeStamping, in a critical extension.
fn timestamping_eku(cert: &Certificate) -> Result<(), CertificateError> {
    let eku = cert.extended_key_usage();
    if eku.is_none_or(|e| e.usages.as_slice() != [EKU_TIME_STAMPING]) {
        return Err(requirement(format!(
            "timestamp signing certificate with subject {} must have and only have Timestamping as extended key usage",
            q(cert)
        )));
    }
    if eku.is_some_and(|e| !e.critical) {
        return Err(requirement(format!(
            "timestamp signing certificate with subject {} must have extended key usage extension marked as critical",
            q(cert)
        )));
    }
    Ok(())
}
