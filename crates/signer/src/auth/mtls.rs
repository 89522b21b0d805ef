//! Identities from TLS client certificates.
//!
//! The TLS layer has already validated the chain against the configured
//! client CA; this only reads names out of the leaf.

use std::collections::BTreeMap;

use der::Decode as _;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use super::{AuthError, Identity, Method};

/// The identity of the client certificate `der` (the leaf): subject DN in
/// RFC 4514 form, issuer DN, and claims `cn`, `san.dns`, `san.uri`,
/// `san.email` (a second SAN of a kind is `san.dns.1`, and so on; rules
/// matching `san.dns` try them all) and `sha256` (hex fingerprint of the DER).
pub fn identity_from_certificate(der: &[u8]) -> Result<Identity, AuthError> {
    let cert = Certificate::from_der(der).map_err(|e| AuthError::Certificate(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let subject = tbs.subject().to_string();
    let issuer = tbs.issuer().to_string();

    let mut claims = BTreeMap::new();
    if let Ok(Some(cn)) = tbs.subject().common_name() {
        claims.insert("cn".to_owned(), cn.value().into_owned());
    }
    let sans = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| AuthError::Certificate(format!("subjectAltName: {e}")))?;
    if let Some((_, SubjectAltName(names))) = sans {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for name in &names {
            let (key, value) = match name {
                GeneralName::DnsName(s) => ("san.dns", s.as_str()),
                GeneralName::UniformResourceIdentifier(s) => ("san.uri", s.as_str()),
                GeneralName::Rfc822Name(s) => ("san.email", s.as_str()),
                _ => continue,
            };
            let n = counts.entry(key).or_insert(0);
            let claim = if *n == 0 {
                key.to_owned()
            } else {
                format!("{key}.{n}")
            };
            *n += 1;
            claims.insert(claim, value.to_owned());
        }
    }
    claims.insert(
        "sha256".to_owned(),
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)),
    );
    if subject.is_empty() && !claims.keys().any(|k| k.starts_with("san.")) {
        return Err(AuthError::Certificate(
            "the certificate has neither a subject nor a DNS, URI or email SAN".into(),
        ));
    }
    Ok(Identity {
        method: Method::Mtls,
        subject,
        issuer: Some(issuer),
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::string::Ia5String;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

    #[test]
    fn identity_with_sans() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Acme");
        dn.push(DnType::CommonName, "Acme Client CA");
        ca_params.distinguished_name = dn;
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);

        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Acme");
        dn.push(DnType::CommonName, "builder");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::DnsName(Ia5String::try_from("builder.acme.example").unwrap()),
            SanType::DnsName(Ia5String::try_from("ci.acme.example").unwrap()),
            SanType::URI(Ia5String::try_from("spiffe://acme.example/ci/builder").unwrap()),
            SanType::Rfc822Name(Ia5String::try_from("ci@acme.example").unwrap()),
        ];
        let cert = params.signed_by(&key, &issuer).unwrap();
        let _ = ca_cert;

        let id = identity_from_certificate(cert.der()).unwrap();
        assert_eq!(id.method, Method::Mtls);
        assert_eq!(id.subject, "CN=builder,O=Acme");
        assert_eq!(id.issuer.as_deref(), Some("CN=Acme Client CA,O=Acme"));
        assert_eq!(id.display(), "mtls:CN=builder,O=Acme");
        assert_eq!(id.claims["cn"], "builder");
        assert_eq!(id.claims["san.dns"], "builder.acme.example");
        assert_eq!(id.claims["san.dns.1"], "ci.acme.example");
        assert_eq!(id.claims["san.uri"], "spiffe://acme.example/ci/builder");
        assert_eq!(id.claims["san.email"], "ci@acme.example");
        assert_eq!(id.claims["sha256"].len(), 64);
    }

    #[test]
    fn testkit_leaf() {
        // A testkit chain's leaf (no SANs): the subject in RFC 4514 order.
        let key = notary::crypto::PrivateKey::generate(notary::algorithm::KeySpec::Ec(256)).unwrap();
        let root_key = notary::crypto::PrivateKey::generate(notary::algorithm::KeySpec::Ec(256)).unwrap();
        let chain = testkit::pki::code_signing_chain(
            &root_key.to_pkcs8_pem().unwrap(),
            None,
            &key.to_pkcs8_pem().unwrap(),
        );
        let id = identity_from_certificate(&chain.leaf.der).unwrap();
        assert_eq!(id.subject, "CN=Test Leaf,O=Notary,L=Seattle,ST=WA,C=US");
        assert_eq!(
            id.issuer.as_deref(),
            Some("CN=Test Root,O=Notary,L=Seattle,ST=WA,C=US")
        );
        assert_eq!(id.claims["cn"], "Test Leaf");
    }

    #[test]
    fn garbage_is_refused() {
        let e = identity_from_certificate(b"not a certificate").unwrap_err();
        assert!(
            e.to_string().starts_with("the client certificate is unusable"),
            "{e}"
        );
    }
}
