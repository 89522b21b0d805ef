//! `signet verify`: verify an artifact's signatures against the trust policy.

use std::{
    collections::BTreeMap,
    process::ExitCode,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use notary::{
    Descriptor,
    policy::TrustPolicyDocument,
    truststore::{CachedTrustStore, DirTrustStore},
    verifier::{CheckStatus, Outcome, Verdict, Verifier},
};
use oci::{ArtifactStore, LayoutReference, OciLayout};
use serde_json::{Value, json};
use tracing::debug;

use crate::{
    commands::sign::parse_kv,
    config::ConfigDir,
    output::Format,
    target::{Location, Registries, RegistryArgs},
};

/// `signet verify --help`'s texts.
pub const ABOUT: &str = "Verify the signatures of artifacts against the trust policy.";
pub const LONG_ABOUT: &str = "Verify the signatures of artifacts against the trust policy.

Several artifacts are verified concurrently, each with its own result line. Exit status 0 when \
every artifact has an accepted signature, 1 otherwise. Each check (integrity, authenticity, \
expiry, authenticTimestamp, revocation) is applied with the action the trust policy assigns: \
enforce, log or skip.";
pub const EXAMPLES: &str = "Examples:
  signet verify registry.example.com/app@sha256:<hex>
  signet verify reg.example.com/a:v1 reg.example.com/b:v2 reg.example.com/c:v3 --output json
  signet verify --oci-layout ./layout:v1
  signet verify --oci-layout ./layout@sha256:<hex> --scope local/layout -m buildId=1234
  signet verify --oci-layout ./layout:v1 --output json | jq .verified";

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Artifacts in registries: REGISTRY/REPOSITORY:TAG or
    /// REGISTRY/REPOSITORY@sha256:HEX. Several are verified concurrently, each
    /// with its own result.
    #[arg(value_name = "REFERENCE")]
    pub references: Vec<String>,
    /// An artifact in an OCI image layout on disk: `DIR:TAG` or
    /// `DIR@sha256:HEX`. Repeatable.
    #[arg(long = "oci-layout", value_name = "DIR:TAG|DIR@DIGEST")]
    pub oci_layout: Vec<String>,
    /// The trust policy scope an OCI layout stands for, e.g. `local/myimage`.
    /// Default: `local/<name of DIR>`. (A registry artifact's scope is always
    /// its `registry/repository`.)
    #[arg(long)]
    pub scope: Option<String>,
    /// Metadata the signature must carry, KEY=VALUE. Repeatable.
    #[arg(short = 'm', long = "user-metadata", value_parser = parse_kv)]
    pub user_metadata: Vec<(String, String)>,
    /// How many artifacts to verify at the same time.
    #[arg(short = 'j', long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// Output format. With several artifacts, JSON is one document
    /// `{"verified": <all verified>, "results": [<one report each>]}`.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

pub use oci::Report;

pub fn run(config: &ConfigDir, args: Args) -> Result<ExitCode> {
    let mut locations = Vec::new();
    for r in &args.references {
        locations.push((r.clone(), Location::registry(r)?));
    }
    for l in &args.oci_layout {
        locations.push((l.clone(), Location::layout(l)?));
    }
    if locations.is_empty() {
        bail!("nothing to verify: give one or more registry REFERENCEs or --oci-layout DIR:TAG");
    }
    let metadata: BTreeMap<String, String> = args.user_metadata.into_iter().collect();
    let policy = load_trust_policy(config)?;
    let context = VerifyContext::new(config)?;
    let hosts = locations.iter().filter_map(|(_, l)| l.registry_host()).collect();
    let registries = Registries::new(config, &args.registry, hosts);
    let scope = args.scope.as_deref();
    let results = run_concurrently(&locations, usize::from(args.jobs), |(_, location)| {
        let scope = location.scope(scope)?;
        let store = location.open(&registries)?;
        verify_in_store(&context, &policy, store.as_ref(), location, &scope, &metadata)
    });
    debug!(requests = registries.request_count(), "registry requests");
    // The process ends after this: closing each worker thread's runtime and
    // connections one by one is work nobody waits for.
    std::mem::forget(registries);
    let all_ok = results
        .iter()
        .all(|r| matches!(r, Ok(rep) if rep.accepted.is_some()));
    match args.output {
        Format::Text => {
            for ((raw, _), result) in locations.iter().zip(&results) {
                match result {
                    Ok(report) => print_text(report),
                    Err(e) => {
                        let message = error_chain(e);
                        if message.contains(raw.as_str()) {
                            eprintln!("Error: {message}");
                        } else {
                            eprintln!("Error: {raw}: {message}");
                        }
                    }
                }
            }
        }
        Format::Json => {
            let docs: Vec<Value> = locations
                .iter()
                .zip(&results)
                .map(|((raw, _), result)| match result {
                    Ok(report) => report_json(report),
                    Err(e) => json!({ "reference": raw, "verified": false, "error": error_chain(e) }),
                })
                .collect();
            if docs.len() == 1 {
                crate::output::json(&docs[0]);
            } else {
                crate::output::json(&json!({ "verified": all_ok, "results": docs }));
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `e` and its causes on one line.
fn error_chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

/// Runs `work` on every item, `jobs` at a time, and returns the results in
/// the items' order.
fn run_concurrently<T, R, F>(items: &[T], jobs: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    if jobs <= 1 || items.len() <= 1 {
        return items.iter().map(&work).collect();
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = work(item);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    slots
        .into_iter()
        .filter_map(|m| m.into_inner().ok().flatten())
        .collect()
}

/// `local/<directory name>`.
pub fn default_scope(reference: &LayoutReference) -> Result<String> {
    let dir = std::fs::canonicalize(reference.path.as_path())
        .with_context(|| format!("cannot open OCI layout {}", reference.path.as_path().display()))?;
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("the layout directory has no name")?;
    Ok(format!("local/{name}"))
}

/// What every verifying command plugs into the verifier: the trust store, the
/// plugins directory, OCSP/CRL over HTTP with the CRL cache, RFC 3161 tokens.
pub struct VerifyContext {
    /// Read once per process: a batch verifies many artifacts against it.
    store: CachedTrustStore<DirTrustStore>,
    plugins: crate::plugins::PluginDir,
    checker: fetch::revocation::HttpRevocationChecker,
}

impl VerifyContext {
    /// The context for the config directory `config`.
    pub fn new(config: &ConfigDir) -> Result<Self> {
        let checker = fetch::revocation::HttpRevocationChecker::new(fetch::http::Limits::default().timeout)
            .with_crl_cache(fetch::revocation::CrlCache::new(config.path("crl")));
        Ok(Self {
            store: CachedTrustStore::new(DirTrustStore::new(config.root())),
            plugins: crate::plugins::PluginDir::new(config.path("plugins")),
            checker,
        })
    }

    /// A verifier for `policy` with everything plugged in.
    pub fn verifier<'a>(&'a self, policy: &'a TrustPolicyDocument) -> Verifier<'a> {
        Verifier::new(policy, &self.store)
            .with_timestamp_verifier(&notary::timestamp::Rfc3161Verifier)
            .with_revocation_checker(&self.checker)
            .with_plugins(&self.plugins)
    }
}

/// The trust policy in force in `config`.
pub fn load_trust_policy(config: &ConfigDir) -> Result<TrustPolicyDocument> {
    let policy_path = config.trust_policy_path();
    let policy_bytes = std::fs::read(&policy_path).with_context(|| {
        format!(
            "trust policy is not present at {}. Create one with `signet policy init` or `signet policy import FILE`",
            policy_path.display()
        )
    })?;
    TrustPolicyDocument::from_json(&policy_bytes)
        .with_context(|| format!("invalid trust policy {}", policy_path.display()))
}

/// Verifies the artifact `reference` names; stops at the first accepted signature.
pub fn verify_layout(
    config: &ConfigDir,
    reference: &LayoutReference,
    scope: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<Report> {
    let policy = load_trust_policy(config)?;
    let context = VerifyContext::new(config)?;
    let layout = OciLayout::open(reference.path.as_path())?;
    verify_in_store(
        &context,
        &policy,
        &layout,
        &Location::Layout(reference.clone()),
        scope,
        metadata,
    )
}

/// Verifies the artifact `location` names in `store`: by its digest when a
/// registry reference names one ([`oci::verify_digest`]), else resolved
/// first ([`oci::verify_artifact`]).
pub fn verify_in_store(
    context: &VerifyContext,
    policy: &TrustPolicyDocument,
    store: &dyn ArtifactStore,
    location: &Location,
    scope: &str,
    metadata: &BTreeMap<String, String>,
) -> Result<Report> {
    let verifier = context.verifier(policy);
    // A registry artifact named by digest needs no HEAD first (see
    // `oci::verify_digest`); a tag is resolved, a layout reads its index.
    if let Some(digest) = location.registry_digest() {
        let shown = location.shown(digest);
        return Ok(oci::verify_digest(
            &verifier, store, digest, scope, shown, metadata,
        )?);
    }
    let target = store.resolve(location.target())?;
    let shown = location.shown(&target.digest);
    Ok(oci::verify_artifact(
        &verifier, store, &target, scope, shown, metadata,
    )?)
}

fn print_text(report: &Report) {
    for (_, outcome) in &report.outcomes {
        for r in outcome.logged_failures() {
            eprintln!(
                "Warning: {} was set to \"log\" and failed with error: {}",
                r.check.as_str(),
                r.failure().unwrap_or_default()
            );
        }
    }
    match report.accepted.and_then(|i| report.outcomes.get(i)) {
        Some((_, o)) if o.verdict == Verdict::Skipped => {
            println!(
                "Trust policy is configured to skip signature verification for {}",
                report.reference
            )
        }
        Some((sig, _)) => {
            println!("Successfully verified signature for {}", report.reference);
            tracing::info!(signature = %sig.digest, "verified signature");
        }
        None => {
            for (sig, outcome) in &report.outcomes {
                let reason = match &outcome.verdict {
                    Verdict::Failed { check, reason } => {
                        format!("{} validation failed. Failure reason: {reason}", check.as_str())
                    }
                    Verdict::Inconclusive { reason } => format!("verification inconclusive: {reason}"),
                    _ => continue,
                };
                eprintln!("signature {}: {reason}", sig.digest);
            }
            eprintln!(
                "Error: signature verification failed for all the signatures associated with {}",
                report.reference
            );
        }
    }
}

/// One JSON object per check: type, action, result (`passed`, `failed`,
/// `not checked`) and the message; shared by every command that verifies.
pub fn results_json(o: &Outcome) -> Vec<Value> {
    o.results
        .iter()
        .map(|r| {
            let (status, message) = match &r.status {
                CheckStatus::Passed(note) => ("passed", note.clone()),
                CheckStatus::Failed(m) => ("failed", Some(m.clone())),
                CheckStatus::NotChecked(m) => ("not checked", Some(m.clone())),
            };
            json!({ "type": r.check.as_str(), "action": r.action.as_str(), "result": status, "message": message })
        })
        .collect()
}

fn outcome_json(sig: &Descriptor, o: &Outcome) -> Value {
    let results = results_json(o);
    let (verdict, reason) = match &o.verdict {
        Verdict::Verified => ("verified", None),
        Verdict::Skipped => ("skipped", None),
        Verdict::Failed { reason, .. } => ("failed", Some(reason.clone())),
        Verdict::Inconclusive { reason } => ("inconclusive", Some(reason.clone())),
    };
    json!({
        "signature": sig.digest.as_str(),
        "trustPolicy": o.policy_name,
        "level": o.level.map(|l| l.name()),
        "verdict": verdict,
        "reason": reason,
        "results": results,
        "signingTime": o.envelope.as_ref().and_then(|e| e.signed.signing_time).map(|t| t.to_string()),
    })
}

/// The JSON form of a report, for `--output json`.
pub fn report_json(report: &Report) -> Value {
    json!({
        "reference": report.reference,
        "digest": report.target.digest.as_str(),
        "verified": report.accepted.is_some(),
        "signatures": report.outcomes.iter().map(|(s, o)| outcome_json(s, o)).collect::<Vec<_>>(),
    })
}
