//! Signed and unsigned attributes, and the Notary Project rules on the signed
//! ones that both envelope formats share.
//!
//! JWS and COSE encode the protected header differently (JSON strings versus
//! CBOR labels and tag-1 times), but the rules are the same: which signing
//! scheme needs which time, what must be listed in `crit`, and that the expiry
//! comes after the signing time. Each format decodes its header into
//! [`ProtectedFields`]; [`ProtectedFields::into_signed`] applies the rules once.

use std::{collections::HashSet, fmt};

use serde_json::Value;
use time::OffsetDateTime;

use super::{EnvelopeError, PAYLOAD_CONTENT_TYPE};

pub(crate) const KEY_SIGNING_SCHEME: &str = "io.cncf.notary.signingScheme";
pub(crate) const KEY_SIGNING_TIME: &str = "io.cncf.notary.signingTime";
pub(crate) const KEY_AUTHENTIC_SIGNING_TIME: &str = "io.cncf.notary.authenticSigningTime";
pub(crate) const KEY_EXPIRY: &str = "io.cncf.notary.expiry";
pub(crate) const KEY_VERIFICATION_PLUGIN: &str = "io.cncf.notary.verificationPlugin";
pub(crate) const KEY_VERIFICATION_PLUGIN_MIN_VERSION: &str = "io.cncf.notary.verificationPluginMinVersion";
pub(crate) const KEY_SIGNING_AGENT: &str = "io.cncf.notary.signingAgent";
pub(crate) const KEY_TIMESTAMP_SIGNATURE: &str = "io.cncf.notary.timestampSignature";

/// The Notary Project signing scheme a signature claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningScheme {
    /// `notary.x509`: signing time is the signer's claim; trust comes from a CA
    /// and, optionally, an RFC 3161 timestamp.
    X509,
    /// `notary.x509.signingAuthority`: a signing authority vouches for the
    /// (authentic) signing time.
    X509SigningAuthority,
}

impl SigningScheme {
    /// The scheme's name in envelopes: `notary.x509` or `notary.x509.signingAuthority`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X509 => "notary.x509",
            Self::X509SigningAuthority => "notary.x509.signingAuthority",
        }
    }

    /// Parses a scheme name; `None` for anything the spec does not define.
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::X509, Self::X509SigningAuthority]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

impl fmt::Display for SigningScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed attribute beyond the ones the spec defines (a plugin's, say).
#[derive(Debug, Clone, PartialEq)]
pub struct ExtendedAttribute {
    /// The header name.
    pub key: String,
    /// The value, as JSON (COSE values are converted).
    pub value: Value,
    /// Whether the header is listed in `crit`: a verifier must process it.
    pub critical: bool,
}

/// The attributes covered by the signature.
///
/// `io.cncf.notary.verificationPlugin` and `…MinVersion` are pulled out of the
/// extended attributes into their own fields; `extended` holds only the rest,
/// so a verifier can require that every critical one there was processed.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedAttributes {
    /// The signing scheme.
    pub signing_scheme: SigningScheme,
    /// `io.cncf.notary.signingTime` (scheme `notary.x509` only), offset kept.
    pub signing_time: Option<OffsetDateTime>,
    /// `io.cncf.notary.authenticSigningTime` (scheme `signingAuthority` only).
    pub authentic_signing_time: Option<OffsetDateTime>,
    /// `io.cncf.notary.expiry`, offset kept.
    pub expiry: Option<OffsetDateTime>,
    /// `io.cncf.notary.verificationPlugin`.
    pub verification_plugin: Option<String>,
    /// `io.cncf.notary.verificationPluginMinVersion`.
    pub verification_plugin_min_version: Option<String>,
    /// Every other signed header, in envelope order.
    pub extended: Vec<ExtendedAttribute>,
}

impl SignedAttributes {
    /// The signing time of either scheme (authentic for `signingAuthority`).
    pub fn effective_signing_time(&self) -> Option<OffsetDateTime> {
        match self.signing_scheme {
            SigningScheme::X509 => self.signing_time,
            SigningScheme::X509SigningAuthority => self.authentic_signing_time,
        }
    }
}

/// The attributes outside the signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsignedAttributes {
    /// `io.cncf.notary.signingAgent`, e.g. `Notation/1.0.0` (absent if empty).
    pub signing_agent: Option<String>,
    /// `io.cncf.notary.timestampSignature`: an RFC 3161 token, DER (absent if empty).
    pub timestamp_signature: Option<Vec<u8>>,
}

/// A protected header after format-specific decoding, before the rules.
#[derive(Debug, Default)]
pub(crate) struct ProtectedFields {
    pub cty: Option<String>,
    pub crit: Option<Vec<String>>,
    pub signing_scheme: Option<String>,
    pub signing_time: Option<OffsetDateTime>,
    pub authentic_signing_time: Option<OffsetDateTime>,
    pub expiry: Option<OffsetDateTime>,
    pub extended: Vec<(String, Value)>,
}

/// Header names an envelope may not list in `crit` or reuse as extended keys.
const SYSTEM_KEYS: [&str; 4] = ["alg", "cty", "crit", KEY_SIGNING_TIME];

fn bad(msg: impl Into<String>) -> EnvelopeError {
    EnvelopeError::InvalidProtectedHeader(msg.into())
}

impl ProtectedFields {
    /// Applies the Notary Project rules and returns the content type and the
    /// signed attributes.
    pub fn into_signed(self) -> Result<(String, SignedAttributes), EnvelopeError> {
        let cty = self.cty.ok_or_else(|| bad("content type (cty) is missing"))?;
        if cty != PAYLOAD_CONTENT_TYPE {
            return Err(bad(format!(
                "content type {cty:?} is not supported, it must be {PAYLOAD_CONTENT_TYPE:?}"
            )));
        }
        let scheme_name = self
            .signing_scheme
            .ok_or_else(|| bad(format!("{KEY_SIGNING_SCHEME:?} is missing")))?;
        let scheme = SigningScheme::from_name(&scheme_name)
            .ok_or_else(|| bad(format!("unsupported signing scheme {scheme_name:?}")))?;
        match scheme {
            SigningScheme::X509 => {
                if self.authentic_signing_time.is_some() {
                    return Err(bad(format!(
                        "{KEY_AUTHENTIC_SIGNING_TIME:?} must not be present for the {scheme} signing scheme"
                    )));
                }
                if self.signing_time.is_none() {
                    return Err(bad(format!(
                        "{KEY_SIGNING_TIME:?} must be present for the {scheme} signing scheme"
                    )));
                }
            }
            SigningScheme::X509SigningAuthority => {
                if self.signing_time.is_some() {
                    return Err(bad(format!(
                        "{KEY_SIGNING_TIME:?} must not be present for the {scheme} signing scheme"
                    )));
                }
                if self.authentic_signing_time.is_none() {
                    return Err(bad(format!(
                        "{KEY_AUTHENTIC_SIGNING_TIME:?} must be present for the {scheme} signing scheme"
                    )));
                }
            }
        }

        let crit = self.crit.ok_or_else(|| bad("\"crit\" is missing"))?;
        if crit.is_empty() {
            return Err(bad("\"crit\" is empty"));
        }
        let mut required: Vec<&str> = vec![KEY_SIGNING_SCHEME];
        if scheme == SigningScheme::X509SigningAuthority {
            required.push(KEY_AUTHENTIC_SIGNING_TIME);
        }
        if self.expiry.is_some() {
            required.push(KEY_EXPIRY);
        }
        let extended_keys: HashSet<&str> = self.extended.iter().map(|(k, _)| k.as_str()).collect();
        let mut seen = HashSet::new();
        for name in &crit {
            if !seen.insert(name.as_str()) {
                return Err(bad(format!("{name:?} is listed twice in \"crit\"")));
            }
            if SYSTEM_KEYS.contains(&name.as_str()) {
                return Err(bad(format!("{name:?} must not be listed in \"crit\"")));
            }
            if !required.contains(&name.as_str()) && !extended_keys.contains(name.as_str()) {
                return Err(bad(format!("{name:?} is marked critical but not present")));
            }
        }
        let missing: Vec<&str> = required.into_iter().filter(|r| !seen.contains(r)).collect();
        if !missing.is_empty() {
            return Err(bad(format!(
                "these required headers are not marked as critical: {missing:?}"
            )));
        }

        let effective = match scheme {
            SigningScheme::X509 => self.signing_time,
            SigningScheme::X509SigningAuthority => self.authentic_signing_time,
        };
        if let (Some(expiry), Some(signed)) = (self.expiry, effective)
            && expiry <= signed
        {
            return Err(bad(format!(
                "expiry {expiry} cannot be equal to or before the signing time {signed}"
            )));
        }

        let mut attrs = SignedAttributes {
            signing_scheme: scheme,
            signing_time: self.signing_time,
            authentic_signing_time: self.authentic_signing_time,
            expiry: self.expiry,
            verification_plugin: None,
            verification_plugin_min_version: None,
            extended: Vec::new(),
        };
        for (key, value) in self.extended {
            let slot = match key.as_str() {
                KEY_VERIFICATION_PLUGIN => Some(&mut attrs.verification_plugin),
                KEY_VERIFICATION_PLUGIN_MIN_VERSION => Some(&mut attrs.verification_plugin_min_version),
                _ => None,
            };
            match (slot, value) {
                (Some(slot), Value::String(s)) => *slot = Some(s),
                (Some(_), _) => return Err(bad(format!("{key:?} must be a string"))),
                (None, value) => {
                    let critical = crit.contains(&key);
                    attrs.extended.push(ExtendedAttribute { key, value, critical });
                }
            }
        }
        Ok((cty, attrs))
    }
}

/// Whether `key` is a header name the envelope code handles itself, so an
/// extended attribute may not use it.
pub(crate) fn is_reserved_key(key: &str) -> bool {
    SYSTEM_KEYS.contains(&key)
        || [
            KEY_SIGNING_SCHEME,
            KEY_AUTHENTIC_SIGNING_TIME,
            KEY_EXPIRY,
            KEY_SIGNING_AGENT,
            KEY_TIMESTAMP_SIGNATURE,
        ]
        .contains(&key)
}
