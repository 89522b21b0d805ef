//! Verifying an artifact held in a store: read its signatures one at a time
//! and stop at the first the trust policy accepts.
//!
//! Shared by every verifying front end (the CLI, the admission server), so an
//! artifact is judged the same way wherever it is checked.

use std::collections::BTreeMap;

use notary::{
    Descriptor, Digest,
    policy::VerificationLevel,
    verifier::{Outcome, Verifier, VerifyRequest},
};
use tracing::warn;

use crate::{ArtifactStore, Error, MAX_ENVELOPE_SIZE, signature};

/// The result of verifying one artifact.
#[derive(Debug)]
pub struct Report {
    /// The artifact as shown to people: `<name>@<digest>`.
    pub reference: String,
    /// The artifact's descriptor. When only its digest was given
    /// ([`verify_digest`]): the accepted signature's description of it (or
    /// the first signature's), with no media type and size 0 until one is read.
    pub target: Descriptor,
    /// Each signature examined, in order, with its outcome.
    pub outcomes: Vec<(Descriptor, Outcome)>,
    /// Index into `outcomes` of the signature that was accepted, if any.
    pub accepted: Option<usize>,
}

impl Report {
    /// The accepted signature and its outcome.
    pub fn accepted(&self) -> Option<&(Descriptor, Outcome)> {
        self.accepted.and_then(|i| self.outcomes.get(i))
    }
}

/// Why an artifact could not be judged, or has nothing to judge.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading from the store failed (network, registry, disk).
    #[error(transparent)]
    Store(#[from] Error),
    /// No trust policy statement applies to the artifact.
    #[error("{0}")]
    NoPolicy(String),
    /// The artifact has no signature at all.
    #[error("no signature is associated with {0}, make sure the artifact was signed successfully")]
    Unsigned(String),
    /// Signatures exist but none could be read.
    #[error("none of the {count} signatures associated with {reference} could be read")]
    Unreadable {
        /// How many signature manifests were found.
        count: usize,
        /// The artifact, as shown.
        reference: String,
    },
}

impl VerifyError {
    /// Whether the error says something definite about the artifact (it is
    /// unsigned, or no policy covers it) rather than that the store could
    /// not be read.
    pub fn is_definite(&self) -> bool {
        !matches!(self, Self::Store(_))
    }
}

/// Verifies the signatures of `target` in `store` under `verifier`'s trust
/// policy, as the artifact `scope@digest`; `shown` names it in messages.
/// Signatures are read one at a time and reading stops at the first accepted
/// one, so a registry is asked for no more than that takes. At level `skip`
/// nothing is read, as in notation.
pub fn verify_artifact(
    verifier: &Verifier<'_>,
    store: &dyn ArtifactStore,
    target: &Descriptor,
    scope: &str,
    shown: String,
    metadata: &BTreeMap<String, String>,
) -> Result<Report, VerifyError> {
    verify_signatures(verifier, store, Known::Descriptor(target), scope, shown, metadata)
}

/// [`verify_artifact`] for an artifact named by its digest alone, without
/// asking the store for its descriptor first: the signed payload's target
/// must match the `subject` of the signature manifest it came with (media
/// type, digest, size), and that subject's digest must be `digest` — the
/// digest the caller named, which is what the Notary Project's verification
/// workflow compares. Against a registry this is one request fewer than
/// [`verify_artifact`] after a `HEAD`: the referrers, the signature manifest
/// and its envelope, the fewest the protocol allows. An artifact with no
/// signature at all is looked up then, so that one that does not exist is
/// reported as not found rather than as unsigned.
pub fn verify_digest(
    verifier: &Verifier<'_>,
    store: &dyn ArtifactStore,
    digest: &Digest,
    scope: &str,
    shown: String,
    metadata: &BTreeMap<String, String>,
) -> Result<Report, VerifyError> {
    verify_signatures(verifier, store, Known::Digest(digest), scope, shown, metadata)
}

/// What the caller knows of the artifact being verified.
#[derive(Clone, Copy)]
enum Known<'a> {
    Descriptor(&'a Descriptor),
    Digest(&'a Digest),
}

impl Known<'_> {
    fn digest(&self) -> &Digest {
        match self {
            Self::Descriptor(d) => &d.digest,
            Self::Digest(d) => d,
        }
    }
}

fn verify_signatures(
    verifier: &Verifier<'_>,
    store: &dyn ArtifactStore,
    known: Known<'_>,
    scope: &str,
    shown: String,
    metadata: &BTreeMap<String, String>,
) -> Result<Report, VerifyError> {
    let digest = known.digest();
    let artifact_reference = format!("{scope}@{digest}");
    let statement = verifier
        .statement_for(&artifact_reference)
        .map_err(VerifyError::NoPolicy)?;
    let mut report = Report {
        reference: shown,
        target: match known {
            Known::Descriptor(d) => d.clone(),
            // Until a signature manifest describes it.
            Known::Digest(d) => Descriptor::new(String::new(), d.clone(), 0),
        },
        outcomes: Vec::new(),
        accepted: None,
    };
    if statement.signature_verification.level == VerificationLevel::Skip {
        let outcome = verifier.verify(&VerifyRequest {
            artifact_reference: &artifact_reference,
            target: &report.target,
            envelope_media_type: "",
            envelope: &[],
            user_metadata: metadata,
        });
        report.outcomes.push((report.target.clone(), outcome));
        report.accepted = Some(0);
        return Ok(report);
    }
    let candidates = signature::signature_candidates(store, digest)?;
    if candidates.is_empty() {
        if let Known::Digest(d) = known {
            // Not found is the better answer when it is the true one.
            store.resolve(d.as_str())?;
        }
        return Err(VerifyError::Unsigned(report.reference));
    }
    for candidate in &candidates {
        let Some(sig) = signature::load_signature(store, digest, candidate)? else {
            continue;
        };
        let envelope = match store.fetch(&sig.envelope, MAX_ENVELOPE_SIZE) {
            Ok(b) => b,
            Err(e) => {
                warn!(signature = %sig.manifest.digest, "cannot read the signature envelope: {e}");
                continue;
            }
        };
        let target = match known {
            Known::Descriptor(d) => d,
            Known::Digest(_) => &sig.subject,
        };
        let outcome = verifier.verify(&VerifyRequest {
            artifact_reference: &artifact_reference,
            target,
            envelope_media_type: &sig.envelope.media_type,
            envelope: &envelope,
            user_metadata: metadata,
        });
        let accepted = outcome.is_accepted();
        if matches!(known, Known::Digest(_)) && (accepted || report.outcomes.is_empty()) {
            report.target = sig.subject.clone();
        }
        report.outcomes.push((sig.manifest.clone(), outcome));
        if accepted {
            report.accepted = Some(report.outcomes.len() - 1);
            break;
        }
    }
    if report.outcomes.is_empty() {
        return Err(VerifyError::Unreadable {
            count: candidates.len(),
            reference: report.reference,
        });
    }
    Ok(report)
}
