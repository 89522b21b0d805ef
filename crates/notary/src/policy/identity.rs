//! Trust store references and trusted identities of a statement, and how a
//! signing certificate's subject is matched against the identities.
//!
//! A trust store reference is `<type>:<name>` with type `ca`,
//! `signingAuthority` or `tsa` and a file-name-safe name; whether the store
//! exists is the verifier's business, not the policy's. A trusted identity is
//! `*`, `x509.subject:<DN>`, or `<prefix>:<value>` for a plugin to judge.

use std::fmt;

use super::{
    dn::DistinguishedName,
    error::{TrustPolicyError, go_quote},
};

/// The `*` that stands for any identity or any registry scope.
pub(crate) const WILDCARD: &str = "*";
/// The prefix of identities notation matches itself.
pub(crate) const X509_SUBJECT: &str = "x509.subject";

/// The kind of a named trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StoreType {
    /// Certificate authorities (`notary.x509` signatures).
    Ca,
    /// Signing authorities (`notary.x509.signingAuthority` signatures).
    SigningAuthority,
    /// Timestamp authorities; enables timestamp verification.
    Tsa,
}

impl StoreType {
    /// All store types, in notation's order.
    pub const ALL: [Self; 3] = [Self::Ca, Self::SigningAuthority, Self::Tsa];

    /// The type's name: `"ca"`, `"signingAuthority"` or `"tsa"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ca => "ca",
            Self::SigningAuthority => "signingAuthority",
            Self::Tsa => "tsa",
        }
    }

    /// Parses a type name (case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A `<type>:<name>` entry of `trustStores`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrustStoreRef {
    /// The store's type.
    pub store_type: StoreType,
    /// The store's name: `[a-zA-Z0-9_.-]+`, and neither `.` nor `..`.
    pub name: String,
}

impl TrustStoreRef {
    /// Parses `<type>:<name>` with notation's checks; `statement` is for messages.
    pub(crate) fn parse(statement: &str, value: &str) -> Result<Self, TrustPolicyError> {
        let q = go_quote(statement);
        let Some((kind, name)) = value.split_once(':') else {
            return Err(TrustPolicyError::Statement(format!(
                "trust policy statement {q} has malformed trust store value {}. The required format is <TrustStoreType>:<TrustStoreName>",
                go_quote(value)
            )));
        };
        let store_type = StoreType::parse(kind).ok_or_else(|| {
            TrustPolicyError::Statement(format!(
                "trust policy statement {q} uses an unsupported trust store type {} in trust store value {}",
                go_quote(kind),
                go_quote(value)
            ))
        })?;
        // notation accepts "." and ".."; they would name the type directory or
        // its parent, so they are refused here as well.
        let valid_name = !name.is_empty()
            && name != "."
            && name != ".."
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid_name {
            return Err(TrustPolicyError::Statement(format!(
                "trust policy statement {q} uses an unsupported trust store name {} in trust store value {}. Named store name needs to follow [a-zA-Z0-9_.-]+ format",
                go_quote(name),
                go_quote(value)
            )));
        }
        Ok(Self {
            store_type,
            name: name.to_owned(),
        })
    }
}

impl fmt::Display for TrustStoreRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.store_type.as_str(), self.name)
    }
}

/// An entry of `trustedIdentities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedIdentity {
    /// `*`: any certificate that chains to the statement's trust stores.
    Any,
    /// `x509.subject:<DN>`: the signing certificate's subject must contain these attributes.
    X509Subject(DistinguishedName),
    /// `<prefix>:<value>` with another prefix; notation leaves these to plugins.
    Other {
        /// The text before the first `:`.
        prefix: String,
        /// The text after it.
        value: String,
    },
}

impl fmt::Display for TrustedIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str(WILDCARD),
            Self::X509Subject(dn) => write!(f, "{X509_SUBJECT}:{dn}"),
            Self::Other { prefix, value } => write!(f, "{prefix}:{value}"),
        }
    }
}

/// Parses and checks a statement's `trustedIdentities` as notation does:
/// `*` stands alone, no entry is empty or lacks `:`, every `x509.subject`
/// DN is valid, and no two DNs overlap (one a subset of the other).
pub(crate) fn parse_identities(
    statement: &str,
    raw: &[String],
) -> Result<Vec<TrustedIdentity>, TrustPolicyError> {
    let q = go_quote(statement);
    let err = |msg: String| TrustPolicyError::Statement(msg);
    if raw.len() > 1 && raw.iter().any(|i| i == WILDCARD) {
        return Err(err(format!(
            "trust policy statement {q} uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values"
        )));
    }
    let mut identities = Vec::with_capacity(raw.len());
    for identity in raw {
        if identity.is_empty() {
            return Err(err(format!(
                "trust policy statement {q} has an empty trusted identity"
            )));
        }
        if identity == WILDCARD {
            identities.push(TrustedIdentity::Any);
            continue;
        }
        let Some((prefix, value)) = identity.split_once(':') else {
            return Err(err(format!(
                "trust policy statement {q} has trusted identity {} missing separator",
                go_quote(identity)
            )));
        };
        if prefix != X509_SUBJECT {
            identities.push(TrustedIdentity::Other {
                prefix: prefix.to_owned(),
                value: value.to_owned(),
            });
            continue;
        }
        if value.is_empty() {
            return Err(err(format!(
                "trust policy statement {q} has trusted identity {} without an identity value",
                go_quote(identity)
            )));
        }
        let dn = DistinguishedName::parse(value).map_err(|e| {
            err(format!(
                "trust policy statement {q} has trusted identity {} with invalid identity value: {e}",
                go_quote(identity)
            ))
        })?;
        identities.push(TrustedIdentity::X509Subject(dn));
    }
    let dns: Vec<(&String, &DistinguishedName)> = raw
        .iter()
        .zip(&identities)
        .filter_map(|(r, i)| match i {
            TrustedIdentity::X509Subject(dn) => Some((r, dn)),
            _ => None,
        })
        .collect();
    for (i, (raw1, dn1)) in dns.iter().enumerate() {
        for (j, (raw2, dn2)) in dns.iter().enumerate() {
            if i != j && dn1.is_subset_of(dn2) {
                return Err(err(format!(
                    "trust policy statement {q} has overlapping x509 trustedIdentities, {} overlaps with {}",
                    go_quote(raw1),
                    go_quote(raw2)
                )));
            }
        }
    }
    Ok(identities)
}

/// Whether a signing certificate with subject `cert_subject` (in Go's
/// `pkix.Name.String()` form) is trusted by `identities`.
///
/// `*` trusts any subject. Otherwise some `x509.subject` identity must be a
/// subset of the subject; with no such identity nothing matches. A subject
/// that is not a valid DN under notation's rules (for example one holding
/// `=#`) is an error, as it is in notation.
pub fn subject_matches(identities: &[TrustedIdentity], cert_subject: &str) -> Result<bool, TrustPolicyError> {
    match verify_identities("", identities, cert_subject) {
        Ok(()) => Ok(true),
        Err(TrustPolicyError::IdentityMismatch { .. } | TrustPolicyError::NoX509Identities { .. }) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Like [`subject_matches`], but every refusal is an error worded as notation
/// words it for statement `statement` (the authenticity failure reason).
pub fn verify_identities(
    statement: &str,
    identities: &[TrustedIdentity],
    cert_subject: &str,
) -> Result<(), TrustPolicyError> {
    if identities.iter().any(|i| matches!(i, TrustedIdentity::Any)) {
        return Ok(());
    }
    let trusted: Vec<&DistinguishedName> = identities
        .iter()
        .filter_map(|i| match i {
            TrustedIdentity::X509Subject(dn) => Some(dn),
            _ => None,
        })
        .collect();
    if trusted.is_empty() {
        return Err(TrustPolicyError::NoX509Identities {
            statement: statement.to_owned(),
        });
    }
    let subject =
        DistinguishedName::parse(cert_subject).map_err(|e| TrustPolicyError::CertificateSubject {
            reason: e.to_string(),
        })?;
    if trusted.iter().any(|dn| dn.is_subset_of(&subject)) {
        return Ok(());
    }
    let maps: Vec<String> = trusted.iter().map(|dn| dn.go_map_repr()).collect();
    Err(TrustPolicyError::IdentityMismatch {
        identities: format!("[{}]", maps.join(" ")),
        statement: statement.to_owned(),
    })
}
