//! X.509 certificates and the Notary Project's certificate rules.
//!
//! [`Certificate`] owns a certificate's DER and the few parsed facts the rules
//! need. [`read_certificates`] reads PEM or DER files the way notation does.
//! The chain rules of the signature specification ("Certificate
//! Requirements") live in [`validate_code_signing_chain`] and
//! [`validate_timestamping_chain`]; the checks notation applies to trust-store
//! and `--timestamp-root-cert` certificates live in [`root`].
//!
//! Chains are validated by hand rather than with a general path builder:
//! notary takes the chain exactly in the order the envelope gives it, and a
//! single self-signed code-signing certificate is its own trust anchor. Error
//! texts follow notation-core-go word for word, with subjects printed as Go's
//! `%q` of `pkix.Name.String()` (see [`name`]), because users and scripts match
//! on them.

mod cache;
mod cert;
mod chain;
mod extensions;
mod generate;
mod name;
pub mod root;
pub(crate) mod signature;

pub use cache::decode_code_signing_chain;
pub use cert::{Certificate, der_to_pem, read_certificates};
pub use chain::{validate_code_signing_chain, validate_timestamping_chain};
pub use extensions::{BasicConstraints, ExtendedKeyUsage, ExtensionInfo, KeyUsage, KeyUsageBit};
pub use generate::generate_test_certificate;
pub use name::go_quote;
pub use root::{is_root_certificate, read_root_certificate, validate_trust_store_certificates};

use time::OffsetDateTime;

/// A certificate or certificate chain could not be read or broke the rules.
///
/// Texts follow notation-core-go and Go's `crypto/x509`, so messages match
/// what notation prints for the same input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The bytes are not a well-formed X.509 certificate.
    #[error("x509: malformed certificate: {0}")]
    Malformed(String),
    /// The input held no certificate at all.
    #[error("no valid certificate found in the file")]
    NoCertificate,
    /// A list of certificates that must not be empty was empty.
    #[error("input certs cannot be empty")]
    EmptyCertificateList,
    /// A certificate chain was empty.
    #[error("certificate chain must contain at least one certificate")]
    EmptyChain,
    /// A signature over a certificate did not verify (Go's text, e.g. `crypto/rsa: verification error`).
    #[error("{0}")]
    BadSignature(String),
    /// The issuing certificate may not sign certificates (not a CA, or no keyCertSign).
    #[error("x509: invalid signature: parent certificate cannot sign this kind of certificate")]
    ParentCannotSign,
    /// The certificate is signed with SHA-1 or MD5, which the specification forbids.
    #[error("x509: cannot verify signature: insecure algorithm {0}")]
    InsecureAlgorithm(String),
    /// The signature algorithm or issuer key type is not supported.
    #[error("x509: cannot verify signature: algorithm unimplemented ({0})")]
    UnsupportedAlgorithm(String),
    /// The certificate's public key type or size is not one the specification allows.
    #[error("{0}")]
    UnsupportedKey(String),
    /// A certificate in the chain was not valid at the signing time.
    #[error(
        "certificate with subject {} was invalid at signing time of {}. Certificate is valid from [{}] to [{}]",
        go_quote(subject),
        go_time(signing_time),
        go_time(not_before),
        go_time(not_after)
    )]
    NotValidAtSigningTime {
        /// The certificate's subject (Go string form).
        subject: String,
        /// The signing time checked.
        signing_time: OffsetDateTime,
        /// Start of the certificate's validity.
        not_before: OffsetDateTime,
        /// End of the certificate's validity.
        not_after: OffsetDateTime,
    },
    /// A certificate or the chain breaks a Notary Project certificate requirement; the text says which.
    #[error("{0}")]
    Requirement(String),
    /// A root-certificate file held no certificate.
    #[error(
        "cannot find any certificate from {}. Expecting single x509 root certificate in PEM or DER format from the file",
        go_quote(.0)
    )]
    NoRootCertificate(String),
    /// A root-certificate file held more than one certificate.
    #[error(
        "found more than one certificates from {}. Expecting single x509 root certificate in PEM or DER format from the file",
        go_quote(.0)
    )]
    MultipleRootCertificates(String),
    /// The certificate in a root-certificate file is not self-issued.
    #[error(
        "certificate from {} is not a root certificate. Expecting single x509 root certificate in PEM or DER format from the file",
        go_quote(.0)
    )]
    NotRootCertificate(String),
    /// Checking whether a certificate is a root failed.
    #[error("failed to check root certificate with error: {0}")]
    RootCheckFailed(Box<CertificateError>),
    /// A test certificate could not be generated.
    #[error("failed to generate certificate: {0}")]
    Generate(String),
}

/// Go's `time.Time.String()` for a UTC time: `2006-01-02 15:04:05 +0000 UTC`,
/// with fractional seconds only when present.
pub(crate) fn go_time(t: &OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push_str(" +0000 UTC");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_format() {
        let t = time::macros::datetime!(2023-06-26 06:10:00 UTC);
        assert_eq!(go_time(&t), "2023-06-26 06:10:00 +0000 UTC");
        let t = time::macros::datetime!(2023-06-26 14:10:00.5 +08:00);
        assert_eq!(go_time(&t), "2023-06-26 06:10:00.5 +0000 UTC");
    }
}
