//! The Notary Project verification procedure.
//!
//! A [`Verifier`] takes one signature envelope and the descriptor of the
//! artifact it should sign, finds the trust policy statement for the
//! artifact's repository, and runs the checks in the spec's order:
//!
//! 1. **integrity** — the envelope parses, its signature verifies with the
//!    leaf key, the chain obeys the code-signing rules (always enforced);
//! 2. **authenticity** — the chain holds a certificate from the statement's
//!    trust stores, and the leaf matches a trusted identity;
//! 3. **expiry** — the signature's own expiry has not passed;
//! 4. **authentic timestamp** — the chain was valid when the signature was
//!    made (by timestamp) or is valid now;
//! 5. **revocation** — no certificate of the chain is revoked.
//!
//! Each check yields a [`CheckResult`] with the action the level (and its
//! overrides) assigns: *enforce* stops the run on failure, *log* records the
//! failure and goes on, *skip* does not run the check. The [`Outcome`] keeps
//! every result, and its [`Verdict`] separates "verification failed" from
//! "could not decide" so callers can fail closed knowingly.

use std::{collections::BTreeMap, sync::Arc};

use time::{OffsetDateTime, format_description::FormatItem, macros::format_description};

use crate::{
    descriptor::Descriptor,
    envelope::{Envelope, SigningScheme},
    policy::{
        Action, TrustPolicyDocument, TrustPolicyStatement, ValidationType, VerificationLevel, VerifyTimestamp,
    },
    revocation::{self, CertStatus, ChainStatus, RevocationChecker, RevocationEndpoints},
    timestamp::TimestampVerifier,
    truststore::{TrustStore, TrustStoreType},
    x509::{self, Certificate},
};

/// Go's `time.RFC1123Z`, which notation uses in every message that prints a time.
const RFC1123Z: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
);

/// Formats a time as notation prints it in messages.
pub fn rfc1123z(t: OffsetDateTime) -> String {
    t.format(RFC1123Z).unwrap_or_else(|_| t.to_string())
}

/// What one check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckStatus {
    /// The check ran and passed; the note says anything worth knowing.
    Passed(Option<String>),
    /// The check ran and failed, for this reason.
    Failed(String),
    /// The check could not be carried out, for this reason (counted as a
    /// failure when enforced: nothing unchecked is ever reported as good).
    NotChecked(String),
}

/// One check's result and the action the policy assigned to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check.
    pub check: ValidationType,
    /// What the trust policy says to do when it fails.
    pub action: Action,
    /// What it concluded.
    pub status: CheckStatus,
}

impl CheckResult {
    /// Whether this result stops verification: enforced and not passed.
    pub fn is_critical_failure(&self) -> bool {
        self.action == Action::Enforce && !matches!(self.status, CheckStatus::Passed(_))
    }

    /// The failure reason, if the check did not pass.
    pub fn failure(&self) -> Option<&str> {
        match &self.status {
            CheckStatus::Passed(_) => None,
            CheckStatus::Failed(m) | CheckStatus::NotChecked(m) => Some(m),
        }
    }
}

/// The overall answer for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every enforced check passed (logged failures may exist).
    Verified,
    /// The trust policy's level is `skip`: nothing was checked.
    Skipped,
    /// An enforced check failed.
    Failed {
        /// The failing check.
        check: ValidationType,
        /// Why.
        reason: String,
    },
    /// Verification could not be carried out (no applicable policy, a trust
    /// store that cannot be read, a check that could not run).
    Inconclusive {
        /// Why.
        reason: String,
    },
}

/// Everything verification learnt about one signature.
#[derive(Debug)]
pub struct Outcome {
    /// The name of the trust policy statement applied, if one applied.
    pub policy_name: Option<String>,
    /// The level of that statement.
    pub level: Option<VerificationLevel>,
    /// One result per check that ran, in order.
    pub results: Vec<CheckResult>,
    /// The parsed envelope, when integrity passed.
    pub envelope: Option<Envelope>,
    /// The overall answer.
    pub verdict: Verdict,
}

impl Outcome {
    /// Whether the signature is accepted (verified, or skipped by policy).
    pub fn is_accepted(&self) -> bool {
        matches!(self.verdict, Verdict::Verified | Verdict::Skipped)
    }

    /// The results of checks that failed but were only logged.
    pub fn logged_failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.results
            .iter()
            .filter(|r| r.action == Action::Log && r.failure().is_some())
    }

    fn inconclusive(policy: Option<&TrustPolicyStatement>, reason: String) -> Self {
        Self {
            policy_name: policy.map(|p| p.name.clone()),
            level: policy.map(|p| p.signature_verification.level),
            results: Vec::new(),
            envelope: None,
            verdict: Verdict::Inconclusive { reason },
        }
    }
}

/// What to verify.
#[derive(Debug, Clone)]
pub struct VerifyRequest<'a> {
    /// The artifact as `<registry>/<repository>@<digest>` (or `local/<name>@<digest>`
    /// for OCI layouts); its repository selects the trust policy statement.
    pub artifact_reference: &'a str,
    /// The artifact's descriptor; the signed payload must name the same content.
    pub target: &'a Descriptor,
    /// The envelope's media type (the signature manifest's layer media type).
    pub envelope_media_type: &'a str,
    /// The envelope bytes.
    pub envelope: &'a [u8],
    /// Annotations the signed payload must carry with these exact values.
    pub user_metadata: &'a BTreeMap<String, String>,
}

/// Runs the verification procedure against a trust policy and trust store.
pub struct Verifier<'a> {
    policy: &'a TrustPolicyDocument,
    trust_store: &'a dyn TrustStore,
    timestamp: Option<&'a dyn TimestampVerifier>,
    revocation: Option<&'a dyn RevocationChecker>,
    now: Option<OffsetDateTime>,
}

impl<'a> Verifier<'a> {
    /// A verifier with no timestamp or revocation implementation.
    pub fn new(policy: &'a TrustPolicyDocument, trust_store: &'a dyn TrustStore) -> Self {
        Self {
            policy,
            trust_store,
            timestamp: None,
            revocation: None,
            now: None,
        }
    }

    /// Uses `t` to verify RFC 3161 timestamp countersignatures.
    pub fn with_timestamp_verifier(mut self, t: &'a dyn TimestampVerifier) -> Self {
        self.timestamp = Some(t);
        self
    }

    /// Uses `r` for OCSP/CRL revocation checks.
    pub fn with_revocation_checker(mut self, r: &'a dyn RevocationChecker) -> Self {
        self.revocation = Some(r);
        self
    }

    /// Verifies as of `now` instead of the system clock (tests, replays).
    pub fn at_time(mut self, now: OffsetDateTime) -> Self {
        self.now = Some(now);
        self
    }

    /// The trust policy statement that applies to `artifact_reference`.
    pub fn statement_for(&self, artifact_reference: &str) -> Result<&'a TrustPolicyStatement, String> {
        self.policy
            .statement_for_artifact(artifact_reference)
            .map_err(|e| e.to_string())
    }

    /// Verifies one signature.
    pub fn verify(&self, req: &VerifyRequest<'_>) -> Outcome {
        let statement = match self.statement_for(req.artifact_reference) {
            Ok(s) => s,
            Err(reason) => return Outcome::inconclusive(None, reason),
        };
        let level = statement.signature_verification.level;
        if level == VerificationLevel::Skip {
            return Outcome {
                policy_name: Some(statement.name.clone()),
                level: Some(level),
                results: Vec::new(),
                envelope: None,
                verdict: Verdict::Skipped,
            };
        }
        let mut run = Run {
            verifier: self,
            statement,
            now: self.now.unwrap_or_else(OffsetDateTime::now_utc),
            results: Vec::new(),
        };
        let (envelope, verdict) = run.execute(req);
        Outcome {
            policy_name: Some(statement.name.clone()),
            level: Some(level),
            results: run.results,
            envelope,
            verdict,
        }
    }
}

/// One verification in progress.
struct Run<'v, 'a> {
    verifier: &'v Verifier<'a>,
    statement: &'a TrustPolicyStatement,
    now: OffsetDateTime,
    results: Vec<CheckResult>,
}

/// Stops the run when a check is a critical failure.
macro_rules! record {
    ($run:expr, $check:expr, $status:expr) => {
        if let Some(verdict) = $run.record($check, $status) {
            return verdict;
        }
    };
}

impl Run<'_, '_> {
    fn action(&self, check: ValidationType) -> Action {
        self.statement.signature_verification.action(check)
    }

    /// Records a result; returns the verdict if it stops verification.
    fn record(&mut self, check: ValidationType, status: CheckStatus) -> Option<Verdict> {
        let action = self.action(check);
        let status = if action == Action::Skip {
            CheckStatus::NotChecked("skipped by trust policy".into())
        } else {
            status
        };
        let result = CheckResult {
            check,
            action,
            status,
        };
        let stop = result.is_critical_failure().then(|| match &result.status {
            CheckStatus::NotChecked(reason) => Verdict::Inconclusive {
                reason: format!("{}: {reason}", check.as_str()),
            },
            _ => Verdict::Failed {
                check,
                reason: result.failure().unwrap_or_default().to_owned(),
            },
        });
        self.results.push(result);
        stop
    }

    fn execute(&mut self, req: &VerifyRequest<'_>) -> (Option<Envelope>, Verdict) {
        let (envelope, chain) = match check_integrity(req.envelope_media_type, req.envelope) {
            Ok(v) => v,
            Err(reason) => {
                // Integrity is enforced at every level but skip.
                let verdict = self.record(ValidationType::Integrity, CheckStatus::Failed(reason));
                return (None, verdict.unwrap_or(Verdict::Verified));
            }
        };
        self.record(ValidationType::Integrity, CheckStatus::Passed(None));
        let verdict = self.after_integrity(req, &envelope, &chain);
        (Some(envelope), verdict)
    }

    fn after_integrity(&mut self, req: &VerifyRequest<'_>, env: &Envelope, chain: &[Certificate]) -> Verdict {
        if let Some(plugin) = &env.signed.verification_plugin {
            // Plugin-driven verification arrives with the plugin host; until then
            // a signature that demands a plugin cannot be verified here.
            return Verdict::Inconclusive {
                reason: format!(
                    "error while locating the verification plugin {plugin:?}, make sure the plugin is installed successfully before verifying the signature. error: plugin not found"
                ),
            };
        }
        if self.action(ValidationType::Authenticity) != Action::Skip {
            let status = match self.authenticity(env.signed.signing_scheme, chain) {
                Ok(()) => CheckStatus::Passed(None),
                Err(AuthError::Failed(m)) => CheckStatus::Failed(m),
                Err(AuthError::Inconclusive(m)) => CheckStatus::NotChecked(m),
            };
            record!(self, ValidationType::Authenticity, status);
        } else {
            self.record(ValidationType::Authenticity, CheckStatus::Passed(None));
        }
        record!(self, ValidationType::Expiry, self.expiry(env));
        record!(
            self,
            ValidationType::AuthenticTimestamp,
            self.authentic_timestamp(env, chain)
        );
        if self.action(ValidationType::Revocation) != Action::Skip {
            record!(self, ValidationType::Revocation, self.revocation(chain));
        }
        // The signed payload must name the artifact being verified.
        match env.target_artifact() {
            Ok(signed) if signed.same_content(req.target) => {}
            Ok(signed) => {
                return Verdict::Failed {
                    check: ValidationType::Integrity,
                    reason: format!(
                        "content descriptor mismatch: the signature is for {} ({}, {} bytes), not {} ({}, {} bytes)",
                        signed.digest,
                        signed.media_type,
                        signed.size,
                        req.target.digest,
                        req.target.media_type,
                        req.target.size
                    ),
                };
            }
            Err(e) => {
                return Verdict::Failed {
                    check: ValidationType::Integrity,
                    reason: e.to_string(),
                };
            }
        }
        if let Err(reason) = user_metadata(env, req.user_metadata) {
            return Verdict::Failed {
                check: ValidationType::Integrity,
                reason,
            };
        }
        Verdict::Verified
    }

    fn trusted_certificates(&self, ty: TrustStoreType) -> Result<Vec<Certificate>, String> {
        let mut seen = Vec::new();
        let mut certs = Vec::new();
        for store in &self.statement.trust_stores {
            if store.store_type.as_str() != ty.as_str() || seen.contains(&store.name) {
                continue;
            }
            seen.push(store.name.clone());
            certs.extend(
                self.verifier
                    .trust_store
                    .certificates(ty, &store.name)
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(certs)
    }

    fn authenticity(&self, scheme: SigningScheme, chain: &[Certificate]) -> Result<(), AuthError> {
        let ty = match scheme {
            SigningScheme::X509 => TrustStoreType::Ca,
            SigningScheme::X509SigningAuthority => TrustStoreType::SigningAuthority,
        };
        let trusted = self.trusted_certificates(ty).map_err(AuthError::Inconclusive)?;
        if trusted.is_empty() {
            return Err(AuthError::Inconclusive(
                "no trusted certificates are found to verify authenticity".into(),
            ));
        }
        let anchored = chain.iter().any(|c| trusted.iter().any(|t| t.der() == c.der()));
        if !anchored {
            return Err(AuthError::Failed(
                "the signature's certificate chain does not contain any trusted certificate".into(),
            ));
        }
        self.trusted_identity(chain).map_err(AuthError::Failed)
    }

    fn trusted_identity(&self, chain: &[Certificate]) -> Result<(), String> {
        let leaf = chain.first().ok_or("the certificate chain is empty")?;
        crate::policy::verify_identities(
            &self.statement.name,
            &self.statement.trusted_identities,
            &leaf.subject(),
        )
        .map_err(|e| e.to_string())
    }

    fn expiry(&self, env: &Envelope) -> CheckStatus {
        match env.signed.expiry {
            Some(expiry) if self.now >= expiry => {
                CheckStatus::Failed(format!("digital signature has expired on {:?}", rfc1123z(expiry)))
            }
            _ => CheckStatus::Passed(None),
        }
    }

    fn authentic_timestamp(&self, env: &Envelope, chain: &[Certificate]) -> CheckStatus {
        if env.signed.signing_scheme == SigningScheme::X509SigningAuthority {
            let Some(t) = env.signed.authentic_signing_time else {
                return CheckStatus::Failed("the signature has no authentic signing time".into());
            };
            for cert in chain {
                if t < cert.not_before() || t > cert.not_after() {
                    return CheckStatus::Failed(format!(
                        "certificate {:?} was not valid when the digital signature was produced at {:?}",
                        cert.subject(),
                        rfc1123z(t)
                    ));
                }
            }
            return CheckStatus::Passed(None);
        }
        let tsa_configured = self
            .statement
            .trust_stores
            .iter()
            .any(|s| s.store_type.as_str() == TrustStoreType::Tsa.as_str());
        let mut use_timestamp = tsa_configured;
        let mut note = None;
        if !tsa_configured {
            note =
                Some("timestamp not verified: no tsa trust store is configured in trust policy".to_owned());
        } else if self.statement.signature_verification.verify_timestamp == VerifyTimestamp::AfterCertExpiry
            && !chain.iter().any(|c| self.now > c.not_after())
        {
            use_timestamp = false;
            note = Some("timestamp not verified: verifyTimestamp is \"afterCertExpiry\" and the signing chain is unexpired".to_owned());
        }
        if !use_timestamp {
            return match chain_valid_at(chain, self.now) {
                Ok(()) => CheckStatus::Passed(note),
                Err(e) => CheckStatus::Failed(e),
            };
        }
        let Some(token) = &env.unsigned.timestamp_signature else {
            return CheckStatus::Failed(
                "no timestamp countersignature was found in the signature envelope".into(),
            );
        };
        let Some(tsv) = self.verifier.timestamp else {
            return CheckStatus::NotChecked(
                "the signature carries a timestamp countersignature but no timestamp verifier is configured"
                    .into(),
            );
        };
        // notation's order: parse, read TSTInfo and match it to the signature,
        // then load the TSA trust store, then verify; each step worded its way.
        let step_error = |f: crate::timestamp::TimestampFailure| {
            use crate::timestamp::TimestampStep;
            let prefix = match f.step {
                TimestampStep::Parse => "failed to parse timestamp countersignature",
                TimestampStep::Info => "failed to get the timestamp TSTInfo",
                TimestampStep::Validate => "failed to get timestamp from timestamp countersignature",
                _ => "failed to verify the timestamp countersignature",
            };
            CheckStatus::Failed(format!("{prefix} with error: {}", f.error))
        };
        if let Err(f) = tsv.timestamp(token, &env.signature) {
            return step_error(f);
        }
        let roots = match self.trusted_certificates(TrustStoreType::Tsa) {
            Ok(r) if r.is_empty() => {
                return CheckStatus::Failed("no trusted TSA certificate found in trust store".into());
            }
            Ok(r) => r,
            Err(e) => return CheckStatus::Failed(format!("failed to load tsa trust store with error: {e}")),
        };
        let verified = match tsv.verify(token, &env.signature, &roots) {
            Ok(v) => v,
            Err(f) => return step_error(f),
        };
        if let Err(e) = x509::validate_timestamping_chain(&verified.tsa_chain) {
            return CheckStatus::Failed(format!(
                "failed to validate the timestamping certificate chain with error: {e}"
            ));
        }
        let ts = verified.timestamp;
        for cert in chain {
            if !ts.bounded_after(cert.not_before()) {
                return CheckStatus::Failed(format!(
                    "timestamp can be before certificate {:?} validity period, it will be valid from {:?}",
                    cert.subject(),
                    rfc1123z(cert.not_before())
                ));
            }
            if !ts.bounded_before(cert.not_after()) {
                return CheckStatus::Failed(format!(
                    "timestamp can be after certificate {:?} validity period, it was expired at {:?}",
                    cert.subject(),
                    rfc1123z(cert.not_after())
                ));
            }
        }
        match self.revocation_status(&verified.tsa_chain) {
            Ok(()) => CheckStatus::Passed(Some(format!("timestamped at {}", rfc1123z(ts.time)))),
            Err(CheckStatus::Failed(m)) => {
                CheckStatus::Failed(m.replace("signing certificate", "timestamping certificate"))
            }
            Err(other) => other,
        }
    }

    fn revocation(&self, chain: &[Certificate]) -> CheckStatus {
        match self.revocation_status(chain) {
            Ok(()) if self.verifier.revocation.is_none() => CheckStatus::Passed(Some(
                "non-revokable: no certificate in the chain names an OCSP or CRL endpoint".into(),
            )),
            Ok(()) => CheckStatus::Passed(None),
            Err(status) => status,
        }
    }

    fn revocation_status(&self, chain: &[Certificate]) -> Result<(), CheckStatus> {
        let statuses = match self.verifier.revocation {
            Some(checker) => checker.check(chain),
            None => {
                // Only the root may lack endpoints silently; it is trusted directly.
                let checkable = chain.iter().take(chain.len().saturating_sub(1).max(1));
                if checkable.clone().all(|c| RevocationEndpoints::of(c).is_empty()) {
                    return Ok(());
                }
                return Err(CheckStatus::NotChecked(
                    "no revocation checker is configured, and the certificate chain names OCSP or CRL endpoints".into(),
                ));
            }
        };
        match revocation::chain_status(chain, &statuses) {
            ChainStatus::Ok => Ok(()),
            ChainStatus::Revoked(subject) => {
                // The detail names the method and URL, as notation logs them:
                // `… for revocation method OCSP at URL "…": certificate is revoked via OCSP`.
                let detail = statuses
                    .iter()
                    .find_map(|s| match s {
                        CertStatus::Revoked { detail } => Some(detail.as_str()),
                        _ => None,
                    })
                    .unwrap_or_default();
                Err(CheckStatus::Failed(format!(
                    "signing certificate with subject {subject:?} is revoked: {detail}"
                )))
            }
            ChainStatus::Unknown(subject) => {
                let detail = statuses
                    .iter()
                    .find_map(|s| match s {
                        CertStatus::Unknown { detail } => Some(detail.as_str()),
                        _ => None,
                    })
                    .unwrap_or_default();
                Err(CheckStatus::Failed(format!(
                    "signing certificate with subject {subject:?} revocation status is unknown: {detail}"
                )))
            }
        }
    }
}

enum AuthError {
    Failed(String),
    Inconclusive(String),
}

/// The integrity check on its own: the envelope parses, its certificate chain
/// decodes and obeys the code-signing rules, the declared algorithm matches
/// the leaf key, the signature verifies, and the payload is a Notary payload.
///
/// Errors are worded as notation words them.
pub fn check_integrity(media_type: &str, envelope: &[u8]) -> Result<(Envelope, Arc<[Certificate]>), String> {
    let env = Envelope::parse(media_type, envelope)
        .map_err(|e| format!("unable to parse the digital signature, error : {e}"))?;
    let chain = x509::decode_code_signing_chain(&env.certificate_chain)
        .map_err(|e| format!("certificate-chain is invalid, {e}"))?;
    let leaf = chain.first().ok_or("certificate-chain not present or is empty")?;
    env.verify_signature_with_spki(&leaf.spki_der())
        .map_err(|e| e.to_string())?;
    if env.payload_content_type != crate::envelope::PAYLOAD_CONTENT_TYPE {
        return Err(format!(
            "payload content type {:?} is not supported, expected {:?}",
            env.payload_content_type,
            crate::envelope::PAYLOAD_CONTENT_TYPE
        ));
    }
    Ok((env, chain))
}

fn chain_valid_at(chain: &[Certificate], now: OffsetDateTime) -> Result<(), String> {
    for cert in chain {
        if now < cert.not_before() {
            return Err(format!(
                "verification time is before certificate {:?} validity period, it will be valid from {:?}",
                cert.subject(),
                rfc1123z(cert.not_before())
            ));
        }
        if now > cert.not_after() {
            return Err(format!(
                "verification time is after certificate {:?} validity period, it was expired at {:?}",
                cert.subject(),
                rfc1123z(cert.not_after())
            ));
        }
    }
    Ok(())
}

fn user_metadata(env: &Envelope, wanted: &BTreeMap<String, String>) -> Result<(), String> {
    if wanted.is_empty() {
        return Ok(());
    }
    let signed = env.target_artifact().map_err(|e| e.to_string())?;
    let have = signed.annotations.unwrap_or_default();
    for (k, v) in wanted {
        if have.get(k) != Some(v) {
            return Err(format!(
                "unable to find specified metadata {k}={v} in the signature"
            ));
        }
    }
    Ok(())
}
