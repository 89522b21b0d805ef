//! The trust policy error type, and Go's `%q` quoting that its messages use.
//!
//! notation's messages quote names, scopes and DNs with Go's `%q`; users and
//! tests match on that text, so every message here is built with [`go_quote`]
//! to come out byte-for-byte as notation prints it.

/// Where notation points users who have no (or a broken) trust policy.
pub(crate) const TRUST_POLICY_LINK: &str = "https://notaryproject.dev/docs/quickstart/#create-a-trust-policy";

/// A trust policy is malformed, breaks a rule, or does not apply to an artifact.
///
/// The `Display` text of each variant is notation's wording, so callers and
/// tests can compare it with notation's output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustPolicyError {
    /// The bytes are not JSON of the trust policy document's shape.
    #[error("malformed trust policy: {detail}. To create a trust policy, see: {TRUST_POLICY_LINK}")]
    Malformed {
        /// What the JSON parser or the shape check found.
        detail: String,
    },
    /// A JSON object names the same member twice (Go would keep the last silently).
    #[error(
        "malformed trust policy: duplicate JSON member {key:?} in {path}. To create a trust policy, see: {TRUST_POLICY_LINK}"
    )]
    DuplicateKey {
        /// The repeated member name.
        key: String,
        /// Where the object sits, e.g. `trustPolicies[0].signatureVerification`.
        path: String,
    },
    /// The document as a whole breaks a rule: version, statement count, statement names.
    #[error("{0}")]
    Document(String),
    /// A statement breaks a rule: level, overrides, trust stores, trusted identities.
    #[error("{0}")]
    Statement(String),
    /// A registry scope is malformed, combined with `*`, or used by two statements.
    #[error("{0}")]
    Scope(String),
    /// A distinguished name is not RFC 4514 or breaks the Notary Project DN rules.
    #[error("{0}")]
    DistinguishedName(String),
    /// The artifact reference is not `<registry>/<repository>@<digest>`.
    #[error("{0}")]
    ArtifactReference(String),
    /// No statement's registry scopes cover the artifact.
    #[error(
        "artifact {} has no applicable oci trust policy statement. Trust policy applicability for a given artifact is determined by registryScopes. To create a trust policy, see: {TRUST_POLICY_LINK}",
        go_quote(.artifact)
    )]
    NoApplicableStatement {
        /// The artifact reference (or repository) as the caller gave it.
        artifact: String,
    },
    /// A blob policy has no statement of the requested name, or no global statement.
    #[error("{0}")]
    NoBlobStatement(String),
    /// The statement trusts no `x509.subject` identity, so no certificate can match.
    #[error("no x509 trusted identities are configured in the trust policy {}", go_quote(.statement))]
    NoX509Identities {
        /// The statement's name.
        statement: String,
    },
    /// The signing certificate's subject could not be parsed as a DN.
    #[error(
        "error while parsing the certificate subject from the digital signature. error : {}",
        go_quote(.reason)
    )]
    CertificateSubject {
        /// Why the subject was rejected.
        reason: String,
    },
    /// The signing certificate's subject matches none of the trusted identities.
    #[error(
        "signing certificate from the digital signature does not match the X.509 trusted identities {identities} defined in the trust policy {}",
        go_quote(.statement)
    )]
    IdentityMismatch {
        /// The identities, printed as Go prints `[]map[string]string` with `%q`.
        identities: String,
        /// The statement's name.
        statement: String,
    },
}

pub(crate) use crate::x509::go_quote;

/// Go's `%q` of a string slice: `["a" "b"]`.
pub(crate) fn go_quote_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(go_quote).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_go() {
        assert_eq!(
            go_quote(r"localhost:5000\test-repo"),
            r#""localhost:5000\\test-repo""#
        );
        assert_eq!(go_quote(" CN=e2e"), "\" CN=e2e\"");
        assert_eq!(go_quote("a\u{1}\u{7f}\u{a0}é"), "\"a\\x01\\x7f\\u00a0é\"");
        assert_eq!(go_quote_list(["enforce", "log"]), r#"["enforce" "log"]"#);
    }
}
