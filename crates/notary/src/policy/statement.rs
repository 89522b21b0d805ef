//! What OCI and blob statements share: name, `signatureVerification`,
//! `trustStores` and `trustedIdentities`, and notation's checks of them
//! (`validatePolicyCore`), applied in notation's order so the first error
//! reported is the one notation reports.

use serde_json::{Map, Value};

use super::{
    error::{TrustPolicyError, go_quote},
    identity::{TrustStoreRef, TrustedIdentity, parse_identities},
    json::Object,
    level::{RawSignatureVerification, SignatureVerification, VerificationLevel},
};

/// The shared part of a statement as JSON strings, before validation.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawCore {
    pub name: String,
    pub signature_verification: RawSignatureVerification,
    pub trust_stores: Vec<String>,
    pub trusted_identities: Vec<String>,
}

/// The shared part of a statement, validated.
#[derive(Debug, Clone)]
pub(crate) struct Core {
    pub name: String,
    pub signature_verification: SignatureVerification,
    pub trust_stores: Vec<TrustStoreRef>,
    pub trusted_identities: Vec<TrustedIdentity>,
}

impl RawCore {
    /// Reads the shared members of a statement object.
    pub(crate) fn read(obj: &Object<'_>) -> Result<Self, TrustPolicyError> {
        let sv = obj.object("signatureVerification")?;
        Ok(Self {
            name: obj.string("name")?,
            signature_verification: RawSignatureVerification {
                level: sv.string("level")?,
                overrides: sv.string_map("override")?,
                verify_timestamp: sv.string("verifyTimestamp")?,
            },
            trust_stores: obj.strings("trustStores")?,
            trusted_identities: obj.strings("trustedIdentities")?,
        })
    }

    /// The raw form of validated parts.
    pub(crate) fn from_parts(
        name: &str,
        sv: &SignatureVerification,
        stores: &[TrustStoreRef],
        identities: &[TrustedIdentity],
    ) -> Self {
        Self {
            name: name.to_owned(),
            signature_verification: sv.to_raw(),
            trust_stores: stores.iter().map(ToString::to_string).collect(),
            trusted_identities: identities.iter().map(ToString::to_string).collect(),
        }
    }

    /// notation's `validatePolicyCore`; `kind` (`"oci"` or `"blob"`) prefixes errors.
    pub(crate) fn validate(&self, kind: &str) -> Result<Core, TrustPolicyError> {
        self.validate_unprefixed()
            .map_err(|e| TrustPolicyError::Statement(format!("{kind} trust policy: {e}")))
    }

    fn validate_unprefixed(&self) -> Result<Core, TrustPolicyError> {
        let name = &self.name;
        if name.is_empty() {
            return Err(TrustPolicyError::Statement(
                "a trust policy statement is missing a name, every statement requires a name".to_owned(),
            ));
        }
        let signature_verification = SignatureVerification::from_raw(name, &self.signature_verification)?;
        let (stores, identities) = (&self.trust_stores, &self.trusted_identities);
        if signature_verification.level == VerificationLevel::Skip {
            if !stores.is_empty() || !identities.is_empty() {
                return Err(TrustPolicyError::Statement(format!(
                    "trust policy statement {} is set to skip signature verification but configured with trust stores and/or trusted identities, remove them if signature verification needs to be skipped",
                    go_quote(name)
                )));
            }
            return Ok(Core {
                name: name.clone(),
                signature_verification,
                trust_stores: Vec::new(),
                trusted_identities: Vec::new(),
            });
        }
        if stores.is_empty() || identities.is_empty() {
            return Err(TrustPolicyError::Statement(format!(
                "trust policy statement {} is either missing trust stores or trusted identities, both must be specified",
                go_quote(name)
            )));
        }
        let trust_stores = stores
            .iter()
            .map(|s| TrustStoreRef::parse(name, s))
            .collect::<Result<Vec<_>, _>>()?;
        let trusted_identities = parse_identities(name, identities)?;
        Ok(Core {
            name: name.clone(),
            signature_verification,
            trust_stores,
            trusted_identities,
        })
    }
}

/// Writes the shared members in notation's (Go struct) order: `name`,
/// `signatureVerification`, `trustStores`, `trustedIdentities`.
pub(crate) fn core_json(
    name: &str,
    sv: &SignatureVerification,
    stores: &[TrustStoreRef],
    identities: &[TrustedIdentity],
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    let mut svj = Map::new();
    svj.insert("level".into(), sv.level.name().into());
    if !sv.overrides.is_empty() {
        // Go writes map keys sorted.
        let mut pairs: Vec<_> = sv
            .overrides
            .iter()
            .map(|(t, a)| (t.as_str(), a.as_str()))
            .collect();
        pairs.sort_unstable();
        let o: Map<String, Value> = pairs.into_iter().map(|(t, a)| (t.to_owned(), a.into())).collect();
        svj.insert("override".into(), o.into());
    }
    let raw = sv.to_raw();
    if !raw.verify_timestamp.is_empty() {
        svj.insert("verifyTimestamp".into(), raw.verify_timestamp.into());
    }
    m.insert("signatureVerification".into(), svj.into());
    if !(stores.is_empty() && identities.is_empty()) {
        let s: Vec<Value> = stores.iter().map(|s| s.to_string().into()).collect();
        let i: Vec<Value> = identities.iter().map(|i| i.to_string().into()).collect();
        m.insert("trustStores".into(), s.into());
        m.insert("trustedIdentities".into(), i.into());
    }
    m
}

/// Pretty-prints as Go's `json.MarshalIndent(v, "", "  ")`, HTML-safe escapes included.
pub(crate) fn go_pretty(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    // These characters can only occur inside strings, where an escape is equivalent.
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}
