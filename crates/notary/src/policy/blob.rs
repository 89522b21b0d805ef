//! The blob trust policy document (`trustpolicy.blob.json`).
//!
//! Blob statements have no registry scopes: the verifier picks one by name,
//! or the single statement marked `globalPolicy` when no name is given.

use serde_json::{Map, Value};

use super::{
    document::validate_version,
    error::{TrustPolicyError, go_quote},
    identity::{TrustStoreRef, TrustedIdentity},
    json::{Json, Object},
    level::{SignatureVerification, VerificationLevel},
    statement::{RawCore, core_json, go_pretty},
};

/// A statement of a blob trust policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobTrustPolicyStatement {
    /// The statement's name, unique in its document; verifiers select by it.
    pub name: String,
    /// Verification level and overrides.
    pub signature_verification: SignatureVerification,
    /// Trust stores to build chains to; empty only at level `skip`.
    pub trust_stores: Vec<TrustStoreRef>,
    /// Identities allowed to sign; empty only at level `skip`.
    pub trusted_identities: Vec<TrustedIdentity>,
    /// Whether this is the statement used when no name is given.
    pub global_policy: bool,
}

/// A blob trust policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobTrustPolicyDocument {
    /// The document version (`"1.0"`).
    pub version: String,
    /// The statements, in document order.
    pub statements: Vec<BlobTrustPolicyStatement>,
}

impl BlobTrustPolicyDocument {
    /// Parses and validates a document; errors are worded as notation words them.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TrustPolicyError> {
        let json = Json::parse(bytes)?;
        let root = Object::new(&json, String::new())?;
        let version = root.string("version")?;
        let raw = root
            .objects("trustPolicies")?
            .iter()
            .map(|obj| Ok((RawCore::read(obj)?, obj.boolean("globalPolicy")?)))
            .collect::<Result<Vec<_>, TrustPolicyError>>()?;
        Self::from_raw(version, &raw)
    }

    /// Checks the document against the trust policy rules.
    pub fn validate(&self) -> Result<(), TrustPolicyError> {
        let raw: Vec<(RawCore, bool)> = self
            .statements
            .iter()
            .map(|s| {
                let core = RawCore::from_parts(
                    &s.name,
                    &s.signature_verification,
                    &s.trust_stores,
                    &s.trusted_identities,
                );
                (core, s.global_policy)
            })
            .collect();
        Self::from_raw(self.version.clone(), &raw).map(|_| ())
    }

    /// notation's `BlobDocument.Validate`, producing the typed document.
    ///
    /// notation means to refuse a global statement at level `skip` but its
    /// check never fires; the spec forbids it, so it is refused here.
    fn from_raw(version: String, raw: &[(RawCore, bool)]) -> Result<Self, TrustPolicyError> {
        validate_version("blob", &version)?;
        if raw.is_empty() {
            return Err(TrustPolicyError::Document(
                "blob trust policy document can not have zero trust policy statements".to_owned(),
            ));
        }
        let mut statements: Vec<BlobTrustPolicyStatement> = Vec::with_capacity(raw.len());
        for (core, global_policy) in raw {
            if statements.iter().any(|s| s.name == core.name) {
                return Err(TrustPolicyError::Document(format!(
                    "multiple blob trust policy statements use the same name {}, statement names must be unique",
                    go_quote(&core.name)
                )));
            }
            let core = core.validate("blob")?;
            if *global_policy {
                if statements.iter().any(|s| s.global_policy) {
                    return Err(TrustPolicyError::Document(
                        "multiple blob trust policy statements have globalPolicy set to true. Only one trust policy statement can be marked as global policy".to_owned(),
                    ));
                }
                if core.signature_verification.level == VerificationLevel::Skip {
                    return Err(TrustPolicyError::Document(
                        "global blob trust policy statement cannot have verification level set to skip"
                            .to_owned(),
                    ));
                }
            }
            statements.push(BlobTrustPolicyStatement {
                name: core.name,
                signature_verification: core.signature_verification,
                trust_stores: core.trust_stores,
                trusted_identities: core.trusted_identities,
                global_policy: *global_policy,
            });
        }
        Ok(Self { version, statements })
    }

    /// The statement named exactly `name`.
    pub fn statement_named(&self, name: &str) -> Result<&BlobTrustPolicyStatement, TrustPolicyError> {
        if name.trim().is_empty() {
            return Err(TrustPolicyError::NoBlobStatement(
                "policy name cannot be empty".to_owned(),
            ));
        }
        self.statements.iter().find(|s| s.name == name).ok_or_else(|| {
            TrustPolicyError::NoBlobStatement(format!(
                "no applicable blob trust policy with name {}",
                go_quote(name)
            ))
        })
    }

    /// The statement marked `globalPolicy`.
    pub fn global_statement(&self) -> Result<&BlobTrustPolicyStatement, TrustPolicyError> {
        self.statements
            .iter()
            .find(|s| s.global_policy)
            .ok_or_else(|| TrustPolicyError::NoBlobStatement("no global blob trust policy".to_owned()))
    }

    /// The document as notation writes it (2-space indent, Go member order).
    pub fn to_json_pretty(&self) -> String {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut m = core_json(
                    &s.name,
                    &s.signature_verification,
                    &s.trust_stores,
                    &s.trusted_identities,
                );
                if s.global_policy {
                    m.insert("globalPolicy".into(), true.into());
                }
                Value::Object(m)
            })
            .collect();
        let mut root = Map::new();
        root.insert("version".into(), self.version.clone().into());
        root.insert("trustPolicies".into(), statements.into());
        go_pretty(&Value::Object(root))
    }
}
