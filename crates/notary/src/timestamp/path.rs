//! Building a TSA certificate chain the way Go's `x509.Certificate.Verify`
//! does for tspclient-go: from the signing certificate, through the token's
//! certificates, to one of the trusted roots, every certificate valid at the
//! timestamp's time, the leaf usable for time stamping.
//!
//! Only what timestamp tokens need is implemented: parents are found by
//! issuer name, roots are tried before the token's own certificates, and a
//! chain ends at the first trusted root. Name constraints and path-length
//! limits are not evaluated; notation's timestamping-chain rules
//! ([`crate::x509::validate_timestamping_chain`]) run on the result anyway.

use const_oid::ObjectIdentifier;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::x509::Certificate;

/// Go's bound on signature checks while building chains.
const MAX_SIGNATURE_CHECKS: usize = 100;
/// No real TSA chain is longer.
const MAX_DEPTH: usize = 8;
/// At most this many alternative chains are collected.
const MAX_CHAINS: usize = 8;

const EKU_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const EKU_ANY: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// Every chain from `leaf` to a certificate of `roots`, leaf first; Go's error texts otherwise.
pub(crate) fn verify(
    leaf: &Certificate,
    intermediates: &[Certificate],
    roots: &[Certificate],
    at: OffsetDateTime,
) -> Result<Vec<Vec<Certificate>>, String> {
    valid_at(leaf, at)?;
    let chains = if roots.contains(leaf) {
        vec![vec![leaf.clone()]]
    } else {
        let mut b = Builder {
            intermediates,
            roots,
            at,
            checks: 0,
            chains: Vec::new(),
            hint: None,
        };
        let mut current = vec![leaf.clone()];
        b.build(&mut current);
        if b.chains.is_empty() {
            return Err(unknown_authority(b.hint));
        }
        b.chains
    };
    let usable: Vec<_> = chains
        .into_iter()
        .filter(|c| usable_for_timestamping(c))
        .collect();
    if usable.is_empty() {
        return Err("x509: certificate specifies an incompatible key usage".into());
    }
    Ok(usable)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Go's `isValid` time check.
fn valid_at(cert: &Certificate, at: OffsetDateTime) -> Result<(), String> {
    if at < cert.not_before() {
        return Err(format!(
            "x509: certificate has expired or is not yet valid: current time {} is before {}",
            rfc3339(at),
            rfc3339(cert.not_before())
        ));
    }
    if at > cert.not_after() {
        return Err(format!(
            "x509: certificate has expired or is not yet valid: current time {} is after {}",
            rfc3339(at),
            rfc3339(cert.not_after())
        ));
    }
    Ok(())
}

fn unknown_authority(hint: Option<(String, String)>) -> String {
    let mut s = String::from("x509: certificate signed by unknown authority");
    if let Some((err, name)) = hint {
        s.push_str(&format!(
            " (possibly because of {} while trying to verify candidate authority certificate {})",
            crate::x509::go_quote(&err),
            crate::x509::go_quote(&name)
        ));
    }
    s
}

/// A certificate with no extended key usage, or with timeStamping or any, allows time stamping.
fn usable_for_timestamping(chain: &[Certificate]) -> bool {
    chain.iter().all(|c| {
        c.extended_key_usage().is_none_or(|eku| {
            eku.usages.is_empty()
                || eku
                    .usages
                    .iter()
                    .any(|u| *u == EKU_TIME_STAMPING || *u == EKU_ANY)
        })
    })
}

struct Builder<'a> {
    intermediates: &'a [Certificate],
    roots: &'a [Certificate],
    at: OffsetDateTime,
    checks: usize,
    chains: Vec<Vec<Certificate>>,
    /// The first reason a candidate parent was refused, and its name.
    hint: Option<(String, String)>,
}

impl Builder<'_> {
    fn build(&mut self, current: &mut Vec<Certificate>) {
        let Some(child) = current.last().cloned() else {
            return;
        };
        let candidates = self
            .roots
            .iter()
            .map(|c| (c, true))
            .chain(self.intermediates.iter().map(|c| (c, false)));
        for (candidate, is_root) in candidates {
            if self.chains.len() >= MAX_CHAINS || self.checks >= MAX_SIGNATURE_CHECKS {
                return;
            }
            if candidate.raw_subject() != child.raw_issuer() || already_in_chain(candidate, current) {
                continue;
            }
            self.checks += 1;
            let accepted = child
                .check_signature_from(candidate)
                .map_err(|e| e.to_string())
                .and_then(|()| valid_at(candidate, self.at));
            if let Err(e) = accepted {
                if self.hint.is_none() {
                    let name = candidate.common_name().unwrap_or_else(|| candidate.subject());
                    self.hint = Some((e, name));
                }
                continue;
            }
            current.push(candidate.clone());
            if is_root {
                self.chains.push(current.clone());
            } else if current.len() < MAX_DEPTH {
                self.build(current);
            }
            current.pop();
        }
    }
}

/// Go's `alreadyInChain`: same subject and same public key.
fn already_in_chain(candidate: &Certificate, chain: &[Certificate]) -> bool {
    chain
        .iter()
        .any(|c| c.raw_subject() == candidate.raw_subject() && c.spki_der() == candidate.spki_der())
}
