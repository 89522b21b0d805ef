//! The verifier config bundle: everything a node needs to judge images —
//! image policies, trust stores, revoked digests — in one signed, versioned,
//! expiring document.
//!
//! ```json
//! {
//!   "apiVersion": "signet.dev/v1alpha1",
//!   "kind": "VerifierBundle",
//!   "version": 7,
//!   "issuedAt": "2026-11-25T22:00:00Z",
//!   "expiresAt": "2026-11-26T22:00:00Z",
//!   "policies": [ { "apiVersion": "signet.dev/v1alpha1", "kind": "ClusterImagePolicy", … } ],
//!   "trustStores": { "ca:production": ["-----BEGIN CERTIFICATE-----…"] },
//!   "revokedDigests": ["sha256:…"]
//! }
//! ```
//!
//! It travels two ways, both signed with a Notary Project signature that a
//! node checks against a pinned root certificate and identity:
//! * a file (or HTTPS URL) `bundle.json` with the detached envelope next to
//!   it, `bundle.json.sig` — the signature's target is the descriptor of the
//!   bytes with media type [`MEDIA_TYPE`];
//! * an OCI artifact (artifact type [`ARTIFACT_TYPE`], one layer: the bytes)
//!   signed like any image — so `notation verify` checks it too.
//!
//! A node accepts a bundle only if the signature verifies, the version is not
//! lower than the one it has (rollback), it has not expired and it is not
//! older than the node's maximum age (freeze), see [`check_succession`].

use std::{collections::BTreeMap, path::Path};

use notary::{
    Descriptor, Digest,
    policy::TrustPolicyDocument,
    truststore::{TrustStore, TrustStoreError, TrustStoreType},
    verifier::{Verdict, Verifier, VerifyRequest},
    x509::Certificate,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};

/// The media type of the bundle document.
pub const MEDIA_TYPE: &str = "application/vnd.signet.verifier-bundle.v1+json";
/// The artifact type of the bundle as an OCI artifact.
pub const ARTIFACT_TYPE: &str = "application/vnd.signet.verifier-bundle.v1";
/// The largest bundle read (from a file, a URL or a registry).
pub const MAX_SIZE: u64 = 4 * 1024 * 1024;
/// The largest detached signature read.
pub const MAX_SIGNATURE_SIZE: u64 = 1024 * 1024;
/// How far in the future `issuedAt` may be (clock skew).
const MAX_SKEW: Duration = Duration::minutes(5);
/// The trust store name the pinned root is known by in the bundle trust policy.
const ROOT_STORE: &str = "bundle-root";

/// Why a bundle is refused.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a valid bundle document.
    #[error("invalid bundle: {0}")]
    Invalid(String),
    /// Larger than [`MAX_SIZE`].
    #[error("bundle larger than {MAX_SIZE} bytes refused")]
    TooLarge,
    /// The signature does not verify against the pinned root and identity.
    #[error("bundle signature refused: {0}")]
    Signature(String),
    /// Older than the bundle in force.
    #[error("bundle version {offered} refused: version {current} is in force (rollback)")]
    Rollback {
        /// The offered version.
        offered: u64,
        /// The version in force.
        current: u64,
    },
    /// Same version as the one in force, different content.
    #[error(
        "bundle version {0} refused: it differs from the version {0} in force (a new bundle needs a new version)"
    )]
    SameVersionDiffers(u64),
    /// Past `expiresAt`.
    #[error("bundle version {version} expired at {expires_at}")]
    Expired {
        /// Its version.
        version: u64,
        /// When it expired.
        expires_at: String,
    },
    /// Issued longer ago than the node's maximum age (a frozen feed).
    #[error(
        "bundle version {version} was issued at {issued_at}, more than the maximum age {max_age} ago (frozen feed?)"
    )]
    TooOld {
        /// Its version.
        version: u64,
        /// When it was issued.
        issued_at: String,
        /// The node's maximum age.
        max_age: String,
    },
    /// Could not be fetched.
    #[error("cannot fetch the bundle: {0}")]
    Fetch(String),
}

/// The bundle document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Bundle {
    /// `signet.dev/v1alpha1`.
    pub api_version: String,
    /// `VerifierBundle`.
    pub kind: String,
    /// Grows with every new bundle.
    pub version: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires_at: String,
    /// `ClusterImagePolicy` documents.
    #[serde(default)]
    pub policies: Vec<Value>,
    /// `<type>:<name>` → PEM certificates.
    #[serde(default)]
    pub trust_stores: BTreeMap<String, Vec<String>>,
    /// Image digests refused everywhere.
    #[serde(default)]
    pub revoked_digests: Vec<String>,
}

impl Bundle {
    /// A bundle with nothing in it (what a node has before its first bundle).
    pub fn empty() -> Self {
        Self {
            api_version: admission::policy::API_VERSION.into(),
            kind: "VerifierBundle".into(),
            version: 0,
            issued_at: String::new(),
            expires_at: String::new(),
            policies: Vec::new(),
            trust_stores: BTreeMap::new(),
            revoked_digests: Vec::new(),
        }
    }

    /// Parses and checks `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() as u64 > MAX_SIZE {
            return Err(BundleError::TooLarge);
        }
        let bundle: Bundle =
            serde_json::from_slice(bytes).map_err(|e| BundleError::Invalid(e.to_string()))?;
        bundle.check()?;
        Ok(bundle)
    }

    /// The canonical bytes (what is signed and published).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// `issuedAt` parsed.
    pub fn issued(&self) -> Result<OffsetDateTime, BundleError> {
        OffsetDateTime::parse(&self.issued_at, &Rfc3339)
            .map_err(|e| BundleError::Invalid(format!("issuedAt {:?}: {e}", self.issued_at)))
    }

    /// `expiresAt` parsed.
    pub fn expires(&self) -> Result<OffsetDateTime, BundleError> {
        OffsetDateTime::parse(&self.expires_at, &Rfc3339)
            .map_err(|e| BundleError::Invalid(format!("expiresAt {:?}: {e}", self.expires_at)))
    }

    fn check(&self) -> Result<(), BundleError> {
        let invalid = |m: String| Err(BundleError::Invalid(m));
        if self.api_version != admission::policy::API_VERSION {
            return invalid(format!(
                "apiVersion {:?}: expected {}",
                self.api_version,
                admission::policy::API_VERSION
            ));
        }
        if self.kind != "VerifierBundle" {
            return invalid(format!("kind {:?}: expected VerifierBundle", self.kind));
        }
        if self.version == 0 {
            return invalid("version must be at least 1".into());
        }
        if self.expires()? <= self.issued()? {
            return invalid("expiresAt must be after issuedAt".into());
        }
        for (key, pems) in &self.trust_stores {
            let (ty, name) = parse_store(key).map_err(BundleError::Invalid)?;
            if pems.is_empty() {
                return invalid(format!("trust store {ty}:{name} has no certificate"));
            }
            for pem in pems {
                notary::x509::read_certificates(pem.as_bytes())
                    .map_err(|e| BundleError::Invalid(format!("trust store {key}: {e}")))?;
            }
        }
        for d in &self.revoked_digests {
            Digest::parse(d).map_err(|e| BundleError::Invalid(format!("revokedDigests: {e}")))?;
        }
        admission::policy::PolicySet::from_files(Path::new("bundle"), &self.policy_files())
            .map_err(|e| BundleError::Invalid(e.to_string()))?;
        Ok(())
    }

    /// The policies as files for [`admission::policy::PolicySet`].
    pub fn policy_files(&self) -> BTreeMap<String, String> {
        self.policies
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("policy-{i:04}.json"), p.to_string()))
            .collect()
    }

    /// Writes the bundle as the admission engine reads it: `policies/`,
    /// `truststore/x509/<type>/<name>/`, `revoked.txt` under `dir`. What
    /// earlier bundles wrote there and this one does not is removed.
    pub fn materialize(&self, dir: &Path) -> std::io::Result<()> {
        let policies = dir.join("policies");
        let trust = dir.join("truststore");
        for d in [&policies, &trust] {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
        }
        std::fs::create_dir_all(&policies)?;
        for (name, text) in self.policy_files() {
            std::fs::write(policies.join(name), text)?;
        }
        for (key, pems) in &self.trust_stores {
            let Ok((ty, name)) = parse_store(key) else {
                continue;
            };
            let d = trust.join("x509").join(ty.as_str()).join(name);
            std::fs::create_dir_all(&d)?;
            for (i, pem) in pems.iter().enumerate() {
                std::fs::write(d.join(format!("cert-{i:03}.pem")), pem)?;
            }
        }
        let revoked: String = self.revoked_digests.iter().map(|d| format!("{d}\n")).collect();
        std::fs::write(dir.join("revoked.txt"), revoked)
    }
}

fn parse_store(key: &str) -> Result<(TrustStoreType, &str), String> {
    let (ty, name) = key
        .split_once(':')
        .ok_or_else(|| format!("trust store {key:?}: expected <type>:<name>"))?;
    let ty: TrustStoreType = ty
        .parse()
        .map_err(|e: TrustStoreError| format!("trust store {key:?}: {e}"))?;
    if name.is_empty()
        || name == "."
        || name == ".."
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        return Err(format!(
            "trust store {key:?}: the name must match [a-zA-Z0-9_.-]+"
        ));
    }
    Ok((ty, name))
}

/// Whether `offered` may replace `current` at `now`, for a node that takes
/// nothing issued more than `max_age` ago. `Ok(false)`: the same bundle again.
pub fn check_succession(
    current: Option<&Bundle>,
    offered: &Bundle,
    now: OffsetDateTime,
    max_age: Option<Duration>,
) -> Result<bool, BundleError> {
    if let Some(current) = current {
        if offered.version < current.version {
            return Err(BundleError::Rollback {
                offered: offered.version,
                current: current.version,
            });
        }
        if offered.version == current.version {
            if offered != current {
                return Err(BundleError::SameVersionDiffers(offered.version));
            }
            return Ok(false);
        }
    }
    check_fresh(offered, now, max_age)?;
    Ok(true)
}

/// Whether `bundle` may be used at `now`: not expired, not too old, not from the future.
pub fn check_fresh(
    bundle: &Bundle,
    now: OffsetDateTime,
    max_age: Option<Duration>,
) -> Result<(), BundleError> {
    if bundle.expires()? <= now {
        return Err(BundleError::Expired {
            version: bundle.version,
            expires_at: bundle.expires_at.clone(),
        });
    }
    let issued = bundle.issued()?;
    if issued > now + MAX_SKEW {
        return Err(BundleError::Invalid(format!(
            "issuedAt {} is in the future",
            bundle.issued_at
        )));
    }
    if let Some(max_age) = max_age
        && now - issued > max_age
    {
        return Err(BundleError::TooOld {
            version: bundle.version,
            issued_at: bundle.issued_at.clone(),
            max_age: format!("{}s", max_age.whole_seconds()),
        });
    }
    Ok(())
}

/// The pinned root of trust for bundles: root certificates and the
/// identities (`x509.subject: …`) allowed to sign.
pub struct BundleTrust {
    roots: Vec<Certificate>,
    policy: TrustPolicyDocument,
}

impl TrustStore for BundleTrust {
    fn certificates(&self, ty: TrustStoreType, name: &str) -> Result<Vec<Certificate>, TrustStoreError> {
        if ty == TrustStoreType::Ca && name == ROOT_STORE {
            Ok(self.roots.clone())
        } else {
            Err(TrustStoreError::UnsupportedType(format!("{ty}:{name}")))
        }
    }
}

impl BundleTrust {
    /// Roots from PEM, and the identities allowed to sign bundles.
    pub fn new(root_pem: &[u8], identities: &[String]) -> Result<Self, BundleError> {
        let roots = notary::x509::read_certificates(root_pem)
            .map_err(|e| BundleError::Invalid(format!("bundle trust root: {e}")))?;
        if identities.is_empty() {
            return Err(BundleError::Invalid(
                "no bundle signer identity is pinned (e.g. \"x509.subject: C=US, ST=WA, O=Example, CN=bundles\")".into(),
            ));
        }
        let doc = json!({
            "version": "1.0",
            "trustPolicies": [{
                "name": "verifier-bundle",
                "registryScopes": ["*"],
                "signatureVerification": { "level": "strict" },
                "trustStores": [format!("ca:{ROOT_STORE}")],
                "trustedIdentities": identities,
            }]
        });
        let policy = TrustPolicyDocument::from_json(doc.to_string().as_bytes())
            .map_err(|e| BundleError::Invalid(format!("bundle signer identity: {e}")))?;
        Ok(Self { roots, policy })
    }

    /// A verifier for bundle signatures (OCI form), with revocation checked by `checker`.
    pub fn verifier<'a>(&'a self, checker: &'a dyn notary::revocation::RevocationChecker) -> Verifier<'a> {
        Verifier::new(&self.policy, self)
            .with_timestamp_verifier(&notary::timestamp::Rfc3161Verifier)
            .with_revocation_checker(checker)
    }

    /// Verifies `bytes` with the detached `envelope` (file / HTTPS form) and parses it.
    pub fn verify_detached(
        &self,
        checker: &dyn notary::revocation::RevocationChecker,
        bytes: &[u8],
        envelope_media_type: &str,
        envelope: &[u8],
    ) -> Result<Bundle, BundleError> {
        if bytes.len() as u64 > MAX_SIZE {
            return Err(BundleError::TooLarge);
        }
        let target = Descriptor::of(MEDIA_TYPE, bytes);
        let outcome = self.verifier(checker).verify(&VerifyRequest {
            artifact_reference: &format!("signet/verifier-bundle@{}", target.digest),
            target: &target,
            envelope_media_type,
            envelope,
            user_metadata: &BTreeMap::new(),
        });
        match outcome.verdict {
            Verdict::Verified => Bundle::parse(bytes),
            Verdict::Skipped => Err(BundleError::Signature("verification was skipped".into())),
            Verdict::Failed { check, reason } => Err(BundleError::Signature(format!(
                "{} validation failed: {reason}",
                check.as_str()
            ))),
            Verdict::Inconclusive { reason } => Err(BundleError::Signature(reason)),
        }
    }
}

/// The envelope media type a detached signature's bytes have (JWS is JSON).
pub fn envelope_media_type(envelope: &[u8]) -> &'static str {
    if envelope.first() == Some(&b'{') {
        notary::envelope::EnvelopeFormat::Jws.media_type()
    } else {
        notary::envelope::EnvelopeFormat::Cose.media_type()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(version: u64, issued: OffsetDateTime, ttl: Duration) -> Bundle {
        Bundle {
            api_version: admission::policy::API_VERSION.into(),
            kind: "VerifierBundle".into(),
            version,
            issued_at: issued.format(&Rfc3339).unwrap(),
            expires_at: (issued + ttl).format(&Rfc3339).unwrap(),
            policies: vec![],
            trust_stores: BTreeMap::new(),
            revoked_digests: vec![],
        }
    }

    #[test]
    fn succession_rules() {
        let now = OffsetDateTime::now_utc();
        let v5 = bundle(5, now, Duration::hours(1));
        let v6 = bundle(6, now, Duration::hours(1));
        assert!(check_succession(None, &v5, now, None).unwrap());
        assert!(check_succession(Some(&v5), &v6, now, None).unwrap());
        assert!(!check_succession(Some(&v5), &v5, now, None).unwrap());
        assert!(matches!(
            check_succession(Some(&v6), &v5, now, None),
            Err(BundleError::Rollback {
                offered: 5,
                current: 6
            })
        ));
        let mut v5b = v5.clone();
        v5b.revoked_digests.push(format!("sha256:{}", "0".repeat(64)));
        assert!(matches!(
            check_succession(Some(&v5), &v5b, now, None),
            Err(BundleError::SameVersionDiffers(5))
        ));
        let expired = bundle(7, now - Duration::hours(2), Duration::hours(1));
        assert!(matches!(
            check_succession(Some(&v6), &expired, now, None),
            Err(BundleError::Expired { .. })
        ));
        let old = bundle(8, now - Duration::hours(3), Duration::days(1));
        assert!(matches!(
            check_succession(Some(&v6), &old, now, Some(Duration::hours(1))),
            Err(BundleError::TooOld { .. })
        ));
        let future = bundle(9, now + Duration::hours(1), Duration::days(1));
        assert!(check_succession(Some(&v6), &future, now, None).is_err());
    }

    #[test]
    fn invalid_documents() {
        let now = OffsetDateTime::now_utc();
        let good = bundle(1, now, Duration::hours(1));
        assert!(Bundle::parse(&good.to_bytes()).is_ok());
        let mut v0 = good.clone();
        v0.version = 0;
        let mut bad_store = good.clone();
        bad_store.trust_stores.insert("ca:../x".into(), vec!["x".into()]);
        let mut bad_pem = good.clone();
        bad_pem
            .trust_stores
            .insert("ca:prod".into(), vec!["not a pem".into()]);
        let mut bad_digest = good.clone();
        bad_digest.revoked_digests.push("sha256:xyz".into());
        let mut bad_policy = good.clone();
        bad_policy
            .policies
            .push(json!({"apiVersion": "signet.dev/v1alpha1", "kind": "Nope"}));
        for (b, word) in [
            (v0, "version"),
            (bad_store, "name must match"),
            (bad_pem, "ca:prod"),
            (bad_digest, "revokedDigests"),
            (bad_policy, "policy"),
        ] {
            let e = Bundle::parse(&b.to_bytes()).unwrap_err().to_string();
            assert!(e.contains(word), "{e}");
        }
        let bytes = good.to_bytes();
        assert!(Bundle::parse(&bytes[..bytes.len() / 2]).is_err());
        assert!(matches!(
            Bundle::parse(&vec![b' '; MAX_SIZE as usize + 1]),
            Err(BundleError::TooLarge)
        ));
    }
}
