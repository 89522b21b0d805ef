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
    plugin::{self, Plugin, PluginError, PluginManager, proto},
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
    plugins: Option<&'a dyn PluginManager>,
    plugin_config: BTreeMap<String, String>,
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
            plugins: None,
            plugin_config: BTreeMap::new(),
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

    /// Uses `m` to find the verification plugins signatures name
    /// (`io.cncf.notary.verificationPlugin`); without it such signatures are
    /// inconclusive.
    pub fn with_plugins(mut self, m: &'a dyn PluginManager) -> Self {
        self.plugins = Some(m);
        self
    }

    /// Passes `config` to verification plugins as `pluginConfig`.
    pub fn with_plugin_config(mut self, config: BTreeMap<String, String>) -> Self {
        self.plugin_config = config;
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

impl<'a> Run<'_, 'a> {
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
        // A signature that names a verification plugin: find it, check its
        // version and capabilities first (notation's processSignature).
        let plugin = match &env.signed.verification_plugin {
            Some(name) => match self.find_plugin(name, env) {
                Ok(p) => Some(p),
                Err(reason) => return Verdict::Inconclusive { reason },
            },
            None => None,
        };
        let plugin_does = |cap: &str| {
            plugin
                .as_ref()
                .is_some_and(|(_, caps)| caps.iter().any(|c| c == cap))
        };
        let identity_by_plugin = plugin_does(proto::CAPABILITY_TRUSTED_IDENTITY_VERIFIER);
        let revocation_by_plugin = plugin_does(proto::CAPABILITY_REVOCATION_CHECK_VERIFIER);
        if self.action(ValidationType::Authenticity) != Action::Skip {
            let status = match self.authenticity(env.signed.signing_scheme, chain, !identity_by_plugin) {
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
        if self.action(ValidationType::Revocation) != Action::Skip && !revocation_by_plugin {
            record!(self, ValidationType::Revocation, self.revocation(chain));
        }
        if let Some((plugin, caps)) = &plugin
            && let Some(verdict) = self.verify_with_plugin(plugin, caps, env, chain)
        {
            return verdict;
        }
        // The signed payload must name the artifact being verified.
        let signed = match env.target_artifact() {
            Ok(signed) if signed.same_content(req.target) => signed,
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
        };
        if let Err(reason) = user_metadata(&signed, req.user_metadata) {
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

    /// Finds the plugin `name` and checks its version and capabilities;
    /// returns it with the verification capabilities it declares.
    fn find_plugin(&self, name: &str, env: &Envelope) -> Result<(Plugin<'a>, Vec<String>), String> {
        let locate = |e: &dyn std::fmt::Display| {
            format!(
                "error while locating the verification plugin {name:?}, make sure the plugin is installed successfully before verifying the signature. error: {e}"
            )
        };
        if name.trim().is_empty() {
            return Err(
                "io.cncf.notary.verificationPlugin from extended attribute is an empty string".into(),
            );
        }
        let min_version = match env.signed.verification_plugin_min_version.as_deref() {
            None => None,
            Some(v) if v.trim().is_empty() => {
                return Err("error while getting plugin minimum version, error: io.cncf.notary.verificationPluginMinVersion from extended attribute is an empty string".into());
            }
            Some(v) if !plugin::is_valid_version(v) => {
                return Err("error while getting plugin minimum version, error: io.cncf.notary.verificationPluginMinVersion from extended attribute is not a valid SemVer".into());
            }
            Some(v) => Some(v),
        };
        let manager = self
            .verifier
            .plugins
            .ok_or_else(|| locate(&PluginError::NotFound))?;
        let plugin = Plugin::find(manager, name).map_err(|e| locate(&e))?;
        let metadata = plugin
            .metadata(&self.verifier.plugin_config)
            .map_err(|e| e.to_string())?;
        if !plugin::is_valid_version(&metadata.version) {
            return Err(format!(
                "plugin {name} has pluginVersion {} which is not in valid semver format",
                metadata.version
            ));
        }
        if let Some(min) = min_version
            && plugin::compare_versions(&metadata.version, min) == std::cmp::Ordering::Less
        {
            return Err(format!(
                "found plugin {name} with version {} but signature verification needs plugin version greater than or equal to {min}",
                metadata.version
            ));
        }
        let caps: Vec<String> = metadata
            .capabilities
            .iter()
            .filter(|c| {
                *c == proto::CAPABILITY_REVOCATION_CHECK_VERIFIER
                    || *c == proto::CAPABILITY_TRUSTED_IDENTITY_VERIFIER
            })
            .cloned()
            .collect();
        if caps.is_empty() {
            return Err(format!(
                "digital signature requires plugin {name:?} with signature verification capabilities ({:?} and/or {:?}) installed",
                proto::CAPABILITY_TRUSTED_IDENTITY_VERIFIER,
                proto::CAPABILITY_REVOCATION_CHECK_VERIFIER
            ));
        }
        Ok((plugin, caps))
    }

    /// Runs `verify-signature` for the capabilities the policy leaves to the
    /// plugin and applies its answer (notation's processPluginResponse);
    /// `Some` when verification stops.
    fn verify_with_plugin(
        &mut self,
        plugin: &Plugin<'_>,
        caps: &[String],
        env: &Envelope,
        chain: &[Certificate],
    ) -> Option<Verdict> {
        let name = plugin.name().to_owned();
        let revocation_skipped = self.action(ValidationType::Revocation) == Action::Skip;
        let to_verify: Vec<String> = caps
            .iter()
            .filter(|c| !(revocation_skipped && *c == proto::CAPABILITY_REVOCATION_CHECK_VERIFIER))
            .cloned()
            .collect();
        if to_verify.is_empty() {
            return None;
        }
        let critical: Vec<&crate::envelope::ExtendedAttribute> =
            env.signed.extended.iter().filter(|a| a.critical).collect();
        let rfc3339 = |t: OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).ok();
        let request = proto::VerifySignatureRequest {
            contract_version: proto::CONTRACT_VERSION.into(),
            signature: proto::Signature {
                critical_attributes: proto::CriticalAttributes {
                    content_type: env.payload_content_type.clone(),
                    signing_scheme: env.signed.signing_scheme.as_str().into(),
                    expiry: env.signed.expiry.and_then(rfc3339),
                    authentic_signing_time: match env.signed.signing_scheme {
                        SigningScheme::X509SigningAuthority => {
                            env.signed.authentic_signing_time.and_then(rfc3339)
                        }
                        SigningScheme::X509 => None,
                    },
                    extended_attributes: critical
                        .iter()
                        .map(|a| (a.key.clone(), a.value.clone()))
                        .collect(),
                },
                unprocessed_attributes: critical.iter().map(|a| a.key.clone()).collect(),
                certificate_chain: chain.iter().map(|c| c.der().to_vec()).collect(),
            },
            trust_policy: proto::TrustPolicy {
                trusted_identities: self
                    .statement
                    .trusted_identities
                    .iter()
                    .map(|i| i.to_string())
                    .collect(),
                signature_verification: to_verify.clone(),
            },
            plugin_config: self.verifier.plugin_config.clone(),
        };
        let response = match plugin.verify_signature(&request) {
            Ok(r) => r,
            Err(e) => {
                return Some(Verdict::Inconclusive {
                    reason: format!("failed to verify with plugin {name}: {e}"),
                });
            }
        };
        for attr in &critical {
            if !response
                .processed_attributes
                .iter()
                .any(|p| p.as_str() == Some(attr.key.as_str()))
            {
                return Some(Verdict::Failed {
                    check: ValidationType::Integrity,
                    reason: format!(
                        "extended critical attribute {:?} was not processed by the verification plugin {name:?} (all extended critical attributes must be processed by the verification plugin)",
                        attr.key
                    ),
                });
            }
        }
        for cap in &to_verify {
            let Some(Some(result)) = response.verification_results.get(cap) else {
                return Some(Verdict::Inconclusive {
                    reason: format!("verification plugin {name:?} failed to verify {cap:?}"),
                });
            };
            let reason = result.reason.clone().unwrap_or_default();
            if cap == proto::CAPABILITY_TRUSTED_IDENTITY_VERIFIER {
                if result.success {
                    continue;
                }
                let message =
                    format!("trusted identify verification by plugin {name:?} failed with reason {reason:?}");
                // The authenticity result recorded from the trust store now fails.
                let Some(auth) = self
                    .results
                    .iter_mut()
                    .find(|r| r.check == ValidationType::Authenticity)
                else {
                    continue;
                };
                if auth.action == Action::Skip {
                    continue;
                }
                auth.status = CheckStatus::Failed(message.clone());
                if auth.action == Action::Enforce {
                    return Some(Verdict::Failed {
                        check: ValidationType::Authenticity,
                        reason: message,
                    });
                }
            } else if cap == proto::CAPABILITY_REVOCATION_CHECK_VERIFIER {
                let status = if result.success {
                    CheckStatus::Passed(Some(format!("checked by verification plugin {name:?}")))
                } else {
                    CheckStatus::Failed(format!(
                        "revocation check by verification plugin {name:?} failed with reason {reason:?}"
                    ))
                };
                if let Some(v) = self.record(ValidationType::Revocation, status) {
                    return Some(v);
                }
            }
        }
        None
    }

    fn authenticity(
        &self,
        scheme: SigningScheme,
        chain: &[Certificate],
        check_identity: bool,
    ) -> Result<(), AuthError> {
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
        if !check_identity {
            return Ok(());
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

/// The annotations the signed payload must carry (`signed` is its target artifact).
fn user_metadata(signed: &Descriptor, wanted: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in wanted {
        if signed.annotations.as_ref().and_then(|have| have.get(k)) != Some(v) {
            return Err(format!(
                "unable to find specified metadata {k}={v} in the signature"
            ));
        }
    }
    Ok(())
}
