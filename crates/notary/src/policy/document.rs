//! The OCI trust policy document (`trustpolicy.json` / `trustpolicy.oci.json`)
//! and how a statement is chosen for an artifact.
//!
//! Loading goes JSON → the Go-shaped strings notation decodes into → notation's
//! `Validate` rules in notation's order → typed statements. [`TrustPolicyDocument::validate`]
//! runs the same rules on a document built in code, by going back to strings.

use serde_json::{Map, Value};

use super::{
    dn::DistinguishedName,
    error::{TrustPolicyError, go_quote},
    identity::{StoreType, TrustStoreRef, TrustedIdentity, WILDCARD, X509_SUBJECT},
    json::{Json, Object},
    level::{SignatureVerification, VerificationLevel},
    scope::{split_artifact_reference, validate_scope_format},
    statement::{RawCore, core_json, go_pretty},
};

/// The policy versions notation accepts.
const SUPPORTED_VERSIONS: [&str; 1] = ["1.0"];

/// A statement of an OCI trust policy: where it applies and what it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicyStatement {
    /// The statement's name, unique in its document.
    pub name: String,
    /// Repositories (`<registry>/<repository>`) it applies to, or the single `*`.
    pub registry_scopes: Vec<String>,
    /// Verification level and overrides.
    pub signature_verification: SignatureVerification,
    /// Trust stores to build chains to; empty only at level `skip`.
    pub trust_stores: Vec<TrustStoreRef>,
    /// Identities allowed to sign; empty only at level `skip`.
    pub trusted_identities: Vec<TrustedIdentity>,
}

/// An OCI trust policy document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPolicyDocument {
    /// The document version (`"1.0"`).
    pub version: String,
    /// The statements, in document order.
    pub statements: Vec<TrustPolicyStatement>,
}

/// An OCI statement as JSON strings.
struct RawStatement {
    core: RawCore,
    registry_scopes: Vec<String>,
}

impl TrustPolicyDocument {
    /// Parses and validates a document; errors are worded as notation words them.
    pub fn from_json(bytes: &[u8]) -> Result<Self, TrustPolicyError> {
        let json = Json::parse(bytes)?;
        let root = Object::new(&json, String::new())?;
        let version = root.string("version")?;
        let statements = root
            .objects("trustPolicies")?
            .iter()
            .map(|obj| {
                Ok(RawStatement {
                    core: RawCore::read(obj)?,
                    registry_scopes: obj.strings("registryScopes")?,
                })
            })
            .collect::<Result<Vec<_>, TrustPolicyError>>()?;
        Self::from_raw(version, &statements)
    }

    /// Checks the document against the trust policy rules.
    pub fn validate(&self) -> Result<(), TrustPolicyError> {
        let raw: Vec<RawStatement> = self
            .statements
            .iter()
            .map(|s| RawStatement {
                core: RawCore::from_parts(
                    &s.name,
                    &s.signature_verification,
                    &s.trust_stores,
                    &s.trusted_identities,
                ),
                registry_scopes: s.registry_scopes.clone(),
            })
            .collect();
        Self::from_raw(self.version.clone(), &raw).map(|_| ())
    }

    /// notation's `OCIDocument.Validate`, producing the typed document.
    fn from_raw(version: String, raw: &[RawStatement]) -> Result<Self, TrustPolicyError> {
        validate_version("oci", &version)?;
        if raw.is_empty() {
            return Err(TrustPolicyError::Document(
                "oci trust policy document can not have zero trust policy statements".to_owned(),
            ));
        }
        let mut statements: Vec<TrustPolicyStatement> = Vec::with_capacity(raw.len());
        for r in raw {
            if statements.iter().any(|s| s.name == r.core.name) {
                return Err(TrustPolicyError::Document(format!(
                    "multiple oci trust policy statements use the same name {}, statement names must be unique",
                    go_quote(&r.core.name)
                )));
            }
            let core = r.core.validate("oci")?;
            statements.push(TrustPolicyStatement {
                name: core.name,
                registry_scopes: r.registry_scopes.clone(),
                signature_verification: core.signature_verification,
                trust_stores: core.trust_stores,
                trusted_identities: core.trusted_identities,
            });
        }
        validate_registry_scopes(&statements)?;
        Ok(Self { version, statements })
    }

    /// The statement for `repository` (`<registry>/<repository>`, no tag or
    /// digest): the one whose scopes list it exactly, else the `*` statement.
    /// Scopes are compared as whole strings; there is no prefix matching.
    pub fn statement_for(&self, repository: &str) -> Result<&TrustPolicyStatement, TrustPolicyError> {
        self.lookup(repository)
            .ok_or_else(|| TrustPolicyError::NoApplicableStatement {
                artifact: repository.to_owned(),
            })
    }

    /// The statement for an artifact reference `<registry>/<repository>@<digest>`,
    /// which must be fully qualified and carry a valid digest.
    pub fn statement_for_artifact(
        &self,
        artifact_ref: &str,
    ) -> Result<&TrustPolicyStatement, TrustPolicyError> {
        let (repository, _digest) = split_artifact_reference(artifact_ref)?;
        self.lookup(repository)
            .ok_or_else(|| TrustPolicyError::NoApplicableStatement {
                artifact: artifact_ref.to_owned(),
            })
    }

    fn lookup(&self, repository: &str) -> Option<&TrustPolicyStatement> {
        let has = |s: &&TrustPolicyStatement, scope: &str| s.registry_scopes.iter().any(|x| x == scope);
        let exact = self
            .statements
            .iter()
            .find(|s| !has(s, WILDCARD) && has(s, repository));
        exact.or_else(|| self.statements.iter().find(|s| has(s, WILDCARD)))
    }

    /// The document as notation would write it (2-space indent, Go member order).
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
                m.insert("registryScopes".into(), s.registry_scopes.clone().into());
                Value::Object(m)
            })
            .collect();
        let mut root = Map::new();
        root.insert("version".into(), self.version.clone().into());
        root.insert("trustPolicies".into(), statements.into());
        go_pretty(&Value::Object(root))
    }

    /// A starting policy for `signet policy init`: one strict statement for all
    /// repositories (`*`), trusting trust store `store` (`<type>:<name>`, or a
    /// bare name meaning `ca:<name>`) and `identity` (`*` when `None`; an
    /// `x509.subject:` prefix is optional). Call [`Self::validate`] before saving.
    pub fn example(store: &str, identity: Option<&str>) -> Self {
        Self {
            version: "1.0".to_owned(),
            statements: vec![TrustPolicyStatement {
                name: "default".to_owned(),
                registry_scopes: vec![WILDCARD.to_owned()],
                signature_verification: SignatureVerification::new(VerificationLevel::Strict),
                trust_stores: vec![example_store(store)],
                trusted_identities: vec![example_identity(identity)],
            }],
        }
    }
}

/// Checks the `version` member as notation does; `kind` is `"oci"` or `"blob"`.
pub(crate) fn validate_version(kind: &str, version: &str) -> Result<(), TrustPolicyError> {
    if version.is_empty() {
        return Err(TrustPolicyError::Document(format!(
            "{kind} trust policy document has empty version, version must be specified"
        )));
    }
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(TrustPolicyError::Document(format!(
            "{kind} trust policy document uses unsupported version {}",
            go_quote(version)
        )));
    }
    Ok(())
}

/// notation's `validateRegistryScopes`.
fn validate_registry_scopes(statements: &[TrustPolicyStatement]) -> Result<(), TrustPolicyError> {
    let mut seen: Vec<&str> = Vec::new();
    let mut duplicate: Option<&str> = None;
    for s in statements {
        let q = go_quote(&s.name);
        if s.registry_scopes.is_empty() {
            return Err(TrustPolicyError::Scope(format!(
                "oci trust policy statement {q} has zero registry scopes, it must specify registry scopes with at least one value"
            )));
        }
        if s.registry_scopes.len() > 1 && s.registry_scopes.iter().any(|x| x == WILDCARD) {
            return Err(TrustPolicyError::Scope(format!(
                "oci trust policy statement {q} uses wildcard registry scope '*', a wildcard scope cannot be used in conjunction with other scope values"
            )));
        }
        for scope in &s.registry_scopes {
            if scope != WILDCARD {
                validate_scope_format(scope)?;
            }
            if seen.contains(&scope.as_str()) {
                duplicate = duplicate.or(Some(scope));
            } else {
                seen.push(scope);
            }
        }
    }
    match duplicate {
        Some(scope) => Err(TrustPolicyError::Scope(format!(
            "registry scope {} is present in multiple oci trust policy statements, one registry scope value can only be associated with one statement",
            go_quote(scope)
        ))),
        None => Ok(()),
    }
}

fn example_store(store: &str) -> TrustStoreRef {
    match store.split_once(':') {
        Some((kind, name)) => TrustStoreRef {
            store_type: StoreType::parse(kind).unwrap_or(StoreType::Ca),
            name: name.to_owned(),
        },
        None => TrustStoreRef {
            store_type: StoreType::Ca,
            name: store.to_owned(),
        },
    }
}

fn example_identity(identity: Option<&str>) -> TrustedIdentity {
    let Some(identity) = identity.filter(|i| *i != WILDCARD) else {
        return TrustedIdentity::Any;
    };
    let (prefix, value) = match identity.split_once(':') {
        Some((prefix, value)) if !prefix.contains('=') => (prefix, value),
        _ => (X509_SUBJECT, identity),
    };
    if prefix == X509_SUBJECT
        && let Ok(dn) = DistinguishedName::parse(value)
    {
        return TrustedIdentity::X509Subject(dn);
    }
    TrustedIdentity::Other {
        prefix: prefix.to_owned(),
        value: value.to_owned(),
    }
}
