//! Registry scopes: the repositories an OCI statement applies to.
//!
//! A scope is `*` or a fully qualified repository `<registry>/<path>`, checked
//! with the domain and repository grammar of the distribution reference
//! (the same expressions notation adapts), written out by hand here. A local
//! OCI layout is addressed the same way, e.g. `local/myoci`.

use super::error::{TrustPolicyError, go_quote};
use crate::Digest;

const ENSURE: &str = "make sure it is a fully qualified repository without the scheme, protocol or tag. For example domain.com/my/repository or a local scope like local/myOCILayout";

/// Checks that `scope` (other than `*`) is a fully qualified repository.
pub(crate) fn validate_scope_format(scope: &str) -> Result<(), TrustPolicyError> {
    if scope.len() > 1 && scope.contains('*') {
        return Err(TrustPolicyError::Scope(format!(
            "registry scope {} with wild card(s) is not valid, {ENSURE}",
            go_quote(scope)
        )));
    }
    let valid = scope
        .split_once('/')
        .is_some_and(|(domain, repo)| is_domain(domain) && is_repository(repo));
    if valid {
        Ok(())
    } else {
        Err(TrustPolicyError::Scope(format!(
            "registry scope {} is not valid, {ENSURE}",
            go_quote(scope)
        )))
    }
}

/// Splits `<repository>@<digest>` into the repository (checked as a scope) and the digest.
pub(crate) fn split_artifact_reference(reference: &str) -> Result<(&str, Digest), TrustPolicyError> {
    let unparsable = |extra: String| {
        TrustPolicyError::ArtifactReference(format!(
            "artifact URI {} could not be parsed, make sure it is the fully qualified oci artifact URI without the scheme/protocol. e.g domain.com:80/my/repository@sha256:digest{extra}",
            go_quote(reference)
        ))
    };
    let (repository, digest) = reference
        .rsplit_once('@')
        .ok_or_else(|| unparsable(String::new()))?;
    validate_scope_format(repository)?;
    let digest = Digest::parse(digest).map_err(|e| unparsable(format!(": {e}")))?;
    Ok((repository, digest))
}

/// `host(.label)*(:port)?` where each label is alphanumeric with inner hyphens.
fn is_domain(domain: &str) -> bool {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    let label_ok = |label: &str| {
        let b = label.as_bytes();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => {
                f.is_ascii_alphanumeric()
                    && l.is_ascii_alphanumeric()
                    && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            }
            _ => false,
        }
    };
    host.split('.').all(label_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
}

/// `component(/component)*` where a component is lowercase alphanumeric runs
/// joined by `.`, `_`, `__` or one or more `-`.
fn is_repository(repo: &str) -> bool {
    repo.split('/').all(|component| {
        let b = component.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        if !b.first().is_some_and(alnum) || !b.last().is_some_and(alnum) {
            return false;
        }
        b.split(alnum).all(|sep| {
            sep.is_empty() || sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|c| *c == b'-')
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notation_scope_cases() {
        for ok in [
            "example.com/rep",
            "example.com:8080/rep/rep2",
            "example.com/rep/subrep/subsub",
            "10.10.10.10:8080/rep/rep2",
            "domain/rep",
            "domain:1234/rep",
            "local/e2e",
            "a/b__c.d-e---f",
        ] {
            assert!(validate_scope_format(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1:1",
            "a,b",
            "abcd",
            "1111",
            "1,2",
            "example.com/rep:tag",
            "example.com/rep/subrep/sub:latest",
            "example.com",
            "rep/rep2:latest",
            "repository",
            "10.10.10.10",
            "10.10.10.10:8080/rep/rep2:latest",
            "local/myOCILayout",
            "a/b//c",
            "a/b/",
            "a/_b",
            "a/b___c",
            "-a.com/b",
            "a.com:/b",
        ] {
            let msg = validate_scope_format(bad)
                .map(|()| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(msg.contains("is not valid, make sure"), "{bad}: {msg}");
        }
        for bad in ["example.com/*", "*/", "example*/", "ex*test"] {
            let msg = validate_scope_format(bad)
                .map(|()| String::new())
                .unwrap_or_else(|e| e.to_string());
            assert!(msg.contains("with wild card(s) is not valid"), "{bad}");
        }
    }
}
