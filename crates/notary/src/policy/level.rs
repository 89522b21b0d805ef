//! Verification levels, validation types and actions: the `signatureVerification` object.
//!
//! A statement picks a preset level (`strict`, `permissive`, `audit`, `skip`)
//! and may override the action of single validation types. The spec's table of
//! default actions lives in [`VerificationLevel::action`]; the override rules
//! (integrity is never overridden, only revocation may be skipped, `skip`
//! cannot be customised) in [`SignatureVerification::from_raw`].

use std::{collections::BTreeMap, fmt};

use super::error::{TrustPolicyError, go_quote, go_quote_list};

/// One of the checks the verifier runs, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValidationType {
    /// The signature is valid and covers the payload.
    Integrity,
    /// The signing certificate chains to a trusted root and matches a trusted identity.
    Authenticity,
    /// The signing time is backed by a trusted timestamp (or certificates are unexpired).
    AuthenticTimestamp,
    /// The signature's own expiry has not passed.
    Expiry,
    /// No certificate in the chain is revoked.
    Revocation,
}

impl ValidationType {
    /// All validation types, in notation's order.
    pub const ALL: [Self; 5] = [
        Self::Integrity,
        Self::Authenticity,
        Self::AuthenticTimestamp,
        Self::Expiry,
        Self::Revocation,
    ];

    /// The name used in policies and messages, e.g. `"authenticTimestamp"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Integrity => "integrity",
            Self::Authenticity => "authenticity",
            Self::AuthenticTimestamp => "authenticTimestamp",
            Self::Expiry => "expiry",
            Self::Revocation => "revocation",
        }
    }

    /// Parses a policy name (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ValidationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failed check does to the verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A failure fails the verification.
    Enforce,
    /// A failure is reported but verification goes on.
    Log,
    /// The check is not run.
    Skip,
}

impl Action {
    /// All actions, in notation's order.
    pub const ALL: [Self; 3] = [Self::Enforce, Self::Log, Self::Skip];

    /// The name used in policies, e.g. `"enforce"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Log => "log",
            Self::Skip => "skip",
        }
    }

    /// Parses a policy name (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A preset of actions, one per validation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerificationLevel {
    /// Every check is enforced.
    Strict,
    /// Integrity and authenticity are enforced; the rest is logged.
    Permissive,
    /// Only integrity is enforced; the rest is logged.
    Audit,
    /// Nothing is checked. Dangerous: the artifact is accepted unsigned.
    Skip,
}

impl VerificationLevel {
    /// All levels, in notation's order.
    pub const ALL: [Self; 4] = [Self::Strict, Self::Permissive, Self::Audit, Self::Skip];

    /// The level's name in policies, e.g. `"strict"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Permissive => "permissive",
            Self::Audit => "audit",
            Self::Skip => "skip",
        }
    }

    /// Parses a level name (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The level's default action for `t` (the spec's table).
    pub fn action(self, t: ValidationType) -> Action {
        use ValidationType::{Authenticity, Integrity};
        match (self, t) {
            (Self::Skip, _) => Action::Skip,
            (Self::Strict, _) | (_, Integrity) | (Self::Permissive, Authenticity) => Action::Enforce,
            _ => Action::Log,
        }
    }
}

impl fmt::Display for VerificationLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When the authentic-timestamp check verifies a timestamp countersignature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VerifyTimestamp {
    /// Always (the default).
    #[default]
    Always,
    /// Only once a certificate of the signing chain has expired.
    AfterCertExpiry,
}

impl VerifyTimestamp {
    /// The name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "always",
            Self::AfterCertExpiry => "afterCertExpiry",
        }
    }
}

/// A statement's `signatureVerification`: a level plus per-type overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureVerification {
    /// The preset level.
    pub level: VerificationLevel,
    /// Actions that replace the level's default for single validation types.
    pub overrides: BTreeMap<ValidationType, Action>,
    /// When to verify timestamp countersignatures.
    pub verify_timestamp: VerifyTimestamp,
}

impl SignatureVerification {
    /// A level with no overrides and the default timestamp option.
    pub fn new(level: VerificationLevel) -> Self {
        Self {
            level,
            overrides: BTreeMap::new(),
            verify_timestamp: VerifyTimestamp::Always,
        }
    }

    /// The action for `t`: the override if any, else the level's default.
    pub fn action(&self, t: ValidationType) -> Action {
        self.overrides
            .get(&t)
            .copied()
            .unwrap_or_else(|| self.level.action(t))
    }

    /// The level's name as notation reports it: `"custom"` once anything is overridden.
    pub fn effective_level_name(&self) -> &'static str {
        if self.overrides.is_empty() {
            self.level.name()
        } else {
            "custom"
        }
    }

    /// Builds and checks the object from its JSON strings, in notation's order
    /// and wording. `statement` names the statement for messages.
    pub(crate) fn from_raw(
        statement: &str,
        raw: &RawSignatureVerification,
    ) -> Result<Self, TrustPolicyError> {
        let invalid = |reason: String| {
            TrustPolicyError::Statement(format!(
                "trust policy statement {} has invalid signatureVerification: {reason}",
                go_quote(statement)
            ))
        };
        if raw.level.is_empty() {
            return Err(invalid(
                "signature verification level is empty or missing in the trust policy statement".to_owned(),
            ));
        }
        let level = VerificationLevel::parse(&raw.level).ok_or_else(|| {
            invalid(format!(
                "invalid signature verification level {}",
                go_quote(&raw.level)
            ))
        })?;
        let mut overrides = BTreeMap::new();
        if !raw.overrides.is_empty() && level == VerificationLevel::Skip {
            return Err(invalid(format!(
                "signature verification level {} can't be used to customize signature verification",
                go_quote(level.name())
            )));
        }
        for (key, value) in &raw.overrides {
            let t = ValidationType::parse(key).ok_or_else(|| {
                invalid(format!(
                    "verification type {} in custom signature verification is not supported, supported values are {}",
                    go_quote(key),
                    go_quote_list(ValidationType::ALL.iter().map(|t| t.as_str()))
                ))
            })?;
            let action = Action::parse(value).ok_or_else(|| {
                invalid(format!(
                    "verification action {} in custom signature verification is not supported, supported values are {}",
                    go_quote(value),
                    go_quote_list(Action::ALL.iter().map(|a| a.as_str()))
                ))
            })?;
            if t == ValidationType::Integrity {
                return Err(invalid(format!(
                    "{} verification can not be overridden in custom signature verification",
                    go_quote(key)
                )));
            }
            if t != ValidationType::Revocation && action == Action::Skip {
                return Err(invalid(format!(
                    "{} verification can not be skipped in custom signature verification",
                    go_quote(key)
                )));
            }
            overrides.insert(t, action);
        }
        let verify_timestamp = match raw.verify_timestamp.as_str() {
            "" | "always" => VerifyTimestamp::Always,
            "afterCertExpiry" => VerifyTimestamp::AfterCertExpiry,
            other => {
                return Err(invalid(format!(
                    "verifyTimestamp must be \"always\" or \"afterCertExpiry\", but got {}",
                    go_quote(other)
                )));
            }
        };
        Ok(Self {
            level,
            overrides,
            verify_timestamp,
        })
    }

    /// The object as its JSON strings.
    pub(crate) fn to_raw(&self) -> RawSignatureVerification {
        RawSignatureVerification {
            level: self.level.name().to_owned(),
            overrides: self
                .overrides
                .iter()
                .map(|(t, a)| (t.as_str().to_owned(), a.as_str().to_owned()))
                .collect(),
            verify_timestamp: match self.verify_timestamp {
                VerifyTimestamp::Always => String::new(),
                VerifyTimestamp::AfterCertExpiry => "afterCertExpiry".to_owned(),
            },
        }
    }
}

/// `signatureVerification` as JSON strings, before validation (notation's Go struct).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RawSignatureVerification {
    /// `level`; empty when absent.
    pub level: String,
    /// `override`, in document order.
    pub overrides: Vec<(String, String)>,
    /// `verifyTimestamp`; empty when absent.
    pub verify_timestamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use ValidationType::*;

    #[test]
    fn spec_table() {
        let row = |l: VerificationLevel| ValidationType::ALL.map(|t| l.action(t));
        assert_eq!(row(VerificationLevel::Strict), [Enforce; 5]);
        assert_eq!(
            row(VerificationLevel::Permissive),
            [Enforce, Enforce, Log, Log, Log]
        );
        assert_eq!(row(VerificationLevel::Audit), [Enforce, Log, Log, Log, Log]);
        assert_eq!(row(VerificationLevel::Skip), [Skip; 5]);
    }

    #[test]
    fn override_rules() {
        let raw = |level: &str, k: &str, v: &str| RawSignatureVerification {
            level: level.into(),
            overrides: vec![(k.into(), v.into())],
            verify_timestamp: String::new(),
        };
        let sv = SignatureVerification::from_raw("s", &raw("audit", "expiry", "enforce")).expect("valid");
        assert_eq!(sv.action(Expiry), Enforce);
        assert_eq!(sv.action(Authenticity), Log);
        assert_eq!(sv.effective_level_name(), "custom");
        let err = |l, k, v| {
            SignatureVerification::from_raw("s", &raw(l, k, v))
                .map(|_| ())
                .expect_err("invalid")
                .to_string()
        };
        assert!(
            err("strict", "expiry", "skip")
                .ends_with("\"expiry\" verification can not be skipped in custom signature verification")
        );
        assert!(SignatureVerification::from_raw("s", &raw("strict", "revocation", "skip")).is_ok());
        assert!(err("skip", "expiry", "log").contains("level \"skip\" can't be used to customize"));
        assert!(err("strict", "bogus", "log").ends_with(
            r#"supported values are ["integrity" "authenticity" "authenticTimestamp" "expiry" "revocation"]"#
        ));
        assert!(
            err("strict", "expiry", "bogus").ends_with(r#"supported values are ["enforce" "log" "skip"]"#)
        );
    }
}
