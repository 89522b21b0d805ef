//! Generated test PKI: root CA → optional intermediate → code-signing leaf
//! chains, timestamping chains, and self-signed leaves like
//! `notation cert generate-test` makes.
//!
//! This module does not depend on `notary` (a dev-dependency cycle would give
//! two incompatible copies of its types), so keys come in and certificates go
//! out as plain bytes: keys as PKCS#8 PEM (from
//! `notary::crypto::PrivateKey::to_pkcs8_pem`, so every Notary key spec
//! works), certificates as DER and PEM. Every template field a negative test
//! may want to break is a public field of [`CertOptions`].

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyPair, PublicKeyData, SerialNumber,
};
use time::{Duration, OffsetDateTime};

/// Basic constraints of a generated certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ca {
    /// No basic constraints extension.
    Absent,
    /// Basic constraints present with `cA` false.
    No,
    /// A CA, with an optional path length constraint.
    Yes(Option<u8>),
}

/// The key usage bits (RFC 5280 order: 0 digitalSignature … 8 decipherOnly).
pub mod ku {
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    pub const CRL_SIGN: u16 = 1 << 6;
}

/// Well-known extended key usage OIDs.
pub mod eku {
    pub const SERVER_AUTH: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
    pub const CODE_SIGNING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 3];
    pub const TIME_STAMPING: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 3, 8];
    pub const ANY: &[u64] = &[2, 5, 29, 37, 0];
}

/// Everything about a certificate the tests vary.
#[derive(Debug, Clone)]
pub struct CertOptions {
    /// Subject attributes in DER order.
    pub subject: Vec<(DnType, String)>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub ca: Ca,
    /// Key usage bits; `None` leaves the extension out.
    pub key_usage: Option<u16>,
    pub key_usage_critical: bool,
    /// Extended key usages; `None` leaves the extension out.
    pub eku: Option<Vec<&'static [u64]>>,
    pub eku_critical: bool,
    pub serial: u64,
}

/// Go's template order for notation's subjects: C, ST, L, O, CN.
pub fn notary_subject(common_name: &str) -> Vec<(DnType, String)> {
    vec![
        (DnType::CountryName, "US".into()),
        (DnType::StateOrProvinceName, "WA".into()),
        (DnType::LocalityName, "Seattle".into()),
        (DnType::OrganizationName, "Notary".into()),
        (DnType::CommonName, common_name.into()),
    ]
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().replace_nanosecond(0).unwrap()
}

impl CertOptions {
    /// A root CA: CA with no path length, keyCertSign + cRLSign, valid ±1 year.
    pub fn root(common_name: &str) -> Self {
        Self {
            subject: notary_subject(common_name),
            not_before: now() - Duration::days(1),
            not_after: now() + Duration::days(365),
            ca: Ca::Yes(None),
            key_usage: Some(ku::KEY_CERT_SIGN | ku::CRL_SIGN),
            key_usage_critical: true,
            eku: None,
            eku_critical: false,
            serial: 1,
        }
    }

    /// An intermediate CA (path length 0).
    pub fn intermediate(common_name: &str) -> Self {
        Self {
            ca: Ca::Yes(Some(0)),
            serial: 2,
            ..Self::root(common_name)
        }
    }

    /// A code-signing leaf: digitalSignature (critical), EKU codeSigning.
    pub fn leaf(common_name: &str) -> Self {
        Self {
            ca: Ca::Absent,
            key_usage: Some(ku::DIGITAL_SIGNATURE),
            eku: Some(vec![eku::CODE_SIGNING]),
            serial: 3,
            ..Self::root(common_name)
        }
    }

    /// A timestamping leaf: digitalSignature, EKU timeStamping only and critical.
    pub fn tsa_leaf(common_name: &str) -> Self {
        Self {
            eku: Some(vec![eku::TIME_STAMPING]),
            eku_critical: true,
            ..Self::leaf(common_name)
        }
    }

    /// The `notation cert generate-test` template: valid for one day from now.
    pub fn generate_test(common_name: &str) -> Self {
        Self {
            not_before: now(),
            not_after: now() + Duration::days(1),
            serial: 42,
            ..Self::leaf(common_name)
        }
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        for (ty, value) in &self.subject {
            params.distinguished_name.push(ty.clone(), value.as_str());
        }
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.serial_number = Some(SerialNumber::from(self.serial));
        params.is_ca = match self.ca {
            Ca::Absent => IsCa::NoCa,
            Ca::No => IsCa::ExplicitNoCa,
            Ca::Yes(None) => IsCa::Ca(BasicConstraints::Unconstrained),
            Ca::Yes(Some(n)) => IsCa::Ca(BasicConstraints::Constrained(n)),
        };
        // Key usage goes in as a custom extension so its criticality is ours
        // to choose; rcgen always marks its own critical.
        if let Some(bits) = self.key_usage {
            let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 15], key_usage_der(bits));
            ext.set_criticality(self.key_usage_critical);
            params.custom_extensions.push(ext);
        }
        if let Some(usages) = &self.eku {
            if self.eku_critical {
                let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 37], eku_der(usages));
                ext.set_criticality(true);
                params.custom_extensions.push(ext);
            } else {
                params.extended_key_usages = usages
                    .iter()
                    .map(|oid| ExtendedKeyUsagePurpose::Other(oid.to_vec()))
                    .collect();
            }
        }
        params
    }
}

/// A generated certificate with the key that signs in its name.
#[derive(Debug, Clone)]
pub struct Cert {
    pub der: Vec<u8>,
    pub pem: String,
    /// The subject's private key (PKCS#8 PEM); empty for [`issue_for_public_key`] certificates.
    pub key_pem: String,
    params: CertificateParams,
}

/// A self-signed certificate for `key_pem`.
pub fn self_signed(opts: &CertOptions, key_pem: &str) -> Cert {
    let key = KeyPair::from_pem(key_pem).expect("test key");
    let params = opts.params();
    let cert = params.self_signed(&key).expect("self-signed certificate");
    Cert {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pem: key_pem.to_string(),
        params,
    }
}

/// A certificate for `key_pem` issued by `issuer`.
pub fn issue(opts: &CertOptions, key_pem: &str, issuer: &Cert) -> Cert {
    let key = KeyPair::from_pem(key_pem).expect("test key");
    let mut cert = issue_for_public_key(opts, &key, issuer);
    cert.key_pem = key_pem.to_string();
    cert
}

/// A certificate for any public key issued by `issuer` (for keys rcgen cannot
/// load, such as the RSA-1024 key of [`rsa_1024_public_key`]).
pub fn issue_for_public_key(opts: &CertOptions, public_key: &impl PublicKeyData, issuer: &Cert) -> Cert {
    let issuer_key = KeyPair::from_pem(&issuer.key_pem).expect("issuer key");
    let signer = Issuer::from_params(&issuer.params, &issuer_key);
    let params = opts.params();
    let cert = params.signed_by(public_key, &signer).expect("issued certificate");
    Cert {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pem: String::new(),
        params,
    }
}

/// A root → (intermediate →) leaf chain.
#[derive(Debug, Clone)]
pub struct Chain {
    pub root: Cert,
    pub intermediate: Option<Cert>,
    pub leaf: Cert,
}

impl Chain {
    /// The chain as an envelope carries it: leaf first, root last.
    pub fn ders(&self) -> Vec<Vec<u8>> {
        let mut out = vec![self.leaf.der.clone()];
        out.extend(self.intermediate.iter().map(|c| c.der.clone()));
        out.push(self.root.der.clone());
        out
    }
}

/// A code-signing chain; `intermediate_key_pem` adds an intermediate CA.
pub fn code_signing_chain(
    root_key_pem: &str,
    intermediate_key_pem: Option<&str>,
    leaf_key_pem: &str,
) -> Chain {
    chain_with(
        root_key_pem,
        intermediate_key_pem,
        leaf_key_pem,
        &CertOptions::leaf("Test Leaf"),
    )
}

/// A timestamping chain (TSA leaf with the critical timeStamping EKU).
pub fn timestamping_chain(
    root_key_pem: &str,
    intermediate_key_pem: Option<&str>,
    leaf_key_pem: &str,
) -> Chain {
    chain_with(
        root_key_pem,
        intermediate_key_pem,
        leaf_key_pem,
        &CertOptions::tsa_leaf("Test TSA"),
    )
}

/// A chain whose leaf uses `leaf_opts`.
pub fn chain_with(
    root_key_pem: &str,
    intermediate_key_pem: Option<&str>,
    leaf_key_pem: &str,
    leaf_opts: &CertOptions,
) -> Chain {
    let root = self_signed(&CertOptions::root("Test Root"), root_key_pem);
    let intermediate =
        intermediate_key_pem.map(|k| issue(&CertOptions::intermediate("Test Intermediate"), k, &root));
    let leaf = issue(leaf_opts, leaf_key_pem, intermediate.as_ref().unwrap_or(&root));
    Chain {
        root,
        intermediate,
        leaf,
    }
}

/// A self-signed code-signing leaf like `notation cert generate-test` makes.
pub fn self_signed_leaf(common_name: &str, key_pem: &str) -> Cert {
    self_signed(&CertOptions::generate_test(common_name), key_pem)
}

/// An RSA-1024 public key (made with `openssl genpkey … rsa_keygen_bits:1024`;
/// the private key was discarded), for "key too small" tests.
pub fn rsa_1024_public_key() -> impl PublicKeyData {
    struct Rsa1024;
    impl PublicKeyData for Rsa1024 {
        fn der_bytes(&self) -> &[u8] {
            &RSA_1024_PUBLIC_KEY
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            &rcgen::PKCS_RSA_SHA256
        }
    }
    Rsa1024
}

/// PKCS#1 RSAPublicKey DER of the RSA-1024 test key.
static RSA_1024_PUBLIC_KEY: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
    hex_decode(
        "30818902818100c81f9181fd3af95de82fd897be46b0716c21fceeed63feb73152266198fa926703eebc49d07eba\
         8225a92756796e9539ad8249fd770bcaba84807612af62a79e78081968b3a590e0dd5306706fc307ba34556d22\
         1a88f123460c389bd21dbe2ff21b55cae458891ce95435e888c9706796b70fe445fb478dd84c32a585388e9102\
         03010001",
    )
});

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// DER of a key usage BIT STRING with `bits` (bit 0 = digitalSignature).
fn key_usage_der(bits: u16) -> Vec<u8> {
    // Bit i of the usage is bit (15 - i) of a big-endian u16.
    let mut value = 0u16;
    for i in 0..9 {
        if bits & (1 << i) != 0 {
            value |= 1 << (15 - i);
        }
    }
    let bytes = value.to_be_bytes();
    let used = 16 - value.trailing_zeros().min(16) as usize;
    if used <= 8 {
        vec![0x03, 0x02, (8 - used) as u8, bytes[0]]
    } else {
        vec![0x03, 0x03, (16 - used) as u8, bytes[0], bytes[1]]
    }
}

/// DER of an ExtKeyUsageSyntax (SEQUENCE OF OBJECT IDENTIFIER).
fn eku_der(oids: &[&[u64]]) -> Vec<u8> {
    let mut body = Vec::new();
    for oid in oids {
        let mut content = vec![(oid[0] * 40 + oid[1]) as u8];
        for &arc in &oid[2..] {
            let mut chunk = vec![(arc & 0x7f) as u8];
            let mut rest = arc >> 7;
            while rest > 0 {
                chunk.push(((rest & 0x7f) as u8) | 0x80);
                rest >>= 7;
            }
            chunk.reverse();
            content.extend(chunk);
        }
        body.push(0x06);
        body.push(content.len() as u8);
        body.extend(content);
    }
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}
