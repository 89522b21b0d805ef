//! The three extensions the Notary Project honours — basic constraints, key
//! usage and extended key usage — parsed the way Go's `crypto/x509` reads them,
//! plus a summary of every extension for display.
//!
//! The specification says every other extension must be ignored ("fail
//! open"), so only these three are decoded; a malformed one makes the whole
//! certificate malformed, as in Go. Duplicate extensions are refused.

use std::fmt;

use const_oid::ObjectIdentifier;
use der::{Decode, asn1::BitStringRef};
use x509_cert::ext::Extensions;

use super::CertificateError;

const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// `id-kp-timeStamping`.
pub(crate) const EKU_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

/// Extended key usages Go knows by name, with the names notation prints.
const EKU_NAMES: [(&str, &str); 14] = [
    ("2.5.29.37.0", "Any"),
    ("1.3.6.1.5.5.7.3.1", "ServerAuth"),
    ("1.3.6.1.5.5.7.3.2", "ClientAuth"),
    ("1.3.6.1.5.5.7.3.3", "CodeSigning"),
    ("1.3.6.1.5.5.7.3.4", "EmailProtection"),
    ("1.3.6.1.5.5.7.3.5", "IPSECEndSystem"),
    ("1.3.6.1.5.5.7.3.6", "IPSECTunnel"),
    ("1.3.6.1.5.5.7.3.7", "IPSECUser"),
    ("1.3.6.1.5.5.7.3.8", "Timestamping"),
    ("1.3.6.1.5.5.7.3.9", "OCSPSigning"),
    ("1.3.6.1.4.1.311.10.3.3", "MicrosoftServerGatedCrypto"),
    ("2.16.840.1.113730.4.1", "NetscapeServerGatedCrypto"),
    ("1.3.6.1.4.1.311.2.1.22", "MicrosoftCommercialCodeSigning"),
    ("1.3.6.1.4.1.311.61.1.1", "MicrosoftKernelCodeSigning"),
];

/// The name Go gives an extended key usage, or the dotted OID.
pub(crate) fn eku_name(oid: &ObjectIdentifier) -> String {
    let dotted = oid.to_string();
    EKU_NAMES
        .iter()
        .find(|(o, _)| *o == dotted)
        .map_or(dotted.clone(), |(_, name)| (*name).to_string())
}

/// One bit of the key usage extension, in RFC 5280 bit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsageBit {
    /// digitalSignature (0).
    DigitalSignature,
    /// contentCommitment, formerly nonRepudiation (1).
    ContentCommitment,
    /// keyEncipherment (2).
    KeyEncipherment,
    /// dataEncipherment (3).
    DataEncipherment,
    /// keyAgreement (4).
    KeyAgreement,
    /// keyCertSign (5).
    KeyCertSign,
    /// cRLSign (6).
    CrlSign,
    /// encipherOnly (7).
    EncipherOnly,
    /// decipherOnly (8).
    DecipherOnly,
}

impl KeyUsageBit {
    /// All bits in RFC 5280 order.
    pub const ALL: [KeyUsageBit; 9] = [
        Self::DigitalSignature,
        Self::ContentCommitment,
        Self::KeyEncipherment,
        Self::DataEncipherment,
        Self::KeyAgreement,
        Self::KeyCertSign,
        Self::CrlSign,
        Self::EncipherOnly,
        Self::DecipherOnly,
    ];

    fn mask(self) -> u16 {
        1 << (self as u16)
    }

    /// The name notation's messages use (`DigitalSignature`, `CertSign`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::DigitalSignature => "DigitalSignature",
            Self::ContentCommitment => "ContentCommitment",
            Self::KeyEncipherment => "KeyEncipherment",
            Self::DataEncipherment => "DataEncipherment",
            Self::KeyAgreement => "KeyAgreement",
            Self::KeyCertSign => "CertSign",
            Self::CrlSign => "CRLSign",
            Self::EncipherOnly => "EncipherOnly",
            Self::DecipherOnly => "DecipherOnly",
        }
    }
}

/// The key usage extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsage {
    /// Whether the extension is marked critical.
    pub critical: bool,
    bits: u16,
}

impl KeyUsage {
    /// Whether `bit` is set.
    pub fn has(&self, bit: KeyUsageBit) -> bool {
        self.bits & bit.mask() != 0
    }

    /// Whether no bit at all is set (Go then treats key usage as unrestricted).
    pub fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// The bits that are set, in RFC 5280 order.
    pub fn bits(&self) -> Vec<KeyUsageBit> {
        KeyUsageBit::ALL.into_iter().filter(|b| self.has(*b)).collect()
    }
}

/// The basic constraints extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicConstraints {
    /// Whether the extension is marked critical.
    pub critical: bool,
    /// The `cA` flag.
    pub ca: bool,
    /// The `pathLenConstraint`, when present.
    pub path_len: Option<u8>,
}

/// The extended key usage extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedKeyUsage {
    /// Whether the extension is marked critical.
    pub critical: bool,
    /// The usages, in certificate order.
    pub usages: Vec<ObjectIdentifier>,
}

impl ExtendedKeyUsage {
    /// The usages by the names Go gives them (`CodeSigning`, `Timestamping`, …).
    pub fn names(&self) -> Vec<String> {
        self.usages.iter().map(eku_name).collect()
    }
}

/// One extension of a certificate, for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionInfo {
    /// The extension's OID.
    pub oid: ObjectIdentifier,
    /// Whether it is marked critical.
    pub critical: bool,
}

impl ExtensionInfo {
    /// A readable name for well-known extensions.
    pub fn name(&self) -> Option<&'static str> {
        Some(match self.oid.to_string().as_str() {
            "2.5.29.14" => "Subject Key Identifier",
            "2.5.29.15" => "Key Usage",
            "2.5.29.17" => "Subject Alternative Name",
            "2.5.29.19" => "Basic Constraints",
            "2.5.29.30" => "Name Constraints",
            "2.5.29.31" => "CRL Distribution Points",
            "2.5.29.32" => "Certificate Policies",
            "2.5.29.35" => "Authority Key Identifier",
            "2.5.29.37" => "Extended Key Usage",
            "2.5.29.46" => "Freshest CRL",
            "1.3.6.1.5.5.7.1.1" => "Authority Information Access",
            _ => return None,
        })
    }
}

impl fmt::Display for ExtensionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.oid)?,
            None => write!(f, "{}", self.oid)?,
        }
        if self.critical {
            f.write_str(", critical")?;
        }
        Ok(())
    }
}

/// The honoured extensions of one certificate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Honoured {
    pub(crate) basic_constraints: Option<BasicConstraints>,
    pub(crate) key_usage: Option<KeyUsage>,
    pub(crate) extended_key_usage: Option<ExtendedKeyUsage>,
    pub(crate) all: Vec<ExtensionInfo>,
}

impl Honoured {
    /// Parses the honoured extensions and refuses duplicates.
    pub(crate) fn parse(extensions: Option<&Extensions>) -> Result<Self, CertificateError> {
        let mut out = Self::default();
        let Some(extensions) = extensions else {
            return Ok(out);
        };
        for ext in extensions {
            if out.all.iter().any(|e| e.oid == ext.extn_id) {
                return Err(CertificateError::Malformed(
                    "certificate contains duplicate extensions".into(),
                ));
            }
            out.all.push(ExtensionInfo {
                oid: ext.extn_id,
                critical: ext.critical,
            });
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == KEY_USAGE {
                let bits = BitStringRef::from_der(value)
                    .map_err(|_| CertificateError::Malformed("invalid key usage".into()))?;
                out.key_usage = Some(KeyUsage {
                    critical: ext.critical,
                    bits: key_usage_bits(&bits),
                });
            } else if ext.extn_id == BASIC_CONSTRAINTS {
                let bc = x509_cert::ext::pkix::BasicConstraints::from_der(value)
                    .map_err(|_| CertificateError::Malformed("invalid basic constraints".into()))?;
                out.basic_constraints = Some(BasicConstraints {
                    critical: ext.critical,
                    ca: bc.ca,
                    path_len: bc.path_len_constraint,
                });
            } else if ext.extn_id == EXT_KEY_USAGE {
                let eku = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(value)
                    .map_err(|_| CertificateError::Malformed("invalid extended key usages".into()))?;
                out.extended_key_usage = Some(ExtendedKeyUsage {
                    critical: ext.critical,
                    usages: eku.0,
                });
            }
        }
        Ok(out)
    }
}

/// The first nine bits of a key usage BIT STRING, bit 0 first (Go's reading).
fn key_usage_bits(bits: &BitStringRef<'_>) -> u16 {
    let mut usage = 0u16;
    for i in 0..9 {
        if bits.get(i) == Some(true) {
            usage |= 1 << i;
        }
    }
    usage
}
